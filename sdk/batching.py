"""Many files through one graph: the segments of consecutive files share batches, and a thread
decodes and cuts the next files while the graph runs (decoding overlaps compute).

Embedding a folder file by file leaves the last batch of every song part-empty and the CPU idle
while a file is decoded; here every batch but the last is full and the graph never waits for a
file that the reader thread could have prepared.
"""

import queue
import threading

import numpy as np

from sdk.audio import AudioError
from sdk.inference import run_padded

_DONE = object()


def run_files(compiled, files, windows_of, batch_size, prefetch=8):
    """Yield (index, outputs) for each of `files` in order: outputs are the graph's per-segment
    outputs of that file (a dict of arrays, or an array), or the AudioError that made it
    unreadable. `windows_of(file)` yields (n, window) batches of a file's segment windows."""
    tasks = queue.Queue(maxsize=prefetch)
    stop = threading.Event()

    def put(item):
        """False once the caller has stopped listening (the reader then ends)."""
        while not stop.is_set():
            try:
                tasks.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def reader():
        try:
            for index, file in enumerate(files):
                try:
                    for windows in windows_of(file):
                        if not put((index, np.asarray(windows, np.float32))):
                            return
                    put((index, None))
                except AudioError as error:
                    put((index, error))
        except BaseException as error:  # a bug, not bad audio: raised in the caller's thread
            put((None, error))
        put(_DONE)

    thread = threading.Thread(target=reader, name="sdk-audio-reader", daemon=True)
    thread.start()
    pending, done, outputs, failed, emitted = [], set(), {}, {}, 0
    try:
        while True:
            item = tasks.get()
            finished = item is _DONE
            if not finished:
                index, payload = item
                if index is None:
                    raise payload
                if isinstance(payload, AudioError):
                    failed[index] = payload
                    pending = [(i, rows) for i, rows in pending if i != index]
                    outputs.pop(index, None)
                elif payload is None:
                    done.add(index)
                else:
                    pending.append((index, payload))
            while sum(len(rows) for _, rows in pending) >= batch_size or (finished and pending):
                pending = _run_batch(compiled, pending, batch_size, outputs)
            while emitted in failed or (emitted in done and not any(i == emitted for i, _ in pending)):
                parts = outputs.pop(emitted, [])
                yield emitted, failed.pop(emitted) if emitted in failed else (
                    _join(parts) if parts else AudioError(f"{files[emitted]}: no audio segments"))
                done.discard(emitted)
                emitted += 1
            if finished:
                return
    finally:
        stop.set()


def _run_batch(compiled, pending, batch_size, outputs):
    """Run up to batch_size pending rows (in arrival order); file their outputs by index;
    return what is left pending."""
    rows, owners, left, room = [], [], [], batch_size
    for index, block in pending:
        take, rest = block[:room], block[room:]
        if len(take):
            rows.append(take)
            owners.append((index, len(take)))
            room -= len(take)
        if len(rest):
            left.append((index, rest))
    out = run_padded(compiled, np.concatenate(rows), batch_size)
    start = 0
    for index, count in owners:
        part = ({k: v[start:start + count] for k, v in out.items()} if isinstance(out, dict)
                else out[start:start + count])
        outputs.setdefault(index, []).append(part)
        start += count
    return left


def _join(parts):
    if isinstance(parts[0], dict):
        return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    return np.concatenate(parts)


class SkippedFilesWarning(UserWarning):
    """Some files of a folder or list could not be read; the message names each and why."""


class EmbeddedFiles:
    """What embed_many returns: `paths` and their `vectors` (row i is paths[i]), and the
    `skipped` files with the reason each could not be read."""

    def __init__(self, paths, vectors, skipped):
        self.paths, self.vectors, self.skipped = list(paths), vectors, list(skipped)

    def summary(self):
        lines = [f"{len(self.skipped)} of {len(self.paths) + len(self.skipped)} files skipped:"]
        return "\n".join(lines + [f"  {reason if path in reason else path + ': ' + reason}"
                                   for path, reason in self.skipped])
