"""zoo/backend.py: the Keras backend chosen at `import zoo` / `import sdk`, each case in a fresh
process (the choice is made once, before keras is imported).

A backend is made "not installed" by `sys.modules[name] = None` before anything runs: then
`importlib.util.find_spec(name)` answers None and `import name` raises ModuleNotFoundError,
as when the package is absent.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Each case runs in its own process with its own backend: the suite's backend cannot matter,
# so the file runs once, in the jax pass of `make test`.
pytestmark = pytest.mark.skipif(os.environ.get("KERAS_BACKEND", "jax") != "jax",
                                reason="backend-independent: runs in the jax pass only")

ROOT = Path(__file__).resolve().parents[2]
PRELUDE = """
import json, os, sys
for name in {hidden!r}:
    sys.modules[name] = None
"""


def run(code, tmp_path, backend=None, hidden=()):
    """Run `code` in a fresh interpreter (this checkout first on the path; KERAS_BACKEND as given,
    else unset; a KERAS_HOME whose keras.json says tensorflow, which must not matter)."""
    home = tmp_path / "keras-home"
    home.mkdir(exist_ok=True)
    (home / "keras.json").write_text(json.dumps({"backend": "tensorflow", "floatx": "float32",
                                                 "epsilon": 1e-07, "image_data_format": "channels_last"}))
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "PYTHONPATH")}
    env.update(PYTHONPATH=str(ROOT), KERAS_HOME=str(home), TF_CPP_MIN_LOG_LEVEL="3")
    if backend is not None:
        env["KERAS_BACKEND"] = backend
    return subprocess.run([sys.executable, "-c", PRELUDE.format(hidden=list(hidden)) + code], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)


def last_json(result):
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


# zoo/backend.py alone, without `import zoo` (whose __init__ goes on to import keras)
SELECT = """
import importlib.util
spec = importlib.util.spec_from_file_location("backend", os.path.join(os.environ["PYTHONPATH"], "zoo", "backend.py"))
backend = importlib.util.module_from_spec(spec)
spec.loader.exec_module(backend)
chosen = backend.select_backend()
print(json.dumps({"chosen": chosen, "env": os.environ.get("KERAS_BACKEND"), "keras": "keras" in sys.modules,
                  "order": list(backend.ORDER)}))
"""


# ----- the rule, through zoo.backend alone ---------------------------------------------------
@pytest.mark.parametrize("hidden, expected", [
    ((), "jax"),                            # the default, when installed
    (("jaxlib",), "tensorflow"),            # jax without jaxlib cannot run
    (("jax", "jaxlib"), "tensorflow"),
    (("jax", "tensorflow"), "torch"),
])
def test_unset_backend_picks_the_first_installed_in_order(tmp_path, hidden, expected):
    out = last_json(run(SELECT, tmp_path, hidden=hidden))
    assert out == {"chosen": expected, "env": expected, "keras": False,  # set before keras is imported
                   "order": ["jax", "tensorflow", "torch"]}


@pytest.mark.parametrize("backend", ["torch", "tensorflow", "numpy"])
def test_a_set_backend_is_honoured(tmp_path, backend):
    out = last_json(run(SELECT, tmp_path, backend=backend))
    assert (out["chosen"], out["env"], out["keras"]) == (backend, backend, False)


def test_a_set_backend_that_is_not_installed_says_which_extra(tmp_path):
    result = run(SELECT, tmp_path, backend="torch", hidden=("torch",))
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("backend.NoBackendError: KERAS_BACKEND=torch but torch cannot be imported")
    assert 'pip install "music-retrieval-zoo[torch]"' in last and "unset KERAS_BACKEND to use jax" in last


def test_keras_already_imported_keeps_its_backend(tmp_path):
    code = """
os.environ["KERAS_BACKEND"] = "numpy"
import keras
del os.environ["KERAS_BACKEND"]
import zoo
print(json.dumps({"chosen": zoo.backend.select_backend(), "keras": keras.backend.backend(),
                  "env": os.environ.get("KERAS_BACKEND")}))
"""
    assert last_json(run(code, tmp_path)) == {"chosen": "numpy", "keras": "numpy", "env": None}


# ----- through the packages, as a user meets it -----------------------------------------------
def test_import_sdk_without_keras_backend_runs_on_jax_not_keras_json(tmp_path):
    code = """
import sdk, keras
print(json.dumps({"keras": keras.backend.backend(), "env": os.environ.get("KERAS_BACKEND")}))
"""
    assert last_json(run(code, tmp_path)) == {"keras": "jax", "env": "jax"}


def test_import_zoo_honours_keras_backend(tmp_path):
    code = """
import zoo, keras
print(json.dumps({"keras": keras.backend.backend()}))
"""
    assert last_json(run(code, tmp_path, backend="numpy")) == {"keras": "numpy"}  # the lightest to import


@pytest.mark.parametrize("package", ["sdk", "zoo"])
def test_no_backend_installed_is_one_clear_import_error(tmp_path, package):
    code = f"""
try:
    import {package}
except ImportError as error:
    print(json.dumps({{"type": type(error).__module__ + "." + type(error).__name__, "message": str(error),
                      "keras_imported": "keras" in sys.modules}}))
"""
    out = last_json(run(code, tmp_path, hidden=("jax", "jaxlib", "torch", "tensorflow")))
    assert out["type"] == "zoo.backend.NoBackendError"  # not keras's ModuleNotFoundError: keras never ran
    assert out["keras_imported"] is False
    message = out["message"]
    assert message.startswith("music-retrieval-zoo needs a Keras backend and none is installed "
                              "(looked for jax, tensorflow, torch)")
    for extra in ("jax", "tensorflow", "torch"):
        assert f'pip install "music-retrieval-zoo[{extra}]"' in message


def test_no_backend_error_is_an_import_error():
    from zoo.backend import NoBackendError

    assert issubclass(NoBackendError, ImportError)
