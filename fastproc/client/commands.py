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
from typing import Any

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


#: `fastproc jobs` subcommands that take a job id (`fastproc jobs JOB_ID` is `show`).
JOB_COMMANDS = ("show", "logs", "definition", "prov", "results", "update", "start", "dismiss")


class _SubcommandOrJobId(dict[str, argparse.ArgumentParser]):
    """The subcommands, as argparse checks a choice against them: once they are all added
    (`any_word`), any word passes, so that a job id reaches `_JobCommands` (which reads it
    as `show JOB_ID`)."""

    any_word = False

    def __contains__(self, key: object) -> bool:
        if self.any_word and isinstance(key, str) and not key.startswith("-"):
            return True
        return super().__contains__(key)


class _JobCommands(argparse._SubParsersAction):  # type: ignore[type-arg]
    """`fastproc jobs JOB_ID` reads as `fastproc jobs show JOB_ID`: a bare job id, where a
    subcommand is expected, is the most common thing to ask about a job."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._name_parser_map = self.choices = self.subcommands = _SubcommandOrJobId()

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        if values and not dict.__contains__(self._name_parser_map, values[0]):
            values = ["show", *values]
        super().__call__(parser, namespace, values, option_string)


def _add_job_commands(jobs: argparse.ArgumentParser) -> None:
    """`fastproc jobs SUBCOMMAND`: one job, Part 4's job management (create, update, start,
    definition, prov) and a fastproc server's job log. Without a subcommand, `fastproc
    jobs` lists jobs."""
    commands = jobs.add_subparsers(
        dest="jobs_command", action=_JobCommands,
        metavar="{create,update,start,show,results,definition,prov,dismiss,logs}")
    create = commands.add_parser(
        "create", help="create a job without starting it (status `created`; Part 4)",
        description="Create a job of PROCESS_ID with inputs KEY=VALUE (read as `fastproc "
                    "run` reads them), or with the definition in --file; start it with "
                    "`fastproc jobs start JOB_ID`.")
    create.add_argument("process", metavar="PROCESS_ID", nargs="?")
    create.add_argument("inputs", nargs="*", metavar="KEY=VALUE")
    create.add_argument("--file", type=Path, metavar="FILE",
                        help="the job's definition: an execute request naming its `process`")
    update = commands.add_parser(
        "update", help="change inputs of a created job (Part 4)",
        description="Set inputs KEY=VALUE of a job not yet started; the others are kept.")
    update.add_argument("job_id", metavar="JOB_ID")
    update.add_argument("inputs", nargs="+", metavar="KEY=VALUE")
    start = commands.add_parser("start", help="start a created job (Part 4)")
    start.add_argument("job_id", metavar="JOB_ID")
    start.add_argument("--wait", action="store_true",
                       help="follow the job to its end and print its outputs")
    start.add_argument("--timeout", type=_seconds, default=600.0,
                       help="seconds to wait with --wait (default 600)")
    start.add_argument("--output-dir", type=Path, default=Path("."),
                       help="where binary outputs are saved with --wait (default: here)")
    show = commands.add_parser("show", help="a job's status (also: fastproc jobs JOB_ID)")
    show.add_argument("job_id", metavar="JOB_ID")
    results = commands.add_parser("results", help="print or save a finished job's outputs")
    results.add_argument("job_id", metavar="JOB_ID")
    results.add_argument("--output-dir", type=Path, default=Path("."),
                         help="where binary outputs are saved (default: here)")
    definition = commands.add_parser(
        "definition", help="what a job was created or run with, as JSON (Part 4)")
    definition.add_argument("job_id", metavar="JOB_ID")
    prov = commands.add_parser("prov", help="a job's provenance: W3C PROV-JSON (Part 4)")
    prov.add_argument("job_id", metavar="JOB_ID")
    prov.add_argument("--provn", action="store_true", help="PROV-N text instead of PROV-JSON")
    dismiss = commands.add_parser("dismiss", help="dismiss a job (cancels it if running)")
    dismiss.add_argument("job_id", metavar="JOB_ID")
    logs = commands.add_parser(
        "logs", help="print what a job's process logged (a fastproc server's job log)")
    logs.add_argument("job_id", metavar="JOB_ID")
    logs.add_argument("--follow", "-f", action="store_true",
                      help="keep printing new lines until the job ends")
    logs.add_argument("--interval", type=_seconds, default=1.0,
                      help="seconds between looks for new lines with --follow (default 1)")
    for sub in (create, update, start, show, results):
        sub.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                         help="print the server's document as JSON")
    for sub in (create, update, start, show, results, definition, prov, dismiss, logs):
        # Given after the subcommand, --url is read here; before it, by `jobs` (kept then).
        sub.add_argument("--url", default=argparse.SUPPRESS,
                         help=f"the server (default $FASTPROC_URL or {DEFAULT_URL})")
    commands.subcommands.any_word = True  # type: ignore[attr-defined]


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
