"""Heads that sit on a backbone's feature vector (thesis section 2.3, chapter 5)."""

import keras
import numpy as np
from keras import layers, ops

from zoo.frontends import PACKAGE
from zoo.layers import L2Normalize, SubspaceL2Normalize


def classifier_layers(num_classes, dropout=0.5, activation="sigmoid", name="tags"):
    """[Dropout], Dense: the layers of a tag (sigmoid) or class (softmax) head, in order."""
    dropout_layer = [layers.Dropout(dropout, name=f"{name}_dropout")] if dropout else []
    return [*dropout_layer, layers.Dense(num_classes, activation=activation, name=name)]


def apply_layers(chain, x):
    """x through each layer of `chain` in turn."""
    for layer in chain:
        x = layer(x)
    return x


def tagging_head(x, num_tags, dropout=0.5, name="tags"):
    """Multi-label sigmoid tagger (Eq. 2.1 with sigmoid), trained with BCE."""
    return apply_layers(classifier_layers(num_tags, dropout, "sigmoid", name), x)


def softmax_head(x, num_classes, dropout=0.5, name="classes"):
    """Single-label softmax classifier (artist identification, genre)."""
    return apply_layers(classifier_layers(num_classes, dropout, "softmax", name), x)


def embedding_head(x, size, normalize=True, activation=None, name="embedding"):
    """Dense projection to the metric space, L2-normalised (Eq. 2.5) unless told not to."""
    x = layers.Dense(size, activation=activation, name=name)(x)
    return L2Normalize(name=f"{name}_l2")(x) if normalize else x


@keras.saving.register_keras_serializable(package=PACKAGE)
class ProxyHead(keras.layers.Layer):
    """Learned class proxies: one point p_z of the embedding space per class (Eq. 5.8-5.12).

    The proxies are a (num_classes, d) table, rows in the space the embedding lives in (not a
    classifier's (d, num_classes) kernel). Per class z of sub-space s:

        score_z = sigmoid( (f o m_s / ||f o m_s||) . (p_z o m_s) )        (Eq. 5.11, 5.12)

    With `class_subspaces=None` the mask is all ones (Eq. 5.11). `normalize_proxies=True`
    divides p_z by its norm too: the cosine of Eq. 5.8-5.9, which the thesis found to optimise
    poorly (a score in [-1, 1] stays in the sigmoid's linear part) and replaced by Eq. 5.11.
    `normalize=False` skips normalising the input (for an input normalised already).

    Args:
        num_classes: number of labels z.
        subspaces: {name: [start, stop)} slices of the embedding, or None.
        class_subspaces: per class, the name of its sub-space (Eq. 5.12 masks).
    """

    def __init__(self, num_classes, subspaces=None, class_subspaces=None, normalize=True,
                 normalize_proxies=False, activation="sigmoid", **kwargs):
        super().__init__(**kwargs)
        if (subspaces is None) != (class_subspaces is None):
            raise ValueError("subspaces and class_subspaces go together")
        if class_subspaces is not None and len(class_subspaces) != num_classes:
            raise ValueError(f"class_subspaces has {len(class_subspaces)} entries for {num_classes} classes")
        self.num_classes = num_classes
        self.subspaces = None if subspaces is None else {k: list(v) for k, v in subspaces.items()}
        self.class_subspaces = None if class_subspaces is None else list(class_subspaces)
        self.normalize = normalize
        self.normalize_proxies = normalize_proxies
        self.activation = activation

    def build(self, input_shape):
        size = input_shape[-1]
        self.proxies = self.add_weight(name="proxies", shape=(self.num_classes, size),
                                       initializer="glorot_uniform")
        self._mask = None
        if self.subspaces is not None:
            mask = np.zeros((self.num_classes, size), "float32")
            for z, name in enumerate(self.class_subspaces):
                start, stop = self.subspaces[name]
                mask[z, start:stop] = 1.0
            self._mask = mask
        self._normalizer = SubspaceL2Normalize(self.subspaces) if self.subspaces is not None else L2Normalize()

    def call(self, embedding):
        proxies = self.proxies
        if self._mask is not None:
            proxies = proxies * ops.convert_to_tensor(self._mask)  # p_z o m_s
        if self.normalize_proxies:
            proxies = proxies / ops.sqrt(ops.sum(proxies * proxies, -1, keepdims=True) + 1e-12)
        if self.normalize:
            embedding = self._normalizer(embedding)
        logits = ops.matmul(embedding, ops.transpose(proxies))
        return keras.activations.get(self.activation)(logits)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "subspaces": self.subspaces,
                "class_subspaces": self.class_subspaces, "normalize": self.normalize,
                "normalize_proxies": self.normalize_proxies, "activation": self.activation}


