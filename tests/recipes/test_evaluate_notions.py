"""training_recipes.evaluation.notions: triplet sampling, per-sub-space triplet accuracy, R@K and
sub-space overlap on hand-made vectors, and `--notions --tempo` end to end on a tiny corpus
with the two-sub-space tagger preset of tests/helpers.py (`tagger_dir`) as preset and teacher."""

import json

import numpy as np
import pytest
import soundfile as sf

from training_recipes.evaluation import cli, metrics
from training_recipes.evaluation import notions as nt

SR = 22050


# ------------------------------------------------------------------ sampling
def test_sample_triplets_respect_labels_distinct_and_seeded():
    labels = np.random.default_rng(0).integers(0, 4, 200).astype(float)
    found = nt.sample_triplets(labels, 500, nt.notion_seed(3, "genre"))
    assert found.shape == (500, 3) and len({tuple(t) for t in found.tolist()}) == 500
    a, p, n = found.T
    assert (a != p).all() and (labels[a] == labels[p]).all() and (labels[a] != labels[n]).all()
    np.testing.assert_array_equal(found, nt.sample_triplets(labels, 500, nt.notion_seed(3, "genre")))
    assert not np.array_equal(found, nt.sample_triplets(labels, 500, nt.notion_seed(4, "genre")))
    assert not np.array_equal(found, nt.sample_triplets(labels, 500, nt.notion_seed(3, "mood")))


def test_sample_triplets_takes_every_triplet_when_fewer_than_asked():
    # classes {0, 1, 7}, {2, 3}, {4, 5, 6}; track 8 has no label. Per anchor (same - 1) x (other):
    # 3 * 2 * 5 + 2 * 1 * 6 + 3 * 2 * 5 = 72 triplets over the 8 labelled tracks.
    labels = np.array([0, 0, 1, 1, 2, 2, 2, 0, np.nan])
    found = nt.sample_triplets(labels, 2000, 0)
    assert found.shape == (72, 3) and len({tuple(t) for t in found.tolist()}) == 72
    assert 8 not in found and (labels[found[:, 0]] == labels[found[:, 1]]).all()
    assert nt.sample_triplets(np.zeros(5), 10, 0).shape == (0, 3)  # one class: no negative


def test_tempo_triplets_within_tolerance_inclusive():
    # 100 and 105 are within 5 BPM (the bound counts), 110.5 is 5.5 from 105: it has no positive.
    bpm = np.array([100.0, 105.0, 110.5, np.nan])
    found = nt.sample_triplets(bpm, 2000, 0, tolerance=5.0)
    assert sorted(map(tuple, found.tolist())) == [(0, 1, 2), (1, 0, 2)]
    many = np.random.default_rng(1).uniform(60, 180, 300)
    a, p, n = nt.sample_triplets(many, 1000, 0, tolerance=5.0).T
    assert (np.abs(many[a] - many[p]) <= 5).all() and (np.abs(many[a] - many[n]) > 5).all() and (a != p).all()


# ------------------------------------------------------------------ accuracy, R@K, overlap
def two_notion_vectors(n=200, seed=0):
    """Sub-space "a" (dims 0-1) points by notion A's label, "b" (dims 2-3) by notion B's;
    the two labels are independent, and each slice is unit-norm."""
    rng = np.random.default_rng(seed)
    a_label, b_label = rng.integers(0, 2, n), rng.integers(0, 2, n)

    def ring(label):
        angle = np.deg2rad(90 * label + rng.uniform(-20, 20, n))
        return np.stack([np.cos(angle), np.sin(angle)], axis=1)

    return np.concatenate([ring(a_label), ring(b_label)], axis=1), a_label.astype(float), b_label.astype(float)


def test_a_sub_space_separates_its_own_notion_only():
    x, a_label, b_label = two_notion_vectors()
    labels = {"A": a_label, "B": b_label}
    triplets = {k: nt.sample_triplets(v, 2000, nt.notion_seed(0, k)) for k, v in labels.items()}
    out = nt.preset_notions(x, {"a": [0, 2], "b": [2, 4]}, labels, triplets)
    assert out["spaces"] == {"a": [0, 2], "b": [2, 4], "all": [0, 4]}
    accuracy = out["triplet_accuracy"]
    assert accuracy["A"]["a"] == 1.0 and accuracy["B"]["b"] == 1.0
    assert 0.4 < accuracy["A"]["b"] < 0.6 and 0.4 < accuracy["B"]["a"] < 0.6
    assert 0.6 < accuracy["A"]["all"] < 1.0  # the whole vector mixes both
    recall = out["recall_at_k"]["notions"]
    assert recall["A"]["a"] == {"R@1": 1.0, "R@2": 1.0, "R@4": 1.0, "R@8": 1.0}
    assert recall["A"]["b"]["R@1"] < 0.7
    assert out["recall_at_k"]["teacher_tags"] is None
    # the CLI's accuracy is metrics.triplet_accuracy on the slice
    t = triplets["A"]
    assert accuracy["A"]["b"] == metrics.triplet_accuracy(x[t[:, 0], 2:], x[t[:, 1], 2:], x[t[:, 2], 2:], "cosine")


