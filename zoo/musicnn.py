"""musicnn: musically motivated CNN tagger (Pons and Serra, 2019), MSD_musicnn layout.

Credit: the architecture, the 50 Million Song Dataset tag names and the
published weights are Jordi Pons's `musicnn` package (PyPI 0.1.0,
github.com/jordipons/musicnn, ISC licence). This module is our own Keras 3
code written from the facts of that release (layer shapes, front-end
settings, tag order); no code of the original is copied.

Pipeline, for a (batch, num_samples) waveform at 16 kHz:

  front end   librosa-style mel: n_fft 512, hop 256, 96 Slaney bands, power 2,
              log10(1 + 10000 S), centred frames. 47,616 samples -> 187 frames,
              the 3-second patch the MSD model was trained on.
  input BN    one-channel batch normalisation of the (frames, 96, 1) image.
  timbral     two vertical filters spanning 40% and 70% of the mel axis
              (7x38 and 7x67, 204 each, time-padded 3/3, valid in frequency),
              ReLU -> BN -> max over the remaining frequency axis.
  temporal    three horizontal filters (128x1, 64x1, 32x1, 51 each, TF "same"
              in time), ReLU -> BN -> max over all 96 bands.
  concat      204 + 204 + 51 + 51 + 51 = 561 features per frame.
  mid-end     three 7-tap convolutions across the frame (64 filters, ReLU -> BN),
              the 2nd and 3rd with residual connections; the front-end features
              and the three mid-end outputs are concatenated (561 + 3*64 = 753).
  back-end    max and mean over time (1506) -> BN -> dropout -> dense 200 ReLU
              -> BN: the 200-d "penultimate" features the backbone returns.
  head        dropout -> dense 50 sigmoid ("tags").

Every time-axis operation is length-preserving and pooling is global, so the
backbone works for any number of frames; `num_samples` only fixes the input.
BatchNormalization uses TF1 `tf.layers` defaults (epsilon 1e-3, momentum 0.99),
which the checkpoint's moving statistics were accumulated with.
"""

import keras
from keras import layers

from zoo.frontends import LogMelSpectrogram
from zoo.heads import apply_layers, classifier_layers
from zoo.parts import declare_parts
from zoo.registry import register_model

# The 50 tags of musicnn's MSD models, in output order (musicnn/configuration.py,
# MSD_LABELS; Jordi Pons, ISC licence). Spelling and case are the original's.
MSD_TAGS = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
    "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock",
    "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s", "chill", "instrumental",
    "punk", "oldies", "blues", "hard rock", "ambient", "acoustic", "experimental",
    "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country", "easy listening", "sexy",
    "catchy", "funk", "electro", "heavy metal", "Progressive rock", "60s", "rnb", "indie pop",
    "sad", "House", "happy",
)

# The 50 tags of musicnn's MagnaTagATune models, in output order (musicnn/configuration.py,
# MTT_LABELS; Jordi Pons, ISC licence). Spelling is the original's.
MTT_TAGS = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast",
    "piano", "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male",
    "singing", "vocals", "no vocals", "harpsichord", "loud", "quiet", "flute", "woman",
    "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man", "classic", "choir", "voice",
    "new age", "dance", "male voice", "female vocal", "beats", "harp", "cello", "no voice",
    "weird", "country", "metal", "female voice", "choral",
)

# tf.compat.v1.layers.batch_normalization defaults, used throughout the original.
BN_EPSILON = 1e-3
BN_MOMENTUM = 0.99


def _bn(name):
    return layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name)


def tf_same_padding(kernel_size):
    """(before, after) zeros TensorFlow's "same" adds for a stride-1 kernel (less before)."""
    total = kernel_size - 1
    return total // 2, total - total // 2


def frequency_max_branch(image, filters, height, width, name):
    """Conv (height x width) "same" in time (TF padding), valid in frequency; ReLU -> BN -> max over frequency."""
    before, after = tf_same_padding(height)
    x = layers.ZeroPadding2D(((before, after), (0, 0)), name=f"{name}_pad")(image)
    x = layers.Conv2D(filters, (height, width), activation="relu", name=f"{name}_conv")(x)
    x = _bn(f"{name}_bn")(x)
    x = layers.MaxPooling2D((1, x.shape[2]), name=f"{name}_pool")(x)
    return layers.Reshape((-1, filters), name=f"{name}_squeeze")(x)


def midend_conv(x, filters, kernel_size, name):
    """Conv across the whole feature vector of 7 neighbouring frames: ReLU -> BN."""
    before, after = tf_same_padding(kernel_size)
    x = layers.ZeroPadding1D((before, after), name=f"{name}_pad")(x)
    x = layers.Conv1D(filters, kernel_size, activation="relu", name=f"{name}_conv")(x)
    return _bn(f"{name}_bn")(x)


