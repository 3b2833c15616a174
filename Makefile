# One task runner. `make run` and `make test` install what they need, idempotently.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
MODEL := inference/model_repository/musicnn/1/model.onnx
MUSIC_DIR ?= $(or $(TRACKSCAN_MUSIC_DIR),$(HOME)/.cache/trackscan/music)

.PHONY: setup lock model model-reproducible music triton-venv bench-venv bench-musicnn-venv load-venv browser midi-renderer run check lint test test-faults bench bench-descriptors bench-api soak clean tf-lock

setup: $(INSTALLED) $(MODEL)

# From the hashed lock (make lock), so two machines install the same bytes; trackscan itself on top.
$(INSTALLED): requirements-dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

# Resolves requirements.txt (the image: requirements.lock) and it with requirements-dev.txt (the
# dev venv: requirements-dev.lock) to every package with its hashes. Needs the package index.
LOCK := $(BIN)/uv pip compile --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 --quiet
lock: setup
	$(LOCK) requirements.txt -o requirements.lock
	$(LOCK) requirements.txt requirements-dev.txt -o requirements-dev.lock

# Rebuilt when the build inputs change. The same inputs give the same bytes (the graph is put in a
# canonical form), so a rebuild without a change keeps the sha256 and a release does not roll Triton.
$(MODEL): inference/build_model.py inference/musicnn_to_onnx.py inference/onnx_canonical.py inference/requirements-build.txt inference/requirements-build-nodeps.txt
	$(PYTHON) inference/build_model.py --force

model: $(MODEL)

# Builds the model twice from scratch (minutes each) and fails unless both have the same sha256.
model-reproducible:
	@tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; \
	for build in a b; do nice $(PYTHON) inference/build_model.py --force --output-dir "$$tmp/$$build" || exit 1; done; \
	sha256sum "$$tmp"/a/musicnn/1/model.onnx "$$tmp"/b/musicnn/1/model.onnx; \
	cmp -s "$$tmp"/a/musicnn/1/model.onnx "$$tmp"/b/musicnn/1/model.onnx && echo "model build is reproducible"

music:
	scripts/fetch_music.sh

# The local Triton server (PyTriton pins numpy<2, so it gets its own venv).
triton-venv:
	scripts/install_triton_venv.sh

# Essentia for the descriptor benchmark only (AGPL-3.0: never a runtime dependency), in its own venv.
BENCH_VENV := .venv-bench
$(BENCH_VENV)/.installed: benchmarks/requirements-essentia.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet -r benchmarks/requirements-essentia.txt
	touch $@

bench-venv: $(BENCH_VENV)/.installed

# The musicnn reference implementation (TensorFlow CPU), the end-to-end benchmark's second peer.
MUSICNN_VENV := .venv-musicnn
$(MUSICNN_VENV)/.installed: benchmarks/requirements-musicnn.txt benchmarks/requirements-musicnn-nodeps.txt
	$(PYTHON) -m venv $(MUSICNN_VENV)
	$(MUSICNN_VENV)/bin/python -m pip install --quiet -r benchmarks/requirements-musicnn.txt
	$(MUSICNN_VENV)/bin/python -m pip install --quiet --no-deps -r benchmarks/requirements-musicnn-nodeps.txt
	touch $@

bench-musicnn-venv: $(MUSICNN_VENV)/.installed

# locust for the API load test only, in its own venv (gevent patches the standard library).
LOAD_VENV := .venv-load
$(LOAD_VENV)/.installed: benchmarks/requirements-load.txt
	$(PYTHON) -m venv $(LOAD_VENV)
	$(LOAD_VENV)/bin/python -m pip install --quiet -r benchmarks/requirements-load.txt
	touch $@

load-venv: $(LOAD_VENV)/.installed

# Chromium for the console's browser test (Playwright drives the system's browser: its own browser
# download needs a host this project cannot reach). Debian's package, installed once where apt-get
# runs as root; elsewhere the test skips and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	  || echo "chromium is not installed (needs apt-get as root): the console's browser test will skip"

# MMA and fluidsynth with a General MIDI soundfont: they render benchmarks/arrangement_tempo.py's arrangements.
midi-renderer:
	@{ command -v mma && command -v fluidsynth && [ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ]; } >/dev/null 2>&1 \
	  || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && apt-get update -qq \
	    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mma fluidsynth fluid-soundfont-gm >/dev/null; } \
	  || echo "MMA, fluidsynth or the soundfont is missing (needs apt-get as root): the arrangement tempo tests will skip"

# Tags the paths in PATHS, or the demo corpus of real music from Debian packages.
run: setup
	@paths="$(PATHS)"; [ -n "$$paths" ] || paths="$$(scripts/fetch_music.sh)/demo"; \
	$(BIN)/trackscan run $$paths

LINTED := shared functions inference tests benchmarks scripts

lint: setup
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

