import keras
import numpy as np
import pytest

import zoo
from zoo.multiscale import TABLE_3_4_ROWS, copy_backbone_weights, multi_level_extractor, scale_name


def test_table_3_4_scales_have_the_thesis_input_sizes():
    seconds = {s: multi_level_extractor(s, width_multiplier=1 / 32).input.shape[1] / 22050 for s in TABLE_3_4_ROWS[3]}
    assert round(seconds["2^13"], 2) == 0.74 and round(seconds["5^6"], 2) == 3.54
    assert multi_level_extractor("3^9", width_multiplier=1 / 32).input.shape[1] == 59049


def test_three_levels_of_3_9_give_1536_features():
    extractor = multi_level_extractor("3^9")
    assert extractor.output.shape == (None, 3 * 512)


def test_default_model_windows_and_widths():
    model = zoo.build("multiscale-aggregator")
    assert model.input_shape == (None, 641655)
    # 3^8 (19,683 samples) fits 32 times and 3^9 (59,049) 10 times into 29.1 s; max + mean each.
    assert model.get_layer("samplecnn_3_8_pool").num_segments == 32
    assert model.get_layer("samplecnn_3_9_pool").num_segments == 10
    assert model.get_layer("fc1").kernel.shape == (2 * (2 * 3 * 512), 4096)
    assert model.get_layer("fc2").units == 4096
    assert not model.get_layer("samplecnn_3_9").trainable


def test_pooling_over_windows_is_max_and_mean():
    tiny = zoo.get_model_info("multiscale-aggregator").tiny
    model = zoo.build("multiscale-aggregator", **{**tiny, "scales": ("3^3",)})
    clip = np.random.default_rng(0).standard_normal((2, 324)).astype("float32")
    pooled = keras.Model(model.input, model.get_layer("samplecnn_3_3_pool").output).predict(clip, verbose=0)
    extractor = model.get_layer("samplecnn_3_3")
    windows = extractor.predict(clip.reshape(2 * 4, 81, 1), verbose=0).reshape(2, 4, -1)
    np.testing.assert_allclose(pooled, np.concatenate([windows.max(1), windows.mean(1)], -1), rtol=1e-5, atol=1e-5)


def test_copy_backbone_weights_from_a_tagger():
    model = zoo.build("multiscale-aggregator", **{**zoo.get_model_info("multiscale-aggregator").tiny,
                                                  "scales": ("3^3",), "width_multiplier": 1.0,
                                                  "top_filters": 32})
    # A tagger with the extractor's widths (width_multiplier=1.0 keeps the defaults).
    extractor = model.get_layer(scale_name("3^3"))
    widths = [extractor.get_layer(f"{n}_conv").filters for n in ("conv0", "block1", "block2", "block3")]
    tagger = zoo.build("samplecnn", m=3, n=3, filters=widths, top_filters=32)
    assert copy_backbone_weights(tagger, model, "3^3") > 0
    source = tagger.get_layer("backbone").get_layer("block2_conv").kernel
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(extractor.get_layer("block2_conv").kernel),
                                  keras.ops.convert_to_numpy(source))


def test_clip_shorter_than_a_window_is_refused():
    with pytest.raises(ValueError, match="shorter"):
        zoo.build("multiscale-aggregator", scales=("3^9",), clip_samples=1000)
