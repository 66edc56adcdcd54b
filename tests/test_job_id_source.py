"""Job ids are random version-4 UUIDs (hex), read from the OS in blocks: never repeated,
not even by a process forked while a block was half used."""

from __future__ import annotations

import os
import uuid

from fastproc.store.record import is_job_id, new_job_id


def test_job_ids_are_distinct_version_4_uuids() -> None:
    ids = [new_job_id() for _ in range(5000)]  # more than one block of random bytes
    assert len(set(ids)) == len(ids)
    for job_id in ids[:300]:
        assert is_job_id(job_id)
        parsed = uuid.UUID(job_id)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    new_job_id()  # a block is half used when the fork happens
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, then out
        os.write(write, "".join(new_job_id() for _ in range(10)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        text = pipe.read()
    child = {text[i:i + 32] for i in range(0, len(text), 32)}
    parent = {new_job_id() for _ in range(10)}
    assert len(child) == 10 and not child & parent
