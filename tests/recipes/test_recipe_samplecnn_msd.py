"""The samplecnn-msd recipe end to end on a tiny synthetic corpus: prepare -> train -> resume -> export."""

import json

import keras
import numpy as np
import pytest

import sdk
from helpers import DISTILL_SOUNDTRACKS as SOUNDTRACKS
from helpers import train_student as _train
from training_recipes.samplecnn_msd import cache_data, export, losses, optimization, prepare, train

def test_prepare_records_both_teachers(distill_cache):
    meta = json.loads((distill_cache / "tracks.json").read_text())
    assert len(meta["tracks"]) == 2 * SOUNDTRACKS
    windows = sum(t["windows"] for t in meta["tracks"])
    assert windows == 2 * SOUNDTRACKS * prepare.window_count(16 * prepare.SAMPLE_RATE)
    tags = np.load(distill_cache / "teacher_tags.npy")
    assert tags.shape == (windows, 50) and 0 <= tags.min() and tags.max() <= 1
    assert np.load(distill_cache / "teacher_song.npy").shape == (2 * SOUNDTRACKS, 256)
    audio = np.load(distill_cache / "audio.f16.npy", mmap_mode="r")
    first = meta["tracks"][0]  # the 44.1 kHz file, resampled: 16 s at 22,050 Hz
    assert abs(first["length"] - 16 * prepare.SAMPLE_RATE) <= 2
    assert np.abs(audio[first["offset"] : first["offset"] + first["length"]]).max() > 0.1


