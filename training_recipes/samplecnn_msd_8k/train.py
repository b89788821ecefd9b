"""Stage 2 of the samplecnn-msd-8k recipe: the Table 3.3 8 kHz SampleCNN by function matching.

    python -m training_recipes.samplecnn_msd_8k.train --store runs/samplecnn-msd-8k/store \
        --out runs/samplecnn-msd-8k --validation "Soundtrack A,Soundtrack B" --hours 2 [--resume]
        [--init-from sdk/bundled/samplecnn-msd]

Student: SampleCNN 3-3-3-3-2-2-4-4-2-2 (20,736 samples at 8 kHz, Table 3.3) with the 256-d
embedding and 50-tag head of samplecnn-msd. Every step draws P soundtracks x K augmented spans
(augment.py), runs the teachers on them (teachers.py) and fits the student to what they
say about that very audio; the losses are samplecnn-msd's (its losses.py): logit matching to
musicnn-msd's tags, cosine to the song teacher's embedding (--song-teacher), the feature teachers'
in-batch neighbourhoods (relational term) and the soundtrack hinge (thesis section 4.2).
--init-from a 22 kHz samplecnn-msd preset starts from its weights wherever shapes allow
(`warm_start`); an 8 kHz preset or weights file loads as it is.
Whole soundtracks named by --validation are never trained on; every --eval-minutes the run scores
them on fixed unaugmented spans (tag agreement with musicnn-msd, soundtrack MAP) with the moving
average of the weights and keeps the best. Checkpoints every --checkpoint-minutes; --resume
continues. Logs: <out>/train.log, <out>/history.jsonl. Stage 3 is `export.py`.
"""

import argparse
import json
import logging
import time
from pathlib import Path

import keras
import numpy as np

import zoo
from training_recipes.evaluation.metrics import mean_average_precision, roc_auc_macro
from training_recipes.samplecnn_msd.losses import embedding_loss, tag_loss
from training_recipes.samplecnn_msd.optimization import schedule_origin
from training_recipes.samplecnn_msd.train import comma_list, open_history, restore_checkpoint, run_steps
from training_recipes.samplecnn_msd_8k.augment import Augmentation, CropSampler, validation_spans
from training_recipes.samplecnn_msd_8k.store import load_store
from training_recipes.samplecnn_msd_8k.teachers import (FEATURE_TEACHERS, SONG_TEACHER, SONG_TEACHERS, STUDENT_SAMPLES,
                                                       Teachers, student_view)

EMBEDDING_SIZE = 256
REGISTRY_NAME = "samplecnn-8k"
log = logging.getLogger("samplecnn_msd_8k.train")


def build_student(embedding_size=EMBEDDING_SIZE):
    """(inference model saved in the preset, training model with tags + embedding outputs)."""
    model = zoo.build(REGISTRY_NAME, embedding_size=embedding_size)
    waveform = keras.Input((STUDENT_SAMPLES,), name="waveform")
    embedding = model.get_layer("backbone")(model.get_layer("frontend")(waveform))
    tags = model.get_layer("tags")(model.get_layer("tags_dropout")(embedding))
    return model, keras.Model(waveform, {"tags": tags, "embedding": embedding}, name="student_train")


def _resized_kernel(kernel, size):
    """A conv kernel (k, in, out) stretched to `size` taps by linear interpolation, scaled so
    its response to a constant input is kept."""
    k = kernel.shape[0]
    positions = np.linspace(0.0, k - 1.0, size)
    low = np.floor(positions).astype(int)
    high = np.minimum(low + 1, k - 1)
    frac = (positions - low)[:, None, None]
    return ((1.0 - frac) * kernel[low] + frac * kernel[high]) * (k / size)


def warm_start(model, preset):
    """Copy a 22 kHz samplecnn preset's weights into the 8 kHz `model`, layer by layer by name:
    same shapes as they are, conv kernels of another width resized (`_resized_kernel`).
    Returns {"copied": [...], "resized": [...], "fresh": [...]} layer names."""
    import sdk

    source = sdk.load(preset).task.build_network()
    source_layers = {l.name: l for l in _layers(source)}
    report = {"copied": [], "resized": [], "fresh": []}
    for layer in _layers(model):
        twin = source_layers.get(layer.name)
        if not layer.weights:
            continue
        if twin is None or len(twin.weights) != len(layer.weights):
            report["fresh"].append(layer.name)
            continue
        values = [np.asarray(w) for w in twin.get_weights()]
        shapes = [tuple(w.shape) for w in layer.weights]
        if [v.shape for v in values] == shapes:
            layer.set_weights(values)
            report["copied"].append(layer.name)
        elif isinstance(layer, keras.layers.Conv1D) and values[0].shape[1:] == shapes[0][1:]:
            layer.set_weights([_resized_kernel(values[0], shapes[0][0]), *values[1:]])
            report["resized"].append(layer.name)
        else:
            report["fresh"].append(layer.name)
    return report


