"""The printed table (rich) of a benchmark run."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.measure import Result


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def print_table(results: list[Result], meta: dict[str, Any]) -> None:
    title = ", ".join(f"{k}={v}" for k, v in meta.items())
    table = Table(title=f"fastproc benchmarks ({title})")
    for column in ("scenario", "rate", "p50 ms", "p95 ms", "p99 ms", "errors", "details"):
        table.add_column(column, justify="left" if column in ("scenario", "details")
                         else "right")
    for result in results:
        details = " ".join(f"{k}={v}" for k, v in result.extra.items())
        table.add_row(result.scenario, f"{_fmt(result.rate)} {result.unit}/s",
                      _fmt(result.percentile(50), 2), _fmt(result.percentile(95), 2),
                      _fmt(result.percentile(99), 2), str(result.errors), details)
    Console(width=200).print(table)
