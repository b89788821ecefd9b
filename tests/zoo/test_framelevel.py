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
