"""How a track record moves: forward only, final stays final, a restart or a backfill aside."""

from __future__ import annotations

from dataclasses import dataclass, replace

from trackscan.domain.results import ModelInfo, ReusedResult, TrackResult
from trackscan.domain.tracks import ErrorInfo, TimelineEvent, TrackRecord, TrackState, utc_now

_STATE_RANK = {s: i for i, s in enumerate(TrackState)}


def can_move(current: TrackState, new: TrackState) -> bool:
    """Whether a track in ``current`` may move to ``new`` (forward only, final stays final)."""
    return not current.is_final and _STATE_RANK[new] > _STATE_RANK[current]


@dataclass(frozen=True)
class Transition:
    """A change to a track record, applied by a TrackStore only if ``can_move`` allows it."""

    state: TrackState
    step: str
    attempt: int = 1
    segments_total: int | None = None
    error: ErrorInfo | None = None
    result: TrackResult | None = None
    model: ModelInfo | None = None
    restart: bool = False  # a retry or forced redo: back to RECEIVED from any state
    content_hash: str | None = None
    reused: ReusedResult | None = None
    supersede: bool = False  # a backfill: a DONE track takes another model's result, staying DONE

    def apply(self, record: TrackRecord) -> TrackRecord | None:
        """The record after this transition, or None when the transition is not allowed."""
        now = utc_now()
        event = TimelineEvent(self.state.value, now, self.step, self.attempt)
        if self.supersede:
            if record.state is not TrackState.DONE or self.result is None or record.model == self.model:
                return None  # nothing to replace, or already replaced (a repeated commit)
            return replace(
                record,
                timeline=record.timeline + (event,),
                result=self.result,
                model=self.model,
                updated_at=now,
                reused=self.reused,
            )
        if self.restart:
            return replace(
                record,
                state=TrackState.RECEIVED,
                timeline=record.timeline + (event,),
                error=None,
                result=None,
                updated_at=now,
                last_failed_attempt=None,
                reused=None,
            )
        if not can_move(record.state, self.state):
            return None
        return replace(
            record,
            state=self.state,
            timeline=record.timeline + (event,),
            segments_total=self.segments_total or record.segments_total,
            error=self.error or record.error,
            result=self.result or record.result,
            model=self.model or record.model,
            updated_at=now,
            content_hash=self.content_hash or record.content_hash,
            reused=self.reused or record.reused,
        )
