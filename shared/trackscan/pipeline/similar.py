"""``similar``: a DONE track's nearest neighbours among its partner's tracks."""

from __future__ import annotations

from trackscan.domain.ports import SearchIndex
from trackscan.domain.similarity import DEFAULT_LIMIT, Neighbour, record_vector
from trackscan.domain.tracks import TrackRecord


def similar_tracks(index: SearchIndex, record: TrackRecord, limit: int = DEFAULT_LIMIT) -> list[Neighbour]:
    """The partner's DONE tracks closest to the record's, closest first, the record itself left out.

    Only tracks of the record's own partner are searched: a partner never sees another's tracks.

    Raises:
        ValueError: the record is not DONE, so it has no search vector yet.
    """
    vector = record_vector(record)
    if vector is None:
        raise ValueError(f"track {record.track_id} is {record.state.value}: only DONE tracks can be searched by")
    found = index.nearest(record.partner, vector, limit + 1)
    return [n for n in found if n.record.track_id != record.track_id][:limit]
