"""The SDK's contract at its boundary (issue 20): every public argument checked with a message
naming it; one unreadable file never stops a folder; a query is never its own result."""

import json

import numpy as np
import pytest
import soundfile

import sdk
from helpers import TAGS, tone
from sdk.cli import main as cli
from sdk.model import SkippedFilesWarning


@pytest.fixture(scope="module")
def model(tagger_dir):
    return sdk.load(tagger_dir)


@pytest.fixture(scope="module")
def catalog(model, songs):
    files = [songs / f"song{i}.wav" for i in range(6)]
    return sdk.Catalog.build(files, model.embed, embedding_size=16, subspaces=model.subspace_layout, progress=False)


def test_counts_are_positive_whole_numbers(model, songs, catalog):
    song = songs / "song0.wav"
    assert [t for t, _ in model.tag(song, top_k=None)] and len(model.tag(song, top_k=None)) == len(TAGS)
    with pytest.raises(ValueError, match="top_k must be at least 1, got -1"):
        model.tag(song, top_k=-1)
    with pytest.raises(TypeError, match=r"top_k must be a positive whole number or None, got 2\.5"):
        model.tag(song, top_k=2.5)
    for bad, error, message in ((-1, ValueError, "k must be at least 1, got -1"), (0, ValueError, "got 0"),
                                (2.5, TypeError, r"k must be a positive whole number, got 2\.5"),
                                (True, TypeError, "got True")):
        with pytest.raises(error, match=message):
            model.similar("song0.wav", catalog, k=bad)
    with pytest.raises(ValueError, match="k must be at least 1"):
        catalog.search(catalog.vector("song0.wav"), k=-3)
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        model.embed(song, batch_size=0)


def test_queries_audio_and_weights_are_checked(model, songs, catalog):
    with pytest.raises(TypeError, match="audio is None"):
        model.embed(None)
    with pytest.raises(ValueError, match="audio is an empty list"):
        model.embed([])
    with pytest.raises(TypeError, match="audio must be a file path.*got int"):
        model.tag(3)
    with pytest.raises(TypeError, match="query is None"):
        model.similar(None, catalog)
    with pytest.raises(ValueError, match="query is an empty list"):
        model.similar([], catalog)
    with pytest.raises(ValueError, match="query is an empty list"):
        model.similar({"low": []}, catalog)
    with pytest.raises(ValueError, match=r"unknown sub-space\(s\) \['mood'\]; this catalog has low, high"):
        model.similar("song0.wav", catalog, weights={"mood": 1.0})
    with pytest.raises(ValueError, match=r"weights\['low'\] must be a finite number >= 0, got -1"):
        model.similar("song0.wav", catalog, weights={"low": -1})
    with pytest.raises(ValueError, match="weights are all zero"):
        model.similar("song0.wav", catalog, weights={"low": 0, "high": 0})
    with pytest.raises(TypeError, match="weights must be a dict"):
        model.similar("song0.wav", catalog, weights=[1, 2])


def test_levels_name_the_stages(model, songs):
    song = songs / "song0.wav"
    assert model.embed(song, levels=(-2, -1)).shape == (16 + 16,)
    stages = ", ".join(model.stage_names)
    for bad, error in (((-9,), ValueError), ((0,), ValueError), ((-1, -1), ValueError), ("-1", TypeError),
                       ((), TypeError), ((-1.0,), TypeError)):
        with pytest.raises(error, match="stages from the top") as raised:
            model.embed(song, levels=bad)
        assert stages in str(raised.value)


def test_a_query_is_never_its_own_result(model, catalog):
    for query in ("song0.wav", ["song0.wav", "song1.wav"], {"low": "song0.wav"},
                  {"low": "song0.wav", "high": "song3.wav"}):
        ids = [hit["id"] for hit in model.similar(query, catalog, k=6)]
        queried = {query} if isinstance(query, str) else set(query.values() if isinstance(query, dict) else query)
        assert ids and not queried & set(ids), (query, ids)


def test_one_bad_file_never_stops_a_folder(model, songs, capsys):
    with pytest.warns(SkippedFilesWarning, match=r"1 of 7 files skipped:\n  .*broken\.wav: cannot decode"):
        vectors = model.embed(songs)
    assert vectors.shape == (6, 16)
    result = model.embed_many(songs)
    assert [p.name for p in result.paths] == [f"song{i}.wav" for i in range(6)]
    np.testing.assert_allclose(result.vectors[2], model.embed(songs / "song2.wav"), rtol=1e-5, atol=1e-6)
    assert [p for p, _ in result.skipped] == [str(songs / "broken.wav")]
    with pytest.raises(sdk.AudioError, match="none of its 1 file"):
        model.embed_many([songs / "broken.wav"])

    capsys.readouterr()  # the progress bars of the calls above
    for command in ("embed", "tag"):
        assert cli(["--json", command, str(songs), "--model", str(model.directory)]) == 1
        captured = capsys.readouterr()
        assert len(json.loads(captured.out)) == 6  # every good file has its row
        errors = captured.err.strip().splitlines()
        assert len(errors) == 1 and errors[0].startswith(f"music-zoo {command}: skipped ") and "broken.wav" in errors[0]


