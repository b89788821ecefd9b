"""Stage 2 of the samplecnn-msd recipe: distil the teachers into a 3^9-SampleCNN.

    python -m training_recipes.samplecnn_msd.train --cache runs/samplecnn-msd/cache \
        --out runs/samplecnn-msd --validation "Soundtrack A,Soundtrack B" --hours 2 [--resume]
        [--warmup-steps W --decay-steps D]  (optimization.py)

Student: SampleCNN of Table 3.1 (59,049 samples at 22,050 Hz) with a linear 256-d
embedding between its 512-d features and a 50-tag sigmoid head. Losses per batch
(P soundtracks x K segments, each from a different random track and window):
  tags       BCE to musicnn-msd's scores on the window the segment was cut from
             (soft labels: knowledge distillation), or with --tag-loss logit-mse the
             squared difference of their log-odds; --listwise-weight adds a KL term on
             which tags rank highest;
  embedding  cos_weight * (1 - cos(student, artist-siamese-msd song embedding))
             [+ relational_weight * squared difference of in-batch similarities, which
             also works with --song-teacher musicnn-msd's 200-d features, or follows the
             mean similarities of --relational-teachers]
             + metric_weight * in-batch hinge over (anchor, same-soundtrack positive,
             other-soundtrack negative) triples, margin 0.4: the album concept of
             thesis section 4.2 with the soundtrack as album.
Whole soundtracks named by --validation are never trained on; every --eval-minutes
the run scores them (tag agreement ROC-AUC with the teacher, soundtrack MAP) and
keeps the best weights; with --ema-decay it scores and keeps an exponential moving average
of the weights instead (the optimizer keeps it; checkpoints hold both). Checkpoints
(weights, optimizer state, sampler state) are written every --checkpoint-minutes and at
the end; --resume continues from them.
Logs: <out>/train.log, <out>/history.jsonl. Stage 3 is `export.py`.
"""

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import keras
import numpy as np
from keras import ops
from tqdm import tqdm

import zoo
from training_recipes.evaluation.metrics import mean_average_precision, roc_auc_macro
from training_recipes.samplecnn_msd import readout
from training_recipes.samplecnn_msd.cache_data import SONG_TEACHERS, Sampler, load_cache, validation_windows
from training_recipes.samplecnn_msd.losses import TAG_LOSSES, embedding_loss, tag_loss
from training_recipes.samplecnn_msd.optimization import averaged_weights, learning_rate_at, schedule_origin
from training_recipes.samplecnn_msd.prepare import STUDENT_SAMPLES

EMBEDDING_SIZE = 256
log = logging.getLogger("samplecnn_msd.train")


def build_student(embedding_size=EMBEDDING_SIZE):
    """(inference model saved in the preset, training model with tags + embedding outputs)."""
    model = zoo.build("samplecnn", embedding_size=embedding_size)
    waveform = keras.Input((STUDENT_SAMPLES,), name="waveform")
    embedding = model.get_layer("backbone")(model.get_layer("frontend")(waveform))
    tags = model.get_layer("tags")(model.get_layer("tags_dropout")(embedding))
    return model, keras.Model(waveform, {"tags": tags, "embedding": embedding}, name="student_train")


def evaluate(model, cache, items, batch_size=24, teacher_songs=None):
    """Tag agreement with the teacher (top-3 of each window as labels) and soundtrack MAP, of
    the student and of the song teacher's vectors (`teacher_songs`, default artist-siamese-msd)."""
    waves = np.stack([cache["audio"][b : b + STUDENT_SAMPLES] for _, _, b in items]).astype(np.float32)
    out = model.predict(waves, batch_size=batch_size, verbose=0)
    teacher = np.stack([cache["tags"][cache["tracks"][i]["window_offset"] + k] for i, k, _ in items])
    labels = np.zeros_like(teacher)
    np.put_along_axis(labels, np.argsort(-teacher, axis=1)[:, :3], 1.0, axis=1)
    track_ids = np.array([i for i, _, _ in items])
    tracks = np.unique(track_ids)
    songs = np.stack([out["embedding"][track_ids == t].mean(0) for t in tracks])
    soundtracks = [cache["tracks"][t]["soundtrack"] for t in tracks]
    teacher_songs = (cache["song"] if teacher_songs is None else teacher_songs)[tracks]
    try:
        agreement = float(roc_auc_macro(labels, out["tags"]))
    except ValueError:  # every window has the same top tags: agreement is undefined
        agreement = float("nan")
    return {"tag_roc_auc_vs_teacher": agreement,
            "soundtrack_map": float(mean_average_precision(songs, soundtracks)),
            "teacher_song_map": float(mean_average_precision(teacher_songs, soundtracks))}


