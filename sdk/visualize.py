"""Pictures of what a model learned (thesis section 3.1.7); the embedding maps live in
`sdk.maps` and are importable from here too.

    freqs, spectra = filter_spectra(model, "block2_pool", num_filters=64, steps=100)
    draw_filters(model, "filters.png")                        # Figures 3.3-3.4: every stage
    embedding_map(vectors, labels, "map.png", method="tsne")  # Figure 3.5-style 2-D map
    subspace_maps(catalog, "soundtrack", "maps.png")          # one map per sub-space, plus "full"

Learned filters (Figures 3.3-3.4): for each filter of a stage, start from small random
noise and add the normalised gradient of the filter's mean activation to the input, many
times over (gradient ascent, Erhan et al. 2009); the spectrum of the resulting waveform
shows the band the filter responds to. As in the thesis the input is 729 samples ("close
to a typical frame size"); stages whose receptive field is longer get the shortest input
that reaches them. Filters are drawn for raw-waveform models (SampleCNN) only.

Gradients come from the running Keras backend through one small helper, `_gradient_fn`;
nothing here imports tensorflow, jax or torch at module level. Figures are drawn with
matplotlib's object API on the Agg canvas, so no global pyplot state is touched.
"""

import math
from pathlib import Path

import numpy as np

from sdk.maps import _figure, _save, embedding_map, label_groups, labels_from_items, subspace_maps  # noqa: F401

__all__ = ["draw_filters", "embedding_map", "filter_spectra", "label_groups", "labels_from_items",
           "sort_by_peak", "stage_names", "subspace_maps"]

FRAME_LENGTH = 729  # samples: the thesis's input for Figure 3.3
_BATCH_SAMPLES = 1 << 16  # samples per gradient batch (filters x length), bounds memory
_FLOOR_DB = -60.0


# ----- which network, which layers ---------------------------------------------------------
def _as_model(model):
    """A preset id or directory loaded; anything else as given."""
    if isinstance(model, (str, Path)):
        from sdk.model import load

        return load(model)
    return model


def _source(model):
    """(keras model whose input is the waveform (batch, samples, 1), sample rate or None, name)."""
    import keras

    model = _as_model(model)
    if hasattr(model, "task"):  # sdk.MusicModel
        from zoo.frontends import RawWaveform

        if not isinstance(model.frontend, RawWaveform):
            raise ValueError(f"{model.preset_id} takes a {type(model.frontend).__name__} input, not a waveform; "
                             "learned filters are drawn for raw-waveform models only (SampleCNN presets)")
        return model.backbone, model.sample_rate, model.preset_id
    if not isinstance(model, keras.Model):
        raise TypeError(f"expected a MusicModel, keras.Model, preset id or directory, got {type(model).__name__}")
    from zoo.parts import network_parts

    try:
        network = network_parts(model).backbone
    except ValueError:  # a network without declared parts: drawn as a whole
        network = model
    shape = tuple(network.inputs[0].shape)
    if len(shape) == 3 and shape[-1] != 1 or len(shape) not in (2, 3):
        raise ValueError(f"{model.name} takes input of shape {shape[1:]}, not a waveform; learned filters "
                         "are drawn for raw-waveform models only (SampleCNN presets)")
    return network, None, model.name


def stage_names(model):
    """Stage outputs bottom to top, as the network declares them (zoo/parts.py); for a
    network that declares none, every ReLU, else every convolution."""
    from zoo.parts import network_parts

    model = _as_model(model)
    if hasattr(model, "task"):
        return model.stage_names
    network = _source(model)[0]
    try:
        return list(network_parts(model).stages)
    except ValueError:  # a network that declares none: each block's pool, or its ReLU when unpooled
        names = [layer.name for layer in network.layers]
        guessed = [n for n in names if n.endswith("_pool") or n.endswith("_relu") and n[:-5] + "_pool" not in names]
    return guessed or (
        [layer.name for layer in network.layers if "relu" in type(layer).__name__.lower()]
        or [layer.name for layer in network.layers if "conv" in type(layer).__name__.lower()])


def _pick_layer(network, stages, layer, label):
    """A stage index or any layer name of `network` -> layer name; errors list the stages."""
    valid = f"stages of {label}: {', '.join(stages)} (or an index {-len(stages)}..{len(stages) - 1})"
    text = str(layer).strip()
    if text.lstrip("-").isdigit():
        index = int(text)
        if not -len(stages) <= index < len(stages):
            raise ValueError(f"layer index {index} out of range; {valid}")
        return stages[index]
    if text not in [l.name for l in network.layers]:
        raise ValueError(f"unknown layer {text!r}; {valid}")
    return text


