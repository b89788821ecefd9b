"""What `training_recipes.evaluate` computes from song vectors, labels and tag scores.

Pure numpy / scipy / scikit-learn on arrays (no audio, no Keras), so every figure the CLI
writes comes from a function that tests can call on hand-made inputs.  Retrieval uses
`training_recipes.common.metrics`; the rules below say exactly which tracks take part.

* Retrieval (`retrieval_metrics`), labels = soundtracks, cosine similarity:
  - MAP (thesis Eq. 4.3-4.4): every track queries all other tracks of the evaluated set;
    relevant = same soundtrack.  Tracks of single-track soundtracks are not queries (they
    have nothing relevant) but stay in the database as distractors.  `map_by_soundtrack`:
    the mean AP of each soundtrack's own queries.
  - k-NN accuracy (k = 1, 5), leave-one-out: the same queries; neighbours are all other
    tracks; majority vote, ties by summed distance (`metrics.knn_accuracy`).
  - linear softmax accuracy: stratified k-fold CV (shuffled, seeded) over the soundtracks
    that have at least `folds` tracks (others are left out and counted); logistic
    regression on L2-normalised vectors, standardised with training-fold statistics
    (`metrics.linear_softmax_accuracy`); the accuracy pools all folds' predictions.
* Tag agreement with a teacher (`tag_agreement`): labels = the teacher's top-k tags of each
  track among all its tags (ties by tag order); per tag shared by name with the student,
  ROC-AUC of the student's song score against those labels, macro over the shared tags
  that have both classes; Spearman / Pearson of the two song-score columns per shared tag,
  macro over tags where neither column is constant.
* Style separation (`style_separation`): per tag named like a style (case-insensitive),
  ROC-AUC of the tag's song score for tracks of that style's soundtracks (positives)
  against tracks of every other labelled soundtrack, and against each other style alone.
* MFCC baseline (`mfcc_song_vector`): 20 MFCCs (DCT-II, ortho, of the librosa-style dB
  log-mel: 22,050 Hz, n_fft 2048, hop 512, 128 Slaney bands), mean and std over frames.
"""

import numpy as np
import scipy.fft

from training_recipes.common import metrics

MFCC_SETTINGS = {"sample_rate": 22050, "n_mfcc": 20, "n_fft": 2048, "hop_length": 512, "n_mels": 128,
                 "top_db": 80.0, "pooling": "mean+std over frames"}


def _counts(labels):
    names, inverse, counts = np.unique(np.asarray(labels), return_inverse=True, return_counts=True)
    return names, inverse, counts


def expected_random_map(labels):
    """MAP of a uniformly random ranking over the same queries (exact expectation).

    A query with R relevant items among M others: E[AP] = (H_M + (R-1)/(M-1) (M - H_M)) / M,
    H_M the M-th harmonic number (sum over ranks of P(relevant at k) E[P@k | relevant at k]).
    """
    _, inverse, counts = _counts(labels)
    m = len(inverse) - 1
    if m < 1:
        raise ValueError("need at least 2 items")
    h = float(np.sum(1.0 / np.arange(1, m + 1)))
    aps = []
    for r in counts[inverse] - 1:
        if r == 0:
            continue
        aps.append((h + ((r - 1) / (m - 1) if m > 1 else 0.0) * (m - h)) / m)
    return float(np.mean(aps)) if aps else None


def leave_one_out_knn(embeddings, labels, k):
    """Accuracy of k-NN over the queries (tracks whose label has >= 2 tracks); None if k > N-1."""
    x, y = np.asarray(embeddings), np.asarray(labels)
    _, inverse, counts = _counts(y)
    queries = np.flatnonzero(counts[inverse] >= 2)
    if k > len(x) - 1 or len(queries) == 0:
        return None
    correct = 0.0
    for q in queries:
        keep = np.arange(len(x)) != q
        correct += metrics.knn_accuracy(x[keep], y[keep], x[q:q + 1], y[q:q + 1], k=k, metric="cosine")
    return correct / len(queries)


