"""`--data-parallel`: train a recipe on every accelerator of one machine (Keras distribution API).

Keras's `DataParallel` replicates the model's variables on each device and splits every batch
along its first axis; the step's gradients are those of the whole batch, so the weights stay
identical on every device. It is implemented for the JAX backend only (keras.distribution), so
the option refuses other backends, a machine with a single device, and batch sizes that do not
divide by the device count. On CPU, `XLA_FLAGS=--xla_force_host_platform_device_count=N` makes N
virtual devices (how the tests run it). Several machines need `keras.distribution.initialize()`
first (not wired into the recipes).
"""

import contextlib

from training_recipes.common.training import RecipeError


def device_count():
    """How many devices the active Keras distribution spreads a batch over (1: none active)."""
    import keras

    mesh = getattr(keras.distribution.distribution(), "device_mesh", None)
    return 1 if mesh is None else int(mesh.devices.size)


def check_batch(size, what="--batch-size"):
    """RecipeError unless `size` rows split evenly over the devices of the active distribution."""
    devices = device_count()
    if size % devices:
        raise RecipeError(f"--data-parallel: {what} {size} does not divide by the {devices} devices; "
                          f"choose a multiple of {devices}")


@contextlib.contextmanager
def data_parallel(requested, batch_sizes=()):
    """With `requested`, set `keras.distribution.DataParallel` over every device for the block (build
    the model inside it) and restore the previous distribution after; else do nothing.
    `batch_sizes`: {option name: size} every one of which must divide by the device count.
    Yields the devices (a list; empty when not requested)."""
    if not requested:
        yield []
        return
    import keras

    backend = keras.backend.backend()
    if backend != "jax":
        raise RecipeError(f"--data-parallel: needs KERAS_BACKEND=jax (the Keras distribution API is implemented "
                          f"for JAX only); this run uses {backend}")
    devices = keras.distribution.list_devices()
    if len(devices) < 2:
        raise RecipeError(f"--data-parallel: only one device here ({', '.join(devices)}); it needs several "
                          "accelerators (on CPU, XLA_FLAGS=--xla_force_host_platform_device_count=N makes N)")
    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    try:
        for name, size in dict(batch_sizes).items():
            check_batch(size, name)
        yield list(devices)
    finally:
        keras.distribution.set_distribution(previous)


def recipe_distribution(args):
    """`data_parallel` as a recipe's parsed arguments ask (`--data-parallel`), checking its
    `--batch-size` and `--eval-batch-size`."""
    sizes = {f"--{k.replace('_', '-')}": getattr(args, k) for k in ("batch_size", "eval_batch_size")
             if isinstance(getattr(args, k, None), int)}
    return data_parallel(getattr(args, "data_parallel", False), sizes)
