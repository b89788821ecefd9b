"""The log-mel front end against librosa, the reference every thesis model was trained on."""

import json

import keras
import librosa
import numpy as np
import pytest

from zoo.frontends import LogMelSpectrogram, RawWaveform, hz_to_mel, mel_filterbank, mel_to_hz


def music_like(seconds=3.0, sr=22050, seed=0):
    """Notes with harmonics and decaying envelopes, a glide, clicks and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = np.zeros_like(t)
    for start, f0 in zip(np.arange(0, seconds, 0.25), rng.choice([110, 165, 220, 330, 440, 660], 12)):
        env = np.where(t >= start, np.exp(-(t - start) * 4.0), 0.0)
        x += sum(env * np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
    x += 0.3 * np.sin(2 * np.pi * (200 + 800 * t) * t)
    x[:: sr // 4] += 2.0
    x += 0.05 * rng.standard_normal(t.size)
    return (0.2 * x / np.abs(x).max()).astype(np.float32)


def relative_error(ours, reference):
    floor = 1e-4 * np.abs(reference).max()
    return float(np.max(np.abs(ours - reference) / np.maximum(np.abs(reference), floor)))


@pytest.mark.parametrize("sr,n_fft,hop,n_mels,power", [(22050, 1024, 512, 128, 1.0), (22050, 1024, 512, 128, 2.0),
                                                        (16000, 512, 256, 96, 2.0)])
def test_mel_magnitudes_match_librosa(sr, n_fft, hop, n_mels, power):
    x = music_like(sr=sr)
    layer = LogMelSpectrogram(sample_rate=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels, power=power,
                              compression_scale=None)
    ours = keras.ops.convert_to_numpy(layer(x[None]))[0]
    reference = librosa.feature.melspectrogram(y=x, sr=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels,
                                               power=power).T
    assert ours.shape == reference.shape
    assert relative_error(ours, reference) <= 1e-4


def test_thesis_log_compression_and_standardisation():
    x = music_like(seed=1)
    layer = LogMelSpectrogram(mean=0.2262, std=0.2579)
    ours = keras.ops.convert_to_numpy(layer(np.stack([x, 0.5 * x])))
    mel = librosa.feature.melspectrogram(y=x, sr=22050, n_fft=1024, hop_length=512, n_mels=128, power=1.0).T
    expected = (np.log10(1 + 10 * mel) - 0.2262) / 0.2579
    np.testing.assert_allclose(ours[0], expected, atol=2e-4)
    assert ours.shape == (2, 1 + x.size // 512, 128)
    # Each example is processed on its own: no batch-dependent clipping.
    alone = keras.ops.convert_to_numpy(layer((0.5 * x)[None]))[0]
    np.testing.assert_allclose(ours[1], alone, atol=1e-5)


def test_short_window_is_zero_padded_like_librosa():
    x = music_like(seed=2)
    layer = LogMelSpectrogram(n_fft=729, win_length=243, hop_length=81, compression_scale=None)
    ours = keras.ops.convert_to_numpy(layer(x[None]))[0]
    reference = librosa.feature.melspectrogram(y=x, sr=22050, n_fft=729, win_length=243, hop_length=81,
                                               n_mels=128, power=1.0).T
    assert relative_error(ours, reference) <= 1e-4


def test_filterbank_and_scales_match_librosa():
    np.testing.assert_allclose(mel_filterbank(22050, 1024, 128), librosa.filters.mel(sr=22050, n_fft=1024, n_mels=128),
                               atol=1e-8)
    np.testing.assert_allclose(mel_filterbank(16000, 512, 40, fmin=50, fmax=7000, htk=True, norm=None),
                               librosa.filters.mel(sr=16000, n_fft=512, n_mels=40, fmin=50, fmax=7000, htk=True,
                                                   norm=None), atol=1e-8)
    freqs = np.array([0.0, 440.0, 1000.0, 5000.0])
    np.testing.assert_allclose(hz_to_mel(freqs), librosa.hz_to_mel(freqs), rtol=1e-10)
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(freqs)), freqs, atol=1e-6)


@pytest.mark.parametrize("padding,frames", [("center", 1 + (59049 - 1) // 243), ("same", 243), ("valid", 1 + (59049 - 729) // 243)])
def test_frame_counts(padding, frames):
    layer = LogMelSpectrogram(n_fft=729, hop_length=243, padding=padding)
    out = layer(np.zeros((1, 59049), "float32"))
    assert tuple(out.shape) == (1, frames, 128) == layer.compute_output_shape((1, 59049))


def test_config_round_trip_and_raw_front_end():
    layer = LogMelSpectrogram(sample_rate=16000, n_fft=512, hop_length=256, n_mels=96, mean=0.1, std=2.0)
    config = layer.get_config()
    again = LogMelSpectrogram.from_config(json.loads(json.dumps(config)))
    assert again.get_config() == config
    x = music_like(seconds=1.0, sr=16000)[None]
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), keras.ops.convert_to_numpy(again(x)))
    raw = keras.ops.convert_to_numpy(RawWaveform()(x))
    assert raw.shape == (1, x.shape[1], 1) and np.array_equal(raw[0, :, 0], x[0])


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="padding"):
        LogMelSpectrogram(padding="reflect")
    with pytest.raises(ValueError, match="win_length"):
        LogMelSpectrogram(n_fft=512, win_length=1024)
