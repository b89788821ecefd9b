"""Port musicnn's MSD_musicnn / MTT_musicnn checkpoints (PyPI musicnn 0.1.0) into presets.

    python -m training_recipes.musicnn_msd.convert --checkpoint DIR/musicnn/MSD_musicnn/ [--out DIR]
    python -m training_recipes.musicnn_msd.convert --checkpoint DIR/musicnn/MTT_musicnn/ [--out DIR]

Source: `musicnn/MSD_musicnn/` and `musicnn/MTT_musicnn/` inside
musicnn-0.1.0-py3-none-any.whl (Jordi Pons, ISC licence; `make musicnn-wheel`
fetches and unpacks it into data/musicnn-wheel). Each is a TF1 checkpoint whose
data/index files are named `.data-00000-of-00001` / `.index`, i.e. the variable
prefix is the directory itself with a trailing slash; its `checkpoint` file
points at the author's machine and is not used. Reading needs tensorflow (only
here, never in zoo/). The checkpoint is recognised by its directory name and
both files are checked against their published sha256 before anything is read.

The two checkpoints have the same architecture and variable names; only the
tag vocabulary (MSD_TAGS / MTT_TAGS of zoo.musicnn) differs. The converted
model is written with `sdk.preset.save_preset` as preset `musicnn-msd` /
`musicnn-mtat` (default: sdk/bundled/<preset-id>, with hub_cards/<preset-id>.md
as README.md). Running it again gives a bit-identical model.weights.h5.

Variable-name mapping (TF1 `tf.layers` auto-names, numbered in creation order;
our names are layers of the nested "backbone" model unless marked):

    batch_normalization        -> input_bn          (1 channel)
    conv2d, batch_normalization_1    -> timbral1_conv/_bn   7x38 kernel, 204 filters
    conv2d_1, batch_normalization_2  -> timbral2_conv/_bn   7x67 kernel, 204 filters
    conv2d_2, batch_normalization_3  -> temporal1_conv/_bn  128x1 kernel, 51 filters
    conv2d_3, batch_normalization_4  -> temporal2_conv/_bn  64x1 kernel, 51 filters
    conv2d_4, batch_normalization_5  -> temporal3_conv/_bn  32x1 kernel, 51 filters
    conv2d_5, batch_normalization_6  -> midend1_conv/_bn    [7,561,1,64] -> Conv1D (7,561,64)
    conv2d_6, batch_normalization_7  -> midend2_conv/_bn    [7,64,1,64]  -> Conv1D (7,64,64)
    conv2d_7, batch_normalization_8  -> midend3_conv/_bn    [7,64,1,64]  -> Conv1D (7,64,64)
    batch_normalization_9      -> pool_bn           1506, permuted (see below)
    dense, batch_normalization_10    -> penultimate_dense/_bn  [1506,200] rows permuted, 200
    dense_1                    -> tags (outer model)        [200,50]

Conv/BN variables: kernel, bias / gamma, beta, moving_mean, moving_variance map
one to one. Adam slots (`*/Adam`, `*/Adam_1`, beta1_power, beta2_power) are dropped.

Pooling order: the original stacks max and mean pooling on a trailing axis,
(batch, 753, 2), and flattens, so its 1506-vector interleaves them
[max_0, mean_0, max_1, mean_1, ...]. Ours concatenates [max_0..max_752,
mean_0..mean_752]; pool_bn's four vectors and the rows of penultimate_dense's
kernel are reindexed with `POOL_PERMUTATION` so the two are the same function.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

from sdk.cards import bundled_card
from sdk.files import check_sha256

REGISTRY_NAME = "musicnn"
WHEEL = "musicnn-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa"  # PyPI
DATA_FILE, INDEX_FILE = ".data-00000-of-00001", ".index"
# Checkpoint directory in the wheel -> the preset it becomes and the sha256 of its files.
CHECKPOINTS = {
    "MSD_musicnn": {
        "preset": "musicnn-msd",
        "dataset": "Million Song Dataset (Last.fm top-50 tags)",
        "files": {DATA_FILE: "8579734ee6388f799ed0def4bbd0d1fdcbeaf213ef2a9dc860917bd76a303de6",
                  INDEX_FILE: "87f3e0f3550c8d3bafc840374003e5c8af5eeb5ecf6add61af09a7822d3282c8"},
        # the wheel's MSD_musicnn/experiment.result (the authors' figures, not measured here)
        "reported": "experiment 1562267674ismir_17: ROC-AUC 0.8802, PR-AUC 0.2891 (MSD)",
    },
    "MTT_musicnn": {
        "preset": "musicnn-mtat",
        "dataset": "MagnaTagATune (top-50 tags)",
        "files": {DATA_FILE: "041f3935e981a65cea739842d30c188d3a7d2adf4410955c8668eb3de4a5acab",
                  INDEX_FILE: "da2d7bb670b2b31e9bc441bb1bd75eca31b5b061f963cc1f9630c1aff3238f57"},
        "reported": "MagnaTagATune test set: ROC-AUC 0.9067, PR-AUC 0.3831",
    },
}
DATA_SHA256 = CHECKPOINTS["MSD_musicnn"]["files"][DATA_FILE]  # kept for older callers
INDEX_SHA256 = CHECKPOINTS["MSD_musicnn"]["files"][INDEX_FILE]
NUM_POOLED = 753  # 561 front-end + 3 x 64 mid-end features per frame
# our index j -> original index: max j at 2j, mean j at 2j + 1
POOL_PERMUTATION = np.concatenate([np.arange(0, 2 * NUM_POOLED, 2), np.arange(1, 2 * NUM_POOLED, 2)])
BN_WEIGHTS = ("gamma", "beta", "moving_mean", "moving_variance")
CONV_WEIGHTS = ("kernel", "bias")

# musicnn's extractor: librosa.time_to_frames(3 s, sr 16000, n_fft 512, hop 256) + 1 = 187
# frames per patch, consecutive non-overlapping patches, a last partial patch dropped.
SEGMENT_FRAMES = 187
EMBEDDING_SIZE = 200  # "penultimate": dense 200 ReLU -> BN (bn_dense in musicnn/models.py)
EXPECTED_FRONTEND = dict(sample_rate=16000, n_fft=512, hop_length=256, win_length=512, n_mels=96,
                         fmin=0.0, fmax=None, htk=False, norm="slaney", power=2.0, padding="center",
                         compression_scale=10000.0, mean=0.0, std=1.0)
COPYRIGHT = ("Copyright (c) Music Technology Group, Universitat Pompeu Fabra 2019. "
             "Code developed by Jordi Pons (www.jordipons.me).")
AUTHORS = ["Jordi Pons", "Xavier Serra"]
CITATION = ("Jordi Pons and Xavier Serra. musicnn: Pre-trained convolutional neural networks for music "
            "audio tagging. Late-breaking/demo session, ISMIR 2019. arXiv:1909.06654.")
HOMEPAGE = "https://github.com/jordipons/musicnn"

REPO_ROOT = Path(__file__).resolve().parents[2]
BUNDLED = REPO_ROOT / "sdk" / "bundled"
CARDS = REPO_ROOT / "hub_cards"


class ConversionError(ValueError):
    """The checkpoint does not fit our architecture."""


def _bn(i):
    return "batch_normalization" if i == 0 else f"batch_normalization_{i}"


def _conv(i):
    return "conv2d" if i == 0 else f"conv2d_{i}"


def weight_map():
    """[(checkpoint scope, our layer, in_backbone, weight names)] in creation order."""
    pairs = [(_bn(0), "input_bn", True, BN_WEIGHTS)]
    ours = ["timbral1", "timbral2", "temporal1", "temporal2", "temporal3", "midend1", "midend2", "midend3"]
    for i, name in enumerate(ours):
        pairs.append((_conv(i), f"{name}_conv", True, CONV_WEIGHTS))
        pairs.append((_bn(i + 1), f"{name}_bn", True, BN_WEIGHTS))
    pairs.append((_bn(9), "pool_bn", True, BN_WEIGHTS))
    pairs.append(("dense", "penultimate_dense", True, CONV_WEIGHTS))
    pairs.append((_bn(10), "penultimate_bn", True, BN_WEIGHTS))
    pairs.append(("dense_1", "tags", False, CONV_WEIGHTS))
    return pairs


def read_checkpoint(prefix):
    """{variable name: float32 array} of every non-optimizer variable under `prefix`."""
    import tensorflow as tf

    reader = tf.compat.v1.train.NewCheckpointReader(str(prefix))
    names = reader.get_variable_to_shape_map()
    return {
        name: np.asarray(reader.get_tensor(name), dtype=np.float32)
        for name in names
        if "Adam" not in name and not name.startswith("beta1_power") and not name.startswith("beta2_power")
    }


def converted_arrays(arrays):
    """{(our layer, in_backbone): [arrays in Keras weight order]} from checkpoint arrays."""
    out = {}
    used = set()
    for scope, layer, in_backbone, weights in weight_map():
        values = []
        for w in weights:
            key = f"{scope}/{w}"
            if key not in arrays:
                raise ConversionError(f"checkpoint has no variable {key}")
            used.add(key)
            value = arrays[key]
            if layer.startswith("midend") and w == "kernel":
                value = value[:, :, 0, :]  # [7, C, 1, F] conv2d over the whole row -> Conv1D (7, C, F)
            if layer == "pool_bn":
                value = value[POOL_PERMUTATION]
            if layer == "penultimate_dense" and w == "kernel":
                value = value[POOL_PERMUTATION, :]
            values.append(value)
        out[(layer, in_backbone)] = values
    unused = set(arrays) - used
    if unused:
        raise ConversionError(f"checkpoint variables left unmapped: {sorted(unused)}")
    return out


def load_into(model, arrays):
    """Copy checkpoint arrays into a `zoo.build("musicnn")` model; checks every shape."""
    backbone = model.get_layer("backbone")
    for (layer_name, in_backbone), values in converted_arrays(arrays).items():
        layer = (backbone if in_backbone else model).get_layer(layer_name)
        if hasattr(layer, "epsilon") and abs(layer.epsilon - 1e-3) > 1e-12:
            raise ConversionError(f"{layer_name}: epsilon {layer.epsilon}, checkpoint BN uses 1e-3")
        current = layer.get_weights()
        if [v.shape for v in current] != [v.shape for v in values]:
            raise ConversionError(
                f"{layer_name}: shapes {[v.shape for v in current]} vs checkpoint {[v.shape for v in values]}"
            )
        layer.set_weights(values)
        for got, want in zip(layer.get_weights(), values):
            if not np.array_equal(got, want):
                raise ConversionError(f"{layer_name}: copy is not bit-exact")
    return model


def checkpoint_kind(path):
    """'MSD_musicnn' or 'MTT_musicnn', from the checkpoint directory's name."""
    name = Path(path).name or Path(path).parent.name
    if name not in CHECKPOINTS:
        raise ConversionError(f"{path}: expected a musicnn/MSD_musicnn or musicnn/MTT_musicnn directory "
                              f"of {WHEEL}, got {name!r}")
    return name