def _chain(network, name):
    """The layers from the input up to `name` when the network is a plain chain (each layer
    reads the one before), so they can run on any input length; else None."""
    import keras

    chain, previous = [], network.inputs[0]
    for layer in network.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        try:
            if layer.input is not previous:
                return None
            previous = layer.output
        except (AttributeError, ValueError):  # a shared layer (several inbound nodes)
            return None
        chain.append(layer)
        if layer.name == name:
            return chain
    return None


def _extractor(network, name, length):
    """(forward function: waveform batch (b, samples, ...) -> activations, input length).

    A chain runs eagerly layer by layer (no new graph nodes, so the model is left as it
    was) at `length` samples, or the shortest multiple-of-3 growth of it that leaves at
    least one output frame; other networks run at their own input length."""
    import keras

    chain = _chain(network, name)
    full = network.inputs[0].shape[1]
    if chain is None:
        sub = keras.Model(network.inputs, network.get_layer(name).output)
        return (lambda x: sub(x, training=False)), full

    def forward(x):
        for layer in chain:
            x = layer(x, training=False)
        return x

    tail = tuple(network.inputs[0].shape[2:])
    while True:
        try:
            frames = keras.ops.shape(forward(np.zeros((1, length, *tail), "float32")))[1]
        except Exception:  # noqa: BLE001 - any backend's complaint about a too-short input
            frames = 0
        if frames and frames >= 1:
            return forward, length
        if (full is not None and length >= full) or length > 1 << 22:
            raise ValueError(f"layer {name!r} has no output frames even at {length} samples")
        length = length * 3 if full is None else min(length * 3, full)


# ----- gradients from whichever backend runs ------------------------------------------------
def _gradient_fn(forward):
    """g(x, mask) = d/dx sum_b mean_t forward(x)[b, t, :] . mask[b], as numpy, by the running
    backend's own autodiff (jax.grad, tf.GradientTape or torch.autograd)."""
    import keras

    backend = keras.backend.backend()

    def objective(x, mask):
        activation = forward(x)
        if len(activation.shape) != 3:
            raise ValueError(f"expected (batch, time, filters) activations, got shape {tuple(activation.shape)}")
        return keras.ops.sum(keras.ops.mean(activation, axis=1) * mask)

    if backend == "jax":
        import jax

        grad = jax.jit(jax.grad(objective))
        return lambda x, mask: np.asarray(grad(x, mask))
    if backend == "tensorflow":
        import tensorflow as tf

        def tf_grad(x, mask):
            x = tf.convert_to_tensor(x)
            with tf.GradientTape() as tape:
                tape.watch(x)
                value = objective(x, tf.convert_to_tensor(mask))
            return tape.gradient(value, x).numpy()

        return tf_grad
    if backend == "torch":
        import torch

        def torch_grad(x, mask):
            x = keras.ops.convert_to_tensor(x).detach().requires_grad_(True)
            (gradient,) = torch.autograd.grad(objective(x, keras.ops.convert_to_tensor(mask)), x)
            return gradient.detach().cpu().numpy()

        return torch_grad
    raise ValueError(f"filter visualisation needs gradients; Keras backend {backend!r} has none here "
                     "(use jax, tensorflow or torch)")


