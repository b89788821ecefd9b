"""Models made from a loaded one in memory: a prototype tag head (thesis Eq. 2.9) and the
metadata every derived model carries (what it came from, its card's first lines)."""

import numpy as np


def fit_prototypes(model, audio_or_catalog, labels, preset_id=None):
    """MusicModel.fit_prototypes: a new model tagging by class prototypes, `model` unchanged."""
    from zoo.heads import class_prototypes

    if hasattr(audio_or_catalog, "vector"):
        ids = list(labels)
        vectors = np.stack([audio_or_catalog.vector(i) for i in ids])
        item_labels = [labels[i] for i in ids]
    else:
        vectors = model.embed(list(audio_or_catalog))
        item_labels = list(labels)
    if len(item_labels) != len(vectors):
        raise ValueError(f"labels: {len(item_labels)} entries for {len(vectors)} items")
    item_labels = [[x] if isinstance(x, str) else list(x) for x in item_labels]
    names = sorted({label for row in item_labels for label in row})
    if not names:
        raise ValueError("labels: no label given")
    multi_hot = np.array([[name in row for name in names] for row in item_labels], np.float32)
    task = model.task.with_head({"kind": "prototypes", "classes": len(names)})
    task.tag_head[0].set_weights([class_prototypes(vectors, multi_hot)])
    record = {"kind": "class prototypes (thesis Eq. 2.9), cosine to the song embedding", "items": len(vectors)}
    return type(model).derived(model, task, derived_metadata(model, names, preset_id, record))


def derived_metadata(model, names, preset_id, record):
    """metadata.json of a model derived from `model` with a new head over `names`."""
    size = model.embedding_size
    meta = {k: v for k, v in model.metadata.items()
            if k not in ("files", "parameter_count", "date_saved", "keras_version", "card", "preset")}
    meta.update(preset=preset_id or f"{model.preset_id}-tuned", tags=list(names),
                derived_from={"preset": model.preset_id, "weights_sha256": (model.metadata.get("files") or {}).get(
                    "model.weights.h5"), **record})
    meta["outputs"] = [{"name": "embedding", "purpose": "embeddings", "size": size},
                       {"name": "tags", "purpose": "predictions", "size": len(names)}]
    meta["card"] = {"summary": f"{meta['preset']}: {model.preset_id} with a new tag head over {len(names)} "
                               f"labels ({', '.join(names[:10])}{', ...' if len(names) > 10 else ''}): "
                               f"{record['kind']}.",
                    "how_made": "Made with the SDK from " + ", ".join(f"{k} {v}" for k, v in
                                                                     meta["derived_from"].items() if v is not None)
                                + ".",
                    "not_evaluated": "Not evaluated: measure it on held-out labelled music of your own."}
    return meta