def open_history(path, resumed_step=None):
    """The run's history for appending. A resumed run keeps the records up to its checkpoint
    (later ones are of steps it is about to redo); a fresh run starts the file afresh."""
    lines = path.read_text().splitlines() if resumed_step is not None and path.is_file() else []
    path.write_text("".join(f"{line}\n" for line in lines if json.loads(line)["step"] <= resumed_step))
    return open(path, "a")


def _atomic_save_weights(model, path):
    tmp = path.with_name(path.stem + ".tmp.weights.h5")
    model.save_weights(tmp)
    os.replace(tmp, path)


def keep_check(out, model, state, history, record, score):
    """Append a validation record to the run's history; keep the weights (best.weights.h5 and
    best.json) when `score` beats every earlier check's (state["best"], updated)."""
    history.write(json.dumps(record) + "\n")
    history.flush()
    log.info("eval %s", record)
    if score > state["best"]:
        state["best"] = score
        _atomic_save_weights(model, out / "best.weights.h5")
        (out / "best.json").write_text(json.dumps(record, indent=1))


def save_checkpoint(out, model, optimizer, state, sampler):
    ckpt = out / "checkpoints"
    ckpt.mkdir(parents=True, exist_ok=True)
    _atomic_save_weights(model, ckpt / "latest.weights.h5")
    np.savez(ckpt / "optimizer.tmp.npz", *[ops.convert_to_numpy(v) for v in optimizer.variables])
    os.replace(ckpt / "optimizer.tmp.npz", ckpt / "optimizer.npz")
    state = {**state, "rng": sampler.rng.bit_generator.state}
    (ckpt / "state.tmp.json").write_text(json.dumps(state, default=int))
    os.replace(ckpt / "state.tmp.json", ckpt / "state.json")


def restore_checkpoint(out, model, optimizer, train_model, sampler):
    """Weights, optimizer moments and sampler state of <out>/checkpoints. The saved learning rate
    comes back too (an optimizer variable in Keras 3); `train` sets the one asked for now, from
    its schedule, before every step."""
    ckpt = out / "checkpoints"
    model.load_weights(ckpt / "latest.weights.h5")
    optimizer.build(train_model.trainable_variables)
    saved = np.load(ckpt / "optimizer.npz")
    values = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    if len(values) != len(optimizer.variables):
        raise SystemExit(f"{ckpt}: optimizer state has {len(values)} arrays, expected {len(optimizer.variables)} "
                         "(resume with the --ema-decay the run began with: it adds the averages)")
    for variable, value in zip(optimizer.variables, values):
        variable.assign(value)
    state = json.loads((ckpt / "state.json").read_text())
    sampler.rng.bit_generator.state = state.pop("rng")
    return state


def preset_origin(preset):
    """Where a committed preset's weights stand in training: the step, examples and seconds of
    the weights it holds, the phases that made them, and their sha256 (from its metadata)."""
    metadata = json.loads((Path(preset) / "metadata.json").read_text())
    made = metadata.get("training", {})
    kept = made.get("weights_record") or made.get("best_validation") or {}
    return {"step": int(kept.get("step", made.get("steps", 0))),
            "examples": kept.get("examples", made.get("examples", 0)),
            "seconds": kept.get("train_seconds", made.get("train_step_hours_2cpu", 0.0) * 3600),
            "phases": list(made.get("phases", [])),
            "sha256": (metadata.get("files") or {}).get("model.weights.h5")}


def preset_step(preset):
    """The training step a committed preset's weights were kept at."""
    return preset_origin(preset)["step"]