def unit_rows(x):
    x = np.asarray(x, np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def linear_cv(embeddings, labels, folds=5, seed=0):
    """Stratified k-fold linear softmax accuracy; dict with the accuracy (None if impossible)."""
    from sklearn.model_selection import StratifiedKFold

    x, y = unit_rows(embeddings), np.asarray(labels)
    _names, inverse, counts = _counts(y)
    keep = counts[inverse] >= folds
    out = {"linear_folds": folds, "linear_n_tracks": int(keep.sum()),
           "linear_n_soundtracks": int((counts >= folds).sum()),
           "linear_soundtracks_left_out": int((counts < folds).sum()),
           "linear_accuracy": None, "linear_accuracy_fold_std": None}
    if out["linear_n_soundtracks"] < 2 or folds < 2:
        out["linear_note"] = f"needs >= 2 soundtracks with >= {folds} tracks and folds >= 2"
        return out
    x, y = x[keep], y[keep]
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    accuracies, sizes = [], []
    for train, test in splitter.split(x, y):
        accuracies.append(metrics.linear_softmax_accuracy(x[train], y[train], x[test], y[test], seed=seed))
        sizes.append(len(test))
    out["linear_accuracy"] = float(np.dot(accuracies, sizes) / np.sum(sizes))
    out["linear_accuracy_fold_std"] = float(np.std(accuracies))
    return out


def retrieval_metrics(embeddings, labels, folds=5, seed=0):
    """MAP, leave-one-out 1-NN / 5-NN and k-fold linear accuracy of song vectors by label."""
    x, y = np.asarray(embeddings, np.float64), np.asarray(labels)
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"embeddings {x.shape} and labels {y.shape} do not match")
    if not np.all(np.isfinite(x)):
        raise ValueError("embeddings contain NaN or inf")
    _names, inverse, counts = _counts(y)
    n_queries = int((counts[inverse] >= 2).sum())
    if n_queries == 0:
        raise ValueError("no soundtrack has 2 or more tracks: nothing to retrieve")
    ap = metrics.average_precisions(x, y, metric="cosine")
    out = {"n_tracks": len(x), "n_queries": n_queries, "map": float(np.nanmean(ap)),
           # which soundtracks the figure comes from: the mean AP of each one's tracks as queries
           "map_by_soundtrack": {str(n): float(np.mean(ap[y == n])) for n in _names[counts >= 2]},
           "knn_1": leave_one_out_knn(x, y, 1), "knn_5": leave_one_out_knn(x, y, 5)}
    out.update(linear_cv(x, y, folds, seed))
    return out


def chance_levels(labels, folds=5):
    """Reference points for the retrieval figures of this label set."""
    y = np.asarray(labels)
    _names, inverse, counts = _counts(y)
    query = counts[inverse] >= 2
    linear = counts[inverse] >= folds
    return {"map_random_ranking": expected_random_map(y),
            "knn_majority_soundtrack": float(counts[inverse][query].max() / query.sum()) if query.any() else None,
            "linear_majority_soundtrack": float(counts[inverse][linear].max() / linear.sum()) if linear.any() else None}


def top_k_labels(scores, k=3):
    """(N, T) 0/1: each row's k highest scores (ties broken by column order)."""
    scores = np.asarray(scores, np.float64)
    k = min(k, scores.shape[1])
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    labels = np.zeros(scores.shape, np.int64)
    np.put_along_axis(labels, order, 1, axis=1)
    return labels


def _correlation(fn, a, b):
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return np.nan
    return float(fn(a, b)[0])


def tag_agreement(student_scores, student_tags, teacher_scores, teacher_tags, top_k=3):
    """How well a student's tag scores agree with a teacher's on the shared tag names."""
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import roc_auc_score

    student_scores, teacher_scores = np.asarray(student_scores, np.float64), np.asarray(teacher_scores, np.float64)
    student_index = {t.lower(): i for i, t in enumerate(student_tags)}
    shared = [(t, i, student_index[t.lower()]) for i, t in enumerate(teacher_tags) if t.lower() in student_index]
    out = {"top_k": top_k, "n_shared_tags": len(shared), "roc_auc": None, "n_tags_auc": 0,
           "spearman": None, "pearson": None, "n_tags_correlation": 0, "per_tag": {}}
    if not shared:
        return out
    labels = top_k_labels(teacher_scores, top_k)
    aucs, rhos, rs = [], [], []
    for name, t, s in shared:
        y, student, teacher = labels[:, t], student_scores[:, s], teacher_scores[:, t]
        auc = float(roc_auc_score(y, student)) if 0 < y.sum() < len(y) else np.nan
        rho, r = _correlation(spearmanr, student, teacher), _correlation(pearsonr, student, teacher)
        aucs.append(auc), rhos.append(rho), rs.append(r)
        out["per_tag"][name] = {"positives": int(y.sum()), "roc_auc": _none(auc), "spearman": _none(rho),
                                "pearson": _none(r)}
    out["n_tags_auc"] = int(np.isfinite(aucs).sum())
    out["n_tags_correlation"] = int((np.isfinite(rhos) & np.isfinite(rs)).sum())
    out["roc_auc"] = _macro(aucs)
    out["spearman"], out["pearson"] = _macro(rhos), _macro(rs)
    return out


