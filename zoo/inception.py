"""Inception-based disentangled music similarity models (thesis sections 2.3, 5.1, 5.2).

Backbone (5.1.3, 5.2.4): log-mel frames (129 x 128 for 3 s) -> conv 5x5x64 ->
2x2 max-pool stride 2 -> six Inception blocks -> global pooling -> 256-d
features. Each block is a "naive" Inception module (parallel 1x1, 3x3, 5x5
convs and a 3x3 max-pool, all stride 2) followed by a dimension-reduction
module whose output is fixed at 256 channels (GoogLeNet 3a widths, since the
thesis gives none). The six stride-2 blocks take 64 x 64 down to 1 x 1.
Every convolution is conv -> BN -> ReLU (BN is our choice; the thesis names
only ReLU). The embedding layer is ReLU too by default (`embedding_activation`):
the thesis uses ReLU "for all layers" and Eq. 5.15 counts it in h.
The "embedder" (waveform -> front end -> backbone -> 256-d embedding) is a
nested model every head shares, so embeddings for search come from one place.

- inception-triplet: triplet hinge, euclidean (Eq. 5.1) or cosine (Eq. 5.6)
  on the L2-normalised embedding (Eq. 2.5), margin 0.1.
- inception-csn-triplet: Conditional Similarity Network (Eq. 5.2-5.4, 5.7);
  a `condition` index picks a fixed disjoint mask, the index len(subspaces)
  the all-ones mask of track triplets. Track regularisation (Eq. 5.5) weighs
  those triplets by lambda through `sample_weight` (see the builder).
- inception-proxy: proxies scored by Eq. 5.11, masked per class (Eq. 5.12)
  with `disentangled=True`; BCE (Eq. 5.9-5.10).
- inception-classifier: Eq. 5.13 (normalised, no bias) or, `normalize=False`,
  the plain classifier of Table 5.3.
- inception-disentangled-classifier: Eq. 5.16, one 64-unit sub-dense layer per
  sub-space, each normalised and classified on its own (multi-task).

Sub-space layouts ({name: [start, stop)}) follow from the config alone:
`zoo.layers.subspace_layout(subspaces, embedding_size)`.
"""

import keras
import numpy as np
from keras import layers, ops

from zoo.frontends import PACKAGE, build_frontend
from zoo.heads import ProxyHead, embedding_head
from zoo.layers import (
    L2Normalize,
    MaskLookup,
    PairScores,
    StackCandidates,
    conv_bn_relu,
    subspace_layout,
)
from zoo.losses import MarginHingeLoss, binary_crossentropy
from zoo.registry import register_model

SUBSPACES_5_1 = ("genre", "mood", "instrument", "tempo")
SUBSPACES_5_2 = ("genre", "mood", "instrument", "era")
# Section 5.2.4: 28 genre, 12 mood, 5 instrument and 5 era tags, in that order.
CLASS_SUBSPACES_5_2 = ("genre",) * 28 + ("mood",) * 12 + ("instrument",) * 5 + ("era",) * 5
NAIVE_WIDTHS = (64, 128, 32)  # 1x1, 3x3, 5x5 filters; the pool branch keeps its channels
# 1x1, 3x3-reduce -> 3x3, 5x5-reduce -> 5x5, pool-projection: GoogLeNet 3a, 64+128+32+32 = 256.
REDUCTION_WIDTHS = (64, 96, 128, 16, 32, 32)


def naive_inception(x, widths, strides, name):
    """Parallel 1x1, 3x3, 5x5 convs and a 3x3 max-pool, concatenated (Szegedy et al. Fig. 2a)."""
    one, three, five = widths
    branches = [
        conv_bn_relu(x, one, 1, strides=strides, name=f"{name}_1x1", rank=2),
        conv_bn_relu(x, three, 3, strides=strides, name=f"{name}_3x3", rank=2),
        conv_bn_relu(x, five, 5, strides=strides, name=f"{name}_5x5", rank=2),
        layers.MaxPooling2D(3, strides=strides, padding="same", name=f"{name}_pool")(x),
    ]
    return layers.Concatenate(name=name)(branches)


