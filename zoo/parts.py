"""What a zoo network is made of, declared by the builder that makes it.

A registered builder returns the training graph (waveform -> ... -> head) and
declares its parts with `declare_parts`, the way KerasHub splits a Backbone from
its Task and declares a backbone's `pyramid_outputs`:

    frontend        the layer turning samples into the backbone's input (raw, log-mel)
    backbone        keras.Model: front-end output -> features
    stages          backbone layers whose outputs are its stages, bottom to top: the
                    "-n layer" features of thesis Table 3.6 (time series, or a final vector)
    embedding_head  layers applied in order to the backbone output to give the network's own
                    embedding (empty: the backbone output is the embedding)
    tag_head        layers applied in order to that embedding to give the label scores
                    (empty: the network has no tag head)

`zoo.task.MusicTask` assembles the inference graph of a preset from these parts,
so nothing downstream looks layers up by name.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class NetworkParts:
    frontend: object
    backbone: object
    stages: tuple = ()
    embedding_head: tuple = ()
    tag_head: tuple = ()

    def stage_outputs(self):
        """{stage name: the backbone's symbolic output there}, bottom to top."""
        return {name: self.backbone.get_layer(name).output for name in self.stages}


def declare_parts(model, *, frontend, backbone, stages=(), embedding_head=(), tag_head=()):
    """Record `model`'s parts on it (see the module docstring); returns `model`."""
    missing = [name for name in stages if name not in {layer.name for layer in backbone.layers}]
    if missing:
        raise ValueError(f"{backbone.name} has no stage layer(s) {missing}")
    parts = NetworkParts(frontend, backbone, tuple(stages), tuple(embedding_head), tuple(tag_head))
    # object.__setattr__: a plain record, not something Keras should track as sub-layers.
    object.__setattr__(model, "_zoo_parts", parts)
    return model


def network_parts(model):
    """The parts `model`'s builder declared; a clear error for a network that declared none."""
    parts = getattr(model, "_zoo_parts", None)
    if parts is None:
        raise ValueError(f"{getattr(model, 'name', model)!r} declares no parts (front end, backbone, heads): "
                         "it cannot be wrapped as a preset's inference graph")
    return parts
