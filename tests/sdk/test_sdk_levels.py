"""A preset whose embedding is read from the backbone's levels: the MultiLevelReadout layer
(zoo/heads.py) inside the preset's graph, fitted by training_recipes/samplecnn_msd/levels.py."""

import json
import shutil

import numpy as np
import pytest
import soundfile

import sdk
from sdk.preset import PresetError
from helpers import tiny_samplecnn_preset
from training_recipes.samplecnn_msd import levels as recipe
from zoo.heads import MultiLevelReadout

SR = 8000


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Three 'soundtracks' of four 1 s tones each; the preset 'trained' on the first two."""
    root = tmp_path_factory.mktemp("levels")
    rng = np.random.default_rng(0)
    rows = []
    for s in range(3):
        for t in range(4):
            time = np.arange(SR) / SR
            wave = 0.3 * np.sin(2 * np.pi * (100 * (s + 1) + 7 * t) * time) + 0.05 * rng.standard_normal(SR)
            soundfile.write(root / f"s{s}t{t}.wav", wave.astype(np.float32), SR)
            rows.append({"path": f"s{s}t{t}.wav", "soundtrack": f"S{s}"})
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    preset = tiny_samplecnn_preset(root / "plain", SR, tags=["a", "b", "c", "d", "e"])
    meta = json.loads((preset / "metadata.json").read_text())
    meta["training"] = {"train_soundtracks": ["S0", "S1"]}
    (preset / "metadata.json").write_text(json.dumps(meta))
    out = recipe.add_level_readout(preset, root / "manifest.jsonl", root / "levels", levels="all", components=6,
                                   progress=False)
    return root, preset, out


def test_truncated_whitening_keeps_the_strong_directions_at_about_unit_variance():
    rng = np.random.default_rng(0)
    rotation, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    x = rng.standard_normal((5000, 5)) * np.array([10.0, 4.0, 1.0, 0.3, 0.1]) @ rotation + 3.0
    mean, matrix = recipe.truncated_whitening(x, shrinkage=0.1, components=3)
    assert matrix.shape == (5, 3)
    np.testing.assert_allclose(mean, x.mean(0), rtol=1e-5)
    eig = np.sort(np.linalg.eigvalsh(np.cov(x.T)))[::-1]
    covariance = np.cov(((x - mean) @ matrix).T)
    # The three strongest directions, uncorrelated, each at eig / (eig + 0.1 * mean eig).
    np.testing.assert_allclose(np.diag(covariance), eig[:3] / (eig[:3] + 0.1 * eig.mean()), rtol=1e-3)
    np.testing.assert_allclose(covariance - np.diag(np.diag(covariance)), 0, atol=1e-4)
    for bad, message in (({"components": 6}, "components"), ({"shrinkage": 0}, "shrinkage")):
        with pytest.raises(ValueError, match=message):
            recipe.truncated_whitening(x, **{"shrinkage": 0.1, "components": 3, **bad})
    with pytest.raises(ValueError, match="n >= 2"):
        recipe.truncated_whitening(x[:1])


def test_parse_levels():
    assert recipe.parse_levels("all", 4) == (-4, -3, -2, -1)
    assert recipe.parse_levels("-3,-1", 4) == (-3, -1)
    for bad in ("-5", "0", "-1,-1", "top"):
        with pytest.raises(SystemExit, match="--levels"):
            recipe.parse_levels(bad, 4)


def test_embedding_is_the_whitened_levels_and_tags_do_not_change(corpus):
    root, plain_dir, levels_dir = corpus
    plain, model = sdk.load(plain_dir), sdk.load(levels_dir)
    stages = plain.stage_names
    record = model.metadata["level_readout"]
    assert record["levels"] == list(range(-len(stages), 0)) and record["stages"] == stages
    assert record["n_tracks"] == 8 and record["components"] == 6 == model.embedding_size  # S0 and S1 only
    # One graph: the read-out is a layer of it, its weights in model.weights.h5 (no side files).
    assert isinstance(model.readout, MultiLevelReadout) and plain.readout is None
    assert sorted(model.metadata["files"]) == ["model.weights.h5"]
    assert model.task.get_config()["readout"] == {"levels": record["levels"], "size": 6}
    song = root / "s2t1.wav"
    raw = plain.segment_features(str(song), levels=record["levels"])
    mean, matrix = model.readout.get_weights()
    np.testing.assert_allclose(model.embed(song), ((raw - mean) @ matrix).mean(0), rtol=1e-4, atol=1e-5)
    # The read-out was fitted on the training tracks: their song vectors are centred.
    training = np.stack([model.embed(root / f"s{s}t{t}.wav") for s in (0, 1) for t in range(4)])
    assert np.abs(training.mean(0)).max() < 1e-3 * np.abs(training).max()
    # The tag head reads the network's own embedding: same scores as the plain preset.
    tagged, plain_tags = dict(model.tag(song, top_k=None)), dict(plain.tag(song, top_k=None))
    assert tagged == pytest.approx(plain_tags, abs=1e-6)
    np.testing.assert_allclose(model.head_features(song), plain.segment_features(song), rtol=1e-5, atol=1e-6)
    vector, scores = model.embed_and_tag(song)
    np.testing.assert_allclose(vector, model.embed(song), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scores, [plain_tags[name] for name in model.tags], atol=1e-6)
    # Explicit levels still give the raw stage features.
    np.testing.assert_allclose(model.segment_features(song, levels=(-1,)), plain.segment_features(song, levels=(-1,)))


def test_multi_level_readout_layer_pools_centres_and_projects():
    import keras

    rng = np.random.default_rng(0)
    series, vector = rng.standard_normal((2, 5, 3)).astype("float32"), rng.standard_normal((2, 4)).astype("float32")
    layer = MultiLevelReadout(2)
    layer.build([series.shape, vector.shape])
    mean, matrix = rng.standard_normal(7).astype("float32"), rng.standard_normal((7, 2)).astype("float32")
    layer.set_weights([mean, matrix])
    expected = (np.concatenate([series.max(1), vector], 1) - mean) @ matrix
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer([series, vector])), expected, rtol=1e-5, atol=1e-5)
    assert [w.trainable for w in layer.weights] == [False, False]
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert again.get_config() == layer.get_config()


def test_a_catalog_of_the_levels_preset_searches_in_its_space(corpus):
    root, _, levels_dir = corpus
    model = sdk.load(levels_dir)
    catalog = sdk.Catalog.build(root, model.embed, model=model.preset_id, embedding_size=model.embedding_size)
    hits = model.similar("s0t0.wav", catalog, k=3)
    assert len(hits) == 3 and all(h["id"] != "s0t0.wav" for h in hits)


def test_a_modified_readout_is_refused_by_its_sha256(corpus, tmp_path):
    import h5py

    _, _, levels_dir = corpus
    copy = shutil.copytree(levels_dir, tmp_path / "copy")
    with h5py.File(copy / "model.weights.h5", "r+") as weights:
        names = []
        weights.visititems(lambda name, item: names.append(name) if "readout" in name and isinstance(item, h5py.Dataset) else None)
        assert names, "the read-out's weights are in model.weights.h5"
        weights[names[0]][...] = 0
    with pytest.raises(PresetError, match="model.weights.h5"):
        sdk.load(copy)


def test_recipe_refuses_a_manifest_without_the_training_soundtracks(corpus, tmp_path):
    root, preset, _ = corpus
    rows = [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines()]
    other = tmp_path / "manifest.jsonl"
    other.write_text("".join(json.dumps({**r, "path": str(root / r["path"])}) + "\n" for r in rows if r["soundtrack"] != "S1"))
    with pytest.raises(SystemExit, match="lacks 1 of the preset's training soundtracks \\(S1\\)"):
        recipe.add_level_readout(preset, other, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_refitting_in_place_replaces_the_readout_and_keeps_the_head(corpus, tmp_path):
    root, _, levels_dir = corpus
    copy = shutil.copytree(levels_dir, tmp_path / "again")
    recipe.add_level_readout(copy, root / "manifest.jsonl", copy, levels="-2,-1", components=4, progress=False)
    model = sdk.load(copy)
    assert [o["name"] for o in model.metadata["outputs"]] == ["embedding", "tags"]
    assert model.task.readout == {"levels": [-2, -1], "size": 4} and model.embedding_size == 4
    song = root / "s2t1.wav"
    np.testing.assert_allclose(model.head_features(song), sdk.load(levels_dir).head_features(song), rtol=1e-5, atol=1e-6)


def test_selection_scores_only_the_unseen_soundtracks_and_fits_on_the_trained_ones(tmp_path):
    from research.samplecnn_msd import levels_selection
    from training_recipes.evaluation import metrics

    rng = np.random.default_rng(0)
    labels = np.repeat(["A", "B", "C", "D"], 6)
    centres = rng.standard_normal((4, 12))
    top = centres[np.searchsorted(["A", "B", "C", "D"], labels)] + 0.5 * rng.standard_normal((24, 12))
    path = tmp_path / "f.npz"
    np.savez(path, paths=np.array([f"t{i}" for i in range(24)]), soundtracks=labels,
             low=100 * rng.standard_normal((24, 4)), top=top, embedding=rng.standard_normal((24, 3)))
    with np.load(path) as features:
        out = levels_selection.scores(features, ["A", "B"])
    assert (out["n_fit_tracks"], out["n_scored_tracks"], out["n_scored_soundtracks"]) == (12, 12, 2)
    unseen = np.isin(labels, ["C", "D"])
    assert out["top 1, raw"] == pytest.approx(metrics.mean_average_precision(top[unseen], labels[unseen]))
    # The loud, uninformative low stage swamps the raw concatenation; whitening evens it out.
    assert out["top 1, raw"] > out["top 2, raw"]
    assert out["top 2, whitened, shrinkage 1, all dims"] > out["top 2, raw"]


def test_random_init_of_a_levels_preset_embeds_with_its_head(corpus):
    """transfer --random-init: fresh weights make the fitted read-out meaningless, so the
    throwaway preset's embedding is the head layer again."""
    from training_recipes.evaluation.transfer import random_init

    _, _, levels_dir = corpus
    fresh = random_init(sdk.load(levels_dir))
    assert fresh.readout is None and "level_readout" not in fresh.metadata
    assert fresh.embedding_size == sdk.load(levels_dir).head_features(np.zeros(SR, np.float32), SR).shape[1]
    assert fresh.tags == sdk.load(levels_dir).tags
