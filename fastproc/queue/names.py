"""arq task names and job ids of fastproc: spelled once, used by enqueuers and workers."""

from __future__ import annotations

RUN_TASK = "fastproc.run"
PART_TASK = "fastproc.part"
MERGE_TASK = "fastproc.merge"


def part_job_id(job_id: str, index: int | str) -> str:
    return f"{job_id}:part:{index}"


def merge_job_id(job_id: str) -> str:
    return f"{job_id}:merge"