def test_teacher_tag_recall_equals_metrics_recall_at_k():
    x, a_label, b_label = two_notion_vectors(n=40, seed=2)
    tags = np.stack([a_label, 1 - a_label, b_label], axis=1)
    out = nt.preset_notions(x, {"all": [0, 4]}, {}, {}, teacher_top=tags)
    assert out["spaces"] == {"all": [0, 4]} and out["subspace_overlap"] == {}
    expected = metrics.recall_at_k(x, tags)
    assert out["recall_at_k"]["teacher_tags"] == {f"R@{k}": v for k, v in expected.items()}


def test_overlap_of_identical_and_of_unrelated_sub_spaces():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(60, 3))
    same = nt.preset_notions(np.concatenate([x, 2 * x], axis=1), {"x": [0, 3], "y": [3, 6]}, {}, {})
    assert same["subspace_overlap"] == {"x": {"y": 1.0}}
    other = nt.preset_notions(np.concatenate([x, rng.normal(size=(60, 3)), x], axis=1),
                              {"x": [0, 3], "y": [3, 6], "z": [6, 9]}, {}, {})["subspace_overlap"]
    assert other["x"]["z"] == 1.0 and other["x"]["y"] < 0.5 and set(other) == {"x", "y"}
    # k = 1 by hand: at 0, 10, 30, 70 degrees the nearest are 1, 0, 1, 2; at 0, 50, 60, 100 they
    # are 1, 2, 1, 2: tracks 0, 2, 3 agree, track 1 does not.
    s, t = (metrics.nearest_neighbours(unit_vectors(d), 1) for d in ([0, 10, 30, 70], [0, 50, 60, 100]))
    assert s[:, 0].tolist() == [1, 0, 1, 2] and t[:, 0].tolist() == [1, 2, 1, 2]
    assert nt.overlap(s, t) == 0.75


def unit_vectors(degrees):
    r = np.deg2rad(np.asarray(degrees, dtype=float))
    return np.stack([np.cos(r), np.sin(r)], axis=1)


# ------------------------------------------------------------------ the notions file
def test_read_notions_matches_teacher_tags_and_names_problems(tmp_path):
    path = tmp_path / "notions.json"
    path.write_text(json.dumps({"source": "test", "notions": {"pitch": ["LOW", "high"], "texture": ["noise"]}}))
    assert nt.read_notions(path, ["low", "mid", "high", "noise"], "t") == ("test", {"pitch": [0, 2], "texture": [3]})
    path.write_text(json.dumps({"notions": {"pitch": ["low", "treble"]}}))
    with pytest.raises(cli.EvaluationError, match=r"notions.json: tag\(s\) not among the tags of --teacher t: "
                                                   r"pitch: 'treble'"):
        nt.read_notions(path, ["low"], "t")
    for bad in ({"pitch": ["low"]}, {"notions": {"pitch": []}}, {"notions": {"pitch": "low"}}):
        path.write_text(json.dumps(bad))
        with pytest.raises(cli.EvaluationError, match="notions.json: expected"):
            nt.read_notions(path, ["low"], "t")
    with pytest.raises(cli.EvaluationError, match="missing.json: notions file not found"):
        nt.read_notions(tmp_path / "missing.json", ["low"], "t")


# ------------------------------------------------------------------ the CLI
@pytest.fixture(scope="module")
def click_corpus(tmp_path_factory):
    """Eight 4 s tracks, two soundtracks: clicks at 90 BPM over low tones, at 150 BPM over high."""
    root = tmp_path_factory.mktemp("notions-corpus")
    rows, t = [], np.arange(4 * SR) / SR
    for soundtrack, bpm, base in (("Slow", 90, 200), ("Fast", 150, 1500)):
        for i in range(4):
            wave = 0.2 * np.sin(2 * np.pi * base * (1 + 0.05 * i) * t)
            wave += 0.01 * np.random.default_rng(i).standard_normal(t.size)
            for beat in np.arange(0, 4, 60 / bpm):
                start = int(beat * SR)
                wave[start:start + 200] += 0.8 * np.exp(-np.arange(len(wave[start:start + 200])) / 40)
            path = f"{soundtrack.lower()}_{i}.wav"
            sf.write(root / path, wave.astype("float32"), SR)
            rows.append({"path": path, "soundtrack": soundtrack})
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "notions.json").write_text(json.dumps({"notions": {"pitch": ["low", "mid", "high"],
                                                               "texture": ["noise", "quiet"]}}))
    return root


