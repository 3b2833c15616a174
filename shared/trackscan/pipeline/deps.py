"""What a step handler needs: the ports, the configuration and where work blobs go."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from trackscan.domain.config import Config
from trackscan.domain.ports import (
    AudioDecoder,
    BlobStore,
    PassCursors,
    Publisher,
    RejectionLog,
    SearchIndex,
    Tagger,
    TrackQueries,
    TrackRecords,
    TrackStore,
    WebhookRegistry,
    WebhookSender,
)


@dataclass(frozen=True)
class Deps:
    """Ports chosen by bootstrap. The tagger and the decoder start on first use.

    The five store ports are one adapter in practice (``store_ports``); each is its own field so
    that a use names the part it needs.
    """

    blobs: BlobStore
    publisher: Publisher
    tracks: TrackRecords
    queries: TrackQueries
    cursors: PassCursors
    rejections: RejectionLog
    search: SearchIndex
    tagger: Tagger
    decoder: AudioDecoder
    webhook_sender: WebhookSender
    webhook_registry: WebhookRegistry
    config: Config
    work_root_uri: str  # file:///.../work locally, gs://<work bucket> in the cloud


class StorePorts(TypedDict):
    """Deps' five store fields."""

    tracks: TrackRecords
    queries: TrackQueries
    cursors: PassCursors
    rejections: RejectionLog
    search: SearchIndex


def store_ports(store: TrackStore) -> StorePorts:
    """Deps' five store fields, all served by one store: ``Deps(**store_ports(store), ...)``."""
    return StorePorts(tracks=store, queries=store, cursors=store, rejections=store, search=store)


def track_prefix(deps: Deps, track_id: str) -> str:
    """Prefix of every intermediate blob of a track."""
    return f"{deps.work_root_uri}/{track_id}/"


def features_uri(deps: Deps, track_id: str, segment_index: int) -> str:
    """Where the features step writes one segment's features blob."""
    return f"{track_prefix(deps, track_id)}features/{segment_index:05d}.npz"


def predictions_prefix(deps: Deps, track_id: str) -> str:
    """Prefix of the track's prediction blobs: one per scored segment."""
    return predictions_prefix_under(deps.work_root_uri, track_id)


def predictions_prefix_under(work_root_uri: str, track_id: str) -> str:
    """predictions_prefix for a work root, for readers that hold no Deps (``trackscan status``)."""
    return f"{work_root_uri}/{track_id}/predictions/"


def predictions_uri(deps: Deps, track_id: str, segment_index: int) -> str:
    """Where the infer step writes one segment's predictions blob."""
    return f"{predictions_prefix(deps, track_id)}{segment_index:05d}.npz"
