"""Evaluation metrics: the thesis's (J. Lee, "Similarity-based Deep Learning for Music
Retrieval", KAIST 2021) and what `python -m training_recipes.evaluation` computes from them.

Pure numpy, plus scikit-learn where it is the standard implementation (ROC-AUC, average
precision, logistic regression); no audio, no Keras, so every figure the evaluation CLI writes
comes from a function that tests can call on hand-made inputs.  Distances: ``"cosine"`` is
``1 - cos(a, b)`` (zero vectors have cosine 0 to everything), ``"euclidean"`` is the L2
distance.  Rankings are by ascending distance; exact distance ties are resolved by item index
(stable sort), so results are deterministic.

Thesis metrics: `roc_auc_macro`, `pr_auc_macro` (tagging), `mean_average_precision` (Eq.
4.3-4.4), `knn_accuracy`, `linear_softmax_accuracy` (section 4.1.4), `recall_at_k` (Eq. 5.17),
`triplet_accuracy` (chapter 5).  What the evaluation CLI reports, and exactly which tracks
take part:

* Retrieval (`retrieval_metrics`), labels = soundtracks, cosine similarity:
  - MAP (thesis Eq. 4.3-4.4): every track queries all other tracks of the evaluated set;
    relevant = same soundtrack.  Tracks of single-track soundtracks are not queries (they
    have nothing relevant) but stay in the database as distractors.  `map_by_soundtrack`:
    the mean AP of each soundtrack's own queries.
  - k-NN accuracy (k = 1, 5), leave-one-out: the same queries; neighbours are all other
    tracks; majority vote, ties by summed distance (`knn_accuracy`).
  - linear softmax accuracy: stratified k-fold CV (shuffled, seeded) over the soundtracks
    that have at least `folds` tracks (others are left out and counted); logistic
    regression on L2-normalised vectors, standardised with training-fold statistics
    (`linear_softmax_accuracy`); the accuracy pools all folds' predictions.
* Tag agreement with a teacher (`tag_agreement`): labels = the teacher's top-k tags of each
  track among all its tags (ties by tag order); per tag shared by name with the student,
  ROC-AUC of the student's song score against those labels, macro over the shared tags
  that have both classes; Spearman / Pearson of the two song-score columns per shared tag,
  macro over tags where neither column is constant.
* Style separation (`style_separation`): per tag named like a style (case-insensitive),
  ROC-AUC of the tag's song score for tracks of that style's soundtracks (positives)
  against tracks of every other labelled soundtrack, and against each other style alone.
* MFCC baseline (`training_recipes.evaluation.mfcc`): 20 MFCCs (DCT-II, ortho, of the
  librosa-style dB log-mel: 22,050 Hz, n_fft 2048, hop 512, 128 Slaney bands), mean and std
  over frames.
"""

import numpy as np

METRICS = ("cosine", "euclidean")


def _array(x, name, ndim):
    x = np.asarray(x)
    if x.ndim == 1 and ndim == 2:
        x = x[:, None]
    if x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    return x


def _same_length(**arrays):
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"mismatched lengths: {lengths}")


