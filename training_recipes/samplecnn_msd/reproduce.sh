#!/usr/bin/env bash
# Replays every step that made the bundled samplecnn-msd preset, in order, with the flags each
# phase ran with: the corpus as it grew (20 -> 29 -> 61 -> 73 Debian packages), the teachers'
# targets, ten training phases (each a new run from the preset the phase before exported, after
# phase 2), their exports, and the level read-out (stage 3c). The history and the figures of
# every phase: REPORT.md beside this file. About 12 CPU hours of training on 2 cores, plus
# the downloads and the teachers' targets (~1 h).
#
# Run from the repository root: bash training_recipes/samplecnn_msd/reproduce.sh
# It writes under data/ and runs/, and the preset to $PRESET (default runs/samplecnn-msd-preset),
# never over the bundled copy (the original runs exported into sdk/bundled/samplecnn-msd and
# started each phase from there; PRESET=sdk/bundled/samplecnn-msd does the same).
#
# Not bit-exact on another machine: --hours and --eval-minutes are wall-clock budgets, so a
# replay stops and checks at other steps. Where the original runs stopped, and which check each
# phase kept, is noted per phase; `--max-steps N` stops a phase at the same step.
set -euo pipefail

PRESET=${PRESET:-runs/samplecnn-msd-preset}
CORPUS=data/corpus
VALIDATION="Endgame: Singularity,Colobot,OpenClonk,Pushover,Fish Fillets NG"   # held-out soundtracks
TRAIN_TAGS=(--tag-loss logit-mse --tag-weight 0.5)
SCHEDULE=(--lr 5e-4 --warmup-steps 100 --final-lr-fraction 0.02 --ema-decay 0.99)

prepare() { KERAS_BACKEND=tensorflow python -m training_recipes.samplecnn_msd.prepare --corpus "$CORPUS" --out "$1"; }
train() { KERAS_BACKEND=jax python -m training_recipes.samplecnn_msd.train --validation "$VALIDATION" "$@"; }
export_preset() { KERAS_BACKEND=jax python -m training_recipes.samplecnn_msd.export --out "$PRESET" "$@"; }

# --- corpus of phases 1-4: 20 packages, 279 tracks, 13.7 h; the teachers' targets over it
V1="drascula-music,asc-music,hyperrogue-music,planetblupi-music-ogg"
V1="${V1},singularity-music,colobot-common-sounds,pushover-data,freedroidrpg-data"
V1="${V1},supertux-data,supertuxkart-data,fillets-ng-data,hedgewars-data"
V1="${V1},extremetuxracer-data,lincity-ng-data,megaglest-data,openclonk-data,pathological"
V1="${V1},scorched3d-data,xmoto-data,xblast-tnt-musics"
python -m training_recipes.corpus build --out "$CORPUS" --packages "$V1"
prepare runs/samplecnn-msd/cache

# --- phase 1: binary cross-entropy to the teacher's tags (stopped by hand at step 886)
train --cache runs/samplecnn-msd/cache --out runs/samplecnn-msd --max-steps 886 --eval-minutes 12
# --- phase 2: resumed, logit matching (ran to step 1638; the best check, step 1621, exported)
train --cache runs/samplecnn-msd/cache --out runs/samplecnn-msd --resume \
    --tag-loss logit-mse --tag-weight 0.25 --hours 0.7 --eval-minutes 8
# (--whiten-shrinkage 0: the exports of phases 1-8 predate the whitened readout)
export_preset --run runs/samplecnn-msd --whiten-shrinkage 0

# --- phase 3: a new run from that preset (stopped by its budget at step 3472; best check 2458)
train --cache runs/samplecnn-msd/cache --out runs/samplecnn-msd-2 --init-from "$PRESET" \
    "${TRAIN_TAGS[@]}" --lr 3e-4 --hours 1.8 --eval-minutes 10
export_preset --run runs/samplecnn-msd-2 --whiten-shrinkage 0

# --- phase 4: warm-up, cosine decay, moving average of the weights (to step 4258, its last step kept)
train --cache runs/samplecnn-msd/cache --out runs/samplecnn-msd-4 --init-from "$PRESET" \
    "${TRAIN_TAGS[@]}" "${SCHEDULE[@]}" --decay-steps 1700 --max-steps 4258 --hours 1.75 --eval-minutes 10
export_preset --run runs/samplecnn-msd-4 --weights latest --whiten-shrinkage 0

# --- phase 5: the corpus grown to 29 packages (406 tracks, 19.8 h), targets recomputed
V2="${V1},flare-game,freecol,marsshooter-data,naev-data,neverball-common,warmux-data"
V2="${V2},widelands-data,frozen-bubble-data,freeorion-data"
python -m training_recipes.corpus build --out "$CORPUS" --packages "$V2"
prepare runs/samplecnn-msd/cache-v2
train --cache runs/samplecnn-msd/cache-v2 --out runs/samplecnn-msd-5 --init-from "$PRESET" \
    "${TRAIN_TAGS[@]}" "${SCHEDULE[@]}" --decay-steps 1400 --max-steps 5758 --hours 1.45 --eval-minutes 10
