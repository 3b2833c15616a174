"""What the endpoints do, over the ports: submit, read, list and retry a partner's tracks.

Nothing here knows HTTP beyond ApiError's status; the Flask views in ``app`` only parse and
serialize. Every operation is safe to repeat: a client that timed out may send it again.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import IO, Any

from trackscan.api.errors import ApiError
from trackscan.api.uploads import bounded_body
from trackscan.api.validation import PageRequest, track_id
from trackscan.domain.audio_features import audio_features
from trackscan.domain.explain import explanation
from trackscan.domain.messages import TrackFinished, UploadReceived
from trackscan.domain.result_events import latest_event
from trackscan.domain.tracks import TrackRecord, TrackState, new_record
from trackscan.domain.transitions import Transition
from trackscan.pipeline.deps import Deps, track_prefix

log = logging.getLogger(__name__)
SUBMIT_STEP = "api"
MAX_SOURCE_MATCHES = 200
RETRY_STEP = "retry"
# The fields of a track resource, in the order documented in openapi.yaml.
RESOURCE_FIELDS = (
    "track_id",
    "partner",
    "source_uri",
    "generation",
    "state",
    "timeline",
    "segments_total",
    "segments_done",
    "explanation",
    "last_failed_attempt",
    "error",
    "result",
    "model",
    "created_at",
    "updated_at",
    "reused",
)


def track_resource(record: TrackRecord, segments_done: int = 0) -> dict[str, Any]:
    """The API's view of a record; ``result`` has the shapes of ``trackscan run --json``."""
    data = {**record.to_dict(), "segments_done": segments_done, "explanation": explanation(record)}
    return {name: data[name] for name in RESOURCE_FIELDS}


def audio_features_resource(record: TrackRecord) -> dict[str, Any]:
    """The track's audio features (trackscan's own derivations, see ``trackscan.domain.audio_features``).

    Raises:
        ApiError: 409 while the track has no result (not DONE).
    """
    features = audio_features(record)
    if features is None:
        raise _precondition(f"The track is {record.state.value}; its audio features exist once it is DONE.")
    return asdict(features)


def submit_uri(deps: Deps, partner: str, source_uri: str) -> TrackRecord:
    """Creates the track of an existing object (if absent) and asks the pipeline to ingest it.

    Publishes even when the track exists: ingest is idempotent, and a client repeating a submit
    whose first publish failed must not leave the track stuck in RECEIVED.

    Raises:
        ApiError: 404 when the object does not exist, 413 when it is over the size limit.
    """
    info = deps.blobs.stat(source_uri)
    if info is None:
        raise ApiError(404, "NOT_FOUND", f"There is no object at {source_uri}.")
    _check_size(deps, info.size_bytes)
    record = deps.tracks.create_if_absent(new_record(source_uri, info.generation, partner, SUBMIT_STEP))
    if record.partner != partner:
        # The bucket notification recorded the object first, under another partner name: the
        # partner could not read its own track. Ingest must take the partner from the path.
        log.error("track recorded under another partner", extra={"track_id": record.track_id})
    deps.publisher.publish(UploadReceived(source_uri, info.generation, info.size_bytes, partner))
    log.info("track submitted", extra={"track_id": record.track_id, "partner": partner})
    return record


def submit_upload(deps: Deps, partner: str, source_uri: str, stream: IO[bytes]) -> TrackRecord:
    """Stores a request body as a new object, streamed in chunks, then submits it like ``submit_uri``.

    Raises:
        ApiError: 409 if the name is taken, 400 for an empty body, 413 past the size limit
            (which leaves no object behind).
    """
    # Checked first too, so a taken name is answered before the body is read: the create-only
    # write alone would tell only after streaming it all.
    taken = deps.blobs.stat(source_uri) is not None
    if taken or not deps.blobs.write_if_absent(source_uri, bounded_body(stream, deps.config.max_file_bytes)):
        raise ApiError(
            409,
            "ALREADY_EXISTS",
            f'{source_uri} already exists; choose another filename, or submit it as {{"source_uri": "{source_uri}"}}.',
        )
    return submit_uri(deps, partner, source_uri)


