"""Turning command-line paths into upload events."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from trackscan.domain.file_uris import uri_of
from trackscan.domain.messages import UploadReceived
from trackscan.runtimes.bootstrap import local_blob_store

AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".mp4", ".aif", ".aiff"}


@dataclass(frozen=True)
class FoundFiles:
    """What the command-line paths hold."""

    audio: list[Path]  # to tag, each once
    skipped: list[Path]  # files inside folders whose names are not audio
    missing: list[Path]  # paths that do not exist


def audio_files(paths: list[Path]) -> FoundFiles:
    """Every audio file under the paths, by suffix; a file named explicitly is always taken."""
    found: list[Path] = []
    skipped: list[Path] = []
    missing = [path for path in paths if not path.exists()]
    for path in (p for p in paths if p.exists()):
        if not path.is_dir():
            found.append(path)
            continue
        files = sorted(p for p in path.rglob("*") if p.is_file())
        found += [p for p in files if p.suffix.lower() in AUDIO_SUFFIXES]
        skipped += [p for p in files if p.suffix.lower() not in AUDIO_SUFFIXES]
    return FoundFiles(list(dict.fromkeys(p.resolve() for p in found)), skipped, missing)


def upload_event(path: Path, force: bool = False) -> UploadReceived:
    """The local equivalent of a GCS notification; the modification time plays the generation."""
    uri = uri_of(path)
    info = local_blob_store().stat(uri)
    if info is None:
        raise FileNotFoundError(path)
    return UploadReceived(source_uri=uri, generation=info.generation, size_bytes=info.size_bytes, force=force)
