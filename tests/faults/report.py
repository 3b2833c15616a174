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
LAST_WRITTEN = "Last written"
HEADER = (
    "| fault | stack | submitted | DONE | FAILED (reason) | lost | duplicated results | time to recover (s) | how |\n"
    "|---|---|---|---|---|---|---|---|---|"
)


def render(kept: str = "") -> str:
    """The collected rows as a Markdown table, with the machine and date.

    kept: the results block already in the file. Its notes and the rows of faults this run did
    not inject stay; a row of the same fault is replaced (a soak alone keeps the rest).
    """
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    written = f"{LAST_WRITTEN} {stamp} on {machine}: its {len(ROWS)} rows replaced or added, the others kept."
    notes, _, old_table = kept.partition(HEADER)
    notes = "".join(line for line in notes.splitlines(keepends=True) if not line.startswith(LAST_WRITTEN))
    rows = {_fault_of(line): line for line in old_table.strip().splitlines() if line.startswith("| ")}
    rows |= {row.fault: row.markdown() for row in ROWS}
    body = "\n".join(rows.values())
    return f"{notes.rstrip()}\n{written}\n\n{HEADER}\n{body}\n".lstrip("\n")


def _fault_of(row: str) -> str:
    return row[2:].split(" | ", 1)[0]


def splice(path: Path, start: str, end: str) -> None:
    """Replaces the text between the start and end markers of the file with the table, merged."""
    text = path.read_text() if path.exists() else f"# Faults\n\n{start}\n{end}\n"
    before, _, rest = text.partition(start)
    kept, _, after = rest.partition(end)
    path.write_text(f"{before}{start}\n{render(kept.strip())}{end}{after}")
