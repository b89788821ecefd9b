"""Multi-level and multi-scale feature aggregation (thesis section 3.1.4, Table 3.4).

Several SampleCNNs with different input sizes (e.g. 2^13: 0.74 s ... 5^6: 3.5 s)
slide over a clip without overlap. From each window we take the last three
hidden layers (multi-level), max over the time left in each, and pool the
windows with max and mean; the per-scale vectors are concatenated and fed to
two 4,096-unit layers and the tag layer. The thesis trains the SampleCNNs first
and then only the classifier, so the extractors are frozen by default
(`train_backbones=False`); `copy_backbone_weights` fills one from a trained
`samplecnn` tagger.
"""

import math

import keras
from keras import layers

from zoo.aggregation import PoolSegments, SplitSegments
from zoo.frontends import build_frontend
from zoo.registry import register_model
from zoo.samplecnn import default_filters, parse_module_sizes, samplecnn_backbone, thesis_sgd

# The scale sets of Table 3.4, top to bottom (MTAT AUC 0.9046, 0.9061, 0.9061, 0.9064).
TABLE_3_4_ROWS = (
    ("3^9",),
    ("3^8", "3^9"),
    ("2^13", "2^14", "3^8", "3^9"),
    ("2^13", "2^14", "3^8", "3^9", "4^6", "4^7", "5^5", "5^6"),
)
CLIP_SAMPLES = 641655  # 29.1 s at 22,050 Hz, the thesis's trimmed clip length


def parse_scale(scale):
    """"3^9" -> (3, 9)."""
    try:
        m, n = (int(part) for part in str(scale).split("^"))
    except ValueError:
        raise ValueError(f"a scale is written m^n, e.g. '3^9'; got {scale!r}") from None
    return m, n


def scale_name(scale):
    m, n = parse_scale(scale)
    return f"samplecnn_{m}_{n}"


def multi_level_extractor(scale, width_multiplier=1.0, top_filters=512, levels=3):
    """An m^n SampleCNN returning the max-over-time of its last `levels` hidden layers."""
    m, n = parse_scale(scale)
    sizes = parse_module_sizes(None, m, n)
    filters = [max(4, int(w * width_multiplier)) for w in default_filters(len(sizes))]
    backbone = samplecnn_backbone(math.prod(sizes), sizes, filters,
                                  max(4, int(top_filters * width_multiplier)), name=scale_name(scale))
    hidden = [backbone.get_layer(f"block{len(sizes) - 1 - i}_pool").output for i in range(levels - 1)]
    hidden = [backbone.get_layer("top_relu").output, *hidden]
    pooled = [layers.GlobalMaxPooling1D(name=f"level{-i - 1}_max")(h) for i, h in enumerate(hidden)]
    features = layers.Concatenate(name="multi_level")(pooled) if len(pooled) > 1 else pooled[0]
    return keras.Model(backbone.input, features, name=scale_name(scale))


def build_multiscale_aggregator(scales=TABLE_3_4_ROWS[1], clip_samples=CLIP_SAMPLES, num_tags=50,
                                dense_units=4096, dropout=0.5, levels=3, width_multiplier=1.0,
                                top_filters=512, train_backbones=False, sample_rate=22050,
                                learning_rate=0.01):
    """Clip waveform (clip_samples,) -> num_tags sigmoid scores from multi-scale features."""
    waveform = keras.Input((clip_samples,), name="waveform")
    frontend = build_frontend("raw")
    per_scale = []
    for scale in scales:
        extractor = multi_level_extractor(scale, width_multiplier, top_filters, levels)
        extractor.trainable = train_backbones
        window = extractor.input.shape[1]
        if clip_samples < window:
            raise ValueError(f"clip of {clip_samples} samples is shorter than the {scale} window ({window})")
        tag = scale_name(scale)
        segments = SplitSegments(window, name=f"{tag}_windows")(waveform)
        features = extractor(frontend(segments))
        per_scale.append(PoolSegments(clip_samples // window, ("max", "mean"), name=f"{tag}_pool")(features))
    x = layers.Concatenate(name="multi_scale")(per_scale) if len(per_scale) > 1 else per_scale[0]
    for i in (1, 2):
        x = layers.Dense(dense_units, activation="relu", name=f"fc{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"fc{i}_dropout")(x)
    outputs = layers.Dense(num_tags, activation="sigmoid", name="tags")(x)
    model = keras.Model(waveform, outputs, name="multiscale_aggregator")
    model.compile(optimizer=thesis_sgd(learning_rate), loss="binary_crossentropy")
    return model


def copy_backbone_weights(tagger, aggregator, scale):
    """Copy a trained `samplecnn` tagger's backbone into the aggregator's `scale` extractor.

    Layers are matched by name; every extractor layer with weights must be found.
    """
    source = tagger.get_layer("backbone")
    target = aggregator.get_layer(scale_name(scale))
    copied = 0
    for layer in target.layers:
        if layer.weights:
            layer.set_weights(source.get_layer(layer.name).get_weights())
            copied += 1
    return copied


register_model(
    "multiscale-aggregator",
    reference="Section 3.1.4, Table 3.4 (multi-level, multi-scale SampleCNN features)",
    description="Frozen SampleCNNs of several input sizes slid over a clip; two 4,096-unit layers.",
    tiny=dict(scales=("2^4", "3^3"), clip_samples=324, num_tags=5, dense_units=16, dropout=0.0,
              width_multiplier=1 / 16, top_filters=128),
    scales=TABLE_3_4_ROWS[1], clip_samples=CLIP_SAMPLES, num_tags=50, dense_units=4096, dropout=0.5,
    levels=3, width_multiplier=1.0, top_filters=512, train_backbones=False, sample_rate=22050,
    learning_rate=0.01,
)(build_multiscale_aggregator)
