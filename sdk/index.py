"""`Catalog`: the on-disk search index of song embeddings.

Rows are stored L2-normalised per sub-space (the disjoint slices a conditional
similarity network gives each notion of similarity), so ONE inner product with a
query normalised the same way and scaled by weights w_s scores sum_s w_s * cos_s.
With faiss-cpu the index is chosen by size (`index="auto"`: exact below
`sdk.ann.FLAT_BELOW` vectors, IVF above, IVF-PQ from `sdk.ann.IVFPQ_FROM`; or forced:
"flat", "ivf", "hnsw", "ivfpq"); without it the search is exact numpy. Either way the index
only proposes candidates, which the same numpy code rescores exactly, so scores are exact and
the exact backends return identical results. Saves are atomic (temp dir + fsync + rename
swap) and carry the trained index (sdk/catalog_files.py).

A catalog records the model that made its vectors (preset id and the sha256 of its weights:
`sdk` refuses to search it with another model) and which metadata fields are searchable
by name (`fields`; a tag, artist, soundtrack, composer or folder named in a query becomes
the prototype of the items carrying it, thesis Eq. 2.9).
"""

import json
import warnings

import numpy as np
from tqdm.auto import tqdm

from sdk import ann, catalog_files
from sdk.ann import faiss  # None: exact numpy search instead
from sdk.audio import AudioError
from sdk.catalog_files import (CATALOG_FILE, EMBEDDINGS_FILE, FAISS_FILE, FORMAT_VERSION, ITEMS_FILE,
                               json_default as _json_default)
from sdk.catalog_sources import read_source

__all__ = ["Catalog", "FORMAT_VERSION", "CATALOG_FILE", "EMBEDDINGS_FILE", "FAISS_FILE", "ITEMS_FILE"]

_EPS = 1e-12


def _layout(embedding_size, subspaces):
    """{name: (start, stop)} sorted by start; must tile [0, embedding_size)."""
    if not subspaces:
        return {"all": (0, embedding_size)}
    spans = sorted(((int(a), int(b), str(n)) for n, (a, b) in dict(subspaces).items()))
    edge = 0
    for start, stop, name in spans:
        if start != edge or stop <= start:
            raise ValueError(f"sub-spaces must tile 0..{embedding_size} without gaps or "
                             f"overlaps; {name!r} is [{start}, {stop}) after {edge}")
        edge = stop
    if edge != embedding_size:
        raise ValueError(f"sub-spaces end at {edge}, embedding_size is {embedding_size}")
    return {name: (start, stop) for start, stop, name in spans}


