"""musicnn port: architecture facts always; checkpoint fidelity when the MSD_musicnn weights are at hand.

The weights are the `musicnn/MSD_musicnn/` TF1 checkpoint of the PyPI wheel
musicnn 0.1.0 (Jordi Pons, ISC licence). They are found through the
MUSICNN_CHECKPOINT environment variable (the MSD_musicnn directory), or an
installed `musicnn` package; reading them needs tensorflow. Without either,
the fidelity tests skip.

The reference is an independent float64 numpy forward pass written here from
the checkpoint arrays and librosa's mel spectrogram. It follows the original's
own conventions, not ours: TF "same" padding for the even temporal kernels,
[7, C, 1, F] mid-end kernels applied over whole rows, and the original's
interleaved [max_0, mean_0, max_1, ...] pooled vector; so it also checks the
converter's reindexing.
"""

import importlib.util
import os
from pathlib import Path

import keras
import numpy as np
import pytest

import zoo
import zoo.musicnn  # noqa: F401  (until zoo/__init__ imports it)
from zoo.musicnn import MSD_TAGS

SR = 16000
NUM_SAMPLES = 47616  # 1 + 47616 // 256 = 187 centred frames, musicnn's 3 s patch
EPS = 1e-3


def find_checkpoint():
    env = os.environ.get("MUSICNN_CHECKPOINT")
    if env:
        return Path(env) if (Path(env) / ".index").exists() else None
    spec = importlib.util.find_spec("musicnn")
    if spec and spec.submodule_search_locations:
        path = Path(list(spec.submodule_search_locations)[0]) / "MSD_musicnn"
        if (path / ".index").exists():
            return path
    return None


CHECKPOINT = find_checkpoint()
needs_checkpoint = pytest.mark.skipif(
    CHECKPOINT is None or importlib.util.find_spec("tensorflow") is None,
    reason="MSD_musicnn checkpoint (MUSICNN_CHECKPOINT or the musicnn wheel) and tensorflow needed",
)


# ----- architecture facts (no weights needed) --------------------------------------------
def test_thesis_size_shapes_match_the_checkpoint_layout():
    model = zoo.build("musicnn")
    assert model.layers[1].name == "frontend"
    assert model.get_layer("frontend").compute_output_shape((None, NUM_SAMPLES)) == (None, 187, 96)
    backbone = model.get_layer("backbone")
    kernels = {l.name: tuple(l.kernel.shape) for l in backbone.layers if hasattr(l, "kernel")}
    assert kernels == {
        "timbral1_conv": (7, 38, 1, 204), "timbral2_conv": (7, 67, 1, 204),
        "temporal1_conv": (128, 1, 1, 51), "temporal2_conv": (64, 1, 1, 51),
        "temporal3_conv": (32, 1, 1, 51), "midend1_conv": (7, 561, 64),
        "midend2_conv": (7, 64, 64), "midend3_conv": (7, 64, 64),
        "penultimate_dense": (1506, 200),
    }
    assert backbone.get_layer("midend_features").output.shape == (None, 187, 753)
    assert model.get_layer("tags").kernel.shape == (200, 50)
    assert len(MSD_TAGS) == 50 and len(set(MSD_TAGS)) == 50
    assert model.count_params() == 792_079  # every non-Adam variable of the checkpoint


def test_backbone_is_length_agnostic_in_time():
    model = zoo.build("musicnn", **{**zoo.get_model_info("musicnn").tiny, "num_samples": 16000})
    assert model.predict(np.zeros((1, 16000), "float32"), verbose=0).shape == (1, 5)


