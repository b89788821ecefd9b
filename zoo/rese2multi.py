"""ReSE-2-Multi: sample-level CNN with residual + squeeze-excitation blocks (thesis section 3.2,
Table 3.7, Fig. 3.6b).

Each ReSE-2 block is conv 3 -> BN -> ReLU -> dropout -> conv 3 -> BN, an SE gate
(amplifying ratio 16, as in the ReSE papers), a residual add with the block input
(1x1 conv + BN projection when the widths differ), ReLU and max-pooling. A strided
conv 3 (stride 3) comes first. "Multi": the last three blocks are globally
max-pooled and concatenated, then Dense 512 -> BN -> ReLU -> dropout 0.5 and the
output layer.

Table 3.7 (all audio resampled to 16 kHz) gives only input sizes and block counts:
music 39,366 samples / 9 blocks, speech 16,000 / 8, scene 19,683 / 8. The pool
sizes are our reading: after the stride-3 conv, pool by 3 while at least 3 steps
remain, then by 2 if 2 remain, so the time axis ends at length 1. That rule gives
exactly the printed block counts: music [3]*8 + [2], scene [3]*8, speech
[3]*7 + [2] (Keras pools floor: 5333 -> 1777 -> ... -> 7 -> 2 -> 1).

Classes (Table 3.7): music 50 tags and scene 17 sound events (multi-label, sigmoid + BCE);
speech trains a softmax over 31 classes, the 30 words of the Speech Commands data set plus
"silence", and is scored on 12 (the 10 commands, "silence" and "unknown" for the 20 other
words): `speech_test_scores` folds the 31 outputs into those 12.
"""

import keras
import numpy as np
from keras import layers

from zoo.frontends import build_frontend
from zoo.heads import classifier_layers
from zoo.parts import declare_parts
from zoo.layers import SqueezeExcitation1D, conv_bn_relu
from zoo.registry import register_model
from zoo.samplecnn import default_filters, thesis_sgd

# Table 3.7: input samples at 16 kHz, building blocks, classes and label type.
TABLE_3_7 = {
    "music": dict(num_samples=39366, num_blocks=9, num_classes=50, multi_label=True),
    "speech": dict(num_samples=16000, num_blocks=8, num_classes=31, multi_label=False),
    "scene": dict(num_samples=19683, num_blocks=8, num_classes=17, multi_label=True),
}

# Table 3.7, speech: the 10 commands scored at test time; every other word counts as "unknown".
SPEECH_COMMANDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SPEECH_TEST_CLASSES = (*SPEECH_COMMANDS, "silence", "unknown")


def speech_test_scores(scores, class_names, silence="silence"):
    """(B, 31) training-class probabilities -> (B, 12) in `SPEECH_TEST_CLASSES` order (Table 3.7:
    31 classes in training, 12 in testing): commands and `silence` kept, the rest summed as unknown."""
    scores, names = np.asarray(scores), list(class_names)
    if scores.shape[-1] != len(names):
        raise ValueError(f"{scores.shape[-1]} scores for {len(names)} class names")
    kept = [*SPEECH_COMMANDS, silence]
    missing = [name for name in kept if name not in names]
    if missing:
        raise ValueError(f"class_names lack {missing}")
    columns = [names.index(name) for name in kept]
    unknown = np.delete(scores, columns, axis=-1).sum(axis=-1, keepdims=True)
    return np.concatenate([scores[..., columns], unknown], axis=-1)


def derive_pool_sizes(num_samples, first_stride=3):
    """Pools that bring the time axis to 1: 3 while >= 3 steps remain, then 2 if 2 remain."""
    length = num_samples // first_stride
    if length < 1:
        raise ValueError(f"num_samples {num_samples} is shorter than the first stride {first_stride}")
    sizes = []
    while length > 1:
        size = 3 if length >= 3 else 2
        sizes.append(size)
        length //= size
    return sizes


