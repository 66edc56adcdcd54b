"""`python -m benchmarks.serializer`: what arq job messages cost as JSON (fastproc's) and
as pickle (arq's default), per message, encoded and decoded, and their size.

JSON is used so that a write to Redis is data and never code on the workers; this shows the
switch is no slower on the hot path (every job's message is written once and read once)."""

from __future__ import annotations

import argparse
import timeit

from arq.jobs import deserialize_job_raw, serialize_job

from fastproc.wire.enqueue import dump_job, load_job
from fastproc.wire.names import RUN_TASK


def _per_call_us(call: object, number: int) -> float:
    return timeit.timeit(call, number=number) / number * 1e6  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serializer", description=__doc__)
    parser.add_argument("--number", type=int, default=200_000, help="calls per figure")
    n = parser.parse_args().number
    now = 1_700_000_000_000
    pickled = serialize_job(RUN_TASK, (), {}, None, now)
    as_json = serialize_job(RUN_TASK, (), {}, None, now, serializer=dump_job)
    rows = [
        ("pickle", _per_call_us(lambda: serialize_job(RUN_TASK, (), {}, None, now), n),
         _per_call_us(lambda: deserialize_job_raw(pickled), n), len(pickled)),
        ("json", _per_call_us(
            lambda: serialize_job(RUN_TASK, (), {}, None, now, serializer=dump_job), n),
         _per_call_us(lambda: deserialize_job_raw(as_json, deserializer=load_job), n),
         len(as_json)),
    ]
    print(f"{'format':<8}{'encode µs':>11}{'decode µs':>11}{'bytes':>7}")
    for name, encode, decode, size in rows:
        print(f"{name:<8}{encode:>11.2f}{decode:>11.2f}{size:>7}")


if __name__ == "__main__":
    main()
