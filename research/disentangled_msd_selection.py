"""The choices behind the disentangled-msd preset, measured on the validation soundtracks.

    python research/disentangled_msd_selection.py --cache runs/disentangled-msd/cache \
        --out runs/disentangled-msd/selection [--only NAME,...]

Trains the head once per setting below (train.py, same cache, same seed) and writes
results/disentangled-msd/selection.json: per setting, the epoch train.py kept (lowest validation
loss) with its validation song figures: soundtrack MAP, and per notion the triplet accuracy in
the notion's own sub-space and in the whole space.
"""

import argparse
import json
import sys
from pathlib import Path

VALIDATION = "Endgame: Singularity,Colobot,OpenClonk,Pushover,Fish Fillets NG"
SETTINGS = {
    "base": [],                          # read-out + student tags, hidden 512, relu, lambda 0.5, tempo 1
    "readout-only": ["--inputs", "embedding"],
    "linear": ["--activation", "linear"],
    "mtat-instruments": ["--mtat-instruments"],
    "no-track": ["--track-weight", "0"],
    "track-2": ["--track-weight", "2"],
    "no-tempo": ["--tempo-weight", "0"],
    "no-hidden": ["--hidden", "0"],
    "notions": ["--notion-weight", "1"],
    "notions-readout-linear": ["--notion-weight", "1", "--inputs", "embedding", "--activation", "linear"],
    "notions-2": ["--notion-weight", "2"],
    "notions-no-tempo": ["--notion-weight", "1", "--tempo-weight", "0"],
    "notions-2-no-tempo": ["--notion-weight", "2", "--tempo-weight", "0"],  # the bundled preset
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", default="runs/disentangled-msd/cache")
    parser.add_argument("--out", default="runs/disentangled-msd/selection")
    parser.add_argument("--only", default=None)
    parser.add_argument("--results", default="results/disentangled-msd/selection.json")
    parser.add_argument("--summarise", action="store_true",
                        help="train nothing: write --results from the finished runs under --out")
    args = parser.parse_args(argv)
    if args.summarise:
        return summarise(Path(args.out), Path(args.results))
    from training_recipes.disentangled_msd import train

    results_path = Path(args.results)
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    names = args.only.split(",") if args.only else list(SETTINGS)
    for name in names:
        run = Path(args.out) / name
        train.main(["--cache", args.cache, "--out", str(run), "--validation", VALIDATION, "--resume",
                    *SETTINGS[name]])
        state = json.loads((run / "state.json").read_text())
        history = json.loads((run / "history.json").read_text())
        kept = next(r for r in history if r["epoch"] == state["best_epoch"])
        results[name] = {"flags": SETTINGS[name], "epochs": state["epoch"], "kept": kept}
        results_path.parent.mkdir(parents=True, exist_ok=True)
        results_path.write_text(json.dumps({"validation": VALIDATION, "command": sys.argv, **results}, indent=1))
        print(name, json.dumps(kept))


def summarise(out, results_path):
    """--results from every finished run under `out` (state.json says it stopped by its schedule)."""
    results = {}
    for name, flags in SETTINGS.items():
        run = out / name
        if not (run / "state.json").is_file():
            continue
        state = json.loads((run / "state.json").read_text())
        config = json.loads((run / "config.json").read_text())
        if state["cuts"] <= config["settings"]["max_cuts"] and state["epoch"] < config["settings"]["epochs"]:
            continue  # not finished
        history = json.loads((run / "history.json").read_text())
        kept = next(r for r in history if r["epoch"] == state["best_epoch"])
        results[name] = {"flags": flags, "epochs": state["epoch"], "kept": kept}
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps({"validation": VALIDATION, "command": sys.argv, "rule": RULE,
                                        "settings": results}, indent=1))
    print(f"wrote {results_path}: {', '.join(results)}")


RULE = ("Each setting trained once (seed 0) on the same cache; train.py keeps its epoch of lowest validation loss. "
        "The bundled preset's setting was chosen among them on these figures (validation soundtracks): every "
        "notion's own sub-space above the whole space, then the highest soundtrack MAP.")


if __name__ == "__main__":
    main()
