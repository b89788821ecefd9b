"""Stage 1 of the disentangled-msd recipe: per 3 s window of every corpus track, the frozen
backbone's features, the teachers' tags and, per track, a beat-tracker tempo.

    python -m training_recipes.disentangled_msd.prepare --corpus data/corpus \
        --out runs/disentangled-msd/cache [--limit N]

Every `--stride`-th window (default 2: one per 6 s) of the samplecnn-msd recipe's teacher
windows is kept, window k starting at k * 3 s:
  features   samplecnn-msd's embedding (its 256-d multi-level read-out) of the 59,049
             samples (2.68 s at 22,050 Hz) from there: what the disentangled head reads
  student_tags  samplecnn-msd's own 50 tag scores of that window (the head reads them too)
  msd_tags   musicnn-msd's 50 tag scores of its 47,616-sample window (2.98 s at 16 kHz)
  mtat_tags  musicnn-mtat's 50 tag scores of the same window (instrument tags to measure)
Per track: `bpm`, librosa's beat-tracker tempo of its central 2 minutes (section 5.1.3 takes
one algorithmic tempo per track).

`--per-soundtrack N` keeps the first N tracks of each soundtrack (the preset: 10), so long
soundtracks do not dominate. Each track is written to tracks/NNNNN.npz as it is done, so a killed run resumes where it
stopped; `cache.npz` + `tracks.json` gather them at the end (what train.py reads). Only the
training corpus is read: rows of reserved evaluation packages are refused.
"""

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly
from tqdm import tqdm

from sdk.audio import AudioError
from training_recipes.samplecnn_msd.prepare import (MIN_SECONDS, SAMPLE_RATE, STUDENT_SAMPLES, _teacher_windows,
                                                    decode, training_rows, window_count, window_span_22k)

BACKBONE = "samplecnn-msd"
TEACHERS = {"msd_tags": "musicnn-msd", "mtat_tags": "musicnn-mtat"}
log = logging.getLogger("disentangled_msd.prepare")


def teacher_network(name):
    """(tag names, compiled network: 47,616 samples at 16 kHz -> tag scores) of a musicnn preset,
    run as its authors ran it (the window framed "center" on its own)."""
    import sdk
    from sdk.inference import CompiledGraph

    teacher = sdk.load(name)
    return list(teacher.tags), CompiledGraph(teacher.task.build_network())


