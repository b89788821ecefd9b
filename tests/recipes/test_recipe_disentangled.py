"""The chapter 5 recipe (training_recipes.thesis.disentangled): its triplet sampling (5.1.3,
5.2.3), its schedules (5.1.3, 5.2.4) and end-to-end runs with resume on synthetic WAVs."""

import json
import math
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import soundfile as sf

from helpers import REPO, jax_compilation_cache
from training_recipes.thesis import disentangled
from training_recipes.thesis.disentangled_sampling import (MSD_50_NOTIONS, TEMPO, RegularizedSample, TripletSampler,
                                                           tag_notions)

RATE = 22050
TINY_SEGMENT = 8192  # the tiny inception models' input


# ------------------------------------------------------------------ sampling
def _toy(seed=0, count=40, tags=6):
    rng = np.random.default_rng(seed)
    labels = rng.random((count, tags)) * (rng.random((count, tags)) < 0.35)  # soft scores, mostly 0
    notions = ["genre", "genre", "genre", "mood", "mood", None]
    return labels, notions, rng.integers(900, 4000, count), rng.uniform(70, 150, count)


def test_tag_triplets_share_a_tag_of_the_notion_and_the_negative_has_none():
    labels, notions, lengths, bpm = _toy()
    sampler = TripletSampler(labels, notions, lengths, 600, bpm=bpm, threshold=0.3)
    binary = labels >= 0.3
    columns = {"genre": [0, 1, 2], "mood": [3, 4]}
    triplets = [t for seed in range(5) for t in sampler.plan(np.random.default_rng(seed))]
    assert {t.notion for t in triplets} == {"genre", "mood", TEMPO} and len(triplets) > 100
    for t in triplets:
        a, p, n = t.anchor.track, t.positive.track, t.negative.track
        assert a != p and a != n
        for e in (t.anchor, t.positive, t.negative):
            assert 0 <= e.start <= max(0, lengths[e.track] - 600)
        if t.notion == TEMPO:  # within 5 BPM, and more than 5 BPM away
            assert abs(bpm[a] - bpm[p]) <= 5.0 < abs(bpm[a] - bpm[n])
        else:
            cols = columns[t.notion]
            assert (binary[a, cols] & binary[p, cols]).any()
            assert not (binary[a, cols] & binary[n, cols]).any()
    assert sampler.eligible["genre"].sum() < len(lengths)  # untagged tracks do not anchor
    again = [t for seed in range(5) for t in sampler.plan(np.random.default_rng(seed))]
    assert again == triplets  # seeded: the same plan


def test_track_triplets_overlap_at_most_half_and_regularized_samples_share_the_anchor():
    labels, notions, lengths, bpm = _toy(seed=1)
    lengths[:3] = [700, 899, 900]  # 600-sample segments: a track positive needs 900 samples
    sampler = TripletSampler(labels, notions, lengths, 600, bpm=bpm, threshold=0.3)
    assert list(sampler.track_eligible[:3]) == [False, False, True]
    rng = np.random.default_rng(0)
    for t in sampler.plan(rng, "track"):
        assert t.positive.track == t.anchor.track != t.negative.track and t.anchor.track not in (0, 1)
        overlap = max(0, 600 - abs(t.positive.start - t.anchor.start))
        assert overlap <= 300 and t.positive.start + 600 <= lengths[t.anchor.track]
    samples = sampler.plan(rng, "regularized")
    assert samples and all(isinstance(s, RegularizedSample) for s in samples)
    for s in samples:
        anchor = s.category.anchor
        assert s.track_positive.track == anchor.track != s.track_negative.track
        assert abs(s.track_positive.start - anchor.start) >= 300
    starts = {sampler.track_triplet(rng, 2).positive.start for _ in range(50)}
    assert starts == {0, 300}  # a 900-sample track: anchor 0 or 300, positive the other


