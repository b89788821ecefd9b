"""Checks every family test calls (KerasHub test_case.py in spirit)."""

import json

import keras
import numpy as np

from zoo.losses import MarginHingeLoss


def random_inputs(model, batch_size=4, seed=0):
    """A batch for every model input: waveforms / features as noise, integer
    inputs (conditions) as small indexes."""
    rng = np.random.default_rng(seed)
    batch = {}
    for tensor in model.inputs:
        shape = (batch_size, *tensor.shape[1:])
        if "int" in str(tensor.dtype):
            batch[tensor.name] = rng.integers(0, 2, size=shape).astype("int32")
        else:
            batch[tensor.name] = (0.1 * rng.standard_normal(shape)).astype("float32")
    return batch if len(batch) > 1 else next(iter(batch.values()))


def _target_for(loss, shape, rng):
    if isinstance(loss, MarginHingeLoss):
        return np.zeros(shape, "float32")
    name = loss if isinstance(loss, str) else getattr(loss, "name", type(loss).__name__)
    if "categorical" in name:
        target = np.zeros(shape, "float32")
        target[np.arange(shape[0]), rng.integers(0, shape[-1], shape[0])] = 1.0
        return target
    return rng.integers(0, 2, size=shape).astype("float32")


def random_targets(model, batch_size=4, seed=1):
    """Targets shaped like the outputs, of the kind each compiled loss expects."""
    rng = np.random.default_rng(seed)
    losses = model.loss if isinstance(model.loss, (list, tuple, dict)) else [model.loss]
    if isinstance(losses, dict):
        losses = [losses[name] for name in model.output_names]
    shapes = [(batch_size, *out.shape[1:]) for out in model.outputs]
    targets = [_target_for(loss, shape, rng) for loss, shape in zip(losses, shapes)]
    return targets if len(targets) > 1 else targets[0]


def loss_value(model, x, y):
    """Loss with batch statistics (training=True), as the optimiser sees it."""
    y_pred = model(x, training=True)
    return float(keras.ops.convert_to_numpy(model.compute_loss(x=x, y=y, y_pred=y_pred)))


def run_training_step_test(model, batch_size=4):
    """One optimiser step on a fixed tiny batch must lower that batch's loss."""
    x, y = random_inputs(model, batch_size), random_targets(model, batch_size)
    before = loss_value(model, x, y)
    assert np.isfinite(before) and before > 0, before
    model.train_on_batch(x, y)
    after = loss_value(model, x, y)
    assert after < before, (before, after)


def run_save_load_test(model, tmp_path, batch_size=2):
    """`.keras` round trip (safe mode) gives the same config and the same outputs."""
    x = random_inputs(model, batch_size, seed=3)
    expected = model.predict(x, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert json.dumps(restored.get_config(), sort_keys=True, default=str) == json.dumps(
        model.get_config(), sort_keys=True, default=str
    )
    actual = restored.predict(x, verbose=0)
    for e, a in zip(keras.tree.flatten(expected), keras.tree.flatten(actual)):
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-6)
    return restored


def tiny_samplecnn_preset_args(name, sample_rate, tags=None):
    """save_preset keyword arguments of a tiny raw-waveform SampleCNN preset (81-sample
    segments: fast), optionally a tagger with the given tag names."""
    import zoo

    tiny = dict(zoo.get_model_info("samplecnn").tiny)
    metadata = {"preset": name, "registry_name": "samplecnn", "embedding_size": tiny["top_filters"],
                "license": "MIT", "outputs": [{"name": "embedding", "purpose": "embeddings", "size": tiny["top_filters"]}]}
    if tags:
        tiny["num_tags"] = len(tags)
        metadata["tags"] = list(tags)
        metadata["outputs"].append({"name": "tags", "purpose": "predictions", "size": len(tags)})
    preprocessor = {"sample_rate": sample_rate, "frontend": {},
                    "segment": {"length": 81, "hop": 81, "unit": "samples"}, "aggregation": "mean"}
    return {"name": "samplecnn", "arguments": tiny, "preprocessor": preprocessor, "metadata": metadata}


def tiny_samplecnn_preset(directory, sample_rate, tags=None, seed=0):
    """Build, seed and save a tiny SampleCNN preset at `directory`; returns its Path."""
    import zoo
    from sdk.preset import save_preset

    keras.utils.set_random_seed(seed)
    save = tiny_samplecnn_preset_args(directory.name, sample_rate, tags)
    return save_preset(zoo.build("samplecnn", **save["arguments"]), directory, **save)