def _ascend(forward, length, tail, filters, channels, steps, step_size, noise, rng):
    """Waveforms (len(filters), length) maximising each filter's mean activation."""
    gradient = _gradient_fn(forward)
    batch = max(1, _BATCH_SAMPLES // length)
    out = []
    for start in range(0, len(filters), batch):
        chosen = filters[start : start + batch]
        mask = np.zeros((len(chosen), channels), "float32")
        mask[np.arange(len(chosen)), chosen] = 1.0
        x = (noise * rng.standard_normal((len(chosen), length, *tail))).astype("float32")
        for _ in range(steps):
            g = gradient(x, mask).astype("float32")
            rms = np.sqrt(np.mean(g.reshape(len(chosen), -1) ** 2, axis=1))
            x += step_size * g / (rms.reshape(-1, *[1] * (g.ndim - 1)) + 1e-12)
        out.append(x.reshape(len(chosen), length, -1).mean(-1))
    return np.concatenate(out)


def sort_by_peak(freqs, spectra):
    """(spectra sorted by the frequency of their peak magnitude, the order used); ties keep
    filter order."""
    order = np.argsort(np.asarray(freqs)[np.argmax(spectra, axis=1)], kind="stable")
    return np.asarray(spectra)[order], order


def filter_spectra(model, layer, num_filters=64, steps=100, *, filters=None, length=FRAME_LENGTH,
                   sample_rate=None, step_size=0.01, noise=0.01, seed=0, sort=True, return_waveforms=False):
    """Magnitude spectra of the inputs that maximise each filter of `layer` (thesis 3.1.7).

    model: a MusicModel, preset id / directory, or a keras.Model taking a waveform (a nested
        "backbone" model is used when present).
    layer: a stage name (stage_names(model)), any layer name, or a stage index.
    num_filters: the first that many filters of the layer (all when it has fewer);
        `filters=[...]` picks them by index instead.
    steps, step_size, noise: gradient ascent from N(0, noise^2) samples, each step adding
        step_size x (gradient / its RMS).
    length: input samples (729 as in the thesis); a stage that needs more gets more.
    sample_rate: for a plain keras.Model (default 22,050 Hz); a preset knows its own.
    Returns (freqs (F,) in Hz, spectra (n, F) magnitudes of the Hann-windowed waveforms),
    sorted by peak frequency when `sort`; with `return_waveforms` also the waveforms (n, L)
    in the same order.
    """
    model = _as_model(model)
    network, rate, label = _source(model)
    rate = int(sample_rate or rate or 22050)
    name = _pick_layer(network, stage_names(model), layer, label)
    forward, length = _extractor(network, name, int(length))
    channels = int(network.get_layer(name).output.shape[-1])
    if filters is None:
        filters = list(range(min(int(num_filters), channels)))
    filters = [int(f) for f in filters]
    if not filters or min(filters) < 0 or max(filters) >= channels:
        raise ValueError(f"layer {name!r} has filters 0..{channels - 1}; got {filters[:8]}")
    tail = tuple(network.inputs[0].shape[2:])
    rng = np.random.default_rng(seed)
    waveforms = _ascend(forward, length, tail, filters, channels, int(steps), step_size, noise, rng)
    freqs = np.fft.rfftfreq(length, 1.0 / rate)
    spectra = np.abs(np.fft.rfft(waveforms * np.hanning(length), axis=1))
    if sort:
        spectra, order = sort_by_peak(freqs, spectra)
        waveforms = waveforms[order]
    return (freqs, spectra, waveforms) if return_waveforms else (freqs, spectra)


def draw_filters(model, out, layers=None, num_filters=64, steps=100, length=FRAME_LENGTH, sample_rate=None,
                 seed=0, max_length=None):
    """Figures 3.3-3.4: one panel per stage, x = filter index sorted by peak frequency,
    y = frequency (Hz, 0 to sr/2), colour = magnitude in dB below each filter's peak.

    `layers`: stage names / indexes; None draws every stage reachable within `max_length`
    input samples (default `length`, 729: the thesis's frame; deeper stages are listed under
    "skipped": name them to draw them anyway, on the longer input they need).
    Returns {"out", "stages": {name: {"filters", "length"}}, "skipped"}.
    """
    model = _as_model(model)
    network, rate, label = _source(model)
    rate = int(sample_rate or rate or 22050)
    max_length = int(max_length or length)
    stages = stage_names(model)
    explicit = layers is not None and len(layers) > 0
    chosen = [_pick_layer(network, stages, layer, label) for layer in layers] if explicit else stages
    panels, summary, skipped = [], {}, []
    for name in chosen:
        _, needed = _extractor(network, name, int(length))
        if not explicit and needed > max_length:
            skipped.append(name)
            continue
        freqs, spectra = filter_spectra(model, name, num_filters, steps, length=length, sample_rate=rate, seed=seed)
        panels.append((name, freqs, spectra, needed))
        summary[name] = {"filters": len(spectra), "length": int(needed)}
    if not panels:
        raise ValueError(f"no stage of {label} fits in {max_length} input samples; name one with layers=")
    columns = min(4, len(panels))
    rows = math.ceil(len(panels) / columns)
    figure = _figure(figsize=(3.2 * columns + 0.8, 2.8 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, (name, freqs, spectra, needed) in zip(axes.flat, panels):
        db = 20 * np.log10(spectra / (spectra.max(axis=1, keepdims=True) + 1e-20) + 1e-20)
        image = ax.imshow(np.clip(db, _FLOOR_DB, 0).T, origin="lower", aspect="auto", cmap="magma",
                          extent=(-0.5, len(spectra) - 0.5, freqs[0], freqs[-1]), vmin=_FLOOR_DB, vmax=0)
        ax.set_title(f"{name} ({needed} samples in)", fontsize=9)
        ax.set_xlabel("filter (sorted by peak frequency)", fontsize=8)
        ax.set_ylabel("frequency (Hz)", fontsize=8)
        ax.tick_params(labelsize=7)
    figure.colorbar(image, ax=axes, shrink=0.8, label="dB below each filter's peak")
    figure.suptitle(f"Spectra of learned filters by gradient ascent: {label} ({rate:,} Hz)", fontsize=10)
    return {"out": str(_save(figure, out)), "stages": summary, "skipped": skipped}
