"""`python -m benchmarks`: start the stack (or target `--url`), run scenarios, print a table
and write JSON lines. Bounded in time; loopback only.

`--compare fastprocesses` then runs the same scenarios against fastprocesses 0.24.1 on the
same Valkey (one after the other) and prints a table of ratios fastproc / fastprocesses."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

import orjson
import redis

from benchmarks import floors, scenarios
from benchmarks.measure import Result, command_count
from benchmarks.peer import PEERS, comparison, peer_stack, print_comparison
from benchmarks.report import print_table
from benchmarks.stack import Usage, fastproc_stack, redis_server

ALL = ("list", "sync", "cache", "async", "burst", "fanout", "scatter", "mixed", "floors")
COMPARED = tuple(name for name in ALL if name != "floors")


class Measured(Protocol):
    """A started server whose processes and Redis the harness can read (fastproc's `Stack`
    or a `PeerStack`)."""

    def redis(self) -> redis.Redis: ...

    def usage(self) -> dict[str, Usage]: ...


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--url", help="benchmark this running OGC API - Processes server")
    parser.add_argument("--redis-url", help="Redis for the started stack (default: embedded)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes to start")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per load scenario")
    parser.add_argument("--burst", type=int, default=2000, help="jobs in the burst scenario")
    parser.add_argument("--parts", help="fan-out sizes (default 100,1000,10000; with "
                        "--compare 1000)")
    parser.add_argument("--scenarios", help=f"comma-separated subset of {', '.join(ALL)} "
                        "(default all; with --compare all but floors)")
    parser.add_argument("--timeout", type=float, default=300, help="limit per waiting scenario")
    parser.add_argument("--compare", choices=PEERS,
                        help="also run the scenarios against this competitor, then the ratios")
    parser.add_argument("--poll", action="store_true",
                        help="see burst and fan-out jobs end by polling /jobs/{id} rather "
                        "than fastproc's event channel (implied by --compare: both servers "
                        "are then measured the same way)")
    parser.add_argument("--json", default="benchmarks/results/latest.jsonl",
                        help="where to write JSON lines")
    return parser


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


async def _run(args: argparse.Namespace, target: scenarios.Target, stack: Measured | None
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
        # Commands are counted from the start of the warm-up, so they are divided by the
        # operations started since then, not by the measured ones only.
        ops = result.extra.pop("ops_started", None) or result.count
        if r is not None and commands is not None and jobs_per_unit and ops:
            spent = command_count(r) - commands
            result.extra["redis_cmds_per_job"] = round(spent / (ops * jobs_per_unit), 1)
        results.append(result)
        print(f"  {result.scenario}: {result.rate:,.1f} {result.unit}/s", flush=True)

    await step("list", scenarios.process_list(target, c, d))
    await step("sync", scenarios.sync_echo(target, c, d), jobs_per_unit=1)
    await step("cache", scenarios.cache_hit(target, c, d))
    await step("async", scenarios.async_end_to_end(target, c, d), jobs_per_unit=1)
    await step("burst", scenarios.burst(target, args.burst, c, args.timeout), jobs_per_unit=1)
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
    if args.scenarios is None:
        args.scenarios = ",".join(COMPARED if args.compare else ALL)
    if args.parts is None:
        args.parts = "1000" if args.compare else "100,1000,10000"
    poll = args.poll or bool(args.compare)
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    load_before = _load()
    theirs: list[Result] = []
    if args.url:
        results = asyncio.run(_run(args, scenarios.Target(args.url), None))
    else:
        with redis_server(args.redis_url) as redis_url:
            print("fastproc:", flush=True)
            with fastproc_stack(redis_url, workers=args.workers) as stack:
                target = (scenarios.Target(stack.url) if poll
                          else scenarios.Target(stack.url, redis_url, stack.prefix))
                results = asyncio.run(_run(args, target, stack))
            if args.compare:
                print(f"{args.compare}:", flush=True)
                with peer_stack(args.compare, redis_url) as peer:
                    theirs = asyncio.run(_run(args, peer.target(), peer))
            if "floors" in args.scenarios.split(","):
                results += asyncio.run(_floors(args, redis_url))
    meta: dict[str, Any] = {
        "date": started, "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "cpu": _cpu_model(), "python": platform.python_version(),
        "concurrency": args.concurrency, "workers": args.workers,
        "load": f"{load_before} -> {_load()}"}
    lines = [{**meta, **result.row()} for result in results]
    if args.compare:
        meta_ours = {"server": "fastproc", **meta}
        meta_theirs = {"server": f"{args.compare} (1 API process, Celery --concurrency 2)",
                       **meta, "workers": 2}
        print_table(results, meta_ours)
        print_table(theirs, meta_theirs)
        rows = comparison(results, theirs)
        print_comparison(rows, args.compare, {k: meta[k] for k in ("date", "cpu", "load")})
        lines = ([{**meta_ours, **r.row()} for r in results]
                 + [{**meta_theirs, **r.row()} for r in theirs]
                 + [{**meta, "comparison": args.compare, **asdict(row), "ratios": row.ratios()}
                    for row in rows])
    else:
        print_table(results, meta)
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as handle:
        for line in lines:
            handle.write(orjson.dumps(line) + b"\n")
    return results


if __name__ == "__main__":
    main()
