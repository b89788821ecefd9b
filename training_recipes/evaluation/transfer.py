"""Transfer learning to soundtrack classification: pre-trained presets against random init.

    python -m training_recipes.evaluation.transfer --manifest data/corpus/manifest.jsonl --soundtracks "A,B,C,D,E" \\
        --presets samplecnn-msd,artist-siamese-msd [--random-init samplecnn-msd] --clip-seconds 30 \\
        --folds 5 --finetune-epochs 3 --out results/transfer.json

The shape of thesis Tables 3.6 and 4.6, done the way a user of the SDK would do it. The
downstream task is soundtrack classification (label = the manifest's `soundtrack`) with
stratified k-fold cross-validation over TRACKS: a track and all its segments are in the
training part or in the test part of a fold, never both. Each track is represented by the
centre `--clip-seconds` of its audio (0 = the whole track), decoded once per sample rate.

Per row (one model):
* linear probe: frozen segment embeddings (`MusicModel.segment_features`), mean per track,
  L2-normalised, then multinomial logistic regression on standardised features
  (`metrics.linear_softmax_accuracy`, as `training_recipes.evaluation` does); the thesis's
  "linear softmax classifier" on transferred features.
* fine-tune: what `sdk.fine_tune(model, ..., freeze_backbone=False)` does, on the training
  tracks of the fold: a new softmax head on the embedding, the whole backbone trained with
  Adam for `--finetune-epochs`, every segment an example with its track's label, batch
  normalisation in inference mode (pre-trained statistics). A track's prediction is the mean
  of its segments' softmax outputs. Every fold starts again from the preset's weights.
* `--random-init NAME`: the architecture of preset NAME (its config.json through
  `zoo.build`) with fresh random weights and the same preprocessor: the "without transfer"
  baseline. Its fine-tune row is training from scratch with the same budget; here batch
  normalisation trains (there are no statistics worth keeping).
"""

import argparse
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from training_recipes.common.audio_batches import RECIPE_RESAMPLER
from training_recipes.common.training import run_environment
from training_recipes.evaluation.cli import (
    EvaluationError,
    clip_audio,
    load_preset,
    read_manifest,
    run_report_cli,
    select_soundtracks,
    short_name,
)
from training_recipes.evaluation.cache import preset_fingerprint
from training_recipes.evaluation.metrics import linear_softmax_accuracy, unit_rows

RANDOM_SUFFIX = " (random init)"


# ----- folds ----------------------------------------------------------------------------------
def check_classes(labels, folds):
    """Refuse label sets the folds cannot use; returns {class: number of tracks}."""
    counts = Counter(labels)
    if len(counts) < 2:
        raise EvaluationError(f"need at least 2 soundtracks to classify, got {sorted(counts)}")
    few = sorted(name for name, n in counts.items() if n < 2)
    if few:
        raise EvaluationError(f"soundtrack(s) {', '.join(map(repr, few))} have fewer than 2 tracks; each "
                              f"soundtrack needs tracks on both sides of a fold (drop it from --soundtracks)")
    if folds < 2:
        raise EvaluationError(f"--folds must be at least 2, got {folds}")
    if folds > max(counts.values()):
        raise EvaluationError(f"--folds {folds} is more than the tracks of the largest soundtrack "
                              f"({max(counts.values())}); use fewer folds")
    return dict(sorted(counts.items()))


def track_folds(labels, folds, seed=0):
    """[(train track indices, test track indices)] of stratified, shuffled k-fold CV over tracks."""
    from sklearn.model_selection import StratifiedKFold

    labels = np.asarray(labels)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():  # a class smaller than `folds` is missing from some test folds: fine
        warnings.simplefilter("ignore", UserWarning)
        return [(np.sort(train), np.sort(test)) for train, test in splitter.split(np.zeros(len(labels)), labels)]


def stack_segments(segments, indices):
    """(all segments of the given tracks, the track index of each row): tracks stay whole."""
    x = np.concatenate([segments[i] for i in indices]).astype("float32")
    owners = np.concatenate([np.full(len(segments[i]), i) for i in indices])
    return x, owners