def musicnn_backbone(num_frames, n_mels=96, timbral_filters=204, timbral_fractions=(0.4, 0.7),
                     timbral_height=7, temporal_filters=51, temporal_lengths=(128, 64, 32),
                     midend_filters=64, midend_kernel=7, backend_units=200, dropout=0.5,
                     name="backbone"):
    """(frames, n_mels) log-mel patch -> backend_units penultimate features."""
    patch = keras.Input((num_frames, n_mels), name="logmel")
    image = layers.Reshape((-1, n_mels, 1), name="expand")(patch)
    image = _bn("input_bn")(image)

    branches = []
    for i, fraction in enumerate(timbral_fractions, start=1):
        width = int(fraction * n_mels)  # 38 and 67 for 96 bands, as the original truncates
        branches.append(frequency_max_branch(image, timbral_filters, timbral_height, width, f"timbral{i}"))
    for i, length in enumerate(temporal_lengths, start=1):
        branches.append(frequency_max_branch(image, temporal_filters, length, 1, f"temporal{i}"))
    frontend = (layers.Concatenate(name="frontend_features")(branches)
                if len(branches) > 1 else branches[0])

    cnn1 = midend_conv(frontend, midend_filters, midend_kernel, "midend1")
    cnn2 = layers.Add(name="midend2_res")([midend_conv(cnn1, midend_filters, midend_kernel, "midend2"), cnn1])
    cnn3 = layers.Add(name="midend3_res")([midend_conv(cnn2, midend_filters, midend_kernel, "midend3"), cnn2])
    dense = layers.Concatenate(name="midend_features")([frontend, cnn1, cnn2, cnn3])

    pooled = layers.Concatenate(name="pool")([
        layers.GlobalMaxPooling1D(name="max_pool")(dense),
        layers.GlobalAveragePooling1D(name="mean_pool")(dense),
    ])
    x = _bn("pool_bn")(pooled)
    if dropout:
        x = layers.Dropout(dropout, name="pool_dropout")(x)
    x = layers.Dense(backend_units, activation="relu", name="penultimate_dense")(x)
    x = _bn("penultimate_bn")(x)
    return keras.Model(patch, x, name=name)


def build_musicnn(num_samples=47616, sample_rate=16000, n_fft=512, hop_length=256, n_mels=96,
                  timbral_filters=204, timbral_fractions=(0.4, 0.7), timbral_height=7,
                  temporal_filters=51, temporal_lengths=(128, 64, 32), midend_filters=64,
                  midend_kernel=7, backend_units=200, num_tags=50, dropout=0.5,
                  learning_rate=0.001):
    """musicnn tagger: 16 kHz waveform (num_samples,) -> num_tags sigmoid scores."""
    waveform = keras.Input((num_samples,), name="waveform")
    frontend = LogMelSpectrogram(
        sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels,
        power=2.0, padding="center", compression_scale=10000.0, name="frontend",
    )
    num_frames = frontend.num_frames(num_samples)
    x = frontend(waveform)
    backbone = musicnn_backbone(
        num_frames, n_mels, timbral_filters, tuple(timbral_fractions), timbral_height,
        temporal_filters, tuple(temporal_lengths), midend_filters, midend_kernel,
        backend_units, dropout,
    )
    head = classifier_layers(num_tags, dropout)
    model = keras.Model(waveform, apply_layers(head, backbone(x)), name="musicnn")
    # config.json of MSD_musicnn: Adam, learning rate 0.001 (weight decay 1e-5 not reproduced).
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy")
    return declare_parts(model, frontend=frontend, backbone=backbone, stages=MUSICNN_STAGES, tag_head=head)


# Stage outputs, bottom to top: the front end's timbral + temporal features, the three
# mid-end layers (time series) and the penultimate dense layer (a vector).
MUSICNN_STAGES = ("frontend_features", "midend1_bn", "midend2_res", "midend3_res", "penultimate_bn")


_DEFAULTS = dict(num_samples=47616, sample_rate=16000, n_fft=512, hop_length=256, n_mels=96,
                 timbral_filters=204, timbral_fractions=[0.4, 0.7], timbral_height=7,
                 temporal_filters=51, temporal_lengths=[128, 64, 32], midend_filters=64,
                 midend_kernel=7, backend_units=200, num_tags=50, dropout=0.5,
                 learning_rate=0.001)
_TINY = dict(num_samples=4096, n_mels=32, timbral_filters=8, temporal_filters=4,
             temporal_lengths=[8, 4], midend_filters=8, backend_units=16, num_tags=5, dropout=0.0)

register_model(
    "musicnn",
    reference="Pons and Serra, musicnn (ISMIR 2019 LBD); MSD_musicnn of PyPI musicnn 0.1.0",
    description="Musically motivated CNN tagger (timbral + temporal filters, dense mid-end) "
                "on a 16 kHz log-mel; 50 MSD tags.",
    tiny=_TINY,
    **_DEFAULTS,
)(build_musicnn)
