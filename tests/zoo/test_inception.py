"""Inception family (thesis 5.1-5.2): backbone shapes and every scoring equation in numpy."""

import keras
import numpy as np
import pytest

import zoo
from helpers import random_inputs
from zoo.inception import CLASS_SUBSPACES_5_2
from zoo.layers import L2Normalize, subspace_layout
from zoo.losses import track_regularization_weights


def tiny(name, **overrides):
    keras.utils.set_random_seed(0)
    arguments = {**zoo.get_model_info(name).tiny, **overrides}
    return zoo.build(name, **arguments), zoo.model_arguments(name, **arguments)


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def unit(x):
    """x / ||x|| with the layers' epsilon: a tiny ReLU sub-space may be all zeros."""
    return x / np.sqrt(np.sum(x * x, axis=-1, keepdims=True) + 1e-12)


def embed(model, waveforms):
    return numpy(model.get_layer("embedder")(waveforms, training=False))


def test_backbone_at_thesis_size():
    embedder = zoo.build("inception-triplet").get_layer("embedder")
    backbone = embedder.get_layer("backbone")
    assert embedder.input.shape == (None, 65536)
    assert embedder.get_layer("frontend").output.shape == (None, 129, 128)  # 3 s, 129 x 128
    assert backbone.input.shape == (None, 129, 128)
    assert backbone.get_layer("stem_conv").kernel.shape == (5, 5, 1, 64)
    assert backbone.get_layer("stem_pool").output.shape == (None, 64, 64, 64)
    channels = 64
    for i in range(1, 7):  # each naive module halves the map: 64 -> 32 -> ... -> 1
        side = 64 // 2**i
        assert backbone.get_layer(f"block{i}_naive_3x3_conv").strides == (2, 2)
        assert backbone.get_layer(f"block{i}_naive").output.shape == (None, side, side, 64 + 128 + 32 + channels)
        assert backbone.get_layer(f"block{i}_reduce").output.shape == (None, side, side, 256)
        channels = 256
    assert "block7_naive" not in [layer.name for layer in backbone.layers]
    assert backbone.output.shape == (None, 256)
    waveform = np.random.default_rng(0).standard_normal((1, 65536)).astype("float32") * 0.1
    embedding = numpy(embedder(waveform, training=False))
    assert embedding.shape == (1, 256)
    np.testing.assert_allclose(np.linalg.norm(embedding, axis=-1), 1.0, rtol=1e-5)  # 5.1.3 L2 norm


def test_disentangled_classifier_at_thesis_size():
    model = zoo.build("inception-disentangled-classifier")
    embedder = model.get_layer("embedder")
    sub_dense = embedder.get_layer("embedding")  # Eq. 5.16: one 64-unit h_s per notion, no 256-unit layer
    assert [tuple(k.shape) for k in sub_dense.kernels] == [(256, 64)] * 4
    assert [w.name for w in sub_dense.kernels] == [f"{s}_kernel" for s in ("genre", "mood", "instrument", "era")]
    assert embedder.output.shape == (None, 256)
    assert model.output.shape == (None, 50)
    assert [CLASS_SUBSPACES_5_2.count(s) for s in ("genre", "mood", "instrument", "era")] == [28, 12, 5, 5]


def test_thesis_training_settings():
    for name in ("inception-triplet", "inception-csn-triplet"):
        arguments = zoo.model_arguments(name)
        assert (arguments["margin"], arguments["learning_rate"], arguments["metric"]) == (0.1, 0.01, "euclidean")
        assert tuple(arguments["subspaces"]) == ("genre", "mood", "instrument", "tempo")
    assert zoo.model_arguments("inception-csn-triplet")["track_weight"] == 0.5
    for name in ("inception-proxy", "inception-classifier", "inception-disentangled-classifier"):
        arguments = zoo.model_arguments(name)
        assert arguments["learning_rate"] == 0.005
        assert tuple(arguments["subspaces"]) == ("genre", "mood", "instrument", "era")
        assert subspace_layout(arguments["subspaces"], arguments["embedding_size"])["era"] == [192, 256]


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_triplet_scores_are_eq_5_1_and_5_6(metric):
    model, _ = tiny("inception-triplet", metric=metric)
    x = random_inputs(model, 3)
    anchor, positive, negative = (embed(model, x[k]) for k in ("anchor", "positive", "negative"))
    np.testing.assert_allclose(np.linalg.norm(anchor, axis=-1), 1.0, rtol=1e-5)
    if metric == "euclidean":  # -D so that larger = closer, the hinge's convention
        expected = -np.stack([np.linalg.norm(anchor - c, axis=-1) for c in (positive, negative)], 1)
    else:
        expected = np.stack([np.sum(unit(anchor) * unit(c), -1) for c in (positive, negative)], 1)
    scores = numpy(model(x, training=False))
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-5)
    hinge = np.maximum(0.0, 0.1 - scores[:, 0] + scores[:, 1]).mean()  # Eq. 5.1 with margin 0.1
    loss = model.compute_loss(x=x, y=np.zeros((3, 2), "float32"), y_pred=scores, training=False)
    np.testing.assert_allclose(numpy(loss), hinge, rtol=1e-5, atol=1e-7)


