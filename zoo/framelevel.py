"""Frame-level baselines of Table 3.2 (thesis section 3.1.3, Fig. 3.1a-b).

Both turn the waveform into a frame grid first (window = filter size, hop =
stride) and then run n [conv 3 -> BN -> ReLU -> max-pool 3] modules, the 1-wide
512 conv and the sigmoid tag layer of SampleCNN, with n chosen so that
hop * 3^n = input samples (59,049):
- framelevel-mel: 128-band mel magnitudes (FFT 729, shorter windows zero-padded),
  log(1 + 10|A|), standardised: "we conducted the input normalization simply by dividing
  the standard deviation after subtracting mean value of entire input data" (section 3.1.5,
  "Mel-Spectrogram and Raw Waveforms");
- framelevel-raw: a strided conv with 128 filters of the window size learns
  the filter bank instead (no input normalisation for raw waveforms, same paragraph).

Standardisation of the mel model: with `mel_mean` and `mel_std` given (numbers measured on a
training set) the front end subtracts and divides by them. Left as None (the default), the
backbone's first layer standardises: one mean and one variance over every frame and band, as
the thesis's, taken from each training batch and kept as moving averages of the training data
for inference (a BatchNormalization over all values, without scale or offset). Presets saved
before this default store mel_mean 0.0 and mel_std 1.0 and keep their graph.
"""

import math

import keras
from keras import layers

from zoo.frontends import build_frontend
from zoo.heads import apply_layers, classifier_layers
from zoo.layers import conv_bn_relu
from zoo.parts import declare_parts
from zoo.registry import register_model
from zoo.samplecnn import default_filters, sample_level_modules, samplecnn_stages, thesis_sgd, top_features


def num_modules(num_samples, hop):
    """n such that hop * 3^n = num_samples (the Table 3.2 grid)."""
    n = round(math.log(num_samples / hop, 3))
    if hop * 3**n != num_samples:
        raise ValueError(f"num_samples {num_samples} is not hop {hop} times a power of 3")
    return n


def standardize_frames(frames, name="input"):
    """(B, T, F) -> standardised by one mean and variance over all T x F values: a batch's in
    training, the moving averages of the training data in inference (section 3.1.5)."""
    bands = frames.shape[-1]
    x = layers.Reshape((-1, 1), name=f"{name}_flatten")(frames)
    x = layers.BatchNormalization(center=False, scale=False, epsilon=1e-5, name=f"{name}_standardization")(x)
    return layers.Reshape((-1, bands), name=f"{name}_unflatten")(x)


def _frame_level_tagger(frontend, frame_features, num_samples, hop, module_filters, top_filters,
                        num_tags, dropout, learning_rate, name, standardize=False):
    n = num_modules(num_samples, hop)
    filters = list(module_filters) if module_filters is not None else default_filters(n + 1)[1:]
    if len(filters) != n:
        raise ValueError(f"{len(filters)} module widths for {n} modules")
    waveform = keras.Input((num_samples,), name="waveform")
    frames = frontend(waveform)
    features_in = keras.Input(frames.shape[1:], name="frames")
    x = standardize_frames(features_in) if standardize else features_in
    x = frame_features(x) if frame_features else x
    x = sample_level_modules(x, [3] * n, filters)[-1]
    backbone = keras.Model(features_in, top_features(x, top_filters), name="backbone")
    head = classifier_layers(num_tags, dropout)
    model = keras.Model(waveform, apply_layers(head, backbone(frames)), name=name)
    model.compile(optimizer=thesis_sgd(learning_rate), loss="binary_crossentropy")
    stages = (["filterbank_relu"] if frame_features else []) + samplecnn_stages(n)[1:]
    return declare_parts(model, frontend=frontend, backbone=backbone, stages=stages, tag_head=head)


def build_framelevel_mel(window=243, hop=81, num_samples=59049, fft_length=729, n_mels=128,
                         sample_rate=22050, mel_mean=None, mel_std=None, module_filters=None,
                         top_filters=512, num_tags=50, dropout=0.5, learning_rate=0.01):
    """Table 3.2 frame-level mel-spectrogram model (best row: window 243, hop 81, n = 6).

    `mel_mean`, `mel_std`: fixed standardisation in the front end; both None (default): a
    standardisation layer learns them from the training data (see the module docstring)."""
    if (mel_mean is None) != (mel_std is None):
        raise ValueError(f"give both mel_mean and mel_std, or neither (got {mel_mean!r}, {mel_std!r})")
    learned = mel_mean is None
    frontend = build_frontend(
        "logmel", sample_rate=sample_rate, n_fft=fft_length, win_length=window, hop_length=hop,
        n_mels=n_mels, power=1.0, padding="same", compression_scale=10.0,
        mean=0.0 if learned else mel_mean, std=1.0 if learned else mel_std,
    )
    return _frame_level_tagger(frontend, None, num_samples, hop, module_filters, top_filters,
                               num_tags, dropout, learning_rate, "framelevel_mel", standardize=learned)


def build_framelevel_raw(window=81, hop=81, num_samples=59049, frontend_filters=128,
                         sample_rate=22050, module_filters=None, top_filters=512, num_tags=50,
                         dropout=0.5, learning_rate=0.01):
    """Table 3.2 frame-level raw-waveform model (best row: window 81, hop 81, n = 6)."""

    def strided_filterbank(x):
        # "same" padding gives ceil(T / hop) frames, the grid the mel model uses too.
        return conv_bn_relu(x, frontend_filters, window, strides=hop, name="filterbank")

    return _frame_level_tagger(build_frontend("raw"), strided_filterbank, num_samples, hop,
                               module_filters, top_filters, num_tags, dropout, learning_rate,
                               "framelevel_raw")


_TINY_MODULES = dict(num_samples=2187, hop=81, module_filters=[8, 8, 16], top_filters=16,
                     num_tags=5, dropout=0.0)

register_model(
    "framelevel-mel",
    reference="Table 3.2 (frame-level mel-spectrogram model); section 3.1.5 (input standardisation)",
    description="1-D CNN over log mel frames; window/hop grid as arguments.",
    tiny=dict(_TINY_MODULES, window=81, fft_length=128, n_mels=16),
    window=243, hop=81, num_samples=59049, fft_length=729, n_mels=128, sample_rate=22050,
    mel_mean=None, mel_std=None, module_filters=None, top_filters=512, num_tags=50, dropout=0.5,
    learning_rate=0.01,
)(build_framelevel_mel)

register_model(
    "framelevel-raw",
    reference="Table 3.2 (frame-level raw waveform model)",
    description="Strided-conv filter bank on raw waveforms, then the frame-level 1-D CNN.",
    tiny=dict(_TINY_MODULES, window=81, frontend_filters=8),
    window=81, hop=81, num_samples=59049, frontend_filters=128, sample_rate=22050,
    module_filters=None, top_filters=512, num_tags=50, dropout=0.5, learning_rate=0.01,
)(build_framelevel_raw)
