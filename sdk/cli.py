"""`music-zoo` command line: embed, tag, index, search, info, visualize (add --json for machine output)."""

import argparse
import json
import sys

import numpy as np


def _print(args, value, text):
    print(json.dumps(value, indent=2, default=float) if args.json else text)


def cmd_info(args):
    from sdk.model import load
    from sdk.presets import list_presets

    if args.model is None:  # the catalogue of registered presets
        table = list_presets()
        _print(args, table, table.table())
        return
    model = load(args.model)
    info = {"preset": model.preset_id, "directory": str(model.directory), "sample_rate": model.sample_rate,
            "parameters": model.metadata.get("parameter_count"), "embedding_size": model.embedding_size,
            "subspaces": model.subspace_layout, "stages": model.stage_names, "tags": model.tags,
            "license": model.metadata.get("license"), "provenance": model.metadata.get("provenance")}
    _print(args, info, "\n".join(f"{k}: {v}" for k, v in info.items()))


def cmd_publish(args):
    from sdk.publish import publish

    summary = publish(args.preset, args.repo_id, dry_run=args.dry_run, private=args.private or None)
    lines = [f"{f['name']:20s} {f['bytes']:>12,d} bytes  sha256 {f['sha256']}" for f in summary["files"]]
    head = (f"dry run: checked {args.preset} (sha256s, graph, card); would upload to {args.repo_id}:"
            if args.dry_run else f"uploaded {args.preset} to {args.repo_id}: {summary.get('commit_url')}")
    _print(args, summary, "\n".join([head, *lines]))


def _report_skipped(args, skipped):
    """One stderr line per file that could not be read; the exit status for the command."""
    for path, reason in skipped:
        print(f"music-zoo {args.command}: skipped {reason if path in reason else f'{path}: {reason}'}",
              file=sys.stderr)
    return 1 if skipped else 0


def cmd_embed(args):
    from sdk.model import load

    model = load(args.model)
    model.progress = not args.json
    result = model.embed_many(args.audio)
    if args.output:
        np.save(args.output, result.vectors.astype(np.float32))
    rows = {str(f): v.round(6).tolist() for f, v in zip(result.paths, result.vectors)}
    _print(args, rows, "\n".join(f"{f}\t{np.array2string(v[:8], precision=3)}..."
                                 for f, v in zip(result.paths, result.vectors)))
    return _report_skipped(args, result.skipped)


def cmd_tag(args):
    from sdk import checks
    from sdk.audio import AudioError, list_audio_files
    from sdk.model import load

    top_k = checks.count(args.top_k, "--top-k")
    model = load(args.model)
    out, skipped = {}, []
    for path in list_audio_files(args.audio):
        try:
            out[str(path)] = model.tag(str(path), top_k=top_k)
        except AudioError as error:
            skipped.append((str(path), str(error)))
    if not out:
        raise AudioError("; ".join(reason for _, reason in skipped))
    _print(args, {f: dict(t) for f, t in out.items()},
           "\n".join(f"{f}\t" + ", ".join(f"{t} {s:.3f}" for t, s in tags) for f, tags in out.items()))
    return _report_skipped(args, skipped)


def cmd_index(args):
    from sdk.index import Catalog
    from sdk.model import load

    if args.from_parquet:  # embed-dataset's shards: nothing to embed; --model, when given, must have made them
        catalog = Catalog.from_parquet(args.source, preset=args.model if args.model_given else None,
                                       top_tags=args.top_tags)
    else:
        model = load(args.model)
        catalog = Catalog.build(args.source, model.embed, model=model, embedding_size=model.embedding_size,
                                subspaces=model.subspace_layout, progress=not args.json)
    catalog.save(args.catalog)
    summary = {"catalog": args.catalog, "count": len(catalog), "skipped": [list(s) for s in catalog.skipped]}
    _print(args, summary, f"{len(catalog)} tracks indexed into {args.catalog}; {len(catalog.skipped)} skipped")


