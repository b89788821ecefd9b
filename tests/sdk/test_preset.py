"""The preset directory format (sdk/preset.py) and the artist-siamese-msd converter."""

import json
import re
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from helpers import REPO
import zoo
from sdk import preset as preset_module
from sdk.preset import (
    PresetError,
    frontend_config,
    load_preset_model,
    read_preset,
    save_preset,
    sha256_file,
    verify_preset,
)

BUNDLED = REPO / "sdk/bundled/artist-siamese-msd"
PUBLISHED_H5 = REPO.parent / "shared/weights/artist-siamese-msd/model_siamese_10000.h5"
TINY = zoo.get_model_info("samplecnn").tiny


def tiny_model(seed=0):
    keras.utils.set_random_seed(seed)
    return zoo.build("samplecnn", **TINY)


def tiny_preprocessor(model):
    return {
        "sample_rate": 22050,
        "frontend": frontend_config(model.get_layer("frontend")),
        "segment": {"length": 81, "hop": 81, "unit": "samples"},
        "aggregation": "mean",
        "segment_pooling": "max",
    }


def write_tiny(directory, model=None, card=None):
    model = model or tiny_model()
    save_preset(
        model, directory, name="samplecnn", arguments=TINY, preprocessor=tiny_preprocessor(model),
        metadata={"preset": "test-samplecnn-tiny", "embedding_size": 16, "license": "MIT", "tags": list("abcde")},
        card_path=card,
    )
    return model


def numpy_weights(model):
    return [keras.ops.convert_to_numpy(w) for w in model.weights]


def test_round_trip_save_read_verify_load(tmp_path):
    card = tmp_path / "card.md"
    card.write_text("---\nlicense: mit\n---\n# tiny\n")
    model = write_tiny(tmp_path / "preset", card=card)
    directory = tmp_path / "preset"

    files = read_preset(directory)
    assert files.config["format_version"] == 2 and files.task_config["registered_name"] == "zoo>MusicTask"
    assert files.name == "samplecnn"
    assert files.arguments == json.loads(json.dumps(zoo.model_arguments("samplecnn", **TINY)))
    assert files.task_config["config"]["segment"] == 81 and files.task_config["config"]["readout"] is None
    assert files.preprocessor["segment"]["unit"] == "samples"
    assert "name" not in files.preprocessor["frontend"] and "dtype" not in files.preprocessor["frontend"]
    meta = files.metadata
    assert meta["preset"] == "test-samplecnn-tiny"
    assert meta["keras_version"] == keras.__version__
    assert meta["parameter_count"] == model.count_params()  # the graph holds the network's weights, no more
    assert meta["files"] == {"model.weights.h5": sha256_file(directory / "model.weights.h5")}
    assert set(files.paths) == {"config.json", "model.weights.h5", "preprocessor.json", "metadata.json", "README.md"}
    assert (directory / "README.md").read_text() == card.read_text()
    assert verify_preset(directory).config == files.config

    restored = load_preset_model(directory)
    assert sorted(a.tobytes() for a in numpy_weights(restored)) == sorted(a.tobytes() for a in numpy_weights(model))
    x = np.random.default_rng(0).standard_normal((2, *model.input.shape[1:])).astype("float32")
    np.testing.assert_allclose(restored.predict(x, verbose=0)["tags"], model.predict(x, verbose=0), rtol=1e-6, atol=1e-7)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_weights_are_not_pickled_and_hold_no_optimizer_state(tmp_path):
    write_tiny(tmp_path / "p")
    with h5py.File(tmp_path / "p/model.weights.h5", "r") as f:
        assert "optimizer" not in f
        assert "layers" in f


def test_corrupted_weight_file_names_the_file_and_both_hashes(tmp_path):
    write_tiny(tmp_path / "p")
    weights = tmp_path / "p/model.weights.h5"
    expected = sha256_file(weights)
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    actual = sha256_file(weights)
    for call in (verify_preset, load_preset_model):
        with pytest.raises(PresetError) as error:
            call(tmp_path / "p")
        message = str(error.value)
        assert "model.weights.h5" in message and expected in message and actual in message
    assert issubclass(PresetError, ValueError)


