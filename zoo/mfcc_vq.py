"""MFCC-VQ: the vector-quantisation baseline of thesis section 5.1.3 (Tables 5.1, 5.2).

13 MFCCs with first and second derivatives per frame (39-d); K-means with K = 1024
over 2,500,000 frames drawn at random from all tracks; a track is the normalised
histogram of its frames' nearest centroids; tracks are compared by the euclidean
distance between histograms.

numpy / scipy / scikit-learn only. The MFCC front end reproduces
`librosa.feature.mfcc` and `librosa.feature.delta` at their defaults (22,050 Hz,
FFT 2048, hop 512, 128 Slaney mel bands, power spectrogram, dB with ref 1.0 /
amin 1e-10 / top_db 80, orthonormal DCT-II; Savitzky-Golay deltas of width 9,
mode "interp"), the tooling the baseline's source used. The thesis is silent on
these settings, on feature scaling before K-means and on the K-means variant;
they are arguments here (defaults: librosa's settings, no scaling, mini-batch).
"""

import json
import math
import zipfile

import numpy as np
import scipy.fft
import scipy.signal

from zoo.frontends import mel_filterbank, periodic_hann
from zoo.registry import register_model

FORMAT = "zoo.mfcc_vq/1"


def power_spectrogram(y, n_fft=2048, hop_length=512):
    """|STFT|^2 with centred, zero-padded frames and a periodic Hann window, (1 + n_fft//2, frames)."""
    y = np.asarray(y, dtype=np.float64)
    padded = np.pad(y, n_fft // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length]
    spectrum = np.fft.rfft(frames * periodic_hann(n_fft, n_fft).astype(np.float64), axis=-1)
    return (spectrum.real**2 + spectrum.imag**2).T


def power_to_db(power, amin=1e-10, top_db=80.0):
    """10 log10(max(amin, S)) with ref 1.0, floored top_db below the track's peak."""
    db = 10.0 * np.log10(np.maximum(amin, power))
    return db if top_db is None else np.maximum(db, db.max() - top_db)


def mfcc(y, sample_rate=22050, n_mfcc=13, n_fft=2048, hop_length=512, n_mels=128, fmin=0.0,
         fmax=None, top_db=80.0):
    """MFCCs of one waveform, (n_mfcc, frames), as librosa.feature.mfcc computes them."""
    filters = mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax).astype(np.float64)
    mel_db = power_to_db(filters @ power_spectrogram(y, n_fft, hop_length), top_db=top_db)
    return scipy.fft.dct(mel_db, type=2, norm="ortho", axis=0)[:n_mfcc]


def delta(features, width=9, order=1):
    """Local Savitzky-Golay derivative along the last axis (librosa.feature.delta, mode "interp")."""
    if width < 3 or width % 2 != 1:
        raise ValueError(f"delta width must be an odd integer >= 3, got {width}")
    if features.shape[-1] < width:
        raise ValueError(f"{features.shape[-1]} frames are fewer than the delta width {width}")
    return scipy.signal.savgol_filter(features, width, polyorder=order, deriv=order, axis=-1,
                                      mode="interp")


def mfcc_frames(y, sample_rate=22050, n_mfcc=13, n_fft=2048, hop_length=512, n_mels=128,
                fmin=0.0, fmax=None, top_db=80.0, delta_width=9):
    """Per-frame [MFCC, delta, delta-delta] vectors, (frames, 3 * n_mfcc) float32."""
    coefficients = mfcc(y, sample_rate, n_mfcc, n_fft, hop_length, n_mels, fmin, fmax, top_db)
    # Both derivatives come from the MFCCs directly (librosa's order=2), not delta of delta.
    stacked = [coefficients, delta(coefficients, delta_width, 1), delta(coefficients, delta_width, 2)]
    return np.concatenate(stacked, axis=0).T.astype(np.float32)