# ----- test audio ------------------------------------------------------------------------
def techno_loop(n=48000, seed=0):
    """128 bpm kick on every beat, off-beat noise hats, gated 55 Hz saw bass."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    y = np.zeros(n)
    beat = 60 / 128
    for k in range(int(n / SR / beat) + 1):
        start = int(k * beat * SR)
        length = min(4000, n - start)
        if length > 0:
            tt = np.arange(length) / SR
            y[start:start + length] += 0.9 * np.sin(2 * np.pi * (50 + 100 * np.exp(-30 * tt)) * tt) * np.exp(-12 * tt)
        start = int((k + 0.5) * beat * SR)
        length = min(800, n - start)
        if length > 0:
            y[start:start + length] += 0.3 * rng.standard_normal(length) * np.exp(-np.arange(length) / 150)
    saw = 2 * ((55 * t) % 1) - 1
    y += 0.25 * saw * (0.5 + 0.5 * np.sign(np.sin(4 * np.pi * t / beat)))
    return (0.8 * y / np.abs(y).max()).astype(np.float32)


def orchestral_tones(n=48000):
    """A slow-attack A major chord of vibrato harmonic tones (string-section-like)."""
    t = np.arange(n) / SR
    y = np.zeros(n)
    for f in (220.0, 277.18, 329.63, 440.0, 554.37):
        phase = 2 * np.pi * np.cumsum(f * (1 + 0.005 * np.sin(2 * np.pi * 5.5 * t))) / SR
        for h in range(1, 8):
            y += np.sin(h * phase) / h ** 1.5
    y *= np.minimum(1.0, t / 0.8)
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


# ----- independent numpy reference -------------------------------------------------------
def reference_logmel(waveform):
    """(187, 96): librosa power mel (n_fft 512, hop 256), float32, log10(1 + 10000 S)."""
    import librosa

    mel = librosa.feature.melspectrogram(y=waveform, sr=SR, n_fft=512, hop_length=256, n_mels=96).T
    return np.log10(10000.0 * mel.astype(np.float32) + 1.0)[:187]


def bn(x, w, scope):
    g, b, m, v = (w[f"{scope}/{k}"].astype(np.float64) for k in ("gamma", "beta", "moving_mean", "moving_variance"))
    return (x - m) / np.sqrt(v + EPS) * g + b


def conv_time_freq(image, kernel, bias, pad_before, pad_after):
    """image (T, F, 1), kernel (kh, kw, 1, out): zero-pad time, valid in frequency, ReLU."""
    kh, kw = kernel.shape[:2]
    padded = np.pad(image[..., 0], ((pad_before, pad_after), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (kh, kw))  # (T, F', kh, kw)
    return np.maximum(np.einsum("tfhw,hwo->tfo", windows, kernel[:, :, 0, :].astype(np.float64)) + bias, 0.0)


def reference_forward(logmel, w):
    """One patch (187, 96) -> dict of intermediate activations and the 50 tag scores."""
    x = bn(logmel.astype(np.float64)[..., None], w, "batch_normalization")
    branches = []
    for i, conv in enumerate(["conv2d", "conv2d_1", "conv2d_2", "conv2d_3", "conv2d_4"]):
        kernel = w[f"{conv}/kernel"]
        before = (kernel.shape[0] - 1) // 2  # TF "same": the extra zero goes after
        y = conv_time_freq(x, kernel, w[f"{conv}/bias"], before, kernel.shape[0] - 1 - before)
        branches.append(bn(y, w, f"batch_normalization_{i + 1}").max(axis=1))
    front = np.concatenate(branches, axis=1)  # (187, 561)
    mids = []
    h = front
    for i, conv in enumerate(["conv2d_5", "conv2d_6", "conv2d_7"]):
        kernel = w[f"{conv}/kernel"][:, :, 0, :].astype(np.float64)  # (7, C, 64)
        windows = np.lib.stride_tricks.sliding_window_view(np.pad(h, ((3, 3), (0, 0))), 7, axis=0)
        y = np.maximum(np.einsum("tck,kco->to", windows, kernel) + w[f"{conv}/bias"], 0.0)
        y = bn(y, w, f"batch_normalization_{i + 6}")
        h = y if i == 0 else y + h
        mids.append(h)
    features = np.concatenate([front, *mids], axis=1)  # (187, 753)
    pooled = np.stack([features.max(axis=0), features.mean(axis=0)], axis=1).reshape(-1)  # interleaved
    p = bn(pooled, w, "batch_normalization_9")
    p = bn(np.maximum(p @ w["dense/kernel"] + w["dense/bias"], 0.0), w, "batch_normalization_10")
    logits = p @ w["dense_1/kernel"] + w["dense_1/bias"]
    return {"front": front, "cnn3": mids[-1], "penultimate": p, "tags": 1.0 / (1.0 + np.exp(-logits))}


@pytest.fixture(scope="module")
def converted():
    from training_recipes.musicnn_msd.convert import checkpoint_prefix, load_into, read_checkpoint

    arrays = read_checkpoint(checkpoint_prefix(CHECKPOINT))
    return load_into(zoo.build("musicnn"), arrays), arrays


@needs_checkpoint
def test_intermediate_layers_match_numpy_reference(converted):
    model, arrays = converted
    backbone = model.get_layer("backbone")
    clips = np.stack([techno_loop(), orchestral_tones()])
    logmel = np.stack([reference_logmel(c) for c in clips])
    probe = keras.Model(backbone.input, [backbone.get_layer(n).output for n in
                                         ("frontend_features", "midend3_res", "penultimate_bn")])
    front, cnn3, penultimate = (np.asarray(v) for v in probe.predict(logmel, verbose=0))
    tags = np.asarray(keras.ops.convert_to_numpy(model.get_layer("tags")(penultimate)))
    for i in range(len(clips)):
        ref = reference_forward(logmel[i], arrays)
        np.testing.assert_allclose(front[i], ref["front"], rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(cnn3[i], ref["cnn3"], rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(penultimate[i], ref["penultimate"], rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(tags[i], ref["tags"], atol=1e-5)


@needs_checkpoint
def test_frontend_matches_librosa_except_the_edge_frame(converted):
    model, _ = converted
    clip = techno_loop()
    ours = np.asarray(keras.ops.convert_to_numpy(model.get_layer("frontend")(clip[None, :NUM_SAMPLES])))[0]
    # The last centred frame of a 47,616-sample input sees zeros where the longer clip has audio.
    np.testing.assert_allclose(ours[:-1], reference_logmel(clip)[:-1], atol=1e-4)


@needs_checkpoint
def test_waveform_to_tags_is_plausible(converted):
    model, _ = converted
    scores = model.predict(np.stack([techno_loop(), orchestral_tones()])[:, :NUM_SAMPLES], verbose=0)
    techno, orchestra = (dict(zip(MSD_TAGS, s)) for s in scores)
    assert MSD_TAGS[int(np.argmax(scores[0]))] in {"electronic", "electro", "dance", "House", "electronica"}
    # Measured (jax, tensorflow, torch): techno electronic 0.83 / electro 0.79 / dance 0.11,
    # orchestra 0.06 / 0.005 / 0.003; orchestra instrumental 0.14 / ambient 0.10, techno 0.002 / 0.010.
    for tag in ("electronic", "electro", "dance"):
        assert techno[tag] > 5 * orchestra[tag]
    for tag in ("instrumental", "ambient"):
        assert orchestra[tag] > 5 * techno[tag]
