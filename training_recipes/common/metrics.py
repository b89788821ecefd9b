"""Evaluation metrics of J. Lee, "Similarity-based Deep Learning for Music Retrieval" (KAIST 2021).

Pure numpy, plus scikit-learn where it is the standard implementation (ROC-AUC, average
precision, logistic regression).  Distances: ``"cosine"`` is ``1 - cos(a, b)`` (zero vectors have
cosine 0 to everything), ``"euclidean"`` is the L2 distance.  Rankings are by ascending distance;
exact distance ties are resolved by item index (stable sort), so results are deterministic.
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


def pairwise_distances(a, b, metric="cosine"):
    """(len(a), len(b)) distance matrix; smaller means more similar."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    a = _array(a, "a", 2).astype(np.float64)
    b = _array(b, "b", 2).astype(np.float64)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sizes differ: {a.shape[1]} vs {b.shape[1]}")
    if metric == "cosine":
        an = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
        bn = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
        return 1.0 - an @ bn.T
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(sq, 0.0))


def _leave_one_out_ranking(embeddings, metric):
    """Row q: indices of all other items, nearest first (the query itself is excluded)."""
    d = pairwise_distances(embeddings, embeddings, metric)
    np.fill_diagonal(d, np.inf)
    return np.argsort(d, axis=1, kind="stable")[:, :-1]


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
    n_q = y.sum(1)
    valid = n_q > 0
    if not valid.any():
        raise ValueError("no query has any label")
    order = _leave_one_out_ranking(emb, metric)
    retrieved = np.logical_or.accumulate(y[order], axis=1)  # (N, N-1, C) union of top-K labels
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
        def unit(x):
            return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        d_ap, d_an = 1 - (unit(a) * unit(p)).sum(1), 1 - (unit(a) * unit(n)).sum(1)
    return float(np.mean(d_ap < d_an))
