"""What several test folders share: the checks every family test calls (KerasHub test_case.py in
spirit), paths of the fixtures in tests/data, synthetic music, tiny presets, and the
samplecnn-msd recipe's tiny corpus (its fixtures reach every test module through conftest.py)."""

import contextlib
import json
from pathlib import Path

import keras
import numpy as np
import pytest
import soundfile

from zoo.losses import MarginHingeLoss

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
FIXTURE = DATA / "drascula_track2_30s-42s.ogg"  # 12 s of real music (tests/data/MANIFEST.md)
SYNTH_SR = 16000  # sample rate of techno_loop / orchestral_tones
DISTILL_SOUNDTRACKS = 3  # soundtracks in the distill_corpus fixture


def random_inputs(model, batch_size=4, seed=0):
    """A batch for every model input: waveforms / features as noise, integer
    inputs (conditions) as small indexes."""
    rng = np.random.default_rng(seed)
    batch = {}
    for tensor in model.inputs:
        shape = (batch_size, *tensor.shape[1:])
        if "int" in str(tensor.dtype):
            batch[tensor.name] = rng.integers(0, 2, size=shape).astype("int32")
        else:
            batch[tensor.name] = (0.1 * rng.standard_normal(shape)).astype("float32")
    return batch if len(batch) > 1 else next(iter(batch.values()))


def _target_for(loss, shape, rng):
    if isinstance(loss, MarginHingeLoss):
        return np.zeros(shape, "float32")
    name = loss if isinstance(loss, str) else getattr(loss, "name", type(loss).__name__)
    if "categorical" in name:
        target = np.zeros(shape, "float32")
        target[np.arange(shape[0]), rng.integers(0, shape[-1], shape[0])] = 1.0
        return target
    return rng.integers(0, 2, size=shape).astype("float32")


def random_targets(model, batch_size=4, seed=1):
    """Targets shaped like the outputs, of the kind each compiled loss expects."""
    rng = np.random.default_rng(seed)
    losses = model.loss if isinstance(model.loss, (list, tuple, dict)) else [model.loss]
    if isinstance(losses, dict):
        losses = [losses[name] for name in model.output_names]
    shapes = [(batch_size, *out.shape[1:]) for out in model.outputs]
    targets = [_target_for(loss, shape, rng) for loss, shape in zip(losses, shapes)]
    return targets if len(targets) > 1 else targets[0]


def loss_value(model, x, y):
    """Loss with batch statistics (training=True), as the optimiser sees it."""
    y_pred = model(x, training=True)
    return float(keras.ops.convert_to_numpy(model.compute_loss(x=x, y=y, y_pred=y_pred)))


def run_training_step_test(model, batch_size=4):
    """One optimiser step on a fixed tiny batch must lower that batch's loss."""
    x, y = random_inputs(model, batch_size), random_targets(model, batch_size)
    before = loss_value(model, x, y)
    assert np.isfinite(before) and before > 0, before
    model.train_on_batch(x, y)
    after = loss_value(model, x, y)
    assert after < before, (before, after)


def run_save_load_test(model, tmp_path, batch_size=2):
    """`.keras` round trip (safe mode) gives the same config and the same outputs."""
    x = random_inputs(model, batch_size, seed=3)
    expected = model.predict(x, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert json.dumps(restored.get_config(), sort_keys=True, default=str) == json.dumps(
        model.get_config(), sort_keys=True, default=str
    )
    actual = restored.predict(x, verbose=0)
    for e, a in zip(keras.tree.flatten(expected), keras.tree.flatten(actual)):
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-6)
    return restored


