"""BlobStore on a local folder, addressed by file:// URIs."""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, BinaryIO

from trackscan.domain.file_uris import path_of, uri_of
from trackscan.domain.ports import BlobInfo, ListedObject, ObjectPage

# A streamed write holds this much in memory at a time.
COPY_CHUNK_BYTES = 1 << 20


class FolderBlobStore:
    """Blobs as files. Writes are create-only and atomic: a temporary file hard-linked into place.

    A folder keeps one version of a file: a generation (the mtime) is accepted and not checked,
    as before generations were passed, so a local rerun of a touched file still reads it.
    """

    def open_read(self, uri: str, generation: str | None = None) -> BinaryIO:
        """Opens the file; FileNotFoundError when it does not exist."""
        return path_of(uri).open("rb")

    def write_if_absent(self, uri: str, data: bytes | BinaryIO) -> bool:
        """Creates the file unless it exists, from bytes or a reader copied in chunks; True if this call created it."""
        target = path_of(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".tmp-", delete=False) as tmp:
            try:
                _write(tmp, data)
            except BaseException:
                os.unlink(tmp.name)  # a reader that failed (too large, disconnected) leaves nothing
                raise
        try:
            os.link(tmp.name, target)  # fails if the target exists: the first writer wins
            return True
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp.name)

    def stat(self, uri: str, generation: str | None = None) -> BlobInfo | None:
        """Size and modification time in ns (as the generation), or None when the file is absent."""
        try:
            stat = path_of(uri).stat()
        except FileNotFoundError:
            return None
        return BlobInfo(size_bytes=stat.st_size, generation=str(stat.st_mtime_ns))

    def content_hash(self, uri: str, generation: str | None = None) -> str | None:
        """The file's "sha256:<hex>", or None when the file is absent (files have one generation)."""
        try:
            with path_of(uri).open("rb") as reader:
                return f"sha256:{hashlib.file_digest(reader, 'sha256').hexdigest()}"
        except FileNotFoundError:
            return None

    def list_uris(self, prefix_uri: str) -> list[str]:
        """URIs of the files under the folder, sorted; half-written temporary files left out."""
        folder = path_of(prefix_uri)
        if not folder.is_dir():
            return []
        return sorted(uri_of(p) for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".tmp-"))

    def delete_prefix(self, prefix_uri: str) -> int:
        """Deletes the folder; returns how many files it held."""
        folder = path_of(prefix_uri)
        if not folder.is_dir():
            return 0
        count = sum(1 for p in folder.rglob("*") if p.is_file())
        shutil.rmtree(folder, ignore_errors=True)
        return count

    def delete(self, uris: list[str]) -> None:
        """Deletes the files (a missing one is no error) and the folders they leave empty.

        Only each file's folder and the one above it: a track's work folders, <track>/features/.
        """
        folders: set[Path] = set()
        for uri in uris:
            path = path_of(uri)
            path.unlink(missing_ok=True)
            folders.update((path.parent, path.parent.parent))
        for folder in sorted(folders, key=lambda f: len(f.parts), reverse=True):  # the deepest first
            with contextlib.suppress(OSError):  # not empty, or gone
                folder.rmdir()

    def list_page(self, prefix_uri: str, page_token: str | None, max_results: int) -> ObjectPage:
        """Files under the folder in path order; the token is the last path of the page."""
        folder = path_of(prefix_uri)
        files = (
            sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".tmp-"))
            if folder.is_dir()
            else []
        )
        names = [str(p.relative_to(folder)) for p in files]
        start = bisect.bisect_right(names, page_token) if page_token else 0
        chosen = files[start : start + max_results]
        more = start + max_results < len(files)
        return ObjectPage([_listed(p) for p in chosen], names[start + max_results - 1] if more else None)


def _listed(path: Path) -> ListedObject:
    stat = path.stat()
    created = datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(timespec="milliseconds")
    return ListedObject(uri_of(path), str(stat.st_mtime_ns), stat.st_size, created)


def _write(target: IO[bytes], data: bytes | BinaryIO) -> None:
    if isinstance(data, bytes | bytearray):
        target.write(data)
    else:
        shutil.copyfileobj(data, target, COPY_CHUNK_BYTES)
