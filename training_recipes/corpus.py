"""Build a corpus of free game music from Debian packages.

    python -m training_recipes.corpus build --out data/corpus [--packages a,b]
                                            [--cache data/debs] [--force]
    python -m training_recipes.corpus list

For each package: `apt-get download` into the cache dir (skipped when the .deb is
already there), `dpkg-deb -x` into a temp dir, read the licence and composer from
/usr/share/doc/<pkg>/copyright, collect the music files matching the package's
patterns (unpacking .pk3 / .zip archives, keeping only audio extensions), copy
them under <out>/<package>/ and append one row per track to <out>/manifest.jsonl:
path (relative to out), package, version, soundtrack, composer, licence,
duration [s], sample_rate, channels, original_path. Files sdk.audio cannot read
go to <out>/skipped.jsonl. The log is <out>/build.log. Packages already in the
manifest are skipped unless force=True, which rebuilds them.

Reserved evaluation packages (corpus_packages.RESERVED) are always refused.
"""

import argparse
import fnmatch
import glob
import json
import logging
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from sdk.audio import AUDIO_EXTENSIONS, AudioError, audio_info
from training_recipes.corpus_packages import (
    EXCLUDED,
    PACKAGES,
    RESERVED,
    MusicPackage,
    get_package,
)

__all__ = ["CorpusError", "build", "build_package", "check_allowed", "download_deb",
           "parse_copyright", "read_manifest"]

MANIFEST = "manifest.jsonl"
SKIPPED = "skipped.jsonl"
LOG = "build.log"
ARCHIVE_EXTENSIONS = (".pk3", ".zip")

log = logging.getLogger("training_recipes.corpus")


class CorpusError(RuntimeError):
    """A package that cannot or must not be built into the corpus."""


def check_allowed(name):
    """Raise CorpusError for reserved evaluation packages and excluded ones."""
    if name in RESERVED:
        raise CorpusError(f"{name} is a reserved evaluation package and must never enter "
                          f"the training corpus (reserved: {', '.join(sorted(RESERVED))})")
    if name in EXCLUDED:
        raise CorpusError(f"{name} is excluded from the corpus: {EXCLUDED[name]}")


# --------------------------------------------------------------------------- jsonl

def _read_jsonl(path):
    path = Path(path)
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _write_jsonl(path, rows, mode="w"):
    with open(path, mode, encoding="utf-8") as f:
        f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def read_manifest(out):
    """The rows of <out>/manifest.jsonl (empty list if there is none)."""
    return _read_jsonl(Path(out) / MANIFEST)


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


def download_deb(name, cache):
    """The .deb of `name` in `cache`, fetched with `apt-get download` unless cached."""
    check_allowed(name)
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


# --------------------------------------------------------------------------- copyright

_ORG_WORDS = re.compile(
    r"\b(inc|ltd|llc|gmbh|team|project|developers?|contributors?|authors?|soft|software|"
    r"studios?|games?|foundation|community|corporation|corp|company|association|"
    r"debian|others|various|see|unknown|the)\b", re.IGNORECASE)
_NAME_WORD = re.compile(r"^[A-ZÀ-Þ][\w'.\-]*$")


def _person(text):
    """A person's name from a copyright holder string, or None."""
    text = re.sub(r"<[^>]*>|\([^)]*@[^)]*\)|\S+@\S+|https?://\S+", " ", text)
    text = re.sub(r"(?i)copyright|\(c\)|©|all rights reserved", " ", text)
    text = re.sub(r"\b\d{4}(\s*[-–,]\s*\d{2,4})*\b", " ", text)
    text = text.strip(" \t,;:.-–")
    text = re.sub(r"\s+", " ", text)
    if not text or _ORG_WORDS.search(text):
        return None
    words = text.split(" ")
    if not 2 <= len(words) <= 4 or not all(_NAME_WORD.match(w) for w in words):
        return None
    return text