def test_prepare_reuses_an_earlier_caches_tracks(distill_corpus, distill_cache, tmp_path):
    """Tracks an earlier cache holds are copied, not recomputed; a track whose manifest row
    changed (another package version) is computed again; the result equals a fresh cache."""
    rows = [json.loads(line) for line in (distill_corpus / "manifest.jsonl").read_text().splitlines()]
    rows[3]["version"] = "2.0-1"
    grown = tmp_path / "corpus"
    grown.mkdir()
    for row in rows:
        (grown / row["path"]).symlink_to(distill_corpus / row["path"])
    (grown / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = prepare.prepare(grown, tmp_path / "cache", reuse=distill_cache)
    assert summary["reused_tracks"] == 2 * SOUNDTRACKS - 1 and summary["reused_from"] == str(distill_cache)
    for name in ("teacher_tags.npy", "teacher_song.npy", "teacher_song_musicnn.npy", "audio.f16.npy"):
        np.testing.assert_allclose(np.load(tmp_path / "cache" / name), np.load(distill_cache / name), atol=2e-3)
    with pytest.raises(SystemExit, match="the --out directory"):
        prepare.prepare(grown, distill_cache, reuse=distill_cache)
    with pytest.raises(SystemExit, match="not a complete cache"):
        prepare.prepare(grown, tmp_path / "other", reuse=tmp_path / "nothing")


def test_musicnn_teacher_gives_the_presets_tags_and_its_features():
    teacher, model = prepare.musicnn_teacher()
    window = np.random.default_rng(1).standard_normal((2, prepare.TEACHER_WINDOW)).astype(np.float32) * 0.1
    tags, features = model.predict(window, verbose=0)
    np.testing.assert_allclose(tags, teacher.task.build_network().predict(window, verbose=0), atol=1e-6)
    np.testing.assert_allclose(features, teacher.backbone.predict(teacher.frontend(window), verbose=0), atol=1e-5)


def test_training_corpus_refuses_reserved_rows(tmp_path):
    row = {"path": "x.ogg", "package": "nexuiz-music", "soundtrack": "Nexuiz", "duration": 60.0}
    (tmp_path / "manifest.jsonl").write_text(json.dumps(row) + "\n")
    with pytest.raises(SystemExit, match="must not be used for training"):
        prepare.training_rows(tmp_path)


def test_windows_fit_inside_the_track():
    length = 20 * prepare.SAMPLE_RATE
    count = prepare.window_count(length)
    start, span = prepare.window_span_22k(count - 1)
    assert start + span <= length and span >= prepare.STUDENT_SAMPLES


def test_embedding_loss_prefers_grouped_soundtracks():
    loss = losses.embedding_loss(cos_weight=0.0, metric_weight=1.0)
    teacher = np.ones((4, 4), np.float32)
    y_true = np.concatenate([teacher, np.array([[0], [0], [1], [1]], np.float32)], axis=1)
    grouped = np.array([[1, 0, 0, 0], [1, 0.1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 0.1]], np.float32)
    mixed = grouped[[0, 2, 1, 3]]
    grouped_loss = np.asarray(loss(y_true, grouped)).mean()
    assert grouped_loss == pytest.approx(0.0, abs=1e-6)
    assert np.asarray(loss(y_true, mixed)).mean() > 0.5


def test_logit_mse_ranks_small_scores():
    teacher = np.array([[0.01, 0.05, 0.2]], np.float32)
    assert float(np.asarray(losses.logit_mse(teacher, teacher))[0]) == pytest.approx(0.0, abs=1e-6)
    swapped = teacher[:, [1, 0, 2]]  # two small scores swapped: BCE barely notices, log-odds do
    expected = 2 * (np.log(0.05 / 0.95) - np.log(0.01 / 0.99)) ** 2 / 3
    assert float(np.asarray(losses.logit_mse(teacher, swapped))[0]) == pytest.approx(expected, rel=1e-4)
    # With a floor of 0.05, both small scores read as 0.05: swapping them costs nothing.
    floored = losses.tag_loss("logit-mse", logit_floor=0.05)
    assert float(np.asarray(floored(teacher, swapped))[0]) == pytest.approx(0.0, abs=1e-6)



def test_listwise_kl_compares_which_tags_rank_highest():
    teacher = np.array([[0.5, 0.2, 0.2]], np.float32)  # odds 1, 1/4, 1/4 -> softmax 2/3, 1/6, 1/6
    swapped = np.array([[0.2, 0.5, 0.2]], np.float32)  # 1/6, 2/3, 1/6
    # KL = 2/3 ln 4 + 1/6 ln(1/4) = ln 2
    assert float(np.asarray(losses.listwise_kl(teacher, swapped))[0]) == pytest.approx(np.log(2), rel=1e-4)
    louder = np.array([[0.75, 3 / 7, 3 / 7]], np.float32)  # every odds times 3: same ranking
    assert float(np.asarray(losses.listwise_kl(teacher, louder))[0]) == pytest.approx(0.0, abs=1e-5)
    combined = losses.tag_loss("logit-mse", listwise_weight=0.5)
    expected = np.asarray(losses.logit_mse(teacher, swapped))[0] + 0.5 * np.log(2)
    assert float(np.asarray(combined(teacher, swapped))[0]) == pytest.approx(expected, rel=1e-4)
    bce = -np.mean(teacher * np.log(swapped) + (1 - teacher) * np.log(1 - swapped))
    with_bce = losses.tag_loss("bce", listwise_weight=1.0)
    assert float(np.asarray(with_bce(teacher, swapped))[0]) == pytest.approx(bce + np.log(2), rel=1e-3)


def _saved_scalars(run):
    """The scalar optimizer variables of a run's checkpoint (the learning rate among them)."""
    saved = np.load(run / "checkpoints" / "optimizer.npz")
    return [float(saved[name]) for name in saved.files if saved[name].shape == ()]


def test_train_resume_export_load(distill_corpus, distill_cache, tmp_path):
    run = tmp_path / "run"
    _train(distill_corpus, distill_cache, run, 2)
    state = json.loads((run / "checkpoints" / "state.json").read_text())
    assert state["step"] == 2 and state["examples"] == 8
    _train(distill_corpus, distill_cache, run, 3, resume=True, extra=["--tag-loss", "logit-mse", "--lr", "3e-4"])
    state = json.loads((run / "checkpoints" / "state.json").read_text())
    assert state["step"] == 3  # continued from step 2, not restarted
    scalars = _saved_scalars(run)
    assert np.isclose(scalars, 3e-4).any() and not np.isclose(scalars, 1e-3).any()  # --lr wins on resume
    phases = json.loads((run / "config.json").read_text())["phases"]
    assert [(p["from_step"], p["tag_loss"]) for p in phases] == [(0, "bce"), (2, "logit-mse")]
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert [h["step"] for h in history] == [1, 2, 3]
    assert all(np.isfinite(h["train_loss"]) and 0 <= h["soundtrack_map"] <= 1 for h in history)

    preset = export.export(run, tmp_path / "preset")
    model = sdk.load(preset)
    assert model.tags[:3] == ["rock", "pop", "alternative"]
    scores = dict(model.tag(np.zeros(prepare.SAMPLE_RATE * 5, np.float32), sr=prepare.SAMPLE_RATE, top_k=None))
    assert len(scores) == 50
    assert model.embed(np.ones(prepare.SAMPLE_RATE * 5, np.float32) * 0.1, sr=prepare.SAMPLE_RATE).shape == (256,)
    summary = model.metadata["training"]
    assert summary["steps"] == 3 and summary["validation_soundtracks"] == ["Soundtrack 2"]
    assert [(p["from_step"], p["tag_loss"]) for p in summary["phases"]] == [(0, "bce"), (2, "logit-mse")]
    assert summary["phases"][-1]["logit_floor"] == 1e-4
    assert model.metadata["weights_dtype"] == "float16"
    assert summary["train_soundtracks"] == ["Soundtrack 0", "Soundtrack 1"]
    kept = summary["weights_record"]["step"]
    assert summary["weights"] == "best" and kept == json.loads((run / "best.json").read_text())["step"]

    # A new run from the committed preset continues its step count and phase list.
    again = tmp_path / "again"
    _train(distill_corpus, distill_cache, again, kept + 1, extra=["--init-from", str(preset)])
    assert json.loads((again / "checkpoints" / "state.json").read_text())["step"] == kept + 1
    phases = json.loads((again / "config.json").read_text())["phases"]
    assert [p["from_step"] for p in phases] == [0, 2, kept] and phases[-1]["init_from"] == str(preset)
    assert phases[-1]["init_sha256"] == model.metadata["files"]["model.weights.h5"]


def test_averaged_weights_are_the_moving_average_and_raw_weights_return():
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="dense")(inputs))
    optimizer = keras.optimizers.Adam(0.1, use_ema=True, ema_momentum=0.5)
    model.compile(optimizer=optimizer, loss="mse")
    x, y = np.ones((4, 3), np.float32), np.full((4, 2), 5.0, np.float32)
    with optimization.averaged_weights(model, optimizer):  # not built yet: nothing to swap
        pass
    raw = []
    for _ in range(3):
        model.train_on_batch(x, y)
        raw.append([np.array(v) for v in model.trainable_variables])
    expected = raw[0]
    for later in raw[1:]:  # the first step's average is that step's weights
        expected = [0.5 * e + 0.5 * w for e, w in zip(expected, later)]
    with optimization.averaged_weights(model, optimizer):
        inside = [np.array(v) for v in model.trainable_variables]
    for got, want, last in zip(inside, expected, raw[-1]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        assert not np.allclose(got, last)
    for got, last in zip(model.trainable_variables, raw[-1]):
        np.testing.assert_array_equal(np.array(got), last)  # raw weights are back


def test_train_with_ema_keeps_averaged_weights_and_resumes(distill_corpus, distill_cache, tmp_path):
    run = tmp_path / "ema"
    _train(distill_corpus, distill_cache, run, 2, extra=["--ema-decay", "0.9"])
    _train(distill_corpus, distill_cache, run, 3, resume=True, extra=["--ema-decay", "0.9"])
    assert json.loads((run / "checkpoints" / "state.json").read_text())["step"] == 3
    assert json.loads((run / "config.json").read_text())["phases"][-1]["ema_decay"] == 0.9
    with pytest.raises(SystemExit, match="ema-decay"):  # the averages are part of the optimizer state
        _train(distill_corpus, distill_cache, run, 4, resume=True)
    with pytest.raises(SystemExit):
        _train(distill_corpus, distill_cache, tmp_path / "bad", 1, extra=["--ema-decay", "1.5"])


def test_learning_rate_warms_up_then_follows_a_cosine():
    lr = optimization.learning_rate_at
    assert [lr(s, 1.0, warmup_steps=4) for s in (0, 1, 3, 50)] == [0.25, 0.5, 1.0, 1.0]
    assert np.allclose([lr(s, 1.0, 4, 10) for s in (4, 9, 14, 99)], [1.0, 0.5, 0.0, 0.0])
    assert np.isclose(lr(14, 2.0, 4, 10, final_fraction=0.1), 0.2) and lr(7, 2.0) == 2.0


def test_schedule_continues_across_a_resume_and_restarts_when_it_changes():
    made = {"from_step": 0, "lr": 1e-3, "resume": False}
    began = {"from_step": 5, "lr": 3e-4, "warmup_steps": 10, "decay_steps": 100, "resume": False}
    resumed = {**began, "from_step": 20, "resume": True}
    assert optimization.schedule_origin([made, began, resumed, {**resumed, "from_step": 30}]) == 5
    assert optimization.schedule_origin([made, began, {**resumed, "decay_steps": 50}]) == 20
    assert optimization.schedule_origin([made, began, {**began, "from_step": 20}]) == 20  # a new run


def test_train_follows_the_schedule_through_a_resume(distill_corpus, distill_cache, tmp_path):
    run, schedule = tmp_path / "run", ["--lr", "1e-3", "--warmup-steps", "2", "--decay-steps", "4"]
    _train(distill_corpus, distill_cache, run, 1, extra=schedule)
    assert np.isclose(_saved_scalars(run), 0.5e-3).any()  # step 0 of a 2-step warm-up
    _train(distill_corpus, distill_cache, run, 4, resume=True, extra=schedule)
    # step 3: one step into the cosine (a restarted warm-up would give 1e-3 here)
    assert np.isclose(_saved_scalars(run), 1e-3 * 0.5 * (1 + np.cos(np.pi / 4))).any()
    with pytest.raises(SystemExit):
        _train(distill_corpus, distill_cache, tmp_path / "bad", 1, extra=["--warmup-steps", "-1"])


def test_history_keeps_only_steps_a_resumed_run_will_not_redo(tmp_path):
    path = tmp_path / "history.jsonl"
    path.write_text("".join(json.dumps({"step": s}) + "\n" for s in (5, 10, 15)))
    with train.open_history(path, resumed_step=10) as history:  # checkpoint at 10, evaluated at 15
        history.write(json.dumps({"step": 12}) + "\n")
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [5, 10, 12]
    with train.open_history(path) as history:  # a fresh run into the same directory
        history.write(json.dumps({"step": 1}) + "\n")
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1]