def summary(accuracies):
    accuracies = [float(a) for a in accuracies]
    return {"fold_accuracy": accuracies, "mean": float(np.mean(accuracies)), "std": float(np.std(accuracies))}


# ----- audio and models -----------------------------------------------------------------------
def _progress(total, desc, unit):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, mininterval=1.0, file=sys.stderr, dynamic_ncols=True)


class Clips:
    """The centre clip of every track, decoded once per sample rate and kept in memory."""

    def __init__(self, tracks, clip_seconds):
        self.tracks, self.clip_seconds, self._by_rate = tracks, clip_seconds, {}

    def get(self, sample_rate):
        if sample_rate not in self._by_rate:
            from sdk.audio import load_audio

            waves = []
            with _progress(len(self.tracks), f"decode {sample_rate} Hz", "track") as bar:
                for track in self.tracks:
                    audio = clip_audio(track.path, sample_rate, self.clip_seconds)
                    waves.append(load_audio(audio, sample_rate, resample_filter=RECIPE_RESAMPLER)
                                 if isinstance(audio, str) else audio)
                    bar.update()
            self._by_rate[sample_rate] = waves
        return self._by_rate[sample_rate]

    def keep_only(self, sample_rates):
        """Free the clips of sample rates no later row needs."""
        for rate in set(self._by_rate) - set(sample_rates):
            del self._by_rate[rate]


def random_init(model, seed=0):
    """A MusicModel of `model`'s architecture and preprocessor with fresh random weights:
    the preset's graph rebuilt from its config, saved as a throwaway preset and loaded. A
    multi-level read-out is fitted to trained weights, so the fresh graph has none: its
    embedding is the network's own (what the tag head reads)."""
    import keras

    import sdk
    from sdk.preset import save_preset
    from zoo.task import MusicTask

    keras.utils.set_random_seed(seed)
    fresh = MusicTask(model.task.network, model.task.arguments, segment=model.task.segment,
                      tags=bool(model.task.num_tags))
    size = fresh.embedding_size
    metadata = {k: v for k, v in model.metadata.items()
                if k not in ("files", "parameter_count", "date_saved", "level_readout", "whitening")}
    metadata.update(preset=f"{model.preset_id}{RANDOM_SUFFIX}", embedding_size=size, subspaces={"all": [0, size]})
    metadata["outputs"] = [{"name": "embedding", "purpose": "embeddings", "size": size},
                           *[o for o in model.metadata.get("outputs", []) if o.get("purpose") != "embeddings"]]
    with tempfile.TemporaryDirectory(prefix="random-init-") as scratch:
        directory = save_preset(fresh, Path(scratch) / "preset", preprocessor=model.preprocessor, metadata=metadata)
        untrained = sdk.load(directory)  # read into memory at once, so the folder can go
        untrained.resampler = model.resampler
        return untrained


def probe_features(model, waves, batch_size, desc):
    """(tracks, d) song vectors: mean of the frozen segment embeddings of each clip."""
    vectors = []
    with _progress(len(waves), f"{desc}: features", "track") as bar:
        for wave in waves:
            vectors.append(model.segment_features(wave, model.sample_rate, batch_size=batch_size).mean(0))
            bar.update()
    return np.stack(vectors)


def linear_probe(vectors, y, splits, seed=0):
    accuracies = [linear_softmax_accuracy(unit_rows(vectors[train]), y[train],
                                          unit_rows(vectors[test]), y[test], seed=seed)
                  for train, test in splits]
    return {**summary(accuracies), "embedding_size": int(vectors.shape[1]),
            "classifier": "multinomial logistic regression on standardised, L2-normalised track vectors "
                          "(mean of frozen segment embeddings)"}


def fine_tune_segments(model, x, y, n_classes, *, epochs, batch_size, learning_rate, seed, train_batch_norm=False):
    """`sdk.fine_tune(model, ..., freeze_backbone=False)` on in-memory segments `x` with integer
    labels `y`: a new softmax head on the embedding model, the whole backbone unfrozen, batch
    normalisation in inference mode unless `train_batch_norm`. Returns the segment -> class
    probabilities model. The model's embedding weights change in place."""
    import keras

    from sdk.model import iter_layers

    keras.utils.set_random_seed(seed)
    embedding_model = model.task.head_input_model()
    embedding_model.trainable = True
    if not train_batch_norm:
        for layer in iter_layers(embedding_model):
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False
    head = keras.layers.Dense(n_classes, activation="softmax", name="tags")
    inputs = keras.Input(x.shape[1:])
    trainer = keras.Model(inputs, head(embedding_model(inputs)))
    trainer.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="categorical_crossentropy")
    targets = np.eye(n_classes, dtype="float32")[y]
    trainer.fit(x, targets, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0)
    return trainer