def unit_rows(x):
    """Rows scaled to unit L2 norm (float64); zero rows stay zero."""
    x = np.asarray(x, np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def pairwise_distances(a, b, metric="cosine"):
    """(len(a), len(b)) distance matrix; smaller means more similar."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    a = _array(a, "a", 2).astype(np.float64)
    b = _array(b, "b", 2).astype(np.float64)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sizes differ: {a.shape[1]} vs {b.shape[1]}")
    if metric == "cosine":
        return 1.0 - unit_rows(a) @ unit_rows(b).T
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(sq, 0.0))


def _leave_one_out_ranking(embeddings, metric):
    """Row q: indices of all other items, nearest first (the query itself is excluded)."""
    d = pairwise_distances(embeddings, embeddings, metric)
    np.fill_diagonal(d, np.inf)
    return np.argsort(d, axis=1, kind="stable")[:, :-1]


def nearest_neighbours(embeddings, k, metric="cosine"):
    """(N, k): each item's k nearest other items, nearest first (ties by index, as every
    ranking here); needs 1 <= k <= N - 1."""
    emb = _array(embeddings, "embeddings", 2)
    if not 1 <= k <= len(emb) - 1:
        raise ValueError(f"k must be in [1, {len(emb) - 1}] (N - 1), got {k}")
    return _leave_one_out_ranking(emb, metric)[:, :k]


def _per_tag(score_fn, y_true, y_score, return_details):
    y_true = _array(y_true, "y_true", 2)
    y_score = _array(y_score, "y_score", 2).astype(np.float64)
    if y_true.shape != y_score.shape:
        raise ValueError(f"y_true {y_true.shape} and y_score {y_score.shape} differ in shape")
    if not np.isin(y_true, (0, 1)).all():
        raise ValueError("y_true must be binary (0/1) multi-hot")
    per_tag = np.full(y_true.shape[1], np.nan)
    skipped = []
    for c in range(y_true.shape[1]):
        n_pos = int(y_true[:, c].sum())
        if n_pos == 0 or n_pos == len(y_true):
            skipped.append(c)  # AUC undefined without both positives and negatives
            continue
        per_tag[c] = score_fn(y_true[:, c], y_score[:, c])
    if len(skipped) == y_true.shape[1]:
        raise ValueError("no usable tag: every tag lacks positive or negative examples")
    macro = float(np.nanmean(per_tag))
    if return_details:
        return {"macro": macro, "per_tag": per_tag, "n_used": y_true.shape[1] - len(skipped),
                "skipped": skipped}
    return macro


def roc_auc_macro(y_true, y_score, return_details=False):
    """Macro ROC-AUC over tags (the auto-tagging "AUC" of thesis Tables 5.3-5.4).

    ``y_true`` (N, C) multi-hot, ``y_score`` (N, C).  Tags with no positive or no negative
    example are skipped silently; ``return_details=True`` returns a dict
    ``{"macro", "per_tag" (nan where skipped), "n_used", "skipped" (tag indices)}``.
    Raises ValueError if no tag is usable.
    """
    from sklearn.metrics import roc_auc_score

    return _per_tag(roc_auc_score, y_true, y_score, return_details)


def pr_auc_macro(y_true, y_score, return_details=False):
    """Macro PR-AUC over tags as average precision (sklearn ``average_precision_score``:
    sum over positives of precision at their rank, divided by the number of positives).
    Skipping and ``return_details`` as in :func:`roc_auc_macro`."""
    from sklearn.metrics import average_precision_score

    return _per_tag(average_precision_score, y_true, y_score, return_details)


def _relevance(labels, n):
    """(n, n) boolean: same label (1-D single-label) or sharing a label (2-D multi-hot)."""
    labels = np.asarray(labels)
    if labels.ndim == 1:
        rel = labels[:, None] == labels[None, :]
    elif labels.ndim == 2:
        m = (labels != 0).astype(np.int64)
        rel = (m @ m.T) > 0
    else:
        raise ValueError(f"labels must be 1-D or 2-D multi-hot, got shape {labels.shape}")
    if len(labels) != n:
        raise ValueError(f"mismatched lengths: embeddings {n}, labels {len(labels)}")
    return rel


def average_precisions(embeddings, labels, metric="cosine"):
    """Leave-one-out AP of each item as a query (thesis Eq. 4.3), NaN where it has no relevant
    item; `mean_average_precision` says what is relevant and how items are ranked."""
    emb = _array(embeddings, "embeddings", 2)
    if len(emb) < 2:
        raise ValueError("need at least 2 items for leave-one-out retrieval")
    rel = _relevance(labels, len(emb))
    order = _leave_one_out_ranking(emb, metric)
    hits = np.take_along_axis(rel, order, axis=1).astype(np.float64)  # (N, N-1), rank order
    n_rel = hits.sum(1)
    precision_at_k = np.cumsum(hits, axis=1) / np.arange(1, hits.shape[1] + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_rel > 0, (precision_at_k * hits).sum(1) / n_rel, np.nan)


def mean_average_precision(embeddings, labels, metric="cosine"):
    """Leave-one-out retrieval MAP (thesis Eq. 4.3-4.4, section 4.1.4).

    Each item queries all the others, ranked by ``metric``.  Relevant = same label (1-D
    ``labels``) or at least one shared tag (2-D multi-hot).  Eq. 4.3:
    ``AP = sum_{k in rel} precision@k / number of relevant items``; Eq. 4.4: MAP = mean AP over
    the queries that have at least one relevant item (others are excluded from Q).
    """
    ap = average_precisions(embeddings, labels, metric)
    if np.isnan(ap).all():
        raise ValueError("no query has a relevant item")
    return float(np.nanmean(ap))


def knn_accuracy(train_x, train_y, test_x, test_y, k=20, metric="cosine"):
    """k-NN classification accuracy (section 4.1.4, k = 20): each test item gets the label most
    frequent among its k nearest training items.  Ties between labels are broken by the smallest
    summed distance of their neighbours; if still tied, by the label met first in the ranking
    (i.e. of the nearest tied neighbour)."""
    train_x, test_x = _array(train_x, "train_x", 2), _array(test_x, "test_x", 2)
    train_y, test_y = _array(train_y, "train_y", 1), _array(test_y, "test_y", 1)
    _same_length(train_x=train_x, train_y=train_y)
    _same_length(test_x=test_x, test_y=test_y)
    if not 1 <= k <= len(train_x):
        raise ValueError(f"k must be in [1, {len(train_x)}], got {k}")
    classes, y_idx = np.unique(train_y, return_inverse=True)
    d = pairwise_distances(test_x, train_x, metric)
    nn = np.argsort(d, axis=1, kind="stable")[:, :k]
    pred = np.empty(len(test_x), dtype=np.int64)
    for i, row in enumerate(nn):
        lab = y_idx[row]
        votes = np.bincount(lab, minlength=len(classes))
        dist = np.bincount(lab, weights=d[i, row], minlength=len(classes))
        tied = np.flatnonzero(votes == votes.max())
        best = tied[np.isclose(dist[tied], dist[tied].min(), rtol=1e-9, atol=1e-12)]
        pred[i] = next(c for c in lab if c in best)  # earliest-ranked among the remaining ties
    return float(np.mean(classes[pred] == test_y))


def linear_softmax_accuracy(train_x, train_y, test_x, test_y, seed=0, C=1.0, max_iter=1000):
    """Linear softmax classifier accuracy (section 4.1.4): multinomial logistic regression
    (sklearn ``LogisticRegression``, lbfgs) on features standardised with train statistics."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    train_x, test_x = _array(train_x, "train_x", 2), _array(test_x, "test_x", 2)
    train_y, test_y = _array(train_y, "train_y", 1), _array(test_y, "test_y", 1)
    _same_length(train_x=train_x, train_y=train_y)
    _same_length(test_x=test_x, test_y=test_y)
    if len(np.unique(train_y)) < 2:
        raise ValueError("train_y needs at least 2 classes")
    scaler = StandardScaler().fit(train_x)
    clf = LogisticRegression(C=C, max_iter=max_iter, random_state=seed)
    clf.fit(scaler.transform(train_x), train_y)
    return float(np.mean(clf.predict(scaler.transform(test_x)) == test_y))


