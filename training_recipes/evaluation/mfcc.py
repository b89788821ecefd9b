"""The MFCC baseline of the evaluation CLI: 20 MFCCs (DCT-II, ortho, of the librosa-style dB
log-mel: 22,050 Hz, n_fft 2048, hop 512, 128 Slaney bands), mean and std over frames (40-d)."""

import numpy as np
import scipy.fft

MFCC_SETTINGS = {"sample_rate": 22050, "n_mfcc": 20, "n_fft": 2048, "hop_length": 512, "n_mels": 128,
                 "top_db": 80.0, "pooling": "mean+std over frames"}


def mfcc_matrix(waveform, sample_rate=22050, n_mfcc=20, n_fft=2048, hop_length=512, n_mels=128,
                top_db=80.0, chunk=512):
    """(n_mfcc, frames) MFCCs equal to `zoo.mfcc_vq.mfcc`, computed a chunk of frames at a time
    so a long song never holds its whole STFT in memory (only the 128-band mel power)."""
    from zoo.frontends import mel_filterbank, periodic_hann
    from zoo.mfcc_vq import power_to_db

    y = np.pad(np.asarray(waveform, np.float64), n_fft // 2)
    frames = np.lib.stride_tricks.sliding_window_view(y, n_fft)[::hop_length]
    window = periodic_hann(n_fft, n_fft).astype(np.float64)
    filters = mel_filterbank(sample_rate, n_fft, n_mels).astype(np.float64)
    mel = np.empty((n_mels, len(frames)))
    for start in range(0, len(frames), chunk):
        spectrum = np.fft.rfft(frames[start:start + chunk] * window, axis=-1)
        mel[:, start:start + chunk] = filters @ (spectrum.real**2 + spectrum.imag**2).T
    return scipy.fft.dct(power_to_db(mel, top_db=top_db), type=2, norm="ortho", axis=0)[:n_mfcc]


def mfcc_song_vector(waveform):
    """40-d song vector of the MFCC baseline: mean then std of the 20 MFCCs over frames."""
    settings = {k: MFCC_SETTINGS[k] for k in ("sample_rate", "n_mfcc", "n_fft", "hop_length", "n_mels", "top_db")}
    coefficients = mfcc_matrix(waveform, **settings)
    return np.concatenate([coefficients.mean(1), coefficients.std(1)]).astype(np.float32)
