"""A preset whose embedding is read from hidden levels of its backbone (thesis section 3.3).

Lee & Nam's multi-level aggregation (thesis chapter 3, Table 3.6) takes the max over
time of several hidden stages and concatenates them. A preset may make that its
embedding: the "embeddings" entry of metadata.json then carries

    "levels": [-11, ..., -1]     stages counted from the top (MusicModel.stage_layers)
    "file": "levels.npz"         arrays `levels`, `mean` (D,) and `matrix` (D, size)

and a segment's embedding is (its concatenated max-pooled stages - mean) @ matrix, a
linear map fitted on training tracks only (training_recipes/samplecnn_msd/levels.py:
truncated PCA whitening). The layer the tag head reads (the "head" features) is left
as it is, so tag() does not change.
"""

from pathlib import Path

import numpy as np

LEVELS_FILE = "levels.npz"


class LevelReadout:
    """`levels` (negative stage indices) and the linear map from their features to the embedding."""

    def __init__(self, levels, mean, matrix):
        self.levels = tuple(int(level) for level in levels)
        self.mean = np.asarray(mean, np.float32)
        self.matrix = np.asarray(matrix, np.float32)
        if not self.levels or any(level >= 0 for level in self.levels) or len(set(self.levels)) < len(self.levels):
            raise ValueError(f"levels are distinct stages counted from the top (-1, -2, ...); got {list(levels)}")
        if self.mean.ndim != 1 or self.matrix.ndim != 2 or self.matrix.shape[0] != self.mean.shape[0]:
            raise ValueError(f"mean {self.mean.shape} and matrix {self.matrix.shape} do not fit (D,) and (D, size)")
        if not (np.all(np.isfinite(self.mean)) and np.all(np.isfinite(self.matrix))):
            raise ValueError("mean and matrix must be finite")

    @property
    def size(self):
        return int(self.matrix.shape[1])

    @property
    def input_size(self):
        return int(self.matrix.shape[0])

    def __call__(self, features):
        """(n, D) concatenated max-pooled level features -> (n, size) embeddings."""
        features = np.asarray(features, np.float32)
        if features.shape[-1] != self.input_size:
            raise ValueError(f"level features have {features.shape[-1]} dimensions, the read-out takes "
                             f"{self.input_size}")
        return (features - self.mean) @ self.matrix

    def save(self, path, matrix_dtype="float16"):
        """Write the arrays; the (D, size) matrix in float16 by default (half the bytes, and
        cosine rankings do not move at that precision)."""
        np.savez(path, levels=np.asarray(self.levels, np.int64), mean=self.mean,
                 matrix=self.matrix.astype(matrix_dtype))
        return Path(path)

    @classmethod
    def from_preset(cls, directory, entry):
        """The read-out an "embeddings" metadata entry names, or None when it names no levels."""
        if not entry.get("levels"):
            return None
        path = Path(directory) / entry.get("file", LEVELS_FILE)
        where = f"{Path(directory)}: metadata.json names embedding levels {list(entry['levels'])}"
        if not path.is_file():
            raise ValueError(f"{where} and {path.name}, which is missing")
        try:
            with np.load(path) as saved:
                readout = cls(entry["levels"], saved["mean"], saved["matrix"])
                if [int(v) for v in saved["levels"]] != list(readout.levels):
                    raise ValueError(f"it was fitted for levels {saved['levels'].tolist()}")
        except (KeyError, ValueError, OSError) as error:
            raise ValueError(f"{where}, but {path.name} is unusable: {error}") from None
        return readout


def without_level_readout(metadata):
    """A copy of preset metadata whose embedding is the layer the tag head reads again: for
    the same architecture with other weights, where a fitted read-out means nothing."""
    outputs = metadata.get("outputs") or []
    head = next((o for o in outputs if o.get("name") == "head"), None)
    if head is None:
        return dict(metadata)
    rest = [o for o in outputs if o.get("purpose") not in ("embeddings", "tag head input")]
    meta = {k: v for k, v in metadata.items() if k != "level_readout"}
    meta["outputs"] = [{**head, "name": "embedding", "purpose": "embeddings"}, *rest]
    meta["embedding_size"] = int(head["size"])
    meta["subspaces"] = {"all": [0, int(head["size"])]}
    return meta