def test_relational_term_copies_the_teachers_neighbourhoods_at_any_size():
    loss = losses.embedding_loss(cos_weight=0.0, metric_weight=0.0, relational_weight=1.0)
    teacher = np.array([[1, 0], [1, 0], [0, 1]], np.float32)  # 2-d teacher; songs 0 and 1 alike
    y_true = np.concatenate([teacher, np.zeros((3, 1), np.float32)], axis=1)
    alike = np.array([[1, 0, 0], [2, 0, 0], [0, 0, 3]], np.float32)  # 3-d student, same cosines
    assert np.asarray(loss(y_true, alike)).max() == pytest.approx(0.0, abs=1e-6)
    apart = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32)  # songs 0 and 1 orthogonal
    # rows 0 and 1 each miss one off-diagonal similarity by 1: (1^2) / 3; row 2 matches
    np.testing.assert_allclose(np.asarray(loss(y_true, apart)), [1 / 3, 1 / 3, 0.0], atol=1e-6)


def test_relational_term_of_several_teachers_asks_for_their_mean_order_of_neighbours():
    loss = losses.embedding_loss(cos_weight=0.0, metric_weight=0.0, relational_weight=1.0, relational_sizes=(3, 2))
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    y_true = np.hstack([np.zeros((6, 4)), a, b, np.arange(6)[:, None]]).astype(np.float32)
    student = rng.normal(size=(6, 4)).astype(np.float32)

    def centred_cosines(x):  # the batch mean removed, then cosines
        x = x - x.mean(0)
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        return x @ x.T

    mine, theirs = centred_cosines(student), (centred_cosines(a) + centred_cosines(b)) / 2
    expected = [1 - np.corrcoef(np.delete(mine[i], i), np.delete(theirs[i], i))[0, 1] for i in range(6)]
    np.testing.assert_allclose(np.asarray(loss(y_true, student)), expected, atol=1e-5)
    # Both teachers alike and the student their copy, shifted and scaled: nothing to learn.
    y_same = np.hstack([np.zeros((6, 4)), student[:, :3], student[:, :3], np.arange(6)[:, None]])
    copy = 3.0 * np.hstack([student[:, :3], np.zeros((6, 1))]) + 5.0
    loss_same = losses.embedding_loss(cos_weight=0.0, metric_weight=0.0, relational_weight=1.0,
                                      relational_sizes=(3, 3))
    assert np.asarray(loss_same(y_same.astype(np.float32), copy.astype(np.float32))).max() < 1e-5


