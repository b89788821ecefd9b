"""Proxy- and classification-based models of section 5.2.3 on the Inception backbone (Table 5.3).

Each registered name is one family of Table 5.3's rows; they differ as follows.

- inception-proxy ("Proxy", normalisation; `disentangled=True` adds disentanglement):
  the embedding is ONE 256-unit dense layer (5.2.4), normalised. The proxies are learned
  points p_z of that space, a (classes, 256) table in a `ProxyHead`, scored by
  sigmoid((f / ||f||) . p_z) (Eq. 5.11, BCE Eq. 5.10). `disentangled=True` masks the
  embedding and each proxy with the disjoint mask m_s of the class's notion and normalises
  each sub-space on its own (Eq. 5.12, Fig. 5.4 b); the proxy entries outside m_s are
  never used. `normalize_proxies=True` is the cosine of Eq. 5.8-5.9 that the thesis tried
  first and replaced by Eq. 5.11 (the proxy row of Table 5.3 is Eq. 5.11).
- inception-classifier ("Classification", with or without normalisation): the centroids
  c_z are the kernel of the last layer, a bias-free Dense (256 -> classes) (Eq. 5.13,
  footnote 2), on the normalised embedding (`normalize=True`) or, `normalize=False`, on
  the raw ReLU embedding: the vanilla classifier whose embedding retrieves poorly
  (R@1 6.1 in Table 5.3). No masks.
- inception-disentangled-classifier ("Classification", normalisation + disentanglement):
  no 256-unit layer; one 64-unit sub-dense layer h_s per notion (`SubspaceDense`), each
  normalised, each with its own bias-free classifier over its notion's classes
  (`SubspaceClassifier`): multi-task learning, Eq. 5.14-5.16, Fig. 5.4 c.

Where the thesis says two rows are the same function, they are here too, with different
parameters: proxy (not disentangled) and classifier (normalised) both compute Eq. 5.11 =
Eq. 5.13 (the thesis: "equivalent"), with p_z the rows of the classifier's kernel; the
disentangled proxy and the disentangled classifier compute Eq. 5.12 = Eq. 5.16 when h_s
is the sub-space block of the 256-unit layer and c_z the sub-space part of p_z (Eq. 5.15;
the thesis "further verif[ies]" this). tests/zoo/test_inception_heads.py checks both by
copying weights across. What differs is the parametrisation (and so initialisation and the
unused masked proxy entries), not the scores a given set of weights produces.
"""

import keras
import numpy as np
from keras import layers, ops

from zoo.frontends import PACKAGE
from zoo.heads import ProxyHead
from zoo.inception import (CLASS_SUBSPACES_5_2, NAIVE_WIDTHS, REDUCTION_WIDTHS, SUBSPACES_5_2, TINY_BACKBONE,
                           dense_embedding_layers, inception_embedder, with_embedder_parts)
from zoo.layers import L2Normalize, SubspaceDense, SubspaceL2Normalize, subspace_layout
from zoo.losses import binary_crossentropy
from zoo.registry import register_model


def _check_classes(num_classes, class_subspaces, subspaces):
    if len(class_subspaces) != num_classes:
        raise ValueError(f"class_subspaces has {len(class_subspaces)} entries for {num_classes} classes")
    unknown = sorted(set(class_subspaces) - set(subspaces))
    if unknown:
        raise ValueError(f"class_subspaces names {unknown}, not among subspaces {list(subspaces)}")


def _tagger(embedder, head, num_samples, learning_rate, name):
    waveform = keras.Input((num_samples,), name="waveform")
    model = keras.Model(waveform, head(embedder(waveform)), name=name)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=binary_crossentropy())
    return with_embedder_parts(model, embedder, tag_head=(head,))


