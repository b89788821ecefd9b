"""Notion triplets, Recall@K and sub-space overlap: `python -m training_recipes.evaluation
--notions FILE --teacher PRESET [--tempo]` (thesis chapter 5, Tables 5.3 and 5.5).

* Labels: FILE is {"notions": {notion: [teacher tag, ...]}}. A track's label for a notion is
  the teacher's highest-scoring tag among that notion's tags (ties: the file's order); so one
  label per track and notion, where the thesis (5.1.3) calls tracks similar when they share
  any Last.fm tag of the notion. Tempo (--tempo): librosa's beat-tracker tempo (BPM) of the
  clip the presets see, at 22,050 Hz; a track where it finds no beat (0 BPM) takes no part.
* Triplets (a, p, n) per notion over the evaluated tracks, seeded per notion: a != p,
  label(a) == label(p) != label(n); tempo: |bpm(a) - bpm(p)| <= tolerance < |bpm(a) -
  bpm(n)| (5 BPM, thesis 5.1.3). The anchor is uniform over the tracks that have both a
  positive and a negative, p and n uniform among those; repeats are drawn again (at most 20
  draws per triplet asked); a notion with no more possible triplets than asked takes them all.
* Triplet accuracy (Table 5.5): the fraction with cos(a, p) > cos(a, n) (ties count wrong),
  the cosine taken on one slice of the song vector (re-normalised): each notion in each of the
  preset's sub-spaces and in the whole vector ("all"). Chance is 0.5.
* R@K (Eq. 5.17, `metrics.recall_at_k`; K = 1, 2, 4, 8 up to N - 1), cosine, leave-one-out:
  in the whole vector with the teacher's top-k tags per track as labels (the positives of
  the tag agreement); per tag notion, one label per track, in every space.
* Sub-space overlap: for two sub-spaces s, t, the mean over tracks of |k nearest other tracks
  in s ∩ those in t| / k (k = 10, or N - 1 when fewer tracks).
"""

import hashlib
import json
import zlib
from collections import Counter
from pathlib import Path

import numpy as np

from training_recipes.common.audio_batches import RECIPE_RESAMPLER
from training_recipes.evaluation import metrics
from training_recipes.evaluation.cache import VectorCache
from training_recipes.evaluation.cli import (EvaluationError, _cell, _clip_suffix, _progress, _stats, clip_audio,
                                            short_name)

TEMPO = "tempo"
TEMPO_SETTINGS = {"method": "librosa.beat.beat_track", "sample_rate": 22050}
RECALL_KS = (1, 2, 4, 8)
OVERLAP_K = 10
MAX_DRAWS_PER_TRIPLET = 20
FULL = "all"  # the whole vector, as `MusicModel.subspace_layout` names it without sub-spaces


