"""BlobStore on Google Cloud Storage, addressed by gs://bucket/object URIs.

Everything after the bucket is the object name, as GCS stores it: '#', '?', '%', spaces and
any other character but CR and LF, up to 1,024 bytes. A generation is passed on its own (never
as a '#' suffix, which an object name may hold), so every segment of a track decodes the same
object version even if the object is overwritten meanwhile.
"""

from __future__ import annotations

import base64
import contextlib
import io
from typing import Any, BinaryIO

import google.cloud.storage as storage
from google.api_core import exceptions as google_errors
from google.cloud.storage.retry import DEFAULT_RETRY

from trackscan.adapters.cloud_errors import call_limits, transient_as_retryable
from trackscan.domain.ports import BlobInfo, ListedObject, ObjectPage

# Every read call is a Class B operation while bytes within the region are free. An object up to
# WHOLE_READ_MAX_BYTES (a 4-minute FLAC is 20-40 MB) is read whole in one call: a decoder seeking
# in ranged reads refetched one 4-minute track's source 60 times (counted on the dev stack at 1
# MiB ranges). A larger one is read in ranges of READ_CHUNK_BYTES, one held in memory at a time.
WHOLE_READ_MAX_BYTES = 64 << 20
READ_CHUNK_BYTES = 8 << 20
# A streamed upload (a reader) goes up in resumable chunks of this size, so memory stays bounded
# whatever the file's size (the library's default chunk is 100 MiB). A multiple of 256 KiB.
UPLOAD_CHUNK_BYTES = 8 << 20


def split_uri(uri: str) -> tuple[str, str]:
    """(bucket, object name) of a gs:// URI; the name is everything after the bucket."""
    if not uri.startswith("gs://") or "/" not in uri[5:]:
        raise ValueError(f"not a gs://bucket/object URI: {uri}")
    bucket, _, name = uri[5:].partition("/")
    return bucket, name


