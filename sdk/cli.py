"""`music-zoo` command line: embed, tag, index, search, info (add --json for machine output)."""

import argparse
import json
import sys

import numpy as np


def _print(args, value, text):
    print(json.dumps(value, indent=2, default=float) if args.json else text)


def cmd_info(args):
    from sdk.model import load

    model = load(args.model)
    info = {"preset": model.preset_id, "directory": str(model.directory), "sample_rate": model.sample_rate,
            "embedding_size": model.embedding_size, "subspaces": model.subspace_layout, "tags": model.tags,
            "license": model.metadata.get("license"), "provenance": model.metadata.get("provenance")}
    _print(args, info, "\n".join(f"{k}: {v}" for k, v in info.items()))


def cmd_embed(args):
    from sdk.audio import list_audio_files
    from sdk.model import load

    model = load(args.model)
    files = list_audio_files(args.audio)
    vectors = model.embed([str(f) for f in files]) if len(files) > 1 else model.embed(str(files[0]))[None]
    if args.output:
        np.save(args.output, vectors.astype(np.float32))
    rows = {str(f): v.round(6).tolist() for f, v in zip(files, vectors)}
    _print(args, rows, "\n".join(f"{f}\t{np.array2string(v[:8], precision=3)}..." for f, v in zip(files, vectors)))


def cmd_tag(args):
    from sdk.audio import list_audio_files
    from sdk.model import load

    model = load(args.model)
    out = {str(f): model.tag(str(f), top_k=args.top_k) for f in list_audio_files(args.audio)}
    _print(args, {f: dict(t) for f, t in out.items()},
           "\n".join(f"{f}\t" + ", ".join(f"{t} {s:.3f}" for t, s in tags) for f, tags in out.items()))


def cmd_index(args):
    from sdk.index import Catalog
    from sdk.model import load

    model = load(args.model)
    catalog = Catalog.build(args.source, model.embed, model=model.preset_id, embedding_size=model.embedding_size,
                            subspaces=model.subspace_layout, progress=not args.json)
    catalog.save(args.catalog)
    summary = {"catalog": args.catalog, "count": len(catalog), "skipped": [list(s) for s in catalog.skipped]}
    _print(args, summary, f"{len(catalog)} tracks indexed into {args.catalog}; {len(catalog.skipped)} skipped")


def cmd_search(args):
    from sdk.index import Catalog
    from sdk.model import load

    catalog = Catalog.load(args.catalog)
    model = load(args.model or catalog.model)
    weights = dict(w.split("=") for w in args.weight) if args.weight else None
    weights = {k: float(v) for k, v in weights.items()} if weights else None
    hits = model.similar(args.query, catalog, k=args.k, weights=weights)
    _print(args, hits, "\n".join(f"{h['score']:.3f}\t{h['id']}" for h in hits))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="music-zoo", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print JSON")
    sub = parser.add_subparsers(dest="command", required=True)
    common = {"--model": dict(default="artist-siamese-msd", help="preset id, hf://org/name[@rev] or directory")}

    p = sub.add_parser("info", help="describe a preset")
    p.add_argument("--model", **common["--model"])
    p.set_defaults(run=cmd_info)
    p = sub.add_parser("embed", help="song embeddings of files or a folder")
    p.add_argument("audio", nargs="+")
    p.add_argument("--model", **common["--model"])
    p.add_argument("--output", help="also save the (N, d) matrix to this .npy file")
    p.set_defaults(run=cmd_embed)
    p = sub.add_parser("tag", help="top tags of files or a folder")
    p.add_argument("audio", nargs="+")
    p.add_argument("--model", **common["--model"])
    p.add_argument("--top-k", type=int, default=10)
    p.set_defaults(run=cmd_tag)
    p = sub.add_parser("index", help="build a catalog from a folder or manifest")
    p.add_argument("source")
    p.add_argument("catalog")
    p.add_argument("--model", **common["--model"])
    p.set_defaults(run=cmd_index)
    p = sub.add_parser("search", help="rank a catalog for an audio file, catalog id, tag or artist")
    p.add_argument("catalog")
    p.add_argument("query")
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--model", default=None, help="defaults to the catalog's model")
    p.add_argument("--weight", action="append", help="sub-space weight, e.g. --weight genre=1")
    p.set_defaults(run=cmd_search)

    args = parser.parse_args(argv)
    from sdk.audio import AudioError
    from sdk.resolve import PresetNotFoundError

    try:
        args.run(args)
    except (AudioError, PresetNotFoundError, ValueError) as error:
        print(f"music-zoo {args.command}: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
