"""Catalog search at scale: latency and recall@10 of every index kind against exact search.

    python -m benchmarks.search_scale [--sizes 10000,100000,1000000] [--kinds numpy,flat,ivf,hnsw,ivfpq]
        [--queries 200] [--ivfpq-10m [--ivfpq-sweep 32x32,64x32,64x64]] [--append]
        [--json results/search-scale.json]
    python -m benchmarks.search_scale --markdown    # the table of --json, for docs

Data: synthetic, clustered, 256-d in two 128-d sub-spaces ("a", "b"), since real embeddings
are clustered (uniform random vectors are the worst case of every approximate index and not
what a catalog holds): 50 "genre" centres per sub-space; n/100 components (~100 songs each:
an album, a soundtrack), each a random pair of genre centres plus N(0, 1) per dimension; songs
are a component's centre plus N(0, 1) per dimension, stored by `Catalog.add`, which normalises
each sub-space. Queries are --queries new songs of the same mixture, not in the catalog.

Rows: for each size and index kind, --queries single-query `catalog.search(q, k=10)` calls
(the whole public path: normalisation, candidates, exact re-rank, result dicts) without
weights, and with weights {a: u, b: 1 - u}, u ~ U(0, 1) per query. p50/p99 are wall-clock
milliseconds after 5 warm-up queries; recall@10 is the share of the exact top 10 (the numpy
backend, same catalog, same run) returned. `build_s` is the index build (at the first search),
`rss_mb` the process RSS after the searches. faiss uses its default OpenMP threads. The load
average is recorded: other work on the machine slows every row.

--ivfpq-10m adds 10^7 vectors with IVF-PQ only, in a child process so its peak RSS is its own:
the catalog files are written in chunks (the same normalisation) to --workdir and read with
`Catalog.load`, which memory-maps embeddings.npy; the exact top 10 are brute-forced over the
file in chunks. Its files (~11 GB) are removed afterwards. --append keeps the rows already in
--json (e.g. `--sizes "" --ivfpq-10m --append` adds the 10^7 row to an earlier run's file).
--ivfpq-sweep NPROBExFACTOR[xEF],... then measures the same queries over the one built 10^7
index with other search-time settings: nprobe (`sdk.ann.IVFPQ_NPROBE`), candidates per wanted
hit (`sdk.ann.CANDIDATE_FACTOR["ivfpq"]`) and the HNSW quantizer's efSearch
(`sdk.ann.IVFPQ_EF_SEARCH`; max(64, 2 * nprobe) when not given); its rows go to "sweep" in
the 10^7 results, after the rows with the defaults, which run first.
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DIM, HALF, SUBSPACES, K = 256, 128, {"a": [0, 128], "b": [128, 256]}, 10
GENRES, PER_COMPONENT = 50, 100


def mixture(n, seed=1234):
    """`draw(m, rng)` -> m raw songs (float32) of the clustered mixture for an n-song catalog."""
    rng = np.random.default_rng(seed)
    genres_a, genres_b = rng.standard_normal((2, GENRES, HALF)).astype(np.float32)
    components = max(1, n // PER_COMPONENT)
    centres = np.concatenate([genres_a[rng.integers(0, GENRES, components)],
                              genres_b[rng.integers(0, GENRES, components)]], 1)
    centres += rng.standard_normal(centres.shape).astype(np.float32)

    def draw(m, rng):
        return centres[rng.integers(0, components, m)] + rng.standard_normal((m, DIM), dtype=np.float32)

    return draw


def query_set(n, count):
    draw, rng = mixture(n), np.random.default_rng(7)
    queries = draw(count, rng)
    u = rng.uniform(0, 1, count)
    return queries, [None] * count, [{"a": float(w), "b": float(1 - w)} for w in u]


def rss_mb(field="VmRSS"):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(catalog, queries, weights, truth=None):
    """{p50_ms, p99_ms, recall_at_10}, and the hit ids (the truth when `truth` is None)."""
    for q, w in zip(queries[:5], weights[:5]):
        catalog.search(q, k=K, weights=w)
    times, ids = [], []
    for q, w in zip(queries, weights):
        start = time.perf_counter()
        hits = catalog.search(q, k=K, weights=w)[0]
        times.append(1000 * (time.perf_counter() - start))
        ids.append([h["id"] for h in hits])
    row = {"p50_ms": float(np.median(times)), "p99_ms": float(np.percentile(times, 99))}
    truth = ids if truth is None else truth
    row["recall_at_10"] = float(np.mean([len(set(a) & set(b)) / K for a, b in zip(ids, truth)]))
    return row, ids


def run_size(n, kinds, count):
    from sdk import ann
    from sdk.index import Catalog

    draw, rng = mixture(n), np.random.default_rng(0)
    catalog = Catalog(DIM, SUBSPACES, backend="numpy")
    for start in range(0, n, 100_000):
        rows = min(100_000, n - start)
        catalog.add([f"t{i:08d}" for i in range(start, start + rows)], draw(rows, rng))
    queries, plain, weighted = query_set(n, count)
    truths, rows = {}, []
    for kind in ["numpy", *[k for k in kinds if k != "numpy"]]:
        build = 0.0
        if kind != "numpy":
            catalog.backend, catalog.index = "faiss", kind
            start = time.perf_counter()
            catalog._faiss_index()
            build = time.perf_counter() - start
        for label, weights in (("none", plain), ("random a/b", weighted)):
            row, ids = measure(catalog, queries, weights, truths.get(label))
            truths.setdefault(label, ids)
            if kind == "numpy" and "numpy" not in kinds:
                continue
            row = {"n": n, "index": kind if kind == "numpy" else f"faiss {kind}", "weights": label, **row,
                   "build_s": round(build, 2), "rss_mb": round(rss_mb()),
                   "params": ann.params(kind, DIM, n) if kind != "numpy" else {}}
            rows.append(row)
            print_row(row)
    return rows


def print_row(row):
    print(f"{row['n']:>10,} {row['index']:<13} {row['weights']:<11} {row['p50_ms']:9.2f} {row['p99_ms']:9.2f} "
          f"{row['recall_at_10']:8.3f} {row['build_s']:8.1f} {row['rss_mb']:8,.0f}", flush=True)


def write_catalog(directory, n, chunk=250_000):
    """A Catalog's three files for n mixture songs, written in chunks (never all in RAM, and
    with file writes, not a mapping whose written pages would all count in this process's RSS)."""
    from sdk.catalog_files import FORMAT_VERSION

    draw, rng = mixture(n), np.random.default_rng(0)
    directory.mkdir(parents=True, exist_ok=True)
    header = np.lib.format.open_memmap(directory / "embeddings.npy", "w+", np.float32, (n, DIM))
    offset = header.offset  # the .npy header's length; the file is sized, the rows are written below
    del header
    with open(directory / "items.jsonl", "w") as items, open(directory / "embeddings.npy", "r+b") as out:
        out.seek(offset)
        for start in range(0, n, chunk):
            block = draw(min(chunk, n - start), rng)
            for a, b in SUBSPACES.values():
                block[:, a:b] /= np.linalg.norm(block[:, a:b], axis=1, keepdims=True)
            out.write(np.ascontiguousarray(block, np.float32).tobytes())
            items.write("".join(f'{{"id": "t{i:08d}", "path": null}}\n' for i in range(start, start + len(block))))
    (directory / "catalog.json").write_text(json.dumps({
        "format_version": FORMAT_VERSION, "embedding_size": DIM, "subspaces": SUBSPACES, "model": None,
        "model_sha256": None, "model_source": None, "fields": None, "count": n, "index": {"kind": "ivfpq"}}))


