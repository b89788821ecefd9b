#!/usr/bin/env bash
# Makes the bundled disentangled-msd preset from the corpus with the settings it was made with:
# the teachers' targets and the frozen backbone's features per 6 s window (28 min on 2 cores),
# the head (a few minutes), the export, and the evaluation its card reports.
#
# Run from the repository root: bash training_recipes/disentangled_msd/reproduce.sh
# It writes under runs/ and the preset to $PRESET (default runs/disentangled-msd/preset), never
# over the bundled copy. The corpus is samplecnn-msd's (73 Debian packages): build it first
# with `python -m training_recipes.corpus build --out data/corpus` if data/corpus is missing.
set -euo pipefail

PRESET=${PRESET:-runs/disentangled-msd/preset}
CORPUS=${CORPUS:-data/corpus}
VALIDATION="Endgame: Singularity,Colobot,OpenClonk,Pushover,Fish Fillets NG"   # held out of training
export KERAS_BACKEND=${KERAS_BACKEND:-jax}

python -m training_recipes.disentangled_msd.prepare --corpus "$CORPUS" --out runs/disentangled-msd/cache --per-soundtrack 10
python -m training_recipes.disentangled_msd.train --cache runs/disentangled-msd/cache \
    --out runs/disentangled-msd/run --validation "$VALIDATION" --notion-weight 2 --tempo-weight 0
python -m training_recipes.disentangled_msd.export --run runs/disentangled-msd/run --out "$PRESET"

# The card's figures: the validation soundtracks, every model in one run.
python -m training_recipes.evaluation --manifest "$CORPUS/manifest.jsonl" --soundtracks "$VALIDATION" \
    --presets "$PRESET,samplecnn-msd,artist-siamese-msd,musicnn-msd" --baseline mfcc --teacher musicnn-msd \
    --notions training_recipes/evaluation/notions_msd50.json --tempo --clip-seconds 30 \
    --cache-dir runs/eval-cache --out results/disentangled-msd/evaluation-validation.json
echo "wrote $PRESET"