class GcsBlobStore:
    """Writes are create-only (if_generation_match=0), which also makes them safe to retry."""

    def __init__(self, client: storage.Client) -> None:
        self._client = client

    def _blob(self, uri: str, generation: str | None = None) -> storage.Blob:
        bucket, name = split_uri(uri)
        return self._client.bucket(bucket).blob(name, generation=_number(generation))

    def open_read(self, uri: str, generation: str | None = None) -> BinaryIO:
        """A seekable reader; FileNotFoundError when the object (or that generation) is gone."""
        # Checked up front: the reader itself would fail only at the first read. A separate
        # metadata call, so the reader's pinned generation is never replaced by the latest one.
        info = self.stat(uri, generation)
        if info is None:
            raise FileNotFoundError(uri)
        blob = self._blob(uri, generation)
        with transient_as_retryable(f"opening {uri}"):
            limits = _limits(f"reading {uri}")
            if info.size_bytes > WHOLE_READ_MAX_BYTES:
                return blob.open("rb", chunk_size=READ_CHUNK_BYTES, **limits)
            try:
                return io.BytesIO(blob.download_as_bytes(**limits))  # checked against the object's checksum
            except google_errors.NotFound as exc:
                raise FileNotFoundError(uri) from exc

    def write_if_absent(self, uri: str, data: bytes | BinaryIO) -> bool:
        """Uploads the object unless it exists (a reader in resumable chunks); True if this call created it."""
        blob = self._blob(uri)
        with transient_as_retryable(f"writing {uri}"):
            try:
                limits = _limits(f"writing {uri}")
                if isinstance(data, bytes | bytearray):
                    blob.upload_from_string(bytes(data), if_generation_match=0, **limits)
                else:
                    blob.chunk_size = UPLOAD_CHUNK_BYTES
                    # No size: the library cannot know it, so it streams a resumable upload
                    # chunk by chunk and finalizes the object only after the reader's last byte.
                    blob.upload_from_file(data, if_generation_match=0, **limits)
                return True
            except google_errors.PreconditionFailed:
                return False

    def start_resumable_upload(self, uri: str, size_bytes: int, content_type: str, origin: str | None) -> str:
        """The URL of a resumable upload session for a new object (the partner API's large uploads).

        Whoever holds the URL may upload to it, for a week, without credentials: only this object
        (if_generation_match=0, so never over an existing one), of this size and content type.
        The session is started by this service, which GCS's documentation prefers to handing a
        client a signed URL to start it: nothing to sign (no signing key, no signBlob grant),
        and the client skips a round trip.
        """
        with transient_as_retryable(f"starting an upload session for {uri}"):
            url: str = self._blob(uri).create_resumable_upload_session(
                content_type=content_type,
                size=size_bytes,
                origin=origin,
                if_generation_match=0,
                checksum=None,
                **_limits(f"starting an upload session for {uri}"),
            )
        return url

    def stat(self, uri: str, generation: str | None = None) -> BlobInfo | None:
        """Size and generation of the object (that generation, if given), or None when it is absent."""
        bucket, name = split_uri(uri)
        with transient_as_retryable(f"reading metadata of {uri}"):
            blob = self._client.bucket(bucket).get_blob(
                name, generation=_number(generation), **_limits(f"reading metadata of {uri}")
            )
        return BlobInfo(size_bytes=blob.size or 0, generation=str(blob.generation)) if blob else None

    def content_hash(self, uri: str, generation: str | None = None) -> str | None:
        """The object's "md5:<hex>" (that generation, if given) from its metadata, without reading it.

        None when the object is absent or has no MD5 (a composite object has only a CRC32C, whose
        32 bits are too few to key results on: collisions are expected within a large catalogue).
        """
        bucket, name = split_uri(uri)
        with transient_as_retryable(f"reading metadata of {uri}"):
            blob = self._client.bucket(bucket).get_blob(
                name, generation=_number(generation), **_limits(f"reading metadata of {uri}")
            )
        if blob is None or not blob.md5_hash:
            return None
        return f"md5:{base64.b64decode(blob.md5_hash).hex()}"

    def list_uris(self, prefix_uri: str) -> list[str]:
        """URIs of the objects under the prefix, in the lexicographic order GCS lists them."""
        bucket, prefix = split_uri(prefix_uri)
        with transient_as_retryable(f"listing {prefix_uri}"):
            listing = self._client.list_blobs(bucket, prefix=prefix, **_limits(f"listing {prefix_uri}"))
            return [f"gs://{bucket}/{b.name}" for b in listing]

    def delete_prefix(self, prefix_uri: str) -> int:
        """Deletes the objects under the prefix; returns how many were listed.

        An object a concurrent duplicate deleted first counts too: the prefix ends empty either way.
        """
        bucket, prefix = split_uri(prefix_uri)
        with transient_as_retryable(f"deleting {prefix_uri}"):
            blobs = list(self._client.list_blobs(bucket, prefix=prefix, **_limits(f"listing {prefix_uri}")))
            for blob in blobs:
                try:
                    blob.delete(**_limits(f"deleting {blob.name}"))
                except google_errors.NotFound:
                    pass  # a concurrent duplicate deleted it first
        return len(blobs)

    def delete(self, uris: list[str]) -> None:
        """Deletes each object by name (a delete is free; a listing is a Class A operation)."""
        for uri in uris:
            bucket, name = split_uri(uri)
            with transient_as_retryable(f"deleting {uri}"), contextlib.suppress(google_errors.NotFound):
                self._client.bucket(bucket).blob(name).delete(**_limits(f"deleting {uri}"))

    def list_page(self, prefix_uri: str, page_token: str | None, max_results: int) -> ObjectPage:
        """One listing call: up to max_results objects after page_token, and the next token."""
        bucket, prefix = split_uri(prefix_uri)
        with transient_as_retryable(f"listing {prefix_uri}"):
            listing = self._client.list_blobs(
                bucket,
                prefix=prefix,
                page_token=page_token or None,
                max_results=max_results,
                **_limits(f"listing {prefix_uri}"),
            )
            page = next(listing.pages, None)
            blobs = list(page) if page is not None else []
        objects = [
            ListedObject(
                f"gs://{bucket}/{b.name}",
                str(b.generation),
                b.size or 0,
                b.time_created.isoformat(timespec="milliseconds"),
            )
            for b in blobs
        ]
        return ObjectPage(objects, listing.next_page_token)

    def notification_topics(self, bucket_name: str) -> list[str] | None:
        """Topic names the bucket's notification configs publish to; None when the server cannot say."""
        try:
            with transient_as_retryable(f"listing the notification configs of {bucket_name}"):
                limits = _limits(f"listing the notification configs of {bucket_name}")
                return [n.topic_name for n in self._client.bucket(bucket_name).list_notifications(**limits)]
        except (google_errors.NotFound, google_errors.MethodNotImplemented, google_errors.BadRequest):
            return None  # fake-gcs-server, for one, has no notification config API


def _limits(what: str) -> dict[str, Any]:
    # Every request of the call, its retries included, ends by the step's deadline.
    return call_limits(what, DEFAULT_RETRY)


def _number(generation: str | None) -> int | None:
    return int(generation) if generation else None
