"""Score presets on a corpus manifest: soundtrack retrieval, tag agreement, style separation.

    python -m training_recipes.evaluation --manifest data/corpus/manifest.jsonl \\
        --presets artist-siamese-msd,musicnn-msd[,path/to/preset_dir] --baseline mfcc \\
        [--soundtracks "A,B"] [--unseen-by PRESET] [--styles styles.json] [--teacher musicnn-msd] \\
        --out results.json [--cache-dir runs/eval-cache] [--folds 5] [--seed 0] [--top-k 3] \\
        [--notions notions_msd50.json [--tempo] [--triplets 2000] [--tempo-tolerance 5]]

Manifest rows (JSON lines) need `path` (relative to the manifest's folder) and `soundtrack`.
Each track is embedded once per preset (`MusicModel.segment_features`, mean over segments =
`embed()`; tag scores from the same pass = `tag()`), and the song vector and tag scores are
saved to `<cache-dir>/<preset>-<fingerprint>/<audio sha256>.npz` at once, so a crashed run
resumes where it stopped (`cache.py`). What each figure means: `metrics.py`,
whose rules are also copied into the JSON ("definitions").

--notions (needs --teacher) and --tempo add thesis chapter 5's notion evaluation (`notions.py`):
per-notion triplet accuracy in each sub-space and the whole vector, R@K and sub-space overlap,
under each result's "notions" and the report's "notions" (settings, labels, triplet counts).
"""

import argparse
import hashlib
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training_recipes.evaluation import metrics, mfcc
from training_recipes.common.audio_batches import RECIPE_RESAMPLER
from training_recipes.common.training import run_environment
from training_recipes.evaluation.cache import (
    VectorCache,
    atomic_write,
    audio_keys,
    preset_fingerprint,
)

BASELINES = ("mfcc",)


class EvaluationError(Exception):
    """A problem with the inputs; the message is one line naming the file and the problmetrics."""


@dataclass(frozen=True)
class Track:
    path: Path
    soundtrack: str
    line: int
    use: str | None = None  # the corpus builder's "training" / "evaluation" split, if any


# ----- inputs ---------------------------------------------------------------------------------
def read_manifest(manifest):
    """(tracks in file order, sha256 of the manifest bytes read); every audio file must exist."""
    manifest = Path(manifest)
    try:
        data = manifest.read_bytes()
        lines = data.decode("utf-8").splitlines()
    except (FileNotFoundError, IsADirectoryError):
        raise EvaluationError(f"{manifest}: manifest not found") from None
    except UnicodeDecodeError as error:
        raise EvaluationError(f"{manifest}: not UTF-8 text ({error})") from None
    tracks, seen = [], {}
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as error:
            raise EvaluationError(f"{manifest} line {number}: not valid JSON ({error})") from None
        for field in ("path", "soundtrack"):
            if not isinstance(row, dict) or not isinstance(row.get(field), str) or not row[field]:
                raise EvaluationError(f"{manifest} line {number}: no {field!r} string")
        path = (manifest.parent / row["path"]).resolve()
        if not path.is_file():
            raise EvaluationError(f"{manifest} line {number}: audio file {path} not found")
        if path in seen:
            raise EvaluationError(f"{manifest} line {number}: {row['path']} is listed twice (line {seen[path]})")
        seen[path] = number
        tracks.append(Track(path, row["soundtrack"], number, row.get("use")))
    if not tracks:
        raise EvaluationError(f"{manifest}: no tracks")
    return tracks, hashlib.sha256(data).hexdigest()


def select_soundtracks(tracks, values):
    """Keep the tracks of the soundtracks named in --soundtracks (each value a name or "A,B,C")."""
    if not values:
        return tracks
    known = {t.soundtrack for t in tracks}
    wanted = set()
    for value in values:
        names = [value.strip()] if value.strip() in known else [n.strip() for n in value.split(",") if n.strip()]
        unknown = [n for n in names if n not in known]
        if unknown:
            raise EvaluationError(f"--soundtracks: unknown soundtrack(s) {', '.join(map(repr, unknown))}; "
                                  f"the manifest has {', '.join(map(repr, sorted(known)))}")
        wanted.update(names)
    return [t for t in tracks if t.soundtrack in wanted]


