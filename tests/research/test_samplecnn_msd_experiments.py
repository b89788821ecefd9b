"""The samplecnn-msd experiment scripts of research/ (not part of the package): they still
run against the recipe as it is now, on the recipe's tiny corpus."""

import json

import keras
import numpy as np
import pytest

from helpers import DISTILL_SOUNDTRACKS as SOUNDTRACKS
from helpers import train_student as _train
from research.samplecnn_msd import ablation, check_noise, readout_peers, teacher_songs
from training_recipes.evaluation import cli as evaluate
from training_recipes.samplecnn_msd import cache_data, export, train


def test_ablation_runs_each_variant_from_the_same_start(distill_corpus, distill_cache, tmp_path, capsys):
    _train(distill_corpus, distill_cache, tmp_path / "run", 1)
    preset = export.export(tmp_path / "run", tmp_path / "preset")
    argv = ["--init-from", str(preset), "--validation", "Soundtrack 2", "--cache", str(distill_cache),
            "--corpus", str(distill_corpus), "--out", str(tmp_path / "ablation"), "--steps", "2", "--eval-minutes", "0",
            "--variants", "tags,all", "--", "--soundtracks-per-batch", "2", "--per-soundtrack", "2"]
    assert ablation.main(argv) == 0
    report = json.loads((tmp_path / "ablation" / "ablation.json").read_text())
    assert list(report["variants"]) == ["tags", "all"]
    for name, row in report["variants"].items():
        assert [e["step"] for e in row["evaluations"]] == [2, 3]  # from the preset's step 1, two steps each
        phases = json.loads((tmp_path / "ablation" / name / "config.json").read_text())["phases"]
        weights = (phases[-1]["cos_weight"], phases[-1]["metric_weight"])
        assert phases[-1]["init_from"] == str(preset) and weights == ((0.0, 0.0) if name == "tags" else (1.0, 1.0))
    assert 0 <= report["start"]["soundtrack_map"] <= 1
    assert "tags+metric" not in capsys.readouterr().out
    # A second call finds both variants finished and trains nothing more.
    assert ablation.main(argv) == 0
    again = json.loads((tmp_path / "ablation" / "ablation.json").read_text())
    assert again["variants"] == report["variants"]
    with pytest.raises(SystemExit):
        ablation.main(argv[: argv.index("--variants")] + ["--variants", "tags,nonsense"])
    assert "unknown variants ['nonsense']" in capsys.readouterr().err


