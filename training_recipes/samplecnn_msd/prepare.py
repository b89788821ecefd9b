"""Stage 1 of the samplecnn-msd recipe: decode the corpus once and record the teachers.

    python -m training_recipes.samplecnn_msd.prepare --corpus data/corpus \
        --out runs/samplecnn-msd/cache [--limit N] [--add-musicnn-song] [--reuse OLD_CACHE]

Writes into --out:
  audio.f16.npy    every track at 22,050 Hz mono, float16, end to end (a memmap)
  tracks.json      per track: manifest row, offset/length in audio.f16.npy, window count
  teacher_tags.npy (windows, 50) musicnn-msd scores, float32
  teacher_song.npy (tracks, 256) artist-siamese-msd song embeddings (mean of segments)
  teacher_song_musicnn.npy (tracks, 200) musicnn-msd's 200-d features, mean of the windows

Teacher windows: window k of a track is musicnn's input patch (47,616 samples at
16 kHz = 2.976 s) starting at k * 3 s. The student (59,049 samples at 22,050 Hz
= 2.678 s) is later cropped anywhere inside that span, so its soft labels describe
audio it actually hears. Stage 2 is `train.py`.

--reuse OLD_CACHE copies the audio and teacher outputs of every track an earlier cache already
holds (same path, package, version, original path, renderer and duration: the same audio)
instead of decoding and running the teachers again, so growing the corpus costs only the new
tracks.
--add-musicnn-song adds teacher_song_musicnn.npy to a cache made before it existed,
from the cached audio (no decoding). Only the training corpus is read: rows of reserved
evaluation packages are refused.
See `decode` for the resampling.
"""

import argparse
import json
import logging
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly
from tqdm import tqdm

from sdk.audio import AudioError, load_audio
from training_recipes.corpus.manifest import CorpusError, read_training_manifest

SAMPLE_RATE = 22050
TEACHER_RATE = 16000
TEACHER_WINDOW = 47616  # musicnn input, samples at 16 kHz
WINDOW_HOP_SECONDS = 3.0
STUDENT_SAMPLES = 59049
MIN_SECONDS = 15.0

log = logging.getLogger("samplecnn_msd.prepare")


def window_count(num_samples_22k):
    """Teacher windows that fit a track of this many 22,050 Hz samples."""
    n16 = int(num_samples_22k * TEACHER_RATE / SAMPLE_RATE)
    hop = int(WINDOW_HOP_SECONDS * TEACHER_RATE)
    return 0 if n16 < TEACHER_WINDOW else (n16 - TEACHER_WINDOW) // hop + 1


def window_span_22k(k):
    """(start, length) in 22,050 Hz samples of teacher window k."""
    start = int(round(k * WINDOW_HOP_SECONDS * SAMPLE_RATE))
    return start, int(math.floor(TEACHER_WINDOW * SAMPLE_RATE / TEACHER_RATE))


def training_rows(corpus):
    """Manifest rows of the training corpus; reserved or evaluation-only rows are an error."""
    try:
        return read_training_manifest(corpus)
    except (CorpusError, FileNotFoundError) as error:
        raise SystemExit(f"{corpus}: {error}") from None


def decode(path):
    """Mono float32 at 22,050 Hz. Polyphase resampling from the usual game-audio rates
    (44.1 / 48 / 22.05 kHz) is ~10x faster than the SDK's kaiser_best and ample for
    soft-label targets; other rates and formats (MP3) go through sdk.audio."""
    from fractions import Fraction

    import soundfile

    if Path(path).suffix.lower() in (".ogg", ".oga", ".flac", ".wav"):
        try:
            wave, rate = soundfile.read(path, dtype="float32", always_2d=True)
        except Exception as error:  # libsndfile reports through several exception types
            raise AudioError(f"{path}: cannot decode ({error})") from None
        wave = wave.mean(axis=1)
        ratio = Fraction(SAMPLE_RATE, rate)
        if ratio == 1:
            return wave
        if ratio.denominator <= 1000:
            return resample_poly(wave, ratio.numerator, ratio.denominator).astype(np.float32)
    return load_audio(path, SAMPLE_RATE, resample_filter="kaiser_fast")


def _teacher_windows(audio16, count):
    hop = int(WINDOW_HOP_SECONDS * TEACHER_RATE)
    return np.stack([audio16[k * hop : k * hop + TEACHER_WINDOW] for k in range(count)])


