"""The wheel as a new user gets it: built from this checkout, `pip install <wheel>` (no extras)
into a fresh venv, then the quick start (load by name, embed, tag, catalog, similar) from a
folder outside the checkout, with no KERAS_BACKEND set and the Hub offline.

Marked `wheel`: `make test` runs it once, not once per backend (it sets no backend itself).
The install takes pip as configured on the machine (on the project's machines: PyPI with the
local wheel indexes, so nothing large is downloaded); about a minute.
"""

import email
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile

pytestmark = pytest.mark.wheel

ROOT = Path(__file__).resolve().parents[1]
EXCERPT = ROOT / "tests" / "data" / "drascula_track2_30s-42s.ogg"
REFERENCE = ROOT / "tests" / "data" / "regression" / "bundled_presets.npz"
PACKAGES = ("zoo", "sdk", "training_recipes")

QUICK_START = r"""
import json, os, sys
assert "KERAS_BACKEND" not in os.environ, "the test must run without KERAS_BACKEND"
import sdk
import keras

music, outside = sys.argv[1], sys.argv[2]
model = sdk.load("samplecnn-msd")
vector = model.embed(os.path.join(music, "excerpt.ogg"))
tags = model.tag(os.path.join(music, "excerpt.ogg"), top_k=None)
catalog = sdk.Catalog.build(music, model.embed, model=model.preset_id, embedding_size=model.embedding_size,
                            subspaces=model.subspace_layout, progress=False)
by_id = model.similar("excerpt.ogg", catalog, k=3)
by_file = model.similar(outside, catalog, k=4)
print(json.dumps({
    "backend": keras.backend.backend(), "env_backend": os.environ.get("KERAS_BACKEND"),
    "sdk_file": sdk.__file__, "preset_dir": str(model.directory), "embedding": [float(x) for x in vector],
    "tags": [[name, score] for name, score in tags], "model_tags": model.tags, "catalog_ids": sorted(catalog.ids),
    "by_id": [[hit["id"], hit["score"]] for hit in by_id], "by_file": [[hit["id"], hit["score"]] for hit in by_file],
    "other_backends_imported": sorted(m for m in ("tensorflow", "torch") if m in sys.modules),
}))
"""


