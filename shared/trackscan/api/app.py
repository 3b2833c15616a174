"""The Flask app: routes, authentication of every /v1 call, and JSON in and out."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from importlib import resources
from typing import Any
from urllib.parse import quote

from flask import Flask, Response, g, jsonify, request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import BaseConverter

from trackscan.api import console, similar, track_operations, validation, webhooks
from trackscan.api.auth import API_KEY_HEADER, Authenticator, IdentityVerifier
from trackscan.api.console_auth import StaffDirectory
from trackscan.api.errors import ApiError, register_error_handlers
from trackscan.api.rate_limit import RateLimiter
from trackscan.api.throttle import FailureThrottle, failure_buckets, log_failure
from trackscan.api.uploads import AUDIO_TYPE_PREFIXES, SessionStarter, start_upload, upload_request
from trackscan.domain.tracks import TrackRecord
from trackscan.pipeline.deps import Deps
from trackscan.pipeline.state import segments_scored

log = logging.getLogger(__name__)

# Endpoints anyone may call: the API description is public.
PUBLIC_ENDPOINTS = {"openapi"}


def create_app(
    deps: Deps,
    verifier: IdentityVerifier | None = None,
    ingest_root_uri: str | None = None,
    upload_sessions: SessionStarter | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Flask:
    """The partner API over the given ports.

    Args:
        deps: the ports and configuration, chosen by bootstrap.
        verifier: checks ``Authorization: Bearer`` Google ID tokens (production); without one,
            only API keys from ``config.api_keys`` are accepted.
        ingest_root_uri: where partner prefixes live; ``gs://<config.ingest_bucket_name>`` by
            default. A file:// root serves the API over the local folder adapter.
        upload_sessions: opens resumable upload sessions for ``POST /v1/uploads`` (GCS); None
            answers that endpoint 501, as the local folder has no such sessions.
        clock: the monotonic clock of the rate limit and the failed sign-in throttle.

    Raises:
        ValueError: ``config.api_keys``, ``config.partner_identities`` or the rate limit is malformed.
    """
    app = Flask(__name__, static_folder=None)
    if deps.config.api_trusted_proxy_hops:
        # request.remote_addr becomes the client's, as the trusted proxies saw it; entries a
        # client wrote itself, further left, are never read.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=deps.config.api_trusted_proxy_hops)  # type: ignore[method-assign]
    # werkzeug answers 413 when Content-Length exceeds this, but cuts a chunked body off at the
    # limit without an error. One byte of slack makes such a body measurably too large, so the
    # size check of the upload answers 413 instead of storing a truncated file.
    app.config["MAX_CONTENT_LENGTH"] = deps.config.max_file_bytes + 1
    app.config["MAX_FILE_BYTES"] = deps.config.max_file_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep the documented field order
    register_error_handlers(app)
    views = _Views(deps, ingest_root_uri or f"gs://{deps.config.ingest_bucket_name}", upload_sessions)
    authenticator = Authenticator.from_config(deps.config, verifier)
    limiter = RateLimiter(deps.config.api_rate_per_s, deps.config.api_burst, clock)
    throttle = FailureThrottle(deps.config.auth_max_failures, deps.config.auth_failure_window_s, clock)

    def partner_of_request() -> str:
        """The calling partner, unless this source or key prefix failed too often of late."""
        buckets = failure_buckets(request.remote_addr, request.headers.get(API_KEY_HEADER))
        wait_s = throttle.wait_s(buckets)
        if wait_s:
            log_failure("api", request.remote_addr, wait_s)
            raise ApiError(
                429,
                "RESOURCE_EXHAUSTED",
                f"Too many failed sign-ins; try again in {wait_s} s.",
                {"Retry-After": str(wait_s)},
            )
        try:
            return authenticator.partner_of(request.headers)
        except ApiError as exc:
            if exc.status == 401:
                throttle.failed(buckets)
                log_failure("api", request.remote_addr, 0)
            raise

    @app.before_request
    def authenticate() -> None:
        # Runs before routing errors surface, so unknown paths also need credentials. The console
        # checks its own staff instead: staff are not partners.
        if request.endpoint not in PUBLIC_ENDPOINTS and request.blueprint != console.BLUEPRINT:
            g.partner = partner_of_request()
            wait_s = limiter.wait_s(g.partner)
            if wait_s:
                raise ApiError(
                    429,
                    "RESOURCE_EXHAUSTED",
                    f"Too many requests; try again in {wait_s} s.",
                    {"Retry-After": str(wait_s)},
                )
        validation.check_query(request.endpoint, request.args)

    app.add_url_rule("/v1/tracks", "submit_track", views.submit_track, methods=["POST"])
    app.add_url_rule("/v1/tracks", "list_tracks", views.list_tracks, methods=["GET"])
    app.url_map.converters["segment"] = _Segment
    app.add_url_rule("/v1/tracks/<segment:raw_id>", "get_track", views.get_track, methods=["GET"])
    app.add_url_rule("/v1/tracks/<segment:raw_id>:retry", "retry_track", views.retry_track, methods=["POST"])
    app.add_url_rule(
        "/v1/tracks/<segment:raw_id>:redeliver", "redeliver_track", views.redeliver_track, methods=["POST"]
    )
    app.add_url_rule("/v1/uploads", "start_upload", views.start_upload, methods=["POST"])
    app.add_url_rule(
        "/v1/tracks/<segment:raw_id>/audio-features", "get_audio_features", views.get_audio_features, methods=["GET"]
    )
    app.add_url_rule("/openapi.yaml", "openapi", _openapi, methods=["GET"])
    similar.register(app, deps)
    webhooks.register(app, deps)
    staff = StaffDirectory(deps.config, verifier)
    if staff.enabled:
        console.register(app, deps, staff, throttle)
    return app


class _Segment(BaseConverter):
    """A path segment without ':', so /v1/tracks/ID:retry is the retry route only (its Allow: POST), as :redeliver."""

    regex = "[^/:]+"


class _Views:
    """The HTTP side of each endpoint: parse the request, call the track operations, shape the reply."""

    def __init__(self, deps: Deps, ingest_root_uri: str, upload_sessions: SessionStarter | None) -> None:
        self._deps = deps
        self._ingest_root_uri = ingest_root_uri
        self._upload_sessions = upload_sessions

    def _prefix(self, partner: str) -> str:
        """The partner's prefix, once ingest is known to accept it (the partner registry)."""
        registered = self._deps.config.partner_ids
        if registered and partner not in registered:
            # Ingest would refuse its objects: say so now instead of accepting a track that never moves.
            raise ApiError(403, "PERMISSION_DENIED", f"The partner {partner} is not registered for ingest.")
        return validation.partner_prefix(self._ingest_root_uri, partner)

    def submit_track(self) -> tuple[Response, int, dict[str, str]]:
        """POST /v1/tracks: a JSON body naming an object, or the audio itself."""
        partner: str = g.partner
        prefix = self._prefix(partner)
        if request.mimetype == "application/json":
            uri = validation.submit_source_uri(_json_body(), prefix)
            record = track_operations.submit_uri(self._deps, partner, uri)
        elif request.mimetype.startswith(AUDIO_TYPE_PREFIXES):
            uri = validation.upload_filename(request.args.get("filename"), prefix)
            record = track_operations.submit_upload(self._deps, partner, uri, request.stream)
        else:
            raise ApiError(
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                "Send application/json with a source_uri, or audio as audio/* or application/octet-stream.",
            )
        return _accepted(record)

    def start_upload(self) -> tuple[Response, int]:
        """POST /v1/uploads: a resumable upload session for a new object under the partner's prefix."""
        prefix = self._prefix(g.partner)
        if request.mimetype != "application/json":
            raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "Send application/json: filename, size_bytes, content_type.")
        wanted = upload_request(_json_body(), self._deps.config.max_file_bytes)
        uri, url = start_upload(
            self._upload_sessions,
            lambda u: self._deps.blobs.stat(u) is not None,
            prefix,
            wanted,
            request.headers.get("Origin"),
        )
        log.info("upload session started", extra={"partner": g.partner, "source_uri": uri})
        body = {"source_uri": uri, "upload_url": url, "tracks_url": f"/v1/tracks?source={quote(uri, safe='')}"}
        return jsonify(body), 201

    def get_track(self, raw_id: str) -> Response:
        """GET /v1/tracks/{track_id}."""
        record = track_operations.own_track(self._deps, g.partner, raw_id)
        done = segments_scored(self._deps, record.track_id) if not record.state.is_final else 0
        return jsonify(track_operations.track_resource(record, done))

    def get_audio_features(self, raw_id: str) -> Response:
        """GET /v1/tracks/{track_id}/audio-features."""
        record = track_operations.own_track(self._deps, g.partner, raw_id)
        return jsonify(track_operations.audio_features_resource(record))

    def list_tracks(self) -> Response:
        """GET /v1/tracks?state=&page_size=&page_token=&source=."""
        page = validation.page_request(request.args)
        records, next_token = track_operations.list_tracks(self._deps, g.partner, page)
        tracks = [track_operations.track_resource(r) for r in records]
        return jsonify({"tracks": tracks, "next_page_token": next_token})

    def retry_track(self, raw_id: str) -> tuple[Response, int, dict[str, str]]:
        """POST /v1/tracks/{track_id}:retry."""
        return _accepted(track_operations.retry_track(self._deps, g.partner, raw_id))

    def redeliver_track(self, raw_id: str) -> tuple[Response, int]:
        """POST /v1/tracks/{track_id}:redeliver."""
        event = track_operations.redeliver_track(self._deps, g.partner, raw_id)
        return jsonify({"track_id": event.track_id, "event_id": event.event_id, "type": event.type}), 202


def _accepted(record: TrackRecord) -> tuple[Response, int, dict[str, str]]:
    # 202: the pipeline works on it asynchronously; Location is where to poll.
    body = jsonify({"track_id": record.track_id, "state": record.state.value})
    return body, 202, {"Location": f"/v1/tracks/{record.track_id}"}


def _json_body() -> Any:
    """The request's JSON, read up to MAX_JSON_BYTES: a submit names one object, never more."""
    data = request.stream.read(validation.MAX_JSON_BYTES + 1)
    if len(data) > validation.MAX_JSON_BYTES:
        raise ApiError(413, "PAYLOAD_TOO_LARGE", f"A JSON body holds at most {validation.MAX_JSON_BYTES} bytes.")
    return validation.parse_json(data)


def _openapi() -> Response:
    text = resources.files("trackscan.api").joinpath("openapi.yaml").read_text(encoding="utf-8")
    return Response(text, mimetype="application/yaml")
