"""Ports: the small interfaces the pipeline needs from the outside world.

Each has a local adapter (the embedded default) and a cloud adapter; only bootstrap chooses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Protocol, runtime_checkable

import numpy as np

from trackscan.domain.decoded_audio import AudioInfo, DecodedAudio, SegmentPlan, WholeTrack
from trackscan.domain.messages import Message
from trackscan.domain.rejections import RejectedEvent
from trackscan.domain.results import ModelInfo
from trackscan.domain.similarity import Neighbour
from trackscan.domain.tracks import FailedAttempt, TrackRecord, TrackState
from trackscan.domain.transitions import Transition
from trackscan.domain.webhooks import WebhookAttempt, WebhookRegistration


@dataclass(frozen=True)
class BlobInfo:
    """What a blob store knows of an object without reading it."""

    size_bytes: int
    generation: str  # GCS object generation; the modification time in ns for local files


@dataclass(frozen=True)
class ListedObject:
    """One object of a listing page."""

    uri: str
    generation: str
    size_bytes: int
    created_at: str  # ISO 8601 UTC


@dataclass(frozen=True)
class ObjectPage:
    """One page of a listing and the token of the next (None after the last page)."""

    objects: list[ListedObject]
    next_token: str | None


class BlobStore(Protocol):
    """Objects addressed by URI: the audio sources and the intermediate work blobs.

    A URI is taken as it is: '#' and '?' are part of a gs:// object name, never a pin or a query.
    A generation is always passed on its own, so no object name can be mistaken for one.
    """

    def open_read(self, uri: str, generation: str | None = None) -> BinaryIO:
        """A seekable binary reader, so a segment is decoded without reading the whole file.

        With a generation, that version of the object (FileNotFoundError once it is gone).
        """

    def write_if_absent(self, uri: str, data: bytes | BinaryIO) -> bool:
        """Creates the object unless it exists (if_generation_match=0); True if this call wrote it.

        A reader is streamed in bounded chunks, never held whole; an exception it raises
        mid-way leaves no object behind.
        """

    def stat(self, uri: str, generation: str | None = None) -> BlobInfo | None:
        """Size and generation of the object (that generation, if given), or None when it does not exist."""

    def list_uris(self, prefix_uri: str) -> list[str]:
        """URIs of the objects under the prefix, sorted."""

    def delete_prefix(self, prefix_uri: str) -> int:
        """Deletes every object under the prefix; returns how many were deleted."""

    def delete(self, uris: list[str]) -> None:
        """Deletes these objects, those already gone included, without listing (a listing is billed)."""

    def list_page(self, prefix_uri: str, page_token: str | None, max_results: int) -> ObjectPage:
        """One page of the objects under the prefix, in name order, resuming after page_token."""

    def content_hash(self, uri: str, generation: str | None = None) -> str | None:
        """A digest of the object's bytes, read before any decoding, or None when the store has none.

        Content dedupe keys on it: "md5:<hex>" from GCS metadata (no read of the bytes), "sha256:<hex>"
        of a local file. None for an object without an MD5 (a GCS composite object): never deduped.
        """


class AudioDecoder(Protocol):
    """Reads audio sources.

    The cloud and local workers decode in a child process, so a codec that crashes or hangs on a
    file fails that track, not the worker.
    """

    def probe(self, uri: str, max_duration_s: float) -> AudioInfo:
        """Reads the header of the source and checks the limits.

        Raises:
            BadAudioError: the file is not audio we accept (its code says why).
        """

    def decode(self, uri: str, start_s: float, duration_s: float) -> DecodedAudio:
        """Decodes [start_s, start_s + duration_s) of the source: float32, <= 2 channels, <= 48 kHz.

        Raises:
            BadAudioError: the range cannot be decoded (CORRUPT, TRUNCATED, DECODER_CRASHED,
                DECODER_OUT_OF_MEMORY...).
            RetryableError: decoding ran out of time; it may succeed on another delivery.
        """

    def decode_whole(self, uri: str, max_duration_s: float, plan: SegmentPlan) -> WholeTrack:
        """Reads the source once, probes it and, where ``plan`` gives ranges, decodes each of them.

        The ranges decode exactly as ``decode`` would decode them one by one, so a track tagged
        whole gets the tags the segment chain gives it.

        Raises:
            BadAudioError: as probe and decode do.
            RetryableError: reading or decoding ran out of time.
        """


class Publisher(Protocol):
    """Sends a message to the step that consumes it."""

    def publish(self, message: Message) -> None:
        """Sends the message; returns once the transport has accepted it."""


@runtime_checkable
class QueuedPublisher(Publisher, Protocol):
    """A publisher that keeps what was published for its runtime to hand on (the in-process queue)."""

    def drain(self) -> list[Message]:
        """Returns and forgets the messages published so far."""


# Optional capabilities of a BlobStore, which a runtime uses where its store has them (GCS does).


@runtime_checkable
class UploadSessions(Protocol):
    """Starts resumable uploads a partner completes without credentials."""

    def start_resumable_upload(self, uri: str, size_bytes: int, content_type: str, origin: str | None) -> str:
        """The session URL for a new object of this size and type."""


@runtime_checkable
class NotificationConfigs(Protocol):
    """Says where a bucket's change notifications go."""

    def notification_topics(self, bucket_name: str) -> list[str] | None:
        """Topic names the bucket notifies; None when the server cannot say."""


