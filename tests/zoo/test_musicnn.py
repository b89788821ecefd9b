"""musicnn port: architecture facts and the bundled presets always; checkpoint fidelity when the weights are at hand.

The bundled presets `musicnn-msd` / `musicnn-mtat` are the `musicnn/MSD_musicnn/`
and `musicnn/MTT_musicnn/` TF1 checkpoints of the PyPI wheel musicnn 0.1.0
(Jordi Pons, ISC licence), converted by training_recipes/musicnn_msd/convert.py.
The checkpoints are found through MUSICNN_CHECKPOINT (the MSD_musicnn directory;
`make test` fetches the wheel and sets it) and MUSICNN_MTT_CHECKPOINT (default:
MTT_musicnn beside it), else an installed `musicnn` package, else the wheel
unpacked in data/musicnn-wheel; reading them needs tensorflow. Without them the
fidelity tests skip.

The reference is an independent float64 numpy forward pass written here from
the checkpoint arrays and librosa's mel spectrogram. It follows the original's
own conventions, not ours: TF "same" padding for the even temporal kernels,
[7, C, 1, F] mid-end kernels applied over whole rows, and the original's
interleaved [max_0, mean_0, max_1, ...] pooled vector; so it also checks the
converter's reindexing.
"""

import hashlib
import importlib.util
import json
import os
from pathlib import Path

import keras
import numpy as np
import pytest

import zoo
from sdk.preset import load_preset_model, read_preset
from helpers import FIXTURE, REPO, orchestral_tones, techno_loop
from sdk.presets import PRESETS
from zoo.musicnn import MSD_TAGS, MTT_TAGS

SR = 16000
NUM_SAMPLES = 47616  # 1 + 47616 // 256 = 187 centred frames, musicnn's 3 s patch
SEGMENT = 187
EPS = 1e-3
PRESET_IDS = {"MSD_musicnn": "musicnn-msd", "MTT_musicnn": "musicnn-mtat"}
TAGS = {"musicnn-msd": MSD_TAGS, "musicnn-mtat": MTT_TAGS}


def _valid(path):
    return path if path is not None and (Path(path) / ".index").exists() else None


def find_checkpoint(kind="MSD_musicnn"):
    """The checkpoint directory `kind` (MSD_musicnn / MTT_musicnn), or None."""
    msd = os.environ.get("MUSICNN_CHECKPOINT")
    if kind == "MTT_musicnn" and os.environ.get("MUSICNN_MTT_CHECKPOINT"):
        return _valid(Path(os.environ["MUSICNN_MTT_CHECKPOINT"]))
    if msd:
        return _valid(Path(msd) if kind == "MSD_musicnn" else Path(msd).parent / kind)
    spec = importlib.util.find_spec("musicnn")
    if spec and spec.submodule_search_locations:
        found = _valid(Path(list(spec.submodule_search_locations)[0]) / kind)
        if found:
            return found
    return _valid(REPO / "data/musicnn-wheel/musicnn" / kind)


CHECKPOINTS = {kind: find_checkpoint(kind) for kind in PRESET_IDS}
CHECKPOINT = CHECKPOINTS["MSD_musicnn"]
HAVE_TF = importlib.util.find_spec("tensorflow") is not None
needs_checkpoint = pytest.mark.skipif(
    CHECKPOINT is None or not HAVE_TF,
    reason="MSD_musicnn checkpoint (MUSICNN_CHECKPOINT, `make musicnn-wheel`) and tensorflow needed",
)


def with_checkpoint(kind):
    """pytest.param for one checkpoint kind, skipped when its directory or tensorflow is missing."""
    return pytest.param(kind, id=PRESET_IDS[kind], marks=pytest.mark.skipif(
        CHECKPOINTS[kind] is None or not HAVE_TF,
        reason=f"{kind} checkpoint (MUSICNN_CHECKPOINT, `make musicnn-wheel`) and tensorflow needed"))


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


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
    """The bundled musicnn-msd preset (what ships) and the checkpoint arrays it came from."""
    from training_recipes.musicnn_msd.convert import checkpoint_prefix, read_checkpoint

    arrays = read_checkpoint(checkpoint_prefix(CHECKPOINT))
    return load_preset_model(PRESETS["musicnn-msd"].bundled_path).build_network(), arrays


