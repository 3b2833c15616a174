"""Features: decode one segment and write its model input patches and DSP partials."""

from __future__ import annotations

from trackscan.audio.descriptors import segment_descriptors
from trackscan.audio.front_end import patches_from_audio, to_model_rate
from trackscan.domain.decoded_audio import DecodedAudio
from trackscan.domain.messages import FeaturesReady, SegmentPlanned
from trackscan.pipeline.blob_codec import SegmentFeatures, encode_features
from trackscan.pipeline.deps import Deps, features_uri
from trackscan.pipeline.state import is_finished


def handle(message: SegmentPlanned, deps: Deps) -> None:
    """Writes the features blob of a segment unless it exists, then announces it."""
    if is_finished(deps, message.track_id):
        return
    uri = features_uri(deps, message.track_id, message.segment_index)
    if deps.blobs.stat(uri) is None:
        deps.blobs.write_if_absent(uri, encode_features(compute_features(message, deps)))
    deps.publisher.publish(FeaturesReady(message.track_id, message.segment_index, message.segments_total, uri))


def compute_features(message: SegmentPlanned, deps: Deps) -> SegmentFeatures:
    """Decodes the segment's time range and computes patches and descriptors."""
    return features_of(deps.decoder.decode(message.source_uri, message.start_s, message.duration_s))


def features_of(decoded: DecodedAudio) -> SegmentFeatures:
    """The model input patches and DSP partials of one decoded segment."""
    mono_16k = to_model_rate(decoded.samples, decoded.sample_rate)
    descriptors = segment_descriptors(decoded.samples, decoded.sample_rate, mono_16k)
    return SegmentFeatures(patches=patches_from_audio(mono_16k), descriptors=descriptors)
