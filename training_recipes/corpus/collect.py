"""Finding a package's music files and reading their tags, for the corpus builder.

`collect` walks an unpacked package with a MusicPackage's patterns: plain files,
members of .pk3 / .zip / .love archives, MIDI lumps of Doom .wad files, headerless PCM
(`spec.raw`, converted to FLAC), audio files without an extension (recognised by their
magic bytes), and MIDI scores / tracker modules (rendered to FLAC by render.py).
`read_tags` gives a file's title / artist / genre / album tags.
"""

import fnmatch
import logging
import shutil
import struct
import zipfile
from pathlib import PurePosixPath

import soundfile

from sdk.audio import AUDIO_EXTENSIONS
from training_recipes.corpus.render import RenderError, render, renders

__all__ = ["TAG_FIELDS", "collect", "dest_name", "read_tags", "sniff_audio_suffix"]

ARCHIVE_EXTENSIONS = (".pk3", ".zip", ".love", ".wad")  # .love is a zip; .wad is read by _from_wad
# Leading bytes of the containers libsndfile reads, for files shipped without an extension.
_MAGIC = ((b"OggS", ".ogg"), (b"fLaC", ".flac"), (b"RIFF", ".wav"), (b"ID3", ".mp3"))
TAG_FIELDS = ("title", "artist", "genre", "album")
_PLACEHOLDERS = {"", "unknown", "<unknown>", "(unknown)", "none", "(none)", "<none>", "n/a"}

log = logging.getLogger("training_recipes.corpus")


def read_tags(path):
    """{title, artist, genre, album} from the file's tags; None where it has none or
    a placeholder such as "<Unknown>" (libsndfile reads Vorbis comments, FLAC
    and WAV tags, not MP3's ID3)."""
    try:
        with soundfile.SoundFile(str(path)) as f:
            meta = f.copy_metadata()
    except (RuntimeError, TypeError, ValueError, OSError):
        meta = {}
    tags = {}
    for key in TAG_FIELDS:
        value = meta.get(key)
        value = value.strip() if isinstance(value, str) else ""
        tags[key] = None if value.lower() in _PLACEHOLDERS else value
    return tags


def _audio_ext(path):
    return PurePosixPath(str(path)).suffix.lower() in AUDIO_EXTENSIONS or renders(path)


def _rendered(local, original, found, skipped):
    """Append `local` to found, rendered to FLAC first when it is a score or module."""
    if renders(local):
        try:
            local = render(local, local.with_name(local.name + ".flac"))
        except RenderError as exc:
            skipped.append({"original_path": original, "reason": str(exc)})
            return
    found.append((local, original))


def sniff_audio_suffix(path):
    """".ogg" / ".flac" / ".wav" / ".mp3" from the first bytes of `path`, else None."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return None
    return next((suffix for magic, suffix in _MAGIC if head.startswith(magic)), None)


def _excluded(spec, original):
    lower = original.lower()
    return any(fnmatch.fnmatchcase(lower, g.lower()) for g in spec.exclude)


def _decode_raw(path, raw, target):
    """Headerless PCM `path` as (sample_rate, channels, subtype) -> FLAC `target`."""
    rate, channels, subtype = raw
    data, _ = soundfile.read(str(path), samplerate=rate, channels=channels,
                             subtype=subtype, format="RAW", dtype="int16")
    target.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(target), data, rate, format="FLAC", subtype="PCM_16")
    return target


def _wad_lumps(path):
    """[(lump name, bytes)] of a Doom WAD file (IWAD/PWAD: 12-byte header, 16-byte entries)."""
    data = path.read_bytes()
    kind, count, offset = struct.unpack_from("<4sii", data, 0)
    if kind not in (b"IWAD", b"PWAD") or offset + 16 * count > len(data):
        raise ValueError(f"not a WAD file (header {kind!r})")
    lumps = []
    for i in range(count):
        start, size, name = struct.unpack_from("<ii8s", data, offset + 16 * i)
        lumps.append((name.rstrip(b"\0").decode("ascii", "replace"), data[start:start + size]))
    return lumps


def _from_wad(path, rel, inner, spec, unpack_dir, seen, found, skipped):
    """Music lumps stored as standard MIDI (they start with "MThd") become <lump>.mid;
    Doom's own MUS format is skipped with its reason."""
    try:
        lumps = _wad_lumps(path)
    except (ValueError, struct.error, OSError) as exc:
        skipped.append({"original_path": rel, "reason": f"bad WAD: {exc}"})
        return
    for name, data in lumps:
        original = f"{rel}!{name}.mid"
        if not fnmatch.fnmatchcase(name, inner or "D_*") or original in seen or _excluded(spec, original):
            continue
        if not data.startswith(b"MThd"):
            skipped.append({"original_path": original, "reason": "music lump not in MIDI format"})
            continue
        target = unpack_dir / rel / f"{name}.mid"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        seen.add(original)
        _rendered(target, original, found, skipped)


