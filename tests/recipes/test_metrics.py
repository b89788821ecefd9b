"""Evaluation metrics of the thesis, checked on small hand-computed cases."""

import numpy as np
import pytest

from training_recipes.evaluation.metrics import (
    knn_accuracy,
    linear_softmax_accuracy,
    mean_average_precision,
    pr_auc_macro,
    recall_at_k,
    roc_auc_macro,
    triplet_accuracy,
)


def unit_vectors(degrees):
    r = np.deg2rad(np.asarray(degrees, dtype=float))
    return np.stack([np.cos(r), np.sin(r)], axis=1)


# Items on the unit circle at 0, 10, 30, 90 degrees: the cosine distance grows with the angle
# between two items, so rankings follow the angle differences
#   0-1: 10, 0-2: 30, 0-3: 90, 1-2: 20, 1-3: 80, 2-3: 60.
# Leave-one-out rankings (nearest first):
#   q0: 1, 2, 3    q1: 0, 2, 3    q2: 1, 0, 3    q3: 2, 1, 0
FOUR = unit_vectors([0, 10, 30, 90])


# ------------------------------------------------------------------ ROC / PR AUC
# tag 0: y = [1, 0, 1, 0], s = [.9, .8, .3, .1]
#   ROC: positive-negative pairs ranked right: .9>.8, .9>.1, .3>.1 (not .3>.8) -> 3/4
#   AP: positives at ranks 1 and 3 -> (1/1 + 2/3) / 2 = 5/6
# tag 1: y = [0, 0, 1, 1], s = [.1, .2, .3, .4] -> perfect: ROC 1, AP 1
# tag 2: no positive -> skipped
Y = np.array([[1, 0, 0], [0, 0, 0], [1, 1, 0], [0, 1, 0]])
S = np.array([[.9, .1, .5], [.8, .2, .5], [.3, .3, .5], [.1, .4, .5]])


def test_roc_auc_macro_hand_case_skips_tag_without_positives():
    assert roc_auc_macro(Y, S) == pytest.approx((0.75 + 1.0) / 2)
    d = roc_auc_macro(Y, S, return_details=True)
    assert d["macro"] == pytest.approx(0.875)
    assert d["n_used"] == 2 and d["skipped"] == [2]
    np.testing.assert_allclose(d["per_tag"][:2], [0.75, 1.0])
    assert np.isnan(d["per_tag"][2])


def test_pr_auc_macro_hand_case():
    assert pr_auc_macro(Y, S) == pytest.approx((5 / 6 + 1.0) / 2)  # 11/12
    assert pr_auc_macro(Y, S, return_details=True)["skipped"] == [2]


def test_auc_skips_tag_with_only_positives():
    y = Y.copy()
    y[:, 2] = 1  # no negatives in tag 2
    assert roc_auc_macro(y, S, return_details=True)["skipped"] == [2]


def test_auc_errors():
    with pytest.raises(ValueError, match="no usable tag"):
        roc_auc_macro(np.zeros((4, 2)), S[:, :2])
    with pytest.raises(ValueError, match="no usable tag"):
        pr_auc_macro(np.ones((4, 2)), S[:, :2])
    with pytest.raises(ValueError, match="differ in shape"):
        roc_auc_macro(Y, S[:3])
    with pytest.raises(ValueError, match="empty"):
        roc_auc_macro(np.zeros((0, 3)), np.zeros((0, 3)))
    with pytest.raises(ValueError, match="binary"):
        pr_auc_macro(Y * 2, S)


def test_auc_matches_sklearn_on_random_data():  # secondary check
    from sklearn.metrics import average_precision_score, roc_auc_score

    rng = np.random.default_rng(0)
    y = (rng.random((200, 6)) < 0.3).astype(int)
    s = rng.random((200, 6)) + 0.5 * y
    assert roc_auc_macro(y, s) == pytest.approx(roc_auc_score(y, s, average="macro"))
    assert pr_auc_macro(y, s) == pytest.approx(average_precision_score(y, s, average="macro"))