def cmd_embed_dataset(args):
    from pathlib import Path

    from sdk import checks
    from sdk.distributed import embed_dataset
    from sdk.index import Catalog
    from sdk.resolve import PresetNotFoundError

    checks.count(args.actors, "--actors"), checks.count(args.batch_size, "--batch-size")
    if not Path(args.source).exists():
        raise ValueError(f"SOURCE {args.source}: no such folder or manifest")
    try:
        summary = embed_dataset(args.source, args.preset, args.out, address=args.address, num_actors=args.actors,
                                batch_size=args.batch_size, tags=not args.no_tags, progress=not args.json)
    except PresetNotFoundError as error:
        raise ValueError(f"--preset {args.preset}: {error}") from None
    text = (f"{summary['embedded']} of {summary['rows']} files embedded into {summary['shards']} Parquet shards "
            f"in {summary['out']} ({summary['seconds']:.1f} s); {len(summary['errors'])} could not be read")
    if args.catalog:
        catalog = Catalog.from_parquet(args.out, top_tags=args.top_tags)
        catalog.save(args.catalog)
        summary["catalog"] = args.catalog
        text += f"\n{len(catalog)} tracks indexed into {args.catalog}"
    _print(args, summary, text)
    return _report_skipped(args, [(path, message) for _, path, message in summary["errors"]])


def cmd_search(args):
    from sdk import checks
    from sdk.index import Catalog
    from sdk.model import load

    catalog = Catalog.load(args.catalog)
    own = catalog.model_source or catalog.model  # the catalog's own model by default
    if args.model is None and own is None:
        raise ValueError(f"{args.catalog}: the catalog records no model (built from plain vectors); "
                         "name the one that made its vectors with --model")
    model = load(args.model or own)
    weights = checks.parse_weight_options(args.weight, catalog.subspaces)
    query = checks.parse_query_arguments(args.query, catalog.subspaces)
    hits = model.similar(query, catalog, k=checks.count(args.k, "-k"), weights=weights,
                         allow_other_model=args.allow_other_model)
    _print(args, hits, "\n".join(f"{h['score']:.3f}\t{h['id']}" for h in hits))


def cmd_visualize_filters(args):
    from sdk.visualize import draw_filters

    layers = [part for value in args.layer or () for part in value.split(",") if part.strip()]
    result = draw_filters(args.preset, args.out, layers=layers or None, num_filters=args.filters, steps=args.steps,
                          length=args.length, seed=args.seed)
    text = f"wrote {result['out']}: " + ", ".join(f"{k} ({v['filters']} filters)" for k, v in result["stages"].items())
    if result["skipped"]:
        text += (f"\nnot drawn (need more than {args.length} input samples): {', '.join(result['skipped'])}; "
                 "name them with --layer to draw them")
    _print(args, result, text)


def _color_by(options):
    """`--color-by genre=top_genre` (repeatable) -> {sub-space: field}."""
    out = {}
    for option in options or ():
        name, sep, field = option.partition("=")
        if not sep or not name.strip() or not field.strip():
            raise ValueError(f"--color-by takes SUBSPACE=FIELD (e.g. --color-by genre=top_genre), got {option!r}")
        out[name.strip()] = field.strip()
    return out