def musicnn_teacher():
    """(musicnn-msd, a model: 16 kHz window -> [50 tag scores, its 200-d features])."""
    import keras

    import sdk

    from zoo.heads import apply_layers
    from zoo.parts import network_parts

    teacher = sdk.load("musicnn-msd")
    # The network as its authors ran it: a 47,616-sample window, framed "center" on its own.
    model = teacher.task.build_network()
    if tuple(model.output.shape[1:]) != (50,):
        raise SystemExit(f"musicnn-msd output is {model.output.shape}, expected 50 tag scores")
    parts = network_parts(model)
    # The same layers called again (shared weights), exposing the backbone's output too.
    waveform = keras.Input(model.input.shape[1:])
    features = parts.backbone(parts.frontend(waveform))
    return teacher, keras.Model(waveform, [apply_layers(parts.tag_head, features), features])


def _musicnn_outputs(model, audio22k, count, batch_size):
    """(window tag scores, song features = mean of the windows' features) of one track."""
    audio16 = resample_poly(audio22k, 320, 441).astype(np.float32)  # 22,050 -> 16,000
    tags, features = model.predict(_teacher_windows(audio16, count), batch_size=batch_size, verbose=0)
    return np.asarray(tags, np.float32), np.asarray(features, np.float32).mean(0)


def add_musicnn_song(out, batch_size=32):
    """Write teacher_song_musicnn.npy for an existing cache from its audio; returns its shape."""
    out = Path(out)
    meta = json.loads((out / "tracks.json").read_text())
    audio = np.load(out / "audio.f16.npy", mmap_mode="r")
    _, model = musicnn_teacher()
    songs = [_musicnn_outputs(model, np.asarray(audio[t["offset"] : t["offset"] + t["length"]], np.float32),
                              t["windows"], batch_size)[1]
             for t in tqdm(meta["tracks"], desc="tracks", unit="track", file=sys.stdout)]
    songs = np.stack(songs)
    with open(out / "teacher_song_musicnn.tmp.npy", "wb") as file:  # whole or not at all
        np.save(file, songs)
    os.replace(out / "teacher_song_musicnn.tmp.npy", out / "teacher_song_musicnn.npy")
    return songs.shape


# Manifest fields that pin down a track's audio: a rebuilt package of the same version gives
# the same files, and a rendered track also depends on its renderer.
REUSE_KEY = ("path", "package", "version", "original_path", "rendered_with", "duration")
# What a cache's targets depend on besides its tracks; tracks.json records them.
CACHE_SETTINGS = {"sample_rate": SAMPLE_RATE, "window_hop_seconds": WINDOW_HOP_SECONDS,
                  "teacher_window": TEACHER_WINDOW, "tag_teacher": "musicnn-msd",
                  "song_teacher": "artist-siamese-msd"}


def _track_key(row):
    return tuple(row.get(field) for field in REUSE_KEY)


class PreviousCache:
    """An earlier cache's per-track results, looked up by REUSE_KEY."""

    def __init__(self, directory):
        directory = Path(directory)
        try:
            self.meta = json.loads((directory / "tracks.json").read_text())
            self.audio = np.load(directory / "audio.f16.npy", mmap_mode="r")
            self.tags = np.load(directory / "teacher_tags.npy", mmap_mode="r")
            self.songs = np.load(directory / "teacher_song.npy")
            self.musicnn_songs = np.load(directory / "teacher_song_musicnn.npy")
        except (OSError, ValueError) as error:
            raise SystemExit(f"--reuse {directory}: not a complete cache ({error})") from None
        different = {k: self.meta.get(k) for k, v in CACHE_SETTINGS.items() if self.meta.get(k) != v}
        if different:
            raise SystemExit(f"--reuse {directory}: made with other settings {different}")
        self.index = {_track_key(t): i for i, t in enumerate(self.meta["tracks"])}

    def get(self, row):
        """(22,050 Hz audio, window tag scores, song embedding, musicnn song features) or None."""
        i = self.index.get(_track_key(row))
        if i is None:
            return None
        t = self.meta["tracks"][i]
        wave = np.asarray(self.audio[t["offset"] : t["offset"] + t["length"]], np.float32)
        tags = np.asarray(self.tags[t["window_offset"] : t["window_offset"] + t["windows"]], np.float32)
        return wave, tags, self.songs[i], self.musicnn_songs[i]


