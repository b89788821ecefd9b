"""Small building blocks shared by several families (keras.ops only)."""

import keras
from keras import layers, ops

from zoo.frontends import PACKAGE


def conv_bn_relu(x, filters, kernel_size, name, strides=1, padding="same", rank=1):
    """Conv -> BatchNorm -> ReLU, the unit every thesis CNN is made of."""
    conv = layers.Conv1D if rank == 1 else layers.Conv2D
    x = conv(filters, kernel_size, strides=strides, padding=padding, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


@keras.saving.register_keras_serializable(package=PACKAGE)
class SqueezeExcitation1D(keras.layers.Layer):
    """Channel gating from global average statistics (Hu et al.; thesis Fig. 3.6b).

    `ratio` sets the hidden FC width as channels * ratio: the ReSE papers
    amplify (ratio 16) rather than reduce, so values above 1 are expected.
    """

    def __init__(self, ratio=16.0, **kwargs):
        super().__init__(**kwargs)
        self.ratio = ratio

    def build(self, input_shape):
        channels = input_shape[-1]
        self.squeeze = layers.Dense(max(1, int(channels * self.ratio)), activation="relu", name="fc1")
        self.excite = layers.Dense(channels, activation="sigmoid", name="fc2")
        self.squeeze.build((input_shape[0], channels))
        self.excite.build((input_shape[0], self.squeeze.units))

    def call(self, x):
        gate = self.excite(self.squeeze(ops.mean(x, axis=1)))
        return x * ops.expand_dims(gate, 1)

    def get_config(self):
        return {**super().get_config(), "ratio": self.ratio}


@keras.saving.register_keras_serializable(package=PACKAGE)
class L2Normalize(keras.layers.Layer):
    """x / ||x|| over the last axis (metric space normalisation, Eq. 2.5)."""

    def __init__(self, epsilon=1e-12, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, x):
        return x / ops.sqrt(ops.sum(x * x, axis=-1, keepdims=True) + self.epsilon)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package=PACKAGE)
class SubspaceL2Normalize(keras.layers.Layer):
    """Normalise each named slice of the embedding on its own (f(x) o m_s / ||f(x) o m_s||).

    `subspaces` maps a name to [start, stop); slices are disjoint (Eq. 5.3, 5.12).
    """

    def __init__(self, subspaces, epsilon=1e-12, **kwargs):
        super().__init__(**kwargs)
        self.subspaces = {k: list(v) for k, v in subspaces.items()}
        self.epsilon = epsilon

    def call(self, x):
        parts = []
        for start, stop in self.subspaces.values():
            part = x[..., start:stop]
            parts.append(part / ops.sqrt(ops.sum(part * part, -1, keepdims=True) + self.epsilon))
        return ops.concatenate(parts, axis=-1)

    def get_config(self):
        return {**super().get_config(), "subspaces": self.subspaces, "epsilon": self.epsilon}


def subspace_layout(names, size):
    """Equal, disjoint slices of a `size`-d embedding: {name: [start, stop)}."""
    if size % len(names):
        raise ValueError(f"embedding size {size} does not split into {len(names)} equal sub-spaces")
    width = size // len(names)
    return {name: [i * width, (i + 1) * width] for i, name in enumerate(names)}


def subspace_masks(subspaces, size):
    """One 0/1 mask row per sub-space (m_s in Eq. 2.7 / 5.3), shape (S, size)."""
    import numpy as np

    masks = np.zeros((len(subspaces), size), "float32")
    for row, (start, stop) in enumerate(subspaces.values()):
        masks[row, start:stop] = 1.0
    return masks


