"""How long the demo takes to re-rank when a slider moves, against embedding a query clip.

    python -m benchmarks.demo_rerank [--preset disentangled-msd] [--items 1000] [--repeats 50]
        [--clip-seconds 30] [--json results/demo-rerank.json]

A catalog of --items random vectors with the preset's sub-space layout (re-ranking does not
look at audio) is searched with one cached query vector under --repeats random slider settings:
`rank` is SearchEngine.rank (catalog.search with the weights), `handler` the app's whole slider
event (rank, result cards, the map figure drawn to PNG; map by PCA). `embed` is the preset embedding a
--clip-seconds clip (median of 3 after one warm-up): what re-ranking avoids. Times are
wall-clock milliseconds (median and 95th percentile); the load average is recorded, since the
machine's other work slows every row.
"""

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np


def timed(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - start))
    return {"median_ms": float(np.median(times)), "p95_ms": float(np.percentile(times, 95)), "runs": repeats}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.demo_rerank", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="disentangled-msd")
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--clip-seconds", type=float, default=30.0)
    parser.add_argument("--json", type=Path, default=Path("results/demo-rerank.json"))
    args = parser.parse_args(argv)

    import sdk
    from demo.app import build_app, handler
    from demo.engine import FULL, SearchEngine
    from sdk.catalog_models import model_identity

    model = sdk.load(args.preset)
    model.progress = False
    rng = np.random.default_rng(0)
    catalog = sdk.Catalog(model.embedding_size, model.subspace_layout, **model_identity(model))
    catalog.add([f"track{i:05d}" for i in range(args.items)], rng.standard_normal((args.items, model.embedding_size)),
                [{"title": f"Track {i}", "soundtrack": f"Soundtrack {i % 20}"} for i in range(args.items)])
    engine = SearchEngine(model, catalog)
    names = [*engine.subspaces, FULL]
    query = engine.make_query(rng.standard_normal(model.embedding_size).astype(np.float32), "random")
    settings = iter([dict(zip(names, rng.uniform(0.05, 1, len(names)))) for _ in range(2 * args.repeats + 2)])
    rank = timed(lambda: engine.rank(query, next(settings)), args.repeats)

    app = build_app(model, catalog, None, map_method="pca", engine=engine)
    rerank = handler(app, "rerank")
    def slider_event():
        import io

        figure = rerank(query, FULL, *next(settings).values())[2]
        figure.savefig(io.BytesIO(), format="png")

    handler_times = timed(slider_event, args.repeats)

    clip = (0.1 * rng.standard_normal(int(args.clip_seconds * model.sample_rate))).astype(np.float32)
    model.embed(clip, sr=model.sample_rate)  # compile
    embed = timed(lambda: model.embed(clip, sr=model.sample_rate), 3)

    result = {"preset": model.preset_id, "preset_directory": str(model.directory), "embedding_size": model.embedding_size, "subspaces": engine.subspaces,
              "items": args.items, "k": engine.k, "backend": os.environ.get("KERAS_BACKEND", "jax"),
              "rank": rank, "handler": handler_times, "embed_clip": {**embed, "seconds": args.clip_seconds},
              "embed_over_rank": embed["median_ms"] / rank["median_ms"],
              "load_average": os.getloadavg(), "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                                            time.gmtime())}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{args.items}-item catalog, {model.preset_id}: re-rank {rank['median_ms']:.2f} ms "
          f"(p95 {rank['p95_ms']:.2f}), whole slider event {handler_times['median_ms']:.1f} ms, "
          f"embedding a {args.clip_seconds:g} s clip {embed['median_ms']:.0f} ms "
          f"({result['embed_over_rank']:.0f}x a re-rank) -> {args.json}")


if __name__ == "__main__":
    main()
