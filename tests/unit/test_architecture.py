"""House rules that keep the core portable: checked on the source, not by convention."""

import ast
from pathlib import Path

import pytest

LIBRARY = Path(__file__).resolve().parents[2] / "shared" / "trackscan"
CORE = [
    *sorted((LIBRARY / "audio").glob("*.py")),
    *sorted((LIBRARY / "pipeline").glob("*.py")),
    *(LIBRARY / name for name in ("messages.py", "tracks.py", "errors.py", "ports.py", "config.py", "model_gate.py")),
]
VENDOR_MODULES = ("google.cloud", "tritonclient", "onnxruntime", "openvino", "flask", "functions_framework")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(LIBRARY)))
def test_core_module_imports_no_vendor_sdk_when_inspected(path):
    vendor = {name for name in _imports(path) if name.startswith(VENDOR_MODULES)}
    assert not vendor, f"{path.name} imports {vendor}: only adapters may"


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(LIBRARY)))
def test_core_module_imports_no_adapter_when_inspected(path):
    adapters = {name for name in _imports(path) if name.startswith(("trackscan.adapters", "trackscan.bootstrap"))}
    assert not adapters, f"{path.name} imports {adapters}: only bootstrap chooses adapters"


def test_library_modules_stay_under_300_lines_when_counted():
    long = {p.name: n for p in LIBRARY.rglob("*.py") if (n := len(p.read_text().splitlines())) > 300}
    assert not long
