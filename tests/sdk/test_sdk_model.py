"""The SDK end to end: load presets, embed, tag, search, feedback, CLI."""

import json

import numpy as np
import pytest
import soundfile as sf

from helpers import FIXTURE, TAGS, tone
import sdk
from sdk.cli import main as cli

def test_embed_single_list_folder_and_array(tagger_dir, songs):
    model = sdk.load(tagger_dir)
    one = model.embed(songs / "song0.wav")
    assert one.shape == (16,)
    many = model.embed([songs / "song0.wav", songs / "song1.wav"])
    np.testing.assert_allclose(many[0], one, rtol=1e-5, atol=1e-6)
    segments = model.embed(songs / "song0.wav", per_segment=True)
    assert segments.shape == (8000 // 81, 16)
    np.testing.assert_allclose(segments.mean(0), one, rtol=1e-5, atol=1e-6)
    # The same audio as a 44.1 kHz stereo array is resampled and mixed down first.
    stereo = np.stack([tone(200, sr=44100), tone(200, sr=44100)], axis=1)
    assert model.embed(stereo, sr=44100).shape == (16,)
    with pytest.raises(sdk.AudioError, match="broken.wav"):
        model.embed(songs / "broken.wav")


def test_tag_sorted_scores_and_top_k(tagger_dir, songs):
    model = sdk.load(tagger_dir)
    tags = model.tag(songs / "song3.wav", top_k=3)
    assert len(tags) == 3 and {t for t, _ in tags} <= set(TAGS)
    scores = [s for _, s in model.tag(songs / "song3.wav", top_k=None)]
    assert len(scores) == 5 and scores == sorted(scores, reverse=True)


def test_catalog_search_feedback_and_subspaces(tagger_dir, songs, tmp_path):
    model = sdk.load(tagger_dir)
    assert model.subspaces == ["low", "high"]
    catalog = sdk.Catalog.build(songs, model.embed, model="test-tagger", embedding_size=16,
                                subspaces=model.subspace_layout, progress=False)
    assert len(catalog) == 6 and len(catalog.skipped) == 1
    hits = model.similar("song0.wav", catalog, k=5)
    assert "song0.wav" not in [h["id"] for h in hits]  # a catalog id query excludes itself
    # Scores are the weighted sum of per-sub-space cosines.
    for hit in hits:
        assert hit["score"] == pytest.approx(sum(hit["subspace_scores"].values()), abs=1e-5)
    only_low = model.similar("song0.wav", catalog, k=5, weights={"low": 1.0})
    assert [h["score"] for h in only_low] == pytest.approx([h["subspace_scores"]["low"] for h in only_low])
    # Query by several examples, mix-and-match, and relevance feedback all rank the catalog.
    assert len(model.similar(["song0.wav", "song1.wav"], catalog, k=3)) == 3
    mixed = model.similar({"low": "song0.wav", "high": "song4.wav"}, catalog, k=6)
    assert len(mixed) == 4 and not {"song0.wav", "song4.wav"} & {h["id"] for h in mixed}  # queries excluded

    def cosine(a, b, part):
        start, stop = model.subspace_layout[part]
        a, b = catalog.vector(a)[start:stop], catalog.vector(b)[start:stop]
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    for hit in mixed:  # the genre of A with the tempo of B: each sub-space scored against its own query
        assert hit["subspace_scores"]["low"] == pytest.approx(cosine(hit["id"], "song0.wav", "low"), abs=1e-5)
        assert hit["subspace_scores"]["high"] == pytest.approx(cosine(hit["id"], "song4.wav", "high"), abs=1e-5)
    fed = model.similar("song0.wav", catalog, k=5, positives=["song1.wav"], negatives=["song4.wav"])
    assert {"song1.wav", "song4.wav"}.isdisjoint(h["id"] for h in fed)
    with pytest.raises(ValueError, match="not a catalog id"):
        model.similar("no-such-thing", catalog)
    # A saved catalog's directory works as the catalog; other things get a clear error.
    catalog.save(tmp_path / "saved")
    assert [h["id"] for h in model.similar("song0.wav", tmp_path / "saved", k=5)] == [h["id"] for h in hits]
    with pytest.raises(ValueError, match="catalog directory not found"):
        model.similar("song0.wav", tmp_path / "missing")
    with pytest.raises(TypeError, match="sdk.Catalog"):
        model.similar("song0.wav", catalog.ids)
    with pytest.raises(ValueError, match="8-d vectors .*16 dimensions"):
        model.similar("song0.wav", sdk.Catalog(8, model="another"))


def test_prototype_tagging_for_models_without_a_tag_head(songs):
    model = sdk.load("artist-siamese-msd")
    with pytest.raises(ValueError, match="fit_prototypes"):
        model.tag(songs / "song0.wav")
    with pytest.raises(ValueError, match="fit_prototypes"):  # said before any audio is read
        model.tag(songs / "broken.wav")
    files = [songs / f"song{i}.wav" for i in range(6)]
    plain = model
    model = plain.fit_prototypes(files, ["low"] * 3 + ["high"] * 3)
    assert plain.tags == [] and model.tags == ["high", "low"]  # a new model; the loaded one is unchanged
    assert model.tag(songs / "song1.wav", top_k=1)[0][0] == "low"
    assert model.tag(songs / "song5.wav", top_k=1)[0][0] == "high"
    vector, scores = model.embed_and_tag(songs / "song5.wav")  # one pass gives both, same numbers
    np.testing.assert_allclose(vector, model.embed(songs / "song5.wav"), rtol=1e-5, atol=1e-6)
    tags = dict(model.tag(songs / "song5.wav", top_k=None))
    np.testing.assert_allclose(scores, [tags[t] for t in model.tags], rtol=1e-5, atol=1e-6)


def test_bundled_preset_embeds_real_music():
    model = sdk.load("artist-siamese-msd")
    vector = model.embed(FIXTURE)
    assert vector.shape == (256,) and np.all(vector >= 0) and vector.max() > 0
    assert model.sample_rate == 22050 and model.subspaces == ["all"]


def test_cli_index_search_info(tagger_dir, songs, tmp_path, capsys):
    catalog_dir = tmp_path / "catalog"
    assert cli(["--json", "index", str(songs), str(catalog_dir), "--model", str(tagger_dir)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["count"] == 6 and len(summary["skipped"]) == 1
    assert cli(["--json", "search", str(catalog_dir), "song3.wav", "-k", "2", "--model", str(tagger_dir)]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 2 and hits[0]["id"] != "song3.wav"
    assert cli(["--json", "tag", str(songs / "song0.wav"), "--model", str(tagger_dir), "--top-k", "2"]) == 0
    assert len(next(iter(json.loads(capsys.readouterr().out).values()))) == 2
    assert cli(["tag", str(songs / "broken.wav"), "--model", str(tagger_dir)]) == 2
    assert "broken.wav" in capsys.readouterr().err


@pytest.mark.parametrize("freeze", [True, False])
def test_fine_tune_a_new_head_from_a_folder_of_labels(tagger_dir, tmp_path, freeze):
    for label, freqs in {"low": [150, 180, 210], "high": [2400, 2800, 3200]}.items():
        (tmp_path / label).mkdir()
        for i, freq in enumerate(freqs):
            sf.write(tmp_path / label / f"{freq}.wav", tone(freq, seconds=0.3, seed=i), 8000)
    model = sdk.load(tagger_dir)
    backbone_before = [w.copy() for w in model.backbone.get_weights()]
    # Training the whole backbone wants a gentler step than training the head alone.
    tuned = sdk.fine_tune(model, tmp_path, freeze_backbone=freeze, epochs=60 if freeze else 15,
                          learning_rate=0.05 if freeze else 0.001)
    assert tuned.history.history["loss"][-1] < tuned.history.history["loss"][0]
    assert tuned.tags == ["high", "low"] and model.tags == TAGS  # the loaded model keeps its own head
    sf.write(tmp_path / "query.wav", tone(190, seed=9), 8000)
    assert tuned.tag(tmp_path / "query.wav", top_k=1)[0][0] == "low"
    changed = any(not np.array_equal(a, b) for a, b in zip(backbone_before, tuned.backbone.get_weights()))
    assert changed == (not freeze)
    assert all(np.array_equal(a, b) for a, b in zip(backbone_before, model.backbone.get_weights()))


def test_fine_tune_from_a_csv_and_bad_label_sources(tagger_dir, songs, tmp_path):
    csv_path = tmp_path / "labels.csv"
    rows = ["path,labels"] + [f"{songs / f'song{i}.wav'},{'low' if i < 3 else 'high;bright'}" for i in range(6)]
    csv_path.write_text("\n".join(rows) + f"\n{songs / 'broken.wav'},low\n")
    model = sdk.load(tagger_dir)
    tuned = sdk.fine_tune(model, csv_path, multi_label=True, epochs=2)
    assert [p for p, _ in tuned.skipped] == [str(songs / "broken.wav")]
    assert sorted(tuned.tags) == ["bright", "high", "low"]
    (tmp_path / "bad.csv").write_text("file,genre\nx.wav,rock\n")
    with pytest.raises(ValueError, match="'path' column"):
        sdk.fine_tune(model, tmp_path / "bad.csv")
    # A label whose every song is unreadable: the error names the label and the file.
    (tmp_path / "unreadable.csv").write_text(f"path,label\n{songs / 'song0.wav'},low\n{songs / 'broken.wav'},high\n")
    with pytest.raises(ValueError, match=r"label\(s\) high;.*broken\.wav"):
        sdk.fine_tune(tuned, tmp_path / "unreadable.csv")
    assert sorted(tuned.tags) == ["bright", "high", "low"]


def test_streamed_file_equals_the_whole_song_path():
    model = sdk.load("artist-siamese-msd")
    waveform = sdk.audio.load_audio(FIXTURE, 22050)
    whole = model.segment_features(waveform, sr=22050)
    streamed = np.concatenate([model.task.predict(b, verbose=0)["embedding"]
                               for b in model.segment_inputs(FIXTURE, block_seconds=1.3, batch=3)])
    assert streamed.shape == whole.shape == (4, 256)  # 12 s -> 517 frames -> four 129-frame segments
    # The graph takes windows of samples: 129 frames of a "center" log-mel, n_fft 1024, hop 512.
    assert next(model.segment_inputs(FIXTURE, batch=3)).shape == (3, 128 * 512 + 1024)
    np.testing.assert_allclose(streamed, whole, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(model.embed(FIXTURE), whole.mean(0), rtol=1e-4, atol=1e-4)


def test_songs_shorter_than_a_segment_are_padded_to_one_on_both_paths(tagger_dir, tmp_path):
    model = sdk.load(tagger_dir)
    short = tone(300, seconds=50 / 8000)  # 50 samples; a segment is 81
    sf.write(tmp_path / "short.wav", short, 8000, subtype="FLOAT")
    from_file, from_array = model.all_segment_inputs(tmp_path / "short.wav"), model.all_segment_inputs(short, 8000)
    assert from_file.shape == from_array.shape == (1, 81)  # a window of samples
    np.testing.assert_allclose(from_file[0, :50], short, atol=1e-6)
    assert not from_file[0, 50:].any()
    whole = tone(300, seconds=3 * 81 / 8000 + 0.001)  # three whole segments, a few samples left over
    np.testing.assert_array_equal(model.all_segment_inputs(whole, 8000), whole[: 3 * 81].reshape(3, 81))


def test_fine_tuned_model_predicts_what_it_was_trained_on(tagger_dir, tmp_path):
    """Training and inference must see the same network (BatchNorm in inference mode)."""
    for label, freqs in {"low": [150, 180], "high": [2400, 2800]}.items():
        (tmp_path / label).mkdir()
        for i, freq in enumerate(freqs):
            sf.write(tmp_path / label / f"{freq}.wav", tone(freq, seconds=0.3, seed=i), 8000)
    model = sdk.load(tagger_dir)
    tuned = sdk.fine_tune(model, tmp_path, freeze_backbone=False, epochs=10, learning_rate=0.001)
    segments = tuned.all_segment_inputs(tmp_path / "low" / "150.wav")
    import keras

    scores = keras.ops.convert_to_numpy(tuned.task.predict(segments, verbose=0)["tags"])
    loss = -np.log(scores[:, tuned.tags.index("low")]).mean()
    assert loss == pytest.approx(tuned.history.history["loss"][-1], abs=0.5)


def test_hidden_stage_features_of_table_3_6():
    model = sdk.load("artist-siamese-msd")
    assert model.stage_names[-3:] == ["block3_pool", "block4_pool", "block5_relu"]
    top = model.embed(FIXTURE, levels=(-1,))
    np.testing.assert_allclose(top, model.embed(FIXTURE), rtol=1e-5, atol=1e-6)  # -1 is the embedding itself
    three = model.embed(FIXTURE, levels=(-3, -2, -1))
    assert three.shape == (128 + 128 + 256,)
    np.testing.assert_allclose(three[256:], top, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"this model's stages from the top are -1 \.\. -5 \(block1_pool"):
        model.embed(FIXTURE, levels=(-9,))


def test_samplecnn_stages_are_its_last_modules(tagger_dir):
    model = sdk.load(tagger_dir)
    assert model.stage_names[-3:] == ["block2_pool", "block3_pool", "top_relu"]


def test_query_by_artist_and_tag_prototypes_and_module_shortcuts(tagger_dir, songs, tmp_path):
    manifest = tmp_path / "manifest.csv"
    rows = ["path,artist,tags"] + [f"{songs / f'song{i}.wav'},{'Basso' if i < 3 else 'Alto'},{'low' if i < 3 else 'high'}"
                                   for i in range(6)]
    manifest.write_text("\n".join(rows) + "\n")
    model = sdk.load(tagger_dir)
    catalog = sdk.Catalog.build(manifest, model.embed, embedding_size=16, subspaces=model.subspace_layout,
                                progress=False)
    basso = [catalog.vector(i) for i in catalog.ids_matching("Basso")]
    assert len(basso) == 3
    prototype = np.mean([v / np.linalg.norm(v) for v in basso], 0)  # Eq. 2.9 over the artist's songs
    by_artist = model.similar("Basso", catalog, k=6)
    by_vector = model.similar(prototype, catalog, k=6)
    assert [h["id"] for h in by_artist] == [h["id"] for h in by_vector]
    assert [h["id"] for h in model.similar("low", catalog, k=6)] == [h["id"] for h in by_artist]
    # Module-level shortcuts take a loaded model, a name or a path.
    np.testing.assert_allclose(sdk.embed(songs / "song0.wav", model=model), model.embed(songs / "song0.wav"))
    assert sdk.tag(songs / "song0.wav", model=str(tagger_dir), top_k=2) == model.tag(songs / "song0.wav", top_k=2)
    assert [h["id"] for h in sdk.similar("Basso", catalog, k=3, model=model)] == [h["id"] for h in by_artist[:3]]
