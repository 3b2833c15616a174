"""Checks of cloudbuild.yaml that need no Cloud Build: substitutions, escaping, and that the
deploy step rolls every Terraform-managed service (every step of the registry, and the others) to
the pushed digest."""

from __future__ import annotations

import hashlib
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


def test_release_gate_runs_the_tests_in_the_builder_image_and_fails_on_emulator_skips() -> None:
    build = _build()
    dockerfile = (REPO_ROOT / "tools" / "builder" / "Dockerfile").read_bytes()
    assert build["substitutions"]["_BUILDER_TAG"] == hashlib.sha256(dockerfile).hexdigest()[:12], (
        "tools/builder/Dockerfile changed: set _BUILDER_TAG in cloudbuild.yaml to the first 12 hex digits of its sha256"
    )
    builder = "${_REGION}-docker.pkg.dev/$PROJECT_ID/${_AR_REPOSITORY}/builder:${_BUILDER_TAG}"
    test = _step(build, "test")
    assert test["name"] == builder and test["waitFor"] == ["builder-image"]
    assert "make test" in test["args"][-1] and "dev stack unavailable" in test["args"][-1]
    assert "tools/builder" in _step(build, "builder-image")["args"][-1]
    text = dockerfile.decode()
    for tool in (
        "google-cloud-cli-pubsub-emulator",
        "google-cloud-cli-firestore-emulator",
        "openjdk-",
        "terraform",
        "make",
        "git",
        "python:3.11",
    ):
        assert tool in text, f"the builder image lacks {tool}"


def test_every_terraform_substitution_is_declared(dev: TerraformDir) -> None:
    # A trigger passing a substitution the build does not declare fails the build.
    declared = set(_build()["substitutions"])
    passed = set(dev.locals()["cloudbuild_substitutions"])
    assert passed <= declared, sorted(passed - declared)


def test_cluster_deploys_the_pinned_adapter_before_triton_and_names_the_address() -> None:
    script = _step(_build(), "deploy-triton")["args"][-1]
    assert script.index("kubectl apply -k inference/k8s/custom-metrics") < script.index(
        "kubectl apply -k inference/k8s/release"
    )
    assert "networking.gke.io~1load-balancer-ip-addresses" in script and "value: ${_TRITON_ADDRESS}" in script


def test_workers_are_rendered_from_the_registry_with_the_services_environment() -> None:
    build = _build()
    step = _step(build, "deploy-workers")
    assert step["waitFor"] == ["deploy-services"], "workers read the environment of the services just deployed"
    script = step["args"][-1]
    assert 'steps="${_WORKER_STEPS}"' in script
    assert "inference/k8s/render_workers.py" in script and "--env-file /workspace/worker.env" in script
    assert "image_ref.txt" in script, "workers run the pushed digest"
    assert "delete deployment,hpa" in script, "a step taken off worker_steps loses its workers"
