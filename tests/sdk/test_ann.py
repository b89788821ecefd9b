"""sdk.ann through Catalog: approximate indexes (IVF, HNSW, IVF-PQ) re-ranked exactly, chosen by
size, saved with the catalog and rebuilt when stale. Small data (3000 rows); kinds forced."""

import json
import warnings

import numpy as np
import pytest

faiss = pytest.importorskip("faiss")

from sdk import ann, catalog_files  # noqa: E402
from sdk.index import Catalog  # noqa: E402

SUBSPACES = {"a": [0, 16], "b": [16, 32]}
WEIGHTS = [None, {"a": 0.8, "b": 0.2}, {"b": 1.0}, {"a": 2.0, "b": -0.5}]


def clustered(n, seed=0, clusters=100):
    """Well-separated clusters (each sub-space its own centroid per cluster): the exact top
    10 of a point lies in its cluster, which every index kind finds."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, 32)) * 3
    return (centres[rng.integers(0, clusters, n)] + rng.standard_normal((n, 32))).astype(np.float32)


def catalog_of(vectors, index="auto", backend="auto"):
    catalog = Catalog(32, SUBSPACES, model="m", index=index, backend=backend)
    catalog.add([f"t{i}" for i in range(len(vectors))], vectors, [{"title": f"T{i}"} for i in range(len(vectors))])
    return catalog


@pytest.fixture(scope="module")
def data():
    return clustered(3000), clustered(8, seed=1)


@pytest.fixture(scope="module")
def exact(data):
    return catalog_of(data[0], backend="numpy")


@pytest.mark.parametrize("kind", ["ivf", "hnsw", "ivfpq"])
def test_approximate_search_finds_the_exact_hits_with_exact_scores(data, exact, kind):
    vectors, queries = data
    catalog = catalog_of(vectors, index=kind)
    assert catalog.index_kind == kind
    found = []

    def check(got, want):
        wanted = {hit["id"]: hit for hit in want}
        found.extend(hit["id"] in wanted for hit in got)
        for hit in got:  # the exact score and sub-space cosines (not an IVF-PQ distance)
            assert hit == wanted[hit["id"]] if hit["id"] in wanted else hit["score"] <= want[-1]["score"]
        assert [h["score"] for h in got] == sorted((h["score"] for h in got), reverse=True)

    for weights in WEIGHTS:
        for got, want in zip(catalog.search(queries, k=10, weights=weights),
                             exact.search(queries, k=10, weights=weights)):
            check(got, want)
    # IVF-PQ's 4-bit codes of 4 dimensions each are coarse on 32-d data: its re-ranked
    # candidates (CANDIDATE_FACTOR 16) hold 90% of the exact top 10 here, just the bar (96% with
    # 32, 81% with 12); on the benchmark's 256-d 10^7 catalog 99% unweighted, 96% weighted.
    assert np.mean(found) >= (0.9 if kind == "ivfpq" else 0.95)
    assert type(catalog._index).__name__ == {"ivf": "IndexIVFFlat", "hnsw": "IndexHNSWFlat",
                                             "ivfpq": "IndexIVFPQFastScan"}[kind]
    for query in queries:
        top = exact.search(query, k=1)[0][0]["id"]
        hits = catalog.search(query, k=5, exclude=[top])[0]
        assert top not in [h["id"] for h in hits]
        check(hits, exact.search(query, k=5, exclude=[top])[0])


def test_ivfpq_candidates_are_re_ranked(data, exact, monkeypatch):
    """With a single candidate per hit, IVF-PQ's approximate order shows: the re-rank is what
    makes its results exact."""
    vectors, queries = data
    catalog = catalog_of(vectors, index="ivfpq")
    monkeypatch.setattr(ann, "CANDIDATE_FACTOR", {**ann.CANDIDATE_FACTOR, "ivfpq": 1})
    monkeypatch.setattr(ann, "CANDIDATE_MARGIN", 0)
    few = catalog.search(queries, k=10)
    assert few != exact.search(queries, k=10)  # other hits: PQ's order is approximate
    for query, hits in zip(queries, few):  # but every score is exact, and they are in order
        assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
        for hit in hits:
            row = catalog.vector(hit["id"]).astype(np.float64)
            cos = {n: row[a:b] @ query[a:b] / np.linalg.norm(query[a:b]) for n, (a, b) in SUBSPACES.items()}
            assert hit["subspace_scores"] == pytest.approx(cos, abs=1e-6)
            assert hit["score"] == pytest.approx(cos["a"] + cos["b"], abs=1e-6)


def test_auto_picks_the_kind_by_size(monkeypatch):
    monkeypatch.setattr(ann, "FLAT_BELOW", 400)
    monkeypatch.setattr(ann, "IVFPQ_FROM", 1200)
    vectors = clustered(1500)
    catalog = catalog_of(vectors[:300])
    assert catalog.index_kind == "flat"
    catalog.search(vectors[0])
    assert isinstance(catalog._index, faiss.IndexFlatIP)
    catalog.add([f"u{i}" for i in range(300, 800)], vectors[300:800])  # outgrows the flat index
    assert catalog.index_kind == "ivf" and catalog._index is None
    assert catalog.search(vectors[0], k=1)[0][0]["id"] == "t0"
    assert isinstance(faiss.downcast_index(catalog._index), faiss.IndexIVFFlat)
    catalog.add([f"v{i}" for i in range(800, 1500)], vectors[800:])
    catalog.search(vectors[0])
    assert catalog.index_kind == "ivfpq" and isinstance(faiss.downcast_index(catalog._index), faiss.IndexIVFPQFastScan)
    assert catalog_of(vectors[:300], backend="numpy", index="ivf").index_kind == "numpy"


def test_unknown_index_kind_is_named():
    with pytest.raises(ValueError, match=r"index must be one of 'auto', 'flat', 'ivf', 'hnsw', 'ivfpq', not 'annoy'"):
        Catalog(32, SUBSPACES, index="annoy")


def test_save_load_keeps_the_trained_index(data, tmp_path, monkeypatch):
    vectors, queries = data
    catalog = catalog_of(vectors, index="hnsw")
    catalog.save(tmp_path / "cat")  # built at save
    record = json.loads((tmp_path / "cat" / "catalog.json").read_text())["index"]
    assert record["kind"] == record["built"] == "hnsw" and record["count"] == 3000
    monkeypatch.setattr(ann, "build", lambda *a, **k: pytest.fail("the saved index was rebuilt"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = Catalog.load(tmp_path / "cat")
    assert loaded.index == "hnsw" and loaded.index_kind == "hnsw"
    assert loaded.search(queries, k=10, weights={"a": 0.3}) == catalog.search(queries, k=10, weights={"a": 0.3})


def _other_vectors(directory):
    stored = np.load(directory / "embeddings.npy")
    np.save(directory / "embeddings.npy", stored[::-1].copy())  # same rows, other order


def _other_index(directory):
    other = catalog_of(clustered(3000, seed=5), index="ivf")
    (directory / "index.faiss").write_bytes(ann.to_bytes(other._faiss_index()))


@pytest.mark.parametrize("damage, problem", [
    (_other_vectors, "built from other vectors.*stale"), (_other_index, "does not match the crc32"),
    (lambda d: (d / "index.faiss").unlink(), "missing")])
def test_a_saved_index_that_does_not_match_is_rebuilt(data, tmp_path, damage, problem):
    vectors, queries = data
    catalog_of(vectors, index="ivf").save(tmp_path / "cat")
    damage(tmp_path / "cat")
    with pytest.warns(UserWarning, match=f"index.faiss: {problem}.*rebuilt at the first search"):
        loaded = Catalog.load(tmp_path / "cat")
    assert loaded._index is None
    exact = Catalog.load(tmp_path / "cat", backend="numpy").search(queries, k=10)
    # A stale index's candidates would be other rows (recall near 0); a rebuilt one finds them.
    recall = np.mean([len({h["id"] for h in a} & {h["id"] for h in b}) / 10
                      for a, b in zip(loaded.search(queries, k=10), exact)])
    assert recall >= 0.95
    assert isinstance(faiss.downcast_index(loaded._index), faiss.IndexIVFFlat)


def test_large_catalogs_load_memory_mapped(data, tmp_path, monkeypatch):
    vectors, queries = data
    catalog = catalog_of(vectors, index="ivf")
    catalog.save(tmp_path / "cat")
    monkeypatch.setattr(catalog_files, "MMAP_FROM", 1000)
    loaded = Catalog.load(tmp_path / "cat")
    assert isinstance(loaded._vectors, np.memmap) and loaded._index is not None  # index adopted, not stale
    assert loaded.search(queries, k=10, weights={"b": 1}) == catalog.search(queries, k=10, weights={"b": 1})
    bad = np.load(tmp_path / "cat" / "embeddings.npy")
    bad[2500] *= 2  # checked in chunks too
    np.save(tmp_path / "cat" / "embeddings.npy", bad)
    with pytest.raises(ValueError, match="rows are not finite and L2-normalised"):
        Catalog.load(tmp_path / "cat")


def test_without_faiss_every_kind_searches_exactly(data, exact, tmp_path, monkeypatch):
    import sdk.index

    vectors, queries = data
    monkeypatch.setattr(ann, "faiss", None)
    monkeypatch.setattr(sdk.index, "faiss", None)
    catalog = catalog_of(vectors, index="ivf")
    assert catalog.backend == "numpy" and catalog.index_kind == "numpy"
    assert catalog.search(queries, k=10, weights={"a": 0.7}) == exact.search(queries, k=10, weights={"a": 0.7})
    catalog.save(tmp_path / "cat")
    assert sorted(p.name for p in (tmp_path / "cat").iterdir()) == ["catalog.json", "embeddings.npy", "items.jsonl"]
    assert json.loads((tmp_path / "cat" / "catalog.json").read_text())["index"] == {"kind": "ivf"}
    loaded = Catalog.load(tmp_path / "cat")
    assert loaded.index == "ivf" and loaded.search(queries, k=10) == exact.search(queries, k=10)