def build_inception_proxy(num_samples=65536, sample_rate=22050, n_mels=128, num_blocks=6,
                          stem_filters=64, naive_widths=NAIVE_WIDTHS,
                          reduction_widths=REDUCTION_WIDTHS, embedding_size=256,
                          embedding_activation="relu", subspaces=SUBSPACES_5_2, num_classes=50,
                          class_subspaces=CLASS_SUBSPACES_5_2, disentangled=False,
                          normalize_proxies=False, learning_rate=0.005):
    """Multi-label proxy model: sigmoid((f / ||f||) . p_z) (Eq. 5.9, 5.11) with BCE (Eq. 5.10).

    One 256-unit embedding layer f, normalised as a whole or, `disentangled=True`, per
    sub-space (f o m_s / ||f o m_s||), each class scored against its proxy masked to its
    sub-space (Eq. 5.12). `class_subspaces` (one sub-space per class) is used only then.
    The embedder returns the normalised embedding (what retrieval compares).
    """
    layout = subspace_layout(subspaces, embedding_size)
    if disentangled:
        _check_classes(num_classes, class_subspaces, subspaces)
    normalizer = (lambda name: SubspaceL2Normalize(layout, name=name)) if disentangled else L2Normalize
    embedder = inception_embedder(num_samples, sample_rate, n_mels, num_blocks, stem_filters, naive_widths,
                                  reduction_widths,
                                  dense_embedding_layers(embedding_size, embedding_activation, normalizer))
    # The head normalises again (idempotent on its unit input) so that it is Eq. 5.11 / 5.12 alone.
    head = ProxyHead(num_classes, subspaces=layout if disentangled else None,
                     class_subspaces=list(class_subspaces) if disentangled else None,
                     normalize_proxies=normalize_proxies, name="proxies")
    return _tagger(embedder, head, num_samples, learning_rate, "inception_proxy")


def build_inception_classifier(num_samples=65536, sample_rate=22050, n_mels=128, num_blocks=6,
                               stem_filters=64, naive_widths=NAIVE_WIDTHS,
                               reduction_widths=REDUCTION_WIDTHS, embedding_size=256,
                               embedding_activation="relu", subspaces=SUBSPACES_5_2,
                               num_classes=50, normalize=True, learning_rate=0.005):
    """Classification-based metric learning, sigmoid((f / ||f||) . c_z), no bias (Eq. 5.13).

    c_z are the columns of the last Dense layer's kernel ("parameters of the last hidden
    layer"), bias-free (footnote 2). `normalize=True` puts a normalisation layer on the
    embedding (Table 5.3's second classification row); `normalize=False` is the vanilla
    classifier (first row). `subspaces` only names the slices a user may search.
    """
    subspace_layout(subspaces, embedding_size)
    embedder = inception_embedder(num_samples, sample_rate, n_mels, num_blocks, stem_filters, naive_widths,
                                  reduction_widths, dense_embedding_layers(
                                      embedding_size, embedding_activation, L2Normalize if normalize else None))
    head = layers.Dense(num_classes, activation="sigmoid", use_bias=False, name="classes")
    return _tagger(embedder, head, num_samples, learning_rate, "inception_classifier")


@keras.saving.register_keras_serializable(package=PACKAGE)
class SubspaceClassifier(keras.layers.Layer):
    """One bias-free classifier per sub-space, each reading only its slice (Eq. 5.16).

    Input: the concatenated, per-sub-space normalised embedding. Output: one
    score per class, in the order of `class_subspaces` (which may interleave
    sub-spaces); the centroids c_z of a class span only its sub-space.
    """

    def __init__(self, subspaces, class_subspaces, activation="sigmoid", **kwargs):
        super().__init__(**kwargs)
        self.subspaces = {k: list(v) for k, v in subspaces.items()}
        self.class_subspaces = list(class_subspaces)
        self.activation = activation
        self._groups = [(name, [z for z, s in enumerate(self.class_subspaces) if s == name])
                        for name in self.subspaces]
        self._groups = [(name, classes) for name, classes in self._groups if classes]
        grouped_order = [z for _, classes in self._groups for z in classes]
        # Position of class z in the sub-space-grouped scores, to restore the given order.
        self._order = np.argsort(grouped_order).astype("int32")

    def build(self, input_shape):
        self.centroids = [
            self.add_weight(name=f"{name}_centroids", initializer="glorot_uniform",
                            shape=(self.subspaces[name][1] - self.subspaces[name][0], len(classes)))
            for name, classes in self._groups
        ]

    def call(self, embedding):
        grouped = ops.concatenate(
            [ops.matmul(embedding[:, self.subspaces[name][0]:self.subspaces[name][1]], centroids)
             for (name, _), centroids in zip(self._groups, self.centroids)], axis=-1)
        logits = ops.take(grouped, ops.convert_to_tensor(self._order), axis=1)
        return keras.activations.get(self.activation)(logits)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], len(self.class_subspaces))

    def get_config(self):
        return {**super().get_config(), "subspaces": self.subspaces,
                "class_subspaces": self.class_subspaces, "activation": self.activation}


