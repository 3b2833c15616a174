"""Checks of what a partner sends; each failure is a 4xx ApiError, never an exception that escapes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trackscan.api.errors import ApiError
from trackscan.tracks import TrackState

TRACK_ID = re.compile(r"t[0-9a-f]{24}")
# One object name under the partner's prefix: no folders, no dot-dot, nothing to escape in a URI.
FILENAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
# GCS object names are at most 1024 bytes; a longer URI cannot name an object.
MAX_URI_BYTES = 1100
PAGE_SIZE = re.compile(r"[0-9]{1,4}")
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
SUBMIT_FIELDS = {"source_uri"}


@dataclass(frozen=True)
class PageRequest:
    """One page of the track list: an optional state filter, a size and the cursor."""

    state: TrackState | None
    page_size: int
    page_token: str | None
    source: str | None = None  # a source URI, or a bare file name


def invalid(message: str) -> ApiError:
    """A 400 INVALID_ARGUMENT reply with the message, for the caller to raise."""
    return ApiError(400, "INVALID_ARGUMENT", message)


def partner_prefix(ingest_root_uri: str, partner: str) -> str:
    """The only prefix a partner may submit from: <ingest root>/<partner>/."""
    return f"{ingest_root_uri.rstrip('/')}/{partner}/"


def submit_source_uri(body: Any, prefix: str) -> str:
    """The source URI of a JSON submit body, checked against the partner's prefix.

    Raises:
        ApiError: 400 for a malformed body or URI, 403 for a URI outside the prefix.
    """
    if not isinstance(body, dict):
        raise invalid('The body must be a JSON object: {"source_uri": "gs://..."}.')
    unknown = sorted(set(body) - SUBMIT_FIELDS)
    if unknown:
        raise invalid(f"Unknown fields: {', '.join(unknown)}.")
    uri = body.get("source_uri")
    if not isinstance(uri, str) or not uri:
        raise invalid("source_uri must be a non-empty string.")
    return source_uri(uri, prefix)


def source_uri(uri: str, prefix: str) -> str:
    """Checks that a URI names one object under the prefix and nothing else."""
    scheme = prefix.split("://", 1)[0]
    # Printable only: control characters and lone surrogates (JSON allows "\ud800") would
    # fail later, in a file name or a database write, as a 500.
    if any(c in "#?\\" or not c.isprintable() for c in uri):
        raise invalid("source_uri must be printable, without '#', '?' or backslashes.")
    if not uri.startswith(f"{scheme}://") or len(uri.encode()) > MAX_URI_BYTES:
        raise invalid(f"source_uri must be a {scheme}:// URI of at most {MAX_URI_BYTES} bytes.")
    if not uri.startswith(prefix):
        raise ApiError(403, "PERMISSION_DENIED", f"You may submit objects under {prefix} only.")
    # Dot segments would leave the prefix once a local path or a proxy resolves them.
    if any(part in ("", ".", "..") for part in uri[len(prefix):].split("/")):
        raise invalid("source_uri must name an object: no empty, '.' or '..' path segments.")
    return uri


def upload_filename(value: str | None) -> str:
    """The object name of an uploaded body."""
    if value is None:
        raise invalid("An upload needs a filename query parameter, e.g. ?filename=song.flac.")
    if not FILENAME.fullmatch(value):
        raise invalid("filename: 1-200 letters, digits, '.', '_' or '-', beginning with a letter or digit.")
    return value


def track_id(value: str) -> str | None:
    """The id if it has the form of a track id, else None (the caller answers 404)."""
    return value if TRACK_ID.fullmatch(value) else None


def page_request(args: Mapping[str, str]) -> PageRequest:
    """The state filter, page size and page token of a list request."""
    unknown = sorted(set(args) - {"state", "page_size", "page_token", "source"})
    if unknown:
        raise invalid(f"Unknown query parameters: {', '.join(unknown)}.")
    return PageRequest(
        _state(args.get("state")), _page_size(args.get("page_size")), _token(args.get("page_token")),
        _source(args.get("source")),
    )


def _source(value: str | None) -> str | None:
    if value is not None and (not value or not value.isprintable() or len(value.encode()) > MAX_URI_BYTES):
        raise invalid(f"source must be a printable URI or file name of at most {MAX_URI_BYTES} bytes.")
    return value


def _state(value: str | None) -> TrackState | None:
    if value is None:
        return None
    try:
        return TrackState(value.upper())
    except ValueError:
        raise invalid(f"state must be one of {', '.join(s.value for s in TrackState)}.") from None


def _page_size(value: str | None) -> int:
    if value is None:
        return DEFAULT_PAGE_SIZE
    # A regex, not str.isdigit: that accepts digits int() cannot parse, such as '²'.
    if not PAGE_SIZE.fullmatch(value) or not 1 <= int(value) <= MAX_PAGE_SIZE:
        raise invalid(f"page_size must be an integer from 1 to {MAX_PAGE_SIZE}.")
    return int(value)


def _token(value: str | None) -> str | None:
    if value is None:
        return None
    if not TRACK_ID.fullmatch(value):
        raise invalid("page_token is not a token this API returned.")
    return value