@pytest.fixture(scope="module")
def teacher_dir(tagger_dir, click_corpus, tmp_path_factory):
    """`tagger_dir` (sub-spaces low, high) with its tag head pointed at the corpus, so the
    teacher's labels vary: "low" / "high" score how close a track's embedding lies to the
    Slow / Fast tracks' centroid, "noise" / "quiet" to the first two / last two of each."""
    import sdk
    from sdk.preset import save_preset

    model = sdk.load(str(tagger_dir))
    rows = [json.loads(line) for line in (click_corpus / "manifest.jsonl").read_text().splitlines()]
    x = model.embed([str(click_corpus / r["path"]) for r in rows])
    first = np.array([r["path"][-5] in "01" for r in rows])
    slow = np.array([r["soundtrack"] == "Slow" for r in rows])
    kernel = np.zeros((x.shape[1], len(model.tags)), "float32")
    for tag, members in {"low": slow, "high": ~slow, "noise": first, "quiet": ~first}.items():
        direction = x[members].mean(0) - x.mean(0)
        kernel[:, model.tags.index(tag)] = 4 * direction / (direction @ direction)
    model.task.tag_head[-1].set_weights([kernel, -x.mean(0) @ kernel])
    keep = ("preset", "registry_name", "embedding_size", "subspaces", "tags", "license", "outputs")
    metadata = {k: v for k, v in model.metadata.items() if k in keep}
    preprocessor = json.loads((tagger_dir / "preprocessor.json").read_text())
    return save_preset(model.task, tmp_path_factory.mktemp("teacher") / "test-teacher", preprocessor=preprocessor,
                       metadata=metadata)


def in_unit_interval(value):
    return value is None or 0.0 <= value <= 1.0


def test_cli_notions_and_tempo(click_corpus, teacher_dir, tmp_path, capsys, monkeypatch):
    out, cache = tmp_path / "r.json", tmp_path / "cache"
    argv = [str(a) for a in ("--manifest", click_corpus / "manifest.jsonl", "--baseline", "mfcc",
                             "--teacher", teacher_dir, "--notions", click_corpus / "notions.json", "--tempo",
                             "--triplets", 40, "--folds", 2, "--out", out, "--cache-dir", cache)]
    calls = []
    track_tempo = nt.track_tempo
    monkeypatch.setattr(nt, "track_tempo", lambda audio: calls.append(len(audio)) or track_tempo(audio))
    assert cli.main(argv) == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    assert calls == [4 * SR] * 8  # no --clip-seconds: each whole 4 s track, at 22,050 Hz
    report = json.loads(out.read_text())
    block = report["notions"]
    assert block["notions"] == {"pitch": ["low", "mid", "high"], "texture": ["noise", "quiet"],
                                "tempo": "librosa.beat.beat_track"}
    assert block["settings"] == {"triplets_per_notion": 40, "seed": 0, "tempo_tolerance_bpm": 5.0,
                                 "similarity": "cosine", "recall_k": [1, 2, 4], "recall_teacher_top_k": 3,
                                 "overlap_k": 7}
    assert set(block["triplets"]) == {"pitch", "texture", "tempo"}
    assert all(0 <= c <= 40 for c in block["triplets"].values())
    assert {n: sum(c.values()) for n, c in block["labels"].items()} == {"pitch": 8, "texture": 8}
    assert all(len(block["labels"][n]) >= 2 and block["triplets"][n] > 0 for n in ("pitch", "texture"))
    assert block["tempo"]["n_tracks"] + block["tempo"]["n_without_beat"] == 8
    assert block["tempo"]["cache"]["computed"] == 8
    assert "Triplet accuracy" in block["definitions"]
    preset = report["results"][str(teacher_dir)]["notions"]
    assert preset["spaces"] == {"low": [0, 8], "high": [8, 16], "all": [0, 16]}
    assert set(preset["triplet_accuracy"]) == {"pitch", "texture", "tempo"}
    for notion, row in preset["triplet_accuracy"].items():
        assert set(row) == {"low", "high", "all"} and all(map(in_unit_interval, row.values())), (notion, row)
        assert (row["all"] is None) == (block["triplets"][notion] == 0)
    assert set(preset["subspace_overlap"]) == {"low"} and 0 <= preset["subspace_overlap"]["low"]["high"] <= 1
    assert set(preset["recall_at_k"]["notions"]) == {"pitch", "texture"}
    mfcc = report["results"]["mfcc"]["notions"]
    assert mfcc["spaces"] == {"all": [0, 40]} and mfcc["subspace_overlap"] == {}
    assert set(mfcc["triplet_accuracy"]["tempo"]) == {"all"}
    # the figures from the cached song vectors and tag scores: R@K (Eq. 5.17) with the teacher's
    # top-3 tags, and the accuracy of the seeded pitch triplets
    entry = report["results"][str(teacher_dir)]["cache"]["directory"]
    keys = json.loads((cache / "files.json").read_text())
    rows = [json.loads(line) for line in (click_corpus / "manifest.jsonl").read_text().splitlines()]
    cached = [np.load(f"{entry}/{keys[str((click_corpus / r['path']).resolve())][2]}.npz") for r in rows]
    vectors, scores = np.stack([c["embedding"] for c in cached]), np.stack([c["scores"] for c in cached])
    expected = metrics.recall_at_k(vectors, metrics.top_k_labels(scores, 3), ks=(1, 2, 4))
    assert preset["recall_at_k"]["teacher_tags"] == pytest.approx({f"R@{k}": v for k, v in expected.items()})
    pitch = scores[:, [0, 1, 2]].argmax(1).astype(float)  # low, mid, high are the teacher's tags 0-2
    t = nt.sample_triplets(pitch, 40, nt.notion_seed(0, "pitch"))
    assert len(t) == block["triplets"]["pitch"]
    assert preset["triplet_accuracy"]["pitch"]["high"] == metrics.triplet_accuracy(
        *(vectors[t[:, c], 8:] for c in range(3)), metric="cosine")
    assert "notion triplet accuracy" in text and "top-7 overlap" in text

    # Again: the tempo comes from the cache and every figure is the same (seeded triplets).
    calls.clear()
    assert cli.main(argv) == 0
    again = json.loads(out.read_text())
    assert calls == [] and again["notions"]["tempo"]["cache"]["reused"] == 8
    for name, result in report["results"].items():
        assert again["results"][name]["notions"] == result["notions"]


