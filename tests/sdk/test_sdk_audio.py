"""sdk.audio on real files written with soundfile (wav / flac / ogg, mono and stereo)."""

import numpy as np
import pytest
import soundfile

from sdk.audio import (AudioError, audio_info, list_audio_files, load_audio, prepare_array,
                       stream_audio)


def tone(freq, rate, seconds, amplitude=0.5):
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(audio, rate):
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return np.argmax(spectrum) * rate / len(audio)


@pytest.fixture
def stereo_wav(tmp_path):
    """2 s at 44.1 kHz: left 440 Hz, right 0.5 * 440 Hz + a quiet 3 kHz tone."""
    left = tone(440, 44100, 2.0)
    right = 0.5 * left + tone(3000, 44100, 2.0, 0.1)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, np.stack([left, right], 1), 44100, subtype="FLOAT")
    return path, left, right


def test_list_audio_files(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ["b.wav", "a.FLAC", "sub/c.ogg"]:
        soundfile.write(tmp_path / name, tone(440, 16000, 0.1), 16000)
    (tmp_path / "notes.txt").write_text("not audio")
    found = list_audio_files(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a.FLAC", "b.wav", "sub/c.ogg"]
    assert list_audio_files(tmp_path / "b.wav") == [tmp_path / "b.wav"]
    both = list_audio_files([tmp_path / "b.wav", tmp_path / "sub", tmp_path / "notes.txt"])
    assert both == [tmp_path / "b.wav", tmp_path / "sub" / "c.ogg"]


def test_mono_mix_and_native_rate(stereo_wav):
    path, left, right = stereo_wav
    audio = load_audio(path, 44100)
    assert audio.dtype == np.float32 and audio.shape == (88200,)
    np.testing.assert_allclose(audio, (left + right) / 2, atol=1e-6)
    np.testing.assert_array_equal(load_audio(path, None), audio)  # None: the file's rate
    both = load_audio(path, 44100, mono=False)
    assert both.shape == (88200, 2)
    np.testing.assert_allclose(both[:, 0], left, atol=1e-6)


def test_resampling_keeps_pitch_and_length(stereo_wav):
    path, _, _ = stereo_wav
    audio = load_audio(path, 16000)
    assert audio.shape == (88200 * 16000 // 44100,)  # 32000
    assert abs(peak_hz(audio, 16000) - 440) < 1.0
    for other in ("kaiser_fast", "kaiser_best", "soxr_vhq"):
        again = load_audio(path, 16000, resample_filter=other)
        assert again.shape == audio.shape and np.corrcoef(again, audio)[0, 1] > 0.999, other


def test_offset_and_duration(stereo_wav):
    path, left, right = stereo_wav
    part = load_audio(path, 44100, offset=0.5, duration=0.25)
    assert part.shape == (11025,)
    np.testing.assert_allclose(part, ((left + right) / 2)[22050:33075], atol=1e-6)
    assert load_audio(path, 16000, offset=1.5).shape == (8000,)


@pytest.mark.parametrize("ext, subtype", [("flac", "PCM_16"), ("ogg", "VORBIS")])
def test_flac_and_ogg_at_16k(tmp_path, ext, subtype):
    path = tmp_path / f"tone.{ext}"
    soundfile.write(path, tone(440, 16000, 1.0), 16000, subtype=subtype)
    audio = load_audio(path, 16000)
    assert audio.shape == (16000,)
    assert abs(peak_hz(audio, 16000) - 440) < 1.0
    up = load_audio(path, 22050)  # upsampling too
    assert up.shape == (22050,) and abs(peak_hz(up, 22050) - 440) < 1.0
    info = audio_info(path)
    assert info == {"duration": 1.0, "sample_rate": 16000, "channels": 1,
                    "format": ext.upper(), "frames": 16000}


@pytest.mark.parametrize("rate, target, resampler", [
    (44100, 16000, "soxr_hq"), (16000, 22050, "soxr_hq"), (16000, 16000, "soxr_hq"),
    (48000, 22050, "soxr_vhq"), (44100, 16000, "kaiser_best"), (16000, 22050, "kaiser_fast")])
def test_stream_joins_blocks_seamlessly(tmp_path, rate, target, resampler):
    # A chirp + noise exercises every frequency at the block joins; an odd length the last one.
    t = np.arange(int(rate * 3.3) + 7) / rate
    rng = np.random.default_rng(0)
    audio = 0.3 * np.sin(2 * np.pi * (100 + 1000 * t) * t) + 0.05 * rng.standard_normal(t.size)
    path = tmp_path / "long.wav"
    soundfile.write(path, np.stack([audio, -0.5 * audio], 1), rate, subtype="FLOAT")
    whole = load_audio(path, target, resample_filter=resampler)
    blocks = list(stream_audio(path, target, block_seconds=0.5, overlap_seconds=0.02,
                               resample_filter=resampler))
    assert len(blocks) == 7 and all(b.dtype == np.float32 for b in blocks)
    streamed = np.concatenate(blocks)
    assert streamed.shape == whole.shape
    assert np.corrcoef(streamed, whole)[0, 1] > 0.999
    np.testing.assert_allclose(streamed, whole, atol=1e-5)


def test_stream_ogg(tmp_path):
    path = tmp_path / "tone.ogg"
    soundfile.write(path, tone(440, 44100, 2.0), 44100, subtype="VORBIS")
    streamed = np.concatenate(list(stream_audio(path, 16000, block_seconds=0.3)))
    whole = load_audio(path, 16000)
    assert streamed.shape == whole.shape
    np.testing.assert_allclose(streamed, whole, atol=1e-5)


@pytest.mark.skipif("MP3" not in soundfile.available_formats(), reason="libsndfile without MP3")
def test_mp3_offset_and_stream_match_whole_decode(tmp_path):
    # A pure tone makes LAME lean on the bit reservoir, where libsndfile 1.2 decodes any
    # read not starting at sample 0 wrongly; sdk.audio must work around that.
    path = tmp_path / "tone.mp3"
    soundfile.write(path, tone(440, 44100, 3.0, 0.4), 44100, format="MP3")
    whole = load_audio(path, 44100)
    assert abs(peak_hz(whole, 44100) - 440) < 1.0
    np.testing.assert_array_equal(load_audio(path, 44100, offset=1.0, duration=0.5),
                                  whole[44100:66150])
    streamed = np.concatenate(list(stream_audio(path, 16000, block_seconds=0.7)))
    np.testing.assert_allclose(streamed, load_audio(path, 16000), atol=1e-5)


def test_prepare_array_layouts():
    mono = tone(440, 44100, 0.5)
    stereo = np.stack([mono, 0.5 * mono], 1)
    expected = 0.75 * mono
    np.testing.assert_allclose(prepare_array(stereo, 44100, 44100), expected, atol=1e-7)
    np.testing.assert_allclose(prepare_array(stereo.T, 44100, 44100), expected, atol=1e-7)
    out = prepare_array(mono.astype(np.float64), 44100, 16000)
    assert out.dtype == np.float32 and out.shape == (22050 * 16000 // 44100,)
    assert abs(peak_hz(out, 16000) - 440) < 2.0
    as_int = prepare_array((mono * 32767).astype(np.int16), 16000, 16000)
    np.testing.assert_allclose(as_int, mono, atol=1e-4)


def test_bad_files_raise_audio_error(tmp_path):
    fake = tmp_path / "song.wav"
    fake.write_text("this is text, not audio")
    with pytest.raises(AudioError, match=r"song\.wav: cannot decode \(.+\)"):
        load_audio(fake, 16000)
    with pytest.raises(AudioError, match=r"song\.wav: cannot decode"):
        audio_info(fake)
    with pytest.raises(AudioError, match=r"song\.wav: cannot decode"):
        next(stream_audio(fake, 16000))

    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match=r"empty\.wav: empty audio \(0 samples\)"):
        load_audio(empty, 16000)
    with pytest.raises(AudioError, match=r"empty\.wav: empty audio"):
        next(stream_audio(empty, 22050))
    with pytest.raises(AudioError, match=r"empty\.wav: empty audio \(0 samples after offset"):
        soundfile.write(empty, tone(440, 16000, 0.1), 16000)
        load_audio(empty, 16000, offset=1.0)

    missing = tmp_path / "missing.flac"
    for call in (lambda: load_audio(missing, 16000), lambda: audio_info(missing),
                 lambda: next(stream_audio(missing, 16000))):
        with pytest.raises(AudioError, match=r"missing\.flac: file not found"):
            call()
    with pytest.raises(AudioError, match=r"missing\.flac: file or directory not found"):
        list_audio_files(missing)


def test_empty_directory(tmp_path):
    (tmp_path / "readme.txt").write_text("no audio here")
    with pytest.raises(AudioError, match=rf"{tmp_path.name}: no audio files found"):
        list_audio_files(tmp_path)


def test_bad_arrays():
    with pytest.raises(AudioError, match="audio array: audio contains non-finite"):
        prepare_array(np.array([0.1, np.nan, 0.2]), 16000, 16000)
    with pytest.raises(AudioError, match="audio array: sample_rate is required"):
        prepare_array(np.zeros(100), None, 16000)
    with pytest.raises(AudioError, match=r"clip: empty audio \(0 samples\)"):
        prepare_array(np.zeros((0,)), 16000, 16000, name="clip")
    with pytest.raises(AudioError, match="ambiguous"):
        prepare_array(np.zeros((100, 100)), 16000, 16000)
    with pytest.raises(AudioError, match="expected 1-D or 2-D"):
        prepare_array(np.zeros((2, 2, 100)), 16000, 16000)
    with pytest.raises(AudioError, match="cannot resample"):
        prepare_array(np.zeros(1), 44100, 16000)
