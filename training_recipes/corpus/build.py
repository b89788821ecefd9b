"""Build a corpus of free game music from Debian packages (the CLI is `cli.py`).

For each package: `apt-get download` into the cache dir (skipped when the .deb is
already there), `dpkg-deb -x` into a temp dir, read the licence and composer from
/usr/share/doc/<pkg>/copyright (copyright.py), collect the music files
matching the package's patterns (collect.py), copy them under <out>/<package>/
and append one row per track to <out>/manifest.jsonl: path (relative to out),
package, version, soundtrack, composer, licence, duration [s], sample_rate,
channels, original_path, the file's title / artist / genre / album tags (None
when it has none), use, and for MIDI scores and tracker modules (rendered to FLAC,
render.py) "rendered_with": the player, its version and the SoundFont. Files sdk.audio cannot read, and tracks shorter than
`min_duration` (15 s: jingles and stingers), go to <out>/skipped.jsonl with the
reason. The log is <out>/build.log. Packages already in the manifest are skipped
unless force=True, which rebuilds them.

`build` makes a training corpus and always refuses the RESERVED evaluation
packages. `build_evaluation` builds only those, into a separate directory whose
rows say "use": "evaluation-only"; neither writes into the other's directory
(manifest.py). Training code reads with `read_training_manifest`.
"""

import fnmatch
import glob
import logging
import shutil
import subprocess
import tempfile
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from sdk.audio import AudioError, audio_info
from training_recipes.corpus.collect import collect, dest_name, read_tags
from training_recipes.corpus.copyright import (
    composer_for,
    has_own_stanza,
    licence_for,
    parse_copyright,
)
from training_recipes.corpus.manifest import (
    MANIFEST,
    SKIPPED,
    USE_EVALUATION,
    USE_TRAINING,
    CorpusError,
    check_out,
    read_jsonl,
    read_manifest,
    write_jsonl,
)
from training_recipes.corpus.packages.evaluation import (
    EVALUATION_PACKAGES,
    get_evaluation_package,
)
from training_recipes.corpus.packages.packages import (
    EXCLUDED,
    PACKAGES,
    RESERVED,
    MusicPackage,
    get_package,
)
from training_recipes.corpus.render import render_description, renders

LOG = "build.log"
MIN_DURATION = 15.0  # seconds; shorter tracks are jingles / stingers

log = logging.getLogger("training_recipes.corpus")


def check_allowed(name):
    """Raise CorpusError for reserved evaluation packages and excluded ones."""
    if name in RESERVED:
        raise CorpusError(f"{name} is a reserved evaluation package and must never enter "
                          f"the training corpus (reserved: {', '.join(sorted(RESERVED))}); "
                          "use `build-evaluation` for a separate evaluation set")
    if name in EXCLUDED:
        raise CorpusError(f"{name} is excluded from the corpus: {EXCLUDED[name]}")


def check_evaluation(name):
    """Raise CorpusError unless `name` is a reserved evaluation package."""
    if name not in RESERVED:
        raise CorpusError(f"{name} is not a reserved evaluation package; the evaluation "
                          f"build takes only {', '.join(sorted(RESERVED))}")


def _check(name, use):
    (check_allowed if use == USE_TRAINING else check_evaluation)(name)


# --------------------------------------------------------------------------- deb

def _run(cmd, cwd=None):
    proc = subprocess.run(cmd, check=False, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise CorpusError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}): "
                          f"{(proc.stderr or proc.stdout).strip()[-500:]}")
    return proc.stdout


