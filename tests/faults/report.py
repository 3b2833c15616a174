"""Collects one row per injected fault and writes FAULTS.md at the end of the fault suite."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path


@dataclass
class FaultRow:
    fault: str
    stack: str  # "embedded" or "emulators"
    submitted: int
    done: int = 0
    failed: dict[str, int] = field(default_factory=dict)  # reason -> tracks
    lost: int = 0
    duplicated: int = 0
    recover_s: float | None = None
    note: str = ""

    def markdown(self) -> str:
        failed = ", ".join(f"{n} {code}" for code, n in sorted(self.failed.items())) or "0"
        recover = f"{self.recover_s:.1f}" if self.recover_s is not None else "-"
        return (
            f"| {self.fault} | {self.stack} | {self.submitted} | {self.done} | {failed} | {self.lost} "
            f"| {self.duplicated} | {recover} | {self.note} |"
        )


ROWS: list[FaultRow] = []
HEADER = (
    "| fault | stack | submitted | DONE | FAILED (reason) | lost | duplicated results | time to recover (s) | how |\n"
    "|---|---|---|---|---|---|---|---|---|"
)


def render() -> str:
    """The collected rows as a Markdown table, with the machine and date."""
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = "\n".join(row.markdown() for row in ROWS)
    return f"Measured {stamp} on {machine}.\n\n{HEADER}\n{body}\n"


def splice(path: Path, start: str, end: str) -> None:
    """Replaces the text between the start and end markers of the file with the table."""
    text = path.read_text() if path.exists() else f"# Faults\n\n{start}\n{end}\n"
    before, _, rest = text.partition(start)
    _, _, after = rest.partition(end)
    path.write_text(f"{before}{start}\n{render()}{end}{after}")