class TrackRecords(Protocol):
    """Each track's record and its moves: what the steps read and write."""

    def create_if_absent(self, record: TrackRecord) -> TrackRecord:
        """Stores the record unless one with its id exists; returns the stored record."""

    def get(self, track_id: str) -> TrackRecord | None:
        """The record of a track, or None when there is none."""

    def apply(self, track_id: str, transition: Transition) -> TrackRecord | None:
        """Applies the transition atomically; returns the new record, or None if not allowed."""

    def record_failed_attempt(self, track_id: str, attempt: FailedAttempt) -> None:
        """Keeps the latest failed attempt on the record; changes neither its state nor updated_at."""

    def known(self, track_ids: set[str]) -> set[str]:
        """Which of these track ids have a record (one batched read)."""


class TrackQueries(Protocol):
    """Lists of records: what support staff, the API, reconcile and backfill read."""

    def query(self, partner: str | None, state: TrackState | None, limit: int, after: str | None) -> list[TrackRecord]:
        """Records newest first, filtered by partner and state, after a paging cursor."""

    def count(self, partner: str | None, state: TrackState) -> int:
        """How many tracks are in the state, of one partner (or of all, with None)."""

    def stalled(self, state: TrackState, updated_before: str, limit: int) -> list[TrackRecord]:
        """Records in state last updated at or before updated_before (ISO 8601 UTC), oldest first."""

    def by_source(self, source_uri: str, limit: int) -> list[TrackRecord]:
        """The tracks of a source URI (one per generation), most recently updated first."""

    def by_name(self, name: str, limit: int) -> list[TrackRecord]:
        """The tracks whose source's file name (last path segment) is ``name``, most recently updated first."""

    def done_after(self, after: str | None, limit: int) -> list[TrackRecord]:
        """DONE tracks in track id order after the id ``after``: one page of a pass over every result."""


class PassCursors(Protocol):
    """Where a long pass (the inventory sweep, a backfill) got to, so the next run goes on from there."""

    def cursor(self, name: str) -> str | None:
        """A saved position of a pass (the sweep's page token), or None."""

    def save_cursor(self, name: str, value: str | None) -> None:
        """Saves (or, with None, clears) a pass's position."""


class RejectionLog(Protocol):
    """Events the pipeline refused, kept for support staff."""

    def record_rejected(self, event: RejectedEvent) -> None:
        """Keeps a refused event (idempotent: the same event_id is one record)."""


class SearchIndex(Protocol):
    """DONE tracks found by their content: the same bytes (dedupe) or a similar sound (search)."""

    def done_with_content(self, content_hash: str, limit: int) -> list[TrackRecord]:
        """DONE tracks whose source had these bytes (``BlobStore.content_hash``), any partner."""

    def nearest(self, partner: str, vector: list[float], limit: int) -> list[Neighbour]:
        """The partner's DONE tracks whose search vectors are closest to vector (cosine), closest first."""


class TrackStore(TrackRecords, TrackQueries, PassCursors, RejectionLog, SearchIndex, Protocol):
    """The five ports one store adapter serves (SQLite, Firestore): what bootstrap builds.

    Code takes the port it uses (``Deps`` hands out each one), never the whole store.
    """


@dataclass(frozen=True)
class Predictions:
    """Model outputs for N patches."""

    mtt: np.ndarray  # [N, 50] sigmoid scores
    msd: np.ndarray  # [N, 50] sigmoid scores
    embedding: np.ndarray  # [N, 200]


class Tagger(Protocol):
    """Runs the musicnn model."""

    def predict(self, patches: np.ndarray) -> Predictions:
        """Scores a batch of log-mel patches [N, 187, 96], given to the model as front_end.PATCH_DTYPE."""

    def model_info(self) -> ModelInfo:
        """Name and sha256 of the model that scores, recorded with every result."""


@dataclass(frozen=True)
class WebhookReply:
    """What a partner's receiver answered: its HTTP status, and how long it took."""

    status: int
    latency_s: float


class WebhookSender(Protocol):
    """POSTs to partners' receivers; the same adapter everywhere, its rules set by bootstrap."""

    def check(self, url: str) -> None:
        """Refuses a URL that ``post`` would refuse (what registering a webhook checks).

        Raises:
            WebhookRefusedError: the scheme, the port or an address the host resolves to.
        """

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> WebhookReply:
        """Sends the body; returns the reply (any status).

        Raises:
            WebhookRefusedError: the URL is one it may not send to (SSRF rules).
            OSError: the receiver could not be reached or did not answer in time.
        """


class WebhookRegistry(Protocol):
    """Partners' webhooks registered through the API, one per partner (never a secret: see domain.webhooks)."""

    def webhook(self, partner: str) -> WebhookRegistration | None:
        """The partner's registration, or None."""

    def save_webhook(self, registration: WebhookRegistration) -> None:
        """Creates or replaces the partner's registration."""

    def delete_webhook(self, partner: str) -> bool:
        """Removes the partner's registration; False when it had none."""

    def add_attempts(self, partner: str, attempts: list[WebhookAttempt]) -> None:
        """Keeps a batch of the partner's send attempts, in one write, for ATTEMPTS_KEPT (domain.webhooks)."""

    def attempts(self, partner: str, limit: int, undelivered: bool = False) -> list[WebhookAttempt]:
        """The partner's latest send attempts, newest first; only the undelivered ones if asked."""
