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
The "embedder" (waveform -> front end -> backbone -> embedding head) is a
nested model every head shares, so embeddings for search come from one place.
Every builder declares its parts (zoo/parts.py): front end, backbone, stage
"features" (the pooled 256-d vector), embedding head (the layers after the
backbone, normalisation included) and tag head, so `zoo.task.MusicTask` makes
the preset graph {"embedding", "tags"} of any of them.

Metric learning, here:
- inception-triplet: triplet hinge, euclidean (Eq. 5.1) or cosine (Eq. 5.6)
  on the L2-normalised embedding (Eq. 2.5), margin 0.1.
- inception-csn-triplet: Conditional Similarity Network (Eq. 5.2-5.4, 5.7);
  a `condition` index picks a fixed disjoint mask, the index len(subspaces)
  the all-ones mask of track triplets (section 5.1 mixes them in a batch and
  weighs them by lambda through `sample_weight`, see the builder).
- inception-csn-track-triplet: track regularisation as one 5-input sample
  (section 5.2, Table 5.3 "Triplet + track reg."): the anchor is shared by a
  category triplet and a track triplet, loss L(t_c) + lambda L(t_t) (Eq. 5.5).
Classification and proxies (Table 5.3's other rows): zoo/inception_classifiers.py.

Sub-space layouts ({name: [start, stop)}) follow from the config alone:
`zoo.layers.subspace_layout(subspaces, embedding_size)`.
"""

import keras
from keras import layers, ops

from zoo.frontends import PACKAGE, build_frontend
from zoo.heads import embedding_head
from zoo.layers import L2Normalize, MaskLookup, PairScores, StackCandidates, conv_bn_relu, subspace_layout
from zoo.losses import MarginHingeLoss
from zoo.parts import declare_parts, network_parts
from zoo.registry import register_model

SUBSPACES_5_1 = ("genre", "mood", "instrument", "tempo")
SUBSPACES_5_2 = ("genre", "mood", "instrument", "era")
# Section 5.2.4: 28 genre, 12 mood, 5 instrument and 5 era tags, in that order.
CLASS_SUBSPACES_5_2 = ("genre",) * 28 + ("mood",) * 12 + ("instrument",) * 5 + ("era",) * 5
NAIVE_WIDTHS = (64, 128, 32)  # 1x1, 3x3, 5x5 filters; the pool branch keeps its channels
# 1x1, 3x3-reduce -> 3x3, 5x5-reduce -> 5x5, pool-projection: GoogLeNet 3a, 64+128+32+32 = 256.
REDUCTION_WIDTHS = (64, 96, 128, 16, 32, 32)
STAGES = ("features",)  # the backbone's pooled output; its inner maps are 2-D, not time series


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


def inception_embedder(num_samples, sample_rate, n_mels, num_blocks, stem_filters, naive_widths,
                       reduction_widths, head_layers):
    """Waveform -> front end -> backbone -> `head_layers` in order, as the nested model
    "embedder", with its parts declared (the head layers are its embedding head)."""
    waveform = keras.Input((num_samples,), name="waveform")
    frontend = thesis_logmel(sample_rate, n_mels)
    backbone = inception_backbone(frontend.num_frames(num_samples), n_mels, num_blocks,
                                  stem_filters, naive_widths, reduction_widths)
    x = backbone(frontend(waveform))
    for layer in head_layers:
        x = layer(x)
    return declare_parts(keras.Model(waveform, x, name="embedder"), frontend=frontend,
                         backbone=backbone, stages=STAGES, embedding_head=head_layers)


def dense_embedding_layers(embedding_size, activation, normalizer=None):
    """[Dense(embedding_size) "embedding", optional normaliser "embedding_l2"]: the one
    256-unit embedding layer of 5.2.4, normalised (Eq. 2.5) when a normaliser class is given."""
    dense = layers.Dense(embedding_size, activation=activation, name="embedding")
    return [dense] if normalizer is None else [dense, normalizer(name="embedding_l2")]


def with_embedder_parts(model, embedder, tag_head=()):
    """`model` declared as its embedder's parts plus `tag_head` (the layers after the embedding)."""
    parts = network_parts(embedder)
    return declare_parts(model, frontend=parts.frontend, backbone=parts.backbone, stages=parts.stages,
                         embedding_head=parts.embedding_head, tag_head=tuple(tag_head))


def _normalized_embedder(num_samples, sample_rate, n_mels, num_blocks, stem_filters, naive_widths,
                         reduction_widths, embedding_size, embedding_activation):
    head = dense_embedding_layers(embedding_size, embedding_activation, L2Normalize)
    return inception_embedder(num_samples, sample_rate, n_mels, num_blocks, stem_filters, naive_widths,
                              reduction_widths, head)


def _pair_scores(embedder, anchor, candidates, metric, name, subspace_mask=None):
    stacked = StackCandidates(name=f"{name}_candidates")([embedder(c) for c in candidates])
    return PairScores(metric, name=name)(anchor, stacked, subspace_mask=subspace_mask)


def _waveforms(num_samples, names):
    return [keras.Input((num_samples,), name=n) for n in names]


def build_inception_triplet(num_samples=65536, sample_rate=22050, n_mels=128, num_blocks=6,
                            stem_filters=64, naive_widths=NAIVE_WIDTHS,
                            reduction_widths=REDUCTION_WIDTHS, embedding_size=256,
                            embedding_activation="relu", subspaces=SUBSPACES_5_1,
                            metric="euclidean", margin=0.1, learning_rate=0.01):
    """Triplet network (Fig. 5.2 A): max(0, D(a, p) - D(a, n) + margin), shared embedder.

    `metric="euclidean"` is Eq. 5.1 (section 5.1), `"cosine"` Eq. 5.6 (section 5.2,
    where the thesis uses learning rate 0.005). `subspaces` only names the slices
    of the embedding a user may search; this model trains on the whole of it.
    Output (B, 2): relevance of the positive, then of the negative.
    """
    subspace_layout(subspaces, embedding_size)  # fail early on a layout that cannot split
    embedder = _normalized_embedder(num_samples, sample_rate, n_mels, num_blocks, stem_filters,
                                    naive_widths, reduction_widths, embedding_size, embedding_activation)
    anchor, positive, negative = inputs = _waveforms(num_samples, ("anchor", "positive", "negative"))
    scores = _pair_scores(embedder, embedder(anchor), [positive, negative], metric, "scores")
    model = keras.Model(inputs, scores, name="inception_triplet")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=MarginHingeLoss(margin))
    return with_embedder_parts(model, embedder)


