"""Chapter 5 heads: track regularisation inside the loss (Eq. 5.5), how Table 5.3's proxy and
classification rows differ (and where the thesis says they are equivalent), and the preset
graph (zoo.task.MusicTask) every inception network declares its parts for."""

import keras
import numpy as np
import pytest

import zoo
from helpers import random_inputs
from zoo.heads import ProxyHead
from zoo.inception import TrackRegularizedHinge
from zoo.inception_classifiers import SubspaceClassifier
from zoo.layers import L2Normalize, SubspaceDense, SubspaceL2Normalize, subspace_layout
from zoo.task import MusicTask


def tiny(name, seed=0, **overrides):
    keras.utils.set_random_seed(seed)
    arguments = {**zoo.get_model_info(name).tiny, **overrides}
    return zoo.build(name, **arguments), zoo.model_arguments(name, **arguments)


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def unit(x):
    return x / np.sqrt(np.sum(x * x, axis=-1, keepdims=True) + 1e-12)


def cosine(a, b):
    return np.sum(unit(a) * unit(b), -1)


def layer_types(model):
    return {type(layer).__name__ for layer in model.layers} | {
        type(layer).__name__ for layer in model.get_layer("embedder").layers}


# ------------------------------------------------------------------ track regularisation
def test_track_regularized_sample_shares_the_anchor_and_weighs_the_track_hinge_by_lambda():
    # A margin no cosine can meet keeps every hinge term active.
    model, arguments = tiny("inception-csn-track-triplet", margin=3.0, track_weight=2.0)
    assert [t.name for t in model.inputs] == ["anchor", "positive", "negative", "track_positive",
                                              "track_negative", "condition"]
    layout = subspace_layout(arguments["subspaces"], arguments["embedding_size"])
    x = random_inputs(model, 4)
    x["condition"] = np.arange(4, dtype="int32")  # genre, mood, instrument, era
    embedder = model.get_layer("embedder")
    a, p, n, tp, tn = (numpy(embedder(x[k], training=False)) for k in [t.name for t in model.inputs][:5])
    scores = numpy(model(x, training=False))
    for row, (start, stop) in enumerate(layout.values()):  # Eq. 5.7: category scores in m_s
        s = slice(start, stop)
        np.testing.assert_allclose(scores[row, :2], [cosine(a[row, s], p[row, s]), cosine(a[row, s], n[row, s])],
                                   rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(scores[:, 2:], np.stack([cosine(a, tp), cosine(a, tn)], 1), rtol=1e-4, atol=1e-5)

    category = np.maximum(0.0, 3.0 - scores[:, 0] + scores[:, 1])
    track = np.maximum(0.0, 3.0 - scores[:, 2] + scores[:, 3])
    assert category.min() > 0 and track.min() > 0
    zeros = np.zeros((4, 4), "float32")
    compiled = numpy(model.compute_loss(x=x, y=zeros, y_pred=scores, training=False))
    np.testing.assert_allclose(compiled, category.mean() + 2.0 * track.mean(), rtol=1e-6)  # lambda from the build
    without = float(numpy(TrackRegularizedHinge(3.0, 0.0)(zeros, scores)))
    for lam in (0.5, 2.0):
        with_lambda = float(numpy(TrackRegularizedHinge(3.0, lam)(zeros, scores)))
        np.testing.assert_allclose(with_lambda - without, lam * track.mean(), rtol=1e-5)  # exactly lambda L(t_t)
    restored = TrackRegularizedHinge.from_config(model.loss.get_config())
    assert (restored.margin, restored.track_weight) == (3.0, 2.0)


def test_track_regularization_without_disentanglement_has_no_condition():
    model, _ = tiny("inception-csn-track-triplet", disentangled=False)
    assert "condition" not in [t.name for t in model.inputs] and "condition_mask" not in [l.name for l in model.layers]
    x = random_inputs(model, 2)
    embedder = model.get_layer("embedder")
    a, p = (numpy(embedder(x[k], training=False)) for k in ("anchor", "positive"))
    np.testing.assert_allclose(numpy(model(x, training=False))[:, 0], cosine(a, p), rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ Table 5.3's rows
def test_proxy_and_classifier_rows_are_different_graphs():
    proxy, _ = tiny("inception-proxy")
    classifier, _ = tiny("inception-classifier")
    vanilla, _ = tiny("inception-classifier", normalize=False)
    dis_proxy, _ = tiny("inception-proxy", disentangled=True)
    dis_classifier, _ = tiny("inception-disentangled-classifier")
    # Proxy: learned points of the embedding space, (classes, d); classifier: the last layer's (d, classes) kernel.
    assert tuple(proxy.get_layer("proxies").proxies.shape) == (6, 16)
    assert isinstance(classifier.get_layer("classes"), keras.layers.Dense)
    assert tuple(classifier.get_layer("classes").kernel.shape) == (16, 6)
    assert "ProxyHead" in layer_types(proxy) and "ProxyHead" not in layer_types(classifier)
    assert "L2Normalize" in layer_types(classifier) and "L2Normalize" not in layer_types(vanilla)
    # Disentangled: masks over one 16-unit layer (proxy) vs sub-dense layers (classifier).
    assert isinstance(dis_proxy.get_layer("embedder").get_layer("embedding"), keras.layers.Dense)
    assert isinstance(dis_proxy.get_layer("embedder").get_layer("embedding_l2"), SubspaceL2Normalize)
    assert dis_proxy.get_layer("proxies").get_config()["class_subspaces"] is not None
    assert isinstance(dis_classifier.get_layer("embedder").get_layer("embedding"), SubspaceDense)
    assert isinstance(dis_classifier.get_layer("classes"), SubspaceClassifier)
    weights = [sorted(w.path.split("/", 1)[-1] for w in m.weights if "backbone" not in w.path)
               for m in (proxy, classifier, dis_proxy, dis_classifier)]
    assert weights[0] != weights[1] and weights[2] != weights[3]
    configs = [m.get_config() for m in (proxy, classifier, vanilla, dis_proxy, dis_classifier)]
    assert all(configs[i] != configs[j] for i in range(5) for j in range(i + 1, 5))


def _copy_embedder_backbone(source, target):
    target.get_layer("embedder").get_layer("backbone").set_weights(
        source.get_layer("embedder").get_layer("backbone").get_weights())


def test_proxy_equals_the_normalised_classifier_as_eq_5_11_equals_5_13():
    """The thesis: Eq. 5.13's metric "is equivalent to" Eq. 5.11. Same weights (proxies = the
    classifier kernel's columns) give the same scores; the vanilla and cosine variants do not."""
    proxy, _ = tiny("inception-proxy", seed=0)
    x = random_inputs(proxy, 3)
    expected = numpy(proxy(x, training=False))
    proxies = numpy(proxy.get_layer("proxies").proxies)
    for normalize in (True, False):
        classifier, _ = tiny("inception-classifier", seed=1, normalize=normalize)
        assert not np.allclose(numpy(classifier(x, training=False)), expected, atol=1e-4)  # own weights
        _copy_embedder_backbone(proxy, classifier)
        embedder = classifier.get_layer("embedder")
        embedder.get_layer("embedding").set_weights(proxy.get_layer("embedder").get_layer("embedding").get_weights())
        classifier.get_layer("classes").kernel.assign(proxies.T)
        scores = numpy(classifier(x, training=False))
        if normalize:
            np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)
        else:  # the vanilla classifier scores the raw embedding: another function
            assert np.abs(scores - expected).max() > 1e-3
    cosine_proxy, _ = tiny("inception-proxy", seed=0, normalize_proxies=True)  # Eq. 5.8-5.9
    assert np.abs(numpy(cosine_proxy(x, training=False)) - expected).max() > 1e-3


def test_disentangled_proxy_equals_multitask_classifier_as_eq_5_12_equals_5_16():
    """Eq. 5.14-5.16: masking one dense layer h with m_s is a sub-dense layer h_s, and p_z o m_s
    a centroid over the sub-space only; copied so, the two disentangled rows score alike."""
    proxy, arguments = tiny("inception-proxy", seed=0, disentangled=True, embedding_activation=None)
    classifier, _ = tiny("inception-disentangled-classifier", seed=1, embedding_activation=None)
    layout = subspace_layout(arguments["subspaces"], arguments["embedding_size"])
    x = random_inputs(proxy, 3)
    _copy_embedder_backbone(proxy, classifier)
    kernel, bias = proxy.get_layer("embedder").get_layer("embedding").get_weights()
    sub_dense = classifier.get_layer("embedder").get_layer("embedding")
    for (start, stop), k, b in zip(layout.values(), sub_dense.kernels, sub_dense.biases):
        k.assign(kernel[:, start:stop])
        b.assign(bias[start:stop])
    proxies = numpy(proxy.get_layer("proxies").proxies)
    head = classifier.get_layer("classes")
    for (name, classes), centroids in zip(head._groups, head.centroids):
        start, stop = layout[name]
        centroids.assign(proxies[classes, start:stop].T)
    np.testing.assert_allclose(numpy(classifier(x, training=False)), numpy(proxy(x, training=False)),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(numpy(classifier.get_layer("embedder")(x, training=False)),
                               numpy(proxy.get_layer("embedder")(x, training=False)), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ the preset graph
@pytest.mark.parametrize("name", zoo.list_models("inception-*"))
def test_music_task_builds_every_inception_network(name):
    arguments = zoo.get_model_info(name).tiny
    keras.utils.set_random_seed(0)
    task = MusicTask(network=name, arguments=arguments)
    window = np.random.default_rng(0).standard_normal((2, task.window)).astype("float32") * 0.1
    outputs = task.predict(window, verbose=0)
    assert outputs["embedding"].shape == (2, 16)
    taggers = ("inception-proxy", "inception-classifier", "inception-disentangled-classifier")
    assert set(outputs) == ({"embedding", "tags"} if name in taggers else {"embedding"})
    if name in taggers:
        assert outputs["tags"].shape == (2, 6) and np.all((outputs["tags"] > 0) & (outputs["tags"] < 1))
    if name != "inception-disentangled-classifier":  # one normalised 16-d embedding
        np.testing.assert_allclose(np.linalg.norm(outputs["embedding"], axis=-1), 1.0, rtol=1e-5)
    assert task.stage_names == ["features"]


def test_music_task_of_the_disentangled_classifier():
    name = "inception-disentangled-classifier"
    # A linear h_s: a tiny 4-unit ReLU sub-space can be all zeros (norm 0, not 1).
    arguments = {**zoo.get_model_info(name).tiny, "embedding_activation": None}
    keras.utils.set_random_seed(0)
    task = MusicTask(network=name, arguments=arguments)
    assert task.embedding_size == 16 and task.num_tags == 6
    layout = subspace_layout(task.arguments["subspaces"], 16)
    window = np.random.default_rng(1).standard_normal((3, task.window)).astype("float32") * 0.1
    outputs = task.predict(window, verbose=0)
    embedding, tags = outputs["embedding"], outputs["tags"]
    for start, stop in layout.values():  # each 4-d sub-space of the concatenation is unit-norm
        np.testing.assert_allclose(np.linalg.norm(embedding[:, start:stop], axis=-1), 1.0, rtol=1e-5)
    assert np.linalg.norm(embedding, axis=-1) == pytest.approx(2.0, rel=1e-5)  # sqrt(4 sub-spaces)
    head = task.parts.tag_head[0]
    assert isinstance(head, SubspaceClassifier)
    np.testing.assert_allclose(tags, numpy(head(embedding)), rtol=1e-5, atol=1e-6)  # the class scores
    parts = task.parts
    assert [type(layer) for layer in parts.embedding_head] == [SubspaceDense, SubspaceL2Normalize]
    assert parts.backbone.name == "backbone" and parts.frontend.name == "frontend"


def test_heads_of_the_other_rows_are_declared():
    for name, embedding_head, tag_head in (
            ("inception-triplet", [keras.layers.Dense, L2Normalize], []),
            ("inception-proxy", [keras.layers.Dense, L2Normalize], [ProxyHead]),
            ("inception-classifier", [keras.layers.Dense, L2Normalize], [keras.layers.Dense])):
        parts = zoo.parts.network_parts(tiny(name)[0])
        assert [type(layer) for layer in parts.embedding_head] == embedding_head
        assert [type(layer) for layer in parts.tag_head] == tag_head
    vanilla = zoo.parts.network_parts(tiny("inception-classifier", normalize=False)[0])
    assert [type(layer) for layer in vanilla.embedding_head] == [keras.layers.Dense]