def _persons(holders):
    names = []
    for holder in holders:
        for part in re.split(r"\s*(?:;|\band\b|&)\s*", holder):
            name = _person(part)
            if name and name not in names:
                names.append(name)
    return ", ".join(names) or None


def parse_copyright(text):
    """Parse a debian/copyright file.

    Returns dict(stanzas=[{files, copyright, license}], licenses=[...], header={...})
    where `stanzas` are the DEP-5 "Files:" paragraphs (copyright as a list of
    holder lines, license as its first line) and `licenses` every License line.
    """
    paragraphs, current, key = [], {}, None
    for line in text.splitlines():
        if not line.strip():
            if current:
                paragraphs.append(current)
            current, key = {}, None
            continue
        m = re.match(r"^([A-Za-z][\w-]*):\s*(.*)$", line)
        if m and not line[0].isspace():
            key = m.group(1).lower()
            current[key] = [m.group(2).strip()]
        elif key and line[0].isspace():
            current[key].append(line.strip())
    if current:
        paragraphs.append(current)
    header = paragraphs[0] if paragraphs and "files" not in paragraphs[0] else {}
    stanzas = []
    for p in paragraphs:
        if "files" in p:
            stanzas.append({
                "files": " ".join(p["files"]).split(),
                "copyright": [c for c in p.get("copyright", []) if c and c != "."],
                "license": (p.get("license") or [""])[0],
            })
    licenses = [m.group(1).strip() for m in
                re.finditer(r"(?im)^\s*Licen[sc]e:\s*(\S.*)$", text)]
    return {"stanzas": stanzas, "licenses": licenses, "header": header, "text": text}


def _stanza_for(parsed, original_path):
    """The DEP-5 Files stanza covering a file (last match wins, debian/* ignored)."""
    name = PurePosixPath(original_path.split("!")[0]).name
    best = None
    for st in parsed["stanzas"]:
        globs = [g for g in st["files"] if not g.startswith("debian/")]
        if not globs:
            continue
        for g in globs:
            if g == "*" or fnmatch.fnmatch(original_path, g) or fnmatch.fnmatch(name, g) \
                    or fnmatch.fnmatch(original_path, "*/" + g):
                best = st
                break
    return best


def licence_for(parsed, original_path):
    st = _stanza_for(parsed, original_path)
    if st and st["license"]:
        return st["license"]
    seen = []
    for lic in parsed["licenses"]:
        if lic not in seen:
            seen.append(lic)
    if seen:
        return " / ".join(seen)
    m = re.search(r"(?i)\b(GPL[\w.+-]*|LGPL[\w.+-]*|CC[- ]BY[\w .+-]*|public domain|"
                  r"Artistic[\w .+-]*|MIT|BSD[\w-]*)", parsed["text"])
    return f"{m.group(1).strip()} (see copyright)" if m else "unknown (see copyright)"


def _composer_from_filename(original_path):
    stem = PurePosixPath(original_path.split("!")[-1]).stem
    m = re.match(r"^(.+?)\s+-\s+(.+)$", stem.replace("_-_", " - "))
    if m:
        return _person(m.group(1).replace("_", " "))
    return None


def composer_for(parsed, original_path, default=None):
    name = _composer_from_filename(original_path)
    if name:
        return name
    st = _stanza_for(parsed, original_path)
    if st:
        name = _persons(st["copyright"])
    elif not parsed["stanzas"]:  # free-form copyright file
        holders = [m.group(1) for m in
                   re.finditer(r"(?im)^\s*Copyright\s*(?::|\(c\)|©)?\s*(.+)$", parsed["text"])]
        name = _persons(holders)
    if name:
        return name
    contact = parsed["header"].get("upstream-contact") or []
    return _persons(contact) or default


# --------------------------------------------------------------------------- collection

def _audio_ext(path):
    return PurePosixPath(str(path)).suffix.lower() in AUDIO_EXTENSIONS