def prepare(corpus, out, limit=None, batch_size=32, reuse=None):
    import sdk

    corpus, out = Path(corpus), Path(out)
    if reuse is not None and Path(reuse).resolve() == out.resolve():
        raise SystemExit(f"--reuse {reuse}: that is the --out directory being rewritten")
    previous = PreviousCache(reuse) if reuse is not None else None
    out.mkdir(parents=True, exist_ok=True)
    rows = training_rows(corpus)[:limit]
    tag_teacher, tag_model = musicnn_teacher()
    song_teacher = sdk.load("artist-siamese-msd")

    total = int(sum(r["duration"] for r in rows) * SAMPLE_RATE * 1.01) + SAMPLE_RATE
    audio = np.lib.format.open_memmap(out / "audio.f16.npy", mode="w+", dtype=np.float16, shape=(total,))
    tracks, tags, songs, musicnn_songs, offset, reused = [], [], [], [], 0, 0
    for row in tqdm(rows, desc="tracks", unit="track", file=sys.stdout):
        path = corpus / row["path"]
        known = previous.get(row) if previous is not None else None
        if known is not None:
            wave, window_tags, song, musicnn_song = known
            count, reused = len(window_tags), reused + 1
        else:
            try:
                wave = decode(path)
            except AudioError as error:
                log.warning("skipped %s", error)
                continue
            count = window_count(len(wave))
            if len(wave) < MIN_SECONDS * SAMPLE_RATE or count == 0:
                log.info("skipped %s: shorter than %.0f s", path, MIN_SECONDS)
                continue
        if offset + len(wave) > total:
            raise SystemExit(f"{path}: longer than its manifest duration says; rebuild the corpus")
        audio[offset : offset + len(wave)] = wave
        if known is None:
            window_tags, musicnn_song = _musicnn_outputs(tag_model, wave, count, batch_size)
            song = song_teacher.embed(wave, sr=SAMPLE_RATE).astype(np.float32)
        tags.append(window_tags)
        musicnn_songs.append(musicnn_song)
        songs.append(song)
        tracks.append({**row, "offset": offset, "length": len(wave), "windows": count,
                       "window_offset": int(sum(t["windows"] for t in tracks))})
        offset += len(wave)
        log.info("%s: %.1f s, %d windows%s", row["path"], len(wave) / SAMPLE_RATE, count,
                 " (reused)" if known is not None else "")
    audio.flush()
    np.save(out / "teacher_tags.npy", np.concatenate(tags))
    np.save(out / "teacher_song.npy", np.stack(songs))
    np.save(out / "teacher_song_musicnn.npy", np.stack(musicnn_songs))
    summary = {"tracks": tracks, "samples": offset, **CACHE_SETTINGS,
               "tag_names": list(tag_teacher.tags), "corpus": str(corpus),
               "reused_from": None if reuse is None else str(reuse), "reused_tracks": reused}
    (out / "tracks.json").write_text(json.dumps(summary, indent=1))
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training_recipes.samplecnn_msd.prepare",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default="data/corpus")
    parser.add_argument("--out", default="runs/samplecnn-msd/cache")
    parser.add_argument("--limit", type=int, default=None, help="first N tracks only (smoke tests)")
    parser.add_argument("--reuse", default=None, metavar="OLD_CACHE",
                        help="copy the tracks an earlier cache already holds instead of recomputing them")
    parser.add_argument("--add-musicnn-song", action="store_true",
                        help="only add teacher_song_musicnn.npy to the existing cache in --out")
    args = parser.parse_args(argv)
    if args.add_musicnn_song:
        if not (Path(args.out) / "tracks.json").is_file():
            raise SystemExit(f"{args.out}: no cache here (tracks.json missing); run prepare without the flag")
        print(f"teacher_song_musicnn.npy {add_musicnn_song(args.out)}")
        return
    Path(args.out).mkdir(parents=True, exist_ok=True)
    logging.basicConfig(filename=Path(args.out) / "prepare.log", level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s")
    start = time.time()
    summary = prepare(args.corpus, args.out, args.limit, reuse=args.reuse)
    hours = summary["samples"] / SAMPLE_RATE / 3600
    print(f"{len(summary['tracks'])} tracks ({summary['reused_tracks']} reused), {hours:.2f} h of audio, "
          f"{time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
