"""Figures derived from a run's results: per-unit costs, status polls taken out, the share of
the floor reached, and the medians over back-to-back runs."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field

from benchmarks.floors import ARQ_FLOOR, HTTP_FLOOR, floor_share
from benchmarks.measure import Result
from benchmarks.meter import per_unit, without_polls
from benchmarks.scenarios import PACED_POLL


@dataclass
class Run:
    """One back-to-back run: each server's results, and the floors measured after them."""

    index: int
    sides: dict[str, list[Result]] = field(default_factory=dict)
    floors: list[Result] = field(default_factory=list)

    def floor_rates(self) -> dict[str, float]:
        rates: dict[str, float] = {}
        for result in self.floors:
            for name in (HTTP_FLOOR, ARQ_FLOOR):
                if result.scenario.startswith(name) and "bare" not in result.scenario:
                    rates[name] = max(rates.get(name, 0.0), result.rate)
        return rates


def find(results: Iterable[Result], prefix: str) -> Result | None:
    return next((r for r in results if r.scenario.startswith(prefix)), None)


def unit_figures(result: Result) -> dict[str, float]:
    return per_unit(result.spent, result.count)


def poll_cost(results: list[Result]) -> dict[str, float]:
    """What one `GET /jobs/{id}` costs the server, or nothing: made at the clients' pace
    (`PACED_POLL`) when measured — alone, as the async clients poll, a poll shares no
    round trip or write with others — else back to back (the status poll scenario)."""
    polls = find(results, PACED_POLL) or find(results, "status poll")
    return unit_figures(polls) if polls is not None and polls.count else {}


def share(result: Result, run: Run) -> float | None:
    return floor_share(result.scenario, result.rate, run.floor_rates())


def costs(results: list[Result], floors: list[Result]) -> dict[str, float]:
    """The per-job figures of one server in one run, by label (see `COST_ROWS`)."""
    out: dict[str, float] = {}
    per_poll = poll_cost(results)

    def put(prefix: str, figures: dict[str, float], keys: dict[str, str]) -> None:
        for key, label in keys.items():
            if key in figures:
                out[f"{prefix}: {label}"] = figures[key]

    cpu_and_redis = {"cpu_ms.api": "CPU ms API", "cpu_ms.worker": "CPU ms worker",
                     "cpu_ms.valkey": "CPU ms Valkey", "cmds": "Redis commands",
                     "round_trips": "Redis round trips"}
    sync = find(results, "sync echo")
    if sync is not None:
        put("sync echo, per request", unit_figures(sync), cpu_and_redis)
    e2e = find(results, "async end to end")
    if e2e is not None:
        figures = unit_figures(e2e)
        put("async end to end, per job, polls excluded", without_polls(figures, per_poll),
            cpu_and_redis)
        put("async end to end, per job", figures, {"polls": "status polls"})
    poll_rows = {"cpu_ms.api": "CPU ms API", "cpu_ms.valkey": "CPU ms Valkey",
                 "cmds": "Redis commands", "round_trips": "Redis round trips"}
    for name in ("status poll", PACED_POLL):
        polls = find(results, name)
        if polls is not None and polls.count:
            put(f"{name}, per poll", unit_figures(polls), poll_rows)
    cost = find(results, "async cost")
    if cost is not None and cost.count:
        total = without_polls(unit_figures(cost), per_poll)
        submit = per_unit(cost.extra.get("submit", {}), cost.count)
        put("simple async job, no polls", total, cpu_and_redis)
        for key, label in (("cmds", "Redis commands"), ("round_trips", "Redis round trips")):
            if key in total and key in submit:
                out[f"simple async job: {label} submitting (API)"] = submit[key]
                out[f"simple async job: {label} running (worker)"] = total[key] - submit[key]
        if per_poll and cost.extra.get("waited_by") == "polls":
            out["simple async job: status polls subtracted"] = unit_figures(cost).get("polls", 0)
    drain = max((f for f in floors if f.scenario.startswith(ARQ_FLOOR)),
                key=lambda f: f.rate, default=None)
    if drain is not None and drain.count:
        figures = per_unit(drain.spent, drain.count)
        put("raw arq drain, per no-op job", figures, {"cmds": "Redis commands",
                                                       "round_trips": "Redis round trips",
                                                       "cpu_ms.client": "CPU ms worker"})
    idle = find(results, "idle stack")
    if idle is not None:
        put("idle stack, per second", unit_figures(idle), {"cmds": "Redis commands",
                                                           "round_trips": "Redis round trips"})
    return out


