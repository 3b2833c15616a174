"""Shared helpers of the offline infrastructure checks: parsed Terraform and manifests."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

try:  # Only the infrastructure checks need these; without them they skip, the rest still runs.
    import hcl2
except ImportError:  # pragma: no cover - depends on the environment
    hcl2 = None
try:
    import yaml
except ImportError:  # pragma: no cover - depends on the environment
    yaml = None

REPO_ROOT = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = REPO_ROOT / "terraform"
MODULES_DIR = TERRAFORM_DIR / "modules"
ENVIRONMENTS_DIR = TERRAFORM_DIR / "environments"
# The step registry as Terraform reads it (jsondecode(file(...)) in every environment).
STEPS_FILE = TERRAFORM_DIR / "steps.json"
K8S_BASE_DIR = REPO_ROOT / "inference" / "k8s" / "base"

_REFERENCE = re.compile(r"^\$\{(.*)\}$")


def clean(value: Any) -> Any:
    """python-hcl2 keeps string quotes and block markers; strip them for comparisons."""
    if isinstance(value, dict):
        return {clean(k): clean(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [clean(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def reference(value: Any) -> str | None:
    """The expression inside "${...}", or None for a literal."""
    if isinstance(value, str):
        match = _REFERENCE.match(value)
        if match:
            return match.group(1)
    return None


class TerraformDir:
    """All .tf files of one directory (a module or an environment), parsed and merged."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name
        self.text = "\n".join(f.read_text() for f in sorted(path.glob("*.tf")))
        self.blocks: dict[str, list[Any]] = {}
        for tf_file in sorted(path.glob("*.tf")):
            with tf_file.open() as handle:
                for key, value in clean(hcl2.load(handle)).items():
                    self.blocks.setdefault(key, []).extend(value)

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for entry in self.blocks.get("resource", []):
            for name, body in entry.get(resource_type, {}).items():
                found[name] = body
        return found

    def variables(self) -> dict[str, dict[str, Any]]:
        return {name: body for entry in self.blocks.get("variable", []) for name, body in entry.items()}

    def outputs(self) -> dict[str, dict[str, Any]]:
        return {name: body for entry in self.blocks.get("output", []) for name, body in entry.items()}

    def module_calls(self) -> dict[str, dict[str, Any]]:
        return {name: body for entry in self.blocks.get("module", []) for name, body in entry.items()}

    def locals(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for entry in self.blocks.get("locals", []):
            merged.update({k: v for k, v in entry.items() if k != "__comments__"})
        return merged

    def resolve(self, value: Any) -> Any:
        """A literal, or the default of the variable it references (var.x)."""
        expression = reference(value)
        if expression and expression.startswith("var.") and re.fullmatch(r"var\.\w+", expression):
            return self.variables()[expression[4:]].get("default")
        return value


_PARSED_FIXTURES = {"modules", "environments", "dev", "manifests"}
_YAML_ONLY_MODULES = {"test_cloudbuild.py", "test_kubernetes_manifests.py", "test_workers.py"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = [name for name, module in (("python-hcl2", hcl2), ("PyYAML", yaml)) if module is None]
    if not missing:
        return
    marker = pytest.mark.skip(reason=f"{', '.join(missing)} not installed (requirements-dev.txt)")
    for item in items:
        path = Path(str(item.fspath))
        uses_parsers = _PARSED_FIXTURES & set(getattr(item, "fixturenames", ()))
        if path.parent == Path(__file__).parent and (uses_parsers or path.name in _YAML_ONLY_MODULES):
            item.add_marker(marker)


def first(blocks: Any) -> dict[str, Any]:
    """The single nested block of a parsed attribute (blocks parse as one-element lists)."""
    assert isinstance(blocks, list) and blocks, f"expected a block, got {blocks!r}"
    return blocks[0]


@pytest.fixture(scope="session")
def modules() -> dict[str, TerraformDir]:
    return {path.name: TerraformDir(path) for path in sorted(MODULES_DIR.iterdir()) if path.is_dir()}


@pytest.fixture(scope="session")
def environments() -> dict[str, TerraformDir]:
    return {path.name: TerraformDir(path) for path in sorted(ENVIRONMENTS_DIR.iterdir()) if path.is_dir()}


@pytest.fixture(scope="session")
def dev(environments: dict[str, TerraformDir]) -> TerraformDir:
    return environments["dev"]


@pytest.fixture(scope="session")
def steps() -> dict[str, dict[str, Any]]:
    """The step registry's export: step name => settings."""
    return json.loads(STEPS_FILE.read_text())["steps"]


@pytest.fixture(scope="session")
def manifests() -> dict[tuple[str, str], dict[str, Any]]:
    """Kubernetes objects of inference/k8s/base by (kind, name)."""
    objects: dict[tuple[str, str], dict[str, Any]] = {}
    for manifest in sorted(K8S_BASE_DIR.glob("*.yaml")):
        for document in yaml.safe_load_all(manifest.read_text()):
            if document and "kind" in document and document.get("kind") != "Kustomization":
                objects[(document["kind"], document["metadata"]["name"])] = document
    return objects
