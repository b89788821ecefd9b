"""The thesis recipes (training_recipes.thesis.samplecnn_tagging, .artist) end to end on the
tiny dataset fixtures, with the registry's tiny models; plus the shared loop helpers
(training_recipes.common.training): plateau rule, checkpoints, resume.

Metadata fixtures live in tests/data/datasets/<name>/; the audio (short tones + noise, MP3 as
the real datasets ship) is written into a tmp copy at test time."""

import json
import math
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
import soundfile as sf

from helpers import DATA, jax_compilation_cache
from training_recipes.common import training
from training_recipes.thesis import artist as artist_recipes
from training_recipes.thesis import datasets, samplecnn_tagging

FIXTURES = DATA / "datasets"
RATE = 22050


def _write_tone(path, seconds, f0, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (0.3 * np.sin(2 * np.pi * f0 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32),
             RATE, format="MP3")


def _with_audio(tmp_path_factory, name, songs_of, seconds=0.5):
    """A tmp copy of fixture `name` with an MP3 for every (path, frequency) of `songs_of(root)`."""
    root = tmp_path_factory.mktemp("data") / name
    shutil.copytree(FIXTURES / name, root)
    for i, (path, f0) in enumerate(songs_of(root)):
        _write_tone(path, seconds + 0.05 * i, f0, seed=i)
    return root


def _tagged(dataset):
    return [(t.path, 200 + 150 * len(t.labels)) for split in dataset.splits.values() for t in split]


@pytest.fixture(scope="module")
def mtat_root(tmp_path_factory):
    return _with_audio(tmp_path_factory, "mtat", lambda r: _tagged(datasets.load_mtat(r, drop_untagged=False)))


@pytest.fixture(scope="module")
def msd_root(tmp_path_factory):
    return _with_audio(tmp_path_factory, "msd", lambda r: _tagged(datasets.load_msd(r, drop_untagged=False)))


@pytest.fixture(scope="module")
def artist_root(tmp_path_factory):
    def songs(root):  # one pitch per artist
        data = artist_recipes.load_artist_split(root)
        return [(t.path, 200 * (1 + data.tags.index(t.artist))) for split in data.splits.values() for t in split]

    return _with_audio(tmp_path_factory, "msd_artist", songs, seconds=0.6)


@pytest.fixture(scope="module", autouse=True)
def _jax_compilation_cache(tmp_path_factory):
    """Under JAX, the runs of one recipe rebuild the same model: let XLA reuse compilations."""
    with jax_compilation_cache(tmp_path_factory.mktemp("xla")):
        yield


def _main(module, *argv):
    assert module.main([str(a) for a in argv]) == 0


def _results(out):
    return json.loads((Path(out) / "results.json").read_text())


def _assert_run_folder(out, metrics):
    out = Path(out)
    for name in ("config.json", "train.log", "results.json", "checkpoints/best.npz", "preset/model.weights.h5"):
        assert (out / name).is_file(), name
    results = _results(out)
    for name in metrics:
        assert isinstance(results[name], float) and math.isfinite(results[name]), (name, results[name])
    assert results["history"] and all(math.isfinite(h["train_loss"]) and math.isfinite(h["val_loss"])
                                      for h in results["history"])
    state = json.loads((out / "checkpoints" / f"epoch-{results['epochs_trained']:04d}" / "state.json").read_text())
    assert state["epoch"] == results["epochs_trained"] and state["schedule"]["initial"] > 0
    assert "epoch 1: lr" in (out / "train.log").read_text()
    return results


def _assert_same_run(a, b):
    """Resumed run == uninterrupted run: history, test metrics and final variables."""
    ra, rb = _results(a), _results(b)
    assert [h["event"] for h in ra["history"]] == [h["event"] for h in rb["history"]]
    for ha, hb in zip(ra["history"], rb["history"]):
        np.testing.assert_allclose([ha["train_loss"], ha["val_loss"]], [hb["train_loss"], hb["val_loss"]], rtol=1e-5)
    for key, value in ra.items():
        if isinstance(value, float):
            assert rb[key] == pytest.approx(value, rel=1e-5, abs=1e-7), key
    last = f"checkpoints/epoch-{ra['epochs_trained']:04d}/variables.npz"
    with np.load(Path(a) / last) as va, np.load(Path(b) / last) as vb:
        assert sorted(va.files) == sorted(vb.files)
        for key in va.files:
            if key != "__names__":
                np.testing.assert_allclose(va[key], vb[key], rtol=1e-5, atol=1e-6, err_msg=key)


# ------------------------------------------------------------------ the plateau rule
def test_plateau_schedule_divides_by_5_after_3_stalled_epochs_then_stops():
    schedule = training.PlateauSchedule(0.01, factor=5, patience=3, max_reductions=4)
    losses = [1.0, 0.9, 0.95, 0.9, 0.91]  # epochs 3-5 do not beat 0.9
    events = [schedule.update(x) for x in losses]
    assert events == ["improved", "improved", "wait", "wait", "reduced"]
    assert schedule.learning_rate == pytest.approx(0.002)
    assert schedule.update(0.8) == "improved" and schedule.learning_rate == pytest.approx(0.002)
    for expected in (0.0004, 0.00008, 0.000016):  # three more plateaus (NaN never improves)
        assert [schedule.update(x) for x in (0.85, float("nan"), 0.8)] == ["wait", "wait", "reduced"]
        assert schedule.learning_rate == pytest.approx(expected)
    assert schedule.reductions == 4 and not schedule.stopped
    assert [schedule.update(0.9) for _ in range(3)] == ["wait", "wait", "stop"]
    assert schedule.stopped and schedule.learning_rate == pytest.approx(0.000016)  # thesis: last rate
    restored = training.PlateauSchedule(1.0)
    restored.load_state_dict(json.loads(json.dumps(schedule.state_dict())))
    assert restored.state_dict() == schedule.state_dict()
    with pytest.raises(RuntimeError):
        schedule.update(0.1)
    assert training.inverse_time_decay(0.1, 1_000_000, 1e-6) == pytest.approx(0.05)


def test_fit_applies_the_schedule_to_the_optimizer(tmp_path):
    """The loop with a scripted validation loss: rates 0.01 x3, then / 5, then stop; the
    optimizer trains at the schedule's rate; best weights are those of the best epoch."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    x, y = np.ones((4, 3), np.float32), np.zeros((4, 1), np.float32)
    losses = iter([1.0, 2.0, 2.0, 2.0, 2.0, 2.0])
    seen = []

    def validate():
        seen.append(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)))
        return {"loss": next(losses)}

    schedule = training.PlateauSchedule(0.01, patience=2, max_reductions=1)
    with training.Run(tmp_path / "run", {"seed": 0}, keep=1) as run:
        state = training.fit(model, run, epochs=10, steps_per_epoch=2, batches=lambda e: iter([(x, y)] * 2),
                             validate=validate, schedule=schedule)
    assert [h["event"] for h in state["history"]] == ["improved", "wait", "reduced", "wait", "stop"]
    assert seen == pytest.approx([0.01, 0.01, 0.01, 0.002, 0.002])
    assert state["best_epoch"] == 1 and state["stopped_by_schedule"]
    assert [p.name for _, p in run.checkpoints.epochs()] == ["epoch-0005"]  # keep=1
    best = np.load(tmp_path / "run" / "checkpoints" / "best.npz")
    np.testing.assert_array_equal(best["model/00000"], keras.ops.convert_to_numpy(model.variables[0]))


@pytest.mark.parametrize("reduction", ["sum", "sum_over_batch_size"])
def test_fit_logs_a_per_example_training_loss_for_either_reduction(tmp_path, reduction):
    """A summed batch loss is divided by the batch size: the logged loss is the same number."""
    frozen = keras.layers.Dense(1, kernel_initializer="ones", trainable=False)  # the loss stays put
    model = keras.Sequential([keras.Input((3,)), frozen])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss=keras.losses.MeanSquaredError(reduction=reduction))
    x, y = np.ones((4, 3), np.float32), np.zeros((4, 1), np.float32)  # every example's loss: 3^2 = 9
    with training.Run(tmp_path / "run", {"seed": 0}, keep=1) as run:
        state = training.fit(model, run, epochs=1, steps_per_epoch=2, batches=lambda e: iter([(x, y)] * 2),
                             validate=lambda: {"loss": 1.0}, schedule=training.PlateauSchedule(0.01),
                             summed_loss=reduction == "sum")
    assert state["history"][0]["train_loss"] == pytest.approx(9.0)


# ------------------------------------------------------------------ SampleCNN tagging
@pytest.fixture(scope="module")
def samplecnn_runs(mtat_root, tmp_path_factory):
    """Two epochs uninterrupted, and one epoch + --resume to two (dropout on, so the dropout
    seed state must be restored too)."""
    base = tmp_path_factory.mktemp("samplecnn")
    common = ["--dataset", "mtat", "--root", mtat_root, "--tiny", "--batch-size", 2, "--dropout", 0.5]
    _main(samplecnn_tagging, *common, "--out", base / "full", "--epochs", 2)
    _main(samplecnn_tagging, *common, "--out", base / "resumed", "--epochs", 1)
    first = _results(base / "resumed")
    _main(samplecnn_tagging, *common, "--out", base / "resumed", "--epochs", 2, "--resume")
    return base / "full", base / "resumed", first


def test_samplecnn_mtat_end_to_end(samplecnn_runs):
    full, _, _ = samplecnn_runs
    results = _assert_run_folder(full, ["roc_auc_macro", "pr_auc_macro"])
    assert results["epochs_trained"] == 2 and results["tags_used"] == 2  # quiet, guitar vary in test
    assert results["tags_skipped"] == ["rock", "piano"] and len(results["per_tag"]) == 4
    assert results["arguments"]["num_tags"] == 4 and results["arguments"]["dropout"] == 0.5
    assert [h["learning_rate"] for h in results["history"]] == [0.01, 0.01]
    config = json.loads((full / "config.json").read_text())
    assert config["dataset"] == "mtat" and config["batch_size"] == 2 and config["keras_backend"]
    metadata = json.loads((full / "preset" / "metadata.json").read_text())
    assert metadata["tags"] == ["quiet", "guitar", "rock", "piano"] and metadata["registry_name"] == "samplecnn"


def test_samplecnn_resume_matches_uninterrupted_run(samplecnn_runs):
    full, resumed, first = samplecnn_runs
    assert first["epochs_trained"] == 1
    assert "resumed from" in (resumed / "train.log").read_text()
    _assert_same_run(full, resumed)


def test_samplecnn_msd_with_audio_cache(msd_root, tmp_path):
    cache = tmp_path / "cache"
    out = tmp_path / "run"
    _main(samplecnn_tagging, "--dataset", "msd", "--root", msd_root, "--out", out, "--tiny", "--epochs", 1,
          "--max-steps", 1, "--cache-dir", cache, "--batch-size", 2)
    results = _assert_run_folder(out, ["roc_auc_macro", "pr_auc_macro"])
    assert results["counts"] == {"train": 3, "valid": 1, "test": 2} and results["tags_used"] == 4
    assert len(list(cache.rglob("*.npy"))) == 2 + 1 + 2  # one step of 2 train songs, valid, test
    assert next(cache.rglob("*.npy")).stat().st_size < 2 * RATE * 1.0


# ------------------------------------------------------------------ artist recipes
def test_artist_siamese_end_to_end_and_resume(artist_root, tmp_path):
    common = ["--variant", "siamese", "--root", artist_root, "--tiny", "--batch-size", 9]
    _main(artist_recipes, *common, "--out", tmp_path / "full", "--epochs", 2)
    results = _assert_run_folder(tmp_path / "full", ["map_artist", "holdout_accuracy"])
    assert results["negatives"] == 2 and results["holdout_queries"] == 6
    assert results["counts"] == {"artists": 3, "train": 9, "valid": 3, "test": 6}
    assert results["arguments"]["margin"] == 0.4 and 0 <= results["history"][-1]["val_accuracy"] <= 1
    assert results["arguments"]["loss_reduction"] == "sum"  # the authors' code sums the hinge
    preprocessor = json.loads((tmp_path / "full" / "preset" / "preprocessor.json").read_text())
    assert preprocessor["segment"] == {"length": 17, "hop": 17, "unit": "frames", "remainder": "drop",
                                       "pad": "zeros"}  # 8192 samples, hop 512 (129 at full size)

    _main(artist_recipes, *common, "--out", tmp_path / "resumed", "--epochs", 1)
    _main(artist_recipes, *common, "--out", tmp_path / "resumed", "--epochs", 2, "--resume")
    _assert_same_run(tmp_path / "full", tmp_path / "resumed")


def test_artist_basic_end_to_end(artist_root, tmp_path):
    _main(artist_recipes, "--variant", "basic", "--root", artist_root, "--out", tmp_path, "--tiny",
          "--epochs", 1, "--batch-size", 9, "--map-songs", 5)
    results = _assert_run_folder(tmp_path, ["map_artist", "holdout_accuracy", "artist_accuracy"])
    assert results["arguments"]["num_artists"] == 3 and results["negatives"] == 4
    assert results["map_songs"] == 4  # whole artists (2 test songs each) up to --map-songs
    assert results["history"][0]["learning_rate"] == pytest.approx(0.015)  # section 4.1.3, basic model


@pytest.mark.parametrize("flag,expected", [([], "sum"), (["--loss-reduction", "sum_over_batch_size"],
                                                          "sum_over_batch_size")])
def test_artist_recipe_loss_reduction(flag, expected):
    args = artist_recipes.parse_args(["--variant", "siamese", "--root", "r", "--out", "o", "--tiny", *flag])
    model, _, arguments = artist_recipes.build_model(args, num_artists=3)
    assert arguments["loss_reduction"] == expected and model.loss.reduction == expected
    basic = artist_recipes.parse_args(["--variant", "basic", "--root", "r", "--out", "o", "--tiny"])
    assert artist_recipes.build_model(basic, num_artists=3)[0].loss.reduction == "sum_over_batch_size"


def test_artist_split_loader(tmp_path):
    data = artist_recipes.load_artist_split(FIXTURES / "msd_artist")
    assert data.counts() == {"train": 9, "valid": 3, "test": 6} and len(data.tags) == 3
    first = data.splits["train"][0]
    assert first.path == datasets.msd_audio_path(FIXTURES / "msd_artist", first.id)
    (tmp_path / "artist_split.csv").write_text("track_id,artist_id,split,path\nsong1,a,validation,x/s.wav\n")
    track = artist_recipes.load_artist_split(tmp_path).splits["valid"][0]
    assert (track.path, track.artist, track.labels) == (tmp_path / "x" / "s.wav", "a", ["a"])
    (tmp_path / "artist_split.csv").write_text("track_id,artist_id,split\nsong1,a,train\n")
    with pytest.raises(ValueError, match="artist_split.csv line 2: 'song1' is not an MSD track id"):
        artist_recipes.load_artist_split(tmp_path)
    sampler = artist_recipes.Sampler(data.splits["train"])
    rng = np.random.default_rng(0)
    for i, anchor in enumerate(sampler.tracks):
        positive, negatives = sampler.positive(rng, i), sampler.negatives(rng, i, 4)
        assert positive.artist == anchor.artist and positive is not anchor
        assert len({n.id for n in negatives}) == 4 and all(n.artist != anchor.artist for n in negatives)
    with pytest.raises(training.RecipeError, match="7 negatives need at least 7 songs"):
        sampler.negatives(rng, 0, 7)
    entries = [f"TR{i:016d}/{i // 20}/{i % 20 + 1}" for i in range(60)]
    rows = artist_recipes.artist_split_rows(entries, num_artists=2)
    assert len(rows) == 40 and [r[2] for r in rows[:20]] == ["train"] * 15 + ["valid"] * 3 + ["test"] * 2


# ------------------------------------------------------------------ errors
def _error_line(capsys, module, *argv):
    assert module.main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    return err[-1]


def test_clear_one_line_errors(mtat_root, artist_root, tmp_path, capsys):
    line = _error_line(capsys, samplecnn_tagging, "--dataset", "mtat", "--root", tmp_path / "nope", "--out",
                       tmp_path / "o1")
    assert line == f"error: {tmp_path / 'nope'}: dataset folder not found"
    (tmp_path / "empty").mkdir()
    line = _error_line(capsys, samplecnn_tagging, "--dataset", "msd", "--root", tmp_path / "empty", "--out",
                       tmp_path / "o2")
    assert line.startswith("error: ") and "tags.csv" in line
    line = _error_line(capsys, artist_recipes, "--variant", "basic", "--root", tmp_path / "empty", "--out",
                       tmp_path / "o3")
    assert line == f"error: {tmp_path / 'empty' / 'artist_split.csv'}: artist split file not found"

    broken = tmp_path / "mtat"
    shutil.copytree(mtat_root, broken)
    missing = datasets.load_mtat(broken).splits["test"][0].path
    missing.unlink()
    line = _error_line(capsys, samplecnn_tagging, "--dataset", "mtat", "--root", broken, "--out", tmp_path / "o4")
    assert line.startswith(f"error: {missing}: audio file not found or empty (1 of 5 tracks")
    assert not (tmp_path / "o1").exists() and "audio file not found" in (tmp_path / "o4" / "train.log").read_text()

    out = tmp_path / "o5"
    (out / "checkpoints" / "epoch-0001").mkdir(parents=True)
    (out / "checkpoints" / "epoch-0001" / "state.json").write_text("{}")
    line = _error_line(capsys, artist_recipes, "--variant", "basic", "--root", artist_root, "--out", out)
    assert line == f"error: {out / 'checkpoints'}: holds checkpoints of an earlier run; pass --resume to " \
                   f"continue it or choose another --out"
    (out / "config.json").write_text(json.dumps({"variant": "siamese", "root": str(artist_root)}))
    line = _error_line(capsys, artist_recipes, "--variant", "basic", "--root", artist_root, "--out", out,
                       "--resume")
    assert line.startswith(f"error: {out / 'config.json'}: --resume with different variant ('siamese' -> 'basic')")