def _layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _layers(layer)
        else:
            yield layer


def initialise(model, init):
    """--init-from: an 8 kHz preset or weights file as it is, a 22 kHz preset by `warm_start`."""
    init = Path(init)
    if not init.is_dir():
        model.load_weights(init)
        return {"weights_file": str(init)}
    config = json.loads((init / "config.json").read_text())
    if config["config"]["network"] == REGISTRY_NAME:
        from sdk.preset import load_preset_model

        load_preset_model(init).copy_weights_to(model)
        return {"preset": str(init)}
    return {"preset": str(init), **warm_start(model, init)}


class Validation:
    """Fixed spans of the held-out soundtracks, with the teacher's tags and song vectors on them."""

    def __init__(self, store, track_ids, teachers, batch=24):
        self.spans, self.owners = validation_spans(store, track_ids)
        outs = [teachers(self.spans[i: i + batch]) for i in range(0, len(self.spans), batch)]
        self.teacher_tags = np.concatenate([o["tags"] for o in outs])
        self.teacher_song = np.concatenate([o["song"] for o in outs])
        self.student_input = np.concatenate([student_view(self.spans[i: i + batch])
                                             for i in range(0, len(self.spans), batch)])
        self.tracks = np.unique(self.owners)
        self.soundtracks = [store["tracks"][t]["soundtrack"] for t in self.tracks]

    def _map(self, vectors):
        songs = np.stack([vectors[self.owners == t].mean(0) for t in self.tracks])
        return float(mean_average_precision(songs, self.soundtracks))

    def score(self, train_model):
        out = train_model.predict(self.student_input, batch_size=24, verbose=0)
        labels = np.zeros_like(self.teacher_tags)
        np.put_along_axis(labels, np.argsort(-self.teacher_tags, axis=1)[:, :3], 1.0, axis=1)
        try:
            agreement = float(roc_auc_macro(labels, out["tags"]))
        except ValueError:  # every span has the same top tags
            agreement = float("nan")
        return {"tag_roc_auc_vs_teacher": agreement, "soundtrack_map": self._map(out["embedding"]),
                "teacher_song_map": self._map(self.teacher_song)}


def split_tracks(store, validation):
    validation = set(validation)
    known = {t["soundtrack"] for t in store["tracks"]}
    if validation - known:
        raise SystemExit(f"--validation names unknown soundtracks: {sorted(validation - known)}; known: {sorted(known)}")
    val = [i for i, t in enumerate(store["tracks"]) if t["soundtrack"] in validation]
    return [i for i, t in enumerate(store["tracks"]) if t["soundtrack"] not in validation], val


def augmentation_of(args):
    return Augmentation(speed=args.speed, mixup_p=args.mixup_p, mixup_max=args.mixup_max, eq_bands=args.eq_bands,
                        eq_db=args.eq_db, gain_db=(args.gain_low_db, args.gain_high_db))