def reduction_inception(x, widths, name):
    """Inception module with 1x1 reductions (Fig. 2b); its width is fixed by `widths`,
    not by its input, which is what keeps every block at 256 channels."""
    one, three_reduce, three, five_reduce, five, pool_projection = widths
    reduced3 = conv_bn_relu(x, three_reduce, 1, name=f"{name}_3x3_reduce", rank=2)
    reduced5 = conv_bn_relu(x, five_reduce, 1, name=f"{name}_5x5_reduce", rank=2)
    pooled = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    branches = [
        conv_bn_relu(x, one, 1, name=f"{name}_1x1", rank=2),
        conv_bn_relu(reduced3, three, 3, name=f"{name}_3x3", rank=2),
        conv_bn_relu(reduced5, five, 5, name=f"{name}_5x5", rank=2),
        conv_bn_relu(pooled, pool_projection, 1, name=f"{name}_pool_proj", rank=2),
    ]
    return layers.Concatenate(name=name)(branches)


def inception_backbone(num_frames=129, n_mels=128, num_blocks=6, stem_filters=64,
                       naive_widths=NAIVE_WIDTHS, reduction_widths=REDUCTION_WIDTHS,
                       name="backbone"):
    """Log-mel (num_frames, n_mels) -> features of sum(1x1, 3x3, 5x5, pool-proj) = 256."""
    frames = keras.Input((num_frames, n_mels), name="logmel")
    x = layers.Reshape((num_frames, n_mels, 1), name="image")(frames)  # time x frequency image
    x = conv_bn_relu(x, stem_filters, 5, name="stem", rank=2)
    x = layers.MaxPooling2D(2, strides=2, name="stem_pool")(x)
    for i in range(1, num_blocks + 1):
        x = naive_inception(x, naive_widths, 2, name=f"block{i}_naive")
        x = reduction_inception(x, reduction_widths, name=f"block{i}_reduce")
    features = layers.GlobalAveragePooling2D(name="features")(x)  # 1 x 1 left at thesis size
    return keras.Model(frames, features, name=name)


def thesis_logmel(sample_rate, n_mels):
    """Section 5.1.3 front end: 23 ms windows, 50% overlap, log10(1 + 10 S), z-score 0.2 / 0.25."""
    return build_frontend("logmel", sample_rate=sample_rate, n_fft=1024, hop_length=512,
                          n_mels=n_mels, power=1.0, compression_scale=10.0, mean=0.2, std=0.25)


def backbone_features(waveform, num_samples, sample_rate, n_mels, num_blocks, stem_filters,
                      naive_widths, reduction_widths):
    """Waveform tensor -> front end -> backbone features (built fresh each call)."""
    frontend = thesis_logmel(sample_rate, n_mels)
    backbone = inception_backbone(frontend.num_frames(num_samples), n_mels, num_blocks,
                                  stem_filters, naive_widths, reduction_widths)
    return backbone(frontend(waveform))


def inception_embedder(num_samples, sample_rate, n_mels, num_blocks, stem_filters, naive_widths,
                       reduction_widths, embedding_size, embedding_activation, normalize):
    """Waveform -> Dense(embedding_size) embedding, L2-normalised if `normalize` (Eq. 2.5)."""
    waveform = keras.Input((num_samples,), name="waveform")
    x = backbone_features(waveform, num_samples, sample_rate, n_mels, num_blocks, stem_filters,
                          naive_widths, reduction_widths)
    x = embedding_head(x, embedding_size, normalize, embedding_activation, name="embedding")
    return keras.Model(waveform, x, name="embedder")


def _triplet_scores(embedder, num_samples, metric, subspace_mask=None):
    """Anchor, positive, negative inputs and PairScores (B, 2), column 0 the positive."""
    anchor, positive, negative = (keras.Input((num_samples,), name=n)
                                  for n in ("anchor", "positive", "negative"))
    candidates = StackCandidates(name="candidates")([embedder(positive), embedder(negative)])
    scores = PairScores(metric, name="scores")(embedder(anchor), candidates,
                                               subspace_mask=subspace_mask)
    return [anchor, positive, negative], scores