def build_inception_csn_triplet(num_samples=65536, sample_rate=22050, n_mels=128, num_blocks=6,
                                stem_filters=64, naive_widths=NAIVE_WIDTHS,
                                reduction_widths=REDUCTION_WIDTHS, embedding_size=256,
                                embedding_activation="relu", subspaces=SUBSPACES_5_1,
                                metric="euclidean", margin=0.1, track_weight=0.5,
                                learning_rate=0.01):
    """CSN triplet network (Fig. 5.2 B, C): D(f(x_i) o m_s, f(x_j) o m_s), Eq. 5.3-5.4 / 5.7.

    Inputs anchor, positive, negative waveforms and `condition` (B,) int: the
    index of the sub-space in `subspaces`, or len(subspaces) for a track
    triplet (all-ones mask). Track regularisation the section 5.1 way (category
    and track triplets mixed in a batch) is a per-triplet weight, so pass
        sample_weight=zoo.losses.track_regularization_weights(
            condition, len(subspaces), track_weight)
    to fit / train_on_batch; `track_weight` (lambda, 0.5 in 5.1.3) is kept in the
    model arguments for that, and without it every triplet weighs 1. For the
    section 5.2 way, where lambda is part of the loss, see inception-csn-track-triplet.
    """
    layout = subspace_layout(subspaces, embedding_size)
    embedder = _normalized_embedder(num_samples, sample_rate, n_mels, num_blocks, stem_filters,
                                    naive_widths, reduction_widths, embedding_size, embedding_activation)
    anchor, positive, negative = inputs = _waveforms(num_samples, ("anchor", "positive", "negative"))
    condition = keras.Input((), dtype="int32", name="condition")
    mask = MaskLookup(layout, embedding_size, name="condition_mask")(condition)
    scores = _pair_scores(embedder, embedder(anchor), [positive, negative], metric, "scores", mask)
    model = keras.Model([*inputs, condition], scores, name="inception_csn_triplet")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=MarginHingeLoss(margin))
    return with_embedder_parts(model, embedder)


