"""A `Catalog`'s files: atomic save (temp dir + fsync + rename swap) and checked load.

    catalog.json     format_version, embedding_size, subspaces, model, fields, count
                     and, for a catalog with an approximate (or an explicitly chosen) index,
                     "index": {kind, built, params, count, vectors_crc32, file_crc32}
    embeddings.npy   float32 rows, L2-normalised per sub-space
    items.jsonl      one metadata object per row, with its "id"
    index.faiss      the FAISS index (when faiss-cpu is installed)

A saved approximate index is used only when its record matches what was loaded (the crc32 of
the vectors and of the file, the count); otherwise it is rebuilt at the first search, never
used stale. Catalogs of `MMAP_FROM` rows or more are read memory-mapped: the exact re-rank
reads only the candidate rows, so 10^7 vectors need not fit in RAM as float32 (editing such a
catalog, `add` or `remove`, copies its rows into RAM).
"""

import io
import json
import os
import shutil
import warnings
import zlib
from pathlib import Path

import numpy as np

from sdk import ann
from sdk.catalog_sources import read_items
from sdk.files import clean_stale, fsync_directory, interrupted_backup, staging_directory, swap_directory

FORMAT_VERSION = 1
EMBEDDINGS_FILE, ITEMS_FILE, CATALOG_FILE, FAISS_FILE = (
    "embeddings.npy", "items.jsonl", "catalog.json", "index.faiss")
MMAP_FROM = 2_000_000  # rows: embeddings.npy memory-mapped (read-only) from this many


def json_default(value):
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _inode(path):
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