def test_msd_grouping_and_soft_labels():
    assert {k: len(v) for k, v in MSD_50_NOTIONS.items()} == {"genre": 28, "mood": 12, "instrument": 5, "era": 5}
    assert tag_notions(["rock", "sad", "guitar", "80s", "polka"]) == ["genre", "mood", "instrument", "era", None]
    labels = np.array([[0.9, 0.0], [0.6, 0.0], [0.4, 0.0], [0.0, 0.0]])
    strict = TripletSampler(labels, ["genre", None], [1000] * 4, 100, threshold=0.7)
    loose = TripletSampler(labels, ["genre", None], [1000] * 4, 100, threshold=0.5)
    assert not strict.eligible["genre"].any() and list(loose.eligible["genre"]) == [True, True, False, False]


def test_schedules_follow_sections_5_1_and_5_2(tmp_path):
    base = ["--manifest", tmp_path / "m.jsonl", "--out", tmp_path]
    for model, section, lr, patience in (("inception-csn-triplet", "5.1", 0.01, 4),
                                         ("inception-triplet", "5.1", 0.01, 4),
                                         ("inception-csn-track-triplet", "5.2", 0.005, 10),
                                         ("inception-proxy", "5.2", 0.005, 10)):
        args = disentangled.parse_args([str(a) for a in ["--model", model, *base]])
        assert (args.section, args.patience, args.lr_factor, args.max_reductions) == (section, patience, 5.0, 5)
        assert disentangled.SECTIONS[section]["learning_rate"] == lr
    args = disentangled.parse_args([str(a) for a in ["--model", "inception-triplet", "--section", "5.2", *base]])
    assert args.patience == 10 and disentangled.SECTIONS["5.2"]["metric"] == "cosine"


