"""The composition root: the only place that chooses adapters."""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from trackscan.adapters.audio_decoders import SandboxedDecoder
from trackscan.adapters.local_blobs import FolderBlobStore
from trackscan.adapters.local_queue import CollectingPublisher
from trackscan.adapters.onnx_tagger import OnnxTagger
from trackscan.adapters.openvino_tagger import OpenVinoTagger
from trackscan.adapters.sqlite_store import SqliteTrackStore
from trackscan.adapters.sqlite_webhooks import SqliteWebhookRegistry
from trackscan.adapters.webhook_sender import SafeWebhookSender
from trackscan.domain.config import Config
from trackscan.domain.file_uris import uri_of
from trackscan.domain.messages import split_pinned_uri
from trackscan.domain.ports import BlobStore, Tagger, TrackStore, WebhookRegistry, WebhookSender
from trackscan.pipeline.deps import Deps, store_ports

if TYPE_CHECKING:
    from trackscan.adapters.firestore_store import FirestoreTrackStore

# TRACKSCAN_MODEL_VARIANT's values: the in-process runtime and its precision.
MODEL_VARIANTS = ("auto", "openvino-bf16", "openvino-fp32", "onnxruntime-fp32")

# The decoder child's own blob stores, one per (scheme, project), created on its first open.
_source_stores: dict[tuple[str, str], BlobStore] = {}


