"""training_recipes.evaluation: the scoring functions on hand-computed cases, and the CLI end to end
on a tiny three-soundtrack corpus (real music cut from the drascula fixture, plus synthetic
tones and noise) with the bundled artist-siamese-msd preset, two tiny tagger presets
(teacher / student) and the MFCC baseline."""

import hashlib
import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from helpers import DATA, FIXTURE, tiny_samplecnn_preset, tiny_samplecnn_preset_args
from training_recipes.evaluation import cli as evaluate
from training_recipes.evaluation import metrics, mfcc

SR = 22050
SOUNDTRACKS = {"Drascula": 3, "Tones": 3, "Noise": 2}
STYLES = {"Drascula": "orchestral", "Tones": "electronic"}  # Noise left unlabelled


def unit_vectors(degrees):
    r = np.deg2rad(np.asarray(degrees, dtype=float))
    return np.stack([np.cos(r), np.sin(r)], axis=1)


# ------------------------------------------------------------------ scoring functions
def test_map_skips_singleton_queries_hand_computed():
    # 0, 10, 30 degrees, labels a b a. q0 ranks 1 (b), 2 (a): AP 1/2. q2 ranks 1 (b, 20 deg),
    # 0 (a, 30 deg): AP 1/2. q1 is alone in b: not a query, but still a distractor.
    out = metrics.retrieval_metrics(unit_vectors([0, 10, 30]), ["a", "b", "a"], folds=2)
    assert out["n_queries"] == 2 and out["map"] == pytest.approx(0.5)
    assert out["knn_1"] == 0.0 and out["knn_5"] is None  # both nearest neighbours are the b item
    assert out["linear_accuracy"] is None and "linear_note" in out  # only one class has 2 tracks
    assert out["map_by_soundtrack"] == {"a": pytest.approx(0.5)}  # b has no query


def test_map_by_soundtrack_averages_each_soundtracks_own_queries():
    # 0, 5, 40, 90 degrees, labels a a b b. q0 and q1 find each other first: AP 1. q2 (40) ranks
    # 5 (a, 35 deg), 0 (a, 40), 90 (b, 50): its one relevant item at rank 3, AP 1/3. q3 (90)
    # finds 40 (b, 50 deg) first: AP 1.
    x = unit_vectors([0, 5, 40, 90])
    out = metrics.retrieval_metrics(x, ["a", "a", "b", "b"], folds=2)
    assert out["map_by_soundtrack"] == {"a": pytest.approx(1.0), "b": pytest.approx((1 / 3 + 1) / 2)}
    assert out["map"] == pytest.approx((1 + 1 + 1 / 3 + 1) / 4)
    np.testing.assert_allclose(metrics.average_precisions(x, ["a", "a", "b", "b"]), [1, 1, 1 / 3, 1])


def test_perfect_separation_scores_one():
    rng = np.random.default_rng(0)
    centres = np.eye(8)[:3] * 10
    labels = np.repeat(["x", "y", "z"], 6).tolist() + ["lonely"]
    x = np.concatenate([np.repeat(centres, 6, axis=0), np.eye(8)[3:4] * 10]) + rng.normal(0, 0.1, (19, 8))
    out = metrics.retrieval_metrics(x, labels, folds=3)
    assert out["n_tracks"] == 19 and out["n_queries"] == 18
    assert out["map"] == 1.0 and out["knn_1"] == 1.0 and out["knn_5"] == 1.0
    assert out["linear_accuracy"] == 1.0 and out["linear_folds"] == 3
    assert out["linear_n_soundtracks"] == 3 and out["linear_soundtracks_left_out"] == 1
    assert out["map"] == metrics.mean_average_precision(x, labels)