def init_from(model, init, state):
    """Load a committed preset's (or a weights file's) weights, fresh optimizer state. Returns
    (state, earlier phases, the weights' sha256): for a preset, the step, examples and phases
    continue from what its metadata says made them; a bare weights file starts them afresh.
    A preset whose embedding was whitened at export starts from its layers before folding."""
    if not init.is_dir():
        model.load_weights(init)
        return state, [], None
    from sdk.preset import load_preset_model

    load_preset_model(init).copy_weights_to(model)  # sha256 checked, the graph's weights into the network
    readout.unfold(model, init)
    origin = preset_origin(init)
    return {**state, **{k: origin[k] for k in ("step", "examples", "seconds")}}, origin["phases"], origin["sha256"]


def comma_list(text):
    """'A,B,' -> ['A', 'B']: the names a comma-separated option holds."""
    return [s for s in text.split(",") if s]


def add_data_arguments(parser):
    """--cache, --corpus and --validation, read alike by train, ablation and check_noise."""
    parser.add_argument("--cache", default="runs/samplecnn-msd/cache")
    parser.add_argument("--corpus", default="data/corpus", help="only tracks its training manifest lists are used")
    parser.add_argument("--validation", required=True, help="comma-separated held-out soundtracks")


def split_tracks(cache, validation, corpus):
    """(train, validation) track indices. Only tracks the corpus's training manifest still
    lists are used (read through the corpus's own guard), so a track dropped from the corpus
    after the cache was made, e.g. for an unclear licence, never reaches training."""
    from training_recipes.corpus.manifest import read_training_manifest

    allowed = {row["path"] for row in read_training_manifest(corpus)}
    usable = [i for i, t in enumerate(cache["tracks"]) if t["path"] in allowed]
    dropped = len(cache["tracks"]) - len(usable)
    if dropped:
        log.info("%d cached tracks are not in %s's training manifest; not used", dropped, corpus)
    validation = set(validation)
    known = {cache["tracks"][i]["soundtrack"] for i in usable}
    if validation - known:
        raise SystemExit(f"--validation names unknown soundtracks: {sorted(validation - known)}; "
                         f"known: {sorted(known)}")
    val = [i for i in usable if cache["tracks"][i]["soundtrack"] in validation]
    train = [i for i in usable if cache["tracks"][i]["soundtrack"] not in validation]
    return train, val


def train(args):
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = load_cache(args.cache)
    train_ids, val_ids = split_tracks(cache, comma_list(args.validation), args.corpus)
    model, train_model = build_student()
    sampler = Sampler(cache, train_ids, args.soundtracks_per_batch, args.per_soundtrack, args.seed,
                      args.song_teacher, args.soundtrack_exponent, comma_list(args.relational_teachers))
    optimizer = keras.optimizers.Adam(args.lr, use_ema=args.ema_decay > 0, ema_momentum=args.ema_decay or 0.99)
    train_model.compile(optimizer=optimizer,
                        loss={"tags": tag_loss(args.tag_loss, args.logit_floor, args.listwise_weight, args.temperature),
                              "embedding": embedding_loss(args.cos_weight, args.metric_weight, args.margin,
                                                          args.relational_weight, sampler.relational_sizes)},
                        loss_weights={"tags": args.tag_weight, "embedding": 1.0})
    if args.cos_weight and sampler.songs.shape[1] != EMBEDDING_SIZE:
        raise SystemExit(f"--song-teacher {args.song_teacher} gives {sampler.songs.shape[1]}-d vectors, the student "
                         f"{EMBEDDING_SIZE}-d: the cosine term needs equal sizes; use --cos-weight 0 "
                         "--relational-weight W")
    state = {"step": 0, "seconds": 0.0, "best": -1.0, "examples": 0}
    # A resumed or re-initialised run may change the losses: every invocation is kept as a
    # phase with the step it began at, after the phases that made its starting weights.
    phases, init_sha256 = [], None
    resumed = args.resume and (out / "checkpoints" / "state.json").is_file()
    if resumed:
        state = restore_checkpoint(out, model, optimizer, train_model, sampler)
        log.info("resumed at step %d", state["step"])
        if (out / "config.json").is_file():
            previous = json.loads((out / "config.json").read_text())
            phases = previous.get("phases") or [{"from_step": 0, **{k: v for k, v in previous.items()
                                                                     if not k.endswith("_tracks")}}]
    elif args.init_from:
        state, phases, init_sha256 = init_from(model, Path(args.init_from), state)
        log.info("initialised from %s (step %d)", args.init_from, state["step"])
    phase = {"from_step": state["step"], **vars(args)}
    if init_sha256:  # names the starting weights even after the preset is replaced
        phase["init_sha256"] = init_sha256
    phases.append(phase)
    schedule_start = schedule_origin(phases)
    tracks = cache["tracks"]
    (out / "config.json").write_text(json.dumps({**vars(args), "phases": phases,
                                                 "train_tracks": [tracks[i]["path"] for i in train_ids],
                                                 "validation_tracks": [tracks[i]["path"] for i in val_ids]}, indent=1))
    items = validation_windows(cache, val_ids)
    history = open_history(out / "history.jsonl", state["step"] if resumed else None)

    def next_batch():
        began = time.time()
        x, y = sampler.batch()
        return x, y, {"data": time.time() - began}

    return run_steps(args, out, model, train_model, optimizer, sampler, state, phase["from_step"], schedule_start,
                     history, next_batch, lambda m: evaluate(m, cache, items, teacher_songs=sampler.songs))


