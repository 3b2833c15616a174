"""BlobStore on Google Cloud Storage, addressed by gs://bucket/object URIs.

A URI may pin a generation as gs://bucket/object#generation (the gsutil convention), so every
segment of a track decodes the same object version even if the object is overwritten meanwhile.
"""

from __future__ import annotations

import base64
from typing import BinaryIO

import google.cloud.storage as storage
from google.api_core import exceptions as google_errors

from trackscan.adapters.cloud_errors import transient_as_retryable
from trackscan.ports import BlobInfo, ListedObject, ObjectPage

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

    def content_hash(self, uri: str) -> str | None:
        """"md5:<hex>" of the object (the pinned generation, if any) from its metadata, without reading it.

        None when the object is absent or has no MD5 (a composite object has only a CRC32C, whose
        32 bits are too few to key results on: collisions are expected within a large catalogue).
        """
        bucket, name, generation = split_uri(uri)
        with transient_as_retryable(f"reading metadata of {uri}"):
            blob = self._client.bucket(bucket).get_blob(name, generation=generation)
        if blob is None or not blob.md5_hash:
            return None
        return f"md5:{base64.b64decode(blob.md5_hash).hex()}"

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

    def list_page(self, prefix_uri: str, page_token: str | None, max_results: int) -> ObjectPage:
        """One listing call: up to max_results objects after page_token, and the next token."""
        bucket, prefix, _ = split_uri(prefix_uri)
        with transient_as_retryable(f"listing {prefix_uri}"):
            listing = self._client.list_blobs(bucket, prefix=prefix, page_token=page_token or None,
                                              max_results=max_results)
            page = next(listing.pages, None)
            blobs = list(page) if page is not None else []
        objects = [ListedObject(f"gs://{bucket}/{b.name}", str(b.generation), b.size or 0,
                                b.time_created.isoformat(timespec="milliseconds")) for b in blobs]
        return ObjectPage(objects, listing.next_page_token)

    def notification_topics(self, bucket_name: str) -> list[str] | None:
        """Topic names the bucket's notification configs publish to; None when the server cannot say."""
        try:
            with transient_as_retryable(f"listing the notification configs of {bucket_name}"):
                return [n.topic_name for n in self._client.bucket(bucket_name).list_notifications()]
        except (google_errors.NotFound, google_errors.MethodNotImplemented, google_errors.BadRequest):
            return None  # fake-gcs-server, for one, has no notification config API
