"""Artist-label models (thesis sections 4.1 and 4.2, Fig. 4.1 and 4.8, Eq. 4.1-4.2).

One audio tower serves all four: 129 log-mel frames (3 s at 22,050 Hz, hop
512) -> [Conv1D k4 -> BN -> ReLU -> max-pool 4] x 3 -> [Conv1D k2 -> BN -> ReLU
-> max-pool 2] -> [Conv1D k1 (256) -> BN -> ReLU] -> max over time = 256-d.
- artist-basic: softmax over the training artists (categorical cross-entropy).
- tag-basic: section 4.1.2's "compared model" (the tag-label model of Tables 4.1-4.3): the
  basic model's architecture with a sigmoid output over the top-50 Last.fm tags of the MSD
  (section 4.1.3, "Tag-label Model"), binary cross-entropy, learning rate 0.015.
- artist-siamese: anchor, positive (same artist) and N negatives share the tower;
  cosine relevance (Eq. 4.1) and max-margin hinge (Eq. 4.2, margin 0.4, N = 4).
- artist-album-track: the Siamese set-up for three concepts at once, margins
  0.4 / 0.25 / 0.1, losses summed, twice the filters (section 4.2, footnote 5).

`loss_reduction` says how a batch's per-example losses are combined. The thesis does not say;
the authors' code (jongpillee/ismir2018-artist, train.py) sums its hinge over the batch
(`K.sum` of the whole (B, N) margin matrix) and uses Keras's averaged built-in cross-entropy
for the basic model, so those are the defaults: "sum" for the hinge models, "sum_over_batch_size"
(the mean) for the softmax and sigmoid ones. With SGD at the thesis's rate 0.1 and the code's
batch of 15, the summed hinge takes steps 15 times those of the mean.
"""

import keras
from keras import layers

from zoo.frontends import build_frontend
from zoo.heads import apply_layers, classifier_layers
from zoo.layers import PairScores, StackCandidates, conv_bn_relu
from zoo.losses import MarginHingeLoss
from zoo.parts import declare_parts, network_parts
from zoo.registry import register_model

LOSS_REDUCTIONS = ("sum", "sum_over_batch_size")

# Front end the published weights expect (see shared/weights/artist-siamese-msd/PROVENANCE.md).
MEL_MEAN, MEL_STD = 0.22620339, 0.25794547
FILTERS = (128, 128, 128, 128, 256)
KERNEL_SIZES = (4, 4, 4, 2, 1)
POOL_SIZES = (4, 4, 4, 2)  # the last conv is not pooled: its max over time is the feature


def artist_backbone(n_mels=128, filters=FILTERS, kernel_sizes=KERNEL_SIZES, pool_sizes=POOL_SIZES,
                    name="backbone"):
    """Log-mel frames (any length, n_mels) -> 256-d features (max over time)."""
    frames = keras.Input((None, n_mels), name="logmel")
    x = frames
    for i, (width, size) in enumerate(zip(filters, kernel_sizes), start=1):
        x = conv_bn_relu(x, width, size, name=f"block{i}")
        if i <= len(pool_sizes):
            x = layers.MaxPooling1D(pool_sizes[i - 1], name=f"block{i}_pool")(x)
    return keras.Model(frames, layers.GlobalMaxPooling1D(name="features")(x), name=name)


def artist_embedder(num_samples, sample_rate, n_mels, filters, kernel_sizes, pool_sizes, dropout,
                    name="embedder"):
    """Waveform -> thesis front end -> tower; dropout 0.5 on the last activation (4.1.3)."""
    waveform = keras.Input((num_samples,), name="waveform")
    frontend = build_frontend("logmel", sample_rate=sample_rate, n_fft=1024, hop_length=512,
                              n_mels=n_mels, power=1.0, compression_scale=10.0, mean=MEL_MEAN,
                              std=MEL_STD)
    backbone = artist_backbone(n_mels, filters, kernel_sizes, pool_sizes)
    x = backbone(frontend(waveform))
    if dropout:
        x = layers.Dropout(dropout, name="features_dropout")(x)
    # Stages: each pooled block, then the unpooled ones (their max over time is the feature).
    stages = [f"block{i}_pool" if i <= len(pool_sizes) else f"block{i}_relu" for i in range(1, len(filters) + 1)]
    return declare_parts(keras.Model(waveform, x, name=name), frontend=frontend, backbone=backbone, stages=stages)


def _with_tower_parts(model, embedder, tag_head=()):
    """`model` declared as the embedder's front end, backbone and stages (+ a head)."""
    tower = network_parts(embedder)
    return declare_parts(model, frontend=tower.frontend, backbone=tower.backbone, stages=tower.stages,
                         tag_head=tag_head)


