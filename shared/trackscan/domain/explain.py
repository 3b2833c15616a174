"""Why a track is where it is, in one line a support person can act on, from its record alone."""

from __future__ import annotations

from datetime import UTC, datetime

from trackscan.domain.tracks import TrackRecord, TrackState


def explanation(record: TrackRecord, now: datetime | None = None) -> str:
    """One line: what happened last to the track and, when it is not moving, why.

    Examples: "infer attempt 6 failed 20 s ago: RetryableError: Triton unreachable (segment 2
    of 4)"; "EXTRACTING for 3 min since ingest; no failed attempt recorded".
    """
    now = now or datetime.now(UTC)
    if record.state is TrackState.DONE and record.reused:
        return (
            f"done {_age(record.updated_at, now)} ago, served from an earlier upload of the same bytes "
            f"tagged {_age(record.reused.made_at, now)} ago"
        )
    if record.state is TrackState.DONE:
        return f"done {_age(record.updated_at, now)} ago"
    if record.state is TrackState.FAILED and record.error:
        return f"failed in {record.error.step}: {record.error.code}: {record.error.message}"
    failed = record.last_failed_attempt
    if failed and failed.time >= record.updated_at:
        where = ""
        if failed.segment_index is not None and record.segments_total:
            where = f" (segment {failed.segment_index + 1} of {record.segments_total})"
        return f"{failed.step} attempt {failed.attempt} failed {_age(failed.time, now)} ago: {failed.error}{where}"
    last_step = record.timeline[-1].step if record.timeline else "?"
    return (
        f"{record.state.value} for {_age(record.updated_at, now)} since {last_step}; no failed attempt recorded since"
    )


def _age(iso_time: str, now: datetime) -> str:
    seconds = max(0.0, (now - datetime.fromisoformat(iso_time)).total_seconds())
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"
