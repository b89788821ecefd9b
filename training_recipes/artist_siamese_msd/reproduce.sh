#!/usr/bin/env bash
# Makes the artist-siamese-msd preset: the authors' Siamese checkpoint of thesis section 4.1
# (Park, Lee et al., ISMIR 2018, MIT licence), fetched from their repository at a fixed commit,
# checked against its sha256 and converted bit-exactly. Nothing is trained.
# Run from the repository root: bash training_recipes/artist_siamese_msd/reproduce.sh
# OUT=sdk/bundled/artist-siamese-msd rewrites the bundled copy (bit-identical weights).
set -euo pipefail
OUT=${OUT:-runs/artist-siamese-msd}
H5=data/weights/model_siamese_10000.h5
COMMIT=68841d227fef71ac76b44e704007e50452042a38
mkdir -p "$(dirname "$H5")"
[ -f "$H5" ] || curl -fL -o "$H5" \
    "https://github.com/jongpillee/ismir2018-artist/raw/$COMMIT/models/model_siamese_10000_4_0.40/model_siamese_10000.h5"
python -m training_recipes.artist_siamese_msd.convert --h5 "$H5" --out "$OUT"   # refuses any other file