def test_random_ranking_map_is_the_exact_expectation():
    labels = np.array(list("aaabbc"))
    aps = []
    for q in range(len(labels)):
        others = [i for i in range(len(labels)) if i != q]
        rel_total = sum(labels[i] == labels[q] for i in others)
        if rel_total == 0:
            continue
        for order in itertools.permutations(others):
            hits = np.array([labels[i] == labels[q] for i in order], float)
            aps.append((np.cumsum(hits) / np.arange(1, len(hits) + 1) * hits).sum() / rel_total)
    # every query has the same number of permutations, so the plain mean is the MAP expectation
    assert metrics.expected_random_map(labels) == pytest.approx(np.mean(aps))
    assert metrics.expected_random_map(["a", "a", "a"]) == pytest.approx(1.0)


def test_tag_agreement_top_k_binarisation():
    teacher_tags = ["rock", "pop", "jazz", "calm"]
    teacher = np.array([[0.9, 0.8, 0.1, 0.0],
                        [0.1, 0.7, 0.9, 0.2],
                        [0.8, 0.1, 0.2, 0.9],
                        [0.3, 0.2, 0.1, 0.0]])
    # top-2 per track: {rock, pop}, {pop, jazz}, {rock, calm}, {rock, pop}
    assert metrics.top_k_labels(teacher, 2).tolist() == [[1, 1, 0, 0], [0, 1, 1, 0], [1, 0, 0, 1], [1, 1, 0, 0]]
    student_tags = ["Jazz", "rock", "other"]  # names match case-insensitively
    student = np.stack([teacher[:, 2], teacher[:, 0], np.zeros(4)], axis=1)
    same = metrics.tag_agreement(student, student_tags, teacher, teacher_tags, top_k=2)
    assert same["n_shared_tags"] == 2 and same["n_tags_auc"] == 2
    assert same["roc_auc"] == 1.0 and same["spearman"] == pytest.approx(1.0) and same["pearson"] == pytest.approx(1.0)
    assert same["per_tag"]["rock"]["positives"] == 3 and same["per_tag"]["jazz"]["positives"] == 1
    flipped = metrics.tag_agreement(-student, student_tags, teacher, teacher_tags, top_k=2)
    assert flipped["roc_auc"] == 0.0 and flipped["spearman"] == pytest.approx(-1.0)
    # pop is positive for 3 of 4 tracks, calm for 1: with top_k=4 every tag is positive everywhere
    everything = metrics.tag_agreement(student, student_tags, teacher, teacher_tags, top_k=4)
    assert everything["roc_auc"] is None and everything["n_tags_auc"] == 0
    assert metrics.tag_agreement(student, ["x"], teacher, teacher_tags)["n_shared_tags"] == 0


def test_style_separation_hand_computed():
    tags = ["electronic", "Orchestral", "rock"]
    scores = np.array([[0.9, 0.2, 0], [0.8, 0.6, 0], [0.1, 0.4, 0], [0.3, 0.5, 0], [0.5, 0.9, 0]])
    out = metrics.style_separation(scores, tags, ["E", "E", "O", "O", "U"], {"E": "electronic", "O": "orchestral"})
    assert set(out) == {"electronic", "Orchestral"}  # U is unlabelled and left out
    assert out["electronic"]["vs_rest"] == 1.0 and out["electronic"]["vs"] == {"orchestral": 1.0}
    assert (out["electronic"]["n_positive"], out["electronic"]["n_negative"]) == (2, 2)
    # orchestral 0.4, 0.5 against electronic 0.2, 0.6: 2 of 4 pairs ordered right
    assert out["Orchestral"]["vs_rest"] == 0.5


def test_chunked_mfcc_equals_the_mfcc_vq_front_end():
    from zoo.mfcc_vq import mfcc as reference

    y = np.random.default_rng(1).normal(0, 0.1, int(1.3 * SR))
    np.testing.assert_allclose(mfcc.mfcc_matrix(y, chunk=7), reference(y, n_mfcc=20), rtol=1e-9, atol=1e-9)
    vector = mfcc.mfcc_song_vector(y)
    assert vector.shape == (40,) and np.allclose(vector[20:], reference(y, n_mfcc=20).std(1), atol=1e-4)


