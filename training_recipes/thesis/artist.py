"""Thesis recipes: artist-label models of section 4.1, basic (softmax over artists) and Siamese.

Usage:

    python -m training_recipes.thesis.artist --variant siamese --root data/msd-artist --out runs/artist-siamese \\
        --cache-dir data/cache
    python -m training_recipes.thesis.artist --variant basic --root data/msd-artist --out runs/artist-basic \\
        --cache-dir data/cache
    python -m training_recipes.thesis.artist ... --resume            # continue after the last checkpoint
    python -m training_recipes.thesis.artist --variant siamese --root <fixture> --out runs/smoke --tiny \\
        --epochs 2 --batch-size 3       # the registry's tiny model: seconds, for CI

Layout of --root (artist split of the MSD, as jiyoungpark527/msd-artist-split defines it):
    artist_split.csv   header `track_id,artist_id,split[,path]`; split train / valid / test;
                       `path` (optional) is the audio file relative to --root, otherwise the
                       MSD layout audio/<id[2]>/<id[3]>/<id[4]>/<track_id>.mp3 is used.
`artist_split_rows(entries, num_artists)` turns the published list's "TRACKID/artist/song"
entries (20 songs per artist) into these rows: songs 1-15 train, 16-18 valid, 19-20 test
(train_size=17 for the 10,000-artist set), as the thesis (section 4.1.3) splits them.

The thesis set-up (section 4.1.2-4.1.3):
- One mel 1-D CNN (zoo `artist-basic` / `artist-siamese`): 128-band log-mel of 3 s at
  22,050 Hz, FFT 1024, hop 512 = 129 frames (65,536 samples); dropout 0.5 on the last
  activation; 256-d feature.
- basic: softmax over the training artists, categorical cross-entropy, learning rate 0.015.
- siamese: an anchor song, a positive (another song of the same artist) and N = 4 negatives
  (songs of other artists, drawn at random every time); cosine relevance (Eq. 4.1) and
  max-margin hinge (Eq. 4.2, margin 0.4); learning rate 0.1.
- Each example is a random 3-s crop of its song; SGD with 0.9 Nesterov momentum and 1e-6
  learning-rate decay per step (Keras 2's lr / (1 + 1e-6 * step)); the rate is reduced when
  the validation loss stops decreasing. The thesis gives neither factor nor patience for
  section 4.1: we use chapter 3's rule (divide by 5 after 3 stalled epochs, 4 times, then
  stop), whose factor is also the authors' code's (ReduceLROnPlateau factor 0.2,
  min_lr 0.000016). Batch size 15 and the sampling above follow that code
  (jongpillee/ismir2018-artist, train.py / data_generator.py).
- Validation: fixed crops (and, for siamese, fixed positives and negatives from the valid
  split; an artist with a single valid song takes its positive from train), so the plateau
  rule sees no sampling noise.
- Test (results.json): song-level features = mean of the 256-d features of non-overlapping
  3-s segments (section 4.1.4). `map_artist`: leave-one-out MAP over the test songs with the
  artist as relevance (Eq. 4.3-4.4; above --map-songs, default 4,000, over the songs of
  randomly drawn artists, since it ranks all pairs); `holdout_accuracy`: section 4.2.3's hold-out positive and
  negative prediction (anchor from test, positive of the same artist from valid, N negatives
  from test; chance 1 / (N + 1)); basic also `artist_accuracy` (song-level softmax).
The hinge loss is summed over the batch, as the authors' code does (`K.sum` in its train.py;
the zoo's `loss_reduction="sum"`); `--loss-reduction sum_over_batch_size` averages it instead,
which with SGD divides the step by the batch size. The basic model's cross-entropy is averaged,
as Keras's built-in loss was in that code. Logged and recorded losses are per example either way
(training: the batch loss divided by the batch size when summed), so they compare across
reductions and batch sizes.

Options: --epochs (default 1000), --batch-size (15), --learning-rate, --lr-decay, --negatives,
--margin, --loss-reduction, --dropout, --max-steps (per epoch), --map-songs, --seed, --cache-dir,
--skip-missing, --resume, --keep-checkpoints, --split-file. Outputs in --out: config.json, train.log, checkpoints/,
results.json, preset/ (the best-validation model as an SDK preset, `sdk.load("<out>/preset")`).
"""

import argparse
import csv
import os
import sys
from pathlib import Path

import numpy as np

