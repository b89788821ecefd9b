"""demo/app.py's handlers and demo/catalog.py, without a browser (the e2e test has one)."""

import shutil

import pytest

import demo.catalog as democat
import sdk
from demo.app import build_app, handler, main
from demo.engine import FULL


K = 5


def unpack(outputs):
    """A search's outputs by name: query, ids, figure, status, rows, cards, then tags, sliders."""
    query, ids, figure, status = outputs[:4]
    rows, cards, rest = outputs[4:4 + K], outputs[4 + K:4 + 2 * K], outputs[4 + 2 * K:]
    return dict(query=query, ids=ids, figure=figure, status=status, rows=rows, cards=cards,
                tags=rest[0] if rest else None, sliders=rest[1:])


@pytest.fixture(scope="module")
def app(demo_catalog):
    model, catalog, directory = demo_catalog
    return build_app(model, catalog, directory, map_method="pca", k=K)


def test_a_catalog_track_search_shows_cards_with_players_and_tags(app, demo_catalog, demo_music):
    _, catalog, _ = demo_catalog
    out = unpack(handler(app, "search_tracks")(["tone0.wav"], FULL))
    assert len(out["ids"]) == K and "tone0.wav" not in out["ids"] and all(r["visible"] for r in out["rows"])
    for id, html in zip(out["ids"], out["cards"]):
        assert f'data-id="{id}"' in html and "<audio" in html and "/gradio_api/file=" in html and "CC0-1.0" in html
    assert "Tone 200 Hz" in out["status"] and out["figure"].axes[0].get_legend() is not None
    assert [s["value"] for s in out["sliders"]] == [0.0, 0.0, 1.0]  # low, high, full: the whole space
    tags = out["tags"]
    assert str(demo_music / "tone0.wav") in app.allowed_paths and len(app.allowed_paths) == len(catalog)
    assert tags.startswith("Query's top tags") and catalog.get("tone0.wav")["top_tags"][0] in tags


def test_sliders_rerank_the_cached_query_without_embedding(app, demo_catalog, demo_music, monkeypatch):
    model = demo_catalog[0]
    calls = []
    embed = model.embed
    monkeypatch.setattr(model, "embed", lambda *a, **k: calls.append(a) or embed(*a, **k))
    query = unpack(handler(app, "search_clip")(str(demo_music / "tone3.wav"), FULL))["query"]
    assert len(calls) == 1 and query.label == "tone3.wav"
    rerank = handler(app, "rerank")
    orders = [unpack(rerank(query, FULL, low, high, full))["ids"] for low, high, full in
              ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.5, 0.5, 0.5))]
    assert len(calls) == 1 and all(len(order) == K for order in orders)
    assert orders[0] != orders[1]  # the low and high sub-spaces of the tiny model disagree


def test_thumbs_rate_the_shown_result_and_rerank(app):
    out = unpack(handler(app, "search_tracks")(["tone0.wav"], FULL))
    rate = [f.fn for f in app.fns.values() if f.api_name and f.api_name.startswith("rate")]
    assert len(rate) == 2 * K  # one "more" and one "less" button per result row
    disliked = unpack(rate[1](out["query"], out["ids"], FULL, 0.0, 0.0, 1.0))  # row 0's "less like this"
    assert disliked["query"].negatives == (out["ids"][0],) and out["ids"][0] not in disliked["ids"]
    assert "1 disliked" in disliked["status"]
    assert "Search first" in rate[0](None, [], FULL, 0.0, 0.0, 1.0)[3]


def test_a_bad_file_gives_the_message_in_the_status(app, tmp_path):
    (tmp_path / "broken.wav").write_text("this is not audio")
    (tmp_path / "notes.pdf").write_bytes(b"%PDF-1.4")
    for name, message in (("broken.wav", "could not read it as audio"), ("notes.pdf", "not an audio file")):
        outputs = handler(app, "search_clip")(str(tmp_path / name), FULL)
        status = unpack(outputs)["status"]
        assert status.startswith("**Could not search:**") and name in status and message in status
        assert "Traceback" not in status and all(o == {"__type__": "update"} for i, o in enumerate(outputs) if i != 3)
    assert "Pick at least one track" in handler(app, "search_tracks")([], FULL)[3]
    # Only the choices offered: never a file of the server named through the API.
    for event, args in (("search_tracks", ([str(tmp_path / "broken.wav")], FULL)),
                        ("search_metadata", ("/etc/hostname", FULL)), ("search_mix", (None, FULL, "/etc/hostname", ""))):
        assert "is not in this catalog's choices" in handler(app, event)(*args)[3]


