"""The demo's search logic, free of Gradio: queries, slider weights, re-rank, feedback, tags.

A query is turned into a vector ONCE (`make_query`); moving a slider or rating a result only
re-ranks that cached vector against the catalog (`rank`), so no audio is embedded again.
"""

import dataclasses
import os
from pathlib import Path

import numpy as np

from sdk.audio import AUDIO_EXTENSIONS, AudioError, audio_info
from sdk.queries import TAG_PREFIX, default_weights, query_vector, tag_norms, tag_subspace, tag_vectors

FULL = "full"  # the slider weighing the whole space (each sub-space alike)
MAX_UPLOAD_MB = 20
MAX_SECONDS = 300.0


class QueryError(ValueError):
    """A query the demo cannot run; the message is shown to the user as it is."""


@dataclasses.dataclass
class Query:
    """A query's cached vector and what the user said about its results."""

    label: str
    vector: np.ndarray
    exclude: tuple = ()
    positives: tuple = ()
    negatives: tuple = ()

    def rated(self, id, up):
        """A copy with `id` moved to the positives (up) or negatives; rating it again the same
        way takes the rating back."""
        pos, neg = [p for p in self.positives if p != id], [n for n in self.negatives if n != id]
        if id not in (self.positives if up else self.negatives):
            (pos if up else neg).append(id)
        return dataclasses.replace(self, positives=tuple(pos), negatives=tuple(neg))


