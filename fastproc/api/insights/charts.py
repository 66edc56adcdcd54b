"""Charts as inline SVG, drawn on the server: no script library, nothing from elsewhere.

Each function returns a complete `<svg>` element as `Markup` for the templates; labels are
escaped here, numbers are formatted here. Colours come from classes styled in
`static/insights.css`, so the charts follow the pages' palette.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from markupsafe import Markup

#: Widths of the drawing areas in SVG user units, about the pixels they get on a page (they
#: scale with it): the dashboard's charts sit two in a row, the job page's take a row.
WIDTH = 480
WIDE = 900
#: Left margin (for the y labels), bottom margin (for the x labels) and top margin.
LEFT, BOTTOM, TOP = 30, 18, 8


@dataclass(frozen=True, slots=True)
class Bar:
    """One bucket of the throughput chart."""

    start_ms: int
    successful: int
    failed: int


def seconds_text(seconds: float | None) -> str:
    """A duration as people read it: 850 ms, 3.4 s, 2 min 5 s, 1 h 3 min."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def clock(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M:%S")


def _svg(height: int, label: str, body: list[str], width: int = WIDTH) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
        f'{"".join(body)}</svg>')


def _y_axis(top_value: int, height: int, width: int = WIDTH) -> list[str]:
    bottom = height - BOTTOM
    return [
        f'<line class="axis" x1="{LEFT}" y1="{bottom}" x2="{width}" y2="{bottom}"/>',
        f'<text class="tick" x="{LEFT - 4}" y="{TOP + 8}" text-anchor="end">{top_value}</text>',
        f'<text class="tick" x="{LEFT - 4}" y="{bottom}" text-anchor="end">0</text>',
    ]


def _x_labels(height: int, minutes: int) -> list[str]:
    """Marks every five minutes back from now along the bottom."""
    out = []
    span = WIDTH - LEFT
    for back in range(minutes, -1, -5):
        x = LEFT + span * (minutes - back) / minutes
        anchor = "start" if back == minutes else "end" if back == 0 else "middle"
        text = "now" if back == 0 else f"-{back} min"
        out.append(f'<text class="tick" x="{x:.1f}" y="{height - 4}" '
                   f'text-anchor="{anchor}">{text}</text>')
    return out


def throughput_chart(bars: Sequence[Bar], minutes: int, height: int = 150) -> Markup:
    """Jobs ended per bucket, successful stacked under failed, oldest bucket first."""
    top = max([b.successful + b.failed for b in bars] + [1])
    plot = height - BOTTOM - TOP
    step = (WIDTH - LEFT) / max(len(bars), 1)
    body = _y_axis(top, height) + _x_labels(height, minutes)
    for i, bar in enumerate(bars):
        if not bar.successful and not bar.failed:
            continue
        x = LEFT + i * step
        ok_h = plot * bar.successful / top
        bad_h = plot * bar.failed / top
        y_ok = height - BOTTOM - ok_h
        tip = f"{clock(bar.start_ms)}: {bar.successful} successful, {bar.failed} failed"
        body.append(
            f'<g><title>{escape(tip)}</title>'
            f'<rect class="ok" x="{x:.1f}" y="{y_ok:.1f}" width="{step * 0.8:.1f}" '
            f'height="{ok_h:.1f}"/>'
            f'<rect class="bad" x="{x:.1f}" y="{y_ok - bad_h:.1f}" width="{step * 0.8:.1f}" '
            f'height="{bad_h:.1f}"/></g>')
    return _svg(height, f"jobs ended per bucket over the last {minutes} minutes", body)


def depth_chart(points: Sequence[tuple[int, int | None]], minutes: int,
                height: int = 150) -> Markup:
    """Tasks waiting, as read at each bucket (a gap where nobody was reading)."""
    known = [n for _, n in points if n is not None]
    top = max([*known, 1])
    plot = height - BOTTOM - TOP
    step = (WIDTH - LEFT) / max(len(points) - 1, 1)
    body = _y_axis(top, height) + _x_labels(height, minutes)
    path: list[str] = []
    pen_down = False
    for i, (start, n) in enumerate(points):
        if n is None:
            pen_down = False
            continue
        x, y = LEFT + i * step, height - BOTTOM - plot * n / top
        path.append(f"{'L' if pen_down else 'M'}{x:.1f},{y:.1f}")
        body.append(f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="2">'
                    f'<title>{clock(start)}: {n} waiting</title></circle>')
        pen_down = True
    if path:
        body.insert(0, f'<path class="line" d="{" ".join(path)}"/>')
    return _svg(height, f"tasks waiting over the last {minutes} minutes", body)


@dataclass(frozen=True, slots=True)
class Phase:
    """A stretch of a job's life: queued, running (or merging)..."""

    name: str
    start: float
    end: float
    css: str


def timeline_chart(phases: Sequence[Phase]) -> Markup:
    """A job's phases on one bar, to scale, each labelled with its duration on a row of its
    own below the bar, from where its segment starts: a phase of 2 ms beside one of
    seconds gets a segment too narrow for any text, so labels on one row would overlap."""
    if not phases:
        return Markup("")
    origin = phases[0].start
    span = max(max(p.end for p in phases) - origin, 1e-9)
    height = _BAR_BOTTOM + _LABEL_ROW * len(phases) + 4
    body = []
    for row, phase in enumerate(phases, start=1):
        x = WIDE * (phase.start - origin) / span
        w = max(WIDE * (phase.end - phase.start) / span, 1.0)
        label = f"{phase.name} {seconds_text(phase.end - phase.start)}"
        body.append(
            f'<g class="phase {escape(phase.css)}"><title>{escape(label)}</title>'
            f'<rect x="{x:.1f}" y="4" width="{w:.1f}" height="22" rx="3"/>'
            f'<text class="tick" x="{min(x + 2, WIDE - 2):.1f}" '
            f'y="{_BAR_BOTTOM + _LABEL_ROW * row - 2}" '
            f'text-anchor="{"end" if x > WIDE * 0.8 else "start"}">{escape(label)}</text></g>')
    return _svg(height, "where the job's time went", body, WIDE)


#: Where a timeline's bar ends, and the height of each label row below it.
_BAR_BOTTOM = 28
_LABEL_ROW = 14


def parts_chart(ends: Sequence[float], total: int, span: float, height: int = 120) -> Markup:
    """Parts done over time: a step up at each part's end (seconds after the job started),
    against `span` seconds."""
    span = max(span, 1e-9)
    top = max(total, 1)
    plot = height - BOTTOM - TOP

    def x_of(t: float) -> float:
        return LEFT + (WIDE - LEFT) * min(max(t, 0.0), span) / span

    def y_of(n: int) -> float:
        return height - BOTTOM - plot * n / top

    body = [*_y_axis(top, height, WIDE),
            f'<text class="tick" x="{LEFT}" y="{height - 4}">0 s</text>',
            f'<text class="tick" x="{WIDE}" y="{height - 4}" text-anchor="end">'
            f'{escape(seconds_text(span))}</text>']
    d = [f"M{x_of(0):.1f},{y_of(0):.1f}"]
    for done, end in enumerate(sorted(ends), start=1):
        d.append(f"H{x_of(end):.1f} V{y_of(done):.1f}")
    body.insert(0, f'<path class="line" d="{" ".join(d)}"/>')
    return _svg(height, f"{len(ends)} of {total} parts done over time", body, WIDE)
