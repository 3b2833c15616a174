"""The result event: its schema in the repo matches the message, and its id follows the state change."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from grpc_tools import protoc

from trackscan.domain.messages import TrackFinished, to_json
from trackscan.domain.result_events import DONE, FAILED, RETAGGED, result_event
from trackscan.domain.results import ModelInfo, TrackResult
from trackscan.domain.tracks import ErrorInfo, TrackRecord, TrackState

SCHEMA = Path(__file__).resolve().parents[2] / "terraform" / "schemas" / "track_finished.proto"


@pytest.fixture(scope="module")
def schema_message(tmp_path_factory) -> type:
    """The TrackFinished message class compiled from the repo's .proto by protoc."""
    out = tmp_path_factory.mktemp("proto") / "schema.pb"
    args = ["protoc", f"-I{SCHEMA.parent}", f"--descriptor_set_out={out}", SCHEMA.name]
    assert protoc.main(args) == 0, "protoc could not compile the schema"
    files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("trackscan.results.v1.TrackFinished"))


def _done(**changes: object) -> TrackRecord:
    result = TrackResult(
        tags={"mtt": {"rock": 0.25, "piano": 0.5}, "msd": {"jazz": 0.75}},
        top_tags=["piano", "jazz"],
        tempo_bpm=None,  # no answer: null in the event
        key="Bb major",
        loudness_lufs=-14.5,
        duration_s=61.0,
        embedding=[0.5] * 200,
        time_signature=3,
    )
    record = TrackRecord(
        "t" + "1" * 24,
        "gs://ingest/label/a.flac",
        "17",
        "label",
        TrackState.DONE,
        result=result,
        model=ModelInfo("musicnn", "ab" * 32, "openvino-bf16"),
        updated_at="2026-12-07T10:00:00.000+00:00",
    )
    return replace(record, **changes)


def test_the_schema_names_every_field_of_the_event_when_compared(schema_message):
    in_schema = {f.name for f in schema_message.DESCRIPTOR.fields}
    in_message = {"kind", *(f.name for f in dataclasses.fields(TrackFinished))}
    assert in_schema == in_message


@pytest.mark.parametrize("embedding", [False, True])
def test_done_events_parse_with_the_schema_when_json_encoded(schema_message, embedding):
    event = result_event(_done(), with_embedding=embedding)
    parsed = json_format.Parse(to_json(event), schema_message())  # unknown or mistyped fields raise
    assert parsed.type == DONE and parsed.key == "Bb major" and not parsed.HasField("tempo_bpm")
    assert parsed.time_signature == 3 and len(parsed.embedding) == (200 if embedding else 0)
    assert {(t.tag, t.score) for t in parsed.tags} == {("mtt.rock", 0.25), ("mtt.piano", 0.5), ("msd.jazz", 0.75)}


def test_failed_events_parse_with_the_schema_when_json_encoded(schema_message):
    record = _done(state=TrackState.FAILED, result=None, model=None, error=ErrorInfo("CORRUPT", "Not audio.", "ingest"))
    parsed = json_format.Parse(to_json(result_event(record)), schema_message())
    assert parsed.type == FAILED and parsed.error_code == "CORRUPT" and not parsed.tags and not parsed.HasField("key")


def test_the_event_id_is_one_per_state_change_when_built_again():
    record = _done()
    assert result_event(record).event_id == result_event(record).event_id
    redone = replace(record, updated_at="2026-12-08T09:00:00.000+00:00")  # a forced redo's new DONE
    assert result_event(redone).event_id != result_event(record).event_id
    assert result_event(record, retagged=True).type == RETAGGED
    assert result_event(record, retagged=True).event_id != result_event(record).event_id


def test_a_track_not_final_has_no_event_when_asked():
    with pytest.raises(ValueError, match="not final"):
        result_event(_done(state=TrackState.INFERRING))
