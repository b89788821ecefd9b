"""Data side of the thesis recipes: background batch loading, audio reading with an optional
int16 cache, and segment-wise prediction over whole songs (padded to fixed batch shapes so
jit-compiling backends trace once)."""

import os
import queue
import threading
from pathlib import Path

import numpy as np

from training_recipes.common.training import RecipeError

# resampy's kaiser_best: every shipped checkpoint was trained, and every published figure measured,
# on audio resampled so (the SDK's own default is the ~100x faster soxr_hq; docs/performance.md).
RECIPE_RESAMPLER = "kaiser_best"

class Prefetcher:
    """Iterate `iterable` in a background thread, `depth` items ahead (decoding overlaps
    training). The order is that of `iterable`; its exceptions reach the consumer."""

    def __init__(self, iterable, depth=2):
        self._queue = queue.Queue(max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, args=(iterable,), daemon=True)
        self._thread.start()

    def _put(self, item):
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _work(self, iterable):
        try:
            for item in iterable:
                if not self._put(("item", item)):
                    return
            self._put(("end", None))
        except BaseException as error:  # handed to the consumer
            self._put(("error", error))

    def __iter__(self):
        while True:
            kind, item = self._queue.get()
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item

    def close(self):
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass


def check_audio(splits, skip_missing=False, log=None):
    """Every track's audio must exist and be non-empty; with `skip_missing`, drop (and log)
    those that do not. Returns the splits; raises RecipeError naming the first missing file."""
    bad = {name: [t for t in tracks if not (t.path.is_file() and t.path.stat().st_size > 0)]
           for name, tracks in splits.items()}
    count = sum(len(b) for b in bad.values())
    if not count:
        return splits
    total = sum(len(t) for t in splits.values())
    first = next(t for b in bad.values() for t in b)
    if not skip_missing:
        raise RecipeError(f"{first.path}: audio file not found or empty ({count} of {total} tracks; "
                          f"--skip-missing leaves them out)")
    if log is not None:
        log.warning("leaving out %d of %d tracks whose audio is missing or empty (first: %s)",
                    count, total, first.path)
    return {name: [t for t in tracks if t not in bad[name]] for name, tracks in splits.items()}


class AudioReader:
    """Decode tracks with sdk.audio at `sample_rate` (mono float32). With `cache_dir`, each
    decoded track is kept as 16-bit PCM .npy (memory-mapped later): random crops then read
    only their own samples, which is what makes whole-dataset training practical."""

    def __init__(self, sample_rate, cache_dir=None):
        self.sample_rate = int(sample_rate)
        self.cache_dir = None if cache_dir is None else Path(cache_dir) / f"{self.sample_rate}hz"

    def _cache_path(self, path):
        import hashlib

        key = hashlib.sha1(str(Path(path).resolve()).encode("utf-8")).hexdigest()
        return self.cache_dir / key[:2] / f"{key}.npy"

    def load(self, path):
        """(samples,) float32, or an int16 memory map when cached (scale with `as_float`)."""
        from sdk.audio import load_audio

        if self.cache_dir is None:
            return load_audio(path, self.sample_rate, resample_filter=RECIPE_RESAMPLER)
        cached = self._cache_path(path)
        if not cached.is_file():
            audio = load_audio(path, self.sample_rate, resample_filter=RECIPE_RESAMPLER)
            pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_name(f".{cached.stem}.{os.getpid()}.{threading.get_ident()}.npy")
            np.save(tmp, pcm)
            os.replace(tmp, cached)
        return np.load(cached, mmap_mode="r")

    @staticmethod
    def as_float(audio):
        audio = np.asarray(audio)
        return audio.astype(np.float32) / 32767.0 if audio.dtype == np.int16 else audio.astype(np.float32)

    def waveform(self, path):
        return self.as_float(self.load(path))

    def crop(self, path, length, position):
        """`length` samples starting at `position` (0..1) of the usable range; zero-padded when
        the track is shorter."""
        audio = self.load(path)
        if len(audio) <= length:
            return np.pad(self.as_float(audio), (0, length - len(audio)))
        start = min(int(position * (len(audio) - length + 1)), len(audio) - length)
        return self.as_float(audio[start:start + length])


# ------------------------------------------------------------------ prediction
def predict_padded(model, x, batch_size):
    """`model.predict_on_batch` on `x` (array or dict of arrays, at most `batch_size` rows),
    zero-padded to `batch_size` rows so every call has one traced shape; padding removed."""
    rows = len(next(iter(x.values()))) if isinstance(x, dict) else len(x)

    def pad(a):
        return a if rows == batch_size else np.concatenate([a, np.zeros((batch_size - rows, *a.shape[1:]), a.dtype)])

    padded = {k: pad(v) for k, v in x.items()} if isinstance(x, dict) else pad(x)
    return np.asarray(model.predict_on_batch(padded))[:rows]


def _song_segments(reader, tracks, length):
    from zoo.aggregation import segment

    for i, track in enumerate(tracks):
        yield i, segment(reader.waveform(track.path), length)


def predict_segments(model, reader, tracks, length, batch_size):
    """Per track, `model`'s outputs for its non-overlapping segments of `length` samples
    (zoo.aggregation.segment), shape (num_segments, ...). Segments of consecutive tracks share
    batches; decoding runs in a background thread."""
    outputs = [[] for _ in tracks]
    pending, owners = [], []

    def flush():
        for owner, row in zip(owners, predict_padded(model, np.stack(pending), batch_size)):
            outputs[owner].append(row)
        pending.clear()
        owners.clear()

    source = Prefetcher(_song_segments(reader, tracks, length))
    try:
        for i, segments in source:
            for s in segments:
                pending.append(s)
                owners.append(i)
                if len(pending) == batch_size:
                    flush()
        if pending:
            flush()
    finally:
        source.close()
    return [np.stack(o) for o in outputs]
