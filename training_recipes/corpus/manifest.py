"""Corpus manifests, and the wall between training and evaluation corpora.

A corpus directory holds manifest.jsonl (one row per track), skipped.jsonl and a
USE file naming what the directory is for: "training" (`corpus build`) or
"evaluation-only" (`corpus build-evaluation`, the RESERVED packages). Every row
carries the same "use". Training code reads a corpus with `read_training_manifest`,
which raises if anything evaluation-only or reserved is in it.
"""

import json
from pathlib import Path

from training_recipes.corpus.packages.packages import RESERVED

__all__ = ["MANIFEST", "SKIPPED", "USE_EVALUATION", "USE_FILE", "USE_TRAINING",
           "CorpusError", "check_out", "read_evaluation_manifest", "read_manifest",
           "read_training_manifest"]

MANIFEST = "manifest.jsonl"
SKIPPED = "skipped.jsonl"
USE_FILE = "USE"
USE_TRAINING = "training"
USE_EVALUATION = "evaluation-only"


class CorpusError(RuntimeError):
    """A package or directory that cannot or must not be built into / read as a corpus."""


def read_jsonl(path):
    path = Path(path)
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_jsonl(path, rows, mode="w"):
    with open(path, mode, encoding="utf-8") as f:
        f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def read_manifest(out):
    """The rows of <out>/manifest.jsonl (empty list if there is none), unchecked."""
    return read_jsonl(Path(out) / MANIFEST)


def _declared_use(out):
    path = Path(out) / USE_FILE
    return path.read_text(encoding="utf-8").strip() if path.is_file() else None


def _wrong_rows(rows, use):
    if use == USE_TRAINING:
        return [r for r in rows
                if r.get("use") == USE_EVALUATION or r.get("package") in RESERVED]
    return [r for r in rows if r.get("use") != USE_EVALUATION]


def check_out(out, use):
    """Raise CorpusError unless `out` is empty or already a `use` corpus; then mark it."""
    out = Path(out)
    declared = _declared_use(out)
    wrong = _wrong_rows(read_manifest(out), use)
    if declared is not None and declared != use:
        raise CorpusError(f"{out} is a {declared} corpus (its {USE_FILE} file); refusing to "
                          f"build a {use} corpus into it: training and evaluation corpora "
                          "live in separate directories")
    if wrong:
        r = wrong[0]
        raise CorpusError(f"{out} holds {len(wrong)} manifest rows that do not belong in a "
                          f"{use} corpus (e.g. {r.get('package')}, use={r.get('use')}); "
                          "refusing to build into it")
    out.mkdir(parents=True, exist_ok=True)
    if declared is None:
        (out / USE_FILE).write_text(use + "\n", encoding="utf-8")


def read_training_manifest(out):
    """The manifest rows of a training corpus.

    Raises CorpusError if the directory is marked evaluation-only or any row is
    evaluation-only or from a RESERVED package, so held-out soundtracks can never
    reach training; FileNotFoundError if there is no manifest.
    """
    out = Path(out)
    if not (out / MANIFEST).is_file():
        raise FileNotFoundError(f"{out / MANIFEST}: no corpus manifest (run `python -m "
                                "training_recipes.corpus build`)")
    if _declared_use(out) == USE_EVALUATION:
        raise CorpusError(f"{out} is an evaluation-only corpus; it must not be used "
                          "for training")
    rows = read_manifest(out)
    wrong = _wrong_rows(rows, USE_TRAINING)
    if wrong:
        names = sorted({r.get("package", "?") for r in wrong})
        raise CorpusError(f"{out}: {len(wrong)} evaluation-only / reserved rows "
                          f"({', '.join(names)}); they must not be used for training")
    return rows


def read_evaluation_manifest(out):
    """The manifest rows of an evaluation corpus; CorpusError if any row is not
    evaluation-only."""
    out = Path(out)
    rows = read_manifest(out)
    if not rows:
        raise FileNotFoundError(f"{out / MANIFEST}: no evaluation manifest (run `python "
                                "-m training_recipes.corpus build-evaluation`)")
    wrong = _wrong_rows(rows, USE_EVALUATION)
    if wrong:
        raise CorpusError(f"{out}: {len(wrong)} rows are not evaluation-only "
                          f"(e.g. {wrong[0].get('path')})")
    return rows
