"""Rendering music that ships as notes instead of audio: MIDI scores and tracker modules.

Some free game soundtracks exist only as MIDI files (OpenTTD's OpenMSX, Freedoom's lumps)
or tracker modules (.mod / .xm / .it / .s3m). The corpus builder renders them to FLAC with
Debian's own players, so a track is reproducible from the package and two named tools:

- MIDI: `fluidsynth` with the General MIDI SoundFont FluidR3_GM.sf2 (Debian
  fluid-soundfont-gm, MIT licence);
- modules: `openmpt123` (libopenmpt), which plays them as their tracker did, once, no loop.

Both render 32-bit float at RENDER_RATE, stereo; the peak is then set to -1 dBFS (FluidR3
at a usable gain clips, and module volumes vary by 20 dB), and the result is written as
16-bit FLAC. The manifest row of a rendered track names the tool, its version and the
SoundFont (`render_description`). `make corpus-tools` installs both players.
"""

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path, PurePosixPath

import numpy as np
import soundfile

__all__ = ["MIDI_EXTENSIONS", "MODULE_EXTENSIONS", "RENDER_EXTENSIONS", "RENDER_RATE",
           "SOUNDFONT", "RenderError", "render", "render_description", "renders"]

MIDI_EXTENSIONS = (".mid", ".midi")
MODULE_EXTENSIONS = (".mod", ".xm", ".it", ".s3m")
RENDER_EXTENSIONS = MIDI_EXTENSIONS + MODULE_EXTENSIONS
RENDER_RATE = 22050  # what the student hears; the 16 kHz teacher resamples from it
PEAK = 10 ** (-1 / 20)  # -1 dBFS
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
FLUIDSYNTH_GAIN = 0.5  # fluidsynth's default 0.2 leaves quiet scores near the noise floor
_INSTALL = "install them with `make corpus-tools` (apt-get install fluidsynth fluid-soundfont-gm openmpt123)"


class RenderError(Exception):
    """A score or module could not be rendered; the message names the file and the cause."""


def renders(name):
    """True when `name` (a path or file name) is a MIDI score or tracker module."""
    return PurePosixPath(str(name)).suffix.lower() in RENDER_EXTENSIONS


def _tool(name):
    path = shutil.which(name)
    if path is None:
        raise RenderError(f"{name} is not installed; {_INSTALL}")
    return path


@functools.lru_cache(maxsize=None)
def _version(tool):
    out = subprocess.run([_tool(tool), "--version"], capture_output=True, text=True).stdout
    first = out.strip().splitlines()[0] if out.strip() else tool
    return first.replace("FluidSynth runtime version", "fluidsynth").split(",")[0].strip()


def render_description(name):
    """How a file named `name` is rendered: tool and version (and SoundFont), rate, peak."""
    suffix = PurePosixPath(str(name)).suffix.lower()
    if suffix in MIDI_EXTENSIONS:
        tool = f"{_version('fluidsynth')} (gain {FLUIDSYNTH_GAIN}) with {SOUNDFONT.name} " \
               f"(Debian fluid-soundfont-gm, MIT)"
    elif suffix in MODULE_EXTENSIONS:
        tool = _version("openmpt123")
    else:
        raise RenderError(f"{name}: not a MIDI score or tracker module")
    return f"{tool}; {RENDER_RATE} Hz stereo float, peak set to -1 dBFS, 16-bit FLAC"


def _command(source, wav):
    suffix = source.suffix.lower()
    if suffix in MIDI_EXTENSIONS:
        if not SOUNDFONT.is_file():
            raise RenderError(f"{source}: SoundFont {SOUNDFONT} missing; {_INSTALL}")
        return [_tool("fluidsynth"), "-n", "-i", "-q", "-g", str(FLUIDSYNTH_GAIN),
                "-r", str(RENDER_RATE), "-O", "float", "-T", "wav", "-F", str(wav),
                str(SOUNDFONT), str(source)]
    if suffix in MODULE_EXTENSIONS:
        return [_tool("openmpt123"), "--batch", "--quiet", "--samplerate", str(RENDER_RATE),
                "--channels", "2", "--float", "--repeat", "0", "--force",
                "--output", str(wav), str(source)]
    raise RenderError(f"{source}: not a MIDI score or tracker module")


def render(source, target):
    """Render `source` (.mid/.midi or a module) to FLAC `target`; returns `target`.

    Raises RenderError naming the file when the player fails or the result is silent.
    """
    source, target = Path(source), Path(target)
    with tempfile.TemporaryDirectory(prefix="corpus-render-") as tmp:
        wav = Path(tmp) / "render.wav"
        command = _command(source, wav)
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0 or not wav.is_file():
            detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output file"]
            raise RenderError(f"{source}: {Path(command[0]).name} failed: {detail[0]}")
        audio, rate = soundfile.read(str(wav), dtype="float32", always_2d=True)
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak < 1e-4:
        raise RenderError(f"{source}: rendered silence ({audio.shape[0] / rate:.1f} s)")
    target.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(target), audio * (PEAK / peak), rate, format="FLAC", subtype="PCM_16")
    return target
