"""sdk.index.Catalog: exact weighted sub-space search, atomic files, builds from audio."""

import csv
import json
import os
import shutil

import numpy as np
import pytest
import soundfile

import sdk.index
from sdk.audio import load_audio
from sdk.index import Catalog

SUBSPACES = {"a": [0, 8], "b": [8, 20]}


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def brute_force(data, query, weights):
    """Scores sum_s w_s cos(query_s, row_s), straight from the raw vectors."""
    cos = {n: unit(data[:, a:b].astype(np.float64)) @ unit(query[a:b].astype(np.float64))
           for n, (a, b) in SUBSPACES.items()}
    return sum(weights.get(n, 0.0) * c for n, c in cos.items()), cos


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((300, 20)).astype(np.float32), rng.standard_normal((4, 20))


def random_catalog(vectors, **kwargs):
    catalog = Catalog(20, SUBSPACES, model="test-model", **kwargs)
    catalog.add([f"s{i}" for i in range(len(vectors))], vectors,
                [{"path": f"/music/{i}.wav", "title": f"Song {i}"} for i in range(len(vectors))])
    return catalog


@pytest.mark.parametrize("weights", [None, {"a": 0.7, "b": 0.3}, {"a": 2.0, "b": -1.0}])
def test_search_matches_brute_force(data, weights):
    vectors, queries = data
    catalog = random_catalog(vectors, backend="numpy")
    results = catalog.search(queries, k=10, weights=weights)
    assert len(results) == 4
    for query, hits in zip(queries, results):
        expected, cos = brute_force(vectors, query, weights or {"a": 1.0, "b": 1.0})
        assert [h["id"] for h in hits] == [f"s{i}" for i in np.argsort(-expected)[:10]]
        for hit in hits:
            row = int(hit["id"][1:])
            assert hit["score"] == pytest.approx(expected[row], abs=1e-5)
            assert hit["subspace_scores"] == pytest.approx({n: c[row] for n, c in cos.items()},
                                                           abs=1e-5)
            w = weights or {"a": 1.0, "b": 1.0}
            assert hit["score"] == pytest.approx(sum(w[n] * c for n, c in
                                                     hit["subspace_scores"].items()), abs=1e-9)
            assert hit["title"] == f"Song {row}" and hit["path"] == f"/music/{row}.wav"


def test_weight_zero_equals_subspace_alone(data):
    vectors, queries = data
    both = random_catalog(vectors).search(queries, k=15, weights={"a": 1.0})  # b weighs 0
    alone = Catalog(8)
    alone.add([f"s{i}" for i in range(len(vectors))], vectors[:, :8])
    for mixed, single in zip(both, alone.search(queries[:, :8], k=15)):
        assert [h["id"] for h in mixed] == [h["id"] for h in single]
        np.testing.assert_allclose([h["score"] for h in mixed], [h["score"] for h in single],
                                   atol=1e-6)


def test_faiss_and_numpy_agree_exactly(data):
    pytest.importorskip("faiss")
    vectors, queries = data
    catalog = random_catalog(vectors, backend="faiss")
    assert catalog.backend == "faiss" and Catalog(20).backend == "faiss"  # auto picks faiss
    weights = {"a": 0.25, "b": 1.5}
    with_faiss = catalog.search(queries, k=20, weights=weights, exclude=["s3", "s7"])
    catalog.backend = "numpy"
    assert catalog.search(queries, k=20, weights=weights, exclude=["s3", "s7"]) == with_faiss
    catalog.backend = "faiss"
    catalog.remove(["s0", "s1"])  # faiss index rebuilt after removal
    catalog.add(["new"], vectors[0])  # and extended after an add
    faiss_hits = catalog.search(vectors[:2], k=5)
    catalog.backend = "numpy"
    assert catalog.search(vectors[:2], k=5) == faiss_hits
    assert faiss_hits[0][0]["id"] == "new" and faiss_hits[0][0]["score"] == pytest.approx(2.0)