# ------------------------------------------------------------------ fixtures
def tone(freqs, seconds, seed):
    t = np.arange(int(seconds * SR)) / SR
    y = sum(np.sin(2 * np.pi * f * t) / (i + 1) for i, f in enumerate(freqs))
    return (0.2 * y + 0.01 * np.random.default_rng(seed).standard_normal(t.size)).astype("float32")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from sdk.audio import load_audio

    root = tmp_path_factory.mktemp("corpus")
    (root / "audio").mkdir()
    music = load_audio(FIXTURE, SR, resample_filter="kaiser_fast")
    clips = {"Drascula": [music[i * 4 * SR:i * 4 * SR + 3 * SR] for i in range(3)],
             "Tones": [tone([f, 2 * f, 3 * f], 2.5, i) for i, f in enumerate([220, 277, 330])],
             "Noise": [np.random.default_rng(9 + i).normal(0, 0.05, int(2.2 * SR)).astype("float32")
                       for i in range(2)]}
    rows = []
    for soundtrack, waves in clips.items():
        for i, wave in enumerate(waves):
            path = f"audio/{soundtrack.lower()}_{i}.wav"
            sf.write(root / path, wave, SR)
            rows.append({"path": path, "soundtrack": soundtrack, "package": "test", "duration": len(wave) / SR})
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "styles.json").write_text(json.dumps(STYLES))
    return root


def tagger(directory, tags, seed, corpus=None, directions=None):
    """A tiny SampleCNN tagger preset (2 kHz, 81-sample segments: fast) with the given tag names.

    `directions` {tag: soundtrack} sets that tag's head to score tracks by how close their
    embedding lies to the soundtrack's centroid (other tags: logit 0), so the preset
    separates those soundtracks by construction; untouched random heads rank the tags in
    the same order for every track."""
    import sdk
    from sdk.preset import save_preset

    directory = tiny_samplecnn_preset(directory, 2000, tags, seed)
    if directions:
        loaded = sdk.load(str(directory))
        rows = [json.loads(line) for line in (corpus / "manifest.jsonl").read_text().splitlines()]
        x = loaded.embed([str(corpus / r["path"]) for r in rows])
        labels = np.array([r["soundtrack"] for r in rows])
        kernel = np.zeros((x.shape[1], len(tags)), "float32")
        for tag, soundtrack in directions.items():
            direction = x[labels == soundtrack].mean(0) - x.mean(0)
            kernel[:, tags.index(tag)] = 4 * direction / (direction @ direction)
        loaded.task.tag_head[-1].set_weights([kernel, -x.mean(0) @ kernel])
        save = tiny_samplecnn_preset_args(directory.name, 2000, tags)
        directory = save_preset(loaded.task, directory, preprocessor=save["preprocessor"], metadata=save["metadata"])
    return directory


@pytest.fixture(scope="module")
def presets(tmp_path_factory, corpus):
    root = tmp_path_factory.mktemp("presets")
    teacher = tagger(root / "test-teacher", ["electronic", "orchestral", "rock", "quiet", "loud"], 0, corpus,
                     {"electronic": "Tones", "orchestral": "Drascula"})
    return teacher, tagger(root / "test-student", ["orchestral", "electronic", "jazz"], 1)


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def run(capsys, *argv):
    code = evaluate.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------ the CLI
def test_one_pass_outputs_equal_embed_and_tag(presets, corpus):
    import sdk

    model = sdk.load(str(presets[0]))
    path = corpus / "audio" / "tones_0.wav"
    vector, scores = evaluate.song_outputs(model, path)
    np.testing.assert_allclose(vector, model.embed(path), rtol=1e-5, atol=1e-6)
    tags = dict(model.tag(path, top_k=None))
    np.testing.assert_allclose(scores, [tags[t] for t in model.tags], rtol=1e-5, atol=1e-6)


