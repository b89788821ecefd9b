"""sdk.distributed on a local Ray instance: `music-zoo embed-dataset` writes Parquet shards whose rows
are the in-process embeddings, an unreadable file is an error row, and the catalog ingested from
the shards searches like one built directly.

Marker `ray`; runs on the jax backend only (Ray does not care which backend embeds). Ray starts
once for the module and runs one job (one actor, so it fits a shared 2-core CI machine): ~30-40 s."""

import contextlib
import io
import json
import os
import sys
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest

from helpers import tiny_samplecnn_preset
from sdk import cli
from sdk.catalog_sources import read_source
from sdk.index import Catalog
from sdk.model import load

pytestmark = pytest.mark.ray
if keras.backend.backend() != "jax":
    pytest.skip("the Ray tests run on the jax backend only (Ray is the same on every backend)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def ray_local():
    """One local Ray instance for the module (CI: make test installs ray through the test extra)."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as error:
        (pytest.fail if os.environ.get("CI") else pytest.skip)(
            f"ray[data] is not importable ({error}); pip install -e '.[scale]'")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    with warnings.catch_warnings():  # Ray starts its processes with fork + exec: JAX's fork warning is moot
        warnings.filterwarnings("ignore", r"os\.fork\(\) was called", RuntimeWarning)
        ray.init(address="local", num_cpus=4, include_dashboard=False, configure_logging=False)  # > actors
    yield ray
    ray.shutdown()


def run_cli(*argv):
    """(exit status, stdout, stderr) of `music-zoo ARGV`."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main([str(a) for a in argv])
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def embedded(ray_local, songs, tagger_dir, tmp_path_factory):
    """The songs folder (6 tones + broken.wav) through `music-zoo embed-dataset --catalog`."""
    base = tmp_path_factory.mktemp("scale")
    status, out, err = run_cli("--json", "embed-dataset", songs, "--preset", tagger_dir, "--out", base / "shards",
                               "--actors", 1, "--batch-size", 2, "--catalog", base / "catalog", "--top-tags", 2)
    return {"status": status, "summary": json.loads(out), "stderr": err, "shards": base / "shards",
            "catalog": base / "catalog"}


def parquet_rows(directory):
    import pyarrow.parquet as pq

    rows = [r for f in sorted(Path(directory).glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    return {r["id"]: r for r in rows}


def test_shard_rows_are_the_in_process_embeddings(embedded, songs, tagger_dir):
    model = load(tagger_dir)
    rows = parquet_rows(embedded["shards"])
    assert sorted(rows) == sorted(id for id, _, _ in read_source(songs))  # every file, once
    good = {id: r for id, r in rows.items() if r["error"] is None}
    assert len(good) == 6 and embedded["summary"]["embedded"] == 6 and embedded["summary"]["rows"] == 7
    for id, row in good.items():
        vector, scores = model.embed_and_tag(row["path"])
        got = np.asarray(row["embedding"], np.float32)
        cosine = got @ vector / (np.linalg.norm(got) * np.linalg.norm(vector))
        assert cosine >= 0.9999, (id, cosine)
        np.testing.assert_allclose(row["tags"], scores, rtol=1e-4, atol=1e-5)
        assert json.loads(row["metadata"]) == {} and Path(row["path"]) == songs / id
    meta = json.loads((embedded["shards"] / "_embed_dataset.json").read_text())
    assert meta["model"] == "test-tagger" and meta["model_sha256"] == model.metadata["files"]["model.weights.h5"]
    assert meta["subspaces"] == {"low": [0, 8], "high": [8, 16]} and meta["tags"] == model.tags
    assert sorted(meta["shards"]) == sorted(p.name for p in embedded["shards"].glob("*.parquet"))


def test_an_unreadable_file_is_an_error_row_not_a_failed_job(embedded, songs):
    summary = embedded["summary"]
    assert [e[:2] for e in summary["errors"]] == [["broken.wav", str(songs / "broken.wav")]]
    assert "cannot decode" in summary["errors"][0][2]
    row = parquet_rows(embedded["shards"])["broken.wav"]
    assert row["embedding"] is None and "cannot decode" in row["error"]
    assert embedded["status"] == 1  # like music-zoo embed: files were skipped
    assert embedded["stderr"].strip().splitlines() == [f"music-zoo embed-dataset: skipped {summary['errors'][0][2]}"]
    assert not list(embedded["shards"].parent.glob(".shards.*"))  # the staging folder is gone


def test_catalog_from_shards_searches_like_one_built_directly(embedded, songs, tagger_dir):
    model = load(tagger_dir)
    direct = Catalog.build(songs, model.embed, model=model, progress=False)
    shards = Catalog.from_parquet(embedded["shards"])
    saved = Catalog.load(embedded["catalog"])  # the CLI's --catalog
    for catalog in (shards, saved):
        assert catalog.ids == direct.ids and catalog.subspaces == direct.subspaces
        assert (catalog.model, catalog.model_sha256, catalog.model_source) == (
            direct.model, direct.model_sha256, direct.model_source)
        np.testing.assert_allclose(np.stack([catalog.vector(i) for i in catalog.ids]),
                                   np.stack([direct.vector(i) for i in direct.ids]), atol=1e-5)
        for id in direct.ids:
            for weights in (None, {"low": 1.0}, {"high": 2.0, "low": 0.5}):
                want = direct.search(direct.vector(id), k=4, weights=weights)[0]
                got = catalog.search(direct.vector(id), k=4, weights=weights)[0]
                assert [h["id"] for h in got] == [h["id"] for h in want]
                np.testing.assert_allclose([h["score"] for h in got], [h["score"] for h in want], atol=1e-4)
    assert [p for p, _ in shards.skipped] == [str(songs / "broken.wav")]
    hits = model.similar("song0.wav", shards, k=2)  # the model's own catalog: not refused
    assert hits[0]["id"] != "song0.wav" and hits[0]["path"] == str(songs / hits[0]["id"])
    assert saved.get("song3.wav")["top_tags"] == [t for t, _ in model.tag(str(songs / "song3.wav"), top_k=2)]


def test_shards_of_another_preset_are_refused(embedded, tmp_path):
    other = tiny_samplecnn_preset(tmp_path / "other-tagger", 8000, tags=["a", "b"], seed=1)
    with pytest.raises(ValueError, match=r"made by 'test-tagger' .* not by 'other-tagger'"):
        Catalog.from_parquet(embedded["shards"], preset=str(other))
    status, _, err = run_cli("index", embedded["shards"], tmp_path / "c", "--from-parquet", "--model", other)
    assert status == 2 and len(err.strip().splitlines()) == 1 and "not by 'other-tagger'" in err
    assert not (tmp_path / "c").exists()
    status, _, _ = run_cli("index", embedded["shards"], tmp_path / "c", "--from-parquet")
    assert status == 0 and len(Catalog.load(tmp_path / "c")) == 6


def test_a_failed_job_leaves_the_previous_output_whole(embedded, songs, tagger_dir, monkeypatch, ray_local):
    """A job dying while it writes (here: after half a shard) changes nothing under --out."""
    from sdk.distributed import embed_dataset

    before = {p.name: p.read_bytes() for p in embedded["shards"].iterdir()}

    def dies(self, path, **kwargs):
        (Path(path) / "part-0.parquet").write_bytes(b"PAR1 half")
        raise RuntimeError("node lost")

    monkeypatch.setattr(ray_local.data.Dataset, "write_parquet", dies)
    with pytest.raises(RuntimeError, match="node lost"):
        embed_dataset(songs, str(tagger_dir), embedded["shards"], progress=False)
    assert {p.name: p.read_bytes() for p in embedded["shards"].iterdir()} == before
    assert not list(embedded["shards"].parent.glob(".shards.*"))
    with pytest.raises(ValueError, match="--address auto: Ray is already initialised"):
        embed_dataset(songs, str(tagger_dir), embedded["shards"], address="auto", progress=False)
    with pytest.raises(ValueError, match=r"--address ray://head:10001: Ray Data does not run over Ray Client"):
        embed_dataset(songs, str(tagger_dir), embedded["shards"], address="ray://head:10001", progress=False)


def test_bad_input_is_one_line_naming_the_argument(songs, tagger_dir, tmp_path, monkeypatch):
    cases = [(("embed-dataset", tmp_path / "nowhere", "--preset", tagger_dir, "--out", tmp_path / "o"), "SOURCE"),
             (("embed-dataset", songs, "--preset", "no-such-preset", "--out", tmp_path / "o"), "--preset no-such"),
             (("embed-dataset", songs, "--preset", tagger_dir, "--out", tmp_path / "o", "--actors", 0), "--actors"),
             (("embed-dataset", songs, "--preset", tagger_dir, "--out", songs), "--out"),
             (("index", tmp_path, tmp_path / "c", "--from-parquet"), "_embed_dataset.json")]
    for argv, named in cases:
        status, _, err = run_cli(*argv)
        assert status == 2 and len(err.strip().splitlines()) == 1 and named in err, (argv, err)
    monkeypatch.setitem(sys.modules, "ray", None)  # as if ray were not installed
    status, _, err = run_cli("embed-dataset", songs, "--preset", tagger_dir, "--out", tmp_path / "o")
    assert status == 2 and len(err.strip().splitlines()) == 1 and "ray[data]" in err and "[scale]" in err
    assert not (tmp_path / "o").exists()