@pytest.mark.parametrize("missing", ["config.json", "model.weights.h5", "preprocessor.json", "metadata.json"])
def test_missing_file_names_directory_and_file(tmp_path, missing):
    write_tiny(tmp_path / "p")
    (tmp_path / "p" / missing).unlink()
    with pytest.raises(PresetError, match=re.escape(f"{tmp_path / 'p'}: not a complete preset, {missing} is missing")):
        load_preset_model(tmp_path / "p")


def test_missing_directory_and_unknown_format_version(tmp_path):
    with pytest.raises(PresetError, match="no such preset directory"):
        read_preset(tmp_path / "nowhere")
    write_tiny(tmp_path / "p")
    config = json.loads((tmp_path / "p/config.json").read_text())
    config["format_version"] = 99
    (tmp_path / "p/config.json").write_text(json.dumps(config))
    with pytest.raises(PresetError, match="format_version 99"):
        load_preset_model(tmp_path / "p")


def test_unknown_model_name_and_unlisted_weights_fail_clearly(tmp_path):
    write_tiny(tmp_path / "p")
    config = json.loads((tmp_path / "p/config.json").read_text())
    config["config"]["network"] = "samplecn"
    (tmp_path / "p/config.json").write_text(json.dumps(config))
    with pytest.raises(PresetError, match="Unknown model 'samplecn'"):
        load_preset_model(tmp_path / "p")
    write_tiny(tmp_path / "q")
    meta = json.loads((tmp_path / "q/metadata.json").read_text())
    meta["files"] = {}
    (tmp_path / "q/metadata.json").write_text(json.dumps(meta))
    with pytest.raises(PresetError, match="lists no sha256 for model.weights.h5"):
        verify_preset(tmp_path / "q")


def test_save_replaces_a_preset_and_refuses_other_directories(tmp_path):
    write_tiny(tmp_path / "p", model=tiny_model(seed=1))
    first = sha256_file(tmp_path / "p/model.weights.h5")
    second_model = write_tiny(tmp_path / "p", model=tiny_model(seed=2))
    assert sha256_file(tmp_path / "p/model.weights.h5") != first
    restored = load_preset_model(tmp_path / "p")
    np.testing.assert_array_equal(numpy_weights(restored.backbone)[0], numpy_weights(second_model.get_layer("backbone"))[0])

    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(PresetError, match="not a preset"):
        write_tiny(other)
    assert (other / "keep.txt").read_text() == "mine"


def test_model_that_does_not_fit_its_arguments_is_refused(tmp_path):
    with pytest.raises(PresetError, match="do not fit"):
        save_preset(tiny_model(), tmp_path / "p", name="samplecnn", arguments={**TINY, "num_tags": 7},
                    preprocessor={}, metadata={})
    assert not (tmp_path / "p").exists()


def test_crash_while_saving_leaves_no_half_preset(tmp_path, monkeypatch):
    write_tiny(tmp_path / "p")
    before = {p.name: p.read_bytes() for p in (tmp_path / "p").iterdir()}

    def explode(path):  # hashing runs once the weights are written: a crash mid-save
        Path(path).write_bytes(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(preset_module, "sha256_file", explode)
    for target in (tmp_path / "p", tmp_path / "new"):
        with pytest.raises(RuntimeError, match="disk full"):
            write_tiny(target, model=tiny_model(seed=3))
    assert {p.name: p.read_bytes() for p in (tmp_path / "p").iterdir()} == before
    assert not (tmp_path / "new").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]


# ----- the bundled artist-siamese-msd preset ---------------------------------------------
def test_bundled_preset_verifies_and_describes_itself():
    files = verify_preset(BUNDLED)
    assert files.name == "artist-siamese"
    assert files.arguments == json.loads(json.dumps(zoo.get_model_info("artist-siamese").defaults))
    meta = files.metadata
    assert meta["preset"] == "artist-siamese-msd" and meta["registry_name"] == "artist-siamese"
    assert meta["embedding_size"] == 256 and meta["subspaces"] == {"all": [0, 256]} and meta["tags"] == []
    assert meta["outputs"] == [{"name": "embedding", "purpose": "embeddings", "size": 256}]
    assert meta["license"] == "MIT" and meta["copyright"] == "Copyright (c) 2018 Jongpil Lee"
    assert "3b3ad09c321786c8ea388269ee3c35ab540734ce5209f40a430f1c9b0a25f753" in meta["provenance"]
    assert files.preprocessor["aggregation"] == "mean" and files.preprocessor["segment_pooling"] == "max"
    card = (BUNDLED / "README.md").read_text()
    assert card == (REPO / "hub_cards/artist-siamese-msd.md").read_text()
    assert "Copyright (c) 2018 Jongpil Lee" in card and "Permission is hereby granted" in card


