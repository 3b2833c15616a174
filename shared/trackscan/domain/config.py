"""Runtime configuration: one frozen dataclass, read from the environment once.

Every field names its environment variable in its metadata, so the Terraform checks can
verify that each variable a cloud service reads is set by the infrastructure code.
Defaults give a fully local run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import MISSING, Field, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

# Where the model build script writes the ONNX model, relative to the repository root.
MODEL_RELATIVE_PATH = Path("inference/model_repository/musicnn/1/model.onnx")
# RLIMIT_AS counts address space, mapped libraries included. Measured in the decoder child:
# 250 MiB before any decode (Python, numpy, PyAV's FFmpeg), 300 MiB with a GCS client, and for
# the heaviest file accepted (8-channel 192 kHz WAV) a peak of about 680 MiB for a 60 s segment
# and 900 MiB for a 120 s one (benchmarks/bench_segment_steps.py --heaviest). The cap leaves
# 1.7 times that and stops a file that asks for gigabytes before a 2 GiB instance runs out.
DEFAULT_DECODE_MEMORY_BYTES = 1536 << 20


def _env(name: str, scope: str, default: Any) -> Any:
    """A dataclass field backed by an environment variable.

    scope is "local" (embedded default only) or "cloud" (read by the Cloud Run services,
    so Terraform must set it unless the default is right for production).
    """
    return field(default=default, metadata={"env": name, "scope": scope})


def _parse(config_field: Field[Any], raw: str) -> Any:
    # Every field has a default (see _env), whose type parses the text: "60" is 60.0 for a float.
    if config_field.default is MISSING:
        raise TypeError(f"Config.{config_field.name} has no default to take its type from")
    if isinstance(config_field.default, bool):  # bool("false") is True
        if raw.lower() not in ("1", "0", "true", "false"):
            raise ValueError(f"Config.{config_field.name}: {raw!r} is not true, false, 1 or 0")
        return raw.lower() in ("1", "true")
    return type(config_field.default)(raw)


def _default_model_path() -> str:
    # An editable install lives in <repo>/shared/trackscan (this file in its domain/): find the model
    # from there, so the CLI works from any working directory.
    repo_root = Path(__file__).resolve().parents[3]
    return str(repo_root / MODEL_RELATIVE_PATH)


def _default_home(environ: Mapping[str, str]) -> str:
    # The XDG base directory for state, so `trackscan status` finds the same records from any
    # directory: $XDG_STATE_HOME/trackscan, else ~/.local/state/trackscan.
    state_home = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return str(Path(state_home) / "trackscan")


@dataclass(frozen=True)
class Config:
    """All settings of trackscan; units are in the names."""

    # Local state (SQLite records, work blobs): one place per user unless set (see _default_home).
    home_dir: str = _env("TRACKSCAN_HOME", "local", "")
    state_db_path: str = _env("TRACKSCAN_STATE_DB", "local", "")
    model_path: str = _env("TRACKSCAN_MODEL_PATH", "local", "")
    # The in-process model runtime and precision: auto (bf16 where the CPU has bf16 units),
    # openvino-bf16, openvino-fp32 or onnxruntime-fp32 (see MODEL_VARIANTS in bootstrap).
    model_variant: str = _env("TRACKSCAN_MODEL_VARIANT", "local", "auto")
    # Seconds of audio per segment: 120 s halves the messages and blob operations per track of
    # 60 s and keeps each step well inside 10 s (BENCHMARKS.md, "Cost per million 4-minute tracks").
    segment_s: float = _env("TRACKSCAN_SEGMENT_S", "cloud", 120.0)
    # Tracks up to this long are tagged whole by ingest in one unit of work (the worker lane:
    # one read of the source, no work blobs); longer ones go through the segment chain. Sized so
    # the unit stays inside the step budget on the machine that runs it (BENCHMARKS.md, "The
    # whole-track unit and the lanes"). 0: every track through the segment chain (cloud-run lane).
    whole_track_max_s: float = _env("TRACKSCAN_WHOLE_TRACK_MAX_S", "cloud", 0.0)
    max_duration_s: float = _env("TRACKSCAN_MAX_DURATION_S", "cloud", 7200.0)
    max_file_bytes: int = _env("TRACKSCAN_MAX_FILE_BYTES", "cloud", 1 << 30)
    # Patches per model call, measured (BENCHMARKS.md, "Model runtime"): in process on one thread
    # bf16 gains little past 16 and an AMX Xeon was faster at smaller batches. Terraform sets
    # its own value for the Triton requests of the cloud path.
    infer_batch_patches: int = _env("TRACKSCAN_INFER_BATCH_PATCHES", "cloud", 16)
    # One deadline per step (trackscan.domain.step_deadline): every backend call and retry inside
    # a step draws its timeout from what is left, so no step outlasts this; 0 turns it off.
    step_budget_s: float = _env("TRACKSCAN_STEP_BUDGET_S", "cloud", 10.0)
    infer_timeout_s: float = _env("TRACKSCAN_INFER_TIMEOUT_S", "cloud", 8.0)
    # One probe or segment decode in the sandbox; the whole step must stay under 10 s.
    decode_timeout_s: float = _env("TRACKSCAN_DECODE_TIMEOUT_S", "cloud", 6.0)
    # Address-space cap of the decoder child (see DEFAULT_DECODE_MEMORY_BYTES).
    decode_memory_bytes: int = _env("TRACKSCAN_DECODE_MEMORY_BYTES", "cloud", DEFAULT_DECODE_MEMORY_BYTES)
    project_id: str = _env("GOOGLE_CLOUD_PROJECT", "cloud", "trackscan-local")
    ingest_bucket_name: str = _env("TRACKSCAN_INGEST_BUCKET", "cloud", "trackscan-ingest")
    work_bucket_name: str = _env("TRACKSCAN_WORK_BUCKET", "cloud", "trackscan-work")
    # Each step consumes the topic <prefix>-<step> (trackscan.pipeline.steps).
    topic_prefix: str = _env("TRACKSCAN_TOPIC_PREFIX", "cloud", "trackscan")
    tracks_collection: str = _env("TRACKSCAN_TRACKS_COLLECTION", "cloud", "tracks")
    # Terraform creates a database of trackscan's own, so its IAM grant can be limited to it.
    firestore_database: str = _env("TRACKSCAN_FIRESTORE_DATABASE", "cloud", "(default)")
    # Where a cloud worker runs the model: "triton" (the Cloud Run lane's steps) or "in-process"
    # (the worker lane, on TRACKSCAN_MODEL_VARIANT's runtime; the model from TRACKSCAN_MODEL_PATH,
    # a file or a gs:// URI checked against TRACKSCAN_MODEL_SHA256).
    tagger: str = _env("TRACKSCAN_TAGGER", "cloud", "triton")
    triton_grpc_url: str = _env("TRITON_GRPC_URL", "cloud", "localhost:8001")
    triton_model_name: str = _env("TRACKSCAN_TRITON_MODEL", "cloud", "musicnn")
    model_sha256: str = _env("TRACKSCAN_MODEL_SHA256", "cloud", "")
    api_keys: str = _env("TRACKSCAN_API_KEYS", "local", "")
    partner_identities: str = _env("TRACKSCAN_PARTNER_IDENTITIES", "cloud", "")
    # The partner registry: the partner ids whose prefixes (<ingest bucket>/<partner>/) are
    # ingested, matched exactly. Empty accepts any prefix (the embedded default and tests).
    partners: str = _env("TRACKSCAN_PARTNERS", "cloud", "")
    api_audience: str = _env("TRACKSCAN_API_AUDIENCE", "cloud", "")
    # Requests per second each partner may make to one API instance, after a burst of
    # api_burst (trackscan.api.rate_limit: per instance, not across instances); 0: no limit.
    api_rate_per_s: float = _env("TRACKSCAN_API_RATE_PER_S", "cloud", 10.0)
    api_burst: int = _env("TRACKSCAN_API_BURST", "cloud", 50)
    # Seconds from the start of an API request until its body must have arrived (408 after),
    # so a slow sender holds a server thread no longer (trackscan.api.request_guard). 32 MiB,
    # the largest body Cloud Run passes, needs 0.5 MiB/s.
    api_body_timeout_s: float = _env("TRACKSCAN_API_BODY_TIMEOUT_S", "cloud", 60.0)
    # Requests other than uploads one API instance works on at once; a request that waited 0.25 s
    # for a thread and a slot is answered 503 with Retry-After (trackscan.api.in_flight). 0: three
    # quarters of its threads.
    api_max_in_flight: int = _env("TRACKSCAN_API_MAX_IN_FLIGHT", "cloud", 0)
    # Failed sign-ins (API keys, ID tokens, console logins) one source address or one key prefix
    # may make to one API instance within auth_failure_window_s before it is answered 429
    # (trackscan.api.throttle); 0: no limit.
    auth_max_failures: int = _env("TRACKSCAN_AUTH_MAX_FAILURES", "cloud", 10)
    auth_failure_window_s: float = _env("TRACKSCAN_AUTH_FAILURE_WINDOW_S", "cloud", 300.0)
    # Proxies in front of the API that append to X-Forwarded-For: the client's address, which the
    # throttle counts, is this many entries from the end. 0 (local runs, tests): the connection's.
    # Cloud Run's front end gives 1; an external Application Load Balancer before it, 2.
    api_trusted_proxy_hops: int = _env("TRACKSCAN_API_TRUSTED_PROXY_HOPS", "cloud", 0)
    # Support console (trackscan.api.console): "name:key:scope" dev logins and "email=scope" Google
    # identities of staff, a scope being "*" (every partner) or one partner. Empty: no console.
    console_keys: str = _env("TRACKSCAN_CONSOLE_KEYS", "local", "")
    console_identities: str = _env("TRACKSCAN_CONSOLE_IDENTITIES", "cloud", "")
    # Signs console sessions and form tokens: every instance must share it (Terraform keeps it in
    # Secret Manager). Empty: a random secret per process, which suits one local process only.
    console_secret: str = _env("TRACKSCAN_CONSOLE_SECRET", "cloud", "")
    # Result events (trackscan.domain.result_events): the embedding makes an event 1.7 times larger
    # (6.2 KB to 10.5 KB of JSON for a real track), for every webhook and BigQuery row; off by
    # default, as `trackscan similar` reads embeddings from the track store.
    results_embedding: bool = _env("TRACKSCAN_RESULTS_EMBEDDING", "cloud", False)
    # Partners' webhooks, "partner=https://..." entries separated by commas ("*" for every partner),
    # and their signing secrets, "partner=whsec_..." entries (Secret Manager in the cloud). Two
    # secrets for one partner both sign each event: a rotation's old and new secret.
    webhooks: str = _env("TRACKSCAN_WEBHOOKS", "cloud", "")
    webhook_secrets: str = _env("TRACKSCAN_WEBHOOK_SECRETS", "cloud", "")
    # Derives the signing secrets of the webhooks partners register through the API (base64 of
    # 32 random bytes, from Secret Manager); nothing stores those secrets. Empty: the embedded
    # default keeps one in its state folder (runtimes.bootstrap).
    webhook_key: str = _env("TRACKSCAN_WEBHOOK_KEY", "cloud", "")
    # Loopback receivers (http to 127.0.0.1): the embedded default and the dev stack only. Link-local
    # and metadata addresses stay refused (trackscan.adapters.webhook_sender).
    webhook_allow_loopback: bool = _env("TRACKSCAN_WEBHOOK_ALLOW_LOOPBACK", "local", False)
    # How long an event is sent again after its retries run out (the dead-letter handler), counted
    # from its made_at; then it is logged undelivered. 0: give up at the first dead letter.
    webhook_retry_s: float = _env("TRACKSCAN_WEBHOOK_RETRY_S", "cloud", 86400.0)
    # The deliver step writes its send attempts (GET /v1/webhook) a batch per partner this often
    # at most, instead of one write per event (trackscan.pipeline.webhook_attempts); 0: each at
    # once. Two minutes keep the writes a bounded few cents a month (costs/result_events.py).
    webhook_attempts_flush_s: float = _env("TRACKSCAN_WEBHOOK_ATTEMPTS_FLUSH_S", "cloud", 120.0)
    log_level: str = _env("TRACKSCAN_LOG_LEVEL", "cloud", "INFO")
    # Reconcile: a track not updated for this long counts as stalled. Err long: replaying a
    # healthy track costs a little work, and updated_at comes from the workers' clocks.
    reconcile_after_s: float = _env("TRACKSCAN_RECONCILE_AFTER_S", "cloud", 900.0)
    # Most stalled tracks one reconcile pass replays. Each replay waits for a GCS stat and a
    # Pub/Sub publish (tens of ms each), so 100 keeps a pass under the 10 s step budget.
    reconcile_batch: int = _env("TRACKSCAN_RECONCILE_BATCH", "cloud", 100)
    # Inventory sweep (trackscan.pipeline.inventory), run with each reconcile pass. An object younger than
    # sweep_after_s may still have its notification on the way: notifications normally take seconds.
    sweep_after_s: float = _env("TRACKSCAN_SWEEP_AFTER_S", "cloud", 600.0)
    # Objects per listing call (GCS's maximum is 1000) and seconds of listing per pass, so the
    # sweep and the reconcile batch together stay inside the 10 s step budget.
    sweep_page: int = _env("TRACKSCAN_SWEEP_PAGE", "cloud", 1000)
    sweep_budget_s: float = _env("TRACKSCAN_SWEEP_BUDGET_S", "cloud", 3.0)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        """Builds the configuration from environment variables (os.environ by default)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(f.metadata["env"])
            if raw is not None and raw != "":
                values[f.name] = _parse(f, raw)
        config = cls(**values)
        return config._with_derived_paths(environ)

    def _with_derived_paths(self, environ: Mapping[str, str]) -> Config:
        home = self.home_dir or _default_home(environ)
        state_db = self.state_db_path or str(Path(home) / "state.sqlite")
        model = self.model_path or _default_model_path()
        return replace(self, home_dir=home, state_db_path=state_db, model_path=model)

    @property
    def partner_ids(self) -> frozenset[str]:
        """The registered partners; empty when any partner prefix is accepted."""
        return frozenset(p.strip() for p in self.partners.split(",") if p.strip())

    @property
    def work_dir(self) -> Path:
        """Folder of the local blob store (intermediate data of the embedded default)."""
        return Path(self.home_dir) / "work"


def env_names(scope: str | None = None) -> list[str]:
    """Names of the environment variables Config reads, optionally of one scope."""
    return [f.metadata["env"] for f in fields(Config) if scope in (None, f.metadata["scope"])]