def test_cli_arguments_are_checked(model, catalog, tmp_path, capsys):
    catalog.save(tmp_path / "catalog")
    base = ["search", str(tmp_path / "catalog"), "song0.wav", "--model", str(model.directory)]
    assert cli(base + ["-k", "-3"]) == 2
    assert "-k must be at least 1, got -3" in capsys.readouterr().err
    assert cli(base + ["--weight", "all"]) == 2
    assert "--weight takes SUBSPACE=WEIGHT (e.g. --weight genre=1), got 'all'" in capsys.readouterr().err
    assert cli(base + ["--weight", "low=x"]) == 2
    assert "'x' is not a number" in capsys.readouterr().err
    assert cli(["tag", "--top-k", "0", "song.wav", "--model", str(model.directory)]) == 2
    assert "--top-k must be at least 1" in capsys.readouterr().err
    assert cli(base + ["--weight", "low=1", "-k", "2"]) == 0


def _labelled_folder(root):
    for label, freqs in {"low": [150, 180, 210], "high": [2400, 2800, 3200]}.items():
        (root / label).mkdir(parents=True)
        for i, freq in enumerate(freqs):
            soundfile.write(root / label / f"{freq}.wav", tone(freq, seconds=0.3, seed=i), 8000)
    return root


def test_a_fine_tuned_model_saves_as_a_preset_and_reloads(model, tmp_path, capsys):
    source = _labelled_folder(tmp_path / "labelled")
    tuned = sdk.fine_tune(model, source, epochs=40, learning_rate=0.05, out=tmp_path / "my-tagger",
                          preset_id="my-tagger")
    assert model.tags == TAGS and model.directory != tuned.directory  # the loaded model is intact
    again = sdk.load(tmp_path / "my-tagger")
    query = source / "low" / "180.wav"
    assert again.tags == tuned.tags == ["high", "low"] and again.preset_id == "my-tagger"
    np.testing.assert_allclose(dict(again.tag(query, top_k=None))["low"], dict(tuned.tag(query, top_k=None))["low"],
                               rtol=1e-5)
    meta = again.metadata
    assert meta["derived_from"]["preset"] == model.preset_id
    assert meta["derived_from"]["weights_sha256"] == model.metadata["files"]["model.weights.h5"]
    assert meta["derived_from"]["songs"] == 6 and meta["files"]["model.weights.h5"]
    card = (tmp_path / "my-tagger" / "README.md").read_text()
    assert "with a new tag head over 2 labels" in card and model.preset_id in card and "Not evaluated" in card
    # The CLI loads it like any preset.
    assert cli(["--json", "tag", str(query), "--model", str(tmp_path / "my-tagger"), "--top-k", "1"]) == 0
    assert list(json.loads(capsys.readouterr().out).values())[0] == {"low": pytest.approx(
        dict(tuned.tag(query, top_k=None))["low"], rel=1e-5)}


def test_fitted_prototypes_save_and_reload(tmp_path, songs):
    plain = sdk.load("artist-siamese-msd")
    files = [songs / f"song{i}.wav" for i in range(6)]
    fitted = plain.fit_prototypes(files, ["low"] * 3 + ["high"] * 3, preset_id="artist-prototypes")
    fitted.save(tmp_path / "protos")
    again = sdk.load(tmp_path / "protos")
    assert again.tags == ["high", "low"] and plain.tags == []
    np.testing.assert_allclose(again.embed_and_tag(files[4])[1], fitted.embed_and_tag(files[4])[1], rtol=1e-5)
    assert again.tag(files[4], top_k=1)[0][0] == "high"


@pytest.mark.skipif(__import__("os").environ.get("KERAS_BACKEND", "jax") != "jax", reason="runs every backend itself")
@pytest.mark.parametrize("backend", ["jax", "tensorflow", "torch"])
def test_the_cli_prints_no_backend_start_up_noise(backend, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(KERAS_BACKEND=backend, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    fake = tmp_path / "fake.mp3"
    fake.write_text("not audio at all")
    run = subprocess.run([sys.executable, "-m", "sdk.cli", "tag", str(fake), "--model", "musicnn-msd"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        f"music-zoo tag: {fake}: cannot decode (not a recognised audio file; its contents do not decode as .mp3)"]
