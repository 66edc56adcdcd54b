"""Running `fastproc run | processes | jobs` on a terminal (or a pipe): tables, progress and
one-line errors with `rich`, which comes with the `client` extra.

Results go to stdout, progress and errors to stderr. Every `ClientError` ends the command
with one line `error: ...` and its exit code (1 refused or failed, 2 unreachable).
Everything is printed through the two `SafeConsole`s of `run_command` (no `print`): what a
server says reaches the terminal as text, never as escape sequences or rich markup.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastproc.extras import extra

with extra("client"):
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

from fastproc.client.errors import (
    EXIT_INTERRUPTED,
    ClientError,
    InputError,
    Interrupted,
    JobUnsuccessful,
    ServerError,
    UnexpectedAnswer,
)
from fastproc.client.follow import Watch, follow
from fastproc.client.http import Answer, OGCClient
from fastproc.client.outputs import results_document, show_results
from fastproc.client.progress_view import job_view, waiting
from fastproc.client.terminal import SafeConsole
from fastproc.client.values import parse_inputs
from fastproc.client.workflow import load_workflow
from fastproc.ogc.models import JobControlOption, ProcessDescription, StatusCode, StatusInfo

#: Tables written to a pipe or a file are as wide as their content, never cut at 80 columns.
PIPE_WIDTH = 1000
_STATUS_STYLE = {StatusCode.SUCCESSFUL: "green", StatusCode.FAILED: "red",
                 StatusCode.RUNNING: "yellow", StatusCode.DISMISSED: "dim"}

Command = Callable[[OGCClient, argparse.Namespace, Console, Console], int]


def run_command(args: argparse.Namespace) -> int:
    """Run one client command; returns its exit code, never raises a `ClientError`."""
    out = SafeConsole(highlight=False, markup=False, emoji=False)
    if not out.is_terminal:
        out.width = PIPE_WIDTH
    err = SafeConsole(stderr=True, highlight=False, markup=False, emoji=False)
    try:
        with OGCClient(args.url) as ogc:
            return _COMMANDS[args.command](ogc, args, out, err)
    except ClientError as exc:
        _error_line(err, str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        _error_line(err, "interrupted")
        return EXIT_INTERRUPTED


def _error_line(err: Console, text: str) -> None:
    err.print(Text("error:", style="bold red"), " ".join(text.split()), soft_wrap=True)


def _run(ogc: OGCClient, args: argparse.Namespace, out: Console, err: Console) -> int:
    if args.workflow is not None:
        return _run_workflow(ogc, args, out, err)
    if args.process is None:
        raise InputError("give a PROCESS_ID (or --workflow FILE)")
    description = ogc.describe(args.process)
    inputs = parse_inputs(args.inputs, description)
    prefer_async = args.force_async or JobControlOption.SYNC not in description.jobControlOptions
    with waiting(err, f"running {args.process}", plain=args.plain or prefer_async):
        try:
            outcome = ogc.execute(args.process, inputs, prefer_async=prefer_async,
                                  wait=args.timeout)
        except ServerError as exc:
            if exc.job_id is None:
                raise
            # It ran as a job: name it, so its page (traceback, log) can be found.
            raise JobUnsuccessful(exc.job_id, f"failed: {exc}") from None
    _show(_outcome(ogc, outcome, args, err), description, args, out)
    return 0


def _run_workflow(ogc: OGCClient, args: argparse.Namespace, out: Console,
                  err: Console) -> int:
    """A workflow always runs as a job, followed with a bar of its nested processes done."""
    if args.inputs:
        raise InputError("the inputs of a workflow are in its file, not KEY=VALUE")
    flow = load_workflow(args.workflow, args.process)
    description = ogc.describe(flow.process_id)
    outcome = ogc.execute(flow.process_id, flow.inputs, prefer_async=True,
                          wait=args.timeout, outputs=flow.outputs)
    _show(_outcome(ogc, outcome, args, err), description, args, out)
    return 0


def _outcome(ogc: OGCClient, outcome: Answer | StatusInfo, args: argparse.Namespace,
             err: Console) -> Answer:
    return _follow(ogc, outcome, args, err) if isinstance(outcome, StatusInfo) else outcome


def _show(answer: Answer, description: ProcessDescription, args: argparse.Namespace,
          out: Console) -> None:
    doc = results_document(answer, description)
    if args.json:
        out.out(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        show_results(doc, args.output_dir, out.out)


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
    if args.process is not None:
        return _describe(ogc, args, out)
    if args.json:
        _print_json(out, ogc.process_list(limit=args.limit))
        return 0
    summaries = ogc.processes(limit=args.limit)
    table = Table(caption=f"{len(summaries)} process(es) at {ogc.url}")
    table.add_column("id", no_wrap=True)
    for column in ("version", "title", "job control"):
        table.add_column(column)
    for summary in summaries:
        control = ", ".join(o.value.removesuffix("-execute") for o in summary.jobControlOptions)
        table.add_row(summary.id, summary.version, summary.title or "", control)
    out.print(table)
    return 0


def _describe(ogc: OGCClient, args: argparse.Namespace, out: Console) -> int:
    """One process: its summary, then a table of its inputs and one of its outputs."""
    if args.json:
        _print_json(out, ogc.description(args.process))
        return 0
    described = ogc.describe(args.process)
    control = ", ".join(o.value for o in described.jobControlOptions)
    out.out(f"{described.id} {described.version}: {described.title or ''}".rstrip(": "))
    if described.description:
        out.out(described.description)
    out.out(f"job control: {control}")
    inputs = Table(title="inputs")
    for column in ("id", "schema", "occurs", "description"):
        inputs.add_column(column)
    for name, item in described.inputs.items():
        most = "n" if item.maxOccurs == "unbounded" else str(item.maxOccurs)
        inputs.add_row(name, json.dumps(item.schema_, ensure_ascii=False),
                       f"{item.minOccurs}..{most}", item.description or item.title or "")
    outputs = Table(title="outputs")
    for column in ("id", "schema", "description"):
        outputs.add_column(column)
    for name, output in described.outputs.items():
        outputs.add_row(name, json.dumps(output.schema_, ensure_ascii=False),
                        output.description or output.title or "")
    out.print(inputs)
    out.print(outputs)
    return 0


def _print_json(out: Console, doc: object) -> None:
    out.out(json.dumps(doc, indent=2, ensure_ascii=False))


def _jobs(ogc: OGCClient, args: argparse.Namespace, out: Console, err: Console) -> int:
    command = getattr(args, "jobs_command", None)
    if command is not None:
        return _JOB_COMMANDS[command](ogc, args, out, err)
    if args.json:
        _print_json(out, ogc.job_list(limit=args.limit, statuses=args.status,
                                      process_ids=args.process_ids))
        return 0
    jobs = ogc.jobs(limit=args.limit, statuses=args.status, process_ids=args.process_ids)
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


def _job_logs(ogc: OGCClient, args: argparse.Namespace, out: Console, err: Console) -> int:
    """Print the job's log; with --follow, new lines as they come until the job ends."""
    text, after = ogc.logs(args.job_id)
    out.out(text, end="")
    while args.follow and not ogc.status(args.job_id).status.terminal:
        time.sleep(args.interval)
        text, after = ogc.logs(args.job_id, after)
        out.out(text, end="")
    if args.follow:  # lines the job wrote as it ended
        out.out(ogc.logs(args.job_id, after)[0], end="")
    return 0