@keras.saving.register_keras_serializable(package=PACKAGE)
class TrackRegularizedHinge(keras.losses.Loss):
    """Eq. 5.5 per 5-input sample: L(t_c) + lambda L(t_t), both the hinge of Eq. 5.4 / 5.7.

    `y_pred` (B, 4): relevance (larger = closer) of the category positive, category negative,
    track positive and track negative to the shared anchor. Per sample
        max(0, margin - s_p + s_n) + track_weight * max(0, margin - s_tp + s_tn);
    averaged over the batch. `y_true` is not used (pass zeros).
    """

    def __init__(self, margin=0.1, track_weight=0.5, name="track_regularized_hinge",
                 reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.margin, self.track_weight = margin, track_weight

    def call(self, y_true, y_pred):
        category = ops.relu(self.margin - y_pred[:, 0] + y_pred[:, 1])
        track = ops.relu(self.margin - y_pred[:, 2] + y_pred[:, 3])
        return category + self.track_weight * track

    def get_config(self):
        return {**super().get_config(), "margin": self.margin, "track_weight": self.track_weight}


TRACK_INPUTS = ("anchor", "positive", "negative", "track_positive", "track_negative")


def build_inception_csn_track_triplet(num_samples=65536, sample_rate=22050, n_mels=128,
                                      num_blocks=6, stem_filters=64, naive_widths=NAIVE_WIDTHS,
                                      reduction_widths=REDUCTION_WIDTHS, embedding_size=256,
                                      embedding_activation="relu", subspaces=SUBSPACES_5_2,
                                      metric="cosine", margin=0.1, track_weight=0.5,
                                      disentangled=True, learning_rate=0.005):
    """Track-regularised triplet network, one 5-input sample (section 5.2.5, Fig. 5.2 C).

    Inputs: anchor, positive, negative (a category triplet of notion `condition`),
    track_positive (another excerpt of the anchor's track, at most 50% overlap) and
    track_negative (an excerpt of another track), plus `condition` (B,) int, the notion's
    index in `subspaces` (only with `disentangled=True`). The anchor is embedded once.
    Output (B, 4): category scores under the mask m_s (Eq. 5.3 / 5.7; no mask when
    `disentangled=False`, Table 5.1's "Category + track regularization"), then track
    scores under the all-ones mask (5.1.2). Loss `TrackRegularizedHinge`: L(t_c) +
    track_weight * L(t_t) (Eq. 5.5), so lambda weighs the track hinge inside the loss.
    Defaults are section 5.2's (cosine, era, 0.005); section 5.1's are euclidean,
    SUBSPACES_5_1 and 0.01, with lambda 0.5 in both.
    """
    layout = subspace_layout(subspaces, embedding_size)
    embedder = _normalized_embedder(num_samples, sample_rate, n_mels, num_blocks, stem_filters,
                                    naive_widths, reduction_widths, embedding_size, embedding_activation)
    inputs = _waveforms(num_samples, TRACK_INPUTS)
    anchor = embedder(inputs[0])
    mask = None
    if disentangled:
        condition = keras.Input((), dtype="int32", name="condition")
        mask = MaskLookup(layout, embedding_size, name="condition_mask")(condition)
        inputs.append(condition)
    category = _pair_scores(embedder, anchor, inputs[1:3], metric, "category_scores", mask)
    track = _pair_scores(embedder, anchor, inputs[3:5], metric, "track_scores")
    scores = layers.Concatenate(name="scores")([category, track])
    model = keras.Model(inputs, scores, name="inception_csn_track_triplet")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=TrackRegularizedHinge(margin, track_weight))
    return with_embedder_parts(model, embedder)


_BACKBONE = dict(num_samples=65536, sample_rate=22050, n_mels=128, num_blocks=6, stem_filters=64,
                 naive_widths=NAIVE_WIDTHS, reduction_widths=REDUCTION_WIDTHS,
                 embedding_size=256, embedding_activation="relu")
# 8192 samples -> 17 x 32 log-mel -> 8 x 16 after the stem -> 2 x 4 after two blocks.
TINY_BACKBONE = dict(num_samples=8192, n_mels=32, num_blocks=2, stem_filters=8,
                     naive_widths=(4, 8, 4), reduction_widths=(4, 4, 8, 2, 4, 4),
                     embedding_size=16)
# Adam's first step moves every weight by ~lr: 0.01 overshoots a tiny net's near-met 0.1 margin.
_TINY_TRIPLET = dict(TINY_BACKBONE, learning_rate=0.001)

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
    "inception-csn-track-triplet",
    reference="Section 5.2.3-5.2.5, Eq. 5.5 + 5.7 (Table 5.3, 5.5, 5.6 'Triplet + track reg.'); "
              "Table 5.1-5.2 track regularisation with the 5.1 settings",
    description="5-input CSN triplet sample: category triplet under its sub-space mask and "
                "track triplet on the whole space share the anchor; loss L(t_c) + lambda L(t_t).",
    tiny=_TINY_TRIPLET,
    **_BACKBONE, subspaces=SUBSPACES_5_2, metric="cosine", margin=0.1, track_weight=0.5,
    disentangled=True, learning_rate=0.005,
)(build_inception_csn_track_triplet)
