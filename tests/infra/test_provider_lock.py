"""Provider versions: each environment pins one exact google provider version (the one the schema
check vouches for), modules accept one major version, and a committed .terraform.lock.hcl, once
`make tf-lock` has written it, records that same version with its checksums."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.infra.conftest import ENVIRONMENTS_DIR, MODULES_DIR, REPO_ROOT, hcl2

_GOOGLE_CONSTRAINT = re.compile(r'source\s*=\s*"hashicorp/google"\s*\n\s*version\s*=\s*"([^"]+)"')
_EXACT = re.compile(r"=?\s*(\d+\.\d+\.\d+)")
_ONE_MAJOR = re.compile(r">=\s*(\d+)\.\d+(?:\.\d+)?\s*,\s*<\s*(\d+)\.0(?:\.0)?")
LOCKED_PROVIDER = "registry.terraform.io/hashicorp/google"


def _constraint(directory: Path) -> str:
    match = _GOOGLE_CONSTRAINT.search((directory / "versions.tf").read_text())
    assert match, f"{directory.relative_to(REPO_ROOT)}/versions.tf does not constrain hashicorp/google"
    return match.group(1)


def _pinned_version(environment: Path) -> str:
    match = _EXACT.fullmatch(_constraint(environment).strip())
    assert match, f"{environment.name} must pin one exact google provider version, not {_constraint(environment)!r}"
    return match.group(1)


def _environments() -> list[Path]:
    return sorted(path for path in ENVIRONMENTS_DIR.iterdir() if path.is_dir())


def test_environments_pin_one_exact_provider_version() -> None:
    versions = {environment.name: _pinned_version(environment) for environment in _environments()}
    assert versions and len(set(versions.values())) == 1, f"environments disagree: {versions}"


def test_modules_accept_one_major_version_including_the_pinned_one() -> None:
    pinned = _pinned_version(_environments()[0])
    for module in sorted(path for path in MODULES_DIR.iterdir() if path.is_dir()):
        match = _ONE_MAJOR.fullmatch(_constraint(module).strip())
        assert match, f"module {module.name}: {_constraint(module)!r} is not '>= X.Y, < X+1.0'"
        lowest_major, next_major = int(match.group(1)), int(match.group(2))
        assert next_major == lowest_major + 1, f"module {module.name} spans more than one major version"
        assert int(pinned.split(".")[0]) == lowest_major, f"module {module.name} excludes the pinned {pinned}"


def test_lock_files_are_not_ignored_by_git() -> None:
    for environment in _environments():
        lock = environment / ".terraform.lock.hcl"
        ignored = subprocess.run(
            ["git", "check-ignore", "-q", str(lock.relative_to(REPO_ROOT))], cwd=REPO_ROOT, check=False
        )
        assert ignored.returncode == 1, f"{lock.relative_to(REPO_ROOT)} is git-ignored: it must be committed"


@pytest.mark.parametrize("environment", _environments(), ids=lambda path: path.name)
def test_lock_file_records_the_pinned_version_with_checksums(environment: Path) -> None:
    lock = environment / ".terraform.lock.hcl"
    if not lock.is_file():
        pytest.skip(
            f"no {lock.relative_to(REPO_ROOT)} yet: the provider's checksums can only come from "
            "registry.terraform.io; run `make tf-lock` there and commit the file"
        )
    if hcl2 is None:
        pytest.skip("python-hcl2 not installed (requirements-dev.txt)")
    with lock.open() as handle:
        providers = {
            name.strip('"'): body for entry in hcl2.load(handle).get("provider", []) for name, body in entry.items()
        }
    assert LOCKED_PROVIDER in providers, f"{lock.name} does not lock {LOCKED_PROVIDER}"
    locked = providers[LOCKED_PROVIDER]
    assert locked["version"].strip('"') == _pinned_version(environment)
    hashes = [value.strip('"') for value in locked["hashes"]]
    assert any(h.startswith("h1:") for h in hashes), "no h1: (package contents) checksum"
    # One zh: (zip) checksum per platform the registry publishes; tf-lock asks for four.
    assert sum(h.startswith("zh:") for h in hashes) >= 4, "zh: checksums missing: run `make tf-lock`"