def local_deps(config: Config, model_threads: int = 0) -> Deps:
    """The embedded default: a folder, an in-process queue, SQLite and the model in process."""
    work_dir = Path(config.work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    config = with_local_webhook_key(config)
    return Deps(
        blobs=FolderBlobStore(),
        publisher=CollectingPublisher(),
        **store_ports(SqliteTrackStore(config.state_db_path)),
        tagger=local_tagger(config, model_threads),
        decoder=sandboxed_decoder(config),
        webhook_sender=webhook_sender(config),
        webhook_registry=webhook_registry(config, cloud=False),
        config=config,
        work_root_uri=uri_of(work_dir),
    )


def webhook_sender(config: Config) -> WebhookSender:
    """Sends partners' webhooks under the SSRF rules; loopback receivers only where config allows."""
    return SafeWebhookSender(allow_loopback=config.webhook_allow_loopback)


def webhook_registry(config: Config, cloud: bool) -> WebhookRegistry:
    """Partners' registered webhooks: beside the track records, in SQLite or in Firestore."""
    if not cloud:
        return SqliteWebhookRegistry(config.state_db_path)
    from trackscan.adapters.firestore_webhooks import FirestoreWebhookRegistry

    return FirestoreWebhookRegistry(_firestore_client(config), config.tracks_collection)


def with_local_webhook_key(config: Config) -> Config:
    """The config with a webhook key: TRACKSCAN_WEBHOOK_KEY, else one kept in the state folder.

    Every process of the embedded default (and of a dev stack sharing the home) reads the same
    file, so the API that shows a secret and the step that signs with it agree.
    """
    if config.webhook_key:
        return config
    path = Path(config.home_dir) / "webhook.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):  # another process made it first: read theirs
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as key_file:
            key_file.write(base64.b64encode(os.urandom(32)).decode())
    return replace(config, webhook_key=path.read_text().strip())


def local_tagger(config: Config, threads: int = 0) -> Tagger:
    """The model in process, as TRACKSCAN_MODEL_VARIANT says.

    auto is OpenVINO in bf16 where the CPU has bf16 units, in fp32 otherwise (both measured
    faster than onnxruntime: BENCHMARKS.md).
    """
    variant = config.model_variant
    if variant not in MODEL_VARIANTS:
        raise ValueError(f"TRACKSCAN_MODEL_VARIANT={variant!r}: expected one of {', '.join(MODEL_VARIANTS)}")
    if variant == "onnxruntime-fp32":
        return OnnxTagger(config.model_path, threads=threads)
    precision = "auto" if variant == "auto" else variant.removeprefix("openvino-")
    return OpenVinoTagger(config.model_path, precision, threads=threads)


def cloud_deps(config: Config) -> Deps:
    """The cloud adapters: GCS, Pub/Sub, Firestore and Triton.

    Emulators are chosen by the clients themselves from STORAGE_EMULATOR_HOST,
    PUBSUB_EMULATOR_HOST and FIRESTORE_EMULATOR_HOST; nothing here branches on them.
    """
    import google.cloud.pubsub_v1 as pubsub_v1
    import google.cloud.storage as storage

    from trackscan.adapters.gcs_blobs import GcsBlobStore
    from trackscan.adapters.pubsub_publisher import PubSubPublisher

    return Deps(
        blobs=GcsBlobStore(storage.Client(project=config.project_id)),
        publisher=PubSubPublisher(pubsub_v1.PublisherClient(), config),
        **store_ports(track_store(config, cloud=True)),
        tagger=cloud_tagger(config),
        decoder=sandboxed_decoder(config),
        webhook_sender=webhook_sender(config),
        webhook_registry=webhook_registry(config, cloud=True),
        config=config,
        work_root_uri=f"gs://{config.work_bucket_name}",
    )


def cloud_tagger(config: Config) -> Tagger:
    """Triton (the Cloud Run lane's infer step), or the model in process (the worker lane)."""
    if config.tagger == "in-process":
        # One model thread: a worker pod has one vCPU and runs several messages on it.
        return local_tagger(replace(config, model_path=str(model_file(config))), threads=1)
    if config.tagger != "triton":
        raise ValueError(f"TRACKSCAN_TAGGER={config.tagger!r}: expected triton or in-process")
    from trackscan.adapters.triton_tagger import TritonTagger

    return TritonTagger(config.triton_grpc_url, config.triton_model_name, config.infer_timeout_s, config.model_sha256)


def model_file(config: Config) -> Path:
    """The model as a local file: TRACKSCAN_MODEL_PATH, or its gs:// copy fetched once and checked.

    A worker image carries no weights; it fetches the release's model (cloudbuild.yaml's
    upload-model step) and refuses one whose sha256 is not TRACKSCAN_MODEL_SHA256.
    """
    if not config.model_path.startswith("gs://"):
        return Path(config.model_path)
    if not config.model_sha256:
        raise ValueError("a gs:// TRACKSCAN_MODEL_PATH needs TRACKSCAN_MODEL_SHA256 to check it against")
    target = Path(tempfile.gettempdir()) / "trackscan-model" / config.model_sha256 / "model.onnx"
    if not target.is_file():
        with _source_store("gs", config.project_id).open_read(config.model_path) as reader:
            data = reader.read()
        if hashlib.sha256(data).hexdigest() != config.model_sha256:
            raise ValueError(f"{config.model_path} is not the model of sha256 {config.model_sha256}")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part")
        partial.write_bytes(data)
        partial.replace(target)  # whole or absent, whatever kills the worker mid-write
    return target


def track_store(config: Config, cloud: bool) -> TrackStore:
    """The track records alone (for the CLI's lookups): SQLite, or Firestore with ``cloud``."""
    if not cloud:
        return SqliteTrackStore(config.state_db_path)
    return firestore_track_store(config)


def firestore_track_store(config: Config) -> FirestoreTrackStore:
    """The Firestore store itself, for what only it does (`trackscan reindex` rewrites its vectors)."""
    from trackscan.adapters.firestore_store import FirestoreTrackStore

    return FirestoreTrackStore(_firestore_client(config), config.tracks_collection)


@functools.cache
def _firestore_client(config: Config) -> Any:
    # One client per configuration and process: the track store and the webhook registry share it.
    from google.cloud import firestore

    return firestore.Client(project=config.project_id, database=config.firestore_database)


def work_blob_store(config: Config, cloud: bool) -> tuple[BlobStore, str]:
    """The blob store the work blobs live in and the URI of their root: a folder, or GCS."""
    if not cloud:
        return FolderBlobStore(), uri_of(Path(config.work_dir))
    import google.cloud.storage as storage

    from trackscan.adapters.gcs_blobs import GcsBlobStore

    return GcsBlobStore(storage.Client(project=config.project_id)), f"gs://{config.work_bucket_name}"


def local_blob_store() -> BlobStore:
    """Local files as blobs, addressed by file:// URIs."""
    return FolderBlobStore()


def sandboxed_decoder(config: Config) -> SandboxedDecoder:
    """The decoder both ways of running use: a child process with a timeout and a memory cap."""
    opener = functools.partial(open_source, project_id=config.project_id)
    return SandboxedDecoder(opener, config.decode_timeout_s, config.decode_memory_bytes)


def open_source(uri: str, project_id: str) -> BinaryIO:
    """Opens an audio source (pinned to a generation: messages.pinned_uri) in the decoder child.

    The child cannot share the parent's clients (gRPC channels and threads do not cross process
    boundaries), so it picks the adapter by the URI's scheme and builds it on first use.
    """
    scheme = uri.partition("://")[0]
    store = _source_stores.get((scheme, project_id))
    if store is None:
        store = _source_stores[(scheme, project_id)] = _source_store(scheme, project_id)
    return store.open_read(*split_pinned_uri(uri))


def _source_store(scheme: str, project_id: str) -> BlobStore:
    if scheme == "file":
        return FolderBlobStore()
    if scheme == "gs":
        import google.cloud.storage as storage

        from trackscan.adapters.gcs_blobs import GcsBlobStore

        return GcsBlobStore(storage.Client(project=project_id))
    raise ValueError(f"no blob store reads {scheme}:// URIs")
