"""Catalogs that cannot lie (issue 20 part 2): they record the model that made them and refuse
another; their searchable fields are declared; saves killed at random points never show a
reader a torn catalog, and what they leave behind is cleaned by the next save."""

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

import sdk
from helpers import tone
from sdk.cli import main as cli
from sdk.index import Catalog


@pytest.fixture(scope="module")
def music(tmp_path_factory):
    """Two sub-folders of tones and a manifest naming soundtrack and composer."""
    root = tmp_path_factory.mktemp("library")
    rows = ["path,soundtrack,composer"]
    for folder, freqs in {"calm": [200, 220, 240], "bright": [1500, 1700, 1900]}.items():
        (root / folder).mkdir()
        for i, freq in enumerate(freqs):
            soundfile.write(root / folder / f"{freq}.wav", tone(freq, seed=i), 8000)
            rows.append(f"{folder}/{freq}.wav,{folder.title()} Suite,{'Ana' if folder == 'calm' else 'Bo'}")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root


def test_a_catalog_records_its_model_and_refuses_another(tagger_dir, music, tmp_path, capsys):
    model = sdk.load(tagger_dir)
    catalog = Catalog.build(music, model.embed, progress=False)  # the README's form: no model=
    assert catalog.model == "test-tagger" and catalog.model_sha256 == model.metadata["files"]["model.weights.h5"]
    assert catalog.embedding_size == 16 and catalog.subspaces == {"low": (0, 8), "high": (8, 16)}
    catalog.save(tmp_path / "cat")
    saved = json.loads((tmp_path / "cat" / "catalog.json").read_text())
    assert saved["model_sha256"] == catalog.model_sha256 and saved["model_source"] == str(tagger_dir)

    # Another model of the same size: refused, unless the caller says they match.
    other_dir = tmp_path / "other"
    import shutil

    shutil.copytree(tagger_dir, other_dir)
    meta = json.loads((other_dir / "metadata.json").read_text())
    other = sdk.load(other_dir)
    other.metadata = {**meta, "preset": "other", "files": {"model.weights.h5": "0" * 64}}
    other.preset_id = "other"
    with pytest.raises(ValueError, match="catalog was built with 'test-tagger' .* the query model is 'other'"):
        other.similar("calm/200.wav", tmp_path / "cat")
    assert other.similar("calm/200.wav", tmp_path / "cat", k=2, allow_other_model=True)

    # The CLI searches with the catalog's own model by default, and refuses another one.
    assert cli(["--json", "search", str(tmp_path / "cat"), "calm/200.wav", "-k", "2"]) == 0
    assert [h["id"] for h in json.loads(capsys.readouterr().out)] == ["calm/220.wav", "calm/240.wav"]
    assert cli(["search", str(tmp_path / "cat"), "calm/200.wav", "--model", "musicnn-msd"]) == 2
    assert "16-d vectors" in capsys.readouterr().err  # another size: always refused
    plain = Catalog(16, {"low": [0, 8], "high": [8, 16]})
    plain.add("x", np.ones(16))
    plain.save(tmp_path / "plain")
    assert cli(["search", str(tmp_path / "plain"), "x"]) == 2
    assert "records no model" in capsys.readouterr().err


def test_any_metadata_field_can_be_a_prototype_query(tagger_dir, music):
    model = sdk.load(tagger_dir)
    catalog = Catalog.build(music / "manifest.csv", model.embed, progress=False)
    assert catalog.searchable_fields == ["composer", "soundtrack"]
    assert sorted(catalog.ids_matching("Calm Suite")) == ["calm/200.wav", "calm/220.wav", "calm/240.wav"]
    assert sorted(catalog.ids_matching("bo")) == ["bright/1500.wav", "bright/1700.wav", "bright/1900.wav"]
    by_composer = [h["id"] for h in model.similar("Ana", catalog, k=3)]
    by_soundtrack = [h["id"] for h in model.similar("Calm Suite", catalog, k=3)]
    assert by_composer == by_soundtrack and set(by_composer) == set(catalog.ids_matching("Ana"))
    folders = Catalog.build(music, model.embed, progress=False, fields=["folder"])
    assert folders.get("bright/1500.wav")["folder"] == "bright" and folders.searchable_fields == ["folder"]
    assert sorted(folders.ids_matching("calm")) == ["calm/200.wav", "calm/220.wav", "calm/240.wav"]
    with pytest.raises(ValueError, match="not a catalog id, a tag/artist/album"):
        model.similar("Ana", folders)  # composer is not a declared field there


def test_a_save_cleans_what_killed_saves_left(tmp_path):
    catalog = Catalog(4)
    catalog.add(["a", "b"], np.eye(4)[:2])
    catalog.save(tmp_path / "cat")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    for name in (f".cat.tmp-{dead}-x1", f".cat.old-{dead}-x2", f".cat.tmp-{os.getppid()}-x3"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "embeddings.npy").write_bytes(b"partial")
    catalog.save(tmp_path / "cat")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".cat.tmp-{os.getppid()}-x3", "cat"]  # a live writer's stays


SAVER = r"""
import sys, numpy as np
from sdk.index import Catalog
target, size = sys.argv[1], 256
versions = []
for count in (3000, 5000):
    catalog = Catalog(size)
    catalog.add([f"{count}-{i}" for i in range(count)], np.random.default_rng(count).standard_normal((count, size)))
    versions.append(catalog)
print("ready", flush=True)
while True:
    for catalog in versions:
        catalog.save(target)
"""


@pytest.mark.skipif(os.environ.get("KERAS_BACKEND", "jax") != "jax", reason="no backend involved: jax pass only")
def test_saves_killed_at_random_never_show_readers_a_torn_catalog(tmp_path):
    target = tmp_path / "cat"
    seen, errors, stop = set(), [], threading.Event()

    def read():
        while not stop.is_set():
            try:
                with _quiet():
                    catalog = Catalog.load(target)
            except ValueError as error:
                if "catalog directory not found" not in str(error):  # before the first save
                    errors.append(str(error))
                continue
            count = len(catalog)
            if count not in (3000, 5000) or not all(i.startswith(f"{count}-") for i in catalog.ids[:5]):
                errors.append(f"torn: {count} items")
            seen.add(count)

    reader = threading.Thread(target=read)
    reader.start()
    rng = random.Random(0)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    try:
        for _ in range(8):
            saver = subprocess.Popen([sys.executable, "-c", SAVER, str(target)], stdout=subprocess.PIPE, text=True,
                                     env=env)
            assert saver.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0.05, 1.5))
            saver.send_signal(signal.SIGKILL)
            saver.wait()
    finally:
        stop.set()
        reader.join()
    assert not errors, errors[:3]
    assert seen == {3000, 5000}
    last = Catalog.load(target)
    last.save(target)  # the next save removes every leftover of the killed ones
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat"]


class _quiet:
    """Silence the warning a load gives while it recovers an interrupted save's backup."""

    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        return self._catch.__exit__(*exc)
