"""2-D maps of song embeddings (thesis Figure 3.5-style), coloured by a metadata label.

    embedding_map(vectors, labels, "map.png", method="tsne")

Figures are drawn with matplotlib's object API on the Agg canvas (no global pyplot state).
"""

from pathlib import Path

import numpy as np

__all__ = ["embedding_map", "label_groups", "labels_from_items"]

_TOP_LABELS = 20


def _save(figure, out):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(figure)
    figure.savefig(out, format="png", dpi=100, bbox_inches="tight")
    return out


def _figure(**kwargs):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ValueError("drawing needs matplotlib: pip install 'music-retrieval-zoo[viz]' "
                         "(or pip install matplotlib)") from None
    return Figure(**kwargs)


def labels_from_items(items, field, source="metadata"):
    """One label per catalog / manifest item from its `field` ("folder": the parent folder of
    its path, when no item has a "folder" field). A list value gives its first entry; items
    without the field get "(none)"; a field no item has raises ValueError naming `source`."""
    items = list(items)
    if not any(field in item for item in items):
        if field == "folder" and all(item.get("path") for item in items):
            return [Path(item["path"]).parent.name for item in items]
        fields = sorted({k for item in items for k in item if k not in ("id", "path")})
        raise ValueError(f"{source}: no {field!r} field in its {len(items)} items "
                         f"(fields: {', '.join(fields) or 'none'}; 'folder' = parent folder)")
    labels = []
    for item in items:
        value = item.get(field)
        if isinstance(value, (list, tuple)):
            value = value[0] if value else None
        labels.append("(none)" if value in (None, "") else str(value))
    return labels


def _project(vectors, method, perplexity, seed):
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = float(max(1.0, min(perplexity, (len(vectors) - 1) / 3)))  # sklearn: < n
        return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(vectors)
    if method == "umap":
        try:
            import umap
        except ImportError:
            raise ValueError("--method umap needs umap-learn: pip install umap-learn "
                             "(or use --method tsne)") from None
        return umap.UMAP(n_neighbors=min(15, len(vectors) - 1), random_state=seed).fit_transform(vectors)
    raise ValueError(f"method must be 'tsne' or 'umap', not {method!r}")


def embedding_map(embeddings, labels, out, method="tsne", perplexity=30.0, seed=0, title=None,
                  top=_TOP_LABELS):
    """2-D map (t-SNE, or UMAP with umap-learn) of L2-normalised embeddings coloured by label;
    the `top` most frequent labels get a colour and a legend entry, the rest are "other".
    Saves a PNG at `out`; returns the (N, 2) coordinates."""
    vectors = np.asarray(embeddings, np.float64)
    labels = [str(label) for label in labels]
    if vectors.ndim != 2 or len(vectors) < 3:
        raise ValueError(f"a map needs at least 3 items, got {len(vectors) if vectors.ndim == 2 else 0}")
    if len(labels) != len(vectors):
        raise ValueError(f"{len(labels)} labels for {len(vectors)} embeddings")
    if not np.all(np.isfinite(vectors)):
        raise ValueError("embeddings contain non-finite values")
    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    points = np.asarray(_project(vectors, method, perplexity, seed))
    groups = label_groups(labels, top)
    figure = _figure(figsize=(9, 6.5), layout="constrained")
    ax = figure.add_subplot()
    palette = _palette(min(len(groups), top)) + [(0.6, 0.6, 0.6, 0.6)]
    for (name, members), colour in zip(groups, palette):
        ax.scatter(points[members, 0], points[members, 1], s=14, color=colour,
                   label=f"{name} ({int(members.sum())})")
    distinct = len(set(labels))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False,
              title=f"{distinct} labels" + (f", top {top}" if distinct > top else ""))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"{method.upper()} of {len(vectors)} song embeddings", fontsize=10)
    _save(figure, out)
    return points


def label_groups(labels, top=_TOP_LABELS):
    """[(label, boolean mask)] for the `top` most frequent labels (ties by name), then
    ("other", mask) for the rest when there are more."""
    labels = np.asarray([str(label) for label in labels])
    names, counts = np.unique(labels, return_counts=True)
    ranked = [str(names[i]) for i in np.lexsort((names, -counts))]
    groups = [(name, labels == name) for name in ranked[:top]]
    if len(ranked) > top:
        groups.append(("other", ~np.isin(labels, ranked[:top])))
    return groups


def _palette(n):
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]