# ----- inputs ---------------------------------------------------------------------------------
def read_notions(path, teacher_tags, teacher):
    """(the file's "source" or None, {notion: [teacher tag index, ...]}); tag names match
    `teacher_tags` case-insensitively; every problem is an EvaluationError naming the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, IsADirectoryError):
        raise EvaluationError(f"{path}: notions file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise EvaluationError(f"{path}: not valid JSON ({error})") from None
    groups = data.get("notions") if isinstance(data, dict) else None
    if not isinstance(groups, dict) or not groups or not all(
            isinstance(tags, list) and tags and all(isinstance(t, str) for t in tags) for tags in groups.values()):
        raise EvaluationError(f'{path}: expected {{"notions": {{notion: [tag, ...], ...}}}} with non-empty tag lists')
    index = {t.lower(): i for i, t in reversed(list(enumerate(teacher_tags)))}  # first of equal names
    unknown = [f"{notion}: {tag!r}" for notion, tags in groups.items() for tag in tags if tag.lower() not in index]
    if unknown:
        raise EvaluationError(f"{path}: tag(s) not among the tags of --teacher {teacher}: {'; '.join(unknown)}")
    columns = {notion: list(dict.fromkeys(index[t.lower()] for t in tags)) for notion, tags in groups.items()}
    return data.get("source"), columns


def notion_labels(teacher_scores, columns):
    """{notion: (N,) teacher tag index}: each track's top-scoring tag among the notion's tags."""
    scores = np.asarray(teacher_scores, np.float64)
    return {notion: np.asarray(cols)[np.argmax(scores[:, cols], axis=1)] for notion, cols in columns.items()}


def track_tempo(audio):
    """Beats per minute of a 22,050 Hz clip (librosa's beat tracker); NaN when it finds no beat."""
    import librosa

    bpm = float(np.atleast_1d(librosa.beat.beat_track(y=np.asarray(audio, np.float32),
                                                      sr=TEMPO_SETTINGS["sample_rate"])[0])[0])
    return bpm if bpm > 0 else float("nan")


def tempo_tracks(tracks, keys, cache_dir, clip_seconds=None):
    """((N,) BPM, NaN where no beat, fingerprint, cache statistics); cached like the MFCC vectors."""
    import librosa

    settings = {**TEMPO_SETTINGS, "librosa": librosa.__version__}
    fingerprint = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest() + _clip_suffix(clip_seconds)
    cache = VectorCache(cache_dir, TEMPO, fingerprint)
    values = []
    with _progress(len(tracks), TEMPO) as bar:
        for track, key in zip(tracks, keys):
            hit = cache.load(key, 1)
            if hit is None:
                rate = TEMPO_SETTINGS["sample_rate"]
                audio = clip_audio(track.path, rate, clip_seconds)
                if isinstance(audio, str):
                    from sdk.audio import load_audio

                    audio = load_audio(audio, rate, resample_filter=RECIPE_RESAMPLER)
                hit = (np.array([track_tempo(audio)]),)
                cache.save(key, hit[0], np.zeros(0), track.path)
            values.append(float(hit[0][0]))
            bar.update()
    return np.array(values), fingerprint, _stats(cache, len(tracks), {"numpy": len(tracks)})


# ----- triplets -------------------------------------------------------------------------------
def sample_triplets(values, count, seed, tolerance=0.0):
    """(M <= count, 3) distinct (anchor, positive, negative) track indices: p similar to a
    (|values[a] - values[p]| <= tolerance, a != p), n not; NaN values take no part. Labels
    are exact-match values (tolerance 0); the draw is described in the module docstring."""
    values = np.asarray(values, np.float64)
    if values.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {values.shape}")
    known = np.flatnonzero(np.isfinite(values))
    order = known[np.argsort(values[known], kind="stable")]  # tracks by value: similar = a window
    ranked = values[order]
    low = np.searchsorted(ranked, ranked - tolerance, "left")
    high = np.searchsorted(ranked, ranked + tolerance, "right")
    n_pos, n_neg = high - low - 1, len(order) - (high - low)
    anchors = np.flatnonzero((n_pos > 0) & (n_neg > 0))  # positions in `order`
    if int(np.sum(n_pos[anchors] * n_neg[anchors])) <= count:  # every possible triplet
        found = [(i, j, k) for i in anchors for j in range(low[i], high[i]) if j != i
                 for k in (*range(low[i]), *range(high[i], len(order)))]
        return order[np.array(found, np.int64).reshape(-1, 3)]
    rng, found = np.random.default_rng(seed), {}
    for _ in range(MAX_DRAWS_PER_TRIPLET * count):
        i = anchors[rng.integers(len(anchors))]
        j = low[i] + rng.integers(n_pos[i])
        j += j >= i  # skip the anchor itself
        k = rng.integers(n_neg[i])
        k = k if k < low[i] else high[i] + k - low[i]
        found.setdefault((int(i), int(j), int(k)), None)
        if len(found) == count:
            break
    return order[np.array(list(found), np.int64).reshape(-1, 3)]


def notion_seed(seed, notion):
    """The random stream of one notion: adding or dropping a notion leaves the others' triplets."""
    return [int(seed), zlib.crc32(notion.encode())]


def subspace_slices(layout, size):
    """{space: [start, stop)}: the preset's sub-spaces, then the whole vector as "all"."""
    spaces = {name: [int(a), int(b)] for name, (a, b) in layout.items() if name != FULL}
    if FULL in layout and list(layout[FULL]) != [0, size]:
        raise ValueError(f"sub-space {FULL!r} {layout[FULL]} is not the whole {size}-d vector")
    bad = [name for name, (a, b) in spaces.items() if not 0 <= a < b <= size]
    if bad:
        raise ValueError(f"sub-space(s) {', '.join(map(repr, bad))} outside the {size}-d vector")
    return {**spaces, FULL: [0, int(size)]}


def triplet_accuracies(vectors, spaces, triplets):
    """{notion: {space: accuracy, or None without triplets}}, cosine on each slice."""
    vectors, out = np.asarray(vectors, np.float64), {}
    for notion, found in triplets.items():
        out[notion] = {}
        for space, (start, stop) in spaces.items():
            part = vectors[:, start:stop]
            out[notion][space] = (metrics.triplet_accuracy(*(part[found[:, c]] for c in range(3)), metric="cosine")
                                  if len(found) else None)
    return out


def one_hot(codes):
    """(N, C) 0/1 of integer labels; a NaN row stays all zero (not a query)."""
    codes = np.asarray(codes, np.float64)
    classes = np.unique(codes[np.isfinite(codes)])
    return (codes[:, None] == classes[None, :]).astype(np.int64)


def overlap(neighbours_s, neighbours_t):
    """Mean over rows of |row of s ∩ row of t| / k (two (N, k) neighbour lists)."""
    k = neighbours_s.shape[1]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(neighbours_s.tolist(), neighbours_t.tolist())]))