def tempo(wave, seconds=120.0):
    """Beats per minute of a track's central `seconds` (librosa's beat tracker, its default prior)."""
    import librosa

    keep = int(seconds * SAMPLE_RATE)
    start = max(0, (len(wave) - keep) // 2)
    bpm, _ = librosa.beat.beat_track(y=wave[start : start + keep], sr=SAMPLE_RATE, units="time")
    return float(np.atleast_1d(bpm)[0])


def student_windows(wave, stride):
    """(kept window numbers, (n, 59,049) samples the backbone reads from each)."""
    keep = np.arange(0, window_count(len(wave)), stride)
    return keep, np.stack([wave[window_span_22k(k)[0]:][:STUDENT_SAMPLES] for k in keep])


def track_outputs(wave, backbone, teachers, batch_size=32, stride=2):
    """{features, <teacher>..., bpm} of one 22,050 Hz track: every `stride`-th window."""
    from sdk.inference import run_batches

    count = window_count(len(wave))
    keep, student = student_windows(wave, stride)
    graph = run_batches(backbone, [student], batch_size)
    out = {"features": graph["embedding"], "student_tags": graph["tags"]}
    audio16 = resample_poly(wave, 320, 441).astype(np.float32)  # 22,050 -> 16,000
    windows = _teacher_windows(audio16, count)[keep]
    for key, (_, network) in teachers.items():
        out[key] = run_batches(network, [windows], batch_size)
    out["bpm"] = np.float32(tempo(wave))
    return {k: np.asarray(v, np.float16 if k != "bpm" else np.float32) for k, v in out.items()}


def _add_student_tags(target, path, backbone, batch_size, stride):
    """Give a track cached before `student_tags` existed its student tag scores (only the
    backbone runs again)."""
    from sdk.inference import run_batches

    with np.load(target) as data:
        done = {k: data[k] for k in data.files}
    if "skipped" in done or "student_tags" in done:
        return
    wave = decode(path)
    _, student = student_windows(wave, stride)
    done["student_tags"] = run_batches(backbone, [student], batch_size)["tags"].astype(np.float16)
    np.savez(target.parent / "partial.npz", **done)
    (target.parent / "partial.npz").replace(target)


def gather(out, rows, names, stride, per_soundtrack=None):
    """cache.npz (window rows of every track, in manifest order) + tracks.json from tracks/."""
    parts, tracks, offset = [], [], 0
    for index, row in enumerate(rows):
        path = out / "tracks" / f"{index:05d}.npz"
        if row is None or not path.is_file():
            continue  # not selected (None), or not done
        with np.load(path) as data:
            part = {k: data[k] for k in data.files}
        if "skipped" in part:
            continue
        count = len(part["features"])
        tracks.append({**row, "window_offset": offset, "windows": count, "bpm": float(part["bpm"])})
        parts.append(part)
        offset += count
    arrays = {key: np.concatenate([p[key] for p in parts]) for key in ("features", "student_tags", *TEACHERS)}
    arrays["track"] = np.repeat(np.arange(len(parts), dtype=np.int32), [len(p["features"]) for p in parts])
    np.savez(out / "cache.tmp.npz", **arrays)
    (out / "cache.tmp.npz").replace(out / "cache.npz")
    summary = {"backbone": BACKBONE, "teachers": TEACHERS, "tag_names": names, "stride": stride,
               "per_soundtrack": per_soundtrack,
               "window_hop_seconds": 3.0 * stride, "tracks": tracks}
    (out / "tracks.json").write_text(json.dumps(summary, indent=1))
    return summary


def capped(rows, per_soundtrack):
    """The first `per_soundtrack` rows of each soundtrack, in manifest order (all with None)."""
    if per_soundtrack is None:
        return list(rows)
    seen, kept = {}, []
    for row in rows:
        seen[row["soundtrack"]] = seen.get(row["soundtrack"], 0) + 1
        if seen[row["soundtrack"]] <= per_soundtrack:
            kept.append(row)
    return kept


def prepare(corpus, out, limit=None, batch_size=32, stride=2, per_soundtrack=None):
    import sdk
    from sdk.inference import CompiledGraph

    corpus, out = Path(corpus), Path(out)
    (out / "tracks").mkdir(parents=True, exist_ok=True)
    rows = training_rows(corpus)[:limit]
    keep = {id(row) for row in capped(rows, per_soundtrack)}
    backbone = CompiledGraph(sdk.load(BACKBONE).task)
    teachers = {key: teacher_network(name) for key, name in TEACHERS.items()}
    for index, row in enumerate(tqdm(rows, desc="tracks", unit="track", file=sys.stdout)):
        target = out / "tracks" / f"{index:05d}.npz"
        path = corpus / row["path"]
        if id(row) not in keep:
            continue
        if target.is_file():
            _add_student_tags(target, path, backbone, batch_size, stride)
            continue  # done by an earlier run
        try:
            wave = decode(path)
        except AudioError as error:
            log.warning("skipped %s", error)
            np.savez(target, skipped=np.array(str(error)))
            continue
        if len(wave) < MIN_SECONDS * SAMPLE_RATE or window_count(len(wave)) == 0:
            log.info("skipped %s: shorter than %.0f s", path, MIN_SECONDS)
            np.savez(target, skipped=np.array("short"))
            continue
        result = track_outputs(wave, backbone, teachers, batch_size, stride)
        np.savez(out / "tracks" / "partial.npz", **result)
        (out / "tracks" / "partial.npz").replace(target)  # whole or not at all
        log.info("%s: %d windows, %.1f BPM", row["path"], len(result["features"]), result["bpm"])
    return gather(out, [row if id(row) in keep else None for row in rows], teachers["msd_tags"][0], stride,
                  per_soundtrack)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training_recipes.disentangled_msd.prepare",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default="data/corpus")
    parser.add_argument("--out", default="runs/disentangled-msd/cache")
    parser.add_argument("--limit", type=int, default=None, help="first N tracks only (smoke tests)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--stride", type=int, default=2, help="keep every N-th 3 s window (default 2)")
    parser.add_argument("--per-soundtrack", type=int, default=None,
                        help="only the first N tracks of each soundtrack (manifest order)")
    args = parser.parse_args(argv)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    logging.basicConfig(filename=Path(args.out) / "prepare.log", level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s")
    start = time.time()
    summary = prepare(args.corpus, args.out, args.limit, args.batch_size, args.stride, args.per_soundtrack)
    windows = sum(t["windows"] for t in summary["tracks"])
    print(f"{len(summary['tracks'])} tracks, {windows} windows, {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
