"""Checks of cloudbuild.yaml that need no Cloud Build: substitutions, escaping, and that the
deploy step rolls every Terraform-managed service (every step of the registry, and the others) to
the pushed digest."""

from __future__ import annotations

import json
import re
import subprocess

from tests.infra.conftest import REPO_ROOT, STEPS_FILE, TerraformDir, yaml

# Substitutions Cloud Build provides itself (a subset; only these are used).
BUILT_IN = {"PROJECT_ID", "BUILD_ID", "PROJECT_NUMBER", "LOCATION", "SHORT_SHA", "COMMIT_SHA"}
# $$ is a literal $; ${NAME} and $NAME are substitutions.
_DOLLAR = re.compile(r"\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*)|.)")


def _build() -> dict:
    return yaml.safe_load((REPO_ROOT / "cloudbuild.yaml").read_text())


def _step(build: dict, step_id: str) -> dict:
    return next(s for s in build["steps"] if s["id"] == step_id)


def test_every_substitution_is_declared_or_built_in() -> None:
    build = _build()
    declared = set(build["substitutions"])
    text = yaml.safe_dump(build["steps"])
    for match in _DOLLAR.finditer(text):
        if match.group(1) == "$":
            continue
        name = match.group(2) or match.group(3)
        assert name, f"unescaped $ in cloudbuild.yaml near {text[match.start() : match.start() + 30]!r}"
        assert name in declared or name in BUILT_IN, f"${name} is neither declared nor built in"


def test_user_substitutions_start_with_underscore() -> None:
    assert all(name.startswith("_") for name in _build()["substitutions"])


def test_steps_run_tests_before_anything_is_pushed_or_deployed() -> None:
    build = _build()
    ids = [s["id"] for s in build["steps"]]
    assert "make test" in _step(build, "test")["args"][-1]
    for step_id in ("push-image", "build-model"):
        assert "test" in _step(build, step_id)["waitFor"], f"{step_id} must wait for the tests"
    assert ids.index("deploy-triton") < ids.index("deploy-services")


def _deployed_services(script: str) -> set[str]:
    """The services the deploy step loops over: its `services=` line run in bash, as Cloud Build would."""
    line = next(line for line in script.splitlines() if line.strip().startswith("services="))
    # Cloud Build turns $$ into $ before the shell sees the script.
    command = line.replace("$$", "$") + '\necho "$services"'
    completed = subprocess.run(["bash", "-ceu", command], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    assert completed.returncode == 0, completed.stderr
    return set(completed.stdout.split())


def test_services_are_deployed_by_digest_with_the_model_they_match(dev: TerraformDir) -> None:
    script = _step(_build(), "deploy-services")["args"][-1]
    assert "image_ref.txt" in script, "deploy by the pushed digest, not by tag"
    assert "TRACKSCAN_MODEL_SHA256" in script
    assert re.search(r"for service in \$\$services;", script)
    steps = json.loads(STEPS_FILE.read_text())["steps"]
    managed = set()
    for body in dev.module_calls().values():
        if body["source"] == "../../modules/cloud_run_service":
            name = body["name"].replace("${local.name}-", "")
            managed |= {name.replace("${each.key}", step) for step in steps} if "${each.key}" in name else {name}
    assert _deployed_services(script) == managed
    assert set(steps) <= managed


def test_triton_release_pins_the_image_digest_and_model_folder() -> None:
    script = _step(_build(), "deploy-triton")["args"][-1]
    assert "digest: $$digest" in script
    assert "behavior: replace" in script and "model_repository=$$repository" in script
    assert "--dns-endpoint" in script
    assert "rollout status" in script
