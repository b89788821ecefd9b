"""Stage 3c of the samplecnn-msd recipe: read the embedding from every level of the backbone.

    python -m training_recipes.samplecnn_msd.levels --preset sdk/bundled/samplecnn-msd \\
        --manifest data/corpus/manifest.jsonl --out runs/preset-levels \\
        [--levels all] [--shrinkage 1.0] [--components 256] [--card hub_cards/samplecnn-msd.md]

Why: the distilled embedding head retrieves unseen soundtracks worse than the backbone's
own hidden stages do (REPORT.md, "Reading the embedding from the
backbone's levels"). Following the multi-level aggregation of thesis chapter 3 (Lee & Nam
2017, Table 3.6), the new embedding concatenates the max over time of the chosen stages
(`MusicModel.segment_features(levels=...)`) and maps it with truncated PCA whitening

    e = (x - mean) @ V_k diag(1 / sqrt(eig_k + shrinkage * mean(eig)))

(the k strongest principal directions, each scaled to about unit variance; Jegou & Chum,
ECCV 2012), fitted on song vectors of the preset's training tracks only: 30 s from each
track's middle, as the evaluation CLI embeds them. Weights and tag head stay as they are;
the read-out becomes a zoo.heads.MultiLevelReadout layer inside the preset's graph
(zoo.task.MusicTask with `readout=`), and its metadata records how it was fitted.
"""

import argparse

import numpy as np

SHRINKAGE = 1.0
COMPONENTS = 256
CLIP_SECONDS = 30.0


def principal_directions(vectors):
    """(mean, eigenvalues largest first, their unit eigenvectors as columns) of `vectors` (n, d)."""
    x = np.asarray(vectors, np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"whitening needs (n >= 2, d) vectors, got shape {x.shape}")
    mean = x.mean(0)
    eig, basis = np.linalg.eigh(np.cov((x - mean).T))
    order = np.argsort(-eig)
    return mean, np.maximum(eig[order], 0.0), basis[:, order]


def whitening_matrix(eig, basis, shrinkage=SHRINKAGE, components=COMPONENTS):
    """(d, k): the k strongest directions, each scaled by 1 / sqrt(eig + shrinkage * mean eig)."""
    if shrinkage <= 0:
        raise ValueError(f"shrinkage must be positive, got {shrinkage}")
    if not 1 <= components <= len(eig):
        raise ValueError(f"components must be 1 .. {len(eig)}, got {components}")
    return basis[:, :components] / np.sqrt(eig[:components] + shrinkage * eig.mean())


def truncated_whitening(vectors, shrinkage=SHRINKAGE, components=COMPONENTS):
    """(mean, (d, k) matrix): centre, project on the k strongest principal directions of
    `vectors` (n, d), and scale each by 1 / sqrt(eig + shrinkage * mean eig)."""
    mean, eig, basis = principal_directions(vectors)
    matrix = whitening_matrix(eig, basis, shrinkage, components)
    return mean.astype(np.float32), matrix.astype(np.float32)


def parse_levels(text, num_stages):
    """"all" -> (-num_stages, ..., -1); "-3,-2,-1" -> (-3, -2, -1)."""
    if text == "all":
        return tuple(range(-num_stages, 0))
    try:
        levels = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise SystemExit(f"--levels: expected 'all' or comma-separated negative integers, got {text!r}") from None
    if not levels or any(not -num_stages <= level <= -1 for level in levels) or len(set(levels)) < len(levels):
        raise SystemExit(f"--levels: distinct stages from -{num_stages} to -1, got {text!r}")
    return levels


def training_tracks(model, manifest):
    """The manifest's tracks of the soundtracks the preset's metadata says it trained on."""
    from training_recipes.evaluation.cli import read_manifest, trained_soundtracks

    trained = set(trained_soundtracks(model.metadata) or ())
    if not trained:
        raise SystemExit(f"{model.directory}: metadata.json lists no training.train_soundtracks to fit on")
    tracks, _ = read_manifest(manifest)
    missing = sorted(trained - {t.soundtrack for t in tracks})
    if missing:
        raise SystemExit(f"{manifest}: lacks {len(missing)} of the preset's training soundtracks "
                         f"({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}); use the corpus it trained on")
    return [t for t in tracks if t.soundtrack in trained]


