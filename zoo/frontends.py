"""Audio front ends: waveform in, model input out, built on `keras.ops` only.

`LogMelSpectrogram` reproduces librosa's default mel spectrogram (Slaney mel
scale and area normalisation, zero-padded centred frames, periodic Hann window)
so weights trained on librosa features, such as the thesis's chapter 4 and 5
models, see the numbers they were trained on. `keras.layers.MelSpectrogram`
uses the HTK scale and batch-dependent dB clipping, so it cannot stand in.
"""

import math

import keras
import numpy as np
from keras import ops

PACKAGE = "zoo"


def hz_to_mel(frequencies, htk=False):
    """Hz -> mel; Slaney's scale (linear below 1 kHz, log above) unless `htk`."""
    f = np.asanyarray(frequencies, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    return np.where(
        f >= min_log_hz,
        min_log_mel + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep,
        mels,
    )


def mel_to_hz(mels, htk=False):
    """Inverse of `hz_to_mel`."""
    m = np.asanyarray(mels, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    return np.where(
        m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m
    )


def mel_filterbank(sample_rate, n_fft, n_mels=128, fmin=0.0, fmax=None, htk=False, norm="slaney"):
    """Triangular mel filters, shape (n_mels, 1 + n_fft // 2), as librosa builds them."""
    fmax = sample_rate / 2.0 if fmax is None else fmax
    fft_freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)  # odd n_fft stops short of Nyquist
    mel_points = mel_to_hz(
        np.linspace(hz_to_mel(fmin, htk), hz_to_mel(fmax, htk), n_mels + 2), htk
    )
    widths = np.diff(mel_points)
    ramps = mel_points[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    if norm == "slaney":
        weights *= (2.0 / (mel_points[2:] - mel_points[:-2]))[:, None]
    elif norm is not None:
        raise ValueError(f"norm must be 'slaney' or None, got {norm!r}")
    return weights.astype(np.float32)


def periodic_hann(win_length, n_fft):
    """Periodic Hann window of `win_length`, zero-padded to `n_fft`, centred (librosa)."""
    n = np.arange(win_length)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / win_length)
    left = (n_fft - win_length) // 2
    return np.pad(window, (left, n_fft - win_length - left)).astype(np.float32)


@keras.saving.register_keras_serializable(package=PACKAGE)
class RawWaveform(keras.layers.Layer):
    """(batch, samples) -> (batch, samples, 1), unnormalised (the thesis found that best)."""

    def call(self, waveform):
        return ops.expand_dims(waveform, -1)

    def compute_output_shape(self, input_shape):
        return (*input_shape, 1)


@keras.saving.register_keras_serializable(package=PACKAGE)
class LogMelSpectrogram(keras.layers.Layer):
    """(batch, samples) -> (batch, frames, n_mels): mel magnitude, log10(1 + C*S), z-score.

    Args:
        sample_rate, n_fft, hop_length, win_length, n_mels, fmin, fmax, htk, norm:
            as in librosa (defaults: the thesis's 22,050 Hz / 1024 / 512 / 128 bands).
        power: 1.0 for magnitude (thesis), 2.0 for power.
        padding: "center" (librosa: n_fft // 2 zeros each side, 1 + T // hop frames),
            "same" (ceil(T / hop) frames; the Table 3.2 frame grid) or "valid".
        compression_scale: C in log10(1 + C*S); None keeps linear magnitudes.
        mean, std: fixed standardisation applied last.
    """

    def __init__(
        self,
        sample_rate=22050,
        n_fft=1024,
        hop_length=512,
        win_length=None,
        n_mels=128,
        fmin=0.0,
        fmax=None,
        htk=False,
        norm="slaney",
        power=1.0,
        padding="center",
        compression_scale=10.0,
        mean=0.0,
        std=1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if padding not in ("center", "same", "valid"):
            raise ValueError(f"padding must be center, same or valid, got {padding!r}")
        win_length = n_fft if win_length is None else win_length
        if win_length > n_fft:
            raise ValueError(f"win_length {win_length} exceeds n_fft {n_fft}")
        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.win_length = win_length
        self.n_mels = n_mels
        self.fmin = fmin
        self.fmax = fmax
        self.htk = htk
        self.norm = norm
        self.power = power
        self.padding = padding
        self.compression_scale = compression_scale
        self.mean = mean
        self.std = std
        # Constants are recomputed from the config, so they never enter the weight file.
        self._window = periodic_hann(win_length, n_fft)
        self._filters = mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax, htk, norm).T

    def num_frames(self, num_samples):
        if num_samples is None:
            return None
        if self.padding == "center":
            return 1 + (num_samples + 2 * (self.n_fft // 2) - self.n_fft) // self.hop_length
        if self.padding == "same":
            return -(-num_samples // self.hop_length)
        return 1 + (num_samples - self.n_fft) // self.hop_length

    def _pad(self, waveform):
        if self.padding == "center":
            half = self.n_fft // 2
            return ops.pad(waveform, [[0, 0], [half, half]])
        if self.padding == "same":
            num_samples = ops.shape(waveform)[1]
            frames = -(-num_samples // self.hop_length)
            total = (frames - 1) * self.hop_length + self.n_fft - num_samples
            total = max(total, 0) if isinstance(total, int) else ops.maximum(total, 0)
            return ops.pad(waveform, [[0, 0], [total // 2, total - total // 2]])
        return waveform

    def call(self, waveform):
        waveform = ops.cast(waveform, "float32")
        real, imag = ops.stft(
            self._pad(waveform),
            sequence_length=self.n_fft,
            sequence_stride=self.hop_length,
            fft_length=self.n_fft,
            window=ops.convert_to_tensor(self._window),
            center=False,
        )
        spectrum = real * real + imag * imag
        if self.power != 2.0:
            # The epsilon keeps the gradient of sqrt finite on silent frames.
            spectrum = ops.power(spectrum + 1e-12, self.power / 2.0)
        mel = ops.matmul(spectrum, ops.convert_to_tensor(self._filters))
        if self.compression_scale is not None:
            mel = ops.log10(1.0 + self.compression_scale * mel)
        return (mel - self.mean) / self.std

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_frames(input_shape[1]), self.n_mels)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                k: getattr(self, k)
                for k in (
                    "sample_rate", "n_fft", "hop_length", "win_length", "n_mels", "fmin",
                    "fmax", "htk", "norm", "power", "padding", "compression_scale", "mean", "std",
                )
            }
        )
        return config


def build_frontend(kind, **mel_arguments):
    """The front-end layer a model config names: "raw" or "logmel"."""
    if kind == "raw":
        return RawWaveform(name="frontend")
    if kind == "logmel":
        return LogMelSpectrogram(name="frontend", **mel_arguments)
    raise ValueError(f"Unknown front end {kind!r}; use 'raw' or 'logmel'.")
