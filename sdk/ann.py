"""Which FAISS index a `Catalog` searches with, built and checked here.

A catalog's rows are unit vectors per sub-space, so a weighted query (its sub-space parts
scaled by w_s) scores sum_s w_s cos_s as ONE inner product: every index here is an
inner-product index (METRIC_INNER_PRODUCT) and takes the weighted query as it is. An
approximate index only proposes candidates (`candidates(kind, wanted)` of them); the
catalog re-ranks them exactly with its stored vectors, so returned scores are always exact
and only recall (is the true top k among the candidates?) depends on the index.

Kinds: "flat" (exact), "ivf" (IVF-Flat), "hnsw" (HNSW-Flat), "ivfpq" (IVF over 4-bit product codes
scanned with SIMD, "fast scan": embedding_size/8 bytes a vector instead of 4 * embedding_size,
its coarse quantizer an HNSW graph so adding 10^7 vectors is quick); "auto" picks by size
(`choose`). Search-time settings (nprobe, efSearch) are module constants measured with
`python -m benchmarks.search_scale` (docs/performance.md, "Catalog search at scale").
"""

import contextlib
import mmap
import zlib

import numpy as np

try:
    import faiss
except ImportError:
    faiss = None

KINDS = ("auto", "flat", "ivf", "hnsw", "ivfpq")
APPROXIMATE = ("ivf", "hnsw", "ivfpq")
FLAT_BELOW = 50_000  # "auto": exact below this many vectors
IVFPQ_FROM = 5_000_000  # "auto": IVF-PQ from here (an IVF-Flat would copy >= 5 GB of 256-d vectors)
IVF_NPROBE = 32  # IVF-Flat: cells visited per query (of ~sqrt(n), see `nlist`)
IVFPQ_NPROBE = 48  # IVF-PQ: cells visited per query (10^7 vectors: weighted recall@10 0.947 at 32, 0.958 at 48)
IVFPQ_EF_SEARCH = 96  # IVF-PQ: efSearch of its HNSW quantizer (2 * nprobe: at 64 with nprobe 64, recall fell 0.02)
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 32, 64, 128
# Candidates per wanted hit. IVF-PQ's 4-bit codes rank coarsely, so it needs many; its re-rank
# reads them from the (memory-mapped) rows and sets its latency: at 10^7, 16 cost ~3 ms, 32 ~5;
# fewer (8, 12) still held 0.95 there but not the 32-d unit test's 0.9 (0.70, 0.81).
CANDIDATE_FACTOR = {"flat": 1, "ivf": 2, "hnsw": 2, "ivfpq": 16}
CANDIDATE_MARGIN = 16  # + this many, so near-ties at rank k rank the same on every backend
TRAIN_PER_CELL = 40  # k-means training sample: this many rows per IVF cell (faiss wants >= 39)
KMEANS_ITERATIONS = 10  # faiss's default 25 costs 2.5x the training time
# OpenMP threads for training (adding and searching use faiss's default): its many small
# parallel k-means runs stall when the machine is busier than its cores (training IVF-PQ on
# 3000 rows: 16-30 s with 2 threads, 0.45 s with 1, on 2 shared cores).
TRAIN_THREADS = 1
_CHUNK = 1 << 16  # rows added / checksummed at a time (bounds the float32 copies of mmapped rows)


def check_kind(kind):
    if kind not in KINDS:
        raise ValueError(f"index must be one of {', '.join(map(repr, KINDS))}, not {kind!r}")
    return kind


def choose(kind, count):
    """The kind of index to build for `count` vectors when `kind` was asked for."""
    if check_kind(kind) != "auto":
        return kind
    return "flat" if count < FLAT_BELOW else "ivf" if count < IVFPQ_FROM else "ivfpq"


def nlist(count):
    """IVF cells: the power of two nearest sqrt(count), with >= 39 training rows per cell."""
    cells = 2 ** int(round(np.log2(max(1.0, np.sqrt(count)))))
    while cells > 1 and count < 39 * cells:
        cells //= 2
    return cells


