"""Stage 2 of the disentangled-msd recipe: the section 5.2 disentangled classifier (zoo/disentangled.py)
on the frozen samplecnn-msd features that prepare.py cached, from the teachers' soft tags,
with track regularisation (section 5.1.2) and an optional tempo sub-space (section 5.1.3).

    python -m training_recipes.disentangled_msd.train --cache runs/disentangled-msd/cache \
        --out runs/disentangled-msd/run --validation "A,B,..." [--track-weight 0.5] \
        [--tempo-weight 1] [--mtat-instruments] [--hidden 512] [--epochs 40] [--resume]

Loss per anchor window a (the anchor is shared by its triplets, as in section 5.2's 5-input sample):
    BCE(tags(a), teacher scores of a)                               per class, its notion's slice only
  + track_weight * hinge(cos(a, a+), cos(a, a-))                    full space: a+ another window
                                                                    of a's track (6 s apart, no
                                                                    overlap), a- one of another track
  + tempo_weight * hinge(cos_t(a, t+), cos_t(a, t-))                tempo slice: t+ a window of another
                                                                    track within 5 BPM, t- beyond it
Schedule (section 5.1): Adam, the rate / 5 after `--patience` epochs without a better validation
loss, at most 5 times, then stop; the weights of the best validation epoch are kept. Validation
windows are those of the --validation soundtracks, never trained on. Each epoch is checkpointed
(`--resume` continues).
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from training_recipes.common.training import run_environment

TEMPO_TOLERANCE = 5.0  # BPM, section 5.1.3
# musicnn-mtat tags that name an instrument and are not among the 50 MSD tags.
MTAT_INSTRUMENTS = ("piano", "strings", "drums", "violin", "synth", "harpsichord", "flute", "sitar", "harp",
                    "cello", "choir")
NOTIONS_FILE = Path(__file__).resolve().parents[1] / "evaluation" / "notions_msd50.json"


def read_cache(directory):
    """(arrays, tracks.json summary) of a prepare.py cache; SystemExit naming what is missing."""
    directory = Path(directory)
    try:
        summary = json.loads((directory / "tracks.json").read_text())
        with np.load(directory / "cache.npz") as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as error:
        raise SystemExit(f"--cache {directory}: not a finished prepare.py cache ({error})") from None
    return arrays, summary


def head_classes(tag_names, mtat_names, mtat_instruments):
    """(class names, their notions, columns to take from msd/mtat scores)."""
    notions = json.loads(NOTIONS_FILE.read_text())["notions"]
    notion_of = {tag: notion for notion, tags in notions.items() for tag in tags}
    missing = [t for t in tag_names if t not in notion_of]
    if missing:
        raise SystemExit(f"{NOTIONS_FILE}: tags {missing} of the teacher have no notion")
    names, subspaces = list(tag_names), [notion_of[t] for t in tag_names]
    mtat_columns = [mtat_names.index(t) for t in MTAT_INSTRUMENTS] if mtat_instruments else []
    names += [mtat_names[c] for c in mtat_columns]
    subspaces += ["instrument"] * len(mtat_columns)
    return names, subspaces, mtat_columns


def head_spec(class_subspaces, width=64, tempo=True, hidden=512, activation="relu", inputs=("embedding",)):
    order = ["genre", "mood", "instrument", "era"] + (["tempo"] if tempo else [])
    layout = {name: [i * width, (i + 1) * width] for i, name in enumerate(order)}
    return {"kind": "disentangled", "subspaces": layout, "class_subspaces": list(class_subspaces),
            "hidden": hidden, "activation": activation, "inputs": list(inputs)}


def head_inputs(arrays, inputs):
    """(windows, d) of what the head reads: the cached read-out [+ the backbone's own tag scores]."""
    columns = {"embedding": "features", "tags": "student_tags"}
    missing = [columns[i] for i in inputs if columns[i] not in arrays]
    if missing:
        raise SystemExit(f"--inputs {','.join(inputs)}: the cache has no {missing}; run prepare.py again "
                         "(it adds them to the tracks it already holds)")
    return np.concatenate([arrays[columns[i]].astype(np.float32) for i in inputs], axis=1)


def sample_names(notions=()):
    """The training sample's inputs: the anchor, its track and tempo triplets, and per notion
    a tag triplet (notions given)."""
    names = ["anchor", "track_positive", "track_negative", "tempo_positive", "tempo_negative"]
    return names + [f"{n}_{side}" for n in notions for side in ("positive", "negative")]


def build_training_model(spec, input_size, track_weight, tempo_weight, margin, learning_rate, notions=(),
                         notion_weight=0.0):
    """Keras model: feature inputs (`sample_names`) -> tags, track, tempo and per-notion scores."""
    import keras
    from keras import ops

    from zoo.disentangled import disentangled_head_layers
    from zoo.heads import apply_layers
    from zoo.losses import MarginHingeLoss

    chain, classifier = disentangled_head_layers(spec)
    inputs = {n: keras.Input((input_size,), name=n) for n in sample_names(notions)}
    embedded = {n: apply_layers(chain, x) for n, x in inputs.items()}
    count = len(spec["subspaces"])

    def scores(slice_, a, p, n):
        a, p, n = (x[:, slice_[0]:slice_[1]] for x in (a, p, n))
        scale = count if slice_ == (0, None) else 1
        return ops.stack([ops.sum(a * p, -1), ops.sum(a * n, -1)], axis=-1) / scale

    a = embedded["anchor"]
    outputs = {"tags": classifier(a),
               "track": scores((0, None), a, embedded["track_positive"], embedded["track_negative"])}
    losses = {"tags": keras.losses.BinaryCrossentropy(), "track": MarginHingeLoss(margin)}
    weights = {"tags": 1.0, "track": track_weight}
    if "tempo" in spec["subspaces"]:
        outputs["tempo"] = scores(tuple(spec["subspaces"]["tempo"]), a, embedded["tempo_positive"],
                                  embedded["tempo_negative"])
        losses["tempo"], weights["tempo"] = MarginHingeLoss(margin), tempo_weight
    for n in notions:  # section 5.1's category triplets, each in its notion's sub-space (Eq. 5.3)
        outputs[n] = scores(tuple(spec["subspaces"][n]), a, embedded[f"{n}_positive"], embedded[f"{n}_negative"])
        losses[n], weights[n] = MarginHingeLoss(margin), notion_weight
    model = keras.Model(inputs, outputs, name="disentangled_training")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=losses, loss_weights=weights)
    return model, chain, classifier


