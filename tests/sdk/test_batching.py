"""sdk/batching.py: many files share batches, decoding runs beside the graph, order and errors kept."""

import threading

import numpy as np
import pytest
import soundfile

import sdk
import sdk.model as sdk_model
from helpers import tone
from sdk.audio import AudioError
from sdk.batching import run_files


@pytest.fixture(scope="module")
def model(tagger_dir):
    model = sdk.load(tagger_dir)
    model.progress = False
    return model


@pytest.fixture(scope="module")
def short_songs(tmp_path_factory):
    """Songs of 3 to 14 segments (81 samples each at 8 kHz) and one broken file in the middle."""
    folder = tmp_path_factory.mktemp("short-songs")
    for i, segments in enumerate([3, 14, 5, 9, 1, 7]):
        soundfile.write(folder / f"song{i}.wav", tone(200 + 150 * i, seconds=segments * 81 / 8000, seed=i), 8000)
    (folder / "song2b.wav").write_text("not audio")
    return folder


class Counting:
    """A graph stand-in that records the batches it ran and returns each row's sum."""

    def __init__(self):
        self.rows = []

    def __call__(self, batch):
        self.rows.append(len(batch))
        return {"embedding": batch.sum(1, keepdims=True)}


def test_many_files_match_one_at_a_time_and_keep_order(model, short_songs):
    files = sorted(short_songs.glob("*.wav"))
    result = model.embed_many(short_songs, batch_size=8)
    assert [p.name for p in result.paths] == [f.name for f in files if f.name != "song2b.wav"]
    assert [s[0].endswith("song2b.wav") for s in result.skipped] == [True]
    alone = np.stack([model.embed(str(p), batch_size=8) for p in result.paths])
    np.testing.assert_allclose(result.vectors, alone, rtol=1e-5, atol=1e-6)
    tagged = list(model.embed_and_tag_many(short_songs, batch_size=8))
    assert [p.name for p, _, _ in tagged] == [f.name for f in files]
    assert isinstance(tagged[3][2], AudioError) and tagged[3][1] is None  # song2b, in its place
    for path, vector, scores in tagged:
        if vector is not None:
            expected = model.embed_and_tag(str(path), batch_size=8)
            np.testing.assert_allclose(vector, expected[0], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(scores, expected[1], rtol=1e-5, atol=1e-6)


def test_segments_of_consecutive_files_fill_the_batches():
    sizes = [3, 14, 5, 9, 1, 7]  # 39 rows
    files = [np.full((n, 4), i, np.float32) for i, n in enumerate(sizes)]
    graph = Counting()
    out = dict(run_files(graph, files, lambda rows: [rows[:5], rows[5:]] if len(rows) > 5 else [rows], 8))
    assert graph.rows == [8, 8, 8, 8, 8]  # four full batches, the last 7 rows padded to 8
    assert [len(out[i]["embedding"]) for i in range(len(sizes))] == sizes
    assert all(np.all(out[i]["embedding"] == 4 * i) for i in range(len(sizes)))


def test_a_bug_in_reading_is_raised_not_swallowed():
    def windows_of(rows):
        if rows is None:
            raise KeyError("a bug")
        yield rows

    with pytest.raises(KeyError, match="a bug"):
        list(run_files(Counting(), [np.zeros((2, 4), np.float32), None], windows_of, 4))


def test_stopping_early_stops_the_reader():
    read = []

    def windows_of(index):
        for _ in range(1000):
            read.append(index)
            yield np.zeros((4, 4), np.float32)

    results = run_files(Counting(), list(range(50)), windows_of, 4, prefetch=2)
    next(results)
    results.close()
    for thread in threading.enumerate():
        if thread.name == "sdk-audio-reader":
            thread.join(timeout=5)
            assert not thread.is_alive()
    assert len(read) < 2000  # it stopped: not all 50,000 windows were cut


def test_a_presets_batch_size_is_the_default_and_keeps_the_outputs(tagger_dir, short_songs, tmp_path, monkeypatch):
    """preprocessor.json "batch_size" sets how many segments a call runs when none is given;
    outputs do not depend on it; a bad value is refused naming the file."""
    import json
    import shutil

    copy = shutil.copytree(tagger_dir, tmp_path / "tagger-b1")
    preprocessor = json.loads((copy / "preprocessor.json").read_text())
    (copy / "preprocessor.json").write_text(json.dumps({**preprocessor, "batch_size": 1}))
    one = sdk.load(copy)
    one.progress = False
    assert one.batch_size == 1 and sdk.load(tagger_dir).batch_size == 16
    song = short_songs / "song1.wav"
    calls, run_batches = [], sdk_model.run_batches
    monkeypatch.setattr(sdk_model, "run_batches", lambda g, b, size: calls.append(size) or run_batches(g, b, size))
    np.testing.assert_allclose(one.embed(song), sdk.load(tagger_dir).embed(song, batch_size=16), atol=1e-5)
    assert calls == [1, 16]
    (copy / "preprocessor.json").write_text(json.dumps({**preprocessor, "batch_size": 0}))
    with pytest.raises(ValueError, match="preprocessor.json batch_size must be at least 1"):
        sdk.load(copy)
