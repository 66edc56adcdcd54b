"""`python -m benchmarks.chaos`: many async jobs through several workers while one worker is
killed (SIGKILL) and replaced mid-run. Reports jobs lost (must be 0), jobs run more than
once (at-least-once execution re-runs what the dead worker held) and the latency tail."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import tempfile
import time
from collections import Counter
from pathlib import Path

import orjson

from benchmarks.http import Connection
from benchmarks.measure import Result
from benchmarks.report import print_table
from benchmarks.scenarios import Completions, Target
from benchmarks.stack import fastproc_stack, redis_server


class _Watch(Completions):
    """Completions that also signal when the moment to kill a worker has come."""

    def __init__(self, target: Target, kill_after: int) -> None:
        super().__init__(target)
        self.kill_after = kill_after
        self.kill_now = asyncio.Event()

    def _check(self) -> None:
        super()._check()
        if len(self.ended) >= self.kill_after:
            self.kill_now.set()


async def _submit(url: str, count: int, concurrency: int, work: float,
                  submitted: dict[str, float], tokens: dict[str, str]) -> None:
    pending = list(range(count))

    async def client() -> None:
        conn = Connection.to(url)
        try:
            while pending:
                token = f"t{pending.pop()}"
                body = orjson.dumps({"inputs": {"token": token, "work": work}})
                reply = await conn.request("POST", "/processes/tally/execution", body,
                                           headers={"Prefer": "respond-async"})
                if reply.status == 201:
                    job_id = orjson.loads(reply.body)["jobID"]
                    submitted[job_id] = time.perf_counter()
                    tokens[job_id] = token
        finally:
            await conn.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))


async def run(args: argparse.Namespace) -> list[Result]:
    tally = Path(tempfile.mkdtemp()) / "tally.txt"
    tally.touch()
    env = {"FASTPROC_PROCESSES": "workers.examples,benchmarks.bench_processes",
           "FASTPROC_BENCH_TALLY": str(tally), "FASTPROC_JOB_TIMEOUT": "5",
           "FASTPROC_HARD_TIMEOUT_GRACE": "1", "FASTPROC_MAX_TRIES": "5"}
    with redis_server(args.redis_url) as redis_url, \
            fastproc_stack(redis_url, workers=args.workers, env=env) as stack:
        target = Target(stack.url, redis_url, stack.prefix)
        submitted: dict[str, float] = {}
        tokens: dict[str, str] = {}
        async with _Watch(target, args.jobs // 3) as done:
            start = time.perf_counter()
            submitting = asyncio.create_task(
                _submit(stack.url, args.jobs, args.concurrency, args.work, submitted, tokens))
            await done.kill_now.wait()
            victim = stack.workers[0]
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            killed_at = time.perf_counter() - start
            await asyncio.sleep(1)
            assert stack.spawn_worker is not None
            stack.workers[0] = stack.spawn_worker("worker0-restarted")
            await submitting
            done.expect(submitted)
            with contextlib.suppress(TimeoutError):  # what has not ended by then is lost
                await asyncio.wait_for(done.all_done.wait(), args.timeout)
            seconds = time.perf_counter() - start
        r = stack.redis()
        statuses: Counter[str] = Counter()
        with r.pipeline(transaction=False) as pipe:
            for job_id in submitted:
                pipe.hget(f"{stack.prefix}:job:{job_id}", "status")
            for status in pipe.execute():
                statuses[(status or b"missing").decode()] += 1
        runs = Counter(tally.read_text().split())
    lost = len(submitted) - statuses["successful"]
    duplicates = sum(n - 1 for n in runs.values() if n > 1)
    latencies = [(done.ended[j] - t) * 1000 for j, t in submitted.items() if j in done.ended]
    result = Result(f"chaos: {args.jobs} jobs, {args.workers} workers, 1 killed", "job",
                    statuses["successful"], seconds, latencies, errors=lost,
                    extra={"acknowledged": len(submitted), "lost": lost,
                           "ran_twice_or_more": duplicates,
                           "killed_at_s": round(killed_at, 1),
                           "max_ms": round(max(latencies, default=0.0)),
                           "statuses": dict(statuses)})
    print_table([result], {"jobs": args.jobs, "workers": args.workers})
    return [result]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chaos", description=__doc__)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--work", type=float, default=0.0, help="seconds each job sleeps")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--redis-url")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