def test_condition_masks_only_pass_their_subspace():
    model, arguments = tiny("inception-csn-triplet")
    layout = subspace_layout(arguments["subspaces"], arguments["embedding_size"])
    lookup = model.get_layer("condition_mask")
    assert lookup.get_config()["subspaces"] == layout  # the layout is in the saved config
    num_subspaces = len(layout)
    x = random_inputs(model, num_subspaces + 1)
    x["condition"] = np.arange(num_subspaces + 1, dtype="int32")  # last row: track triplet
    anchor, positive, negative = (embed(model, x[k]) for k in ("anchor", "positive", "negative"))
    masks = numpy(lookup(x["condition"]))
    expected_masks = np.zeros_like(masks)
    for row, (start, stop) in enumerate(layout.values()):
        expected_masks[row, start:stop] = 1.0
    expected_masks[-1] = 1.0
    np.testing.assert_array_equal(masks, expected_masks)

    def scores(a):
        candidates = model.get_layer("scores_candidates")([positive, negative])
        return numpy(model.get_layer("scores")(a, candidates, subspace_mask=masks))

    eq_5_3 = -np.stack([np.linalg.norm(anchor * masks - c * masks, axis=-1) for c in (positive, negative)], 1)
    np.testing.assert_allclose(numpy(model(x, training=False)), eq_5_3, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(scores(anchor), eq_5_3, rtol=1e-4, atol=1e-5)
    noise = np.random.default_rng(1).standard_normal(anchor.shape).astype("float32")
    outside_region = 1.0 - masks
    outside_region[-1] = 1.0 - masks[0]  # the track row: what the genre mask would block
    outside = scores(anchor + outside_region * noise) - eq_5_3
    inside = scores(anchor + masks * noise) - eq_5_3
    np.testing.assert_allclose(outside[:-1], 0.0, atol=1e-6)  # other sub-spaces are blocked
    assert np.all(np.abs(outside[-1]) > 1e-4)  # track triplets see the whole space
    assert np.all(np.abs(inside) > 1e-4)


def test_track_regularization_weighs_track_triplets_by_lambda():
    # A margin no unit-vector distance can meet keeps every hinge term active.
    model, arguments = tiny("inception-csn-triplet", margin=3.0)
    num_subspaces, track_weight = len(arguments["subspaces"]), arguments["track_weight"]
    conditions = np.array([0, 1, 2, 3, num_subspaces, num_subspaces], "int32")
    x = random_inputs(model, len(conditions))
    x["condition"] = conditions
    y = np.zeros((len(conditions), 2), "float32")
    scores = numpy(model(x, training=False))
    hinge = np.maximum(0.0, 3.0 - scores[:, 0] + scores[:, 1])
    is_track = conditions == num_subspaces
    category_part = hinge[~is_track].sum() / len(hinge)
    track_part = hinge[is_track].sum() / len(hinge)
    assert category_part > 0 and track_part > 0
    weights = track_regularization_weights(conditions, num_subspaces, track_weight)
    loss = model.compute_loss(x=x, y=y, y_pred=scores, sample_weight=weights, training=False)
    np.testing.assert_allclose(numpy(loss), category_part + track_weight * track_part, rtol=1e-5)
    assert abs(float(numpy(loss)) - hinge.mean()) > 1e-3  # lambda = 0.5 really changed it


@pytest.mark.parametrize("disentangled", [False, True])
def test_proxy_scores_are_eq_5_11_and_5_12(disentangled):
    # A linear embedding keeps every tiny 4-d sub-space dense (ReLU leaves some one-hot).
    model, arguments = tiny("inception-proxy", disentangled=disentangled, embedding_activation=None)
    layout = subspace_layout(arguments["subspaces"], arguments["embedding_size"])
    x = random_inputs(model, 3)
    embedder = model.get_layer("embedder")
    f = numpy(keras.Model(embedder.input, embedder.get_layer("embedding").output)(x, training=False))
    proxies = numpy(model.get_layer("proxies").proxies)
    assert proxies.shape == (arguments["num_classes"], arguments["embedding_size"])  # points of the space
    expected = sigmoid(unit(f) @ proxies.T)  # Eq. 5.11
    if disentangled:  # Eq. 5.12: f o m_s normalised, dotted with p_z o m_s
        for z, subspace in enumerate(arguments["class_subspaces"]):
            start, stop = layout[subspace]
            expected[:, z] = sigmoid(unit(f[:, start:stop]) @ proxies[z, start:stop])
    embedding = embed(model, x)  # the embedder returns the normalised embedding
    for start, stop in (layout.values() if disentangled else [(0, arguments["embedding_size"])]):
        np.testing.assert_allclose(embedding[:, start:stop], unit(f[:, start:stop]), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(numpy(model(x, training=False)), expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("normalize", [False, True])
def test_classifier_is_eq_5_13_or_plain(normalize):
    model, _ = tiny("inception-classifier", normalize=normalize, embedding_activation=None)
    head = model.get_layer("classes")  # the last layer: a bias-free Dense, its kernel columns c_z
    assert isinstance(head, keras.layers.Dense) and not head.use_bias
    embedder = model.get_layer("embedder")
    assert any(isinstance(layer, L2Normalize) for layer in embedder.layers) == normalize
    x = random_inputs(model, 3)
    f = numpy(keras.Model(embedder.input, embedder.get_layer("embedding").output)(x, training=False))
    centroids = numpy(head.kernel)
    assert centroids.shape == (16, 6)
    expected = sigmoid((unit(f) if normalize else f) @ centroids)  # Eq. 5.13, no bias
    np.testing.assert_allclose(numpy(model(x, training=False)), expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(embed(model, x), unit(f) if normalize else f, rtol=1e-4, atol=1e-6)


def test_disentangled_classifier_is_eq_5_16():
    model, arguments = tiny("inception-disentangled-classifier")
    layout = subspace_layout(arguments["subspaces"], arguments["embedding_size"])
    class_subspaces = list(arguments["class_subspaces"])
    embedder, head = model.get_layer("embedder"), model.get_layer("classes")
    x = random_inputs(model, 3)
    embedding = embed(model, x)
    h = numpy(keras.Model(embedder.input, embedder.get_layer("embedding").output)(x, training=False))
    for start, stop in layout.values():  # h_s / ||h_s||, each sub-dense output on its own
        np.testing.assert_allclose(embedding[:, start:stop], unit(h[:, start:stop]), rtol=1e-4, atol=1e-6)
    scores = numpy(model(x, training=False))
    centroids = {w.name.split("_centroids")[0]: numpy(w) for w in head.weights}
    expected = np.zeros_like(scores)
    for z, subspace in enumerate(class_subspaces):
        column = class_subspaces[:z].count(subspace)  # its place among its sub-space's classes
        start, stop = layout[subspace]
        expected[:, z] = sigmoid(embedding[:, start:stop] @ centroids[subspace][:, column])
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-6)
    noise = np.random.default_rng(2).standard_normal(embedding.shape).astype("float32")
    for subspace, (start, stop) in layout.items():
        moved = embedding.copy()
        moved[:, start:stop] += noise[:, start:stop]
        changed = np.any(np.abs(numpy(head(moved)) - scores) > 1e-6, axis=0)
        np.testing.assert_array_equal(changed, [s == subspace for s in class_subspaces])


def test_class_subspaces_are_checked():
    with pytest.raises(ValueError, match="class_subspaces"):
        tiny("inception-disentangled-classifier", num_classes=5)
    with pytest.raises(ValueError, match="tempo"):
        tiny("inception-proxy", disentangled=True,
             class_subspaces=("genre", "mood", "tempo", "genre", "era", "mood"))