def _recall(neighbours, labels, ks):
    try:
        return {f"R@{k}": v for k, v in metrics.recall_at_k_of_neighbours(neighbours, labels, ks).items()}
    except ValueError:  # no query has a label
        return None


def preset_notions(vectors, layout, labels, triplets, teacher_top=None, ks=RECALL_KS, overlap_k=OVERLAP_K):
    """One preset's "notions" result from its (N, d) song vectors and `layout` ({name: [start,
    stop)}): triplet accuracy per notion and space, R@K, and the top-k overlap of sub-spaces."""
    vectors = np.asarray(vectors, np.float64)
    spaces = subspace_slices(layout, vectors.shape[1])
    ks = [k for k in ks if k <= len(vectors) - 1]
    overlap_k = min(overlap_k, len(vectors) - 1)
    neighbours = {space: metrics.nearest_neighbours(vectors[:, a:b], max(ks + [overlap_k]), "cosine")
                  for space, (a, b) in spaces.items()}
    by_notion = {notion: {space: _recall(neighbours[space], one_hot(codes), ks) for space in spaces}
                 for notion, codes in labels.items() if notion != TEMPO}
    subs = [s for s in spaces if s != FULL]
    return {"spaces": spaces, "triplet_accuracy": triplet_accuracies(vectors, spaces, triplets),
            "recall_at_k": {"teacher_tags": None if teacher_top is None else _recall(neighbours[FULL], teacher_top, ks),
                            "notions": by_notion},
            "subspace_overlap": {s: {t: overlap(neighbours[s][:, :overlap_k], neighbours[t][:, :overlap_k])
                                     for t in subs[i + 1:]} for i, s in enumerate(subs[:-1])}}


# ----- the CLI's part -------------------------------------------------------------------------
def check_arguments(args, models):
    """The notions file's columns of the teacher's tags (None without --notions); fails before audio work."""
    if args.triplets < 1:
        raise EvaluationError(f"--triplets must be >= 1, got {args.triplets}")
    if args.tempo_tolerance < 0:
        raise EvaluationError(f"--tempo-tolerance must be >= 0, got {args.tempo_tolerance}")
    if args.notions is None:
        return None
    if not args.teacher:
        raise EvaluationError("--notions needs --teacher (the preset whose tag scores label the notions)")
    source, columns = read_notions(args.notions, models[args.teacher].tags, args.teacher)
    if args.tempo and TEMPO in columns:
        raise EvaluationError(f"{args.notions}: notion {TEMPO!r} clashes with --tempo's")
    return source, columns