def test_train_follows_several_relational_teachers(distill_corpus, distill_cache, tmp_path, capsys):
    with pytest.raises(SystemExit):
        _train(distill_corpus, distill_cache, tmp_path / "bad", 1, extra=["--relational-teachers", "musicnn-msd,nobody"])
    assert "--relational-teachers: unknown ['nobody']" in capsys.readouterr().err
    run = tmp_path / "run"
    _train(distill_corpus, distill_cache, run, 2, extra=["--relational-teachers", "artist-siamese-msd,musicnn-msd",
                                         "--relational-weight", "1"])
    sampler = cache_data.Sampler(cache_data.load_cache(distill_cache), [0, 1],
                                 relational_teachers=["artist-siamese-msd", "musicnn-msd"])
    _x, y = sampler.batch()
    assert sampler.relational_sizes == (256, 200) and y["embedding"].shape[1] == 256 + 256 + 200 + 1
    meta = sdk.load(export.export(run, tmp_path / "preset")).metadata
    assert "artist-siamese-msd's song embedding" in meta["provenance"]
    assert "musicnn-msd's 200-d song features" in meta["provenance"]
    assert meta["training"]["hyperparameters"]["relational_teachers"] == "artist-siamese-msd,musicnn-msd"


def test_musicnn_song_teacher_added_to_a_cache_and_followed(distill_corpus, distill_cache, tmp_path):
    songs = np.load(distill_cache / "teacher_song_musicnn.npy")
    assert songs.shape == (2 * SOUNDTRACKS, 200) and np.isfinite(songs).all()
    # A cache made before the file existed gets it from its own audio (float16, hence close).
    old = tmp_path / "old-cache"
    old.mkdir()
    for name in ("tracks.json", "audio.f16.npy", "teacher_tags.npy", "teacher_song.npy"):
        (old / name).symlink_to(distill_cache / name)
    with pytest.raises(SystemExit, match="--add-musicnn-song"):
        _train(distill_corpus, old, tmp_path / "run0", 1, extra=["--song-teacher", "musicnn-msd", "--cos-weight", "0"])
    prepare.main(["--out", str(old), "--add-musicnn-song"])
    np.testing.assert_allclose(np.load(old / "teacher_song_musicnn.npy"), songs, atol=0.05)
    with pytest.raises(SystemExit, match="cosine term needs equal sizes"):
        _train(distill_corpus, distill_cache, tmp_path / "run1", 1, extra=["--song-teacher", "musicnn-msd"])
    run = tmp_path / "run2"
    _train(distill_corpus, distill_cache, run, 2, extra=["--song-teacher", "musicnn-msd", "--cos-weight", "0",
                                         "--relational-weight", "1"])
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    expected = float(train.mean_average_precision(songs[[4, 5]], ["Soundtrack 2"] * 2))
    assert history[-1]["teacher_song_map"] == pytest.approx(expected)  # scored with musicnn's vectors
    meta = sdk.load(export.export(run, tmp_path / "preset")).metadata
    assert "musicnn-msd's 200-d song features" in meta["provenance"]
    assert meta["training"]["hyperparameters"]["song_teacher"] == "musicnn-msd"