def pq_m(dim):
    """Sub-quantizers of IVF-PQ codes: one 4-bit code per ~4 dimensions (an even number
    dividing `dim`, as fast scan needs)."""
    fits = [m for m in range(2, dim + 1, 2) if dim % m == 0 and dim // m >= 4]
    if not fits:
        raise ValueError(f"index 'ivfpq' needs an embedding_size with an even divisor <= size / 4, not {dim}")
    return max(fits)


def params(kind, dim, count):
    """What an index of `kind` for `count` vectors is built with; an index built with other
    params (the catalog grew or shrank a lot since) is rebuilt rather than extended."""
    if kind in ("ivf", "ivfpq"):
        out = {"nlist": nlist(count)}
        if kind == "ivfpq":
            out["pq_m"] = pq_m(dim)
        return out
    if kind == "hnsw":
        return {"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION}
    return {}


def candidates(kind, wanted, count):
    """How many candidates to fetch from an index of `kind` for `wanted` hits."""
    return min(count, max(CANDIDATE_FACTOR[kind] * wanted, wanted + CANDIDATE_MARGIN))


def configure(index, kind):
    """Set the search-time parameters (not all survive write_index/read_index)."""
    if kind in ("ivf", "ivfpq"):
        ivf = faiss.extract_index_ivf(index)
        ivf.nprobe = IVFPQ_NPROBE if kind == "ivfpq" else IVF_NPROBE
        if kind == "ivfpq":  # its HNSW quantizer: explore enough to find the nprobe nearest cells
            faiss.downcast_index(ivf.quantizer).hnsw.efSearch = IVFPQ_EF_SEARCH
    elif kind == "hnsw":
        index.hnsw.efSearch = HNSW_EF_SEARCH
    return index


def _chunks(vectors):
    """float32 row blocks of `vectors`; a memory-mapped catalog's are copied and their pages
    released after, so a pass over 10^7 rows does not leave them all in this process's RSS."""
    mapped = isinstance(getattr(vectors, "base", None), mmap.mmap)  # a whole np.memmap, not a view
    for start in range(0, len(vectors), _CHUNK):
        if not mapped:
            yield np.ascontiguousarray(vectors[start:start + _CHUNK], np.float32)
            continue
        chunk = np.array(vectors[start:start + _CHUNK], np.float32)
        release(vectors, start, len(chunk))
        yield chunk


_WINDOW = 1 << 16  # the kernel maps pages around a faulted one ("fault-around"): up to 64 KiB
_TAKE = 1024  # rows gathered from a memory-mapped catalog before their pages are released


def take(vectors, rows):
    """float32 copies of sorted `rows`; from a memory-mapped catalog the pages read (and the
    64 KiB the kernel maps around each) are released after every _TAKE rows, so scattered
    reads (training samples, re-ranked candidates) do not map the whole file into this
    process's RSS, not even for a moment (released only at the end, the IVF-PQ training sample
    of a 3M-row catalog, 82k rows, mapped nearly all its 3 GB file: build peak RSS 4.9 GB
    instead of 2.2 GB)."""
    if not isinstance(getattr(vectors, "base", None), mmap.mmap) or not len(rows):
        return np.asarray(vectors[rows], np.float32)
    rows = np.asarray(rows)
    out = np.empty((len(rows), vectors.shape[1]), np.float32)
    row_bytes = vectors.shape[1] * vectors.itemsize
    first = vectors.offset % mmap.ALLOCATIONGRANULARITY
    size = len(vectors.base)
    for block in range(0, len(rows), _TAKE):
        part = rows[block:block + _TAKE]
        out[block:block + len(part)] = vectors[part]
        for window in np.unique((first + part * row_bytes) // _WINDOW).tolist():
            start = window * _WINDOW
            vectors.base.madvise(mmap.MADV_DONTNEED, start, min(_WINDOW * 2, size - start))
    return out


def release(vectors, start, rows):
    """Drop rows [start, start + rows) of a read-only np.memmap from this process's resident
    pages (they stay in the page cache; a later read maps them again)."""
    row_bytes = vectors.shape[1] * vectors.itemsize
    first = vectors.offset % mmap.ALLOCATIONGRANULARITY + start * row_bytes
    aligned = first - first % mmap.PAGESIZE
    vectors._mmap.madvise(mmap.MADV_DONTNEED, aligned, first + rows * row_bytes - aligned)


def build(kind, vectors, seed=0):
    """A trained index of `kind` holding `vectors` (an array or a read-only memmap)."""
    count, dim = vectors.shape
    p = params(kind, dim, count)
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, p["M"], faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = p["efConstruction"]
    elif kind in ("ivf", "ivfpq"):
        spec = f"IVF{p['nlist']},Flat" if kind == "ivf" else f"IVF{p['nlist']}_HNSW32,PQ{p['pq_m']}x4fs"
        index = faiss.index_factory(dim, spec, faiss.METRIC_INNER_PRODUCT)
        faiss.extract_index_ivf(index).cp.niter = KMEANS_ITERATIONS
        sample = max(TRAIN_PER_CELL * p["nlist"], 64 * 16)
        rows = np.sort(np.random.default_rng(seed).choice(count, min(count, sample), replace=False))
        with _omp_threads(TRAIN_THREADS):
            index.train(take(vectors, rows))
    else:
        raise ValueError(f"index kind {kind!r} has nothing to build")
    for chunk in _chunks(vectors):
        index.add(chunk)
    return configure(index, kind)


@contextlib.contextmanager
def _omp_threads(count):
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(count or before)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def checksum(vectors):
    """crc32 of the rows as float32: ties a saved index to the vectors it was built from (it
    detects a stale or mismatched index file, not tampering)."""
    crc = 0
    for chunk in _chunks(vectors):
        crc = zlib.crc32(chunk.data, crc)
    return crc


def to_bytes(index):
    return faiss.serialize_index(index).tobytes()


def from_bytes(data, kind, dim, count):
    """The index in `data`, or None (with the reason) when it is not a `kind` index of `count`
    `dim`-d vectors searched by inner product."""
    try:
        index = faiss.deserialize_index(np.frombuffer(data, np.uint8))
    except RuntimeError as exc:
        return None, f"unreadable ({str(exc).splitlines()[0] if str(exc) else 'faiss error'})"
    if index.d != dim or index.ntotal != count or index.metric_type != faiss.METRIC_INNER_PRODUCT:
        return None, f"holds {index.ntotal} {index.d}-d vectors, the catalog {count} {dim}-d"
    return configure(index, kind), None