def own_track(deps: Deps, partner: str, raw_id: str) -> TrackRecord:
    """The partner's track with this id.

    Raises:
        ApiError: 404 when there is none, also when the track is another partner's: the
            answer must not tell whether an id exists elsewhere.
    """
    valid_id = track_id(raw_id)
    record = deps.tracks.get(valid_id) if valid_id else None
    if record is None or record.partner != partner:
        # Name the id only when it has an id's form: the path may hold anything, of any length.
        raise ApiError(404, "NOT_FOUND", f"There is no track {valid_id}." if valid_id else "No such track.")
    return record


def list_tracks(deps: Deps, partner: str, page: PageRequest) -> tuple[list[TrackRecord], str | None]:
    """One page of the partner's tracks, newest first, and the token of the next page (or None).

    Raises:
        ApiError: 400 when the page token is not one of the partner's tracks.
    """
    if page.source is not None:
        return _by_source(deps, partner, page), None
    if page.page_token is not None and _is_foreign(deps, partner, page.page_token):
        raise ApiError(400, "INVALID_ARGUMENT", "page_token is not a token this API returned.")
    # One more than asked: a next page token only when a next page exists.
    records = deps.queries.query(partner, page.state, page.page_size + 1, page.page_token)
    shown = records[: page.page_size]
    return shown, shown[-1].track_id if len(records) > page.page_size else None


def _by_source(deps: Deps, partner: str, page: PageRequest) -> list[TrackRecord]:
    # A source has few versions: one page, no token. Another partner's tracks are never shown.
    assert page.source is not None
    lookup = deps.queries.by_source if "://" in page.source else deps.queries.by_name
    records = [r for r in lookup(page.source, MAX_SOURCE_MATCHES) if r.partner == partner]
    return [r for r in records if page.state in (None, r.state)][: page.page_size]


def retry_track(deps: Deps, partner: str, raw_id: str) -> TrackRecord:
    """Sends a FAILED track through the pipeline again, from scratch.

    Repeating a retry whose publish may have failed (the track is RECEIVED since a retry)
    publishes again instead of refusing, so the client can always complete it.

    Raises:
        ApiError: 404 for an unknown track, 409 when it is not FAILED or its object changed.
    """
    record = own_track(deps, partner, raw_id)
    if record.state is not TrackState.FAILED and not _retry_pending(record):
        raise _precondition(f"Only FAILED tracks can be retried; this one is {record.state.value}.")
    info = deps.blobs.stat(record.source_uri)
    if info is None or info.generation != record.generation:
        raise _precondition(f"{record.source_uri} was deleted or overwritten since; submit it again.")
    if record.state is TrackState.FAILED:
        # Stale partial outputs would be reused by the steps' existence checks: start clean.
        deps.blobs.delete_prefix(track_prefix(deps, record.track_id))
        restart = Transition(TrackState.RECEIVED, RETRY_STEP, restart=True)
        record = deps.tracks.apply(record.track_id, restart) or record
    deps.publisher.publish(UploadReceived(record.source_uri, record.generation, info.size_bytes, partner))
    log.info("track retried", extra={"track_id": record.track_id, "partner": partner})
    return record


def redeliver_track(deps: Deps, partner: str, raw_id: str) -> TrackFinished:
    """Publishes a final track's latest result event again, to its webhook and the results table.

    The event keeps its id, so a receiver that has it already drops the copy.

    Raises:
        ApiError: 404 for an unknown track, 409 when it is not DONE or FAILED yet.
    """
    record = own_track(deps, partner, raw_id)
    if not record.state.is_final:
        raise _precondition(f"Only a DONE or FAILED track has a result event; this one is {record.state.value}.")
    event = latest_event(record, with_embedding=deps.config.results_embedding)
    deps.publisher.publish(event)
    log.info("result event redelivered", extra={"track_id": record.track_id, "event_id": event.event_id})
    return event


def _retry_pending(record: TrackRecord) -> bool:
    last_step = record.timeline[-1].step if record.timeline else None
    return record.state is TrackState.RECEIVED and last_step == RETRY_STEP


def _is_foreign(deps: Deps, partner: str, token: str) -> bool:
    record = deps.tracks.get(token)
    return record is None or record.partner != partner


def _check_size(deps: Deps, size_bytes: int) -> None:
    limit = deps.config.max_file_bytes
    if size_bytes > limit:
        # "over", not the size: a chunked upload is only read up to one byte past the limit.
        raise ApiError(413, "PAYLOAD_TOO_LARGE", f"The file is over the limit of {limit} bytes.")


def _precondition(message: str) -> ApiError:
    return ApiError(409, "FAILED_PRECONDITION", message)
