"""Every resource and data source in terraform/ against the google provider's schema.

What `terraform validate` would catch if the provider could be downloaded here: an argument or a
nested block the provider does not have (misspelt, or removed in this major version), a block
written as an argument or the reverse, a required argument left out, a `lifecycle.ignore_changes`
path or a `<type>.<name>.<attribute>` reference to an attribute that does not exist. The schema
comes from the cdktn-provider-google wheel (its jsii assembly carries the provider's schema);
tools/provider_schema/fetch.py, run by `make test`, extracts it to .provider-schema/google.json.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import REPO_ROOT, TERRAFORM_DIR, hcl2

SCHEMA_FILE = REPO_ROOT / ".provider-schema" / "google.json"
FIXTURE_DIR = Path(__file__).parent / "fixtures" / "provider_schema"
# Arguments and blocks Terraform itself gives every resource and data source.
META_ARGUMENTS = {"count", "for_each", "depends_on", "provider", "lifecycle", "provisioner", "connection"}
# `<type>.<name>[key].<attribute>`, with `data.` in front for a data source.
_REFERENCE = re.compile(r"(?<![\w.])((?:data\.)?google_\w+)\.(\w+)(?:\[[^\]]*\])?\.(\w+)")
_INDEX = re.compile(r"\[[^\]]*\]")
_GOOGLE_CONSTRAINT = re.compile(r'source\s*=\s*"hashicorp/google"\s*\n\s*version\s*=\s*"([^"]+)"')

pytestmark = [
    pytest.mark.skipif(
        not SCHEMA_FILE.is_file(),
        reason=f"no provider schema in {SCHEMA_FILE.relative_to(REPO_ROOT)}: run tools/provider_schema/fetch.py",
    ),
    pytest.mark.skipif(hcl2 is None, reason="python-hcl2 not installed (requirements-dev.txt)"),
]


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text())


def _unquote(label: str) -> str:
    return label.strip('"')


def _is_block(value: Any) -> bool:
    """python-hcl2 marks `name { ... }` blocks; `name = { ... }` is an argument (a map or object)."""
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) and v.get("__is_block__") for v in value)


class SchemaCheck:
    """Collects every mismatch between parsed Terraform and the provider schema."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self.problems: list[str] = []

    def block(self, block_id: str, body: dict[str, Any], where: str, top: bool = False) -> None:
        """One block's arguments and nested blocks (recursively), then its required ones."""
        spec = self.schema["blocks"][block_id]
        present = set()
        for key, value in body.items():
            if key.startswith("__") or (top and key in META_ARGUMENTS):
                continue
            if key == "dynamic":
                present |= self._dynamic(spec, value, where)
            elif _is_block(value):
                present.add(key)
                self._nested(spec, key, value, where)
            elif key in spec["arguments"]:
                present.add(key)
            else:
                wrong = "is a block, not an argument" if key in spec["blocks"] else "is no argument of the schema"
                self.problems.append(f"{where}: {key} {wrong}")
        self._required(spec, present, where)
        if top:
            for lifecycle in body.get("lifecycle", []):
                self._ignore_changes(block_id, lifecycle.get("ignore_changes", []), where)

    def _nested(self, spec: dict[str, Any], key: str, blocks: list[dict[str, Any]], where: str) -> None:
        nested = spec["blocks"].get(key)
        if nested is None:
            wrong = "is an argument, not a block" if key in spec["arguments"] else "is no block of the schema"
            self.problems.append(f"{where}: {key} {wrong}")
            return
        for body in blocks:
            self.block(nested["block"], body, f"{where}.{key}")

    def _dynamic(self, spec: dict[str, Any], dynamics: list[dict[str, Any]], where: str) -> set[str]:
        """`dynamic "name" { content { ... } }` generates `name` blocks: check them as such."""
        generated = set()
        for dynamic in dynamics:
            for label, body in dynamic.items():
                if label.startswith("__"):
                    continue
                name = _unquote(label)
                generated.add(name)
                self._nested(spec, name, body.get("content", []), where)
        return generated

    def _required(self, spec: dict[str, Any], present: set[str], where: str) -> None:
        required = [name for name, needed in spec["arguments"].items() if needed]
        required += [name for name, nested in spec["blocks"].items() if nested["required"]]
        for name in sorted(set(required) - present):
            self.problems.append(f"{where}: required {name} is missing")

    def _ignore_changes(self, block_id: str, paths: Any, where: str) -> None:
        """Each path of `ignore_changes` names arguments and blocks the resource has."""
        for raw in paths if isinstance(paths, list) else []:
            path = raw[2:-1] if raw.startswith("${") else raw
            if path == "all":
                continue
            spec = self.schema["blocks"][block_id]
            for step in _INDEX.sub("", path).split("."):
                if step in spec["arguments"]:
                    break  # an argument (a map or list may be indexed further)
                if step not in spec["blocks"]:
                    self.problems.append(f"{where}: lifecycle.ignore_changes {path}: no {step}")
                    break
                spec = self.schema["blocks"][spec["blocks"][step]["block"]]

    def references(self, text: str, declared: set[str], where: str) -> None:
        """`<type>.<name>.<attribute>` of a resource or data source declared in the same directory."""
        code = re.sub(r"#.*", "", text)
        for type_name, name, attribute in set(_REFERENCE.findall(code)):
            if f"{type_name}.{name}" not in declared:
                continue
            readable = {a.replace("_", "") for a in self.schema["attributes"][type_name]}
            if attribute.replace("_", "") not in readable:
                self.problems.append(f"{where}: {type_name}.{name}.{attribute}: {type_name} has no {attribute}")


