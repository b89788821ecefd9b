import h5py
import keras
import numpy as np
import pytest

import zoo
from helpers import REPO, random_inputs
from zoo.losses import MarginHingeLoss

PUBLISHED_H5 = REPO.parent / "shared/weights/artist-siamese-msd/model_siamese_10000.h5"


def test_tower_shapes_at_thesis_size():
    embedder = zoo.build("artist-siamese").get_layer("embedder")
    backbone = embedder.get_layer("backbone")
    assert embedder.get_layer("frontend").compute_output_shape((None, 65536)) == (None, 129, 128)
    pools = [backbone.get_layer(f"block{i}_pool").output for i in range(1, 5)]
    probe = keras.Model(backbone.input, pools)
    lengths = [out.shape[1] for out in probe.predict(np.zeros((1, 129, 128), "float32"), verbose=0)]
    assert lengths == [32, 8, 2, 1]
    assert embedder.output.shape == (None, 256)


@pytest.mark.skipif(not PUBLISHED_H5.exists(), reason="shared weights not beside the repo")
def test_tower_weights_have_the_published_checkpoint_shapes():
    backbone = zoo.build("artist-siamese").get_layer("embedder").get_layer("backbone")
    with h5py.File(PUBLISHED_H5, "r") as f:
        weights = f["model_weights"]
        for i in range(1, 6):
            ours = backbone.get_layer(f"block{i}_conv")
            theirs = weights[f"conv1d_{i}"][f"conv1d_{i}"]
            assert ours.kernel.shape == theirs["kernel:0"].shape
            assert ours.bias.shape == theirs["bias:0"].shape
            assert backbone.get_layer(f"block{i}_bn").epsilon == 1e-3


def test_siamese_scores_are_cosines_of_the_shared_tower():
    model = zoo.build("artist-siamese", **zoo.get_model_info("artist-siamese").tiny)
    x = random_inputs(model, batch_size=3)
    scores = model.predict(x, verbose=0)
    embedder = model.get_layer("embedder")
    anchor = embedder.predict(x["anchor"], verbose=0)
    for column, key in enumerate(["positive", "negative_1", "negative_2"]):
        other = embedder.predict(x[key], verbose=0)
        cosine = np.sum(anchor * other, -1) / np.linalg.norm(anchor, axis=-1) / np.linalg.norm(other, axis=-1)
        np.testing.assert_allclose(scores[:, column], cosine, rtol=1e-4, atol=1e-5)


def test_hinge_loss_is_equation_4_2():
    scores = np.array([[0.9, 0.1, 0.7, 0.95], [0.2, 0.5, -0.3, 0.1]], "float32")
    expected = np.mean([max(0, 0.4 - 0.9 + 0.1) + max(0, 0.4 - 0.9 + 0.7) + max(0, 0.4 - 0.9 + 0.95),
                        max(0, 0.4 - 0.2 + 0.5) + max(0, 0.4 - 0.2 - 0.3) + max(0, 0.4 - 0.2 + 0.1)])
    loss = MarginHingeLoss(0.4)(np.zeros((2, 4), "float32"), scores)
    np.testing.assert_allclose(float(keras.ops.convert_to_numpy(loss)), expected, rtol=1e-6)


def test_artist_album_track_has_three_concepts_with_their_margins():
    model = zoo.build("artist-album-track")
    assert set(model.output_names) == {"artist", "album", "track"}
    margins = {name: loss.margin for name, loss in model.loss.items()}
    assert margins == {"artist": 0.4, "album": 0.25, "track": 0.1}
    tower = model.get_layer("embedder").get_layer("backbone")
    assert [tower.get_layer(f"block{i}_conv").filters for i in range(1, 6)] == [256, 256, 256, 256, 512]
    assert len(model.inputs) == 1 + 3 * 5  # anchor + (positive + 4 negatives) per concept


def test_basic_model_is_a_softmax_over_artists():
    model = zoo.build("artist-basic", num_artists=500)
    assert model.output_shape == (None, 500)
    assert model.get_layer("artists").activation.__name__ == "softmax"