@contextlib.contextmanager
def jax_compilation_cache(directory):
    """Under JAX, let XLA reuse the compilations of models a test module rebuilds (a recipe's runs
    of one model); on other backends, nothing."""
    if keras.backend.backend() != "jax":
        yield
        return
    import jax

    names = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
             "jax_persistent_cache_min_entry_size_bytes")
    saved = {n: getattr(jax.config, n) for n in names}
    for name, value in zip(names, (str(directory), 0.0, 0)):
        jax.config.update(name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            jax.config.update(name, value)


def tiny_samplecnn_preset_args(name, sample_rate, tags=None):
    """save_preset keyword arguments of a tiny raw-waveform SampleCNN preset (81-sample
    segments: fast), optionally a tagger with the given tag names."""
    import zoo

    tiny = dict(zoo.get_model_info("samplecnn").tiny)
    metadata = {"preset": name, "registry_name": "samplecnn", "embedding_size": tiny["top_filters"],
                "license": "MIT", "outputs": [{"name": "embedding", "purpose": "embeddings", "size": tiny["top_filters"]}]}
    if tags:
        tiny["num_tags"] = len(tags)
        metadata["tags"] = list(tags)
        metadata["outputs"].append({"name": "tags", "purpose": "predictions", "size": len(tags)})
    preprocessor = {"sample_rate": sample_rate, "frontend": {},
                    "segment": {"length": 81, "hop": 81, "unit": "samples"}, "aggregation": "mean"}
    return {"name": "samplecnn", "arguments": tiny, "preprocessor": preprocessor, "metadata": metadata}


def tiny_samplecnn_preset(directory, sample_rate, tags=None, seed=0):
    """Build, seed and save a tiny SampleCNN preset at `directory`; returns its Path."""
    import zoo
    from sdk.preset import save_preset

    keras.utils.set_random_seed(seed)
    save = tiny_samplecnn_preset_args(directory.name, sample_rate, tags)
    return save_preset(zoo.build("samplecnn", **save["arguments"]), directory, **save)


# ----- synthetic music: two contrasting styles (SYNTH_SR) -------------------------------------
def techno_loop(n=48000, seed=0):
    """128 bpm kick on every beat, off-beat noise hats, gated 55 Hz saw bass."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SYNTH_SR
    y = np.zeros(n)
    beat = 60 / 128
    for k in range(int(n / SYNTH_SR / beat) + 1):
        start = int(k * beat * SYNTH_SR)
        length = min(4000, n - start)
        if length > 0:
            tt = np.arange(length) / SYNTH_SR
            y[start:start + length] += 0.9 * np.sin(2 * np.pi * (50 + 100 * np.exp(-30 * tt)) * tt) * np.exp(-12 * tt)
        start = int((k + 0.5) * beat * SYNTH_SR)
        length = min(800, n - start)
        if length > 0:
            y[start:start + length] += 0.3 * rng.standard_normal(length) * np.exp(-np.arange(length) / 150)
    saw = 2 * ((55 * t) % 1) - 1
    y += 0.25 * saw * (0.5 + 0.5 * np.sign(np.sin(4 * np.pi * t / beat)))
    return (0.8 * y / np.abs(y).max()).astype(np.float32)


def orchestral_tones(n=48000):
    """A slow-attack A major chord of vibrato harmonic tones (string-section-like)."""
    t = np.arange(n) / SYNTH_SR
    y = np.zeros(n)
    for f in (220.0, 277.18, 329.63, 440.0, 554.37):
        phase = 2 * np.pi * np.cumsum(f * (1 + 0.005 * np.sin(2 * np.pi * 5.5 * t))) / SYNTH_SR
        for h in range(1, 8):
            y += np.sin(h * phase) / h ** 1.5
    y *= np.minimum(1.0, t / 0.8)
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


# ----- the samplecnn-msd recipe on a tiny corpus (fixtures shared through conftest.py) ----------
@pytest.fixture(scope="module")
def distill_corpus(tmp_path_factory):
    """The samplecnn-msd recipe's tiny corpus: three 'soundtracks' of two 16 s tracks; one at
    44.1 kHz to exercise resampling."""
    root = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)
    rows = []
    for s in range(DISTILL_SOUNDTRACKS):
        for t in range(2):
            rate = 44100 if (s, t) == (0, 0) else 22050
            time = np.arange(16 * rate) / rate
            wave = 0.3 * np.sin(2 * np.pi * 110 * (s + 1) * (1 + 0.1 * t) * time)
            wave = wave * (1 + np.sign(np.sin(2 * np.pi * (s + 1) * time))) / 2  # rhythm per soundtrack
            wave += 0.02 * rng.standard_normal(len(time))
            name = f"s{s}_t{t}.ogg"
            soundfile.write(root / name, wave.astype(np.float32), rate)
            rows.append({"path": name, "package": f"pkg{s}", "soundtrack": f"Soundtrack {s}", "duration": 16.0})
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


@pytest.fixture(scope="module")
def distill_cache(distill_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("cache")
    from training_recipes.samplecnn_msd import prepare

    prepare.prepare(distill_corpus, out)
    return out


def train_student(corpus, cache, out, steps, resume=False, extra=()):
    """A few steps of the samplecnn-msd recipe's `train` on the tiny corpus; the last soundtrack validates."""
    from training_recipes.samplecnn_msd import train

    argv = ["--cache", str(cache), "--corpus", str(corpus), "--out", str(out), "--validation", "Soundtrack 2",
            "--max-steps", str(steps), "--eval-minutes", "0", "--soundtracks-per-batch", "2",
            "--per-soundtrack", "2"]
    train.main(argv + (["--resume"] if resume else []) + list(extra))


# ----- a tiny tagger preset and a folder of tones (the SDK tests share them) -----------------
TAGS = ["low", "mid", "high", "noise", "quiet"]


def tone(freq, seconds=1.0, sr=8000, seed=0):
    t = np.arange(int(seconds * sr)) / sr
    noise = 0.01 * np.random.default_rng(seed).standard_normal(t.size)
    return (0.3 * np.sin(2 * np.pi * freq * t) + noise).astype("float32")


@pytest.fixture(scope="module")
def tagger_dir(tmp_path_factory):
    """A tiny SampleCNN tagger preset (8 kHz, 81-sample segments, five tags)."""
    keras.utils.set_random_seed(0)  # the tiny random backbone is the feature extractor under test
    import zoo
    from sdk.preset import save_preset

    tiny = zoo.get_model_info("samplecnn").tiny
    model = zoo.build("samplecnn", **tiny)
    directory = tmp_path_factory.mktemp("presets") / "test-tagger"
    preprocessor = {"sample_rate": 8000, "frontend": {}, "segment": {"length": 81, "hop": 81, "unit": "samples"},
                    "aggregation": "mean"}
    metadata = {"preset": "test-tagger", "registry_name": "samplecnn", "embedding_size": tiny["top_filters"],
                "subspaces": {"low": [0, 8], "high": [8, 16]}, "tags": TAGS, "license": "MIT",
                "outputs": [{"name": "embedding", "purpose": "embeddings", "size": 16}]}
    return save_preset(model, directory, name="samplecnn", arguments=tiny, preprocessor=preprocessor,
                       metadata=metadata)


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("songs")
    for i, freq in enumerate([200, 210, 220, 1500, 1600, 1700]):
        soundfile.write(folder / f"song{i}.wav", tone(freq, seed=i), 8000)
    (folder / "broken.wav").write_text("not audio")
    return folder