class Sampler:
    """Per epoch, one sample (`sample_names`) per anchor window of the given tracks.
    `labels` ({notion: (tracks,) label}) adds a tag triplet per notion: a window of another
    track with the anchor's label, one of a track with another."""

    def __init__(self, track_of_window, bpm, windows, seed, labels=None):
        self.windows = np.asarray(windows)
        self.track = track_of_window[self.windows]
        self.by_track = {t: self.windows[self.track == t] for t in np.unique(self.track)}
        self.tracks = np.array(sorted(self.by_track))
        self.bpm = np.asarray(bpm, np.float32)
        self.labels = labels or {}
        self.rng = np.random.default_rng(seed)

    def _window_of(self, tracks):
        return np.array([self.rng.choice(self.by_track[t]) for t in tracks])

    def _other_track(self, anchor_tracks, values, accept):
        """Per anchor track, a random track != it for which accept(value of anchor, values of
        candidates) holds (any other track when none does)."""
        chosen = np.empty(len(anchor_tracks), np.int64)
        for i, t in enumerate(anchor_tracks):
            pool = self.tracks[(self.tracks != t) & accept(values[t], values[self.tracks])]
            chosen[i] = self.rng.choice(pool if len(pool) else self.tracks[self.tracks != t])
        return chosen

    def epoch(self, shuffle=True):
        """{input name: window indices}."""
        anchors = self.rng.permutation(self.windows) if shuffle else self.windows
        position = {w: i for i, w in enumerate(self.windows)}
        tracks = self.track[[position[w] for w in anchors]]
        sample = {"anchor": anchors}
        sample["track_positive"] = np.array([self.rng.choice(self.by_track[t][self.by_track[t] != w])
                                             if len(self.by_track[t]) > 1 else w for w, t in zip(anchors, tracks)])
        sample["track_negative"] = self._window_of(self._other_track(tracks, self.bpm, lambda a, b: b == b))
        near = lambda a, b: np.abs(a - b) <= TEMPO_TOLERANCE  # noqa: E731
        sample["tempo_positive"] = self._window_of(self._other_track(tracks, self.bpm, near))
        sample["tempo_negative"] = self._window_of(self._other_track(tracks, self.bpm, lambda a, b: ~near(a, b)))
        for notion, values in self.labels.items():
            sample[f"{notion}_positive"] = self._window_of(self._other_track(tracks, values, lambda a, b: b == a))
            sample[f"{notion}_negative"] = self._window_of(self._other_track(tracks, values, lambda a, b: b != a))
        return sample


def track_labels(scores, track_of_window, n_tracks, tag_names):
    """{notion: (tracks,) index of the teacher's top tag of the notion in the track's mean scores}."""
    from training_recipes.evaluation.notions import notion_labels

    grouping = json.loads(NOTIONS_FILE.read_text())["notions"]
    sums = np.zeros((n_tracks, scores.shape[1]), np.float32)
    np.add.at(sums, track_of_window, scores)
    return notion_labels(sums, {n: [tag_names.index(t) for t in tags] for n, tags in grouping.items()})


