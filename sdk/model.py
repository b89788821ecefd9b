"""`sdk.load()` and the model users hold: embed, tag, similar.

A loaded preset is one Keras graph (zoo.task.MusicTask: window of samples ->
front end -> backbone -> embedding and tags), run the way the thesis evaluates its
models: the song cut into the preset's segments (sdk/inference.py), the graph per
segment, then the mean over segments.
"""

import warnings

import numpy as np

from sdk import checks
from sdk.audio import DEFAULT_RESAMPLER, RESAMPLERS, AudioError, list_audio_files, load_audio, prepare_array, stream_audio
from sdk.batching import EmbeddedFiles, SkippedFilesWarning  # noqa: F401 (sdk.model.SkippedFilesWarning)
from sdk.catalog_models import searchable_catalog
from sdk.inference import CompiledGraph, cut_windows, one_padded_window, preset_batch_size, run_batches
from sdk.preset import build_preset_model, verify_preset
from sdk.queries import default_weights, query_vector, tag_vectors
from sdk.resolve import resolve

# A file at least this long (seconds) shows a progress bar while it is embedded.
LONG_FILE_SECONDS = 300.0
# Rocchio relevance feedback weights (Manning et al., Introduction to IR, ch. 9).
ROCCHIO_ALPHA, ROCCHIO_BETA, ROCCHIO_GAMMA = 1.0, 0.75, 0.15


def iter_layers(model):
    """Every layer of `model` and of the models nested in it, shallowest first."""
    queue = list(model.layers)
    while queue:
        layer = queue.pop(0)
        yield layer
        queue.extend(getattr(layer, "layers", ()))


