"""Thesis recipe: SampleCNN music auto-tagging on MagnaTagATune or the Million Song Dataset.

Usage:

    python -m training_recipes.thesis.samplecnn_tagging --dataset mtat --root data/mtat --out runs/samplecnn-mtat \\
        --cache-dir data/cache
    python -m training_recipes.thesis.samplecnn_tagging --dataset msd --root data/msd --out runs/samplecnn-msd \\
        --cache-dir data/cache
    python -m training_recipes.thesis.samplecnn_tagging ... --resume          # continue after the last checkpoint
    python -m training_recipes.thesis.samplecnn_tagging --dataset mtat --root <fixture> --out runs/smoke \\
        --tiny --epochs 2 --batch-size 2       # the registry's tiny model: seconds, for CI

`--root` is the dataset folder in the layout `training_recipes.thesis.datasets` reads (load_mtat:
annotations_final.csv + mp3/; load_msd: train/valid/test.txt, tags.csv, audio/A/B/C/<id>.mp3).
Options: --model (any tagger in the zoo registry, default samplecnn = 3^9-SampleCNN;
samplecnn-16k etc. decode at their own sample rate), --epochs (default 1000: the schedule
stops training first), --batch-size, --learning-rate, --dropout, --top-n, --max-steps (per
epoch), --seed, --cache-dir (decoded audio as 16-bit .npy, strongly advised for real
datasets), --skip-missing (leave out tracks whose audio is missing or empty), --resume,
--keep-checkpoints.

The thesis set-up (section 3.1.5, "Training Details" and "Datasets"):
- 50 most frequent tags, sigmoid outputs, binary cross-entropy; batch norm + ReLU after every
  convolution; dropout 0.5 on the last convolution's output (the zoo model's defaults).
- SGD with 0.9 Nesterov momentum; learning rate 0.01, divided by 5 when the validation loss
  did not decrease for 3 epochs, 4 times in all (last rate 0.000016); the next plateau stops.
- Batch size 23 for MTAT, 50 for MSD.
- Segment-level training: each epoch visits every training song once, as one random crop of
  the model's input length (59,049 samples = 2.68 s at 22,050 Hz for 3^9-SampleCNN).
- Song-level evaluation: non-overlapping segments over the whole clip, predictions averaged
  (zoo.aggregation; section 3.2.3); macro ROC-AUC and PR-AUC over tags on the test split.
The validation loss is the segment-level binary cross-entropy over every segment of every
validation song (deterministic, so the plateau rule sees no sampling noise).

Outputs in --out: config.json, train.log, checkpoints/ (every epoch; see
training_recipes.common.training), results.json (test ROC-AUC / PR-AUC macro and per tag,
history, best epoch), preset/ (the best-validation model as an SDK preset:
`sdk.load("<out>/preset")`).
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from training_recipes.evaluation import metrics
from training_recipes.thesis import datasets
from training_recipes.common.audio_batches import AudioReader, Prefetcher, check_audio, predict_segments
from training_recipes.common.training import (PlateauSchedule, RecipeError, Run, add_run_arguments, cli_main,
                                              epoch_rng, fit, write_json)

LOADERS = {"mtat": datasets.load_mtat, "msd": datasets.load_msd}
DATASET_NAMES = {"mtat": "MagnaTagATune", "msd": "Million Song Dataset (Last.fm tags)"}
BATCH_SIZE = {"mtat": 23, "msd": 50}  # thesis section 3.1.5
# Arguments a resumed run must share with the run it continues.
RESUME_KEYS = ("dataset", "root", "model", "tiny", "batch_size", "top_n", "seed", "dropout", "learning_rate",
               "lr_factor", "patience", "max_reductions", "skip_missing")


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m training_recipes.thesis.samplecnn_tagging",
                                description="Thesis chapter 3 recipe: SampleCNN auto-tagging on MTAT or MSD.")
    p.add_argument("--dataset", required=True, choices=sorted(LOADERS))
    p.add_argument("--root", required=True, help="dataset folder (training_recipes.thesis.datasets layout)")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--model", default="samplecnn", help="zoo registry name of a tagger (default samplecnn)")
    p.add_argument("--tiny", action="store_true", help="the registry's tiny configuration (smoke tests)")
    p.add_argument("--epochs", type=int, default=1000, help="upper bound; the schedule stops earlier")
    p.add_argument("--batch-size", type=int, help="default 23 (mtat) / 50 (msd), thesis section 3.1.5")
    p.add_argument("--learning-rate", type=float, default=0.01)
    p.add_argument("--lr-factor", type=float, default=5.0, help="divide the learning rate by this")
    p.add_argument("--patience", type=int, default=3, help="epochs without a lower validation loss")
    p.add_argument("--max-reductions", type=int, default=4, help="then the next plateau stops")
    p.add_argument("--dropout", type=float, help="default: the model's (0.5; the tiny config's 0)")
    p.add_argument("--top-n", type=int, default=50, help="most frequent tags kept")
    p.add_argument("--max-steps", type=int, help="cap on training steps per epoch")
    p.add_argument("--eval-batch-size", type=int, default=64, help="segments per prediction batch")
    add_run_arguments(p)
    args = p.parse_args(argv)
    if args.batch_size is None:
        args.batch_size = BATCH_SIZE[args.dataset]
    for name in ("epochs", "batch_size", "eval_batch_size", "top_n"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def load_dataset(args):
    root = Path(args.root)
    if not root.is_dir():
        raise RecipeError(f"{root}: dataset folder not found")
    try:
        data = LOADERS[args.dataset](root, top_n=args.top_n)
    except (FileNotFoundError, ValueError) as error:
        raise RecipeError(str(error)) from None
    for split in ("train", "valid", "test"):
        if not data.splits.get(split):
            raise RecipeError(f"{root}: the {split} split has no tagged track")
    return data


def multi_hot(tracks, tags):
    index = {t: i for i, t in enumerate(tags)}
    y = np.zeros((len(tracks), len(tags)), np.float32)
    for row, track in enumerate(tracks):
        y[row, [index[t] for t in track.labels]] = 1.0
    return y


def build_model(args, num_tags):
    """The registry model (tiny on request) with `num_tags` outputs, compiled for the recipe."""
    import keras

    import zoo
    from zoo.samplecnn import thesis_sgd

    try:
        entry = zoo.get_model_info(args.model)
    except KeyError as error:
        raise RecipeError(error.args[0]) from None
    if "num_tags" not in entry.defaults:
        raise RecipeError(f"--model {args.model}: not a tagger (it has no num_tags argument)")
    arguments = {**(entry.tiny if args.tiny else {}), "num_tags": num_tags}
    if args.dropout is not None:
        arguments["dropout"] = args.dropout
    arguments = zoo.model_arguments(args.model, **arguments)
    keras.utils.set_random_seed(args.seed)
    model = zoo.build(args.model, **arguments)
    if len(model.inputs) != 1 or model.inputs[0].shape[1] is None:
        raise RecipeError(f"--model {args.model}: needs one fixed-length waveform input")
    model.compile(optimizer=thesis_sgd(args.learning_rate), loss="binary_crossentropy")
    return model, arguments


def binary_crossentropy(y, p, epsilon=1e-7):
    """Mean over tags, per row (Keras's clipping)."""
    p = np.clip(p, epsilon, 1 - epsilon)
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p), axis=-1)


