import pytest

from trackscan.domain.messages import FeaturesReady, SegmentPlanned, TrackInferred, UploadReceived, from_json, to_json


@pytest.mark.parametrize(
    "message",
    [
        UploadReceived("gs://b/p1/a.mp3", "1700000000000000", 1234, "p1"),
        SegmentPlanned("t1", "gs://b/p1/a.mp3", 2, 5, 120.0, 60.0),
        FeaturesReady("t1", 2, 5, "gs://w/t1/features/00002.npz"),
        TrackInferred("t1", 5),
    ],
)
def test_from_json_round_trips_when_given_to_json_output(message):
    assert from_json(to_json(message)) == message


@pytest.mark.parametrize("data", ['{"kind": "nope"}', '{"kind": "track-inferred"}', "[]"])
def test_from_json_raises_value_error_when_the_message_is_malformed(data):
    with pytest.raises(ValueError):
        from_json(data)
