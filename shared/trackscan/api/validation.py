"""Checks of what a partner sends; each failure is a 4xx ApiError, never an exception that escapes."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import unquote

from werkzeug.datastructures import MultiDict

from trackscan.api.errors import ApiError
from trackscan.domain.file_uris import path_of, uri_of
from trackscan.domain.tracks import TrackState

TRACK_ID = re.compile(r"t[0-9a-f]{24}")
# GCS object names: 1 to 1,024 bytes of UTF-8 (cloud.google.com/storage/docs/objects#naming).
MAX_OBJECT_NAME_BYTES = 1024
# A file:// object is a file: each folder or file name within NAME_MAX of Linux file systems.
MAX_LOCAL_SEGMENT_BYTES = 255
# A first, cheap bound on a URI: the object name itself is checked exactly (object_uri). A
# file:// URI percent-encodes, up to three bytes per byte of a name, so this is above 3 x 1,024.
MAX_URI_BYTES = 4096
# A JSON body names one object: anything longer is not a submit.
MAX_JSON_BYTES = 64 << 10
PAGE_SIZE = re.compile(r"[0-9]{1,4}")
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
# A JSON number of more digits than this is no size or count of this API (and Python's own limit
# on integer conversion would otherwise speak for us).
MAX_NUMBER_DIGITS = 20
SUBMIT_FIELDS = {"source_uri"}
UPLOAD_FIELDS = {"filename", "size_bytes", "content_type"}
# The query parameters of each endpoint, each taken once; every other endpoint takes none.
QUERY_PARAMETERS: dict[str, frozenset[str]] = {
    "submit_track": frozenset({"filename"}),
    "list_tracks": frozenset({"state", "page_size", "page_token", "source"}),
    "similar_tracks": frozenset({"limit"}),
    "console.login": frozenset({"next"}),
    "console.index": frozenset({"state", "partner", "after"}),
    "console.search": frozenset({"q"}),
    "console.failed_csv": frozenset({"partner"}),
}


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


def check_query(endpoint: str | None, args: MultiDict[str, str]) -> None:
    """Refuses query parameters the endpoint does not take, and any given more than once.

    Raises:
        ApiError: 400 naming the unknown or repeated parameters.
    """
    if endpoint is None:  # no such route: the 404 says so
        return
    unknown = sorted(set(args) - QUERY_PARAMETERS.get(endpoint, frozenset()))
    if unknown:
        raise invalid(f"Unknown query parameters: {', '.join(unknown)}."[:200])
    repeated = sorted(name for name in args if len(args.getlist(name)) > 1)
    if repeated:
        raise invalid(f"Query parameters given more than once: {', '.join(repeated)}.")


def parse_json(data: bytes) -> Any:
    """The JSON value of a request body: an object's keys once each, numbers of sane length.

    Raises:
        ApiError: 400 when the body is not JSON, repeats a key, holds NaN or Infinity or a
            number too long for any field, or nests too deeply for the parser.
    """
    try:
        return json.loads(data, object_pairs_hook=_unique_keys, parse_constant=_no_constant, parse_int=_bounded_int)
    except json.JSONDecodeError as exc:  # UnicodeDecodeError is a ValueError, not a JSONDecodeError
        raise invalid(f"The body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}.") from None
    except UnicodeDecodeError:
        raise invalid("The body is not JSON: it is not UTF-8 text.") from None
    except RecursionError:
        raise invalid("The body nests too deeply to be a submit request.") from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        # json.loads would keep the last silently; a proxy or a log may have read the first.
        raise invalid(f"The body gives the field {', '.join(map(repr, repeated))} more than once."[:200])
    return dict(pairs)


def _no_constant(name: str) -> NoReturn:
    raise invalid(f"The body is not JSON: {name} is not a JSON number.")


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise invalid(f"The body holds a number of more than {MAX_NUMBER_DIGITS} digits; no field takes one.")
    return int(digits)


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
        raise invalid(f"Unknown fields: {', '.join(unknown)}."[:200])
    uri = body.get("source_uri")
    if not isinstance(uri, str) or not uri:
        raise invalid("source_uri must be a non-empty string.")
    return source_uri(uri, prefix)


def source_uri(uri: str, prefix: str) -> str:
    """The URI of the one object under the prefix that ``uri`` names.

    A gs:// object name is taken as GCS stores it: '#', '?', '%', spaces and any Unicode are
    part of the name. A file:// URI is percent-encoded (as ``trackscan run`` writes it); it is
    decoded before any check, so an encoded '..' or '/' cannot leave the prefix, and answered in
    its canonical form, so a track has one URI however it was spelled.
    """
    scheme = prefix.split("://", 1)[0]
    if not uri.startswith(f"{scheme}://") or len(uri.encode("utf-8", "surrogatepass")) > MAX_URI_BYTES:
        raise invalid(f"source_uri must be a {scheme}:// URI of at most {MAX_URI_BYTES} bytes.")
    _check_characters(uri, "source_uri")
    if not uri.startswith(prefix):
        raise ApiError(403, "PERMISSION_DENIED", f"You may submit objects under {prefix} only.")
    name = uri[len(prefix) :]
    if scheme == "file":
        name = _decoded(name)
    return object_uri(prefix, name, "source_uri")


def object_uri(prefix: str, name: str, field: str) -> str:
    """The URI of the object ``name`` (relative, '/' between folders) under the partner's prefix.

    Raises:
        ApiError: 400 for a name GCS or a file system cannot hold, or with '', '.' or '..'
            segments; 403 when a file:// name resolves (through a link) outside the prefix.
    """
    _check_characters(name, field)
    segments = name.split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        raise invalid(f"{field} must name an object: no empty, '.' or '..' path segments.")
    if not prefix.startswith("file://"):
        room = MAX_OBJECT_NAME_BYTES - len(prefix.split("/", 3)[3].encode())
        if len(name.encode()) > room:
            raise invalid(f"{field}: the object name under your prefix may hold at most {room} bytes.")
        return prefix + name
    if any(len(segment.encode()) > MAX_LOCAL_SEGMENT_BYTES for segment in segments):
        raise invalid(f"{field}: each folder or file name may hold at most {MAX_LOCAL_SEGMENT_BYTES} bytes.")
    root = path_of(prefix)
    path = root.joinpath(*segments)
    # Resolved, so a link inside the prefix cannot lead out of it.
    if not path.resolve().is_relative_to(root.resolve()):
        raise ApiError(403, "PERMISSION_DENIED", f"You may submit objects under {prefix} only.")
    return uri_of(path)


def _decoded(name: str) -> str:
    # Raw '#' or '?' in a file:// URI start its fragment or query: they would cut the path short.
    if "#" in name or "?" in name:
        raise invalid("A file:// source_uri percent-encodes '#' and '?' (as %23 and %3F).")
    try:
        return unquote(name, errors="strict")
    except UnicodeDecodeError:
        raise invalid("source_uri percent-encodes bytes that are not UTF-8.") from None


def _check_characters(text: str, field: str) -> None:
    # Control characters (CR and LF are refused by GCS) and lone surrogates, which JSON allows
    # ("\ud800") but no store can write, would fail later as a 500.
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in text):
        raise invalid(f"{field} must not hold control characters or lone surrogates.")


def upload_filename(value: str | None, prefix: str) -> str:
    """The URI an uploaded body is stored at: the filename (an object name) under the prefix."""
    if not value:
        raise invalid("An upload needs a filename query parameter, e.g. ?filename=song.flac.")
    return object_uri(prefix, value, "filename")


def track_id(value: str) -> str | None:
    """The id if it has the form of a track id, else None (the caller answers 404)."""
    return value if TRACK_ID.fullmatch(value) else None


def page_request(args: Mapping[str, str]) -> PageRequest:
    """The state filter, page size and page token of a list request (its names checked by check_query)."""
    return PageRequest(
        _state(args.get("state")),
        _page_size(args.get("page_size")),
        _token(args.get("page_token")),
        _source(args.get("source")),
    )


def _source(value: str | None) -> str | None:
    if value is not None and (not value or len(value.encode("utf-8", "surrogatepass")) > MAX_URI_BYTES):
        raise invalid(f"source must be a URI or file name of 1 to {MAX_URI_BYTES} bytes.")
    # Control characters are allowed: GCS lets an object name hold tab, CR, LF or NUL, and a
    # lookup stores nothing. Lone surrogates cannot be any stored name.
    if value is not None and any(unicodedata.category(c) == "Cs" for c in value):
        raise invalid("source must not hold lone surrogates.")
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
