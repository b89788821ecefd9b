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

# Until the SDK quick start exists (issue 3), the demo tours the zoo: every
# registered thesis model built at its thesis size, with its parameter count.
demo: install
	$(PY) -m zoo --params

test: install
	@set -e; for backend in $(BACKENDS); do \
		echo "=== KERAS_BACKEND=$$backend ==="; \
		KERAS_BACKEND=$$backend $(PY) -m pytest -q $(PYTEST_ARGS); \
	done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