def _collect(root, spec, unpack_dir, skipped):
    """[(local Path, original_path)] of the music files of `spec` under `root`."""
    found, seen = [], set()
    for pattern in spec.patterns:
        outer, _, inner = pattern.partition("::")
        for path in sorted(root.glob(outer)):
            if not path.is_file():
                continue
            rel = path.relative_to(root).as_posix()
            if path.suffix.lower() in ARCHIVE_EXTENSIONS:
                try:
                    with zipfile.ZipFile(path) as zf:
                        for member in sorted(zf.namelist()):
                            original = f"{rel}!{member}"
                            if member.endswith("/") or original in seen \
                                    or not _audio_ext(member):
                                continue
                            if inner and not fnmatch.fnmatch(member, inner):
                                continue
                            target = unpack_dir / rel / member
                            target.parent.mkdir(parents=True, exist_ok=True)
                            with zf.open(member) as src, open(target, "wb") as dst:
                                shutil.copyfileobj(src, dst)
                            seen.add(original)
                            found.append((target, original))
                except (zipfile.BadZipFile, OSError) as exc:
                    skipped.append({"original_path": rel, "reason": f"bad archive: {exc}"})
                continue
            if inner or rel in seen:
                continue
            if not _audio_ext(path):
                log.info("%s: %s matched but is not an audio file; ignored", spec.name, rel)
                continue
            seen.add(rel)
            found.append((path, rel))
    return found


def _dest_name(original, used):
    parts = PurePosixPath(original.replace("!", "/")).parts
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


# --------------------------------------------------------------------------- build

def _spec(package):
    if isinstance(package, MusicPackage):
        return package
    check_allowed(package)
    return get_package(package)


def _drop_package(out, name):
    for fname in (MANIFEST, SKIPPED):
        rows = _read_jsonl(out / fname)
        if any(r.get("package") == name for r in rows):
            _write_jsonl(out / fname, [r for r in rows if r.get("package") != name])
    shutil.rmtree(out / name, ignore_errors=True)


def build_package(package, out, cache="data/debs", deb=None, force=False):
    """Build one package into the corpus at `out`.

    `package` is a name from corpus_packages.PACKAGES or a MusicPackage; `deb` a
    local .deb to use instead of the cache / apt-get download. Returns a summary
    dict(package, status, tracks, skipped, hours); status is "built" or
    "already built" (when it is in the manifest and not `force`).
    """
    spec = _spec(package)
    check_allowed(spec.name)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _ensure_log(out)
    existing = [r for r in read_manifest(out) if r.get("package") == spec.name]
    if existing and not force:
        log.info("%s: already in the manifest (%d tracks); skipped", spec.name, len(existing))
        return {"package": spec.name, "status": "already built", "tracks": len(existing),
                "skipped": 0, "hours": sum(r["duration"] for r in existing) / 3600}
    deb = Path(deb) if deb is not None else download_deb(spec.name, cache)
    if not deb.is_file():
        raise CorpusError(f"{deb}: .deb not found")
    fields = _run(["dpkg-deb", "-f", str(deb), "Package", "Version"])
    info = dict(line.split(": ", 1) for line in fields.strip().splitlines() if ": " in line)
    check_allowed(info.get("Package", ""))
    if info.get("Package") != spec.name:
        raise CorpusError(f"{deb}: holds package {info.get('Package')!r}, not {spec.name!r}")
    version = info.get("Version", "")
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
        files = _collect(root, spec, unpack, skipped)
        if not files:
            log.warning("%s: no music files matched %s", spec.name, list(spec.patterns))
        dest_dir = out / spec.name
        used = set()
        for local, original in tqdm(files, desc=spec.name, unit="file", leave=False):
            try:
                meta = audio_info(local)
                if meta["frames"] <= 0:
                    raise AudioError(f"{original}: empty audio (0 frames)")
            except AudioError as exc:
                skipped.append({"original_path": original, "reason": str(exc)})
                log.warning("%s: skipped %s: %s", spec.name, original, exc)
                continue
            dest_dir.mkdir(parents=True, exist_ok=True)
            dest = dest_dir / _dest_name(original, used)
            shutil.copyfile(local, dest)
            rows.append({
                "path": dest.relative_to(out).as_posix(),
                "package": spec.name,
                "version": version,
                "soundtrack": spec.soundtrack,
                "composer": composer_for(parsed, original, spec.composer),
                "licence": licence_for(parsed, original),
                "duration": round(meta["duration"], 3),
                "sample_rate": meta["sample_rate"],
                "channels": meta["channels"],
                "original_path": original,
            })
    for s in skipped:
        s["package"] = spec.name
    _write_jsonl(out / MANIFEST, rows, mode="a")
    _write_jsonl(out / SKIPPED, skipped, mode="a")
    hours = sum(r["duration"] for r in rows) / 3600
    log.info("%s: %d tracks, %.2f h, %d skipped", spec.name, len(rows), hours, len(skipped))
    return {"package": spec.name, "status": "built", "tracks": len(rows),
            "skipped": len(skipped), "hours": hours}