def class_prototypes(embeddings, labels):
    """Eq. 2.9: c_i = mean of the embeddings annotated with label i.

    `labels` is a multi-hot (N, C) matrix or a length-N sequence of class ids;
    returns (C, d). A label with no example gets a zero prototype (scores 0).
    """
    embeddings = np.asarray(embeddings, dtype=np.float32)
    labels = np.asarray(labels)
    if labels.ndim == 1:
        onehot = np.zeros((len(labels), int(labels.max()) + 1), np.float32)
        onehot[np.arange(len(labels)), labels.astype(int)] = 1.0
        labels = onehot
    if labels.shape[0] != embeddings.shape[0]:
        raise ValueError(f"{labels.shape[0]} label rows for {embeddings.shape[0]} embeddings")
    counts = labels.sum(0)[:, None]
    return (labels.T.astype(np.float32) @ embeddings) / np.maximum(counts, 1.0)


@keras.saving.register_keras_serializable(package=PACKAGE)
class PrototypeHead(keras.layers.Layer):
    """Tags by cosine to fixed class prototypes (Eq. 2.9), for models without a tag head.

    Build it from data with `PrototypeHead.from_embeddings(embeddings, labels)`;
    the prototypes are non-trainable weights, saved with the model.
    """

    def __init__(self, num_classes, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes

    def build(self, input_shape):
        self.prototypes = self.add_weight(name="prototypes", shape=(self.num_classes, input_shape[-1]),
                                          initializer="zeros", trainable=False)

    @classmethod
    def from_embeddings(cls, embeddings, labels, **kwargs):
        centroids = class_prototypes(embeddings, labels)
        head = cls(num_classes=centroids.shape[0], **kwargs)
        head.build((None, centroids.shape[1]))
        head.prototypes.assign(centroids)
        return head

    def call(self, embedding):
        unit = embedding / ops.sqrt(ops.sum(embedding * embedding, -1, keepdims=True) + 1e-12)
        protos = self.prototypes
        protos = protos / ops.sqrt(ops.sum(protos * protos, -1, keepdims=True) + 1e-12)
        return ops.matmul(unit, ops.transpose(protos))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


@keras.saving.register_keras_serializable(package=PACKAGE)
class MultiLevelReadout(keras.layers.Layer):
    """Multi-level aggregation as an embedding (thesis section 3.1.4 and Table 3.6; Lee & Nam 2017).

    Takes a list of stage outputs, (batch, time, channels) or (batch, channels); takes the
    max over time of each, concatenates them and maps the result linearly:
    (concatenated - mean) @ matrix. `mean` and `matrix` are non-trainable weights fitted
    after training (e.g. PCA whitening on training tracks, training_recipes/samplecnn_msd/levels.py).

    Args:
        size: output dimensions (columns of `matrix`).
    """

    def __init__(self, size, **kwargs):
        super().__init__(**kwargs)
        self.size = int(size)

    def build(self, input_shapes):
        width = sum(int(shape[-1]) for shape in input_shapes)
        self.mean = self.add_weight(name="mean", shape=(width,), initializer="zeros", trainable=False)
        self.matrix = self.add_weight(name="matrix", shape=(width, self.size), initializer="glorot_uniform",
                                      trainable=False)

    @staticmethod
    def pool(stages):
        """Max over time of each (batch, time, channels) stage, concatenated."""
        pooled = [ops.max(stage, axis=1) if len(stage.shape) == 3 else stage for stage in stages]
        return pooled[0] if len(pooled) == 1 else ops.concatenate(pooled, axis=-1)

    def call(self, stages):
        return ops.matmul(self.pool(stages) - self.mean, self.matrix)

    def compute_output_shape(self, input_shapes):
        return (input_shapes[0][0], self.size)

    def get_config(self):
        return {**super().get_config(), "size": self.size}


@keras.saving.register_keras_serializable(package=PACKAGE)
class StagePooling(keras.layers.Layer):
    """The max over time of each stage output, concatenated (Table 3.6's transfer features)."""

    def call(self, stages):
        return MultiLevelReadout.pool(stages)

    def compute_output_shape(self, input_shapes):
        return (input_shapes[0][0], sum(int(shape[-1]) for shape in input_shapes))
