#!/usr/bin/env bash
# Makes the musicnn-mtat preset: the authors' MTT_musicnn checkpoint from the PyPI wheel
# musicnn 0.1.0 (sha256-checked), converted bit-exactly by the musicnn-msd converter (same
# architecture, MagnaTagATune tags). Nothing is trained.
# Run from the repository root: bash training_recipes/musicnn_mtat/reproduce.sh
# OUT=sdk/bundled/musicnn-mtat rewrites the bundled copy (bit-identical weights).
set -euo pipefail
OUT=${OUT:-runs/musicnn-mtat}
make musicnn-wheel   # fetches musicnn-0.1.0-py3-none-any.whl, checks its sha256, unpacks it into data/
KERAS_BACKEND=tensorflow python -m training_recipes.musicnn_msd.convert \
    --checkpoint data/musicnn-wheel/musicnn/MTT_musicnn/ --out "$OUT"
