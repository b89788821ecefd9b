"""A two-hour file through each preset: peak memory, time and progress, against musicnn-msd.

    python -m benchmarks.long_file [--hours 2] [--presets samplecnn-msd,musicnn-msd]
        [--file runs/bench/long.flac] [--json results/long-file.json]

The file is made once from the validation soundtracks of data/corpus (never the reserved
evaluation packages), repeated to --hours, written as 44.1 kHz stereo FLAC (what a ripped
album or DJ mix is), streamed while it is written so making it needs no hours of audio in memory.
Each preset then embeds and tags it in a fresh process (`model.embed_and_tag(path)`, progress
bar on): wall time, x real time, and the process's peak resident memory (ru_maxrss) next to
its memory after loading the preset and embedding 60 s (the model's own share). MP3 is the
exception to bounded memory: libsndfile decodes it correctly only in one piece (sdk/audio.py).
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CHILD = """
import json, resource, sys, time
import numpy as np
import sdk
model = sdk.load(sys.argv[1])
model.embed_and_tag(np.zeros(60 * model.sample_rate, np.float32), sr=model.sample_rate)  # compiles full batches
loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
start = time.perf_counter()
vector, scores = model.embed_and_tag(sys.argv[2])
took = time.perf_counter() - start
print(json.dumps({"seconds": took, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "after_load_mb": loaded, "finite": bool(np.all(np.isfinite(vector)))}))
"""


def make_long_file(path, hours, manifest="data/corpus/manifest.jsonl"):
    import soundfile

    from benchmarks.embed_throughput import default_tracks
    from sdk.audio import load_audio

    path.parent.mkdir(parents=True, exist_ok=True)
    tracks = default_tracks(manifest, 12)
    total, written = int(hours * 3600 * 44100), 0
    tmp = path.with_suffix(".part.flac")
    with soundfile.SoundFile(tmp, "w", 44100, 2, format="FLAC", subtype="PCM_16") as out:
        while written < total:
            for track in tracks:
                audio = load_audio(track, 44100, mono=False)
                audio = audio[: total - written]
                out.write(audio if audio.shape[1] == 2 else np.repeat(audio, 2, 1))
                written += len(audio)
                if written >= total:
                    break
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.long_file", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--presets", default="samplecnn-msd,musicnn-msd")
    parser.add_argument("--file", type=Path, default=Path("runs/bench/long.flac"))
    parser.add_argument("--json", type=Path, default=Path("results/long-file.json"))
    args = parser.parse_args(argv)
    import soundfile

    if not args.file.is_file() or abs(soundfile.info(str(args.file)).duration - args.hours * 3600) > 1:
        print(f"writing {args.hours:g} h of audio to {args.file} ...", file=sys.stderr)
        make_long_file(args.file, args.hours)
    duration = soundfile.info(str(args.file)).duration
    rows = {}
    for preset in args.presets.split(","):
        print(f"{preset}: embedding {duration / 3600:.1f} h (its progress bar below)", file=sys.stderr)
        run = subprocess.run([sys.executable, "-c", CHILD, preset, str(args.file)], stdout=subprocess.PIPE,
                             text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        if run.returncode:
            raise SystemExit(f"{preset}: the child process failed ({run.returncode})")
        row = json.loads(run.stdout.strip().splitlines()[-1])
        row["x_real_time"] = duration / row["seconds"]
        rows[preset] = row
    print(f"{'':18}{'x real time':>12}{'minutes':>9}{'peak MB':>9}{'after load MB':>15}")
    for preset, row in rows.items():
        print(f"{preset:18}{row['x_real_time']:12.0f}{row['seconds'] / 60:9.1f}{row['peak_mb']:9.0f}"
              f"{row['after_load_mb']:15.0f}")
    import keras

    result = {"file": str(args.file), "duration_s": duration, "format": "FLAC 44.1 kHz stereo", "presets": rows,
              "backend": keras.backend.backend(), "load_average": os.getloadavg(),
              "cpus": len(os.sched_getaffinity(0)), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