def thesis_sgd_with_decay(learning_rate):
    """SGD, 0.9 Nesterov momentum, 1e-6 inverse-time decay per step (section 4.1.3)."""
    schedule = keras.optimizers.schedules.InverseTimeDecay(learning_rate, decay_steps=1, decay_rate=1e-6)
    return keras.optimizers.SGD(learning_rate=schedule, momentum=0.9, nesterov=True)


def _check_reduction(loss_reduction):
    if loss_reduction not in LOSS_REDUCTIONS:
        raise ValueError(f"loss_reduction must be one of {LOSS_REDUCTIONS}, got {loss_reduction!r}")
    return loss_reduction


def _siamese_scores(embedder, num_samples, num_negatives, prefix=""):
    """Inputs (positive, negatives) for one concept and their cosine to the anchor."""
    positive = keras.Input((num_samples,), name=f"{prefix}positive")
    negatives = [keras.Input((num_samples,), name=f"{prefix}negative_{i}") for i in range(1, num_negatives + 1)]
    candidates = StackCandidates(name=f"{prefix}candidates")(
        [embedder(x) for x in [positive, *negatives]]
    )
    return [positive, *negatives], candidates


def _basic_tower_model(num_outputs, activation, head_name, loss, num_samples, sample_rate, n_mels, filters,
                       kernel_sizes, pool_sizes, dropout, learning_rate, name):
    """The section 4.1.2 basic model: tower -> [dropout] -> one dense output layer."""
    embedder = artist_embedder(num_samples, sample_rate, n_mels, filters, kernel_sizes, pool_sizes, 0.0)
    waveform = keras.Input((num_samples,), name="waveform")
    head = classifier_layers(num_outputs, dropout, activation, name=head_name)
    model = keras.Model(waveform, apply_layers(head, embedder(waveform)), name=name)
    model.compile(optimizer=thesis_sgd_with_decay(learning_rate), loss=loss)
    return _with_tower_parts(model, embedder, head)


def build_artist_basic(num_artists=10000, num_samples=65536, sample_rate=22050, n_mels=128,
                       filters=FILTERS, kernel_sizes=KERNEL_SIZES, pool_sizes=POOL_SIZES,
                       dropout=0.5, learning_rate=0.015, loss_reduction="sum_over_batch_size"):
    """Section 4.1 basic model: artist identification with a softmax."""
    loss = keras.losses.CategoricalCrossentropy(reduction=_check_reduction(loss_reduction))
    return _basic_tower_model(num_artists, "softmax", "artists", loss, num_samples, sample_rate, n_mels,
                              filters, kernel_sizes, pool_sizes, dropout, learning_rate, "artist_basic")


def build_tag_basic(num_tags=50, num_samples=65536, sample_rate=22050, n_mels=128, filters=FILTERS,
                    kernel_sizes=KERNEL_SIZES, pool_sizes=POOL_SIZES, dropout=0.5, learning_rate=0.015,
                    loss_reduction="sum_over_batch_size"):
    """Section 4.1.2 compared model (the "tag-label model" of Tables 4.1-4.3): the basic model
    trained on tag labels: sigmoid outputs and binary cross-entropy (multi-label, section 2.3.1)."""
    loss = keras.losses.BinaryCrossentropy(reduction=_check_reduction(loss_reduction))
    return _basic_tower_model(num_tags, "sigmoid", "tags", loss, num_samples, sample_rate, n_mels, filters,
                              kernel_sizes, pool_sizes, dropout, learning_rate, "tag_basic")


def build_artist_siamese(num_negatives=4, margin=0.4, num_samples=65536, sample_rate=22050,
                         n_mels=128, filters=FILTERS, kernel_sizes=KERNEL_SIZES,
                         pool_sizes=POOL_SIZES, dropout=0.5, learning_rate=0.1, loss_reduction="sum"):
    """Section 4.1 Siamese model: output (B, 1 + N) cosines, column 0 the positive."""
    _check_reduction(loss_reduction)
    embedder = artist_embedder(num_samples, sample_rate, n_mels, filters, kernel_sizes, pool_sizes, dropout)
    anchor = keras.Input((num_samples,), name="anchor")
    others, candidates = _siamese_scores(embedder, num_samples, num_negatives)
    scores = PairScores("cosine", name="relevance")(embedder(anchor), candidates)
    model = keras.Model([anchor, *others], scores, name="artist_siamese")
    model.compile(optimizer=thesis_sgd_with_decay(learning_rate), loss=MarginHingeLoss(margin, reduction=loss_reduction))
    return _with_tower_parts(model, embedder)


