"""What the demo shows, as plain data and HTML: result cards, the query's tags, the map's points."""

import html
import urllib.parse

import numpy as np
import pandas as pd

from demo.engine import FULL, track_label

CSS = """
.result-card {display:flex; gap:1em; align-items:center; padding:.35em .5em; border-radius:6px;}
.result-card .rank {font-weight:700; min-width:1.8em; text-align:right;}
.result-card .meta {flex:2; min-width:14em;}
.result-card .meta .title {font-weight:600;}
.result-card .meta .sub {font-size:.85em; opacity:.8;}
.result-card audio {height:2.2em; max-width:16em;}
.result-card .bars {flex:1; min-width:11em; font-size:.75em;}
.bar-row {display:flex; align-items:center; gap:.4em;}
.bar-row .name {width:5.5em; text-align:right;}
.bar-row .bar {flex:1; height:.6em; background:#8884; border-radius:3px; overflow:hidden;}
.bar-row .bar span {display:block; height:100%; background:#e4572e;}
.result-card.liked {outline:2px solid #2ca02c;} .result-card.disliked {opacity:.55;}
"""

MAP_STYLE = {"catalog": ("#b8b8b8", "o", 14), "result": ("#e4572e", "o", 40), "liked": ("#2ca02c", "o", 60),
             "query": ("#1f77b4", "*", 260)}


def file_url(path):
    """The URL Gradio serves an allowed file at."""
    return "/gradio_api/file=" + urllib.parse.quote(str(path))


def result_html(rank, hit, audio_path, subspaces, rating=None, spread=None):
    """One result as HTML: rank, title, soundtrack, composer, licence, a player and a bar per
    dimension: the cosine in that sub-space ("full": their mean), the bar placing it between
    the `spread` {dimension: (low, high)} of the query's cosines to the catalog (else 0..1)."""
    esc = lambda value: html.escape(str(value)) if value not in (None, "") else "—"
    scores = dict(hit.get("subspace_scores") or {})
    bars = [(name, scores[name]) for name in subspaces if name in scores]
    bars.append((FULL, float(np.mean(list(scores.values()))) if scores else hit["score"]))
    def width(name, value):
        low, high = (spread or {}).get(name, (0.0, 1.0))
        return max(0.02, min(1.0, (value - low) / max(high - low, 1e-6)))

    bar_html = "".join(
        f'<div class="bar-row" title="{esc(name)}: cosine {value:.3f}; the bar spans the 5th to 95th percentile '
        f'of the query\'s cosines to the catalog"><span class="name">{esc(name)}</span><span class="bar">'
        f'<span style="width:{width(name, value) * 100:.0f}%"></span></span><span class="value">{value:.2f}</span>'
        f'</div>' for name, value in bars)
    player = (f'<audio controls preload="none" src="{html.escape(file_url(audio_path))}"></audio>'
              if audio_path else '<span class="sub">(audio not available)</span>')
    classes = "result-card" + (f" {rating}" if rating else "")
    return (f'<div class="{classes}" data-id="{html.escape(hit["id"])}" data-score="{hit["score"]:.5f}"><span class="rank">{rank}</span>'
            f'<div class="meta"><div class="title">{esc(hit.get("title") or track_label(hit))}</div>'
            f'<div class="sub">{esc(hit.get("soundtrack") or hit.get("album") or hit.get("folder"))} · '
            f'{esc(hit.get("composer") or hit.get("artist"))} · licence {esc(hit.get("licence"))} · '
            f'score {hit["score"]:.3f}</div></div>{player}<div class="bars">{bar_html}</div></div>')


def tags_markdown(top_tags, fallback=None):
    """The query's nearest model tags per sub-space, as Markdown. Names only: the cosines to
    the tags' class vectors rank them but are no probabilities (most are negative)."""
    if top_tags:
        parts = [f"**{home}**: " + ", ".join(tag for tag, _ in pairs)
                 for home, pairs in top_tags.items()]
        return "Query's top tags — " + " · ".join(parts)
    if fallback:
        return "Query's top tags — " + ", ".join(fallback)
    return ""


def map_frame(engine, points, panel, query=None, hits=(), positives=()):
    """DataFrame (x, y, role, title) of the catalog's map by `panel`, the results and liked
    tracks marked, and the query placed at the mean of its nearest tracks in that panel."""
    catalog = engine.catalog
    coords = points.get(panel, points[FULL])
    role = np.array(["catalog"] * len(catalog), dtype=object)
    rows = {id: r for r, id in enumerate(catalog.ids)}
    role[[rows[h["id"]] for h in hits if h["id"] in rows]] = "result"
    role[[rows[p] for p in positives if p in rows]] = "liked"
    frame = pd.DataFrame({"x": coords[:, 0], "y": coords[:, 1], "role": role,
                          "title": [track_label(item) for item in catalog.items]})
    if query is not None and len(catalog):
        ids, cos = engine.neighbours(query, panel)
        weight = np.clip(cos, 1e-3, None)
        where = coords[[rows[i] for i in ids]]
        x, y = (where * weight[:, None]).sum(0) / weight.sum()
        frame = pd.concat([frame, pd.DataFrame({"x": [x], "y": [y], "role": ["query"],
                                                "title": [f"query: {query.label}"]})], ignore_index=True)
    order = {"catalog": 0, "result": 1, "liked": 2, "query": 3}  # drawn last = on top
    return frame.sort_values("role", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)


def map_figure(frame, panel, method="tsne"):
    """A matplotlib Figure of map_frame's points, one colour per role, the query as a star."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.2, 4.6), layout="constrained")
    ax = figure.add_subplot()
    for role, (colour, marker, size) in MAP_STYLE.items():
        rows = frame[frame["role"] == role]
        if len(rows):
            ax.scatter(rows["x"], rows["y"], s=size, c=colour, marker=marker, label=f"{role} ({len(rows)})",
                       edgecolors="white" if role != "catalog" else "none", linewidths=0.5)
    ax.set_xticks([])
    ax.set_yticks([])
    name = {"tsne": "t-SNE", "pca": "PCA", "umap": "UMAP"}.get(method, method)
    ax.set_title(f"catalog laid out by {panel} ({name})" if panel != FULL else f"catalog, whole space ({name})",
                 fontsize=9)
    ax.legend(fontsize=7, loc="best", frameon=False)
    return figure
