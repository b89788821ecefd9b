"""training_recipes.evaluation.transfer: linear probe and fine-tune table, pre-trained vs random init."""

import json

import numpy as np
import pytest
import soundfile as sf

from helpers import tiny_samplecnn_preset
from training_recipes.evaluation import transfer

SR = 8000
CLASSES = {"Low": 220.0, "High": 1760.0, "Noise": None}  # 3 soundtracks x 4 tracks


def track(kind, seconds, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    if kind is None:
        wave = 0.3 * rng.standard_normal(t.size)
    else:
        wave = 0.5 * np.sin(2 * np.pi * kind * (1 + 0.01 * seed) * t) + 0.01 * rng.standard_normal(t.size)
    return wave.astype("float32")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    rows = []
    for c, (name, kind) in enumerate(CLASSES.items()):
        for i in range(4):
            path = f"{name.lower()}/t{i}.wav"
            (root / name.lower()).mkdir(exist_ok=True)
            sf.write(root / path, track(kind, 6 + i % 3, seed=10 * c + i), SR)
            rows.append({"path": path, "soundtrack": name})
    rows.append({"path": "low/t9.wav", "soundtrack": "Lonely"})  # a one-track soundtrack
    sf.write(root / "low/t9.wav", track(440.0, 6, seed=99), SR)
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    return tiny_samplecnn_preset(tmp_path_factory.mktemp("presets") / "test-transfer", SR)


SOUNDTRACKS = "Low,High,Noise"


@pytest.fixture(scope="module")
def run(corpus, preset, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "transfer.json"
    argv = ["--manifest", str(corpus / "manifest.jsonl"), "--soundtracks", SOUNDTRACKS, "--presets", str(preset),
            "--random-init", str(preset), "--clip-seconds", "2", "--folds", "2", "--finetune-epochs", "1",
            "--batch-size", "128", "--out", str(out)]
    code = transfer.main(argv)
    return code, json.loads(out.read_text())


def test_report_structure(run):
    code, report = run
    assert code == 0
    assert report["command"][-1].endswith("transfer.json")
    assert len(report["manifest"]["sha256"]) == 64
    assert report["soundtracks"] == {"High": 4, "Low": 4, "Noise": 4}
    assert report["folds"] == 2 and report["clip_seconds"] == 2
    assert report["chance"] == pytest.approx(4 / 12)
    assert list(report["results"]) == ["test-transfer", "test-transfer (random init)"]
    kinds = [r["kind"] for r in report["results"].values()]
    assert kinds == ["pre-trained", "random init"]
    fingerprints = [r["fingerprint"] for r in report["results"].values()]  # the weights the row measured
    assert len(fingerprints[0]) == 64 and fingerprints[1] is None
    for result in report["results"].values():
        for column in ("linear_probe", "fine_tune"):
            entry = result[column]
            assert len(entry["fold_accuracy"]) == 2
            assert all(0.0 <= a <= 1.0 for a in entry["fold_accuracy"])
            assert entry["mean"] == pytest.approx(np.mean(entry["fold_accuracy"]))
        assert result["segments_per_track"] == 2 * SR // 81  # the 2 s centre clip, not the whole track
    assert report["results"]["test-transfer (random init)"]["fine_tune"]["batch_norm"].startswith("trained")
    assert report["results"]["test-transfer"]["fine_tune"]["batch_norm"].startswith("inference")


def test_linear_probe_beats_chance(run):
    _, report = run
    for result in report["results"].values():
        assert result["linear_probe"]["mean"] > report["chance"] + 0.2


def test_folds_keep_tracks_whole(run):
    _, report = run
    tested = [path for fold in report["fold_test_tracks"] for path in fold]
    assert sorted(tested) == sorted(f"{n.lower()}/t{i}.wav" for n in CLASSES for i in range(4))  # each once
    labels = ["A"] * 4 + ["B"] * 3 + ["C"] * 5
    segments = [np.zeros((n, 81)) for n in (3, 1, 4, 2, 5, 2, 3, 1, 2, 6, 1, 2)]
    for train, test in transfer.track_folds(labels, 3, seed=1):
        assert not set(train) & set(test) and len(train) + len(test) == len(labels)
        for part in (train, test):
            x, owners = transfer.stack_segments(segments, part)
            assert len(x) == sum(len(segments[i]) for i in part)
            assert all((owners == i).sum() == len(segments[i]) for i in part)  # every segment of a track
        assert not set(transfer.stack_segments(segments, train)[1]) & set(transfer.stack_segments(segments, test)[1])


def test_markdown_table(run):
    _, report = run
    table = transfer.format_markdown(report)
    assert "| Model | Linear probe | Fine-tune |" in table
    assert "| test-transfer (random init) |" in table
    assert "| majority class | 0.333 | 0.333 |" in table
    assert "2-fold cross-validation over tracks, the centre 2 s" in table


@pytest.mark.parametrize("extra, message", [
    (["--soundtracks", "Low,Nope"], "unknown soundtrack(s) 'Nope'"),
    (["--soundtracks", "Low,Lonely"], "'Lonely' have fewer than 2 tracks"),
    (["--soundtracks", SOUNDTRACKS, "--folds", "5"], "--folds 5 is more than the tracks"),
    (["--soundtracks", SOUNDTRACKS, "--folds", "2", "--presets", "no-such-preset"], "preset 'no-such-preset'"),
    (["--soundtracks", SOUNDTRACKS, "--folds", "2"], "nothing to compare"),
])
def test_errors_one_line_exit_2(corpus, tmp_path, capsys, extra, message):
    out = tmp_path / "t.json"
    code = transfer.main(["--manifest", str(corpus / "manifest.jsonl"), "--out", str(out), *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2 and not out.exists()
    assert err.startswith("transfer: error:") and "\n" not in err and message in err