@pytest.mark.parametrize("kind", [with_checkpoint(k) for k in PRESET_IDS])
def test_intermediate_layers_match_numpy_reference(kind):
    from training_recipes.musicnn_msd.convert import checkpoint_prefix, read_checkpoint

    arrays = read_checkpoint(checkpoint_prefix(CHECKPOINTS[kind]))
    model = load_preset_model(PRESETS[PRESET_IDS[kind]].bundled_path).build_network()
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


# ----- the bundled presets ---------------------------------------------------------------
@pytest.mark.parametrize("preset_id", list(TAGS))
def test_bundled_preset_is_registered_and_described(preset_id):
    spec = PRESETS[preset_id]
    assert spec.bundled and spec.revision is None
    files = read_preset(spec.bundled_path)
    assert spec.weights_sha256 == files.metadata["files"]
    assert sha256(spec.bundled_path / "model.weights.h5") == spec.weights_sha256["model.weights.h5"]
    assert files.name == "musicnn" and files.arguments == zoo.model_arguments("musicnn")
    assert files.metadata["tags"] == list(TAGS[preset_id])
    assert files.metadata["embedding_size"] == 200 and files.metadata["license"] == "ISC"
    assert "Jordi Pons" in files.metadata["copyright"]
    assert files.preprocessor["sample_rate"] == SR
    assert files.preprocessor["segment"] == {"length": SEGMENT, "hop": SEGMENT, "unit": "frames",
                                             "remainder": "drop", "pad": "zeros"}
    frontend = files.preprocessor["frontend"]
    assert (frontend["n_fft"], frontend["hop_length"], frontend["n_mels"], frontend["power"],
            frontend["compression_scale"]) == (512, 256, 96, 2.0, 10000.0)
    assert (spec.bundled_path / "README.md").read_text() == (REPO / "hub_cards" / f"{preset_id}.md").read_text()


@pytest.mark.parametrize("preset_id,top", [("musicnn-msd", "rock"), ("musicnn-mtat", "guitar")])
def test_sdk_load_offline_tags_and_embeds_real_music(preset_id, top, monkeypatch):
    import sdk

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = sdk.load(preset_id)
    assert model.tags == list(TAGS[preset_id]) and model.embedding_size == 200
    tags = model.tag(FIXTURE, top_k=None)
    scores = np.array([s for _, s in tags])
    assert len(tags) == 50 and np.all((scores >= 0) & (scores <= 1)) and np.all(np.diff(scores) <= 0)
    # Measured on this fixture (12 s of a game-soundtrack rock piece): musicnn-msd rock 0.31,
    # country 0.20, pop 0.12; musicnn-mtat guitar 0.52, country 0.28, male 0.27.
    assert tags[0][0] == top and tags[0][1] > 1.3 * tags[1][1]
    per_segment = model.embed(FIXTURE, per_segment=True)
    assert per_segment.shape == (4, 200) and np.all(np.isfinite(per_segment))  # 751 frames -> 4 x 187
    np.testing.assert_allclose(model.embed(FIXTURE), per_segment.mean(0), rtol=1e-6)


