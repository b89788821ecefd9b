"""Preset resolution through the real huggingface_hub, against a pre-seeded offline cache."""

import hashlib

import huggingface_hub.constants
import pytest

from sdk import presets
from sdk.presets import PresetSpec
from sdk.files import sha256_file
from sdk.resolve import PresetNotFoundError, parse_hub_handle, resolve

COMMIT = "0123456789abcdef0123456789abcdef01234567"
FILES = {"config.json": b'{"name": "samplecnn"}', "model.weights.h5": b"weights-bytes", "README.md": b"# card"}


def seed_cache(cache, repo_id="zoo-org/tiny", commit=COMMIT, files=FILES):
    """The Hub cache layout: snapshots/<commit>/<files> and refs/main holding the commit."""
    repo_dir = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo_dir / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name, data in files.items():
        (snapshot / name).write_bytes(data)
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(commit)  # no trailing newline: read verbatim
    return snapshot


@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    return cache


def test_local_directory_is_returned_as_is(tmp_path):
    assert resolve(tmp_path) == tmp_path


def test_hub_handle_resolves_from_the_offline_cache(offline_cache):
    snapshot = seed_cache(offline_cache)
    directory = resolve("hf://zoo-org/tiny")
    assert directory.resolve() == snapshot.resolve()
    assert (directory / "model.weights.h5").read_bytes() == FILES["model.weights.h5"]
    assert resolve(f"hf://zoo-org/tiny@{COMMIT}").resolve() == snapshot.resolve()


def test_explicit_cache_dir_is_honoured(tmp_path, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    snapshot = seed_cache(tmp_path / "elsewhere")
    assert resolve("hf://zoo-org/tiny", cache_dir=tmp_path / "elsewhere").resolve() == snapshot.resolve()


def test_missing_repo_offline_gives_one_clear_error(offline_cache):
    with pytest.raises(PresetNotFoundError) as error:
        resolve(f"hf://zoo-org/absent@{COMMIT}")
    message = str(error.value)
    assert "zoo-org/absent" in message and COMMIT in message and "hf download" in message


def test_registered_preset_checks_sha256(offline_cache, monkeypatch):
    seed_cache(offline_cache)
    good = {"model.weights.h5": hashlib.sha256(FILES["model.weights.h5"]).hexdigest()}
    spec = PresetSpec("test-tiny", "test", "zoo-org/tiny", COMMIT, good)
    monkeypatch.setitem(presets.PRESETS, "test-tiny", spec)
    assert (resolve("test-tiny") / "config.json").exists()
    monkeypatch.setitem(presets.PRESETS, "test-tiny", PresetSpec("test-tiny", "t", "zoo-org/tiny", COMMIT,
                                                                 {"model.weights.h5": "0" * 64}))
    with pytest.raises(ValueError, match="sha256"):
        resolve("test-tiny")


def test_registered_preset_falls_back_to_the_bundled_copy(offline_cache, tmp_path, monkeypatch):
    bundled = tmp_path / "bundled" / "test-bundled"
    bundled.mkdir(parents=True)
    (bundled / "config.json").write_text("{}")
    monkeypatch.setattr(presets, "BUNDLED_DIR", tmp_path / "bundled")
    spec = PresetSpec("test-bundled", "t", "zoo-org/not-cached", COMMIT, {}, bundled=True)
    monkeypatch.setitem(presets.PRESETS, "test-bundled", spec)
    assert resolve("test-bundled") == bundled
    # Asking for a specific revision means the bundled copy will not do.
    with pytest.raises(PresetNotFoundError, match="zoo-org/not-cached"):
        resolve("test-bundled", revision="f" * 40)


def test_unknown_names_and_bad_handles():
    with pytest.raises(PresetNotFoundError, match="registered presets"):
        resolve("no-such-preset")
    with pytest.raises(ValueError, match="hf://org/name"):
        parse_hub_handle("hf://just-a-name")
    assert parse_hub_handle("hf://a/b@v1") == ("a/b", "v1")


def test_sha256_of_streams_the_file(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"x" * 3_000_000)
    assert sha256_file(path, chunk=1 << 16) == hashlib.sha256(b"x" * 3_000_000).hexdigest()
