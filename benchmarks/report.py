"""The printed tables (rich) of a benchmark run: one server's scenarios, the comparison over
back-to-back runs, and the per-job costs."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.counting import Counts
from benchmarks.figures import Compared, PerRun, Run, median, share, spread, unit_figures
from benchmarks.measure import Result

_WIDTH = 240


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f} %"


def _title(prefix: str, meta: dict[str, Any]) -> str:
    return f"{prefix} ({', '.join(f'{k}={v}' for k, v in meta.items())})"


def print_table(results: list[Result], meta: dict[str, Any], run: Run | None = None) -> None:
    """One server's scenarios: rate, latency, share of the floor (with `run`), and per unit
    the server's CPU, Redis commands and round trips and the client's status polls."""
    table = Table(title=_title("fastproc benchmarks", meta))
    columns = ("scenario", "rate", "p50 ms", "p95 ms", "p99 ms", "errors", "floor share",
               "CPU ms/unit API", "worker", "Valkey", "Redis cmds/unit", "round trips/unit",
               "polls/unit", "details")
    for column in columns:
        table.add_column(column, justify="left" if column in ("scenario", "details")
                         else "right")
    for result in results:
        figures = unit_figures(result)
        details = " ".join(f"{k}={v}" for k, v in result.extra.items()
                           if not isinstance(v, dict))
        table.add_row(result.scenario, f"{_fmt(result.rate)} {result.unit}/s",
                      _fmt(result.percentile(50), 2), _fmt(result.percentile(95), 2),
                      _fmt(result.percentile(99), 2), str(result.errors),
                      _pct(share(result, run)) if run is not None else "-",
                      _fmt(figures.get("cpu_ms.api"), 2), _fmt(figures.get("cpu_ms.worker"), 2),
                      _fmt(figures.get("cpu_ms.valkey"), 2), _fmt(figures.get("cmds")),
                      _fmt(figures.get("round_trips")), _fmt(figures.get("polls")), details)
    Console(width=_WIDTH).print(table)


def print_comparison(rows: list[Compared], ours: str, theirs: str, runs: int,
                     meta: dict[str, Any]) -> None:
    table = Table(title=_title(f"{ours} / {theirs}, medians of {runs} back-to-back runs",
                               meta))
    columns = ("scenario", ours, theirs, "ratio", "ratio range", "ratio, old window",
               f"floor share {ours}",
               f"floor share {theirs}", f"p50 ms {ours}", f"p50 ms {theirs}",
               f"CPU ms/unit {ours}", f"CPU ms/unit {theirs}", f"Redis cmds/unit {ours}",
               f"Redis cmds/unit {theirs}", "polls/unit", "errors")
    for column in columns:
        table.add_column(column, justify="left" if column == "scenario" else "right",
                         no_wrap=column == "scenario")
    for row in rows:
        low_high = (f"{row.ratio_range[0]:.2f}-{row.ratio_range[1]:.2f}"
                    if row.ratio_range else "-")
        polls = " / ".join(_fmt(row.polls[s]) for s in (ours, theirs))
        table.add_row(
            row.scenario, f"{_fmt(row.rates[ours])} {row.unit}/s",
            f"{_fmt(row.rates[theirs])} {row.unit}/s", _fmt(row.ratio, 2), low_high,
            _fmt(row.ratio_started, 2),
            _pct(row.floor_share[ours]), _pct(row.floor_share[theirs]),
            _fmt(row.p50_ms[ours], 1), _fmt(row.p50_ms[theirs], 1),
            _fmt(row.cpu_ms[ours], 2), _fmt(row.cpu_ms[theirs], 2), _fmt(row.cmds[ours]),
            _fmt(row.cmds[theirs]), polls, f"{row.errors[ours]} / {row.errors[theirs]}")
    Console(width=_WIDTH).print(table)


def print_costs(table: PerRun, servers: list[str], title: str, meta: dict[str, Any]) -> None:
    """Figures per label: the median over the runs, and the range when there are several."""
    out = Table(title=_title(title, meta))
    out.add_column("figure", no_wrap=True)
    for server in servers:
        out.add_column(server, justify="right")
    for label, values in table.items():
        cells = []
        for server in servers:
            middle, low_high = median(values[server]), spread(values[server])
            cell = _fmt(middle, 2)
            if low_high and len(values[server]) > 1:
                cell += f" ({low_high[0]:.2f}-{low_high[1]:.2f})"
            cells.append(cell)
        out.add_row(label, *cells)
    Console(width=_WIDTH).print(out)


def print_round_trips(counts: Counts, meta: dict[str, Any]) -> None:
    """Round trips per unit counted inside fastproc's processes, by the calling module."""
    out = Table(title=_title("fastproc: Redis round trips per unit, counted in its "
                             "processes, by calling module", meta))
    for column in ("unit", "process", "module", "round trips"):
        out.add_column(column, justify="right" if column == "round trips" else "left")
    for label, processes in counts.items():
        for process, modules in processes.items():
            total = sum(modules.values())
            out.add_row(label, process, "all", _fmt(total, 2))
            for module, value in modules.items():
                if value >= 0.01:
                    out.add_row("", "", module, _fmt(value, 2))
    Console(width=_WIDTH).print(out)