# ----- save ---------------------------------------------------------------------------------
def save(catalog, directory):
    """Write to a temp dir beside `directory`, fsync, then swap it in, so an interrupted save
    leaves either the old or the new catalog, never neither."""
    target = Path(directory).absolute()
    if target.exists() and not (target / CATALOG_FILE).is_file() and (
            not target.is_dir() or any(target.iterdir())):
        raise ValueError(f"{target}: exists and is not a catalog; refusing to replace it")
    tmp = staging_directory(target)
    try:
        os.chmod(tmp, 0o755)
        _write(catalog, tmp)
        swap_directory(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone already after a good swap
    # What saves killed before this one left beside it (their processes are gone).
    clean_stale(target, lambda t: (t / CATALOG_FILE).is_file())


def _write(catalog, tmp):
    with open(tmp / EMBEDDINGS_FILE, "wb") as f:
        np.save(f, catalog._vectors)
    (tmp / ITEMS_FILE).write_text("".join(
        json.dumps(item, ensure_ascii=False, default=json_default) + "\n"
        for item in catalog._items), encoding="utf-8")
    meta = {"format_version": FORMAT_VERSION, "embedding_size": catalog.embedding_size,
            "subspaces": {n: list(s) for n, s in catalog._spans.items()},
            "model": catalog.model, "model_sha256": catalog.model_sha256, "model_source": catalog.model_source,
            "fields": catalog.fields, "count": len(catalog)}
    record = {"kind": catalog.index} if catalog.index != "auto" else {}
    if ann.faiss is not None and len(catalog):
        index, built = catalog._faiss_index(), catalog._index_kind
        data = ann.to_bytes(index)
        (tmp / FAISS_FILE).write_bytes(data)
        if built in ann.APPROXIMATE:
            record.update(kind=catalog.index, built=built, params=catalog._index_params, count=len(catalog),
                          vectors_crc32=ann.checksum(catalog._vectors), file_crc32=zlib.crc32(data))
    if record:
        meta["index"] = record
    (tmp / CATALOG_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    for path in [*tmp.iterdir(), tmp]:  # data on disk before the rename makes it live
        fsync_directory(path)


# ----- load ---------------------------------------------------------------------------------
def load(cls, directory, backend="auto"):
    """Read a saved catalog, checking every file; ValueError names the problem."""
    directory = Path(directory)
    for attempt in range(5):
        # A save killed between its two renames leaves the previous catalog intact aside.
        source = directory if directory.is_dir() else interrupted_backup(directory, CATALOG_FILE)
        if source is None:
            raise ValueError(f"{directory}: catalog directory not found")
        inode = _inode(source)
        try:
            catalog = cls._load_snapshot(source, backend)
        except ValueError:
            # A save swapped the directory (or removed the old one) while it was read:
            # read again what is there now.
            if attempt < 4 and (_inode(source) != inode or (source != directory and directory.is_dir())):
                continue
            raise
        if source != directory:
            warnings.warn(f"{directory} missing; loading {source.name} left by an "
                          "interrupted save (save again to put it in place)")
        return catalog


class _Snapshot:
    """The files of one catalog directory, every one opened through the same directory handle:
    a save that swaps a new directory in meanwhile cannot mix two versions (the handle keeps
    the old one; if it was deleted, its files read as missing). embeddings.npy stays an open
    handle (`vectors_file`), to be read or memory-mapped."""

    def __init__(self, directory):
        self.data, self.vectors_file = {}, None
        try:
            self._fd = os.open(directory, os.O_RDONLY)
        except FileNotFoundError:  # removed since it was chosen: its files are missing
            self._fd = None

    def _open(self, name):
        if self._fd is None:
            raise FileNotFoundError(name)
        return open(name, "rb", opener=lambda path, flags: os.open(path, flags, dir_fd=self._fd))

    def read(self, name):
        try:
            with self._open(name) as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def open(self, name):
        try:
            return self._open(name)
        except FileNotFoundError:
            return None

    def close(self):
        if self._fd is not None:
            os.close(self._fd)


def load_snapshot(cls, directory, backend):
    snap = _Snapshot(directory)
    try:
        return _load(cls, directory, backend, snap)
    finally:
        snap.close()


def _load(cls, directory, backend, snap):
    meta_path = directory / CATALOG_FILE
    raw = snap.read(CATALOG_FILE)
    if raw is None:
        raise ValueError(f"{meta_path}: missing; not a catalog directory")
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{meta_path}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
        version = meta.get("format_version") if isinstance(meta, dict) else None
        raise ValueError(f"{meta_path}: format_version {version!r} is not supported "
                         f"(this library reads {FORMAT_VERSION})")
    missing = [k for k in ("embedding_size", "subspaces", "count") if k not in meta]
    if missing:
        raise ValueError(f"{meta_path}: missing {missing}")
    record = meta.get("index") or {}
    if not isinstance(record, dict):
        raise ValueError(f"{meta_path}: \"index\" must be an object, not {record!r}")
    try:
        catalog = cls(meta["embedding_size"], meta["subspaces"], meta.get("model"), backend,
                      meta.get("model_sha256"), meta.get("fields"), meta.get("model_source"),
                      index=record.get("kind", "auto"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{meta_path}: {exc}") from None
    handle = snap.open(EMBEDDINGS_FILE)
    try:
        vectors, crc = _read_vectors(catalog, directory / EMBEDDINGS_FILE, meta["count"], handle)
    finally:
        if handle is not None:
            handle.close()
    ids, items = read_items(directory / ITEMS_FILE, len(vectors), snap.read(ITEMS_FILE))
    catalog._vectors, catalog._ids, catalog._items = vectors, ids, items
    catalog._rows = {id: r for r, id in enumerate(ids)}
    if record.get("built") in ann.APPROXIMATE and catalog.backend == "faiss":
        _adopt_index(catalog, record, crc, snap.read(FAISS_FILE), directory / FAISS_FILE)
    # A flat index.faiss is written for other tools; rebuilding it from the checked
    # embeddings costs about what reading it does and cannot be stale.
    return catalog


def _adopt_index(catalog, record, crc, data, path):
    """Use the saved approximate index if it is the one built from these vectors; else warn
    and leave it to be rebuilt at the first search."""
    count, kind = len(catalog), record["built"]
    if data is None:
        problem = "missing"
    elif record.get("vectors_crc32") != crc or record.get("count") != count:
        problem = "built from other vectors than embeddings.npy holds (stale)"
    elif record.get("file_crc32") != zlib.crc32(data):
        problem = "does not match the crc32 recorded in catalog.json"
    else:
        index, problem = ann.from_bytes(data, kind, catalog.embedding_size, count)
        if problem is None:
            catalog._set_index(index, kind, record.get("params") or ann.params(kind, catalog.embedding_size, count))
            return
    warnings.warn(f"{path}: {problem}; the {kind} index will be rebuilt at the first search")


def _read_vectors(catalog, path, count, handle):
    """(rows, crc32 of the rows as float32) of embeddings.npy, checked: shape, count, finite
    and unit per sub-space. From MMAP_FROM rows a float32 file is memory-mapped and checked
    in chunks read through `handle`, so it is never all in RAM at once."""
    try:
        if handle is None:
            raise FileNotFoundError
        version = np.lib.format.read_magic(handle)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
            np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(handle)
        offset = handle.tell()
    except FileNotFoundError:
        raise ValueError(f"{path}: missing") from None
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"{path}: not a readable .npy array ({exc})") from None
    if len(shape) != 2 or shape[1] != catalog.embedding_size or dtype.kind != "f":
        raise ValueError(f"{path}: {dtype} array of shape {shape} does not "
                         f"match embedding_size {catalog.embedding_size} in {CATALOG_FILE}")
    if shape[0] != count:
        raise ValueError(f"{path}: {shape[0]} rows but {CATALOG_FILE} says count {count}")
    size = os.fstat(handle.fileno()).st_size
    if size < offset + shape[0] * shape[1] * dtype.itemsize:
        raise ValueError(f"{path}: not a readable .npy array (truncated: {size} bytes)")
    mapped = count >= MMAP_FROM and dtype == np.dtype("<f4") and not fortran
    if mapped:
        vectors = np.memmap(handle, np.float32, "r", offset, shape)
        chunks = _file_chunks(handle, offset, shape)
    else:
        handle.seek(0)
        try:
            vectors = np.load(io.BytesIO(handle.read()), allow_pickle=False).astype(np.float32)
        except (ValueError, OSError) as exc:
            raise ValueError(f"{path}: not a readable .npy array ({exc})") from None
        chunks = ann._chunks(vectors)
    crc = 0
    for chunk in chunks:
        norms = np.stack([np.linalg.norm(chunk[:, a:b], axis=1) for a, b in catalog._spans.values()])
        if not np.all(np.isfinite(chunk)) or not np.all((np.abs(norms - 1) < 1e-3) | (norms < 1e-6)):
            raise ValueError(f"{path}: rows are not finite and L2-normalised per sub-space")
        crc = zlib.crc32(chunk.data, crc)
    return vectors, crc


def _file_chunks(handle, offset, shape):
    """float32 row blocks read with plain reads (page cache, not this process's RSS)."""
    handle.seek(offset)
    for start in range(0, shape[0], ann._CHUNK):
        rows = min(ann._CHUNK, shape[0] - start)
        block = np.empty((rows, shape[1]), np.float32)
        if handle.readinto(memoryview(block).cast("B")) != block.nbytes:
            raise ValueError(f"{EMBEDDINGS_FILE}: truncated")
        yield block
