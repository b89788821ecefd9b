"""The corpus renderer (training_recipes/corpus/render.py) and the collector's MIDI / module / WAD paths, on files written byte by byte
here and rendered by the real players (`make corpus-tools` installs them)."""

import json
import struct
import subprocess

import numpy as np
import pytest
import soundfile

from training_recipes.corpus import build as builder
from training_recipes.corpus.collect import collect, dest_name
from training_recipes.corpus.packages.packages import MusicPackage
from training_recipes.corpus.render import PEAK, RenderError, render, render_description, renders


def _midi(note=69, beats=4, program=0):
    """Format-0 MIDI: `beats` quarter notes of `note` (69 = A4, 440 Hz) at 120 bpm = 0.5 s each."""
    events = bytes([0x00, 0xC0, program])
    for _ in range(beats):
        events += bytes([0x00, 0x90, note, 100]) + bytes([0x83, 0x60, 0x80, note, 0])  # 480 ticks
    events += bytes([0x00, 0xFF, 0x2F, 0x00])
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480)  # 480 ticks per quarter, default 120 bpm
    return header + b"MTrk" + struct.pack(">I", len(events)) + events


def _mod():
    """A 4-channel ProTracker module: one 64-row pattern (speed 6, 125 bpm: 7.68 s) striking a
    looped 32-byte square wave at period 428 (8,287 Hz playback: a 259 Hz tone) every 16 rows."""
    wave = bytes([0x60] * 16 + [0xA0] * 16)  # signed 8-bit +96 / -96
    samples = struct.pack(">22sHBBHH", b"square", len(wave) // 2, 0, 64, 0, len(wave) // 2)
    samples += bytes(30) * 30
    orders = bytes([1, 127]) + bytes(128)
    rows = b""
    for row in range(64):
        note = struct.pack(">HBB", 428, 0x10, 0) if row % 16 == 0 else bytes(4)  # sample 1
        rows += note + bytes(12)
    return b"test".ljust(20, b"\0") + samples + orders + b"M.K." + rows + wave


def _wad(lumps):
    """A PWAD holding `lumps` [(name, bytes)]."""
    data, directory = b"", b""
    for name, body in lumps:
        directory += struct.pack("<ii8s", 12 + len(data), len(body), name.encode())
        data += body
    return struct.pack("<4sii", b"PWAD", len(lumps), 12 + len(data)) + data + directory


def _dominant_hz(path):
    audio, rate = soundfile.read(str(path), always_2d=True)
    mono = audio.mean(1)
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(mono.size)))
    return np.fft.rfftfreq(mono.size, 1 / rate)[int(np.argmax(spectrum))]


def test_render_midi(tmp_path):
    (tmp_path / "a4.mid").write_bytes(_midi())
    out = render(tmp_path / "a4.mid", tmp_path / "a4.flac")
    info = soundfile.info(str(out))
    assert info.format == "FLAC" and info.channels == 2
    assert 2.0 <= info.duration < 5.0  # four half-second notes, then the release tail
    audio, _ = soundfile.read(str(out))
    assert abs(np.abs(audio).max() - PEAK) < 1e-3
    assert abs(_dominant_hz(out) - 440) < 5
    assert renders("x/Theme.MID") and "FluidR3_GM.sf2" in render_description("a.mid")


def test_render_module(tmp_path):
    (tmp_path / "square.mod").write_bytes(_mod())
    out = render(tmp_path / "square.mod", tmp_path / "square.flac")
    info = soundfile.info(str(out))
    assert 7.68 <= info.duration < 8.0  # the pattern, then a short release tail
    assert abs(_dominant_hz(out) - 7093789.2 / (2 * 428) / 32) < 3
    assert "openmpt123" in render_description("song.xm") and not renders("song.ogg")


def test_render_errors_name_the_file(tmp_path):
    (tmp_path / "broken.mid").write_bytes(b"MThd" + b"\xff" * 40)
    with pytest.raises(RenderError, match="broken.mid"):
        render(tmp_path / "broken.mid", tmp_path / "broken.flac")
    assert not (tmp_path / "broken.flac").exists()
    with pytest.raises(RenderError, match="not a MIDI score or tracker module"):
        render(tmp_path / "broken.ogg", tmp_path / "x.flac")


def test_wad_music_lumps(tmp_path):
    """MIDI music lumps of a WAD are rendered; a MUS lump is skipped with its reason;
    other lumps are not music."""
    root = tmp_path / "root"
    (root / "usr/share/games/doom").mkdir(parents=True)
    (root / "usr/share/games/doom/game.wad").write_bytes(_wad([
        ("MAP01", b"\0" * 64), ("D_RUNNIN", _midi(beats=2)), ("D_OLD", b"MUS\x1a" + bytes(40)),
        ("D_SKIP", _midi(beats=2))]))
    spec = MusicPackage("doomish", "Doomish", ("usr/share/games/doom/*.wad",), exclude=("*!D_SKIP.mid",))
    skipped = []
    found = collect(root, spec, tmp_path / "unpack", skipped)
    assert [original for _, original in found] == ["usr/share/games/doom/game.wad!D_RUNNIN.mid"]
    assert soundfile.info(str(found[0][0])).format == "FLAC"
    assert skipped == [{"original_path": "usr/share/games/doom/game.wad!D_OLD.mid",
                        "reason": "music lump not in MIDI format"}]
    assert dest_name(found[0][1], set(), ".flac") == "D_RUNNIN.flac"


def test_build_package_records_the_renderer(tmp_path):
    """A package of MIDI files and a module builds into FLAC tracks whose rows name the player;
    a score the player cannot read goes to skipped.jsonl naming the file."""
    tree = tmp_path / "tree"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN/control").write_text(
        "Package: midigame-music\nVersion: 1.0-1\nArchitecture: all\n"
        "Maintainer: Test <t@example.org>\nDescription: fake MIDI music\n")
    (tree / "usr/share/doc/midigame-music").mkdir(parents=True)
    (tree / "usr/share/doc/midigame-music/copyright").write_text(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nCopyright: 2010 Jim Composer\nLicense: GPL-2\n")
    music = tree / "usr/share/games/midigame/music"
    music.mkdir(parents=True)
    (music / "theme.mid").write_bytes(_midi())
    (music / "loop.mod").write_bytes(_mod())
    (music / "broken.mid").write_bytes(b"MThd" + b"\xff" * 40)
    deb = tmp_path / "midigame-music_1.0-1_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(tree), str(deb)],
                   check=True, capture_output=True)
    spec = MusicPackage("midigame-music", "MIDI Game", ("usr/share/games/midigame/music/*",))
    out = tmp_path / "corpus"
    summary = builder.build_package(spec, out, deb=deb, min_duration=1.0)
    assert summary["tracks"] == 2 and summary["skipped"] == 1
    rows = {r["original_path"].rsplit("/", 1)[-1]: r
            for r in map(json.loads, (out / "manifest.jsonl").read_text().splitlines())}
    assert rows["theme.mid"]["path"] == "midigame-music/theme.flac"
    assert rows["theme.mid"]["rendered_with"].startswith("fluidsynth 2.")
    assert rows["loop.mod"]["rendered_with"].startswith("openmpt123")
    assert rows["loop.mod"]["licence"] == "GPL-2" and rows["loop.mod"]["composer"] == "Jim Composer"
    (skip,) = map(json.loads, (out / "skipped.jsonl").read_text().splitlines())
    assert skip["original_path"].endswith("broken.mid") and "broken.mid" in skip["reason"]