def trained_soundtracks(metadata):
    """The soundtracks a preset's metadata ("training": {"train_soundtracks": [...]}) says it
    trained on, or None when it does not say."""
    trained = (metadata.get("training") or {}).get("train_soundtracks")
    return trained if isinstance(trained, list) else None


def drop_trained_soundtracks(tracks, preset_name, metadata):
    """Keep the tracks of soundtracks that `metadata` says the preset never trained on
    (`trained_soundtracks`): a checkpoint measured on music it has not seen."""
    trained = trained_soundtracks(metadata)
    if trained is None:
        raise EvaluationError(f"--unseen-by {preset_name}: its metadata.json lists no training.train_soundtracks")
    trained = set(trained)
    return [t for t in tracks if t.soundtrack not in trained]


def read_styles(path, tracks, all_tracks):
    """{soundtrack: style} for the evaluated soundtracks; names must exist in the manifest."""
    path = Path(path)
    try:
        styles = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvaluationError(f"{path}: styles file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise EvaluationError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(styles, dict) or not all(isinstance(v, str) and v for v in styles.values()):
        raise EvaluationError(f"{path}: expected a JSON object mapping soundtrack -> style name")
    unknown = sorted(set(styles) - {t.soundtrack for t in all_tracks})
    if unknown:
        raise EvaluationError(f"{path}: unknown soundtrack(s) {', '.join(map(repr, unknown))} "
                              f"(not in the manifest)")
    evaluated = {t.soundtrack for t in tracks}
    return {s: v for s, v in styles.items() if s in evaluated}


# ----- presets --------------------------------------------------------------------------------
def load_preset(name):
    import sdk

    try:
        model = sdk.load(name)
    except (sdk.PresetNotFoundError, ValueError, OSError) as error:
        raise EvaluationError(f"preset {name!r}: {error}") from None
    model.resampler = RECIPE_RESAMPLER  # the pipeline every published figure and cached vector used
    return model


def clip_audio(path, sample_rate, clip_seconds):
    """The whole file (its path) or, with `clip_seconds`, that many seconds from its middle,
    decoded at `sample_rate` (an array): the 30 s previews of MSD-style evaluation."""
    from sdk.audio import audio_info, load_audio

    if not clip_seconds:
        return str(path)
    duration = audio_info(path)["duration"]
    offset = max(0.0, (duration - clip_seconds) / 2)
    return load_audio(path, sample_rate, offset=offset, duration=min(clip_seconds, duration),
                      resample_filter=RECIPE_RESAMPLER)


def song_outputs(model, path, clip_seconds=None):
    """(song embedding, tag scores in `model.tags` order) from one pass over the audio."""
    audio = clip_audio(path, model.sample_rate, clip_seconds)
    vector, scores = model.embed_and_tag(audio, None if isinstance(audio, str) else model.sample_rate)
    return vector, np.asarray(scores, np.float32)


def _progress(total, name):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=short_name(name), unit="track", mininterval=1.0, file=sys.stderr, dynamic_ncols=True)


def _clip_suffix(clip_seconds):
    return f"-clip{clip_seconds:g}s" if clip_seconds else ""


