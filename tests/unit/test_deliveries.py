import base64
import json

import pytest

from trackscan.deliveries import delivery_from_push, message_of
from trackscan.errors import BadMessageError
from trackscan.messages import SegmentPlanned, UploadReceived, to_json


def _push(data: bytes, attributes: dict[str, str], attempt: int | None = None) -> dict:
    envelope = {
        "message": {"data": base64.b64encode(data).decode(), "attributes": attributes, "messageId": "42"},
        "subscription": "projects/p/subscriptions/s",
    }
    if attempt is not None:
        envelope["deliveryAttempt"] = attempt
    return envelope


def _notification(name: str, event_type: str = "OBJECT_FINALIZE") -> dict:
    attributes = {"eventType": event_type, "bucketId": "ingest", "objectId": name, "objectGeneration": "17"}
    return _push(json.dumps({"name": name, "size": "1234"}).encode(), attributes, attempt=3)


def test_message_from_push_builds_an_upload_when_a_finalize_notification_arrives():
    pushed = delivery_from_push(_notification("acme/album/song.mp3"))
    assert message_of(pushed) == UploadReceived("gs://ingest/acme/album/song.mp3", "17", 1234, "acme")
    assert pushed.delivery_attempt == 3


@pytest.mark.parametrize(
    "envelope",
    [_notification("acme/song.mp3", "OBJECT_DELETE"), _notification("no-partner-prefix.mp3")],
    ids=["delete-event", "outside-partner-prefix"],
)
def test_message_from_push_ignores_the_event_when_it_is_not_a_partner_upload(envelope):
    assert message_of(delivery_from_push(envelope)) is None


def test_message_from_push_parses_a_pipeline_message_when_published_by_a_step():
    message = SegmentPlanned("t1", "gs://ingest/acme/a.mp3#17", 0, 2, 0.0, 60.0)
    assert message_of(delivery_from_push(_push(to_json(message).encode(), {"kind": message.kind}))) == message


@pytest.mark.parametrize(
    "envelope",
    [{}, {"message": "nope"}, {"message": {"data": "%%%not base64"}}],
    ids=["empty", "not-an-object", "bad-base64"],
)
def test_pushed_message_raises_bad_message_when_the_envelope_is_malformed(envelope):
    with pytest.raises(BadMessageError):
        delivery_from_push(envelope)


def test_message_from_push_raises_bad_message_when_the_data_is_not_a_message():
    with pytest.raises(BadMessageError):
        message_of(delivery_from_push(_push(b"{}", {})))
