"""Stage 3 of the samplecnn-msd recipe: write the trained student as an SDK preset.

    python -m training_recipes.samplecnn_msd.export --run runs/samplecnn-msd \
        --out sdk/bundled/samplecnn-msd [--weights best|latest] [--card hub_cards/samplecnn-msd.md] \
        [--whiten-shrinkage 0.1]

The preset is the inference model (waveform -> 50 tag scores, with the 256-d
embedding as the backbone's output), no optimizer state. Unless --whiten-shrinkage 0,
the embedding is centred and whitened on the run's training tracks (`readout`), with the
tag scores unchanged. Its metadata records how
the weights were made: teachers, corpus soundtracks and hours, steps, examples and
CPU time, read from the run's own files rather than typed in. Weights are stored as
float16 by default (half the size; loaded back into float32 variables).
"""

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from sdk.preset import save_preset
from training_recipes.samplecnn_msd import readout
from training_recipes.samplecnn_msd.prepare import SAMPLE_RATE, STUDENT_SAMPLES
from training_recipes.samplecnn_msd.cache_data import training_tracks
from training_recipes.samplecnn_msd.train import EMBEDDING_SIZE, build_student, comma_list
from zoo.musicnn import MSD_TAGS

PRESET_ID = "samplecnn-msd"
# Segments per graph call the SDK uses by default, per backend: the fastest measured on this
# project's 2-core CPU (python -m benchmarks.embed_throughput; docs/performance.md).
SAMPLECNN_BATCH_SIZES = {"jax": 1, "tensorflow": 2, "torch": 16}
HYPERPARAMETERS = ("lr", "warmup_steps", "decay_steps", "final_lr_fraction", "tag_loss", "logit_floor",
                   "listwise_weight", "temperature", "ema_decay", "tag_weight", "song_teacher", "cos_weight",
                   "relational_weight", "metric_weight", "margin", "soundtracks_per_batch", "per_soundtrack",
                   "soundtrack_exponent", "relational_teachers")
SONG_TEACHER_CREDITS = {"artist-siamese-msd": "artist-siamese-msd's song embedding (Park, Lee et al. 2018, MIT)",
                        "musicnn-msd": "musicnn-msd's 200-d song features (ISC)"}
# What a run's config meant before the option existed.
DEFAULTS = {"warmup_steps": 0, "decay_steps": 0, "final_lr_fraction": 0.0, "tag_loss": "bce", "logit_floor": 1e-4,
            "listwise_weight": 0.0, "temperature": 1.0, "ema_decay": 0.0, "song_teacher": "artist-siamese-msd",
            "relational_weight": 0.0, "soundtrack_exponent": 0.0, "relational_teachers": ""}


def training_summary(run, weights="best"):
    """What the run did, from its config, checkpoint state, history and cache; `weights_record`
    is the validation record of the weights exported (best, or the run's last step)."""
    run = Path(run)
    config = json.loads((run / "config.json").read_text())
    state = json.loads((run / "checkpoints" / "state.json").read_text())
    _cache, train_tracks = training_tracks(config)
    validation = sorted(comma_list(config["validation"]))
    hours = sum(t["length"] for t in train_tracks) / SAMPLE_RATE / 3600
    best = json.loads((run / "best.json").read_text()) if (run / "best.json").is_file() else None
    return {
        "train_soundtracks": sorted({t["soundtrack"] for t in train_tracks}),
        "train_packages": sorted({t["package"] for t in train_tracks}),
        "validation_soundtracks": validation,
        "train_tracks": len(train_tracks),
        "train_hours": round(hours, 2),
        "steps": state["step"],
        "examples": state["examples"],
        "examples_seconds_of_audio": round(state["examples"] * STUDENT_SAMPLES / SAMPLE_RATE),
        "train_step_hours_2cpu": round(state["seconds"] / 3600, 2),  # wall time in training steps
        "best_validation": best,
        "weights": weights,
        "weights_record": best if weights == "best" and best else {
            "step": state["step"], "examples": state["examples"], "train_seconds": state["seconds"]},
        "hyperparameters": {k: config.get(k, DEFAULTS.get(k)) for k in HYPERPARAMETERS},
        # Each invocation of train (a resume may change the losses), from the step it began at.
        "phases": [{"from_step": p["from_step"], "hours": p["hours"],
                    **{k: p[k] for k in ("init_from", "init_sha256") if p.get(k)},
                    **{k: p.get(k, DEFAULTS.get(k)) for k in HYPERPARAMETERS}}
                   for p in config.get("phases", [])],
    }


def fit_readout(model, run, save_raw, shrinkage, scratch):
    """Whiten `model`'s embedding on its run's training tracks (song vectors of the preset
    `save_raw(directory)` writes before folding); returns (readout.npz path in `scratch`,
    metadata record)."""
    cache, tracks = training_tracks(json.loads((Path(run) / "config.json").read_text()))
    return whiten_on_tracks(model, cache, tracks, save_raw, shrinkage, scratch)