def exact_top(directory, queries, weights, chunk=200_000):
    """Exact top-K ids of every weighted query, brute force over embeddings.npy in chunks (each
    chunk's pages released after it, so the pass does not map the whole file into the RSS)."""
    from sdk import ann

    vectors = np.load(directory / "embeddings.npy", mmap_mode="r")
    scaled = []
    for q, w in zip(queries, weights):
        q = q.astype(np.float32).copy()
        for name, (a, b) in SUBSPACES.items():
            q[a:b] *= (1.0 if w is None else w[name]) / np.linalg.norm(q[a:b])
        scaled.append(q)
    scaled = np.stack(scaled)
    best = np.full((len(scaled), K), -np.inf, np.float32)
    rows = np.zeros((len(scaled), K), np.int64)
    for start in range(0, len(vectors), chunk):
        scores = scaled @ np.asarray(vectors[start:start + chunk]).T
        top = np.argpartition(-scores, K - 1, axis=1)[:, :K]
        merged = np.concatenate([best, np.take_along_axis(scores, top, 1)], 1)
        merged_rows = np.concatenate([rows, top + start], 1)
        keep = np.argsort(-merged, axis=1)[:, :K]
        best, rows = np.take_along_axis(merged, keep, 1), np.take_along_axis(merged_rows, keep, 1)
        ann.release(vectors, start, min(chunk, len(vectors) - start))
    return [[f"t{r:08d}" for r in row] for row in rows]