def cmd_visualize_map(args):
    from pathlib import Path

    from sdk.index import ITEMS_FILE, Catalog
    from sdk.maps import embedding_map, labels_from_items, subspace_maps

    color_by = _color_by(args.color_by)
    if color_by and not args.by_subspace:
        raise ValueError("--color-by colours the panels of --by-subspace; add --by-subspace")
    if args.catalog:
        catalog, source = Catalog.load(args.catalog), Path(args.catalog) / ITEMS_FILE
    else:
        from sdk.model import load

        model = load(args.preset)
        if args.by_subspace and len(model.subspace_layout) == 1:  # said before any audio is embedded
            raise ValueError(f"{args.preset} has a single sub-space ({model.subspaces[0]!r}): --by-subspace "
                             "needs a model with several (e.g. disentangled-msd); drop it for the single map")
        catalog = Catalog.build(args.audio, model.embed, model=model, embedding_size=model.embedding_size,
                                subspaces=model.subspace_layout, progress=not args.json)
        source = Path(args.audio)
    if args.by_subspace:
        labels = labels_from_items(catalog.items, args.label, source=str(source))  # a missing field: said first
        for field in color_by.values():
            labels_from_items(catalog.items, field, source=str(source))
        result = subspace_maps(catalog, args.label, args.out, None if args.by_subspace is True else args.by_subspace,
                               method=args.method, panel_labels=color_by or None, perplexity=args.perplexity,
                               seed=args.seed, source=args.catalog or f"{args.preset} (the model for --audio)",
                               title=f"{args.method.upper()} of {len(catalog)} songs ({catalog.model or 'embeddings'})"
                                     " per sub-space")
        summary = {"out": result["out"], "count": len(catalog), "labels": len(set(labels)),
                   "panels": result["panels"], "skipped": [list(s) for s in catalog.skipped]}
        _print(args, summary, f"wrote {args.out}: {len(catalog)} songs, {len(set(labels))} {args.label} labels, "
                              f"{len(result['panels'])} panels ({', '.join(result['panels'])})")
        return
    if len(catalog) < 3:
        raise ValueError(f"{source}: a map needs at least 3 items, got {len(catalog)}")
    labels = labels_from_items(catalog.items, args.label, source=str(source))
    vectors = np.stack([catalog.vector(i) for i in catalog.ids])
    embedding_map(vectors, labels, args.out, method=args.method, perplexity=args.perplexity, seed=args.seed,
                  title=f"{args.method.upper()} of {len(vectors)} songs ({catalog.model or 'embeddings'}) "
                        f"by {args.label}")
    summary = {"out": args.out, "count": len(vectors), "labels": len(set(labels)),
               "skipped": [list(s) for s in catalog.skipped]}
    _print(args, summary, f"wrote {args.out}: {len(vectors)} songs, {len(set(labels))} {args.label} labels")


