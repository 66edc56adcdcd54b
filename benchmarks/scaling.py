"""`python -m benchmarks.scaling`: how far one Valkey primary carries fastproc when workers
and API processes are added. One Valkey on this machine; for each setup (1, 2 and 4 worker
processes, times 1 and 2 API processes) a fresh stack runs a burst of plain async jobs
(`scenarios.burst`, 64 clients, ends seen on the event channel so status polls do not
blur the figure) and reports jobs/s, the CPU of each part per job, Valkey's commands per
job and how busy Valkey was (its CPU seconds over the burst's seconds).

Valkey runs commands on one thread, so it saturates when its busy share nears 1.0; the
jobs/s it could carry alone is about 1000 / (Valkey CPU ms per job), printed as
`valkey_ceiling`. On a machine where the API, the workers and Valkey share the same cores,
the Python processes run out of CPU long before Valkey does; the ceiling is what to read
for a Valkey of its own (docs/scaling.md).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from benchmarks import scenarios
from benchmarks.__main__ import _cpu_model, _load
from benchmarks.measure import Result
from benchmarks.meter import ServerStats, StackMeter, per_unit
from benchmarks.stack import fastproc_stack, redis_server, wait_until

#: (API processes, worker processes), in the order they run.
SETUPS = ((1, 1), (1, 2), (1, 4), (2, 1), (2, 2), (2, 4))


@dataclass
class Row:
    """One setup's figures."""

    api: int
    workers: int
    result: Result

    def figures(self) -> dict[str, Any]:
        r = self.result
        unit = per_unit(r.spent, r.count)
        valkey_ms = unit.get("cpu_ms.valkey")
        busy = r.spent.get("cpu_s.valkey", 0.0) / r.seconds if r.seconds else 0.0
        machine = sum(r.spent.get(f"cpu_s.{p}", 0.0) for p in ("api", "worker", "valkey",
                                                               "client"))
        return {"api": self.api, "workers": self.workers, "jobs": r.count,
                "errors": r.errors, "jobs_s": round(r.rate, 1),
                "p50_ms": _rounded(r.percentile(50)), "p99_ms": _rounded(r.percentile(99)),
                "submit_s": r.extra.get("submit_rate"),
                "cpu_ms_api": _rounded(unit.get("cpu_ms.api")),
                "cpu_ms_worker": _rounded(unit.get("cpu_ms.worker")),
                "cpu_ms_valkey": _rounded(valkey_ms),
                "cmds_job": _rounded(unit.get("cmds")),
                "rt_job": _rounded(unit.get("round_trips")),
                "valkey_busy": round(busy, 2),
                "machine_busy": round(machine / r.seconds / (os.cpu_count() or 1), 2)
                if r.seconds else None,
                "valkey_ceiling": round(1000 / valkey_ms) if valkey_ms else None}


def _serves(url: str) -> bool:
    try:
        return httpx.get(f"{url}/processes/echo", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def measure(redis_url: str, stats: ServerStats, api: int, workers: int, jobs: int,
            concurrency: int, limit: float) -> Row:
    """A fresh stack of `api` API processes and `workers` workers, a warm-up, one burst."""
    with fastproc_stack(redis_url, workers=workers, api_processes=api) as stack:
        # With several API processes the port is bound before they serve: wait for HTTP.
        wait_until(lambda: _serves(stack.url), 60, "the API processes")
        target = scenarios.Target(stack.url, redis_url, stack.prefix, events=True,
                                  warmup=0.0, meter=StackMeter(stack.cpu, stats, lambda: 0))

        async def go() -> Result:
            await scenarios.burst(target, min(200, jobs), concurrency, limit)  # warm-up
            return await scenarios.burst(target, jobs, concurrency, limit)

        return Row(api, workers, asyncio.run(go()))


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scaling", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis-url", help="the Valkey to measure (default: embedded)")
    parser.add_argument("--jobs", type=int, default=5000, help="jobs in each setup's burst")
    parser.add_argument("--concurrency", type=int, default=64, help="submitting clients")
    parser.add_argument("--timeout", type=float, default=120, help="limit per burst, seconds")
    parser.add_argument("--json", default="benchmarks/results/scaling.jsonl",
                        help="where to append JSON lines")
    args = parser.parse_args(argv)
    meta = {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "machine": f"{os.cpu_count()} cores, {_cpu_model()}", "load_before": _load(),
            "clients": args.concurrency}
    rows: list[dict[str, Any]] = []
    with redis_server(args.redis_url) as redis_url:
        stats = ServerStats(redis_url)
        for api, workers in SETUPS:
            row = measure(redis_url, stats, api, workers, args.jobs, args.concurrency,
                          args.timeout).figures()
            rows.append(row)
            print(f"  {api} API, {workers} worker(s): {row['jobs_s']:,} jobs/s, "
                  f"Valkey busy {row['valkey_busy']:.0%}", flush=True)
        stats.close()
    meta["load_after"] = _load()
    print(f"\n{meta['date']}  {meta['machine']}  load {meta['load_before']} -> "
          f"{meta['load_after']}  {args.jobs} jobs per burst, {args.concurrency} clients")
    columns = list(rows[0])
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in columns]
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)))
    for row in rows:
        print("  ".join(str(row[c]).rjust(w) for c, w in zip(columns, widths, strict=True)))
    print("\njobs_s: jobs ended per second over the burst; cpu_ms_*: CPU ms per job of the "
          "API processes,\nthe workers and Valkey; cmds_job / rt_job: Valkey commands and "
          "round trips per job;\nvalkey_busy: Valkey CPU s / burst s (1.0 = its one thread "
          "saturated); machine_busy: all\nparts' CPU (with the client's) / (burst s x "
          "cores); valkey_ceiling: 1000 / cpu_ms_valkey,\nthe jobs/s Valkey alone could carry "
          "if it had a core of its own.")
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as handle:
        for row in rows:
            handle.write(orjson.dumps({**meta, **row}) + b"\n")
    return rows


if __name__ == "__main__":
    main()
