"""The execute use case, with no HTTP in it: an execute request in, an outcome out.

Parse and bound the request, validate it against the process, decide whether the result
cache may answer it, submit the job through the lifecycle (`fastproc.jobs`) and, for a
synchronous execution, wait for the job's end on the event hub. What comes back is one of
the `Outcome` values; the JSON route, the direct dispatch, the HTML form and the test
helpers render it as they need, so none of them holds a rule of its own.

    executor = Executor(settings, limits, catalogue, events, jobs)
    outcome = await executor.execute(proc, {"inputs": {"x": 1}}, Asked(base=base))
"""

from fastproc.execution.executor import Executor
from fastproc.execution.outcomes import Asked, Created, Failed, Finished, Outcome, StillRunning
from fastproc.execution.request import (
    check_addresses,
    check_outputs,
    job_request_of,
    output_media_types,
    parse_body,
    wants_async,
)

__all__ = [
    "Asked",
    "Created",
    "Executor",
    "Failed",
    "Finished",
    "Outcome",
    "StillRunning",
    "check_addresses",
    "check_outputs",
    "job_request_of",
    "output_media_types",
    "parse_body",
    "wants_async",
]
