#!/usr/bin/env python3
"""Writes the inputs and outputs tables of terraform/'s READMEs from variables.tf and outputs.tf.

Each module's README.md has an "## Inputs" and an "## Outputs" table; terraform/README.md has
"## Variables (environments/<env>)" and "## Outputs (environments/<env>)" for each environment.
The tables are rewritten in place; the prose around them is left alone. tests/infra checks that
every table lists exactly what the .tf files declare, with the same descriptions.

Usage: python tools/terraform_readme.py           (rewrite the tables)
       python tools/terraform_readme.py --check   (exit 1 and name the stale READMEs)
Needs python-hcl2 (requirements-dev.txt).
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
from pathlib import Path
from typing import Any

import hcl2

REPO_ROOT = Path(__file__).resolve().parents[1]
TERRAFORM_DIR = REPO_ROOT / "terraform"
_WRAPPED = re.compile(r"^\$\{(.*)\}$", re.DOTALL)


def _unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _blocks(path: Path, kind: str) -> dict[str, dict[str, Any]]:
    if not path.is_file():
        return {}
    with path.open() as handle:
        parsed = hcl2.load(handle)
    return {_unquote(name): body for entry in parsed.get(kind, []) for name, body in entry.items()}


def _text(value: Any) -> str:
    """A description as written: quotes gone, HCL's escaped quotes and backslashes decoded."""
    return str(_unquote(value)).replace('\\"', '"').replace("\\\\", "\\")


def _cell(text: str) -> str:
    """Markdown table cell text: HTML-escaped, pipes escaped, one line."""
    return html.escape(" ".join(str(text).split()), quote=False).replace("|", "\\|")


def _type(body: dict[str, Any]) -> str:
    raw = str(body.get("type", "any"))
    match = _WRAPPED.match(raw)
    return match.group(1) if match else raw


def _default(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if value.startswith('"') else json.dumps(value)
    return json.dumps(_plain(value), separators=(", ", ": "))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {_unquote(k): _plain(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return _unquote(value)


def inputs_table(directory: Path) -> str:
    """The inputs table of a module or environment."""
    rows = ["| Name | Description | Type | Default | Required |", "|---|---|---|---|:---:|"]
    for name, body in _blocks(directory / "variables.tf", "variable").items():
        required = "default" not in body
        default = "n/a" if required else f"`{_cell(_default(body['default']))}`"
        description = _cell(_text(body.get("description", "")))
        flag = "yes" if required else "no"
        rows.append(f"| `{name}` | {description} | `{_cell(_type(body))}` | {default} | {flag} |")
    return "\n".join(rows)


def outputs_table(directory: Path) -> str:
    """The outputs table of a module or environment."""
    rows = ["| Name | Description |", "|---|---|"]
    for name, body in _blocks(directory / "outputs.tf", "output").items():
        rows.append(f"| `{name}` | {_cell(_text(body.get('description', '')))} |")
    return "\n".join(rows)


def replace_table(text: str, heading: str, table: str) -> str:
    """Replaces the first table after `heading` (a whole line) with `table`."""
    start = text.index(f"\n{heading}\n") + len(heading) + 2
    lines = text[start:].split("\n")
    first = next(i for i, line in enumerate(lines) if line.startswith("|"))
    last = first
    while last < len(lines) and lines[last].startswith("|"):
        last += 1
    return text[:start] + "\n".join([*lines[:first], table, *lines[last:]])


def rendered() -> dict[Path, str]:
    """README path => its text with every table rewritten."""
    readmes: dict[Path, str] = {}
    for module in sorted(p for p in (TERRAFORM_DIR / "modules").iterdir() if p.is_dir()):
        readme = module / "README.md"
        text = replace_table(readme.read_text(), "## Inputs", inputs_table(module))
        readmes[readme] = replace_table(text, "## Outputs", outputs_table(module))
    overview = TERRAFORM_DIR / "README.md"
    text = overview.read_text()
    for environment in sorted(p for p in (TERRAFORM_DIR / "environments").iterdir() if p.is_dir()):
        text = replace_table(text, f"## Variables (environments/{environment.name})", inputs_table(environment))
        text = replace_table(text, f"## Outputs (environments/{environment.name})", outputs_table(environment))
    readmes[overview] = text
    return readmes


def main(argv: list[str]) -> int:
    """Rewrites the READMEs, or with --check reports the stale ones; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report stale READMEs instead of rewriting them")
    args = parser.parse_args(argv)
    stale = [path for path, text in rendered().items() if path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(REPO_ROOT)} is stale: run python tools/terraform_readme.py", file=sys.stderr)
        return 1 if stale else 0
    for path, text in rendered().items():
        if path in stale:
            path.write_text(text)
            print(f"wrote {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
