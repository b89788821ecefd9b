"""Audio input for the SDK: decode, mix to mono, resample, stream long files.

Pure numpy + soundfile + soxr / resampy (no keras), so the catalog tools and the demo
can use it without a backend. Every failure on bad input is an `AudioError`
whose message starts with the file (or "audio array") and says what is wrong;
soundfile / soxr / resampy exceptions never escape for bad input.

Resampling: `resample_filter` is "soxr_hq" (the default, librosa's too) or "soxr_vhq" (libsoxr),
or a resampy filter ("kaiser_best", "kaiser_fast"). soxr_hq is ~100x faster than kaiser_best
on a CPU; `python benchmarks/embed_throughput.py` measures both and how far presets' outputs move.
"""

import contextlib
import math
import os
import sys
from pathlib import Path

import numpy as np
import resampy
import resampy.filters
import soundfile
import soxr

__all__ = [
    "AUDIO_EXTENSIONS",
    "AudioError",
    "audio_info",
    "list_audio_files",
    "load_audio",
    "prepare_array",
    "stream_audio",
]

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif")
_MAX_CHANNEL_AXIS = 8  # a 2-D array's channel axis is its smaller one, if <= this
# libsndfile 1.2's MP3 decoder returns wrong samples (inserted silence) for any read that
# does not start at the beginning, either after an earlier read or a seek, on files using
# the bit reservoir; such files are only read from the start, in one piece.
_ONE_PIECE_FORMATS = ("MP3",)
DEFAULT_RESAMPLER = "soxr_hq"
_SOXR = {"soxr_hq": "HQ", "soxr_vhq": "VHQ", "soxr_mq": "MQ"}
RESAMPLERS = (*_SOXR, "kaiser_best", "kaiser_fast")
_SOXR_CONTEXT_SECONDS = 0.05  # >> libsoxr's filter half-length at these qualities (a few ms)


class AudioError(ValueError):
    """Audio that cannot be used: missing, undecodable, empty or malformed."""


def _reason(exc):
    # LibsndfileError carries libsndfile's own message; keep just that part.
    return str(getattr(exc, "error_string", None) or exc).strip()


def _check_file(path):
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: file not found")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    return path