def parse_sweep(text):
    """"64x32,128x64x256" -> [(nprobe, candidate factor, quantizer efSearch), ...]."""
    settings = []
    for item in filter(None, (s.strip() for s in (text or "").split(","))):
        parts = [int(p) for p in item.lower().split("x")]
        if len(parts) not in (2, 3) or min(parts) < 1:
            raise ValueError(f"--ivfpq-sweep wants NPROBExFACTOR[xEF] items, not {item!r}")
        settings.append((parts[0], parts[1], parts[2] if len(parts) == 3 else max(64, 2 * parts[0])))
    return settings


def sweep(catalog, n, queries, plain, weighted, truth, settings):
    """Rows of the IVF-PQ catalog searched with each (nprobe, factor, efSearch) of `settings`;
    sdk.ann's defaults are restored after."""
    from sdk import ann

    defaults = ann.IVFPQ_NPROBE, ann.IVFPQ_EF_SEARCH, ann.CANDIDATE_FACTOR
    rows = []
    try:
        for nprobe, factor, ef in settings:
            ann.IVFPQ_NPROBE, ann.IVFPQ_EF_SEARCH = nprobe, ef
            ann.CANDIDATE_FACTOR = {**defaults[2], "ivfpq": factor}
            ann.configure(catalog._index, "ivfpq")
            for label, weights in (("none", plain), ("random a/b", weighted)):
                row, _ = measure(catalog, queries, weights, truth[label])
                rows.append({"n": n, "index": "faiss ivfpq", "weights": label, "nprobe": nprobe,
                             "candidate_factor": factor, "ef_search": ef, "candidates": ann.candidates("ivfpq", K, n),
                             **row, "rss_mb": round(rss_mb())})
    finally:
        ann.IVFPQ_NPROBE, ann.IVFPQ_EF_SEARCH, ann.CANDIDATE_FACTOR = defaults
        ann.configure(catalog._index, "ivfpq")
    return rows


