"""What `MusicModel.similar()` accepts as a query, turned into a vector of the catalog's space.

A query is a catalog id; an audio file; a tag, artist or album named in the catalog's metadata
(the prototype of its songs, thesis Eq. 2.9); one of the model's own tags (`"tag:jazz"`, or plain
`"jazz"` when the catalog names nothing so): its class vector, when the tag head scores classes in
the embedding space (a disentangled head's centroids c_z in their notion's sub-space, Eq. 5.16,
or fitted prototypes); a vector; a list of those (their mean); or {sub-space: query}, each part
searched in its own sub-space.
"""

import numpy as np

from sdk import checks
from sdk.audio import AudioError

TAG_PREFIX = "tag:"


def unit(vector):
    return vector / (np.linalg.norm(vector) + 1e-12)


def tag_vectors(model):
    """{tag: (embedding_size,) unit vector in its sub-space, zeros elsewhere} of a model whose
    tags are scored in its embedding space, else {}."""
    cached = getattr(model, "_tag_vectors", None)
    if cached is not None:
        return cached
    vectors, norms = _tag_vectors_and_norms(model)
    model._tag_vectors, model._tag_norms = vectors, norms
    return vectors


def tag_norms(model):
    """{tag: scale}: the head's score of a unit embedding is this scale times the cosine to the
    tag's unit vector (a disentangled head: its class vector's length; prototypes: 1), so
    scale x cosine ranks tags the way the head does."""
    tag_vectors(model)
    return model._tag_norms


def _tag_vectors_and_norms(model):
    import keras

    from zoo.heads import PrototypeHead
    from zoo.inception_classifiers import SubspaceClassifier

    vectors, norms, size = {}, {}, model.embedding_size
    for layer in model.task.tag_head:
        if isinstance(layer, SubspaceClassifier):
            columns = {}
            for (name, classes), centroids in zip(layer._groups, layer.centroids):
                start, stop = layer.subspaces[name]
                weights = np.asarray(keras.ops.convert_to_numpy(centroids), np.float32)
                for column, z in enumerate(classes):
                    columns[z] = (start, stop, weights[:, column])
            for z, tag in enumerate(model.tags):
                start, stop, centroid = columns[z]
                vectors[tag] = np.zeros(size, np.float32)
                vectors[tag][start:stop] = unit(centroid)
                norms[tag] = float(np.linalg.norm(centroid))
        elif isinstance(layer, PrototypeHead):
            prototypes = np.asarray(keras.ops.convert_to_numpy(layer.prototypes), np.float32)
            vectors = {tag: unit(row) for tag, row in zip(model.tags, prototypes)}
            norms = dict.fromkeys(model.tags, 1.0)  # it scores by plain cosine (Eq. 2.9)
    return vectors, norms


def tag_subspace(model, tag, layout):
    """The sub-space of `layout` that holds the model tag's vector, or None for the whole space."""
    vector = tag_vectors(model)[tag]
    for name, (start, stop) in layout.items():
        if np.any(vector[start:stop]) and not np.any(np.delete(vector, np.s_[start:stop])):
            return name
    return None


def model_tag(model, text):
    """The model tag `text` names ("tag:NAME", or a plain NAME), or None; callers first check that
    the catalog does not name a plain NAME itself."""
    forced = text.startswith(TAG_PREFIX)
    name = text[len(TAG_PREFIX):] if forced else text
    vectors = tag_vectors(model)
    if name in vectors:
        return name
    if forced:
        if not vectors:
            raise ValueError(f"query {text!r}: {model.preset_id or 'this model'}'s tags are not scored in its "
                             "embedding space, so they have no vector to search with")
        raise ValueError(f"query {text!r}: no such tag; the model's tags are {', '.join(vectors)}")
    return None


def default_weights(model, query, catalog):
    """The sub-space weights a query implies: each named part of {sub-space: query}, or a model
    tag's own sub-space; None (the whole space) otherwise."""
    if isinstance(query, dict):
        return {name: 1.0 for name in query}
    if isinstance(query, str) and query not in catalog:
        named = not query.startswith(TAG_PREFIX) and catalog.ids_matching(query)
        tag = None if named else model_tag(model, query)
        home = None if tag is None else tag_subspace(model, tag, catalog.subspaces)
        if home is not None:
            return {home: 1.0}
    return None


def query_vector(model, query, catalog, subspace=None):
    """Query -> (vector, ids to exclude from the results); `subspace` names the part of a
    {sub-space: query} being read."""
    if isinstance(query, dict):
        vector, exclude = np.zeros(model.embedding_size, np.float32), set()
        layout = catalog.subspaces
        for name, sub_query in query.items():
            if name not in layout:
                raise ValueError(f"unknown sub-space {name!r}; this catalog has {list(layout)}")
            start, stop = layout[name]
            part, sub_exclude = query_vector(model, checks.query(sub_query), catalog, name)
            part = part[start:stop]
            vector[start:stop] = part / (np.linalg.norm(part) + 1e-12)
            exclude |= sub_exclude  # a catalog item queried in any sub-space is not its own result
        return vector, exclude
    if isinstance(query, np.ndarray):
        if query.ndim == 1 and query.shape[0] == model.embedding_size:
            return query.astype(np.float32), set()
        raise ValueError("a numpy query is an embedding; pass audio as a file path, or embed(array, sr) first")
    if isinstance(query, (list, tuple)):
        parts = [query_vector(model, q, catalog, subspace) for q in query]
        return np.mean([unit(p[0]) for p in parts], 0), set().union(*(p[1] for p in parts))
    text = str(query)
    if text in catalog:
        return catalog.vector(text), {text}
    members = [] if text.startswith(TAG_PREFIX) else catalog.ids_matching(text)
    if members:
        # A tag, artist or album named in the catalog metadata: its prototype (Eq. 2.9).
        return np.mean([unit(catalog.vector(i)) for i in members], 0), set()
    tag = model_tag(model, text)
    if tag is not None:
        home = tag_subspace(model, tag, catalog.subspaces)
        if subspace is not None and home is not None and home != subspace:
            raise ValueError(f"tag {tag!r} belongs to the {home!r} sub-space; query it as {{{home!r}: {tag!r}}}, "
                             f"not under {subspace!r}")
        return tag_vectors(model)[tag], set()
    try:
        return model.embed(text), set()
    except AudioError as error:
        hint = f", a tag of the model ({', '.join(list(tag_vectors(model))[:5])}, ...)" if tag_vectors(model) else ""
        raise ValueError(f"query {text!r} is not a catalog id, a tag/artist/album in the catalog{hint}, "
                         f"or readable audio ({error})") from error