def build_inception_triplet(num_samples=65536, sample_rate=22050, n_mels=128, num_blocks=6,
                            stem_filters=64, naive_widths=NAIVE_WIDTHS,
                            reduction_widths=REDUCTION_WIDTHS, embedding_size=256,
                            embedding_activation="relu", subspaces=SUBSPACES_5_1,
                            metric="euclidean", margin=0.1, learning_rate=0.01):
    """Triplet network (Fig. 5.2 A): max(0, D(a, p) - D(a, n) + margin), shared embedder.

    `metric="euclidean"` is Eq. 5.1 (section 5.1), `"cosine"` Eq. 5.6 (section 5.2,
    where the thesis uses learning rate 0.005). `subspaces` only names the slices
    of the embedding a user may search; this model trains on the whole of it.
    """
    subspace_layout(subspaces, embedding_size)  # fail early on a layout that cannot split
    embedder = inception_embedder(num_samples, sample_rate, n_mels, num_blocks, stem_filters,
                                  naive_widths, reduction_widths, embedding_size,
                                  embedding_activation, normalize=True)
    inputs, scores = _triplet_scores(embedder, num_samples, metric)
    model = keras.Model(inputs, scores, name="inception_triplet")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=MarginHingeLoss(margin))
    return model


def build_inception_csn_triplet(num_samples=65536, sample_rate=22050, n_mels=128, num_blocks=6,
                                stem_filters=64, naive_widths=NAIVE_WIDTHS,
                                reduction_widths=REDUCTION_WIDTHS, embedding_size=256,
                                embedding_activation="relu", subspaces=SUBSPACES_5_1,
                                metric="euclidean", margin=0.1, track_weight=0.5,
                                learning_rate=0.01):
    """CSN triplet network (Fig. 5.2 B, C): D(f(x_i) o m_s, f(x_j) o m_s), Eq. 5.3-5.4 / 5.7.

    Inputs anchor, positive, negative waveforms and `condition` (B,) int: the
    index of the sub-space in `subspaces`, or len(subspaces) for a track
    triplet (all-ones mask). Track regularisation, Eq. 5.5
    L = L(t_c) + lambda L(t_t), is a per-triplet weight, so pass
        sample_weight=zoo.losses.track_regularization_weights(
            condition, len(subspaces), track_weight)
    to fit / train_on_batch; `track_weight` (lambda, 0.5 in 5.1.3) is kept in
    the model arguments for that. Without it every triplet weighs 1.
    """
    layout = subspace_layout(subspaces, embedding_size)
    embedder = inception_embedder(num_samples, sample_rate, n_mels, num_blocks, stem_filters,
                                  naive_widths, reduction_widths, embedding_size,
                                  embedding_activation, normalize=True)
    condition = keras.Input((), dtype="int32", name="condition")
    mask = MaskLookup(layout, embedding_size, name="condition_mask")(condition)
    inputs, scores = _triplet_scores(embedder, num_samples, metric, subspace_mask=mask)
    model = keras.Model([*inputs, condition], scores, name="inception_csn_triplet")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=MarginHingeLoss(margin))
    return model


def _check_classes(num_classes, class_subspaces, subspaces):
    if len(class_subspaces) != num_classes:
        raise ValueError(f"class_subspaces has {len(class_subspaces)} entries for {num_classes} classes")
    unknown = sorted(set(class_subspaces) - set(subspaces))
    if unknown:
        raise ValueError(f"class_subspaces names {unknown}, not among subspaces {list(subspaces)}")


def _compile_tagger(model, learning_rate):
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=binary_crossentropy())
    return model


