import keras
import numpy as np
import pytest

from zoo.aggregation import PoolSegments, SplitSegments, pool, predict_song, segment
from zoo.heads import PrototypeHead, ProxyHead, class_prototypes
from zoo.layers import L2Normalize, SubspaceL2Normalize, subspace_layout, subspace_masks


def test_segment_cuts_pads_and_keeps_long_tails():
    x = np.arange(10, dtype=np.float32)
    np.testing.assert_array_equal(segment(x, 4), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 0]])
    assert segment(x, 4, pad_last=False).shape == (2, 4)
    assert segment(np.arange(9, dtype=np.float32), 4).shape == (2, 4)  # a 1-sample tail is dropped
    np.testing.assert_array_equal(segment(x[:3], 4), [[0, 1, 2, 0]])
    assert segment(x, 4, hop=2).shape[0] == 4
    with pytest.raises(ValueError, match="empty"):
        segment(np.zeros(0), 4)
    with pytest.raises(ValueError, match="1-D"):
        segment(np.zeros((2, 4)), 4)


def test_pool_mean_and_max():
    values = np.array([[1.0, 5.0], [3.0, -1.0]])
    np.testing.assert_array_equal(pool(values, "mean"), [2.0, 2.0])
    np.testing.assert_array_equal(pool(values, "max"), [3.0, 5.0])
    with pytest.raises(ValueError):
        pool(values, "median")


def test_predict_song_averages_segment_outputs():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")(inputs))
    x = np.arange(10, dtype=np.float32)
    np.testing.assert_allclose(predict_song(model, x, 4), [np.mean([6.0, 22.0, 17.0])])
    np.testing.assert_allclose(predict_song(model, x, 4, method="max"), [22.0])


def test_in_graph_split_and_pool():
    x = np.arange(2 * 12, dtype=np.float32).reshape(2, 12)
    windows = keras.ops.convert_to_numpy(SplitSegments(4)(x))
    np.testing.assert_array_equal(windows, x.reshape(6, 4))
    pooled = keras.ops.convert_to_numpy(PoolSegments(3, ("max", "mean"))(windows))
    np.testing.assert_allclose(pooled, np.concatenate([x.reshape(2, 3, 4).max(1), x.reshape(2, 3, 4).mean(1)], -1))


def test_class_prototypes_equation_2_9():
    embeddings = np.array([[1, 0], [3, 0], [0, 2], [0, 4]], np.float32)
    multi_hot = np.array([[1, 0], [1, 1], [0, 1], [0, 0]], np.float32)
    np.testing.assert_allclose(class_prototypes(embeddings, multi_hot), [[2, 0], [1.5, 1]])
    np.testing.assert_allclose(class_prototypes(embeddings, [0, 0, 1, 1]), [[2, 0], [0, 3]])
    with pytest.raises(ValueError):
        class_prototypes(embeddings, [0, 1])


def test_prototype_head_scores_cosine_to_centroids():
    embeddings = np.array([[1, 0], [3, 0], [0, 2], [0, 4]], np.float32)
    head = PrototypeHead.from_embeddings(embeddings, [0, 0, 1, 1])
    scores = keras.ops.convert_to_numpy(head(np.array([[1.0, 1.0], [0.0, 5.0]], np.float32)))
    np.testing.assert_allclose(scores, [[np.sqrt(0.5), np.sqrt(0.5)], [0.0, 1.0]], atol=1e-6)
    assert not head.trainable_weights


def test_proxy_head_masks_each_class_to_its_subspace():
    layout = subspace_layout(["a", "b"], 4)
    head = ProxyHead(3, subspaces=layout, class_subspaces=["a", "b", "b"], activation="linear")
    f = np.array([[1.0, 2.0, 3.0, 4.0]], np.float32)
    scores = keras.ops.convert_to_numpy(head(f))
    p = keras.ops.convert_to_numpy(head.proxies)
    a, b = f[0, :2] / np.linalg.norm(f[0, :2]), f[0, 2:] / np.linalg.norm(f[0, 2:])
    assert p.shape == (3, 4)  # one proxy per class, a point of the 4-d space
    np.testing.assert_allclose(scores[0], [a @ p[0, :2], b @ p[1, 2:], b @ p[2, 2:]], rtol=1e-5)
    cosine = ProxyHead(3, subspaces=layout, class_subspaces=["a", "b", "b"], normalize_proxies=True,
                       activation="linear")
    cosine.build((None, 4))
    cosine.proxies.assign(p)
    q = [p[0, :2] / np.linalg.norm(p[0, :2]), p[1, 2:] / np.linalg.norm(p[1, 2:]), p[2, 2:] / np.linalg.norm(p[2, 2:])]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(cosine(f))[0], [a @ q[0], b @ q[1], b @ q[2]],
                               rtol=1e-5)  # Eq. 5.8 (cosine, proxies normalised too)
    with pytest.raises(ValueError):
        ProxyHead(2, subspaces=layout, class_subspaces=["a"])


def test_normalisers_and_masks():
    f = np.array([[3.0, 4.0, 0.0, 2.0]], np.float32)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(L2Normalize()(f)), f / np.linalg.norm(f), rtol=1e-6)
    layout = subspace_layout(["x", "y"], 4)
    assert layout == {"x": [0, 2], "y": [2, 4]}
    np.testing.assert_allclose(keras.ops.convert_to_numpy(SubspaceL2Normalize(layout)(f)), [[0.6, 0.8, 0.0, 1.0]],
                               rtol=1e-6)
    np.testing.assert_array_equal(subspace_masks(layout, 4), [[1, 1, 0, 0], [0, 0, 1, 1]])
    with pytest.raises(ValueError):
        subspace_layout(["x", "y", "z"], 4)