def test_sampler_draws_soundtracks_by_a_power_of_their_length(distill_corpus, distill_cache):
    loaded = cache_data.load_cache(distill_cache)
    real_tracks = loaded["tracks"]
    # Soundtrack 0 counts as 16 times as long as each of the others when the draw is set up; the
    # batches then crop the real (equal-length) tracks.
    loaded["tracks"] = [dict(t, windows=t["windows"] * 16) if t["soundtrack"] == "Soundtrack 0" else t
                            for t in real_tracks]
    ids = list(range(len(real_tracks)))
    uniform, by_sqrt, pairs = (cache_data.Sampler(loaded, ids, p, 1, seed=3, soundtrack_exponent=e)
                               for p, e in ((1, 0.0), (1, 0.5), (2, 1.0)))
    for sampler in (uniform, by_sqrt, pairs):
        sampler.tracks = real_tracks
    np.testing.assert_allclose(by_sqrt.draw_probability, np.array([4, 1, 1]) / 6)

    def share_of_soundtrack_0(sampler, draws=600):
        labels = [sampler.batch()[1]["embedding"][0, -1] for _ in range(draws)]
        return np.mean(np.array(labels) == sampler.soundtrack_index["Soundtrack 0"])

    assert abs(share_of_soundtrack_0(uniform) - 1 / 3) < 0.06
    assert abs(share_of_soundtrack_0(by_sqrt) - 2 / 3) < 0.06
    # Two soundtracks per batch are still two different ones.
    assert all(len(set(pairs.batch()[1]["embedding"][:, -1])) == 2 for _ in range(20))
