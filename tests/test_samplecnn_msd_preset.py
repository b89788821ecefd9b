"""The bundled samplecnn-msd preset: registered, honestly described, and tags contrasting audio sensibly."""

import json
from pathlib import Path

import numpy as np
import pytest

from sdk.preset import read_preset
from sdk.presets import PRESETS
from test_musicnn import SR, orchestral_tones, techno_loop
from zoo.musicnn import MSD_TAGS

REPO = Path(__file__).resolve().parents[1]
SPEC = PRESETS["samplecnn-msd"]


def test_registered_bundled_and_small():
    files = read_preset(SPEC.bundled_path)
    assert SPEC.bundled and SPEC.revision is None
    assert SPEC.weights_sha256 == files.metadata["files"]
    assert files.name == "samplecnn" and files.arguments["embedding_size"] == 256
    assert files.metadata["weights_dtype"] == "float16"
    assert (SPEC.bundled_path / "model.weights.h5").stat().st_size < 6 * 2**20  # float16: ~5 MB
    assert files.metadata["tags"] == list(MSD_TAGS)
    assert files.preprocessor["sample_rate"] == 22050 and files.preprocessor["segment"]["length"] == 59049
    assert (SPEC.bundled_path / "README.md").read_text() == (REPO / "hub_cards/samplecnn-msd.md").read_text()


def test_provenance_says_what_the_weights_saw():
    meta = json.loads((SPEC.bundled_path / "metadata.json").read_text())
    assert "not trained on the Million Song Dataset" in meta["provenance"]
    training = meta["training"]
    reserved = {"wesnoth-1.16-music", "warzone2100-music", "nexuiz-music", "ufoai-music"}
    assert training["train_packages"] and not reserved & set(training["train_packages"])
    assert not set(training["validation_soundtracks"]) & set(training["train_soundtracks"])
    assert [p["tag_loss"] for p in training["phases"]] == ["bce", "logit-mse", "logit-mse"]
    # Phase 3 continued from the first published weights (commit 67d3136), named by their sha256.
    assert training["phases"][2]["init_sha256"].startswith("fc208599")
    assert training["weights_record"]["step"] == training["best_validation"]["step"] <= training["steps"]


@pytest.fixture(scope="module")
def model():
    import sdk

    return sdk.load("samplecnn-msd")


def test_tags_contrasting_audio(model, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    techno = dict(model.tag(techno_loop(8 * SR).astype(np.float32), sr=SR, top_k=None))
    orchestra = dict(model.tag(orchestral_tones(8 * SR).astype(np.float32), sr=SR, top_k=None))
    # Measured (jax, step 2458): techno electronic 0.51 (top), orchestra 0.12; orchestra
    # instrumental 0.20 (top) / ambient 0.18, techno instrumental 0.04.
    assert max(techno, key=techno.get) in {"electronic", "electro", "electronica", "dance", "House"}
    assert max(orchestra, key=orchestra.get) in {"instrumental", "ambient", "classical", "beautiful"}
    assert techno["electronic"] > 3 * orchestra["electronic"]
    assert orchestra["instrumental"] > 3 * techno["instrumental"]


def test_embeds_real_music(model):
    fixture = REPO / "tests/data/drascula_track2_30s-42s.ogg"
    per_segment = model.embed(fixture, per_segment=True)
    assert per_segment.shape == (4, 256) and np.all(np.isfinite(per_segment))  # 12 s -> 4 x 2.68 s
    np.testing.assert_allclose(model.embed(fixture), per_segment.mean(0), rtol=1e-5)
