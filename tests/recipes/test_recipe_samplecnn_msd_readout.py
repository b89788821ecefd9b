"""The samplecnn-msd export's whitened embedding (training_recipes/samplecnn_msd/readout.py)."""

from pathlib import Path

import numpy as np
import pytest

import sdk
from sdk.preset import sha256_file
from helpers import train_student as _train
from training_recipes.samplecnn_msd import cache_data, export, prepare, readout, train


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


def test_export_whitens_the_embedding_keeps_the_tags_and_training_restarts_unwhitened(distill_corpus, distill_cache, tmp_path):
    run = tmp_path / "run"
    _train(distill_corpus, distill_cache, run, 2)
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
    loaded = cache_data.load_cache(distill_cache)
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

    # A new phase from the whitened preset starts from the layers as they were before folding.
    model, _ = train.build_student()
    train.init_from(model, Path(white_dir), {"step": 0, "seconds": 0.0, "best": -1.0, "examples": 0})
    kernel, bias = model.get_layer("backbone").get_layer("embedding").get_weights()
    np.testing.assert_array_equal(kernel, saved["embedding_kernel"])
    np.testing.assert_array_equal(model.get_layer("tags").get_weights()[1], saved["tags_bias"])
