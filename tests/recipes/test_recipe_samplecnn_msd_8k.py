"""The samplecnn-msd-8k recipe on the tiny synthetic corpus: store -> train (teachers online) ->
resume -> export -> the SDK loads it at 8 kHz. Runs on the jax backend only: the recipe's
losses and loop are samplecnn-msd's, which tests/recipes/test_recipe_samplecnn_msd.py runs on
every backend."""

import json

import keras
import numpy as np
import pytest

import sdk
from sdk.presets import PRESETS
from training_recipes.samplecnn_msd.prepare import SAMPLE_RATE
from training_recipes.samplecnn_msd_8k import augment, export, store, teachers, train

if keras.backend.backend() != "jax":
    pytest.skip("the recipe runs on jax; its shared parts are tested on every backend", allow_module_level=True)


@pytest.fixture(scope="module")
def audio_store(distill_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("store")
    store.build_store(distill_corpus, out, workers=1)
    return out


def test_the_store_holds_every_track_at_22k_and_is_kept_when_complete(audio_store, distill_corpus):
    built = store.load_store(audio_store)
    assert len(built["tracks"]) == 6 and {t["soundtrack"] for t in built["tracks"]} == {f"Soundtrack {s}" for s in range(3)}
    first = built["tracks"][0]  # the 44.1 kHz file, resampled
    assert abs(first["length"] - 16 * SAMPLE_RATE) <= 2
    assert np.abs(built["audio"][first["offset"]: first["offset"] + first["length"]]).max() > 0.1
    stamp = (audio_store / "audio.f16.npy").stat().st_mtime_ns
    store.build_store(distill_corpus, audio_store, workers=1)
    assert (audio_store / "audio.f16.npy").stat().st_mtime_ns == stamp
    with pytest.raises(SystemExit, match="no audio store here"):
        store.load_store(audio_store / "missing")


def test_augmented_batches_keep_shape_soundtracks_and_differ_from_the_clean_audio(audio_store):
    built = store.load_store(audio_store)
    sampler = augment.CropSampler(built, range(6), augment.Augmentation(mixup_p=1.0), soundtracks_per_batch=2,
                                  per_soundtrack=2, seed=3)
    spans, labels = sampler.batch()
    assert spans.shape == (4, augment.SPAN) and spans.dtype == np.float32 and np.isfinite(spans).all()
    assert labels.tolist()[0] == labels.tolist()[1] and labels[0] != labels[2]  # K crops per soundtrack
    clean = augment.CropSampler(built, range(6), augment.Augmentation.none(), 2, 2, seed=3).batch()[0]
    assert not np.allclose(spans, clean, atol=1e-3)
    # a peaking filter at 0 dB is the identity; at +6 dB it boosts its centre frequency
    b, a = augment.peaking_biquad(1000.0, 0.0, 1.0)
    np.testing.assert_allclose(b, a)
    tone = np.sin(2 * np.pi * 1000 * np.arange(SAMPLE_RATE) / SAMPLE_RATE)
    from scipy.signal import lfilter
    boosted = lfilter(*augment.peaking_biquad(1000.0, 6.0, 1.0), tone)[SAMPLE_RATE // 2:]
    assert np.std(boosted) / np.std(tone) == pytest.approx(10 ** (6 / 20), rel=0.02)


def test_the_teachers_see_the_crop_as_their_presets_do():
    rng = np.random.default_rng(0)
    spans = (0.1 * rng.standard_normal((2, augment.SPAN))).astype(np.float32)
    crew = teachers.Teachers(("musicnn-msd",), song_teacher="samplecnn-msd")
    out = crew(spans)
    assert out["tags"].shape == (2, 50) and out["song"].shape == (2, 256) and out["musicnn-msd"].shape == (2, 200)
    wave16 = teachers.resample_batch(spans, 16000)[:, :47616]
    direct = sdk.load("musicnn-msd").task.build_network().predict(wave16, verbose=0)
    np.testing.assert_allclose(out["tags"], direct, atol=1e-5)
    # samplecnn-msd's whole embedding graph on the centre of the span's central 65,536 samples
    start = (augment.SPAN - teachers.ARTIST_SAMPLES) // 2 + (teachers.ARTIST_SAMPLES - 59049) // 2
    song = sdk.load("samplecnn-msd").task.predict(spans[:, start: start + 59049], verbose=0)["embedding"]
    np.testing.assert_allclose(out["song"], song, atol=1e-5)
    with pytest.raises(ValueError, match="unknown song teacher"):
        teachers.teacher_network(("musicnn-msd",), "musicnn-mtat")
    targets = crew.targets(out, np.array([0.0, 1.0], np.float32))
    assert targets["embedding"].shape == (2, 256 + 200 + 1) and crew.relational_sizes == (200,)
    assert teachers.student_view(spans).shape == (2, teachers.STUDENT_SAMPLES)


def test_warm_start_copies_same_shapes_and_resizes_other_kernels():
    kernel = np.arange(3 * 2 * 1, dtype=np.float64).reshape(3, 2, 1)
    for size in (2, 4):
        resized = train._resized_kernel(kernel, size)
        assert resized.shape == (size, 2, 1)
        np.testing.assert_allclose(resized.sum(0), kernel.sum(0) * 1.0, rtol=0.2)  # about the same DC response


def test_train_resume_export_and_load(audio_store, tmp_path):
    run = tmp_path / "run"
    argv = ["--store", str(audio_store), "--out", str(run), "--validation", "Soundtrack 2", "--eval-minutes", "0",
            "--soundtracks-per-batch", "2", "--per-soundtrack", "2", "--feature-teachers", "musicnn-msd",
            "--warmup-steps", "1"]
    train.main(argv + ["--max-steps", "2", "--init-from", str(PRESETS["samplecnn-msd"].bundled_path)])
    config = json.loads((run / "config.json").read_text())
    init = config["phases"][0]["init"]
    assert "block1" in " ".join(init["copied"]) and init["resized"], init  # 3-wide blocks copied, others resized
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert history[-1]["step"] == 2 and 0.0 <= history[-1]["soundtrack_map"] <= 1.0
    train.main(argv + ["--max-steps", "3", "--resume", "--song-teacher", "samplecnn-msd"])  # the recipe's phase 2
    state = json.loads((run / "checkpoints" / "state.json").read_text())
    phases = json.loads((run / "config.json").read_text())["phases"]
    assert state["step"] == 3 and [p["song_teacher"] for p in phases] == ["artist-siamese-msd", "samplecnn-msd"]
    preset = export.export(run, tmp_path / "preset", weights="latest", whiten_shrinkage=0.1)
    model = sdk.load(preset)
    assert model.sample_rate == 8000
    wave = np.random.default_rng(1).standard_normal(5 * 22050).astype(np.float32) * 0.1
    embedding, tags = model.embed_and_tag(wave, sr=22050)
    assert embedding.shape == (256,) and tags.shape == (50,)
    meta = json.loads((preset / "metadata.json").read_text())
    assert meta["registry_name"] == "samplecnn-8k" and meta["training"]["steps"] == 3
    assert "Soundtrack 2" not in meta["training"]["train_soundtracks"]