def block_lengths(num_samples, pool_sizes, first_stride=3):
    """Time length after the first conv and after each block's pool (floor pooling)."""
    lengths = [num_samples // first_stride]
    for size in pool_sizes:
        lengths.append(lengths[-1] // size)
    return lengths


def rese2_block(x, filters, pool_size, name, dropout=0.2, se_ratio=16.0, use_se=True,
                use_residual=True):
    """One ReSE-2 block of Fig. 3.6b; `use_se` / `use_residual` switch its two additions off."""
    shortcut = x
    y = conv_bn_relu(x, filters, 3, name=f"{name}_1")
    if dropout:
        y = layers.Dropout(dropout, name=f"{name}_dropout")(y)
    y = layers.Conv1D(filters, 3, padding="same", name=f"{name}_2_conv")(y)
    y = layers.BatchNormalization(name=f"{name}_2_bn")(y)
    if use_se:
        y = SqueezeExcitation1D(se_ratio, name=f"{name}_se")(y)
    if use_residual:
        if shortcut.shape[-1] != filters:
            # The add needs matching widths; a learned 1x1 projection is the usual ResNet fix.
            shortcut = layers.Conv1D(filters, 1, name=f"{name}_proj_conv")(shortcut)
            shortcut = layers.BatchNormalization(name=f"{name}_proj_bn")(shortcut)
        y = layers.Add(name=f"{name}_add")([y, shortcut])
    y = layers.ReLU(name=f"{name}_relu")(y)
    return layers.MaxPooling1D(pool_size, name=f"{name}_pool")(y)


def rese2_backbone(num_samples, pool_sizes, filters, block_dropout=0.2, se_ratio=16.0,
                   use_se=True, use_residual=True, multi_level=True, name="backbone"):
    """Raw waveform (num_samples, 1) -> concatenated global max of the last three blocks."""
    inputs = keras.Input((num_samples, 1), name="samples")
    x = conv_bn_relu(inputs, filters[0], 3, strides=3, padding="valid", name="conv0")
    outputs = []
    for i, (size, width) in enumerate(zip(pool_sizes, filters[1:]), start=1):
        x = rese2_block(x, width, size, f"block{i}", block_dropout, se_ratio, use_se, use_residual)
        outputs.append((f"block{i}", x))
    # Multi-level: tags differ in the abstraction level they live at (section 3.1.4).
    levels = outputs[-3:] if multi_level else outputs[-1:]
    pooled = [layers.GlobalMaxPooling1D(name=f"{block}_gmp")(out) for block, out in levels]
    features = (layers.Concatenate(name="multi_level")(pooled) if len(pooled) > 1
                else pooled[0])
    return keras.Model(inputs, features, name=name)


def build_rese2_multi(config="music", num_samples=None, pool_sizes=None, filters=None,
                      num_classes=None, sample_rate=16000, block_dropout=0.2, se_ratio=16.0,
                      use_se=True, use_residual=True, multi_level=True, fc_units=512,
                      dropout=0.5, learning_rate=0.01):
    """ReSE-2-Multi for one Table 3.7 task: waveform (num_samples,) -> class scores.

    `config` picks the input size, block count, number of classes and the output
    (sigmoid + BCE for music / scene tags, softmax + cross-entropy for speech);
    `num_samples`, `pool_sizes`, `filters`, `num_classes` override it.
    """
    if config not in TABLE_3_7:
        raise ValueError(f"config must be one of {sorted(TABLE_3_7)}, got {config!r}")
    spec = TABLE_3_7[config]
    num_samples = spec["num_samples"] if num_samples is None else int(num_samples)
    sizes = derive_pool_sizes(num_samples) if pool_sizes is None else [int(s) for s in pool_sizes]
    if min(block_lengths(num_samples, sizes)) < 1:
        raise ValueError(f"pool_sizes {sizes} shrink {num_samples} samples below length 1")
    if multi_level and len(sizes) < 3:
        raise ValueError(f"multi_level needs at least 3 blocks, got {len(sizes)}")
    filters = list(filters) if filters is not None else default_filters(len(sizes) + 1)
    if len(filters) != len(sizes) + 1:
        raise ValueError(f"{len(filters)} filter widths for 1 + {len(sizes)} layers")
    num_classes = spec["num_classes"] if num_classes is None else num_classes

    waveform = keras.Input((num_samples,), name="waveform")
    frontend = build_frontend("raw")
    backbone = rese2_backbone(num_samples, sizes, filters, block_dropout, se_ratio, use_se,
                              use_residual, multi_level)
    activation, loss = (("sigmoid", "binary_crossentropy") if spec["multi_label"]
                        else ("softmax", "categorical_crossentropy"))
    head = [layers.Dense(fc_units, name="fc"), layers.BatchNormalization(name="fc_bn"), layers.ReLU(name="fc_relu"),
            *classifier_layers(num_classes, dropout, activation, "tags" if spec["multi_label"] else "classes")]
    x = backbone(frontend(waveform))
    for layer in head:
        x = layer(x)
    model = keras.Model(waveform, x, name=f"rese2_multi_{config}")
    stages = ["conv0_relu", *(f"block{i}_pool" for i in range(1, len(sizes) + 1))]
    declare_parts(model, frontend=frontend, backbone=backbone, stages=stages, tag_head=head)
    model.compile(optimizer=thesis_sgd(learning_rate), loss=loss)
    return model


_DEFAULTS = dict(config="music", num_samples=None, pool_sizes=None, filters=None,
                 num_classes=None, sample_rate=16000, block_dropout=0.2, se_ratio=16.0,
                 use_se=True, use_residual=True, multi_level=True, fc_units=512, dropout=0.5,
                 learning_rate=0.01)
# 81 samples -> 27 after the first conv -> pools 3, 3, 3 -> 1: the fewest blocks multi-level
# allows, one of them with a projection shortcut.
_TINY = dict(num_samples=81, filters=[8, 8, 16, 16], num_classes=5, se_ratio=2.0,
             fc_units=16, block_dropout=0.0, dropout=0.0)

register_model(
    "rese2-multi",
    reference="Section 3.2, Table 3.7, Fig. 3.6b (ReSE-2-Multi; music 39,366 samples at 16 kHz)",
    description="Sample-level CNN with residual + SE blocks and multi-level concatenation; "
                "config picks music / speech / scene, ablations by argument.",
    tiny=_TINY,
    **_DEFAULTS,
)(build_rese2_multi)