def _ignored(directory, names):
    """Left out of the copy the wheel is built from: VCS, venvs, fetched data, build leftovers
    (setuptools would ship a stale build/lib)."""
    top = {".git", ".venv", "build", "dist", "data", "runs"} if Path(directory) == ROOT else set()
    return [n for n in names if n in top or n in ("__pycache__", ".pytest_cache") or n.endswith(".egg-info")]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel, built from a copy of the checkout (a build writes build/ and *.egg-info)."""
    work = tmp_path_factory.mktemp("wheel")
    shutil.copytree(ROOT, work / "src", ignore=_ignored)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(work / "dist"), str(work / "src")], check=True, capture_output=True, text=True)
    (built,) = (work / "dist").glob("music_retrieval_zoo-*-py3-none-any.whl")
    return built


def _checkout_files(package, suffixes=None):
    """Files of a package in the checkout, as wheel paths."""
    return {p.relative_to(ROOT).as_posix() for p in (ROOT / package).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and (suffixes is None or p.suffix in suffixes)}


def test_the_wheel_holds_the_packages_and_presets_not_tests_or_research(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    (dist_info,) = {n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info")}
    assert {n.split("/")[0] for n in names} == {*PACKAGES, dist_info}  # no tests/, results/, research/, ...
    for package in PACKAGES:  # every module of every sub-package, found by the include rules
        expected = _checkout_files(package, {".py"})
        assert expected and expected <= names, sorted(expected - names)
    presets = _checkout_files("sdk/bundled")  # the bundled presets, every file
    assert {f"sdk/bundled/{p}/model.weights.h5" for p in ("samplecnn-msd", "artist-siamese-msd")} <= presets
    assert presets <= names, sorted(presets - names)
    recipe_data = _checkout_files("training_recipes", {".json", ".sh"})
    assert recipe_data <= names, sorted(recipe_data - names)

    metadata = email.message_from_bytes(zipfile.ZipFile(wheel).read(f"{dist_info}/METADATA"))
    required = [r.split(";")[0].replace(" ", "") for r in metadata.get_all("Requires-Dist")
                if "extra ==" not in r]
    names_required = {r.split(">")[0].split("=")[0].split("<")[0].lower() for r in required}
    assert {"jax", "jaxlib", "keras"} <= names_required  # the default backend comes with a plain install
    assert not names_required & {"torch", "tensorflow", "tensorflow-cpu"}
    extras = set(metadata.get_all("Provides-Extra"))
    assert {"jax", "torch", "tensorflow", "faiss", "viz", "train", "test", "demo"} <= extras


@pytest.fixture(scope="module")
def music(tmp_path_factory):
    """A folder of four files: the test excerpt, a byte copy of it, noise and a tone (8 s each);
    and a third copy of the excerpt outside the folder (a query that is not a catalog id)."""
    root = tmp_path_factory.mktemp("music")
    folder = root / "music"
    folder.mkdir()
    shutil.copy(EXCERPT, folder / "excerpt.ogg")
    shutil.copy(EXCERPT, folder / "copy.ogg")
    rng, sr = np.random.default_rng(0), 22050
    soundfile.write(folder / "noise.wav", (0.1 * rng.standard_normal(8 * sr)).astype(np.float32), sr)
    t = np.arange(8 * sr) / sr
    soundfile.write(folder / "tone.wav", (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), sr)
    shutil.copy(EXCERPT, root / "query.ogg")
    return folder, root / "query.ogg"


def test_plain_pip_install_of_the_wheel_runs_the_quick_start(wheel, music, tmp_path_factory):
    work = tmp_path_factory.mktemp("venv")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "PYTHONPATH", "VIRTUAL_ENV")}
    install = subprocess.run([python, "-m", "pip", "install", "--quiet", str(wheel)], env=env, cwd=work,
                             capture_output=True, text=True, timeout=900)
    assert install.returncode == 0, install.stdout + install.stderr
    listed = json.loads(subprocess.run([python, "-m", "pip", "list", "--format", "json"], env=env, cwd=work,
                                       check=True, capture_output=True, text=True).stdout)
    installed = {p["name"].lower().replace("_", "-") for p in listed}
    assert {"music-retrieval-zoo", "jax", "jaxlib", "keras"} <= installed
    assert not {n for n in installed if n in ("torch", "tensorflow", "tensorflow-cpu") or n.startswith("nvidia-")}
    check = subprocess.run([python, "-m", "pip", "check"], env=env, cwd=work, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout

    keras_home = work / "keras-home"  # Keras's own default (tensorflow) in keras.json must not matter
    keras_home.mkdir()
    (keras_home / "keras.json").write_text(json.dumps({"backend": "tensorflow"}))
    folder, outside = music
    run = subprocess.run([python, "-c", QUICK_START, str(folder), str(outside)], cwd=work, capture_output=True,
                         text=True, timeout=600,
                         env={**env, "KERAS_HOME": str(keras_home), "HF_HUB_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])

    assert out["backend"] == out["env_backend"] == "jax"
    assert out["other_backends_imported"] == []
    for path in (out["sdk_file"], out["preset_dir"]):  # the installed copy, not this checkout
        assert Path(path).resolve().is_relative_to(venv.resolve()), path

    reference = np.load(REFERENCE)
    vector = np.array(out["embedding"])
    expected = reference["samplecnn-msd/embedding"]
    assert vector.shape == expected.shape == (256,) and np.all(np.isfinite(vector))
    # the reference was made with resampy's kaiser_best; the SDK's default resampler is soxr_hq, held
    # to cosine >= 0.997 and tags within 0.003 of it (tests/sdk/test_one_graph.py measures the same)
    assert vector @ expected / (np.linalg.norm(vector) * np.linalg.norm(expected)) >= 0.997

    bundled_tags = json.loads((ROOT / "sdk/bundled/samplecnn-msd/metadata.json").read_text())["tags"]
    assert out["model_tags"] == bundled_tags and len(bundled_tags) == 50
    names, scores = [t[0] for t in out["tags"]], np.array([t[1] for t in out["tags"]])
    assert sorted(names) == sorted(bundled_tags)
    assert np.all(np.isfinite(scores)) and np.all((scores >= 0) & (scores <= 1)) and np.all(np.diff(scores) <= 0)
    by_name = dict(out["tags"])
    np.testing.assert_allclose([by_name[n] for n in bundled_tags], reference["samplecnn-msd/tags"], atol=3e-3)

    assert out["catalog_ids"] == ["copy.ogg", "excerpt.ogg", "noise.wav", "tone.wav"]
    (first_id, first_score), *rest = out["by_id"]  # the query itself is excluded; its copy comes first
    assert first_id == "copy.ogg" and first_score > 0.9999 and "excerpt.ogg" not in [i for i, _ in rest]
    assert all(score < first_score - 1e-3 for _, score in rest)
    hits = out["by_file"]  # a file outside the catalog: both copies of it first, the synthetic ones after
    assert {hits[0][0], hits[1][0]} == {"excerpt.ogg", "copy.ogg"} and min(hits[0][1], hits[1][1]) > 0.9999
    assert {hits[2][0], hits[3][0]} == {"noise.wav", "tone.wav"} and hits[2][1] < hits[1][1] - 1e-3

    # The README's quick start itself, verbatim, on a song.ogg and a my-music/ folder.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    snippet = readme.split("## Quick start", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    user = work / "user"
    shutil.copytree(folder, user / "my-music")
    shutil.copy(outside, user / "song.ogg")
    readme_run = subprocess.run([python, "-c", snippet], cwd=user, capture_output=True, text=True, timeout=600,
                                env={**env, "KERAS_HOME": str(keras_home), "HF_HUB_OFFLINE": "1",
                                     "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert readme_run.returncode == 0, readme_run.stderr
    printed = [line.split() for line in readme_run.stdout.strip().splitlines()]
    assert len(printed) == 4 and {printed[0][1], printed[1][1]} == {"excerpt.ogg", "copy.ogg"}  # k=5, 4 songs
    assert float(printed[0][0]) > 0.9999 and (user / "my-catalog").is_dir()

    # The README's multidimensional search, verbatim after the quick start (it reuses `sdk`).
    multi = readme.split("## Search along musical dimensions", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    shutil.copy(folder / sorted(p.name for p in folder.iterdir())[0], user / "other.ogg")
    multi_run = subprocess.run([python, "-c", "import sdk\n" + multi], cwd=user, capture_output=True, text=True,
                               timeout=600, env={**env, "KERAS_HOME": str(keras_home), "HF_HUB_OFFLINE": "1",
                                                 "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert multi_run.returncode == 0, multi_run.stderr
    assert multi_run.stdout.strip().startswith("['genre', 'mood', 'instrument', 'era'")
