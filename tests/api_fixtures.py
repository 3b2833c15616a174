"""The partner API's test doubles and checks, shared by the API test modules.

gs:// objects live in DictBlobStore, a BlobStore double with GCS-like generations; tracks are in
the real SQLite store. Replies are checked against the schemas of openapi.yaml.
"""

from __future__ import annotations

import io
from dataclasses import replace
from importlib import resources
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.pipeline_fixtures import make_deps
from trackscan.domain.ports import BlobInfo
from trackscan.pipeline.deps import Deps

BUCKET = "ingest-test"
ACME = {"X-API-Key": "key-acme"}
BETA = {"X-API-Key": "key-beta"}
OPENAPI = yaml.safe_load(resources.files("trackscan.api").joinpath("openapi.yaml").read_text())


class DictBlobStore:
    """A BlobStore for gs:// URIs in memory; every write makes a new generation, as in GCS."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}
        self._generation = 1_700_000_000_000_000

    def put(self, uri: str, data: bytes = b"RIFF" + b"\0" * 96) -> str:
        """Creates or overwrites an object (a partner's `gcloud storage cp`); returns the URI."""
        self._generation += 1
        self.objects[uri] = (bytes(data), str(self._generation))
        return uri

    def open_read(self, uri: str, generation: str | None = None) -> io.BytesIO:
        if self.stat(uri, generation) is None:
            raise FileNotFoundError(uri)
        return io.BytesIO(self.objects[uri][0])

    def write_if_absent(self, uri: str, data) -> bool:
        if uri in self.objects:
            return False
        self.put(uri, data if isinstance(data, bytes) else data.read())
        return True

    def stat(self, uri: str, generation: str | None = None) -> BlobInfo | None:
        found = self.objects.get(uri)
        if found is None or generation not in (None, found[1]):
            return None
        return BlobInfo(size_bytes=len(found[0]), generation=found[1])

    def list_uris(self, prefix_uri: str) -> list[str]:
        return sorted(uri for uri in self.objects if uri.startswith(prefix_uri))

    def delete_prefix(self, prefix_uri: str) -> int:
        doomed = self.list_uris(prefix_uri)
        for uri in doomed:
            del self.objects[uri]
        return len(doomed)

    def delete(self, uris: list[str]) -> None:
        for uri in uris:
            self.objects.pop(uri, None)


def api_deps(tmp_path: Path, **config_changes: object) -> Deps:
    """Local deps for the API: partners acme and beta by API key, 4 KiB files, objects in memory."""
    config = {
        "ingest_bucket_name": BUCKET,
        "api_keys": "acme:key-acme, beta:key-beta",
        "max_file_bytes": 4096,
        **config_changes,
    }
    return replace(make_deps(tmp_path / "home", **config), blobs=DictBlobStore())


def schema_errors(name: str, body) -> list[str]:
    """Violations of components/schemas/<name> of openapi.yaml (OpenAPI 3.1 is JSON Schema 2020-12)."""
    registry = Registry().with_resource("urn:openapi", Resource.from_contents(OPENAPI, DRAFT202012))
    validator = Draft202012Validator({"$ref": f"urn:openapi#/components/schemas/{name}"}, registry=registry)
    return [error.message for error in validator.iter_errors(body)]


def assert_error(response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert not schema_errors("Error", response.json)
    assert code is None or response.json["error"]["code"] == code
