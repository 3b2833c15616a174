"""House rules that keep the core portable: checked on the source, not by convention."""

import ast
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import pytest

LIBRARY = Path(__file__).resolve().parents[2] / "shared" / "trackscan"
# Layers are folders. The core: what a track is (domain), the steps and passes over tracks
# (pipeline), the audio analysis and the cost model. The outer layer: adapters, the runtimes with
# bootstrap, and the people's interfaces (API, CLI, dev stack). A new module's folder decides.
CORE_LAYERS = ("domain", "pipeline", "audio", "costs")
OUTER_LAYERS = ("adapters", "runtimes", "api", "cli", "dev")
MODULES = sorted(LIBRARY.rglob("*.py"))


def _layer(path: Path) -> str:
    parts = path.relative_to(LIBRARY).parts
    return parts[0] if len(parts) > 1 else ""


CORE = [p for p in MODULES if _layer(p) in CORE_LAYERS]
DOMAIN = [p for p in MODULES if _layer(p) == "domain"]
VENDOR_MODULES = ("google.cloud", "tritonclient", "onnxruntime", "openvino", "flask", "functions_framework")


def _in_package(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(f"{p}.") for p in packages)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_every_module_lives_in_a_layer_folder_when_listed():
    stray = [str(p.relative_to(LIBRARY)) for p in MODULES if p != LIBRARY / "__init__.py" and not _layer(p)]
    unknown = {_layer(p) for p in MODULES} - {"", *CORE_LAYERS, *OUTER_LAYERS}
    assert not stray and not unknown, f"{stray or unknown}: give each module the folder of its layer"


def test_core_covers_the_pipeline_and_the_domain_when_derived():
    core = {str(p.relative_to(LIBRARY)) for p in CORE}
    assert {"domain/messages.py", "domain/tracks.py", "pipeline/deliveries.py", "pipeline/steps.py"} <= core
    assert not core & {"runtimes/bootstrap.py", "runtimes/cloud_runtime.py", "adapters/pubsub_publisher.py"}


@pytest.mark.parametrize("path", DOMAIN, ids=lambda p: str(p.relative_to(LIBRARY)))
def test_domain_module_imports_only_the_domain_when_inspected(path):
    found = {n for n in _imports(path) if _in_package(n, ("trackscan",)) and not _in_package(n, ("trackscan.domain",))}
    assert not found, f"{path.name} imports {found}: the domain depends on nothing else of the package"


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(LIBRARY)))
def test_core_module_imports_no_vendor_sdk_when_inspected(path):
    vendor = {name for name in _imports(path) if name.startswith(VENDOR_MODULES)}
    assert not vendor, f"{path.name} imports {vendor}: only adapters may"


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(LIBRARY)))
def test_core_module_imports_no_outer_layer_when_inspected(path):
    found = {name for name in _imports(path) if _in_package(name, tuple(f"trackscan.{o}" for o in OUTER_LAYERS))}
    assert not found, f"{path.name} imports {found}: the core depends on nothing outside it"


COMPOSITION_ROOT = LIBRARY / "runtimes" / "bootstrap.py"
ADAPTERS = LIBRARY / "adapters"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(LIBRARY)))
def test_only_the_composition_root_imports_an_adapter_when_inspected(path):
    if path == COMPOSITION_ROOT or ADAPTERS in path.parents:
        return
    adapters = {name for name in _imports(path) if name.startswith("trackscan.adapters")}
    assert not adapters, f"{path.name} imports {adapters}: only runtimes/bootstrap.py builds adapters"


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
        "import trackscan.cli.main, trackscan.cli.run_command, trackscan.runtimes.local_runner\n"
        "from trackscan.runtimes.bootstrap import local_deps\n"
        "from trackscan.domain.config import Config\n"
        f"local_deps(Config.from_env({{'TRACKSCAN_HOME': {str(tmp_path)!r}}}))\n"
        # google.cloud alone is the namespace package a .pth file creates at start-up: no SDK.
        f"print(sorted(m for m in sys.modules if m.startswith({VENDOR_MODULES!r}) and m != 'google.cloud'))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"the embedded mode imported {done.stdout.strip()}"


GUIDE_LINES = 300  # CONTRIBUTING.md: a guide, never the reason a class lives in the wrong module
CEILING_LINES = 400


def test_library_modules_stay_short_when_counted():
    lengths = {str(p.relative_to(LIBRARY)): len(p.read_text().splitlines()) for p in MODULES}
    long = {name: n for name, n in lengths.items() if n > GUIDE_LINES}
    if long:
        warnings.warn(f"modules over {GUIDE_LINES} lines, worth a look: {long}", stacklevel=1)
    assert not {name: n for name, n in long.items() if n > CEILING_LINES}


def test_mypy_relaxes_exactly_the_outer_layer_when_configured():
    # pyproject.toml checks everything strictly and relaxes one list of folders: that list must be
    # the outer layer above, or a core module escapes strict checking.
    config = tomllib.loads((LIBRARY.parents[1] / "pyproject.toml").read_text())["tool"]["mypy"]
    relaxed = [o["module"] for o in config["overrides"] if o.get("disallow_untyped_defs") is False]
    assert len(relaxed) == 1
    assert {name for name in relaxed[0] if name != "main"} == {f"trackscan.{layer}.*" for layer in OUTER_LAYERS}


MAX_PORT_METHODS = 8


def test_every_port_stays_small_when_counted():
    # A port that grows with every feature becomes a god interface: split it by its callers.
    tree = ast.parse((LIBRARY / "domain" / "ports.py").read_text())
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    ports = [node for node in classes if "Protocol" in map(ast.unparse, node.bases)]
    methods = {port.name: sum(isinstance(item, ast.FunctionDef) for item in port.body) for port in ports}
    assert "TrackRecords" in methods and "Tagger" in methods
    assert {name: n for name, n in methods.items() if n > MAX_PORT_METHODS} == {}