def fine_tune_folds(model, segments, y, splits, *, epochs, batch_size, learning_rate, seed, train_batch_norm, desc):
    """Fine-tune per fold from the same starting weights; accuracy of track predictions."""
    embedding_model = model.task.head_input_model()
    start = embedding_model.get_weights()
    n_classes = int(y.max()) + 1
    accuracies, sizes = [], []
    try:
        with _progress(len(splits), f"{desc}: fine-tune", "fold") as bar:
            for train, test in splits:
                embedding_model.set_weights(start)
                x, owners = stack_segments(segments, train)
                trainer = fine_tune_segments(model, x, y[owners], n_classes, epochs=epochs, batch_size=batch_size,
                                             learning_rate=learning_rate, seed=seed, train_batch_norm=train_batch_norm)
                x, owners = stack_segments(segments, test)
                probabilities = np.asarray(trainer.predict(x, batch_size=batch_size, verbose=0))
                songs = np.stack([probabilities[owners == i].mean(0) for i in test])
                accuracies.append(float(np.mean(songs.argmax(1) == y[test])))
                sizes.append(len(train))
                bar.update()
    finally:
        embedding_model.set_weights(start)  # the loaded model is left as it was
    return {**summary(accuracies), "epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate,
            "optimizer": "Adam", "loss": "categorical cross-entropy over segments",
            "batch_norm": "trained (from scratch)" if train_batch_norm
                          else "inference mode (pre-trained statistics, as sdk.fine_tune)",
            "train_tracks": sizes, "track_prediction": "argmax of the mean segment softmax"}


# ----- the run --------------------------------------------------------------------------------
def _names(values):
    return list(dict.fromkeys(n.strip() for n in ",".join(values or []).split(",") if n.strip()))


def run_row(row, model, kind, clips, y, splits, args):
    t0 = time.time()
    waves = clips.get(model.sample_rate)
    vectors = probe_features(model, waves, args.batch_size, row)
    pretrained = kind == "pre-trained"
    result = {"kind": kind, "preset": str(model.preset_id), "directory": str(model.directory) if pretrained
              else None, "fingerprint": preset_fingerprint(model) if pretrained else None,  # which weights
              "parameter_count": int(model.task.count_params()),
              "linear_probe": linear_probe(vectors, y, splits, args.seed), "fine_tune": None}
    if args.finetune_epochs > 0:
        segments = [model.all_segment_inputs(wave, model.sample_rate) for wave in waves]
        result["segments_per_track"] = float(np.mean([len(s) for s in segments]))
        result["fine_tune"] = fine_tune_folds(model, segments, y, splits, epochs=args.finetune_epochs,
                                              batch_size=args.batch_size, learning_rate=args.learning_rate,
                                              seed=args.seed, train_batch_norm=kind == "random init", desc=row)
    result["seconds"] = round(time.time() - t0, 1)
    return result