def run_10m(n, count, workdir, settings=()):
    """The IVF-PQ row(s) at n (run in a child process), and the sweep over `settings`."""
    from sdk.index import Catalog

    started = time.perf_counter()
    write_catalog(workdir, n)
    written = time.perf_counter() - started
    queries, plain, weighted = query_set(n, count)
    truth = {label: exact_top(workdir, queries, w) for label, w in (("none", plain), ("random a/b", weighted))}
    exact_s = time.perf_counter() - started - written
    start = time.perf_counter()
    catalog = Catalog.load(workdir)
    load_s, rss_loaded = time.perf_counter() - start, rss_mb()
    start = time.perf_counter()
    catalog._faiss_index()
    build = time.perf_counter() - start
    from sdk import ann

    rows = []
    for label, weights in (("none", plain), ("random a/b", weighted)):
        row, _ = measure(catalog, queries, weights, truth[label])
        rows.append({"n": n, "index": f"faiss {catalog.index_kind}", "weights": label, **row, "build_s": round(build, 2),
                     "rss_mb": round(rss_mb()), "params": ann.params(catalog.index_kind, DIM, n),
                     "search": {"nprobe": ann.IVFPQ_NPROBE, "candidate_factor": ann.CANDIDATE_FACTOR["ivfpq"],
                                "ef_search": ann.IVFPQ_EF_SEARCH}})
    out = {"rows": rows}
    if settings:
        out["sweep"] = sweep(catalog, n, queries, plain, weighted, truth, settings)
    return {**out, "write_s": round(written, 1), "exact_bruteforce_s": round(exact_s, 1),
            "load_s": round(load_s, 1), "rss_after_load_mb": round(rss_loaded), "peak_rss_mb": round(rss_mb("VmHWM")),
            "memory_mapped": isinstance(catalog._vectors, np.memmap), "files_gb": round(sum(
                f.stat().st_size for f in workdir.iterdir()) / 1e9, 2)}


