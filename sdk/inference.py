"""Running a preset's graph over songs: cut windows of samples, batch them, run it compiled.

A preset's graph (zoo.task.MusicTask) takes windows of `window` samples. Segment s
of a song is the window starting at sample s * step of the song zero-padded by `pad`
at both ends (`pad` > 0 for "center"-mode log-mel front ends, so a window gives
exactly the frames the whole song's front end would); segments that do not fit
whole are dropped, and a song shorter than one segment is zero-padded to one.
"""

import numpy as np

DEFAULT_BATCH_SIZE = 16  # segments per graph call, unless a preset's preprocessor.json sets "batch_size"


def preset_batch_size(preprocessor, directory):
    """A preset's default batch size: preprocessor.json "batch_size", a number or one per Keras
    backend ({"jax": 1, "torch": 16}; a backend not named gets DEFAULT_BATCH_SIZE). The fastest
    size depends on the backend: for SampleCNN on this project's CPU, 1 on JAX and 16 on torch."""
    import keras

    from sdk import checks

    value = preprocessor.get("batch_size", DEFAULT_BATCH_SIZE)
    if isinstance(value, dict):
        value = value.get(keras.backend.backend(), DEFAULT_BATCH_SIZE)
    return checks.count(value, f"{directory}: preprocessor.json batch_size")
# Batches are padded to a power of two rows (up to the batch size), so a graph is
# compiled for a handful of shapes at most.


def bucket(rows, batch_size):
    """The batch shape `rows` (<= batch_size) segments run at: the next power of two, capped at
    batch_size."""
    size = 1
    while size < rows:
        size *= 2
    return min(size, batch_size)


class CompiledGraph:
    """A keras.Model's inference call, compiled once per input shape: jax.jit of its
    stateless call on JAX, a tf.function on TensorFlow; torch runs it eagerly under
    no_grad. `traces` counts compilations (what a test checks)."""

    def __init__(self, model):
        import keras

        self.model = model
        self.backend = keras.backend.backend()
        self.traces = 0
        self._function = None

    def _build(self):
        model = self.model

        def forward(*args):
            self.traces += 1  # runs only while tracing on jax / tensorflow
            if self.backend == "jax":
                trainable, non_trainable, x = args
                return model.stateless_call(trainable, non_trainable, x, training=False)[0]
            return model(args[0], training=False)

        if self.backend == "jax":
            import jax

            return jax.jit(forward)
        if self.backend == "tensorflow":
            import tensorflow as tf

            return tf.function(forward, autograph=False)
        return forward

    def __call__(self, batch):
        """numpy (n, ...) -> the model's outputs for those rows, as numpy (a dict for a dict model)."""
        import keras

        if self._function is None:
            self._function = self._build()
        if self.backend == "jax":
            out = self._function([v.value for v in self.model.trainable_variables],
                                 [v.value for v in self.model.non_trainable_variables], batch)
        elif self.backend == "torch":
            import torch

            with torch.no_grad():
                out = self._function(batch)
        else:
            out = self._function(batch)
        return keras.tree.map_structure(lambda t: np.asarray(keras.ops.convert_to_numpy(t), np.float32), out)


def run_padded(compiled, rows, batch_size):
    """At most batch_size rows through `compiled`, padded to a bucket shape; the outputs of
    those rows only (a dict of arrays, or an array)."""
    padded = np.zeros((bucket(len(rows), batch_size), *rows.shape[1:]), np.float32)
    padded[: len(rows)] = rows
    out = compiled(padded)
    return {k: v[: len(rows)] for k, v in out.items()} if isinstance(out, dict) else out[: len(rows)]


def run_batches(compiled, batches, batch_size):
    """Every batch of windows through `compiled`, rows padded to a bucket shape; the
    outputs concatenated (a dict of arrays, or an array)."""
    parts = []
    for batch in batches:
        batch = np.asarray(batch, np.float32)
        for start in range(0, len(batch), batch_size):
            parts.append(run_padded(compiled, batch[start : start + batch_size], batch_size))
    if isinstance(parts[0], dict):
        return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    return np.concatenate(parts)


def cut_windows(blocks, window, step, pad, batch):
    """Batches (n, window) of a song's segment windows from consecutive blocks of its samples."""
    buffer, next_start, pending = np.zeros(pad, np.float32), 0, []
    for is_last, block in _mark_last(blocks):
        buffer = np.concatenate([buffer, block] + ([np.zeros(pad, np.float32)] if is_last else []))
        while next_start + window <= buffer.size:
            pending.append(buffer[next_start : next_start + window])
            next_start += step
            if len(pending) == batch:
                yield np.stack(pending)
                pending = []
        # Keep only what later segments need (a hop longer than the window skips samples).
        buffer, next_start = buffer[next_start:], max(0, next_start - buffer.size)
    if pending:
        yield np.stack(pending)


def one_padded_window(waveform, window, pad):
    """A song shorter than one segment: its samples (after `pad` zeros), zero-padded to one window."""
    padded = np.zeros(window, np.float32)
    song = np.asarray(waveform, np.float32)[: max(0, window - pad)]
    padded[pad : pad + song.size] = song
    return padded[None]


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