def train(args):
    out = Path(args.out)
    store = load_store(args.store)
    train_ids, val_ids = split_tracks(store, comma_list(args.validation))
    teachers = Teachers(comma_list(args.feature_teachers), args.song_teacher)
    model, train_model = build_student()
    sampler = CropSampler(store, train_ids, augmentation_of(args), args.soundtracks_per_batch, args.per_soundtrack,
                          args.soundtrack_exponent, args.seed)
    optimizer = keras.optimizers.Adam(args.lr, use_ema=args.ema_decay > 0, ema_momentum=args.ema_decay or 0.99)
    train_model.compile(optimizer=optimizer,
                        loss={"tags": tag_loss("logit-mse", args.logit_floor),
                              "embedding": embedding_loss(args.cos_weight, args.metric_weight, args.margin,
                                                          args.relational_weight, teachers.relational_sizes)},
                        loss_weights={"tags": args.tag_weight, "embedding": 1.0})
    state = {"step": 0, "seconds": 0.0, "best": -1.0, "examples": 0}
    phases = []
    resumed = args.resume and (out / "checkpoints" / "state.json").is_file()
    if resumed:
        state = restore_checkpoint(out, model, optimizer, train_model, sampler)
        phases = json.loads((out / "config.json").read_text())["phases"]
        log.info("resumed at step %d", state["step"])
    phase = {"from_step": state["step"], **vars(args)}
    if args.init_from and not resumed:
        phase["init"] = initialise(model, args.init_from)
        log.info("initialised from %s: %s", args.init_from, phase["init"])
    phases.append(phase)
    schedule_start = schedule_origin(phases)
    (out / "config.json").write_text(json.dumps({**vars(args), "phases": phases,
                                                 "augmentation": augmentation_of(args).record(),
                                                 "train_tracks": [store["tracks"][i]["path"] for i in train_ids],
                                                 "validation_tracks": [store["tracks"][i]["path"] for i in val_ids]},
                                                indent=1))
    validation = Validation(store, val_ids, teachers)
    log.info("validation: %d spans of %d tracks", len(validation.spans), len(validation.tracks))
    history = open_history(out / "history.jsonl", state["step"] if resumed else None)

    def next_batch():
        began = time.time()
        spans, soundtracks = sampler.batch()
        x = student_view(spans)
        fetched = time.time()
        y = teachers.targets(teachers(spans), soundtracks)
        return x, y, {"data": fetched - began, "teachers": time.time() - fetched}

    return run_steps(args, out, model, train_model, optimizer, sampler, state, phase["from_step"], schedule_start,
                     history, next_batch, validation.score)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training_recipes.samplecnn_msd_8k.train",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default="runs/samplecnn-msd-8k/store")
    parser.add_argument("--validation", required=True, help="comma-separated held-out soundtracks")
    parser.add_argument("--out", default="runs/samplecnn-msd-8k")
    parser.add_argument("--hours", type=float, default=2.0, help="wall-clock budget of this run")
    parser.add_argument("--max-steps", type=int, default=10**9)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--warmup-steps", type=int, default=200)
    parser.add_argument("--decay-steps", type=int, default=0, help="cosine decay over these steps; 0: constant")
    parser.add_argument("--final-lr-fraction", type=float, default=0.02)
    parser.add_argument("--ema-decay", type=float, default=0.99)
    parser.add_argument("--logit-floor", type=float, default=1e-4)
    parser.add_argument("--tag-weight", type=float, default=0.5)
    parser.add_argument("--cos-weight", type=float, default=1.0)
    parser.add_argument("--relational-weight", type=float, default=1.0)
    parser.add_argument("--feature-teachers", default=",".join(FEATURE_TEACHERS),
                        help=f"whose 200-d features the relational term follows ({', '.join(FEATURE_TEACHERS)})")
    parser.add_argument("--song-teacher", choices=tuple(SONG_TEACHERS), default=SONG_TEACHER,
                        help="whose embedding the cosine term matches")
    parser.add_argument("--metric-weight", type=float, default=1.0)
    parser.add_argument("--margin", type=float, default=0.4)
    parser.add_argument("--soundtracks-per-batch", type=int, default=6)
    parser.add_argument("--per-soundtrack", type=int, default=4)
    parser.add_argument("--soundtrack-exponent", type=float, default=1.0)
    augmentation = Augmentation()
    parser.add_argument("--speed", type=float, default=augmentation.speed)
    parser.add_argument("--mixup-p", type=float, default=augmentation.mixup_p)
    parser.add_argument("--mixup-max", type=float, default=augmentation.mixup_max)
    parser.add_argument("--eq-bands", type=int, default=augmentation.eq_bands)
    parser.add_argument("--eq-db", type=float, default=augmentation.eq_db)
    parser.add_argument("--gain-low-db", type=float, default=augmentation.gain_db[0])
    parser.add_argument("--gain-high-db", type=float, default=augmentation.gain_db[1])
    parser.add_argument("--eval-minutes", type=float, default=10.0)
    parser.add_argument("--checkpoint-minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue from <out>/checkpoints")
    parser.add_argument("--init-from", default=None, help="a samplecnn preset dir (22 or 8 kHz) or weights file")
    args = parser.parse_args(argv)
    if not 0.0 <= args.speed < 0.5 or not 0.0 <= args.mixup_p <= 1.0 or not 0.0 <= args.mixup_max < 0.5:
        parser.error("--speed must be in [0, 0.5), --mixup-p in [0, 1], --mixup-max in [0, 0.5)")
    if args.gain_low_db > args.gain_high_db:
        parser.error("--gain-low-db is above --gain-high-db")
    if args.init_from and not Path(args.init_from).exists():
        parser.error(f"--init-from {args.init_from}: no such preset or weights file")
    if not 0.0 <= args.ema_decay < 1.0:
        parser.error(f"--ema-decay {args.ema_decay}: must be in [0, 1)")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    logging.basicConfig(filename=Path(args.out) / "train.log", level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s")
    log.info("backend %s, args %s", keras.backend.backend(), vars(args))
    state = train(args)
    print(f"stopped at step {state['step']}, {state['examples']} examples, {state['seconds'] / 3600:.2f} h")


if __name__ == "__main__":
    main()
