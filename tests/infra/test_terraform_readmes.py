"""The READMEs' inputs and outputs tables against variables.tf and outputs.tf: every module's
README.md ("## Inputs", "## Outputs") and terraform/README.md ("## Variables (environments/<env>)",
"## Outputs (environments/<env>)") list exactly what is declared, in order, with the declared
description and whether it is required. tools/terraform_readme.py writes them."""

from __future__ import annotations

import html
import re
from pathlib import Path

from tests.infra.conftest import TERRAFORM_DIR, TerraformDir

_ROW = re.compile(r"^\|\s*`(?P<name>[^`]+)`\s*\|(?P<cells>.*)\|\s*$")


def _table(readme: Path, heading: str) -> list[tuple[str, list[str]]]:
    """(name, other cells) of each row of the first table after the heading line."""
    text = readme.read_text()
    assert f"\n{heading}\n" in text, f"{readme.relative_to(TERRAFORM_DIR.parent)} has no '{heading}' section"
    rows, in_table = [], False
    for line in text.split(f"\n{heading}\n", 1)[1].splitlines():
        if line.startswith("|"):
            in_table = True
            match = _ROW.match(line)
            if match:
                cells = [html.unescape(c.strip().replace("\\|", "|")) for c in re.split(r"(?<!\\)\|", match["cells"])]
                rows.append((match["name"], cells))
        elif in_table:
            break
    return rows


def _description(body: dict) -> str:
    return " ".join(str(body.get("description", "")).replace('\\"', '"').split())


def _check_inputs(directory: TerraformDir, readme: Path, heading: str) -> None:
    rows = _table(readme, heading)
    declared = directory.variables()
    where = f"{readme.relative_to(TERRAFORM_DIR.parent)} '{heading}'"
    assert [name for name, _ in rows] == list(declared), f"{where} does not list {directory.name}'s variables"
    for name, (description, _type, _default, required) in rows:
        assert description == _description(declared[name]), f"{where}: description of `{name}` differs"
        expected = "no" if "default" in declared[name] else "yes"
        assert required == expected, f"{where}: `{name}` Required should be {expected}"


def _check_outputs(directory: TerraformDir, readme: Path, heading: str) -> None:
    rows = _table(readme, heading)
    declared = directory.outputs()
    where = f"{readme.relative_to(TERRAFORM_DIR.parent)} '{heading}'"
    assert [name for name, _ in rows] == list(declared), f"{where} does not list {directory.name}'s outputs"
    for name, (description,) in rows:
        assert description == _description(declared[name]), f"{where}: description of `{name}` differs"


def test_module_readme_tables_match_variables_and_outputs(modules: dict[str, TerraformDir]) -> None:
    for module in modules.values():
        _check_inputs(module, module.path / "README.md", "## Inputs")
        _check_outputs(module, module.path / "README.md", "## Outputs")


def test_terraform_readme_tables_match_each_environment(environments: dict[str, TerraformDir]) -> None:
    overview = TERRAFORM_DIR / "README.md"
    for name, environment in environments.items():
        _check_inputs(environment, overview, f"## Variables (environments/{name})")
        _check_outputs(environment, overview, f"## Outputs (environments/{name})")