def checkpoint_prefix(path):
    """The checkpoint directory -> the prefix TF wants ('DIR/'), after checking both files' sha256."""
    path = Path(path)
    if not path.is_dir() or not (path / INDEX_FILE).exists():
        raise ConversionError(f"{path}: no '{INDEX_FILE}' file; pass the MSD_musicnn or MTT_musicnn "
                              f"directory of the unpacked wheel (make musicnn-wheel)")
    for name, want in CHECKPOINTS[checkpoint_kind(path)]["files"].items():
        check_sha256(path / name, want, ConversionError, "(the musicnn 0.1.0 file's)",
                     "refusing to convert a different or damaged file")
    return str(path) + "/"


def tags_for(kind):
    from zoo.musicnn import MSD_TAGS, MTT_TAGS

    return list(MSD_TAGS if kind == "MSD_musicnn" else MTT_TAGS)


def preprocessor_for(model):
    import keras

    from sdk.preset import frontend_config

    layer = model.get_layer("frontend")
    frontend = frontend_config(layer)
    wrong = {k: (frontend.get(k), v) for k, v in EXPECTED_FRONTEND.items() if frontend.get(k) != v}
    if wrong:
        raise ConversionError(f"the zoo front end no longer matches the weights' (ours, expected): {wrong}")
    return {
        "sample_rate": frontend["sample_rate"],
        "frontend_class": keras.saving.get_registered_name(type(layer)),
        "frontend": frontend,
        # musicnn's extractor: one centred STFT over the whole song, cut into consecutive
        # 187-frame (3 s) patches, a last partial patch dropped. A song shorter than one
        # patch (which the extractor refuses) gets zero frames appended here.
        "segment": {"length": SEGMENT_FRAMES, "hop": SEGMENT_FRAMES, "unit": "frames",
                    "remainder": "drop", "pad": "zeros"},
        "aggregation": "mean",
        "segment_pooling": "max+mean",
        # musicnn decoded with librosa.load(sr=16000), whose resampler was then resampy's
        # kaiser_best; the SDK's faster default (soxr_hq) moves its tags by up to ~0.03.
        "resample": "kaiser_best",
        # segments per graph call, the fastest on JAX (docs/performance.md; others: the default)
        "batch_size": {"jax": 2},
    }