def song_scores(predictions):
    from zoo.aggregation import pool

    return np.stack([pool(p, "mean") for p in predictions])


def _macro(fn, y, scores):
    try:
        return fn(y, scores, return_details=True)
    except ValueError:  # no tag with both positive and negative songs
        return None


def run(args):
    data = load_dataset(args)
    config = {k: v for k, v in vars(args).items()}
    with Run(args.out, config, resume=args.resume, resume_keys=RESUME_KEYS,
             keep=args.keep_checkpoints) as run_dir:
        log = run_dir.log
        splits = check_audio(data.splits, args.skip_missing, log)
        train, valid, test = splits["train"], splits["valid"], splits["test"]
        if not (train and valid and test):
            raise RecipeError(f"{args.root}: a split is empty once tracks without audio are left out")
        log.info("%s: %d tags, %d / %d / %d songs (train / valid / test)", args.dataset, len(data.tags),
                 len(train), len(valid), len(test))
        model, arguments = build_model(args, len(data.tags))
        length = int(model.inputs[0].shape[1])
        sample_rate = int(arguments.get("sample_rate", 22050))
        reader = AudioReader(sample_rate, args.cache_dir)
        log.info("model %s%s: %s parameters, %d samples (%.2f s) at %d Hz, batch %d", args.model,
                 " (tiny)" if args.tiny else "", f"{model.count_params():,}", length, length / sample_rate,
                 sample_rate, args.batch_size)
        y_train, y_valid, y_test = (multi_hot(s, data.tags) for s in (train, valid, test))
        batch = min(args.batch_size, len(train))
        steps = max(1, len(train) // batch)

        def batches(epoch):
            rng = epoch_rng(args.seed, epoch)
            order, positions = rng.permutation(len(train)), rng.random(len(train))

            def generate():
                for s in range(steps):
                    picked = order[s * batch:(s + 1) * batch]
                    x = np.stack([reader.crop(train[i].path, length, positions[i]) for i in picked])
                    yield x, y_train[picked]

            return Prefetcher(generate())

        def validate():
            predictions = predict_segments(model, reader, valid, length, args.eval_batch_size)
            losses = np.concatenate([binary_crossentropy(y, p) for y, p in zip(y_valid, predictions)])
            auc = _macro(metrics.roc_auc_macro, y_valid, song_scores(predictions))
            return {"loss": float(losses.mean()), "roc_auc": None if auc is None else auc["macro"]}

        schedule = PlateauSchedule(args.learning_rate, args.lr_factor, args.patience, args.max_reductions)
        state = fit(model, run_dir, epochs=args.epochs, steps_per_epoch=steps, batches=batches,
                    validate=validate, schedule=schedule, max_steps=args.max_steps)

        log.info("evaluating on %d test songs", len(test))
        scores = song_scores(predict_segments(model, reader, test, length, args.eval_batch_size))
        roc, pr = _macro(metrics.roc_auc_macro, y_test, scores), _macro(metrics.pr_auc_macro, y_test, scores)
        if roc is None:
            raise RecipeError(f"{args.root}: no tag has both positive and negative test songs")
        results = {
            "recipe": "training_recipes.thesis.samplecnn_tagging", "thesis": "chapter 3, section 3.1.5",
            "dataset": args.dataset, "model": args.model, "tiny": args.tiny, "arguments": arguments,
            "split": "test", "num_songs": len(test), "roc_auc_macro": roc["macro"], "pr_auc_macro": pr["macro"],
            "tags_used": roc["n_used"], "tags_skipped": [data.tags[i] for i in roc["skipped"]],
            "per_tag": {tag: {"roc_auc": roc["per_tag"][i], "pr_auc": pr["per_tag"][i]}
                        for i, tag in enumerate(data.tags)},
            "best_epoch": state["best_epoch"], "best_val_loss": schedule.best, "epochs_trained": state["epoch"],
            "stopped_by_schedule": state["stopped_by_schedule"], "history": state["history"],
            "counts": {"train": len(train), "valid": len(valid), "test": len(test)}, "tags": data.tags,
        }
        write_json(Path(args.out) / "results.json", results)
        save_tagger_preset(model, Path(args.out) / "preset", args, arguments, data.tags, sample_rate, length,
                           results)
        log.info("test ROC-AUC %.4f, PR-AUC %.4f (%d tags) -> %s", roc["macro"], pr["macro"], roc["n_used"],
                 Path(args.out) / "results.json")
        return results


def save_tagger_preset(model, directory, args, arguments, tags, sample_rate, length, results):
    """The best-validation model as an SDK preset (sdk.preset format)."""
    import keras

    from sdk.preset import frontend_config, save_preset

    frontend = model.get_layer("frontend")
    size = int(model.get_layer("backbone").output.shape[-1])
    preprocessor = {"sample_rate": sample_rate,
                    "frontend_class": keras.saving.get_registered_name(type(frontend)),
                    "frontend": frontend_config(frontend),
                    "segment": {"length": length, "hop": length, "unit": "samples", "remainder": "drop",
                                "pad": "zeros"},
                    "aggregation": "mean", "segment_pooling": "max"}
    metadata = {
        "preset": f"{args.model}-{args.dataset}", "registry_name": args.model, "embedding_size": size,
        "subspaces": {"all": [0, size]}, "tags": list(tags),
        "outputs": [{"name": "embedding", "purpose": "embeddings", "size": size},
                    {"name": "tags", "purpose": "predictions", "size": len(tags),
                     "activation": "sigmoid"}],
        "aggregation": "mean",
        "datasets": [{"name": DATASET_NAMES[args.dataset], "use": "training, validation and test"}],
        "license": None,
        "provenance": (f"Trained by training_recipes.thesis.samplecnn_tagging (thesis section 3.1.5 recipe) on "
                       f"{DATASET_NAMES[args.dataset]}, best validation epoch {results['best_epoch']}; "
                       f"test ROC-AUC {results['roc_auc_macro']:.4f}, PR-AUC {results['pr_auc_macro']:.4f}. "
                       f"The weights' terms follow the training audio's."),
    }
    return save_preset(model, directory, name=args.model, arguments=arguments, preprocessor=preprocessor,
                       metadata=metadata)


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return cli_main(run, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