class _Given(argparse.Action):
    """Store the value and note that the option was given (`<dest>_given`), its default kept."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        setattr(namespace, f"{self.dest}_given", True)


def build_parser():
    """The `music-zoo` argument parser."""
    parser = argparse.ArgumentParser(prog="music-zoo", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print JSON")
    sub = parser.add_subparsers(dest="command", required=True)
    from sdk.presets import DEFAULT_PRESET

    common = {"--model": dict(default=DEFAULT_PRESET, help=f"preset id, hf://org/name[@rev] or directory "
                                                            f"(default {DEFAULT_PRESET})")}

    p = sub.add_parser("info", help="the registered presets, or one preset in detail")
    p.add_argument("--model", default=None, help="preset id, hf://org/name[@rev] or directory (default: list all)")
    p.set_defaults(run=cmd_info)
    p = sub.add_parser("publish", help="check a preset directory and upload it to the Hugging Face Hub")
    p.add_argument("preset", help="preset directory")
    p.add_argument("repo_id", help="Hub model repo, ORG/NAME")
    p.add_argument("--dry-run", action="store_true", help="check and list what would be uploaded; send nothing")
    p.add_argument("--private", action="store_true", help="create the repo private")
    p.set_defaults(run=cmd_publish)
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
    p = sub.add_parser("index", help="build a catalog from a folder or manifest (or embed-dataset's shards)")
    p.add_argument("source", help="folder of audio, .csv / .jsonl manifest, or with --from-parquet the --out "
                                   "folder of embed-dataset")
    p.add_argument("catalog")
    p.add_argument("--model", **common["--model"], action=_Given)
    p.set_defaults(model_given=False)  # with --from-parquet: the shards' own model; if given, it must be the one
    p.add_argument("--from-parquet", action="store_true", help="SOURCE holds embed-dataset's Parquet shards: "
                                                               "ingest them, embedding nothing (--model, if given, "
                                                               "must be the preset that made them)")
    p.add_argument("--top-tags", type=int, default=0, help="with --from-parquet: keep each track's N best tags")
    p.set_defaults(run=cmd_index)
    p = sub.add_parser("embed-dataset", help="embed a folder or manifest with Ray Data into Parquet shards "
                                             "(docs/scale.md); needs the [scale] extra")
    p.add_argument("source", metavar="SOURCE", help="folder of audio or .csv / .jsonl manifest")
    p.add_argument("--preset", "--model", dest="preset", required=True, help="preset id, hf:// handle or directory")
    p.add_argument("--out", required=True, help="folder for the Parquet shards (replaced only when the job ends)")
    p.add_argument("--address", default=None, help="Ray cluster to run on, from one of its nodes: auto or the head's "
                                                    "HOST:6379 (default: start a local Ray instance)")
    p.add_argument("--actors", type=int, default=2, help="model replicas (Ray actors), each loads the preset once")
    p.add_argument("--batch-size", type=int, default=16, help="files per actor call")
    p.add_argument("--no-tags", action="store_true", help="leave the tag scores out of the shards")
    p.add_argument("--catalog", help="also build a catalog from the shards in this folder")
    p.add_argument("--top-tags", type=int, default=0, help="with --catalog: keep each track's N best tags")
    p.set_defaults(run=cmd_embed_dataset)
    p = sub.add_parser("search", help="rank a catalog for an audio file, catalog id, tag or artist")
    p.add_argument("catalog")
    p.add_argument("query", nargs="+", help="audio file, catalog id, metadata value or tag:NAME (a model tag); "
                                            "several are averaged; SUBSPACE=QUERY searches that part in its sub-space "
                                            "(e.g. genre=tag:jazz mood=song.ogg)")
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--model", default=None, help="defaults to the catalog's model")
    p.add_argument("--weight", action="append", help="sub-space weight, e.g. --weight genre=1")
    p.add_argument("--allow-other-model", action="store_true",
                   help="search even if --model is not the model that built the catalog (experts)")
    p.set_defaults(run=cmd_search)
    p = sub.add_parser("visualize", help="draw learned filters or a 2-D map of song embeddings as PNG")
    views = p.add_subparsers(dest="view", required=True)
    v = views.add_parser("filters", help="spectra of learned filters by gradient ascent (thesis Fig. 3.3-3.4; "
                                         "raw-waveform presets)")
    v.add_argument("--preset", "--model", dest="preset", required=True, help="preset id, hf:// handle or directory")
    v.add_argument("--layer", action="append", help="stage name or index (repeat or comma-separate); default: "
                                                    "every stage that fits in --length samples")
    v.add_argument("--out", default="filters.png")
    v.add_argument("--filters", type=int, default=64, help="filters per stage (the first N)")
    v.add_argument("--steps", type=int, default=100, help="gradient-ascent steps")
    v.add_argument("--length", type=int, default=729, help="input samples (thesis: 729)")
    v.add_argument("--seed", type=int, default=0)
    v.set_defaults(run=cmd_visualize_filters)
    v = views.add_parser("map", help="t-SNE / PCA / UMAP map of song embeddings coloured by a label")
    given = v.add_mutually_exclusive_group(required=True)
    given.add_argument("--catalog", help="catalog directory (music-zoo index)")
    given.add_argument("--audio", help="folder of audio or .csv / .jsonl manifest, embedded with --preset")
    v.add_argument("--preset", "--model", dest="preset", default=DEFAULT_PRESET,
                   help="preset for --audio (id, hf:// handle or directory)")
    v.add_argument("--label", default="soundtrack", help="metadata field to colour by ('folder': parent folder)")
    v.add_argument("--out", default="map.png")
    v.add_argument("--method", choices=("tsne", "pca", "umap"), default="tsne")
    v.add_argument("--perplexity", type=float, default=30.0, help="t-SNE perplexity (capped at (N - 1) / 3)")
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--by-subspace", nargs="?", const=True, default=None, metavar="NAMES",
                   help="one panel per sub-space (each slice mapped on its own) plus 'full', in one PNG; "
                        "optionally only the comma-separated NAMES; an error on a single-sub-space catalog")
    v.add_argument("--color-by", action="append", metavar="SUBSPACE=FIELD",
                   help="with --by-subspace: colour that panel by its own field (repeatable), "
                        "e.g. --color-by genre=top_genre; the others use --label")
    v.set_defaults(run=cmd_visualize_map)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    from sdk.audio import AudioError
    from sdk.resolve import PresetNotFoundError

    try:
        return args.run(args) or 0
    except (AudioError, PresetNotFoundError, ValueError) as error:
        command = " ".join(filter(None, (args.command, getattr(args, "view", None))))
        print(f"music-zoo {command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