@pytest.mark.parametrize("problem", ["no-teacher", "unknown-tag", "triplets"])
def test_notions_input_errors_are_one_line(problem, click_corpus, tagger_dir, tmp_path, capsys):
    notions = click_corpus / "notions.json"
    extra = ["--teacher", str(tagger_dir)]
    if problem == "no-teacher":
        extra, expected = [], ["--notions needs --teacher"]
    elif problem == "unknown-tag":
        notions = tmp_path / "bad.json"
        notions.write_text(json.dumps({"notions": {"pitch": ["low", "bass"]}}))
        expected = [str(notions), "pitch: 'bass'", f"--teacher {tagger_dir}"]
    else:
        extra, expected = extra + ["--triplets", "0"], ["--triplets must be >= 1"]
    code = cli.main([str(a) for a in ("--manifest", click_corpus / "manifest.jsonl", "--presets", tagger_dir,
                                      "--notions", notions, *extra, "--out", tmp_path / "r.json",
                                      "--cache-dir", tmp_path / "cache")])
    err = capsys.readouterr().err
    assert code == 2 and not (tmp_path / "r.json").exists() and err.count("\n") == 1
    for part in expected:
        assert part in err, err


def test_sub_space_slices_add_the_whole_vector_and_refuse_bad_layouts():
    assert nt.subspace_slices({"all": [0, 4]}, 4) == {"all": [0, 4]}
    assert nt.subspace_slices({"a": [0, 2], "b": [2, 4]}, 4) == {"a": [0, 2], "b": [2, 4], "all": [0, 4]}
    with pytest.raises(ValueError, match="'b'"):
        nt.subspace_slices({"a": [0, 2], "b": [2, 6]}, 4)
    with pytest.raises(ValueError, match="not the whole 4-d vector"):
        nt.subspace_slices({"all": [0, 2]}, 4)


def test_check_arguments_tempo_alone_and_clash(tmp_path):
    from types import SimpleNamespace

    args = dict(triplets=10, tempo_tolerance=5.0, notions=None, teacher=None, tempo=True)
    assert nt.check_arguments(SimpleNamespace(**args), {}) is None  # tempo needs no teacher
    path = tmp_path / "n.json"
    path.write_text(json.dumps({"notions": {"tempo": ["fast"]}}))
    models = {"t": SimpleNamespace(tags=["fast"])}
    with pytest.raises(cli.EvaluationError, match="n.json: notion 'tempo' clashes with --tempo"):
        nt.check_arguments(SimpleNamespace(**{**args, "notions": path, "teacher": "t"}), models)
    with pytest.raises(cli.EvaluationError, match="--tempo-tolerance must be >= 0"):
        nt.check_arguments(SimpleNamespace(**{**args, "tempo_tolerance": -1.0}), models)
