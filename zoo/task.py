"""A preset's inference graph: one Keras model from a window of samples to its outputs.

A registered network is built for training (waveform -> front end -> backbone ->
head). `MusicTask` assembles the graph a preset runs from the parts the network
declares (zoo/parts.py), the way KerasHub wraps a Backbone into a Task:

    samples (batch, window)
      -> front end         log-mel in "valid" mode: a window cut from a longer song gives
                           exactly that song's "center"-mode frames (raw: as is)
      -> backbone          with its declared stage outputs
      -> embedding         the network's own embedding, or a MultiLevelReadout over the
                           backbone stages (thesis section 3.1.4, Table 3.6)
      -> tags              the network's tag head on its own embedding, when it has one

Outputs are a dict: {"embedding": (batch, d)} plus {"tags": (batch, T)} with a tag head.
The config is the registry name and arguments of the network, the segment length and the
read-out, so `keras.saving.serialize_keras_object` / `deserialize_keras_object` rebuild it
in safe mode, and `export()` writes it as one SavedModel.
"""

import keras

from zoo.frontends import PACKAGE, LogMelSpectrogram
from zoo.heads import MultiLevelReadout, PrototypeHead, StagePooling, apply_layers
from zoo.parts import network_parts


def _window_frontend(frontend):
    """(front end to run on one segment's window of samples, samples per frame, zeros to pad
    each end of a song with). A "center" log-mel pads the song, then frames it "valid"."""
    if isinstance(frontend, LogMelSpectrogram) and frontend.padding == "center":
        config = {**frontend.get_config(), "padding": "valid", "name": "frontend"}
        return LogMelSpectrogram.from_config(config), frontend.hop_length, frontend.n_fft // 2
    hop = frontend.hop_length if isinstance(frontend, LogMelSpectrogram) else 1
    return frontend, hop, 0


