"""File helpers the SDK's writers and readers share: checksums and atomic directory swaps."""

import hashlib
import os
import shutil
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


def swap_directory(staging, target):
    """Move the finished `staging` directory to `target`, replacing what is there.

    The old directory is renamed aside first (`.<name>.old-<id>`, which readers may
    recover after a crash between the two renames) and put back if the move fails,
    so neither the old nor the new version is ever lost.
    """
    staging, target = Path(staging), Path(target)
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
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
