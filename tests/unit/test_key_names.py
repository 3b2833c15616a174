import pytest

from tests.music_fixtures import KEY_CASES, key_cadence
from trackscan.audio.descriptors import combine, segment_descriptors
from trackscan.audio.front_end import to_model_rate
from trackscan.domain.audio_features import audio_features
from trackscan.domain.key_names import key_name, parse_key, respelled
from trackscan.domain.results import TrackResult
from trackscan.domain.tracks import TrackRecord, TrackState, new_record


def test_key_name_spells_each_key_by_its_signature_when_named():
    majors = [key_name(tonic, "major") for tonic in range(12)]
    minors = [key_name(tonic, "minor") for tonic in range(12)]
    assert majors == [
        "C major",
        "Db major",
        "D major",
        "Eb major",
        "E major",
        "F major",
        "F# major",
        "G major",
        "Ab major",
        "A major",
        "Bb major",
        "B major",
    ]
    assert minors == [
        "C minor",
        "C# minor",
        "D minor",
        "Eb minor",
        "E minor",
        "F minor",
        "F# minor",
        "G minor",
        "G# minor",
        "A minor",
        "Bb minor",
        "B minor",
    ]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("A# major", (10, "major")),
        ("Bb major", (10, "major")),
        ("B♭ major", (10, "major")),
        ("D# minor", (3, "minor")),
        ("Eb minor", (3, "minor")),
        ("C minor", (0, "minor")),
        ("Cb major", (11, "major")),
    ],
)
def test_parse_key_reads_sharps_and_flats_alike_when_spelled_either_way(name, expected):
    assert parse_key(name) == expected


@pytest.mark.parametrize("name", ["H major", "C dorian", "C", "", "C## major", "Bb  major"])
def test_parse_key_refuses_the_name_when_it_is_not_a_key(name):
    with pytest.raises(ValueError, match="not a key name"):
        parse_key(name)


def test_respelled_names_every_key_the_same_way_when_written_with_sharps():
    assert [respelled(n) for n in ("A# major", "D# minor", "C# major", "G# major", None)] == [
        "Bb major",
        "Eb minor",
        "Db major",
        "Ab major",
        None,
    ]


def test_track_record_reads_a_stored_sharp_key_in_the_conventional_spelling_when_loaded():
    result = TrackResult({"mtt": {}, "msd": {}}, [], 120.0, "A# major", -14.0, 60.0, [0.0])
    data = {
        **new_record("gs://b/p/a.ogg", "1", "p", "ingest").to_dict(),
        "state": "DONE",
        "result": {**result.__dict__, "key": "A# major"},
    }
    assert TrackRecord.from_dict(data).result.key == "Bb major"  # type: ignore[union-attr]


def test_audio_features_keep_the_pitch_class_number_when_the_key_is_respelled():
    result = TrackResult({"mtt": {}, "msd": {}}, [], 120.0, "D# minor", -14.0, 60.0, [0.0] * 200)
    record = new_record("gs://b/p/a.ogg", "1", "p", "ingest")
    done = TrackRecord(**{**record.__dict__, "state": TrackState.DONE, "result": result})
    view = audio_features(done)
    assert view is not None and (result.key, view.key, view.mode) == ("Eb minor", 3, 0)


def test_key_estimate_is_spelled_conventionally_when_the_cadence_is_in_a_flat_key():
    rate = 22_050
    flat_keys = [case for case in KEY_CASES if case.name in ("Bb major", "Eb minor")]
    for case in flat_keys:
        samples = key_cadence(case, 8.0, rate)[None, :]
        assert combine([segment_descriptors(samples, rate, to_model_rate(samples, rate))]).key == case.name
