"""The samplecnn-msd export's whitened embedding (training_recipes/samplecnn_msd/readout.py)."""

import json
from pathlib import Path

import numpy as np
import pytest

import sdk
from sdk.preset import sha256_file
from tests.test_recipe_samplecnn_msd import _train, cache, corpus  # noqa: F401  (fixtures)
from training_recipes import evaluate
from training_recipes.samplecnn_msd import cache_data, export, prepare, readout, readout_peers, train


def test_whitening_centres_and_evens_out_the_directions():
    rng = np.random.default_rng(0)
    rotation, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    x = rng.standard_normal((4000, 4)) * np.array([10.0, 3.0, 1.0, 0.1]) @ rotation + 5.0
    mean, matrix = readout.whitening(x, shrinkage=0.1)
    np.testing.assert_allclose(mean, x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(matrix, matrix.T, atol=1e-6)
    eig = np.linalg.eigvalsh(np.cov(x.T))
    whitened = np.linalg.eigvalsh(np.cov(((x - mean) @ matrix).T))
    # Each direction's variance becomes eig / (eig + 0.1 * mean eig): near 1 for the strong ones,
    # the weakest (0.01 against a mean of 27.5) stays small instead of being blown up to 1.
    np.testing.assert_allclose(whitened, eig / (eig + 0.1 * eig.mean()), rtol=1e-3)
    assert whitened[0] < 0.01 and whitened[-1] > 0.95
    with pytest.raises(ValueError, match="n >= 2"):
        readout.whitening(x[:1])
    with pytest.raises(ValueError, match="shrinkage"):
        readout.whitening(x, shrinkage=0)


def test_export_whitens_the_embedding_keeps_the_tags_and_training_restarts_unwhitened(corpus, cache, tmp_path):
    run = tmp_path / "run"
    _train(corpus, cache, run, 2)
    # float32 storage: a barely trained model's song vectors differ by ~1e-3, so whitening
    # magnifies float16 rounding far beyond what the real preset sees (its test checks that).
    plain_dir = export.export(run, tmp_path / "plain", whiten_shrinkage=0, weights_dtype="float32")
    white_dir = export.export(run, tmp_path / "white", weights_dtype="float32")
    plain, white = sdk.load(plain_dir), sdk.load(white_dir)
    assert "readout" not in plain.metadata and not (plain_dir / readout.READOUT_FILE).exists()
    record = white.metadata["readout"]
    assert record["n_tracks"] == 4 and record["shrinkage"] == readout.SHRINKAGE  # Soundtrack 2 validates
    assert white.metadata["files"][readout.READOUT_FILE] == sha256_file(white_dir / readout.READOUT_FILE)
    saved = dict(np.load(white_dir / readout.READOUT_FILE))

    # Fitted on the training tracks' song vectors: those are centred by it.
    loaded = cache_data.load_cache(cache)
    tracks = [t for t in loaded["tracks"] if t["soundtrack"] != "Soundtrack 2"]
    centred = readout.training_song_vectors(plain_dir, loaded, tracks, progress=False) - saved["mean"]
    assert np.abs(centred.mean(0)).max() < 1e-4 * np.abs(centred).max()

    rate = prepare.SAMPLE_RATE
    audio = (0.2 * np.sin(2 * np.pi * 330 * np.arange(5 * rate) / rate)).astype(np.float32)
    raw, whitened = plain.embed(audio, sr=rate), white.embed(audio, sr=rate)
    expected = (raw - saved["mean"]) @ saved["matrix"]
    assert np.abs(whitened - expected).max() < 1e-3 * np.abs(expected).max()
    plain_tags, white_tags = (np.array([s for _, s in m.tag(audio, sr=rate, top_k=None)]) for m in (plain, white))
    assert np.abs(plain_tags - white_tags).max() < 1e-4

    # readout_peers reads the evaluation CLI's cached vectors of the plain export and fits each
    # shrinkage on the run's training tracks: the shrinkage export uses gives the figures above.
    report, peers = tmp_path / "report.json", tmp_path / "peers.json"
    assert evaluate.main(["--manifest", str(corpus / "manifest.jsonl"), "--presets", str(plain_dir),
                          "--folds", "2", "--cache-dir", str(tmp_path / "vectors"), "--out", str(report)]) == 0
    readout_peers.main(["--evaluation", str(report), "--run-config", str(run / "config.json"),
                        "--presets", str(plain_dir), "--shrinkage", "0.1,1", "--out", str(peers)])
    figures = json.loads(peers.read_text())["reports"][str(report)]["results"][str(plain_dir)]
    assert figures["as_published"]["map"] == json.loads(report.read_text())["results"][str(plain_dir)]["map"]
    assert sorted(figures["with_readout"]) == ["0.1", "1"] and figures["with_readout"]["0.1"]["n_tracks"] == 6

    # A new phase from the whitened preset starts from the layers as they were before folding.
    model, _ = train.build_student()
    train.init_from(model, Path(white_dir), {"step": 0, "seconds": 0.0, "best": -1.0, "examples": 0})
    kernel, bias = model.get_layer("backbone").get_layer("embedding").get_weights()
    np.testing.assert_array_equal(kernel, saved["embedding_kernel"])
    np.testing.assert_array_equal(model.get_layer("tags").get_weights()[1], saved["tags_bias"])


def test_readout_fitted_on_other_tracks_lets_the_quiet_directions_count():
    """Song vectors that share two loud directions (a constant offset plus noise there) and
    differ by soundtrack only in quiet ones: cosine ranks by the noise until the readout,
    fitted on other tracks of the same kind, centres and evens the directions out."""
    rng = np.random.default_rng(0)

    def songs(soundtracks, per_soundtrack):
        centres = rng.standard_normal((soundtracks, 6))
        quiet = np.repeat(centres, per_soundtrack, 0) + 0.3 * rng.standard_normal((soundtracks * per_soundtrack, 6))
        loud = 5 + 10 * rng.standard_normal((soundtracks * per_soundtrack, 2))
        return np.hstack([loud, quiet]), np.repeat(np.arange(soundtracks), per_soundtrack)

    vectors, labels = songs(3, 10)
    training, _ = songs(20, 10)  # other soundtracks altogether
    figures = readout_peers.with_and_without_readout(vectors, labels, training, (0.1, 1.0), folds=3)
    assert figures["as_published"]["map"] + 0.15 < figures["with_readout"]["0.1"]["map"]
    assert figures["with_readout"]["1"]["n_queries"] == 30


def test_readout_peers_names_the_file_it_cannot_use(tmp_path):
    with pytest.raises(SystemExit, match="absent.json: cannot read the evaluation report"):
        readout_peers.main(["--evaluation", str(tmp_path / "absent.json"), "--run-config", "x",
                            "--out", str(tmp_path / "out.json")])
    (tmp_path / "report.json").write_text("{not json")
    with pytest.raises(SystemExit, match="report.json: not a JSON evaluation report"):
        readout_peers.main(["--evaluation", str(tmp_path / "report.json"), "--run-config", "x",
                            "--out", str(tmp_path / "out.json")])
    assert not (tmp_path / "out.json").exists()
