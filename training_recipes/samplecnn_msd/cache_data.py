"""What `prepare` wrote, as training reads it: the cache's tracks and teacher targets, the song
vectors of each song teacher, the batches of the recipe (P soundtracks x K crops, each crop
with its window's tag scores and its track's song vectors) and the fixed validation crops."""

import json
from pathlib import Path

import numpy as np

from training_recipes.samplecnn_msd.prepare import STUDENT_SAMPLES, window_span_22k


# Song-embedding teachers and the cache file holding each one's per-track vectors.
SONG_TEACHERS = ("artist-siamese-msd", "musicnn-msd")
SONG_FILES = {"artist-siamese-msd": "teacher_song.npy", "musicnn-msd": "teacher_song_musicnn.npy"}


class Sampler:
    """Batches of P soundtracks x K segments; soft tag targets from the crop's window."""

    def __init__(self, cache, track_ids, soundtracks_per_batch=6, per_soundtrack=4, seed=0,
                 song_teacher=SONG_TEACHERS[0], soundtrack_exponent=0.0, relational_teachers=()):
        self.cache = cache
        self.songs = song_targets(cache, song_teacher)
        self.relational, self.relational_sizes = relational_targets(cache, relational_teachers)
        self.tracks = [cache["tracks"][i] for i in track_ids]
        self.track_ids = list(track_ids)
        names = sorted({t["soundtrack"] for t in self.tracks})
        self.soundtrack_index = {n: i for i, n in enumerate(names)}
        self.by_soundtrack = {n: [j for j, t in enumerate(self.tracks) if t["soundtrack"] == n] for n in names}
        self.p = min(soundtracks_per_batch, len(names))
        self.k = per_soundtrack
        self.rng = np.random.default_rng(seed)
        # Exponent 0 draws every soundtrack equally often, so one track of a 2-track soundtrack
        # is seen about 30 times as often as one of Freedoom's 65; 0.5 draws them by sqrt(audio length).
        windows = np.array([sum(self.tracks[j]["windows"] for j in self.by_soundtrack[n]) for n in names], float)
        weights = windows ** soundtrack_exponent
        self.names = names
        # None keeps numpy's unweighted draw, and with it the batches of runs made before the option.
        self.draw_probability = weights / weights.sum() if soundtrack_exponent else None

    def batch(self):
        names = self.rng.choice(self.names, size=self.p, replace=False, p=self.draw_probability)
        waves, tags, targets = [], [], []
        for name in names:
            members = self.by_soundtrack[name]
            picks = self.rng.choice(members, size=self.k, replace=len(members) < self.k)
            for j in picks:
                track = self.tracks[j]
                k = int(self.rng.integers(track["windows"]))
                start, span = window_span_22k(k)
                start += int(self.rng.integers(span - STUDENT_SAMPLES + 1))
                begin = track["offset"] + start
                waves.append(self.cache["audio"][begin : begin + STUDENT_SAMPLES])
                tags.append(self.cache["tags"][track["window_offset"] + k])
                i = self.track_ids[j]
                targets.append(np.concatenate([self.songs[i], self.relational[i], [self.soundtrack_index[name]]]))
        x = np.stack(waves).astype(np.float32)
        return x, {"tags": np.stack(tags), "embedding": np.stack(targets).astype(np.float32)}


def load_cache(path):
    path = Path(path)
    meta = json.loads((path / "tracks.json").read_text())
    return {"tracks": meta["tracks"], "meta": meta, "path": path,
            "audio": np.load(path / "audio.f16.npy", mmap_mode="r"),
            "tags": np.load(path / "teacher_tags.npy"), "song": np.load(path / "teacher_song.npy")}


def training_tracks(config):
    """(cache, its rows of the tracks a run trained on) from that run's config.json contents."""
    cache = load_cache(config["cache"])
    used = set(config["train_tracks"])
    return cache, [t for t in cache["tracks"] if t["path"] in used]


def song_targets(cache, teacher):
    """(tracks, d) song vectors of one teacher; a clear error when the cache lacks them."""
    if teacher == SONG_TEACHERS[0]:
        return cache["song"]
    path = cache["path"] / SONG_FILES[teacher]
    if not path.is_file():
        raise SystemExit(f"{path}: missing; add it with `python -m training_recipes.samplecnn_msd.prepare "
                         f"--out {cache['path']} --add-musicnn-song`")
    return np.load(path)


def relational_targets(cache, teachers):
    """(tracks, sum of sizes) song vectors of several teachers side by side, and their sizes;
    the relational term centres each block on its batch and averages the blocks' similarities."""
    blocks = [song_targets(cache, teacher) for teacher in teachers]
    if not blocks:
        return np.zeros((len(cache["tracks"]), 0), np.float32), ()
    return np.hstack(blocks).astype(np.float32), tuple(b.shape[1] for b in blocks)


def validation_windows(cache, track_ids, per_track=6):
    """Fixed evaluation crops: up to `per_track` evenly spaced windows of each track, centred."""
    items = []
    for i in track_ids:
        track = cache["tracks"][i]
        for k in np.unique(np.linspace(0, track["windows"] - 1, per_track).round().astype(int)):
            start, span = window_span_22k(int(k))
            items.append((i, int(k), track["offset"] + start + (span - STUDENT_SAMPLES) // 2))
    return items