def test_edit_and_exclude(data):
    vectors, _ = data
    catalog = random_catalog(vectors)
    assert len(catalog) == 300 and "s5" in catalog and catalog.ids[:2] == ["s0", "s1"]
    top = catalog.search(vectors[5], k=3)[0]
    assert top[0]["id"] == "s5" and top[0]["score"] == pytest.approx(2.0)
    assert "s5" not in [h["id"] for h in catalog.search(vectors[5], k=3, exclude=["s5"])[0]]
    assert catalog.search(vectors[5], k=1, exclude="s5")[0][0]["id"] != "s5"
    stored = catalog.vector("s5")
    assert np.linalg.norm(stored[:8]) == pytest.approx(1) == np.linalg.norm(stored[8:])
    with pytest.raises(ValueError, match="duplicate id 's5'"):
        catalog.add(["s5"], vectors[5])
    with pytest.raises(ValueError, match="duplicate id 'x'"):
        catalog.add(["x", "x"], vectors[:2])
    catalog.remove(["s5", "s6"])
    assert len(catalog) == 298 and "s5" not in catalog
    assert catalog.search(vectors[5], k=1)[0][0]["id"] != "s5"
    assert catalog.get("s7")["title"] == "Song 7"
    with pytest.raises(KeyError, match="s5"):
        catalog.get("s5")
    with pytest.raises(ValueError, match="unknown sub-space"):
        catalog.search(vectors[0], weights={"c": 1.0})
    with pytest.raises(ValueError, match="tile"):
        Catalog(20, {"a": [0, 8], "b": [9, 20]})
    assert len(catalog.search(vectors[0], k=1000)[0]) == 298


def test_ids_matching():
    catalog = Catalog(2)
    catalog.add(["x", "y", "z"], np.eye(3, 2) + 0.1, [
        {"artist": "Nina", "tags": "jazz, Soul"}, {"tags": ["rock", "soul"]}, {"album": "Jazz"}])
    assert catalog.ids_matching("soul") == ["x", "y"]
    assert catalog.ids_matching("JAZZ") == ["x", "z"]
    assert catalog.ids_matching("nope") == []


def test_save_load_round_trip(tmp_path, data):
    vectors, queries = data
    catalog = random_catalog(vectors)
    catalog.save(tmp_path / "cat")
    files = sorted(os.listdir(tmp_path / "cat"))
    expected_files = ["catalog.json", "embeddings.npy", "items.jsonl"]
    assert files == sorted(expected_files + (["index.faiss"] if sdk.index.faiss else []))
    meta = json.loads((tmp_path / "cat" / "catalog.json").read_text())
    assert meta == {"format_version": 1, "embedding_size": 20, "subspaces": SUBSPACES,
                    "model": "test-model", "model_sha256": None, "model_source": None, "fields": None,
                    "count": 300}
    loaded = Catalog.load(tmp_path / "cat")
    assert loaded.ids == catalog.ids and loaded.items == catalog.items
    assert loaded.subspaces == {"a": (0, 8), "b": (8, 20)} and loaded.model == "test-model"
    np.testing.assert_array_equal(loaded.vector("s9"), catalog.vector("s9"))
    assert loaded.search(queries, k=7) == catalog.search(queries, k=7)
    catalog.remove(["s0"])
    catalog.save(tmp_path / "cat")  # overwrite in place
    assert len(Catalog.load(tmp_path / "cat")) == 299
    assert os.listdir(tmp_path) == ["cat"]  # no temp or backup dirs left
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "precious.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a catalog; refusing"):
        catalog.save(tmp_path / "other")


@pytest.mark.parametrize("failing_call", [1, 2])  # 1: moving the old one away; 2: moving the new one in
def test_interrupted_save_keeps_previous_catalog(tmp_path, monkeypatch, data, failing_call):
    vectors, queries = data
    old = random_catalog(vectors[:100])
    old.save(tmp_path / "cat")
    new = random_catalog(vectors)
    real_replace, calls = os.replace, []

    def flaky_replace(src, dst):
        calls.append((src, dst))
        if len(calls) == failing_call:
            raise OSError("disk unplugged")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky_replace)
    with pytest.raises(OSError, match="disk unplugged"):
        new.save(tmp_path / "cat")
    monkeypatch.undo()
    loaded = Catalog.load(tmp_path / "cat")
    assert len(loaded) == 100 and loaded.ids == old.ids
    assert loaded.search(queries, k=5) == old.search(queries, k=5)
    assert os.listdir(tmp_path) == ["cat"]


