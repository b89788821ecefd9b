"""Would samplecnn-msd's readout (readout.py: centring + PCA whitening) lift the other presets too?

    python -m research.samplecnn_msd.readout_peers \
        --evaluation results/samplecnn-msd-validation.json,results/samplecnn-msd-evaluation.json \
        --run-config results/samplecnn-msd-run-phase9/config.json \
        [--presets artist-siamese-msd,musicnn-msd] [--shrinkage 0.03,0.1,0.3] \
        --out results/samplecnn-msd-readout-peers.json

For each preset, fits the same readout (each shrinkage given) on its song vectors of the run's
training tracks (30 s from each track's middle, from the run's cache audio, as export
does), applies it to the song vectors the evaluation CLI cached for each report, and
writes MAP, k-NN and linear accuracy without and with it. By default: every preset of the
reports whose metadata has no readout of its own. Nothing is fitted on the evaluated tracks.
Given an unwhitened export of a run (`export --whiten-shrinkage 0`) and a report on the
validation soundtracks, the same command compares shrinkages: how export's was chosen.
"""

import argparse
import json
import sys

import numpy as np

from training_recipes.evaluation.cli import EvaluationError, load_preset, read_manifest, select_soundtracks
from training_recipes.evaluation.cache import VectorCache, audio_keys
from training_recipes.evaluation.metrics import retrieval_metrics
from training_recipes.samplecnn_msd import readout


def with_and_without_readout(vectors, labels, training_vectors, shrinkages=(readout.SHRINKAGE,), folds=5, seed=0):
    """Retrieval figures of `vectors` as they are and, per shrinkage, after a readout fitted
    on `training_vectors`."""
    with_readout = {}
    for shrinkage in shrinkages:
        mean, matrix = readout.whitening(training_vectors, shrinkage)
        with_readout[f"{shrinkage:g}"] = retrieval_metrics((np.asarray(vectors) - mean) @ matrix, labels, folds, seed)
    return {"as_published": retrieval_metrics(vectors, labels, folds, seed), "with_readout": with_readout}


def cached_vectors(report, name, tracks):
    """The song vectors the evaluation CLI saved for `name` when it wrote `report`."""
    settings = report["settings"]
    cache = VectorCache(settings["cache_dir"], name, report["results"][name]["fingerprint"])
    size = report["results"][name]["embedding_size"]
    vectors = []
    for track, key in zip(tracks, audio_keys(tracks, settings["cache_dir"])):
        hit = cache.load(key, size)
        if hit is None:
            raise EvaluationError(f"{track.path}: no cached vector of {name} in {cache.directory}; "
                                  "run the evaluation CLI again with the same --cache-dir")
        vectors.append(hit[0])
    return np.stack(vectors)


def evaluated_tracks(report):
    """(tracks, soundtrack labels) a report of the evaluation CLI scored."""
    all_tracks, _ = read_manifest(report["manifest"]["path"])
    tracks = select_soundtracks(all_tracks, [",".join(report["soundtracks"])])
    return tracks, np.array([t.soundtrack for t in tracks])


def _read_json(path, what):
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except OSError as error:
        raise EvaluationError(f"{path}: cannot read the {what} ({error.strerror})") from None
    except ValueError as error:
        raise EvaluationError(f"{path}: not a JSON {what} ({error})") from None


def compute(args):
    from training_recipes.samplecnn_msd.cache_data import training_tracks

    paths = [p for p in args.evaluation.split(",") if p]
    reports = {p: _read_json(p, "evaluation report") for p in paths}
    config = _read_json(args.run_config, "run config")
    try:
        cache, training = training_tracks(config)
    except (KeyError, OSError) as error:
        raise EvaluationError(f"{args.run_config}: its training cache cannot be read ({error})") from None
    presets = [n for n in args.presets.split(",") if n] if args.presets else list(dict.fromkeys(
        n for r in reports.values() for n, row in r["results"].items() if row.get("kind") == "preset"
        and "readout" not in load_preset(n).metadata))
    for path, report in reports.items():  # before any audio work
        missing = [n for n in presets if n not in report["results"]]
        if missing:
            raise EvaluationError(f"{path}: has no {', '.join(map(repr, missing))}; it scored "
                                  f"{', '.join(report['results'])}")
    evaluated = {p: evaluated_tracks(r) for p, r in reports.items()}
    out = {"command": [sys.executable, "-m", __spec__.name, *sys.argv[1:]], "training_tracks": len(training),
           "shrinkages": args.shrinkage, "clip_seconds": readout.CLIP_SECONDS,
           "reports": {p: {"evaluated_tracks": len(evaluated[p][0]), "results": {}} for p in reports}}
    for name in presets:  # each preset's training vectors once, for every report
        training_vectors = readout.training_song_vectors(load_preset(name).directory, cache, training)
        for path, report in reports.items():
            tracks, labels = evaluated[path]
            figures = with_and_without_readout(cached_vectors(report, name, tracks), labels, training_vectors,
                                               args.shrinkage, report["settings"]["folds"], report["settings"]["seed"])
            out["reports"][path]["results"][name] = figures
            print(f"{path}: {name}: MAP {figures['as_published']['map']:.3f} as published; with the readout "
                  + ", ".join(f"{s} -> {f['map']:.3f}" for s, f in figures["with_readout"].items()))
    return out


def _shrinkages(text):
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text!r}") from None
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"shrinkages must be positive: {text!r}")
    return values


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m research.samplecnn_msd.readout_peers",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--evaluation", required=True,
                        help="comma-separated JSON reports of training_recipes.evaluation")
    parser.add_argument("--run-config", required=True, help="config.json of the run whose training tracks to fit on")
    parser.add_argument("--presets", default=None, help="comma-separated; default: those without a readout")
    parser.add_argument("--shrinkage", type=_shrinkages, default=[readout.SHRINKAGE],
                        help="comma-separated covariance shrinkages to try")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
        out = compute(args)
    except EvaluationError as error:
        raise SystemExit(f"error: {error}") from None
    with open(args.out, "w", encoding="utf-8") as file:
        json.dump(out, file, indent=1)
    print(args.out)


if __name__ == "__main__":
    main()