def test_cli_end_to_end_cache_and_resume(corpus, presets, tmp_path, capsys, monkeypatch):
    teacher, student = presets
    cache, out = tmp_path / "cache", tmp_path / "results.json"
    argv = ["--manifest", corpus / "manifest.jsonl", "--presets", f"artist-siamese-msd,{student}",
            "--baseline", "mfcc", "--teacher", teacher, "--styles", corpus / "styles.json",
            "--folds", "2", "--out", out, "--cache-dir", cache]
    calls = {"preset": 0, "mfcc": 0}
    song_outputs, mfcc_vector = evaluate.song_outputs, mfcc.mfcc_song_vector

    def counted_outputs(*args):
        calls["preset"] += 1
        return song_outputs(*args)

    def counted_mfcc(*args):
        calls["mfcc"] += 1
        return mfcc_vector(*args)

    monkeypatch.setattr(evaluate, "song_outputs", counted_outputs)
    monkeypatch.setattr(mfcc, "mfcc_song_vector", counted_mfcc)
    code, text, err = run(capsys, *argv)
    assert code == 0, err
    assert calls == {"preset": 3 * 8, "mfcc": 8}
    report = json.loads(out.read_text())
    import keras

    assert report["command"] == ["python", "-m", "training_recipes.evaluation", *map(str, argv)]
    assert report["manifest"]["sha256"] == hashlib.sha256((corpus / "manifest.jsonl").read_bytes()).hexdigest()
    assert report["n_tracks"] == 8 and report["soundtracks"] == SOUNDTRACKS and report["use"] == {"None": 8}
    assert report["versions"]["backend"] == keras.backend.backend() and report["seconds"] >= 0
    # Figures can depend on the CPU and the backend's build: both are recorded.
    assert report["versions"]["cpu"] and report["versions"]["cpu_count"] >= 1 and report["versions"]["backend_version"]
    results = report["results"]
    assert list(results) == ["mfcc", "artist-siamese-msd", str(student), str(teacher)]
    assert results[str(teacher)]["teacher"] and not results[str(student)]["teacher"]
    assert results["mfcc"]["embedding_size"] == 40 and results["artist-siamese-msd"]["embedding_size"] == 256
    for name, r in results.items():
        assert r["n_queries"] == 8 and r["linear_folds"] == 2 and r["linear_n_tracks"] == 8
        for key in ("map", "knn_1", "knn_5", "linear_accuracy"):
            assert 0.0 <= r[key] <= 1.0, (name, key, r[key])
        assert (r["cache"]["reused"], r["cache"]["computed"]) == (0, 8)
        assert r["cache"]["backends"] == ({"numpy": 8} if name == "mfcc" else {keras.backend.backend(): 8})
    # the real-music soundtrack vs tones vs noise: the ported model and MFCCs separate them
    assert results["artist-siamese-msd"]["map"] > report["chance"]["map_random_ranking"]
    assert results["mfcc"]["knn_1"] == 1.0
    agreement = results[str(student)]["tag_agreement"]
    assert agreement["teacher"] == str(teacher) and agreement["n_shared_tags"] == 2 and agreement["top_k"] == 3
    assert agreement["n_tags_auc"] >= 1 and 0.0 <= agreement["roc_auc"] <= 1.0
    assert -1.0 <= agreement["spearman"] <= 1.0 and -1.0 <= agreement["pearson"] <= 1.0
    assert "tag_agreement" not in results["artist-siamese-msd"] and "tag_agreement" not in results[str(teacher)]
    for name in (str(teacher), str(student)):
        styles = results[name]["style_auc"]
        assert set(styles) == {"electronic", "orchestral"}
        assert styles["electronic"]["n_positive"] == 3 and styles["electronic"]["n_negative"] == 3
        assert 0.0 <= styles["electronic"]["vs_rest"] <= 1.0 and set(styles["electronic"]["vs"]) == {"orchestral"}
    # the teacher's style tags were built to point at those soundtracks' centroids
    assert results[str(teacher)]["style_auc"]["electronic"]["vs_rest"] == 1.0
    assert results[str(teacher)]["style_auc"]["orchestral"]["vs"] == {"electronic": 1.0}
    assert "artist-siamese-msd" in text and "MAP" in text and "style AUC" in text

    # The CLI's figure is the scoring function applied to the cached vectors.
    rows = [json.loads(line) for line in (corpus / "manifest.jsonl").read_text().splitlines()]
    keys = [hashlib.sha256((corpus / r["path"]).read_bytes()).hexdigest() for r in rows]
    entry = Path(results["artist-siamese-msd"]["cache"]["directory"])
    vectors = np.stack([np.load(entry / f"{k}.npz")["embedding"] for k in keys])
    assert metrics.retrieval_metrics(vectors, [r["soundtrack"] for r in rows], folds=2)["map"] == \
        results["artist-siamese-msd"]["map"]

    # Second run: nothing is embedded again, the cache files are untouched, the figures equal.
    files = sorted(cache.rglob("*.npz"))
    mtimes = [f.stat().st_mtime_ns for f in files]
    calls.update(preset=0, mfcc=0)
    assert run(capsys, *argv)[0] == 0
    again = json.loads(out.read_text())
    assert calls == {"preset": 0, "mfcc": 0} and [f.stat().st_mtime_ns for f in files] == mtimes
    assert all(r["cache"]["reused"] == 8 and r["cache"]["computed"] == 0 for r in again["results"].values())
    for name, r in results.items():
        assert {k: v for k, v in again["results"][name].items() if k not in ("cache", "seconds")} == \
            {k: v for k, v in r.items() if k not in ("cache", "seconds")}

    # A crash mid-run: one vector never written, another cut short. Only those two are redone.
    files[0].unlink()
    files[1].write_bytes(files[1].read_bytes()[:40])
    calls.update(preset=0, mfcc=0)
    assert run(capsys, *argv)[0] == 0
    assert sum(calls.values()) == 2
    assert json.loads(out.read_text())["results"]["mfcc"]["map"] == results["mfcc"]["map"]

    # A run killed on its 4th new track keeps the 3 vectors it made; the next run does the other 5.
    fresh = ["--manifest", corpus / "manifest.jsonl", "--presets", "artist-siamese-msd", "--out", out,
             "--cache-dir", tmp_path / "fresh"]

    def crash_on_fourth(*args):
        calls["preset"] += 1
        if calls["preset"] == 4:
            raise KeyboardInterrupt
        return song_outputs(*args)

    calls.update(preset=0, mfcc=0)
    monkeypatch.setattr(evaluate, "song_outputs", crash_on_fourth)
    with pytest.raises(KeyboardInterrupt):
        evaluate.main([str(a) for a in fresh])
    assert len(list((tmp_path / "fresh").rglob("*.npz"))) == 3
    monkeypatch.setattr(evaluate, "song_outputs", counted_outputs)
    calls.update(preset=0, mfcc=0)
    assert run(capsys, *fresh)[0] == 0 and calls["preset"] == 5
    assert json.loads(out.read_text())["results"]["artist-siamese-msd"]["cache"]["reused"] == 3

    # A soundtrack filter reuses the same cache.
    calls.update(preset=0, mfcc=0)
    assert run(capsys, "--manifest", corpus / "manifest.jsonl", "--baseline", "mfcc", "--soundtracks",
               "Drascula,Tones", "--folds", "2", "--out", out, "--cache-dir", cache)[0] == 0
    subset = json.loads(out.read_text())
    assert calls["mfcc"] == 0 and subset["n_tracks"] == 6 and subset["soundtracks"] == {"Drascula": 3, "Tones": 3}


