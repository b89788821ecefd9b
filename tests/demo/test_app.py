"""demo/app.py's handlers and demo/catalog.py, without a browser (the e2e test has one)."""

import shutil
from pathlib import Path

import numpy as np
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


def seed_hub_dataset(cache, repo_id, folder, commit="0123456789abcdef0123456789abcdef01234567"):
    """The Hub cache layout of a dataset repo holding `folder`'s files (what an upload of it and
    a download on a Space leave): datasets--org--name/snapshots/<commit>/... and refs/main."""
    repo = cache / f"datasets--{repo_id.replace('/', '--')}"
    shutil.copytree(folder, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return repo / "snapshots" / commit


def test_a_catalog_exported_for_a_space_loads_from_the_hub_cache(demo_catalog, tmp_path, monkeypatch):
    """export -> (upload) -> the Space's hub_catalog through the real huggingface_hub, offline."""
    import huggingface_hub.constants

    _, catalog, directory = demo_catalog
    exported = democat.export_for_hub(directory, tmp_path / "dataset")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ValueError, match="org/demo-catalog.*not in the Hub cache"):
        democat.hub_catalog("org/demo-catalog")
    snapshot = seed_hub_dataset(tmp_path / "hub", "org/demo-catalog", exported.parent)
    shutil.rmtree(exported.parent)  # the Space has only the download
    found_dir = democat.hub_catalog("org/demo-catalog")
    assert found_dir.resolve() == (snapshot / "catalog").resolve()
    copy = sdk.Catalog.load(found_dir)
    assert copy.ids == catalog.ids and all(not item["path"].startswith("/") for item in copy.items)
    found = [democat.resolve_audio(item, democat.audio_roots(found_dir)) for item in copy.items]
    assert all(path and path.startswith(str(snapshot.resolve() / "audio")) for path in found)


def test_a_folder_catalog_follows_files_added_changed_and_removed(demo_catalog, demo_music, tmp_path,
                                                                   monkeypatch):
    model = demo_catalog[0]
    music = tmp_path / "music"
    music.mkdir()
    for name in ("tone0.wav", "tone3.wav"):
        shutil.copy2(demo_music / name, music / name)
    embedded = []
    original = model.embed_and_tag_many
    monkeypatch.setattr(model, "embed_and_tag_many",
                        lambda paths: (embedded.extend(Path(p).name for p in paths), original(paths))[1])
    first = democat.folder_catalog(model, music, tmp_path / "data", progress=False)
    assert sorted(sdk.Catalog.load(first).ids) == ["tone0.wav", "tone3.wav"] and len(embedded) == 2
    assert democat.folder_catalog(model, music, tmp_path / "data", progress=False) == first
    assert len(embedded) == 2  # nothing changed: nothing embedded again
    shutil.copy2(demo_music / "tone5.wav", music / "tone5.wav")
    (music / "tone0.wav").unlink()
    shutil.copyfile(demo_music / "tone1.wav", music / "tone3.wav")  # same name, new content
    democat.folder_catalog(model, music, tmp_path / "data", progress=False)
    catalog = sdk.Catalog.load(first)
    assert sorted(catalog.ids) == ["tone3.wav", "tone5.wav"] and sorted(embedded[2:]) == ["tone3.wav", "tone5.wav"]
    assert np.allclose(catalog.vector("tone3.wav"), demo_catalog[1].vector("tone1.wav"), atol=1e-5)


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


def test_the_space_layout_runs_app_py_from_its_own_folder(tmp_path):
    """A Space's root is demo/'s files, flat: app.py must import its siblings as `demo`."""
    import subprocess
    import sys

    space = tmp_path / "space"
    space.mkdir()
    for file in Path(democat.__file__).parent.iterdir():
        if file.suffix in (".py", ".txt", ".md"):
            shutil.copy2(file, space / file.name)
    assert (space / "README.md").read_text().startswith("---\ntitle:")
    assert "app_file: app.py" in (space / "README.md").read_text()
    run = subprocess.run([sys.executable, "app.py", "--help"], cwd=space, capture_output=True, text=True,
                         timeout=300, env={k: v for k, v in __import__("os").environ.items() if k != "PYTHONPATH"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert "DEMO_CATALOG_REPO" in run.stdout