def _job_create(ogc: OGCClient, args: argparse.Namespace, out: Console, err: Console) -> int:
    """A job defined from KEY=VALUE inputs of PROCESS_ID, or from the definition in --file."""
    if args.file is not None:
        if args.process is not None or args.inputs:
            raise InputError("give the definition in --file or PROCESS_ID KEY=VALUE, not both")
        definition = _definition_file(args.file)
    else:
        if args.process is None:
            raise InputError("give a PROCESS_ID (or --file DEFINITION)")
        inputs = parse_inputs(args.inputs, ogc.describe(args.process))
        definition = {"process": f"{ogc.url}/processes/{quote(args.process, safe='')}",
                      "inputs": inputs}
    _show_status(ogc.create_job(definition), args, out)
    return 0


def _definition_file(path: Path) -> dict[str, Any]:
    try:
        definition = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot read the definition in {path}: {exc}") from None
    if not isinstance(definition, dict):
        raise InputError(f"the definition in {path} is not a JSON object")
    return definition


def _job_update(ogc: OGCClient, args: argparse.Namespace, out: Console, err: Console) -> int:
    """Set the inputs given; the job's other inputs stay as they are."""
    status = ogc.status(args.job_id)
    if status.processID is None:
        raise InputError(f"job {args.job_id} names no process")
    inputs = parse_inputs(args.inputs, ogc.describe(status.processID))
    current = ogc.definition(args.job_id).get("inputs")
    merged = {**(current if isinstance(current, dict) else {}), **inputs}
    _show_status(ogc.update_job(args.job_id, {"inputs": merged}), args, out)
    return 0


