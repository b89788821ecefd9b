"""Every registered model: builds at thesis size, trains one step, survives a round trip."""

import keras
import numpy as np
import pytest

import zoo
from helpers import random_inputs, run_save_load_test, run_training_step_test

KERAS_MODELS = [n for n in zoo.list_models() if zoo.get_model_info(n).kind == "keras"]


def test_registry_lists_the_public_names():
    expected = {
        "samplecnn", "samplecnn-2k", "samplecnn-4k", "samplecnn-8k", "samplecnn-12k",
        "samplecnn-16k", "samplecnn-20k", "framelevel-mel", "framelevel-raw", "rese2-multi",
        "multiscale-aggregator", "artist-basic", "tag-basic", "artist-siamese", "artist-album-track",
        "inception-triplet", "inception-csn-triplet", "inception-csn-track-triplet", "inception-proxy",
        "inception-classifier",
        "inception-disentangled-classifier", "mfcc-vq",
    }
    assert expected <= set(zoo.list_models())
    assert zoo.list_models("samplecnn-*k") == sorted(
        ["samplecnn-2k", "samplecnn-4k", "samplecnn-8k", "samplecnn-12k", "samplecnn-16k", "samplecnn-20k"]
    )


def test_unknown_name_and_argument_fail_clearly():
    with pytest.raises(KeyError, match="samplecnn"):
        zoo.build("samplecn")
    with pytest.raises(TypeError, match="no argument"):
        zoo.build("samplecnn", num_tag=10)


@pytest.mark.parametrize("name", KERAS_MODELS)
def test_builds_at_thesis_size(name):
    model = zoo.build(name)
    assert isinstance(model, keras.Model)
    assert model.count_params() > 0
    entry = zoo.get_model_info(name)
    assert entry.reference and entry.description


@pytest.mark.parametrize("name", KERAS_MODELS)
def test_tiny_forward_shapes(name):
    model = zoo.build(name, **zoo.get_model_info(name).tiny)
    outputs = keras.tree.flatten(model.predict(random_inputs(model, 3), verbose=0))
    for output, spec in zip(outputs, model.outputs):
        assert output.shape == (3, *spec.shape[1:])
        assert np.all(np.isfinite(output))


@pytest.mark.parametrize("name", KERAS_MODELS)
def test_one_training_step_lowers_loss(name):
    keras.utils.set_random_seed(0)
    run_training_step_test(zoo.build(name, **zoo.get_model_info(name).tiny))


@pytest.mark.parametrize("name", KERAS_MODELS)
def test_keras_file_round_trip(name, tmp_path):
    run_save_load_test(zoo.build(name, **zoo.get_model_info(name).tiny), tmp_path)