def test_crash_between_renames_is_recoverable(tmp_path, data):
    vectors, _ = data
    random_catalog(vectors[:10]).save(tmp_path / "cat")
    os.rename(tmp_path / "cat", tmp_path / ".cat.old-deadbeef")  # as if killed mid-swap
    with pytest.warns(UserWarning, match="interrupted save"):
        assert len(Catalog.load(tmp_path / "cat")) == 10


def test_a_save_finishing_while_its_backup_is_read_gives_the_new_catalog(tmp_path, data, monkeypatch):
    """The race a CI run hit: a reader finds only the set-aside old version (the saver is
    between its renames), then the save completes and removes it mid-read."""
    vectors, _ = data
    random_catalog(vectors[:10]).save(tmp_path / "cat")
    random_catalog(vectors[:20]).save(tmp_path / "next")
    os.rename(tmp_path / "cat", tmp_path / ".cat.old-1-x")
    real, reads = Catalog._load_snapshot.__func__, []

    def finish_the_save(cls, directory, backend):
        reads.append(directory.name)
        if directory.name == ".cat.old-1-x":
            os.rename(tmp_path / "next", tmp_path / "cat")
            shutil.rmtree(directory)
        return real(cls, directory, backend)

    monkeypatch.setattr(Catalog, "_load_snapshot", classmethod(finish_the_save))
    assert len(Catalog.load(tmp_path / "cat")) == 20
    assert reads == [".cat.old-1-x", "cat"]


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "items.jsonl").write_text('{"id": "s0"}\n{"id": "s1", broken\n'),
     r"items\.jsonl line 2: not valid JSON"),
    (lambda d: (d / "items.jsonl").write_text('{"id": "s0"}\n'),
     r"items\.jsonl: 1 items but embeddings\.npy has 5 rows"),
    (lambda d: (d / "items.jsonl").write_text('{"id": "s0"}\n' * 5),
     r"items\.jsonl line 2: duplicate id 's0'"),
    (lambda d: (d / "items.jsonl").write_text('["s0"]\n' * 5), r"items\.jsonl line 1: expected"),
    (lambda d: (d / "items.jsonl").unlink(), r"items\.jsonl: missing"),
    (lambda d: np.save(d / "embeddings.npy", np.ones((5, 7), np.float32)),
     r"embeddings\.npy: float32 array of shape \(5, 7\) does not match embedding_size 20"),
    (lambda d: np.save(d / "embeddings.npy", np.ones((5, 20), np.float32)),
     r"embeddings\.npy: rows are not finite and L2-normalised"),
    (lambda d: (d / "embeddings.npy").write_bytes(b"garbage"), r"embeddings\.npy: not a readable"),
    (lambda d: (d / "catalog.json").write_text('{"format_version": 2}'),
     r"catalog\.json: format_version 2 is not supported"),
    (lambda d: (d / "catalog.json").write_text("{"), r"catalog\.json: not valid JSON"),
])
def test_corrupted_catalog_gives_clear_error(tmp_path, data, damage, message):
    random_catalog(data[0][:5]).save(tmp_path / "cat")
    damage(tmp_path / "cat")
    with pytest.raises(ValueError, match=message):
        Catalog.load(tmp_path / "cat")


# ----- building from audio ----------------------------------------------------------------
RATE, BANDS = 8000, 16


def band_energies(path):
    """Deterministic 16-d embedding: energies in 16 equal FFT bands of 250 Hz."""
    spectrum = np.abs(np.fft.rfft(load_audio(path, RATE))) ** 2
    return np.array([band.sum() for band in np.array_split(spectrum, BANDS)])


