"""The corpus builder (training_recipes.corpus) on a tiny fake .deb built with dpkg-deb (no network)."""

import json
import shutil
import subprocess
import zipfile

import numpy as np
import pytest
import soundfile

from sdk.audio import audio_info
from training_recipes.corpus import build as builder
from training_recipes.corpus import cli
from training_recipes.corpus import copyright as deb_copyright
from training_recipes.corpus import manifest
from training_recipes.corpus.manifest import CorpusError
from training_recipes.corpus.collect import collect, dest_name, read_tags, sniff_audio_suffix
from training_recipes.corpus.packages.evaluation import EVALUATION_PACKAGES
from training_recipes.corpus.packages.packages import EXCLUDED, PACKAGES, RESERVED, MusicPackage

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


def _make_deb(base, pkg, version="1.2-3"):
    """A tiny .deb of `pkg`: a tagged 1.5 s theme, a corrupt file, a 0.75 s track in
    a .pk3, 0.5 s of headerless u8 stereo PCM and a sped-up copy to exclude."""
    tree = base / f"tree-{pkg}"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN/control").write_text(
        f"Package: {pkg}\nVersion: {version}\nArchitecture: all\n"
        "Maintainer: Test <t@example.org>\nDescription: fake game music\n")
    doc = tree / "usr/share/doc" / pkg
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(COPYRIGHT)
    music = tree / "usr/share/games/fakegame/music"
    music.mkdir(parents=True)
    with soundfile.SoundFile(music / "theme.ogg", "w", 22050, 2, format="OGG",
                             subtype="VORBIS") as f:
        f.title, f.artist, f.genre, f.album = "Main Theme", "Jane C.", "Chiptune", "Fake OST"
        f.write(_tone(1.5, 22050, 2))
    soundfile.write(music / "theme_fast.ogg", _tone(1.2, 22050), 22050)
    (music / "corrupt.ogg").write_bytes(b"OggS" + b"\x00garbage" * 50)
    raw = np.round((_tone(0.5, 8000, 2) + 1) * 127.5).astype(np.uint8)
    (music / "song.raw").write_bytes(raw.tobytes())
    inner = base / f"inner-{pkg}.ogg"
    soundfile.write(inner, _tone(0.75, 16000), 16000)
    with zipfile.ZipFile(tree / "usr/share/games/fakegame/pak0.pk3", "w") as zf:
        zf.write(inner, "music/level1.ogg")
        zf.writestr("music/readme.txt", "not music")
    deb = base / f"{pkg}_{version}_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(tree), str(deb)],
                   check=True, capture_output=True)
    return deb


@pytest.fixture(scope="module")
def fake_deb(tmp_path_factory):
    return _make_deb(tmp_path_factory.mktemp("deb"), PKG)


SPEC = MusicPackage(PKG, "Fake Game OST",
                    ("usr/share/games/fakegame/music/*.ogg",
                     "usr/share/games/fakegame/*.pk3"),
                    composer="Default Person", exclude=("*_FAST.ogg",))


def test_build_package(fake_deb, tmp_path):
    out = tmp_path / "corpus"
    summary = builder.build_package(SPEC, out, deb=fake_deb, min_duration=0.5)
    assert summary["status"] == "built" and summary["tracks"] == 2 and summary["skipped"] == 1
    rows = manifest.read_manifest(out)
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
        assert r["composer"] == ("Jane C." if r is theme else "Jane Composer")
        assert r["use"] == "training"
        assert (out / r["path"]).is_file() and r["path"].startswith(PKG + "/")
        assert abs(audio_info(out / r["path"])["duration"] - r["duration"]) < 0.01
    skipped = [json.loads(line) for line in (out / "skipped.jsonl").read_text().splitlines()]
    assert [s["original_path"] for s in skipped] == ["usr/share/games/fakegame/music/corrupt.ogg"]
    assert not list(out.rglob("*.txt")) and not list(out.rglob("corrupt.ogg"))
    assert not list(out.rglob("theme_fast.ogg"))  # excluded by the entry's glob
    assert (out / "build.log").read_text().count(PKG) > 0

    # idempotent: re-running adds nothing; force rebuilds without duplicates
    assert builder.build_package(SPEC, out, deb=fake_deb)["status"] == "already built"
    assert manifest.read_manifest(out) == rows
    builder.build_package(SPEC, out, deb=fake_deb, force=True, min_duration=0.5)
    again = manifest.read_manifest(out)
    assert sorted(r["path"] for r in again) == sorted(r["path"] for r in rows)
    assert len((out / "skipped.jsonl").read_text().splitlines()) == 1


