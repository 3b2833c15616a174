"""Runs the real step handlers on the local adapters, one message at a time."""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from pathlib import Path

import numpy as np

from trackscan.adapters.audio_decoders import InProcessDecoder
from trackscan.domain.config import Config
from trackscan.domain.messages import Message, UploadReceived
from trackscan.domain.ports import Predictions
from trackscan.domain.results import ModelInfo
from trackscan.pipeline.deps import Deps
from trackscan.pipeline.step_policy import run_step
from trackscan.runtimes.bootstrap import local_deps


class PatchStatsTagger:
    """A Tagger whose scores are a fixed function of each patch, so different audio scores
    differently. Used where the real model would only slow a handler test down."""

    def __init__(self) -> None:
        self.patches_seen = 0

    def predict(self, patches: np.ndarray) -> Predictions:
        self.patches_seen += len(patches)
        mean = patches.mean(axis=(1, 2))[:, None]
        spread = patches.std(axis=(1, 2))[:, None]
        ramp = np.linspace(-1.0, 1.0, 50)[None, :]
        return Predictions(
            mtt=1 / (1 + np.exp(-(mean * ramp))),
            msd=1 / (1 + np.exp(-(spread * ramp))),
            embedding=np.repeat(np.concatenate([mean, spread], axis=1), 100, axis=1),
        )

    def model_info(self) -> ModelInfo:
        return ModelInfo("patch-stats", "0" * 64)


def make_deps(home: Path, sandboxed: bool = False, **config_changes: object) -> Deps:
    """Local deps with a fast tagger; sandboxed=False decodes in process, which is faster still.

    A sandboxed decoder's child is started on first use; call ``deps.decoder.close()`` after.
    """
    config = replace(Config.from_env({"TRACKSCAN_HOME": str(home)}), **config_changes)
    deps = replace(local_deps(config), tagger=PatchStatsTagger())
    return deps if sandboxed else replace(deps, decoder=InProcessDecoder(deps.blobs))


def upload(path: Path, partner: str = "local", force: bool = False) -> UploadReceived:
    from trackscan.cli.files import upload_event

    return replace(upload_event(path, force), partner=partner)


def run_to_completion(deps: Deps, *messages: Message) -> list[Message]:
    """Delivers the messages and everything they emit, in order; returns every message handled."""
    queue, handled = deque(messages), []
    while queue:
        message = queue.popleft()
        run_step(message, deps)
        handled.append(message)
        queue.extend(deps.publisher.drain())  # type: ignore[attr-defined]
    return handled
