"""The crops function matching trains on: P soundtracks x K tracks per batch, each a 2.976 s span
of 22,050 Hz audio, augmented before the teachers and the student both see it.

Beyer et al. 2022 ("Knowledge distillation: a good teacher is patient and consistent") find the
student should match the teacher's function on the very input it gets, under aggressive
augmentation, for a long schedule. Here every crop is, in this order:
  speed     read (1 + s) x the span from a random place and resample it back to the span's length,
            s uniform in [-speed, speed]: pitch and tempo move together, by up to ~1.4 semitones
            at 0.08;
  mixup     with probability mixup_p, (1 - a) * crop + a * (a crop of another training track),
            a uniform in [0, mixup_max]: the first track stays the louder one, so the crop keeps
            its soundtrack for the metric term;
  EQ        eq_bands peaking biquads (RBJ cookbook), centre log-uniform in 60 Hz - 8 kHz,
            gain uniform in [-eq_db, eq_db] dB, Q uniform in [0.5, 2];
  gain      uniform in gain_db dB.
Batches are drawn as in the samplecnn-msd recipe (soundtracks by their audio length ** exponent,
K different tracks of each), so the soundtrack metric term has positives in every batch.
"""

import math
from dataclasses import asdict, dataclass

import numpy as np
import soxr
from scipy.signal import lfilter

from training_recipes.samplecnn_msd.prepare import SAMPLE_RATE, TEACHER_RATE, TEACHER_WINDOW

# The span every crop has: musicnn's 47,616-sample input at 16 kHz, in 22,050 Hz samples.
SPAN = math.ceil(TEACHER_WINDOW * SAMPLE_RATE / TEACHER_RATE)  # 65,621


@dataclass
class Augmentation:
    speed: float = 0.08
    mixup_p: float = 0.5
    mixup_max: float = 0.4
    eq_bands: int = 2
    eq_db: float = 6.0
    gain_db: tuple = (-12.0, 6.0)

    @classmethod
    def none(cls):
        return cls(speed=0.0, mixup_p=0.0, mixup_max=0.0, eq_bands=0, eq_db=0.0, gain_db=(0.0, 0.0))

    def record(self):
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def peaking_biquad(freq, gain_db, q, rate=SAMPLE_RATE):
    """(b, a) of an RBJ-cookbook peaking EQ filter."""
    amplitude = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * math.pi * freq / rate
    alpha = math.sin(w0) / (2.0 * q)
    b = np.array([1.0 + alpha * amplitude, -2.0 * math.cos(w0), 1.0 - alpha * amplitude])
    a = np.array([1.0 + alpha / amplitude, -2.0 * math.cos(w0), 1.0 - alpha / amplitude])
    return b / a[0], a / a[0]


def read_span(audio, track, rng, speed=0.0, length=SPAN):
    """`length` samples of one track from a random place, at a random speed in [1-speed, 1+speed];
    tracks shorter than the span read are zero-padded at the end."""
    factor = 1.0 + rng.uniform(-speed, speed) if speed else 1.0
    need = int(math.ceil(length * factor)) + 16
    start = int(rng.integers(max(1, track["length"] - need + 1)))
    wave = np.asarray(audio[track["offset"] + start: track["offset"] + min(track["length"], start + need)],
                      np.float32)
    if factor != 1.0:
        wave = soxr.resample(wave, SAMPLE_RATE * factor, SAMPLE_RATE, quality="HQ")
    wave = wave[:length]
    return np.pad(wave, (0, length - len(wave))) if len(wave) < length else wave


def augment(wave, other, rng, settings):
    """One crop's mixup (with `other`, a span of another track, when not None), EQ and gain."""
    if other is not None:
        share = rng.uniform(0.0, settings.mixup_max)
        wave = (1.0 - share) * wave + share * other
    for _ in range(settings.eq_bands):
        freq = math.exp(rng.uniform(math.log(60.0), math.log(8000.0)))
        b, a = peaking_biquad(freq, rng.uniform(-settings.eq_db, settings.eq_db), rng.uniform(0.5, 2.0))
        wave = lfilter(b, a, wave)
    low, high = settings.gain_db
    return (wave * 10.0 ** (rng.uniform(low, high) / 20.0)).astype(np.float32)


class CropSampler:
    """Batches of P soundtracks x K augmented spans: (spans (P*K, SPAN) float32, soundtrack ids).
    `rng` is the whole sampler state (checkpointed by the training loop)."""

    def __init__(self, store, track_ids, settings, soundtracks_per_batch=6, per_soundtrack=4,
                 soundtrack_exponent=1.0, seed=0):
        self.audio = store["audio"]
        self.tracks = [store["tracks"][i] for i in track_ids]
        self.settings = settings
        self.names = sorted({t["soundtrack"] for t in self.tracks})
        self.index = {n: i for i, n in enumerate(self.names)}
        self.by_soundtrack = {n: [j for j, t in enumerate(self.tracks) if t["soundtrack"] == n] for n in self.names}
        self.p = min(soundtracks_per_batch, len(self.names))
        self.k = per_soundtrack
        lengths = np.array([sum(self.tracks[j]["length"] for j in self.by_soundtrack[n]) for n in self.names], float)
        weights = lengths ** soundtrack_exponent
        self.draw_probability = weights / weights.sum()
        self.rng = np.random.default_rng(seed)

    def batch(self):
        rng, spans, labels = self.rng, [], []
        for name in rng.choice(self.names, size=self.p, replace=False, p=self.draw_probability):
            members = self.by_soundtrack[name]
            for j in rng.choice(members, size=self.k, replace=len(members) < self.k):
                wave = read_span(self.audio, self.tracks[j], rng, self.settings.speed)
                other = None
                if rng.random() < self.settings.mixup_p:
                    other = read_span(self.audio, self.tracks[int(rng.integers(len(self.tracks)))], rng,
                                      self.settings.speed)
                spans.append(augment(wave, other, rng, self.settings))
                labels.append(self.index[name])
        return np.stack(spans), np.array(labels, np.float32)


def validation_spans(store, track_ids, per_track=6):
    """Fixed, unaugmented evaluation spans: up to `per_track` evenly spaced ones per track;
    returns (spans, track index of each)."""
    spans, owners = [], []
    for i in track_ids:
        track = store["tracks"][i]
        last = max(0, track["length"] - SPAN)
        for start in np.unique(np.linspace(0, last, per_track).round().astype(int)):
            wave = np.asarray(store["audio"][track["offset"] + start: track["offset"] + start + SPAN], np.float32)
            spans.append(np.pad(wave, (0, SPAN - len(wave))))
            owners.append(i)
    return np.stack(spans), np.array(owners)
