"""Thesis chapter 5 recipe: disentangled multidimensional music similarity (sections 5.1, 5.2).

Usage:

    python -m training_recipes.thesis.disentangled --model inception-csn-triplet --dataset msd \\
        --root data/msd --bpm data/msd/bpm.csv --out runs/csn-5.1 --cache-dir data/cache
    python -m training_recipes.thesis.disentangled --model inception-csn-track-triplet --dataset msd \\
        --root data/msd --out runs/csn-track --track-weight 0.5 --cache-dir data/cache
    python -m training_recipes.thesis.disentangled --model inception-disentangled-classifier \\
        --manifest songs.jsonl --out runs/multitask
    python -m training_recipes.thesis.disentangled ... --resume     # continue after the last checkpoint
    python -m training_recipes.thesis.disentangled --model ... --manifest <fixture> --tiny --epochs 2

Data, one of:
- `--dataset msd --root DIR`: the layout `training_recipes.thesis.datasets.load_msd` reads
  (train/valid/test.txt, tags.csv, audio/A/B/C/<id>.mp3), top 50 tags; optional `--bpm FILE`,
  a CSV `track_id,bpm` (the thesis estimates tempo with madmom, 5.1.3).
- `--manifest FILE.jsonl`: one JSON object per line, {"path": audio (relative to the file),
  "split": "train" | "valid" | "test", "tags": ["rock", ...] or {"rock": 0.8, ...} (soft
  scores, kept when >= --threshold), optional "bpm": 120.0, optional "id"}.
Tags are grouped into notions by `--notions FILE` (JSON {notion: [tags]}) or, by default, the
50 MSD tags' grouping (disentangled_sampling.MSD_50_NOTIONS: 28 genre, 12 mood, 5
instrument, 5 era); tags in no notion are not used. The "tempo" notion comes from bpm.

Models (zoo registry) and what they train on:
- inception-triplet, inception-csn-triplet: category triplets, one per training track per
  epoch, notion drawn among the anchor's (disentangled_sampling); the CSN model gets the
  notion's index as `condition` (Eq. 5.2-5.4 / 5.7).
- inception-csn-track-triplet: 5-input samples, the anchor shared by a category triplet and
  a track triplet (<= 50% overlap); loss L(t_c) + lambda L(t_t) (Eq. 5.5), `--track-weight`.
- inception-proxy, inception-classifier, inception-disentangled-classifier: one random
  excerpt per training track per epoch, multi-hot targets over the tags of the model's
  notions, binary cross-entropy (Eq. 5.10).
`--section` picks the thesis set-up (default: 5.1 for the first two, 5.2 for the others):
  5.1: notions genre, mood, instrument, tempo; euclidean (Eq. 5.1); Adam 0.01; the rate is
       divided by 5 after 4 epochs without a lower validation loss, up to 5 times, then
       early stopping (5.1.3).
  5.2: notions genre, mood, instrument, era; cosine (Eq. 5.6); Adam 0.005; patience 10,
       otherwise the same (5.2.4). Margin 0.1 and lambda 0.5 in both.
The thesis gives no batch size for chapter 5: --batch-size defaults to 32.
Excerpts are cut at sample offsets of whole decoded tracks (the sampler needs every track's
length): pass --cache-dir on real data, or each excerpt decodes its file again.

Validation: a fixed plan (seeded) of anchors from the valid split (positives and negatives
may come from train), so the plateau rule sees no sampling noise. Test (results.json):
song-level embeddings (the mean over non-overlapping excerpts, 5.1.3), triplet prediction
accuracy per notion on the complete space and on the notion's sub-space (Tables 5.1, 5.5),
multi-label Recall@K (Eq. 5.17) and, for the taggers, macro ROC-AUC (Table 5.3).
Outputs in --out: config.json, train.log, checkpoints/ (every epoch, training_recipes.common
.training), results.json (arguments, per-epoch history of train / validation losses, test
metrics).
"""

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from training_recipes.common.audio_batches import AudioReader, Prefetcher, check_audio, predict_padded, \
    predict_segments
from training_recipes.common.training import (PlateauSchedule, RecipeError, Run, add_run_arguments, cli_main,
                                              epoch_rng, fit, write_json)
from training_recipes.evaluation import metrics
from training_recipes.thesis import datasets
from training_recipes.thesis.disentangled_sampling import MSD_50_NOTIONS, TEMPO, TripletSampler, tag_notions

