"""What announcing each finished track costs: its result event on the results topic, to deliver and BigQuery."""

from __future__ import annotations

from typing import Any

from trackscan.costs.model import MILLION, PUBSUB_MIN_BYTES, TIB
from trackscan.domain.config import Config
from trackscan.domain.labels import MSD_TAGS, MTT_TAGS
from trackscan.domain.messages import to_json
from trackscan.domain.result_events import result_event
from trackscan.domain.results import ModelInfo, TrackResult
from trackscan.domain.tracks import TrackRecord, TrackState, utc_now

SECONDS_PER_MONTH = 730 * 3600  # the month trackscan.costs.lanes prices (HOURS_PER_MONTH)


def result_event_bytes() -> int:
    """The JSON of one track's result event, without the embedding: 100 tag scores at full precision."""
    third = 1 / 3  # 18 characters, as a float32 score widened to a Python float prints
    result = TrackResult(
        tags={"mtt": dict.fromkeys(MTT_TAGS, third), "msd": dict.fromkeys(MSD_TAGS, third)},
        top_tags=list(MTT_TAGS[:5]),
        tempo_bpm=third * 360,
        key="Bb major",
        loudness_lufs=-third * 40,
        duration_s=240.0,
        embedding=[],
        tempo_confidence=third,
        time_signature=4,
        key_confidence=third,
        loudness_range_lu=third * 20,
        true_peak_dbtp=-third,
    )
    record = TrackRecord(
        "t" + "0" * 24,
        "gs://partner-ingest-bucket/label/album/01 track.flac",
        "1765100000000000",
        "label",
        TrackState.DONE,
        result=result,
        model=ModelInfo("musicnn", "0" * 64, "openvino-bf16"),
        updated_at=utc_now(),
    )
    return len(to_json(result_event(record)).encode())


def result_event_items(prices: dict[str, float]) -> dict[str, float]:
    """Dollars per million tracks of announcing each result, in every lane.

    The results topic's publish and its push to deliver, the BigQuery subscription's write,
    deliver's request and its read of the partner's webhook registration (the POST itself waits
    on the partner, not the CPU).
    """
    size = result_event_bytes()
    return {
        "result events: Pub/Sub (publish, push to deliver)": 2
        * max(size, PUBSUB_MIN_BYTES)
        / TIB
        * prices["pubsub_tib"]
        * MILLION,
        "result events: BigQuery subscription": size / TIB * prices["pubsub_bigquery_tib"] * MILLION,
        "result events: deliver's request and webhook lookup": (prices["cloud_run_request"] + prices["firestore_read"])
        * MILLION,
    }


def webhook_attempt_items(deployment: dict[str, Any], prices: dict[str, float]) -> dict[str, float]:
    """Dollars per month, at most, of keeping webhook send attempts for GET /v1/webhook.

    Each deliver instance writes at most one batch per partner per TRACKSCAN_WEBHOOK_ATTEMPTS_FLUSH_S
    (trackscan.pipeline.webhook_attempts), whatever the volume: a bound, reached when every
    partner priced has an event in every interval (and fewer writes than events below it).
    """
    batches_per_month = SECONDS_PER_MONTH / Config().webhook_attempts_flush_s
    writes = deployment["webhook_partners"] * deployment["deliver_instances"] * batches_per_month
    label = f"webhook attempts ({deployment['webhook_partners']} partners' batches, at most)"
    return {label: writes * prices["firestore_write"]}