# ------------------------------------------------------------------ MAP (Eq. 4.3-4.4)
def test_map_single_label_hand_case():
    # labels [0, 1, 1, 0]; with the rankings above, each query has one relevant item:
    #   q0 (0): relevant 3 at rank 3 -> AP = 1/3
    #   q1 (1): relevant 2 at rank 2 -> AP = 1/2
    #   q2 (1): relevant 1 at rank 1 -> AP = 1
    #   q3 (0): relevant 0 at rank 3 -> AP = 1/3
    # MAP = (1/3 + 1/2 + 1 + 1/3) / 4 = 13/24
    assert mean_average_precision(FOUR, [0, 1, 1, 0]) == pytest.approx(13 / 24)
    # on unit vectors the euclidean ranking is the same
    assert mean_average_precision(FOUR, [0, 1, 1, 0], metric="euclidean") == pytest.approx(13 / 24)


def test_map_multi_hot_hand_case_with_several_relevant_items():
    # tags (A, B): item0 {A}, item1 {B}, item2 {A, B}, item3 {A}; relevant = shares a tag
    #   q0 {A}:   ranking 1 (no), 2 (yes), 3 (yes) -> (P@2 + P@3) / 2 = (1/2 + 2/3) / 2 = 7/12
    #   q1 {B}:   ranking 0 (no), 2 (yes), 3 (no)  -> P@2 = 1/2
    #   q2 {A,B}: ranking 1, 0, 3 all relevant      -> (1 + 1 + 1) / 3 = 1
    #   q3 {A}:   ranking 2 (yes), 1 (no), 0 (yes) -> (P@1 + P@3) / 2 = (1 + 2/3) / 2 = 5/6
    # MAP = (7/12 + 6/12 + 12/12 + 10/12) / 4 = 35/48
    labels = np.array([[1, 0], [0, 1], [1, 1], [1, 0]])
    assert mean_average_precision(FOUR, labels) == pytest.approx(35 / 48)


def test_map_excludes_queries_without_relevant_items():
    # labels [0, 1, 1, 2]: q0 and q3 have no relevant item and are left out of Q (Eq. 4.4)
    #   q1: relevant 2 at rank 2 -> 1/2;  q2: relevant 1 at rank 1 -> 1;  MAP = 3/4
    assert mean_average_precision(FOUR, [0, 1, 1, 2]) == pytest.approx(3 / 4)


def test_map_euclidean_differs_from_cosine():
    # same directions, different lengths: item1 = 10 * item0 direction
    emb = np.array([[1.0, 0.0], [10.0, 0.0], [0.0, 1.0]])
    # cosine: q0 nearest is 1 (distance 0); euclidean: q0 nearest is 2 (sqrt 2 < 9)
    # labels [0, 1, 1]: q0 has no relevant -> skipped.
    #   cosine:    q1 ranking 0, 2 -> relevant 2 at rank 2 -> 1/2; q2 ranking 0, 1 (tie 1 vs 1,
    #              broken by index) -> relevant at rank 2 -> 1/2; MAP = 1/2
    #   euclidean: q1 ranking 2 (sqrt 101) vs 0 (9) -> 0 first, 2 at rank 2 -> 1/2;
    #              q2 ranking 0 (sqrt 2), 1 (sqrt 101) -> rank 2 -> 1/2; MAP = 1/2
    assert mean_average_precision(emb, [0, 1, 1]) == pytest.approx(0.5)
    # labels [0, 0, 1]: cosine q0 -> 1 at rank 1 (AP 1), q1 -> 0 at rank 1 (AP 1): MAP 1
    #                   euclidean q0 -> ranking 2, 1 -> AP 1/2; q1 -> 0 at rank 1: MAP 3/4
    assert mean_average_precision(emb, [0, 0, 1]) == pytest.approx(1.0)
    assert mean_average_precision(emb, [0, 0, 1], metric="euclidean") == pytest.approx(0.75)


def test_map_errors():
    with pytest.raises(ValueError, match="mismatched"):
        mean_average_precision(FOUR, [0, 1, 1])
    with pytest.raises(ValueError, match="empty"):
        mean_average_precision(np.zeros((0, 2)), [])
    with pytest.raises(ValueError, match="no query"):
        mean_average_precision(FOUR, [0, 1, 2, 3])
    with pytest.raises(ValueError, match="metric"):
        mean_average_precision(FOUR, [0, 1, 1, 0], metric="manhattan")


