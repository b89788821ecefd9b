"""training_recipes.corpus on a tiny fake .deb built with dpkg-deb (no network)."""

import json
import shutil
import subprocess
import zipfile

import numpy as np
import pytest
import soundfile

from sdk.audio import audio_info
from training_recipes import corpus
from training_recipes.corpus_packages import PACKAGES, RESERVED, MusicPackage

pytestmark = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")

PKG = "fakegame-music"
COPYRIGHT = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: fakegame

Files: *
Copyright: 2019-2021 Jane Composer <jane@example.org>
License: CC-BY-SA-3.0

Files: debian/*
Copyright: 2022 Debian Packager <pkg@debian.org>
License: GPL-2+

License: CC-BY-SA-3.0
 Some licence text.
"""


def _tone(seconds, rate, channels=1):
    t = np.arange(int(seconds * rate)) / rate
    x = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    return np.stack([x] * channels, 1) if channels > 1 else x


@pytest.fixture(scope="module")
def fake_deb(tmp_path_factory):
    base = tmp_path_factory.mktemp("deb")
    tree = base / "tree"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN/control").write_text(
        f"Package: {PKG}\nVersion: 1.2-3\nArchitecture: all\n"
        "Maintainer: Test <t@example.org>\nDescription: fake game music\n")
    doc = tree / "usr/share/doc" / PKG
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(COPYRIGHT)
    music = tree / "usr/share/games/fakegame/music"
    music.mkdir(parents=True)
    soundfile.write(music / "theme.ogg", _tone(1.5, 22050, 2), 22050)
    (music / "corrupt.ogg").write_bytes(b"OggS" + b"\x00garbage" * 50)
    inner = base / "inner.ogg"
    soundfile.write(inner, _tone(0.75, 16000), 16000)
    with zipfile.ZipFile(tree / "usr/share/games/fakegame/pak0.pk3", "w") as zf:
        zf.write(inner, "music/level1.ogg")
        zf.writestr("music/readme.txt", "not music")
    deb = base / f"{PKG}_1.2-3_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(tree), str(deb)],
                   check=True, capture_output=True)
    return deb


SPEC = MusicPackage(PKG, "Fake Game OST",
                    ("usr/share/games/fakegame/music/*.ogg",
                     "usr/share/games/fakegame/*.pk3"),
                    composer="Default Person")


def test_build_package(fake_deb, tmp_path):
    out = tmp_path / "corpus"
    summary = corpus.build_package(SPEC, out, deb=fake_deb)
    assert summary["status"] == "built" and summary["tracks"] == 2 and summary["skipped"] == 1
    rows = corpus.read_manifest(out)
    by_orig = {r["original_path"]: r for r in rows}
    assert set(by_orig) == {"usr/share/games/fakegame/music/theme.ogg",
                            "usr/share/games/fakegame/pak0.pk3!music/level1.ogg"}
    theme = by_orig["usr/share/games/fakegame/music/theme.ogg"]
    level = by_orig["usr/share/games/fakegame/pak0.pk3!music/level1.ogg"]
    assert abs(theme["duration"] - 1.5) < 0.05 and abs(level["duration"] - 0.75) < 0.05
    assert (theme["sample_rate"], theme["channels"]) == (22050, 2)
    assert (level["sample_rate"], level["channels"]) == (16000, 1)
    for r in rows:
        assert r["package"] == PKG and r["version"] == "1.2-3"
        assert r["soundtrack"] == "Fake Game OST"
        assert r["licence"] == "CC-BY-SA-3.0"
        assert r["composer"] == "Jane Composer"
        assert (out / r["path"]).is_file() and r["path"].startswith(PKG + "/")
        assert abs(audio_info(out / r["path"])["duration"] - r["duration"]) < 0.01
    skipped = [json.loads(line) for line in (out / "skipped.jsonl").read_text().splitlines()]
    assert [s["original_path"] for s in skipped] == ["usr/share/games/fakegame/music/corrupt.ogg"]
    assert not list(out.rglob("*.txt")) and not list(out.rglob("corrupt.ogg"))
    assert (out / "build.log").read_text().count(PKG) > 0

    # idempotent: re-running adds nothing; force rebuilds without duplicates
    assert corpus.build_package(SPEC, out, deb=fake_deb)["status"] == "already built"
    assert corpus.read_manifest(out) == rows
    corpus.build_package(SPEC, out, deb=fake_deb, force=True)
    again = corpus.read_manifest(out)
    assert sorted(r["path"] for r in again) == sorted(r["path"] for r in rows)
    assert len((out / "skipped.jsonl").read_text().splitlines()) == 1


def test_cached_deb_bypasses_download(fake_deb, tmp_path):
    cache = tmp_path / "debs"
    cache.mkdir()
    shutil.copy(fake_deb, cache)
    assert corpus.download_deb(PKG, cache) == cache / fake_deb.name


def test_default_composer_and_freeform_licence():
    parsed = corpus.parse_copyright("This music is by the Fake Team.\n\n"
                                    "License: GPL-2+\nLicense: CC-BY-4.0\n")
    assert corpus.composer_for(parsed, "a/b.ogg", "Default Person") == "Default Person"
    assert corpus.licence_for(parsed, "a/b.ogg") == "GPL-2+ / CC-BY-4.0"
    assert corpus.composer_for(parsed, "music/Kevin MacLeod - Song.ogg") == "Kevin MacLeod"


@pytest.mark.parametrize("name", sorted(RESERVED))
def test_reserved_refused(name, fake_deb, tmp_path):
    assert name not in {p.name for p in PACKAGES}
    with pytest.raises(corpus.CorpusError, match="reserved evaluation package"):
        corpus.build(tmp_path, [name])
    with pytest.raises(corpus.CorpusError, match="reserved"):
        corpus.build_package(MusicPackage(name, "x", ("*.ogg",)), tmp_path, deb=fake_deb)
    with pytest.raises(corpus.CorpusError, match="reserved"):
        corpus.download_deb(name, tmp_path)
    assert corpus.main(["build", "--out", str(tmp_path), "--packages", name]) == 2
    assert not (tmp_path / "manifest.jsonl").exists()


def test_list_cli(capsys):
    assert corpus.main(["list"]) == 0
    text = capsys.readouterr().out
    assert "drascula-music" in text and "reserved" in text
