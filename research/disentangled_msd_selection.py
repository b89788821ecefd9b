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
    "base": [],                                              # hidden 512, relu, lambda 0.5, tempo 1
    "linear": ["--activation", "linear"],
    "mtat-instruments": ["--mtat-instruments"],
    "no-track": ["--track-weight", "0"],
    "track-2": ["--track-weight", "2"],
    "no-tempo": ["--tempo-weight", "0"],
    "no-hidden": ["--hidden", "0"],
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", default="runs/disentangled-msd/cache")
    parser.add_argument("--out", default="runs/disentangled-msd/selection")
    parser.add_argument("--only", default=None)
    parser.add_argument("--results", default="results/disentangled-msd/selection.json")
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    main()