# ------------------------------------------------------------------ k-NN
TRAIN_X = np.array([[0.0, 0], [1, 0], [2, 0], [10, 0], [11, 0]])
TRAIN_Y = np.array(["a", "a", "b", "b", "b"])


def test_knn_accuracy_hand_case():
    # k = 3, euclidean on a line:
    #   0.4  -> neighbours 0 (.4, a), 1 (.6, a), 2 (1.6, b): a wins 2-1 -> a (true a: right)
    #   10.2 -> 3 (.2, b), 4 (.8, b), 2 (8.2, b)          -> b        (true b: right)
    #   1.6  -> 2 (.4, b), 1 (.6, a), 0 (1.6, a): a wins 2-1 -> a (true b: wrong)
    test_x = np.array([[0.4, 0], [10.2, 0], [1.6, 0]])
    acc = knn_accuracy(TRAIN_X, TRAIN_Y, test_x, ["a", "b", "b"], k=3, metric="euclidean")
    assert acc == pytest.approx(2 / 3)


def test_knn_tie_broken_by_smallest_summed_distance():
    # k = 2 gives one vote each to a and b:
    #   1.4 -> 1 (.4, a), 2 (.6, b): summed distance a .4 < b .6 -> a
    #   1.6 -> 2 (.4, b), 1 (.6, a): -> b
    test_x = np.array([[1.4, 0], [1.6, 0]])
    assert knn_accuracy(TRAIN_X, TRAIN_Y, test_x, ["a", "b"], k=2, metric="euclidean") == 1.0
    assert knn_accuracy(TRAIN_X, TRAIN_Y, test_x, ["b", "a"], k=2, metric="euclidean") == 0.0


def test_knn_errors():
    with pytest.raises(ValueError, match="k must be"):
        knn_accuracy(TRAIN_X, TRAIN_Y, TRAIN_X, TRAIN_Y, k=6)
    with pytest.raises(ValueError, match="mismatched"):
        knn_accuracy(TRAIN_X, TRAIN_Y[:4], TRAIN_X, TRAIN_Y, k=1)
    with pytest.raises(ValueError, match="empty"):
        knn_accuracy(TRAIN_X, TRAIN_Y, np.zeros((0, 2)), [], k=1)


# ------------------------------------------------------------------ linear softmax
def test_linear_softmax_accuracy_on_separable_blobs():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0, 0], [5, 0, 0], [0, 5, 0]])
    train_y = np.repeat([0, 1, 2], 20)
    train_x = centres[train_y] + 0.3 * rng.standard_normal((60, 3))
    test_x = centres[[0, 1, 2, 2]] + 0.1 * rng.standard_normal((4, 3))
    assert linear_softmax_accuracy(train_x, train_y, test_x, [0, 1, 2, 2]) == 1.0
    # one test label deliberately wrong -> 3/4
    assert linear_softmax_accuracy(train_x, train_y, test_x, [0, 1, 2, 0]) == 0.75
    with pytest.raises(ValueError, match="mismatched"):
        linear_softmax_accuracy(train_x, train_y[:10], test_x, [0, 1, 2, 2])
    with pytest.raises(ValueError, match="2 classes"):
        linear_softmax_accuracy(train_x, np.zeros(60), test_x, [0, 1, 2, 2])


