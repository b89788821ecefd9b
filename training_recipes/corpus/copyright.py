"""Licence and composer from a Debian copyright file, for the corpus builder.

`parse_copyright` reads a debian/copyright file, DEP-5 ("Files:" stanzas) or free
form; `licence_for` / `composer_for` pick the licence and the composer of one
file of the package from it. A corpus package's own `licence` / `composers`
(packages.packages.MusicPackage) take precedence; see build.build_package.
"""

import fnmatch
import re
from pathlib import PurePosixPath

__all__ = ["composer_for", "has_own_stanza", "licence_for", "parse_copyright"]


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


def has_own_stanza(parsed, original_path):
    """Whether a DEP-5 stanza other than the catch-all "Files: *" covers the file."""
    st = _stanza_for(parsed, original_path)
    return st is not None and st["files"] != ["*"]


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


def composer_for(parsed, original_path, default=None, from_copyright=True):
    """The composer of one file: a "Name - Title" file name, else (when
    `from_copyright`) the people holding its copyright, else `default`."""
    name = _composer_from_filename(original_path)
    if name or not from_copyright:
        return name or default
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