def level_song_vectors(model, tracks, levels, clip_seconds=CLIP_SECONDS, progress=True):
    """(n, D) song vectors of the raw concatenated levels: mean over the segments of a clip."""
    from tqdm import tqdm

    from training_recipes.evaluation.cli import clip_audio

    vectors = []
    for track in tqdm(tracks, desc="levels: training song vectors", unit="track", disable=not progress):
        audio = clip_audio(track.path, model.sample_rate, clip_seconds)
        sr = None if isinstance(audio, str) else model.sample_rate
        vectors.append(model.segment_features(audio, sr, levels=levels).mean(0))
    return np.stack(vectors)


def add_level_readout(preset, manifest, out, levels="all", shrinkage=SHRINKAGE, components=COMPONENTS,
                      card=None, clip_seconds=CLIP_SECONDS, progress=True):
    """Write a copy of `preset` at `out` whose embedding is the level read-out; returns `out`."""
    import sdk
    from sdk.preset import save_preset
    from zoo.task import MusicTask

    model = sdk.load(preset)
    stages = model.stage_names
    levels = parse_levels(levels, len(stages)) if isinstance(levels, str) else tuple(levels)
    tracks = training_tracks(model, manifest)
    vectors = level_song_vectors(model, tracks, levels, clip_seconds, progress)
    mean, eig, basis = principal_directions(vectors)
    matrix = whitening_matrix(eig, basis, shrinkage, components)
    meta = {k: v for k, v in model.metadata.items() if k not in ("keras_version", "parameter_count", "date_saved", "files")}
    meta["outputs"] = [{"name": "embedding", "purpose": "embeddings", "size": components},
                       *[o for o in meta["outputs"] if o.get("purpose") != "embeddings"]]
    meta["embedding_size"] = components
    meta["subspaces"] = {"all": [0, components]}
    meta["level_readout"] = {
        "kind": "max over time of the listed backbone stages, concatenated, then truncated PCA whitening",
        "levels": list(levels), "stages": [stages[level] for level in levels], "input_size": int(vectors.shape[1]),
        "components": components, "shrinkage": shrinkage, "fit_on": "song vectors of the preset's training tracks",
        "n_tracks": len(tracks), "clip_seconds": clip_seconds,
        "recipe": "training_recipes/samplecnn_msd/levels.py",
        "kept_variance": float(eig[:components].sum() / max(eig.sum(), 1e-30))}
    task = MusicTask(model.task.network, model.task.arguments, segment=model.task.segment,
                     readout={"levels": list(levels), "size": components}).load_network_weights(model.task)
    # The matrix in float16 (as the weights are stored): cosine rankings do not move at that precision.
    task.readout_layer.set_weights([mean.astype(np.float32), matrix.astype(np.float16).astype(np.float32)])
    source = model.directory
    card = card if card is not None else (source / "README.md" if (source / "README.md").is_file() else None)
    return save_preset(task, out, preprocessor=model.preprocessor, metadata=meta, card_path=card,
                       weights_dtype=meta.get("weights_dtype", "float32"))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training_recipes.samplecnn_msd.levels",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="sdk/bundled/samplecnn-msd", help="preset directory or id to start from")
    parser.add_argument("--manifest", required=True, help="the corpus manifest the preset trained on")
    parser.add_argument("--out", required=True, help="where to write the new preset directory")
    parser.add_argument("--levels", default="all", help="'all' or stages from the top, e.g. -3,-2,-1")
    parser.add_argument("--shrinkage", type=float, default=SHRINKAGE, help="x the mean covariance eigenvalue")
    parser.add_argument("--components", type=int, default=COMPONENTS, help="embedding size (principal directions kept)")
    parser.add_argument("--clip-seconds", type=float, default=CLIP_SECONDS)
    parser.add_argument("--card", default=None, help="model card to copy in (default: the preset's README.md)")
    args = parser.parse_args(argv)
    print(add_level_readout(args.preset, args.manifest, args.out, args.levels, args.shrinkage, args.components,
                            args.card, args.clip_seconds))


if __name__ == "__main__":
    main()