def metadata_for(kind):
    spec = CHECKPOINTS[kind]
    tags = tags_for(kind)
    source = {
        "package": "musicnn",
        "version": "0.1.0",
        "wheel": WHEEL,
        "wheel_sha256": WHEEL_SHA256,
        "path": f"musicnn/{kind}/",
        "files": dict(spec["files"]),
        "homepage": HOMEPAGE,
    }
    provenance = (
        f"Ported, not retrained. The TF1 checkpoint musicnn/{kind}/ of the PyPI wheel {WHEEL} "
        f"(sha256 {WHEEL_SHA256}), trained by its authors (Jordi Pons, Xavier Serra) on the "
        f"{spec['dataset']}; authors' reported result: {spec['reported']}. Converted by "
        "training_recipes/musicnn_msd/convert.py: all 64 model variables copied bit-exactly (Adam slots "
        "dropped; the back-end's interleaved max/mean pooling reindexed). Front end computed in float32: "
        "musicnn's extractor casts the mel spectrogram to float16 before log10(1 + 10000 x), which "
        "overflows to inf for mel power above 6.55 (training_recipes/musicnn_msd/FINDINGS.md)."
    )
    return {
        "preset": spec["preset"],
        "registry_name": REGISTRY_NAME,
        "embedding_size": EMBEDDING_SIZE,
        "subspaces": {"all": [0, EMBEDDING_SIZE]},
        "tags": tags,
        "outputs": [
            {"name": "embedding", "purpose": "embeddings", "size": EMBEDDING_SIZE,
             "description": "musicnn's 'penultimate' features: dense 200 ReLU -> batch norm (penultimate_bn)"},
            {"name": "tags", "purpose": "predictions", "size": len(tags),
             "activation": "sigmoid"},
        ],
        "aggregation": "mean",
        "datasets": [{"name": spec["dataset"], "use": "training (by the original authors)"}],
        "license": "ISC",
        "copyright": COPYRIGHT,
        "authors": AUTHORS,
        "citation": CITATION,
        "provenance": provenance,
        "source": source,
        **({"card": card} if (card := bundled_card(spec["preset"])) else {}),  # the card's prose, carried over
    }


