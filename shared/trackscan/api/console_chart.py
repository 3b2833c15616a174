"""A track's timeline as the console draws it: time spent in each state and step, as an inline SVG."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from markupsafe import Markup, escape

from trackscan.domain.tracks import TrackRecord, TrackState

WIDTH, LABEL_W, LANE_H, AXIS_H = 760, 110, 28, 22
COLOURS = {
    "RECEIVED": "#8da0cb",
    "EXTRACTING": "#66c2a5",
    "INFERRING": "#fc8d62",
    "DONE": "#1b9e77",
    "FAILED": "#d62728",
}


@dataclass(frozen=True)
class Span:
    """One stretch of the timeline: a state entered by a step (on an attempt), and how long it lasted."""

    state: str
    step: str
    attempt: int
    start_s: float  # from the track's first event
    duration_s: float


def timeline_spans(record: TrackRecord, now: datetime | None = None) -> list[Span]:
    """The spans between the record's timeline events; an unfinished track's last span runs until now."""
    now = now or datetime.now(UTC)
    times = [datetime.fromisoformat(event.time) for event in record.timeline]
    if not times:
        return []
    ends = [*times[1:], times[-1] if record.state.is_final else max(now, times[-1])]
    return [
        Span(e.state, e.step, e.attempt, (t - times[0]).total_seconds(), (end - t).total_seconds())
        for e, t, end in zip(record.timeline, times, ends, strict=True)
    ]


def time_by_step(record: TrackRecord, spans: list[Span]) -> list[tuple[str, str, int, float]]:
    """(state, step, attempts, seconds) for each state and step, in the order they first happened.

    The attempts of the step in hand count its latest failed attempt too (failures add no timeline event).
    """
    totals: dict[tuple[str, str], tuple[int, float]] = {}
    for span in spans:
        attempts, seconds = totals.get((span.state, span.step), (0, 0.0))
        totals[(span.state, span.step)] = (max(attempts, span.attempt), seconds + span.duration_s)
    failed = record.last_failed_attempt
    if failed and spans and not record.state.is_final and failed.time >= record.updated_at:
        key = (spans[-1].state, failed.step)
        attempts, seconds = totals.get(key, (0, 0.0))
        totals[key] = (max(attempts, failed.attempt), seconds)
    return [(state, step, attempts, seconds) for (state, step), (attempts, seconds) in totals.items()]


def duration_label(seconds: float) -> str:
    """A duration for people: 850 ms, 12.3 s, 4.5 min, 2.1 h."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def timeline_svg(record: TrackRecord, now: datetime | None = None) -> Markup:
    """One lane per state, a bar per span (labelled with its step, attempt and duration), failures marked."""
    spans = timeline_spans(record, now)
    lanes = [s.value for s in TrackState]
    total_s = max([s.start_s + s.duration_s for s in spans] + [0.001])
    scale = (WIDTH - LABEL_W - 10) / total_s
    height = AXIS_H + LANE_H * len(lanes)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" role="img" '
        f'aria-label="timeline of {escape(record.track_id)}" class="timeline">'
    ]
    for row, lane in enumerate(lanes):
        y = row * LANE_H
        parts.append(
            f'<text x="4" y="{y + 18}" class="lane">{lane}</text>'
            f'<line x1="{LABEL_W}" x2="{WIDTH}" y1="{y + LANE_H}" y2="{y + LANE_H}" class="grid"/>'
        )
    for span in spans:
        x, y = LABEL_W + span.start_s * scale, lanes.index(span.state) * LANE_H + 5
        label = escape(f"{span.step} #{span.attempt} · {duration_label(span.duration_s)}")
        parts.append(
            f'<g class="span"><title>{label}</title><rect x="{x:.1f}" y="{y}" '
            f'width="{max(3.0, span.duration_s * scale):.1f}" height="{LANE_H - 10}" '
            f'fill="{COLOURS.get(span.state, "#999")}"/><text x="{x + 4:.1f}" y="{y + 13}" '
            f'class="bar">{label}</text></g>'
        )
    parts.append(_failure_mark(record, spans, scale))
    axis_y = LANE_H * len(lanes) + 16
    parts.append(
        f'<text x="{LABEL_W}" y="{axis_y}" class="axis">0</text><text x="{WIDTH - 4}" y="{axis_y}" '
        f'text-anchor="end" class="axis">{duration_label(total_s)}</text></svg>'
    )
    return Markup("".join(parts))


def _failure_mark(record: TrackRecord, spans: list[Span], scale: float) -> str:
    failed = record.last_failed_attempt
    if failed is None or not spans or failed.time < record.updated_at:
        return ""
    offset = (datetime.fromisoformat(failed.time) - datetime.fromisoformat(record.timeline[0].time)).total_seconds()
    lane = [s.value for s in TrackState].index(spans[-1].state)
    label = escape(f"{failed.step} attempt {failed.attempt} failed: {failed.error}")
    return (
        f'<g class="failure"><title>{label}</title><circle cx="{LABEL_W + offset * scale:.1f}" '
        f'cy="{lane * LANE_H + 14}" r="6" fill="#d62728" stroke="white"/></g>'
    )
