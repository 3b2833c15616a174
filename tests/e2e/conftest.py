import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TRACKSCAN = [sys.executable, "-m", "trackscan.cli"]


def run_cli(args: list[str], home: Path, timeout_s: float = 900, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "TRACKSCAN_HOME": str(home), **env}
    return subprocess.run(
        [*TRACKSCAN, *args], capture_output=True, text=True, env=environment, timeout=timeout_s, cwd=home.parent
    )


def json_lines(stdout: str) -> dict[str, dict]:
    """The --json output keyed by source file name."""
    records = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    return {Path(r["source"]).name: r for r in records}


@pytest.fixture(scope="session")
def music_dir() -> Path:
    """Real music from Debian packages, fetched once by the project's script."""
    done = subprocess.run([str(REPO / "scripts" / "fetch_music.sh")], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        pytest.skip(f"could not fetch the Debian music packages: {done.stderr.strip()[-300:]}")
    return Path(done.stdout.strip())
