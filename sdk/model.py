"""`sdk.load()` and the model users hold: embed, tag, similar.

A loaded preset runs the way the thesis evaluates its models: the front end
over the whole song (computed block-wise, to the same frames), the frames (or
samples) cut into the preset's segments, the backbone per segment, then the mean
over segments.
"""

import numpy as np

from sdk.audio import AudioError, list_audio_files, load_audio, prepare_array, stream_audio
from sdk.index import searchable_catalog
from sdk.levels import LevelReadout
from sdk.preset import build_preset_model, verify_preset
from sdk.resolve import resolve

# Rocchio relevance feedback weights (Manning et al., Introduction to IR, ch. 9).
ROCCHIO_ALPHA, ROCCHIO_BETA, ROCCHIO_GAMMA = 1.0, 0.75, 0.15


def iter_layers(model):
    """Every layer of `model` and of the models nested in it, shallowest first."""
    queue = list(model.layers)
    while queue:
        layer = queue.pop(0)
        yield layer
        queue.extend(getattr(layer, "layers", ()))


def _find_layer(model, name):
    """The shallowest layer called `name` (e.g. embedder -> backbone), or None."""
    return next((layer for layer in iter_layers(model) if layer.name == name), None)


def stage_layer_names(network):
    """Names of `network`'s stage outputs, bottom to top: each block's pool, or its ReLU when
    the block is not pooled (the "-n layer" features of Table 3.6); [] if it has none."""
    names = [layer.name for layer in network.layers]
    stages = [n for n in names if n.endswith("_pool") and n != "features"]
    stages += [n for n in names if n.endswith("_relu") and n[: -len("_relu")] + "_pool" not in names]
    return sorted(stages, key=names.index)


