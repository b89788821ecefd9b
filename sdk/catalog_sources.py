"""Reading a catalog's sources and item files: a folder of audio, a list of files, or a
.csv / .jsonl manifest; items.jsonl. Every problem is a ValueError naming the file and row."""

import csv
import json
import os
from pathlib import Path

from sdk.audio import list_audio_files

EMBEDDINGS_FILE = "embeddings.npy"


def read_items(path, count, data=None):
    """(ids, items) of items.jsonl at `path` (or its bytes `data`), checked against `count` rows."""
    try:
        if data is None:
            raise FileNotFoundError
        lines = data.decode("utf-8").splitlines()
    except FileNotFoundError:
        raise ValueError(f"{path}: missing") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc})") from None
    while lines and not lines[-1].strip():
        lines.pop()
    ids, items, seen = [], [], set()
    for number, line in enumerate(lines, 1):
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"{path} line {number}: not valid JSON ({exc})") from None
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise ValueError(f"{path} line {number}: expected an object with a string \"id\"")
        if item["id"] in seen:
            raise ValueError(f"{path} line {number}: duplicate id {item['id']!r}")
        seen.add(item["id"])
        ids.append(item["id"])
        items.append(item)
    if len(items) != count:
        raise ValueError(f"{path}: {len(items)} items but {EMBEDDINGS_FILE} has {count} rows")
    return ids, items


def read_source(source):
    """[(id, absolute path, metadata)] from a folder of audio, a list of files, or a manifest."""
    if isinstance(source, (list, tuple)):
        files = [Path(os.path.abspath(f)) for f in list_audio_files(source)]
        names = [f.name for f in files]
        # File names are the ids unless two files share one; then full paths are.
        return [(f.name if names.count(f.name) == 1 else f.as_posix(), f, {}) for f in files]
    source = Path(source)
    if source.is_dir():
        # "folder": the sub-folder a file sits in (e.g. its album or label), a searchable field.
        return [(f.relative_to(source).as_posix(), Path(os.path.abspath(f)),
                 {"folder": f.parent.relative_to(source).as_posix()} if f.parent != source else {})
                for f in list_audio_files(source)]
    if source.suffix.lower() not in (".csv", ".jsonl"):
        raise ValueError(f"{source}: not a folder of audio or a .csv / .jsonl manifest")
    try:
        with open(source, encoding="utf-8", newline="") as f:
            if source.suffix.lower() == ".csv":
                rows = [{k: v for k, v in row.items() if k is not None}
                        for row in csv.DictReader(f)]
            else:
                rows = [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError) as exc:
        raise ValueError(f"{source}: cannot read manifest ({exc})") from None
    entries, seen = [], set()
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict) or not row.get("path"):
            raise ValueError(f"{source} row {number}: no \"path\" value")
        path = Path(row["path"])
        id = str(row.get("id") or path.as_posix())
        if id in seen:
            raise ValueError(f"{source} row {number}: duplicate id {id!r}")
        seen.add(id)
        full = Path(os.path.abspath(path if path.is_absolute() else source.parent / path))
        entries.append((id, full, {k: v for k, v in row.items() if k not in ("id", "path")}))
    return entries