def embed_tracks(name, model, tracks, keys, cache_dir, clip_seconds=None):
    """(N, d) song vectors, (N, T) tag scores, cache statistics; every new vector cached at once."""
    cache = VectorCache(cache_dir, name, preset_fingerprint(model) + _clip_suffix(clip_seconds))
    import keras

    vectors, scores, backends = [], [], Counter()
    with _progress(len(tracks), name) as bar:
        for track, key in zip(tracks, keys):
            hit = cache.load(key, model.embedding_size)
            if hit is None or hit[1].shape != (len(model.tags),):
                vector, tag_scores = song_outputs(model, track.path, clip_seconds)
                cache.save(key, vector, tag_scores, track.path)
                hit = (vector, tag_scores, keras.backend.backend())
            vectors.append(hit[0])
            scores.append(hit[1])
            backends[hit[2]] += 1
            bar.update()
    return np.stack(vectors), np.stack(scores), cache.fingerprint, _stats(cache, len(tracks), backends)


def _stats(cache, total, backends):
    """How many vectors came from the cache, and which backends computed them (then or now)."""
    computed = cache.computed
    return {"reused": total - computed, "computed": computed, "backends": dict(backends),
            "directory": str(cache.directory)}


def mfcc_tracks(tracks, keys, cache_dir, clip_seconds=None):
    """(N, 40) raw MFCC mean/std vectors (not yet standardised), cached like preset vectors."""
    fingerprint = hashlib.sha256(json.dumps(mfcc.MFCC_SETTINGS, sort_keys=True).encode()).hexdigest()
    fingerprint += _clip_suffix(clip_seconds)
    cache = VectorCache(cache_dir, "mfcc", fingerprint)
    vectors = []
    with _progress(len(tracks), "mfcc") as bar:
        for track, key in zip(tracks, keys):
            hit = cache.load(key, 2 * mfcc.MFCC_SETTINGS["n_mfcc"])
            if hit is None:
                rate = mfcc.MFCC_SETTINGS["sample_rate"]
                audio = clip_audio(track.path, rate, clip_seconds)
                if isinstance(audio, str):
                    from sdk.audio import load_audio

                    audio = load_audio(audio, rate, resample_filter=RECIPE_RESAMPLER)
                vector = mfcc.mfcc_song_vector(audio)
                cache.save(key, vector, np.zeros(0), track.path)
                hit = (vector,)
            vectors.append(hit[0])
            bar.update()
    return np.stack(vectors), fingerprint, _stats(cache, len(tracks), {"numpy": len(tracks)})


