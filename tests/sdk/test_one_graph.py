"""Every bundled preset is one Keras graph (zoo.task.MusicTask), its outputs unchanged.

tests/data/regression/bundled_presets.npz holds each preset's outputs on the test
excerpt as the SDK computed them before presets became one graph (front end and
numpy read-out outside Keras); tests/data/make_regression.py rebuilds it.
"""

import json

import keras
import numpy as np
import pytest

import sdk
from sdk.inference import CompiledGraph, bucket
from helpers import DATA, FIXTURE as CLIP
from zoo.task import MusicTask

REGRESSION = DATA / "regression" / "bundled_presets.npz"

MIN_COSINE = 0.9999


def _cosines(a, b):
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    return np.sum(a * b, -1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


@pytest.fixture(scope="module")
def reference():
    with np.load(REGRESSION) as saved:
        return dict(saved)


@pytest.mark.parametrize("preset_id", sdk.list_presets())
def test_outputs_equal_those_before_one_graph(preset_id, reference):
    model = sdk.load(preset_id)
    model.resampler = "kaiser_best"  # how the reference was made (the clip is 44.1 kHz)
    segments = model.embed(CLIP, per_segment=True)
    assert segments.shape == reference[f"{preset_id}/segments"].shape
    assert _cosines(segments, reference[f"{preset_id}/segments"]).min() >= MIN_COSINE
    assert _cosines(model.embed(CLIP), reference[f"{preset_id}/embedding"]).min() >= MIN_COSINE
    if f"{preset_id}/tags" in reference:
        scores = dict(model.tag(CLIP, top_k=None))
        np.testing.assert_allclose([scores[name] for name in model.tags], reference[f"{preset_id}/tags"], atol=2e-4)
    else:
        assert model.tags == []


@pytest.mark.parametrize("preset_id", sdk.list_presets())
def test_the_default_resampler_keeps_the_outputs(preset_id, reference):
    """soxr_hq (the SDK's default) vs the kaiser_best reference, on the 44.1 kHz clip: measured
    song-embedding cosines 0.9983-0.99987 and tag shifts <= 0.001; the musicnn presets pin
    kaiser_best in preprocessor.json (soxr_hq moved their tags by 0.035)."""
    model = sdk.load(preset_id)
    if preset_id.startswith("musicnn"):
        assert model.resampler == "kaiser_best"
        return
    assert model.resampler == "soxr_hq"
    vector, scores = model.embed_and_tag(CLIP)
    assert _cosines(vector, reference[f"{preset_id}/embedding"]).min() >= 0.997
    if f"{preset_id}/tags" in reference:
        assert np.abs(np.asarray(scores) - reference[f"{preset_id}/tags"]).max() <= 0.003


@pytest.mark.parametrize("preset_id", sdk.list_presets())
def test_each_preset_is_one_keras_graph_rebuilt_in_safe_mode(preset_id):
    model = sdk.load(preset_id)
    config = json.loads((model.directory / "config.json").read_text())
    assert config.pop("format_version") == 2 and config["registered_name"] == "zoo>MusicTask"
    rebuilt = keras.saving.deserialize_keras_object(config, safe_mode=True)
    rebuilt.load_weights(model.directory / "model.weights.h5")
    windows = next(model.segment_inputs(CLIP, batch=2))
    direct = rebuilt.predict(windows, verbose=0)
    assert isinstance(model.task, MusicTask) and set(direct) == ({"embedding", "tags"} if model.tags else {"embedding"})
    np.testing.assert_allclose(direct["embedding"], model.embed(CLIP, per_segment=True)[:2], rtol=1e-4, atol=1e-4)
    # Its parts, declared rather than found by name.
    assert model.frontend is model.task.parts.frontend and model.backbone is model.task.parts.backbone
    assert len(model.stage_names) >= 5 and model.embedding_size == int(model.metadata["embedding_size"])
    assert (model.readout is not None) == (preset_id in ("samplecnn-msd", "disentangled-msd"))


def test_levels_work_on_every_preset_and_name_the_stages():
    for preset_id in ("musicnn-msd", "samplecnn-msd"):
        model = sdk.load(preset_id)
        top = model.embed(CLIP, levels=(-1,))
        assert top.ndim == 1 and np.all(np.isfinite(top))
        with pytest.raises(ValueError, match=f"-1 .. -{len(model.stage_names)} \\({model.stage_names[0]}"):
            model.embed(CLIP, levels=(-len(model.stage_names) - 1,))


@pytest.mark.skipif(keras.backend.backend() == "torch", reason="torch runs the graph eagerly: nothing is compiled")
def test_inference_is_compiled_once_per_batch_shape(tmp_path):
    import soundfile

    model = sdk.load("samplecnn-msd")
    rng = np.random.default_rng(0)
    for name, seconds in (("a", 9.0), ("b", 10.0), ("c", 30.0)):  # 3, 3 and 11 segments of 2.68 s
        soundfile.write(tmp_path / f"{name}.wav", 0.1 * rng.standard_normal(int(seconds * 22050)), 22050)
    model.batch_size = 16  # the generic default (the preset's own is smaller on some backends)
    compiled = model.compiled(model.task)
    model.embed(tmp_path / "a.wav")
    assert compiled.traces == 1  # 3 segments run as one batch of 4
    model.embed(tmp_path / "b.wav")
    model.embed(tmp_path / "a.wav")
    assert compiled.traces == 1  # same shape: no new compilation
    model.embed(tmp_path / "c.wav")
    assert compiled.traces == 2  # 11 segments: one batch of 16
    assert [bucket(n, 16) for n in (1, 2, 3, 5, 9, 16)] == [1, 2, 4, 8, 16, 16]


def test_compiled_graph_equals_keras_predict():
    model = sdk.load("musicnn-msd")
    windows = np.concatenate(list(model.segment_inputs(CLIP)))
    out = CompiledGraph(model.task)(windows)
    expected = model.task.predict(windows, verbose=0)
    for key in ("embedding", "tags"):
        np.testing.assert_allclose(out[key], expected[key], rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="a TF SavedModel is written by the tensorflow backend")
def test_a_preset_exports_as_one_savedmodel(tmp_path):
    import tensorflow as tf

    model = sdk.load("samplecnn-msd")
    model.task.export(tmp_path / "saved", format="tf_saved_model", verbose=False)
    served = tf.saved_model.load(str(tmp_path / "saved"))
    windows = np.concatenate(list(model.segment_inputs(CLIP)))
    out = served.serve(tf.constant(windows))
    np.testing.assert_allclose(out["embedding"].numpy(), model.embed(CLIP, per_segment=True), rtol=1e-4, atol=1e-4)
    scores = dict(model.tag(CLIP, top_k=None))
    np.testing.assert_allclose(out["tags"].numpy().mean(0), [scores[n] for n in model.tags], atol=1e-5)
