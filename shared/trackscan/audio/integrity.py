"""Is the file whole? Checks of the container that FFmpeg's lenient demuxers skip.

A file cut short often decodes without error: an Ogg stream's length is read from its last
page, a WAV's from the file size, so a cut copy just looks shorter. These checks read the
container's own bookkeeping instead and say TRUNCATED.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from trackscan.domain.errors import BadAudioError

OGG_CAPTURE = b"OggS"
OGG_HEADER_BYTES = 27
OGG_END_OF_STREAM = 0x04
# The largest Ogg page: 27 header bytes, 255 lacing values, 255 segments of 255 bytes.
OGG_MAX_PAGE_BYTES = OGG_HEADER_BYTES + 255 + 255 * 255
WAV_HEADER_SCAN_BYTES = 1 << 16


def check_whole(reader: BinaryIO, container_format: str) -> None:
    """Raises TRUNCATED when the container's own bookkeeping shows the file was cut short.

    Raises:
        BadAudioError: TRUNCATED.
    """
    formats = set(container_format.split(","))
    if "ogg" in formats and not _ogg_ends_cleanly(reader):
        raise BadAudioError("TRUNCATED", "The Ogg stream has no complete end-of-stream page: the file was cut short.")
    if "wav" in formats:
        declared, present = _wav_data_bytes(reader)
        if declared is not None and present < declared:
            raise BadAudioError(
                "TRUNCATED",
                f"The WAV header declares {declared} bytes of audio; the file holds {present}: it was cut short.",
            )


def at_end(reader: BinaryIO) -> bool:
    """Whether the demuxer has read the file to its last byte (a decode error there is a cut)."""
    position = reader.tell()
    size = reader.seek(0, 2)
    reader.seek(position)
    return position >= size


def _ogg_ends_cleanly(reader: BinaryIO) -> bool:
    size = reader.seek(0, 2)
    start = max(0, size - OGG_MAX_PAGE_BYTES)
    reader.seek(start)
    tail = reader.read()
    reader.seek(0)
    offset = tail.rfind(OGG_CAPTURE)
    while offset >= 0:
        page = tail[offset:]
        if len(page) >= OGG_HEADER_BYTES:
            segments = page[26]
            lacing = page[OGG_HEADER_BYTES : OGG_HEADER_BYTES + segments]
            complete = len(lacing) == segments and len(page) == OGG_HEADER_BYTES + segments + sum(lacing)
            if complete:
                return bool(page[5] & OGG_END_OF_STREAM)
        # "OggS" inside packet data, or a page cut mid-way: look at the page before it.
        offset = tail.rfind(OGG_CAPTURE, 0, offset)
    return False


def _wav_data_bytes(reader: BinaryIO) -> tuple[int | None, int]:
    """(bytes the data chunk declares, bytes present after its header); (None, 0) when not found."""
    size = reader.seek(0, 2)
    reader.seek(0)
    head = reader.read(WAV_HEADER_SCAN_BYTES)
    reader.seek(0)
    if head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
        return None, 0
    offset = 12
    while offset + 8 <= len(head):
        chunk, length = head[offset : offset + 4], struct.unpack("<I", head[offset + 4 : offset + 8])[0]
        if chunk == b"data":
            # 0xFFFFFFFF: a streamed or RF64 file that does not declare its length here.
            return (None, 0) if length == 0xFFFFFFFF else (length, size - offset - 8)
        offset += 8 + length + (length & 1)
    return None, 0
