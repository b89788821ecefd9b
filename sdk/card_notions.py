"""The multidimensional part of a card: what `python -m training_recipes.evaluation --notions`
measured (thesis Tables 5.3 and 5.5 in shape), as Markdown tables. Every figure comes from the
report; none is held here."""

FULL = "all"


def _cell(value, best=False):
    if value is None:
        return "-"
    text = f"{value:.3f}"
    return f"**{text}**" if best else text


def notion_lines(report, rows, self_key):
    """Markdown lines, or [] when the report has no notion figures. `rows` are the card's
    [(label, key, result)]; the preset `self_key` is shown per sub-space, the others whole."""
    top = report.get("notions")
    own = next((r for _, key, r in rows if key == self_key), None)
    if not top or own is None or "notions" not in own:
        return []
    notions = list(own["notions"]["triplet_accuracy"])
    spaces = list(own["notions"]["spaces"])
    label = {key: text for text, key, _ in rows}
    table = [(f"{label[self_key]}: {space}" + (" (whole)" if space == FULL else " sub-space"),
              own["notions"]["triplet_accuracy"], space) for space in spaces]
    table += [(text, r["notions"]["triplet_accuracy"], FULL) for text, key, r in rows
              if key != self_key and "notions" in r]
    best = {n: max((acc[n].get(space) or 0.0) for _, acc, space in table) for n in notions}
    counts = top.get("triplets", {})
    settings = top.get("settings", {})
    recalls = {key: (r["notions"]["recall_at_k"] or {}).get("teacher_tags") or {} for _, key, r in rows
               if "notions" in r}
    ks = [k for k in ("R@1", "R@8") if any(k in rk for rk in recalls.values())]
    by_label = {text: key for text, key, _ in rows}
    lines = ["", "### Along each notion (thesis Table 5.5)", "",
             f"Triplet accuracy: for triplets (anchor, positive, negative) of the same tracks, the share where "
             f"the anchor is closer (cosine) to the positive. Positive = the same top tag of {top.get('teacher')} "
             f"within the notion (tempo: within {settings.get('tempo_tolerance_bpm', 5):g} BPM by librosa's beat "
             "tracker), negative = another. Triplets per notion: "
             + ", ".join(f"{n} {counts.get(n, 0)}" for n in notions) + ". Best per column in bold. "
             + (f"{' and '.join(ks)}: recall at K in the whole space, relevant = shares one of "
                f"{top.get('teacher')}'s top {settings.get('recall_teacher_top_k', 3)} tags." if ks else ""), "",
             "| space | " + " | ".join(notions + ks) + " |", "|---" * (len(notions) + len(ks) + 1) + "|"]
    for name, accuracy, space in table:
        key = self_key if name.startswith(label[self_key] + ":") else by_label.get(name)
        recall = recalls.get(key, {}) if space == FULL else {}
        lines.append(f"| {name} | " + " | ".join(
            [_cell(accuracy[n].get(space), accuracy[n].get(space) is not None and accuracy[n].get(space) == best[n])
             for n in notions] + [_cell(recall.get(k)) if recall else "" for k in ks]) + " |")
    overlap = own["notions"].get("subspace_overlap") or {}
    pairs = [(s, t, v) for s, others in overlap.items() for t, v in others.items()]
    if pairs:
        lines += ["", f"Top-{settings.get('overlap_k', 10)} overlap between sub-spaces (share of the same "
                      "neighbours; 1 = the sub-spaces agree): "
                  + ", ".join(f"{s} / {t} {_cell(v)}" for s, t, v in pairs) + "."]
    return lines