def check_directory(directory: Path, schema: dict[str, Any]) -> list[str]:
    """Every problem of the .tf files of one directory (a module, an environment, a fixture)."""
    check = SchemaCheck(schema)
    declared: set[str] = set()
    text = ""
    for tf_file in sorted(directory.glob("*.tf")):
        text += tf_file.read_text() + "\n"
        with tf_file.open() as handle:
            parsed = hcl2.load(handle)
        where = str(tf_file.relative_to(REPO_ROOT))
        for section, prefix, table in (("resource", "", "resources"), ("data", "data.", "data_sources")):
            for entry in parsed.get(section, []):
                for type_label, instances in entry.items():
                    type_name = _unquote(type_label)
                    for name_label, body in instances.items():
                        address = f"{prefix}{type_name}.{_unquote(name_label)}"
                        declared.add(address)
                        if type_name not in schema[table]:
                            check.problems.append(f"{where}: {address}: the provider has no {section} {type_name}")
                        else:
                            check.block(schema[table][type_name], body, f"{where}: {address}", top=True)
    check.references(text, declared, str(directory.relative_to(REPO_ROOT)))
    return check.problems


def _terraform_directories() -> list[Path]:
    return sorted({path.parent for path in TERRAFORM_DIR.rglob("*.tf")})


@pytest.mark.parametrize("directory", _terraform_directories(), ids=lambda path: str(path.relative_to(TERRAFORM_DIR)))
def test_terraform_matches_the_provider_schema(directory: Path, schema: dict[str, Any]) -> None:
    problems = check_directory(directory, schema)
    assert not problems, f"against google provider {schema['provider_version']}:\n" + "\n".join(problems)


def test_schema_check_reports_each_mistake_when_the_fixture_has_them(schema: dict[str, Any]) -> None:
    where = "tests/infra/fixtures/provider_schema/main.tf"
    subscription = f"{where}: google_pubsub_subscription.mistakes_in_nested_blocks"
    node_pool = f"{where}: google_container_node_pool.removed_argument"
    assert sorted(check_directory(FIXTURE_DIR, schema)) == sorted(
        [
            f"{where}: google_pubsub_topic.misspelt_argument: message_retention_duraton is no argument of the schema",
            f"{subscription}.push_config.oidc_token: service_account_emial is no argument of the schema",
            f"{subscription}.push_config.oidc_token: required service_account_email is missing",
            f"{subscription}: retry_policy is a block, not an argument",
            f"{subscription}: dead_letter_polcy is no block of the schema",
            f"{subscription}: lifecycle.ignore_changes push_config[0].push_endpont: no push_endpont",
            f"{node_pool}.node_config: labels is an argument, not a block",
            f"{node_pool}.node_config.workload_metadata_config: node_metadata is no argument of the schema",
            f"{where}: google_pubsub_topik.unknown_type: the provider has no resource google_pubsub_topik",
            "tests/infra/fixtures/provider_schema: google_pubsub_topic.correct.uri: google_pubsub_topic has no uri",
            "tests/infra/fixtures/provider_schema: data.google_project.this.numbr: data.google_project has no numbr",
        ]
    )


def _admits(constraint: str, version: str) -> bool:
    """Whether a Terraform version constraint (comma-separated >=, >, <=, <, =, != and ~>) admits version."""

    def parts(text: str) -> tuple[int, ...]:
        return tuple(int(p) for p in text.split("."))

    wanted = parts(version)
    for clause in constraint.split(","):
        match = re.fullmatch(r"\s*(>=|<=|!=|~>|>|<|=)?\s*([\d.]+)\s*", clause)
        assert match, f"not a version constraint: {clause!r}"
        operator, bound = match.groups()
        low = parts(bound)
        padded = wanted[: len(low)] + (0,) * (len(low) - len(wanted))
        if operator == "~>":
            # ~> 8.7 admits 8.7 up to, not including, 9.0: every part but the last is fixed.
            if padded < low or wanted[: len(low) - 1] != low[:-1]:
                return False
            continue
        checks = {
            ">=": padded >= low,
            ">": padded > low,
            "<=": padded <= low,
            "<": padded < low,
            "!=": padded != low,
            "=": padded == low,
            None: padded == low,
        }
        if not checks[operator]:
            return False
    return True


def test_every_provider_constraint_admits_the_checked_provider_version(schema: dict[str, Any]) -> None:
    # The check vouches for one provider version: every configuration must be able to run it.
    version = schema["provider_version"]
    for versions_tf in sorted(TERRAFORM_DIR.rglob("versions.tf")):
        constraint = _GOOGLE_CONSTRAINT.search(versions_tf.read_text())
        assert constraint, f"{versions_tf.relative_to(REPO_ROOT)} does not constrain hashicorp/google"
        assert _admits(constraint.group(1), version), f"{versions_tf.relative_to(REPO_ROOT)}: {constraint.group(1)}"


def test_version_constraint_check_admits_only_matching_versions_when_given_bounds() -> None:
    assert _admits(">= 8.7, < 9.0", "8.7.0") and _admits(">= 8.7, < 9.0", "8.12.3")
    assert not _admits(">= 6.20, < 8.0", "8.7.0") and not _admits(">= 8.7, < 9.0", "9.0.0")
    assert _admits("~> 8.7", "8.9.1") and not _admits("~> 8.7", "9.0.0") and not _admits("~> 8.7", "8.6.0")
