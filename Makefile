# Set-up and checks. `make test` works on a fresh machine: it makes .venv,
# installs the project with its test extras, and runs the suite under each
# Keras backend in turn.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BACKENDS ?= tensorflow jax torch
PYTEST_ARGS ?=

.PHONY: install demo test clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The CPU build of torch, from this machine's disk; a bare `torch` pulls CUDA.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

# Until the Gradio app exists, the demo is the SDK quick start: fetch a free
# soundtrack from Debian, load the bundled preset offline, embed, index, search.
demo: install
	scripts/fetch_free_music.sh data/free-music
	HF_HUB_OFFLINE=1 $(PY) -m sdk.quickstart data/free-music --catalog data/quickstart-catalog

test: install
	@set -e; for backend in $(BACKENDS); do \
		echo "=== KERAS_BACKEND=$$backend ==="; \
		KERAS_BACKEND=$$backend $(PY) -m pytest -q $(PYTEST_ARGS); \
	done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
