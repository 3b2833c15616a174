"""TrackStore on Firestore: collection `tracks`, one document per track, id = track id.

Each document has a handful of writers at most (one per step transition), never a counter:
Firestore sustains about one write per second per document. Lists ordered by updated_at read
INDEX_SHARDS ranges at once (``shard in [...]``, merged by Firestore): each document carries its
shard, so the index entries a busy partner's or state's writes add at the newest end are spread
over that many ranges, each under Firestore's 500 writes/s for ordered values (docs/capacity.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from google.api_core import exceptions as google_errors
from google.api_core.retry import Retry, if_transient_error
from google.cloud import firestore
from google.cloud.firestore_v1.base_vector_query import DistanceMeasure
from google.cloud.firestore_v1.vector import Vector

from trackscan.adapters.cloud_errors import call_limits, transient_as_retryable
from trackscan.domain.errors import RetryableError
from trackscan.domain.rejections import RejectedEvent
from trackscan.domain.similarity import Neighbour, record_vector
from trackscan.domain.track_ids import INDEX_SHARDS, RERUN_PREFIX, index_shard
from trackscan.domain.tracks import FailedAttempt, TrackRecord, TrackState
from trackscan.domain.transitions import Transition

SEARCH_VECTOR_FIELD = "search_vector"
DISTANCE_FIELD = "_distance"  # set by find_nearest on each result, not stored
SHARD_FIELD = "shard"
EVERY_SHARD = firestore.FieldFilter(SHARD_FIELD, "in", list(range(INDEX_SHARDS)))
# A call's retries: busy or briefly unreachable, and only until the step's deadline (call_limits).
RETRY = Retry(predicate=if_transient_error, initial=0.1, maximum=2.0)
# Read, change, write with the read's update time as precondition: a writer that came between
# the two sends the change round again, up to this many times within the step's deadline.
APPLY_ATTEMPTS = 5


class FirestoreTrackStore:
    """Each track is one document of the collection, its id the track id.

    Args:
        client: the Firestore client (the emulator when FIRESTORE_EMULATOR_HOST is set).
        collection: the collection name (Config.tracks_collection).
    """

    def __init__(self, client: firestore.Client, collection: str) -> None:
        self._client = client
        self._tracks = client.collection(collection)
        self._rejected = client.collection(f"{collection}-rejected")
        self._cursors = client.collection(f"{collection}-cursors")
        # Backfill re-runs (ids "r...", trackscan.domain.track_ids.rerun_track_id) live apart from the tracks,
        # so partner lists, reconcile and similarity search never meet them.
        self._reruns = client.collection(f"{collection}-reruns")

    def _document_of(self, track_id: str) -> firestore.DocumentReference:
        collection = self._reruns if track_id.startswith(RERUN_PREFIX) else self._tracks
        return collection.document(track_id)

    def create_if_absent(self, record: TrackRecord) -> TrackRecord:
        """Creates the document unless it exists; returns the stored record."""
        with transient_as_retryable(f"creating track {record.track_id}"):
            try:
                self._document_of(record.track_id).create(_document(record), **_limits("creating a track"))
                return record
            except google_errors.AlreadyExists:
                stored = self.get(record.track_id)
        assert stored is not None
        return stored

    def get(self, track_id: str) -> TrackRecord | None:
        """The record of a track, or None when there is none."""
        with transient_as_retryable(f"reading track {track_id}"):
            snapshot = self._document_of(track_id).get(**_limits(f"reading track {track_id}"))
        return _record(snapshot)

    def apply(self, track_id: str, transition: Transition) -> TrackRecord | None:
        """Reads, changes and writes the record; the new record, or None if not allowed.

        The write carries the read's update time as its precondition, so a writer that came in
        between is never overwritten: the change is read and made again. Not a transaction: a
        transaction's commit takes no timeout in this client, and every call here must end by
        the step's deadline.

        Raises:
            RetryableError: concurrent writers outlasted APPLY_ATTEMPTS, or Firestore was busy or
                unreachable until the step's deadline.
        """
        reference = self._document_of(track_id)
        for _ in range(APPLY_ATTEMPTS):
            with transient_as_retryable(f"reading track {track_id}"):
                snapshot = reference.get(**_limits(f"reading track {track_id}"))
            current = _record(snapshot)
            updated = transition.apply(current) if current else None
            if updated is None:
                return None
            unchanged_since = self._client.write_option(last_update_time=snapshot.update_time)
            limits = _limits(f"updating track {track_id}")
            with transient_as_retryable(f"updating track {track_id}"):
                try:
                    reference.update(_replacing(updated), option=unchanged_since, **limits)
                    return updated
                except google_errors.FailedPrecondition:
                    continue  # another writer came between the read and the write
                except google_errors.NotFound:
                    return None  # deleted since the read
        raise RetryableError(f"contention on track {track_id}: {APPLY_ATTEMPTS} writes lost to other writers")

    def record_failed_attempt(self, track_id: str, attempt: FailedAttempt) -> None:
        """Sets the record's last_failed_attempt; a missing document is left alone."""
        # One field, no transaction: the latest writer wins, which is what "latest" means.
        with transient_as_retryable(f"noting a failed attempt on track {track_id}"):
            try:
                self._document_of(track_id).update(
                    {"last_failed_attempt": asdict(attempt)}, **_limits(f"noting a failed attempt on {track_id}")
                )
            except google_errors.NotFound:
                return

    def query(self, partner: str | None, state: TrackState | None, limit: int, after: str | None) -> list[TrackRecord]:
        """Records newest first, filtered by partner and state, after the cursor's document."""
        query = self._tracks.where(filter=EVERY_SHARD)
        if partner is not None:
            query = query.where(filter=firestore.FieldFilter("partner", "==", partner))
        if state is not None:
            query = query.where(filter=firestore.FieldFilter("state", "==", state.value))
        query = query.order_by("updated_at", direction=firestore.Query.DESCENDING).limit(limit)
        with transient_as_retryable("listing tracks"):
            if after:
                cursor = self._tracks.document(after).get(**_limits("reading the list's cursor"))
                if cursor.exists:
                    query = query.start_after(cursor)
            return _records(query.stream(**_limits("listing tracks")))

    def stalled(self, state: TrackState, updated_before: str, limit: int) -> list[TrackRecord]:
        """Records in state last updated at or before updated_before, oldest first."""
        # Served by the (state, shard, updated_at ascending) composite index in terraform/modules/firestore.
        query = (
            self._tracks.where(filter=firestore.FieldFilter("state", "==", state.value))
            .where(filter=EVERY_SHARD)
            .where(filter=firestore.FieldFilter("updated_at", "<=", updated_before))
            .order_by("updated_at")
            .limit(limit)
        )
        with transient_as_retryable(f"listing stalled {state.value} tracks"):
            return _records(query.stream(**_limits(f"listing stalled {state.value} tracks")))

    def known(self, track_ids: set[str]) -> set[str]:
        """The ids among track_ids that have a document (one batched read, ids only)."""
        references = [self._tracks.document(track_id) for track_id in sorted(track_ids)]
        if not references:
            return set()
        with transient_as_retryable(f"checking {len(references)} track ids"):
            snapshots = self._client.get_all(references, field_paths=["track_id"], **_limits("checking track ids"))
            return {snapshot.id for snapshot in snapshots if snapshot.exists}

    def cursor(self, name: str) -> str | None:
        """The saved value of the named cursor (collection ``<tracks>-cursors``), or None."""
        with transient_as_retryable(f"reading cursor {name}"):
            snapshot = self._cursors.document(name).get(**_limits(f"reading cursor {name}"))
        data = snapshot.to_dict() if snapshot.exists else None
        return str(data["value"]) if data else None

    def save_cursor(self, name: str, value: str | None) -> None:
        """Saves the named cursor; None clears it."""
        with transient_as_retryable(f"saving cursor {name}"):
            if value is None:
                self._cursors.document(name).delete(**_limits(f"saving cursor {name}"))
            else:
                self._cursors.document(name).set({"value": value}, **_limits(f"saving cursor {name}"))

    def record_rejected(self, event: RejectedEvent) -> None:
        """Stores the event in the ``<tracks collection>-rejected`` collection, once per event_id."""
        with transient_as_retryable(f"recording rejected event {event.event_id}"):
            self._rejected.document(event.event_id).set(asdict(event), **_limits("recording a rejected event"))

    def by_source(self, source_uri: str, limit: int) -> list[TrackRecord]:
        """The tracks of a source URI, newest first."""
        # Served by the (source_uri, updated_at descending) composite index in terraform/modules/firestore.
        query = (
            self._tracks.where(filter=firestore.FieldFilter("source_uri", "==", source_uri))
            .order_by("updated_at", direction=firestore.Query.DESCENDING)
            .limit(limit)
        )
        with transient_as_retryable(f"finding the tracks of {source_uri}"):
            return _records(query.stream(**_limits(f"finding the tracks of {source_uri}")))

    def by_name(self, name: str, limit: int) -> list[TrackRecord]:
        """The tracks whose source file is called ``name``, newest first."""
        # Equality only (the automatic single-field index), sorted here: a name has few versions.
        query = self._tracks.where(filter=firestore.FieldFilter("source_name", "==", name)).limit(100)
        with transient_as_retryable(f"finding the tracks named {name}"):
            found = _records(query.stream(**_limits(f"finding the tracks named {name}")))
        return sorted(found, key=lambda r: r.updated_at, reverse=True)[:limit]

    def done_with_content(self, content_hash: str, limit: int) -> list[TrackRecord]:
        """DONE tracks whose source had these bytes (equality on two fields: no ordering, few matches)."""
        query = (
            self._tracks.where(filter=firestore.FieldFilter("content_hash", "==", content_hash))
            .where(filter=firestore.FieldFilter("state", "==", TrackState.DONE.value))
            .limit(limit)
        )
        with transient_as_retryable("finding an earlier result of the same bytes"):
            return _records(query.stream(**_limits("finding an earlier result of the same bytes")))

    def count(self, partner: str | None, state: TrackState) -> int:
        """How many tracks are in the state, of one partner or of all (a count aggregation: no documents read)."""
        query: firestore.CollectionReference | firestore.Query = self._tracks
        if partner is not None:
            query = query.where(filter=firestore.FieldFilter("partner", "==", partner))
        query = query.where(filter=firestore.FieldFilter("state", "==", state.value))
        aggregation: Any = query.count(alias="tracks")  # Any: the SDK annotates count() as returning a class
        with transient_as_retryable(f"counting {state.value} tracks"):
            results = aggregation.get(**_limits(f"counting {state.value} tracks"))
        return int(results[0][0].value)

    def done_after(self, after: str | None, limit: int) -> list[TrackRecord]:
        """DONE tracks in document id (track id) order after ``after``: one page of a resumable pass."""
        # "__name__": the document id; equality on state and this order need no composite index.
        query = (
            self._tracks.where(filter=firestore.FieldFilter("state", "==", TrackState.DONE.value))
            .order_by("__name__")
            .limit(limit)
        )
        if after:
            query = query.start_after({"__name__": self._tracks.document(after)})
        with transient_as_retryable("listing finished tracks"):
            return _records(query.stream(**_limits("listing finished tracks")))

    def rewrite_search_vectors(self, records: list[TrackRecord]) -> None:
        """Writes these tracks' search vectors again, in one batch (`trackscan reindex`, after a new definition)."""
        batch = self._client.batch()
        for record in records:
            vector = record_vector(record)
            field = Vector(vector) if vector is not None else firestore.DELETE_FIELD
            batch.update(self._tracks.document(record.track_id), {SEARCH_VECTOR_FIELD: field})
        with transient_as_retryable("rewriting search vectors"):
            batch.commit(**_limits("rewriting search vectors"))

    def nearest(self, partner: str, vector: list[float], limit: int) -> list[Neighbour]:
        """The partner's DONE tracks closest to vector: Firestore's find_nearest on the vector field.

        Served by the (partner, search_vector) vector index in terraform/modules/firestore.
        """
        # Any: the SDK annotates find_nearest as returning the VectorQuery class, not an instance.
        query: Any = self._tracks.where(filter=firestore.FieldFilter("partner", "==", partner)).find_nearest(
            vector_field=SEARCH_VECTOR_FIELD,
            query_vector=Vector(vector),
            distance_measure=DistanceMeasure.COSINE,
            limit=limit,
            distance_result_field=DISTANCE_FIELD,
        )
        with transient_as_retryable(f"finding tracks like a vector for {partner}"):
            snapshots = list(query.stream(**_limits(f"finding tracks like a vector for {partner}")))
        found = []
        for snapshot in snapshots:
            data = snapshot.to_dict() or {}
            distance = float(data.pop(DISTANCE_FIELD))
            record = TrackRecord.from_dict(data)
            # A track redone while `trackscan reindex` wrote its page may carry a vector a moment.
            if record.state is TrackState.DONE:
                found.append(Neighbour(record, 1.0 - distance))  # cosine distance = 1 - similarity
        return found


def _limits(what: str) -> dict[str, Any]:
    return call_limits(what, RETRY)


def _document(record: TrackRecord) -> dict[str, Any]:
    # The search vector is a top-level field, so the vector index can cover it; only DONE tracks
    # have one, and a redo (which writes the whole document) removes it.
    data = record.to_dict()
    data[SHARD_FIELD] = index_shard(record.track_id)
    vector = record_vector(record)
    if vector is not None:
        data[SEARCH_VECTOR_FIELD] = Vector(vector)
    return data


def _replacing(record: TrackRecord) -> dict[str, Any]:
    # update() sets only the fields it is given: every field of the record, each top-level map
    # replaced whole, and the search vector removed where the record has none.
    data = _document(record)
    data.setdefault(SEARCH_VECTOR_FIELD, firestore.DELETE_FIELD)
    return data


def _record(snapshot: firestore.DocumentSnapshot) -> TrackRecord | None:
    data = snapshot.to_dict()  # None when the document does not exist
    return TrackRecord.from_dict(data) if data is not None else None


def _records(snapshots: Iterable[firestore.DocumentSnapshot]) -> list[TrackRecord]:
    return [record for snapshot in snapshots if (record := _record(snapshot)) is not None]