def test_help_runs_as_a_module():
    done = subprocess.run([sys.executable, "-m", "training_recipes.thesis.disentangled", "--help"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "--track-weight" in done.stdout and "--manifest" in done.stdout


# ------------------------------------------------------------------ end to end
SONGS = [  # (tags, bpm, split)
    (["rock", "happy", "guitar", "80s"], 120, "train"), (["rock", "sad", "guitar", "90s"], 122, "train"),
    (["jazz", "sad", "female vocalists", "80s"], 90, "train"), (["jazz", "happy", "female vocalists", "90s"], 92, "train"),
    (["rock", "sad", "female vocalists", "80s"], 140, "train"), (["jazz", "happy", "guitar", "90s"], 141, "train"),
    (["rock", "happy", "guitar", "90s"], 121, "valid"), (["jazz", "sad", "female vocalists", "80s"], 91, "valid"),
    (["rock", "happy", "guitar", "80s"], 119, "test"), (["jazz", "sad", "female vocalists", "90s"], 93, "test"),
    (["rock", "sad", "guitar", "90s"], 122, "test"),
]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    """Eleven 0.8 s WAVs (sine per genre, noise per mood, pulses per bpm) and their manifest."""
    root = tmp_path_factory.mktemp("ch5")
    rng = np.random.default_rng(0)
    t = np.arange(int(0.8 * RATE)) / RATE
    rows = []
    for i, (tags, bpm, split) in enumerate(SONGS):
        wave = 0.3 * np.sin(2 * np.pi * (220 if "rock" in tags else 660) * t)
        wave *= 0.6 + 0.4 * (np.sin(2 * np.pi * bpm / 60 * t) > 0)
        wave += (0.1 if "sad" in tags else 0.02) * rng.standard_normal(t.size)
        sf.write(root / f"song{i}.wav", wave.astype(np.float32), RATE)
        rows.append({"path": f"song{i}.wav", "split": split, "tags": tags, "bpm": bpm})
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root / "manifest.jsonl"


@pytest.fixture(scope="module", autouse=True)
def _jax_compilation_cache(tmp_path_factory):
    """Under JAX, the runs rebuild the same model: let XLA reuse compilations."""
    with jax_compilation_cache(tmp_path_factory.mktemp("xla")):
        yield


def _main(*argv):
    assert disentangled.main([str(a) for a in argv]) == 0


def _results(out):
    return json.loads((Path(out) / "results.json").read_text())


def test_track_regularized_run_checkpoints_logs_and_resumes(manifest, tmp_path):
    common = ["--model", "inception-csn-track-triplet", "--manifest", manifest, "--tiny", "--batch-size", 3,
              "--track-weight", 0.5]
    _main(*common, "--out", tmp_path / "full", "--epochs", 2)
    results = _results(tmp_path / "full")
    assert results["epochs_trained"] == 2 and results["thesis"] == "section 5.2"
    assert [h["learning_rate"] for h in results["history"]] == [0.005, 0.005]  # 5.2.4
    assert all(math.isfinite(h["train_loss"]) and math.isfinite(h["val_loss"]) for h in results["history"])
    assert results["arguments"]["track_weight"] == 0.5 and results["arguments"]["metric"] == "cosine"
    assert results["classes"] == ["rock", "happy", "guitar", "80s", "sad", "90s", "jazz", "female vocalists"]
    assert set(results["triplet_accuracy"]) == {"genre", "mood", "instrument", "era"}
    genre = results["triplet_accuracy"]["genre"]
    assert genre["triplets"] >= 1 and 0 <= genre["complete"] <= 1 and 0 <= genre["subspace"] <= 1
    assert (tmp_path / "full" / "checkpoints" / "epoch-0002" / "variables.npz").is_file()
    assert (tmp_path / "full" / "checkpoints" / "best.npz").is_file()
    state = json.loads((tmp_path / "full" / "checkpoints" / "epoch-0002" / "state.json").read_text())
    assert state["schedule"]["patience"] == 10 and state["schedule"]["max_reductions"] == 5
    assert state["schedule"]["factor"] == 5.0

    _main(*common, "--out", tmp_path / "resumed", "--epochs", 1)
    assert _results(tmp_path / "resumed")["epochs_trained"] == 1
    _main(*common, "--out", tmp_path / "resumed", "--epochs", 2, "--resume")
    resumed = _results(tmp_path / "resumed")
    assert "resumed from" in (tmp_path / "resumed" / "train.log").read_text()
    assert resumed["epochs_trained"] == 2  # continued, same numbers as the uninterrupted run
    for a, b in zip(results["history"], resumed["history"]):
        np.testing.assert_allclose([a["train_loss"], a["val_loss"]], [b["train_loss"], b["val_loss"]], rtol=1e-5)
    changed = [*common[:-1], 0.9, "--out", tmp_path / "resumed", "--epochs", 3, "--resume"]
    assert disentangled.main([str(x) for x in changed]) == 2  # lambda is part of the run: resume refuses it


def test_disentangled_classifier_run_with_tempo_section(manifest, tmp_path):
    _main("--model", "inception-disentangled-classifier", "--manifest", manifest, "--tiny", "--batch-size", 3,
          "--epochs", 1, "--out", tmp_path)
    results = _results(tmp_path)
    assert results["history"][0]["learning_rate"] == 0.005 and math.isfinite(results["history"][0]["val_loss"])
    assert results["arguments"]["class_subspaces"] == ["genre", "mood", "instrument", "era", "mood", "era",
                                                       "genre", "instrument"]
    assert results["roc_auc_macro"] is None or 0 <= results["roc_auc_macro"] <= 1
    _main("--model", "inception-csn-triplet", "--manifest", manifest, "--tiny", "--batch-size", 3, "--epochs", 1,
          "--max-steps", 1, "--out", tmp_path / "tempo")
    tempo = _results(tmp_path / "tempo")  # section 5.1: tempo from the manifest's bpm, era tags unused
    assert tempo["thesis"] == "section 5.1" and tempo["history"][0]["learning_rate"] == 0.01
    assert tempo["triplet_accuracy"]["tempo"]["triplets"] == 2 and "80s" not in tempo["classes"]  # 119 <-> 122