# The fast loop: lint, format, types, and the unit and offline infrastructure tests. No network, no servers;
# checks whose tools `make test` installs (checkov, the provider schema) skip here and say why.
# The tests run on every core (pytest-xdist); `make test` runs the whole suite in one process, since
# its fault tests time real servers.
check: lint
	$(BIN)/python -m pytest -q -n auto -m "unit or infra" -p no:cacheprovider

test: setup triton-venv browser midi-renderer
	PYTHON=$(PYTHON) tools/checkov/install.sh
	$(BIN)/python tools/provider_schema/fetch.py
	$(MAKE) lint
	# Everything, the emulator fault modules included (about 20 min of it; FAULTS.md has their runs).
	$(BIN)/python -m pytest

bench: setup triton-venv bench-musicnn-venv
	$(BIN)/python -m benchmarks.bench_local --music "$$(scripts/fetch_music.sh)" --musicnn-python $(MUSICNN_VENV)/bin/python
	$(BIN)/python -m benchmarks.bench_local --music "$$(scripts/fetch_music.sh)" --corpus drascula-music torus-trooper-data \
		--musicnn-python $(MUSICNN_VENV)/bin/python
	$(BIN)/python -m benchmarks.bench_steps --music "$$(scripts/fetch_music.sh)"
	$(BIN)/python -m benchmarks.bench_segment_steps --music "$$(scripts/fetch_music.sh)" --heaviest
	# The front end per core (decode, 16 kHz mono, descriptors, patches), against the code it replaced.
	$(BIN)/python -m benchmarks.descriptor_cost --music "$$(scripts/fetch_music.sh)"
	# Similarity quality (tags the three packages once, cached in .trackscan/similarity) and latency; dedupe.
	$(BIN)/python -m benchmarks.bench_similarity --music "$$(scripts/fetch_music.sh)"
	$(BIN)/python -m benchmarks.similarity_protocol --music "$$(scripts/fetch_music.sh --similarity)"
	$(BIN)/python -m benchmarks.bench_dedupe --music "$$(scripts/fetch_music.sh)"
	# The Triton sweep (the gpu preset where nvidia-smi lists a GPU), then the cost per million tracks.
	mkdir -p .trackscan && $(BIN)/python -m benchmarks.bench_triton_gpu --check-onnx --out .trackscan/triton_sweep.json
	$(BIN)/python -m benchmarks.cost_model
	$(MAKE) bench-descriptors

# Descriptors beside Essentia and librosa on known-truth audio and real music (BENCHMARKS.md).
bench-descriptors: setup bench-venv midi-renderer
	$(BIN)/python -m benchmarks.bench_descriptors --music "$$(scripts/fetch_music.sh)" \
		--essentia-python $(BENCH_VENV)/bin/python
	$(BIN)/python -m benchmarks.arrangement_tempo --essentia-python $(BENCH_VENV)/bin/python
	$(BIN)/python -m benchmarks.bench_key --essentia-python $(BENCH_VENV)/bin/python
	$(BIN)/python -m benchmarks.bench_model --music "$$(scripts/fetch_music.sh)"

# The API at rising rates on the dev stack until it saturates, then a 10-minute soak (about 15 min).
bench-api: setup load-venv
	$(BIN)/python -m benchmarks.bench_api_load --music "$$(scripts/fetch_music.sh)" --locust $(LOAD_VENV)/bin/locust

# The soak at 10,000 tracks alone (about an hour), its row written into FAULTS.md; make test runs it at 60.
# FAULTS_SOAK_LANE=workers soaks the workers lane (pull workers, the model in process) instead of cloud-run.
soak: setup triton-venv
	FAULTS_REPORT=FAULTS.md FAULTS_SOAK=$${FAULTS_SOAK:-10000} $(BIN)/python -m pytest tests/faults/test_emulator_soak.py

# The fault suite alone, writing its table into FAULTS.md.
test-faults: setup triton-venv
	FAULTS_REPORT=FAULTS.md $(BIN)/python -m pytest tests/faults

# Writes terraform/environments/<env>/.terraform.lock.hcl: the pinned google provider's checksums for
# the platforms people and Cloud Build run Terraform on. Needs registry.terraform.io; commit the result.
TF_ENVIRONMENTS := $(wildcard terraform/environments/*)
tf-lock:
	for env in $(TF_ENVIRONMENTS); do \
	  terraform -chdir=$$env get >/dev/null && \
	  terraform -chdir=$$env providers lock -platform=linux_amd64 -platform=linux_arm64 -platform=darwin_arm64 -platform=darwin_amd64 || exit 1; \
	done

# Everything the targets above make: every virtual environment, the built model, fetched schemas,
# state. The music cache in ~/.cache/trackscan is kept (it is shared by checkouts).
clean:
	rm -rf $(VENV) .venv-triton $(BENCH_VENV) $(MUSICNN_VENV) $(LOAD_VENV) .venv-checkov inference/.venv-build \
		.provider-schema .gpu-bench .trackscan $(MODEL) $(MODEL).sha256
