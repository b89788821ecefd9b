"""Fine-tuning: a new head on a preset's backbone, from your own labels.

    model = sdk.load("samplecnn-msd")
    tuned = sdk.fine_tune(model, "my-labelled-music/", out="my-tagger")  # folder/<label>/*.ogg
    tuned = sdk.fine_tune(model, "labels.csv", multi_label=True)        # columns path,labels ("rock;calm")
    tuned.tag("new-song.ogg"); tuned.save("my-tagger")                   # model itself is unchanged
    sdk.load("my-tagger").tag("new-song.ogg")

Every segment of a song is a training example with the song's labels (the
thesis trains on segments and averages segment predictions at test time).
`freeze_backbone=False` fine-tunes the whole backbone too (transfer-learning
rows of thesis Tables 3.6 and 4.6 use the frozen form).
"""

import csv
from pathlib import Path

import numpy as np

from sdk.audio import AudioError, list_audio_files
from sdk.inference import run_batches
from sdk.model import iter_layers


def read_labels(source):
    """(paths, label lists) from a folder of label sub-folders or a CSV with path + label(s)."""
    source = Path(source)
    if source.is_dir():
        pairs = [(f, [f.parent.name]) for f in list_audio_files(source) if f.parent != source]
        if not pairs:
            raise ValueError(f"{source}: expected one sub-folder per label holding audio files")
        return [p for p, _ in pairs], [l for _, l in pairs]
    with open(source, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "path" not in rows[0] or not ({"label", "labels"} & set(rows[0])):
        raise ValueError(f"{source}: a labels CSV needs a 'path' column and a 'label' or 'labels' column")
    column = "labels" if "labels" in rows[0] else "label"
    paths = [(source.parent / row["path"]).resolve() for row in rows]
    return paths, [[x.strip() for x in row[column].split(";") if x.strip()] for row in rows]


def _check_readable(source, names, targets, skipped):
    """Raise ValueError, naming files and reasons, when a label is left with no readable song."""
    seen = np.concatenate(targets).any(axis=0) if targets else np.zeros(len(names), bool)
    empty = [name for name, present in zip(names, seen) if not present]
    if empty:
        reasons = "; ".join(reason if path in reason else f"{path}: {reason}" for path, reason in skipped[:3])
        more = f" (and {len(skipped) - 3} more)" if len(skipped) > 3 else ""
        raise ValueError(f"{source}: no readable audio for label(s) {', '.join(empty)}; "
                         f"{len(skipped)} file(s) could not be read: {reasons}{more}")


def fine_tune(model, source, *, multi_label=False, freeze_backbone=True, epochs=20, batch_size=32,
              learning_rate=1e-3, seed=0, verbose=0, out=None, preset_id=None):
    """A new model: `model`'s network with a new tag head trained on your labels (and the
    backbone too unless `freeze_backbone`). `model` itself is left as it was.

    The new model's `history` is the Keras training history and `skipped` lists the files
    that could not be decoded; `out=` also saves it as a preset directory (`save()`).
    """
    import keras

    paths, labels = read_labels(source)
    names = sorted({label for row in labels for label in row})
    if len(names) < 2:
        raise ValueError(f"{source}: need at least two labels to train a head, found {names}")
    segments, targets, skipped = [], [], []
    for path, row in zip(paths, labels):
        try:
            cut = model.all_segment_inputs(path)
        except AudioError as error:
            skipped.append((str(path), str(error)))
            continue
        segments.append(cut)
        targets.append(np.repeat([[name in row for name in names]], len(cut), axis=0))
    _check_readable(source, names, targets, skipped)
    x, y = np.concatenate(segments), np.concatenate(targets).astype("float32")

    keras.utils.set_random_seed(seed)
    activation = "sigmoid" if multi_label else "softmax"
    task = model.task.with_head({"kind": "dense", "classes": len(names), "activation": activation})
    embedding_model = task.head_input_model()
    embedding_model.trainable = not freeze_backbone
    # BatchNorm stays in inference mode even when the backbone trains: its statistics
    # from pre-training beat those of a small labelled set. A non-trainable BN layer
    # runs in inference mode; `training=False` at graph construction is not enough,
    # as fit() would still use batch statistics inside the nested model.
    for layer in iter_layers(embedding_model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    head = task.tag_head[0]
    if freeze_backbone:
        # A linear probe: the frozen backbone's features are computed once.
        x = run_batches(model.compiled(embedding_model), [x], batch_size)
        inputs = keras.Input(x.shape[1:])
        trainer = keras.Model(inputs, head(inputs))
    else:
        inputs = keras.Input(x.shape[1:])
        trainer = keras.Model(inputs, head(embedding_model(inputs)))
    trainer.compile(optimizer=keras.optimizers.Adam(learning_rate),
                    loss="binary_crossentropy" if multi_label else "categorical_crossentropy")
    history = trainer.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=verbose)
    record = {"kind": f"a new {activation} head trained on {Path(str(source)).name}"
                      + (" (backbone frozen)" if freeze_backbone else " (backbone fine-tuned)"),
              "labelled_source": str(source), "songs": len(paths) - len(skipped), "segments": int(len(y)),
              "epochs": epochs, "learning_rate": learning_rate, "multi_label": multi_label,
              "freeze_backbone": freeze_backbone, "final_loss": float(history.history["loss"][-1])}
    tuned = type(model).derived(model, task, model.derived_metadata(names, preset_id, record))
    tuned.history, tuned.skipped = history, skipped
    if out is not None:
        tuned.save(out)
    return tuned
