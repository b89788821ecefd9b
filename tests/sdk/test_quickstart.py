"""`make quickstart` on a tiny tagger preset: embed, tag, catalog with tags, search by tag."""

import numpy as np
import soundfile

import sdk

from helpers import tiny_samplecnn_preset
from sdk.index import Catalog
from sdk.quickstart import main

TAGS = ["electronic", "ambient", "rock"]


def test_quickstart_tags_the_catalog_and_searches_by_tag(tmp_path, capsys, monkeypatch):
    music = tmp_path / "music"
    (music / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(4):
        folder = music / "sub" if i == 3 else music
        soundfile.write(folder / f"track{i}.wav", (0.1 * rng.standard_normal(4000)).astype(np.float32), 2000)
    (music / "broken.ogg").write_bytes(b"not audio")
    preset = tiny_samplecnn_preset(tmp_path / "test-quickstart", 2000, TAGS)

    runs = []
    one_pass = sdk.MusicModel.embed_and_tag

    def counted(self, path, *args, **kwargs):  # the real pass, counted per file
        runs.append(str(path))
        return one_pass(self, path, *args, **kwargs)

    monkeypatch.setattr(sdk.MusicModel, "embed_and_tag", counted)
    main([str(music), "--preset", str(preset), "--catalog", str(tmp_path / "catalog"), "--top-tags", "2"])
    monkeypatch.undo()
    assert len(runs) == len(set(runs)) == 5  # every file once, broken or not: first passes reused

    out = capsys.readouterr().out
    catalog = Catalog.load(tmp_path / "catalog")
    assert sorted(catalog.ids) == ["sub/track3.wav", "track0.wav", "track1.wav", "track2.wav"]
    assert "(1 skipped)" in out and "  skipped " in out and "broken.ogg" in out
    model = sdk.load(str(preset))
    name, printed = out.split("tags of ")[1].splitlines()[0].split(": ")  # the first file that decodes
    expected = model.tag(next(music.rglob(name)), top_k=3)
    assert [pair.rsplit(" ", 1)[0] for pair in printed.split(", ")[:3]] == [name for name, _ in expected]
    for item in catalog.items:  # the tags the one-pass catalog stored are the model's top 2
        assert item["tags"] == [name for name, _ in model.tag(item["path"], top_k=2)]
    assert "tags of " in out and "tracks closest to the tag" in out
    counts = {t: sum(t in item["tags"] for item in catalog.items) for t in TAGS}
    partial = [t for t in TAGS if 0 < counts[t] < len(catalog)]
    chosen = out.split("closest to the tag '")[1].split("'")[0]
    best = max(counts[t] for t in (partial or TAGS))
    assert chosen in (partial or TAGS) and counts[chosen] == best  # ties may go either way


def test_quickstart_says_why_when_nothing_decodes(tmp_path):
    import pytest

    (tmp_path / "music").mkdir()
    (tmp_path / "music" / "a.ogg").write_bytes(b"not audio")
    preset = tiny_samplecnn_preset(tmp_path / "test-quickstart", 2000, TAGS)
    with pytest.raises(SystemExit, match=r"none of the first 1 audio files could be decoded \(last: .*a\.ogg"):
        main([str(tmp_path / "music"), "--preset", str(preset), "--catalog", str(tmp_path / "catalog")])
    assert not (tmp_path / "catalog").exists()
