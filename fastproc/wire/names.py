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
    """(job id, node id) of a node task id, or of the join id of a node's fan-out."""
    job_id, _, node = task_id.rpartition(":node:")
    return job_id, int(node)


def join_of(task_id: str) -> str:
    """The join a part or merge task counts into: `{job}` for a job's own fan-out,
    `{job}:node:{n}` for the fan-out of a workflow's node (`part_job_id` and
    `merge_job_id` of that join id name its tasks)."""
    if task_id.endswith(":merge"):
        return task_id.removesuffix(":merge")
    return part_of(task_id)[0]


def is_node_join(join_id: str) -> bool:
    """A join of a workflow node's fan-out: its tasks are node tasks (`NODE_TASK`), and its
    node's value, not the job's result, is what its merge stores."""
    return ":node:" in join_id


def join_tasks(join_id: str) -> tuple[str, str]:
    """The arq functions of a join's part and merge tasks."""
    return (NODE_TASK, NODE_TASK) if is_node_join(join_id) else (PART_TASK, MERGE_TASK)


def part_of(task_id: str) -> tuple[str, str]:
    """(job id, part key) of a part task id."""
    job_id, _, key = task_id.rpartition(":part:")
    return job_id, key


def job_of(task_id: str) -> str:
    """The job a task belongs to: its own id, or what comes before the first marker of a
    part, merge or node id (`{job}:node:{n}:part:{i}` belongs to `{job}`)."""
    found = [i for i in (task_id.find(m) for m in (":part:", ":merge", ":node:")) if i >= 0]
    return task_id[:min(found)] if found else task_id
