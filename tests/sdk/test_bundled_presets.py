"""Every bundled preset is the one the registry names: the sha256 of each weight file in
sdk/presets.py, the `files` of its metadata.json and the files on disk agree."""

import json

import pytest

from sdk.files import sha256_file
from sdk.presets import PRESETS, list_presets

BUNDLED = [preset_id for preset_id in list_presets() if PRESETS[preset_id].bundled]


def test_every_bundled_preset_is_registered_and_present():
    assert BUNDLED, "no bundled preset"
    on_disk = sorted(p.name for p in PRESETS[BUNDLED[0]].bundled_path.parent.iterdir() if p.is_dir())
    assert on_disk == BUNDLED  # no unregistered directory ships in sdk/bundled


@pytest.mark.parametrize("preset_id", BUNDLED)
def test_bundled_weights_match_the_registry(preset_id):
    spec = PRESETS[preset_id]
    metadata = json.loads((spec.bundled_path / "metadata.json").read_text())
    assert metadata["preset"] == preset_id
    assert metadata["files"] == spec.weights_sha256
    for filename, digest in spec.weights_sha256.items():
        assert sha256_file(spec.bundled_path / filename) == digest, filename
