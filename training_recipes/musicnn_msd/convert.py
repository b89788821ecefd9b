"""Port the MSD_musicnn checkpoint of PyPI `musicnn` 0.1.0 into `zoo.build("musicnn")`.

    python -m training_recipes.musicnn_msd.convert --checkpoint DIR/MSD_musicnn/ [--out FILE.keras]

Source: `musicnn/MSD_musicnn/` inside musicnn-0.1.0-py3-none-any.whl (Jordi Pons,
ISC licence). It is a TF1 checkpoint whose data/index files are named
`.data-00000-of-00001` / `.index`, i.e. the variable prefix is the directory
itself with a trailing slash; its `checkpoint` file points at the author's
machine and is not used. Reading needs tensorflow (only here, never in zoo/).

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
import hashlib
import sys
from pathlib import Path

import numpy as np

REGISTRY_NAME = "musicnn"
WHEEL_SHA256 = "f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa"  # musicnn-0.1.0-py3-none-any.whl (PyPI)
DATA_SHA256 = "8579734ee6388f799ed0def4bbd0d1fdcbeaf213ef2a9dc860917bd76a303de6"  # .data-00000-of-00001
INDEX_SHA256 = "87f3e0f3550c8d3bafc840374003e5c8af5eeb5ecf6add61af09a7822d3282c8"  # .index
NUM_POOLED = 753  # 561 front-end + 3 x 64 mid-end features per frame
# our index j -> original index: max j at 2j, mean j at 2j + 1
POOL_PERMUTATION = np.concatenate([np.arange(0, 2 * NUM_POOLED, 2), np.arange(1, 2 * NUM_POOLED, 2)])
BN_WEIGHTS = ("gamma", "beta", "moving_mean", "moving_variance")
CONV_WEIGHTS = ("kernel", "bias")


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


def checkpoint_prefix(path):
    """The checkpoint directory (or prefix) -> the prefix TF wants ('DIR/' here)."""
    path = Path(path)
    if path.is_dir():
        if not (path / ".index").exists():
            raise ConversionError(f"{path}: no '.index' file; pass the MSD_musicnn directory of the wheel")
        for name, want in ((".data-00000-of-00001", DATA_SHA256), (".index", INDEX_SHA256)):
            got = hashlib.sha256((path / name).read_bytes()).hexdigest()
            if got != want:
                raise ConversionError(f"{path / name}: sha256 {got} is not the musicnn 0.1.0 file's {want}")
        return str(path) + "/"
    return str(path)


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


def convert(checkpoint, out=None):
    import zoo  # noqa: F401  (registers every family)
    import zoo.musicnn  # noqa: F401  (until zoo/__init__ imports it)

    arrays = read_checkpoint(checkpoint_prefix(checkpoint))
    model = load_into(zoo.build(REGISTRY_NAME), arrays)
    if out is not None:
        model.save(out)
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="musicnn/MSD_musicnn directory from the 0.1.0 wheel")
    parser.add_argument("--out", default=None, help="where to write the converted .keras model")
    args = parser.parse_args(argv)
    try:
        convert(args.checkpoint, args.out)
    except ConversionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"converted {args.checkpoint}" + (f" -> {args.out}" if args.out else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