def test_check_noise_reestimates_batch_norm_as_a_plain_average(distill_corpus, distill_cache, tmp_path):
    model, train_model = train.build_student()
    loaded = cache_data.load_cache(distill_cache)
    train_ids, _ = train.split_tracks(loaded, ["Soundtrack 2"], distill_corpus)
    sampler = cache_data.Sampler(loaded, train_ids, 2, 2, seed=5)
    batches = [sampler.batch()[0] for _ in range(2)]
    backbone = model.get_layer("backbone")
    conv0 = keras.Model(backbone.input, backbone.get_layer("conv0_conv").output)
    frontend = model.get_layer("frontend")
    means = [keras.ops.convert_to_numpy(conv0(frontend(x))).mean(axis=(0, 1)) for x in batches]
    check_noise.reestimate_batch_norm(model, train_model, cache_data.Sampler(loaded, train_ids, 2, 2, seed=5), 2)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(backbone.get_layer("conv0_bn").moving_mean),
                               np.mean(means, 0),
                               rtol=1e-4, atol=1e-6)
    assert backbone.get_layer("conv0_bn").momentum == 0.99  # restored
    out = tmp_path / "noise.json"
    _train(distill_corpus, distill_cache, tmp_path / "run", 1)
    preset = export.export(tmp_path / "run", tmp_path / "preset")
    assert check_noise.main(["--weights", str(preset), "--validation", "Soundtrack 2", "--cache", str(distill_cache),
                             "--corpus", str(distill_corpus), "--batches", "2", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert [(r["weights"][:8], r["windows_per_track"]) for r in report["rows"]] == \
        [("as saved", 6), ("as saved", 16), ("re-estim", 6), ("re-estim", 16)]
    assert all(0 <= r["soundtrack_map"] <= 1 for r in report["rows"])


def test_teacher_songs_scores_each_teacher_and_their_mix(distill_corpus, distill_cache, tmp_path):
    soundtracks = ["A", "A", "B", "B"]
    artist = np.array([[1, 0], [1, 0.1], [0, 1], [0.1, 1]])  # groups the soundtracks
    musicnn = np.array([[1, 0], [0, 1], [1, 0.1], [0.1, 1]])  # pairs each track with the other soundtrack
    maps = teacher_songs.teacher_maps(artist, musicnn, soundtracks)
    assert maps["artist-siamese-msd weight 1.0"] == pytest.approx(1.0)
    # the same-soundtrack track ranks 3rd of 3 for the A tracks, 2nd for the B tracks
    assert maps["artist-siamese-msd weight 0.0"] == pytest.approx((1 / 3 + 1 / 3 + 1 / 2 + 1 / 2) / 4)
    out = tmp_path / "teachers.json"
    teacher_songs.main(["--cache", str(distill_cache), "--corpus", str(distill_corpus), "--validation", "Soundtrack 2",
                        "--out", str(out)])
    report = json.loads(out.read_text())
    assert report["validation"]["soundtracks"] == 1 and report["training"]["tracks"] == 2 * SOUNDTRACKS - 2
    assert set(report["training"]["map"]) == {f"artist-siamese-msd weight {w}" for w in teacher_songs.WEIGHTS}


def test_readout_peers_refits_the_readout_on_the_evaluation_clis_vectors(distill_corpus, distill_cache, tmp_path):
    """readout_peers reads the evaluation CLI's cached vectors of a plain export and fits each
    shrinkage on the run's training tracks."""
    run = tmp_path / "run"
    _train(distill_corpus, distill_cache, run, 2)
    plain_dir = export.export(run, tmp_path / "plain", whiten_shrinkage=0, weights_dtype="float32")
    report, peers = tmp_path / "report.json", tmp_path / "peers.json"
    assert evaluate.main(["--manifest", str(distill_corpus / "manifest.jsonl"), "--presets", str(plain_dir),
                          "--folds", "2", "--cache-dir", str(tmp_path / "vectors"), "--out", str(report)]) == 0
    readout_peers.main(["--evaluation", str(report), "--run-config", str(run / "config.json"),
                        "--presets", str(plain_dir), "--shrinkage", "0.1,1", "--out", str(peers)])
    figures = json.loads(peers.read_text())["reports"][str(report)]["results"][str(plain_dir)]
    assert figures["as_published"]["map"] == json.loads(report.read_text())["results"][str(plain_dir)]["map"]
    assert sorted(figures["with_readout"]) == ["0.1", "1"] and figures["with_readout"]["0.1"]["n_tracks"] == 6


def test_readout_fitted_on_other_tracks_lets_the_quiet_directions_count():
    """Song vectors that share two loud directions (a constant offset plus noise there) and
    differ by soundtrack only in quiet ones: cosine ranks by the noise until the readout,
    fitted on other tracks of the same kind, centres and evens the directions out."""
    rng = np.random.default_rng(0)

    def songs(soundtracks, per_soundtrack):
        centres = rng.standard_normal((soundtracks, 6))
        quiet = np.repeat(centres, per_soundtrack, 0) + 0.3 * rng.standard_normal((soundtracks * per_soundtrack, 6))
        loud = 5 + 10 * rng.standard_normal((soundtracks * per_soundtrack, 2))
        return np.hstack([loud, quiet]), np.repeat(np.arange(soundtracks), per_soundtrack)

    vectors, labels = songs(3, 10)
    training, _ = songs(20, 10)  # other soundtracks altogether
    figures = readout_peers.with_and_without_readout(vectors, labels, training, (0.1, 1.0), folds=3)
    assert figures["as_published"]["map"] + 0.15 < figures["with_readout"]["0.1"]["map"]
    assert figures["with_readout"]["1"]["n_queries"] == 30


def test_readout_peers_names_the_file_it_cannot_use(tmp_path):
    with pytest.raises(SystemExit, match="absent.json: cannot read the evaluation report"):
        readout_peers.main(["--evaluation", str(tmp_path / "absent.json"), "--run-config", "x",
                            "--out", str(tmp_path / "out.json")])
    (tmp_path / "report.json").write_text("{not json")
    with pytest.raises(SystemExit, match="report.json: not a JSON evaluation report"):
        readout_peers.main(["--evaluation", str(tmp_path / "report.json"), "--run-config", "x",
                            "--out", str(tmp_path / "out.json")])
    assert not (tmp_path / "out.json").exists()
