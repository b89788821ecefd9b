import functools

import keras
import numpy as np
import pytest
from keras import layers

import zoo
from helpers import random_inputs
from zoo.layers import SqueezeExcitation1D
from zoo.rese2multi import (SPEECH_COMMANDS, SPEECH_TEST_CLASSES, TABLE_3_7, block_lengths, derive_pool_sizes,
                             speech_test_scores)

TINY = zoo.get_model_info("rese2-multi").tiny
BLOCKS = len(TINY["filters"]) - 1


@functools.lru_cache(maxsize=None)
def thesis_model(config):
    """Full-size builds are slow (34 M parameters); share one per config."""
    return zoo.build("rese2-multi", config=config)


def _layers_of(model, kind):
    return [layer for layer in model.get_layer("backbone").layers if isinstance(layer, kind)]


def _last_pool_shape(model):
    return _layers_of(model, layers.MaxPooling1D)[-1].output.shape


@pytest.mark.parametrize("config", sorted(TABLE_3_7))
def test_table_3_7_configs(config):
    spec = TABLE_3_7[config]
    model = thesis_model(config)
    assert model.input_shape == (None, spec["num_samples"])
    assert model.output_shape == (None, spec["num_classes"])
    assert len(_layers_of(model, layers.MaxPooling1D)) == spec["num_blocks"]
    # The time axis of the last block is exactly 1: the whole input is covered.
    assert _last_pool_shape(model)[1] == 1
    assert model.layers[1].name == "frontend"
    assert zoo.model_arguments("rese2-multi", config=config)["sample_rate"] == 16000
    # Speech is single-label (softmax + CE); music and scene are multi-label tags.
    last = model.layers[-1]
    expected = "sigmoid" if spec["multi_label"] else "softmax"
    assert last.activation.__name__ == expected
    loss = "binary_crossentropy" if spec["multi_label"] else "categorical_crossentropy"
    assert model.loss == loss


def test_pool_reading_matches_table_3_7():
    assert derive_pool_sizes(39366) == [3] * 8 + [2]
    assert derive_pool_sizes(19683) == [3] * 8
    assert derive_pool_sizes(16000) == [3] * 7 + [2]
    assert block_lengths(16000, [3] * 7 + [2]) == [5333, 1777, 592, 197, 65, 21, 7, 2, 1]
    for spec in TABLE_3_7.values():
        assert len(derive_pool_sizes(spec["num_samples"])) == spec["num_blocks"]


def test_first_layer_and_table_3_1_filters():
    backbone = thesis_model("music").get_layer("backbone")
    conv0 = backbone.get_layer("conv0_conv")
    assert conv0.strides == (3,) and conv0.kernel_size == (3,)
    widths = [backbone.get_layer(f"block{i}_2_conv").filters for i in range(1, 10)]
    assert [conv0.filters, *widths] == [128, 128, 128, 256, 256, 256, 256, 256, 512, 512]
    speech = thesis_model("speech").get_layer("backbone")
    assert speech.get_layer("conv0_conv").filters == 128
    assert speech.get_layer("block8_2_conv").filters == 512


def test_block_structure():
    backbone = zoo.build("rese2-multi", **TINY).get_layer("backbone")
    # block1 keeps the width (identity shortcut), block2 widens (projection shortcut).
    names = {layer.name for layer in backbone.layers}
    assert {"block1_1_conv", "block1_1_bn", "block1_2_conv", "block1_2_bn", "block1_se",
            "block1_add", "block1_relu", "block1_pool"} <= names
    assert "block1_proj_conv" not in names
    assert {"block2_proj_conv", "block2_proj_bn"} <= names
    assert "block3_proj_conv" not in names
    se = backbone.get_layer("block3_se")
    assert se.squeeze.units == 16 * TINY["se_ratio"]
    # Thesis size: the SE hidden layer amplifies, channels * 16.
    assert thesis_model("music").get_layer("backbone").get_layer("block1_se").squeeze.units == 128 * 16


def test_ablations_change_the_layer_set():
    full = zoo.build("rese2-multi", **TINY)
    assert len(_layers_of(full, SqueezeExcitation1D)) == BLOCKS
    assert len(_layers_of(full, layers.Add)) == BLOCKS
    se_only = zoo.build("rese2-multi", **{**TINY, "use_residual": False})
    assert not _layers_of(se_only, layers.Add)
    assert len(_layers_of(se_only, SqueezeExcitation1D)) == BLOCKS
    assert not any("proj" in layer.name for layer in se_only.get_layer("backbone").layers)
    res_only = zoo.build("rese2-multi", **{**TINY, "use_se": False})
    assert not _layers_of(res_only, SqueezeExcitation1D)
    assert len(_layers_of(res_only, layers.Add)) == BLOCKS
    assert full.count_params() > res_only.count_params()
    with_dropout = zoo.build("rese2-multi", **{**TINY, "block_dropout": 0.2})
    assert len(_layers_of(with_dropout, layers.Dropout)) == BLOCKS


