"""The disentangled-msd recipe end to end on the tiny synthetic corpus: prepare -> train ->
resume -> export -> sdk.load, and tag queries in the model's own sub-spaces."""

import json

import numpy as np
import pytest

import sdk
from helpers import DISTILL_SOUNDTRACKS as SOUNDTRACKS
from sdk.index import Catalog
from training_recipes.disentangled_msd import export, prepare, train


@pytest.fixture(scope="module")
def cache(distill_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("disentangled-cache")
    prepare.prepare(distill_corpus, out)
    return out


def test_prepare_caches_features_teachers_and_tempo(cache, monkeypatch, distill_corpus):
    summary = json.loads((cache / "tracks.json").read_text())
    assert len(summary["tracks"]) == 2 * SOUNDTRACKS and summary["stride"] == 2
    per_track = len(range(0, prepare.window_count(16 * prepare.SAMPLE_RATE), 2))
    with np.load(cache / "cache.npz") as data:
        assert data["features"].shape == (2 * SOUNDTRACKS * per_track, 256)
        assert data["msd_tags"].shape == data["mtat_tags"].shape == (len(data["features"]), 50)
        assert 0 <= data["msd_tags"].min() and data["msd_tags"].max() <= 1
        assert list(np.bincount(data["track"])) == [per_track] * (2 * SOUNDTRACKS)
        first = np.array(data["features"][:per_track])
    bpm = [t["bpm"] for t in summary["tracks"]]
    assert all(30 <= b <= 300 for b in bpm), bpm
    # The features are samplecnn-msd's embedding of the window starting at k * 3 s.
    from training_recipes.samplecnn_msd.prepare import decode

    wave = decode(distill_corpus / summary["tracks"][0]["path"])
    start = prepare.window_span_22k(2)[0]
    expected = sdk.load("samplecnn-msd").task.predict(wave[None, start : start + prepare.STUDENT_SAMPLES], verbose=0)
    np.testing.assert_allclose(first[1], expected["embedding"][0], atol=0.02)
    # A second run finds every track done and computes nothing.
    monkeypatch.setattr(prepare, "track_outputs", lambda *a, **k: pytest.fail("recomputed a finished track"))
    assert prepare.prepare(distill_corpus, cache)["tracks"] == summary["tracks"]


def test_sampler_draws_what_each_triplet_asks():
    track = np.repeat(np.arange(6), 4)
    bpm = np.array([100, 103, 140, 150, 99, 60], np.float32)
    genre = np.array([3, 3, 7, 7, 7, 1])
    sampler = train.Sampler(track, bpm, np.arange(len(track)), seed=0, labels={"genre": genre})
    sample = sampler.epoch()
    assert set(sample) == set(train.sample_names(["genre"]))
    anchors = sample["anchor"]
    assert sorted(anchors) == list(range(len(track)))
    assert np.all(track[sample["track_positive"]] == track[anchors]) and np.all(sample["track_positive"] != anchors)
    assert np.all(track[sample["track_negative"]] != track[anchors])
    for a, c, f in zip(track[anchors], track[sample["tempo_positive"]], track[sample["tempo_negative"]]):
        assert c != a and f != a
        assert abs(bpm[f] - bpm[a]) > train.TEMPO_TOLERANCE
        if a in (0, 1, 4):  # tracks with another within 5 BPM
            assert abs(bpm[c] - bpm[a]) <= train.TEMPO_TOLERANCE
    positive, negative = track[sample["genre_positive"]], track[sample["genre_negative"]]
    assert np.all(positive != track[anchors]) and np.all(genre[negative] != genre[track[anchors]])
    has_twin = genre[track[anchors]] != 1  # genre 1 has one track: no positive to draw
    assert np.all(genre[positive][has_twin] == genre[track[anchors]][has_twin])


def test_track_labels_are_the_teachers_top_tag_per_notion():
    tags = json.loads((sdk.presets.BUNDLED_DIR / "musicnn-msd" / "metadata.json").read_text())["tags"]
    scores = np.full((4, 50), 0.1, np.float32)
    scores[:2, tags.index("jazz")] = 0.9  # track 0: jazz, and sad
    scores[:2, tags.index("sad")] = 0.8
    scores[2:, tags.index("rock")] = 0.7  # track 1: rock
    labels = train.track_labels(scores, np.array([0, 0, 1, 1]), 2, tags)
    assert [tags[i] for i in labels["genre"]] == ["jazz", "rock"] and tags[labels["mood"][0]] == "sad"


def test_head_classes_follow_the_notion_file():
    tags = json.loads((sdk.presets.BUNDLED_DIR / "musicnn-msd" / "metadata.json").read_text())["tags"]
    mtat = json.loads((sdk.presets.BUNDLED_DIR / "musicnn-mtat" / "metadata.json").read_text())["tags"]
    names, notions, columns = train.head_classes(tags, mtat, mtat_instruments=True)
    assert names[:50] == tags and names[50:] == list(train.MTAT_INSTRUMENTS)
    counts = {n: notions[:50].count(n) for n in set(notions)}
    assert counts == {"genre": 28, "mood": 12, "instrument": 5, "era": 5}
    assert notions[tags.index("jazz")] == "genre" and notions[tags.index("80s")] == "era"
    assert set(notions[50:]) == {"instrument"} and [mtat[c] for c in columns] == names[50:]


def _train(cache, run, epochs, *extra):
    return train.main(["--cache", str(cache), "--out", str(run), "--validation", f"Soundtrack {SOUNDTRACKS - 1}",
                       "--epochs", str(epochs), "--hidden", "32", "--batch-size", "4", *extra])


def test_train_resume_export_load_and_query_by_tag(cache, distill_corpus, tmp_path, capsys):
    run = tmp_path / "run"
    _train(cache, run, 2, "--mtat-instruments", "--notion-weight", "1")
    assert [r["epoch"] for r in json.loads((run / "history.json").read_text())] == [1, 2]
    _train(cache, run, 3, "--mtat-instruments", "--notion-weight", "1", "--resume")
    history = json.loads((run / "history.json").read_text())
    assert [r["epoch"] for r in history] == [1, 2, 3] and all(np.isfinite(r["val_loss"]) for r in history)
    config = json.loads((run / "config.json").read_text())
    assert "Soundtrack 2" not in config["train_soundtracks"] and config["validation"] == ["Soundtrack 2"]

    preset = export.export(run, tmp_path / "preset")
    model = sdk.load(preset)
    assert model.subspaces == ["genre", "mood", "instrument", "era", "tempo"] and model.embedding_size == 320
    assert len(model.tags) == 61 and model.tags[-1] == train.MTAT_INSTRUMENTS[-1]
    segments = model.segment_features(str(distill_corpus / "s0_t0.ogg"))
    for start, stop in model.subspace_layout.values():
        np.testing.assert_allclose(np.linalg.norm(segments[:, start:stop], axis=1), 1.0, atol=1e-3)

    catalog = Catalog.build(distill_corpus, model.embed, progress=False)
    jazz = model.tag_embeddings()["jazz"]
    assert np.count_nonzero(jazz[:64]) == 64 and not np.any(jazz[64:])
    ranked = model.similar({"genre": "jazz", "mood": "sad"}, catalog, k=len(catalog))
    # Each part is searched in its own sub-space: the ranking is that of the summed cosines.
    unit = lambda v: v / np.linalg.norm(v)  # noqa: E731
    sad = model.tag_embeddings()["sad"]
    expected = sorted(catalog.ids, key=lambda i: -(unit(catalog.vector(i)[0:64]) @ jazz[0:64]
                                                  + unit(catalog.vector(i)[64:128]) @ sad[64:128]))
    assert [r["id"] for r in ranked] == expected
    assert [r["id"] for r in model.similar("tag:piano", catalog, k=3)] == \
        [r["id"] for r in model.similar({"instrument": "piano"}, catalog, k=3)]
    with pytest.raises(ValueError, match="'jazz' belongs to the 'genre' sub-space"):
        model.similar({"mood": "jazz"}, catalog)
    with pytest.raises(ValueError, match="no such tag"):
        model.similar("tag:bagpipes", catalog)

    # The CLI: SUBSPACE=QUERY parts, a model tag in each.
    from sdk.cli import main as cli

    catalog.save(tmp_path / "catalog")
    capsys.readouterr()
    assert cli(["--json", "search", str(tmp_path / "catalog"), "genre=jazz", "mood=tag:sad", "-k", "3"]) == 0
    assert [h["id"] for h in json.loads(capsys.readouterr().out)] == expected[:3]
    assert cli(["search", str(tmp_path / "catalog"), "genre=jazz", "s0_t0.ogg"]) == 2
    assert "mix of SUBSPACE=QUERY and plain queries" in capsys.readouterr().err


def test_per_soundtrack_keeps_the_first_tracks_of_each():
    rows = [{"soundtrack": s, "i": i} for i, s in enumerate("aabacbba")]
    assert [r["i"] for r in prepare.capped(rows, 2)] == [0, 1, 2, 4, 5]
    assert prepare.capped(rows, None) == rows
