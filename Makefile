# Set-up and checks. `make test` works on a fresh machine: it makes .venv,
# installs the project with its test extras, and runs the suite under each
# Keras backend in turn.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BACKENDS ?= tensorflow jax torch
PYTEST_ARGS ?=

.PHONY: install demo demo-install quickstart test clean musicnn-wheel corpus-tools browser

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The CPU build of torch, from this machine's disk; a bare `torch` pulls CUDA.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

# The Gradio demo (demo/): a catalog built once (cached under data/demo, per preset weights) and
# served on localhost. Default catalog: free soundtracks fetched from Debian with the corpus builder
# (DEMO_CORPUS=<corpus dir> takes them from a corpus already built); MUSIC=<folder> serves your own.
DEMO_PRESET ?= disentangled-msd
DEMO_PORT ?= 7860
MUSIC ?=
DEMO_CORPUS ?=
$(VENV)/.demo: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[demo]"
	touch $@

demo-install: $(VENV)/.demo

demo: demo-install
	@set -e; export HF_HUB_OFFLINE=1; \
	if [ -n "$(MUSIC)" ]; then \
		catalog=$$($(PY) -m demo.catalog folder "$(MUSIC)" --preset $(DEMO_PRESET)); \
	else \
		catalog=$$($(PY) -m demo.catalog default --preset $(DEMO_PRESET) $(if $(DEMO_CORPUS),--corpus "$(DEMO_CORPUS)")); \
	fi; \
	$(PY) -m demo.app --catalog "$$catalog" --preset $(DEMO_PRESET) --port $(DEMO_PORT)

# The SDK quick start: fetch a free soundtrack from Debian, load the bundled preset offline,
# embed, index, search.
quickstart: install
	scripts/fetch_free_music.sh data/free-music
	HF_HUB_OFFLINE=1 $(PY) -m sdk.quickstart data/free-music --catalog data/quickstart-catalog

# musicnn's published weights (Pons & Serra, ISC) ship inside its PyPI wheel: fetch it once,
# check its sha256, unpack it. The musicnn presets' converter and checkpoint tests read it.
MUSICNN_WHEEL := data/wheels/musicnn-0.1.0-py3-none-any.whl
MUSICNN_WHEEL_SHA256 := f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa
MUSICNN_DIR := data/musicnn-wheel
MUSICNN_CHECKPOINT := $(CURDIR)/$(MUSICNN_DIR)/musicnn/MSD_musicnn
MUSICNN_MTT_CHECKPOINT := $(CURDIR)/$(MUSICNN_DIR)/musicnn/MTT_musicnn

$(MUSICNN_DIR)/.unpacked: | $(VENV)/.installed
	mkdir -p data/wheels
	$(PY) -m pip download --quiet --no-deps musicnn==0.1.0 -d data/wheels
	$(PY) -c "import hashlib, sys; got = hashlib.sha256(open('$(MUSICNN_WHEEL)', 'rb').read()).hexdigest(); \
		sys.exit(0 if got == '$(MUSICNN_WHEEL_SHA256)' else f'$(MUSICNN_WHEEL): sha256 {got} is not musicnn 0.1.0')"
	rm -rf $(MUSICNN_DIR)
	$(PY) -m zipfile -e $(MUSICNN_WHEEL) $(MUSICNN_DIR)
	touch $@

musicnn-wheel: $(MUSICNN_DIR)/.unpacked

# Debian players the corpus builder renders MIDI scores and tracker modules with
# (training_recipes/corpus/render.py): installed with apt-get when one is missing.
CORPUS_TOOLS := fluidsynth fluid-soundfont-gm openmpt123
SOUNDFONT := /usr/share/sounds/sf2/FluidR3_GM.sf2
corpus-tools:
	@if command -v fluidsynth >/dev/null && command -v openmpt123 >/dev/null && [ -f $(SOUNDFONT) ]; then :; \
	else \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(CORPUS_TOOLS); \
	fi

# Headless Chromium for the demo's e2e test (tests/demo/test_e2e.py): Debian's chromium, installed
# with apt-get when missing; Playwright (a test extra) drives it, its own browser download unused.
CHROMIUM := /usr/bin/chromium
browser:
	@if [ -x $(CHROMIUM) ]; then :; \
	else \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium; \
	fi

# The suite under each backend, then once the wheel test (tests/test_install.py: a fresh venv
# with only `pip install <the wheel>`, no KERAS_BACKEND), which no backend changes.
test: install musicnn-wheel corpus-tools browser
	@set -e; for backend in $(BACKENDS); do \
		echo "=== KERAS_BACKEND=$$backend ==="; \
		MUSICNN_CHECKPOINT=$(MUSICNN_CHECKPOINT) MUSICNN_MTT_CHECKPOINT=$(MUSICNN_MTT_CHECKPOINT) \
		KERAS_BACKEND=$$backend $(PY) -m pytest -q -m "not wheel" $(PYTEST_ARGS); \
	done
	@echo "=== the wheel, installed in a fresh venv ==="
	env -u KERAS_BACKEND $(PY) -m pytest -q -m wheel tests/test_install.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
