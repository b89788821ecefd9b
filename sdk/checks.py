"""Argument checks at the SDK's boundary: a bad value gets a ValueError or TypeError that
names the argument, what it got and what it takes, before any audio is decoded."""

import numbers
from pathlib import Path

import numpy as np


def count(value, name, allow_none=False):
    """A positive whole number (k, top_k, batch_size); None when `allow_none`."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        what = "a positive whole number" + (" or None" if allow_none else "")
        raise TypeError(f"{name} must be {what}, got {value!r} ({type(value).__name__})")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return int(value)


def levels(value, stage_names):
    """A non-empty sequence of distinct stage indices from the top (-1 .. -len(stage_names))."""
    listing = f"this model's stages from the top are -1 .. -{len(stage_names)} ({', '.join(stage_names)})"
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"levels must be a sequence of negative stage indices, e.g. (-3, -2, -1); got {value!r}; "
                        f"{listing}")
    items = list(value)
    if not items or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in items):
        raise TypeError(f"levels must be a non-empty sequence of integers, got {value!r}; {listing}")
    bad = [int(v) for v in items if not -len(stage_names) <= v <= -1]
    if bad or len(set(items)) < len(items):
        raise ValueError(f"levels {[int(v) for v in items]}: {'out of range ' + str(bad) if bad else 'repeated'}; "
                         f"{listing}")
    return tuple(int(v) for v in items)


def weights(value, layout):
    """{sub-space: finite weight >= 0}, names from `layout`, not all zero; None stays None."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError(f"weights must be a dict {{sub-space: weight}}, got {type(value).__name__}; "
                        f"sub-spaces: {', '.join(layout)}")
    unknown = [name for name in value if name not in layout]
    if unknown:
        raise ValueError(f"weights name unknown sub-space(s) {unknown}; this catalog has {', '.join(layout)}")
    out = {}
    for name, weight in value.items():
        if isinstance(weight, bool) or not isinstance(weight, numbers.Real) or not np.isfinite(weight) or weight < 0:
            raise ValueError(f"weights[{name!r}] must be a finite number >= 0, got {weight!r}")
        out[name] = float(weight)
    if out and not any(out.values()):
        raise ValueError(f"weights are all zero ({out}): nothing would be compared")
    return out


def audio(value, name="audio"):
    """What embed/tag take: a path, a list of paths, a folder, or a numpy array."""
    if value is None:
        raise TypeError(f"{name} is None: give an audio file, a folder, a list of files or a numpy array")
    if isinstance(value, (list, tuple)) and not value:
        raise ValueError(f"{name} is an empty list: give at least one audio file")
    if not isinstance(value, (str, Path, np.ndarray, list, tuple)) and not hasattr(value, "__fspath__"):
        raise TypeError(f"{name} must be a file path, a folder, a list of paths or a numpy array, "
                        f"got {type(value).__name__}")
    return value


def query(value):
    """similar()'s query: not None, not an empty list or dict."""
    if value is None:
        raise TypeError("query is None: give a catalog id, an audio file, a tag or artist, a vector, "
                        "a list of those, or {sub-space: query}")
    if isinstance(value, (list, tuple, dict)) and not value:
        raise ValueError(f"query is an empty {type(value).__name__}: give at least one example")
    return value


def parse_query_arguments(values, layout):
    """CLI search queries -> what similar() takes: one query, a list (averaged), or
    {sub-space: query} from SUBSPACE=QUERY arguments (only names of `layout` split that way)."""
    parts, plain = {}, []
    for value in values:
        name, sep, rest = value.partition("=")
        if sep and name in layout:
            if not rest:
                raise ValueError(f"query {value!r}: nothing after {name}=")
            if name in parts:
                raise ValueError(f"query names sub-space {name!r} twice")
            parts[name] = rest
        else:
            plain.append(value)
    if parts and plain:
        raise ValueError(f"mix of SUBSPACE=QUERY and plain queries {plain}: give every part a sub-space "
                         f"({', '.join(layout)})")
    return parts or (plain[0] if len(plain) == 1 else plain)


def parse_weight_options(options, layout=None):
    """CLI `--weight genre=1 --weight mood=0.5` -> {name: float}; a clear error for 'all'."""
    out = {}
    for option in options or ():
        name, sep, number = option.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--weight takes SUBSPACE=WEIGHT (e.g. --weight genre=1), got {option!r}")
        try:
            out[name.strip()] = float(number)
        except ValueError:
            raise ValueError(f"--weight {option!r}: {number!r} is not a number") from None
    return weights(out, layout) if layout is not None and out else (out or None)
