"""Stage 3 of the disentangled-msd recipe: one Keras graph from the frozen backbone and the
trained head, written as a preset.

    python -m training_recipes.disentangled_msd.export --run runs/disentangled-msd/run \
        --out runs/disentangled-msd/preset [--weights best|last]

The graph is samplecnn-msd's (waveform -> SampleCNN -> its 256-d multi-level read-out) with the
disentangled head on the read-out (zoo/disentangled.py): `embedding` = the normalised
sub-spaces concatenated, `tags` = each class scored in its notion's sub-space. The export
checks that the graph reproduces the head trained on the cached features.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from training_recipes.disentangled_msd.prepare import BACKBONE

HEAD_LAYERS = ("disentangled_hidden", "subspace_dense", "subspace_l2", "subspace_tags")


def build_task(spec, backbone):
    """MusicTask of `backbone`'s (a loaded MusicModel) network and read-out + the head `spec`,
    holding the backbone's weights."""
    from zoo.task import MusicTask

    source = backbone.task
    task = MusicTask(source.network, source.arguments, segment=source.segment, readout=source.readout,
                     tags=False, head=spec, name="disentangled_msd")
    return task.load_network_weights(source)


def copy_head(training_model, task):
    """The head's trained weights into the task graph, layer by layer (same names)."""
    copied = []
    for name in HEAD_LAYERS:
        try:
            target = task.get_layer(name)
        except ValueError:
            continue  # no hidden layer
        target.set_weights(training_model.get_layer(name).get_weights())
        copied.append(name)
    return copied


CARD_FILE = Path(__file__).resolve().parent / "card.json"


def card():
    """The card's prose and which evaluation rows it shows (card.json beside this file); the
    figures come from the evaluation report when `python -m sdk.cards` renders it."""
    return json.loads(CARD_FILE.read_text(encoding="utf-8"))


def export(run, out, weights="best"):
    import keras

    import sdk
    from sdk.preset import save_preset
    from training_recipes.disentangled_msd.train import NOTION_NAMES, build_training_model

    run = Path(run)
    config = json.loads((run / "config.json").read_text())
    state = json.loads((run / "state.json").read_text())
    history = json.loads((run / "history.json").read_text())
    spec, settings = config["spec"], config["settings"]
    backbone = sdk.load(BACKBONE)
    outputs = backbone.task.predict(np.zeros((1, backbone.task.window), np.float32), verbose=0)
    input_size = sum(outputs[i].shape[-1] for i in spec["inputs"])
    notions = NOTION_NAMES if settings.get("notion_weight", 0) > 0 else ()
    training_model, _, _ = build_training_model(spec, input_size, settings["track_weight"],
                                                settings["tempo_weight"], settings["margin"], settings["lr"],
                                                notions, settings.get("notion_weight", 0.0))
    training_model.load_weights(run / f"{weights}.weights.h5")
    task = build_task(spec, backbone)
    copy_head(training_model, task)

    # The graph must give what the trained head gives on the backbone's read-out.
    rng = np.random.default_rng(0)
    window = rng.standard_normal((2, task.window)).astype(np.float32) * 0.1
    graph = task.predict(window, verbose=0)
    reads = backbone.task.predict(window, verbose=0)
    features = np.concatenate([reads[i] for i in spec["inputs"]], axis=1)
    from zoo.heads import apply_layers

    chain = [training_model.get_layer(n) for n in HEAD_LAYERS[:3] if n in {l.name for l in training_model.layers}]
    numpy = keras.ops.convert_to_numpy
    expected = numpy(apply_layers(chain, features))
    tags = numpy(training_model.get_layer("subspace_tags")(expected))
    if not (np.allclose(graph["embedding"], expected, atol=1e-4) and np.allclose(graph["tags"], tags, atol=1e-4)):
        raise SystemExit("the exported graph does not reproduce the trained head")

    best_row = next(r for r in history if r["epoch"] == state["best_epoch"])
    layout = spec["subspaces"]
    metadata = {
        "preset": "disentangled-msd",
        "registry_name": backbone.metadata.get("registry_name", backbone.task.network),
        "embedding_size": int(task.embedding_size),
        "subspaces": layout,
        "class_subspaces": spec["class_subspaces"],
        "tags": config["tags"],
        "outputs": [{"name": "embedding", "purpose": "embeddings", "size": int(task.embedding_size)},
                    {"name": "tags", "purpose": "predictions", "size": len(config["tags"])}],
        "aggregation": "mean",
        "license": "MIT",
        "citation": "J. Lee, Similarity-based Deep Learning for Music Retrieval, KAIST 2021, section 5.2 "
                    "(disentangled classification with normalisation, Eq. 5.14-5.16, Table 5.3) and 5.1 "
                    "(track regularisation, tempo triplets).",
        "provenance": "The section 5.2 disentangled classifier trained on frozen samplecnn-msd features of free "
                      "game music from musicnn-msd's (and musicnn-mtat's instrument) tag scores, with track "
                      "regularisation; recipe training_recipes/disentangled_msd.",
        "backbone": {"preset": BACKBONE, "weights_sha256": backbone.metadata["files"]["model.weights.h5"]},
        "training": {"train_soundtracks": config["train_soundtracks"], "validation_soundtracks": config["validation"],
                     "train_windows": config["train_windows"], "validation_windows": config["validation_windows"],
                     "settings": settings, "weights": weights, "best_epoch": state["best_epoch"],
                     "epochs": state["epoch"], "best_validation": best_row, "head": spec},
        "card": card(),
    }
    directory = save_preset(task, out, preprocessor=backbone.preprocessor, metadata=metadata,
                            weights_dtype="float16")
    return directory


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training_recipes.disentangled_msd.export",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", default="runs/disentangled-msd/run")
    parser.add_argument("--out", default="runs/disentangled-msd/preset")
    parser.add_argument("--weights", default="best", choices=("best", "last"))
    args = parser.parse_args(argv)
    print(export(args.run, args.out, args.weights))


if __name__ == "__main__":
    sys.exit(main())