def style_separation(scores, tags, track_soundtracks, styles):
    """ROC-AUC of style-named tags separating the styles' tracks; {tag: {...}} (may be empty)."""
    from sklearn.metrics import roc_auc_score

    scores = np.asarray(scores, np.float64)
    track_style = np.array([styles.get(s) for s in track_soundtracks], dtype=object)
    labelled = np.array([s is not None for s in track_style])
    present = sorted({s for s in track_style[labelled]})
    out = {}
    for column, tag in enumerate(tags):
        style = next((s for s in present if s.lower() == tag.lower()), None)
        if style is None:
            continue
        column_scores = scores[:, column]
        positive = labelled & (track_style == style)
        rest = labelled & ~positive
        entry = {"style": style, "n_positive": int(positive.sum()), "n_negative": int(rest.sum()),
                 "vs_rest": None, "vs": {}}
        if rest.any():
            mask = positive | rest
            entry["vs_rest"] = float(roc_auc_score(positive[mask], column_scores[mask]))
        for other in present:
            if other != style:
                mask = positive | (labelled & (track_style == other))
                entry["vs"][other] = float(roc_auc_score(positive[mask], column_scores[mask]))
        out[tag] = entry
    return out


def _none(value):
    return None if value is None or not np.isfinite(value) else float(value)


def _macro(values):
    values = np.asarray(values, np.float64)
    return float(np.nanmean(values)) if np.isfinite(values).any() else None


def standardise(vectors):
    """Z-score each column over the given rows (constant columns become 0)."""
    x = np.asarray(vectors, np.float64)
    return (x - x.mean(0)) / np.where(x.std(0) > 0, x.std(0), 1.0)


def mfcc_matrix(waveform, sample_rate=22050, n_mfcc=20, n_fft=2048, hop_length=512, n_mels=128,
                top_db=80.0, chunk=512):
    """(n_mfcc, frames) MFCCs equal to `zoo.mfcc_vq.mfcc`, computed a chunk of frames at a time
    so a long song never holds its whole STFT in memory (only the 128-band mel power)."""
    from zoo.frontends import mel_filterbank, periodic_hann
    from zoo.mfcc_vq import power_to_db

    y = np.pad(np.asarray(waveform, np.float64), n_fft // 2)
    frames = np.lib.stride_tricks.sliding_window_view(y, n_fft)[::hop_length]
    window = periodic_hann(n_fft, n_fft).astype(np.float64)
    filters = mel_filterbank(sample_rate, n_fft, n_mels).astype(np.float64)
    mel = np.empty((n_mels, len(frames)))
    for start in range(0, len(frames), chunk):
        spectrum = np.fft.rfft(frames[start:start + chunk] * window, axis=-1)
        mel[:, start:start + chunk] = filters @ (spectrum.real**2 + spectrum.imag**2).T
    return scipy.fft.dct(power_to_db(mel, top_db=top_db), type=2, norm="ortho", axis=0)[:n_mfcc]


def mfcc_song_vector(waveform):
    """40-d song vector of the MFCC baseline: mean then std of the 20 MFCCs over frames."""
    settings = {k: MFCC_SETTINGS[k] for k in ("sample_rate", "n_mfcc", "n_fft", "hop_length", "n_mels", "top_db")}
    coefficients = mfcc_matrix(waveform, **settings)
    return np.concatenate([coefficients.mean(1), coefficients.std(1)]).astype(np.float32)
