"""SampleCNN: sample-level CNN on raw waveforms (thesis section 3.1, Tables 3.1 and 3.3).

m^n-SampleCNN: a strided first convolution (stride = filter size) followed by n
modules of [conv m -> BN -> ReLU -> max-pool m], a 1-wide 512-filter convolution,
dropout 0.5 and a sigmoid tag layer. The input length is the product of the
module sizes, e.g. 3 * 3^9 = 59,049 samples (2.68 s at 22,050 Hz).
"""

import math

import keras
from keras import layers

from zoo.frontends import build_frontend
from zoo.heads import apply_layers, classifier_layers
from zoo.layers import conv_bn_relu
from zoo.parts import declare_parts
from zoo.registry import register_model

# Filters of the first conv and the nine modules of Table 3.1, bottom to top.
TABLE_3_1_FILTERS = (128, 128, 128, 256, 256, 256, 256, 256, 512, 512)

# Table 3.3: sample rate -> (module string as printed, input samples), bottom to top.
TABLE_3_3 = {
    2000: ("3-3-3-3-2-2-2-2-2-2", 5184),
    4000: ("3-3-3-3-2-2-2-4-2-2", 10368),
    8000: ("3-3-3-3-2-2-4-4-2-2", 20736),
    12000: ("3-3-3-3-3-2-4-4-2-2", 31104),
    16000: ("3-3-3-3-3-3-5-2-2", 43740),
    20000: ("3-3-3-3-3-3-3-4-2", 52488),
    22050: ("3-3-3-3-3-3-3-3-3-3", 59049),
}


def table_3_3_layout(sample_rate):
    """The full layer layout of a Table 3.3 row. The 16 and 20 kHz rows print only
    their nine modules: their input sizes are 3x the product, so the stride-3
    first convolution every other row starts with is implied."""
    printed, num_samples = TABLE_3_3[sample_rate]
    sizes = parse_module_sizes(printed)
    if math.prod(sizes) != num_samples:
        sizes = [3] + sizes
    assert math.prod(sizes) == num_samples, (sample_rate, sizes)
    return "-".join(map(str, sizes))


def parse_module_sizes(module_sizes=None, m=3, n=9):
    """"3-3-2" -> [3, 3, 2]; without a string, the m^n layout [m] * (n + 1)."""
    if module_sizes is None:
        return [m] * (n + 1)
    sizes = [int(s) for s in str(module_sizes).split("-")]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"module_sizes needs at least two positive sizes, got {module_sizes!r}")
    return sizes


def default_filters(num_layers):
    """Table 3.1 widths kept for the top layers; shorter stacks drop from the bottom,
    longer ones (e.g. 2^13) repeat 128 at the bottom."""
    if num_layers <= len(TABLE_3_1_FILTERS):
        return list(TABLE_3_1_FILTERS[-num_layers:])
    return [128] * (num_layers - len(TABLE_3_1_FILTERS)) + list(TABLE_3_1_FILTERS)


def sample_level_modules(x, sizes, filters, prefix="block"):
    """Stack of [conv k -> BN -> ReLU -> max-pool k] modules; returns every module output."""
    outputs = []
    for i, (size, width) in enumerate(zip(sizes, filters), start=1):
        x = conv_bn_relu(x, width, size, name=f"{prefix}{i}")
        x = layers.MaxPooling1D(size, name=f"{prefix}{i}_pool")(x)
        outputs.append(x)
    return outputs


def top_features(x, top_filters=512):
    """The 1-wide conv of Table 3.1 and a global max over whatever time remains."""
    x = conv_bn_relu(x, top_filters, 1, name="top")
    return layers.GlobalMaxPooling1D(name="features")(x)


def samplecnn_backbone(num_samples, sizes, filters, top_filters=512, embedding_size=None,
                       name="backbone"):
    """Raw waveform (num_samples, 1) -> 512-d features, or with `embedding_size` a linear
    projection of them: the retrieval embedding the tag head then reads (a bottleneck
    shared by tags and similarity, as the distilled samplecnn-msd preset uses)."""
    inputs = keras.Input((num_samples, 1), name="samples")
    x = conv_bn_relu(inputs, filters[0], sizes[0], strides=sizes[0], padding="valid", name="conv0")
    x = sample_level_modules(x, sizes[1:], filters[1:])[-1]
    x = top_features(x, top_filters)
    if embedding_size:
        x = layers.Dense(embedding_size, name="embedding")(x)
    return keras.Model(inputs, x, name=name)


def thesis_sgd(learning_rate=0.01):
    """SGD with 0.9 Nesterov momentum, the chapter 3 and 4 optimiser."""
    return keras.optimizers.SGD(learning_rate=learning_rate, momentum=0.9, nesterov=True)


def build_samplecnn(m=3, n=9, module_sizes=None, filters=None, top_filters=512, num_tags=50,
                    dropout=0.5, sample_rate=22050, learning_rate=0.01, embedding_size=None):
    """m^n-SampleCNN tagger: waveform (num_samples,) -> num_tags sigmoid scores.

    `embedding_size=None` is Table 3.1 exactly; a size adds a linear embedding layer
    between the 512-d features and the tag head (see samplecnn_backbone)."""
    sizes = parse_module_sizes(module_sizes, m, n)
    filters = list(filters) if filters is not None else default_filters(len(sizes))
    if len(filters) != len(sizes):
        raise ValueError(f"{len(filters)} filter widths for {len(sizes)} layers")
    num_samples = math.prod(sizes)
    waveform = keras.Input((num_samples,), name="waveform")
    frontend = build_frontend("raw")
    backbone = samplecnn_backbone(num_samples, sizes, filters, top_filters, embedding_size)
    head = classifier_layers(num_tags, dropout)
    model = keras.Model(waveform, apply_layers(head, backbone(frontend(waveform))), name="samplecnn")
    model.compile(optimizer=thesis_sgd(learning_rate), loss="binary_crossentropy")
    return declare_parts(model, frontend=frontend, backbone=backbone, stages=samplecnn_stages(len(sizes) - 1),
                         tag_head=head)


def samplecnn_stages(num_modules, prefix="block"):
    """The stage outputs of a SampleCNN backbone, bottom to top: the strided first conv, each
    module's pool, the 1-wide top conv (the "-n layer" features of Table 3.6)."""
    return ["conv0_relu", *(f"{prefix}{i}_pool" for i in range(1, num_modules + 1)), "top_relu"]


_DEFAULTS = dict(m=3, n=9, module_sizes=None, filters=None, top_filters=512, num_tags=50,
                 dropout=0.5, sample_rate=22050, learning_rate=0.01, embedding_size=None)
_TINY = dict(module_sizes="3-3-3-3", filters=[8, 8, 8, 16], top_filters=16, num_tags=5, dropout=0.0)

register_model(
    "samplecnn",
    reference="Table 3.1 (3^9-SampleCNN, 59,049 samples at 22,050 Hz)",
    description="Sample-level CNN on raw waveforms; any m^n or module string by argument.",
    tiny=_TINY,
    **_DEFAULTS,
)(build_samplecnn)

for _rate, (_printed, _num_samples) in TABLE_3_3.items():
    if _rate == 22050:
        continue
    register_model(
        f"samplecnn-{_rate // 1000}k",
        reference=f"Table 3.3 ({_rate:,} Hz, {_printed}, {_num_samples:,} samples)",
        description=f"SampleCNN for audio resampled to {_rate:,} Hz.",
        tiny=_TINY,
        **{**_DEFAULTS, "module_sizes": table_3_3_layout(_rate), "sample_rate": _rate},
    )(build_samplecnn)