class MusicModel:
    """A loaded preset. Build it with `sdk.load(name_or_path)`.

    `task` is the preset's Keras graph; its parts are `frontend`, `backbone`,
    `stage_names`, `readout` (the embedding head, when the embedding is read from
    several stages) and `tag_head`.
    """

    def __init__(self, directory, preset_id=None):
        files = verify_preset(directory)
        self._setup(build_preset_model(files), files.preprocessor, files.metadata, files.directory,
                    preset_id or files.metadata.get("preset") or str(directory))

    @classmethod
    def derived(cls, parent, task, metadata):
        """A model made in memory from `parent` (fine-tuned, prototypes fitted): not on disk until
        `save(directory)`; `parent` is left as it was."""
        model = cls.__new__(cls)
        model._setup(task, parent.preprocessor, metadata, None, metadata.get("preset"))
        model.progress, model.resampler, model.batch_size = parent.progress, parent.resampler, parent.batch_size
        return model

    def _setup(self, task, preprocessor, metadata, directory, preset_id):
        self.task, self.preprocessor, self.metadata = task, preprocessor, metadata
        self.directory, self.preset_id = directory, preset_id
        self._compiled = {}  # id(keras model) -> CompiledGraph
        self.progress = True  # progress bars on folders and long files (set False to silence)
        # how audio at another rate is brought to the model's: the preset's own (preprocessor.json
        # "resample"), else soxr_hq; any of sdk.audio.RESAMPLERS may be set
        self.resampler = preprocessor.get("resample") or DEFAULT_RESAMPLER
        # segments per graph call unless a method is given batch_size (the preset's fastest)
        self.batch_size = preset_batch_size(preprocessor, self.directory)
        if self.resampler not in RESAMPLERS:
            raise ValueError(f"{self.directory}: preprocessor.json names resampler {self.resampler!r}; "
                             f"known: {', '.join(RESAMPLERS)}")
        if int(self.metadata["embedding_size"]) != self.task.embedding_size:
            raise ValueError(f"{self.directory}: metadata.json says embedding_size {self.metadata['embedding_size']}, "
                             f"the graph gives {self.task.embedding_size}")
        if self.task.num_tags and len(self.metadata.get("tags") or []) != self.task.num_tags:
            raise ValueError(f"{self.directory}: metadata.json names {len(self.metadata.get('tags') or [])} tags, "
                             f"the graph's tag head gives {self.task.num_tags}")

    def __repr__(self):
        return f"MusicModel({self.preset_id!r}, embedding_size={self.embedding_size}, tags={len(self.tags)})"

    # ----- description -------------------------------------------------------------------
    @property
    def sample_rate(self):
        return int(self.preprocessor["sample_rate"])

    @property
    def embedding_size(self):
        return self.task.embedding_size

    @property
    def frontend(self):
        return self.task.frontend

    @property
    def backbone(self):
        return self.task.backbone

    @property
    def stage_names(self):
        """The backbone's stages, bottom to top; `levels=` counts them from the top (-1)."""
        return self.task.stage_names

    @property
    def readout(self):
        """The embedding head reading several stages (zoo.heads.MultiLevelReadout), or None."""
        return self.task.readout_layer

    @property
    def subspace_layout(self):
        return {k: list(v) for k, v in (self.metadata.get("subspaces") or {"all": [0, self.embedding_size]}).items()}

    @property
    def subspaces(self):
        return list(self.subspace_layout)

    @property
    def tags(self):
        return list(self.metadata.get("tags") or []) if self.task.num_tags else []

    def tag_embeddings(self):
        """{tag: unit vector of the embedding space} when the tags are scored in it (a
        disentangled head's class vectors, each in its notion's sub-space; fitted prototypes),
        else {}: what `similar("tag:jazz", ...)` searches with."""
        return dict(tag_vectors(self))

    def save(self, directory):
        """Write this model as a complete preset directory (graph, weights with their sha256,
        tags, metadata, a generated card) that `sdk.load(directory)` and the CLI load; returns
        its Path. An existing preset there is replaced atomically; any other folder is refused."""
        from sdk.cards import write_preset_card
        from sdk.preset import save_preset

        meta = {k: v for k, v in self.metadata.items() if k not in ("keras_version", "parameter_count",
                                                                  "date_saved", "files", "weights_dtype")}
        directory = save_preset(self.task, directory, preprocessor=self.preprocessor, metadata=meta)
        write_preset_card(directory)
        self.directory = directory
        return directory

    # ----- audio -> segments -> graph outputs ---------------------------------------------
    def _waveform(self, audio, sr):
        if isinstance(audio, np.ndarray):
            return prepare_array(audio, sr, self.sample_rate, resample_filter=self.resampler)
        return load_audio(audio, self.sample_rate, resample_filter=self.resampler)

    def _geometry(self):
        """(window samples, samples between segments, zeros padded at each end of a song)."""
        hop = int(self.preprocessor["segment"].get("hop", self.preprocessor["segment"]["length"]))
        return self.task.window, hop * self.task.frame_hop, self.task.center_pad

    def segment_inputs(self, audio, sr=None, batch=64, block_seconds=60.0):
        """Yield batches (n, window) of one song's segment windows, in order: what the graph
        takes. A file is read in blocks, so memory stays bounded; a song shorter than one
        segment gives one zero-padded window."""
        window, step, pad = self._geometry()
        if isinstance(audio, np.ndarray):
            blocks = [self._waveform(audio, sr)]
        else:
            blocks = self._with_progress(str(audio), stream_audio(str(audio), self.sample_rate, block_seconds=block_seconds,
                                                                  resample_filter=self.resampler))
        empty = True
        for windows in cut_windows(blocks, window, step, pad, batch):
            empty = False
            yield windows
        if empty:
            yield one_padded_window(self._waveform(audio, sr), window, pad)

    def _with_progress(self, path, blocks):
        """`blocks` of a file, with a progress bar in seconds of audio when the file is long."""
        from sdk.audio import audio_info

        duration = audio_info(path)["duration"] if self.progress else 0.0
        if duration < LONG_FILE_SECONDS:
            yield from blocks
            return
        from pathlib import Path

        from tqdm import tqdm

        with tqdm(total=round(duration), unit="s", desc=f"embedding {Path(path).name}", leave=False) as bar:
            for block in blocks:
                yield block
                bar.update(min(len(block) / self.sample_rate, bar.total - bar.n))

    def all_segment_inputs(self, audio, sr=None):
        """Every segment window of one song, (num_segments, window): e.g. for fine-tuning."""
        return np.concatenate(list(self.segment_inputs(audio, sr)))

    def compiled(self, graph):
        """`graph` (a keras.Model on windows) compiled once per batch shape (sdk/inference.py)."""
        key = id(graph)
        if key not in self._compiled:
            self._compiled[key] = CompiledGraph(graph)
        return self._compiled[key]

    def _batch(self, batch_size):
        return self.batch_size if batch_size is None else checks.count(batch_size, "batch_size")

    def _run(self, graph, audio, sr, batch_size):
        """Every segment of one song through `graph`: its outputs per segment."""
        return run_batches(self.compiled(graph), self.segment_inputs(audio, sr), self._batch(batch_size))

    def segment_features(self, audio, sr=None, batch_size=None, levels=None):
        """(num_segments, size) embeddings of one song's segments.

        `levels`, e.g. (-1,) or (-3, -2, -1), returns the max over time of those stages
        instead (`stage_names`), concatenated and as they are (thesis Table 3.6 transfer
        features). Files are read in blocks, so memory stays bounded.
        """
        if levels is not None:
            levels = checks.levels(levels, self.stage_names)
            return self._run(self.task.stage_features(levels), audio, sr, batch_size)
        return self._run(self.task, audio, sr, batch_size)["embedding"]

    def head_features(self, audio, sr=None, batch_size=None):
        """(num_segments, d) of what the tag head reads: the network's own embedding (the
        same as segment_features unless the embedding is a multi-level read-out)."""
        return self._run(self.task.head_input_model(), audio, sr, batch_size)

    # ----- public API ---------------------------------------------------------------------
    def embed(self, audio, sr=None, per_segment=False, batch_size=None, levels=None):
        """Song embedding(s): a file/array -> (d,); a list or folder -> (N, d) in sorted order.

        `per_segment=True` returns the (segments, d) matrix of one song instead;
        `levels=(-3, -2, -1)` concatenates hidden-stage features (see segment_features).
        A file that cannot be read in a list or folder is skipped with a SkippedFilesWarning
        naming it; `embed_many` returns which files the rows are.
        """
        checks.audio(audio)
        batch_size = self._batch(batch_size)
        if levels is not None:
            levels = checks.levels(levels, self.stage_names)
        if isinstance(audio, np.ndarray):
            features = self.segment_features(audio, sr, batch_size, levels)
            return features if per_segment else features.mean(0)
        files = list_audio_files(audio)
        if len(files) == 1 and not isinstance(audio, (list, tuple)) and not _is_dir(audio):
            features = self.segment_features(files[0], None, batch_size, levels)
            return features if per_segment else features.mean(0)
        if per_segment:
            raise ValueError("per_segment=True takes one song, not a list or folder")
        result = self.embed_many(files, batch_size=batch_size, levels=levels)
        if result.skipped:
            warnings.warn(SkippedFilesWarning(result.summary()), stacklevel=2)
        return result.vectors

    def embed_many(self, audio, batch_size=None, levels=None):
        """Song embeddings of a folder or list of files, going on past unreadable ones:
        an EmbeddedFiles(paths, vectors (N, d) for those paths, skipped [(path, reason)]).
        Segments of consecutive files share batches; the next files are decoded while the
        graph runs (sdk/batching.py)."""
        graph = self.task if levels is None else self.task.stage_features(checks.levels(levels, self.stage_names))
        files, paths, vectors, skipped = self._files(audio), [], [], []
        for path, out in self._run_files(graph, files, batch_size):
            if isinstance(out, AudioError):
                skipped.append((str(path), str(out)))
            else:
                vectors.append((out["embedding"] if levels is None else out).mean(0))
                paths.append(path)
        if not paths:
            raise AudioError(f"{audio}: none of its {len(files)} file(s) could be read; "
                             + "; ".join(reason for _, reason in skipped[:3]))
        return EmbeddedFiles(paths, np.stack(vectors), skipped)

    def embed_and_tag_many(self, audio, batch_size=None):
        """Yield (path, song embedding, tag scores) for each file of a folder or list, in order,
        or (path, None, AudioError) for one that cannot be read: embed_and_tag over many files,
        batched across them with decoding overlapped (what catalogs are built with)."""
        for path, out in self._run_files(self.task, self._files(audio), batch_size):
            yield (path, None, out) if isinstance(out, AudioError) else (path, *self._song_outputs(out))

    def _files(self, audio):
        return list_audio_files(checks.audio(audio))

    def _run_files(self, graph, files, batch_size):
        from tqdm import tqdm

        from sdk.batching import run_files

        batch_size = self._batch(batch_size)
        windows_of = lambda path: self.segment_inputs(path, None, batch_size)
        with tqdm(total=len(files), desc="embedding", unit="file", disable=not self.progress or len(files) < 2) as bar:
            for index, out in run_files(self.compiled(graph), files, windows_of, batch_size):
                bar.update()
                yield files[index], out

    def tag(self, audio, sr=None, top_k=10):
        """[(tag, score)] sorted by score; top_k=None gives every tag."""
        top_k = checks.count(top_k, "top_k", allow_none=True)
        checks.audio(audio)
        self._require_tagger()  # before decoding any audio
        scores = self.embed_and_tag(audio, sr)[1]
        order = np.argsort(-scores)[: None if top_k is None else top_k]
        return [(self.tags[i], float(scores[i])) for i in order]

    def embed_and_tag(self, audio, sr=None, batch_size=None):
        """(song embedding, every tag's score in `tags` order; empty without tags) from one
        pass of the graph over the audio: what a tagged catalog needs."""
        return self._song_outputs(self._run(self.task, audio, sr, batch_size))

    def _song_outputs(self, out):
        """(song embedding, tag scores) from the graph's per-segment outputs of one song."""
        embedding = out["embedding"].mean(0)
        if "tags" not in out:
            return embedding, np.zeros(0, np.float32)
        if (self.task.head or {}).get("kind") == "prototypes":  # Eq. 2.9: the song embedding's cosines
            prototypes = self.task.tag_head[0].get_weights()[0]
            return embedding, _cosine(embedding[None], prototypes)[0].astype(np.float32)
        return embedding, out["tags"].mean(0)

    def _require_tagger(self):
        if not self.task.num_tags:
            raise ValueError(f"{self.preset_id} has no tag head; call fit_prototypes(embeddings_or_audio, labels) "
                             "to tag by class prototypes (thesis Eq. 2.9)")

    def fit_prototypes(self, audio_or_catalog, labels, preset_id=None):
        """A new model that tags by class prototypes (Eq. 2.9), this one left as it was.
        `labels` maps each item to one label or a list of labels; `audio_or_catalog` is a
        Catalog (labels: {id: labels}) or a list of audio paths (labels: aligned with it).
        The prototypes are a layer of the new model's graph: `save()` keeps them.
        """
        from sdk.derived import fit_prototypes

        return fit_prototypes(self, audio_or_catalog, labels, preset_id)

    def derived_metadata(self, names, preset_id, record):
        """metadata.json of a model derived from this one with a new head over `names`."""
        from sdk.derived import derived_metadata

        return derived_metadata(self, names, preset_id, record)

    def similar(self, query, catalog, k=10, weights=None, positives=(), negatives=(), allow_other_model=False):
        """Rank `catalog` (an sdk.Catalog, or the directory of a saved one) for `query`; see
        README for the query forms. Returns result dicts. A catalog built by another model
        is refused unless `allow_other_model`."""
        checks.query(query)
        k = checks.count(k, "k")
        catalog = searchable_catalog(catalog, self, allow_other_model)
        weights = checks.weights(weights, catalog.subspaces)
        vector, exclude = self._query_vector(query, catalog)
        if positives or negatives:
            vector = ROCCHIO_ALPHA * vector
            if positives:
                vector = vector + ROCCHIO_BETA * np.mean([self._query_vector(p, catalog)[0] for p in positives], 0)
            if negatives:
                vector = vector - ROCCHIO_GAMMA * np.mean([self._query_vector(n, catalog)[0] for n in negatives], 0)
            exclude = exclude | {p for p in (*positives, *negatives) if isinstance(p, str) and p in catalog}
        if weights is None:
            weights = default_weights(self, query, catalog)
        return catalog.search(vector, k=k, weights=weights, exclude=tuple(exclude))[0]

    def _query_vector(self, query, catalog):
        """Query -> (vector, ids to exclude from the results): sdk/queries.py."""
        return query_vector(self, query, catalog)


def _is_dir(path):
    from pathlib import Path

    return Path(str(path)).is_dir()


def _cosine(a, b):
    a = a / (np.linalg.norm(a, axis=-1, keepdims=True) + 1e-12)
    b = b / (np.linalg.norm(b, axis=-1, keepdims=True) + 1e-12)
    return a @ b.T


_LOADED = {}


def load(name_or_path, revision=None, cache_dir=None):
    """Load a preset by registered id, hf:// handle or local directory."""
    directory = resolve(name_or_path, revision=revision, cache_dir=cache_dir)
    preset_id = str(name_or_path) if not _is_dir(name_or_path) else None
    return MusicModel(directory, preset_id=preset_id)


def get_model(model=None, default=None):
    """The model a module-level shortcut uses: given, by name (cached), or the default preset."""
    from sdk.presets import DEFAULT_PRESET

    if isinstance(model, MusicModel):
        return model
    key = str(model or default or DEFAULT_PRESET)
    if key not in _LOADED:
        _LOADED[key] = load(key)
    return _LOADED[key]