export_preset --run runs/samplecnn-msd-5 --weights latest --whiten-shrinkage 0

# --- phase 6: 61 packages (683 tracks, 30.9 h): V2 and the second survey (corpus/packages/more.py)
V3="${V2},0ad-data,blobwars-data,berusky2-data,unknown-horizons,redeclipse-data,trackballs-data"
V3="${V3},wizznic-data,enigma-data,zaz-data,ardentryst,wordwarvi-sound,adonthell-data,btanks-data"
V3="${V3},openarena-088-data,miceamaze,noiz2sa-data,hex-a-hop-data,amoebax-data,powermanga-data"
V3="${V3},mrrescue,torcs-data,pinball-data,plee-the-bear-data,tuxmath-data,torus-trooper-data"
V3="${V3},titanion-data,tumiki-fighters-data,parsec47-data,rrootage-data,gunroar-data,mu-cade-data,a7xpg-data"
python -m training_recipes.corpus build --out "$CORPUS" --packages "$V3"
prepare runs/samplecnn-msd/cache-v3
train --cache runs/samplecnn-msd/cache-v3 --out runs/samplecnn-msd-6 --init-from "$PRESET" \
    "${TRAIN_TAGS[@]}" "${SCHEDULE[@]}" --decay-steps 1300 --max-steps 7158 --hours 1.45 --eval-minutes 10
export_preset --run runs/samplecnn-msd-6 --weights latest --whiten-shrinkage 0

# --- phase 7: 73 packages (843 tracks, 37.6 h): V3 and 12 whose music ships as MIDI or tracker
# modules, rendered by the builder (corpus/packages/rendered.py; needs fluidsynth and openmpt123)
make corpus-tools
V4="${V3},openttd-openmsx,freedoom,pingus-data,tomatoes-data,heroes-sound-tracks,tecnoballz-data"
V4="${V4},biniax2-data,gl-117-data,pachi-data,monsterz-data,dodgindiamond2,ballz-data"
python -m training_recipes.corpus build --out "$CORPUS" --packages "$V4"
prepare runs/samplecnn-msd/cache-v4
train --cache runs/samplecnn-msd/cache-v4 --out runs/samplecnn-msd-7 --init-from "$PRESET" \
    "${TRAIN_TAGS[@]}" "${SCHEDULE[@]}" --decay-steps 1200 --max-steps 8458 --hours 1.3 --eval-minutes 10
export_preset --run runs/samplecnn-msd-7 --weights latest --whiten-shrinkage 0

# --- phase 8: soundtracks drawn by the square root of their length (stopped by its budget at
# step 9594; the best check, step 9106, exported)
train --cache runs/samplecnn-msd/cache-v4 --out runs/samplecnn-msd-8 --init-from "$PRESET" \
    "${TRAIN_TAGS[@]}" "${SCHEDULE[@]}" --decay-steps 1200 --soundtrack-exponent 0.5 --max-steps 9758 \
    --hours 1.3 --eval-minutes 10
export_preset --run runs/samplecnn-msd-8 --weights best --whiten-shrinkage 0

# --- phase 9: soundtracks drawn in proportion to their length (stopped by its budget at step 9957;
# the best check, step 9854, exported with the whitened readout, shrinkage 0.1 by default)
train --cache runs/samplecnn-msd/cache-v4 --out runs/samplecnn-msd-9 --init-from "$PRESET" \
    "${TRAIN_TAGS[@]}" "${SCHEDULE[@]}" --decay-steps 1100 --soundtrack-exponent 1.0 --max-steps 10306 \
    --hours 1.35 --eval-minutes 10
export_preset --run runs/samplecnn-msd-9 --weights best

# --- phase 10: both song teachers' neighbourhoods followed too (to step 10954; the best check,
# step 9996, exported: the weights of the bundled preset)
train --cache runs/samplecnn-msd/cache-v4 --out runs/samplecnn-msd-10 --init-from "$PRESET" \
    "${TRAIN_TAGS[@]}" "${SCHEDULE[@]}" --decay-steps 1000 --soundtrack-exponent 1.0 \
    --relational-teachers artist-siamese-msd,musicnn-msd --relational-weight 1 \
    --max-steps 10954 --hours 1.15 --eval-minutes 8
export_preset --run runs/samplecnn-msd-10 --weights best

# --- stage 3c: the embedding read from all eleven backbone stages, whitened on the training tracks
KERAS_BACKEND=tensorflow python -m training_recipes.samplecnn_msd.levels --preset "$PRESET" \
    --manifest "$CORPUS/manifest.jsonl" --out "$PRESET"

# The model card: python -m sdk.cards (from the preset's metadata.json and results/samplecnn-msd/).
echo "wrote $PRESET"
