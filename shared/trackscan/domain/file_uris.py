"""file:// URIs for local paths: how the embedded default names sources and work blobs."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse


def path_of(uri: str) -> Path:
    """The local path of a file:// URI.

    Raises:
        ValueError: not a file:// URI.
    """
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        raise ValueError(f"not a file:// URI: {uri}")
    return Path(unquote(parsed.path))


def uri_of(path: Path) -> str:
    """The file:// URI of a path (made absolute)."""
    return path.resolve().as_uri()
