"""The hashed lock files against the requirements they are compiled from (`make lock`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.\[\]-]+)==([^\s\\;]+)", re.M)


def _pins(path: Path) -> dict[str, str]:
    return {
        re.sub(r"\[.*\]", "", name).lower().replace("_", "-"): version
        for name, version in PIN.findall(path.read_text())
    }


@pytest.mark.parametrize(
    ("lock", "sources"),
    [
        ("requirements.lock", ("requirements.txt",)),
        ("requirements-dev.lock", ("requirements.txt", "requirements-dev.txt")),
    ],
)
def test_lock_pins_what_the_requirements_pin_when_compiled(lock, sources):
    locked = _pins(REPO / lock)
    wanted = {name: version for source in sources for name, version in _pins(REPO / source).items()}
    differ = {name: (version, locked.get(name)) for name, version in wanted.items() if locked.get(name) != version}
    assert not differ, f"{lock} is stale, run `make lock`: {differ}"


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-dev.lock"])
def test_lock_gives_every_package_a_hash_when_read(lock):
    entries = re.split(r"\n(?=[A-Za-z0-9])", (REPO / lock).read_text().split("\n", 2)[2])
    unhashed = [entry.split()[0] for entry in entries if "==" in entry and "--hash=sha256:" not in entry]
    assert not unhashed and len(entries) > 50


def test_image_installs_the_lock_with_hashes_required_when_built():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "pip install --require-hashes -r requirements.lock" in dockerfile
    assert "requirements.txt" not in dockerfile
