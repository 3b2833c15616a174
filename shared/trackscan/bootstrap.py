"""The composition root: the only place that chooses adapters."""

from __future__ import annotations

from pathlib import Path

from trackscan.adapters.local_blobs import FolderBlobStore, uri_of
from trackscan.adapters.local_queue import CollectingPublisher
from trackscan.adapters.onnx_tagger import OnnxTagger
from trackscan.adapters.sqlite_store import SqliteTrackStore
from trackscan.config import Config
from trackscan.pipeline.deps import Deps


def local_deps(config: Config, onnx_threads: int = 0) -> Deps:
    """The embedded default: a folder, an in-process queue, SQLite and onnxruntime."""
    work_dir = Path(config.work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    return Deps(
        blobs=FolderBlobStore(),
        publisher=CollectingPublisher(),
        tracks=SqliteTrackStore(config.state_db_path),
        tagger=OnnxTagger(config.model_path, threads=onnx_threads),
        config=config,
        work_root_uri=uri_of(work_dir),
    )


def cloud_deps(config: Config) -> Deps:
    """The cloud adapters: GCS, Pub/Sub, Firestore and Triton.

    Emulators are chosen by the clients themselves from STORAGE_EMULATOR_HOST,
    PUBSUB_EMULATOR_HOST and FIRESTORE_EMULATOR_HOST; nothing here branches on them.
    """
    from google.cloud import firestore, pubsub_v1, storage

    from trackscan.adapters.firestore_store import FirestoreTrackStore
    from trackscan.adapters.gcs_blobs import GcsBlobStore
    from trackscan.adapters.pubsub_publisher import PubSubPublisher
    from trackscan.adapters.triton_tagger import TritonTagger

    return Deps(
        blobs=GcsBlobStore(storage.Client(project=config.project_id)),
        publisher=PubSubPublisher(pubsub_v1.PublisherClient(), config),
        tracks=FirestoreTrackStore(firestore.Client(project=config.project_id), config.tracks_collection),
        tagger=TritonTagger(
            config.triton_grpc_url, config.triton_model_name, config.infer_timeout_s, config.model_sha256
        ),
        config=config,
        work_root_uri=f"gs://{config.work_bucket_name}",
    )