def test_cached_deb_bypasses_download(fake_deb, tmp_path):
    cache = tmp_path / "debs"
    cache.mkdir()
    shutil.copy(fake_deb, cache)
    assert builder.download_deb(PKG, cache) == cache / fake_deb.name


def test_default_composer_and_freeform_licence():
    parsed = deb_copyright.parse_copyright("This music is by the Fake Team.\n\n"
                                    "License: GPL-2+\nLicense: CC-BY-4.0\n")
    assert deb_copyright.composer_for(parsed, "a/b.ogg", "Default Person") == "Default Person"
    assert deb_copyright.licence_for(parsed, "a/b.ogg") == "GPL-2+ / CC-BY-4.0"
    assert deb_copyright.composer_for(parsed, "music/Kevin MacLeod - Song.ogg") == "Kevin MacLeod"


@pytest.mark.parametrize("name", sorted(RESERVED))
def test_reserved_refused(name, fake_deb, tmp_path):
    assert name not in {p.name for p in PACKAGES}
    with pytest.raises(CorpusError, match="reserved evaluation package"):
        builder.build(tmp_path, [name])
    with pytest.raises(CorpusError, match="reserved"):
        builder.build_package(MusicPackage(name, "x", ("*.ogg",)), tmp_path, deb=fake_deb)
    with pytest.raises(CorpusError, match="reserved"):
        builder.download_deb(name, tmp_path)
    assert cli.main(["build", "--out", str(tmp_path), "--packages", name]) == 2
    assert not (tmp_path / "manifest.jsonl").exists()


def test_list_cli(capsys):
    assert cli.main(["list"]) == 0
    text = capsys.readouterr().out
    assert "drascula-music" in text and "reserved" in text


def test_short_tracks_skipped(fake_deb, tmp_path):
    out = tmp_path / "corpus"
    summary = builder.build_package(SPEC, out, deb=fake_deb, min_duration=1.0)
    assert (summary["tracks"], summary["skipped"]) == (1, 2)
    assert [r["original_path"] for r in manifest.read_manifest(out)] == \
        ["usr/share/games/fakegame/music/theme.ogg"]
    skipped = {s["original_path"]: s for s in
               map(json.loads, (out / "skipped.jsonl").read_text().splitlines())}
    short = skipped["usr/share/games/fakegame/pak0.pk3!music/level1.ogg"]
    assert short["reason"].startswith("shorter than 1 s (0.8 s)")
    assert abs(short["duration"] - 0.75) < 0.01 and short["package"] == PKG
    assert not list(out.rglob("level1.ogg"))
    assert builder.MIN_DURATION == 15.0  # the default: jingles and stingers out


def test_tag_metadata(fake_deb, tmp_path):
    out = tmp_path / "corpus"
    builder.build_package(SPEC, out, deb=fake_deb, min_duration=0.5)
    by_name = {r["path"].rsplit("/", 1)[-1]: r for r in manifest.read_manifest(out)}
    theme = by_name["theme.ogg"]
    assert (theme["title"], theme["artist"], theme["genre"], theme["album"]) == \
        ("Main Theme", "Jane C.", "Chiptune", "Fake OST")
    assert theme["composer"] == "Jane C."  # the file's artist tag beats copyright holders
    level = by_name["level1.ogg"]
    assert [level[k] for k in ("title", "artist", "genre", "album")] == [None] * 4