def recall_at_k(embeddings, labels_multi_hot, ks=(1, 2, 4, 8), metric="cosine"):
    """Multi-label Recall@K (thesis Eq. 5.17), leave-one-out over the given set:
    ``R@K = 1/N sum_q n(y_q ∩ (∪_{i<=K} y_i)) / n(y_q)``, the union taken over the labels of the
    top-K retrieved items; queries without any label are excluded from N.  Returns ``{K: value}``.
    """
    emb = _array(embeddings, "embeddings", 2)
    y = _array(labels_multi_hot, "labels_multi_hot", 2) != 0
    _same_length(embeddings=emb, labels_multi_hot=y)
    ks = tuple(int(k) for k in ks)
    if not ks or min(ks) < 1 or max(ks) > len(emb) - 1:
        raise ValueError(f"every K must be in [1, {len(emb) - 1}] (N - 1), got {ks}")
    return recall_at_k_of_neighbours(nearest_neighbours(emb, max(ks), metric), y, ks)


def recall_at_k_of_neighbours(neighbours, labels_multi_hot, ks=(1, 2, 4, 8)):
    """`recall_at_k` from a given (N, >= max K) neighbour ranking (`nearest_neighbours`), so one
    ranking serves several label sets."""
    y = _array(labels_multi_hot, "labels_multi_hot", 2) != 0
    neighbours, ks = np.asarray(neighbours), tuple(int(k) for k in ks)
    if not ks or min(ks) < 1:
        raise ValueError(f"every K must be >= 1, got {ks}")
    if neighbours.ndim != 2 or len(neighbours) != len(y) or neighbours.shape[1] < max(ks):
        raise ValueError(f"neighbours {neighbours.shape} do not cover K = {max(ks)} for {len(y)} items")
    n_q = y.sum(1)
    valid = n_q > 0
    if not valid.any():
        raise ValueError("no query has any label")
    retrieved = np.logical_or.accumulate(y[neighbours[:, :max(ks)]], axis=1)  # (N, K, C) union of top-K labels
    out = {}
    for k in ks:
        found = (retrieved[:, k - 1] & y).sum(1)
        out[k] = float(np.mean(found[valid] / n_q[valid]))
    return out


def triplet_accuracy(anchor, positive, negative, metric="euclidean"):
    """Triplet prediction score (thesis ch. 5, "Triplet Prediction"): the fraction of
    triplets with d(anchor, positive) < d(anchor, negative); exact ties count as wrong."""
    a, p, n = (_array(x, name, 2).astype(np.float64) for x, name in
               ((anchor, "anchor"), (positive, "positive"), (negative, "negative")))
    _same_length(anchor=a, positive=p, negative=n)
    if not a.shape == p.shape == n.shape:
        raise ValueError(f"shapes differ: {a.shape}, {p.shape}, {n.shape}")
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if metric == "euclidean":
        d_ap, d_an = np.linalg.norm(a - p, axis=1), np.linalg.norm(a - n, axis=1)
    else:
        d_ap, d_an = 1 - (unit_rows(a) * unit_rows(p)).sum(1), 1 - (unit_rows(a) * unit_rows(n)).sum(1)
    return float(np.mean(d_ap < d_an))


# ----- what the evaluation CLI reports --------------------------------------------------
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
        correct += knn_accuracy(x[keep], y[keep], x[q:q + 1], y[q:q + 1], k=k, metric="cosine")
    return correct / len(queries)


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
        accuracies.append(linear_softmax_accuracy(x[train], y[train], x[test], y[test], seed=seed))
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
    ap = average_precisions(x, y, metric="cosine")
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


def standardise(vectors):
    """Z-score each column over the given rows (constant columns become 0)."""
    x = np.asarray(vectors, np.float64)
    return (x - x.mean(0)) / np.where(x.std(0) > 0, x.std(0), 1.0)


# Agreement with a teacher's tags and style separation live in agreement.py; their names stay here.
from training_recipes.evaluation.agreement import style_separation, tag_agreement, top_k_labels  # noqa: E402, F401
