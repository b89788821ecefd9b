"""Which model a catalog belongs to, and whether a model's queries may search it: a catalog
records its model's id, weights sha256 and source; another model's queries are refused."""

import os


def model_identity(model):
    """{"model": preset id, "model_sha256": its weights' sha256, "model_source": where to load
    it} of a loaded sdk.MusicModel, as a catalog records it."""
    from sdk.presets import PRESETS

    sha256 = (model.metadata.get("files") or {}).get("model.weights.h5")
    spec = PRESETS.get(model.preset_id)
    # A registered id loads these weights only if they are the registered ones; a directory
    # whose metadata names a registered preset (a re-export, a fine-tune) is its own source.
    registered = spec is not None and spec.weights_sha256.get("model.weights.h5") == sha256
    source = None if registered or model.directory is None else str(model.directory)
    return {"model": model.preset_id, "model_sha256": sha256, "model_source": source}


def searchable_catalog(catalog, model, allow_other_model=False):
    """`catalog` (a Catalog or a saved one's directory) as a Catalog that `model`'s queries can
    be compared with; else a clear error. A catalog made by other weights is refused (its
    rankings would look fine and mean nothing) unless `allow_other_model`."""
    from sdk.index import Catalog

    if isinstance(catalog, (str, os.PathLike)):
        catalog = Catalog.load(catalog)
    if not isinstance(catalog, Catalog):
        raise TypeError(f"catalog: expected an sdk.Catalog or a saved catalog's directory, "
                        f"got {type(catalog).__name__}")
    if catalog.embedding_size != model.embedding_size:
        raise ValueError(f"catalog holds {catalog.embedding_size}-d vectors (built with {catalog.model!r}) "
                         f"but {model.preset_id} embeds in {model.embedding_size} dimensions; "
                         "search a catalog with the model that built it")
    ours = model_identity(model)
    other = (catalog.model_sha256 and ours["model_sha256"] and catalog.model_sha256 != ours["model_sha256"]) or (
        not catalog.model_sha256 and catalog.model and catalog.model != ours["model"])
    if other and not allow_other_model:
        raise ValueError(f"catalog was built with {catalog.model!r} (weights sha256 {catalog.model_sha256 or '?'}) "
                         f"but the query model is {ours['model']!r} (weights sha256 {ours['model_sha256'] or '?'}): "
                         "vectors of different models are not comparable, so the ranking would mean nothing. "
                         "Search with the catalog's own model (music-zoo search uses it by default), rebuild the "
                         "catalog, or pass allow_other_model=True (--allow-other-model) if you know they match")
    return catalog
