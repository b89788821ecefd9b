"""Stage 3 of the samplecnn-msd-8k recipe: write the trained 8 kHz student as an SDK preset.

    python -m training_recipes.samplecnn_msd_8k.export --run runs/samplecnn-msd-8k \
        --out runs/samplecnn-msd-8k-preset [--weights best|latest] [--whiten-shrinkage 0.1]

The preset is the inference graph (waveform at 8 kHz -> 50 tag scores, the 256-d embedding the
backbone's output); the SDK resamples any input to 8 kHz. Unless --whiten-shrinkage 0 the
embedding is centred and whitened on the run's training tracks (samplecnn_msd/readout.py), tag
scores unchanged. Its metadata records what made the weights, read from the run's own files.
The level read-out of samplecnn-msd (stage 3c) applies to it too:
`python -m training_recipes.samplecnn_msd.levels --preset <this preset> ...`.
"""

import argparse
import json
import tempfile
from pathlib import Path

from sdk.preset import save_preset
from training_recipes.samplecnn_msd import readout
from training_recipes.samplecnn_msd.export import preset_description, whiten_on_tracks
from training_recipes.samplecnn_msd.prepare import SAMPLE_RATE
from training_recipes.samplecnn_msd.train import comma_list
from training_recipes.samplecnn_msd_8k.store import load_store
from training_recipes.samplecnn_msd_8k.teachers import SONG_TEACHER, STUDENT_RATE, STUDENT_SAMPLES
from training_recipes.samplecnn_msd_8k.train import EMBEDDING_SIZE, REGISTRY_NAME, build_student

PRESET_ID = "samplecnn-msd-8k"
CARD_FILE = Path(__file__).with_name("card.json")  # the card's prose and rows; figures come from results/
HYPERPARAMETERS = ("song_teacher", "lr", "warmup_steps", "decay_steps", "final_lr_fraction", "ema_decay", "logit_floor",
                   "tag_weight", "cos_weight", "relational_weight", "feature_teachers", "metric_weight", "margin",
                   "soundtracks_per_batch", "per_soundtrack", "soundtrack_exponent", "speed", "mixup_p",
                   "mixup_max", "eq_bands", "eq_db", "gain_low_db", "gain_high_db", "init_from")


def training_summary(run, weights="best"):
    run = Path(run)
    config = json.loads((run / "config.json").read_text())
    state = json.loads((run / "checkpoints" / "state.json").read_text())
    store = load_store(config["store"])
    used = set(config["train_tracks"])
    tracks = [t for t in store["tracks"] if t["path"] in used]
    best = json.loads((run / "best.json").read_text()) if (run / "best.json").is_file() else None
    return {
        "method": "function matching (Beyer et al. 2022): teachers run on each augmented crop",
        "train_soundtracks": sorted({t["soundtrack"] for t in tracks}),
        "train_packages": sorted({t["package"] for t in tracks}),
        "validation_soundtracks": sorted(comma_list(config["validation"])),
        "train_tracks": len(tracks),
        "train_hours": round(sum(t["length"] for t in tracks) / SAMPLE_RATE / 3600, 2),
        "steps": state["step"],
        "examples": state["examples"],
        "train_step_hours_2cpu": round(state["seconds"] / 3600, 2),
        "best_validation": best,
        "weights": weights,
        "weights_record": best if weights == "best" and best else {
            "step": state["step"], "examples": state["examples"], "train_seconds": state["seconds"]},
        "augmentation": config["augmentation"],
        "phases": [{"from_step": p["from_step"], "hours": p["hours"], **({"init": p["init"]} if p.get("init") else {}),
                    **{k: p.get(k) for k in HYPERPARAMETERS},
                    "song_teacher": p.get("song_teacher") or SONG_TEACHER} for p in config["phases"]],
    }, store, tracks


def export(run, out, weights="best", weights_dtype="float16", whiten_shrinkage=readout.SHRINKAGE):
    run = Path(run)
    model, _ = build_student()
    path = run / ("best.weights.h5" if weights == "best" else "checkpoints/latest.weights.h5")
    if not path.is_file():
        raise SystemExit(f"{path}: no such weights file (train first)")
    model.load_weights(path)
    summary, store, tracks = training_summary(run, weights)
    song = dict.fromkeys(p["song_teacher"] for p in summary["phases"])
    teachers = ["musicnn-msd (tags)", *(f"{name} (embedding of the crop)" for name in song)]
    teachers += [f"{name} (neighbourhoods of its features)" for name in
                 dict.fromkeys(t for p in summary["phases"] for t in comma_list(p["feature_teachers"] or ""))]
    provenance = ("Distilled on free game soundtracks from Debian packages, not trained on the Million Song "
                  "Dataset, by function matching: " + ", ".join(teachers) + " ran on every augmented "
                  "crop the student heard. Recipe: training_recipes/samplecnn_msd_8k "
                  f"(weights: {weights}).")
    # batch_size: segments per graph call by default, the fastest measured on JAX (docs/performance.md)
    preprocessor, metadata = preset_description(
        PRESET_ID, REGISTRY_NAME, STUDENT_RATE, STUDENT_SAMPLES, {"jax": 4}, provenance, summary,
        "J. Lee, Similarity-based Deep Learning for Music Retrieval, KAIST 2021, Table 3.3 (SampleCNN at "
        "8 kHz); L. Beyer et al., Knowledge distillation: A good teacher is patient and consistent, CVPR 2022.")
    if CARD_FILE.is_file():
        metadata["card"] = json.loads(CARD_FILE.read_text(encoding="utf-8"))

    def save(directory, extra_files=None, meta=metadata):
        return save_preset(model, directory, name=REGISTRY_NAME, arguments={"embedding_size": EMBEDDING_SIZE},
                           preprocessor=preprocessor, metadata=meta, weights_dtype=weights_dtype,
                           extra_files=extra_files)

    if not whiten_shrinkage:
        return save(out)
    with tempfile.TemporaryDirectory(prefix="readout-") as scratch:
        path, record = whiten_on_tracks(model, store, tracks, save, whiten_shrinkage, Path(scratch))
        return save(out, {readout.READOUT_FILE: path}, {**metadata, "whitening": record})


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training_recipes.samplecnn_msd_8k.export",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", default="runs/samplecnn-msd-8k")
    parser.add_argument("--out", default="runs/samplecnn-msd-8k-preset")
    parser.add_argument("--weights", choices=("best", "latest"), default="best")
    parser.add_argument("--whiten-shrinkage", type=float, default=readout.SHRINKAGE,
                        help="centre and whiten the embedding on the training tracks; 0 leaves it as trained")
    parser.add_argument("--weights-dtype", choices=("float16", "float32"), default="float16")
    args = parser.parse_args(argv)
    print(export(args.run, args.out, args.weights, args.weights_dtype, args.whiten_shrinkage))


if __name__ == "__main__":
    main()
