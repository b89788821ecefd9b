"""Run by test_data_parallel.py in a subprocess with XLA_FLAGS=--xla_force_host_platform_device_count=2
KERAS_BACKEND=jax: a small convolutional tagger (convolution, batch norm, max pool, sigmoid tags: the
layers of the recipes' SampleCNN, compiled with the thesis SGD) through
the recipes' loop (training.Run + training.fit, validation by predict_padded) for 2 epochs of 3
steps, once on one device and once under `--data-parallel` (common/distribute.data_parallel).
Prints one JSON line: per run the history, the final variables and, under data parallel, where
each variable lives and whether its copies agree."""

import json
import sys
from pathlib import Path

import keras
import numpy as np

from training_recipes.common import training
from training_recipes.common.audio_batches import predict_padded
from training_recipes.common.distribute import data_parallel
from zoo.samplecnn import thesis_sgd

BATCH, STEPS, TAGS, LENGTH = 4, 3, 3, 243


def build():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((LENGTH,))
    x = keras.layers.Reshape((LENGTH, 1))(inputs)
    for filters in (8, 16):
        x = keras.layers.Conv1D(filters, 3, padding="same")(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.MaxPooling1D(3)(keras.layers.ReLU()(x))
    x = keras.layers.GlobalMaxPooling1D()(x)
    model = keras.Model(inputs, keras.layers.Dense(TAGS, activation="sigmoid")(x))
    model.compile(optimizer=thesis_sgd(0.01), loss="binary_crossentropy")
    return model


def data():
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((BATCH * (STEPS + 1), LENGTH))).astype(np.float32)
    y = (rng.random((len(x), TAGS)) < 0.5).astype(np.float32)
    return x, y


def train(out, parallel):
    x, y = data()
    with data_parallel(parallel, {"--batch-size": BATCH}) as devices:
        model = build()  # inside: the variables are laid out by the distribution
        initial = [keras.ops.convert_to_numpy(v).tolist() for v in model.trainable_variables]
        valid_x, valid_y = x[-BATCH:], y[-BATCH:]

        def validate():
            p = np.clip(predict_padded(model, valid_x, BATCH), 1e-7, 1 - 1e-7)
            return {"loss": float(-np.mean(valid_y * np.log(p) + (1 - valid_y) * np.log(1 - p)))}

        def batches(epoch):
            return iter([(x[s * BATCH:(s + 1) * BATCH], y[s * BATCH:(s + 1) * BATCH]) for s in range(STEPS)])

        with training.Run(out, {"seed": 0, "data_parallel": parallel}) as run:
            state = training.fit(model, run, epochs=2, steps_per_epoch=STEPS, batches=batches, validate=validate,
                                 schedule=training.PlateauSchedule(0.01))
        placement = []
        for v in model.variables:
            value = v.value
            copies = [np.asarray(shard.data) for shard in value.addressable_shards]
            placement.append({"path": v.path, "devices": len(value.sharding.device_set),
                              "copies_equal": all(np.array_equal(copies[0], c) for c in copies[1:]),
                              "copies": len(copies)})
        refused = None
        try:
            from training_recipes.common.distribute import check_batch

            check_batch(BATCH + 1)
        except training.RecipeError as error:
            refused = str(error)
        return {"devices": devices, "history": state["history"], "initial": initial,
                "final": [keras.ops.convert_to_numpy(v).tolist() for v in model.trainable_variables],
                "placement": placement, "odd_batch_refused": refused,
                "log": (Path(out) / "train.log").read_text()}


if __name__ == "__main__":
    base = Path(sys.argv[1])
    single = train(base / "single", parallel=False)
    parallel = train(base / "parallel", parallel=True)
    after = keras.distribution.distribution()
    print(json.dumps({"single": single, "parallel": parallel, "jax_devices": len(keras.distribution.list_devices()),
                      "distribution_after": None if after is None else type(after).__name__}))
