"""Training throughput of every zoo architecture, and Table 3.5 in small, in one run.

    python -m benchmarks.train_throughput [--batch 8] [--steps 4] [--rounds 2]
        [--models all] [--json results/train-throughput.json]

Per architecture (thesis defaults, `zoo.build(name)`, compiled with its own loss and optimizer):
seconds per training step on a random batch of `--batch` examples after two warm-up steps (the
compilation), the median over `--rounds` rounds interleaved across the models so the machine's
load hits all alike; examples/s, and seconds of audio per second where the input is a waveform.
Ratios are against `musicnn`, the mel-spectrogram peer, measured in the same run.

Table 3.5 (thesis section 3.1.4): the same for the SampleCNNs of Table 3.3 at each sample rate
(each example one segment, ~2.6 s of audio at its rate), as the ratio of the training step time
to the 22,050 Hz model's, printed next to the thesis's ratios (measured there on a GPU, where the
8 kHz model trained in 0.55 of the time).
The last line printed is the JSON written to --json.
"""

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

# Table 3.5: sampling rate -> training time ratio to 22,050 Hz, as the thesis reports it.
THESIS_TABLE_3_5 = {2000: 0.23, 4000: 0.41, 8000: 0.55, 12000: 0.69, 16000: 0.79, 20000: 0.86, 22050: 1.00}
RATE_MODELS = {2000: "samplecnn-2k", 4000: "samplecnn-4k", 8000: "samplecnn-8k", 12000: "samplecnn-12k",
               16000: "samplecnn-16k", 20000: "samplecnn-20k", 22050: "samplecnn"}
PEER = "musicnn"


def random_batch(model, batch, rng):
    """(inputs, targets): noise for float inputs, small indexes for integer ones; targets of the
    kind each output's loss expects (one-hot, binary, or zeros for hinge losses on scores)."""
    from zoo.losses import MarginHingeLoss

    inputs = {}
    for tensor in model.inputs:
        shape = (batch, *tensor.shape[1:])
        inputs[tensor.name] = (rng.integers(0, 2, size=shape).astype("int32") if "int" in str(tensor.dtype)
                               else (0.1 * rng.standard_normal(shape)).astype("float32"))
    losses = model.loss if isinstance(model.loss, (list, tuple, dict)) else [model.loss]
    if isinstance(losses, dict):
        losses = [losses[name] for name in model.output_names]
    targets = []
    for loss, out in zip(losses, model.outputs):
        shape = (batch, *out.shape[1:])
        name = loss if isinstance(loss, str) else getattr(loss, "name", type(loss).__name__)
        if isinstance(loss, MarginHingeLoss):
            targets.append(np.zeros(shape, "float32"))
        elif "categorical" in str(name):
            target = np.zeros(shape, "float32")
            target[np.arange(batch), rng.integers(0, shape[-1], batch)] = 1.0
            targets.append(target)
        else:
            targets.append(rng.integers(0, 2, size=shape).astype("float32"))
    x = inputs if len(inputs) > 1 else next(iter(inputs.values()))
    return x, (targets if len(targets) > 1 else targets[0])


def audio_seconds(name, model):
    """Seconds of audio one example holds, when the model's input is a waveform at a known rate."""
    import zoo

    arguments = zoo.get_model_info(name).defaults
    rate = arguments.get("sample_rate")
    first = model.inputs[0]
    if rate is None or len(first.shape) != 2 or "int" in str(first.dtype):
        return None
    return int(first.shape[1]) / rate


class Bench:
    def __init__(self, name, batch, seed=0):
        import zoo

        self.name = name
        self.model = zoo.build(name)
        self.x, self.y = random_batch(self.model, batch, np.random.default_rng(seed))
        self.audio = audio_seconds(name, self.model)
        for _ in range(2):  # compile
            self.model.train_on_batch(self.x, self.y)
        self.times = []

    def round(self, steps):
        began = time.perf_counter()
        for _ in range(steps):
            self.model.train_on_batch(self.x, self.y)
        self.times.append((time.perf_counter() - began) / steps)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.train_throughput", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--models", default="all", help="comma-separated zoo names, or all")
    parser.add_argument("--json", type=Path, default=Path("results/train-throughput.json"))
    args = parser.parse_args(argv)

    import keras
    from tqdm import tqdm

    import zoo

    keras_models = [n for n in zoo.list_models() if zoo.get_model_info(n).kind == "keras"]
    names = keras_models if args.models == "all" else args.models.split(",")
    names = list(dict.fromkeys([*names, PEER, *RATE_MODELS.values()]))
    benches = [Bench(name, args.batch) for name in tqdm(names, desc="build and compile", unit="model")]
    for _ in tqdm(range(args.rounds), desc="rounds"):
        for bench in benches:
            bench.round(args.steps)
    step = {b.name: float(np.median(b.times)) for b in benches}
    rows = {}
    print(f"{'model':36s} {'s/step':>8s} {'examples/s':>10s} {'audio x':>8s} {'vs ' + PEER:>10s}")
    for bench in benches:
        seconds = step[bench.name]
        row = {"seconds_per_step": seconds, "examples_per_second": args.batch / seconds,
               "audio_x": args.batch * bench.audio / seconds if bench.audio else None,
               "speed_vs_peer": step[PEER] / seconds, "parameters": int(bench.model.count_params())}
        rows[bench.name] = row
        audio = f"{row['audio_x']:8.1f}" if row["audio_x"] else f"{'-':>8s}"
        print(f"{bench.name:36s} {seconds:8.3f} {row['examples_per_second']:10.1f} {audio} "
              f"{row['speed_vs_peer']:9.2f}x")
    table = {rate: {"model": name, "ratio": step[name] / step["samplecnn"], "thesis_ratio": THESIS_TABLE_3_5[rate]}
             for rate, name in RATE_MODELS.items()}
    print("\nTable 3.5 in small: training step time, ratio to 22,050 Hz")
    print(f"{'sample rate':>12s} {'here':>6s} {'thesis':>7s}")
    for rate, row in table.items():
        print(f"{rate:12,d} {row['ratio']:6.2f} {row['thesis_ratio']:7.2f}")
    result = {"batch": args.batch, "steps": args.steps, "rounds": args.rounds, "peer": PEER, "models": rows,
              "table_3_5": {str(k): v for k, v in table.items()}, "backend": keras.backend.backend(),
              "load_average": list(os.getloadavg()), "cpus": os.cpu_count(),
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
