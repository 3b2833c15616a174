"""Small helpers over the track store shared by the step handlers."""

from __future__ import annotations

from trackscan.domain.errors import BadMessageError
from trackscan.domain.tracks import TrackRecord
from trackscan.pipeline.deps import Deps, predictions_prefix


def is_finished(deps: Deps, track_id: str) -> bool:
    """True when the track is DONE or FAILED: late and duplicate messages then do nothing."""
    return get_record(deps, track_id).state.is_final


def get_record(deps: Deps, track_id: str) -> TrackRecord:
    """The track's record; BadMessageError when no track has that id."""
    record = deps.tracks.get(track_id)
    if record is None:
        raise BadMessageError(f"No track {track_id} is known.")
    return record


def read_blob(deps: Deps, uri: str) -> bytes:
    """The whole content of a blob; FileNotFoundError when it does not exist."""
    with deps.blobs.open_read(uri) as reader:
        return reader.read()


def segments_scored(deps: Deps, track_id: str) -> int:
    """How many segments of the track have predictions (one listing of the work bucket)."""
    return len(deps.blobs.list_uris(predictions_prefix(deps, track_id)))
