"""What the job page shows besides the status: the inputs it was given and what can be done
with it (start a created job, run it again, edit its inputs in the process's form), where
the time went, the job's log, and for a failed job the traceback of the process's error.

The timeline comes from the record (created, started, finished); a fan-out job's parts and
merge from the run times its tasks recorded in the job's trace (`fastproc.store.logbook`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from markupsafe import Markup

from fastproc.api.html.render import FROM_JOB_PARAMETER, RERUN_FORM_PATH, START_FORM_PATH
from fastproc.api.insights import Insights
from fastproc.api.insights.charts import Phase, parts_chart, seconds_text, timeline_chart
from fastproc.execution.drafts import definition_of
from fastproc.ogc.models import StatusCode
from fastproc.store.logbook import JobLog, JobTrace, TaskTime
from fastproc.store.record import JobRecord, parse_iso

#: The slowest parts listed on the page.
SLOWEST = 5
_CSS = {StatusCode.SUCCESSFUL: "ok", StatusCode.FAILED: "bad", StatusCode.DISMISSED: "gone"}


def _seconds(text: str | None) -> float | None:
    return parse_iso(text).timestamp() if text else None


@dataclass(frozen=True, slots=True)
class Timeline:
    phases: list[Phase]
    chart: Markup
    #: A fan-out's parts done over time ('' for other jobs).
    parts_chart: Markup
    slowest: list[TaskTime]


def timeline(record: JobRecord, trace: JobTrace, now: float) -> Timeline:
    created, started = _seconds(record.created), _seconds(record.started)
    end = _seconds(record.finished) or now
    if created is None:
        return Timeline([], Markup(""), Markup(""), [])
    if started is None:
        return Timeline([Phase("queued", created, end, "wait")],
                        timeline_chart([Phase("queued", created, end, "wait")]), Markup(""), [])
    css = _CSS.get(record.status, "run")
    phases = [Phase("queued", created, started, "wait")]
    merge = trace.merge
    if merge is not None:
        phases += [Phase("parts", started, merge.started_ms / 1000, css),
                   Phase("merge", merge.started_ms / 1000, merge.ended_ms / 1000, "merge")]
    else:
        phases.append(Phase("ran", started, end, css))
    parts = trace.parts
    chart = Markup("")
    if parts and record.parts is not None:
        chart = parts_chart([t.ended_ms / 1000 - started for t in parts], record.parts.total,
                            end - started)
    return Timeline(phases, timeline_chart(phases), chart, parts[:SLOWEST])


def traceback_of(log: JobLog) -> str | None:
    """The last traceback in the log: the process error that failed the job."""
    return next((line.traceback for line in reversed(log.lines) if line.traceback), None)


async def job_page_context(insights: Insights, record: JobRecord, href: str) -> dict[str, Any]:
    """The job page's extra context (see `job.html`); `href` is the job's URL."""
    base = href.removesuffix(f"/jobs/{record.job_id}")
    log = await insights.logs.read(record.job_id)
    trace = await insights.logs.trace(record.job_id)
    failed = record.status is StatusCode.FAILED
    inputs = definition_of(record, base).get("inputs")
    process = quote(record.process_id, safe="")
    job = quote(record.job_id, safe="")
    return {
        "inputs": inputs if isinstance(inputs, dict) else {},
        "definition_href": f"{href}/definition",
        "start_action": base + START_FORM_PATH.format(job_id=job),
        "rerun_action": base + RERUN_FORM_PATH.format(job_id=job),
        "edit_href": f"{base}/processes/{process}?f=html&{FROM_JOB_PARAMETER}={job}",
        "log": log,
        "logs_href": f"{href}/logs",
        "timeline": timeline(record, trace, datetime.now(UTC).timestamp()),
        "traceback": traceback_of(log) if failed else None,
        "seconds_text": seconds_text,
    }