def test_raw_pcm_composers_and_licence_override(fake_deb, tmp_path):
    spec = MusicPackage(PKG, "Fake", ("usr/share/games/fakegame/music/*.raw",
                                      "usr/share/games/fakegame/music/theme.ogg"),
                        raw=(8000, 2, "PCM_U8"), licence="GPL-2",
                        composers=(("song.*", "Raw Person"),), composer_from_copyright=False)
    out = tmp_path / "corpus"
    builder.build_package(spec, out, deb=fake_deb, min_duration=0.1)
    rows = {r["original_path"].rsplit("/", 1)[-1]: r for r in manifest.read_manifest(out)}
    song = rows["song.raw"]
    assert song["path"] == f"{PKG}/song.flac"
    assert (song["sample_rate"], song["channels"]) == (8000, 2)
    assert abs(song["duration"] - 0.5) < 1e-3
    x, _ = soundfile.read(out / song["path"])
    assert abs(np.abs(x).max() - 0.3) < 0.02  # u8 decoded around zero, not offset
    assert song["composer"] == "Raw Person" and song["licence"] == "GPL-2"
    # no composer mapping, copyright holders not used: the artist tag is the fallback
    assert rows["theme.ogg"]["composer"] == "Jane C."


@pytest.fixture(scope="module")
def reserved_deb(tmp_path_factory):
    return _make_deb(tmp_path_factory.mktemp("rdeb"), "ufoai-music", "2.5-2")


EVAL_SPEC = MusicPackage("ufoai-music", "UFO", ("usr/share/games/fakegame/music/theme.ogg",))


def test_evaluation_corpus_is_separate(fake_deb, reserved_deb, tmp_path):
    train, evaluation = tmp_path / "corpus", tmp_path / "evaluation"
    builder.build_package(SPEC, train, deb=fake_deb, min_duration=0.5)
    summary = builder.build_evaluation_package(EVAL_SPEC, evaluation, deb=reserved_deb,
                                              min_duration=0.5)
    assert summary["tracks"] == 1
    rows = manifest.read_evaluation_manifest(evaluation)
    assert [(r["package"], r["use"]) for r in rows] == [("ufoai-music", "evaluation-only")]
    assert (evaluation / "USE").read_text().strip() == "evaluation-only"
    assert {r["use"] for r in manifest.read_training_manifest(train)} == {"training"}
    with pytest.raises(CorpusError, match="evaluation-only"):
        manifest.read_training_manifest(evaluation)
    with pytest.raises(CorpusError, match="not evaluation-only"):
        manifest.read_evaluation_manifest(train)

    # neither build writes into the other's directory
    before = (evaluation / "manifest.jsonl").read_text()
    with pytest.raises(CorpusError, match="evaluation-only corpus"):
        builder.build_package(SPEC, evaluation, deb=fake_deb)
    assert cli.main(["build", "--out", str(evaluation), "--packages",
                        "drascula-music"]) == 2
    assert (evaluation / "manifest.jsonl").read_text() == before
    with pytest.raises(CorpusError, match="training corpus"):
        builder.build_evaluation_package(EVAL_SPEC, train, deb=reserved_deb)
    assert cli.main(["build-evaluation", "--out", str(train), "--packages",
                        "ufoai-music"]) == 2
    assert "ufoai-music" not in (train / "manifest.jsonl").read_text()

    # the evaluation build takes reserved packages only
    with pytest.raises(CorpusError, match="not a reserved evaluation package"):
        builder.build_evaluation_package(SPEC, tmp_path / "other", deb=fake_deb)
    with pytest.raises(CorpusError, match="not a reserved"):
        builder.build_evaluation(tmp_path / "other", ["drascula-music"])


def test_read_training_manifest_catches_reserved_rows(fake_deb, tmp_path):
    out = tmp_path / "corpus"
    builder.build_package(SPEC, out, deb=fake_deb, min_duration=0.5)
    rows = manifest.read_training_manifest(out)
    assert len(rows) == 2
    with open(out / "manifest.jsonl", "a") as f:  # a row smuggled in by hand
        f.write(json.dumps({**rows[0], "package": "nexuiz-music"}) + "\n")
    with pytest.raises(CorpusError, match="nexuiz-music"):
        manifest.read_training_manifest(out)
    with pytest.raises(FileNotFoundError):
        manifest.read_training_manifest(tmp_path / "nothing")


