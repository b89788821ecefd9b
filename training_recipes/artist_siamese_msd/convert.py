"""Port the published thesis section 4.1 checkpoint into the `artist-siamese-msd` preset.

    python -m training_recipes.artist_siamese_msd.convert [--h5 PATH] [--out DIR]

Input: `model_siamese_10000.h5` (Park, Lee et al., ISMIR 2018; Keras 2.1.1, MIT
licence), checked against its published sha256. Its five Conv1D and five
BatchNormalization layers are copied, array for array, into block{i}_conv /
block{i}_bn of the backbone inside `zoo.build("artist-siamese")`; every copy is
compared bit for bit, the checkpoint's own architecture (kernel sizes, filters,
padding, pooling, epsilon) is compared with ours, and the preset is written with
`sdk.preset.save_preset`. Running it again gives the same arrays and configs.
"""

import argparse
import json
import sys
from pathlib import Path

import h5py
import numpy as np

from sdk.cards import bundled_card
from sdk.files import check_sha256

PRESET_ID = "artist-siamese-msd"
REGISTRY_NAME = "artist-siamese"
H5_SHA256 = "3b3ad09c321786c8ea388269ee3c35ab540734ce5209f40a430f1c9b0a25f753"
SOURCE = {
    "repository": "jongpillee/ismir2018-artist (GitHub)",
    "path": "models/model_siamese_10000_4_0.40/model_siamese_10000.h5",
    "commit": "68841d227fef71ac76b44e704007e50452042a38",
    "sha256": H5_SHA256,
}
COPYRIGHT = "Copyright (c) 2018 Jongpil Lee"
AUTHORS = ["Jiyoung Park", "Jongpil Lee", "Jangyeon Park", "Jung-Woo Ha", "Juhan Nam"]
CITATION = ("Jiyoung Park, Jongpil Lee, Jangyeon Park, Jung-Woo Ha and Juhan Nam. Representation Learning "
            "of Music Using Artist Labels. Proc. ISMIR 2018. Thesis: J. Lee, Similarity-based Deep Learning "
            "for Music Retrieval, KAIST 2021, section 4.1.")
SEGMENT_FRAMES = 129  # 3 s at 22,050 Hz / hop 512: the input length the weights were trained on
EMBEDDING_SIZE = 256
# Front end the weights expect (shared/weights/artist-siamese-msd/PROVENANCE.md).
EXPECTED_FRONTEND = dict(sample_rate=22050, n_fft=1024, hop_length=512, win_length=1024, n_mels=128,
                         fmin=0.0, fmax=None, htk=False, norm="slaney", power=1.0, padding="center",
                         compression_scale=10.0, mean=0.22620339, std=0.25794547)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_H5 = REPO_ROOT.parent / "shared/weights/artist-siamese-msd/model_siamese_10000.h5"
DEFAULT_OUT = REPO_ROOT / "sdk/bundled" / PRESET_ID
CARD = REPO_ROOT / "hub_cards" / f"{PRESET_ID}.md"


class ConversionError(ValueError):
    """The checkpoint is not the published one, or does not fit our architecture."""


def weight_map():
    """[(h5 layer, our backbone layer, [(h5 weight, our variable attribute)])] in tower order."""
    pairs = []
    for i in range(1, 6):
        pairs.append((f"conv1d_{i}", f"block{i}_conv", [("kernel:0", "kernel"), ("bias:0", "bias")]))
        pairs.append((f"batch_normalization_{i}", f"block{i}_bn",
                      [("gamma:0", "gamma"), ("beta:0", "beta"), ("moving_mean:0", "moving_mean"),
                       ("moving_variance:0", "moving_variance")]))
    return pairs


def check_checkpoint(h5_path):
    h5_path = Path(h5_path)
    if not h5_path.is_file():
        raise ConversionError(f"{h5_path}: no such file; pass --h5 with the path of model_siamese_10000.h5")
    check_sha256(h5_path, H5_SHA256, ConversionError, "(the published checkpoint's)",
                 "refusing to convert a different or damaged file")


def read_checkpoint(h5_path):
    """{(h5 layer, h5 weight): array} for the audio tower, and the layer configs by name."""
    arrays = {}
    with h5py.File(h5_path, "r") as f:
        group = f["model_weights"]
        for h5_layer, _, names in weight_map():
            for h5_name, _ in names:
                arrays[(h5_layer, h5_name)] = np.array(group[h5_layer][h5_layer][h5_name])
        model_config = json.loads(f.attrs["model_config"])
    layer_configs = {layer["config"]["name"]: layer for layer in model_config["config"]["layers"]}
    return arrays, layer_configs


def check_architecture(backbone, layer_configs):
    """The checkpoint's tower settings must equal our backbone's (conv, BN, pooling)."""
    problems = []
    for i in range(1, 6):
        theirs = layer_configs[f"conv1d_{i}"]["config"]
        ours = backbone.get_layer(f"block{i}_conv").get_config()
        for key in ("filters", "kernel_size", "padding", "strides", "dilation_rate", "use_bias"):
            a, b = theirs[key], ours[key]
            if (list(a) if isinstance(a, (list, tuple)) else a) != (list(b) if isinstance(b, (list, tuple)) else b):
                problems.append(f"conv1d_{i}.{key}: checkpoint {a}, ours {b}")
        bn_theirs = layer_configs[f"batch_normalization_{i}"]["config"]
        bn_ours = backbone.get_layer(f"block{i}_bn").get_config()
        for key in ("epsilon", "axis", "center", "scale"):
            a, b = bn_theirs[key], bn_ours[key]
            if (a if not isinstance(a, (list, tuple)) else a[0]) != (b if not isinstance(b, (list, tuple)) else b[0]):
                problems.append(f"batch_normalization_{i}.{key}: checkpoint {a}, ours {b}")
        if i <= 4:
            pool_theirs = layer_configs[f"max_pooling1d_{i}"]["config"]
            pool_ours = backbone.get_layer(f"block{i}_pool").get_config()
            for key in ("pool_size", "strides", "padding"):
                a, b = pool_theirs[key], pool_ours[key]
                a = list(a) if isinstance(a, (list, tuple)) else [a]
                b = list(b) if isinstance(b, (list, tuple)) else [b]
                if a != b:
                    problems.append(f"max_pooling1d_{i}.{key}: checkpoint {a}, ours {b}")
    if problems:
        raise ConversionError("the checkpoint's tower differs from zoo 'artist-siamese': " + "; ".join(problems))


