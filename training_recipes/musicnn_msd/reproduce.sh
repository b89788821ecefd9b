#!/usr/bin/env bash
# Makes the musicnn-msd preset: the authors' MSD_musicnn checkpoint from the PyPI wheel
# musicnn 0.1.0 (sha256-checked), converted bit-exactly. Nothing is trained.
# Run from the repository root: bash training_recipes/musicnn_msd/reproduce.sh
# OUT=sdk/bundled/musicnn-msd rewrites the bundled copy (bit-identical weights).
set -euo pipefail
OUT=${OUT:-runs/musicnn-msd}
make musicnn-wheel   # fetches musicnn-0.1.0-py3-none-any.whl, checks its sha256, unpacks it into data/
KERAS_BACKEND=tensorflow python -m training_recipes.musicnn_msd.convert \
    --checkpoint data/musicnn-wheel/musicnn/MSD_musicnn/ --out "$OUT"
