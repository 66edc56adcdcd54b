"""`fastproc run | processes | jobs`: the command-line client of any OGC API - Processes
server (fastproc or another), on top of `OGCClient`.

Results go to stdout, progress and errors to stderr. Every `ClientError` ends the command
with one line `error: ...` and its exit code (1 refused or failed, 2 unreachable).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from fastproc.client.errors import (
    EXIT_INTERRUPTED,
    ClientError,
    Interrupted,
    JobUnsuccessful,
    ServerError,
)
from fastproc.client.follow import Watch, follow
from fastproc.client.http import Answer, OGCClient
from fastproc.client.outputs import results_document, show_results
from fastproc.client.progress import job_view, waiting
from fastproc.client.values import parse_inputs
from fastproc.ogc.models import JobControlOption, StatusCode, StatusInfo

DEFAULT_URL = "http://127.0.0.1:8000"
#: Tables written to a pipe or a file are as wide as their content, never cut at 80 columns.
PIPE_WIDTH = 1000
_STATUS_STYLE = {StatusCode.SUCCESSFUL: "green", StatusCode.FAILED: "red",
                 StatusCode.RUNNING: "yellow", StatusCode.DISMISSED: "dim"}

Command = Callable[[OGCClient, argparse.Namespace, Console, Console], int]


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `run`, `processes` and `jobs` to the `fastproc` parser's subcommands."""
    run = commands.add_parser(
        "run", help="execute a process on a server, follow it, print or save its outputs",
        description="Execute PROCESS_ID with inputs KEY=VALUE (strings as typed, numbers, "
                    "booleans and arrays as JSON, KEY=@FILE for a file's contents). Options "
                    "go before PROCESS_ID or after the inputs.")
    run.add_argument("process", metavar="PROCESS_ID")
    run.add_argument("inputs", nargs="*", metavar="KEY=VALUE")
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
    processes = commands.add_parser("processes", help="list a server's processes")
    processes.add_argument("--limit", type=int, default=1000, help="at most this many")
    jobs = commands.add_parser("jobs", help="list a server's jobs")
    jobs.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    jobs.add_argument("--status", action="append", default=[],
                      choices=[code.value for code in StatusCode], help="only jobs in this state")
    jobs.add_argument("--process", dest="process_ids", action="append", default=[],
                      metavar="PROCESS_ID", help="only jobs of this process")
    for sub in (processes, jobs):
        sub.add_argument("--json", action="store_true", help="print the document as JSON")
    for sub in (run, processes, jobs):
        sub.add_argument("--url", default=os.environ.get("FASTPROC_URL", DEFAULT_URL),
                         help=f"the server (default $FASTPROC_URL or {DEFAULT_URL})")


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of seconds")
    return value


def run_client(args: argparse.Namespace) -> int:
    """Run one client command; returns its exit code, never raises a `ClientError`."""
    out = Console(highlight=False)
    if not out.is_terminal:
        out.width = PIPE_WIDTH
    err = Console(stderr=True, highlight=False)
    try:
        with OGCClient(args.url) as ogc:
            return COMMANDS[args.command](ogc, args, out, err)
    except ClientError as exc:
        _error_line(err, str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        _error_line(err, "interrupted")
        return EXIT_INTERRUPTED


def _error_line(err: Console, text: str) -> None:
    line = " ".join(text.split())
    err.print(Text.assemble(("error:", "bold red"), f" {line}"), soft_wrap=True)


def _run(ogc: OGCClient, args: argparse.Namespace, out: Console, err: Console) -> int:
    description = ogc.describe(args.process)
    inputs = parse_inputs(args.inputs, description)
    prefer_async = args.force_async or JobControlOption.SYNC not in description.jobControlOptions
    with waiting(err, f"running {args.process}", plain=args.plain or prefer_async):
        outcome = ogc.execute(args.process, inputs, prefer_async=prefer_async,
                              wait=args.timeout)
    answer = _follow(ogc, outcome, args, err) if isinstance(outcome, StatusInfo) else outcome
    doc = results_document(answer, description)
    if args.json:
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        show_results(doc, args.output_dir)
    return 0


def _follow(ogc: OGCClient, job: StatusInfo, args: argparse.Namespace, err: Console) -> Answer:
    """Follow the job with a view until it ends; its results, or `JobUnsuccessful`."""
    watch = Watch(events=args.events, interval=args.interval, timeout=args.timeout)
    last = job
    try:
        with job_view(err, plain=args.plain) as view:
            for status in follow(ogc, job, watch):
                last = status
                view.show(status)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted; job {job.jobID} keeps running at "
                          f"{ogc.url}/jobs/{job.jobID}") from None
    if last.status is StatusCode.SUCCESSFUL:
        return ogc.results(job.jobID)
    if last.status is StatusCode.FAILED:
        raise JobUnsuccessful(job.jobID, f"failed: {_failure(ogc, last)}")
    raise JobUnsuccessful(job.jobID, "was dismissed")


def _failure(ogc: OGCClient, status: StatusInfo) -> str:
    """Why a job failed: the exception its results answer (OGC 1.0 7.13.3), else its message."""
    try:
        ogc.results(status.jobID)
    except ServerError as exc:
        return str(exc)
    return status.message or "no reason given"


def _processes(ogc: OGCClient, args: argparse.Namespace, out: Console, err: Console) -> int:
    summaries = ogc.processes(limit=args.limit)
    if args.json:
        print(json.dumps([s.dump() for s in summaries], indent=2, ensure_ascii=False))
        return 0
    table = Table(caption=f"{len(summaries)} process(es) at {ogc.url}")
    table.add_column("id", no_wrap=True)
    for column in ("version", "title", "job control"):
        table.add_column(column)
    for summary in summaries:
        control = ", ".join(o.value.removesuffix("-execute") for o in summary.jobControlOptions)
        table.add_row(summary.id, summary.version, summary.title or "", control)
    out.print(table)
    return 0


def _jobs(ogc: OGCClient, args: argparse.Namespace, out: Console, err: Console) -> int:
    jobs = ogc.jobs(limit=args.limit, statuses=args.status, process_ids=args.process_ids)
    if args.json:
        print(json.dumps([j.dump() for j in jobs], indent=2, ensure_ascii=False))
        return 0
    table = Table(caption=f"{len(jobs)} job(s) at {ogc.url}")
    table.add_column("job", no_wrap=True)
    for column in ("process", "status", "progress", "created", "message"):
        table.add_column(column)
    for job in jobs:
        table.add_row(
            job.jobID, job.processID or "",
            Text(job.status.value, style=_STATUS_STYLE.get(job.status, "")),
            "" if job.progress is None else f"{job.progress}%", job.created or "",
            job.message or "")
    out.print(table)
    return 0


COMMANDS: dict[str, Command] = {"run": _run, "processes": _processes, "jobs": _jobs}
