"""Which Keras backend runs the zoo: chosen once, before keras is imported.

Keras reads its backend when it is first imported: from `KERAS_BACKEND`, else from
~/.keras/keras.json, which Keras itself writes with "tensorflow" on its first import. This
project installs JAX by default (`pip install music-retrieval-zoo`), not TensorFlow, so
`select_backend()`, called first thing by `import zoo` and `import sdk`, decides:

1. keras already imported (by the user, or another library): its backend is kept;
2. `KERAS_BACKEND` set: honoured (a clear error if it names a backend that is not installed);
3. else the first installed of `ORDER` (the default, JAX, then TensorFlow, then torch),
   written to `os.environ["KERAS_BACKEND"]` so that keras, imported next, uses it;
4. none installed: `NoBackendError`, an ImportError that says which extra to install.

Why JAX is the default, with the measured install sizes and first-load times:
docs/install.md (figures from benchmarks/install_backends.py). This module imports nothing
heavy: whether a backend is installed is asked of `importlib.util.find_spec`.
"""

import importlib.util
import os
import sys

DEFAULT_BACKEND = "jax"
# The order an unset KERAS_BACKEND is resolved in: the default, then TensorFlow (Keras's own
# default; its first load is level with torch's, its steady-state embedding shorter: docs/install.md).
ORDER = ("jax", "tensorflow", "torch")
# The modules each backend needs (jax is only the front of jaxlib), and the extra that installs it.
MODULES = {"jax": ("jax", "jaxlib"), "tensorflow": ("tensorflow",), "torch": ("torch",),
           "numpy": ("numpy",), "openvino": ("openvino",)}
EXTRAS = {"jax": "jax", "tensorflow": "tensorflow", "torch": "torch"}
PACKAGE = "music-retrieval-zoo"


class NoBackendError(ImportError):
    """No Keras backend can be imported (or `KERAS_BACKEND` names one that is not installed)."""


def is_installed(backend):
    """True if every module `backend` needs can be found (without importing it)."""
    try:
        return all(importlib.util.find_spec(module) is not None for module in MODULES[backend])
    except (ImportError, ValueError):  # a broken or half-removed install
        return False


def installed_backends():
    """The installed backends among `ORDER`, in that order."""
    return [backend for backend in ORDER if is_installed(backend)]


def _install_hint():
    return "; ".join(f'pip install "{PACKAGE}[{EXTRAS[b]}]"' for b in ORDER)


def select_backend():
    """Decide the Keras backend (see the module docstring) and return its name. TensorFlow's
    C++ start-up info and warnings are off unless TF_CPP_MIN_LOG_LEVEL says otherwise."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    keras = sys.modules.get("keras")
    if keras is not None:
        config = getattr(keras, "config", None)
        if config is not None and hasattr(config, "backend"):
            return config.backend()
    requested = os.environ.get("KERAS_BACKEND", "").strip()
    if requested:
        if requested in MODULES and not is_installed(requested):
            others = [b for b in installed_backends() if b != requested]
            fix = (f'pip install "{PACKAGE}[{EXTRAS[requested]}]"' if requested in EXTRAS
                   else f"install {MODULES[requested][0]}")
            raise NoBackendError(
                f"KERAS_BACKEND={requested} but {' and '.join(MODULES[requested])} cannot be imported: {fix}"
                + (f", or unset KERAS_BACKEND to use {others[0]} (installed)" if others else ""))
        return requested
    for backend in ORDER:
        if is_installed(backend):
            os.environ["KERAS_BACKEND"] = backend
            return backend
    raise NoBackendError(
        f"{PACKAGE} needs a Keras backend and none is installed (looked for {', '.join(ORDER)}). "
        f"Install one: {_install_hint()}")
