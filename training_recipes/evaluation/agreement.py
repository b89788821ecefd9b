"""Agreement of a student's tag scores with a teacher's, and how well style tags separate
soundtracks of different styles: what the evaluation CLI reports as "tag_agreement" and
"style_separation" (definitions in metrics.py's docstring)."""

import numpy as np

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