def transfer(args, command):
    started = time.time()
    all_tracks, manifest_sha256 = read_manifest(args.manifest)
    tracks = select_soundtracks(all_tracks, args.soundtracks)
    labels = [t.soundtrack for t in tracks]
    counts = check_classes(labels, args.folds)
    if args.finetune_epochs < 0:
        raise EvaluationError(f"--finetune-epochs must be 0 (no fine-tuning) or more, got {args.finetune_epochs}")
    if args.clip_seconds is not None and args.clip_seconds < 0:
        raise EvaluationError(f"--clip-seconds must be positive (0 = whole track), got {args.clip_seconds}")
    pretrained, baselines = _names(args.presets), _names(args.random_init)
    if not pretrained and not baselines:
        raise EvaluationError("nothing to compare: give --presets and/or --random-init")
    models = {name: load_preset(name) for name in dict.fromkeys(pretrained + baselines)}  # fail before audio work
    rows = [(short_name(n), n, "pre-trained") for n in pretrained]
    rows += [(short_name(n) + RANDOM_SUFFIX, n, "random init") for n in baselines]

    classes = sorted(counts)
    y = np.array([classes.index(label) for label in labels])
    splits = track_folds(labels, args.folds, args.seed)
    if min(counts.values()) < args.folds:
        print(f"warning: some soundtracks have fewer than {args.folds} tracks and are missing from some test folds",
              file=sys.stderr)
    clips = Clips(tracks, args.clip_seconds or None)
    results = {}
    for position, (row, name, kind) in enumerate(rows):
        model = models[name] if kind == "pre-trained" else random_init(models[name], args.seed)
        results[row] = run_row(row, model, kind, clips, y, splits, args)
        clips.keep_only({models[n].sample_rate for _, n, _ in rows[position + 1:]})

    root = Path(args.manifest).resolve().parent
    return {
        "command": command,
        "manifest": {"path": str(args.manifest), "sha256": manifest_sha256},
        "task": "soundtrack classification, stratified k-fold over tracks",
        "n_tracks": len(tracks),
        "soundtracks": counts,
        "folds": args.folds,
        "seed": args.seed,
        "fold_test_tracks": [[str(tracks[i].path.relative_to(root)) if tracks[i].path.is_relative_to(root)
                              else str(tracks[i].path) for i in test] for _, test in splits],
        "clip_seconds": args.clip_seconds or None,
        "results": results,
        "chance": max(counts.values()) / len(tracks),
        "versions": run_environment(),
        "seconds": round(time.time() - started, 1),
    }


def _cell(entry):
    return "–" if not entry else f"{entry['mean']:.3f} ± {entry['std']:.3f}"


def format_markdown(report):
    """The model-card table: rows = models, columns = linear probe / fine-tune accuracy."""
    clip = f"the centre {report['clip_seconds']:g} s" if report["clip_seconds"] else "the whole track"
    tuned = next((r["fine_tune"] for r in report["results"].values() if r["fine_tune"]), None)
    budget = (f" Fine-tune: {tuned['epochs']} epoch(s), Adam {tuned['learning_rate']:g}, batch {tuned['batch_size']}, "
              f"track = mean of segment predictions." if tuned else "")
    lines = [f"Soundtrack classification accuracy, {len(report['soundtracks'])} soundtracks "
             f"({report['n_tracks']} tracks), {report['folds']}-fold cross-validation over tracks, "
             f"{clip} of each track; mean ± std over folds.{budget}", "",
             "| Model | Linear probe | Fine-tune |", "|---|---|---|"]
    for row, result in report["results"].items():
        lines.append(f"| {row} | {_cell(result['linear_probe'])} | {_cell(result['fine_tune'])} |")
    lines.append(f"| majority class | {report['chance']:.3f} | {report['chance']:.3f} |")
    return "\n".join(lines)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m training_recipes.evaluation.transfer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", required=True, type=Path, help="manifest.jsonl (path, soundtrack, ...)")
    parser.add_argument("--soundtracks", action="append", help="only these soundtracks (\"A,B,C\"; default all)")
    parser.add_argument("--presets", action="append", help="comma-separated pre-trained preset ids, hf:// handles or dirs")
    parser.add_argument("--random-init", action="append", help="comma-separated presets whose architecture is "
                        "also run with fresh random weights (the no-transfer baseline)")
    parser.add_argument("--clip-seconds", type=float, default=30.0, help="seconds from each track's middle (0 = whole)")
    parser.add_argument("--folds", type=int, default=5, help="stratified folds over tracks")
    parser.add_argument("--finetune-epochs", type=int, default=3, help="fine-tune epochs per fold (0 = probe only)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="Adam, as sdk.fine_tune")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, type=Path, help="results JSON")
    return parser.parse_args(argv)


def main(argv=None):
    return run_report_cli("evaluation.transfer", transfer, parse_args, format_markdown, argv)


if __name__ == "__main__":
    sys.exit(main())