def _h5_arrays(path):
    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: arrays.__setitem__(name, np.array(obj))
                     if isinstance(obj, h5py.Dataset) else None)
    return arrays


@pytest.mark.skipif(not PUBLISHED_H5.exists(), reason="shared weights not beside the repo")
def test_regenerating_the_bundled_preset_gives_the_same_preset(tmp_path):
    from training_recipes.artist_siamese_msd.convert import main

    assert main(["--h5", str(PUBLISHED_H5), "--out", str(tmp_path / "regen")]) == 0
    new, old = read_preset(tmp_path / "regen"), read_preset(BUNDLED)
    assert new.config == old.config
    assert new.preprocessor == old.preprocessor
    drop_date = lambda meta: {k: v for k, v in meta.items() if k != "date_saved"}  # noqa: E731
    assert drop_date(new.metadata) == drop_date(old.metadata)  # includes the weight file's sha256
    assert set(new.paths) == set(old.paths)
    assert (tmp_path / "regen/README.md").read_bytes() == (BUNDLED / "README.md").read_bytes()
    new_arrays, old_arrays = _h5_arrays(tmp_path / "regen/model.weights.h5"), _h5_arrays(BUNDLED / "model.weights.h5")
    assert new_arrays.keys() == old_arrays.keys() and len(new_arrays) == 30  # the tower: 5 x (conv 2 + BN 4)
    for name, array in old_arrays.items():
        np.testing.assert_array_equal(new_arrays[name], array, err_msg=name)


def test_converter_refuses_a_different_file(tmp_path, capsys):
    from training_recipes.artist_siamese_msd.convert import main

    impostor = tmp_path / "model_siamese_10000.h5"
    impostor.write_bytes(b"not the checkpoint")
    assert main(["--h5", str(impostor), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert "refusing" in error and "3b3ad09c321786c8ea388269ee3c35ab540734ce5209f40a430f1c9b0a25f753" in error
    assert not (tmp_path / "out").exists()


def test_float16_weights_halve_the_file_and_load_as_rounded_float32(tmp_path):
    import h5py

    model = tiny_model()
    preprocessor = tiny_preprocessor(model)
    for dtype in ("float32", "float16"):
        save_preset(model, tmp_path / dtype, name="samplecnn", arguments=TINY, preprocessor=preprocessor,
                    metadata={"preset": "tiny", "embedding_size": 16}, weights_dtype=dtype)
    full, half = (tmp_path / d / "model.weights.h5" for d in ("float32", "float16"))
    assert half.stat().st_size < full.stat().st_size  # HDF5's bookkeeping dominates a tiny file
    with h5py.File(half, "r") as f:
        stored = []
        f.visititems(lambda _, item: stored.append(item.dtype) if isinstance(item, h5py.Dataset) else None)
    assert stored and np.dtype(np.float32) not in stored and np.dtype(np.float16) in stored
    assert read_preset(tmp_path / "float16").metadata["weights_dtype"] == "float16"
    loaded = load_preset_model(tmp_path / "float16")
    for ours, theirs in zip(numpy_weights(loaded.backbone), numpy_weights(model.get_layer("backbone"))):
        assert ours.dtype == theirs.dtype
        np.testing.assert_array_equal(ours, theirs.astype(np.float16).astype(theirs.dtype))
    with pytest.raises(PresetError, match="weights_dtype"):
        save_preset(model, tmp_path / "bad", name="samplecnn", arguments=TINY, preprocessor=preprocessor,
                    metadata={}, weights_dtype="int8")
