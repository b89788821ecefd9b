"""Where the swing of a run's validation figures comes from: scores one set of student weights
on the validation soundtracks as `train` does, with more windows per track, and after
re-estimating the batch-norm statistics over many training batches.

    python -m research.samplecnn_msd.check_noise --weights sdk/bundled/samplecnn-msd \
        --validation "Soundtrack A,Soundtrack B" [--batches 100] [--out results/noise.json]

If neither more windows nor fresh statistics move the figures much, the swing between
evaluations minutes apart is the weights themselves moving, which weight averaging
(`train --ema-decay`) addresses.
"""

import argparse
import json
import sys
from pathlib import Path

import keras

from training_recipes.samplecnn_msd import cache_data, train


def reestimate_batch_norm(model, train_model, sampler, batches):
    """Replace every batch-norm layer's moving statistics by their plain average over
    `batches` training batches (forward passes in training mode; no weight changes)."""
    norms = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in norms]
    for i in range(batches):
        for layer in norms:  # moving = moving * m + batch * (1 - m) with m = i / (i + 1): a running mean
            layer.momentum = i / (i + 1)
        x, _ = sampler.batch()
        train_model(x, training=True)
    for layer, momentum in zip(norms, momenta):
        layer.momentum = momentum
    return len(norms)


def check(args):
    cache = cache_data.load_cache(args.cache)
    train_ids, val_ids = train.split_tracks(cache, train.comma_list(args.validation), args.corpus)
    model, train_model = train.build_student()
    weights = Path(args.weights)
    model.load_weights(weights / "model.weights.h5" if weights.is_dir() else weights)
    report = {"weights": str(weights), "batches": args.batches, "rows": []}

    def score(name):
        for per_track in (6, 16):
            items = cache_data.validation_windows(cache, val_ids, per_track)
            row = {"weights": name, "windows_per_track": per_track, **train.evaluate(train_model, cache, items)}
            report["rows"].append(row)
            print(f"{name:32s} {per_track:2d} windows/track: tag AUC {row['tag_roc_auc_vs_teacher']:.3f}, "
                  f"MAP {row['soundtrack_map']:.3f}", flush=True)

    score("as saved")
    sampler = cache_data.Sampler(cache, train_ids, seed=args.seed)
    count = reestimate_batch_norm(model, train_model, sampler, args.batches)
    score(f"re-estimated batch norm ({count} layers)")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1))
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m research.samplecnn_msd.check_noise",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", required=True, help="a preset directory or a .weights.h5 file")
    train.add_data_arguments(parser)
    parser.add_argument("--batches", type=int, default=100, help="training batches for the statistics")
    parser.add_argument("--seed", type=int, default=123)
    parser.add_argument("--out", default=None, help="also write the figures as JSON here")
    check(parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