def command_mix(results: list[Result], least: float = 0.05) -> dict[str, float]:
    """The cost run's Redis commands per job by command name, submitting and running (at
    least `least` per job). Commands called inside Lua scripts count under their own name
    as well as the script's EVALSHA."""
    cost = find(results, "async cost")
    if cost is None or not cost.count:
        return {}
    submit = cost.extra.get("submit", {})
    out: dict[str, float] = {}
    for window, spent in (("submitting", submit),
                          ("running", {k: v - submit.get(k, 0.0)
                                       for k, v in cost.spent.items()})):
        mix = {k.removeprefix("cmd."): v / cost.count for k, v in spent.items()
               if k.startswith("cmd.")}
        for name, per_job in sorted(mix.items(), key=lambda kv: -kv[1]):
            if per_job >= least:
                out[f"{window}: {name}"] = per_job
    return out


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def spread(values: list[float]) -> tuple[float, float] | None:
    return (min(values), max(values)) if values else None


@dataclass
class Compared:
    """One scenario over the runs: each server's median rate, the median of the per-run
    ratios (fastproc / peer) and their range, and the medians of the side figures."""

    scenario: str
    unit: str
    rates: dict[str, float | None]
    ratio: float | None
    ratio_range: tuple[float, float] | None
    #: The median ratio by the method this harness used before (operations started in the
    #: window over the time until the last ended): how much that method moved the ratio.
    ratio_started: float | None
    floor_share: dict[str, float | None]
    p50_ms: dict[str, float | None]
    cpu_ms: dict[str, float | None]
    cmds: dict[str, float | None]
    polls: dict[str, float | None]
    errors: dict[str, int]


def _side(run: Run, server: str, scenario: str) -> Result | None:
    return next((r for r in run.sides.get(server, []) if r.scenario == scenario), None)


def compare(runs: list[Run], ours: str, theirs: str) -> list[Compared]:
    """A row per scenario both servers ran, in fastproc's order."""
    names = [r.scenario for r in runs[0].sides.get(ours, []) if r.scenario != "idle stack"]
    rows: list[Compared] = []
    for name in names:
        ratios: list[float] = []
        started_ratios: list[float] = []
        per: dict[str, dict[str, list[float]]] = {
            s: {"rate": [], "share": [], "p50": [], "cpu": [], "cmds": [], "polls": []}
            for s in (ours, theirs)}
        errors = {ours: 0, theirs: 0}
        unit = "req"
        for run in runs:
            a, b = _side(run, ours, name), _side(run, theirs, name)
            if a is not None and b is not None and b.rate:
                ratios.append(a.rate / b.rate)
                if b.extra.get("rate_started") and a.extra.get("rate_started"):
                    started_ratios.append(a.extra["rate_started"] / b.extra["rate_started"])
            for server, result in ((ours, a), (theirs, b)):
                if result is None:
                    continue
                unit = result.unit
                errors[server] += result.errors
                values = per[server]
                values["rate"].append(result.rate)
                if (s := share(result, run)) is not None:
                    values["share"].append(s)
                if (p := result.percentile(50)) is not None:
                    values["p50"].append(p)
                figures = unit_figures(result)
                cpu = [figures[k] for k in ("cpu_ms.api", "cpu_ms.worker", "cpu_ms.valkey")
                       if k in figures]
                if cpu:
                    values["cpu"].append(sum(cpu))
                if "cmds" in figures:
                    values["cmds"].append(figures["cmds"])
                if "polls" in figures:
                    values["polls"].append(figures["polls"])
        if not per[theirs]["rate"]:
            continue
        rows.append(Compared(
            name, unit, {s: median(per[s]["rate"]) for s in per}, median(ratios),
            spread(ratios), median(started_ratios), {s: median(per[s]["share"]) for s in per},
            {s: median(per[s]["p50"]) for s in per}, {s: median(per[s]["cpu"]) for s in per},
            {s: median(per[s]["cmds"]) for s in per}, {s: median(per[s]["polls"]) for s in per},
            errors))
    return rows


PerRun = dict[str, dict[str, list[float]]]


def cost_medians(runs: list[Run], servers: list[str], mix: bool = False) -> PerRun:
    """label -> server -> the per-run values of `costs` (or of `command_mix`), in
    first-seen order."""
    table: PerRun = {}
    for run in runs:
        for server in servers:
            if server not in run.sides:
                continue
            figures = (command_mix(run.sides[server]) if mix
                       else costs(run.sides[server], run.floors))
            for label, value in figures.items():
                table.setdefault(label, {s: [] for s in servers})[server].append(value)
    return table
