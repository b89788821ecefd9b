"""Embedding throughput of every preset against musicnn-msd and an MFCC baseline, in one run.

    python -m benchmarks.embed_throughput [--audio FOLDER|MANIFEST] [--tracks 6] [--rounds 3]
        [--presets all] [--batch-sizes 1,4,16,64] [--json results/embed-throughput.json]

What it separates, per second of audio (x real time = seconds of audio per second of wall clock):
  decode      soundfile reading the files (Ogg/FLAC/...), at their own rate
  resample    each file to 16 kHz and 22.05 kHz with resampy kaiser_best and soxr_hq
  model       each preset's embed_and_tag on audio already at its rate (the graph, windowing,
              pooling), rounds interleaved across presets so the machine's load hits all alike;
              the MFCC baseline (training_recipes/evaluation/mfcc.py) likewise
  file        the whole path from a file, with the preset's own resampler
a batch-size sweep of the model cost (one track), and the graph under Keras's mixed_bfloat16
policy against float32 (speed and how far the outputs move; oneDNN/XLA may or may not have fast
bfloat16 kernels for this CPU, which the AVX512_BF16 flag alone does not say). On the jax backend the graph's FLOPs per
window come from XLA's cost analysis, so the achieved FLOP/s and its fraction of the CPU's peak
(cores x MHz x --flops-per-cycle; 32 = two 256-bit FMA pipes in float32) are reported.
Default audio: --tracks tracks of the validation soundtracks in data/corpus (never the reserved
evaluation packages). The last line printed is the JSON written to --json.
"""

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

VALIDATION = ("Endgame: Singularity", "Colobot", "OpenClonk", "Pushover", "Fish Fillets NG")


def default_tracks(manifest, count):
    from training_recipes.corpus.packages.packages import RESERVED

    rows = [json.loads(line) for line in open(manifest) if line.strip()]
    rows = [r for r in rows if r.get("soundtrack") in VALIDATION and r.get("package") not in RESERVED]
    picked, seen = [], set()
    for row in rows:  # one per soundtrack first, then the rest
        if row["soundtrack"] not in seen:
            seen.add(row["soundtrack"])
            picked.append(row)
    picked += [r for r in rows if r not in picked]
    return [str(Path(manifest).parent / r["path"]) for r in picked[:count]]


