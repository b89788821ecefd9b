"""PairScores (zoo/layers.py) with a sub-space mask over an all-zero slice: a dead ReLU sub-space
of a small network. The cosine score must stay finite to train: sqrt(0)' made NaN weights (found by
the chapter 5 recipe test on torch)."""

import keras
import numpy as np

from zoo.layers import PairScores
from zoo.losses import MarginHingeLoss


def test_cosine_scores_of_an_all_zero_masked_slice_train_to_finite_weights():
    anchor_in = keras.Input((4,), name="anchor")
    candidates = keras.Input((2, 4), name="candidates")
    mask = keras.Input((4,), name="mask")
    dense = keras.layers.Dense(4, name="embed")
    scores = PairScores("cosine")(dense(anchor_in), candidates, subspace_mask=mask)
    model = keras.Model([anchor_in, candidates, mask], scores)
    kernel, bias = dense.get_weights()
    kernel[:, :2] = 0.0  # the masked-in slice of the anchor's embedding is exactly zero
    dense.set_weights([kernel, bias])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=MarginHingeLoss(0.1))

    rng = np.random.default_rng(0)
    x = [rng.normal(size=(3, 4)).astype("float32"), rng.normal(size=(3, 2, 4)).astype("float32"),
         np.tile(np.float32([1, 1, 0, 0]), (3, 1))]
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(x)), np.zeros((3, 2), "float32"))
    loss = model.train_on_batch(x, np.zeros((3, 2), "float32"))
    assert np.isfinite(loss)
    assert all(np.all(np.isfinite(w)) for w in dense.get_weights())