def test_unseen_by_drops_the_soundtracks_a_preset_trained_on(corpus, presets, tmp_path, capsys):
    student = tmp_path / "student-trained-on-noise"
    shutil.copytree(presets[1], student)
    metadata = json.loads((student / "metadata.json").read_text())
    metadata["training"] = {"train_soundtracks": ["Noise"]}
    (student / "metadata.json").write_text(json.dumps(metadata))
    out = tmp_path / "r.json"
    code, _text, err = run(capsys, "--manifest", corpus / "manifest.jsonl", "--presets", student, "--unseen-by",
                           student, "--folds", "2", "--out", out, "--cache-dir", tmp_path / "cache")
    assert code == 0, err
    report = json.loads(out.read_text())
    assert report["unseen_by"] == str(student) and report["soundtracks"] == {"Drascula": 3, "Tones": 3}
    assert report["results"][str(student)]["n_queries"] == 6


def copy_manifest(corpus, folder):
    """The corpus manifest in another folder, its paths made absolute."""
    rows = [json.loads(line) for line in (corpus / "manifest.jsonl").read_text().splitlines()]
    manifest = folder / "manifest.jsonl"
    manifest.write_text("".join(json.dumps({**r, "path": str(corpus / r["path"])}) + "\n" for r in rows))
    return manifest