def build_artist_album_track(concepts=("artist", "album", "track"), margins=(0.4, 0.25, 0.1),
                             num_negatives=4, num_samples=65536, sample_rate=22050, n_mels=128,
                             filters=tuple(2 * f for f in FILTERS), kernel_sizes=KERNEL_SIZES,
                             pool_sizes=POOL_SIZES, dropout=0.5, learning_rate=0.1, loss_reduction="sum"):
    """Section 4.2 joint model: one anchor, a positive and N negatives per concept,
    one hinge loss per concept (its own margin), summed by Keras."""
    _check_reduction(loss_reduction)
    if len(concepts) != len(margins):
        raise ValueError(f"{len(concepts)} concepts but {len(margins)} margins")
    embedder = artist_embedder(num_samples, sample_rate, n_mels, filters, kernel_sizes, pool_sizes, dropout)
    anchor = keras.Input((num_samples,), name="anchor")
    anchor_embedding = embedder(anchor)
    inputs, outputs = [anchor], {}
    for concept in concepts:
        others, candidates = _siamese_scores(embedder, num_samples, num_negatives, prefix=f"{concept}_")
        inputs += others
        outputs[concept] = PairScores("cosine", name=concept)(anchor_embedding, candidates)
    model = keras.Model(inputs, outputs, name="artist_album_track")
    model.compile(
        optimizer=thesis_sgd_with_decay(learning_rate),
        loss={c: MarginHingeLoss(m, name=f"{c}_hinge", reduction=loss_reduction) for c, m in zip(concepts, margins)},
    )
    return _with_tower_parts(model, embedder)


_TINY_TOWER = dict(num_samples=8192, n_mels=32, filters=(8, 8, 8, 8, 16), pool_sizes=(2, 2, 2, 2), dropout=0.0)

register_model(
    "artist-basic",
    reference="Section 4.1, Fig. 4.1(a) (basic model, softmax over artists)",
    description="Mel 1-D CNN trained to identify the artist; its 256-d layer is the feature.",
    tiny=dict(_TINY_TOWER, num_artists=7),
    num_artists=10000, num_samples=65536, sample_rate=22050, n_mels=128, filters=FILTERS,
    kernel_sizes=KERNEL_SIZES, pool_sizes=POOL_SIZES, dropout=0.5, learning_rate=0.015,
    loss_reduction="sum_over_batch_size",
)(build_artist_basic)

register_model(
    "tag-basic",
    reference="Section 4.1.2 (compared model) and 4.1.3 (tag-label model); Tables 4.1-4.3, tag-label column",
    description="The artist-basic tower trained on the top-50 Last.fm tags: sigmoid outputs, BCE.",
    tiny=dict(_TINY_TOWER, num_tags=5),
    num_tags=50, num_samples=65536, sample_rate=22050, n_mels=128, filters=FILTERS,
    kernel_sizes=KERNEL_SIZES, pool_sizes=POOL_SIZES, dropout=0.5, learning_rate=0.015,
    loss_reduction="sum_over_batch_size",
)(build_tag_basic)

# The hinge is summed over the batch (loss_reduction="sum"): a tiny batch of 4 takes the step a
# mean would take at 4x the rate, so its rate is a quarter of the averaged models' 0.001.
_TINY_HINGE = dict(_TINY_TOWER, num_negatives=2, learning_rate=0.00025)

register_model(
    "artist-siamese",
    reference="Section 4.1, Fig. 4.1(b), Eq. 4.1-4.2 (Siamese, negative sampling)",
    description="Shared mel tower; cosine relevance; hinge over 1 positive and N negatives.",
    tiny=_TINY_HINGE,
    num_negatives=4, margin=0.4, num_samples=65536, sample_rate=22050, n_mels=128, filters=FILTERS,
    kernel_sizes=KERNEL_SIZES, pool_sizes=POOL_SIZES, dropout=0.5, learning_rate=0.1,
    loss_reduction="sum",
)(build_artist_siamese)

register_model(
    "artist-album-track",
    reference="Section 4.2, Fig. 4.8 (joint artist, album and track concepts)",
    description="Siamese tower with three hinge losses (margins 0.4/0.25/0.1), twice the filters.",
    tiny=_TINY_HINGE,
    concepts=("artist", "album", "track"), margins=(0.4, 0.25, 0.1), num_negatives=4,
    num_samples=65536, sample_rate=22050, n_mels=128, filters=tuple(2 * f for f in FILTERS),
    kernel_sizes=KERNEL_SIZES, pool_sizes=POOL_SIZES, dropout=0.5, learning_rate=0.1,
    loss_reduction="sum",
)(build_artist_album_track)
