"""UploadReceived from Pub/Sub, which anyone allowed to publish to the ingest topic could send: held to
the rules of a bucket notification, with `force` refused and every field of its declared type."""

from __future__ import annotations

import base64
import json

import pytest

from trackscan.domain.config import Config
from trackscan.domain.errors import BadMessageError, RejectedEventError
from trackscan.domain.messages import FeaturesReady, SegmentPlanned, UploadReceived, from_json, to_json
from trackscan.pipeline.deliveries import delivery_from_push, message_of

CONFIG = Config(ingest_bucket_name="ingest", partners="acme,beta")


def _pushed(data: bytes):
    envelope = {
        "message": {
            "data": base64.b64encode(data).decode(),
            "attributes": {"kind": "upload-received"},
            "messageId": "7",
        }
    }
    return delivery_from_push(envelope)


def _upload_json(**changes: object) -> bytes:
    fields = {
        "kind": "upload-received",
        "source_uri": "gs://ingest/acme/song #1?.flac",
        "generation": "17",
        "size_bytes": 1234,
        "partner": "acme",
        **changes,
    }
    return json.dumps(fields).encode()


def test_message_of_accepts_an_upload_when_it_is_an_ingest_object_of_its_partner():
    expected = UploadReceived("gs://ingest/acme/song #1?.flac", "17", 1234, "acme")
    assert message_of(_pushed(to_json(expected).encode()), CONFIG) == expected


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"force": True}, "force is refused"),
        ({"source_uri": "gs://elsewhere/acme/a.flac"}, "not the ingest bucket"),
        ({"source_uri": "gs://ingest/zeta/a.flac", "partner": "zeta"}, "not a registered partner"),
        ({"source_uri": "gs://ingest/a.flac"}, "not under a partner prefix"),
        ({"partner": "beta"}, "names partner 'beta' for 'acme'"),
        ({"source_uri": "file:///etc/passwd"}, "not a gs://bucket/object URI"),
    ],
    ids=["forced", "other-bucket", "unknown-partner", "no-prefix", "partner-mismatch", "file-uri"],
)
def test_message_of_rejects_an_upload_with_a_reason_when_a_notification_would_be_refused(changes, reason):
    with pytest.raises(RejectedEventError, match=reason):
        message_of(_pushed(_upload_json(**changes)), CONFIG)


@pytest.mark.parametrize(
    "changes",
    [
        {"generation": "abc"},
        {"generation": "1#2"},
        {"generation": "²"},
        {"generation": 17},
        {"size_bytes": "1234"},
        {"size_bytes": True},
        {"source_uri": ["gs://ingest/acme/a"]},
        {"force": "yes"},
        {"partner": None},
    ],
    ids=[
        "generation-abc",
        "generation-hash",
        "generation-superscript",
        "generation-int",
        "size-text",
        "size-bool",
        "uri-list",
        "force-text",
        "partner-null",
    ],
)
def test_message_of_raises_bad_message_when_an_upload_field_has_the_wrong_type(changes):
    with pytest.raises(BadMessageError):
        message_of(_pushed(_upload_json(**changes)), CONFIG)


@pytest.mark.parametrize(
    "message",
    [
        SegmentPlanned("t1", "gs://ingest/acme/a.flac#17", 0, 1, 0, 60),  # whole seconds, as another encoder writes
        FeaturesReady("t1", 0, 1, "gs://work/t1/features/00000.npz"),
    ],
)
def test_from_json_accepts_a_whole_number_when_the_field_is_a_float(message):
    assert from_json(to_json(message)) == message


def test_from_json_raises_value_error_when_a_float_field_is_text():
    data = json.loads(to_json(SegmentPlanned("t1", "gs://i/a#1", 0, 1, 0.0, 60.0)))
    with pytest.raises(ValueError, match="start_s"):
        from_json(json.dumps({**data, "start_s": "0"}))
