"""Training-loop helpers the thesis recipes share: run folder, checkpoints and resume, the
plateau learning-rate rule and the epoch loop (data loading: audio_batches).

A run folder `<out>/` holds
    config.json          the run's arguments, Keras backend and version; `--resume` refuses a
                         different dataset / model / batch size / seed (RESUME_KEYS of the recipe)
    train.log            the log (appended to on resume)
    checkpoints/epoch-NNNN/{variables.npz, state.json}
                         written every epoch: model variables (weights, batch-norm statistics,
                         dropout seed state), optimizer variables (step, learning rate, momenta),
                         epoch, learning-rate schedule state, history; the last `keep` are kept
    checkpoints/best.npz model variables of the epoch with the lowest validation loss
    results.json         the recipe's test results, written at the end

Every random choice of a recipe (shuffles, crops, negative samples) comes from
`epoch_rng(seed, epoch)` and the dropout seeds are checkpointed, so a resumed run gives the
same numbers as an uninterrupted one.
"""

import json
import logging
import math
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np

CHECKPOINTS = "checkpoints"
BEST = "best.npz"
_EPOCH_PREFIX = "epoch-"


class RecipeError(Exception):
    """A problem the user can fix (missing dataset file, bad option); printed as one line."""


def cli_main(run, args):
    """Run `run(args)` (under `--data-parallel`'s distribution when asked: common/distribute.py);
    print a RecipeError or undecodable audio (sdk.AudioError, which names the file) as one line
    `error: ...` on stderr and return 2, else return 0."""
    from sdk.audio import AudioError
    from training_recipes.common.distribute import recipe_distribution

    try:
        with recipe_distribution(args):
            run(args)
    except (RecipeError, AudioError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def add_run_arguments(parser):
    """The run-control options every thesis recipe CLI takes: seed, decoded-audio cache,
    missing audio, resume and how many checkpoints to keep."""
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", help="keep decoded audio here (16-bit .npy)")
    parser.add_argument("--skip-missing", action="store_true", help="leave out tracks with missing/empty audio")
    parser.add_argument("--resume", action="store_true", help="continue after the last checkpoint in --out")
    parser.add_argument("--keep-checkpoints", type=int, default=2)
    parser.add_argument("--data-parallel", action="store_true",
                        help="split every batch over all accelerators (JAX backend; batch sizes must divide by "
                             "the device count)")


def run_environment():
    """Software versions and the CPU a report was measured on: figures that involve training
    may differ between installs and CPUs (kernels may sum in another order), and a few epochs
    on little data amplify such differences."""
    import keras
    import sklearn

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    except OSError:
        pass
    backend = keras.backend.backend()
    return {"keras": keras.__version__, "backend": backend,
            "backend_version": getattr(sys.modules.get(backend), "__version__", None), "numpy": np.__version__,
            "scikit-learn": sklearn.__version__, "python": sys.version.split()[0], "cpu": cpu,
            "cpu_count": os.cpu_count()}


def epoch_rng(seed, epoch, stream=0):
    """The random generator of one epoch (epoch 0: fixed choices such as validation crops;
    another `stream` for other fixed choices, e.g. test sampling)."""
    return np.random.default_rng([int(seed), int(epoch), int(stream)])


def write_json(path, data):
    """Write JSON atomically (temporary file + rename); NaN / inf become null."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(_finite(data), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _finite(data):
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_finite(v) for v in data]
    if isinstance(data, (float, np.floating)):
        return float(data) if math.isfinite(data) else None
    if isinstance(data, np.integer):
        return int(data)
    if isinstance(data, Path):
        return str(data)
    return data


# ------------------------------------------------------------------ learning-rate rule
class PlateauSchedule:
    """Divide the learning rate by `factor` when the validation loss has not decreased for
    `patience` epochs; after `max_reductions` divisions, the next plateau stops training.

    Thesis section 3.1.5: 0.01, divided by 5 when the validation loss did not decrease for 3
    epochs, 4 times in all (last rate 0.01 / 5^4 = 0.000016). Like Keras's ReduceLROnPlateau,
    the best loss is kept across reductions and the wait restarts after each.
    """

    def __init__(self, learning_rate, factor=5.0, patience=3, max_reductions=4):
        if factor <= 1 or patience < 1 or max_reductions < 0:
            raise ValueError(f"need factor > 1, patience >= 1, max_reductions >= 0; got "
                             f"{factor}, {patience}, {max_reductions}")
        self.initial = float(learning_rate)
        self.factor, self.patience, self.max_reductions = float(factor), int(patience), int(max_reductions)
        self.best, self.wait, self.reductions, self.stopped = math.inf, 0, 0, False

    @property
    def learning_rate(self):
        return self.initial / self.factor ** self.reductions

    def update(self, loss):
        """Record one epoch's validation loss: 'improved', 'wait', 'reduced' or 'stop'."""
        if self.stopped:
            raise RuntimeError("the schedule has already stopped training")
        if math.isfinite(loss) and loss < self.best:
            self.best, self.wait = float(loss), 0
            return "improved"
        self.wait += 1
        if self.wait < self.patience:
            return "wait"
        self.wait = 0
        if self.reductions >= self.max_reductions:
            self.stopped = True
            return "stop"
        self.reductions += 1
        return "reduced"

    def state_dict(self):
        return {"initial": self.initial, "factor": self.factor, "patience": self.patience,
                "max_reductions": self.max_reductions, "best": None if self.best == math.inf else self.best,
                "wait": self.wait, "reductions": self.reductions, "stopped": self.stopped}

    def load_state_dict(self, state):
        self.initial, self.factor = float(state["initial"]), float(state["factor"])
        self.patience, self.max_reductions = int(state["patience"]), int(state["max_reductions"])
        self.best = math.inf if state["best"] is None else float(state["best"])
        self.wait, self.reductions, self.stopped = int(state["wait"]), int(state["reductions"]), bool(state["stopped"])


def inverse_time_decay(learning_rate, step, decay):
    """Keras 2 SGD `decay` (section 4.1.3: 1e-6): lr / (1 + decay * step)."""
    return learning_rate / (1.0 + decay * step)


def seed_dropout(model):
    """Make every dropout layer draw its masks from its own seed state (a model variable, so
    checkpointed). Keras's torch backend otherwise takes an unseeded fast path for layers built
    without a seed, drawing from torch's global generator, which a checkpoint cannot restore.
    The seed state itself is unchanged (it was drawn from the seed keras.utils.set_random_seed
    set); on JAX and TensorFlow the masks are the same as before."""
    from sdk.model import iter_layers

    for layer in iter_layers(model):
        generator = getattr(layer, "seed_generator", None)
        if generator is not None and getattr(generator, "_initial_seed", 0) is None:
            generator._initial_seed = int(_numpy(generator.state)[0])
    return model


# ------------------------------------------------------------------ variables <-> files
def _numpy(variable):
    import keras

    return np.asarray(keras.ops.convert_to_numpy(variable))


def _optimizer_variables(model):
    optimizer = model.optimizer
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    return list(optimizer.variables)


def _save_arrays(path, groups):
    """groups: {prefix: [variables]} -> one .npz plus the variable paths, written atomically."""
    arrays, names = {}, {}
    for prefix, variables in groups.items():
        names[prefix] = [v.path for v in variables]
        arrays.update({f"{prefix}/{i:05d}": _numpy(v) for i, v in enumerate(variables)})
    tmp = path.with_name(f".{path.name}.tmp.npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(tmp, __names__=np.array(json.dumps(names)), **arrays)
    os.replace(tmp, path)


def _load_arrays(path, groups):
    with np.load(path) as data:
        names = json.loads(str(data["__names__"]))
        for prefix, variables in groups.items():
            saved = names.get(prefix, [])
            shapes = [data[f"{prefix}/{i:05d}"].shape for i in range(len(saved))]
            ours = [tuple(v.shape) for v in variables]
            if len(saved) != len(variables) or any(tuple(s) != o for s, o in zip(shapes, ours)):
                raise RecipeError(f"{path}: {prefix} state does not fit this model ({len(saved)} saved "
                                  f"variables, {len(variables)} here); was --model, --tiny or "
                                  f"--variant changed?")
            for i, v in enumerate(variables):
                v.assign(data[f"{prefix}/{i:05d}"].astype(np.dtype(v.dtype)))


class Checkpoints:
    """Per-epoch checkpoints under `<out>/checkpoints`, the last `keep` kept, plus best.npz."""

    def __init__(self, directory, keep=2):
        self.directory, self.keep = Path(directory), max(1, int(keep))

    def epochs(self):
        if not self.directory.is_dir():
            return []
        found = []
        for d in self.directory.iterdir():
            if d.name.startswith(_EPOCH_PREFIX) and (d / "state.json").is_file():
                try:
                    found.append((int(d.name[len(_EPOCH_PREFIX):]), d))
                except ValueError:
                    pass
        return sorted(found)

    def latest(self):
        found = self.epochs()
        return found[-1][1] if found else None

    def save(self, epoch, model, state):
        target = self.directory / f"{_EPOCH_PREFIX}{epoch:04d}"
        staging = self.directory / f".{target.name}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        _save_arrays(staging / "variables.npz",
                     {"model": list(model.variables), "optimizer": _optimizer_variables(model)})
        write_json(staging / "state.json", state)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
        for _, old in self.epochs()[:-self.keep]:
            shutil.rmtree(old, ignore_errors=True)
        return target

    def restore(self, directory, model):
        """Load a checkpoint into `model` and its optimizer; returns its state dict."""
        directory = Path(directory)
        _load_arrays(directory / "variables.npz",
                     {"model": list(model.variables), "optimizer": _optimizer_variables(model)})
        return json.loads((directory / "state.json").read_text(encoding="utf-8"))

    def save_best(self, model):
        _save_arrays(self.directory / BEST, {"model": list(model.variables)})

    def load_best(self, model):
        path = self.directory / BEST
        if not path.is_file():
            return False
        _load_arrays(path, {"model": list(model.variables)})
        return True


# ------------------------------------------------------------------ run folder
class Run:
    """The run folder: config.json, train.log, checkpoints. Use as a context manager."""

    def __init__(self, out, config, resume=False, resume_keys=(), keep=2):
        self.out = Path(out)
        self.resume = resume
        self.checkpoints = Checkpoints(self.out / CHECKPOINTS, keep)
        config_path = self.out / "config.json"
        if not resume and self.checkpoints.epochs():
            raise RecipeError(f"{self.checkpoints.directory}: holds checkpoints of an earlier run; "
                              f"pass --resume to continue it or choose another --out")
        if resume and config_path.is_file():
            old = json.loads(config_path.read_text(encoding="utf-8"))
            changed = [k for k in resume_keys if old.get(k) != config.get(k)]
            if changed:
                raise RecipeError(f"{config_path}: --resume with different "
                                  + ", ".join(f"{k} ({old.get(k)!r} -> {config.get(k)!r})" for k in changed))
        self.out.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.log = logging.getLogger(f"training_recipes.run.{id(self)}")
        self.log.setLevel(logging.INFO)
        self.log.propagate = False
        formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
        self._handlers = [logging.FileHandler(self.out / "train.log", encoding="utf-8"),
                          logging.StreamHandler(sys.stderr)]
        for handler in self._handlers:
            handler.setFormatter(formatter)
            self.log.addHandler(handler)
        import keras

        write_json(config_path, {**config, "keras_backend": keras.backend.backend(),
                                 "keras_version": keras.__version__})
        self.log.info("%s run in %s: %s", "resumed" if resume else "new", self.out,
                      json.dumps(_finite(config), ensure_ascii=False))

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if error is not None:
            self.log.error("%s: %s", kind.__name__, error)
        self.close()

    def close(self):
        for handler in self._handlers:
            self.log.removeHandler(handler)
            handler.close()


# ------------------------------------------------------------------ the loop
def fit(model, run, *, epochs, steps_per_epoch, batches, validate, schedule, lr_decay=0.0,
        max_steps=None, summed_loss=False):
    """Train with the plateau rule, checkpointing every epoch; returns the final state dict.

    `batches(epoch)` yields (x, y) training batches (draw every random choice from
    `epoch_rng(seed, epoch)`); `validate()` returns {"loss": ..., other metrics}. The logged
    training loss is per example: `summed_loss` says the model's loss is a sum over the batch
    (reduction "sum"), not a mean. With
    `run.resume`, training continues after the last checkpoint. At the end the model holds the
    weights of its best validation epoch.
    """
    from tqdm.auto import tqdm

    from training_recipes.common.distribute import check_batch, device_count

    seed_dropout(model)
    if device_count() > 1:
        run.log.info("data parallel over %d devices", device_count())
    state = {"epoch": 0, "history": [], "best_epoch": None, "stopped_by_schedule": False}
    latest = run.checkpoints.latest() if run.resume else None
    if latest is not None:
        state = run.checkpoints.restore(latest, model)
        schedule.load_state_dict(state["schedule"])
        run.log.info("resumed from %s (epoch %d, learning rate %.3g)", latest, state["epoch"],
                     schedule.learning_rate)
    elif run.resume:
        run.log.warning("--resume: no checkpoint in %s, starting from scratch", run.checkpoints.directory)
    optimizer = model.optimizer
    steps = steps_per_epoch if max_steps is None else min(steps_per_epoch, max_steps)
    for epoch in range(state["epoch"] + 1, epochs + 1):
        if schedule.stopped:
            break
        started = time.time()
        _optimizer_variables(model)  # built, so the step counter exists
        step = int(_numpy(optimizer.iterations))
        lr_epoch = schedule.learning_rate
        total, count = 0.0, 0
        source = batches(epoch)
        bar = tqdm(total=steps, desc=f"epoch {epoch}", disable=None, leave=False, file=sys.stderr)
        try:
            for _, (x, y) in zip(range(steps), source):
                check_batch(len(y))
                optimizer.learning_rate = inverse_time_decay(lr_epoch, step, lr_decay)
                loss = float(model.train_on_batch(x, y, return_dict=True)["loss"])
                size = len(y)
                total, count, step = total + (loss if summed_loss else loss * size), count + size, step + 1
                bar.update(1)
                bar.set_postfix(loss=f"{total / count:.4f}")
        finally:
            bar.close()
            getattr(source, "close", lambda: None)()
        train_loss = total / max(count, 1)
        if not math.isfinite(train_loss):
            raise RecipeError(f"epoch {epoch}: training loss is {train_loss}; lower --learning-rate")
        metrics = validate()
        event = schedule.update(metrics["loss"])
        record = {"epoch": epoch, "learning_rate": lr_epoch, "train_loss": train_loss,
                  "val_loss": metrics["loss"], **{f"val_{k}": v for k, v in metrics.items() if k != "loss"},
                  "event": event}
        if event == "improved":
            run.checkpoints.save_best(model)
            state["best_epoch"] = epoch
        state["history"] = state["history"] + [record]
        state.update(epoch=epoch, schedule=schedule.state_dict(), stopped_by_schedule=schedule.stopped)
        path = run.checkpoints.save(epoch, model, state)
        extras = " ".join(f"{k} {v:.4f}" for k, v in record.items()
                          if k.startswith("val_") and k != "val_loss" and isinstance(v, float))
        run.log.info("epoch %d: lr %.3g, train loss %.4f, val loss %.4f %s-> %s (%.1f s, %s)", epoch,
                     lr_epoch, train_loss, metrics["loss"], extras + " " if extras else "", event,
                     time.time() - started, path.name)
        if event == "stop":
            run.log.info("validation loss stalled after %d learning-rate reductions: stopping",
                         schedule.reductions)
    if run.checkpoints.load_best(model):
        run.log.info("using the weights of epoch %s (best validation loss %.4f)", state["best_epoch"],
                     schedule.best)
    return state