def build_inception_disentangled_classifier(
        num_samples=65536, sample_rate=22050, n_mels=128, num_blocks=6, stem_filters=64,
        naive_widths=NAIVE_WIDTHS, reduction_widths=REDUCTION_WIDTHS, embedding_size=256,
        embedding_activation="relu", subspaces=SUBSPACES_5_2, num_classes=50,
        class_subspaces=CLASS_SUBSPACES_5_2, learning_rate=0.005):
    """Disentangled classifier = multi-task learning (Eq. 5.14-5.16, Fig. 5.4 c).

    score_z = sigmoid((h_s / ||h_s||) . c_z) for the sub-space s of class z, where h_s is
    a sub-dense layer of embedding_size / len(subspaces) units (64) on the backbone
    features ("embedding", a `SubspaceDense`). The embedder returns the 256-d
    concatenation of the normalised h_s ("embedding_l2"): its slice layout[s] is unit-norm.
    """
    layout = subspace_layout(subspaces, embedding_size)
    _check_classes(num_classes, class_subspaces, subspaces)
    head_layers = [SubspaceDense(layout, activation=embedding_activation, name="embedding"),
                   SubspaceL2Normalize(layout, name="embedding_l2")]
    embedder = inception_embedder(num_samples, sample_rate, n_mels, num_blocks, stem_filters, naive_widths,
                                  reduction_widths, head_layers)
    head = SubspaceClassifier(layout, class_subspaces, name="classes")
    return _tagger(embedder, head, num_samples, learning_rate, "inception_disentangled_classifier")


_BACKBONE = dict(num_samples=65536, sample_rate=22050, n_mels=128, num_blocks=6, stem_filters=64,
                 naive_widths=NAIVE_WIDTHS, reduction_widths=REDUCTION_WIDTHS,
                 embedding_size=256, embedding_activation="relu")
# Interleaved on purpose: scores must come back in this order, not grouped.
_TINY_CLASSES = dict(num_classes=6, class_subspaces=("genre", "mood", "genre", "instrument", "era", "mood"))

register_model(
    "inception-proxy",
    reference="Section 5.2.3, Eq. 5.8-5.12 (Table 5.3 'Proxy' rows)",
    description="Multi-label proxy model: learned proxies in the normalised 256-d embedding space, "
                "sigmoid(f/||f|| . p_z), BCE; disentangled=True masks each class to its sub-space.",
    tiny=dict(TINY_BACKBONE, **_TINY_CLASSES),
    **_BACKBONE, subspaces=SUBSPACES_5_2, num_classes=50, class_subspaces=CLASS_SUBSPACES_5_2,
    disentangled=False, normalize_proxies=False, learning_rate=0.005,
)(build_inception_proxy)

register_model(
    "inception-classifier",
    reference="Section 5.2.3, Eq. 5.13 (Table 5.3 'Classification', with/without normalisation)",
    description="Bias-free sigmoid Dense tagger whose kernel columns are the class centroids, on "
                "the normalised embedding (normalize=False: the vanilla classifier).",
    tiny=dict(TINY_BACKBONE, num_classes=6),
    **_BACKBONE, subspaces=SUBSPACES_5_2, num_classes=50, normalize=True, learning_rate=0.005,
)(build_inception_classifier)

register_model(
    "inception-disentangled-classifier",
    reference="Section 5.2.3, Eq. 5.14-5.16 (Table 5.3 'Classification' + disentanglement; Table 5.4)",
    description="Multi-task tagger: per sub-space 64-unit dense, normalised, own classifier; "
                "the normalised parts concatenate to the 256-d embedding.",
    tiny=dict(TINY_BACKBONE, **_TINY_CLASSES),
    **_BACKBONE, subspaces=SUBSPACES_5_2, num_classes=50, class_subspaces=CLASS_SUBSPACES_5_2,
    learning_rate=0.005,
)(build_inception_disentangled_classifier)
