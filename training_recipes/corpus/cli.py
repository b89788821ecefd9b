"""The corpus builder's command line: `python -m training_recipes.corpus ...`.

    python -m training_recipes.corpus build --out data/corpus [--packages a,b]
                                            [--cache data/debs] [--force]
    python -m training_recipes.corpus build-evaluation --out data/evaluation
                                            [--packages a,b] [--cache data/debs]
    python -m training_recipes.corpus list

`build` makes a training corpus and always refuses the reserved evaluation packages;
`build-evaluation` builds only those, into a separate directory (see build.py).
"""

import argparse
import sys

from training_recipes.corpus.build import MIN_DURATION, build, build_evaluation
from training_recipes.corpus.manifest import CorpusError, read_manifest
from training_recipes.corpus.packages.evaluation import EVALUATION_PACKAGES
from training_recipes.corpus.packages.packages import EXCLUDED, PACKAGES, RESERVED

def _list():
    for p in PACKAGES:
        size = f"{p.size_mb:.1f} MB" if p.size_mb else "?"
        flag = "verified" if p.verified else "UNVERIFIED"
        print(f"{p.name:27s} {size:>9s}  {flag:10s}  {p.soundtrack}"
              + (f"  [{p.notes}]" if p.notes else ""))
    for name, why in EXCLUDED.items():
        print(f"{name:27s} {'':>9s}  excluded    {why}")
    for p in EVALUATION_PACKAGES:
        size = f"{p.size_mb:.1f} MB" if p.size_mb else "?"
        print(f"{p.name:27s} {size:>9s}  evaluation  {p.soundtrack}")
    print(f"reserved for evaluation (never in training): {', '.join(sorted(RESERVED))}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training_recipes.corpus",
                                     description="Build a corpus of free game music from Debian packages.")
    sub = parser.add_subparsers(dest="command", required=True)
    for command, out, what in (("build", "data/corpus", "the training corpus"),
                               ("build-evaluation", "data/evaluation",
                                "the evaluation-only corpus (reserved packages)")):
        b = sub.add_parser(command, help=f"download and build {what}")
        b.add_argument("--out", default=out)
        b.add_argument("--packages", help="comma-separated names (default: all known)")
        b.add_argument("--cache", default="data/debs", help="where .deb files are kept")
        b.add_argument("--force", action="store_true", help="rebuild packages already built")
        b.add_argument("--min-duration", type=float, default=MIN_DURATION,
                       help="skip shorter tracks [s] (default %(default)s)")
    sub.add_parser("list", help="print the known packages")
    args = parser.parse_args(argv)

    if args.command == "list":
        _list()
        return 0
    packages = [s.strip() for s in args.packages.split(",") if s.strip()] \
        if args.packages else None
    fn = build if args.command == "build" else build_evaluation
    try:
        results = fn(args.out, packages, cache=args.cache, force=args.force,
                     min_duration=args.min_duration)
    except (CorpusError, KeyError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    for r in results:
        print(f"{r['package']:24s} {r['status']:14.60s} {r['tracks']:4d} tracks "
              f"{r['hours']:6.2f} h  {r['skipped']} skipped")
    rows = read_manifest(args.out)
    print(f"corpus {args.out}: {len(rows)} tracks, "
          f"{sum(r['duration'] for r in rows) / 3600:.2f} h, "
          f"{len({r['package'] for r in rows})} packages")
    return 1 if any(r["status"].startswith("failed") for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
