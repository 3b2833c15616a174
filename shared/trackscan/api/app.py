"""The Flask app: routes, authentication of every /v1 call, and JSON in and out."""

from __future__ import annotations

from importlib import resources

from flask import Flask, Response, g, jsonify, request

from trackscan.api import console, similar, track_operations, validation
from trackscan.api.auth import Authenticator, IdentityVerifier
from trackscan.api.console_auth import StaffDirectory
from trackscan.api.errors import ApiError, register_error_handlers
from trackscan.pipeline.deps import Deps
from trackscan.pipeline.state import segments_scored
from trackscan.tracks import TrackRecord

# Endpoints anyone may call: the API description is public.
PUBLIC_ENDPOINTS = {"openapi"}
UPLOAD_TYPES = ("audio/", "application/octet-stream")


def create_app(
    deps: Deps, verifier: IdentityVerifier | None = None, ingest_root_uri: str | None = None
) -> Flask:
    """The partner API over the given ports.

    Args:
        deps: the ports and configuration, chosen by bootstrap.
        verifier: checks ``Authorization: Bearer`` Google ID tokens (production); without one,
            only API keys from ``config.api_keys`` are accepted.
        ingest_root_uri: where partner prefixes live; ``gs://<config.ingest_bucket_name>`` by
            default. A file:// root serves the API over the local folder adapter.

    Raises:
        ValueError: ``config.api_keys`` or ``config.partner_identities`` is malformed.
    """
    app = Flask(__name__, static_folder=None)
    # werkzeug answers 413 when Content-Length exceeds this, but cuts a chunked body off at the
    # limit without an error. One byte of slack makes such a body measurably too large, so the
    # size check of the service answers 413 instead of storing a truncated file.
    app.config["MAX_CONTENT_LENGTH"] = deps.config.max_file_bytes + 1
    app.config["MAX_FILE_BYTES"] = deps.config.max_file_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep the documented field order
    register_error_handlers(app)
    views = _Views(deps, ingest_root_uri or f"gs://{deps.config.ingest_bucket_name}")
    authenticator = Authenticator.from_config(deps.config, verifier)

    @app.before_request
    def authenticate() -> None:
        # Runs before routing errors surface, so unknown paths also need credentials. The console
        # checks its own staff instead: staff are not partners.
        if request.endpoint not in PUBLIC_ENDPOINTS and request.blueprint != console.BLUEPRINT:
            g.partner = authenticator.partner_of(request.headers)

    app.add_url_rule("/v1/tracks", "submit_track", views.submit_track, methods=["POST"])
    app.add_url_rule("/v1/tracks", "list_tracks", views.list_tracks, methods=["GET"])
    app.add_url_rule("/v1/tracks/<raw_id>", "get_track", views.get_track, methods=["GET"])
    app.add_url_rule("/v1/tracks/<raw_id>:retry", "retry_track", views.retry_track, methods=["POST"])
    app.add_url_rule("/openapi.yaml", "openapi", _openapi, methods=["GET"])
    similar.register(app, deps)
    staff = StaffDirectory(deps.config, verifier)
    if staff.enabled:
        console.register(app, deps, staff)
    return app


class _Views:
    """The HTTP side of each endpoint: parse the request, call the track operations, shape the reply."""

    def __init__(self, deps: Deps, ingest_root_uri: str) -> None:
        self._deps = deps
        self._ingest_root_uri = ingest_root_uri

    def submit_track(self) -> tuple[Response, int, dict[str, str]]:
        """POST /v1/tracks: a JSON body naming an object, or the audio itself."""
        partner: str = g.partner
        prefix = validation.partner_prefix(self._ingest_root_uri, partner)
        if request.mimetype == "application/json":
            # silent: malformed JSON becomes None, which the check answers with a 400 that says why.
            uri = validation.submit_source_uri(request.get_json(silent=True), prefix)
            record = track_operations.submit_uri(self._deps, partner, uri)
        elif request.mimetype.startswith(UPLOAD_TYPES):
            name = validation.upload_filename(request.args.get("filename"))
            record = track_operations.submit_upload(self._deps, partner, prefix + name, request.get_data(cache=False))
        else:
            raise ApiError(
                415, "UNSUPPORTED_MEDIA_TYPE",
                "Send application/json with a source_uri, or audio as audio/* or application/octet-stream.",
            )
        return _accepted(record)

    def get_track(self, raw_id: str) -> Response:
        """GET /v1/tracks/{track_id}."""
        record = track_operations.own_track(self._deps, g.partner, raw_id)
        done = segments_scored(self._deps, record.track_id) if not record.state.is_final else 0
        return jsonify(track_operations.track_resource(record, done))

    def list_tracks(self) -> Response:
        """GET /v1/tracks?state=&page_size=&page_token=&source=."""
        page = validation.page_request(request.args)
        records, next_token = track_operations.list_tracks(self._deps, g.partner, page)
        tracks = [track_operations.track_resource(r) for r in records]
        return jsonify({"tracks": tracks, "next_page_token": next_token})

    def retry_track(self, raw_id: str) -> tuple[Response, int, dict[str, str]]:
        """POST /v1/tracks/{track_id}:retry."""
        return _accepted(track_operations.retry_track(self._deps, g.partner, raw_id))


def _accepted(record: TrackRecord) -> tuple[Response, int, dict[str, str]]:
    # 202: the pipeline works on it asynchronously; Location is where to poll.
    body = jsonify({"track_id": record.track_id, "state": record.state.value})
    return body, 202, {"Location": f"/v1/tracks/{record.track_id}"}


def _openapi() -> Response:
    text = resources.files("trackscan.api").joinpath("openapi.yaml").read_text(encoding="utf-8")
    return Response(text, mimetype="application/yaml")
