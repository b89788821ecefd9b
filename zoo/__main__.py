"""`python -m zoo [pattern] [--params]`: list the registry, optionally building each model."""

import argparse

import zoo


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m zoo", description=__doc__)
    parser.add_argument("pattern", nargs="?", default="*", help="shell wildcard, e.g. 'samplecnn*'")
    parser.add_argument("--params", action="store_true", help="build each model and count its parameters")
    args = parser.parse_args(argv)
    names = zoo.list_models(args.pattern)
    if not names:
        parser.error(f"no model matches {args.pattern!r}")
    width = max(map(len, names))
    for name in names:
        entry = zoo.get_model_info(name)
        count = ""
        if args.params:
            model = zoo.build(name)
            count = f"{model.count_params() / 1e6:8.2f} M  " if entry.kind == "keras" else f"{'(numpy)':>10}  "
        print(f"{name:<{width}}  {count}{entry.reference}")


if __name__ == "__main__":
    main()