def inputs_of(features, sample):
    return {n: features[idx] for n, idx in sample.items()}


def targets_of(scores, sample, outputs):
    """The targets of the model's `outputs`: the teacher's scores for the tags, nothing (zeros)
    for the triplet hinges."""
    zeros = np.zeros((len(sample["anchor"]), 2), np.float32)
    return {n: scores[sample["anchor"]] if n == "tags" else zeros for n in outputs}


NOTION_NAMES = ("genre", "mood", "instrument", "era")


class ValidationSongs:
    """The validation tracks as songs (mean of their windows): soundtrack MAP and, per notion,
    triplet accuracy in each sub-space and the whole space (labels: the teacher's top tag of
    the notion in the track's mean scores; tempo: the track's BPM within 5)."""

    def __init__(self, features, msd_scores, track_of_window, windows, soundtrack_of_track, bpm, tag_names, seed=0):
        from training_recipes.evaluation import notions

        self.features, self.windows = features[windows], windows
        tracks = track_of_window[windows]
        self.ids = np.unique(tracks)
        self.rows = [np.flatnonzero(tracks == t) for t in self.ids]
        self.soundtracks = np.array([soundtrack_of_track[t] for t in self.ids])
        scores = np.stack([msd_scores[windows][r].mean(0) for r in self.rows])
        grouping = json.loads(NOTIONS_FILE.read_text())["notions"]
        columns = {n: [tag_names.index(t) for t in tags] for n, tags in grouping.items()}
        values = {n: v.astype(np.float64) for n, v in notions.notion_labels(scores, columns).items()}
        values["tempo"] = np.asarray(bpm, np.float64)[self.ids]
        self.triplets = {n: notions.sample_triplets(v, 2000, notions.notion_seed(seed, n),
                                                    TEMPO_TOLERANCE if n == "tempo" else 0.0)
                         for n, v in values.items()}

    def figures(self, embed, layout):
        from training_recipes.evaluation import metrics, notions

        vectors = embed(self.features)
        songs = np.stack([vectors[r].mean(0) for r in self.rows])
        spaces = notions.subspace_slices(layout, songs.shape[1])
        accuracy = notions.triplet_accuracies(songs, spaces, self.triplets)
        return {"song_map": float(metrics.mean_average_precision(songs, self.soundtracks)),
                "triplet_accuracy": accuracy}


