"""How stage 3c's settings were chosen: MAP of level read-outs on soundtracks a checkpoint never trained on.

    python -m research.samplecnn_msd.levels_selection --manifest data/corpus/manifest.jsonl \\
        --presets step5758=runs/preset-step5758,step4258=runs/preset-step4258,step9996=sdk/bundled/samplecnn-msd \\
        --features runs/levels --out results/samplecnn-msd-levels-selection.json

For each preset, every corpus track's centre 30 s goes through the backbone once; per track it
keeps the mean over segments of each stage's max over time, and of the embedding layer
(`<features>/<name>.npz`, reused when present: about 30 min for three presets over 843 tracks).
Then, per preset, the tracks of soundtracks its metadata lists under training.train_soundtracks
fit each read-out (levels.truncated_whitening, or plainer ones for comparison) and the other
tracks are scored: soundtrack MAP by cosine (the evaluation metrics' rule). Nothing is fitted on the
scored tracks, and the reserved evaluation packages are not in the corpus manifest.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from training_recipes.evaluation import metrics
from training_recipes.samplecnn_msd.levels import principal_directions, whitening_matrix

TOP_LEVELS = (1, 2, 3, 5, 6, 8, 11)  # the top n stages
SHRINKAGES = (0.3, 1.0, 3.0)
COMPONENTS = (128, 256, 512, 0)  # 0: every direction, no truncation


def dump_features(model, tracks, path):
    """Per track: mean over segments of each stage's max over time, and of the embedding layer."""
    from tqdm import tqdm

    from training_recipes.evaluation.cli import clip_audio

    stages = model.stage_layers()
    splits = np.cumsum([model.backbone.get_layer(s).output.shape[-1] for s in stages])[:-1]
    rows = []
    for track in tqdm(tracks, desc=f"features {path.stem}", unit="track"):
        audio = clip_audio(track.path, model.sample_rate, 30)
        levels, head = model.level_and_head_features(audio, model.sample_rate, levels=range(-len(stages), 0))
        rows.append([*np.split(levels.mean(0), splits), head.mean(0)])
    np.savez(path, paths=np.array([str(t.path) for t in tracks]), soundtracks=np.array([t.soundtrack for t in tracks]),
             **{key: np.stack([row[i] for row in rows]) for i, key in enumerate(stages + ["embedding"])})


def mean_ap(vectors, labels):
    """Soundtrack MAP by cosine, in float64 as metrics.retrieval_metrics computes it."""
    return metrics.mean_average_precision(np.asarray(vectors, np.float64), labels, metric="cosine")


def scores(features, trained):
    """{read-out: MAP on the unseen tracks} for one preset's dumped features."""
    labels = features["soundtracks"]
    fit, scored = np.isin(labels, trained), ~np.isin(labels, trained)
    stages = [k for k in features.files if k not in ("paths", "soundtracks", "embedding")]
    out = {"n_fit_tracks": int(fit.sum()), "n_scored_tracks": int(scored.sum()),
           "n_scored_soundtracks": len(set(labels[scored])), "embedding layer": mean_ap(features["embedding"][scored], labels[scored])}
    for top in TOP_LEVELS:
        x = np.hstack([features[s] for s in stages[-top:]])
        out[f"top {top}, raw"] = mean_ap(x[scored], labels[scored])
        out[f"top {top}, centred"] = mean_ap(x[scored] - x[fit].mean(0), labels[scored])
        mean, eig, basis = principal_directions(x[fit])
        for shrinkage in SHRINKAGES:
            for k in COMPONENTS:
                matrix = whitening_matrix(eig, basis, shrinkage, min(k or x.shape[1], x.shape[1]))
                out[f"top {top}, whitened, shrinkage {shrinkage:g}, {k or 'all'} dims"] = mean_ap(
                    (x[scored] - mean) @ matrix, labels[scored])
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m research.samplecnn_msd.levels_selection",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--presets", required=True, help="name=preset,... (a preset: id or directory)")
    parser.add_argument("--features", default="runs/levels", help="folder of the per-preset feature files")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    import sdk
    from training_recipes.evaluation.cli import read_manifest, trained_soundtracks

    tracks, _ = read_manifest(args.manifest)
    report = {"command": ["python", "-m", "research.samplecnn_msd.levels_selection", *(sys.argv[1:] if argv is None else argv)], "results": {}}
    for item in args.presets.split(","):
        name, preset = item.split("=", 1)
        model = sdk.load(preset)
        path = Path(args.features) / f"{name}.npz"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            dump_features(model, tracks, path)
        with np.load(path) as features:
            if sorted(map(str, features["paths"])) != sorted(str(t.path) for t in tracks):
                raise SystemExit(f"{path}: made from other tracks than {args.manifest}; delete it to recompute")
            trained = trained_soundtracks(model.metadata)
            if not trained:
                raise SystemExit(f"{preset}: metadata.json lists no training.train_soundtracks to fit on")
            report["results"][name] = {"preset": preset, **scores(features, trained)}
        best = max((k for k in report["results"][name] if k.startswith("top")), key=report["results"][name].get)
        print(f"{name}: embedding layer {report['results'][name]['embedding layer']:.3f}; best {best}: "
              f"{report['results'][name][best]:.3f}", flush=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
