"""The section 5.2 disentangled classifier as a head on any backbone (zoo/disentangled.py)."""

import json

import keras
import numpy as np
import pytest

import zoo
from zoo.disentangled import check_disentangled_head
from zoo.task import MusicTask

LAYOUT = {"genre": [0, 4], "mood": [4, 8], "tempo": [8, 12]}
CLASSES = ["mood", "genre", "genre", "mood", "genre"]  # interleaved; tempo has no class


def spec(**changes):
    return {"kind": "disentangled", "subspaces": LAYOUT, "class_subspaces": CLASSES, "hidden": 8,
            "activation": "linear", **changes}


@pytest.fixture(scope="module")
def task():
    keras.utils.set_random_seed(0)
    return MusicTask("samplecnn", zoo.get_model_info("samplecnn").tiny, tags=False, head=spec())


def test_outputs_are_unit_subspaces_and_per_notion_tags(task):
    window = np.random.default_rng(0).standard_normal((3, task.window)).astype("float32") * 0.1
    out = task.predict(window, verbose=0)
    assert out["embedding"].shape == (3, 12) and out["tags"].shape == (3, 5)
    for start, stop in LAYOUT.values():
        np.testing.assert_allclose(np.linalg.norm(out["embedding"][:, start:stop], axis=1), 1.0, rtol=1e-5)
    # A class is scored by its own sub-space only: sigmoid(h_s . c_z) with that slice.
    classifier = task.get_layer("subspace_tags")
    for (name, classes), centroids in zip(classifier._groups, classifier.centroids):
        start, stop = LAYOUT[name]
        logits = out["embedding"][:, start:stop] @ keras.ops.convert_to_numpy(centroids)
        np.testing.assert_allclose(out["tags"][:, classes], 1 / (1 + np.exp(-logits)), rtol=1e-4, atol=1e-6)


def test_serialised_graph_rebuilds_with_the_same_outputs(task, tmp_path):
    config = json.loads(json.dumps(keras.saving.serialize_keras_object(task)))
    rebuilt = keras.saving.deserialize_keras_object(config, safe_mode=True)
    task.save_weights(tmp_path / "w.weights.h5")
    rebuilt.load_weights(tmp_path / "w.weights.h5")
    assert rebuilt.head == task.head and rebuilt.head["classes"] == 5
    window = np.random.default_rng(1).standard_normal((2, task.window)).astype("float32") * 0.1
    a, b = task.predict(window, verbose=0), rebuilt.predict(window, verbose=0)
    np.testing.assert_allclose(a["embedding"], b["embedding"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a["tags"], b["tags"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("change, message", [
    ({"subspaces": {"genre": [0, 4], "mood": [2, 8]}}, "does not continue the layout"),
    ({"subspaces": {"genre": [4, 8]}}, "does not continue the layout at 0"),
    ({"class_subspaces": ["genre", "era"]}, r"names \['era'\], not among the sub-spaces"),
    ({"class_subspaces": []}, "needs class_subspaces"),
    ({"hidden": -1}, "hidden must be"),
    ({"activation": "tanh"}, "'relu' or 'linear'"),
    ({"classes": 7}, "classes 7 but class_subspaces has 5"),
    ({"dropout": 0.5}, r"unknown \['dropout'\]"),
    ({"inputs": ["tags", "embedding"]}, "in that order"),
    ({"inputs": ["stages"]}, "inputs are one or more of"),
])
def test_bad_specs_name_the_problem(change, message):
    with pytest.raises(ValueError, match=message):
        check_disentangled_head(spec(**change))


def test_the_head_can_read_the_networks_own_tag_scores_too():
    keras.utils.set_random_seed(0)
    arguments = zoo.get_model_info("samplecnn").tiny
    both = MusicTask("samplecnn", arguments, tags=False, head=spec(inputs=["embedding", "tags"]))
    hidden = both.get_layer("disentangled_hidden")
    assert hidden.kernel.shape == (16 + arguments["num_tags"], 8)  # the 16-d embedding + 5 tag scores
    window = np.random.default_rng(2).standard_normal((2, both.window)).astype("float32") * 0.1
    network = both.build_network()  # the backbone and its tag head, with the task's weights
    scores = network.predict(window, verbose=0)
    features = both.head_input_model().predict(window, verbose=0)
    assert features.shape == (2, 16 + arguments["num_tags"])
    np.testing.assert_allclose(features[:, 16:], scores, rtol=1e-4, atol=1e-6)
