import base64
import json

import pytest

from tests.pipeline_fixtures import make_deps
from trackscan.domain.config import Config
from trackscan.domain.errors import BadMessageError, PermanentError, RejectedEventError
from trackscan.domain.messages import SegmentPlanned, UploadReceived, to_json
from trackscan.pipeline.deliveries import delivery_from_push, keep_rejected, message_of

CONFIG = Config(ingest_bucket_name="ingest", partners="acme,beta")


def _push(data: bytes, attributes: dict[str, str], attempt: int | str | None = None) -> dict:
    envelope = {
        "message": {"data": base64.b64encode(data).decode(), "attributes": attributes, "messageId": "42"},
        "subscription": "projects/p/subscriptions/s",
    }
    if attempt is not None:
        envelope["deliveryAttempt"] = attempt
    return envelope


def _notification(
    name: str,
    event_type: str = "OBJECT_FINALIZE",
    bucket: str = "ingest",
    size: object = "1234",
    generation: str = "17",
) -> dict:
    attributes = {"eventType": event_type, "bucketId": bucket, "objectId": name, "objectGeneration": generation}
    return _push(json.dumps({"name": name, "size": size}).encode(), attributes, attempt=3)


def test_message_from_push_builds_an_upload_when_a_finalize_notification_arrives():
    delivery = delivery_from_push(_notification("acme/album/song.mp3"))
    assert message_of(delivery, CONFIG) == UploadReceived("gs://ingest/acme/album/song.mp3", "17", 1234, "acme")
    assert delivery.delivery_attempt == 3


def test_message_from_push_ignores_the_event_when_it_is_not_a_finished_upload():
    assert message_of(delivery_from_push(_notification("acme/song.mp3", "OBJECT_DELETE")), CONFIG) is None


@pytest.mark.parametrize(
    ("envelope", "reason"),
    [
        (_notification("no-partner-prefix.mp3"), "not under a partner prefix"),
        (_notification("Acme/song.mp3"), "'Acme' is not a registered partner"),
        (_notification("zeta/song.mp3"), "'zeta' is not a registered partner"),
        (_notification("acme/song.mp3", bucket="elsewhere"), "gs://elsewhere is not the ingest bucket"),
    ],
    ids=["outside-partner-prefix", "partner-case-variant", "unknown-partner", "other-bucket"],
)
def test_message_from_push_rejects_the_upload_with_a_reason_when_it_is_not_ours(envelope, reason):
    with pytest.raises(RejectedEventError, match=reason):
        message_of(delivery_from_push(envelope), CONFIG)


def test_message_from_push_accepts_any_partner_when_no_registry_is_configured():
    delivery = delivery_from_push(_notification("anyone/song.mp3"))
    assert message_of(delivery, Config(ingest_bucket_name="ingest")).partner == "anyone"


@pytest.mark.parametrize(
    "envelope",
    [
        _notification("acme/a.mp3", size="abc"),
        _notification("acme/a.mp3", size=[1]),
        _notification("acme/a.mp3", generation="x17"),
        _push(
            b"not json",
            {"eventType": "OBJECT_FINALIZE", "bucketId": "ingest", "objectId": "acme/a", "objectGeneration": "1"},
        ),
        _push(b"{}", {"eventType": "OBJECT_FINALIZE", "bucketId": "ingest"}),
    ],
    ids=["size-abc", "size-list", "generation-not-numeric", "data-not-json", "missing-attributes"],
)
def test_message_from_push_raises_bad_message_when_a_notification_field_has_the_wrong_shape(envelope):
    with pytest.raises(BadMessageError):
        message_of(delivery_from_push(envelope), CONFIG)


def test_message_from_push_parses_a_pipeline_message_when_published_by_a_step():
    message = SegmentPlanned("t1", "gs://ingest/acme/a.mp3#17", 0, 2, 0.0, 60.0)
    assert message_of(delivery_from_push(_push(to_json(message).encode(), {"kind": message.kind})), CONFIG) == message


@pytest.mark.parametrize(
    "envelope",
    [{}, {"message": "nope"}, {"message": {"data": "%%%not base64"}}, _push(b"{}", {}, attempt="three")],
    ids=["empty", "not-an-object", "bad-base64", "attempt-not-numeric"],
)
def test_pushed_message_raises_bad_message_when_the_envelope_is_malformed(envelope):
    with pytest.raises(BadMessageError):
        delivery_from_push(envelope)


def test_message_from_push_raises_bad_message_when_the_data_is_not_a_message():
    with pytest.raises(BadMessageError):
        message_of(delivery_from_push(_push(b"{}", {})), CONFIG)


def test_keep_rejected_records_a_refused_event_once_when_it_is_delivered_twice(tmp_path):
    deps = make_deps(tmp_path)
    delivery = delivery_from_push(_notification("zeta/song.mp3"))
    for _ in range(2):
        with pytest.raises(PermanentError) as refused:
            message_of(delivery, CONFIG)
        keep_rejected(deps.rejections, refused.value.message, delivery.data, delivery.attributes, delivery.message_id)
    (event,) = deps.tracks.rejected(10)
    assert event.subject == "gs://ingest/zeta/song.mp3"
    assert "'zeta' is not a registered partner" in event.reason