def whiten_on_tracks(model, audio, tracks, save_raw, shrinkage, scratch):
    """Fold into `model` the whitening fitted on song vectors of `tracks` (rows of a cache or
    store `audio`, as readout.training_song_vectors reads them); (readout.npz path, record)."""
    vectors = readout.training_song_vectors(save_raw(scratch / "raw"), audio, tracks)
    mean, matrix = readout.whitening(vectors, shrinkage)
    raw = readout.fold(model, mean, matrix)
    eig = np.linalg.eigvalsh(np.cov(vectors.T))
    record = {"kind": "centring and PCA whitening, folded into the embedding and tags layers",
              "shrinkage": shrinkage, "fit_on": "song vectors of the run's training tracks",
              "n_tracks": len(tracks), "clip_seconds": readout.CLIP_SECONDS, "file": readout.READOUT_FILE,
              "covariance_eigenvalues": {"largest": float(eig[-1]), "mean": float(eig.mean()),
                                         "smallest": float(eig[0])}}
    return readout.save(scratch, mean, matrix, raw, record), record


def preset_description(preset_id, registry_name, sample_rate, segment, batch_sizes, provenance, training, citation):
    """(preprocessor.json, metadata.json) of a distilled SampleCNN preset: raw waveform at
    `sample_rate` in segments of `segment` samples, averaged; the 256-d embedding and the 50
    MSD tags; MIT. The samplecnn-msd and samplecnn-msd-8k exporters both write these."""
    preprocessor = {"sample_rate": sample_rate, "frontend": {}, "frontend_class": "zoo>RawWaveform",
                    "segment": {"length": segment, "hop": segment, "unit": "samples", "remainder": "drop",
                                "pad": "zeros"},
                    "aggregation": "mean", "batch_size": batch_sizes}
    metadata = {"preset": preset_id, "registry_name": registry_name, "embedding_size": EMBEDDING_SIZE,
                "subspaces": {"all": [0, EMBEDDING_SIZE]}, "tags": list(MSD_TAGS),
                "outputs": [{"name": "embedding", "purpose": "embeddings", "size": EMBEDDING_SIZE},
                            {"name": "tags", "purpose": "predictions", "size": len(MSD_TAGS)}],
                "aggregation": "mean", "license": "MIT", "provenance": provenance, "training": training,
                "citation": citation}
    return preprocessor, metadata


def export(run, out, weights="best", card=None, weights_dtype="float16", whiten_shrinkage=readout.SHRINKAGE):
    run = Path(run)
    model, _ = build_student()
    path = run / ("best.weights.h5" if weights == "best" else "checkpoints/latest.weights.h5")
    if not path.is_file():
        raise SystemExit(f"{path}: no such weights file (train first)")
    model.load_weights(path)
    summary = training_summary(run, weights)
    used = list(dict.fromkeys(t for p in summary["phases"] for t in [p["song_teacher"]]
                              + comma_list(p["relational_teachers"] if p["relational_weight"] else "")))
    used = used or [DEFAULTS["song_teacher"]]
    song_teachers = " and ".join(SONG_TEACHER_CREDITS[t] for t in used)  # in the order the phases named them
    provenance = ("Distilled on free game soundtracks from Debian packages, not trained on the Million Song "
                  "Dataset: the 50 tag scores imitate musicnn-msd (Pons & Serra's MSD_musicnn, ISC) on "
                  f"windows of that audio, and the embedding is pulled towards {song_teachers} "
                  "and trained to group tracks of the same soundtrack. "
                  f"Recipe: training_recipes/samplecnn_msd (weights: {weights}).")
    preprocessor, metadata = preset_description(
        PRESET_ID, "samplecnn", SAMPLE_RATE, STUDENT_SAMPLES, SAMPLECNN_BATCH_SIZES, provenance, summary,
        "J. Lee, Similarity-based Deep Learning for Music Retrieval, KAIST 2021, Table 3.1 "
        "(SampleCNN) and section 4.2 (album-level metric learning).")

    def save(directory, extra_files=None, meta=metadata):
        return save_preset(model, directory, name="samplecnn", arguments={"embedding_size": EMBEDDING_SIZE},
                           preprocessor=preprocessor, metadata=meta, card_path=card,
                           weights_dtype=weights_dtype, extra_files=extra_files)

    if not whiten_shrinkage:
        return save(out)
    with tempfile.TemporaryDirectory(prefix="readout-") as scratch:
        path, record = fit_readout(model, run, save, whiten_shrinkage, Path(scratch))
        return save(out, {readout.READOUT_FILE: path}, {**metadata, "readout": record})


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training_recipes.samplecnn_msd.export",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", default="runs/samplecnn-msd")
    parser.add_argument("--out", default=f"sdk/bundled/{PRESET_ID}")
    parser.add_argument("--weights", choices=("best", "latest"), default="best",
                        help="the best validation step's weights (a run with --ema-decay keeps its moving "
                             "average there) or the last checkpoint's raw weights")
    parser.add_argument("--card", default=None)
    parser.add_argument("--whiten-shrinkage", type=float, default=readout.SHRINKAGE,
                        help="centre and whiten the embedding on the training tracks with this covariance "
                             "shrinkage (x the mean eigenvalue); 0 leaves the trained embedding as it is")
    parser.add_argument("--weights-dtype", choices=("float16", "float32"), default="float16",
                        help="float16 halves the file (a few MB); the SDK computes in float32 either way")
    args = parser.parse_args(argv)
    print(export(args.run, args.out, args.weights, args.card, args.weights_dtype, args.whiten_shrinkage))


if __name__ == "__main__":
    main()
