"""Rebuild tests/data/regression/bundled_presets.npz: every bundled preset's outputs on the
test excerpt, through the public SDK (per-segment and song embeddings, every tag's score).

    KERAS_BACKEND=tensorflow HF_HUB_OFFLINE=1 python tests/data/make_regression.py

The stored file was made by the SDK before presets became one Keras graph (commit after
05c43cf); the regression test holds today's outputs to it (cosine >= 0.9999) on every
backend. Rebuild it only when a preset's weights change on purpose; `--add PRESET` stores a new preset's
outputs beside the others (disentangled-msd was added so, when it was made).
"""

from pathlib import Path

import numpy as np

import sdk

HERE = Path(__file__).resolve().parent
CLIP = HERE / "drascula_track2_30s-42s.ogg"
OUT = HERE / "regression" / "bundled_presets.npz"


def reference_outputs(preset_id):
    model = sdk.load(preset_id)
    out = {f"{preset_id}/segments": model.embed(CLIP, per_segment=True), f"{preset_id}/embedding": model.embed(CLIP)}
    if model.tags:
        scores = dict(model.tag(CLIP, top_k=None))
        out[f"{preset_id}/tags"] = np.array([scores[name] for name in model.tags], np.float32)
    return out


if __name__ == "__main__":
    import sys

    # `--add PRESET ...`: add a new preset's outputs and keep every other stored array as it is.
    added = sys.argv[sys.argv.index("--add") + 1:] if "--add" in sys.argv else None
    arrays = dict(np.load(OUT)) if added else {}
    for preset_id in added or sdk.list_presets():
        arrays.update(reference_outputs(preset_id))
    OUT.parent.mkdir(exist_ok=True)
    np.savez(OUT, **arrays)
    print(f"{OUT}: {len(arrays)} arrays")
