"""Every API error is JSON: {"error": {"code": ..., "message": ...}}, with a 4xx or 5xx status."""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, jsonify
from werkzeug.exceptions import HTTPException

from trackscan.domain.errors import RetryableError

log = logging.getLogger(__name__)

# Seconds a client should wait after a 503: long enough for a Pub/Sub or Firestore blip to pass.
RETRY_AFTER_S = 10

# Codes for the errors werkzeug raises itself (routing, JSON parsing, body size); the names
# follow google.rpc.Code so that partners see one vocabulary across Google-style APIs.
HTTP_STATUS_CODES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    408: "DEADLINE_EXCEEDED",
    409: "CONFLICT",
    411: "LENGTH_REQUIRED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RESOURCE_EXHAUSTED",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
}


class ApiError(Exception):
    """An error the API reports to the caller as is.

    Attributes:
        status: the HTTP status, 4xx for the caller's mistakes.
        code: a short machine-readable reason, e.g. NOT_FOUND, ALREADY_EXISTS.
        message: a sentence the partner's engineer understands.
        headers: extra response headers (WWW-Authenticate, Retry-After).
    """

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """The JSON error body with its status and headers."""
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    response.headers.update(headers or {})
    return response


def register_error_handlers(app: Flask) -> None:
    """Makes every error JSON: ours, werkzeug's (routing, parsing, size), retryable and unexpected."""
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(RetryableError, _retryable_error)
    app.register_error_handler(Exception, _unexpected_error)


def _api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.code, exc.message, exc.headers)


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    # Keep headers such as Allow (405), but not werkzeug's text/html content type.
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
    message = exc.description or exc.name
    if status == 413:
        message = f"The request body exceeds the limit of {current_app.config['MAX_FILE_BYTES']} bytes."
    return error_response(status, HTTP_STATUS_CODES.get(status, "INTERNAL"), message, headers)


def _retryable_error(exc: RetryableError) -> Response:
    log.warning("transient failure", extra={"error": str(exc)})
    return error_response(
        503,
        "UNAVAILABLE",
        "A backing service is briefly unavailable; try again.",
        {"Retry-After": str(RETRY_AFTER_S)},
    )


def _unexpected_error(exc: Exception) -> Response:
    log.exception("unexpected error in the API")
    return error_response(500, "INTERNAL", "An unexpected error occurred; it has been logged.")
