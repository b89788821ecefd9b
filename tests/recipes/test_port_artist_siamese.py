"""Port fidelity of the bundled `artist-siamese-msd` preset, on real music.

The reference is an independent numpy forward pass of the authors' HDF5 file:
arrays read with h5py, the mel spectrogram from librosa, convolution, batch
normalisation and pooling written out by hand in float64. It is compared with
our Keras pipeline on the same audio: the preset loaded with
`load_preset_model`, its front-end layer over the whole clip, the same
129-frame segments, the backbone, the mean over segments.

Segmentation (both sides, as the authors' encoding script does it): the whole
clip's frames are cut into consecutive 129-frame segments and a last partial
segment is dropped; a clip shorter than 129 frames gets zero frames appended
(zeros after standardisation, i.e. the training set's mean level), which is the
policy recorded in the preset's preprocessor.json ("pad": "zeros").

Mel reference: librosa 0.10+ pads centred frames with zeros (pad_mode
"constant"), as our front end does; the authors' 2018 librosa padded by
reflection, which changes only the first and last frame of a clip.
"""


import h5py
import keras
import numpy as np
import pytest

from helpers import FIXTURE, REPO
import zoo
from sdk.preset import load_preset_model, read_preset

PRESET = REPO / "sdk/bundled/artist-siamese-msd"
PUBLISHED_H5 = REPO.parent / "shared/weights/artist-siamese-msd/model_siamese_10000.h5"
SAMPLE_RATE = 22050
SEGMENT = 129
MEL_MEAN, MEL_STD = 0.22620339, 0.25794547
KERNELS = (4, 4, 4, 2, 1)
POOLS = (4, 4, 4, 2)

needs_h5 = pytest.mark.skipif(not PUBLISHED_H5.exists(), reason="shared weights not beside the repo")


