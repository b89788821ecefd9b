"""`--data-parallel` (training_recipes.common.distribute): Keras DataParallel on JAX, tested on CPU
with 2 virtual devices in a subprocess (tests/recipes/data_parallel_steps.py, ~20-30 s): the
weights of 2 epochs are those of single-device training, and every variable's two copies agree.
Where it cannot run (another backend, one device) it is refused in one line."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from helpers import REPO
from training_recipes.common.distribute import data_parallel
from training_recipes.common.training import RecipeError
from training_recipes.thesis import samplecnn_tagging


def test_two_virtual_devices_train_as_one_device_does(tmp_path):
    if keras.backend.backend() != "jax":
        pytest.skip("runs once, in the suite's jax run (the subprocess is JAX whatever the backend)")
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "KERAS_BACKEND": "jax",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, str(REPO / "tests" / "recipes" / "data_parallel_steps.py"), str(tmp_path)],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    single, parallel = result["single"], result["parallel"]
    assert result["jax_devices"] == 2 and len(parallel["devices"]) == 2 and single["devices"] == []
    assert result["distribution_after"] is None  # the previous (no) distribution is restored
    # under data parallel every variable lives on both devices, and its two copies are identical
    assert parallel["placement"] and all(p["devices"] == 2 and p["copies"] == 2 and p["copies_equal"]
                                         for p in parallel["placement"])
    assert all(p["devices"] == 1 for p in single["placement"])
    assert "data parallel over 2 devices" in parallel["log"] and "data parallel" not in single["log"]
    # it trains: the loss falls and the weights move
    losses = [h["train_loss"] for h in parallel["history"]]
    assert len(losses) == 2 and losses[1] < losses[0]
    assert max(np.abs(np.subtract(a, b)).max() for a, b in zip(parallel["final"], parallel["initial"])) > 1e-3
    # and gives what one device gives
    for a, b in zip(single["final"], parallel["final"]):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
    for a, b in zip(single["history"], parallel["history"]):
        np.testing.assert_allclose([b["train_loss"], b["val_loss"]], [a["train_loss"], a["val_loss"]], rtol=1e-5)
    assert "--batch-size 5 does not divide by the 2 devices" in parallel["odd_batch_refused"]


def test_refused_in_one_line_where_it_cannot_run(tmp_path, capsys):
    with data_parallel(False) as devices:  # not asked: nothing set
        assert devices == [] and keras.distribution.distribution() is None
    backend = keras.backend.backend()
    if backend == "jax" and len(keras.distribution.list_devices()) > 1:
        pytest.skip("this process has several devices")
    expected = "only one device" if backend == "jax" else "needs KERAS_BACKEND=jax"
    with pytest.raises(RecipeError, match=expected):
        with data_parallel(True, {"--batch-size": 4}):
            pass
    # a recipe says so before it reads any data or makes its run folder
    status = samplecnn_tagging.main(["--dataset", "mtat", "--root", str(tmp_path / "none"), "--out",
                                     str(tmp_path / "run"), "--tiny", "--data-parallel"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and err[0].startswith("error: --data-parallel:") and expected in err[0]
    assert not (tmp_path / "run").exists() and keras.distribution.distribution() is None