# ----- the run --------------------------------------------------------------------------------
def evaluate(args, command):
    started = time.time()
    all_tracks, manifest_sha256 = read_manifest(args.manifest)
    tracks = select_soundtracks(all_tracks, args.soundtracks)
    loaded = {}
    if args.unseen_by:
        loaded[args.unseen_by] = load_preset(args.unseen_by)
        tracks = drop_trained_soundtracks(tracks, args.unseen_by, loaded[args.unseen_by].metadata)
    if not tracks or max(Counter(t.soundtrack for t in tracks).values()) < 2:
        raise EvaluationError(f"{args.manifest}: no soundtrack has 2 or more tracks; nothing to retrieve")
    styles = read_styles(args.styles, tracks, all_tracks) if args.styles else None
    names = list(dict.fromkeys(n.strip() for n in ",".join(args.presets or []).split(",") if n.strip()))
    if args.teacher and args.teacher not in names:
        names.append(args.teacher)
    if not names and not args.baseline:
        raise EvaluationError("nothing to evaluate: give --presets and/or --baseline mfcc")
    models = {name: loaded.get(name) or load_preset(name) for name in names}  # fail on a bad name before any audio work
    if args.teacher and not models[args.teacher].tags:
        raise EvaluationError(f"--teacher {args.teacher!r}: the preset has no tags")
    from training_recipes.evaluation import notions

    checked = notions.check_arguments(args, models)
    labels = np.array([t.soundtrack for t in tracks])
    keys = audio_keys(tracks, args.cache_dir)
    counts = {s: int(n) for s, n in zip(*np.unique(labels, return_counts=True))}
    repeated = {k for k, n in Counter(keys).items() if n > 1}
    duplicates = [[str(t.path) for t, k in zip(tracks, keys) if k == key] for key in sorted(repeated)]
    if duplicates:
        print(f"warning: {len(duplicates)} audio files appear more than once under different paths",
              file=sys.stderr)

    results, outputs, vectors_of = {}, {}, {}
    if args.baseline == "mfcc":
        t0 = time.time()
        raw, fingerprint, stats = mfcc_tracks(tracks, keys, args.cache_dir, args.clip_seconds)
        vectors_of["mfcc"] = metrics.standardise(raw)
        results["mfcc"] = {"kind": "baseline", "description": "20 MFCCs, mean + std over frames (40-d), "
                           "z-scored over the evaluated tracks", "settings": mfcc.MFCC_SETTINGS,
                           "fingerprint": fingerprint, "embedding_size": raw.shape[1], "n_tags": 0,
                           "cache": stats, "seconds": None,
                           **metrics.retrieval_metrics(vectors_of["mfcc"], labels, args.folds, args.seed)}
        results["mfcc"]["seconds"] = round(time.time() - t0, 1)
    for name, model in models.items():
        t0 = time.time()
        vectors, scores, fingerprint, stats = embed_tracks(name, model, tracks, keys, args.cache_dir, args.clip_seconds)
        outputs[name], vectors_of[name] = scores, vectors
        results[name] = {"kind": "preset", "teacher": name == args.teacher, "directory": str(model.directory),
                         "fingerprint": fingerprint, "embedding_size": int(vectors.shape[1]),
                         "n_tags": len(model.tags), "cache": stats, "seconds": None,
                         **metrics.retrieval_metrics(vectors, labels, args.folds, args.seed)}
        results[name]["seconds"] = round(time.time() - t0, 1)
    for name, model in models.items():
        if args.teacher and name != args.teacher:
            teacher = models[args.teacher]
            agreement = metrics.tag_agreement(outputs[name], model.tags, outputs[args.teacher], teacher.tags, args.top_k)
            if agreement["n_shared_tags"]:
                results[name]["tag_agreement"] = {"teacher": args.teacher, **agreement}
        if styles and model.tags:
            separation = metrics.style_separation(outputs[name], model.tags, labels, styles)
            if separation:
                results[name]["style_auc"] = separation
    notion_report = (notions.evaluate_notions(args, tracks, keys, checked, models, outputs, vectors_of, results)
                     if args.notions or args.tempo else None)

    return {
        "command": command,
        "manifest": {"path": str(args.manifest), "sha256": manifest_sha256},
        "unseen_by": args.unseen_by,
        "n_tracks": len(tracks),
        "soundtracks": counts,
        "use": dict(Counter(str(t.use) for t in tracks)),  # manifest "use" field ("None" when absent)
        "styles": styles,
        "settings": {"similarity": "cosine", "clip_seconds": args.clip_seconds, "knn_k": [1, 5], "folds": args.folds, "seed": args.seed,
                     "teacher": args.teacher, "teacher_top_k": args.top_k, "cache_dir": str(args.cache_dir)},
        "chance": metrics.chance_levels(labels, args.folds),
        "duplicate_audio": duplicates,
        "results": results,
        "notions": notion_report,
        "definitions": metrics.__doc__[metrics.__doc__.index("* Retrieval"):].strip(),
        "versions": run_environment(),
        "seconds": round(time.time() - started, 1),
    }


def short_name(name):
    """A preset's display name: the folder name for a path."""
    return Path(name.rstrip("/")).name or name if ("/" in name and "://" not in name) else name


def _cell(value):
    return "-" if value is None else f"{value:.3f}"


