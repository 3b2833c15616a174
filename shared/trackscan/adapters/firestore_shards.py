"""The upgrade step that gives each track document written before shards existed its index shard."""

from __future__ import annotations

from google.cloud import firestore

from trackscan.adapters.firestore_store import SHARD_FIELD
from trackscan.domain.track_ids import index_shard


def add_missing_shards(client: firestore.Client, collection: str, page: int = 400) -> int:
    """Gives every track document written before documents carried their shard its shard.

    Lists read only documents with a shard: run once after upgrading (scripts/firestore_add_shards.py).
    Idempotent; returns how many documents it changed.
    """
    tracks, changed, after = client.collection(collection), 0, None
    while True:
        query = tracks.order_by("__name__").limit(page)
        snapshots = list((query.start_after(after) if after else query).stream())
        batch = client.batch()
        missing = [snapshot for snapshot in snapshots if SHARD_FIELD not in (snapshot.to_dict() or {})]
        for snapshot in missing:
            batch.update(snapshot.reference, {SHARD_FIELD: index_shard(snapshot.id)})
        if missing:
            batch.commit()
        changed += len(missing)
        if len(snapshots) < page:
            return changed
        after = snapshots[-1]