@keras.saving.register_keras_serializable(package=PACKAGE)
class MusicTask(keras.Model):
    """Segment inference graph of a preset (see the module docstring).

    Args:
        network: zoo registry name of the network (`zoo.list_models()`).
        arguments: its build arguments (`zoo.model_arguments(network)` fills the rest).
        segment: backbone input length in front-end units (frames, or samples for raw
            models); None takes the backbone's fixed input length.
        readout: None, or {"levels": [negative stage indices], "size": d}: the embedding is a
            MultiLevelReadout of those stages (its weights set after fitting).
        tags: keep the network's tag head (if it has one).
        head: None (the network's tag head, per `tags`), or a tag head of its own, trained
            or fitted later (sdk.fine_tune, MusicModel.fit_prototypes):
            {"kind": "dense", "classes": n, "activation": "sigmoid" | "softmax"} on the
            features the network's tag head reads, or {"kind": "prototypes", "classes": n}:
            cosine to n class prototypes in the embedding space (thesis Eq. 2.9), or
            {"kind": "disentangled", "subspaces": ..., "class_subspaces": ...}: the section 5.2
            disentangled classifier on the embedding, which then becomes its normalised
            sub-spaces (zoo/disentangled.py).
    """

    def __init__(self, network, arguments=None, segment=None, readout=None, tags=True, head=None, **kwargs):
        import zoo

        arguments = zoo.model_arguments(network, **(arguments or {}))
        parts = network_parts(zoo.build(network, **arguments))
        frontend, frame_hop, center_pad = _window_frontend(parts.frontend)
        backbone = parts.backbone
        fixed = backbone.input.shape[1]
        length = fixed if segment is None else int(segment)
        if length is None:
            raise ValueError(f"{network}: its backbone takes any length; give the segment length")
        if fixed is not None and length != fixed:
            raise ValueError(f"{network}: segment {length} does not fit its backbone, which takes {fixed}")
        window = (length - 1) * frame_hop + frontend.n_fft if frame_hop > 1 else length
        if isinstance(frontend, LogMelSpectrogram) and frontend.padding != "valid":
            window = length * frame_hop  # "same" framing: segment frames from that many samples

        samples = keras.Input((window,), name="samples")
        features_in = frontend(samples)
        levels = [int(level) for level in (readout or {}).get("levels", ())]
        if readout is not None:
            if not levels or any(not -len(parts.stages) <= level <= -1 for level in levels):
                raise ValueError(f"{network}: read-out levels count stages from the top, -1 .. "
                                 f"-{len(parts.stages)}; got {levels}")
            stage_model = _stage_model(parts, [parts.stages[level] for level in levels], with_output=True)
            *stages, features = stage_model(features_in)
            readout_layer = MultiLevelReadout(int(readout["size"]), name="readout")
            embedding = readout_layer(stages)
        else:
            readout_layer = None
            features = backbone(features_in)
        features = apply_layers(parts.embedding_head, features)
        outputs = {"embedding": features if readout_layer is None else embedding}
        head = None if head is None else _check_head(head)
        if head is None:
            tag_head = tuple(parts.tag_head) if tags else ()
            if tag_head:
                outputs["tags"] = apply_layers(tag_head, features)
        elif head["kind"] == "dense":
            tag_head = (keras.layers.Dense(head["classes"], activation=head["activation"], name="tuned_tags"),)
            outputs["tags"] = tag_head[0](features)
        elif head["kind"] == "disentangled":
            from zoo.disentangled import disentangled_head_layers

            chain, classifier = disentangled_head_layers(head)
            read = {"embedding": outputs["embedding"]}
            if "tags" in head["inputs"]:
                if not parts.tag_head:
                    raise ValueError(f"{network}: a disentangled head reading 'tags' needs a network with a tag head")
                read["tags"] = apply_layers(parts.tag_head, features)
            features = read["embedding"] if len(read) == 1 else \
                keras.layers.Concatenate(name="disentangled_inputs")([read[i] for i in head["inputs"]])
            outputs["embedding"] = apply_layers(chain, features)
            outputs["tags"] = classifier(outputs["embedding"])
            tag_head = (*chain, classifier)
        else:
            tag_head = (PrototypeHead(head["classes"], name="prototypes"),)
            outputs["tags"] = tag_head[0](outputs["embedding"])
        super().__init__(samples, outputs, **{"name": kwargs.pop("name", "music_task"), **kwargs})

        # Plain attributes (object.__setattr__): the layers among them are already tracked
        # through the graph, and Keras must not wrap the config values.
        attributes = dict(
            network=network, arguments=arguments, segment=length, tags=bool(tags), head=head,
            readout=None if readout is None else {"levels": levels, "size": int(readout["size"])},
            parts=parts, window_frontend=frontend, readout_layer=readout_layer, tag_head=tag_head,
            head_input=features,
            window=int(window), frame_hop=int(frame_hop), center_pad=int(center_pad), _stage_models={},
        )
        for key, value in attributes.items():
            object.__setattr__(self, key, value)

    # ----- parts -----------------------------------------------------------------------
    @property
    def frontend(self):
        return self.parts.frontend

    @property
    def backbone(self):
        return self.parts.backbone

    @property
    def stage_names(self):
        """The backbone's stages, bottom to top; `levels` count them from the top (-1)."""
        return list(self.parts.stages)

    @property
    def embedding_size(self):
        return int(self.output["embedding"].shape[-1])

    @property
    def num_tags(self):
        return int(self.output["tags"].shape[-1]) if "tags" in self.output else 0

    def head_input_model(self):
        """keras.Model: samples -> the features the tag head reads (the network's own embedding)."""
        if "head_input" not in self._stage_models:
            self._stage_models["head_input"] = keras.Model(self.input, self.head_input, name="head_input")
        return self._stage_models["head_input"]

    def stage_features(self, levels):
        """keras.Model: samples -> max over time of the given stages (negative indices),
        concatenated (Table 3.6's multi-level features); shares this graph's weights."""
        levels = tuple(int(level) for level in levels)
        bad = [level for level in levels if not -len(self.stage_names) <= level <= -1]
        if not levels or bad:
            raise ValueError(f"levels count this model's stages from the top: -1 .. -{len(self.stage_names)} "
                             f"({', '.join(self.stage_names)}); got {list(levels)}")
        if levels not in self._stage_models:
            stage_model = _stage_model(self.parts, [self.stage_names[level] for level in levels])
            outputs = stage_model(self.window_frontend(self.input))
            pooled = StagePooling(name="stage_pooling")(outputs if isinstance(outputs, list) else [outputs])
            self._stage_models[levels] = keras.Model(self.input, pooled, name="stage_features")
        return self._stage_models[levels]

    def load_network_weights(self, network):
        """Copy a trained network's (or another MusicTask's) backbone and head weights, built
        by the same registry entry, into this graph: how a training run becomes a preset. From
        a MusicTask the read-out comes too when both have the same one."""
        source = network.parts if isinstance(network, MusicTask) else network_parts(network)
        for src, dst in _part_pairs(source, self.parts, network.name, self.network):
            dst.set_weights(src.get_weights())
        if isinstance(network, MusicTask) and network.readout is not None and network.readout == self.readout:
            self.readout_layer.set_weights(network.readout_layer.get_weights())
        return self

    def with_head(self, head):
        """A new MusicTask of this one's network, segment and read-out with tag head `head`
        (see the class docstring), holding a copy of this graph's other weights."""
        return MusicTask(self.network, self.arguments, segment=self.segment, readout=self.readout, tags=False,
                         head=head).load_network_weights(self)

    def copy_weights_to(self, network):
        """The reverse: this graph's backbone and head weights into a network built by the same
        registry entry (`zoo.build(self.network, **self.arguments)`); returns the network."""
        for src, dst in _part_pairs(self.parts, network_parts(network), self.network, network.name):
            dst.set_weights(src.get_weights())
        return network

    def build_network(self):
        """The training graph of this preset's network (waveform -> ... -> head, compiled as
        its registry entry does), holding this graph's weights."""
        import zoo

        return self.copy_weights_to(zoo.build(self.network, **self.arguments))

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "network": self.network,
                "arguments": dict(self.arguments), "segment": self.segment, "readout": self.readout,
                "tags": self.tags, "head": self.head}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _check_head(head):
    """A tag head spec as MusicTask takes it, or a ValueError naming what is wrong."""
    kind, classes = head.get("kind"), head.get("classes")
    if kind == "disentangled":
        from zoo.disentangled import check_disentangled_head

        return check_disentangled_head(head)
    if kind not in ("dense", "prototypes") or isinstance(classes, bool) or not isinstance(classes, int) or classes < 1:
        raise ValueError(f"head must be {{'kind': 'dense' | 'prototypes', 'classes': n >= 1, ...}} or "
                         f"{{'kind': 'disentangled', ...}}, got {head!r}")
    if kind == "dense":
        if head.get("activation") not in ("sigmoid", "softmax"):
            raise ValueError(f"a dense head's activation is 'sigmoid' or 'softmax', got {head.get('activation')!r}")
        return {"kind": kind, "classes": classes, "activation": head["activation"]}
    return {"kind": kind, "classes": classes}


def _part_pairs(source, target, source_name, target_name):
    """[(source layer, target layer)] of two networks' backbones and heads, which must match."""
    if (len(source.tag_head), len(source.embedding_head)) != (len(target.tag_head), len(target.embedding_head)):
        raise ValueError(f"{source_name}: its heads do not match {target_name}'s")
    return [(source.backbone, target.backbone), *zip(source.embedding_head, target.embedding_head),
            *zip(source.tag_head, target.tag_head)]


def _stage_model(parts, names, with_output=False):
    """keras.Model: backbone input -> the named stage outputs (and the backbone output)."""
    backbone = parts.backbone
    outputs = [backbone.get_layer(name).output for name in names]
    if with_output:
        outputs.append(backbone.output)
    return keras.Model(backbone.input, outputs, name="backbone_stages")