@keras.saving.register_keras_serializable(package=PACKAGE)
class PairScores(keras.layers.Layer):
    """Relevance of an anchor to each candidate: cosine (Eq. 4.1 / 5.6) or -euclidean (Eq. 5.1).

    Inputs: anchor (B, d), candidates (B, K, d), optional `subspace_mask` (B, d)
    applied to both sides first (Eq. 5.3). Output (B, K); larger means more
    similar, so one hinge loss serves every metric. (The argument is not called
    `mask`: Keras would feed it the framework's own padding masks.)
    """

    def __init__(self, metric="cosine", epsilon=1e-12, **kwargs):
        super().__init__(**kwargs)
        if metric not in ("cosine", "euclidean"):
            raise ValueError(f"metric must be cosine or euclidean, got {metric!r}")
        self.metric = metric
        self.epsilon = epsilon

    def call(self, anchor, candidates, subspace_mask=None):
        anchor = ops.expand_dims(anchor, 1)
        if subspace_mask is not None:
            subspace_mask = ops.expand_dims(ops.cast(subspace_mask, anchor.dtype), 1)
            anchor, candidates = anchor * subspace_mask, candidates * subspace_mask
        if self.metric == "euclidean":
            diff = anchor - candidates
            return -ops.sqrt(ops.sum(diff * diff, axis=-1) + self.epsilon)
        dot = ops.sum(anchor * candidates, axis=-1)
        # Clamped inside the square root: a masked slice that is all zeros (a dead ReLU
        # sub-space) then scores 0 with a finite gradient, where sqrt(0)' gave NaN.
        squared = ops.sum(anchor * anchor, -1) * ops.sum(candidates * candidates, -1)
        return dot / ops.sqrt(ops.maximum(squared, self.epsilon))

    def compute_output_shape(self, anchor_shape, candidates_shape, subspace_mask_shape=None):
        return candidates_shape[:2]

    def get_config(self):
        return {**super().get_config(), "metric": self.metric, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package=PACKAGE)
class MaskLookup(keras.layers.Layer):
    """Condition index (B,) -> its fixed disjoint mask (B, d); indexes past the last
    sub-space get the all-ones mask (track triplets in track regularisation, Eq. 5.5)."""

    def __init__(self, subspaces, size, **kwargs):
        super().__init__(**kwargs)
        self.subspaces = {k: list(v) for k, v in subspaces.items()}
        self.size = size
        import numpy as np

        self._masks = np.concatenate(
            [subspace_masks(self.subspaces, size), np.ones((1, size), "float32")]
        )

    def call(self, condition):
        index = ops.clip(ops.reshape(ops.cast(condition, "int32"), (-1,)), 0, len(self.subspaces))
        return ops.take(ops.convert_to_tensor(self._masks), index, axis=0)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.size)

    def get_config(self):
        return {**super().get_config(), "subspaces": self.subspaces, "size": self.size}


@keras.saving.register_keras_serializable(package=PACKAGE)
class StackCandidates(keras.layers.Layer):
    """[(B, d)] * K -> (B, K, d): the candidates a `PairScores` layer compares."""

    def call(self, embeddings):
        return ops.stack(embeddings, axis=1)

    def compute_output_shape(self, input_shapes):
        return (input_shapes[0][0], len(input_shapes), input_shapes[0][-1])


@keras.saving.register_keras_serializable(package=PACKAGE)
class SubspaceDense(keras.layers.Layer):
    """Sub-dense layers h_s (thesis Eq. 5.15-5.16): one Dense per named sub-space, each with
    its own kernel (inputs x (stop - start)) and bias, outputs concatenated in layout order.

    The concatenation has the shape of one `embedding_size` Dense; what differs is that each
    block is its own layer (own initialisation fan-out), as the multi-task classifier of
    Fig. 5.4 (c) has it. Eq. 5.15 shows h o m_s of one big layer is such a block.
    """

    def __init__(self, subspaces, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.subspaces = {k: list(v) for k, v in subspaces.items()}
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        self.kernels, self.biases = [], []
        for name, (start, stop) in self.subspaces.items():
            self.kernels.append(self.add_weight(name=f"{name}_kernel", shape=(input_shape[-1], stop - start),
                                                initializer="glorot_uniform"))
            self.biases.append(self.add_weight(name=f"{name}_bias", shape=(stop - start,), initializer="zeros"))

    def call(self, x):
        return ops.concatenate([self.activation(ops.matmul(x, kernel) + bias)
                                for kernel, bias in zip(self.kernels, self.biases)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], max(stop for _, stop in self.subspaces.values()))

    def get_config(self):
        return {**super().get_config(), "subspaces": self.subspaces,
                "activation": keras.activations.serialize(self.activation)}
