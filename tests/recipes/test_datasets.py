"""Dataset adapters (training_recipes.thesis.datasets) on tiny fixtures in the public layouts.

Metadata fixtures live in tests/data/datasets/<name>/; audio files are created in a
tmp_path copy at test time (adapters do not decode audio)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from helpers import DATA
from training_recipes.thesis import datasets as ds

FIXTURES = DATA / "datasets"


def _copy(tmp_path, name):
    root = tmp_path / name
    shutil.copytree(FIXTURES / name, root)
    return root


def _touch(path, wav=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    if wav:
        sf.write(path, np.zeros(1600, np.float32), 16000)
    else:
        path.write_bytes(b"\xff\xfb\x90\x00")  # placeholder, never decoded here


# ------------------------------------------------------------------ MTAT
def test_mtat_top_n_split_and_drop_untagged(tmp_path):
    root = _copy(tmp_path, "mtat")
    d = ds.load_mtat(root, top_n=2)
    # counts: quiet 2, guitar 3, rock 2, piano 2 -> guitar + first tied column (quiet)
    assert d.tags == ["quiet", "guitar"]
    assert d.counts() == {"train": 2, "valid": 1, "test": 1}
    assert [t.id for t in d.splits["train"]] == ["2", "6"]  # folders 0 and b
    assert [t.id for t in d.splits["valid"]] == ["10"]  # folder c
    assert d.splits["test"][0].id == "13" and d.splits["test"][0].labels == ["quiet", "guitar"]
    first = d.splits["train"][0]
    assert first.labels == ["guitar"]  # rock is not in the top 2
    assert first.path == root / "mp3" / "0" / "artist_a-album_a-01-song-0-29.mp3"
    assert (first.artist, first.album) == ("Artist A", "Album A")  # clip_info_final.csv
    assert d.splits["train"][1].artist is None

    everything = ds.load_mtat(root, top_n=2, drop_untagged=False)
    assert everything.counts() == {"train": 2, "valid": 1, "test": 3}
    assert ds.load_mtat(root).tags == ["quiet", "guitar", "rock", "piano"]  # top_n > columns


def test_mtat_split_rule():
    assert [ds.mtat_split(f"{c}/x.mp3") for c in "0123456789abcdef"] == \
        ["train"] * 12 + ["valid"] + ["test"] * 3
    with pytest.raises(ValueError, match="hex"):
        ds.mtat_split("g/x.mp3")


def test_mtat_missing_and_malformed(tmp_path):
    with pytest.raises(FileNotFoundError, match="annotations_final.csv"):
        ds.load_mtat(tmp_path)
    root = _copy(tmp_path, "mtat")
    ann = root / "annotations_final.csv"
    ann.write_text(ann.read_text() + "14\t0\t2\t0\t0\t0/x.mp3\n")
    with pytest.raises(ValueError, match=r"annotations_final.csv line 8"):
        ds.load_mtat(root)
    ann.write_text("clip_id,quiet,mp3_path\n1,0,0/x.mp3\n")
    with pytest.raises(ValueError, match="annotations_final.csv: header"):
        ds.load_mtat(root)


# ------------------------------------------------------------------ MSD
def test_msd_lists_tags_and_paths(tmp_path):
    root = _copy(tmp_path, "msd")
    d = ds.load_msd(root, top_n=2)
    assert d.tags == ["indie", "rock"]  # rock 3, indie 3 beat pop 2 / jazz 2
    assert d.counts() == {"train": 3, "valid": 0, "test": 2}  # jazz-only track dropped
    t = d.splits["train"][0]
    assert (t.id, t.labels, t.artist) == ("TRAAAAW128F429D538", ["rock", "indie"], "Casual")
    assert t.path == root / "audio" / "A" / "A" / "A" / "TRAAAAW128F429D538.mp3"
    expected = Path("r/audio/B/C/D/TRBCDEF128F429D538.mp3")
    assert ds.msd_audio_path("r", "TRBCDEF128F429D538") == expected
    full = ds.load_msd(root)
    assert full.counts() == {"train": 3, "valid": 1, "test": 2}
    assert full.tags == ["guitar", "indie", "jazz", "pop", "rock"]


def test_msd_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="tags.csv"):
        ds.load_msd(tmp_path)
    root = _copy(tmp_path, "msd")
    (root / "valid.txt").write_text("TRAAADZ128F9348C2E\nnot-an-id\n")
    with pytest.raises(ValueError, match=r"valid.txt line 2"):
        ds.load_msd(root)
    (root / "valid.txt").unlink()
    with pytest.raises(FileNotFoundError, match="valid.txt"):
        ds.load_msd(root)


# ------------------------------------------------------------------ GTZAN
def test_gtzan_filtered_split_au_to_wav(tmp_path):
    root = _copy(tmp_path, "gtzan")
    for name in ["blues/blues.00012.wav", "blues/blues.00013.wav", "jazz/jazz.00001.wav",
                 "jazz/jazz.00002.wav", "blues/blues.00020.wav"]:
        _touch(root / "genres" / name, wav=True)
    _touch(root / "genres" / "jazz" / "jazz.00003.au")  # listed as .wav, only .au exists
    d = ds.load_gtzan(root)
    assert d.tags == ["blues", "jazz"]
    assert d.counts() == {"train": 3, "valid": 1, "test": 2}
    t = d.splits["train"][0]
    assert (t.id, t.labels) == ("blues.00012", ["blues"])
    assert t.path == root / "genres" / "blues" / "blues.00012.wav"
    assert d.splits["test"][1].path == root / "genres" / "jazz" / "jazz.00003.au"
    assert all(t.path.is_file() for s in d.splits.values() for t in s)


def test_gtzan_errors(tmp_path):
    root = _copy(tmp_path, "gtzan")
    with pytest.raises(FileNotFoundError, match="genres"):
        ds.load_gtzan(root)
    (root / "genres").mkdir()
    (root / "valid_filtered.txt").write_text("jazz/jazz.00002.au\n\njazz.00004.au\n")
    with pytest.raises(ValueError, match="valid_filtered.txt line 3"):
        ds.load_gtzan(root)
    shutil.copy(FIXTURES / "gtzan" / "valid_filtered.txt", root / "valid_filtered.txt")
    (root / "test_filtered.txt").unlink()
    with pytest.raises(FileNotFoundError, match="test_filtered.txt"):
        ds.load_gtzan(root)


# ------------------------------------------------------------------ FMA
def test_fma_two_row_header_small(tmp_path):
    root = _copy(tmp_path, "fma")
    d = ds.load_fma(root)
    assert d.name == "fma_small" and d.tags == ["Folk", "Hip-Hop"]
    assert {s: [t.id for t in ts] for s, ts in d.splits.items()} == \
        {"train": ["2", "141"], "valid": ["5"], "test": ["140"]}
    t = d.splits["train"][0]
    assert (t.labels, t.artist, t.album) == (["Hip-Hop"], "AWOL", "AWOL - A Way Of Life")
    assert t.path == root / "fma_small" / "000" / "000002.mp3"
    assert d.splits["test"][0].path == root / "fma_small" / "000" / "000140.mp3"
    medium = ds.load_fma(root, "medium")  # medium contains small
    assert [t.id for t in medium.splits["train"]] == ["2", "10", "141"]
    assert medium.splits["train"][1].path == root / "fma_medium" / "000" / "000010.mp3"
    large = ds.load_fma(root, "large")  # multi-line quoted title, empty genre_top
    assert [(t.id, t.labels) for t in large.splits["train"]][2] == ("20", [])


def test_fma_header_without_third_row_and_errors(tmp_path):
    root = _copy(tmp_path, "fma")
    tracks = root / "fma_metadata" / "tracks.csv"
    lines = tracks.read_text().splitlines(keepends=True)
    tracks.write_text("".join(lines[:2] + lines[3:]))  # plain two-row header
    assert ds.load_fma(root).counts() == {"train": 2, "valid": 1, "test": 1}
    tracks.write_text("".join(lines) + "142,1,x,1,y,testing,small,Folk,[17],z\n")
    with pytest.raises(ValueError, match=r"tracks.csv line \d+: bad set.split"):
        ds.load_fma(root)
    tracks.write_text("".join(lines) + "143,1,x\n")
    with pytest.raises(ValueError, match=r"tracks.csv line \d+: malformed row"):
        ds.load_fma(root)
    tracks.write_text("track_id,title\n2,x\n")
    with pytest.raises(ValueError, match="set.subset"):
        ds.load_fma(root)
    tracks.unlink()
    with pytest.raises(FileNotFoundError, match="tracks.csv"):
        ds.load_fma(root)


# ------------------------------------------------------------------ generic
def test_folder_and_csv(tmp_path):
    for name in ["rock/a.wav", "rock/sub/b.mp3", "jazz/c.flac", "jazz/notes.txt"]:
        _touch(tmp_path / "flat" / name)
    d = ds.load_folder(tmp_path / "flat")
    assert d.tags == ["jazz", "rock"] and d.counts() == {"all": 3}
    assert [(t.id, t.labels) for t in d.splits["all"]][1] == ("rock/a.wav", ["rock"])
    for name in ["train/rock/a.wav", "validation/jazz/b.wav", "test/rock/c.wav"]:
        _touch(tmp_path / "split" / name)
    assert ds.load_folder(tmp_path / "split").counts() == {"test": 1, "train": 1, "valid": 1}

    root = _copy(tmp_path, "generic")
    c = ds.load_csv(root / "labels.csv")
    assert c.tags == ["guitar", "jazz", "rock"] and c.counts() == {"train": 2, "test": 1}
    t = c.splits["train"][0]
    assert (t.path, t.labels, t.artist) == (root / "audio" / "one.wav", ["rock", "guitar"], "A")
    assert c.splits["test"][0].artist is None
    (root / "bad.csv").write_text("file,label\nx.wav,rock\n")
    with pytest.raises(ValueError, match="bad.csv: header"):
        ds.load_csv(root / "bad.csv")
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        ds.load_csv(root / "missing.csv")


# ------------------------------------------------------------------ manifest
def test_manifest_builds_catalog(tmp_path):
    from sdk import Catalog

    root = _copy(tmp_path, "mtat")
    d = ds.load_mtat(root, top_n=2)
    for t in d.splits["train"]:
        _touch(t.path)
    out = tmp_path / "manifests" / "mtat_train.jsonl"
    assert ds.to_manifest(d, "train", out) == 2
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0] == {"path": "../mtat/mp3/0/artist_a-album_a-01-song-0-29.mp3", "id": "mtat/2",
                       "labels": ["guitar"], "tags": ["guitar"], "artist": "Artist A",
                       "album": "Album A", "split": "train"}
    catalog = Catalog.build(out, lambda p: np.ones(4), embedding_size=4, progress=False)
    assert len(catalog) == 2 and not catalog.skipped
    assert catalog.get("mtat/2")["labels"] == ["guitar"]
    assert ds.to_manifest(d, None, tmp_path / "all.jsonl") == 4
    with pytest.raises(KeyError, match="nope"):
        ds.to_manifest(d, "nope", tmp_path / "x.jsonl")
