import inspect
import json
import pickle

import numpy as np
import pytest

import zoo
from zoo.mfcc_vq import MFCCVQ, delta, histogram_distances, mfcc, mfcc_frames

SR = 22050
TINY = zoo.get_model_info("mfcc-vq").tiny


def chirp_and_noise(seconds=1.5, seed=0, sample_rate=SR):
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    noise = np.random.default_rng(seed).standard_normal(len(t))
    return np.sin(2 * np.pi * (200 * t + 1500 * t**2)) + 0.1 * noise


def tone(freq, seconds=1.0, seed=0, sample_rate=SR):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return 0.5 * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi)) + 0.01 * rng.standard_normal(len(t))


@pytest.fixture(scope="module")
def two_tones():
    clips = [tone(440, seed=s) for s in (1, 2)] + [tone(2500, seed=s) for s in (3, 4)]
    return clips, zoo.build("mfcc-vq", **TINY).fit(clips, SR)


def test_mfcc_matches_librosa():
    librosa = pytest.importorskip("librosa")
    y = chirp_and_noise()
    expected = librosa.feature.mfcc(y=y, sr=SR, n_mfcc=13)
    actual = mfcc(y, SR)
    assert actual.shape == expected.shape == (13, 1 + len(y) // 512)
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-4)
    # The top_db floor is per track: a silent lead-in hits it.
    quiet = np.concatenate([np.zeros(6000), y[:20000]])
    np.testing.assert_allclose(mfcc(quiet, SR), librosa.feature.mfcc(y=quiet, sr=SR, n_mfcc=13),
                               rtol=1e-6, atol=1e-4)


def test_deltas_match_librosa():
    librosa = pytest.importorskip("librosa")
    coefficients = librosa.feature.mfcc(y=chirp_and_noise(), sr=SR, n_mfcc=13)
    for order in (1, 2):
        np.testing.assert_allclose(delta(coefficients, 9, order),
                                   librosa.feature.delta(coefficients, width=9, order=order),
                                   rtol=1e-6, atol=1e-6)
    frames = mfcc_frames(chirp_and_noise(), SR)
    assert frames.shape == (coefficients.shape[1], 39) and frames.dtype == np.float32
    np.testing.assert_allclose(frames[:, 13:26].T, librosa.feature.delta(coefficients), atol=1e-3)
    np.testing.assert_allclose(frames[:, 26:].T, librosa.feature.delta(coefficients, order=2),
                               atol=1e-3)
    with pytest.raises(ValueError, match="odd"):
        delta(coefficients, 4)


def test_histograms_are_normalised(two_tones):
    clips, model = two_tones
    histograms = model.transform(clips + [chirp_and_noise(1.0)], SR)
    assert histograms.shape == (5, TINY["n_clusters"]) and histograms.dtype == np.float32
    assert np.all(histograms >= 0)
    np.testing.assert_allclose(histograms.sum(1), 1.0, rtol=1e-6)
    assert model.centroids.shape == (TINY["n_clusters"], 39)
    # A (N, samples) batch works like a list of tracks.
    np.testing.assert_array_equal(model.transform(np.stack(clips[:2])), histograms[:2])


def test_two_tones_cluster_apart(two_tones):
    clips, model = two_tones
    distances = model.distances(model.transform(clips))
    assert distances.shape == (4, 4)
    np.testing.assert_allclose(np.diag(distances), 0.0, atol=1e-6)
    same = max(distances[0, 1], distances[2, 3])
    different = distances[:2, 2:].min()
    assert same < different, distances
    # A new clip of a tone is nearest to the training clips of that tone.
    fresh = model.transform([tone(440, seed=9), tone(2500, seed=9)])
    nearest = histogram_distances(fresh, model.transform(clips)).argmin(1)
    assert nearest[0] in (0, 1) and nearest[1] in (2, 3)


def test_other_sample_rates_are_resampled(two_tones):
    clips, model = two_tones
    at_16k = model.transform([tone(440, sample_rate=16000, seed=5)], sample_rate=16000)
    nearest = histogram_distances(at_16k, model.transform(clips)).argmin()
    assert nearest in (0, 1)


