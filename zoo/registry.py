"""One registry for every thesis architecture (timm's `register_model` idea).

Each family module decorates its builder with `register_model`; `zoo.build(name)`
is the only door in. The arguments a model was built with are plain JSON, so a
preset's `config.json` is just `{"name": ..., "arguments": {...}}`.
"""

import dataclasses
import difflib
import fnmatch
from typing import Any, Callable


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: Callable[..., Any]
    reference: str  # thesis table / section / equation it reproduces
    description: str
    defaults: dict  # arguments that make the thesis configuration
    tiny: dict  # overrides for a fast smoke build (tests, docs)
    kind: str = "keras"  # "keras" -> keras.Model, "numpy" -> fitted estimator


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(name, *, reference, description, tiny=None, kind="keras", **defaults):
    """Decorator: record `builder` under `name` with its thesis defaults."""

    def decorator(builder):
        if name in _REGISTRY:
            raise ValueError(f"Model name {name!r} is registered twice.")
        _REGISTRY[name] = ModelEntry(
            name=name,
            builder=builder,
            reference=reference,
            description=description,
            defaults=dict(defaults),
            tiny=dict(tiny or {}),
            kind=kind,
        )
        return builder

    return decorator


def list_models(pattern="*"):
    """Registered names matching a shell wildcard, sorted (`list_models("samplecnn*")`)."""
    return sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern))


def get_model_info(name):
    """The registry entry for `name`; unknown names fail with close matches."""
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise KeyError(
            f"Unknown model {name!r}.{hint} See zoo.list_models() for all names."
        ) from None


def model_arguments(name, **overrides):
    """The full argument dict `build(name, **overrides)` would use."""
    entry = get_model_info(name)
    unknown = set(overrides) - set(entry.defaults)
    if unknown:
        raise TypeError(
            f"{name!r} has no argument(s) {sorted(unknown)}; "
            f"it takes {sorted(entry.defaults)}."
        )
    return {**entry.defaults, **overrides}


def build(name, **overrides):
    """Build a registered model; keyword arguments override the thesis defaults."""
    entry = get_model_info(name)
    return entry.builder(**model_arguments(name, **overrides))