# ----- the converter and the shipped numbers ---------------------------------------------
@pytest.mark.parametrize("kind", [with_checkpoint(k) for k in PRESET_IDS])
def test_converter_regenerates_the_bundled_preset_bit_identically(kind, tmp_path):
    from training_recipes.musicnn_msd.convert import convert

    preset_id = PRESET_IDS[kind]
    bundled = PRESETS[preset_id].bundled_path
    out = convert(CHECKPOINTS[kind], tmp_path / preset_id)
    assert sha256(out / "model.weights.h5") == PRESETS[preset_id].weights_sha256["model.weights.h5"]
    for name in ("config.json", "preprocessor.json", "README.md"):
        assert (out / name).read_bytes() == (bundled / name).read_bytes(), name
    ours, theirs = (json.loads((d / "metadata.json").read_text()) for d in (out, bundled))
    for meta in (ours, theirs):
        meta.pop("date_saved"), meta.pop("keras_version")
    assert ours == theirs


@pytest.mark.parametrize("kind", [with_checkpoint(k) for k in PRESET_IDS])
def test_preset_matches_numpy_reference_on_real_music(kind, monkeypatch):
    """sdk.load(...) on the fixture vs the numpy forward pass of the original checkpoint,
    same 4 segments of 187 frames of librosa's mel of the same 16 kHz waveform, mean over segments."""
    import librosa

    import sdk
    from sdk.audio import load_audio
    from training_recipes.musicnn_msd.convert import checkpoint_prefix, read_checkpoint

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    preset_id = PRESET_IDS[kind]
    arrays = read_checkpoint(checkpoint_prefix(CHECKPOINTS[kind]))
    # musicnn's own decoding: librosa.load at 16 kHz, then resampy's kaiser_best (the preset's too)
    waveform = load_audio(FIXTURE, SR, resample_filter="kaiser_best")
    mel = librosa.feature.melspectrogram(y=waveform, sr=SR, n_fft=512, hop_length=256, n_mels=96).T
    logmel = np.log10(10000.0 * mel.astype(np.float32) + 1.0)
    refs = [reference_forward(logmel[i * SEGMENT:(i + 1) * SEGMENT], arrays)
            for i in range(logmel.shape[0] // SEGMENT)]
    expected_tags = np.mean([r["tags"] for r in refs], 0)
    expected = np.mean([r["penultimate"] for r in refs], 0)
    model = sdk.load(preset_id)
    assert model.resampler == "kaiser_best"
    scores = dict(model.tag(FIXTURE, top_k=None))
    tags = np.array([scores[name] for name in model.tags])
    actual = model.embed(FIXTURE).astype(np.float64)
    cosine = actual @ expected / (np.linalg.norm(actual) * np.linalg.norm(expected))
    tag_diff = np.abs(tags - expected_tags).max()
    rel = np.abs(actual - expected).max() / np.abs(expected).max()
    print(f"\n[{keras.backend.backend()}] {preset_id} vs numpy reference on {FIXTURE.name} ({len(refs)} segments): "
          f"max |tag difference| {tag_diff:.1e}, embedding max |diff| / max |value| {rel:.1e}, "
          f"|1 - cosine| {abs(1 - cosine):.1e}")
    assert len(refs) == 4
    assert tag_diff < 1e-5 and rel < 1e-4 and abs(1 - cosine) < 1e-6


def test_original_float16_front_end_overflows_on_real_music():
    """Why the front end is float32: musicnn's extractor casts the mel power to float16
    before log10(1 + 10000 x); 10000 x overflows float16 (max 65504) wherever x > 6.55."""
    import librosa

    from sdk.audio import load_audio

    waveform = load_audio(FIXTURE, SR)
    mel = librosa.feature.melspectrogram(y=waveform, sr=SR, n_fft=512, hop_length=256, n_mels=96).T
    with np.errstate(over="ignore"):
        original = np.log10(10000 * mel.astype(np.float16) + 1)
    overflowed = int(np.isinf(original).sum())
    # Measured: 187 of 72,096 bins on this fixture.
    assert overflowed > 0 and overflowed == int((mel > 65504 / 10000).sum())
    ours = keras.ops.convert_to_numpy(zoo.build("musicnn").get_layer("frontend")(waveform[None]))[0]
    assert np.all(np.isfinite(ours)) and ours.max() < 10