def test_mix_and_match_and_metadata_prototypes(app):
    out = unpack(handler(app, "search_mix")(None, FULL, "tone0.wav", "tone5.wav"))
    assert [s["value"] for s in out["sliders"]] == [1.0, 1.0, 0.0]
    assert "low: Tone 200 Hz (Low Tones)" in out["status"] and len(out["ids"]) == K
    assert {"tone0.wav", "tone5.wav"}.isdisjoint(out["ids"])  # the tracks queried are not results
    assert "upload or record" in handler(app, "search_mix")(None, FULL, "__clip__", "")[3]
    out = unpack(handler(app, "search_metadata")("High Tones", FULL))
    assert out["query"].label == "High Tones" and len(out["ids"]) == K


def test_the_map_is_computed_once_and_cached_beside_the_catalog(demo_catalog, monkeypatch):
    _, catalog, directory = demo_catalog
    first = democat.catalog_map(catalog, directory, "pca")
    assert set(first) == {"full", "low", "high"} and first["low"].shape == (len(catalog), 2)
    assert directory.with_name(directory.name + ".map-pca.npz").is_file()
    monkeypatch.setattr(democat, "_project_or_line", lambda *a: pytest.fail("recomputed a cached map"))
    again = democat.catalog_map(catalog, directory, "pca")
    assert all((again[k] == first[k]).all() for k in first)


def test_the_default_catalog_explains_itself_without_debian_tools(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda tool: None)
    with pytest.raises(democat.NoDebianTools, match="MUSIC="):
        democat.fetch_corpus(tmp_path / "corpus")
    from training_recipes.corpus.packages.packages import RESERVED

    with pytest.raises(ValueError, match="reserved"):
        democat.fetch_corpus(tmp_path / "corpus", packages=[sorted(RESERVED)[0]])
    assert not set(democat.DEFAULT_PACKAGES) & RESERVED


def test_the_cli_asks_for_a_catalog(tmp_path, monkeypatch):
    monkeypatch.delenv(democat.CATALOG_REPO_ENV, raising=False)
    with pytest.raises(SystemExit, match="no catalog"):
        main(["--data", str(tmp_path)])


def test_a_catalog_exported_for_a_space_finds_its_audio(demo_catalog, tmp_path, monkeypatch):
    _, catalog, directory = demo_catalog
    exported = democat.export_for_hub(directory, tmp_path / "dataset")
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download",
                        lambda repo_id, repo_type, local_dir: str(tmp_path / "dataset"))
    assert democat.hub_catalog("org/demo-catalog") == exported
    copy = sdk.Catalog.load(exported)
    assert copy.ids == catalog.ids and all(not item["path"].startswith("/") for item in copy.items)
    found = [democat.resolve_audio(item, democat.audio_roots(exported)) for item in copy.items]
    assert all(path and path.startswith(str(tmp_path / "dataset" / "audio")) for path in found)


def test_a_preset_without_sub_spaces_gets_one_whole_space_slider(demo_music, tmp_path):
    from demo.catalog import build_catalog, manifest_entries
    from helpers import tiny_samplecnn_preset

    model = sdk.load(tiny_samplecnn_preset(tmp_path / "test-plain", 8000))
    model.progress = False
    directory = build_catalog(model, manifest_entries(demo_music / "manifest.jsonl", ("pkg0", "pkg1")),
                              tmp_path / "catalog", progress=False)
    app = build_app(model, sdk.Catalog.load(directory), directory, map_method="pca", k=K)
    assert app.engine.subspaces == [] and app.engine.tag_choices() == {}
    out = unpack(handler(app, "search_tracks")(["tone1.wav"], FULL))
    assert len(out["ids"]) == K and [s["value"] for s in out["sliders"]] == [1.0]
    assert unpack(handler(app, "rerank")(out["query"], FULL, 0.5))["ids"] == out["ids"]  # one space: same order
    assert "every weight is zero" in unpack(handler(app, "rerank")(out["query"], FULL, 0.0))["status"].lower()


def test_an_unknown_preset_is_one_clear_line(tmp_path, capsys):
    assert democat.main(["folder", str(tmp_path), "--preset", "no-such-preset", "--data", str(tmp_path)]) == 2
    assert "no-such-preset" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="no-such-preset"):
        main(["--catalog", str(tmp_path), "--preset", "no-such-preset"])