@contextlib.contextmanager
def _quiet_native_stderr():
    """Silence what the C decoders print straight to file descriptor 2 (mpg123's "Note: Illegal
    Audio-MPEG-Header ..." lines): the reason reaches the user in the AudioError instead."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (e.g. some embedded interpreters)
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _open(path):
    path = _check_file(path)
    try:
        with _quiet_native_stderr():
            f = soundfile.SoundFile(str(path))
    except (RuntimeError, TypeError, ValueError, OSError) as exc:
        reason = _reason(exc)
        if "does not exist" in reason:  # libsndfile's words for a file it could not parse
            reason = f"not a recognised audio file; its contents do not decode as {path.suffix or 'audio'}"
        raise AudioError(f"{path}: cannot decode ({reason})") from exc
    if f.samplerate <= 0 or f.channels <= 0:
        f.close()
        raise AudioError(f"{path}: cannot decode (header says {f.samplerate} Hz, {f.channels} channels)")
    return f


def _read(f, frames, path):
    """`frames` float32 frames of an open file, (n, channels); AudioError on a decoder failure."""
    try:
        with _quiet_native_stderr():
            return f.read(frames, dtype="float32", always_2d=True)
    except (RuntimeError, ValueError, TypeError, MemoryError, soundfile.LibsndfileError) as exc:
        raise AudioError(f"{path}: cannot decode ({_reason(exc)})") from exc


def _resample(audio, sample_rate, target_rate, resample_filter, name):
    if sample_rate == target_rate:
        return audio
    try:
        if resample_filter in _SOXR:
            out = soxr.resample(audio, int(sample_rate), int(target_rate), quality=_SOXR[resample_filter])
        else:
            out = resampy.resample(audio, int(sample_rate), int(target_rate),
                                   filter=resample_filter, axis=0)
    except ValueError as exc:  # e.g. too few samples for the ratio, an unknown filter
        raise AudioError(f"{name}: cannot resample {sample_rate} -> {target_rate} Hz "
                         f"({exc})") from exc
    if len(out) == 0:
        raise AudioError(f"{name}: cannot resample {sample_rate} -> {target_rate} Hz "
                         f"({len(audio)} sample(s) give none)")
    return np.ascontiguousarray(out, dtype=np.float32)


def _finish(audio, name, what="samples"):
    if audio.shape[0] == 0:
        raise AudioError(f"{name}: empty audio (0 {what})")
    if not np.all(np.isfinite(audio)):
        raise AudioError(f"{name}: audio contains non-finite values (NaN or inf)")
    return audio


def _mix(frames, mono):
    # frames: (samples, channels) float32 as soundfile returns with always_2d.
    return frames.mean(axis=1, dtype=np.float32) if mono else frames


def list_audio_files(source):
    """Audio files under a file, a directory (recursive, sorted) or a list of
    them; files without an audio extension are skipped."""
    sources = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    found = []
    for item in sources:
        path = Path(item)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*")
                                if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS))
        elif path.is_file():
            if path.suffix.lower() in AUDIO_EXTENSIONS:
                found.append(path)
        else:
            raise AudioError(f"{path}: file or directory not found")
    if not found:
        names = ", ".join(str(Path(s)) for s in sources) or "(empty list)"
        raise AudioError(f"{names}: no audio files found "
                         f"(looked for {' '.join(AUDIO_EXTENSIONS)})")
    return found


def audio_info(path):
    """dict(duration [s], sample_rate, channels, format, frames) without decoding."""
    with _open(path) as f:
        return {"duration": f.frames / f.samplerate, "sample_rate": f.samplerate,
                "channels": f.channels, "format": f.format, "frames": f.frames}


def load_audio(path, sample_rate, mono=True, offset=0.0, duration=None,
               resample_filter=DEFAULT_RESAMPLER):
    """Decode `path` to float32 at `sample_rate` (None keeps the file's rate).

    mono=True gives (samples,), the channel average; mono=False gives
    (samples, channels). `offset` / `duration` are in seconds of the file.
    """
    with _open(path) as f:
        rate = f.samplerate
        sample_rate = rate if sample_rate is None else sample_rate
        start = int(round(offset * rate))
        frames = -1 if duration is None else int(round(duration * rate))
        if f.format in _ONE_PIECE_FORMATS:
            audio = _read(f, -1 if frames < 0 else start + frames, path)[start:]
        else:
            try:
                f.seek(min(start, f.frames))
            except (RuntimeError, ValueError) as exc:
                raise AudioError(f"{path}: cannot decode ({_reason(exc)})") from exc
            audio = _read(f, frames, path)
    what = f"samples after offset {offset} s" if start else "samples"
    audio = _finish(_mix(audio, mono), path, what)
    return _finish(_resample(audio, rate, sample_rate, resample_filter, path), path)


def prepare_array(audio, sample_rate, target_rate, mono=True,
                  resample_filter=DEFAULT_RESAMPLER, name="audio array"):
    """Numpy audio -> float32 (samples,) at `target_rate`.

    Accepts (samples,), (samples, channels) or (channels, samples): when 2-D the
    smaller axis is taken as channels if it has at most 8 entries (when both have, the shape is
    ambiguous and refused). Integer
    arrays are scaled to [-1, 1) by their dtype's range.
    """
    if sample_rate is None:
        raise AudioError(f"{name}: sample_rate is required for numpy input "
                         "(the array does not say what rate it was recorded at)")
    audio = np.asarray(audio)
    if audio.dtype.kind in "iu":
        info = np.iinfo(audio.dtype)
        audio = (audio.astype(np.float64) - (info.max + 1 + info.min) / 2) / (info.max + 1)
    elif audio.dtype.kind not in "fb":
        raise AudioError(f"{name}: expected numeric samples, got dtype {audio.dtype}")
    audio = audio.astype(np.float32)
    if audio.size == 0:
        raise AudioError(f"{name}: empty audio (0 samples)")
    if audio.ndim == 2:
        axis = int(np.argmin(audio.shape))
        if max(audio.shape) <= _MAX_CHANNEL_AXIS and audio.shape != (1, 1):
            raise AudioError(f"{name}: shape {audio.shape} is ambiguous: either axis could be the "
                             f"channels (at most {_MAX_CHANNEL_AXIS}); give (samples,) or more samples")
        if audio.shape[axis] > _MAX_CHANNEL_AXIS:
            raise AudioError(f"{name}: shape {audio.shape} is ambiguous; expected "
                             f"(samples,) or at most {_MAX_CHANNEL_AXIS} channels")
        audio = audio if axis == 1 else audio.T
    elif audio.ndim != 1:
        raise AudioError(f"{name}: expected 1-D or 2-D audio, got shape {audio.shape}")
    else:
        audio = audio[:, None]
    audio = _finish(_mix(audio, mono) if mono else audio, name)
    return _resample(np.ascontiguousarray(audio), sample_rate, target_rate,
                     resample_filter, name)


def _context_samples(rate, target_rate, resample_filter):
    """Input samples each side that affect one output sample (filter half-width)."""
    if resample_filter in _SOXR:
        return int(math.ceil(_SOXR_CONTEXT_SECONDS * rate))
    window, precision, _ = resampy.filters.get_filter(resample_filter)
    num_zeros = (len(window) - 1) / precision  # precision = table entries per zero crossing
    return int(math.ceil(num_zeros / min(1.0, target_rate / rate))) + 1


def _resampled_length(frames, rate, target_rate, resample_filter):
    """The whole-file output length of each resampler: soxr rounds half up, resampy floors."""
    if resample_filter in _SOXR:
        return (2 * frames * target_rate + rate) // (2 * rate)
    return frames * target_rate // rate


def stream_audio(path, sample_rate, block_seconds=60.0, overlap_seconds=0.1, mono=True,
                 resample_filter=DEFAULT_RESAMPLER):
    """Yield float32 blocks of `path` at `sample_rate`, reading in bounded memory.

    Each block is read with `overlap_seconds` of context on both sides (at least
    the resampling filter's half-width), resampled, and trimmed back, and block
    starts fall on instants where input and output sample grids coincide. So
    the concatenated blocks equal `load_audio(path, sample_rate)` up to float
    rounding and have exactly its length: no gaps or clicks at the joins.
    Memory: about block + 2 * overlap seconds of audio (the whole file for MP3,
    which libsndfile can only decode correctly in one read).
    """
    f = _open(path)
    with f:
        rate = f.samplerate
        g = math.gcd(int(rate), int(sample_rate))
        step_in, step_out = rate // g, sample_rate // g  # grids coincide every step_in
        block = max(1, round(block_seconds * rate / step_in)) * step_in
        context = 0
        if rate != sample_rate:
            context = max(int(overlap_seconds * rate),
                          _context_samples(rate, sample_rate, resample_filter))
            context = -(-context // step_in) * step_in
        whole = f.format in _ONE_PIECE_FORMATS  # memory is then the whole file
        buf = np.zeros((0, f.channels if not mono else 1), np.float32)
        buf_start = 0  # file index of buf[0]
        start, done, total, yielded = 0, False, None, False
        while True:
            want = start + block + context  # file index we need buffered up to
            while not done and buf_start + len(buf) < want:
                chunk = _read(f, -1 if whole else want - buf_start - len(buf), path)
                if len(chunk) == 0:
                    done = True
                    break
                chunk = _mix(chunk, mono)
                buf = np.concatenate([buf, chunk[:, None] if mono else chunk])
            end_file = buf_start + len(buf)
            if done:
                total = end_file
            if start == 0 and done and total == 0:
                raise AudioError(f"{path}: empty audio (0 samples)")
            stop = start + block if total is None else min(start + block, total)
            if stop <= start:
                return
            lo = max(0, start - context)
            piece = buf[lo - buf_start: min(end_file, stop + context) - buf_start]
            if total is not None and stop == total:
                # both resamplers assume zeros past the edges, so padding changes nothing but
                # guarantees the tail is long enough for the whole-file length.
                piece = np.concatenate([piece, np.zeros((context, piece.shape[1]),
                                                        np.float32)])
            piece = piece[:, 0] if mono else piece
            _finish(piece, path)
            if rate == sample_rate:
                yielded = True
                yield np.ascontiguousarray(piece[start - lo: stop - lo])
            else:
                out = _resample(piece, rate, sample_rate, resample_filter, path)
                first = start // step_in * step_out
                last = (stop // step_in * step_out if stop < (total or math.inf)
                        else _resampled_length(total, rate, sample_rate, resample_filter))
                base = lo // step_in * step_out
                if last > first:
                    yielded = True
                    yield out[first - base: last - base]
            if total is not None and stop >= total:
                if not yielded:  # e.g. one sample at 2 Hz is none at 1 Hz
                    raise AudioError(f"{path}: {total} sample(s) at {rate} Hz give no audio at {sample_rate} Hz")
                return
            start = stop
            keep = max(0, start - context) - buf_start  # drop what no block needs
            buf, buf_start = buf[keep:], buf_start + keep