def histogram_distances(a, b=None):
    """Euclidean distances between histogram rows, (len(a), len(b)); b defaults to a."""
    a = np.asarray(a, dtype=np.float64)
    b = a if b is None else np.asarray(b, dtype=np.float64)
    squared = (a * a).sum(1)[:, None] - 2.0 * a @ b.T + (b * b).sum(1)[None, :]
    return np.sqrt(np.maximum(squared, 0.0))


class MFCCVQ:
    """Fit a K-means codebook on MFCC frames; embed tracks as codeword histograms.

    Args:
        n_clusters: K, the codebook size (thesis: 1024).
        num_frames: frames drawn without replacement from all tracks to fit K-means
            (thesis: 2,500,000); all frames are used when there are fewer.
        sample_rate, n_mfcc, n_fft, hop_length, n_mels, fmin, fmax, top_db, delta_width:
            the MFCC front end (see `mfcc_frames`).
        standardize: z-score each of the 39 dimensions (statistics of the sampled
            frames) before clustering; off by default, the thesis mentions none.
        algorithm: "minibatch" (sklearn MiniBatchKMeans) or "lloyd" (KMeans).
        batch_size, max_iter, n_init: passed to the K-means.
        seed: seeds frame sampling and K-means, so fit is deterministic.

    Fitting needs at least K sampled frames: K-means cannot place K centroids on
    fewer points, and silently shrinking K would change the embedding size, so
    `fit` raises a ValueError instead.
    """

    def __init__(self, n_clusters=1024, num_frames=2_500_000, sample_rate=22050, n_mfcc=13,
                 n_fft=2048, hop_length=512, n_mels=128, fmin=0.0, fmax=None, top_db=80.0,
                 delta_width=9, standardize=False, algorithm="minibatch", batch_size=4096,
                 max_iter=100, n_init=1, seed=0):
        if algorithm not in ("minibatch", "lloyd"):
            raise ValueError(f"algorithm must be 'minibatch' or 'lloyd', got {algorithm!r}")
        self.n_clusters = int(n_clusters)
        self.num_frames = int(num_frames)
        self.sample_rate = sample_rate
        self.n_mfcc = n_mfcc
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.n_mels = n_mels
        self.fmin = fmin
        self.fmax = fmax
        self.top_db = top_db
        self.delta_width = delta_width
        self.standardize = standardize
        self.algorithm = algorithm
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.n_init = n_init
        self.seed = seed
        self.centroids = None  # (K, 39) float32 once fitted
        self.mean = None
        self.std = None

    # -- configuration -------------------------------------------------------------
    def get_config(self):
        keys = ("n_clusters", "num_frames", "sample_rate", "n_mfcc", "n_fft", "hop_length",
                "n_mels", "fmin", "fmax", "top_db", "delta_width", "standardize", "algorithm",
                "batch_size", "max_iter", "n_init", "seed")
        return {key: getattr(self, key) for key in keys}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @property
    def fitted(self):
        return self.centroids is not None

    # -- features ------------------------------------------------------------------
    def _tracks(self, waveforms, sample_rate):
        """A 2-D batch or a list of 1-D arrays -> float64 tracks at self.sample_rate."""
        if isinstance(waveforms, np.ndarray) and waveforms.ndim == 1:
            raise ValueError("pass a batch (N, samples) or a list of 1-D waveforms, not one 1-D array")
        rate = self.sample_rate if sample_rate is None else sample_rate
        tracks = []
        for i, track in enumerate(waveforms):
            track = np.asarray(track, dtype=np.float64)
            if track.ndim != 1:
                raise ValueError(f"waveform {i} has shape {track.shape}; expected 1-D (mono)")
            if rate != self.sample_rate:
                # Polyphase resampling (scipy); librosa's default resampler (soxr) differs slightly.
                g = math.gcd(int(self.sample_rate), int(rate))
                track = scipy.signal.resample_poly(track, self.sample_rate // g, rate // g)
            if self.num_frames_of(len(track)) < self.delta_width:
                raise ValueError(f"waveform {i} has {len(track)} samples, fewer than the "
                                 f"{self.delta_width} frames the deltas need (hop {self.hop_length})")
            tracks.append(track)
        if not tracks:
            raise ValueError("no waveforms given")
        return tracks

    def features(self, waveform):
        """(frames, 39) MFCC + delta + delta-delta vectors of one waveform at self.sample_rate."""
        return mfcc_frames(waveform, self.sample_rate, self.n_mfcc, self.n_fft, self.hop_length,
                           self.n_mels, self.fmin, self.fmax, self.top_db, self.delta_width)

    def num_frames_of(self, num_samples):
        """Frames of a centred STFT (librosa): 1 + num_samples // hop for an even n_fft."""
        return 1 + (num_samples + 2 * (self.n_fft // 2) - self.n_fft) // self.hop_length

    # -- fitting -------------------------------------------------------------------
    def fit(self, waveforms, sample_rate=None):
        """Sample frames uniformly from all tracks and learn the K-means codebook."""
        tracks = self._tracks(waveforms, sample_rate)
        counts = np.array([self.num_frames_of(len(t)) for t in tracks])
        total = int(counts.sum())
        take = min(self.num_frames, total)
        if take < self.n_clusters:
            raise ValueError(f"K-means with n_clusters={self.n_clusters} needs at least that many "
                             f"frames, but only {take} are available (of {total} in all tracks, "
                             f"num_frames={self.num_frames}); give more audio or lower n_clusters")
        rng = np.random.default_rng(self.seed)
        chosen = np.sort(rng.choice(total, size=take, replace=False))
        # Each track's frames are computed once and only the chosen rows kept.
        starts = np.concatenate([[0], np.cumsum(counts)])
        sampled = []
        for track, start, stop in zip(tracks, starts[:-1], starts[1:]):
            rows = chosen[np.searchsorted(chosen, start):np.searchsorted(chosen, stop)] - start
            if len(rows):
                sampled.append(self.features(track)[rows])
        frames = np.concatenate(sampled)
        if self.standardize:
            self.mean = frames.mean(0)
            self.std = np.maximum(frames.std(0), 1e-8).astype(np.float32)
        else:
            self.mean = np.zeros(frames.shape[1], np.float32)
            self.std = np.ones(frames.shape[1], np.float32)
        self.centroids = self._kmeans().fit((frames - self.mean) / self.std).cluster_centers_
        self.centroids = self.centroids.astype(np.float32)
        return self

    def _kmeans(self):
        from sklearn.cluster import KMeans, MiniBatchKMeans

        if self.algorithm == "minibatch":
            return MiniBatchKMeans(self.n_clusters, batch_size=self.batch_size, max_iter=self.max_iter,
                                   n_init=self.n_init, random_state=self.seed)
        return KMeans(self.n_clusters, max_iter=self.max_iter, n_init=self.n_init,
                      random_state=self.seed)

    # -- embedding -----------------------------------------------------------------
    def assign(self, frames, chunk=65536):
        """Index of the nearest centroid (euclidean) for each standardised frame row."""
        centroids = self.centroids.astype(np.float64)
        half_norms = 0.5 * (centroids * centroids).sum(1)
        out = np.empty(len(frames), np.int64)
        for start in range(0, len(frames), chunk):
            block = frames[start:start + chunk].astype(np.float64)
            # argmin ||x - c||^2 = argmin (||c||^2 / 2 - x.c); ||x||^2 is the same for every c.
            out[start:start + chunk] = np.argmin(half_norms - block @ centroids.T, axis=1)
        return out

    def transform(self, waveforms, sample_rate=None):
        """Normalised codeword histograms, (N, K) float32, each row summing to 1."""
        if not self.fitted:
            raise RuntimeError("MFCCVQ is not fitted; call fit() or MFCCVQ.load() first")
        tracks = self._tracks(waveforms, sample_rate)
        histograms = np.zeros((len(tracks), self.n_clusters), np.float64)
        for i, track in enumerate(tracks):
            codes = self.assign((self.features(track) - self.mean) / self.std)
            histograms[i] = np.bincount(codes, minlength=self.n_clusters) / len(codes)
        return histograms.astype(np.float32)

    def fit_transform(self, waveforms, sample_rate=None):
        return self.fit(waveforms, sample_rate).transform(waveforms, sample_rate)

    @staticmethod
    def distances(a, b=None):
        """Track distance of the thesis: euclidean between normalised histograms."""
        return histogram_distances(a, b)

    # -- persistence (np.savez, never pickle) --------------------------------------
    def save(self, path):
        if not self.fitted:
            raise RuntimeError("cannot save an unfitted MFCCVQ")
        # A file handle stops np.savez from appending ".npz" to the caller's path.
        with open(path, "wb") as f:
            np.savez(f, format=np.array(FORMAT), config=np.array(json.dumps(self.get_config())),
                     centroids=self.centroids, mean=self.mean, std=self.std)

    @classmethod
    def load(cls, path):
        try:
            data = np.load(path, allow_pickle=False)
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ValueError("a single .npy array, not an .npz archive")
            with data:
                if str(data["format"]) != FORMAT:
                    raise ValueError(f"format {str(data['format'])!r} is not {FORMAT!r}")
                model = cls.from_config(json.loads(str(data["config"])))
                arrays = {key: np.array(data[key]) for key in ("centroids", "mean", "std")}
        except FileNotFoundError:
            raise
        except (ValueError, OSError, EOFError, KeyError, TypeError, zipfile.BadZipFile,
                json.JSONDecodeError) as error:
            raise ValueError(f"{path} is not a saved MFCCVQ model (np.savez archive, "
                             f"{FORMAT}): {error}") from error
        if arrays["centroids"].shape != (model.n_clusters, 3 * model.n_mfcc):
            raise ValueError(f"{path}: centroids of shape {arrays['centroids'].shape} do not match "
                             f"its config (n_clusters={model.n_clusters}, n_mfcc={model.n_mfcc})")
        model.centroids, model.mean, model.std = arrays["centroids"], arrays["mean"], arrays["std"]
        return model


def build_mfcc_vq(*, n_clusters=1024, num_frames=2_500_000, sample_rate=22050, n_mfcc=13,
                  n_fft=2048, hop_length=512, n_mels=128, fmin=0.0, fmax=None, top_db=80.0,
                  delta_width=9, standardize=False, algorithm="minibatch", batch_size=4096,
                  max_iter=100, n_init=1, seed=0):
    """An unfitted MFCC-VQ estimator; call .fit(waveforms, sample_rate) then .transform."""
    return MFCCVQ(n_clusters, num_frames, sample_rate, n_mfcc, n_fft, hop_length, n_mels, fmin,
                  fmax, top_db, delta_width, standardize, algorithm, batch_size, max_iter, n_init,
                  seed)


register_model(
    "mfcc-vq",
    kind="numpy",
    reference="Section 5.1.3 'Baseline method' (MFCC-VQ row of Tables 5.1 and 5.2)",
    description="13 MFCCs + deltas, K-means codebook (K=1024), normalised code histograms "
                "compared by euclidean distance.",
    tiny=dict(n_clusters=8, num_frames=2000, batch_size=256, max_iter=20),
    n_clusters=1024, num_frames=2_500_000, sample_rate=22050, n_mfcc=13, n_fft=2048,
    hop_length=512, n_mels=128, fmin=0.0, fmax=None, top_db=80.0, delta_width=9,
    standardize=False, algorithm="minibatch", batch_size=4096, max_iter=100, n_init=1, seed=0,
)(build_mfcc_vq)