def _cached_deb(name, cache):
    found = sorted(Path(cache).glob(f"{glob.escape(name)}_*.deb"),
                   key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def download_deb(name, cache, use=USE_TRAINING):
    """The .deb of `name` in `cache`, fetched with `apt-get download` unless cached.

    Reserved packages are refused unless use="evaluation-only".
    """
    _check(name, use)
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    deb = _cached_deb(name, cache)
    if deb is not None:
        log.info("%s: using cached %s", name, deb)
        return deb
    log.info("%s: apt-get download into %s", name, cache)
    try:
        _run(["apt-get", "download", name], cwd=cache)
    except CorpusError as exc:
        raise CorpusError(f"{name}: download failed (try `apt-get update`): {exc}") from None
    deb = _cached_deb(name, cache)
    if deb is None:
        raise CorpusError(f"{name}: apt-get download left no {name}_*.deb in {cache}")
    return deb


# --------------------------------------------------------------------------- build

def _source_path(spec, original):
    """`original` as the source tree names it, for DEP-5 "Files:" globs."""
    if spec.source_dir and original.startswith(spec.source_dir[0]):
        return spec.source_dir[1] + original[len(spec.source_dir[0]):]
    return original


def _composer(spec, parsed, original, source, tags):
    """The package's own credits, else a "Name - Title" file name, else the file's
    artist tag, else the copyright holders (if the entry allows), else the default."""
    name = PurePosixPath(original.split("!")[-1]).name.lower()
    for pattern, composer in spec.composers:
        pattern = pattern.lower()
        if fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(original.lower(), pattern):
            return composer
    from_name = composer_for(parsed, source, None, from_copyright=False)
    return (from_name or tags.get("artist")
            or composer_for(parsed, source, spec.composer, spec.composer_from_copyright))


def _drop_package(out, name):
    for fname in (MANIFEST, SKIPPED):
        rows = read_jsonl(out / fname)
        if any(r.get("package") == name for r in rows):
            write_jsonl(out / fname, [r for r in rows if r.get("package") != name])
    shutil.rmtree(out / name, ignore_errors=True)


def _deb_fields(deb, spec, use):
    if not deb.is_file():
        raise CorpusError(f"{deb}: .deb not found")
    fields = _run(["dpkg-deb", "-f", str(deb), "Package", "Version"])
    info = dict(line.split(": ", 1) for line in fields.strip().splitlines() if ": " in line)
    _check(info.get("Package", ""), use)
    if info.get("Package") != spec.name:
        raise CorpusError(f"{deb}: holds package {info.get('Package')!r}, not {spec.name!r}")
    return info.get("Version", "")


def _track(spec, parsed, local, original, out, dest_dir, used, version, use, min_duration):
    """(row, None) for a usable track, else (None, skipped-row)."""
    try:
        meta = audio_info(local)
        if meta["frames"] <= 0:
            raise AudioError(f"{original}: empty audio (0 frames)")
    except AudioError as exc:
        return None, {"original_path": original, "reason": str(exc)}
    if meta["duration"] < min_duration:
        return None, {"original_path": original, "duration": round(meta["duration"], 3),
                      "reason": f"shorter than {min_duration:g} s "
                                f"({meta['duration']:.1f} s): jingle / stinger"}
    source = _source_path(spec, original)
    if spec.own_stanza_only and not has_own_stanza(parsed, source):
        return None, {"original_path": original,
                      "reason": "no copyright stanza of its own (only Files: *): "
                                "licence unclear"}
    dest_dir.mkdir(parents=True, exist_ok=True)
    suffix = local.suffix if local.suffix.lower() != PurePosixPath(original).suffix.lower() \
        else None
    dest = dest_dir / dest_name(original, used, suffix)
    shutil.copyfile(local, dest)
    tags = read_tags(local)
    rendered = {"rendered_with": render_description(original)} if renders(original) else {}
    return {
        "path": dest.relative_to(out).as_posix(),
        "package": spec.name,
        "version": version,
        "soundtrack": spec.soundtrack,
        "composer": _composer(spec, parsed, original, source, tags),
        "licence": spec.licence or licence_for(parsed, source),
        "duration": round(meta["duration"], 3),
        "sample_rate": meta["sample_rate"],
        "channels": meta["channels"],
        "original_path": original,
        **tags,
        **rendered,
        "use": use,
    }, None


def _build_package(spec, out, cache, deb, force, min_duration, use):
    _check(spec.name, use)
    out = Path(out)
    check_out(out, use)
    _ensure_log(out)
    existing = [r for r in read_manifest(out) if r.get("package") == spec.name]
    if existing and not force:
        log.info("%s: already in the manifest (%d tracks); skipped", spec.name, len(existing))
        return {"package": spec.name, "status": "already built", "tracks": len(existing),
                "skipped": 0, "hours": sum(r["duration"] for r in existing) / 3600}
    deb = Path(deb) if deb is not None else download_deb(spec.name, cache, use)
    version = _deb_fields(deb, spec, use)
    _drop_package(out, spec.name)
    log.info("%s %s: extracting %s", spec.name, version, deb)
    rows, skipped = [], []
    with tempfile.TemporaryDirectory(prefix=f"corpus-{spec.name}-") as tmp:
        root, unpack = Path(tmp) / "root", Path(tmp) / "unpacked"
        _run(["dpkg-deb", "-x", str(deb), str(root)])
        cfile = root / "usr/share/doc" / spec.name / "copyright"
        if cfile.is_file():
            parsed = parse_copyright(cfile.read_text(encoding="utf-8", errors="replace"))
        else:
            log.warning("%s: no usr/share/doc/%s/copyright", spec.name, spec.name)
            parsed = parse_copyright("")
        files = collect(root, spec, unpack, skipped)
        if not files:
            log.warning("%s: no music files matched %s", spec.name, list(spec.patterns))
        used = set()
        for local, original in tqdm(files, desc=spec.name, unit="file", leave=False):
            row, skip = _track(spec, parsed, local, original, out, out / spec.name, used,
                               version, use, min_duration)
            if row is not None:
                rows.append(row)
            else:
                skipped.append(skip)
                log.warning("%s: skipped %s: %s", spec.name, original, skip["reason"])
    for s in skipped:
        s["package"] = spec.name
    write_jsonl(out / MANIFEST, rows, mode="a")
    write_jsonl(out / SKIPPED, skipped, mode="a")
    hours = sum(r["duration"] for r in rows) / 3600
    log.info("%s: %d tracks, %.2f h, %d skipped", spec.name, len(rows), hours, len(skipped))
    return {"package": spec.name, "status": "built", "tracks": len(rows),
            "skipped": len(skipped), "hours": hours}


def build_package(package, out, cache="data/debs", deb=None, force=False,
                  min_duration=MIN_DURATION):
    """Build one package into the training corpus at `out`.

    `package` is a name from packages.PACKAGES or a MusicPackage; `deb` a
    local .deb to use instead of the cache / apt-get download. Returns a summary
    dict(package, status, tracks, skipped, hours); status is "built" or
    "already built" (when it is in the manifest and not `force`).
    """
    if not isinstance(package, MusicPackage):
        check_allowed(package)
        package = get_package(package)
    return _build_package(package, out, cache, deb, force, min_duration, USE_TRAINING)


def build_evaluation_package(package, out, cache="data/debs", deb=None, force=False,
                             min_duration=MIN_DURATION):
    """Build one RESERVED package into the evaluation corpus at `out` (rows carry
    "use": "evaluation-only"); otherwise as build_package."""
    if not isinstance(package, MusicPackage):
        check_evaluation(package)
        package = get_evaluation_package(package)
    return _build_package(package, out, cache, deb, force, min_duration, USE_EVALUATION)


def _build_all(out, names, one, cache, force, min_duration):
    out = Path(out)
    _ensure_log(out)
    results = []
    for name in tqdm(names, desc="packages", unit="pkg"):
        try:
            results.append(one(name, out, cache=cache, force=force,
                               min_duration=min_duration))
        except CorpusError as exc:
            log.error("%s: failed: %s", name, exc)
            results.append({"package": name, "status": f"failed: {exc}", "tracks": 0,
                            "skipped": 0, "hours": 0.0})
    return results


def build(out, packages=None, cache="data/debs", force=False, min_duration=MIN_DURATION):
    """Build `packages` (names; default all of PACKAGES) into the training corpus
    `out`; list of summaries. Refuses reserved packages and evaluation directories."""
    names = [p.name for p in PACKAGES] if packages is None else list(packages)
    for name in names:  # refuse before doing anything
        check_allowed(name)
        get_package(name)
    check_out(out, USE_TRAINING)
    return _build_all(out, names, build_package, cache, force, min_duration)


def build_evaluation(out, packages=None, cache="data/debs", force=False,
                     min_duration=MIN_DURATION):
    """Build reserved `packages` (default all of EVALUATION_PACKAGES) into the
    evaluation-only corpus `out`, never a training directory."""
    names = [p.name for p in EVALUATION_PACKAGES] if packages is None else list(packages)
    for name in names:
        check_evaluation(name)
        get_evaluation_package(name)
    check_out(out, USE_EVALUATION)
    return _build_all(out, names, build_evaluation_package, cache, force, min_duration)


def _ensure_log(out):
    path = str((Path(out) / LOG).resolve())
    for h in list(log.handlers):  # one build.log at a time: the corpus being built
        if isinstance(h, logging.FileHandler) and h.baseFilename != path:
            log.removeHandler(h)
            h.close()
    if not any(getattr(h, "baseFilename", None) == path for h in log.handlers):
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.INFO)