def port_weights(backbone, arrays):
    """Assign every array into the backbone, then check each variable equals it exactly."""
    import keras

    assigned = set()
    for h5_layer, our_layer, names in weight_map():
        layer = backbone.get_layer(our_layer)
        for h5_name, attribute in names:
            variable = getattr(layer, attribute)
            array = arrays[(h5_layer, h5_name)]
            if tuple(variable.shape) != array.shape or array.dtype != np.float32:
                raise ConversionError(
                    f"{h5_layer}/{h5_name} {array.shape} {array.dtype} does not fit "
                    f"{our_layer}.{attribute} {tuple(variable.shape)}"
                )
            variable.assign(array)
            assigned.add(variable.path)
    missing = sorted(v.path for v in backbone.weights if v.path not in assigned)
    if missing:
        raise ConversionError(f"backbone variables left without a checkpoint array: {missing}")
    for h5_layer, our_layer, names in weight_map():
        layer = backbone.get_layer(our_layer)
        for h5_name, attribute in names:
            copied = keras.ops.convert_to_numpy(getattr(layer, attribute))
            if not np.array_equal(copied, arrays[(h5_layer, h5_name)]):
                raise ConversionError(f"{our_layer}.{attribute} differs from {h5_layer}/{h5_name} after copying")
    return len(assigned)


def preprocessor_for(embedder):
    import keras

    from sdk.preset import frontend_config

    layer = embedder.get_layer("frontend")
    frontend = frontend_config(layer)
    wrong = {k: (frontend.get(k), v) for k, v in EXPECTED_FRONTEND.items() if frontend.get(k) != v}
    if wrong:
        raise ConversionError(f"the zoo front end no longer matches the weights' (ours, expected): {wrong}")
    return {
        "sample_rate": frontend["sample_rate"],
        "frontend_class": keras.saving.get_registered_name(type(layer)),
        "frontend": frontend,
        # Whole clip -> front end -> consecutive 129-frame segments; a last partial segment
        # is dropped; a clip shorter than one segment gets zero frames appended.
        "segment": {"length": SEGMENT_FRAMES, "hop": SEGMENT_FRAMES, "unit": "frames",
                    "remainder": "drop", "pad": "zeros"},
        "aggregation": "mean",
        "segment_pooling": "max",
    }


def metadata_for():
    provenance = (
        "Ported, not retrained. The audio tower (conv1d_1..5, batch_normalization_1..5) of the "
        "authors' Siamese checkpoint model_siamese_10000.h5 (Keras 2.1.1, TensorFlow backend), "
        "trained on Million Song Dataset previews of 10,000 artists with 4 negative samples and "
        "hinge margin 0.4 (Park, Lee et al., ISMIR 2018; thesis section 4.1). Source: "
        f"{SOURCE['repository']}, path {SOURCE['path']}, commit {SOURCE['commit']}; sha256 of the "
        f"original h5: {H5_SHA256}. Converted by training_recipes/artist_siamese_msd/convert.py; "
        "every array copied bit-exactly."
    )
    return {
        "preset": PRESET_ID,
        "registry_name": REGISTRY_NAME,
        "embedding_size": EMBEDDING_SIZE,
        "subspaces": {"all": [0, EMBEDDING_SIZE]},
        "tags": [],
        "outputs": [{"name": "embedding", "purpose": "embeddings", "size": EMBEDDING_SIZE}],
        "aggregation": "mean",
        "license": "MIT",
        "copyright": COPYRIGHT,
        "authors": AUTHORS,
        "citation": CITATION,
        "provenance": provenance,
        "source": SOURCE,
        **({"card": card} if (card := bundled_card(PRESET_ID)) else {}),  # the card's prose, carried over
    }


def convert(h5_path=DEFAULT_H5, out=DEFAULT_OUT, card_path=CARD):
    """Check, port and write the preset; returns its directory."""
    import zoo
    from sdk.preset import save_preset

    check_checkpoint(h5_path)
    arrays, layer_configs = read_checkpoint(h5_path)
    arguments = dict(zoo.get_model_info(REGISTRY_NAME).defaults)
    model = zoo.build(REGISTRY_NAME, **arguments)
    embedder = model.get_layer("embedder")
    backbone = embedder.get_layer("backbone")
    check_architecture(backbone, layer_configs)
    port_weights(backbone, arrays)
    return save_preset(
        model, out, name=REGISTRY_NAME, arguments=arguments, preprocessor=preprocessor_for(embedder),
        metadata=metadata_for(), card_path=card_path,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training_recipes.artist_siamese_msd.convert",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--h5", type=Path, default=DEFAULT_H5, help=f"published checkpoint (default {DEFAULT_H5})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"preset directory (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    try:
        directory = convert(args.h5, args.out)
    except ConversionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {directory}")
    for path in sorted(directory.iterdir()):
        print(f"  {path.name:20s} {path.stat().st_size:>10,d} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
