"""File helpers the SDK's writers and readers share: checksums and atomic directory swaps."""

import hashlib
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path


def sha256_file(path, chunk=1 << 20):
    """sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def check_sha256(path, expected, error=ValueError, whose="", consequence=""):
    """Raise `error` naming `path` unless its sha256 is `expected`. `whose` says where the
    expected value comes from ("recorded in metadata.json"), `consequence` what follows."""
    actual = sha256_file(path)
    if actual != expected:
        message = f"{path}: sha256 {actual} does not match {expected}"
        message += f" {whose}" if whose else ""
        message += f"; {consequence}" if consequence else ""
        raise error(message)


def fsync_directory(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def staging_directory(target):
    """A new empty sibling of `target` to write into before `swap_directory`:
    `.<name>.tmp-<pid>-<random>`, so a later save can tell a dead writer's leftovers."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=target.parent))


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(target, complete):
    """Remove what killed writers left beside `target`: staging copies of processes that are
    gone, and set-aside old versions once `complete(target)` says the target is whole again
    (until then the newest old version is what readers recover). Returns the removed paths."""
    target = Path(target)
    removed = []
    pattern = re.compile(re.escape(f".{target.name}.") + r"(tmp|old)-(\d+)-")
    for path in target.parent.glob(f".{target.name}.*"):
        match = pattern.match(path.name)
        if not match:
            continue
        kind, pid = match.group(1), int(match.group(2))
        if pid == os.getpid() or _alive(pid):
            continue  # a writer that may still need it
        if kind == "old" and not complete(target):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def interrupted_backup(target, marker):
    """The newest set-aside old version of `target` (see `swap_directory`) that still holds
    `marker`, or None: what a reader falls back on while `target` is missing."""
    target = Path(target)
    found = []
    for path in target.parent.glob(f".{target.name}.old-*"):
        try:
            found.append((path.stat().st_mtime, path))
        except FileNotFoundError:  # removed by its writer since the listing
            continue
    for _, path in sorted(found, reverse=True):
        if (path / marker).is_file():
            return path
    return None


def swap_directory(staging, target):
    """Move the finished `staging` directory to `target`, replacing what is there.

    The old directory is renamed aside first (`.<name>.old-<pid>-<id>`, which readers may
    recover after a crash between the two renames) and put back if the move fails,
    so neither the old nor the new version is ever lost.
    """
    staging, target = Path(staging), Path(target)
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        os.replace(target, old)
    try:
        os.replace(staging, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)
        raise
    fsync_directory(target.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