TRIPLET_MODELS = ("inception-triplet", "inception-csn-triplet", "inception-csn-track-triplet")
TAGGER_MODELS = ("inception-proxy", "inception-classifier", "inception-disentangled-classifier")
SECTIONS = {
    "5.1": {"subspaces": ("genre", "mood", "instrument", "tempo"), "metric": "euclidean", "learning_rate": 0.01,
            "patience": 4},
    "5.2": {"subspaces": ("genre", "mood", "instrument", "era"), "metric": "cosine", "learning_rate": 0.005,
            "patience": 10},
}
RESUME_KEYS = ("model", "dataset", "root", "manifest", "bpm", "notions", "section", "tiny", "batch_size", "seed",
               "learning_rate", "lr_factor", "patience", "max_reductions", "track_weight", "margin", "threshold",
               "skip_missing")


# ------------------------------------------------------------------ data
def _read_bpm(path):
    bpm = {}
    with open(path, encoding="utf-8") as f:
        for line, text in enumerate(f, 1):
            parts = [p.strip() for p in text.split(",")]
            if line == 1 and parts[0] == "track_id" or not parts[0]:
                continue
            try:
                bpm[parts[0]] = float(parts[1])
            except (IndexError, ValueError):
                raise RecipeError(f"{path} line {line}: expected track_id,bpm") from None
    return bpm


