"""`fastproc run | processes | jobs`: the command-line client of any OGC API - Processes
server (fastproc or another), on top of `OGCClient`.

This module is only the commands' arguments and their dispatch, so that `fastproc` parses
its command line without the client's extra; what runs them (tables, progress bars:
`rich`) is `fastproc.client.console`, loaded when a client command runs.
Results go to stdout, progress and errors to stderr. Every `ClientError` ends the command
with one line `error: ...` and its exit code (1 refused or failed, 2 unreachable).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from fastproc.client.errors import EXIT_REFUSED
from fastproc.extras import MissingExtra, extra
from fastproc.ogc.models import StatusCode

DEFAULT_URL = "http://127.0.0.1:8000"
#: The client's commands, by name.
COMMANDS = frozenset({"run", "processes", "jobs"})


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `run`, `processes` and `jobs` to the `fastproc` parser's subcommands."""
    run = commands.add_parser(
        "run", help="execute a process on a server, follow it, print or save its outputs",
        description="Execute PROCESS_ID with inputs KEY=VALUE (strings as typed, numbers, "
                    "booleans and arrays as JSON, KEY=@FILE for a file's contents). Options "
                    "go before PROCESS_ID or after the inputs.")
    run.add_argument("process", metavar="PROCESS_ID", nargs="?")
    run.add_argument("inputs", nargs="*", metavar="KEY=VALUE")
    run.add_argument("--workflow", type=Path, metavar="FILE",
                     help="execute the workflow in FILE: an execute request whose inputs nest "
                          "processes (OGC API - Processes - Part 3), as a job with a bar of "
                          "its nested processes done")
    run.add_argument("--async", dest="force_async", action="store_true",
                     help="create a job even when the process can run synchronously")
    run.add_argument("--no-events", dest="events", action="store_false",
                     help="poll the job's status instead of reading its event stream")
    run.add_argument("--plain", action="store_true",
                     help="one line per status change instead of a progress bar")
    run.add_argument("--timeout", type=_seconds, default=600.0,
                     help="seconds to wait for the job to end (default 600)")
    run.add_argument("--interval", type=_seconds, default=0.5,
                     help="seconds between status polls (default 0.5)")
    run.add_argument("--output-dir", type=Path, default=Path("."),
                     help="where binary outputs are saved (default: here)")
    run.add_argument("--json", "--raw", dest="json", action="store_true",
                     help="print the whole results document as JSON")
    processes = commands.add_parser(
        "processes", help="list a server's processes, or describe one",
        description="Without PROCESS_ID, list the server's processes; with it, describe that "
                    "process: its inputs, outputs and how it may be executed.")
    processes.add_argument("process", metavar="PROCESS_ID", nargs="?",
                           help="describe this process")
    processes.add_argument("--limit", type=int, default=1000, help="at most this many")
    jobs = commands.add_parser("jobs", help="list a server's jobs")
    jobs.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    jobs.add_argument("--status", action="append", default=[],
                      choices=[code.value for code in StatusCode], help="only jobs in this state")
    jobs.add_argument("--process", dest="process_ids", action="append", default=[],
                      metavar="PROCESS_ID", help="only jobs of this process")
    for sub in (processes, jobs):
        sub.add_argument("--json", action="store_true",
                         help="print the server's document (list or description) as JSON")
    for sub in (run, processes, jobs):
        sub.add_argument("--url", default=os.environ.get("FASTPROC_URL", DEFAULT_URL),
                         help=f"the server (default $FASTPROC_URL or {DEFAULT_URL})")
    _add_job_commands(jobs)


def _add_job_commands(jobs: argparse.ArgumentParser) -> None:
    """`fastproc jobs logs JOB_ID`: a fastproc server's log of a job (its extension
    `/jobs/{id}/logs`). Without a subcommand, `fastproc jobs` lists jobs."""
    commands = jobs.add_subparsers(dest="jobs_command", metavar="{logs}")
    logs = commands.add_parser(
        "logs", help="print what a job's process logged (a fastproc server's job log)")
    logs.add_argument("job_id", metavar="JOB_ID")
    logs.add_argument("--follow", "-f", action="store_true",
                      help="keep printing new lines until the job ends")
    logs.add_argument("--interval", type=_seconds, default=1.0,
                      help="seconds between looks for new lines with --follow (default 1)")
    # Given after the subcommand, --url is read here; before it, by `jobs` (kept then).
    logs.add_argument("--url", default=argparse.SUPPRESS,
                      help=f"the server (default $FASTPROC_URL or {DEFAULT_URL})")


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of seconds")
    return value


def run_client(args: argparse.Namespace) -> int:
    """Run one client command; returns its exit code, never raises a `ClientError`."""
    try:
        with extra("client"):
            from fastproc.client.console import run_command
    except MissingExtra as exc:
        print(f"fastproc {args.command}: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    return run_command(args)