def run_steps(args, out, model, train_model, optimizer, sampler, state, phase_start, schedule_start, history,
              next_batch, score):
    """The step loop of both SampleCNN recipes: until args.hours or args.max_steps, fit
    `next_batch()` -> (x, y, {part: seconds}) with the learning rate of the schedule that began
    at `schedule_start`; every args.eval_minutes (and at the end) score the moving average of
    the weights (`score(train_model)` -> {"soundtrack_map", "tag_roc_auc_vs_teacher", ...}) and
    keep the best by their sum; a checkpoint every args.checkpoint_minutes and at the end."""
    deadline = time.time() + args.hours * 3600
    last_ckpt = last_eval = time.time()
    bar = tqdm(initial=state["step"], desc="steps", unit="step", file=sys.stdout, mininterval=30)
    running, timing = None, {}
    while time.time() < deadline and state["step"] < args.max_steps:
        began = time.time()
        x, y, parts = next_batch()
        fitting = time.time()
        optimizer.learning_rate.assign(learning_rate_at(state["step"] - schedule_start, args.lr, args.warmup_steps,
                                                        args.decay_steps, args.final_lr_fraction))
        logs = train_model.train_on_batch(x, y, return_dict=True)
        now = time.time()
        for key, seconds in {**parts, "student": now - fitting}.items():
            timing[key] = timing.get(key, 0.0) + seconds
        state["step"] += 1
        state["examples"] += len(x)
        state["seconds"] += now - began
        running = logs if running is None else {k: 0.98 * running[k] + 0.02 * v for k, v in logs.items()}
        bar.update(1)
        bar.set_postfix({k: f"{v:.3f}" for k, v in running.items()})
        last = time.time() >= deadline or state["step"] >= args.max_steps
        if time.time() - last_eval > args.eval_minutes * 60 or last:
            with averaged_weights(train_model, optimizer):
                scores = score(train_model)
                record = {"step": state["step"], "examples": state["examples"], "train_seconds": state["seconds"],
                          "seconds_per_step": {k: v / max(1, state["step"] - phase_start) for k, v in timing.items()},
                          **{f"train_{k}": float(v) for k, v in running.items()}, **scores}
                keep_check(out, model, state, history, record,
                           float(np.nansum([scores["soundtrack_map"], scores["tag_roc_auc_vs_teacher"]])))
            last_eval = time.time()
        if time.time() - last_ckpt > args.checkpoint_minutes * 60:
            save_checkpoint(out, model, optimizer, state, sampler)
            last_ckpt = time.time()
    save_checkpoint(out, model, optimizer, state, sampler)
    bar.close()
    return state


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training_recipes.samplecnn_msd.train",
                                     description=__doc__.split("\n\n")[0])
    add_data_arguments(parser)
    parser.add_argument("--out", default="runs/samplecnn-msd")
    parser.add_argument("--hours", type=float, default=2.0, help="wall-clock budget of this run")
    parser.add_argument("--max-steps", type=int, default=10**9)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--warmup-steps", type=int, default=0,
                        help="raise the learning rate linearly from 0 over these steps (after --init-from)")
    parser.add_argument("--decay-steps", type=int, default=0,
                        help="then lower it along a cosine to lr * --final-lr-fraction over these steps; "
                             "0 keeps it constant")
    parser.add_argument("--final-lr-fraction", type=float, default=0.0)
    parser.add_argument("--logit-floor", type=float, default=1e-4,
                        help="logit-mse clips scores to [floor, 1 - floor] before taking log-odds")
    parser.add_argument("--tag-loss", choices=TAG_LOSSES, default="bce",
                        help="bce on the teacher's scores, or logit-mse (log-odds regression)")
    parser.add_argument("--listwise-weight", type=float, default=0.0,
                        help="add this times the KL between teacher and student softmax over tag log-odds")
    parser.add_argument("--temperature", type=float, default=1.0, help="of the listwise term")
    parser.add_argument("--tag-weight", type=float, default=1.0)
    parser.add_argument("--cos-weight", type=float, default=1.0)
    parser.add_argument("--metric-weight", type=float, default=1.0)
    parser.add_argument("--margin", type=float, default=0.4)
    parser.add_argument("--song-teacher", choices=SONG_TEACHERS, default=SONG_TEACHERS[0],
                        help="whose song embeddings the cosine and relational terms follow")
    parser.add_argument("--relational-weight", type=float, default=0.0,
                        help="weight of matching the teacher's in-batch cosine similarities")
    parser.add_argument("--relational-teachers", default="",
                        help="comma-separated song teachers whose mean in-batch similarities the relational term "
                             "follows instead, as a correlation per anchor (losses.embedding_loss)")
    parser.add_argument("--ema-decay", type=float, default=0.0,
                        help="evaluate and keep a moving average of the weights with this decay (e.g. 0.99); "
                             "0 keeps the raw weights")
    parser.add_argument("--soundtracks-per-batch", type=int, default=6)
    parser.add_argument("--per-soundtrack", type=int, default=4)
    parser.add_argument("--soundtrack-exponent", type=float, default=0.0,
                        help="draw soundtracks with probability proportional to (their audio length) ** E: "
                             "0 draws each equally often, 0.5 by the square root of its length")
    parser.add_argument("--eval-minutes", type=float, default=15.0)
    parser.add_argument("--checkpoint-minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue from <out>/checkpoints")
    parser.add_argument("--init-from", default=None,
                        help="start from a preset dir or weights file (fresh optimizer state)")
    args = parser.parse_args(argv)
    if not 0.0 <= args.soundtrack_exponent <= 1.0:
        parser.error(f"--soundtrack-exponent {args.soundtrack_exponent}: must be in [0, 1]")
    unknown = set(comma_list(args.relational_teachers)) - set(SONG_TEACHERS)
    if unknown:
        parser.error(f"--relational-teachers: unknown {sorted(unknown)}; choose from {', '.join(SONG_TEACHERS)}")
    if not 0.0 <= args.ema_decay < 1.0:
        parser.error(f"--ema-decay {args.ema_decay}: must be in [0, 1)")
    if min(args.warmup_steps, args.decay_steps) < 0 or not 0.0 <= args.final_lr_fraction <= 1.0:
        parser.error("--warmup-steps and --decay-steps must be >= 0, --final-lr-fraction in [0, 1]")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    logging.basicConfig(filename=Path(args.out) / "train.log", level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s")
    log.info("backend %s, args %s", keras.backend.backend(), vars(args))
    state = train(args)
    print(f"stopped at step {state['step']}, {state['examples']} examples, {state['seconds'] / 3600:.2f} h")


if __name__ == "__main__":
    main()
