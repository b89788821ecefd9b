"""The on-disk cache of `training_recipes.evaluation`: one .npz per (preset, audio file).

`<cache-dir>/<preset>-<fingerprint[:16]>/<audio sha256>.npz` holds the song vector and tag
scores (np.savez, loaded with allow_pickle=False). The fingerprint hashes the preset's files,
so rebuilt weights never meet stale vectors; audio is keyed by content, its sha256
remembered per path with size and mtime in `<cache-dir>/files.json`. Every write is atomic
(temporary file + rename), and an entry that is missing or unreadable (a run killed
mid-write) is simply computed again: that is how a crashed run resumes.
"""

import hashlib
import json
import os
import re
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from sdk.files import sha256_file

CACHE_FORMAT = "training_recipes.evaluation/1"
PRESET_FILES = ("config.json", "model.weights.h5", "preprocessor.json", "metadata.json", "task.json",
                "task.weights.h5")


def atomic_write(path, write):
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            write(handle)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def audio_keys(tracks, cache_dir):
    """sha256 of each track's file; reused from files.json while size and mtime are unchanged."""
    index_path = Path(cache_dir) / "files.json"
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        index = {}
    keys, changed = [], False
    for track in tracks:
        stat = track.path.stat()
        known = index.get(str(track.path))
        if not (isinstance(known, list) and known[:2] == [stat.st_size, stat.st_mtime_ns]):
            known = [stat.st_size, stat.st_mtime_ns, sha256_file(track.path)]
            index[str(track.path)], changed = known, True
        keys.append(known[2])
    if changed:
        atomic_write(index_path, lambda f: f.write(json.dumps(index, indent=0).encode()))
    return keys


class VectorCache:
    """One .npz per (preset fingerprint, audio sha256): song vector + tag scores."""

    def __init__(self, cache_dir, name, fingerprint):
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(name.rstrip("/")).name or name)[:60]
        self.directory = Path(cache_dir) / f"{slug}-{fingerprint[:16]}"
        self.fingerprint = fingerprint
        self.computed = 0  # entries saved by this object

    def path(self, key):
        return self.directory / f"{key}.npz"

    def load(self, key, size=None):
        """(vector, tag scores, backend that computed them), or None to compute again."""
        try:
            with np.load(self.path(key), allow_pickle=False) as data:
                if str(data["format"]) != CACHE_FORMAT or str(data["fingerprint"]) != self.fingerprint:
                    return None
                vector, scores = np.array(data["embedding"]), np.array(data["scores"])
                backend = json.loads(str(data["meta"])).get("backend", "unknown")
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return None  # absent, or cut short by a crash: compute again
        if size is not None and vector.shape != (size,):
            return None
        return vector, scores, backend

    def save(self, key, vector, scores, source):
        import keras

        self.computed += 1
        meta = json.dumps({"source": str(source), "backend": keras.backend.backend(), "keras": keras.__version__})
        atomic_write(self.path(key), lambda f: np.savez(
            f, format=np.array(CACHE_FORMAT), fingerprint=np.array(self.fingerprint),
            embedding=np.asarray(vector, np.float32), scores=np.asarray(scores, np.float32), meta=np.array(meta)))


def preset_fingerprint(model):
    """sha256 over the preset's files (config, weights, preprocessor, metadata, head)."""
    digest = hashlib.sha256()
    for name in PRESET_FILES:
        path = Path(model.directory) / name
        if path.is_file():
            digest.update(f"{name}\0{sha256_file(path)}\0".encode())
    return digest.hexdigest()
