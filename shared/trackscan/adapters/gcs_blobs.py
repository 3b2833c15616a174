"""BlobStore on Google Cloud Storage, addressed by gs://bucket/object URIs.

A URI may pin a generation as gs://bucket/object#generation (the gsutil convention), so every
segment of a track decodes the same object version even if the object is overwritten meanwhile.
"""

from __future__ import annotations

from typing import BinaryIO

import google.cloud.storage as storage
from google.api_core import exceptions as google_errors

from trackscan.adapters.cloud_errors import transient_as_retryable
from trackscan.ports import BlobInfo

# Segment decoding seeks: small chunks read only the part of the object a segment needs.
READ_CHUNK_BYTES = 1 << 20


def split_uri(uri: str) -> tuple[str, str, int | None]:
    """(bucket, object name, generation or None) of a gs:// URI."""
    if not uri.startswith("gs://") or "/" not in uri[5:]:
        raise ValueError(f"not a gs://bucket/object URI: {uri}")
    bucket, _, name = uri[5:].partition("/")
    name, _, generation = name.partition("#")
    return bucket, name, int(generation) if generation else None


class GcsBlobStore:
    """Writes are create-only (if_generation_match=0), which also makes them safe to retry."""

    def __init__(self, client: storage.Client) -> None:
        self._client = client

    def _blob(self, uri: str) -> storage.Blob:
        bucket, name, generation = split_uri(uri)
        return self._client.bucket(bucket).blob(name, generation=generation)

    def open_read(self, uri: str) -> BinaryIO:
        """A seekable reader; FileNotFoundError when the object (or its pinned generation) is gone."""
        # Checked up front: the reader itself would fail only at the first read. A separate
        # metadata call, so the reader's pinned generation is never replaced by the latest one.
        if self.stat(uri) is None:
            raise FileNotFoundError(uri)
        with transient_as_retryable(f"opening {uri}"):
            return self._blob(uri).open("rb", chunk_size=READ_CHUNK_BYTES)

    def write_if_absent(self, uri: str, data: bytes) -> bool:
        """Uploads the object unless it exists; True if this call created it."""
        with transient_as_retryable(f"writing {uri}"):
            try:
                self._blob(uri).upload_from_string(data, if_generation_match=0)
                return True
            except google_errors.PreconditionFailed:
                return False

    def stat(self, uri: str) -> BlobInfo | None:
        """Size and generation of the object (the pinned one, if any), or None when it is absent."""
        bucket, name, generation = split_uri(uri)
        with transient_as_retryable(f"reading metadata of {uri}"):
            blob = self._client.bucket(bucket).get_blob(name, generation=generation)
        return BlobInfo(size_bytes=blob.size or 0, generation=str(blob.generation)) if blob else None

    def list_uris(self, prefix_uri: str) -> list[str]:
        """URIs of the objects under the prefix, in the lexicographic order GCS lists them."""
        bucket, prefix, _ = split_uri(prefix_uri)
        with transient_as_retryable(f"listing {prefix_uri}"):
            return [f"gs://{bucket}/{b.name}" for b in self._client.list_blobs(bucket, prefix=prefix)]

    def delete_prefix(self, prefix_uri: str) -> int:
        """Deletes the objects under the prefix; returns how many were listed.

        An object a concurrent duplicate deleted first counts too: the prefix ends empty either way.
        """
        bucket, prefix, _ = split_uri(prefix_uri)
        with transient_as_retryable(f"deleting {prefix_uri}"):
            blobs = list(self._client.list_blobs(bucket, prefix=prefix))
            for blob in blobs:
                try:
                    blob.delete()
                except google_errors.NotFound:
                    pass  # a concurrent duplicate deleted it first
        return len(blobs)
