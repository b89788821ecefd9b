"""Stage 1 of the samplecnn-msd-8k recipe: the training corpus decoded once, no teacher outputs.

    python -m training_recipes.samplecnn_msd_8k.store --corpus data/corpus --out runs/samplecnn-msd-8k/store \
        [--limit N] [--workers 2]

Function matching runs the teachers on each augmented crop as training goes, so unlike the
samplecnn-msd cache nothing but audio is stored:
  audio.f16.npy   every track at 22,050 Hz mono, float16, end to end (a memmap; ~6 GB for 37 h)
  tracks.json     per track: its manifest row, offset and length in audio.f16.npy
The layout is the samplecnn-msd cache's (same rate, decoder and minimum length), so its
readout code reads either. Only the training corpus is read (reserved packages are refused by
`read_training_manifest`). A store that is complete for the same manifest rows is kept as it
is; tracks.json is written last, so an interrupted build is redone, never half-used.
"""

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from sdk.audio import AudioError
from training_recipes.samplecnn_msd.prepare import MIN_SECONDS, SAMPLE_RATE, decode, training_rows

STORE_FILES = ("audio.f16.npy", "tracks.json")


def _decode(path):
    try:
        return decode(path), None
    except AudioError as error:
        return None, str(error)


def load_store(path):
    """{"tracks", "meta", "path", "audio" (memmap)} of a built store; a one-line error if absent."""
    path = Path(path)
    if not (path / "tracks.json").is_file():
        raise SystemExit(f"{path}: no audio store here (tracks.json missing); build it with "
                         f"`python -m training_recipes.samplecnn_msd_8k.store --out {path}`")
    meta = json.loads((path / "tracks.json").read_text())
    return {"tracks": meta["tracks"], "meta": meta, "path": path,
            "audio": np.load(path / "audio.f16.npy", mmap_mode="r")}


def is_complete(out, rows):
    """Whether `out` already holds a store of exactly these manifest rows."""
    path = Path(out) / "tracks.json"
    if not path.is_file() or not (Path(out) / "audio.f16.npy").is_file():
        return False
    meta = json.loads(path.read_text())
    return meta.get("manifest_rows") == [r["path"] for r in rows] and meta.get("sample_rate") == SAMPLE_RATE


def build_store(corpus, out, limit=None, workers=2):
    corpus, out = Path(corpus), Path(out)
    rows = training_rows(corpus)[:limit]
    if not rows:
        raise SystemExit(f"{corpus}: the training manifest lists no tracks")
    if is_complete(out, rows):
        return json.loads((out / "tracks.json").read_text())
    out.mkdir(parents=True, exist_ok=True)
    (out / "tracks.json").unlink(missing_ok=True)  # a store is complete only once this is written
    total = int(sum(r["duration"] for r in rows) * SAMPLE_RATE * 1.01) + SAMPLE_RATE
    audio = np.lib.format.open_memmap(out / "audio.f16.npy", mode="w+", dtype=np.float16, shape=(total,))
    tracks, skipped, offset = [], [], 0
    with ProcessPoolExecutor(max(1, workers)) as pool:
        decoded = pool.map(_decode, [corpus / r["path"] for r in rows])
        for row, (wave, error) in tqdm(zip(rows, decoded), total=len(rows), desc="decode", unit="track",
                                       file=sys.stdout):
            if wave is None or len(wave) < MIN_SECONDS * SAMPLE_RATE:
                skipped.append({"path": row["path"], "why": error or f"shorter than {MIN_SECONDS:.0f} s"})
                continue
            if offset + len(wave) > total:
                raise SystemExit(f"{corpus / row['path']}: longer than its manifest duration says; "
                                 "rebuild the corpus")
            audio[offset: offset + len(wave)] = wave
            tracks.append({**row, "offset": offset, "length": len(wave)})
            offset += len(wave)
    audio.flush()
    meta = {"tracks": tracks, "samples": offset, "sample_rate": SAMPLE_RATE, "corpus": str(corpus),
            "manifest_rows": [r["path"] for r in rows], "skipped": skipped}
    (out / "tracks.tmp.json").write_text(json.dumps(meta, indent=1))
    os.replace(out / "tracks.tmp.json", out / "tracks.json")
    return meta


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training_recipes.samplecnn_msd_8k.store",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default="data/corpus")
    parser.add_argument("--out", default="runs/samplecnn-msd-8k/store")
    parser.add_argument("--limit", type=int, default=None, help="first N tracks only (smoke tests)")
    parser.add_argument("--workers", type=int, default=2, help="decoding processes")
    args = parser.parse_args(argv)
    start = time.time()
    meta = build_store(args.corpus, args.out, args.limit, args.workers)
    print(f"{len(meta['tracks'])} tracks ({len(meta['skipped'])} skipped), "
          f"{meta['samples'] / SAMPLE_RATE / 3600:.2f} h of audio in {args.out}, {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