# ------------------------------------------------------------------ Recall@K (Eq. 5.17)
def test_recall_at_k_hand_case():
    # 3 items at 0, 10, 90 degrees; tags (A, B, C): item0 {A,B}, item1 {A}, item2 {B,C}
    # rankings: q0: 1 (10), 2 (90);  q1: 0 (10), 2 (80);  q2: 1 (80), 0 (90)
    #   q0 {A,B}: K=1 union {A}     -> 1/2;  K=2 union {A,B,C} -> 2/2
    #   q1 {A}:   K=1 union {A,B}   -> 1/1;  K=2               -> 1/1
    #   q2 {B,C}: K=1 union {A}     -> 0/2;  K=2 union {A,B}   -> 1/2
    # R@1 = (1/2 + 1 + 0) / 3 = 1/2;  R@2 = (1 + 1 + 1/2) / 3 = 5/6
    emb = unit_vectors([0, 10, 90])
    labels = np.array([[1, 1, 0], [1, 0, 0], [0, 1, 1]])
    r = recall_at_k(emb, labels, ks=(1, 2))
    assert set(r) == {1, 2}
    assert r[1] == pytest.approx(1 / 2) and r[2] == pytest.approx(5 / 6)
    # a fourth, unlabelled item at 200 degrees is farther than every top-2 item above
    # (q0: 160, q1: 170, q2: 110), so it changes nothing and is itself excluded from N
    emb4 = unit_vectors([0, 10, 90, 200])
    labels4 = np.vstack([labels, [0, 0, 0]])
    r4 = recall_at_k(emb4, labels4, ks=(1, 2))
    assert r4[1] == pytest.approx(1 / 2) and r4[2] == pytest.approx(5 / 6)


def test_recall_at_k_errors():
    emb = unit_vectors([0, 10, 90])
    labels = np.array([[1, 1, 0], [1, 0, 0], [0, 1, 1]])
    with pytest.raises(ValueError, match="K must be"):
        recall_at_k(emb, labels)  # default ks go up to 8 > N - 1
    with pytest.raises(ValueError, match="mismatched"):
        recall_at_k(emb, labels[:2], ks=(1,))
    with pytest.raises(ValueError, match="no query"):
        recall_at_k(emb, np.zeros((3, 3)), ks=(1,))


# ------------------------------------------------------------------ triplet prediction
def test_triplet_accuracy_euclidean_one_wrong():
    # d(a,p) vs d(a,n): 1 < 2 right;  3 < 1 wrong;  0.5 < sqrt(8) right  -> 2/3
    a = [[0, 0], [0, 0], [1, 1]]
    p = [[1, 0], [3, 0], [1, 1.5]]
    n = [[0, 2], [0, 1], [-1, -1]]
    assert triplet_accuracy(a, p, n) == pytest.approx(2 / 3)


def test_triplet_accuracy_cosine_and_ties():
    # triplet 1: p at 45 deg, n at 90 deg -> right under both metrics
    # triplet 2: p = -a (cosine distance 2), n nearly along a -> wrong for cosine,
    #            but euclidean d(a,p) = 2 < d(a,n) = sqrt(82) -> right
    a = [[1, 0], [1, 0]]
    p = [[1, 1], [-1, 0]]
    n = [[0, 1], [10, 1]]
    assert triplet_accuracy(a, p, n, metric="cosine") == 0.5
    assert triplet_accuracy(a, p, n, metric="euclidean") == 1.0
    # exact tie (p == n) counts as wrong
    assert triplet_accuracy([[0, 0]], [[1, 0]], [[1, 0]]) == 0.0


def test_triplet_accuracy_errors():
    with pytest.raises(ValueError, match="mismatched"):
        triplet_accuracy([[0, 0]], [[1, 0], [1, 0]], [[1, 0]])
    with pytest.raises(ValueError, match="empty"):
        triplet_accuracy(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros((0, 2)))
    with pytest.raises(ValueError, match="metric"):
        triplet_accuracy([[0, 0]], [[1, 0]], [[1, 0]], metric="dot")


def test_map_and_recall_match_brute_force_on_random_data():  # secondary check
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(1)
    emb = rng.standard_normal((30, 5))
    labels = (rng.random((30, 4)) < 0.3).astype(int)
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    aps, recalls = [], []
    for q in range(30):
        others = np.delete(np.arange(30), q)
        sim = unit[others] @ unit[q]
        rel = (labels[others] @ labels[q]) > 0
        if rel.any():
            aps.append(average_precision_score(rel, sim))
        if labels[q].any():
            top = others[np.argsort(-sim)[:4]]
            recalls.append((labels[top].any(0) & (labels[q] > 0)).sum() / labels[q].sum())
    assert mean_average_precision(emb, labels) == pytest.approx(np.mean(aps))
    assert recall_at_k(emb, labels, ks=(4,))[4] == pytest.approx(np.mean(recalls))
