"""The OpenAPI document and the server agree: schemathesis generates requests from the document the
app serves (valid and invalid ones, every operation) and runs its checks on each answer.

The app runs in this process over WSGI with the embedded stores (SQLite; gs:// objects in memory)
and a stand-in for GCS's upload sessions. The rate limit and the failed sign-in throttle are off
here (schemathesis sends bad credentials on purpose, many times): their 429s are tested on their own.
Generation is derandomized, so a run is the same on every machine and never flaky.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from tests.api_fixtures import ACME, BUCKET, api_deps
from trackscan.api import create_app
from trackscan.domain.tracks import new_record

# Examples per operation and phase: the whole document in about 30 s on a busy 2-core machine.
MAX_EXAMPLES = 30
# A schema-valid request may still be refused: JSON Schema cannot say that a source_uri must
# name an existing object under the partner's prefix within GCS's naming rules, that a page
# token must be one this API returned, or that a body must fit the deployment's size limit.
# Those answers are the documented 400, 403, 404, 409 and 413; anything else (a 405, a 415, a
# 5xx) for valid data still fails the check.
SEMANTIC_REFUSALS = ["2xx", "400", "401", "403", "404", "409", "413", "429"]


def _session_url(uri: str, size_bytes: int, content_type: str, origin: str | None) -> str:
    return f"https://storage.example/upload?upload_id={size_bytes}"


# Removed when the interpreter exits.
_HOME = tempfile.TemporaryDirectory(prefix="trackscan-schema-")


def _app():
    deps = api_deps(Path(_HOME.name), api_rate_per_s=0.0, auth_max_failures=0)
    # One object and its track, so that generated requests can meet what exists.
    uri = deps.blobs.put(f"gs://{BUCKET}/acme/album/01.flac")
    deps.tracks.create_if_absent(new_record(uri, deps.blobs.stat(uri).generation, "acme", "api"))
    return create_app(deps, upload_sessions=_session_url)


# Audio bodies are bytes, sent as generated, like application/octet-stream ones.
schemathesis.serializer.alias("audio/*", "application/octet-stream")
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {"positive_data_acceptance": {"expected-statuses": SEMANTIC_REFUSALS}},
        "headers": ACME,
    }
)
schema = schemathesis.openapi.from_wsgi("/openapi.yaml", _app(), config=CONFIG)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)
def test_api_answers_as_its_openapi_document_says_when_given_generated_requests(case):
    case.call_and_validate(headers=ACME)
