"""Extracts the google provider's schema from the cdktn-provider-google wheel, for offline checks.

`terraform validate` needs the provider binary, which cannot be downloaded where trackscan is
tested. The prebuilt CDK Terrain bindings on PyPI carry the same schema in their jsii assembly
(every resource's and data source's arguments and nested blocks, with Terraform's names), so
this script downloads the wheel pinned in requirements.txt (hash-checked), reads the assembly
without installing anything, and writes a compact schema to .provider-schema/google.json, which
tests/infra/test_provider_schema.py checks terraform/ against. Idempotent: it does nothing when
the schema of the pinned wheel is already there, so `make test` can run it every time.

Usage: python tools/provider_schema/fetch.py   (any Python >= 3.9 with pip)
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
REQUIREMENTS = HERE / "requirements.txt"
SCHEMA_FILE = REPO_ROOT / ".provider-schema" / "google.json"
ASSEMBLY_PREFIX = "@cdktn/provider-google."
# Meta-argument properties every resource config inherits; Terraform itself defines them.
_CONFIG_BASE = "cdktn.TerraformMetaArguments"
# "Docs at Terraform Registry: {@link https://.../cloud_run_v2_service#template CloudRunV2Service#template}"
_ANCHOR = re.compile(r"#(\w+) \w+#\w+\}")
_TYPE_LINK = re.compile(r"providers/hashicorp/google/([\d.]+)/docs/(resources|data-sources)/\w+ (google_\w+)\}")


def pinned_requirement() -> str:
    """The `name==version` line of requirements.txt (without its hash)."""
    for line in REQUIREMENTS.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return line.split()[0]
    raise SystemExit(f"no requirement in {REQUIREMENTS}")


def snake_case(name: str) -> str:
    """Terraform's name for a jsii property that carries no documentation anchor."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def terraform_name(prop: dict[str, Any]) -> str:
    """The argument's Terraform name: the registry anchor in its docs, else its snake case."""
    match = _ANCHOR.search(prop.get("docs", {}).get("remarks", ""))
    return match.group(1) if match else snake_case(prop["name"])


def block_type(type_ref: dict[str, Any], types: dict[str, Any]) -> str | None:
    """The fqn of the nested block a property holds (one block or a list of them), else None."""
    candidates = [type_ref, *type_ref.get("union", {}).get("types", [])]
    for candidate in candidates:
        element = candidate.get("collection", {}).get("elementtype", candidate)
        fqn = element.get("fqn", "")
        if fqn.startswith(ASSEMBLY_PREFIX) and types[fqn]["kind"] == "interface":
            return fqn
    return None


def extract_blocks(types: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every datatype interface as a block: its arguments and nested blocks with required flags."""
    blocks = {}
    for fqn, spec in types.items():
        if spec["kind"] != "interface" or not spec.get("datatype") or not fqn.startswith(ASSEMBLY_PREFIX):
            continue
        arguments: dict[str, bool] = {}
        nested: dict[str, dict[str, Any]] = {}
        for prop in spec.get("properties", []):
            required = not prop.get("optional", False)
            nested_fqn = block_type(prop["type"], types)
            if nested_fqn:
                nested[terraform_name(prop)] = {"block": nested_fqn[len(ASSEMBLY_PREFIX) :], "required": required}
            else:
                arguments[terraform_name(prop)] = required
        blocks[fqn[len(ASSEMBLY_PREFIX) :]] = {"arguments": arguments, "blocks": nested}
    return blocks


def readable_attributes(spec: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """What `<type>.<name>.<attribute>` may read: the class's attribute getters, Terraform-named."""
    anchored = {prop["name"]: terraform_name(prop) for prop in config.get("properties", [])}
    names = {
        anchored.get(prop["name"], snake_case(prop["name"]))
        for prop in spec.get("properties", [])
        if not prop.get("static") and not prop["name"].endswith("Input")
    }
    return sorted(names | set(anchored.values()))


def extract(assembly: dict[str, Any]) -> dict[str, Any]:
    """The compact schema: resources and data sources by type, pointing into a table of blocks."""
    types = assembly["types"]
    schema: dict[str, Any] = {"resources": {}, "data_sources": {}, "attributes": {}}
    versions = set()
    for spec in types.values():
        if spec["kind"] != "class" or spec.get("base") not in ("cdktn.TerraformResource", "cdktn.TerraformDataSource"):
            continue
        match = _TYPE_LINK.search(spec["docs"]["summary"])
        if not match:
            raise SystemExit(f"cannot tell the Terraform type of {spec['fqn']}")
        version, kind, type_name = match.groups()
        versions.add(version)
        config_fqn = spec["initializer"]["parameters"][-1]["type"]["fqn"]
        assert _CONFIG_BASE in types[config_fqn].get("interfaces", []), config_fqn
        section = "resources" if kind == "resources" else "data_sources"
        schema[section][type_name] = config_fqn[len(ASSEMBLY_PREFIX) :]
        key = type_name if kind == "resources" else f"data.{type_name}"
        schema["attributes"][key] = readable_attributes(spec, types[config_fqn])
    if len(versions) != 1:
        raise SystemExit(f"expected one provider version in the assembly, found {sorted(versions)}")
    schema["blocks"] = extract_blocks(types)
    schema["provider_version"] = versions.pop()
    return schema


def read_assembly(wheel: Path) -> dict[str, Any]:
    """The jsii assembly (package/.jsii) inside the wheel's *.jsii.tgz, read without unpacking to disk."""
    with zipfile.ZipFile(wheel) as archive:
        member = next(name for name in archive.namelist() if name.endswith(".jsii.tgz"))
        with archive.open(member) as tgz, tarfile.open(fileobj=tgz, mode="r|gz") as tar:
            for entry in tar:
                if entry.name == "package/.jsii":
                    handle = tar.extractfile(entry)
                    assert handle is not None
                    return json.load(handle)
    raise SystemExit(f"no jsii assembly in {wheel.name}")


def download(directory: Path) -> Path:
    """The pinned wheel, hash-checked by pip, without its dependencies."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
    command += ["--require-hashes", "-r", str(REQUIREMENTS), "-d", str(directory)]
    subprocess.run(command, check=True)
    return next(directory.glob("*.whl"))


def main() -> None:
    """Writes SCHEMA_FILE unless it already holds the schema of the pinned wheel."""
    requirement = pinned_requirement()
    if SCHEMA_FILE.is_file() and json.loads(SCHEMA_FILE.read_text()).get("package") == requirement:
        print(f"provider schema of {requirement} already in {SCHEMA_FILE.relative_to(REPO_ROOT)}")
        return
    with tempfile.TemporaryDirectory() as scratch:
        schema = extract(read_assembly(download(Path(scratch))))
    schema["package"] = requirement
    SCHEMA_FILE.parent.mkdir(exist_ok=True)
    partial = SCHEMA_FILE.with_suffix(".json.partial")
    partial.write_text(json.dumps(schema, sort_keys=True))
    partial.replace(SCHEMA_FILE)
    print(
        f"wrote the google provider {schema['provider_version']} schema ({len(schema['resources'])} resources, "
        f"{len(schema['data_sources'])} data sources) from {requirement} to {SCHEMA_FILE.relative_to(REPO_ROOT)}"
    )


if __name__ == "__main__":
    main()
