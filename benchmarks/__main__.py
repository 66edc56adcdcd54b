"""`python -m benchmarks`: start the stack (or target `--url`), run scenarios, print a table
and write JSON lines. Bounded in time; loopback only."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from benchmarks import floors, scenarios
from benchmarks.measure import Result, command_count
from benchmarks.report import print_table
from benchmarks.stack import Stack, fastproc_stack, redis_server

ALL = ("list", "sync", "cache", "async", "burst", "fanout", "scatter", "mixed", "floors")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--url", help="benchmark this running OGC API - Processes server")
    parser.add_argument("--redis-url", help="Redis for the started stack (default: embedded)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes to start")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per load scenario")
    parser.add_argument("--burst", type=int, default=2000, help="jobs in the burst scenario")
    parser.add_argument("--parts", default="100,1000,10000", help="fan-out sizes")
    parser.add_argument("--scenarios", default=",".join(ALL),
                        help=f"comma-separated subset of {', '.join(ALL)}")
    parser.add_argument("--timeout", type=float, default=300, help="limit per waiting scenario")
    parser.add_argument("--json", default="benchmarks/results/latest.jsonl",
                        help="where to write JSON lines")
    return parser


async def _run(args: argparse.Namespace, target: scenarios.Target, stack: Stack | None
               ) -> list[Result]:
    wanted = set(args.scenarios.split(","))
    c, d = args.concurrency, args.duration
    results: list[Result] = []
    r = stack.redis() if stack else None

    async def step(name: str, coro: Any, jobs_per_unit: float | None = None) -> None:
        if name not in wanted:
            coro.close()
            return
        before = stack.usage() if stack else {}
        commands = command_count(r) if r is not None else None
        result: Result = await coro
        if stack is not None:
            after = stack.usage()
            for part, use in after.items():
                result.extra[f"{part}_cpu_s"] = round(use.cpu_seconds
                                                      - before[part].cpu_seconds, 2)
                result.extra[f"{part}_peak_rss_mb"] = round(use.peak_rss_mb, 1)
        if r is not None and commands is not None and jobs_per_unit and result.count:
            spent = command_count(r) - commands
            result.extra["redis_cmds_per_job"] = round(spent / (result.count * jobs_per_unit), 1)
        results.append(result)
        print(f"  {result.scenario}: {result.rate:,.1f} {result.unit}/s", flush=True)

    await step("list", scenarios.process_list(target, c, d))
    await step("sync", scenarios.sync_echo(target, c, d), jobs_per_unit=1)
    await step("cache", scenarios.cache_hit(target, c, d))
    await step("async", scenarios.async_end_to_end(target, c, d), jobs_per_unit=1)
    if stack is not None:
        await step("burst", scenarios.burst(target, args.burst, c, args.timeout),
                   jobs_per_unit=1)
        for parts in (int(p) for p in args.parts.split(",") if p):
            await step("fanout", scenarios.fan_out(target, parts, args.timeout))
    await step("scatter", scenarios.scatter(target, c, d), jobs_per_unit=1)
    await step("mixed", scenarios.mixed(target, c, d))
    if stack is not None and "idle" in wanted | {"idle"} and r is not None:
        before_cmds = command_count(r)
        await asyncio.sleep(3)
        per_s = (command_count(r) - before_cmds) / 3
        results.append(Result("idle stack: Redis commands/s", "cmd", int(per_s * 3), 3.0))
    if r is not None:
        r.close()
    return results


async def _floors(args: argparse.Namespace, redis_url: str) -> list[Result]:
    results: list[Result] = []
    c, d = args.concurrency, args.duration
    with floors.floor_server(redis_url, fast=False) as url:
        results.append(await floors.http_floor(url, "/bare", "floor: bare FastAPI POST", c, d))
    try:
        with floors.floor_server(redis_url, fast=True) as url:
            results.append(await floors.http_floor(
                url, "/redis", "floor: FastAPI + Redis SET/GET (uvloop)", c, d))
    except RuntimeError:
        with floors.floor_server(redis_url, fast=False) as url:
            results.append(await floors.http_floor(
                url, "/redis", "floor: FastAPI + Redis SET/GET", c, d))
    for poll in (0.5, 0.01):
        results.append(await floors.arq_drain(redis_url, args.burst, max_jobs=100,
                                              poll_delay=poll))
    results.append(await floors.arq_round_trip(redis_url, 50, 0.01))
    for result in results[-3:]:
        print(f"  {result.scenario}: {result.rate:,.1f} {result.unit}/s", flush=True)
    return results


def main(argv: Sequence[str] | None = None) -> list[Result]:
    args = _parser().parse_args(argv)
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    if args.url:
        results = asyncio.run(_run(args, scenarios.Target(args.url), None))
    else:
        with redis_server(args.redis_url) as redis_url:
            with fastproc_stack(redis_url, workers=args.workers) as stack:
                target = scenarios.Target(stack.url, redis_url, stack.prefix)
                results = asyncio.run(_run(args, target, stack))
            if "floors" in args.scenarios.split(","):
                results += asyncio.run(_floors(args, redis_url))
    meta = {"date": started, "machine": f"{platform.machine()} {os.cpu_count()} cores",
            "python": platform.python_version(), "concurrency": args.concurrency,
            "workers": args.workers}
    print_table(results, meta)
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as handle:
        for result in results:
            handle.write(orjson.dumps({**meta, **result.row()}) + b"\n")
    return results


if __name__ == "__main__":
    main()
