"""Decoding and segmenting under generated input (issue 20 part 5): whatever the bytes, header,
sample rate (1 Hz to 384 kHz), channel count, length or values, sdk.audio either returns finite
float32 audio or raises AudioError naming the input: no other exception, no hang, and no decoder
chatter on stderr. A bounded number of cases per run, on the jax pass only (no backend involved).
"""

import io
import os
import struct

import numpy as np
import pytest
import soundfile
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sdk.audio import AudioError, load_audio, prepare_array, stream_audio
from sdk.inference import cut_windows, one_padded_window

pytestmark = pytest.mark.skipif(os.environ.get("KERAS_BACKEND", "jax") != "jax",
                                reason="no Keras backend involved: the jax pass runs it")
FUZZ = settings(max_examples=60, deadline=20_000, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
RATES = st.sampled_from([1, 7, 100, 8000, 11025, 16000, 22050, 44100, 48000, 96000, 192000, 384000])


def wav_header(rate, channels, bits, frames):
    """A RIFF/WAVE header whose fields may lie about the data that follows."""
    word = lambda n: n % 2**32  # noqa: E731  (fields wrap as a corrupt file's would)
    data = word(frames * channels * max(bits // 8, 1))
    return (b"RIFF" + struct.pack("<I", word(36 + data)) + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, channels, rate, word(rate * channels * bits // 8),
                          (channels * bits // 8) % 2**16, bits)
            + b"data" + struct.pack("<I", data))


HEADERS = st.one_of(
    st.builds(wav_header, st.integers(0, 2**31 - 1), st.integers(0, 300), st.sampled_from([0, 8, 16, 24, 32, 7]),
              st.integers(0, 10**6)),
    st.sampled_from([b"", b"fLaC", b"OggS\x00\x02", b"ID3\x04\x00\x00", b"\xff\xfb\x90\x64", b"FORM\x00\x00AIFF"]),
)


def _check_decoded(audio):
    assert isinstance(audio, np.ndarray) and audio.dtype == np.float32 and audio.size > 0
    assert np.all(np.isfinite(audio))


@FUZZ
@given(header=HEADERS, body=st.binary(max_size=4096), suffix=st.sampled_from([".wav", ".mp3", ".ogg", ".flac", ".aiff"]),
       rate=RATES)
# Found by this test: one sample at 2 Hz is none at 1 Hz; stream_audio yielded nothing, silently.
@example(header=wav_header(2, 1, 8, 1), body=b"\x00", suffix=".wav", rate=1)
def test_any_bytes_decode_or_raise_audio_error(tmp_path_factory, capfd, header, body, suffix, rate):
    path = tmp_path_factory.mktemp("fuzz") / f"input{suffix}"
    path.write_bytes(header + body)
    for read in (lambda: load_audio(path, rate), lambda: np.concatenate(list(stream_audio(path, rate, 0.5)))):
        try:
            _check_decoded(read())
        except AudioError as error:
            assert str(error).startswith(str(path))
    assert capfd.readouterr().err == ""  # libsndfile / mpg123 chatter never reaches the user


@FUZZ
@given(rate=RATES, channels=st.integers(1, 8), seconds=st.floats(0, 3600), target=st.sampled_from([8000, 22050]),
       special=st.sampled_from([None, np.nan, np.inf, -np.inf]), dtype=st.sampled_from(["float32", "float64",
                                                                                         "int16", "int32", "uint8"]))
# Found by this test: one frame of two channels was read as two samples of one channel.
@example(rate=1, channels=2, seconds=1.0, target=8000, special=None, dtype="float32")
def test_any_array_prepares_or_raises_audio_error(rate, channels, seconds, target, special, dtype):
    frames = min(int(seconds * rate), 200_000)  # an hour at low rates; a bounded cost at high ones
    if frames * target / rate > 4_000_000:  # keep each case's resampled output to seconds of work
        frames = int(4_000_000 * rate / target)
    audio = (np.random.default_rng(frames).standard_normal((frames, channels)) * 0.1).astype(dtype)
    if special is not None and frames and audio.dtype.kind == "f":
        audio[frames // 2, 0] = special
    try:
        out = prepare_array(audio, rate, target)
    except AudioError as error:
        assert str(error).startswith("audio array")
        return
    _check_decoded(out)
    assert abs(out.shape[0] - frames * target / rate) <= 2


@FUZZ
@given(length=st.integers(1, 5000), window=st.integers(1, 600), step=st.integers(1, 600), pad=st.integers(0, 300),
       cuts=st.lists(st.integers(1, 5000), max_size=6), batch=st.integers(1, 9))
def test_segmenting_any_blocks_equals_slicing_the_whole_song(length, window, step, pad, cuts, batch):
    song = np.arange(length, dtype=np.float32) + 1
    edges = sorted({0, length, *[c for c in cuts if c < length]})
    blocks = [song[a:b] for a, b in zip(edges, edges[1:])]
    got = list(cut_windows(blocks, window, step, pad, batch))
    assert all(len(b) <= batch for b in got)
    padded = np.concatenate([np.zeros(pad, np.float32), song, np.zeros(pad, np.float32)])
    expected = [padded[s:s + window] for s in range(0, padded.size - window + 1, step)]
    assert len(np.concatenate(got)) == len(expected) if got else not expected
    if got:
        np.testing.assert_array_equal(np.concatenate(got), np.stack(expected))
    one = one_padded_window(song, window, pad)
    assert one.shape == (1, window) and np.array_equal(one[0, pad:pad + min(length, max(window - pad, 0))],
                                                       song[:max(0, min(length, window - pad))])


def test_a_real_file_with_every_channel_count_and_rate_decodes(tmp_path):
    for rate in (1, 8000, 384000):
        for channels in (1, 2, 6):
            buffer = io.BytesIO()
            soundfile.write(buffer, np.zeros((max(rate // 10, 3), channels), np.float32) + 0.1, rate, format="WAV")
            (tmp_path / "x.wav").write_bytes(buffer.getvalue())
            try:
                _check_decoded(load_audio(tmp_path / "x.wav", 22050))
            except AudioError as error:
                assert "x.wav" in str(error)
