"""``GET /v1/tracks/{track_id}/similar``: the partner's tracks that sound most like one of its tracks."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, g, jsonify, request

from trackscan.api.errors import ApiError
from trackscan.api.track_operations import own_track
from trackscan.api.validation import invalid
from trackscan.domain.similarity import DEFAULT_LIMIT, MAX_LIMIT, Neighbour
from trackscan.domain.tracks import TrackState
from trackscan.pipeline.deps import Deps
from trackscan.pipeline.similar import similar_tracks

LIMIT = re.compile(r"[0-9]{1,3}")


def register(app: Flask, deps: Deps) -> None:
    """Adds the route to the partner API (authenticated like every /v1 route)."""

    def similar(raw_id: str) -> Response:
        record = own_track(deps, g.partner, raw_id)
        limit = similar_limit(request.args)
        if record.state is not TrackState.DONE:
            raise ApiError(
                409,
                "FAILED_PRECONDITION",
                f"Track {record.track_id} is {record.state.value}; only DONE tracks have a sound to match.",
            )
        neighbours = similar_tracks(deps.search, record, limit)  # the partner's own tracks only
        return jsonify({"track_id": record.track_id, "similar": [neighbour_resource(n) for n in neighbours]})

    app.add_url_rule("/v1/tracks/<raw_id>/similar", "similar_tracks", similar, methods=["GET"])


def similar_limit(args: Mapping[str, str]) -> int:
    """The ``limit`` query parameter: how many tracks to return (default 10, at most 100).

    Raises:
        ApiError: 400 for another parameter or a limit out of range.
    """
    unknown = sorted(set(args) - {"limit"})
    if unknown:
        raise invalid(f"Unknown query parameters: {', '.join(unknown)}.")
    value = args.get("limit")
    if value is None:
        return DEFAULT_LIMIT
    if not LIMIT.fullmatch(value) or not 1 <= int(value) <= MAX_LIMIT:
        raise invalid(f"limit must be an integer from 1 to {MAX_LIMIT}.")
    return int(value)


def neighbour_resource(neighbour: Neighbour) -> dict[str, Any]:
    """One found track: who it is, how close, and enough of its result to show it in a list."""
    record = neighbour.record
    return {
        "track_id": record.track_id,
        "source_uri": record.source_uri,
        "similarity": round(neighbour.similarity, 6),
        "top_tags": record.result.top_tags if record.result else [],
    }
