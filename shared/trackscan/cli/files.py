"""Turning command-line paths into upload events."""

from __future__ import annotations

from pathlib import Path

from trackscan.adapters.local_blobs import FolderBlobStore, uri_of
from trackscan.messages import UploadReceived

AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".mp4", ".aif", ".aiff"}


def audio_files(paths: list[Path]) -> list[Path]:
    """Every audio file under the paths, by suffix; a file named explicitly is always taken."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
        else:
            found.append(path)
    return list(dict.fromkeys(p.resolve() for p in found))


def upload_event(path: Path, force: bool = False) -> UploadReceived:
    """The local equivalent of a GCS notification; the modification time plays the generation."""
    uri = uri_of(path)
    info = FolderBlobStore().stat(uri)
    if info is None:
        raise FileNotFoundError(path)
    return UploadReceived(source_uri=uri, generation=info.generation, size_bytes=info.size_bytes, force=force)