def build(out, packages=None, cache="data/debs", force=False):
    """Build `packages` (names; default all of PACKAGES) into `out`; list of summaries."""
    names = [p.name for p in PACKAGES] if packages is None else list(packages)
    for name in names:  # refuse before doing anything
        check_allowed(name)
        get_package(name)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _ensure_log(out)
    results = []
    for name in tqdm(names, desc="packages", unit="pkg"):
        try:
            results.append(build_package(name, out, cache=cache, force=force))
        except CorpusError as exc:
            log.error("%s: failed: %s", name, exc)
            results.append({"package": name, "status": f"failed: {exc}", "tracks": 0,
                            "skipped": 0, "hours": 0.0})
    return results


def _ensure_log(out):
    path = str((Path(out) / LOG).resolve())
    if not any(getattr(h, "baseFilename", None) == path for h in log.handlers):
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.INFO)


# --------------------------------------------------------------------------- CLI

def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training_recipes.corpus",
                                     description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="download and build the corpus")
    b.add_argument("--out", default="data/corpus")
    b.add_argument("--packages", help="comma-separated names (default: all known)")
    b.add_argument("--cache", default="data/debs", help="where .deb files are kept")
    b.add_argument("--force", action="store_true", help="rebuild packages already built")
    sub.add_parser("list", help="print the known packages")
    args = parser.parse_args(argv)

    if args.command == "list":
        for p in PACKAGES:
            size = f"{p.size_mb:.1f} MB" if p.size_mb else "?"
            flag = "verified" if p.verified else "UNVERIFIED"
            print(f"{p.name:27s} {size:>9s}  {flag:10s}  {p.soundtrack}"
                  + (f"  [{p.notes}]" if p.notes else ""))
        for name, why in EXCLUDED.items():
            print(f"{name:27s} {'':>9s}  excluded    {why}")
        print(f"reserved for evaluation (never built): {', '.join(sorted(RESERVED))}")
        return 0

    packages = [s.strip() for s in args.packages.split(",") if s.strip()] \
        if args.packages else None
    try:
        results = build(args.out, packages, cache=args.cache, force=args.force)
    except (CorpusError, KeyError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    for r in results:
        print(f"{r['package']:24s} {r['status']:14.60s} {r['tracks']:4d} tracks "
              f"{r['hours']:6.2f} h  {r['skipped']} skipped")
    rows = read_manifest(args.out)
    print(f"corpus {args.out}: {len(rows)} tracks, "
          f"{sum(r['duration'] for r in rows) / 3600:.2f} h, "
          f"{len({r['package'] for r in rows})} packages")
    return 1 if any(r["status"].startswith("failed") for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
