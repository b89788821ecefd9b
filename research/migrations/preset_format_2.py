"""How the bundled presets moved to preset format 2 (one Keras graph), December 2026.

Format 1 stored a network's training graph (config.json: zoo registry name + arguments)
and, for samplecnn-msd, a numpy read-out (levels.npz: stages, mean, matrix) that the SDK
applied outside Keras, plus readout.npz (the pre-folding layers, for training only).
Format 2 stores one zoo.task.MusicTask: the same weights, with the read-out as a
zoo.heads.MultiLevelReadout layer inside the graph.

    python research/migrations/preset_format_2.py OLD_PRESET_DIR NEW_PRESET_DIR

reads a format-1 directory with keras and numpy only (no SDK) and writes format 2 with
sdk.preset.save_preset. Weight values are carried over exactly (float16 presets stay
float16; the read-out's float32 mean is rounded to float16 with the rest).
"""

import json
import sys
from pathlib import Path

import numpy as np


def migrate(old, new):
    import zoo
    from keras.src.saving.saving_lib import load_weights_only

    from sdk.preset import save_preset
    from zoo.task import MusicTask

    old, new = Path(old), Path(new)
    config = json.loads((old / "config.json").read_text())
    assert config.get("format_version") == 1, config.get("format_version")
    preprocessor = json.loads((old / "preprocessor.json").read_text())
    metadata = json.loads((old / "metadata.json").read_text())
    network = zoo.build(config["name"], **config["arguments"])
    load_weights_only(network, old / "model.weights.h5", objects_to_skip=[network.optimizer])

    outputs = metadata.get("outputs") or []
    embedding = next(o for o in outputs if o.get("purpose") == "embeddings")
    readout = None
    if embedding.get("levels"):
        with np.load(old / embedding.get("file", "levels.npz")) as saved:
            levels, mean, matrix = saved["levels"].tolist(), saved["mean"], saved["matrix"]
        readout = {"levels": levels, "size": int(matrix.shape[1])}
    task = MusicTask(config["name"], config["arguments"], segment=preprocessor["segment"]["length"], readout=readout)
    task.load_network_weights(network)
    if readout is not None:
        task.readout_layer.set_weights([mean.astype(np.float32), matrix.astype(np.float32)])

    # Outputs as the graph names them; what the read-out was fitted on stays in level_readout.
    meta = {k: v for k, v in metadata.items() if k not in ("keras_version", "parameter_count", "date_saved",
                                                           "files", "weights_dtype", "readout")}
    # Outputs as the graph names them ("layer", "levels", "file" and the "tag head input" entry
    # described the format-1 plumbing).
    meta["outputs"] = [{k: v for k, v in o.items() if k not in ("layer", "levels", "file")}
                       for o in outputs if o.get("purpose") != "tag head input"]
    for o in meta["outputs"]:
        if o.get("purpose") == "tags":
            o["purpose"] = "predictions"
    if "level_readout" in meta:
        meta["level_readout"] = {k: v for k, v in meta["level_readout"].items() if k != "file"}
    if "readout" in metadata:  # the whitening folded into the embedding layer at export
        meta["whitening"] = {k: v for k, v in metadata["readout"].items() if k != "file"}
    card = old / "README.md"
    return save_preset(task, new, preprocessor=preprocessor, metadata=meta,
                       card_path=card if card.is_file() else None,
                       weights_dtype=metadata.get("weights_dtype", "float32"))


if __name__ == "__main__":
    print(migrate(*sys.argv[1:3]))