def clock(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def xla_flops_per_window(model, batch=4):
    """FLOPs of the preset's graph per window from XLA's cost analysis (jax only), else None."""
    import keras

    if keras.backend.backend() != "jax":
        return None
    import jax

    task = model.task
    x = np.zeros((batch, task.window), np.float32)
    state = [v.value for v in task.trainable_variables], [v.value for v in task.non_trainable_variables]
    fn = jax.jit(lambda tv, ntv, x: task.stateless_call(tv, ntv, x, training=False)[0])
    cost = fn.lower(*state, x).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return float(cost["flops"]) / batch if cost and "flops" in cost else None


def bfloat16_task(model, policy="mixed_bfloat16"):
    """The preset's graph rebuilt under a bfloat16 dtype policy, with its weights."""
    import keras

    config = json.loads((Path(model.directory) / "config.json").read_text())
    config.pop("format_version", None)
    keras.config.set_dtype_policy(policy)
    try:
        task = keras.saving.deserialize_keras_object(config)
    finally:
        keras.config.set_dtype_policy("float32")
    task.load_weights(Path(model.directory) / "model.weights.h5")
    return task


def bfloat16_row(model, wave, batch_size=16):
    """x real time of the graph on `wave` in float32 and under mixed_bfloat16, and how far the
    bfloat16 outputs move (song-embedding cosine, largest tag-score change)."""
    from sdk.inference import CompiledGraph, run_batches

    rows = {}
    for name, task in (("float32", model.task), ("mixed_bfloat16", bfloat16_task(model))):
        graph = CompiledGraph(task)
        run_batches(graph, model.segment_inputs(wave, model.sample_rate, batch_size), batch_size)  # compile
        took, out = clock(lambda: run_batches(graph, model.segment_inputs(wave, model.sample_rate, batch_size),
                                              batch_size))
        rows[name] = (len(wave) / model.sample_rate / took, out)
    a, b = rows["float32"][1], rows["mixed_bfloat16"][1]
    ea, eb = a["embedding"].mean(0), b["embedding"].mean(0)
    return {"float32_x": rows["float32"][0], "bfloat16_x": rows["mixed_bfloat16"][0],
            "embedding_cosine": float(ea @ eb / np.linalg.norm(ea) / np.linalg.norm(eb)),
            "max_tag_change": float(np.abs(a["tags"].mean(0) - b["tags"].mean(0)).max()) if "tags" in a else None}


def peak_flops(flops_per_cycle):
    mhz = [float(line.split(":")[1]) for line in open("/proc/cpuinfo") if line.startswith("cpu MHz")]
    return len(os.sched_getaffinity(0)) * (max(mhz) if mhz else 0.0) * 1e6 * flops_per_cycle


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.embed_throughput", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--audio", default="data/corpus/manifest.jsonl",
                        help="a folder of audio or a corpus manifest (default: validation soundtracks)")
    parser.add_argument("--tracks", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--presets", default="all")
    parser.add_argument("--batch-sizes", default="1,4,16,64")
    parser.add_argument("--flops-per-cycle", type=float, default=32.0)
    parser.add_argument("--json", type=Path, default=Path("results/embed-throughput.json"))
    args = parser.parse_args(argv)

    import soundfile

    import sdk
    from sdk.audio import list_audio_files, prepare_array
    from training_recipes.evaluation import mfcc

    audio = Path(args.audio)
    files = (default_tracks(audio, args.tracks) if audio.suffix == ".jsonl"
             else [str(f) for f in list_audio_files(audio)][:args.tracks])
    if not files:
        raise SystemExit(f"--audio {audio}: no audio files")
    names = sdk.list_presets() if args.presets == "all" else args.presets.split(",")
    models = {name: sdk.load(name) for name in names}
    for model in models.values():
        model.progress = False

    # decode and resample, once per file (they do not depend on the preset)
    decoded, decode_s, seconds = [], 0.0, 0.0
    for path in files:
        took, (data, rate) = clock(lambda: soundfile.read(path, dtype="float32", always_2d=True))
        decode_s += took
        decoded.append((data.mean(1), rate))
        seconds += len(data) / rate
    resample = {}
    for target in sorted({m.sample_rate for m in models.values()} | {mfcc.MFCC_SETTINGS["sample_rate"]}):
        for name in ("kaiser_best", "soxr_hq"):
            took = sum(clock(lambda: prepare_array(wave, rate, target, resample_filter=name))[0]
                       for wave, rate in decoded)
            resample[f"{target}/{name}"] = seconds / took
    at_rate = {target: [prepare_array(w, r, target) for w, r in decoded]
               for target in {m.sample_rate for m in models.values()} | {mfcc.MFCC_SETTINGS["sample_rate"]}}

    # model cost, rounds interleaved
    for model in models.values():  # compile every shape once before timing
        model.embed_and_tag(at_rate[model.sample_rate][0][: model.sample_rate * 10], sr=model.sample_rate)
    times = {name: [] for name in [*models, "mfcc"]}
    for _ in range(args.rounds):
        for name, model in models.items():
            waves = at_rate[model.sample_rate]
            times[name].append(sum(clock(lambda: model.embed_and_tag(w, sr=model.sample_rate))[0] for w in waves))
        waves = at_rate[mfcc.MFCC_SETTINGS["sample_rate"]]
        times["mfcc"].append(sum(clock(lambda: mfcc.mfcc_song_vector(w))[0] for w in waves))
    model_x = {name: seconds / float(np.median(t)) for name, t in times.items()}

    # the whole path from a file, each preset with its own resampler
    file_x = {}
    for name, model in models.items():
        took = sum(clock(lambda: model.embed_and_tag(path))[0] for path in files)
        file_x[name] = seconds / took

    # batch-size sweep, one minute of the first track
    sweep = {}
    for name, model in models.items():
        wave = at_rate[model.sample_rate][0][: 60 * model.sample_rate]
        sweep[name] = {}
        for size in [int(b) for b in args.batch_sizes.split(",")]:
            model.embed_and_tag(wave, sr=model.sample_rate, batch_size=size)  # compile
            took = float(np.median([clock(lambda: model.embed_and_tag(wave, sr=model.sample_rate,
                                                                      batch_size=size))[0] for _ in range(2)]))
            sweep[name][size] = len(wave) / model.sample_rate / took

    bfloat16 = {name: bfloat16_row(model, at_rate[model.sample_rate][0][: 60 * model.sample_rate])
                for name, model in models.items()}

    peak = peak_flops(args.flops_per_cycle)
    flops = {}
    for name, model in models.items():
        per_window = xla_flops_per_window(model)
        if per_window:
            wave = at_rate[model.sample_rate][0]
            windows = sum(len(b) for b in model.segment_inputs(wave, model.sample_rate))
            per_audio_second = per_window * windows / (len(wave) / model.sample_rate)
            achieved = per_audio_second * model_x[name]
            flops[name] = {"gflop_per_window": per_window / 1e9, "achieved_gflops": achieved / 1e9,
                           "fraction_of_peak": achieved / peak if peak else None}

    reference = model_x.get("musicnn-msd")
    print(f"{len(files)} tracks, {seconds:.0f} s of audio; decode {seconds / decode_s:.0f}x real time")
    for key, value in resample.items():
        print(f"  resample to {key:<22} {value:8.0f}x")
    print(f"{'':22}{'model x':>9}{'vs musicnn':>11}{'file x':>9}{'GFLOP/s':>9}{'of peak':>9}  batch sweep (x)")
    for name in [*models, "mfcc"]:
        f = flops.get(name, {})
        print(f"{name:22}{model_x[name]:9.0f}{model_x[name] / reference if reference else float('nan'):11.2f}"
              f"{file_x.get(name, float('nan')):9.0f}{f.get('achieved_gflops', float('nan')):9.0f}"
              f"{f.get('fraction_of_peak') or float('nan'):9.2f}  "
              + " ".join(f"{b}:{x:.0f}" for b, x in sweep.get(name, {}).items()))
    print(f"{'bfloat16 (mixed)':22}{'fp32 x':>9}{'bf16 x':>9}{'cosine':>9}{'max tag change':>16}")
    for name, row in bfloat16.items():
        change = row["max_tag_change"]
        print(f"{name:22}{row['float32_x']:9.0f}{row['bfloat16_x']:9.0f}{row['embedding_cosine']:9.5f}"
              f"{change if change is not None else float('nan'):16.4f}")
    import keras

    result = {"files": files, "audio_seconds": seconds, "decode_x": seconds / decode_s, "resample_x": resample,
              "model_x": model_x, "model_vs_musicnn_msd": {n: x / reference for n, x in model_x.items()} if reference else None,
              "file_x": file_x, "batch_sweep_x": sweep, "bfloat16": bfloat16, "flops": flops, "peak_gflops": peak / 1e9,
              "flops_per_cycle": args.flops_per_cycle, "rounds": args.rounds,
              "resamplers": {n: m.resampler for n, m in models.items()}, "backend": keras.backend.backend(),
              "load_average": os.getloadavg(), "cpus": len(os.sched_getaffinity(0)),
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