def evaluate_notions(args, tracks, keys, checked, models, outputs, vectors, results):
    """Add "notions" to each result in `results` ({name: (N, d) vectors} in `vectors`) and
    return the report's "notions" block (settings, labels, triplet counts, tempo)."""
    source, columns = checked or (None, {})
    teacher_tags = models[args.teacher].tags if args.teacher else []
    labels = {n: codes.astype(np.float64) for n, codes in notion_labels(outputs[args.teacher], columns).items()} \
        if columns else {}
    label_counts = {n: {teacher_tags[int(c)]: k for c, k in Counter(codes.tolist()).most_common()}
                    for n, codes in labels.items()}
    tempo = None
    if args.tempo:
        bpm, fingerprint, stats = tempo_tracks(tracks, keys, args.cache_dir, args.clip_seconds)
        labels[TEMPO] = bpm
        beat = bpm[np.isfinite(bpm)]
        tempo = {"n_tracks": int(beat.size), "n_without_beat": int(len(bpm) - beat.size),
                 "bpm_min": float(beat.min()) if beat.size else None,
                 "bpm_median": float(np.median(beat)) if beat.size else None,
                 "bpm_max": float(beat.max()) if beat.size else None, "fingerprint": fingerprint, "cache": stats}
    triplets = {n: sample_triplets(v, args.triplets, notion_seed(args.seed, n),
                                   args.tempo_tolerance if n == TEMPO else 0.0) for n, v in labels.items()}
    teacher_top = metrics.top_k_labels(outputs[args.teacher], args.top_k) if args.teacher else None
    for name, x in vectors.items():
        layout = models[name].subspace_layout if name in models else {FULL: [0, x.shape[1]]}
        try:
            results[name]["notions"] = preset_notions(x, layout, labels, triplets, teacher_top)
        except ValueError as error:  # a layout that does not fit the vector
            raise EvaluationError(f"preset {name!r}: {error}") from None
    return {"file": None if args.notions is None else str(args.notions), "source": source, "teacher": args.teacher,
            "notions": {**{n: [teacher_tags[c] for c in cols] for n, cols in columns.items()},
                        **({TEMPO: TEMPO_SETTINGS["method"]} if args.tempo else {})},
            "settings": {"triplets_per_notion": args.triplets, "seed": args.seed,
                         "tempo_tolerance_bpm": args.tempo_tolerance if args.tempo else None,
                         "similarity": "cosine", "recall_k": [k for k in RECALL_KS if k <= len(tracks) - 1],
                         "recall_teacher_top_k": args.top_k if args.teacher else None,
                         "overlap_k": min(OVERLAP_K, len(tracks) - 1)},
            "triplets": {n: len(t) for n, t in triplets.items()}, "labels": label_counts, "tempo": tempo,
            "definitions": __doc__[__doc__.index("* Labels"):].strip()}


def format_table(report):
    """Lines of triplet accuracy (notion columns) per preset and space, whole-vector R@K, overlap."""
    block = report["notions"]
    names = list(block["triplets"])
    ks, top_k = block["settings"]["recall_k"], block["settings"]["recall_teacher_top_k"]
    width = [max(6, min(10, len(n))) for n in names]
    counts = ", ".join(f"{n} {c}" for n, c in block["triplets"].items())
    head = (f"{'preset':24s} {'space':10s} " + " ".join(f"{n[:w]:>{w}s}" for n, w in zip(names, width))
            + "".join(f" {'R@' + str(k):>6s}" for k in ks if top_k))
    lines = [f"notion triplet accuracy (cosine; triplets: {counts}; seed {block['settings']['seed']})"
             + (f", R@K of the teacher's top-{top_k} tags" if top_k else ""), head, "-" * len(head)]
    for name, result in report["results"].items():
        entry = result.get("notions")
        if not entry:
            continue
        for row, space in enumerate(entry["spaces"]):
            recall = entry["recall_at_k"]["teacher_tags"] if space == FULL else None
            lines.append(f"{(short_name(name)[:24] if row == 0 else ''):24s} {space[:10]:10s} "
                         + " ".join(f"{_cell(entry['triplet_accuracy'][n][space]):>{w}s}" for n, w in zip(names, width))
                         + ("".join(f" {_cell(recall[f'R@{k}']):>6s}" for k in ks) if recall else ""))
        pairs = [f"{s}/{t} {v:.3f}" for s, row in entry["subspace_overlap"].items() for t, v in row.items()]
        if pairs:
            lines.append(f"top-{block['settings']['overlap_k']} overlap  {short_name(name)[:24]}: " + ", ".join(pairs))
    return lines
