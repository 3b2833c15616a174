"""Backfill: re-tag the tracks whose result another model made, at a bounded rate.

Every result names the model that made it (``TrackRecord.model``). A backfill pass walks the DONE
tracks in track id order from a saved cursor, so it is paged and resumable like the inventory
sweep, and sends each track made by another model through the normal pipeline as a *re-run*: an
UploadReceived with ``backfill_model`` set, whose record has an id of its own
(``rerun_track_id``) and lives apart from the tracks. The original keeps its DONE state and old
result, readable all along, until the re-run's result is committed onto it in one transition
(``supersede``); a re-run that fails leaves the original untouched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from trackscan.domain.messages import UploadReceived
from trackscan.domain.ports import TrackQueries
from trackscan.domain.results import ModelInfo, TrackResult
from trackscan.domain.track_ids import rerun_track_id
from trackscan.domain.tracks import TrackRecord, TrackState
from trackscan.domain.transitions import Transition
from trackscan.pipeline.deps import Deps
from trackscan.pipeline.reconcile import upload_of

log = logging.getLogger(__name__)
STEP = "backfill"
PAGE = 200


@dataclass
class Survey:
    """The results made by another model than the current one: how many, how much audio, by whom."""

    stale: int = 0
    audio_s: float = 0.0
    by_model: dict[str, int] = field(default_factory=dict)  # "name sha256[:12]" -> tracks
    done: int = 0  # DONE tracks looked at


@dataclass
class Pass:
    """What one backfill pass did."""

    sent: int = 0  # re-runs sent through the pipeline
    running: int = 0  # a re-run by this model is already under way (updated recently)
    failed_before: int = 0  # a re-run by this model FAILED: left alone (the original keeps its result)
    source_gone: int = 0  # the object version is gone: nothing to re-run
    wrapped: bool = False  # reached the last DONE track: the next pass starts from the first


def cursor_name(model: ModelInfo) -> str:
    """The saved position of the passes for one target model: a new model starts from the beginning."""
    return f"backfill-{model.sha256[:16]}"


def is_stale(record: TrackRecord, model: ModelInfo) -> bool:
    """Whether a DONE track's result was made by another model (or names none: made before models were named)."""
    return record.state is TrackState.DONE and record.model != model


def survey(queries: TrackQueries, model: ModelInfo) -> Survey:
    """Counts every DONE result made by another model (reads every DONE track once, a page at a time)."""
    found, after = Survey(), None
    while True:
        page = queries.done_after(after, PAGE)
        for record in page:
            found.done += 1
            if is_stale(record, model):
                found.stale += 1
                found.audio_s += record.result.duration_s if record.result else 0.0
                label = f"{record.model.name} {record.model.sha256[:12]}" if record.model else "unnamed"
                found.by_model[label] = found.by_model.get(label, 0) + 1
        if len(page) < PAGE:
            return found
        after = page[-1].track_id


def backfill_pass(
    deps: Deps,
    model: ModelInfo,
    limit: int,
    rate_per_s: float,
    send: Callable[[UploadReceived], None],
    sleep: Callable[[float], None] = time.sleep,
) -> Pass:
    """Sends up to ``limit`` stale tracks to be re-run, at most ``rate_per_s`` a second, from the saved cursor.

    The cursor is saved after each page and where the pass stops (a write per page, not per track:
    Firestore sustains about one write a second per document). A pass killed mid-page looks at that
    page again; a re-run it had sent is then found under way and not sent twice.
    """
    done, name = Pass(), cursor_name(model)
    after = deps.cursors.cursor(name)
    while done.sent < limit:
        page = deps.queries.done_after(after, PAGE)
        for record in page:
            after = record.track_id
            if is_stale(record, model) and _send(record, model, deps, send, done):
                sleep(1.0 / rate_per_s)
                if done.sent >= limit:
                    break
        else:
            if len(page) < PAGE:  # the last page: the next pass starts from the first track again
                done.wrapped, after = True, None
        deps.cursors.save_cursor(name, after)
        if done.wrapped:
            break
    return done


def _send(
    record: TrackRecord, model: ModelInfo, deps: Deps, send: Callable[[UploadReceived], None], done: Pass
) -> bool:
    rerun = deps.tracks.get(rerun_track_id(record.track_id, model.sha256))
    if rerun is not None and rerun.state is TrackState.FAILED:
        done.failed_before += 1
        return False
    if rerun is not None and not rerun.state.is_final and not _stalled(rerun, deps):
        done.running += 1
        return False
    upload = upload_of(record, deps)
    if upload is None:
        done.source_gone += 1
        return False
    send(replace(upload, backfill_model=model.sha256))
    done.sent += 1
    log.info("backfill re-run sent", extra={"track_id": record.track_id, "model": model.sha256[:12]})
    return True


def _stalled(rerun: TrackRecord, deps: Deps) -> bool:
    # A re-run nobody moved for the reconcile threshold lost a message: send it again.
    cutoff = datetime.now(UTC) - timedelta(seconds=deps.config.reconcile_after_s)
    return datetime.fromisoformat(rerun.updated_at) <= cutoff


def rerun_record(record: TrackRecord, model_sha256: str) -> TrackRecord:
    """The re-run of a new track record by the model ``model_sha256``: its own id, pointing at the original."""
    return replace(record, track_id=rerun_track_id(record.track_id, model_sha256), rerun_of=record.track_id)


def supersede_original(record: TrackRecord, result: TrackResult, model: ModelInfo | None, deps: Deps) -> None:
    """When ``record`` is a backfill re-run, commits its result onto the track it re-runs.

    Called before the re-run itself is marked DONE, so a crash in between redoes this (a no-op the
    second time: the original already names the new model) instead of losing it.
    """
    if record.rerun_of is None or model is None:
        return
    transition = Transition(TrackState.DONE, STEP, result=result, model=model, supersede=True)
    if deps.tracks.apply(record.rerun_of, transition) is not None:
        log.info("result replaced by backfill", extra={"track_id": record.rerun_of, "model": model.sha256[:12]})
