"""2-D maps of song embeddings (thesis Figure 3.5-style), coloured by a metadata label.

    embedding_map(vectors, labels, "map.png", method="tsne")
    subspace_maps(catalog, "soundtrack", "maps.png")  # one panel per sub-space, plus "full"

Figures are drawn with matplotlib's object API on the Agg canvas (no global pyplot state).
"""

from pathlib import Path

import numpy as np

__all__ = ["embedding_map", "label_groups", "labels_from_items", "project", "subspace_maps"]

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


METHODS = ("tsne", "pca", "umap")


def _project(vectors, method, perplexity, seed):
    if method == "pca":  # the two leading principal axes; exact and deterministic
        centred = vectors - vectors.mean(axis=0)
        axes = np.linalg.svd(centred, full_matrices=False)[2][:2]
        points = centred @ axes.T
        return np.pad(points, ((0, 0), (0, 2 - points.shape[1])))
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
    raise ValueError(f"method must be 'tsne', 'pca' or 'umap', not {method!r}")


def project(vectors, method="tsne", perplexity=30.0, seed=0):
    """(N, 2) coordinates of the rows of `vectors`, each L2-normalised first (t-SNE, PCA, or UMAP
    with umap-learn): the layout a map draws, for callers that draw their own."""
    vectors = np.asarray(vectors, np.float64)
    if vectors.ndim != 2 or len(vectors) < 3 or not np.all(np.isfinite(vectors)):
        raise ValueError(f"project: needs a finite (N >= 3, d) array, got shape {vectors.shape}")
    return np.asarray(_project(_unit(vectors), method, perplexity, seed))


def embedding_map(embeddings, labels, out, method="tsne", perplexity=30.0, seed=0, title=None,
                  top=_TOP_LABELS):
    """2-D map (t-SNE, PCA, or UMAP with umap-learn) of L2-normalised embeddings coloured by label;
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


# ----- one map per sub-space ------------------------------------------------------------------
def _unit(rows):
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def _layout(vectors, subspaces, source):
    """(matrix (N, d), {name: (start, stop)} of the whole space, the names to draw)."""
    if hasattr(vectors, "subspaces") and hasattr(vectors, "vector"):  # a Catalog
        layout = {str(n): (int(a), int(b)) for n, (a, b) in vectors.subspaces.items()}
        matrix = np.asarray([vectors.vector(i) for i in vectors.ids], np.float64).reshape(-1, vectors.embedding_size)
    else:
        matrix, layout = np.asarray(vectors, np.float64), None
        if matrix.ndim != 2:
            raise ValueError(f"{source}: vectors must be (N, d) or a Catalog, got shape {matrix.shape}")
        if not isinstance(subspaces, dict):
            raise ValueError(f"{source}: an array needs subspaces={{name: (start, stop)}}, got {subspaces!r}")
    if isinstance(subspaces, dict):
        layout = {str(n): (int(a), int(b)) for n, (a, b) in subspaces.items()}
        names = list(layout)
        bad = [n for n, (a, b) in layout.items() if not 0 <= a < b <= matrix.shape[1]]
        if bad:
            raise ValueError(f"{source}: sub-space {bad[0]!r} spans {list(layout[bad[0]])}, outside the "
                             f"{matrix.shape[1]} dims of the vectors")
    else:
        names = subspaces.split(",") if isinstance(subspaces, str) else list(layout if subspaces is None else subspaces)
        names = list(dict.fromkeys(str(n).strip() for n in names if str(n).strip()))
        unknown = [n for n in names if n not in layout]
        if unknown or not names:
            raise ValueError(f"{source}: unknown sub-space {', '.join(map(repr, unknown)) or '(none named)'}; "
                             f"it has {', '.join(layout)}")
    return matrix, layout, names


def _resolve_labels(labels, vectors, count, source):
    """(labels as strings, caption): a field name is read from a Catalog's items."""
    if isinstance(labels, str):
        if not hasattr(vectors, "items"):
            raise ValueError(f"{source}: labels {labels!r} is a field name; give an array one label per vector")
        return labels_from_items(vectors.items, labels, source=source), labels
    labels = [str(label) for label in labels]
    if len(labels) != count:
        raise ValueError(f"{source}: {len(labels)} labels for {count} vectors")
    return labels, "label"