def build_inception_proxy(num_samples=65536, sample_rate=22050, n_mels=128, num_blocks=6,
                          stem_filters=64, naive_widths=NAIVE_WIDTHS,
                          reduction_widths=REDUCTION_WIDTHS, embedding_size=256,
                          embedding_activation="relu", subspaces=SUBSPACES_5_2, num_classes=50,
                          class_subspaces=CLASS_SUBSPACES_5_2, disentangled=False,
                          learning_rate=0.005):
    """Multi-label proxy model: sigmoid((f / ||f||) . p_z) (Eq. 5.9, 5.11) with BCE (Eq. 5.10).

    `disentangled=True` masks embedding and proxy with the sub-space of each
    class, normalising each sub-space on its own (Eq. 5.12, Fig. 5.4 b).
    `class_subspaces` (one sub-space name per class) is used only then.
    """
    layout = subspace_layout(subspaces, embedding_size)
    if disentangled:
        _check_classes(num_classes, class_subspaces, subspaces)
    embedder = inception_embedder(num_samples, sample_rate, n_mels, num_blocks, stem_filters,
                                  naive_widths, reduction_widths, embedding_size,
                                  embedding_activation, normalize=False)
    waveform = keras.Input((num_samples,), name="waveform")
    head = ProxyHead(num_classes, subspaces=layout if disentangled else None,
                     class_subspaces=list(class_subspaces) if disentangled else None,
                     normalize=True, name="proxies")
    model = keras.Model(waveform, head(embedder(waveform)), name="inception_proxy")
    return _compile_tagger(model, learning_rate)


def build_inception_classifier(num_samples=65536, sample_rate=22050, n_mels=128, num_blocks=6,
                               stem_filters=64, naive_widths=NAIVE_WIDTHS,
                               reduction_widths=REDUCTION_WIDTHS, embedding_size=256,
                               embedding_activation="relu", subspaces=SUBSPACES_5_2,
                               num_classes=50, normalize=True, learning_rate=0.005):
    """Classification-based metric learning, sigmoid((f / ||f||) . c_z), no bias (Eq. 5.13).

    `normalize=False` drops the normalisation: the plain classifier row of
    Table 5.3. With it, the formula is the proxy model's Eq. 5.11, so both use
    one head. `subspaces` only names the slices a user may search.
    """
    subspace_layout(subspaces, embedding_size)
    embedder = inception_embedder(num_samples, sample_rate, n_mels, num_blocks, stem_filters,
                                  naive_widths, reduction_widths, embedding_size,
                                  embedding_activation, normalize=False)
    waveform = keras.Input((num_samples,), name="waveform")
    head = ProxyHead(num_classes, normalize=normalize, name="classes")
    model = keras.Model(waveform, head(embedder(waveform)), name="inception_classifier")
    return _compile_tagger(model, learning_rate)


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


def disentangled_embedder(num_samples, sample_rate, n_mels, num_blocks, stem_filters,
                          naive_widths, reduction_widths, layout, embedding_activation):
    """Waveform -> backbone -> per sub-space Dense h_s -> h_s / ||h_s|| -> concatenated.

    The concatenation is the disentangled embedding: its slice `layout[s]` is
    the normalised output of sub-space s, ready for sub-space search.
    """
    waveform = keras.Input((num_samples,), name="waveform")
    x = backbone_features(waveform, num_samples, sample_rate, n_mels, num_blocks, stem_filters,
                          naive_widths, reduction_widths)
    parts = [
        L2Normalize(name=f"{name}_l2")(
            layers.Dense(stop - start, activation=embedding_activation, name=f"{name}_dense")(x))
        for name, (start, stop) in layout.items()
    ]
    return keras.Model(waveform, layers.Concatenate(name="embedding")(parts), name="embedder")


def build_inception_disentangled_classifier(
        num_samples=65536, sample_rate=22050, n_mels=128, num_blocks=6, stem_filters=64,
        naive_widths=NAIVE_WIDTHS, reduction_widths=REDUCTION_WIDTHS, embedding_size=256,
        embedding_activation="relu", subspaces=SUBSPACES_5_2, num_classes=50,
        class_subspaces=CLASS_SUBSPACES_5_2, learning_rate=0.005):
    """Disentangled classifier = multi-task learning (Eq. 5.14-5.16, Fig. 5.4 c).

    score_z = sigmoid((h_s / ||h_s||) . c_z) for the sub-space s of class z,
    where h_s is a sub-dense layer of embedding_size / len(subspaces) units (64)
    on the backbone features. The nested "embedder" returns the 256-d
    concatenation of the normalised h_s.
    """
    layout = subspace_layout(subspaces, embedding_size)
    _check_classes(num_classes, class_subspaces, subspaces)
    embedder = disentangled_embedder(num_samples, sample_rate, n_mels, num_blocks, stem_filters,
                                     naive_widths, reduction_widths, layout, embedding_activation)
    waveform = keras.Input((num_samples,), name="waveform")
    head = SubspaceClassifier(layout, class_subspaces, name="classes")
    model = keras.Model(waveform, head(embedder(waveform)), name="inception_disentangled_classifier")
    return _compile_tagger(model, learning_rate)