def convert_model(checkpoint):
    """Checkpoint directory -> (kind, converted keras model)."""
    import zoo

    kind = checkpoint_kind(checkpoint)
    arrays = read_checkpoint(checkpoint_prefix(checkpoint))
    arguments = dict(zoo.get_model_info(REGISTRY_NAME).defaults)
    return kind, load_into(zoo.build(REGISTRY_NAME, **arguments), arrays), arguments


def convert(checkpoint, out=None, card_path="default"):
    """Check, port and write the preset (default sdk/bundled/<preset-id>); returns its directory.

    `out` ending in .keras writes a single .keras file instead (no preset)."""
    from sdk.preset import save_preset

    kind, model, arguments = convert_model(checkpoint)
    preset_id = CHECKPOINTS[kind]["preset"]
    out = Path(out) if out is not None else BUNDLED / preset_id
    if out.suffix == ".keras":
        model.save(out)
        return out
    if card_path == "default":
        card_path = CARDS / f"{preset_id}.md"
        card_path = card_path if card_path.is_file() else None
    return save_preset(model, out, name=REGISTRY_NAME, arguments=arguments, preprocessor=preprocessor_for(model),
                       metadata=metadata_for(kind), card_path=card_path)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training_recipes.musicnn_msd.convert",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True,
                        help="musicnn/MSD_musicnn or musicnn/MTT_musicnn directory of the unpacked 0.1.0 wheel")
    parser.add_argument("--out", default=None,
                        help="preset directory (default sdk/bundled/<preset-id>), or a FILE.keras")
    args = parser.parse_args(argv)
    try:
        directory = convert(args.checkpoint, args.out)
    except ConversionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {directory}")
    if directory.is_dir():
        for path in sorted(directory.iterdir()):
            print(f"  {path.name:20s} {path.stat().st_size:>10,d} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