def load_manifest(path):
    """JSONL manifest -> (tags, {split: [Track]}, {id: {tag: score}}, {id: bpm})."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: manifest not found")
    splits, scores, bpm, tags = {"train": [], "valid": [], "test": []}, {}, {}, []
    for line, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
            split = datasets.SPLIT_NAMES[str(row.get("split", "train")).lower()]
            values = row.get("tags", [])
            values = {str(t): 1.0 for t in values} if isinstance(values, list) else \
                {str(t): float(v) for t, v in values.items()}
            audio = Path(row["path"])
        except (ValueError, KeyError, AttributeError, TypeError) as error:
            raise RecipeError(f"{path} line {line}: expected {{path, split, tags[, bpm, id]}} ({error})") from None
        track_id = str(row.get("id") or row["path"])
        tags += [t for t in values if t not in tags]
        splits[split].append(datasets.Track(track_id, audio if audio.is_absolute() else path.parent / audio,
                                            sorted(values)))
        scores[track_id] = values
        if row.get("bpm") is not None:
            bpm[track_id] = float(row["bpm"])
    return tags, splits, scores, bpm


def load_data(args):
    if args.manifest:
        return load_manifest(args.manifest)
    try:
        data = datasets.load_msd(args.root)
    except (FileNotFoundError, ValueError) as error:
        raise RecipeError(str(error)) from None
    scores = {t.id: {tag: 1.0 for tag in t.labels} for ts in data.splits.values() for t in ts}
    return list(data.tags), data.splits, scores, _read_bpm(args.bpm) if args.bpm else {}


def label_matrix(tracks, tags, scores):
    return np.array([[scores[t.id].get(tag, 0.0) for tag in tags] for t in tracks], np.float32).reshape(-1, len(tags))


def bpm_vector(tracks, bpm):
    return np.array([bpm.get(t.id, np.nan) for t in tracks], np.float64)


# ------------------------------------------------------------------ model
def build_model(args, classes, class_notions):
    import keras

    import zoo

    entry = zoo.get_model_info(args.model)
    section = SECTIONS[args.section]
    arguments = dict(entry.tiny) if args.tiny else {}
    arguments["subspaces"] = list(section["subspaces"])
    arguments["learning_rate"] = args.learning_rate or section["learning_rate"]
    if args.model in TRIPLET_MODELS:
        arguments["metric"] = section["metric"]
        if args.margin is not None:
            arguments["margin"] = args.margin
        if args.model != "inception-triplet":
            arguments["track_weight"] = args.track_weight
    else:
        arguments["num_classes"] = len(classes)
        if "class_subspaces" in entry.defaults:
            arguments["class_subspaces"] = list(class_notions)
    arguments = zoo.model_arguments(args.model, **arguments)
    keras.utils.set_random_seed(args.seed)
    return zoo.build(args.model, **arguments), arguments


# ------------------------------------------------------------------ recipe
def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m training_recipes.thesis.disentangled",
                                description="Thesis chapter 5 recipe: disentangled music similarity "
                                            "(triplet, CSN, track regularisation, proxy, classification).")
    p.add_argument("--model", required=True, choices=TRIPLET_MODELS + TAGGER_MODELS, help="zoo registry name")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--manifest", help="JSONL manifest: path, split, tags (list or {tag: score}), bpm")
    source.add_argument("--dataset", choices=["msd"], help="with --root: the datasets.load_msd layout")
    p.add_argument("--root", help="dataset folder for --dataset")
    p.add_argument("--bpm", help="CSV track_id,bpm for --dataset msd (the tempo notion)")
    p.add_argument("--notions", help="JSON {notion: [tags]} (default: the 50 MSD tags' grouping)")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--section", choices=sorted(SECTIONS), help="thesis set-up (default: the model's)")
    p.add_argument("--tiny", action="store_true", help="the registry's tiny configuration (smoke tests)")
    p.add_argument("--epochs", type=int, default=1000, help="upper bound; the schedule stops earlier")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--learning-rate", type=float, help="default: the section's (0.01 / 0.005)")
    p.add_argument("--lr-factor", type=float, default=5.0, help="divide the learning rate by this")
    p.add_argument("--patience", type=int, help="epochs without a lower validation loss (4 / 10)")
    p.add_argument("--max-reductions", type=int, default=5, help="then the next plateau stops training")
    p.add_argument("--track-weight", type=float, default=0.5, help="lambda of Eq. 5.5 (track regularisation)")
    p.add_argument("--margin", type=float, help="triplet margin (default 0.1)")
    p.add_argument("--threshold", type=float, default=0.5, help="soft tag scores >= this count as tags")
    p.add_argument("--max-steps", type=int, help="cap on training steps per epoch")
    p.add_argument("--eval-batch-size", type=int, default=32)
    add_run_arguments(p)
    args = p.parse_args(argv)
    if args.dataset and not args.root:
        p.error("--dataset needs --root")
    for name in ("epochs", "batch_size", "eval_batch_size"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    args.section = args.section or ("5.1" if args.model in TRIPLET_MODELS[:2] else "5.2")
    args.patience = args.patience or SECTIONS[args.section]["patience"]
    return args


def _chunks(items, size):
    return [items[i:i + size] for i in range(0, len(items), size)]


def run(args):
    tags, splits, scores, bpm = load_data(args)
    grouping = MSD_50_NOTIONS
    if args.notions:
        try:
            grouping = json.loads(Path(args.notions).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise RecipeError(f"{args.notions}: {error}") from None
    with Run(args.out, dict(vars(args)), resume=args.resume, resume_keys=RESUME_KEYS,
             keep=args.keep_checkpoints) as run_dir:
        log = run_dir.log
        splits = check_audio(splits, args.skip_missing, log)
        train, valid, test = splits["train"], splits["valid"], splits["test"]
        subspaces = list(SECTIONS[args.section]["subspaces"])
        notions = tag_notions(tags, grouping)
        used = [(t, n) for t, n in zip(tags, notions) if n in subspaces]
        unused = [t for t, n in zip(tags, notions) if n not in subspaces]
        if unused:
            log.info("tags in none of the notions %s, not used: %s", subspaces, ", ".join(unused))
        classes, class_notions = [t for t, _ in used], [n for _, n in used]
        tagger = args.model in TAGGER_MODELS
        if len(train) < 2 or not valid or len(test) < 2 or not classes:
            raise RecipeError("need at least 2 training tracks, 1 validation track, 2 test tracks and a tag "
                              f"of the notions {subspaces}")
        model, arguments = build_model(args, classes, class_notions)
        length = int(arguments["num_samples"])
        reader = AudioReader(arguments["sample_rate"], args.cache_dir)
        pool = train + valid
        lengths = [len(reader.load(t.path)) for t in pool]
        log.info("model %s%s (section %s): %s parameters, %d tracks (train / valid / test %d / %d / %d), "
                 "%d tags of %s", args.model, " (tiny)" if args.tiny else "", args.section,
                 f"{model.count_params():,}", len(pool) + len(test), len(train), len(valid), len(test), len(classes),
                 subspaces)
        labels = label_matrix(pool, classes, scores)
        sampler = TripletSampler(labels, class_notions, lengths, length, bpm=bpm_vector(pool, bpm),
                                 notions=subspaces, threshold=args.threshold)
        for notion in subspaces:
            if not sampler.eligible[notion][:len(train)].any():
                log.warning("notion %s: no training track can anchor a triplet%s", notion,
                            " (no bpm given?)" if notion == TEMPO else "")
        input_names = [t.name for t in model.inputs]
        kind = "regularized" if args.model == "inception-csn-track-triplet" else "category"

        def excerpt(e):
            audio = reader.load(pool[e.track].path)[e.start:e.start + length]
            return np.pad(reader.as_float(audio), (0, length - len(audio)))

        def inputs(samples):
            if tagger:
                return np.stack([excerpt(e) for e in samples]), (labels[[e.track for e in samples]] >= args.threshold
                                                                 ).astype(np.float32)
            triplets = [s.category if kind == "regularized" else s for s in samples]
            x = {"anchor": [t.anchor for t in triplets], "positive": [t.positive for t in triplets],
                 "negative": [t.negative for t in triplets]}
            if kind == "regularized":
                x.update(track_positive=[s.track_positive for s in samples],
                         track_negative=[s.track_negative for s in samples])
            x = {k: np.stack([excerpt(e) for e in v]) for k, v in x.items()}
            if "condition" in input_names:
                x["condition"] = np.array([subspaces.index(t.notion) for t in triplets], np.int32)
            return x, np.zeros((len(samples), int(model.output.shape[-1])), np.float32)

        def plan(rng, anchors):
            if tagger:
                return [sampler.crop(rng, int(i)) for i in np.asarray(anchors)[rng.permutation(len(anchors))]]
            return sampler.plan(rng, kind, anchors)

        batch = min(args.batch_size, len(train))
        valid_plan = plan(epoch_rng(args.seed, 0), np.arange(len(train), len(pool)))
        steps = max(1, len(plan(epoch_rng(args.seed, 0, stream=3), np.arange(len(train)))) // batch)
        if not valid_plan:
            raise RecipeError("the validation split gives no sample (no valid track shares a notion with others)")

        def batches(epoch):
            items = plan(epoch_rng(args.seed, epoch), np.arange(len(train)))[:steps * batch]
            return Prefetcher(inputs(chunk) for chunk in _chunks(items, batch))

        def validate():
            losses = []
            for chunk in _chunks(valid_plan, args.eval_batch_size):
                x, y = inputs(chunk)
                predicted = predict_padded(model, x, args.eval_batch_size)
                losses.append(float(np.asarray(model.loss(y, predicted))) * len(chunk))
            return {"loss": sum(losses) / len(valid_plan)}

        schedule = PlateauSchedule(arguments["learning_rate"], args.lr_factor, args.patience, args.max_reductions)
        state = fit(model, run_dir, epochs=args.epochs, steps_per_epoch=steps, batches=batches, validate=validate,
                    schedule=schedule, max_steps=args.max_steps)
        test_results = evaluate(model, reader, test, classes, class_notions, scores, bpm, subspaces, arguments, args)
        results = {
            "recipe": "training_recipes.thesis.disentangled", "thesis": f"section {args.section}",
            "model": args.model, "tiny": args.tiny, "arguments": arguments, "classes": classes,
            "class_notions": class_notions, "split": "test", **test_results, "best_epoch": state["best_epoch"],
            "best_val_loss": schedule.best, "epochs_trained": state["epoch"],
            "stopped_by_schedule": state["stopped_by_schedule"], "history": state["history"],
            "counts": {"train": len(train), "valid": len(valid), "test": len(test)},
        }
        write_json(Path(args.out) / "results.json", results)
        log.info("test: %s -> %s", json.dumps({k: test_results[k] for k in ("triplet_accuracy", "recall_at_k")}),
                 Path(args.out) / "results.json")
        return results


def evaluate(model, reader, test, classes, class_notions, scores, bpm, subspaces, arguments, args):
    """Song-level test metrics: triplet prediction per notion (complete space and sub-space),
    Recall@K (Eq. 5.17) and, for taggers, macro ROC-AUC of the averaged tag scores."""
    from zoo.layers import subspace_layout

    length, size = int(arguments["num_samples"]), int(arguments["embedding_size"])
    embedder = model.get_layer("embedder")
    songs = np.stack([f.mean(0) for f in predict_segments(embedder, reader, test, length, args.eval_batch_size)])
    labels = label_matrix(test, classes, scores)
    sampler = TripletSampler(labels, class_notions, [length] * len(test), length, bpm=bpm_vector(test, bpm),
                             notions=subspaces, threshold=args.threshold)
    metric = SECTIONS[args.section]["metric"]
    layout = subspace_layout(subspaces, size)
    accuracy = {}
    rng = epoch_rng(args.seed, 0, stream=1)
    for notion in subspaces:  # every test track that can anchor one, once per notion
        triplets = [sampler.category_triplet(rng, int(i), notion) for i in np.flatnonzero(sampler.eligible[notion])]
        if not triplets:
            accuracy[notion] = None
            continue
        a, p, n = (songs[[getattr(t, k).track for t in triplets]] for k in ("anchor", "positive", "negative"))
        part = slice(*layout[notion])
        accuracy[notion] = {"triplets": len(triplets),
                            "complete": metrics.triplet_accuracy(a, p, n, metric),
                            "subspace": metrics.triplet_accuracy(a[:, part], p[:, part], n[:, part], metric)}
    binary = labels >= args.threshold
    try:
        recall = metrics.recall_at_k(songs, binary, ks=[k for k in (1, 2, 4, 8) if k < len(test)])
    except ValueError:
        recall = None
    results = {"triplet_accuracy": accuracy, "recall_at_k": recall, "metric": metric}
    if args.model in TAGGER_MODELS:
        predicted = np.stack([p.mean(0) for p in predict_segments(model, reader, test, length, args.eval_batch_size)])
        try:
            results["roc_auc_macro"] = metrics.roc_auc_macro(binary.astype(int), predicted)
        except ValueError:
            results["roc_auc_macro"] = None
    return results


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return cli_main(run, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