from training_recipes.evaluation import metrics
from training_recipes.thesis import datasets
from training_recipes.common.audio_batches import (AudioReader, Prefetcher, check_audio, predict_padded,
                                                    predict_segments)
from training_recipes.common.training import (PlateauSchedule, RecipeError, Run, add_run_arguments, cli_main,
                                              epoch_rng, fit, write_json)

MODELS = {"basic": "artist-basic", "siamese": "artist-siamese"}
SPLIT_FILE = "artist_split.csv"
RESUME_KEYS = ("variant", "root", "split_file", "tiny", "batch_size", "seed", "dropout", "learning_rate",
               "lr_decay", "lr_factor", "patience", "max_reductions", "negatives", "margin", "skip_missing",
               "loss_reduction")


# ------------------------------------------------------------------ data
def load_artist_split(root, split_file=SPLIT_FILE):
    """<root>/<split_file> -> datasets.Dataset (tags = training artists, Track.labels = [artist])."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: dataset folder not found")
    path = root / split_file
    if not path.is_file():
        raise FileNotFoundError(f"{path}: artist split file not found")
    splits = {"train": [], "valid": [], "test": []}
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        if not {"track_id", "artist_id", "split"} <= set(reader.fieldnames or []):
            raise ValueError(f"{path}: header must contain track_id,artist_id,split")
        for line, row in enumerate(reader, 2):
            tid, artist = (row.get("track_id") or "").strip(), (row.get("artist_id") or "").strip()
            split = datasets.SPLIT_NAMES.get((row.get("split") or "").strip().lower())
            if not tid or not artist or split is None:
                raise ValueError(f"{path} line {line}: expected a track id, an artist id and a split "
                                 f"(train/valid/test), got {row!r}")
            rel = (row.get("path") or "").strip()
            if rel:
                audio = Path(rel) if Path(rel).is_absolute() else root / rel
            elif datasets._MSD_ID.match(tid):
                audio = datasets.msd_audio_path(root, tid)
            else:
                raise ValueError(f"{path} line {line}: {tid!r} is not an MSD track id; give its path")
            splits[split].append(datasets.Track(tid, audio, [artist], artist))
    artists = sorted({t.artist for t in splits["train"]})
    return datasets.Dataset("msd_artist", artists, splits)


def artist_split_rows(entries, num_artists, train_size=15, valid_size=18, test_size=20):
    """[(track_id, artist_id, split)] from msd-artist-split entries "TRACKID/artist/song": the
    first num_artists * 20 entries; song numbers 1..train_size train, ..valid_size valid,
    ..test_size test (that repository's load_data_label.py)."""
    rows = []
    for entry in list(entries)[:num_artists * 20]:
        tid, artist, song = str(entry).strip().split("/")
        song = int(song)
        split = "train" if song <= train_size else "valid" if song <= valid_size else \
            "test" if song <= test_size else None
        if split:
            rows.append((tid, artist, split))
    return rows


class Sampler:
    """Positive and negative songs for the Siamese model (authors' data_generator.py): the
    positive is another song of the anchor's artist, the negatives distinct songs of other
    artists. `fallback` songs (e.g. train for the valid split) serve artists with a single song
    here and splits with too few songs of other artists."""

    def __init__(self, tracks, fallback=()):
        self.tracks, self.extra = list(tracks), list(fallback)
        self.by_artist = {}
        for i, t in enumerate(self.tracks):
            self.by_artist.setdefault(t.artist, []).append(i)
        self.fallback = {}
        for t in self.extra:
            self.fallback.setdefault(t.artist, []).append(t)

    def positive(self, rng, index):
        anchor = self.tracks[index]
        others = [i for i in self.by_artist[anchor.artist] if i != index]
        if others:
            return self.tracks[others[rng.integers(len(others))]]
        extra = self.fallback.get(anchor.artist) or [anchor]  # last resort: another crop of itself
        return extra[rng.integers(len(extra))]

    def can_sample(self, index, count):
        return len(self.tracks) - len(self.by_artist[self.tracks[index].artist]) >= count

    def negative_indices(self, rng, index, count):
        """`count` distinct songs of this split by other artists (rejection sampling)."""
        artist, picked = self.tracks[index].artist, []
        while len(picked) < count:
            j = int(rng.integers(len(self.tracks)))
            if self.tracks[j].artist != artist and j not in picked:
                picked.append(j)
        return picked

    def negatives(self, rng, index, count):
        if self.can_sample(index, count):
            return [self.tracks[j] for j in self.negative_indices(rng, index, count)]
        artist = self.tracks[index].artist
        pool = [t for t in self.tracks + self.extra if t.artist != artist]
        if len(pool) < count:
            raise RecipeError(f"{count} negatives need at least {count} songs of artists other than {artist!r}")
        return [pool[j] for j in rng.choice(len(pool), count, replace=False)]


# ------------------------------------------------------------------ model
def build_model(args, num_artists):
    import keras

    import zoo

    name = MODELS[args.variant]
    entry = zoo.get_model_info(name)
    arguments = dict(entry.tiny) if args.tiny else {}
    if args.variant == "basic":
        arguments["num_artists"] = num_artists
    else:
        for key in ("negatives", "margin"):
            if getattr(args, key) is not None:
                arguments["num_negatives" if key == "negatives" else key] = getattr(args, key)
    for key in ("dropout", "learning_rate", "loss_reduction"):
        if getattr(args, key) is not None:
            arguments[key] = getattr(args, key)
    arguments = zoo.model_arguments(name, **arguments)
    keras.utils.set_random_seed(args.seed)
    model = zoo.build(name, **arguments)
    # Plain SGD: the recipe sets the rate every step (plateau rule x inverse-time decay).
    loss = model.loss
    model.compile(optimizer=keras.optimizers.SGD(arguments["learning_rate"], momentum=0.9, nesterov=True),
                  loss=loss)
    return model, name, arguments


# ------------------------------------------------------------------ recipe
def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m training_recipes.thesis.artist",
                                description="Thesis section 4.1 recipes: artist-label basic and Siamese models.")
    p.add_argument("--variant", required=True, choices=sorted(MODELS))
    p.add_argument("--root", required=True, help=f"folder with {SPLIT_FILE} and the audio")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--split-file", default=SPLIT_FILE, help="CSV inside --root")
    p.add_argument("--tiny", action="store_true", help="the registry's tiny configuration (smoke tests)")
    p.add_argument("--epochs", type=int, default=1000, help="upper bound; the schedule stops earlier")
    p.add_argument("--batch-size", type=int, default=15, help="authors' code: 15")
    p.add_argument("--learning-rate", type=float, help="default: the model's (basic 0.015, siamese 0.1)")
    p.add_argument("--lr-decay", type=float, default=1e-6, help="per-step inverse-time decay")
    p.add_argument("--lr-factor", type=float, default=5.0)
    p.add_argument("--patience", type=int, default=3)
    p.add_argument("--max-reductions", type=int, default=4)
    p.add_argument("--negatives", type=int, help="siamese: negatives per anchor (default 4; tiny 2)")
    p.add_argument("--margin", type=float, help="siamese: hinge margin (default 0.4)")
    p.add_argument("--loss-reduction", choices=["sum", "sum_over_batch_size"],
                   help="how a batch's losses combine (default: the model's; siamese sum as the authors' code, "
                        "basic sum_over_batch_size)")
    p.add_argument("--dropout", type=float, help="default: the model's (0.5; the tiny config's 0)")
    p.add_argument("--max-steps", type=int, help="cap on training steps per epoch")
    p.add_argument("--eval-batch-size", type=int, default=32)
    p.add_argument("--map-songs", type=int, default=4000, help="cap on test songs ranked for MAP")
    add_run_arguments(p)
    args = p.parse_args(argv)
    for name in ("epochs", "batch_size", "eval_batch_size", "map_songs"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def _format(value):
    return "n/a" if value is None else f"{value:.4f}"


def _chunks(items, size):
    return [items[i:i + size] for i in range(0, len(items), size)]


def run(args):
    try:
        data = load_artist_split(args.root, args.split_file)
    except (FileNotFoundError, ValueError) as error:
        raise RecipeError(str(error)) from None
    with Run(args.out, dict(vars(args)), resume=args.resume, resume_keys=RESUME_KEYS,
             keep=args.keep_checkpoints) as run_dir:
        log = run_dir.log
        splits = check_audio(data.splits, args.skip_missing, log)
        train, valid, test = splits["train"], splits["valid"], splits["test"]
        artists = sorted({t.artist for t in train})
        index = {a: i for i, a in enumerate(artists)}
        valid = [t for t in valid if t.artist in index]
        if len(artists) < 2 or not valid or len(test) < 2:
            raise RecipeError(f"{Path(args.root) / args.split_file}: need at least 2 training artists, a "
                              f"validation song of a training artist and 2 test songs")
        log.info("%d artists, %d / %d / %d songs (train / valid / test)", len(artists), len(train), len(valid),
                 len(test))
        model, name, arguments = build_model(args, len(artists))
        length = int(arguments["num_samples"])
        reader = AudioReader(arguments["sample_rate"], args.cache_dir)
        negatives = int(arguments.get("num_negatives", args.negatives or 4))
        log.info("model %s%s: %s parameters, %d samples (%d frames) at %d Hz, batch %d", name,
                 " (tiny)" if args.tiny else "", f"{model.count_params():,}", length, length // 512 + 1,
                 arguments["sample_rate"], args.batch_size)
        batch = min(args.batch_size, len(train))
        steps = max(1, len(train) // batch)
        siamese = args.variant == "siamese"
        train_sampler = Sampler(train)
        valid_sampler = Sampler(valid, fallback=train)
        onehot = np.eye(len(artists), dtype=np.float32)

        def crops(items):
            """items: [(tracks, positions)] -> model input for one batch."""
            columns = list(zip(*[[reader.crop(t.path, length, p) for t, p in zip(ts, ps)] for ts, ps in items]))
            if not siamese:
                return np.stack(columns[0])
            names = ["anchor", "positive"] + [f"negative_{j}" for j in range(1, negatives + 1)]
            return {n: np.stack(c) for n, c in zip(names, columns)}

        def plan(rng, sampler, indices):
            """Per anchor: the songs it is fed with and their crop positions (drawn here, in order)."""
            items = []
            for i in indices:
                songs = [sampler.tracks[i]]
                if siamese:
                    songs += [sampler.positive(rng, i)] + sampler.negatives(rng, i, negatives)
                items.append((songs, rng.random(len(songs))))
            return items

        def target(items):
            if siamese:
                return np.zeros((len(items), 1 + negatives), np.float32)
            return onehot[[index[songs[0].artist] for songs, _ in items]]

        def batches(epoch):
            rng = epoch_rng(args.seed, epoch)
            order = rng.permutation(len(train))[:steps * batch]
            items = plan(rng, train_sampler, order)
            return Prefetcher((crops(chunk), target(chunk)) for chunk in _chunks(items, batch))

        valid_plan = plan(epoch_rng(args.seed, 0), valid_sampler, range(len(valid)))

        def validate():
            scores = []
            source = Prefetcher(crops(chunk) for chunk in _chunks(valid_plan, args.eval_batch_size))
            try:
                scores = np.concatenate([predict_padded(model, x, args.eval_batch_size) for x in source])
            finally:
                source.close()
            if siamese:
                margin = arguments["margin"]
                hinge = np.maximum(0.0, margin - scores[:, :1] + scores[:, 1:]).sum(1)
                return {"loss": float(hinge.mean()),
                        "accuracy": float(np.mean(scores[:, 0] > scores[:, 1:].max(1)))}
            truth = np.array([index[songs[0].artist] for songs, _ in valid_plan])
            chosen = np.clip(scores[np.arange(len(truth)), truth], 1e-7, 1.0)
            return {"loss": float(-np.log(chosen).mean()), "accuracy": float(np.mean(scores.argmax(1) == truth))}

        schedule = PlateauSchedule(arguments["learning_rate"], args.lr_factor, args.patience, args.max_reductions)
        state = fit(model, run_dir, epochs=args.epochs, steps_per_epoch=steps, batches=batches, validate=validate,
                    schedule=schedule, lr_decay=args.lr_decay, max_steps=args.max_steps,
                    summed_loss=arguments["loss_reduction"] == "sum")

        test_results = evaluate(model, reader, length, train, splits["valid"], test, index, negatives, args)
        results = {
            "recipe": "training_recipes.thesis.artist", "thesis": "section 4.1", "variant": args.variant,
            "model": name, "tiny": args.tiny, "arguments": arguments, "split": "test", **test_results,
            "best_epoch": state["best_epoch"], "best_val_loss": schedule.best, "epochs_trained": state["epoch"],
            "stopped_by_schedule": state["stopped_by_schedule"], "history": state["history"],
            "counts": {"artists": len(artists), "train": len(train), "valid": len(valid), "test": len(test)},
        }
        write_json(Path(args.out) / "results.json", results)
        save_artist_preset(model, Path(args.out) / "preset", name, arguments, artists, results)
        log.info("test MAP %s, hold-out accuracy %s (chance %.2f) -> %s", _format(test_results["map_artist"]),
                 _format(test_results["holdout_accuracy"]), test_results["holdout_chance"],
                 Path(args.out) / "results.json")
        return results


def evaluate(model, reader, length, train, valid, test, index, negatives, args):
    """Song-level features (mean over 3-s segments, section 4.1.4) -> MAP, hold-out prediction."""
    embedder = model.get_layer("embedder")
    rng = epoch_rng(args.seed, 0, stream=1)
    sampler = Sampler(test)
    # Hold-out positive: the first song of the anchor's artist outside the test split (valid first).
    elsewhere = {}
    for t in list(valid) + list(train):
        elsewhere.setdefault(t.artist, t)
    extra = sorted({t.artist for t in test if t.artist in elsewhere})
    plan = [(i, len(test) + extra.index(t.artist), sampler.negative_indices(rng, i, negatives))
            for i, t in enumerate(test) if t.artist in elsewhere and sampler.can_sample(i, negatives)]
    songs = list(test) + [elsewhere[a] for a in extra]
    features = np.stack([f.mean(0) for f in predict_segments(embedder, reader, songs, length, args.eval_batch_size)])
    unit = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    correct = [unit[a] @ unit[p] > max(unit[a] @ unit[n] for n in negs) for a, p, negs in plan]
    results = {"num_songs": len(test), "negatives": negatives, "holdout_chance": 1.0 / (negatives + 1),
               "holdout_accuracy": float(np.mean(correct)) if correct else None, "holdout_queries": len(correct)}
    # MAP ranks all pairs (memory ~ songs^2): above --map-songs, whole artists drawn at random.
    picked = np.arange(len(test))
    if len(test) > args.map_songs:
        names = sorted(sampler.by_artist)
        order = epoch_rng(args.seed, 0, stream=2).permutation(len(names))
        keep, total = [], 0
        for k in order:
            songs_k = sampler.by_artist[names[k]]
            if total + len(songs_k) <= args.map_songs:
                keep += songs_k
                total += len(songs_k)
        picked = np.array(sorted(keep))
    results["map_songs"] = int(len(picked))
    try:
        results["map_artist"] = metrics.mean_average_precision(features[picked], [test[i].artist for i in picked])
    except ValueError:  # no test artist with two songs
        results["map_artist"] = None
    if args.variant == "basic":
        known = [t for t in test if t.artist in index]
        probs = [p.mean(0) for p in predict_segments(model, reader, known, length, args.eval_batch_size)]
        hits = [int(np.argmax(p)) == index[t.artist] for p, t in zip(probs, known)]
        results["artist_accuracy"] = float(np.mean(hits)) if hits else None
    return results


def save_artist_preset(model, directory, name, arguments, artists, results):
    """The best-validation model as an SDK preset (same layout as the bundled artist-siamese-msd)."""
    import keras

    from sdk.preset import frontend_config, save_preset

    frontend = model.get_layer("embedder").get_layer("frontend")
    size = int(model.get_layer("embedder").get_layer("backbone").output.shape[-1])
    frames = arguments["num_samples"] // frontend.hop_length + 1
    preprocessor = {"sample_rate": arguments["sample_rate"],
                    "frontend_class": keras.saving.get_registered_name(type(frontend)),
                    "frontend": frontend_config(frontend),
                    "segment": {"length": frames, "hop": frames, "unit": "frames", "remainder": "drop",
                                "pad": "zeros"},
                    "aggregation": "mean", "segment_pooling": "max"}
    outputs = [{"name": "embedding", "purpose": "embeddings", "size": size}]
    if name == "artist-basic":
        outputs.append({"name": "artists", "purpose": "predictions", "size": len(artists),
                        "activation": "softmax", "classes": list(artists)})
    metadata = {
        "preset": f"{name}-retrained", "registry_name": name, "embedding_size": size, "subspaces": {"all": [0, size]},
        "tags": [], "outputs": outputs, "aggregation": "mean",
        "datasets": [{"name": "Million Song Dataset previews, artist split", "use": "training"}],
        "license": None,
        "provenance": (f"Trained by training_recipes.thesis.artist (thesis section 4.1 recipe), "
                       f"{len(artists)} artists, best validation epoch {results['best_epoch']}. The weights' "
                       f"terms follow the training audio's."),
    }
    return save_preset(model, directory, name=name, arguments=arguments, preprocessor=preprocessor,
                       metadata=metadata)


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return cli_main(run, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
