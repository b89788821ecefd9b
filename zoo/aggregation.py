"""Song-level aggregation, in one place: cut into segments, run, pool over segments.

The thesis evaluates every model this way: SampleCNN averages segment
predictions (section 3.2.3), the artist models average 256-d segment features
(section 4.1.4), chapter 5 averages 3-second embeddings. In-graph versions
(`SplitSegments`, `PoolSegments`) serve models that slide over a clip themselves
(multi-scale aggregation, section 3.1.4).
"""

import keras
import numpy as np
from keras import ops

from zoo.frontends import PACKAGE

POOLING = ("mean", "max")


def segment(waveform, segment_length, hop=None, pad_last=True):
    """(samples,) -> (num_segments, segment_length) windows of a 1-D signal.

    A clip shorter than one segment is zero-padded to one segment; with
    `pad_last`, a tail longer than half a segment becomes a padded last segment.
    """
    waveform = np.asarray(waveform, dtype=np.float32)
    if waveform.ndim != 1:
        raise ValueError(f"segment expects a 1-D signal, got shape {waveform.shape}")
    if waveform.size == 0:
        raise ValueError("cannot segment an empty signal")
    hop = segment_length if hop is None else hop
    if waveform.size <= segment_length:
        return np.pad(waveform, (0, segment_length - waveform.size))[None]
    starts = list(range(0, waveform.size - segment_length + 1, hop))
    tail = waveform.size - (starts[-1] + hop)
    if pad_last and tail >= segment_length // 2 and starts[-1] + segment_length < waveform.size:
        starts.append(starts[-1] + hop)
    padded = np.pad(waveform, (0, max(0, starts[-1] + segment_length - waveform.size)))
    return np.stack([padded[s : s + segment_length] for s in starts])


def pool(values, method="mean", axis=0):
    """Mean or max over segments."""
    if method == "mean":
        return np.mean(values, axis=axis)
    if method == "max":
        return np.max(values, axis=axis)
    raise ValueError(f"pooling must be one of {POOLING}, got {method!r}")


def predict_song(model, waveform, segment_length, hop=None, method="mean", batch_size=16):
    """Run `model` over the segments of one song and pool its outputs."""
    segments = segment(waveform, segment_length, hop)
    outputs = model.predict(segments, batch_size=batch_size, verbose=0)
    return pool(outputs, method)


@keras.saving.register_keras_serializable(package=PACKAGE)
class SplitSegments(keras.layers.Layer):
    """(B, S * L) -> (B * S, L): non-overlapping windows for a sub-network."""

    def __init__(self, segment_length, **kwargs):
        super().__init__(**kwargs)
        self.segment_length = segment_length

    def call(self, waveform):
        usable = (ops.shape(waveform)[1] // self.segment_length) * self.segment_length
        return ops.reshape(waveform[:, :usable], (-1, self.segment_length))

    def compute_output_shape(self, input_shape):
        return (None, self.segment_length)

    def get_config(self):
        return {**super().get_config(), "segment_length": self.segment_length}


@keras.saving.register_keras_serializable(package=PACKAGE)
class PoolSegments(keras.layers.Layer):
    """(B * S, F) -> (B, F * len(methods)): pool features over a clip's S segments."""

    def __init__(self, num_segments, methods=("max", "mean"), **kwargs):
        super().__init__(**kwargs)
        self.num_segments = num_segments
        self.methods = list(methods)

    def call(self, features):
        grouped = ops.reshape(features, (-1, self.num_segments, ops.shape(features)[-1]))
        reducers = {"max": ops.max, "mean": ops.mean}
        return ops.concatenate([reducers[m](grouped, axis=1) for m in self.methods], axis=-1)

    def compute_output_shape(self, input_shape):
        return (None, input_shape[-1] * len(self.methods))

    def get_config(self):
        return {**super().get_config(), "num_segments": self.num_segments, "methods": self.methods}