_BACKBONE = dict(num_samples=65536, sample_rate=22050, n_mels=128, num_blocks=6, stem_filters=64,
                 naive_widths=NAIVE_WIDTHS, reduction_widths=REDUCTION_WIDTHS,
                 embedding_size=256, embedding_activation="relu")
# 8192 samples -> 17 x 32 log-mel -> 8 x 16 after the stem -> 2 x 4 after two blocks.
_TINY_BACKBONE = dict(num_samples=8192, n_mels=32, num_blocks=2, stem_filters=8,
                      naive_widths=(4, 8, 4), reduction_widths=(4, 4, 8, 2, 4, 4),
                      embedding_size=16)
# Adam's first step moves every weight by ~lr: 0.01 overshoots a tiny net's near-met 0.1 margin.
_TINY_TRIPLET = dict(_TINY_BACKBONE, learning_rate=0.001)
# Interleaved on purpose: scores must come back in this order, not grouped.
_TINY_CLASSES = dict(num_classes=6, class_subspaces=("genre", "mood", "genre", "instrument", "era", "mood"))

register_model(
    "inception-triplet",
    reference="Section 5.1.2-5.1.3, Eq. 5.1 (Table 5.1 'Category'); Eq. 5.6 (Table 5.3 'Triplet')",
    description="Inception backbone, L2-normalised 256-d embedding, triplet hinge (margin 0.1).",
    tiny=_TINY_TRIPLET,
    **_BACKBONE, subspaces=SUBSPACES_5_1, metric="euclidean", margin=0.1, learning_rate=0.01,
)(build_inception_triplet)

register_model(
    "inception-csn-triplet",
    reference="Section 5.1.2, Eq. 5.2-5.5 (Table 5.1-5.2 disentanglement, track regularisation); Eq. 5.7",
    description="Conditional Similarity Network: fixed disjoint 64-d masks per condition, "
                "all-ones mask for track triplets weighted by lambda.",
    tiny=_TINY_TRIPLET,
    **_BACKBONE, subspaces=SUBSPACES_5_1, metric="euclidean", margin=0.1, track_weight=0.5,
    learning_rate=0.01,
)(build_inception_csn_triplet)

register_model(
    "inception-proxy",
    reference="Section 5.2.3, Eq. 5.8-5.12 (Table 5.3 'Proxy' rows)",
    description="Multi-label proxy model: sigmoid of normalised embedding . proxy, BCE; "
                "disentangled=True masks each class to its sub-space.",
    tiny=dict(_TINY_BACKBONE, **_TINY_CLASSES),
    **_BACKBONE, subspaces=SUBSPACES_5_2, num_classes=50, class_subspaces=CLASS_SUBSPACES_5_2,
    disentangled=False, learning_rate=0.005,
)(build_inception_proxy)

register_model(
    "inception-classifier",
    reference="Section 5.2.3, Eq. 5.13 (Table 5.3 'Classification', with/without normalisation)",
    description="Bias-free sigmoid tagger on the normalised embedding (normalize=False: plain).",
    tiny=dict(_TINY_BACKBONE, num_classes=6),
    **_BACKBONE, subspaces=SUBSPACES_5_2, num_classes=50, normalize=True, learning_rate=0.005,
)(build_inception_classifier)

register_model(
    "inception-disentangled-classifier",
    reference="Section 5.2.3, Eq. 5.14-5.16 (Table 5.3 'Classification' + disentanglement; Table 5.4)",
    description="Multi-task tagger: per sub-space 64-unit dense, normalised, own classifier; "
                "the normalised parts concatenate to the 256-d embedding.",
    tiny=dict(_TINY_BACKBONE, **_TINY_CLASSES),
    **_BACKBONE, subspaces=SUBSPACES_5_2, num_classes=50, class_subspaces=CLASS_SUBSPACES_5_2,
    learning_rate=0.005,
)(build_inception_disentangled_classifier)
