"""How well each song teacher, and the two together, group a cache's tracks by soundtrack.

    python -m research.samplecnn_msd.teacher_songs --cache runs/samplecnn-msd/cache-v4 \
        --validation "Soundtrack A,Soundtrack B" --out results/teacher-songs.json

Neither teacher saw this music, so their soundtrack MAP (thesis Eq. 4.3-4.4) on the training
tracks is as fair a measure as on the held-out ones, over many more soundtracks: it says which
teacher's neighbourhoods the student's embedding should follow (`train --relational-teachers`).
"Both, weight w" ranks by w * cos(artist-siamese) + (1 - w) * cos(musicnn); "centred" subtracts
the split's mean vector first. Vectors are the cache's whole-track song vectors (`prepare`).
"""

import argparse
import json
from pathlib import Path

import numpy as np

from training_recipes.evaluation.metrics import mean_average_precision
from training_recipes.evaluation.metrics import unit_rows
from training_recipes.samplecnn_msd.cache_data import SONG_TEACHERS, load_cache, song_targets
from training_recipes.samplecnn_msd.train import add_data_arguments, comma_list, split_tracks

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def teacher_maps(artist, musicnn, soundtracks, centred=False):
    """{"artist-siamese-msd weight w": MAP} over WEIGHTS for one split's song vectors."""
    if centred:
        artist, musicnn = artist - artist.mean(0), musicnn - musicnn.mean(0)
    out = {}
    for w in WEIGHTS:
        # unit rows scaled by sqrt(w) and sqrt(1 - w): their cosines mix as w : 1 - w
        both = np.hstack([np.sqrt(w) * unit_rows(artist), np.sqrt(1.0 - w) * unit_rows(musicnn)])
        out[f"artist-siamese-msd weight {w}"] = float(mean_average_precision(both, soundtracks))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m research.samplecnn_msd.teacher_songs",
                                     description=__doc__.split("\n\n")[0])
    add_data_arguments(parser)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    cache = load_cache(args.cache)
    artist, musicnn = (song_targets(cache, teacher) for teacher in SONG_TEACHERS)
    report = {"cache": str(args.cache), "weights": "w * cos(artist-siamese-msd) + (1 - w) * cos(musicnn-msd)"}
    for split, ids in zip(("training", "validation"), split_tracks(cache, comma_list(args.validation), args.corpus)):
        soundtracks = [cache["tracks"][i]["soundtrack"] for i in ids]
        report[split] = {"tracks": len(ids), "soundtracks": len(set(soundtracks)),
                         "map": teacher_maps(artist[ids], musicnn[ids], soundtracks),
                         "map_centred": teacher_maps(artist[ids], musicnn[ids], soundtracks, centred=True)}
        print(split, {k.split()[-1]: round(v, 3) for k, v in report[split]["map"].items()})
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