def test_fit_is_deterministic(two_tones):
    clips, model = two_tones
    again = zoo.build("mfcc-vq", **TINY).fit(clips, SR)
    np.testing.assert_array_equal(again.centroids, model.centroids)
    other = zoo.build("mfcc-vq", **{**TINY, "seed": 1, "num_frames": 100}).fit(clips, SR)
    assert not np.array_equal(other.centroids, model.centroids)


def test_lloyd_and_standardize_options(two_tones):
    clips, _ = two_tones
    model = zoo.build("mfcc-vq", **{**TINY, "algorithm": "lloyd", "standardize": True}).fit(clips)
    assert model.std.shape == (39,) and not np.allclose(model.std, 1.0)
    distances = model.distances(model.transform(clips))
    assert max(distances[0, 1], distances[2, 3]) < distances[:2, 2:].min()
    with pytest.raises(ValueError, match="algorithm"):
        zoo.build("mfcc-vq", algorithm="elkan")


def test_save_load_round_trip(two_tones, tmp_path):
    clips, model = two_tones
    path = tmp_path / "codebook"  # no extension: the file lands exactly there
    model.save(path)
    assert path.exists()
    restored = MFCCVQ.load(path)
    assert restored.get_config() == model.get_config()
    np.testing.assert_array_equal(restored.transform(clips), model.transform(clips))
    with pytest.raises(RuntimeError, match="not fitted"):
        zoo.build("mfcc-vq", **TINY).transform(clips)
    with pytest.raises(FileNotFoundError):
        MFCCVQ.load(tmp_path / "missing.npz")


def test_load_refuses_pickles_and_wrong_files(tmp_path):
    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(pickle.dumps({"centroids": np.zeros((8, 39))}))
    object_npz = tmp_path / "object.npz"
    np.savez(object_npz, format=np.array("zoo.mfcc_vq/1"), config=np.array([{"a": 1}], dtype=object),
             centroids=np.zeros((8, 39)), mean=np.zeros(39), std=np.ones(39))
    single = tmp_path / "array.npy"
    np.save(single, np.zeros(3))
    other_npz = tmp_path / "other.npz"
    np.savez(other_npz, weights=np.zeros(3))
    text = tmp_path / "notes.txt"
    text.write_text("not a model")
    bad_shape = tmp_path / "bad_shape.npz"
    config = json.dumps(zoo.build("mfcc-vq", **TINY).get_config())
    np.savez(bad_shape, format=np.array("zoo.mfcc_vq/1"), config=np.array(config),
             centroids=np.zeros((5, 39)), mean=np.zeros(39), std=np.ones(39))
    for path in (pickled, object_npz, single, other_npz, text, bad_shape):
        with pytest.raises(ValueError, match=path.name):
            MFCCVQ.load(path)


def test_too_few_frames_is_an_error():
    short = [tone(440, seconds=0.2)]  # 9 frames, fewer than K = 16
    with pytest.raises(ValueError, match="n_clusters=16"):
        zoo.build("mfcc-vq", **{**TINY, "n_clusters": 16}).fit(short)
    with pytest.raises(ValueError, match="num_frames=4"):
        zoo.build("mfcc-vq", **{**TINY, "num_frames": 4}).fit([tone(440)])
    with pytest.raises(ValueError, match="delta"):
        zoo.build("mfcc-vq", **TINY).fit([np.zeros(1000)])
    with pytest.raises(ValueError, match="1-D"):
        zoo.build("mfcc-vq", **TINY).fit(tone(440))


def test_registry_entry():
    entry = zoo.get_model_info("mfcc-vq")
    assert entry.kind == "numpy" and entry.reference and entry.description
    # Thesis settings: 13 MFCCs (+ deltas), K = 1024, 2,500,000 frames.
    assert entry.defaults["n_clusters"] == 1024 and entry.defaults["num_frames"] == 2_500_000
    assert entry.defaults["n_mfcc"] == 13
    parameters = inspect.signature(entry.builder).parameters
    assert set(parameters) == set(entry.defaults)
    assert all(p.kind == p.KEYWORD_ONLY for p in parameters.values())
    json.dumps(entry.defaults)
    model = zoo.build("mfcc-vq")
    assert isinstance(model, MFCCVQ) and model.get_config() == entry.defaults
    assert TINY["n_clusters"] <= 8