def format_table(report):
    """A small text table of the headline figures."""
    head = f"{'preset':28s} {'MAP':>6s} {'1-NN':>6s} {'5-NN':>6s} {'linear':>6s} {'tagAUC':>6s} {'rho':>6s}"
    lines = [(f"{report['n_tracks']} tracks, {len(report['soundtracks'])} soundtracks, "
             f"linear: {report['settings']['folds']}-fold CV"), head, "-" * len(head)]
    chance = report["chance"]
    rows = [("(chance)", chance["map_random_ranking"], chance["knn_majority_soundtrack"],
             chance["knn_majority_soundtrack"], chance["linear_majority_soundtrack"], None, None)]
    for name, r in report["results"].items():
        agreement = r.get("tag_agreement", {})
        rows.append((short_name(name) + (" (teacher)" if r.get("teacher") else ""), r["map"], r["knn_1"], r["knn_5"],
                     r["linear_accuracy"], agreement.get("roc_auc"), agreement.get("spearman")))
    lines += [f"{row[0][:28]:28s} " + " ".join(f"{_cell(v):>6s}" for v in row[1:]) for row in rows]
    for name, r in report["results"].items():
        for tag, entry in r.get("style_auc", {}).items():
            lines.append(f"style AUC  {short_name(name)}: tag {tag!r} vs other styles {_cell(entry['vs_rest'])} "
                         f"({entry['n_positive']} vs {entry['n_negative']} tracks)")
    if report.get("notions"):
        from training_recipes.evaluation import notions

        lines += notions.format_table(report)
    return "\n".join(lines)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m training_recipes.evaluation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", required=True, type=Path, help="manifest.jsonl (path, soundtrack, ...)")
    parser.add_argument("--presets", action="append", help="comma-separated preset ids, hf:// handles or dirs")
    parser.add_argument("--baseline", choices=BASELINES, help="also score the MFCC mean/std baseline")
    parser.add_argument("--soundtracks", action="append", help="only these soundtracks (\"A,B,C\")")
    parser.add_argument("--unseen-by", metavar="PRESET",
                        help="drop the soundtracks this preset's metadata says it trained on")
    parser.add_argument("--styles", type=Path, help="JSON {soundtrack: style} for style-tag ROC-AUC")
    parser.add_argument("--teacher", help="preset whose top-k tags label the tag-agreement ROC-AUC")
    parser.add_argument("--top-k", type=int, default=3, help="teacher tags per track taken as positive")
    parser.add_argument("--notions", type=Path, help="JSON {\"notions\": {notion: [teacher tags]}}: notion triplets, "
                        "R@K, sub-space overlap (needs --teacher)")
    parser.add_argument("--tempo", action="store_true", help="add the tempo notion (librosa beat tracker)")
    parser.add_argument("--triplets", type=int, default=2000, help="triplets sampled per notion")
    parser.add_argument("--tempo-tolerance", type=float, default=5.0, help="BPM within which tempos are similar")
    parser.add_argument("--folds", type=int, default=5, help="stratified folds of the linear classifier")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, type=Path, help="results JSON")
    parser.add_argument("--cache-dir", type=Path, default=Path("runs/eval-cache"))
    parser.add_argument("--clip-seconds", type=float, default=None,
                        help="represent each track by this many seconds from its middle (default: whole track)")
    return parser.parse_args(argv)


def run_report_cli(module, compute, parse, render, argv=None):
    """The shared CLI of evaluate and transfer: parse, compute the report, write it to --out
    atomically as JSON, print `render(report)`; a bad input is one line on stderr and exit 2."""
    command = list(sys.orig_argv) if argv is None else ["python", "-m", f"training_recipes.{module}", *argv]
    args = parse(argv)
    from sdk.audio import AudioError

    try:
        report = compute(args, command)
    except (EvaluationError, AudioError) as error:
        print(f"{module.rsplit('.', 1)[-1]}: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    atomic_write(args.out, lambda f: f.write((json.dumps(report, indent=2, ensure_ascii=False) + "\n").encode()))
    print(render(report))
    print(f"wrote {args.out} ({report['seconds']} s)")
    return 0


def main(argv=None):
    return run_report_cli("evaluation", evaluate, parse_args, format_table, argv)


if __name__ == "__main__":
    sys.exit(main())
