"""Audio into the partner's prefix without holding it: a streamed body, or a resumable upload session.

A body sent to ``POST /v1/tracks`` is copied to the blob store in bounded chunks as it arrives.
Cloud Run refuses request bodies over 32 MiB (HTTP/1), so a large file goes straight to GCS
instead: ``POST /v1/uploads`` opens a resumable upload session for one new object under the
partner's prefix and answers its URL, which the partner uploads to (in as many requests as it
likes, resuming after a failure). The bucket notification then ingests the object.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from trackscan.api.errors import ApiError
from trackscan.api.validation import UPLOAD_FIELDS, invalid, object_uri

# Reads from the request in chunks of this size; the blob store writes its own chunks.
BODY_BUFFER_BYTES = 1 << 20
# Opens a resumable upload session: (URI, size in bytes, content type, origin or None) -> session URL.
SessionStarter = Callable[[str, int, str, "str | None"], str]
AUDIO_TYPE_PREFIXES = ("audio/", "application/octet-stream")
# A media type as GCS stores it (sent on as a header): printable ASCII only, so no CR, LF, NUL
# or character outside Latin-1 can reach a header; RFC 6838 caps each name at 127 characters.
MEDIA_TYPE = re.compile(r"(audio/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}|application/octet-stream)(;[ -~]{1,200})?")


class _BoundedBody(io.RawIOBase):
    """The request body, read as it arrives; more than ``limit_bytes`` raises a 413 ApiError.

    The error interrupts the blob store's write, which then leaves no object behind.
    """

    def __init__(self, stream: IO[bytes], limit_bytes: int) -> None:
        super().__init__()
        self._stream = stream
        self._limit_bytes = limit_bytes
        self._read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        self._read_bytes += len(data)
        if self._read_bytes > self._limit_bytes:
            # "over", not the size: the body is read only up to one chunk past the limit.
            raise ApiError(413, "PAYLOAD_TOO_LARGE", f"The file is over the limit of {self._limit_bytes} bytes.")
        buffer[: len(data)] = data
        return len(data)

    def tell(self) -> int:
        return self._read_bytes


def bounded_body(stream: IO[bytes], limit_bytes: int) -> io.BufferedReader[_BoundedBody]:
    """The request body as a reader whose ``read(n)`` returns n bytes until the end.

    A short read must mean the end: GCS's resumable upload takes it for the last chunk.

    Raises:
        ApiError: 400 for an empty body (raised here, before anything is stored).
    """
    reader = io.BufferedReader(_BoundedBody(stream, limit_bytes), BODY_BUFFER_BYTES)
    if not reader.peek(1):
        raise invalid("The upload body is empty.")
    return reader


@dataclass(frozen=True)
class UploadRequest:
    """What a partner asks to upload: the object name under its prefix, the size and the type."""

    filename: str
    size_bytes: int
    content_type: str


def upload_request(body: Any, max_file_bytes: int) -> UploadRequest:
    """The checked fields of a ``POST /v1/uploads`` body.

    Raises:
        ApiError: 400 for a malformed body, 413 when the size is over the limit.
    """
    if not isinstance(body, dict):
        raise invalid('The body must be a JSON object: {"filename": ..., "size_bytes": ...}.')
    unknown = sorted(set(body) - UPLOAD_FIELDS)
    if unknown:
        raise invalid(f"Unknown fields: {', '.join(unknown)}."[:200])
    filename, size = body.get("filename"), body.get("size_bytes")
    if not isinstance(filename, str) or not filename:
        raise invalid("filename must be a non-empty string: the object name under your prefix.")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise invalid("size_bytes must be the file's size: a whole number of at least 1.")
    if size > max_file_bytes:
        raise ApiError(413, "PAYLOAD_TOO_LARGE", f"The file is over the limit of {max_file_bytes} bytes.")
    content_type = body.get("content_type", "application/octet-stream")
    if not isinstance(content_type, str) or not MEDIA_TYPE.fullmatch(content_type):
        raise invalid("content_type must be a media type audio/* or application/octet-stream, in printable ASCII.")
    return UploadRequest(filename, size, content_type)


def start_upload(
    starter: SessionStarter | None,
    exists: Callable[[str], bool],
    prefix: str,
    request: UploadRequest,
    origin: str | None,
) -> tuple[str, str]:
    """(source URI, session URL) of a new resumable upload session for the request's object.

    Raises:
        ApiError: 501 where the blob store has no upload sessions (the local folder), 400 or 403
            for a bad name, 409 when the object exists (the session would fail at its end).
    """
    if starter is None:
        raise ApiError(501, "UNIMPLEMENTED", "This deployment takes audio in the body of POST /v1/tracks only.")
    uri = object_uri(prefix, request.filename, "filename")
    if exists(uri):
        raise ApiError(409, "ALREADY_EXISTS", f"{uri} already exists; choose another filename.")
    return uri, starter(uri, request.size_bytes, request.content_type, origin)