class SearchEngine:
    """One model and the catalog it built, with what the UI needs of them."""

    def __init__(self, model, catalog, k=10, max_upload_mb=MAX_UPLOAD_MB, max_seconds=MAX_SECONDS):
        from sdk.catalog_models import searchable_catalog

        self.model, self.catalog, self.k = model, searchable_catalog(catalog, model), int(k)  # same model
        self.max_upload_mb, self.max_seconds = float(max_upload_mb), float(max_seconds)
        self.layout = catalog.subspaces
        self.subspaces = list(self.layout) if len(self.layout) > 1 else []  # one "all" space: none
        vectors = tag_vectors(model)
        self.tag_homes = {tag: tag_subspace(model, tag, self.layout) or FULL for tag in vectors}

    # ----- what there is to pick --------------------------------------------------------------
    def track_choices(self):
        """[(label, id)] of every catalog track, sorted by label."""
        return sorted(((track_label(item), item["id"]) for item in self.catalog.items), key=lambda c: c[0].lower())

    def tag_choices(self):
        """{sub-space or FULL: [model tags whose vector lies there]}; empty without tag vectors."""
        out = {}
        for tag, home in self.tag_homes.items():
            out.setdefault(home, []).append(tag)
        order = [*self.layout, FULL]  # the sub-spaces in the embedding's order
        return {home: sorted(out[home], key=str.lower) for home in order if home in out}

    def metadata_choices(self, fields=("soundtrack", "composer")):
        """[(label, value)] of the catalog's soundtracks and composers, each a prototype query."""
        out = []
        for field in fields:
            values = sorted({str(item[field]) for item in self.catalog.items if item.get(field)}, key=str.lower)
            out += [(f"{field}: {value}", value) for value in values]
        return out

    # ----- queries ---------------------------------------------------------------------------
    def check_audio(self, path):
        """`path` if it is an audio file within the caps, else QueryError saying why."""
        if not path:
            raise QueryError("No audio: upload or record a clip first.")
        name = Path(path).name
        if Path(path).suffix.lower() not in AUDIO_EXTENSIONS:
            raise QueryError(f"{name}: not an audio file; use {', '.join(AUDIO_EXTENSIONS)}.")
        size_mb = os.path.getsize(path) / 2**20
        if size_mb > self.max_upload_mb:
            raise QueryError(f"{name}: {size_mb:.2f} MB is over the {self.max_upload_mb:g} MB limit.")
        try:
            duration = audio_info(path)["duration"]
        except AudioError as error:
            raise QueryError(f"{name}: could not read it as audio ({_reason(error, path)}).") from None
        if duration > self.max_seconds:
            raise QueryError(f"{name}: {duration:.0f} s is over the {self.max_seconds:g} s limit; trim it.")
        if duration <= 0:
            raise QueryError(f"{name}: the file holds no audio.")
        return str(path)

    def make_query(self, spec, label=None):
        """A Query for anything `model.similar` takes (catalog id, audio path, metadata value,
        "tag:NAME", a list, {sub-space: query}); embeds audio here and only here."""
        try:
            vector, exclude = query_vector(self.model, spec, self.catalog)
        except AudioError as error:
            raise QueryError(f"Could not read the audio: {_reason(error)}") from None
        except (ValueError, TypeError, KeyError) as error:
            raise QueryError(str(error).strip("'\"")) from None
        if not np.any(vector):
            raise QueryError("The query gives an empty vector; pick something else.")
        return Query(label or describe(spec), np.asarray(vector, np.float32), tuple(sorted(exclude)))

    def default_sliders(self, spec):
        """{slider: value} a query starts with: its own sub-spaces (a tag's, the named parts of
        a mix), else the whole space."""
        sliders = dict.fromkeys([*self.subspaces, FULL], 0.0)
        named = default_weights(self.model, spec, self.catalog) if self.subspaces else None
        if named:
            sliders.update({name: 1.0 for name in named})
        else:
            sliders[FULL] = 1.0
        return sliders

    # ----- ranking ---------------------------------------------------------------------------
    def weights(self, sliders):
        """{sub-space: weight} from the sliders: each sub-space's own plus FULL / count (the
        whole-space cosine is the mean of the sub-space cosines)."""
        full = float(sliders.get(FULL, 0.0))
        names = list(self.layout)
        weights = {name: float(sliders.get(name, 0.0)) + full / len(names) for name in names}
        if not any(w > 0 for w in weights.values()):
            raise QueryError("Every weight is zero: raise at least one slider.")
        return weights

    def rank(self, query, sliders, k=None):
        """The top-k results of a cached query under the slider weights, with its feedback
        (Rocchio, through model.similar) when there is any; no audio is embedded."""
        k, weights = int(k or self.k), self.weights(sliders)
        if not (query.positives or query.negatives):
            return self.catalog.search(query.vector, k=k, weights=weights, exclude=query.exclude)[0]
        hits = self.model.similar(query.vector, self.catalog, k=k + len(query.exclude), weights=weights,
                                  positives=list(query.positives), negatives=list(query.negatives))
        return [hit for hit in hits if hit["id"] not in query.exclude][:k]

    def top_tags(self, query, n=3):
        """{sub-space or FULL: [(tag, score)]}: the model tags the head scores highest for the
        query in each sub-space (scale x cosine: what the head gives a unit embedding there);
        {} without tag vectors."""
        vectors, norms, out = tag_vectors(self.model), tag_norms(self.model), {}
        for tag, home in self.tag_homes.items():
            start, stop = self.layout[home] if home in self.layout else (0, len(query.vector))
            part = query.vector[start:stop]
            if not np.any(part):  # a mix that left this sub-space out
                continue
            cos = float(part @ vectors[tag][start:stop] / (np.linalg.norm(part) + 1e-12))
            out.setdefault(home, []).append((tag, norms[tag] * cos))
        return {home: sorted(pairs, key=lambda p: -p[1])[:n] for home, pairs in out.items()}

    def spread(self, query, low=5, high=95):
        """{sub-space or FULL: (low, high) percentiles of the query's cosines to every catalog
        track there}: what a result's similarity bar is measured against."""
        if not hasattr(self, "_matrix"):
            self._matrix = np.stack([self.catalog.vector(i) for i in self.catalog.ids]).astype(np.float32)
        out, parts = {}, []
        for name, (start, stop) in self.layout.items():
            part = query.vector[start:stop]
            cos = self._matrix[:, start:stop] @ (part / (np.linalg.norm(part) + 1e-12))
            parts.append(cos)
            out[name] = tuple(float(x) for x in np.percentile(cos, [low, high]))
        out[FULL] = tuple(float(x) for x in np.percentile(np.mean(parts, 0), [low, high]))
        return out

    def neighbours(self, query, subspace, k=5):
        """(ids, cosines) of the query's k nearest tracks in one sub-space (FULL: all alike)."""
        weights = None if subspace == FULL or subspace not in self.layout else {subspace: 1.0}
        hits = self.catalog.search(query.vector, k=k, weights=weights, exclude=query.exclude)[0]
        return [h["id"] for h in hits], np.array([h["score"] for h in hits])


def track_label(item):
    """A catalog item as people read it: "title (soundtrack)"."""
    title = item.get("title") or Path(str(item.get("path") or item["id"])).stem
    where = item.get("soundtrack") or item.get("album") or item.get("folder")
    return f"{title} ({where})" if where else str(title)


def describe(spec):
    """A short human description of a query spec."""
    if isinstance(spec, dict):
        return "; ".join(f"{name}: {describe(part)}" for name, part in spec.items())
    if isinstance(spec, (list, tuple)):
        return " + ".join(describe(part) for part in spec)
    text = str(spec)
    if text.startswith(TAG_PREFIX):
        return f"tag {text[len(TAG_PREFIX):]}"
    return Path(text).name if os.sep in text else text


def _reason(error, path=None):
    """An AudioError's reason without the (temporary, server-side) path it starts with."""
    text = str(error)
    if path and text.startswith(str(path)):
        return text[len(str(path)):].lstrip(": ")
    head, sep, rest = text.partition(": ")
    return rest if sep and os.sep in head else text
