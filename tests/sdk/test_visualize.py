"""`sdk.visualize` and `music-zoo visualize`: learned-filter spectra (thesis 3.1.7) and embedding maps."""

import csv
from pathlib import Path

import keras
import numpy as np
import pytest
import soundfile as sf

from helpers import tiny_samplecnn_preset
from sdk.cli import main as cli
from sdk.index import Catalog
from sdk.visualize import (draw_filters, embedding_map, filter_spectra, label_groups, labels_from_items,
                           sort_by_peak, stage_names)

RATE = 8000
SINE_HZ = [2000.0, 500.0, 1000.0]  # the three first-layer filters, deliberately unsorted
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def sinusoid_model():
    """A SampleCNN-like net whose first conv filters are Hann-windowed sinusoids at SINE_HZ."""
    keras.utils.set_random_seed(0)
    waveform = keras.Input((RATE // 10, 1), name="samples")
    x = keras.layers.Conv1D(len(SINE_HZ), 64, use_bias=False, name="conv0_conv")(waveform)
    x = keras.layers.ReLU(name="conv0_relu")(x)
    x = keras.layers.MaxPooling1D(3, name="block1_pool")(x)
    x = keras.layers.Conv1D(4, 3, name="block2_conv")(x)
    x = keras.layers.ReLU(name="block2_relu")(x)
    model = keras.Model(waveform, keras.layers.GlobalMaxPooling1D(name="features")(x))
    t = np.arange(64) / RATE
    kernel = np.stack([np.hanning(64) * np.sin(2 * np.pi * f * t) for f in SINE_HZ], axis=-1)[:, None, :]
    model.get_layer("conv0_conv").set_weights([kernel.astype("float32")])
    return model


def assert_png(path, min_side=100):
    path = Path(path)
    assert path.read_bytes()[:8] == PNG_MAGIC
    import matplotlib.image

    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and min(image.shape[:2]) >= min_side, image.shape
    assert image[..., :3].std() > 0.01  # something was drawn, not a blank canvas


def tone(freq, seconds=0.3, seed=0):
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * np.random.default_rng(seed).standard_normal(t.size)
            ).astype("float32")


@pytest.fixture(scope="module")
def tiny_preset(tmp_path_factory):
    """A tiny raw-waveform SampleCNN preset (8 kHz, 81-sample segments)."""
    return tiny_samplecnn_preset(tmp_path_factory.mktemp("presets") / "test-visualize", RATE)


def test_gradient_ascent_finds_each_sinusoid_filter_frequency():
    model = sinusoid_model()
    assert stage_names(model) == ["conv0_relu", "block1_pool", "block2_relu"]
    freqs, spectra = filter_spectra(model, "conv0_relu", steps=30, sample_rate=RATE, sort=False)
    assert spectra.shape == (3, 729 // 2 + 1) and freqs[-1] == pytest.approx(RATE / 2, rel=0.01)
    peaks = freqs[np.argmax(spectra, axis=1)]
    np.testing.assert_allclose(peaks, SINE_HZ, atol=RATE / 64)  # within one kernel-length bin
    # The energy is at the filter's frequency, not spread: the peak dominates the spectrum.
    assert np.all(spectra.max(1) > 20 * np.median(spectra, axis=1))


def test_sorting_by_peak_frequency_is_monotone():
    model = sinusoid_model()
    freqs, spectra = filter_spectra(model, 0, steps=30, sample_rate=RATE)  # index 0 = conv0_relu, sorted
    peaks = freqs[np.argmax(spectra, axis=1)]
    assert np.all(np.diff(peaks) >= 0)
    np.testing.assert_allclose(peaks, sorted(SINE_HZ), atol=RATE / 64)
    toy = np.array([[0, 0, 9], [9, 0, 0], [0, 9, 0], [0, 0, 5]], float)
    ordered, order = sort_by_peak(np.array([0.0, 10.0, 20.0]), toy)
    assert order.tolist() == [1, 2, 0, 3] and ordered.tolist() == toy[[1, 2, 0, 3]].tolist()
    # A deeper stage runs too, and on a waveform of the thesis's frame length.
    freqs, spectra, waves = filter_spectra(model, "block2_relu", num_filters=2, steps=3, sample_rate=RATE,
                                           return_waveforms=True)
    assert spectra.shape == (2, freqs.size) and waves.shape == (2, 729) and np.all(np.isfinite(waves))


def test_unknown_layer_lists_the_stages():
    with pytest.raises(ValueError, match="unknown layer 'block9_pool'.*conv0_relu, block1_pool, block2_relu"):
        filter_spectra(sinusoid_model(), "block9_pool", steps=1)
    with pytest.raises(ValueError, match="index 5 out of range"):
        filter_spectra(sinusoid_model(), 5, steps=1)


def test_draw_filters_writes_a_png(tiny_preset, tmp_path):
    result = draw_filters(str(tiny_preset), tmp_path / "out" / "filters.png", num_filters=4, steps=2)
    assert list(result["stages"]) == ["conv0_relu", "block1_pool", "block2_pool", "block3_pool", "top_relu"]
    assert all(stage["filters"] == 4 for stage in result["stages"].values())
    assert_png(result["out"])


def test_embedding_map_of_three_labelled_clusters(tmp_path):
    rng = np.random.default_rng(0)
    centres = 5 * rng.standard_normal((3, 16))
    vectors = np.concatenate([c + 0.1 * rng.standard_normal((4, 16)) for c in centres])
    labels = ["rock"] * 4 + ["jazz"] * 4 + ["folk"] * 4
    points = embedding_map(vectors, labels, tmp_path / "map.png")
    assert points.shape == (12, 2)
    assert_png(tmp_path / "map.png")
    # Every song's nearest neighbour on the map carries its label: the clusters survive.
    distances = np.linalg.norm(points[:, None] - points[None], axis=-1) + np.eye(12) * 1e9
    assert [labels[j] for j in distances.argmin(1)] == labels
    with pytest.raises(ValueError, match="at least 3 items, got 2"):
        embedding_map(vectors[:2], labels[:2], tmp_path / "small.png")


def test_legend_keeps_top_20_labels_then_other():
    labels = [f"label{i:02d}" for i in range(25) for _ in range(25 - i)]
    groups = label_groups(labels)
    assert [name for name, _ in groups[:2]] == ["label00", "label01"] and len(groups) == 21
    assert groups[-1][0] == "other" and groups[-1][1].sum() == sum(range(1, 6))


def test_umap_needs_umap_learn(tmp_path):
    pytest.importorskip("sklearn")
    try:
        import umap  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="pip install umap-learn"):
            embedding_map(np.eye(4), list("abcd"), tmp_path / "u.png", method="umap")
    else:
        assert embedding_map(np.eye(6) + 0.1, list("aabbcc"), tmp_path / "u.png", method="umap").shape == (6, 2)


def test_labels_from_items():
    items = [{"path": "a/x.wav", "soundtrack": "A"}, {"path": "b/y.wav", "tags": ["jazz", "piano"]}]
    assert labels_from_items(items, "soundtrack") == ["A", "(none)"]
    assert labels_from_items(items, "tags") == ["(none)", "jazz"]
    assert labels_from_items(items, "folder") == ["a", "b"]
    with pytest.raises(ValueError, match=r"items.jsonl: no 'genre' field .*soundtrack, tags"):
        labels_from_items(items, "genre", source="cat/items.jsonl")


def test_cli_filters_end_to_end_and_errors(tiny_preset, tmp_path, capsys):
    out = tmp_path / "f.png"
    assert cli(["visualize", "filters", "--preset", str(tiny_preset), "--layer", "block1_pool,-1",
                "--filters", "3", "--steps", "2", "--out", str(out)]) == 0
    assert "block1_pool (3 filters), top_relu (3 filters)" in capsys.readouterr().out
    assert_png(out)
    assert cli(["visualize", "filters", "--preset", str(tiny_preset), "--layer", "nope", "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert "unknown layer 'nope'" in error and "conv0_relu, block1_pool" in error and len(error.splitlines()) == 1
    assert cli(["visualize", "filters", "--preset", "artist-siamese-msd", "--out", str(out)]) == 2
    assert "raw-waveform models only" in capsys.readouterr().err


def test_cli_map_from_manifest_and_catalog(tiny_preset, tmp_path, capsys):
    songs = tmp_path / "songs"
    songs.mkdir()
    rows = []
    for i, (freq, soundtrack) in enumerate([(200, "low"), (220, "low"), (240, "low"), (1500, "high"),
                                            (1600, "high"), (1700, "high")]):
        sf.write(songs / f"s{i}.wav", tone(freq, seed=i), RATE)
        rows.append({"path": f"s{i}.wav", "soundtrack": soundtrack})
    with open(songs / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, ["path", "soundtrack"])
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "map.png"
    assert cli(["--json", "visualize", "map", "--audio", str(songs / "manifest.csv"), "--preset", str(tiny_preset),
                "--label", "soundtrack", "--out", str(out)]) == 0
    assert '"count": 6' in capsys.readouterr().out
    assert_png(out)

    catalog = Catalog(8, model="test")
    rng = np.random.default_rng(1)
    catalog.add([f"t{i}" for i in range(12)], rng.standard_normal((12, 8)),
                [{"soundtrack": "abc"[i % 3]} for i in range(12)])
    catalog.save(tmp_path / "catalog")
    assert cli(["visualize", "map", "--catalog", str(tmp_path / "catalog"), "--out", str(tmp_path / "c.png")]) == 0
    assert "12 songs, 3 soundtrack labels" in capsys.readouterr().out
    assert_png(tmp_path / "c.png")
    assert cli(["visualize", "map", "--catalog", str(tmp_path / "catalog"), "--label", "genre"]) == 2
    error = capsys.readouterr().err
    assert "items.jsonl: no 'genre' field" in error and len(error.splitlines()) == 1

    small = Catalog(8)
    small.add(["a", "b"], rng.standard_normal((2, 8)), [{"soundtrack": "x"}] * 2)
    small.save(tmp_path / "small")
    assert cli(["visualize", "map", "--catalog", str(tmp_path / "small"), "--out", str(tmp_path / "s.png")]) == 2
    assert "at least 3 items, got 2" in capsys.readouterr().err


def test_cli_by_subspace_on_a_single_subspace_model_says_so_before_embedding(tiny_preset, tmp_path, capsys):
    assert cli(["visualize", "map", "--audio", str(tmp_path / "not-read"), "--preset", str(tiny_preset),
                "--by-subspace"]) == 2
    error = capsys.readouterr().err
    assert f"{tiny_preset} has a single sub-space ('all'): --by-subspace needs a model with several" in error
