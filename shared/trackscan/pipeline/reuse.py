"""Content dedupe: the same bytes uploaded again are served the finished result instead of being tagged again.

The key is the digest the blob store already has (GCS's MD5, a local file's SHA-256), taken in
ingest before anything is decoded. Only a result made by the model that would score the track
now is reused, so a new model never serves an old model's tags. The reusing record keeps the
result, never which track it came from: that track may be another partner's, and its id and
name are that partner's business (the log line names it for staff). It says when the result
was made only when the earlier copy is the same partner's: for another partner's copy, made_at
is the time of the reuse, as telling when that copy was tagged would tell one partner when
another received the same file.
"""

from __future__ import annotations

import logging

from trackscan.domain.results import ReusedResult
from trackscan.domain.tracks import TrackRecord, TrackState, utc_now
from trackscan.domain.transitions import Transition
from trackscan.pipeline.announce import announce
from trackscan.pipeline.backfill import supersede_original
from trackscan.pipeline.deps import Deps

log = logging.getLogger(__name__)
# Earlier DONE tracks with the same bytes read per lookup: a popular file may have been uploaded
# many times, and any one made by the current model will do.
CANDIDATES = 20


def serve_previous_result(record: TrackRecord, content_hash: str | None, step: str, deps: Deps) -> bool:
    """Commits the result of an earlier DONE track with the same bytes and model; True if it did."""
    previous = _previous(record, content_hash, deps)
    if previous is None or previous.result is None:
        return False
    now = utc_now()
    if previous.partner == record.partner:
        made_at = previous.reused.made_at if previous.reused else previous.updated_at
    else:
        made_at = now  # not when another partner's copy was tagged: a timing oracle on their intake
    supersede_original(record, previous.result, previous.model, deps)  # a backfill re-run: its original first
    transition = Transition(
        TrackState.DONE,
        step,
        result=previous.result,
        model=previous.model,
        content_hash=content_hash,
        reused=ReusedResult(made_at=made_at, reused_at=now),
    )
    served = deps.tracks.apply(record.track_id, transition)
    if served is None:
        return False  # finished meanwhile (a duplicate delivery): nothing to serve
    log.info(
        "result reused", extra={"track_id": record.track_id, "origin_track_id": previous.track_id, "made_at": made_at}
    )
    announce(served, deps)
    return True


def _previous(record: TrackRecord, content_hash: str | None, deps: Deps) -> TrackRecord | None:
    if content_hash is None:
        return None
    model = deps.tagger.model_info()
    for candidate in deps.search.done_with_content(content_hash, CANDIDATES):
        if candidate.track_id != record.track_id and candidate.model == model:
            return candidate
    return None