def test_package_tables():
    names = {p.name for p in PACKAGES}
    assert "wesnoth-music" in RESERVED
    assert {p.name for p in EVALUATION_PACKAGES} == RESERVED - {"wesnoth-music"}
    assert not names & RESERVED and not names & set(EXCLUDED)
    assert len(names) == len(PACKAGES)
    assert all(p.verified for p in EVALUATION_PACKAGES)
    # entries checked with dpkg-deb -c but not yet built still say what they hold
    assert all(p.size_mb and p.notes for p in PACKAGES if not p.verified)
    assert not [g for p in PACKAGES for g in p.patterns if g.startswith(("/", "./"))]
    with pytest.raises(KeyError, match="unknown evaluation package"):
        builder.build_evaluation("unused", ["wesnoth-music"])


def test_own_stanza_only(fake_deb, tmp_path):
    spec = MusicPackage(PKG, "Fake", ("usr/share/games/fakegame/music/theme.ogg",),
                        own_stanza_only=True)
    out = tmp_path / "corpus"
    assert builder.build_package(spec, out, deb=fake_deb, min_duration=0.5)["tracks"] == 0
    skipped = json.loads((out / "skipped.jsonl").read_text())
    assert skipped["reason"].startswith("no copyright stanza of its own")
    parsed = deb_copyright.parse_copyright(COPYRIGHT + "\nFiles: music/theme.ogg\n"
                                    "Copyright: 2020 Jo Composer\nLicense: CC0-1.0\n")
    assert deb_copyright.has_own_stanza(parsed, "data/music/theme.ogg")
    assert deb_copyright.licence_for(parsed, "data/music/theme.ogg") == "CC0-1.0"
    assert not deb_copyright.has_own_stanza(parsed, "data/music/other.ogg")


def test_placeholder_tags_are_none(tmp_path):
    path = tmp_path / "t.ogg"
    with soundfile.SoundFile(path, "w", 8000, 1, format="OGG", subtype="VORBIS") as f:
        f.title, f.artist, f.genre = "Track 03", "<Unknown>", "(None)"
        f.write(_tone(0.2, 8000))
    assert read_tags(path) == {"title": "Track 03", "artist": None, "genre": None,
                               "album": None}
    assert read_tags(tmp_path / "missing.ogg") == dict.fromkeys(("title", "artist",
                                                                 "genre", "album"))


def test_extensionless_audio_and_love_archives(tmp_path):
    """Ogg files shipped without an extension (blobwars) are found by their magic bytes;
    a .love game file is unpacked like a zip (mrrescue)."""
    root, unpack = tmp_path / "root", tmp_path / "unpack"
    music = root / "usr/share/games/blob/music"
    music.mkdir(parents=True)
    soundfile.write(tmp_path / "a.ogg", _tone(0.5, 8000), 8000)
    shutil.copyfile(tmp_path / "a.ogg", music / "arctic")
    (music / "arctic.tags").write_text("SinQ - Arctic\n")
    (music / "readme").write_text("not audio, no extension\n")
    with zipfile.ZipFile(root / "usr/share/games/blob/game.love", "w") as zf:
        zf.write(tmp_path / "a.ogg", "data/sfx/music.ogg")
        zf.writestr("main.lua", "-- code")
    spec = MusicPackage("blob", "Blob", ("usr/share/games/blob/music/*",
                                         "usr/share/games/blob/*.love::data/sfx/*.ogg"),
                        exclude=("*.tags",))
    skipped = []
    found = collect(root, spec, unpack, skipped)
    assert [original for _, original in found] == [
        "usr/share/games/blob/music/arctic", "usr/share/games/blob/game.love!data/sfx/music.ogg"]
    local = found[0][0]
    assert local.suffix == ".ogg" and local.is_relative_to(unpack)
    assert audio_info(local)["sample_rate"] == 8000
    assert sniff_audio_suffix(music / "readme") is None and not skipped
    assert dest_name(found[0][1], set(), local.suffix) == "arctic.ogg"