def write_tone(path, freq, rate=16000):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(rate // 2) / rate
    soundfile.write(path, 0.5 * np.sin(2 * np.pi * freq * t), rate)


@pytest.fixture
def music(tmp_path):
    folder = tmp_path / "music"
    for name, freq in [("low.wav", 200), ("mid.wav", 1000), ("sub/high.wav", 3100),
                       ("sub/high2.wav", 3200)]:
        write_tone(folder / name, freq)
    (folder / "broken.wav").write_bytes(b"RIFF not really a wav")
    return folder


def test_build_from_folder_skips_broken_files(music):
    calls = []

    def embed(path):
        calls.append(path)
        return band_energies(path)

    catalog = Catalog.build(music, embed, model="bands", embedding_size=BANDS,
                            subspaces={"low": [0, 8], "high": [8, 16]}, progress=False)
    assert catalog.ids == ["low.wav", "mid.wav", "sub/high.wav", "sub/high2.wav"]
    assert len(calls) == 5 and catalog.model == "bands"
    assert [p for p, _ in catalog.skipped] == [str(music / "broken.wav")]
    assert "broken.wav: cannot decode" in catalog.skipped[0][1]
    assert catalog.get("mid.wav")["path"] == str(music / "mid.wav")
    hits = catalog.search(band_energies(music / "sub/high.wav"), k=4, weights={"high": 1})[0]
    # 3100 and 3200 Hz share a band, so both score ~1; the others only leak into it.
    assert {h["id"] for h in hits[:2]} == {"sub/high.wav", "sub/high2.wav"}
    assert [h["score"] for h in hits] == pytest.approx([1, 1, 0.3, 0.3], abs=0.1)


def test_update_adds_new_and_drops_deleted(music, tmp_path):
    catalog = Catalog.build(music, band_energies, embedding_size=BANDS, progress=False)
    catalog.save(tmp_path / "cat")
    (music / "low.wav").unlink()
    write_tone(music / "new" / "bass.flac", 100)
    calls = []

    def embed(path):
        calls.append(os.path.basename(path))
        return band_energies(path)

    catalog = Catalog.load(tmp_path / "cat")
    report = catalog.update(music, embed, progress=False)
    assert report["added"] == ["new/bass.flac"] and report["removed"] == ["low.wav"]
    assert calls == ["broken.wav", "bass.flac"]  # only files not yet in the catalog
    assert catalog.ids == ["mid.wav", "sub/high.wav", "sub/high2.wav", "new/bass.flac"]
    assert len(report["skipped"]) == 1
    assert catalog.update(music, embed, progress=False)["added"] == []


def test_build_from_manifests_keeps_metadata(music, tmp_path):
    rows = [{"path": "music/low.wav", "title": "Low", "artist": "A", "tags": "drone;bass"},
            {"path": str(music / "mid.wav"), "title": "Mid", "artist": "B", "tags": "beep"},
            {"path": "music/gone.wav", "title": "Gone", "artist": "C", "tags": ""}]
    manifest = tmp_path / "songs.csv"
    with open(manifest, "w", newline="") as f:
        writer = csv.DictWriter(f, ["path", "title", "artist", "tags"])
        writer.writeheader()
        writer.writerows(rows)
    catalog = Catalog.build(manifest, band_energies, embedding_size=BANDS, progress=False)
    assert catalog.ids == ["music/low.wav", (music / "mid.wav").as_posix()]
    assert catalog.skipped[0][0] == str(tmp_path / "music" / "gone.wav")
    hit = catalog.search(band_energies(music / "low.wav"), k=1)[0][0]
    assert (hit["id"], hit["title"], hit["artist"]) == ("music/low.wav", "Low", "A")
    assert hit["path"] == str(music / "low.wav")
    assert catalog.ids_matching("bass") == ["music/low.wav"]

    jsonl = tmp_path / "songs.jsonl"
    jsonl.write_text(json.dumps({"id": "x1", "path": "music/sub/high.wav", "year": 1999}) + "\n")
    item = Catalog.build(jsonl, band_energies, embedding_size=BANDS, progress=False).get("x1")
    assert item == {"id": "x1", "path": str(music / "sub" / "high.wav"), "year": 1999}
    (tmp_path / "nopath.csv").write_text("title\nLow\n")
    with pytest.raises(ValueError, match=r"nopath\.csv row 1: no \"path\""):
        Catalog.build(tmp_path / "nopath.csv", band_energies, embedding_size=BANDS)


def test_build_from_a_list_of_files_uses_file_names_as_ids(tmp_path):
    import soundfile as sf

    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        sf.write(tmp_path / sub / "same.wav", np.sin(np.arange(800) * (0.1 if sub == "a" else 0.3)), 8000)
    sf.write(tmp_path / "a" / "other.wav", np.sin(np.arange(800) * 0.2), 8000)
    files = [tmp_path / "a" / "other.wav", tmp_path / "a" / "same.wav", tmp_path / "b" / "same.wav"]
    catalog = Catalog.build(files, lambda path: np.ones(4, np.float32), embedding_size=4, progress=False)
    assert "other.wav" in catalog.ids
    assert sorted(i for i in catalog.ids if i != "other.wav") == sorted(str(f.as_posix()) for f in files[1:])
