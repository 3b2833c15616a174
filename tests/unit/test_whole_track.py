"""The whole-track unit of work: ingest tags a short track itself, with the segment chain's code."""

from dataclasses import replace

import pytest

from tests.audio_fixtures import bytes_file, music_like, truncated_copy, write_audio
from tests.pipeline_fixtures import make_deps, run_to_completion, upload
from trackscan.adapters.audio_decoders import InProcessDecoder
from trackscan.adapters.local_blobs import FolderBlobStore
from trackscan.domain.messages import TrackFinished, UploadReceived
from trackscan.domain.track_ids import track_id_for
from trackscan.domain.tracks import TrackState
from trackscan.pipeline import whole_track

SEGMENT_S = 5.0  # a 16 s song has three segments (5, 5 and 6 s)
SONG_S = 16.0


class ReadCountingBlobs(FolderBlobStore):
    """A folder blob store that counts the opens of each URI, to show how often the source is read."""

    def __init__(self) -> None:
        super().__init__()
        self.opens: dict[str, int] = {}

    def open_read(self, uri, generation=None):
        self.opens[uri] = self.opens.get(uri, 0) + 1
        return super().open_read(uri, generation)


def _deps(home, whole_track_max_s: float, **changes):
    deps = make_deps(home, segment_s=SEGMENT_S, whole_track_max_s=whole_track_max_s, **changes)
    blobs = ReadCountingBlobs()
    return replace(deps, blobs=blobs, decoder=InProcessDecoder(blobs))


def _kinds(messages) -> list[type]:
    return [type(m) for m in messages]


def _record(deps, message: UploadReceived):
    return deps.tracks.get(track_id_for(message.source_uri, message.generation))


@pytest.mark.parametrize("suffix", [".flac", ".mp3"])
def test_whole_track_gives_the_segment_chain_s_result_when_the_track_fits_one_unit(tmp_path, suffix):
    song = write_audio(tmp_path / f"song{suffix}", music_like(SONG_S))
    event = upload(song)
    chain = _deps(tmp_path / "chain", whole_track_max_s=0)
    whole = _deps(tmp_path / "whole", whole_track_max_s=60)
    run_to_completion(chain, event)
    handled = run_to_completion(whole, event)
    record = _record(whole, event)
    assert record.state is TrackState.DONE
    # Exactly the chain's tags, descriptors and embedding: the same ranges decode the same samples.
    assert record.result == _record(chain, event).result
    assert record.segments_total == 3
    assert handled[:1] == [event] and _kinds(handled[1:]) == [TrackFinished], "no per-segment messages"
    assert [e.state for e in record.timeline] == ["RECEIVED", "DONE"]
    assert record.content_hash is not None


def test_whole_track_reads_the_source_once_and_writes_no_work_blobs(tmp_path):
    song = write_audio(tmp_path / "song.flac", music_like(SONG_S))
    event = upload(song)
    chain = _deps(tmp_path / "chain", whole_track_max_s=0)
    whole = _deps(tmp_path / "whole", whole_track_max_s=60)
    run_to_completion(chain, event)
    run_to_completion(whole, event)
    assert chain.blobs.opens[event.source_uri] == 4, "the chain: a probe and three segment decodes"
    assert whole.blobs.opens == {event.source_uri: 1}
    assert not any(path.is_file() for path in whole.config.work_dir.rglob("*"))


def test_longer_track_goes_through_the_segment_chain_when_it_exceeds_the_unit(tmp_path):
    song = write_audio(tmp_path / "song.flac", music_like(SONG_S))
    event = upload(song)
    deps = _deps(tmp_path / "home", whole_track_max_s=10)
    handled = run_to_completion(deps, event)
    record = _record(deps, event)
    assert record.state is TrackState.DONE
    assert [type(m).__name__ for m in handled].count("SegmentPlanned") == 3
    assert [e.state for e in record.timeline] == ["RECEIVED", "EXTRACTING", "INFERRING", "DONE"]


def test_large_file_goes_through_the_segment_chain_without_being_read_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(whole_track, "WHOLE_TRACK_MAX_BYTES", 1000)
    song = write_audio(tmp_path / "song.flac", music_like(SONG_S))
    event = upload(song)
    deps = _deps(tmp_path / "home", whole_track_max_s=60)
    handled = run_to_completion(deps, event)
    assert _record(deps, event).state is TrackState.DONE
    assert [type(m).__name__ for m in handled].count("SegmentPlanned") == 3


def test_whole_track_yields_one_result_when_the_event_is_delivered_three_times(tmp_path):
    song = write_audio(tmp_path / "song.flac", music_like(SONG_S))
    event = upload(song)
    once = _deps(tmp_path / "once", whole_track_max_s=60)
    run_to_completion(once, event)
    deps = _deps(tmp_path / "home", whole_track_max_s=60)
    run_to_completion(deps, event, event, event)
    record = _record(deps, event)
    assert [e.state for e in record.timeline].count("DONE") == 1
    assert deps.tagger.patches_seen == once.tagger.patches_seen, "the model ran once"
    assert deps.blobs.opens[event.source_uri] == 1, "the duplicates found the track DONE and read nothing"


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda d: bytes_file(d / "empty.mp3", b""), "EMPTY"),
        (lambda d: truncated_copy(write_audio(d / "whole.flac", music_like(SONG_S)), d / "cut.flac", 0.5), "TRUNCATED"),
    ],
    ids=["zero-byte", "truncated"],
)
def test_whole_track_fails_a_bad_file_with_its_code(tmp_path, make, code):
    event = upload(make(tmp_path))
    deps = _deps(tmp_path / "home", whole_track_max_s=60)
    run_to_completion(deps, event)
    record = _record(deps, event)
    assert record.state is TrackState.FAILED
    assert (record.error.code, record.error.step) == (code, "ingest")


def test_sandboxed_decoder_tags_a_track_whole_in_its_child(tmp_path):
    song = write_audio(tmp_path / "song.flac", music_like(SONG_S))
    event = upload(song)
    chain = _deps(tmp_path / "chain", whole_track_max_s=0)
    run_to_completion(chain, event)
    deps = make_deps(tmp_path / "home", sandboxed=True, segment_s=SEGMENT_S, whole_track_max_s=60)
    try:
        handled = run_to_completion(deps, event)
    finally:
        deps.decoder.close()
    assert handled[:1] == [event] and _kinds(handled[1:]) == [TrackFinished]
    assert _record(deps, event).result == _record(chain, event).result
