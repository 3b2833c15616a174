"""House rules that keep the core portable: checked on the source, not by convention."""

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

LIBRARY = Path(__file__).resolve().parents[2] / "shared" / "trackscan"
# The outer layer: transports, adapters and the composition root. Every other module of the
# package is core, so a new module is covered without editing this list.
OUTER = ("adapters", "api", "cli", "dev", "bootstrap.py", "cloud_runtime.py", "pull_worker.py", "local_runner.py")
CORE = sorted(p for p in LIBRARY.rglob("*.py") if p.relative_to(LIBRARY).parts[0] not in OUTER)
VENDOR_MODULES = ("google.cloud", "tritonclient", "onnxruntime", "openvino", "flask", "functions_framework")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_covers_the_pipeline_and_the_domain_when_derived():
    core = {str(p.relative_to(LIBRARY)) for p in CORE}
    assert {"messages.py", "tracks.py", "deliveries.py", "reconcile.py", "pipeline/steps.py"} <= core
    assert not core & {"bootstrap.py", "cloud_runtime.py", "adapters/pubsub_publisher.py"}


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(LIBRARY)))
def test_core_module_imports_no_vendor_sdk_when_inspected(path):
    vendor = {name for name in _imports(path) if name.startswith(VENDOR_MODULES)}
    assert not vendor, f"{path.name} imports {vendor}: only adapters may"


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(LIBRARY)))
def test_core_module_imports_no_outer_layer_when_inspected(path):
    outer = tuple(f"trackscan.{name.removesuffix('.py')}" for name in OUTER)
    found = {name for name in _imports(path) if name.startswith(outer)}
    assert not found, f"{path.name} imports {found}: the core depends on nothing outside it"


COMPOSITION_ROOT = LIBRARY / "bootstrap.py"
ADAPTERS = LIBRARY / "adapters"


@pytest.mark.parametrize("path", sorted(LIBRARY.rglob("*.py")), ids=lambda p: str(p.relative_to(LIBRARY)))
def test_only_the_composition_root_imports_an_adapter_when_inspected(path):
    if path == COMPOSITION_ROOT or ADAPTERS in path.parents:
        return
    adapters = {name for name in _imports(path) if name.startswith("trackscan.adapters")}
    assert not adapters, f"{path.name} imports {adapters}: only bootstrap.py builds adapters"


@pytest.mark.parametrize(
    "path", sorted([*LIBRARY.rglob("*.py"), *(LIBRARY.parents[1] / "functions").rglob("*.py")]), ids=lambda p: p.name
)
def test_no_module_changes_the_import_path_when_inspected(path):
    calls = [
        node
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute)
        and node.attr in ("insert", "append")
        and ast.unparse(node.value) == "sys.path"
    ]
    assert not calls, f"{path.name} changes sys.path: import what the package installs instead"


def test_embedded_mode_loads_no_cloud_sdk_when_started(tmp_path):
    # Everything `trackscan run` and `trackscan status` import, with the embedded ports built.
    probe = (
        "import sys\n"
        "import trackscan.cli.main, trackscan.cli.run_command, trackscan.local_runner\n"
        "from trackscan.bootstrap import local_deps\n"
        "from trackscan.config import Config\n"
        f"local_deps(Config.from_env({{'TRACKSCAN_HOME': {str(tmp_path)!r}}}))\n"
        # google.cloud alone is the namespace package a .pth file creates at start-up: no SDK.
        f"print(sorted(m for m in sys.modules if m.startswith({VENDOR_MODULES!r}) and m != 'google.cloud'))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"the embedded mode imported {done.stdout.strip()}"


def test_library_modules_stay_under_300_lines_when_counted():
    long = {p.name: n for p in LIBRARY.rglob("*.py") if (n := len(p.read_text().splitlines())) > 300}
    assert not long


def test_mypy_relaxes_exactly_the_outer_layer_when_configured():
    # pyproject.toml checks everything strictly and relaxes one list of modules: that list must be
    # the outer layer above, or a core module escapes strict checking.
    config = tomllib.loads((LIBRARY.parents[1] / "pyproject.toml").read_text())["tool"]["mypy"]
    relaxed = [o["module"] for o in config["overrides"] if o.get("disallow_untyped_defs") is False]
    assert len(relaxed) == 1
    library = {name.removeprefix("trackscan.").removesuffix(".*") for name in relaxed[0] if name != "main"}
    assert library == {name.removesuffix(".py") for name in OUTER}
