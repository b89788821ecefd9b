"""Throughput of one samplecnn-msd training step, per backend and precision.

    python -m benchmarks.train_step [--steps 8] [--batch 24]

Each configuration runs in its own process (the backend is fixed at import), on the same
random batch shape as the recipe (24 crops of 59,049 samples, tags + embedding losses).
Prints examples/s and the ratio to the first configuration measured in the same run, the
recipe's default (JAX, float32). The machine's other load affects every row alike only if
nothing else runs meanwhile: run it on an idle machine.
"""

import argparse
import json
import os
import subprocess
import sys

CONFIGS = [("jax", "float32"), ("tensorflow", "float32"), ("tensorflow", "mixed_bfloat16"),
           ("torch", "float32"), ("jax", "mixed_bfloat16")]


def measure(steps, batch, policy):
    """Seconds per step after two warm-up steps (compilation), in this process's backend."""
    import time

    import keras
    import numpy as np

    from training_recipes.samplecnn_msd.prepare import STUDENT_SAMPLES
    from training_recipes.samplecnn_msd.losses import embedding_loss, tag_loss
    from training_recipes.samplecnn_msd.train import build_student

    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(0)
    _, train_model = build_student()
    train_model.compile(optimizer=keras.optimizers.Adam(3e-4),
                        loss={"tags": tag_loss("logit-mse"), "embedding": embedding_loss()},
                        loss_weights={"tags": 0.5, "embedding": 1.0})
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((batch, STUDENT_SAMPLES))).astype("float32")
    y = {"tags": rng.uniform(0, 1, (batch, 50)).astype("float32"),
         "embedding": np.concatenate([rng.standard_normal((batch, 256)),
                                      np.repeat(np.arange(batch // 4), 4)[:, None]], 1).astype("float32")}
    for _ in range(2):
        train_model.train_on_batch(x, y)
    began = time.perf_counter()
    for _ in range(steps):
        logs = train_model.train_on_batch(x, y, return_dict=True)
    seconds = (time.perf_counter() - began) / steps
    return {"seconds_per_step": seconds, "loss": float(logs["loss"])}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.train_step", description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch", type=int, default=24)
    parser.add_argument("--configs", default=",".join(f"{b}:{p}" for b, p in CONFIGS),
                        help="comma-separated backend:policy pairs; the first is the reference")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one config, print JSON
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.steps, args.batch, args.one)))
        return 0
    reference = None
    print(f"{'backend':12s} {'policy':16s} {'s/step':>8s} {'examples/s':>10s} {'vs first':>8s}")
    for pair in args.configs.split(","):
        backend, policy = pair.split(":")
        env = {**os.environ, "KERAS_BACKEND": backend}
        run = subprocess.run([sys.executable, "-m", "benchmarks.train_step", "--one", policy,
                              "--steps", str(args.steps), "--batch", str(args.batch)],
                             env=env, capture_output=True, text=True)
        if run.returncode != 0:
            print(f"{backend:12s} {policy:16s} failed: {run.stderr.strip().splitlines()[-1:]}")
            continue
        result = json.loads(run.stdout.strip().splitlines()[-1])
        reference = reference or result["seconds_per_step"]
        print(f"{backend:12s} {policy:16s} {result['seconds_per_step']:8.2f} "
              f"{args.batch / result['seconds_per_step']:10.1f} {reference / result['seconds_per_step']:7.2f}x",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
