"""Track ids: one per object generation, and one per backfill re-run of a track."""

from __future__ import annotations

import hashlib
import json


def track_id_for(source_uri: str, generation: str) -> str:
    """The track id: a digest of the object and its generation.

    A duplicate event for the same object generation maps to the same track; a new generation
    (an overwrite) is a new version of the track. Pub/Sub message ids are never used.

    Two different (source_uri, generation) pairs never share a digest input, whatever the URI
    holds ('#', '?', '%', any Unicode): ``<uri>#<generation>`` splits back at its last '#' as
    long as the generation has none, which holds for every real generation (decimal digits), so
    their ids are the ids of before. A generation with a '#' (only a hand-made message has one)
    is hashed as the hex of a JSON pair instead: hex has no '#', so the two forms never meet.
    """
    if "#" in generation:
        key = json.dumps([source_uri, generation]).encode().hex()
    else:
        key = f"{source_uri}#{generation}"
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"t{digest[:24]}"


RERUN_PREFIX = "r"


def rerun_track_id(track_id: str, model_sha256: str) -> str:
    """The id of a backfill re-run of a track by another model ("r..." where track ids are "t...").

    A re-run is a track record of its own, kept apart from the tracks (stores route "r" ids to their
    own table or collection), so the original keeps its result until the re-run's is committed.
    """
    digest = hashlib.sha256(f"{track_id}:{model_sha256}".encode()).hexdigest()
    return f"{RERUN_PREFIX}{digest[:24]}"


# Firestore caps writes to index entries that arrive in order (a timestamp) at about 500/s per
# range: every list ordered by updated_at or created_at is kept as this many ranges, a track in
# the one its id picks, and read back merged (docs/capacity.md).
INDEX_SHARDS = 8


def index_shard(track_id: str) -> int:
    """The index range a track's record is listed in: from its id's digest, so evenly spread."""
    return int(track_id[1:9], 16) % INDEX_SHARDS
