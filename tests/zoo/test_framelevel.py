import keras
import numpy as np
import pytest

import zoo
from zoo.framelevel import num_modules

# (window, hop, n) rows of Table 3.2.
TABLE_3_2 = [(729, 729, 4), (729, 243, 5), (243, 243, 5), (243, 81, 6), (81, 81, 6)]


@pytest.mark.parametrize("window,hop,n", TABLE_3_2)
def test_mel_grid_of_table_3_2(window, hop, n):
    model = zoo.build("framelevel-mel", window=window, hop=hop)
    assert model.get_layer("frontend").output.shape == (None, 59049 // hop, 128)
    backbone = model.get_layer("backbone")
    assert backbone.get_layer(f"block{n}_pool").output.shape[1] == 1
    assert num_modules(59049, hop) == n


@pytest.mark.parametrize("window,hop,n", TABLE_3_2)
def test_raw_grid_of_table_3_2(window, hop, n):
    backbone = zoo.build("framelevel-raw", window=window, hop=hop).get_layer("backbone")
    conv = backbone.get_layer("filterbank_conv")
    assert conv.kernel_size == (window,) and conv.strides == (hop,) and conv.filters == 128
    assert conv.output.shape == (None, 59049 // hop, 128)
    assert backbone.get_layer(f"block{n}_pool").output.shape[1] == 1


def test_window_shorter_than_fft_is_zero_padded():
    frontend = zoo.build("framelevel-mel", window=81, hop=81).get_layer("frontend")
    window = frontend._window
    assert window.shape == (729,)
    assert np.count_nonzero(window) == 80  # periodic Hann of 81 has one zero at its start
    assert np.all(window[:324] == 0) and np.all(window[405:] == 0)


def test_grid_that_does_not_fit_is_refused():
    with pytest.raises(ValueError, match="power of 3"):
        zoo.build("framelevel-raw", hop=100)


MEL_TINY = zoo.get_model_info("framelevel-mel").tiny


def test_mel_input_is_standardised_by_default():
    """Section 3.1.5: mel input minus the mean, divided by the std of all the input data."""
    backbone = zoo.build("framelevel-mel", **MEL_TINY).get_layer("backbone")
    layer = backbone.get_layer("input_standardization")
    assert not layer.center and not layer.scale
    probe = keras.Model(backbone.input, backbone.get_layer("input_unflatten").output)
    rng = np.random.default_rng(0)
    frames = 5.0 + 3.0 * rng.standard_normal((4, 27, 16)).astype("float32")
    frames[..., :8] += 2.0  # bands differ: one mean over all bands keeps that difference
    out = keras.ops.convert_to_numpy(probe(frames, training=True))
    assert out.shape == frames.shape
    np.testing.assert_allclose([out.mean(), out.std()], [0.0, 1.0], atol=1e-3)
    gap = (frames[..., :8].mean() - frames[..., 8:].mean()) / frames.std()
    np.testing.assert_allclose(out[..., :8].mean() - out[..., 8:].mean(), gap, rtol=1e-3)
    assert gap > 0.5  # a per-band standardisation would have removed it
    # Inference: the training data's moving mean and variance.
    layer.moving_mean.assign(np.array([5.0], "float32"))
    layer.moving_variance.assign(np.array([9.0], "float32"))
    out = keras.ops.convert_to_numpy(probe(frames, training=False))
    np.testing.assert_allclose(out, (frames - 5.0) / np.sqrt(9.0 + 1e-5), rtol=1e-4, atol=1e-5)


def test_mel_fixed_standardisation_keeps_the_old_graph():
    """Given numbers (as saved presets store them), the front end standardises; no extra layer."""
    model = zoo.build("framelevel-mel", **MEL_TINY, mel_mean=0.25, mel_std=0.5)
    frontend = model.get_layer("frontend")
    assert (frontend.mean, frontend.std) == (0.25, 0.5)
    names = {layer.name for layer in model.get_layer("backbone").layers}
    assert not names & {"input_flatten", "input_standardization", "input_unflatten"}
    learned = zoo.build("framelevel-mel", **MEL_TINY)
    assert (learned.get_layer("frontend").mean, learned.get_layer("frontend").std) == (0.0, 1.0)
    with pytest.raises(ValueError, match="both"):
        zoo.build("framelevel-mel", **MEL_TINY, mel_mean=0.25)
