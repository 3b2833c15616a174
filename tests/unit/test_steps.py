"""The step registry: one table from which topics, entrypoints, the dev stack and Terraform derive."""

import importlib.util
from pathlib import Path

from trackscan.adapters.pubsub_publisher import topic_names
from trackscan.dev.layout import FUNCTIONS, DevPorts, subscriptions
from trackscan.domain.config import Config
from trackscan.domain.messages import MESSAGE_TYPES, SegmentPlanned, TrackFinished
from trackscan.pipeline.steps import STEP_NAMES, STEPS, export_json, step_for, step_named

REPO = Path(__file__).resolve().parents[2]
EXPORT = REPO / "terraform" / "steps.json"


def test_steps_json_matches_registry_when_exported():
    assert EXPORT.read_text() == export_json(), (
        "terraform/steps.json is stale: run `.venv/bin/python -m trackscan.pipeline.steps terraform/steps.json`"
    )


def test_registry_routes_every_message_kind_to_one_step_when_read():
    consumed = [step.consumes for step in STEPS]
    assert sorted(consumed, key=str) == sorted(MESSAGE_TYPES.values(), key=str)
    for step in STEPS:
        assert all(kind in consumed for kind in step.publishes), f"{step.name} publishes what no step consumes"


def test_registry_flows_from_ingest_to_finalize_when_followed():
    order, step = [], step_named("ingest")
    while True:
        order.append(step.name)
        if not step.publishes:
            break
        step = next(s for s in STEPS if s.consumes is step.publishes[0])
    assert order == list(STEP_NAMES)


def test_step_handler_lives_in_a_module_named_after_the_step_when_imported():
    for step in STEPS:
        assert step.handler_module == f"trackscan.pipeline.{step.name}"
        assert callable(step.handler)


def test_step_for_finds_the_consumer_when_given_a_message():
    planned = SegmentPlanned("t1", "file:///a.ogg#1", 0, 1, 0.0, 60.0)
    assert step_for(planned).name == "features"


def test_topics_are_named_after_their_step_when_derived():
    config = Config(topic_prefix="tp")
    named = {step.consumes: f"tp-{step.name}" for step in STEPS}
    named[TrackFinished] = "tp-results"  # the deliver step's topic carries every result event
    assert {kind: name for kind, name in topic_names(config).items()} == named
    assert {s.topic for s in subscriptions(config, DevPorts()) if not s.name.endswith("-dead-letter")} == set(
        named.values()
    )


def test_functions_source_defines_every_target_when_imported(monkeypatch):
    monkeypatch.delenv("FUNCTION_TARGET", raising=False)  # no librosa warm-up at import
    spec = importlib.util.spec_from_file_location("functions_main", REPO / "functions" / "main.py")
    assert spec is not None and spec.loader is not None
    main = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(main)
    for function in FUNCTIONS:
        assert callable(getattr(main, function.target)), f"functions/main.py lacks {function.target}"
    assert [getattr(main, name).__name__ for name in STEP_NAMES] == list(STEP_NAMES)