def subspace_maps(vectors, labels, out, subspaces=None, *, method="tsne", panel_labels=None, full=True,
                  perplexity=30.0, seed=0, title=None, top=_TOP_LABELS, source=None):
    """One PNG of the same tracks mapped once per sub-space (each slice re-normalised and
    projected on its own) plus "full", coloured by the same labels under one legend.

    vectors: a Catalog, or an (N, d) array with subspaces={name: (start, stop)}.
    labels: one per track, or a Catalog item field name (see labels_from_items).
    subspaces: names to draw (default all); a single sub-space spanning everything is refused.
    panel_labels: {panel: labels or field} colours that panel its own way, legend inside it.
    source: what errors name (e.g. the catalog directory).
    Returns {"out", "panels": [names], "points": {name: (N, 2)}, "figure"}."""
    source = str(source or ("catalog" if hasattr(vectors, "vector") else "vectors"))
    if method not in METHODS:
        raise ValueError(f"method must be {', '.join(map(repr, METHODS))}, not {method!r}")
    matrix, layout, names = _layout(vectors, subspaces, source)
    size = matrix.shape[1]
    if len(names) == 1 and layout[names[0]] == (0, size) and full:
        raise ValueError(f"{source} has a single sub-space ({names[0]!r}, all {size} dims): a panel per "
                         "sub-space would repeat the full map; draw that with embedding_map "
                         "(music-zoo visualize map without --by-subspace)")
    if len(matrix) < 3:
        raise ValueError(f"{source}: a map needs at least 3 items, got {len(matrix)}")
    if not np.all(np.isfinite(matrix)):
        raise ValueError(f"{source}: vectors contain non-finite values")
    if full and "full" in names:
        raise ValueError(f"{source}: a sub-space is named 'full', as the whole-space panel is; pass full=False")
    shared, caption = _resolve_labels(labels, vectors, len(matrix), source)
    panels = {name: (_unit(matrix[:, a:b]), f"{name}: dims {a}-{b - 1}") for name, (a, b) in
              ((n, layout[n]) for n in names)}
    if full:
        whole = matrix.copy()
        for a, b in layout.values():
            whole[:, a:b] = _unit(matrix[:, a:b])
        panels["full"] = (_unit(whole), f"full: all {size} dims")
    own = {}
    for name, value in (panel_labels or {}).items():
        if name not in panels:
            raise ValueError(f"{source}: panel_labels names {name!r}, not a panel drawn ({', '.join(panels)})")
        own[name] = _resolve_labels(value, vectors, len(matrix), source)

    columns = 2 if len(panels) == 4 else min(3, len(panels))
    rows = -(-len(panels) // columns)
    figure = _figure(figsize=(4.2 * columns + 2.0, 3.9 * rows), layout="constrained")
    points, handles = {}, None
    for index, (name, (unit, heading)) in enumerate(panels.items()):
        ax = figure.add_subplot(rows, columns, index + 1)
        points[name] = np.asarray(_project(unit, method, perplexity, seed))
        colour_by, panel_caption = own.get(name, (shared, caption))
        groups = label_groups(colour_by, top)
        palette = _palette(min(len(groups), top)) + [(0.6, 0.6, 0.6, 0.6)]
        drawn = [ax.scatter(points[name][m, 0], points[name][m, 1], s=10, color=c, label=f"{g} ({int(m.sum())})")
                 for (g, m), c in zip(groups, palette)]
        if name in own:
            ax.legend(fontsize=6, frameon=False, title=f"by {panel_caption}", title_fontsize=7)
            heading += f" (by {panel_caption})"
        elif handles is None:
            handles = drawn
        ax.set_title(heading, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if handles is not None:
        distinct = len(set(shared))
        figure.legend(handles=handles, loc="outside right upper", fontsize=7, frameon=False,
                      title=f"by {caption}: {distinct} labels" + (f", top {top}" if distinct > top else ""))
    figure.suptitle(title or f"{method.upper()} of {len(matrix)} songs, one map per sub-space", fontsize=10)
    return {"out": str(_save(figure, out)), "panels": list(panels), "points": points, "figure": figure}
