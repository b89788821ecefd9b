"""Presets as a catalogue: list_presets / music-zoo info, the default preset, publishing."""

import json
import shutil

import numpy as np
import pytest
import soundfile

import sdk
from sdk.cli import main as cli
from sdk.presets import DEFAULT_PRESET, PRESETS
from sdk.preset import read_preset
from sdk.publish import PublishError, publish


@pytest.mark.parametrize("preset_id", list(PRESETS))
def test_catalogue_entry_matches_the_presets_own_files(preset_id):
    info = sdk.list_presets()[preset_id]
    files = read_preset(PRESETS[preset_id].bundled_path)
    meta = files.metadata
    assert info["parameters"] == meta["parameter_count"]
    assert info["embedding_size"] == meta["embedding_size"]
    assert info["subspaces"] == list(meta["subspaces"])
    assert info["tags"] == len(meta["tags"])
    assert info["sample_rate"] == files.preprocessor["sample_rate"]
    assert info["license"] == meta["license"]
    assert info["description"] and info["input"]


def test_list_presets_filters_and_prints_a_table(capsys):
    table = sdk.list_presets("musicnn*")
    assert list(table) == ["musicnn-msd", "musicnn-mtat"]
    text = str(sdk.list_presets())
    assert all(preset_id in text for preset_id in PRESETS) and "licence" in text.splitlines()[0]
    assert cli(["info"]) == 0
    assert "samplecnn-msd" in capsys.readouterr().out
    assert cli(["--json", "info"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["musicnn-msd"]["tags"] == 50 and listed["samplecnn-msd"]["parameters"] == 3_407_794
    assert cli(["--json", "info", "--model", "musicnn-msd"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert one["stages"][-1] == "penultimate_bn" and len(one["tags"]) == 50


def test_one_default_preset_everywhere():
    assert DEFAULT_PRESET == "samplecnn-msd"
    assert sdk.model.get_model().preset_id == DEFAULT_PRESET
    from sdk.cli import build_parser

    parser = build_parser()
    for command in (["embed", "x.wav"], ["tag", "x.wav"], ["index", "music", "catalog"]):
        assert parser.parse_args(command).model == DEFAULT_PRESET
    assert parser.parse_args(["visualize", "map", "--audio", "music"]).preset == DEFAULT_PRESET


@pytest.mark.parametrize("preset_id", list(PRESETS))
def test_publish_dry_run_checks_every_bundled_preset(preset_id, capsys):
    directory = PRESETS[preset_id].bundled_path
    summary = publish(directory, f"someone/{preset_id}", dry_run=True)
    names = [f["name"] for f in summary["files"]]
    assert names == ["config.json", "model.weights.h5", "preprocessor.json", "metadata.json", "README.md"]
    weights = next(f for f in summary["files"] if f["name"] == "model.weights.h5")
    assert weights["sha256"] == PRESETS[preset_id].weights_sha256["model.weights.h5"]
    assert cli(["publish", str(directory), f"someone/{preset_id}", "--dry-run"]) == 0
    assert "would upload to someone/" in capsys.readouterr().out


@pytest.fixture
def copy(tmp_path):
    return shutil.copytree(PRESETS["artist-siamese-msd"].bundled_path, tmp_path / "preset")


def test_publish_refuses_a_modified_preset_a_bad_card_and_stray_files(copy, capsys):
    with pytest.raises(PublishError, match="ORG/NAME"):
        publish(copy, "no-slash", dry_run=True)
    card = (copy / "README.md").read_text()
    (copy / "README.md").write_text(card.replace("model-index:", "model-index-gone:"))
    with pytest.raises(PublishError, match="lacks model-index"):
        publish(copy, "a/b", dry_run=True)
    (copy / "README.md").write_text(card.replace("library_name: keras", "library_name: torch"))
    with pytest.raises(PublishError, match="library_name is 'torch'"):
        publish(copy, "a/b", dry_run=True)
    (copy / "README.md").write_text(card)
    (copy / "notes.txt").write_text("scratch")
    with pytest.raises(PublishError, match="notes.txt"):
        publish(copy, "a/b", dry_run=True)
    (copy / "notes.txt").unlink()
    data = bytearray((copy / "model.weights.h5").read_bytes())
    data[-100] ^= 0xFF
    (copy / "model.weights.h5").write_bytes(bytes(data))
    assert cli(["publish", str(copy), "a/b", "--dry-run"]) == 2
    assert "sha256" in capsys.readouterr().err


def test_publish_offline_fails_clearly_through_the_real_hub_client(copy, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(PublishError, match="uploading .* to someone/tiny failed .*HF_HUB_OFFLINE"):
        publish(copy, "someone/tiny")


def test_long_files_and_folders_show_progress(tmp_path, capsys):
    model = sdk.load("artist-siamese-msd")
    rate = 8000
    soundfile.write(tmp_path / "long.wav", np.zeros(int(301 * rate), np.float32) + 0.01, rate)
    model.embed(tmp_path / "long.wav")
    assert "embedding long.wav" in capsys.readouterr().err
    for name in ("a", "b"):
        soundfile.write(tmp_path / f"{name}.wav", np.full(3 * rate, 0.01, np.float32), rate)
    (tmp_path / "long.wav").unlink()
    model.embed(tmp_path)
    assert "embedding: 100%" in capsys.readouterr().err
    model.progress = False
    model.embed(tmp_path)
    assert capsys.readouterr().err == ""
