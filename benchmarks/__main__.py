"""`python -m benchmarks`: start the stack (or target `--url`), run the scenarios as a plain
OGC API - Processes client would (32 keep-alive clients, status polled every 50 ms), print
tables and write JSON lines. Bounded in time; loopback only.

`--compare fastprocesses` runs the same scenarios against fastprocesses 0.24.1 on the same
Valkey, one server after the other, `--runs` times back to back (3 by default, the order
alternating), and prints the median of the per-run ratios fastproc / fastprocesses with
their range, each server's share of the floors (measured in every run), and the per-job
costs: CPU ms of API, worker and Valkey, Redis commands and round trips, status polls apart.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import functools
import os
import platform
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

import orjson

from benchmarks import floors, scenarios
from benchmarks.counting import Counts, count_round_trips
from benchmarks.figures import Run, compare, cost_medians, median
from benchmarks.measure import Meter, Result
from benchmarks.meter import ServerStats, StackMeter
from benchmarks.peer import PEERS, peer_stack
from benchmarks.report import print_comparison, print_costs, print_round_trips, print_table
from benchmarks.stack import Usage, fastproc_stack, redis_server

ALL = ("list", "sync", "cache", "async", "poll", "burst", "fanout", "scatter", "mixed",
       "cost", "idle", "floors", "roundtrips")


class Measured(Protocol):
    """A started server whose processes the harness can read and pause (fastproc's `Stack`
    or a `PeerStack`)."""

    def usage(self) -> dict[str, Usage]: ...

    def cpu(self) -> dict[str, float]: ...

    def pause_workers(self, paused: bool) -> None: ...


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="benchmark this running OGC API - Processes server")
    parser.add_argument("--redis-url", help="Redis for the started stack (default: embedded)")
    parser.add_argument("--workers", type=int, default=1, help="fastproc worker processes")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent clients")
    parser.add_argument("--duration", type=float, default=5.0,
                        help="measured seconds per load scenario")
    parser.add_argument("--warmup", type=float, default=1.0,
                        help="seconds of load before each load scenario's window opens")
    parser.add_argument("--poll-every", type=float, default=0.05,
                        help="seconds between a client's status polls of a job")
    parser.add_argument("--events", action="store_true",
                        help="fastproc alone: see burst and fan-out jobs end on fastproc's "
                        "event channel instead of polling (not what a user sees)")
    parser.add_argument("--burst", type=int, default=1000, help="jobs in the burst scenario")
    parser.add_argument("--cost-jobs", type=int, default=1000,
                        help="jobs in the cost run (per-job commands, round trips, CPU)")
    parser.add_argument("--parts", help="fan-out sizes (default 100,1000,10000; with "
                        "--compare 1000)")
    parser.add_argument("--idle", type=float, default=3.0, help="seconds of the idle sample")
    parser.add_argument("--scenarios", help=f"comma-separated subset of {', '.join(ALL)} "
                        "(default all)")
    parser.add_argument("--timeout", type=float, default=300, help="limit per waiting scenario")
    parser.add_argument("--compare", choices=PEERS,
                        help="also run the scenarios against this competitor, then the ratios")
    parser.add_argument("--runs", type=int,
                        help="back-to-back runs, medians reported (default 3 with --compare, "
                        "else 1)")
    parser.add_argument("--peer-processes", type=int, default=2,
                        help="prefork processes of the competitor's one Celery worker")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 1 s windows, 100-job burst and cost run, 100 "
                        "parts, one run unless --runs says otherwise")
    parser.add_argument("--json", default="benchmarks/results/latest.jsonl",
                        help="where to append JSON lines")
    return parser


def _settle(args: argparse.Namespace) -> None:
    if args.quick:
        args.duration, args.warmup, args.idle = 1.0, 0.5, 1.0
        args.burst, args.cost_jobs = min(args.burst, 100), min(args.cost_jobs, 100)
        args.parts = args.parts or "100"
    if args.scenarios is None:
        args.scenarios = ",".join(ALL)
    if args.parts is None:
        args.parts = "1000" if args.compare else "100,1000,10000"
    if args.runs is None:
        args.runs = 3 if args.compare and not args.quick else 1
    if args.compare and args.events:
        raise SystemExit("--events measures fastproc in a way the peer cannot be measured")


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


async def _measure(args: argparse.Namespace, t: scenarios.Target, stack: Measured | None,
                   label: str) -> list[Result]:
    """Every wanted scenario against one started server, in a fixed order."""
    wanted = set(args.scenarios.split(","))
    c, d = args.concurrency, args.duration
    results: list[Result] = []
    await scenarios.warm(t)

    async def step(name: str, make: Callable[[], Awaitable[Result]]) -> None:
        if name not in wanted:
            return
        result = await make()
        if stack is not None:
            for part, use in stack.usage().items():
                result.extra[f"{part}_peak_rss_mb"] = round(use.peak_rss_mb, 1)
        results.append(result)
        print(f"  {label}: {result.scenario}: {result.rate:,.1f} {result.unit}/s"
              + (f", {result.errors} errors" if result.errors else ""), flush=True)

    await step("list", lambda: scenarios.process_list(t, c, d))
    await step("sync", lambda: scenarios.sync_echo(t, c, d))
    await step("cache", lambda: scenarios.cache_hit(t, c, d))
    await step("async", lambda: scenarios.async_end_to_end(t, c, d))
    await step("poll", lambda: scenarios.status_poll(t, c, min(d, 2.0)))
    await step("poll", lambda: scenarios.status_poll(t, c, d, every=args.poll_every))
    await step("burst", lambda: scenarios.burst(t, args.burst, c, args.timeout))
    for parts in (int(p) for p in args.parts.split(",") if p):
        await step("fanout", functools.partial(scenarios.fan_out, t, parts, args.timeout))
    await step("scatter", lambda: scenarios.scatter(t, c, d))
    await step("mixed", lambda: scenarios.mixed(t, c, d))
    if stack is not None:
        await step("cost", lambda: scenarios.cost_run(t, args.cost_jobs, c, args.timeout,
                                                      stack.pause_workers))
    await step("idle", lambda: scenarios.idle(t, args.idle))
    return results


async def _floors(args: argparse.Namespace, redis_url: str, meter: Meter) -> list[Result]:
    results: list[Result] = []
    c, d = args.concurrency, args.duration
    if not args.compare:
        with floors.floor_server(redis_url, fast=False) as url:
            results.append(await floors.http_floor(url, "/bare", "floor: bare FastAPI POST",
                                                   c, d))
    try:
        with floors.floor_server(redis_url, fast=True) as url:
            results.append(await floors.http_floor(
                url, "/redis", f"{floors.HTTP_FLOOR} (uvloop)", c, d))
    except RuntimeError:
        with floors.floor_server(redis_url, fast=False) as url:
            results.append(await floors.http_floor(url, "/redis", floors.HTTP_FLOOR, c, d))
    for poll in (0.5, 0.01):
        results.append(await floors.arq_drain(redis_url, args.burst, max_jobs=50,
                                              poll_delay=poll, meter=meter))
    if not args.compare:
        results.append(await floors.arq_round_trip(redis_url, 50, 0.01))
    for result in results:
        print(f"  {result.scenario}: {result.rate:,.1f} {result.unit}/s", flush=True)
    return results


def _side(args: argparse.Namespace, server: str, redis_url: str, stats: ServerStats,
          label: str) -> list[Result]:
    """Start one server, measure it, stop it."""
    options: dict[str, Any] = {"poll_every": args.poll_every, "warmup": args.warmup}
    if server == "fastproc":
        with fastproc_stack(redis_url, workers=args.workers) as stack:
            target = scenarios.Target(stack.url, redis_url, stack.prefix, events=args.events,
                                      meter=StackMeter(stack.cpu, stats, _polls), **options)
            return asyncio.run(_measure(args, target, stack, label))
    with peer_stack(server, redis_url, worker_processes=args.peer_processes) as peer:
        target = peer.target(meter=StackMeter(peer.cpu, stats, _polls), **options)
        return asyncio.run(_measure(args, target, peer, label))


def _polls() -> int:
    return scenarios.TALLY.polls


def _meta(args: argparse.Namespace, started: str, load_before: str) -> dict[str, Any]:
    return {"date": started, "machine": f"{platform.machine()} {os.cpu_count()} cores",
            "cpu": _cpu_model(), "python": platform.python_version(),
            "clients": args.concurrency, "poll_every_s": args.poll_every,
            "window_s": args.duration, "warmup_s": args.warmup,
            "load": f"{load_before} -> {_load()}"}


def main(argv: Sequence[str] | None = None) -> list[Result]:
    args = _parser().parse_args(argv)
    _settle(args)
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    load_before = _load()
    runs: list[Run] = []
    counted: Counts = {}
    servers = ["fastproc"] + ([args.compare] if args.compare else [])
    if args.url:
        meter = StackMeter(dict, None, _polls)
        target = scenarios.Target(args.url, poll_every=args.poll_every, warmup=args.warmup,
                                  meter=meter)
        runs.append(Run(0, {"server": asyncio.run(_measure(args, target, None, "server"))}))
        servers = ["server"]
    else:
        with redis_server(args.redis_url) as redis_url:
            stats = ServerStats(redis_url)
            for index in range(args.runs):
                run = Run(index)
                order = servers if index % 2 == 0 else list(reversed(servers))
                for server in order:
                    label = f"{server} (run {index + 1}/{args.runs})"
                    print(f"{label}:", flush=True)
                    run.sides[server] = _side(args, server, redis_url, stats, label)
                if "floors" in args.scenarios.split(","):
                    print(f"floors (run {index + 1}/{args.runs}):", flush=True)
                    floor_meter = StackMeter(dict, stats, _polls)
                    run.floors = asyncio.run(_floors(args, redis_url, floor_meter))
                runs.append(run)
            stats.close()
            if "roundtrips" in args.scenarios.split(","):
                print("fastproc, round trips counted in its processes:", flush=True)
                counted = count_round_trips(redis_url, workers=args.workers,
                                            jobs=args.cost_jobs, concurrency=args.concurrency)
    meta = _meta(args, started, load_before)
    _report(args, runs, servers, meta, counted)
    return [r for run in runs for results in run.sides.values() for r in results]


def _report(args: argparse.Namespace, runs: list[Run], servers: list[str],
            meta: dict[str, Any], counted: Counts) -> None:
    lines: list[dict[str, Any]] = []
    setups = {"fastproc": f"1 API process, {args.workers} worker process(es)",
              "server": args.url or "",
              **{peer: f"1 API process, 1 Celery worker with {args.peer_processes} prefork "
                 "processes" for peer in PEERS}}
    for run in runs:
        for server, results in run.sides.items():
            if len(runs) == 1 or not args.compare:
                print_table(results, {"server": server, "setup": setups[server], **meta}, run)
            lines += [{**meta, "run": run.index, "server": server, "setup": setups[server],
                       **r.row()} for r in results]
        if run.floors and (len(runs) == 1 or not args.compare):
            print_table(run.floors, {"floors": "stack underneath", **meta})
        lines += [{**meta, "run": run.index, "server": "floor", **r.row()} for r in run.floors]
    short = {k: meta[k] for k in ("date", "load")}
    if args.compare:
        rows = compare(runs, "fastproc", args.compare)
        print_comparison(rows, "fastproc", args.compare, len(runs),
                         {k: meta[k] for k in ("date", "cpu", "clients", "poll_every_s",
                                               "window_s", "load")})
        lines += [{**meta, "comparison": args.compare, "runs": len(runs), **asdict(row)}
                  for row in rows]
    for title, table in ((f"per-job costs, medians of {len(runs)} run(s)",
                          cost_medians(runs, servers)),
                         ("Redis commands per simple async job by command (cost run)",
                          cost_medians(runs, servers, mix=True))):
        if table:
            print_costs(table, servers, title, short)
        lines += [{**meta, "figures": title, "label": label, "runs": len(runs),
                   **{server: median(values[server]) for server in servers},
                   "values": values} for label, values in table.items()]
    if counted:
        print_round_trips(counted, short)
        lines.append({**meta, "round_trips_counted": counted})
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as handle:
        for line in lines:
            handle.write(orjson.dumps(line) + b"\n")


if __name__ == "__main__":
    main()