# ----- independent numpy reference ------------------------------------------------------
def load_fixture():
    """The fixture as 22,050 Hz mono float32 (soundfile decode, channel mean, resampy)."""
    import resampy
    import soundfile

    audio, sr = soundfile.read(FIXTURE, dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    if sr != SAMPLE_RATE:
        mono = resampy.resample(mono, sr, SAMPLE_RATE)
    return mono.astype(np.float32)


def reference_logmel(waveform):
    """(frames, 128): librosa mel magnitude, log10(1 + 10 S), fixed standardisation."""
    import librosa

    mel = librosa.feature.melspectrogram(
        y=waveform.astype(np.float64), sr=SAMPLE_RATE, n_fft=1024, hop_length=512, win_length=1024,
        window="hann", center=True, pad_mode="constant", power=1.0, n_mels=128, htk=False, norm="slaney",
    )
    return ((np.log10(1.0 + 10.0 * mel) - MEL_MEAN) / MEL_STD).T


def split_segments(frames, length=SEGMENT):
    """Consecutive `length`-frame segments; drop the remainder; pad a short clip with zeros."""
    count = frames.shape[0] // length
    if count == 0:
        return np.pad(frames, ((0, length - frames.shape[0]), (0, 0)))[None]
    return frames[: count * length].reshape(count, length, frames.shape[1])


def conv1d_same(x, kernel, bias):
    """Keras/TF 'same' convolution (cross-correlation), stride 1: (k-1)//2 zeros on the left,
    the rest on the right. x (time, in), kernel (k, in, out)."""
    k = kernel.shape[0]
    left = (k - 1) // 2
    padded = np.pad(x, ((left, k - 1 - left), (0, 0)))
    steps = x.shape[0]
    return sum(padded[j : j + steps] @ kernel[j] for j in range(k)) + bias


def max_pool_valid(x, size):
    steps = x.shape[0] // size
    return x[: steps * size].reshape(steps, size, x.shape[1]).max(axis=1)


def read_h5_tower(path):
    weights = []
    with h5py.File(path, "r") as f:
        group = f["model_weights"]
        for i in range(1, 6):
            conv = group[f"conv1d_{i}"][f"conv1d_{i}"]
            bn = group[f"batch_normalization_{i}"][f"batch_normalization_{i}"]
            weights.append({
                "kernel": np.array(conv["kernel:0"], np.float64), "bias": np.array(conv["bias:0"], np.float64),
                **{k: np.array(bn[f"{k}:0"], np.float64) for k in ("gamma", "beta", "moving_mean", "moving_variance")},
            })
    return weights


def reference_segment_features(segment, tower):
    """One (129, 128) segment -> 256-d: [conv, BN (eps 1e-3), ReLU, max-pool] x 4, conv, BN, ReLU, max."""
    x = segment
    for i, w in enumerate(tower):
        x = conv1d_same(x, w["kernel"], w["bias"])
        x = w["gamma"] * (x - w["moving_mean"]) / np.sqrt(w["moving_variance"] + 1e-3) + w["beta"]
        x = np.maximum(x, 0.0)
        if i < len(POOLS):
            x = max_pool_valid(x, POOLS[i])
    return x.max(axis=0)


def reference_embedding(waveform, tower):
    segments = split_segments(reference_logmel(waveform))
    return np.mean([reference_segment_features(s, tower) for s in segments], axis=0), len(segments)


# ----- our Keras pipeline ---------------------------------------------------------------
def keras_embedding(model, waveform):
    embedder = model.get_layer("embedder")
    frontend, backbone = embedder.get_layer("frontend"), embedder.get_layer("backbone")
    frames = keras.ops.convert_to_numpy(frontend(waveform[None].astype("float32")))[0]
    segments = split_segments(frames)
    return np.asarray(backbone.predict(segments, verbose=0), np.float64).mean(axis=0), len(segments)


def cosine(a, b):
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def ported():
    return load_preset_model(PRESET).build_network()  # the training graph, holding the preset's weights


@pytest.fixture(scope="module")
def clip():
    return load_fixture()


# ----- tests ----------------------------------------------------------------------------
def test_keras_same_padding_matches_the_tf_convention():
    """For even kernels Keras (every backend) pads (k-1)//2 left, as TF did for the authors."""
    for k in (1, 2, 4):
        layer = keras.layers.Conv1D(1, k, padding="same", use_bias=False)
        layer.build((1, 9, 1))
        kernel = np.arange(1, k + 1, dtype=np.float32).reshape(k, 1, 1)
        layer.set_weights([kernel])
        impulse = np.zeros((1, 9, 1), np.float32)
        impulse[0, 4, 0] = 1.0
        ours = keras.ops.convert_to_numpy(layer(impulse))[0, :, 0]
        expected = conv1d_same(impulse[0].astype(np.float64), kernel.astype(np.float64), 0.0)[:, 0]
        np.testing.assert_array_equal(ours, expected)


def test_fixture_is_twelve_seconds_of_music(clip):
    assert 11.9 < clip.shape[0] / SAMPLE_RATE < 12.1
    assert np.sqrt(np.mean(clip**2)) > 0.02  # not silence
    assert split_segments(reference_logmel(clip)).shape == (4, SEGMENT, 128)


def test_preset_describes_the_pipeline_used_here():
    files = read_preset(PRESET)
    assert files.preprocessor["sample_rate"] == SAMPLE_RATE
    assert files.preprocessor["segment"] == {"length": SEGMENT, "hop": SEGMENT, "unit": "frames",
                                             "remainder": "drop", "pad": "zeros"}
    frontend = files.preprocessor["frontend"]
    assert (frontend["n_fft"], frontend["hop_length"], frontend["n_mels"], frontend["power"]) == (1024, 512, 128, 1.0)
    assert (frontend["mean"], frontend["std"]) == (MEL_MEAN, MEL_STD)
    assert files.metadata["embedding_size"] == 256 and files.metadata["license"] == "MIT"


@needs_h5
def test_port_matches_numpy_forward_pass_of_the_original_h5(ported, clip):
    tower = read_h5_tower(PUBLISHED_H5)
    expected, n_expected = reference_embedding(clip, tower)
    actual, n_actual = keras_embedding(ported, clip)
    assert n_expected == n_actual == 4
    assert actual.shape == (256,) and np.all(np.isfinite(actual)) and np.linalg.norm(expected) > 0
    fidelity = cosine(actual, expected)
    worst = float(np.max(np.abs(actual - expected)) / np.max(np.abs(expected)))
    print(f"\n[{keras.backend.backend()}] port-fidelity cosine on {FIXTURE.name}: {fidelity:.8f} "
          f"(1 - cosine = {1 - fidelity:.1e}, max |difference| / max |value| = {worst:.1e})")
    assert fidelity >= 0.9999, fidelity

    # A randomly initialised tower must land clearly elsewhere, or this test proves nothing.
    keras.utils.set_random_seed(0)
    random_model = zoo.build("artist-siamese")
    random_vector, _ = keras_embedding(random_model, clip)
    print(f"[{keras.backend.backend()}] cosine to a randomly initialised model: {cosine(actual, random_vector):.4f}")
    assert cosine(actual, random_vector) < 0.99
    assert cosine(expected, random_vector) < 0.99


@needs_h5
def test_short_clip_is_padded_to_one_segment_on_both_sides(ported, clip):
    short = clip[: SAMPLE_RATE]  # 1 s -> 44 frames < 129
    tower = read_h5_tower(PUBLISHED_H5)
    expected, n_expected = reference_embedding(short, tower)
    actual, n_actual = keras_embedding(ported, short)
    assert n_expected == n_actual == 1
    assert cosine(actual, expected) >= 0.9999