def _hinges(scores, margin):
    """Per-example Eq. 4.2 hinge of (B, 1 + N) scores, in numpy."""
    return np.maximum(0.0, margin - scores[:, :1] + scores[:, 1:]).sum(axis=1)


@pytest.mark.parametrize("name", ["artist-siamese", "artist-album-track"])
@pytest.mark.parametrize("reduction", [None, "sum_over_batch_size"])
def test_hinge_is_summed_over_the_batch_by_default(name, reduction):
    """Authors' code: K.sum over the whole batch; the mean only when asked for."""
    arguments = dict(zoo.get_model_info(name).tiny)
    if reduction:
        arguments["loss_reduction"] = reduction
    assert zoo.model_arguments(name, **arguments)["loss_reduction"] == (reduction or "sum")
    model = zoo.build(name, **arguments)
    x = random_inputs(model, batch_size=5)
    y_pred = model(x, training=False)
    outputs = y_pred if isinstance(y_pred, dict) else {"relevance": y_pred}
    margins = {"relevance": 0.4, "artist": 0.4, "album": 0.25, "track": 0.1}
    hinges = {k: _hinges(keras.ops.convert_to_numpy(v), margins[k]) for k, v in outputs.items()}
    assert all(h.sum() > 0 for h in hinges.values())  # so the sum is 5x the mean: they differ
    reduce = np.mean if reduction else np.sum
    expected = sum(float(reduce(h)) for h in hinges.values())
    y = keras.tree.map_structure(lambda t: np.zeros(t.shape, "float32"), y_pred)
    loss = float(keras.ops.convert_to_numpy(model.compute_loss(x=x, y=y, y_pred=y_pred)))
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


@pytest.mark.parametrize("name", ["artist-basic", "tag-basic"])
def test_cross_entropy_models_average_over_the_batch(name):
    """The authors' basic model used Keras's built-in (averaged) cross-entropy."""
    model = zoo.build(name, **zoo.get_model_info(name).tiny)
    assert model.loss.reduction == "sum_over_batch_size"
    summed = zoo.build(name, **{**zoo.get_model_info(name).tiny, "loss_reduction": "sum"})
    assert summed.loss.reduction == "sum"


def test_unknown_loss_reduction_is_refused():
    with pytest.raises(ValueError, match="loss_reduction"):
        zoo.build("artist-siamese", **{**zoo.get_model_info("artist-siamese").tiny, "loss_reduction": "none"})


def test_tag_model_is_the_basic_model_with_sigmoid_tags():
    """Section 4.1.2 compared model: same architecture as the basic model, one output per tag
    (top-50 Last.fm tags, section 4.1.3), trained as a multi-label tagger (BCE)."""
    tags = zoo.build("tag-basic")
    assert tags.output_shape == (None, 50)
    assert tags.get_layer("tags").activation.__name__ == "sigmoid"
    assert isinstance(tags.loss, keras.losses.BinaryCrossentropy)
    assert zoo.model_arguments("tag-basic")["learning_rate"] == 0.015  # as the basic model (4.1.3)
    basic = zoo.build("artist-basic", num_artists=50)
    assert tags.count_params() == basic.count_params()
    ours, theirs = (m.get_layer("embedder").get_layer("backbone").get_config()["layers"] for m in (tags, basic))
    assert ours == theirs
    assert tags.get_layer("tags_dropout").rate == 0.5


def test_tag_model_preset_graph_has_a_sigmoid_tag_output():
    from zoo.task import MusicTask

    task = MusicTask("tag-basic", zoo.get_model_info("tag-basic").tiny, segment=17)  # 8192 samples, hop 512
    outputs = task.predict(np.zeros((2, task.input_shape[-1]), "float32"), verbose=0)
    assert outputs["embedding"].shape == (2, 16) and outputs["tags"].shape == (2, 5)
    assert np.all((outputs["tags"] > 0) & (outputs["tags"] < 1))