def write(path, result, started):
    result.update(seconds=round(time.perf_counter() - started), load_average=os.getloadavg(), cpus=os.cpu_count(),
                  date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")


def print_sweep_row(row):
    print(f"{row['n']:>10,} {row['index']:<13} {row['weights']:<11} {row['p50_ms']:9.2f} {row['p99_ms']:9.2f} "
          f"{row['recall_at_10']:8.3f}   nprobe {row['nprobe']}, candidates {row['candidate_factor']}x "
          f"({row['candidates']}), efSearch {row['ef_search']}", flush=True)


def sweep_markdown(rows):
    """The sweep rows as a markdown table: one line per setting, unweighted and weighted side by side."""
    lines = ["| nprobe | candidates | efSearch | p50 ms | p99 ms | recall@10 | weighted p50 ms | weighted p99 ms "
             "| weighted recall@10 |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for plain, weighted in zip(rows[::2], rows[1::2]):
        setting = f"{plain['nprobe']} | {plain['candidate_factor']}× ({plain['candidates']}) | {plain['ef_search']}"
        lines.append(f"| {setting} | {plain['p50_ms']:.2f} | {plain['p99_ms']:.2f} | {plain['recall_at_10']:.3f} "
                     f"| {weighted['p50_ms']:.2f} | {weighted['p99_ms']:.2f} | {weighted['recall_at_10']:.3f} |")
    return "\n".join(lines)


def markdown(result):
    """The rows of a results file as a markdown table (and the 10^7 sweep's, if run)."""
    lines = ["| vectors | index | weights | p50 ms | p99 ms | recall@10 | build s | RSS MB |",
             "|---:|---|---|---:|---:|---:|---:|---:|"]
    rows = result["rows"] + result.get("ivfpq_10m", {}).get("rows", [])
    for r in rows:
        lines.append(f"| {r['n']:,} | {r['index']} | {r['weights']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
                     f"{r['recall_at_10']:.3f} | {r['build_s']:.1f} | {r['rss_mb']:,} |")
    swept = result.get("ivfpq_10m", {}).get("sweep")
    if swept:
        lines += ["", sweep_markdown(swept)]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.search_scale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--kinds", default="numpy,flat,ivf,hnsw,ivfpq")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ivfpq-10m", action="store_true", help="add 10^7 vectors with IVF-PQ (~11 GB on disk)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/search-scale-10m"))
    parser.add_argument("--json", type=Path, default=Path("results/search-scale.json"))
    parser.add_argument("--ivfpq-sweep", default="", metavar="NPROBExFACTOR[xEF],...",
                        help="with --ivfpq-10m: also search the 10^7 index with these settings")
    parser.add_argument("--append", action="store_true", help="keep the rows already in --json")
    parser.add_argument("--markdown", action="store_true", help="print --json as a markdown table and exit")
    parser.add_argument("--child-10m", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    settings = parse_sweep(args.ivfpq_sweep)
    if settings and not args.ivfpq_10m and not args.child_10m:
        parser.error("--ivfpq-sweep needs --ivfpq-10m")
    if args.markdown:
        print(markdown(json.loads(args.json.read_text())))
        return
    if args.child_10m:
        try:
            print(json.dumps(run_10m(args.child_10m, args.queries, args.workdir, settings)))
        finally:
            shutil.rmtree(args.workdir, ignore_errors=True)
        return
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    from sdk import ann

    for kind in kinds:
        if kind != "numpy":
            ann.check_kind(kind)
    print(f"{'n':>10} {'index':<13} {'weights':<11} {'p50 ms':>9} {'p99 ms':>9} {'recall':>8} {'build s':>8} "
          f"{'RSS MB':>8}", flush=True)
    rows, started, earlier = [], time.perf_counter(), {}
    if args.append and args.json.is_file():
        earlier = json.loads(args.json.read_text())
        rows = earlier.get("rows", [])
    for n in [int(s) for s in args.sizes.split(",") if s.strip()]:
        rows += run_size(n, kinds, args.queries)
    result = {"rows": rows, "dim": DIM, "subspaces": SUBSPACES, "k": K, "queries": args.queries,
              "data": f"Gaussian mixture: {GENRES} genre centres per sub-space, n/{PER_COMPONENT} components",
              "settings": {"FLAT_BELOW": ann.FLAT_BELOW, "IVFPQ_FROM": ann.IVFPQ_FROM, "IVF_NPROBE": ann.IVF_NPROBE,
                           "IVFPQ_NPROBE": ann.IVFPQ_NPROBE, "IVFPQ_EF_SEARCH": ann.IVFPQ_EF_SEARCH,
                           "HNSW_M": ann.HNSW_M, "HNSW_EF_SEARCH": ann.HNSW_EF_SEARCH,
                           "CANDIDATE_FACTOR": ann.CANDIDATE_FACTOR, "CANDIDATE_MARGIN": ann.CANDIDATE_MARGIN},
              "faiss_threads": ann.faiss.omp_get_max_threads() if ann.faiss else None,
              "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    write(args.json, result, started)  # kept if the 10^7 run fails or is stopped
    if earlier:
        result["earlier_run"] = {k: earlier.get(k) for k in ("date", "seconds", "load_average", "peak_rss_mb")}
    if args.ivfpq_10m:
        child_started = time.perf_counter()
        child = subprocess.run([sys.executable, "-m", "benchmarks.search_scale", "--child-10m", "10000000",
                                "--queries", str(args.queries), "--workdir", str(args.workdir),
                                "--ivfpq-sweep", args.ivfpq_sweep],
                               capture_output=True, text=True)
        if child.returncode:
            result["ivfpq_10m"] = {"error": child.stderr[-2000:]}
            print(f"10M run failed:\n{child.stderr[-3000:]}", file=sys.stderr)
        else:
            result["ivfpq_10m"] = json.loads(child.stdout.strip().splitlines()[-1])
            result["ivfpq_10m"]["seconds"] = round(time.perf_counter() - child_started)
            for row in result["ivfpq_10m"]["rows"]:
                print_row(row)
            for row in result["ivfpq_10m"].get("sweep", []):
                print_sweep_row(row)
        write(args.json, result, started)
    print(json.dumps({"json": str(args.json), "rows": len(rows) + len(result.get("ivfpq_10m", {}).get("rows", [])),
                      "seconds": result["seconds"], "peak_rss_mb": result["peak_rss_mb"]}))


if __name__ == "__main__":
    main()
