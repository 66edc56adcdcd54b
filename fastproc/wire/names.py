"""arq task names and job ids of fastproc: spelled once, used by enqueuers and workers."""

from __future__ import annotations

from fastproc.wire.keys import Keys

RUN_TASK = "fastproc.run"
PART_TASK = "fastproc.part"
MERGE_TASK = "fastproc.merge"
NODE_TASK = "fastproc.node"


def wake_channel(prefix: str, queue: str) -> str:
    """The pub/sub channel on which enqueuers nudge the idle workers of a queue."""
    return Keys(prefix).wake(queue)


def part_job_id(job_id: str, index: int | str) -> str:
    return f"{job_id}:part:{index}"


def merge_job_id(job_id: str) -> str:
    return f"{job_id}:merge"


def node_job_id(job_id: str, node: int) -> str:
    """The task of one process of a workflow (node 0 is the job's own process)."""
    return f"{job_id}:node:{node}"


def node_of(task_id: str) -> tuple[str, int]:
    """(job id, node id) of a node task id."""
    job_id, _, node = task_id.rpartition(":node:")
    return job_id, int(node)


def part_of(task_id: str) -> tuple[str, str]:
    """(job id, part key) of a part task id."""
    job_id, _, key = task_id.rpartition(":part:")
    return job_id, key


def job_of(task_id: str) -> str:
    """The job a task belongs to: its own id, or the part of a part/merge id before them."""
    for marker in (":part:", ":merge", ":node:"):
        if marker in task_id:
            return task_id.rsplit(marker, 1)[0]
    return task_id