def _job_start(ogc: OGCClient, args: argparse.Namespace, out: Console, err: Console) -> int:
    started = ogc.start_job(args.job_id)
    if not args.wait:
        _show_status(started, args, out)
        return 0
    following = argparse.Namespace(events=True, interval=0.5, timeout=args.timeout, plain=True)
    answer = _follow(ogc, started, following, err)
    _show(answer, ogc.describe(started.processID or ""), args, out)
    return 0


def _job_show(ogc: OGCClient, args: argparse.Namespace, out: Console, err: Console) -> int:
    _show_status(ogc.status(args.job_id), args, out)
    return 0


def _job_results(ogc: OGCClient, args: argparse.Namespace, out: Console, err: Console) -> int:
    status = ogc.status(args.job_id)
    if status.status is StatusCode.FAILED:
        raise JobUnsuccessful(args.job_id, f"failed: {_failure(ogc, status)}")
    _show(ogc.results(args.job_id), ogc.describe(status.processID or ""), args, out)
    return 0


def _job_definition(ogc: OGCClient, args: argparse.Namespace, out: Console,
                    err: Console) -> int:
    _print_json(out, ogc.definition(args.job_id))
    return 0


def _job_prov(ogc: OGCClient, args: argparse.Namespace, out: Console, err: Console) -> int:
    text = ogc.provenance(args.job_id, notation=args.provn)
    if args.provn:
        out.out(text, end="" if text.endswith("\n") else "\n")
    else:
        try:
            _print_json(out, json.loads(text))
        except ValueError as exc:
            raise UnexpectedAnswer(f"the provenance of job {args.job_id} is not JSON") from exc
    return 0


def _job_dismiss(ogc: OGCClient, args: argparse.Namespace, out: Console, err: Console) -> int:
    _show_status(ogc.dismiss(args.job_id), args, out)
    return 0


def _show_status(status: StatusInfo, args: argparse.Namespace, out: Console) -> None:
    """A job's status: its statusInfo with --json, else one `name: value` line a member."""
    if getattr(args, "json", False):
        _print_json(out, status.dump())
        return
    out.out(f"job: {status.jobID}")
    rows = [("process", status.processID), ("status", status.status.value),
            ("progress", None if status.progress is None else f"{status.progress}%"),
            ("message", status.message), ("created", status.created),
            ("started", status.started), ("finished", status.finished)]
    if status.parts is not None:
        rows.append(("parts", f"{status.parts.done} of {status.parts.total} done"))
    if status.nodes is not None:
        rows.append(("nested processes", f"{status.nodes.done} of {status.nodes.total} done"))
    for name, value in rows:
        if value:
            out.out(f"{name}: {value}")


_JOB_COMMANDS: dict[str, Command] = {
    "create": _job_create, "update": _job_update, "start": _job_start, "show": _job_show,
    "results": _job_results, "definition": _job_definition, "prov": _job_prov,
    "dismiss": _job_dismiss, "logs": _job_logs,
}
_COMMANDS: dict[str, Command] = {"run": _run, "processes": _processes, "jobs": _jobs}