@pytest.mark.parametrize("problem", ["missing-audio", "unknown-preset", "unknown-style", "unknown-soundtrack",
                                     "bad-row", "unseen-by-untrained"])
def test_input_errors_are_one_clear_line(problem, corpus, tmp_path, capsys):
    manifest, styles = corpus / "manifest.jsonl", corpus / "styles.json"
    extra = []
    if problem == "missing-audio":
        manifest = copy_manifest(corpus, tmp_path)
        manifest.write_text(manifest.read_text().replace("tones_1.wav", "gone.wav"))
        expected = [f"{manifest} line 5", "gone.wav not found"]
    elif problem == "unknown-preset":
        extra = ["--presets", "no-such-preset"]
        expected = ["preset 'no-such-preset'", "registered presets"]
    elif problem == "unknown-style":
        styles = tmp_path / "styles.json"
        styles.write_text(json.dumps({"Tones": "electronic", "Nope": "orchestral"}))
        expected = [str(styles), "unknown soundtrack(s) 'Nope'"]
    elif problem == "unknown-soundtrack":
        extra = ["--soundtracks", "Tones,Nope"]
        expected = ["--soundtracks", "'Nope'", "'Drascula'"]
    elif problem == "unseen-by-untrained":  # a preset whose metadata has no training record
        extra = ["--unseen-by", "artist-siamese-msd"]
        expected = ["--unseen-by artist-siamese-msd", "training.train_soundtracks"]
    else:
        manifest = copy_manifest(corpus, tmp_path)
        manifest.write_text(manifest.read_text() + '{"path": "audio/noise_0.wav"}\n')
        expected = [f"{manifest} line 9", "no 'soundtrack' string"]
    code, _out, err = run(capsys, "--manifest", manifest, "--baseline", "mfcc", "--styles", styles, *extra,
                         "--out", tmp_path / "r.json", "--cache-dir", tmp_path / "cache")
    assert code == 2 and not (tmp_path / "r.json").exists()
    assert err.startswith("evaluation: error: ") and err.count("\n") == 1 and "Traceback" not in err
    for part in expected:
        assert part in err, err


def test_clip_audio_takes_the_middle_of_the_track():
    import soundfile

    from training_recipes.evaluation.cli import clip_audio

    fixture = next(DATA.glob("*.ogg"))
    whole, rate = soundfile.read(fixture, dtype="float32", always_2d=True)
    assert clip_audio(fixture, rate, None) == str(fixture)  # no clip: the file itself
    clip = clip_audio(fixture, rate, 4.0)
    assert len(clip) == 4 * rate
    start = (len(whole) - 4 * rate) // 2
    np.testing.assert_allclose(clip, whole.mean(1)[start : start + 4 * rate], atol=1e-4)
    assert len(clip_audio(fixture, rate, 600.0)) == len(whole)  # longer than the track: all of it