class Catalog:
    """Song embeddings + metadata with weighted sub-space search, exact scores.

    index: "auto" (by size), "flat", "ivf", "hnsw" or "ivfpq" (see sdk.ann); recorded in
    catalog.json. Approximate kinds trade recall for speed (docs/performance.md, search at scale).
    """

    def __init__(self, embedding_size, subspaces=None, model=None, backend="auto", model_sha256=None,
                 fields=None, model_source=None, index="auto"):
        self.embedding_size = int(embedding_size)
        self._spans = _layout(self.embedding_size, subspaces)
        self.model = model  # preset id of the model that made the vectors
        self.model_sha256 = model_sha256  # sha256 of its weights
        self.model_source = model_source  # where to load it from when the id is not registered
        self.fields = None if fields is None else [str(f) for f in fields]
        self._index = None  # faiss index over _vectors, built lazily (or loaded)
        self._index_kind, self._index_params = None, None  # what _index is and was built with
        self.backend = backend
        self.index = index
        self._vectors = np.zeros((0, self.embedding_size), np.float32)
        self._ids, self._items, self._rows = [], [], {}
        self.skipped = []  # (path, message) of files the last build/update could not read

    # ----- description ----------------------------------------------------------------
    @property
    def backend(self):
        return self._backend

    @backend.setter
    def backend(self, value):
        if value not in ("auto", "numpy", "faiss") or (value == "faiss" and faiss is None):
            raise ValueError(f"backend must be 'auto', 'numpy' or 'faiss' (needs faiss-cpu), "
                             f"not {value!r}")
        self._backend = value if value != "auto" else ("numpy" if faiss is None else "faiss")

    @property
    def index(self):
        """The index kind asked for ("auto", "flat", "ivf", "hnsw", "ivfpq"); without faiss
        (backend "numpy") every kind searches exactly."""
        return self._index_request

    @index.setter
    def index(self, value):
        self._index_request = ann.check_kind(value)
        self._index = None

    @property
    def index_kind(self):
        """What a search uses now: "numpy" or the faiss index kind for this size."""
        return "numpy" if self.backend == "numpy" else ann.choose(self.index, len(self))

    @property
    def subspaces(self):
        return dict(self._spans)

    @property
    def ids(self):
        return list(self._ids)

    @property
    def items(self):
        return [dict(item) for item in self._items]

    def __len__(self):
        return len(self._ids)

    def __contains__(self, id):
        return id in self._rows

    def __repr__(self):
        return (f"Catalog({len(self)} items, embedding_size={self.embedding_size}, "
                f"subspaces={list(self._spans)}, model={self.model!r})")

    def get(self, id):
        return dict(self._items[self._rows[id]])  # KeyError names the id

    def vector(self, id):
        """The stored (per-sub-space normalised) vector of `id`."""
        return self._vectors[self._rows[id]].copy()

    @property
    def searchable_fields(self):
        """The metadata fields a query may name a value of: those declared at build time,
        else every field the items carry except id and path."""
        if self.fields is not None:
            return list(self.fields)
        return sorted({key for item in self._items for key in item} - {"id", "path"})

    def ids_matching(self, value, fields=None):
        """Ids whose metadata `fields` (default: `searchable_fields`) contain `value`
        (case-insensitive; a "tags" string is split on , ; |)."""
        fields = self.searchable_fields if fields is None else fields
        value, found = str(value).strip().casefold(), []
        for id, item in zip(self._ids, self._items):
            for field in fields:
                entry = item.get(field)
                if isinstance(entry, str):
                    entry = entry.replace(";", ",").replace("|", ",").split(",") \
                        if field == "tags" else [entry]
                if isinstance(entry, (list, tuple)) and any(
                        str(e).strip().casefold() == value for e in entry):
                    found.append(id)
                    break
        return found

    # ----- editing --------------------------------------------------------------------
    def _normalize(self, vectors):
        out = np.array(vectors, np.float32)
        for start, stop in self._spans.values():
            part = out[:, start:stop]
            part /= np.maximum(np.linalg.norm(part, axis=1, keepdims=True), _EPS)
        return out

    def add(self, ids, vectors, items=None):
        """Add rows; `items` are metadata dicts (e.g. path, title, artist, tags)."""
        ids = [ids] if isinstance(ids, str) else [str(i) for i in ids]
        vectors = np.asarray(vectors, np.float32)
        vectors = vectors[None] if vectors.ndim == 1 else vectors
        if vectors.shape != (len(ids), self.embedding_size):
            raise ValueError(f"vectors have shape {vectors.shape}, expected "
                             f"({len(ids)}, {self.embedding_size})")
        if not np.all(np.isfinite(vectors)):
            raise ValueError("vectors contain non-finite values")
        seen = set(self._rows)
        for id in ids:
            if id in seen:
                raise ValueError(f"duplicate id {id!r}")
            seen.add(id)
        items = [{}] * len(ids) if items is None else list(items)
        if len(items) != len(ids):
            raise ValueError(f"{len(items)} items for {len(ids)} ids")
        stored = [{"id": id, "path": None, **{k: v for k, v in dict(item).items() if k != "id"}}
                  for id, item in zip(ids, items)]
        json.dumps(stored, default=_json_default)  # fail now, not at save time
        vectors = self._normalize(vectors)
        self._rows.update({id: len(self._ids) + i for i, id in enumerate(ids)})
        self._ids += ids
        self._items += stored
        self._vectors = np.concatenate([self._vectors, vectors])
        if self._index is not None and (self._index_kind, self._index_params) == self._wanted_index():
            self._index.add(vectors)
        else:  # none yet, or the catalog outgrew it: rebuilt at the next search
            self._index = None

    def remove(self, ids):
        ids = [ids] if isinstance(ids, str) else list(ids)
        drop = {self._rows[id] for id in ids}
        keep = [r for r in range(len(self)) if r not in drop]
        self._vectors = self._vectors[keep]
        self._ids = [self._ids[r] for r in keep]
        self._items = [self._items[r] for r in keep]
        self._rows = {id: r for r, id in enumerate(self._ids)}
        self._index = None

    # ----- search ---------------------------------------------------------------------
    def _weights(self, weights):
        if weights is None:
            return np.ones(len(self._spans))
        unknown = set(weights) - set(self._spans)
        if unknown:
            raise ValueError(f"unknown sub-space(s) {sorted(unknown)}; "
                             f"this catalog has {list(self._spans)}")
        w = np.array([float(weights.get(name, 0.0)) for name in self._spans])
        if not np.all(np.isfinite(w)) or not np.any(w):
            raise ValueError(f"weights must be finite and not all zero, got {weights}")
        return w

    def _wanted_index(self):
        kind = ann.choose(self.index, len(self))
        return kind, ann.params(kind, self.embedding_size, len(self))

    def _set_index(self, index, kind, params):
        self._index, self._index_kind, self._index_params = index, kind, params

    def _faiss_index(self):
        if self._index is None or (self._index_kind, self._index_params) != self._wanted_index():
            kind, params = self._wanted_index()
            self._set_index(ann.build(kind, self._vectors), kind, params)
        return self._index

    def _candidates(self, queries, wanted):
        if self.backend == "faiss":
            index = self._faiss_index()
            fetch = ann.candidates(self._index_kind, wanted, len(self))
            return index.search(np.ascontiguousarray(queries), fetch)[1]
        fetch = min(len(self), wanted + ann.CANDIDATE_MARGIN)
        out = []
        chunk = max(1, (1 << 24) // max(1, len(self)))  # bound the score matrix memory
        for i in range(0, len(queries), chunk):
            scores = queries[i:i + chunk] @ self._vectors.T
            if fetch < len(self):
                out.append(np.argpartition(-scores, fetch - 1, axis=1)[:, :fetch])
            else:
                out.append(np.broadcast_to(np.arange(len(self)), scores.shape))
        return np.concatenate(out)

    def search(self, query, k=10, weights=None, exclude=()):
        """Nearest items to each query row; returns one result list per query.

        query: raw (d,) or (q, d) vector(s); normalised per sub-space here.
        weights: {sub-space: w}; when given, unnamed sub-spaces weigh 0.
        Each result is {"id", "score", "subspace_scores", **metadata}, where
        score = sum_s w_s * subspace_scores[s] and subspace_scores are cosines.
        """
        from sdk import checks

        k = checks.count(k, "k")
        queries = np.asarray(query, np.float32)
        queries = queries[None] if queries.ndim == 1 else queries
        if queries.ndim != 2 or queries.shape[1] != self.embedding_size:
            raise ValueError(f"query has shape {np.shape(query)}, expected "
                             f"({self.embedding_size},) or (q, {self.embedding_size})")
        if not np.all(np.isfinite(queries)):
            raise ValueError("query contains non-finite values")
        w = self._weights(weights)
        unit = self._normalize(queries)
        scaled = unit.copy()
        for weight, (start, stop) in zip(w, self._spans.values()):
            scaled[:, start:stop] *= weight
        exclude = {exclude} if isinstance(exclude, str) else set(exclude)
        excluded = np.array(sorted(self._rows[i] for i in exclude if i in self._rows),
                            np.int64)
        if len(self) == 0:
            return [[] for _ in queries]
        starts = [start for start, _ in self._spans.values()]
        results = []
        for q, rows in zip(unit.astype(np.float64), self._candidates(scaled, k + len(excluded))):
            rows = rows[(rows >= 0) & ~np.isin(rows, excluded)]
            rows = np.unique(rows)  # sorted: a memory-mapped catalog reads its rows in file order
            cos = np.add.reduceat(ann.take(self._vectors, rows).astype(np.float64) * q, starts, axis=1)
            scores = cos @ w
            order = np.lexsort((rows, -scores))[:k]  # ties broken by row: stable output
            results.append([self._result(rows[j], scores[j], cos[j]) for j in order])
        return results

    def _result(self, row, score, cos):
        result = {"id": self._ids[row], "score": float(score),
                  "subspace_scores": {n: float(c) for n, c in zip(self._spans, cos)}}
        result.update({k: v for k, v in self._items[row].items() if k not in result})
        return result

    # ----- files ----------------------------------------------------------------------
    def save(self, directory):
        """Write to a temp dir beside `directory`, fsync, then swap it in, so an
        interrupted save leaves either the old or the new catalog, never neither. Builds
        the index first if a search has not (an approximate one is saved with it)."""
        catalog_files.save(self, directory)

    @classmethod
    def load(cls, directory, backend="auto"):
        """Read a saved catalog, checking every file; ValueError names the problem. A saved
        index is used only if it matches the vectors read (else rebuilt); from
        `sdk.catalog_files.MMAP_FROM` rows the vectors are memory-mapped, read-only."""
        return catalog_files.load(cls, directory, backend)

    @classmethod
    def _load_snapshot(cls, directory, backend):
        return catalog_files.load_snapshot(cls, directory, backend)

    # ----- building from audio --------------------------------------------------------
    @classmethod
    def build(cls, source, embed_fn, *, model=None, embedding_size=None, subspaces=None,
              progress=True, backend="auto", fields=None):
        """Embed a folder of audio or a .csv/.jsonl manifest ("path" column + metadata).

        `embed_fn(path) -> (embedding_size,)`; when it is a loaded model's `embed` (or
        `model=` is the model), the catalog records that model (preset id, weights sha256)
        and takes its embedding size and sub-spaces. Ids are paths relative to the folder
        (or manifest folder) unless a manifest has an "id" column; a file in a sub-folder
        gets a "folder" field. `fields` declares the searchable metadata fields (default:
        all). Files raising AudioError are skipped and listed in `catalog.skipped`.
        """
        owner = model if hasattr(model, "task") else getattr(embed_fn, "__self__", None)
        identity = {}
        if hasattr(owner, "task") and hasattr(owner, "preset_id"):  # an sdk.MusicModel
            from sdk.catalog_models import model_identity

            identity = model_identity(owner)
            embedding_size = owner.embedding_size if embedding_size is None else embedding_size
            subspaces = owner.subspace_layout if subspaces is None else subspaces
        elif model is not None:
            identity = {"model": str(model)}
        if embedding_size is None:
            raise ValueError("embedding_size: give it, or build with a loaded model's embed")
        catalog = cls(embedding_size, subspaces, backend=backend, fields=fields, **identity)
        catalog._ingest(read_source(source), embed_fn, progress)
        return catalog

    @classmethod
    def from_parquet(cls, directory, preset=None, *, top_tags=0, backend="auto"):
        """A catalog of the Parquet shards `music-zoo embed-dataset` wrote (sdk.distributed)."""
        from sdk.distributed import catalog_from_parquet

        return catalog_from_parquet(directory, preset, top_tags=top_tags, backend=backend)

    def update(self, source, embed_fn, progress=True):
        """Embed only sources not yet in the catalog; drop ids whose files are gone.
        Returns {"added": [ids], "removed": [ids], "skipped": [(path, message)]}."""
        entries = read_source(source)
        present = {id for id, _, _ in entries}
        removed = [id for id in self._ids if id not in present]
        self.remove(removed)
        added = self._ingest([e for e in entries if e[0] not in self._rows], embed_fn, progress)
        return {"added": added, "removed": removed, "skipped": list(self.skipped)}

    def _ingest(self, entries, embed_fn, progress):
        ids, vectors, items, self.skipped = [], [], [], []
        for id, path, meta in tqdm(entries, desc="embedding", unit="file", disable=not progress):
            try:
                if not path.is_file():
                    raise AudioError(f"{path}: file not found")
                vector = np.asarray(embed_fn(str(path)), np.float32)
            except AudioError as exc:
                self.skipped.append((str(path), str(exc)))
                continue
            if vector.shape != (self.embedding_size,):
                raise ValueError(f"{path}: embed_fn returned shape {vector.shape}, "
                                 f"expected ({self.embedding_size},)")
            if not np.all(np.isfinite(vector)):
                self.skipped.append((str(path), f"{path}: embedding has non-finite values"))
                continue
            ids.append(id)
            vectors.append(vector)
            items.append({"path": str(path), **meta})
        if ids:
            self.add(ids, np.stack(vectors), items)
        if self.skipped:
            warnings.warn(f"skipped {len(self.skipped)} of {len(entries)} files that could not "
                          f"be read (see catalog.skipped), first: {self.skipped[0][1]}")
        return ids