class MusicModel:
    """A loaded preset. Build it with `sdk.load(name_or_path)`."""

    def __init__(self, directory, preset_id=None):
        files = verify_preset(directory)
        self.directory = files.directory
        self.preset_id = preset_id or files.metadata.get("preset") or str(directory)
        self.preprocessor = files.preprocessor
        self.metadata = files.metadata
        self.keras_model = build_preset_model(files)
        self.frontend = _find_layer(self.keras_model, "frontend")
        self.backbone = _find_layer(self.keras_model, "backbone")
        # The metadata names the layer whose output is the embedding: the backbone, or for
        # metric models with a projection (chapter 5) the waveform -> embedding "embedder".
        outputs = [o for o in self.metadata.get("outputs", []) if o.get("purpose") == "embeddings"]
        layer_name = outputs[0].get("layer", "backbone") if outputs else "backbone"
        self._embedding_model = _find_layer(self.keras_model, layer_name)
        if self._embedding_model is None:
            raise ValueError(f"{self.directory}: metadata names embedding layer {layer_name!r}, not in the model")
        self._tag_layer = _find_layer(self.keras_model, "tags")
        self._prototypes = None  # (names, centroids) from fit_prototypes
        self._level_models = {}  # levels tuple -> model of max-pooled hidden layers
        if self.frontend is None or self.backbone is None:
            raise ValueError(f"{self.directory}: model has no 'frontend' or 'backbone' layer")
        # A preset may read its embedding from hidden levels of the backbone (sdk/levels.py);
        # the tag head still reads the embedding layer's output (the "head" features).
        self.level_readout = LevelReadout.from_preset(self.directory, outputs[0] if outputs else {})
        if self.level_readout is not None:
            width = self._feature_model(self.level_readout.levels).output.shape[-1]
            if (width, self.level_readout.size) != (self.level_readout.input_size, self.embedding_size):
                raise ValueError(f"{self.directory}: the level read-out maps {self.level_readout.input_size} -> "
                                 f"{self.level_readout.size} dimensions; levels {list(self.level_readout.levels)} give "
                                 f"{width} and embedding_size is {self.embedding_size}")

    def __repr__(self):
        return f"MusicModel({self.preset_id!r}, embedding_size={self.embedding_size}, tags={len(self.tags)})"

    # ----- description -------------------------------------------------------------------
    @property
    def sample_rate(self):
        return int(self.preprocessor["sample_rate"])

    @property
    def embedding_size(self):
        return int(self.metadata["embedding_size"])

    @property
    def subspace_layout(self):
        return {k: list(v) for k, v in (self.metadata.get("subspaces") or {"all": [0, self.embedding_size]}).items()}

    @property
    def subspaces(self):
        return list(self.subspace_layout)

    def attach_tag_head(self, layer, names):
        """Use `layer` (embedding -> len(names) scores) for `tag()` from now on."""
        self._tag_layer = layer
        self.metadata = {**self.metadata, "tags": list(names)}

    @property
    def tags(self):
        if self._tag_layer is not None:
            return list(self.metadata.get("tags") or [])
        return list(self._prototypes[0]) if self._prototypes else []

    # ----- audio -> per-segment features --------------------------------------------------
    def _waveform(self, audio, sr):
        if isinstance(audio, np.ndarray):
            return prepare_array(audio, sr, self.sample_rate)
        return load_audio(audio, self.sample_rate)

    def _one_padded_segment(self, waveform):
        """A song shorter than one segment: its frames (or samples), zero-padded to one."""
        import keras

        if self._embedding_model is self.backbone:
            frames = keras.ops.convert_to_numpy(self.frontend(waveform[None].astype("float32")))[0]
        else:
            frames = waveform.astype("float32")
        length = int(self.preprocessor["segment"]["length"])
        pad = [(0, max(0, length - frames.shape[0]))] + [(0, 0)] * (frames.ndim - 1)
        return np.pad(frames, pad)[None, :length]

    def _segment_geometry(self):
        """(front end to run on a sample window, samples per frame hop, window size, left pad,
        frames per segment, frame hop between segments) for cutting segments from a stream."""
        from zoo.frontends import LogMelSpectrogram

        length = int(self.preprocessor["segment"]["length"])
        hop = int(self.preprocessor["segment"].get("hop", length))
        if self._embedding_model is self.backbone and isinstance(self.frontend, LogMelSpectrogram):
            valid = LogMelSpectrogram.from_config({**self.frontend.get_config(), "padding": "valid"})
            pad = self.frontend.n_fft // 2 if self.frontend.padding == "center" else 0
            return valid, self.frontend.hop_length, self.frontend.n_fft, pad, length, hop
        frontend = self.frontend if self._embedding_model is self.backbone else None
        return frontend, 1, 1, 0, length, hop

    def segment_inputs(self, audio, sr=None, batch=64, block_seconds=60.0):
        """Yield batches of one song's model-ready segments (what the embedding network takes:
        front-end frames, or samples), in order. A file is read in blocks, so memory stays
        bounded; a song shorter than one segment gives one zero-padded segment."""
        if isinstance(audio, np.ndarray):
            blocks = [self._waveform(audio, sr)]
        else:
            blocks = stream_audio(str(audio), self.sample_rate, block_seconds=block_seconds)
        empty = True
        for segments in self._cut_segments(blocks, batch):
            empty = False
            yield segments
        if empty:
            yield self._one_padded_segment(self._waveform(audio, sr))

    def all_segment_inputs(self, audio, sr=None):
        """Every model-ready segment of one song, (num_segments, ...): e.g. for fine-tuning."""
        return np.concatenate(list(self.segment_inputs(audio, sr)))

    def _cut_segments(self, blocks, batch):
        """Batches of model-ready segments from consecutive blocks of a song's samples.

        Segment s needs samples [s*hop*fh - pad, that + (length-1)*fh + n_fft): the front end
        in "valid" mode over that zero-padded window gives exactly the frames the
        whole-song "center" front end gives.
        """
        import keras

        frontend, fh, n_fft, pad, length, hop = self._segment_geometry()
        span, step = (length - 1) * fh + n_fft, hop * fh
        buffer, next_start, pending = np.zeros(pad, np.float32), 0, []

        def flush():
            windows = np.stack(pending)
            pending.clear()
            return windows if frontend is None else keras.ops.convert_to_numpy(frontend(windows))

        for is_last, block in _mark_last(blocks):
            buffer = np.concatenate([buffer, block] + ([np.zeros(pad, np.float32)] if is_last else []))
            while next_start + span <= buffer.size:
                pending.append(buffer[next_start : next_start + span])
                next_start += step
                if len(pending) == batch:
                    yield flush()
            buffer, next_start = buffer[next_start:], 0  # keep only what later segments need
        if pending:
            yield flush()

    def stage_layers(self):
        """Names of the backbone's stage outputs, bottom to top: each block's pool, or its
        ReLU when the block is not pooled (the "-n layer" features of Table 3.6)."""
        return stage_layer_names(self.backbone)

    def _feature_model(self, levels):
        """Model: segment -> concatenated max-over-time of the given hidden levels (-1 = top)."""
        import keras

        if levels is None:
            return self._embedding_model
        levels = tuple(int(level) for level in levels)
        if levels not in self._level_models:
            if self._embedding_model is not self.backbone:
                raise ValueError(f"{self.preset_id}: hidden-layer features exist for backbone embeddings only")
            stages = self.stage_layers()
            if not all(-len(stages) <= level <= -1 for level in levels):
                raise ValueError(f"levels count from the top: -1 .. -{len(stages)}; got {levels}")
            pooled = [keras.layers.GlobalMaxPooling1D()(self.backbone.get_layer(stages[level]).output)
                      for level in levels]
            outputs = pooled[0] if len(pooled) == 1 else keras.layers.Concatenate()(pooled)
            self._level_models[levels] = keras.Model(self.backbone.input, outputs)
        return self._level_models[levels]

    def _run(self, extractor, audio, sr, batch_size):
        """Every segment of one song through `extractor`: an array, or a list for several outputs."""
        parts = []
        for batch in self.segment_inputs(audio, sr):
            out = extractor.predict(batch, batch_size=batch_size, verbose=0)
            parts.append([np.asarray(o, np.float32) for o in out] if isinstance(out, list) else [np.asarray(out, np.float32)])
        columns = [np.concatenate(column) for column in zip(*parts)]
        return columns if len(columns) > 1 else columns[0]

    def segment_features(self, audio, sr=None, batch_size=16, levels=None):
        """(num_segments, size) embeddings of one song's segments.

        `levels`, e.g. (-1,) or (-3, -2, -1), returns the max over time of those hidden
        stages instead, concatenated and as they are (thesis Table 3.6 transfer features).
        Files are read in blocks, so memory stays bounded; a song shorter than one segment
        is padded to one segment.
        """
        if levels is None and self.level_readout is not None:
            return self.level_readout(self._run(self._feature_model(self.level_readout.levels), audio, sr, batch_size))
        return self._run(self._feature_model(levels), audio, sr, batch_size)

    def head_features(self, audio, sr=None, batch_size=16):
        """(num_segments, d) outputs of the layer the tag head reads: the embedding itself,
        unless the preset reads its embedding from hidden levels (see `level_readout`)."""
        return self._run(self._embedding_model, audio, sr, batch_size)

    def level_and_head_features(self, audio, sr=None, levels=None, batch_size=16):
        """(segment_features(levels=...), head_features(...)) from one pass over the audio;
        `levels` defaults to those of the preset's level read-out."""
        import keras

        if levels is None:
            if self.level_readout is None:
                raise ValueError(f"{self.preset_id}: has no level read-out; pass levels, e.g. (-3, -2, -1)")
            levels = self.level_readout.levels
        key = ("with head", tuple(int(level) for level in levels))
        if key not in self._level_models:
            pooled = self._feature_model(key[1])
            self._level_models[key] = keras.Model(self.backbone.input, [pooled.output, self.backbone.output])
        return self._run(self._level_models[key], audio, sr, batch_size)

    def _embedding_and_head(self, audio, sr, batch_size):
        """(segment embeddings, segment head features) from one pass over the audio."""
        if self.level_readout is None:
            features = self.segment_features(audio, sr, batch_size)
            return features, features
        levels, head = self.level_and_head_features(audio, sr, batch_size=batch_size)
        return self.level_readout(levels), head

    # ----- public API ---------------------------------------------------------------------
    def embed(self, audio, sr=None, per_segment=False, batch_size=16, levels=None):
        """Song embedding(s): a file/array -> (d,); a list or folder -> (N, d) in sorted order.

        `per_segment=True` returns the (segments, d) matrix of one song instead;
        `levels=(-3, -2, -1)` concatenates hidden-stage features (see segment_features).
        """
        if isinstance(audio, np.ndarray):
            features = self.segment_features(audio, sr, batch_size, levels)
            return features if per_segment else features.mean(0)
        files = list_audio_files(audio)
        if len(files) == 1 and not isinstance(audio, (list, tuple)) and not _is_dir(audio):
            features = self.segment_features(files[0], None, batch_size, levels)
            return features if per_segment else features.mean(0)
        if per_segment:
            raise ValueError("per_segment=True takes one song, not a list or folder")
        return np.stack([self.segment_features(f, None, batch_size, levels).mean(0) for f in files])

    def tag(self, audio, sr=None, top_k=10):
        """[(tag, score)] sorted by score; top_k=None gives every tag."""
        self._require_tagger()  # before decoding any audio
        if self._tag_layer is not None:
            scores = self._tag_scores(self.head_features(audio, sr), None)
        else:
            scores = self._tag_scores(None, self.segment_features(audio, sr))
        order = np.argsort(-scores)[: None if top_k is None else top_k]
        return [(self.tags[i], float(scores[i])) for i in order]

    def embed_and_tag(self, audio, sr=None, batch_size=16):
        """(song embedding, every tag's score in `tags` order; empty without tags) from one
        pass over the audio: what a tagged catalog needs, at half the cost of embed + tag."""
        embeddings, head = self._embedding_and_head(audio, sr, batch_size)
        scores = self._tag_scores(head, embeddings) if self.tags else np.zeros(0, np.float32)
        return embeddings.mean(0), scores

    def _tag_scores(self, head, embeddings):
        """Song-level tag scores from one song's (segments, d) head features (a tag layer reads
        them) or its segment embeddings (prototypes live in the embedding space)."""
        if self._tag_layer is not None:
            import keras

            return np.asarray(keras.ops.convert_to_numpy(self._tag_layer(head)), np.float32).mean(0)
        self._require_tagger()
        return _cosine(embeddings.mean(0)[None], self._prototypes[1])[0].astype(np.float32)

    def _require_tagger(self):
        if self._tag_layer is None and self._prototypes is None:
            raise ValueError(f"{self.preset_id} has no tag head; call fit_prototypes(embeddings_or_audio, labels) "
                             "to tag by class prototypes (thesis Eq. 2.9)")

    def fit_prototypes(self, audio_or_catalog, labels):
        """Tag by prototypes (Eq. 2.9): `labels` maps each item to one label or a list of labels.

        `audio_or_catalog` is a Catalog (labels: {id: labels}) or a list of audio paths
        (labels: a list aligned with it).
        """
        from zoo.heads import class_prototypes

        if hasattr(audio_or_catalog, "vector"):
            ids = list(labels)
            vectors = np.stack([audio_or_catalog.vector(i) for i in ids])
            item_labels = [labels[i] for i in ids]
        else:
            vectors = self.embed(list(audio_or_catalog))
            item_labels = list(labels)
        item_labels = [[x] if isinstance(x, str) else list(x) for x in item_labels]
        names = sorted({label for row in item_labels for label in row})
        multi_hot = np.array([[name in row for name in names] for row in item_labels], np.float32)
        self._prototypes = (names, class_prototypes(vectors, multi_hot))
        return self

    def similar(self, query, catalog, k=10, weights=None, positives=(), negatives=()):
        """Rank `catalog` (an sdk.Catalog, or the directory of a saved one) for `query`; see
        README for the query forms. Returns result dicts."""
        catalog = searchable_catalog(catalog, self.embedding_size, self.preset_id)
        vector, exclude = self._query_vector(query, catalog)
        if positives or negatives:
            vector = ROCCHIO_ALPHA * vector
            if positives:
                vector = vector + ROCCHIO_BETA * np.mean([self._query_vector(p, catalog)[0] for p in positives], 0)
            if negatives:
                vector = vector - ROCCHIO_GAMMA * np.mean([self._query_vector(n, catalog)[0] for n in negatives], 0)
            exclude = exclude | {p for p in (*positives, *negatives) if isinstance(p, str) and p in catalog}
        if isinstance(query, dict) and weights is None:
            weights = {name: 1.0 for name in query}
        return catalog.search(vector, k=k, weights=weights, exclude=tuple(exclude))[0]

    def _query_vector(self, query, catalog):
        """Query -> (vector, ids to exclude from the results)."""
        if isinstance(query, dict):
            vector = np.zeros(self.embedding_size, np.float32)
            layout = catalog.subspaces
            for name, sub_query in query.items():
                if name not in layout:
                    raise ValueError(f"unknown sub-space {name!r}; this catalog has {list(layout)}")
                start, stop = layout[name]
                part = self._query_vector(sub_query, catalog)[0][start:stop]
                vector[start:stop] = part / (np.linalg.norm(part) + 1e-12)
            return vector, set()
        if isinstance(query, np.ndarray):
            if query.ndim == 1 and query.shape[0] == self.embedding_size:
                return query.astype(np.float32), set()
            raise ValueError("a numpy query is an embedding; pass audio as a file path, or embed(array, sr) first")
        if isinstance(query, (list, tuple)):
            parts = [self._query_vector(q, catalog) for q in query]
            return np.mean([_unit(p[0]) for p in parts], 0), set().union(*(p[1] for p in parts))
        text = str(query)
        if text in catalog:
            return catalog.vector(text), {text}
        members = catalog.ids_matching(text)
        if members:
            # A tag, artist or album named in the catalog metadata: its prototype (Eq. 2.9).
            return np.mean([_unit(catalog.vector(i)) for i in members], 0), set()
        try:
            return self.embed(text), set()
        except AudioError as error:
            raise ValueError(f"query {text!r} is not a catalog id, a tag/artist/album in the catalog, "
                             f"or readable audio ({error})") from error


def _mark_last(iterable):
    """(is_last, item) pairs."""
    iterator = iter(iterable)
    try:
        previous = next(iterator)
    except StopIteration:
        return
    for item in iterator:
        yield False, previous
        previous = item
    yield True, previous


def _is_dir(path):
    from pathlib import Path

    return Path(str(path)).is_dir()


def _unit(vector):
    return vector / (np.linalg.norm(vector) + 1e-12)


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


def get_model(model=None, default="artist-siamese-msd"):
    """The model a module-level shortcut uses: given, by name (cached), or the default."""
    if isinstance(model, MusicModel):
        return model
    key = str(model or default)
    if key not in _LOADED:
        _LOADED[key] = load(key)
    return _LOADED[key]
