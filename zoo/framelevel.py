"""Frame-level baselines of Table 3.2 (thesis section 3.1.3, Fig. 3.1a-b).

Both turn the waveform into a frame grid first (window = filter size, hop =
stride) and then run n [conv 3 -> BN -> ReLU -> max-pool 3] modules, the 1-wide
512 conv and the sigmoid tag layer of SampleCNN, with n chosen so that
hop * 3^n = input samples (59,049):
- framelevel-mel: 128-band mel magnitudes (FFT 729, shorter windows zero-padded),
  log(1 + 10|A|), standardised with the training set's mean and std;
- framelevel-raw: a strided conv with 128 filters of the window size learns
  the filter bank instead.
"""

import math

import keras

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


def _frame_level_tagger(frontend, frame_features, num_samples, hop, module_filters, top_filters,
                        num_tags, dropout, learning_rate, name):
    n = num_modules(num_samples, hop)
    filters = list(module_filters) if module_filters is not None else default_filters(n + 1)[1:]
    if len(filters) != n:
        raise ValueError(f"{len(filters)} module widths for {n} modules")
    waveform = keras.Input((num_samples,), name="waveform")
    frames = frontend(waveform)
    features_in = keras.Input(frames.shape[1:], name="frames")
    x = frame_features(features_in) if frame_features else features_in
    x = sample_level_modules(x, [3] * n, filters)[-1]
    backbone = keras.Model(features_in, top_features(x, top_filters), name="backbone")
    head = classifier_layers(num_tags, dropout)
    model = keras.Model(waveform, apply_layers(head, backbone(frames)), name=name)
    model.compile(optimizer=thesis_sgd(learning_rate), loss="binary_crossentropy")
    stages = (["filterbank_relu"] if frame_features else []) + samplecnn_stages(n)[1:]
    return declare_parts(model, frontend=frontend, backbone=backbone, stages=stages, tag_head=head)


def build_framelevel_mel(window=243, hop=81, num_samples=59049, fft_length=729, n_mels=128,
                         sample_rate=22050, mel_mean=0.0, mel_std=1.0, module_filters=None,
                         top_filters=512, num_tags=50, dropout=0.5, learning_rate=0.01):
    """Table 3.2 frame-level mel-spectrogram model (best row: window 243, hop 81, n = 6)."""
    frontend = build_frontend(
        "logmel", sample_rate=sample_rate, n_fft=fft_length, win_length=window, hop_length=hop,
        n_mels=n_mels, power=1.0, padding="same", compression_scale=10.0, mean=mel_mean, std=mel_std,
    )
    return _frame_level_tagger(frontend, None, num_samples, hop, module_filters, top_filters,
                               num_tags, dropout, learning_rate, "framelevel_mel")


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
    reference="Table 3.2 (frame-level mel-spectrogram model)",
    description="1-D CNN over log mel frames; window/hop grid as arguments.",
    tiny=dict(_TINY_MODULES, window=81, fft_length=128, n_mels=16),
    window=243, hop=81, num_samples=59049, fft_length=729, n_mels=128, sample_rate=22050,
    mel_mean=0.0, mel_std=1.0, module_filters=None, top_filters=512, num_tags=50, dropout=0.5,
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
