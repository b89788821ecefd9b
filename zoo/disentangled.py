"""The disentangled classification head of section 5.2 (Eq. 5.14-5.16, Fig. 5.4 c) on any
feature vector: what `MusicTask(head={"kind": "disentangled", ...})` puts on a backbone.

    features (the task's embedding [+ the network's tag scores])
             -> [Dense(hidden, relu)] -> SubspaceDense h_s (one block per notion)
             -> SubspaceL2Normalize (each h_s / ||h_s||)      = the embedding
             -> SubspaceClassifier (each class scored by its notion's slice only) = the tags

A sub-space no class belongs to (e.g. "tempo", trained from triplets alone) is part of the
embedding and has no classifier. `inception-disentangled-classifier` is the same head on the
thesis's Inception backbone, trained end to end; this one also sits on a frozen, shipped
backbone (the disentangled-msd recipe).
"""

from keras import layers

from zoo.inception_classifiers import SubspaceClassifier
from zoo.layers import SubspaceDense, SubspaceL2Normalize

KEYS = ("kind", "classes", "subspaces", "class_subspaces", "hidden", "activation", "inputs")
# What the head may read, concatenated in this order: the task's embedding (e.g. a multi-level
# read-out) and the backbone network's own tag scores (a distilled tagger's knowledge).
INPUTS = ("embedding", "tags")


def check_disentangled_head(head):
    """The spec with its defaults, or a ValueError naming what is wrong. Sub-spaces are
    {name: [start, stop)} slices, disjoint and covering [0, size); each class names one."""
    unknown = sorted(set(head) - set(KEYS))
    if unknown:
        raise ValueError(f"a disentangled head takes {list(KEYS)}; got unknown {unknown}")
    subspaces, classes = head.get("subspaces"), head.get("class_subspaces")
    if not isinstance(subspaces, dict) or not subspaces:
        raise ValueError(f"a disentangled head needs subspaces {{name: [start, stop]}}, got {subspaces!r}")
    spans = sorted((int(v[0]), int(v[1]), k) for k, v in subspaces.items())
    edge = 0
    for start, stop, name in spans:
        if start != edge or stop <= start:
            raise ValueError(f"sub-space {name!r} [{start}, {stop}) does not continue the layout at {edge}: "
                             "sub-spaces must be disjoint, non-empty and cover the embedding from 0")
        edge = stop
    if not isinstance(classes, (list, tuple)) or not classes:
        raise ValueError("a disentangled head needs class_subspaces: the sub-space of each class, in order")
    strange = sorted(set(classes) - set(subspaces))
    if strange:
        raise ValueError(f"class_subspaces names {strange}, not among the sub-spaces {list(subspaces)}")
    if head.get("classes", len(classes)) != len(classes):
        raise ValueError(f"classes {head['classes']} but class_subspaces has {len(classes)} entries")
    hidden = head.get("hidden", 0)
    if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 0:
        raise ValueError(f"hidden must be a number of units >= 0, got {hidden!r}")
    activation = head.get("activation", "relu")
    if activation not in ("relu", "linear"):
        raise ValueError(f"activation of the sub-dense layers is 'relu' or 'linear', got {activation!r}")
    inputs = list(head.get("inputs", ["embedding"]))
    if not inputs or [i for i in INPUTS if i in inputs] != inputs:
        raise ValueError(f"inputs are one or more of {list(INPUTS)}, in that order; got {inputs!r}")
    return {"kind": "disentangled", "classes": len(classes), "inputs": inputs,
            "subspaces": {name: [start, stop] for start, stop, name in sorted(spans, key=lambda s: s[0])},
            "class_subspaces": list(classes), "hidden": hidden, "activation": activation}


def disentangled_head_layers(head):
    """(embedding layers, classifier) of a checked spec; the embedding layers apply in order."""
    head = check_disentangled_head(head)
    chain = [layers.Dense(head["hidden"], activation="relu", name="disentangled_hidden")] if head["hidden"] else []
    chain += [SubspaceDense(head["subspaces"], activation=head["activation"], name="subspace_dense"),
              SubspaceL2Normalize(head["subspaces"], name="subspace_l2")]
    return chain, SubspaceClassifier(head["subspaces"], head["class_subspaces"], name="subspace_tags")
