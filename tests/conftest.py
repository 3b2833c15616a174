"""Marks every test by what it needs, from the folder it lives in, so `pytest -m` picks a loop.

pytest -m "unit or infra"     the fast loop (`make check`): no network, no servers
pytest -m "not emulator"      everything that runs without the gcloud emulators
"""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
# Folder (or module) -> markers. A module's own marks (faults, e2e, integration) are kept beside.
MARKS_BY_PLACE = {
    "unit": ("unit",),
    # tests/contracts: each test runs on SQLite (marked unit) and on the Firestore emulator
    # (marked emulator), by its fixture's parameters.
    "infra": ("infra",),
    "functions": ("emulator",),
    "integration": ("emulator",),
    "e2e": ("e2e",),
    "faults/test_emulator_faults.py": ("emulator",),
    "faults/test_emulator_matrix.py": ("emulator",),
    "faults/test_emulator_soak.py": ("emulator",),
    "faults/test_emulator_stalls.py": ("emulator",),
    "faults/test_emulator_webhooks.py": ("emulator",),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Adds the markers of each test's folder and module."""
    for item in items:
        place = Path(item.path).resolve().relative_to(TESTS)
        for key in (place.parts[0], place.as_posix()):
            for name in MARKS_BY_PLACE.get(key, ()):
                item.add_marker(name)