def _from_archive(path, rel, inner, spec, unpack_dir, seen, found, skipped):
    if path.suffix.lower() == ".wad":
        _from_wad(path, rel, inner, spec, unpack_dir, seen, found, skipped)
        return
    try:
        with zipfile.ZipFile(path) as zf:
            for member in sorted(zf.namelist()):
                original = f"{rel}!{member}"
                if member.endswith("/") or original in seen or not _audio_ext(member):
                    continue
                if inner and not fnmatch.fnmatch(member, inner):
                    continue
                if _excluded(spec, original):
                    continue
                target = unpack_dir / rel / member
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(member) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                seen.add(original)
                _rendered(target, original, found, skipped)
    except (zipfile.BadZipFile, OSError) as exc:
        skipped.append({"original_path": rel, "reason": f"bad archive: {exc}"})


def collect(root, spec, unpack_dir, skipped):
    """[(local Path, original_path)] of the music files of `spec` under `root`."""
    found, seen = [], set()
    for pattern in spec.patterns:
        outer, _, inner = pattern.partition("::")
        for path in sorted(root.glob(outer)):
            if not path.is_file():
                continue
            rel = path.relative_to(root).as_posix()
            if path.suffix.lower() in ARCHIVE_EXTENSIONS:
                _from_archive(path, rel, inner, spec, unpack_dir, seen, found, skipped)
                continue
            if inner or rel in seen:
                continue
            if _excluded(spec, rel):
                log.info("%s: %s excluded by the package entry", spec.name, rel)
                continue
            if spec.raw and path.suffix.lower() == ".raw":
                try:
                    local = _decode_raw(path, spec.raw,
                                        (unpack_dir / rel).with_suffix(".flac"))
                except (RuntimeError, TypeError, ValueError, OSError) as exc:
                    skipped.append({"original_path": rel, "reason": f"raw PCM: {exc}"})
                    continue
                seen.add(rel)
                found.append((local, rel))
                continue
            suffix = sniff_audio_suffix(path) if not path.suffix else None
            if suffix:  # named copy, so later steps see what the file holds
                local = unpack_dir / (rel + suffix)
                local.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, local)
                seen.add(rel)
                found.append((local, rel))
                continue
            if not _audio_ext(path):
                log.info("%s: %s matched but is not an audio file; ignored", spec.name, rel)
                continue
            seen.add(rel)
            if renders(path):  # rendered beside the unpacked files, not into the package tree
                local = unpack_dir / rel
                local.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, local)
                _rendered(local, rel, found, skipped)
                continue
            found.append((path, rel))
    return found


def dest_name(original, used, suffix=None):
    """A file name for `original` unique in `used` (case-insensitive); `suffix`
    replaces the extension (a converted file)."""
    parts = list(PurePosixPath(original.replace("!", "/")).parts)
    if suffix:
        parts[-1] = PurePosixPath(parts[-1]).stem + suffix
    name = parts[-1]
    i = 2
    while name.lower() in used:
        if i <= len(parts):
            name = "__".join(parts[-i:])
        else:
            name = f"{PurePosixPath(parts[-1]).stem}_{i}{PurePosixPath(parts[-1]).suffix}"
        i += 1
    used.add(name.lower())
    return name