def test_multi_level_head_width():
    model = thesis_model("music")
    backbone = model.get_layer("backbone")
    last_three = [backbone.get_layer(f"block{i}_pool").output.shape[-1] for i in (7, 8, 9)]
    assert sum(last_three) == 256 + 512 + 512
    assert backbone.output.shape == (None, sum(last_three))
    assert model.get_layer("fc").input.shape[-1] == sum(last_three)
    assert model.get_layer("fc").units == 512
    single = zoo.build("rese2-multi", **{**TINY, "multi_level": False})
    sb = single.get_layer("backbone")
    assert sb.output.shape == (None, 16)
    assert not any(isinstance(layer, layers.Concatenate) for layer in sb.layers)


def test_se_gate_scales_channels():
    keras.utils.set_random_seed(0)
    se = zoo.build("rese2-multi", **TINY).get_layer("backbone").get_layer("block2_se")
    x = np.random.default_rng(0).standard_normal((2, 7, 16)).astype("float32")
    y = keras.ops.convert_to_numpy(se(x))
    w1, b1 = (keras.ops.convert_to_numpy(w) for w in se.squeeze.weights)
    w2, b2 = (keras.ops.convert_to_numpy(w) for w in se.excite.weights)
    assert w1.shape == (16, 16 * TINY["se_ratio"]) and w2.shape == (16 * TINY["se_ratio"], 16)
    # Squeeze (time average) -> FC + ReLU -> FC + sigmoid -> channel-wise rescale.
    hidden = np.maximum(x.mean(axis=1) @ w1 + b1, 0.0)
    gate = 1.0 / (1.0 + np.exp(-(hidden @ w2 + b2)))
    np.testing.assert_allclose(y, x * gate[:, None, :], rtol=1e-5, atol=1e-6)
    # A real recalibration: channels are scaled differently, and by a per-example gate.
    assert np.ptp(gate, axis=1).min() > 1e-3
    assert np.abs(gate[0] - gate[1]).max() > 1e-4
    assert np.all((gate > 0) & (gate < 1))


def test_overrides_and_bad_arguments():
    model = zoo.build("rese2-multi", config="speech", num_samples=486, pool_sizes=[3, 3, 3, 3, 2],
                      filters=[8] * 6, num_classes=31, fc_units=8)
    assert model.input_shape == (None, 486) and model.output_shape == (None, 31)
    assert _last_pool_shape(model)[1] == 1
    with pytest.raises(ValueError, match="config"):
        zoo.build("rese2-multi", config="speeches")
    with pytest.raises(ValueError, match="filter widths"):
        zoo.build("rese2-multi", **{**TINY, "filters": [8, 8]})
    with pytest.raises(ValueError, match="below length 1"):
        zoo.build("rese2-multi", **{**TINY, "pool_sizes": [3, 3, 3, 3]})
    with pytest.raises(ValueError, match="at least 3 blocks"):
        zoo.build("rese2-multi", **{**TINY, "pool_sizes": [3, 3], "filters": [8, 8, 8]})


def test_speech_softmax_head():
    model = zoo.build("rese2-multi", **{**TINY, "config": "speech", "num_classes": 12})
    assert model.output_shape == (None, 12) and model.loss == "categorical_crossentropy"
    probabilities = model.predict(random_inputs(model, 3), verbose=0)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-5)


def test_table_3_7_class_counts():
    """Music 50 tags, speech 31 training classes (12 at test time), scene 17 sound events."""
    assert {c: spec["num_classes"] for c, spec in TABLE_3_7.items()} == {"music": 50, "speech": 31, "scene": 17}
    speech = {k: v for k, v in TINY.items() if k != "num_classes"}
    assert zoo.build("rese2-multi", **speech, config="speech").output_shape == (None, 31)
    assert len(SPEECH_TEST_CLASSES) == 12


def test_speech_scores_fold_to_the_12_test_classes():
    others = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
              "bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow"]
    names = ["silence", *others[:7], *SPEECH_COMMANDS, *others[7:]]  # any order
    assert len(names) == 31
    scores = np.random.default_rng(0).dirichlet(np.ones(31), size=4)
    folded = speech_test_scores(scores, names)
    assert folded.shape == (4, 12)
    for j, name in enumerate(SPEECH_COMMANDS):
        np.testing.assert_allclose(folded[:, j], scores[:, names.index(name)])
    np.testing.assert_allclose(folded[:, 10], scores[:, 0])
    np.testing.assert_allclose(folded[:, 11], scores[:, [names.index(w) for w in others]].sum(-1))
    np.testing.assert_allclose(folded.sum(-1), 1.0)
    with pytest.raises(ValueError, match="lack"):
        speech_test_scores(scores, [*names[1:], "noise"])