def train(args):
    import keras

    arrays, summary = read_cache(args.cache)
    tracks = summary["tracks"]
    soundtracks = np.array([t["soundtrack"] for t in tracks])
    validation = [v.strip() for v in args.validation.split(",") if v.strip()]
    unknown = sorted(set(validation) - set(soundtracks))
    if unknown:
        raise SystemExit(f"--validation: unknown soundtrack(s) {unknown}")
    import sdk

    mtat_names = list(sdk.load("musicnn-mtat").tags)
    names, class_subspaces, mtat_columns = head_classes(summary["tag_names"], mtat_names, args.mtat_instruments)
    inputs = [i.strip() for i in args.inputs.split(",") if i.strip()]
    spec = head_spec(class_subspaces, args.width, args.tempo_weight > 0, args.hidden, args.activation, inputs)
    features = head_inputs(arrays, inputs)
    scores = arrays["msd_tags"].astype(np.float32)
    if mtat_columns:
        scores = np.concatenate([scores, arrays["mtat_tags"].astype(np.float32)[:, mtat_columns]], axis=1)
    track_of_window = arrays["track"]
    bpm = np.array([t["bpm"] for t in tracks], np.float32)
    held_out = np.isin(soundtracks[track_of_window], validation)
    train_windows, val_windows = np.flatnonzero(~held_out), np.flatnonzero(held_out)

    keras.utils.set_random_seed(args.seed)
    notions = NOTION_NAMES if args.notion_weight > 0 else ()
    model, chain, _ = build_training_model(spec, features.shape[1], args.track_weight, args.tempo_weight,
                                           args.margin, args.lr, notions, args.notion_weight)
    labels = track_labels(arrays["msd_tags"].astype(np.float32), track_of_window, len(tracks), summary["tag_names"])
    labels = {n: labels[n] for n in notions}
    embedder = keras.Sequential(chain)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    config = {"spec": spec, "tags": names, "settings": {k: v for k, v in vars(args).items()},
              "validation": validation, "train_windows": int(len(train_windows)),
              "validation_windows": int(len(val_windows)),
              "train_soundtracks": sorted(set(soundtracks) - set(validation)), "versions": run_environment()}
    state_path, history = out / "state.json", []
    state = {"epoch": 0, "best": None, "best_epoch": None, "lr": args.lr, "cuts": 0, "flat": 0}
    if args.resume and state_path.is_file():
        state = json.loads(state_path.read_text())
        history = json.loads((out / "history.json").read_text())
        model.load_weights(out / "last.weights.h5")
        model.optimizer.learning_rate.assign(state["lr"])
    (out / "config.json").write_text(json.dumps(config, indent=1))
    sampler = Sampler(track_of_window, bpm, train_windows, args.seed + state["epoch"], labels)
    val_sample = Sampler(track_of_window, bpm, val_windows, 12345, labels).epoch(shuffle=False)
    songs_check = ValidationSongs(features, arrays["msd_tags"].astype(np.float32), track_of_window, val_windows,
                                  soundtracks, bpm, summary["tag_names"])
    while state["epoch"] < args.epochs and state["cuts"] <= args.max_cuts:
        started = time.time()
        sample = sampler.epoch()
        fit = model.fit(inputs_of(features, sample), targets_of(scores, sample, model.output), batch_size=args.batch_size,
                        epochs=1, verbose=0)
        val = model.evaluate(inputs_of(features, val_sample), targets_of(scores, val_sample, model.output),
                             batch_size=1024, verbose=0, return_dict=True)
        songs = songs_check.figures(lambda x: np.asarray(embedder.predict(x, batch_size=2048, verbose=0)),
                                    spec["subspaces"])
        state["epoch"] += 1
        row = {"epoch": state["epoch"], "lr": state["lr"], "train_loss": float(fit.history["loss"][-1]),
               **{f"val_{k}": float(v) for k, v in val.items()}, "val_song_map": songs["song_map"],
               "val_own_space": {n: a.get(n) for n, a in songs["triplet_accuracy"].items()},
               "val_whole_space": {n: a["all"] for n, a in songs["triplet_accuracy"].items()},
               "seconds": round(time.time() - started, 1)}
        history.append(row)
        improved = state["best"] is None or row["val_loss"] < state["best"]
        if improved:
            state.update(best=row["val_loss"], best_epoch=state["epoch"], flat=0)
            model.save_weights(out / "best.weights.h5")
        else:
            state["flat"] += 1
            if state["flat"] >= args.patience:  # section 5.1: the rate / 5 after flat epochs
                state.update(lr=state["lr"] / 5, cuts=state["cuts"] + 1, flat=0)
                model.optimizer.learning_rate.assign(state["lr"])
        model.save_weights(out / "last.weights.h5")
        (out / "history.json").write_text(json.dumps(history, indent=1))
        state_path.write_text(json.dumps(state))
        print(" ".join(_show(k, v) for k, v in row.items()) + (" *" if improved else ""), flush=True)
    print(f"best epoch {state['best_epoch']}: validation loss {state['best']:.4f}")
    return state


def _show(key, value):
    if isinstance(value, dict):
        return f"{key}=" + ",".join(f"{n}:{'-' if v is None else round(v, 3)}" for n, v in value.items())
    return f"{key}={value:.4f}" if isinstance(value, float) else f"{key}={value}"


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m training_recipes.disentangled_msd.train",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", default="runs/disentangled-msd/cache")
    parser.add_argument("--out", default="runs/disentangled-msd/run")
    parser.add_argument("--validation", required=True, help="held-out soundtracks \"A,B,...\" (model selection)")
    parser.add_argument("--track-weight", type=float, default=0.5, help="lambda of the track triplets (Eq. 5.5)")
    parser.add_argument("--tempo-weight", type=float, default=1.0, help="weight of tempo triplets; 0: no tempo sub-space")
    parser.add_argument("--mtat-instruments", action="store_true",
                        help="add musicnn-mtat's instrument tags as classes of the instrument sub-space")
    parser.add_argument("--notion-weight", type=float, default=0.0,
                        help="weight of a tag triplet per notion in its sub-space (section 5.1); 0: none")
    parser.add_argument("--margin", type=float, default=0.1)
    parser.add_argument("--width", type=int, default=64, help="units per sub-space")
    parser.add_argument("--hidden", type=int, default=512, help="shared hidden layer (0: none)")
    parser.add_argument("--activation", default="relu", choices=("relu", "linear"))
    parser.add_argument("--inputs", default="embedding,tags",
                        help="what the head reads: embedding (the read-out) [,tags (the backbone's tag scores)]")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--patience", type=int, default=4, help="flat epochs before the rate is cut")
    parser.add_argument("--max-cuts", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true")
    return parser.parse_args(argv)


def main(argv=None):
    train(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
