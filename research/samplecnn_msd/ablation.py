"""Which losses earn their place: short runs of the samplecnn-msd recipe from one starting
point, each with one loss switched off, scored on the held-out validation soundtracks.

    python -m research.samplecnn_msd.ablation --init-from sdk/bundled/samplecnn-msd \
        --validation "Soundtrack A,Soundtrack B" --steps 150 --out runs/samplecnn-msd-ablation \
        [--variants all,tags,tags+metric,tags+cosine,floor,ema,listwise,relational,musicnn-song,both-teachers] \
        [-- extra train arguments]

Every variant starts from the same weights (fresh Adam state), sees the same batches (same
sampler seed) and trains the same number of steps; only the loss weights differ. The
starting weights are scored too, so each row reads as a change. Each variant is a `train`
run in its own process (its own log, history and checkpoints under <out>/<variant>/), so an
interrupted ablation re-run skips the variants already finished. Writes <out>/ablation.json.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from training_recipes.samplecnn_msd import cache_data, train

# name -> the train arguments it changes (after the shared ones, so they win); the tag loss
# is always on. "floor" tries logit-mse with absent tags' scores floored at 0.01; "ema" keeps
# all losses and scores a moving average of the weights; "listwise" adds losses.listwise_kl;
# "relational" adds losses.embedding_loss's relational term; "musicnn-song" follows musicnn-msd's
# song features (relational, no cosine) instead of artist-siamese-msd's; "both-teachers" keeps all
# losses and adds the correlation to both song teachers' mean neighbourhoods.
VARIANTS = {
    "all": [],
    "tags": ["--cos-weight", "0", "--metric-weight", "0"],
    "tags+metric": ["--cos-weight", "0"],
    "tags+cosine": ["--metric-weight", "0"],
    "floor": ["--logit-floor", "0.01"],
    "ema": ["--ema-decay", "0.99"],
    "listwise": ["--listwise-weight", "1"],
    "relational": ["--relational-weight", "1"],
    "musicnn-song": ["--song-teacher", "musicnn-msd", "--cos-weight", "0", "--relational-weight", "1"],
    "both-teachers": ["--relational-teachers", "artist-siamese-msd,musicnn-msd", "--relational-weight", "1"],
}
SCORES = ("tag_roc_auc_vs_teacher", "soundtrack_map")


def score_start(args):
    """The validation figures of the starting weights, as train's evaluations measure them."""
    cache = cache_data.load_cache(args.cache)
    _, val_ids = train.split_tracks(cache, train.comma_list(args.validation), args.corpus)
    model, train_model = train.build_student()
    train.init_from(model, Path(args.init_from), {})
    return train.evaluate(train_model, cache, cache_data.validation_windows(cache, val_ids))


def run_variant(name, args, extra):
    """Train one variant in a subprocess (or reuse a finished one); its evaluation records."""
    out = Path(args.out) / name
    target = train.preset_step(args.init_from) + args.steps
    state = out / "checkpoints" / "state.json"
    if not (state.is_file() and json.loads(state.read_text())["step"] >= target):
        command = [sys.executable, "-m", "training_recipes.samplecnn_msd.train", "--cache", args.cache,
                   "--corpus", args.corpus, "--validation", args.validation, "--out", str(out),
                   "--max-steps", str(target), "--eval-minutes", str(args.eval_minutes), *extra, *VARIANTS[name]]
        # A half-finished variant resumes; a fresh one starts from the shared weights.
        command += ["--resume"] if state.is_file() else ["--init-from", args.init_from]
        print(f"[{name}] {' '.join(command[1:])}", flush=True)
        if subprocess.run(command, env=os.environ).returncode != 0:
            raise SystemExit(f"variant {name!r} failed; see {out / 'train.log'}")
    records = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    return [r for r in records if r["step"] <= target]


def summarise(records, average):
    last = records[-average:]
    return {"steps": records[-1]["step"], "final": {k: records[-1][k] for k in SCORES},
            f"mean_of_last_{len(last)}": {k: float(np.nanmean([r[k] for r in last])) for k in SCORES},
            "evaluations": [{"step": r["step"], **{k: r[k] for k in SCORES}} for r in records]}


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(prog="python -m research.samplecnn_msd.ablation",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--init-from", required=True, help="the preset every variant starts from")
    train.add_data_arguments(parser)
    parser.add_argument("--out", default="runs/samplecnn-msd-ablation")
    parser.add_argument("--steps", type=int, default=150, help="training steps per variant")
    parser.add_argument("--eval-minutes", type=float, default=3.0)
    parser.add_argument("--average", type=int, default=3, help="also report the mean of the last N evaluations")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args(argv)
    unknown = set(train.comma_list(args.variants)) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; choose from {list(VARIANTS)}")
    if not (Path(args.init_from) / "metadata.json").is_file():
        parser.error(f"--init-from {args.init_from}: not a preset directory")
    Path(args.out).mkdir(parents=True, exist_ok=True)

    report = {"init_from": args.init_from, "steps": args.steps, "train_arguments": extra,
              "validation": train.comma_list(args.validation), "start": score_start(args), "variants": {}}
    for name in train.comma_list(args.variants):
        report["variants"][name] = {"arguments": VARIANTS[name], **summarise(run_variant(name, args, extra), args.average)}
        (Path(args.out) / "ablation.json").write_text(json.dumps(report, indent=1))
    print(f"{'variant':14s} {'tag AUC':>8s} {'MAP':>6s}   (mean of the last {args.average} evaluations)")
    print(f"{'start':14s} {report['start']['tag_roc_auc_vs_teacher']:8.3f} {report['start']['soundtrack_map']:6.3f}")
    for name, row in report["variants"].items():
        mean = next(v for k, v in row.items() if k.startswith("mean_of_last"))
        print(f"{name:14s} {mean['tag_roc_auc_vs_teacher']:8.3f} {mean['soundtrack_map']:6.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
