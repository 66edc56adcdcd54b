"""The progress a process reports, as the worker records it on the job."""

from __future__ import annotations

import asyncio

from fastproc.worker.progress import ProgressReporter, clean_percent


class _Jobs:
    """The one intent the reporter calls, recording each write."""

    def __init__(self) -> None:
        self.written: list[tuple[int, str | None]] = []

    async def report_progress(self, job_id: str, percent: int, message: str | None) -> bool:
        self.written.append((percent, message))
        return True


async def _reports(*percents: object) -> list[tuple[int, str | None]]:
    jobs = _Jobs()
    reporter = ProgressReporter(jobs, "job")  # type: ignore[arg-type]
    for percent in percents:
        reporter(percent)  # type: ignore[arg-type]
        await reporter.drain()  # each report written before the next
    return jobs.written


def test_a_nan_after_a_written_report_keeps_its_percent() -> None:
    assert asyncio.run(_reports(40, float("nan"))) == [(40, None), (40, None)]


def test_a_non_number_after_a_written_report_keeps_its_percent() -> None:
    assert asyncio.run(_reports(40, "soon", None)) == [(40, None)] * 3


def test_a_non_number_first_is_zero() -> None:
    assert asyncio.run(_reports(float("nan"))) == [(0, None)]


def test_percent_is_cut_to_0_to_100() -> None:
    assert [clean_percent(p, None) for p in (-5, 150, 42.9)] == [0, 100, 42]
