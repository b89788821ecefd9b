"""A tiny demo catalog: the tagger_dir preset (sub-spaces low/high) over a few generated songs."""

import json

import pytest
import soundfile

import sdk
from helpers import tone

FREQS = [200, 230, 260, 1500, 1700, 1900, 3000, 420]


@pytest.fixture(scope="module")
def demo_music(tmp_path_factory):
    """A corpus-like folder: WAV tones with a manifest naming title, soundtrack, composer, licence."""
    folder = tmp_path_factory.mktemp("demo-music")
    rows = []
    for i, freq in enumerate(FREQS):
        name = f"tone{i}.wav"
        soundfile.write(folder / name, tone(freq, seconds=1.5, seed=i), 8000)
        rows.append({"path": name, "package": f"pkg{i % 2}", "title": f"Tone {freq} Hz",
                     "soundtrack": "Low Tones" if freq < 1000 else "High Tones",
                     "composer": "Ann Sine" if i % 2 else "Bob Saw", "licence": "CC0-1.0", "use": "training"})
    (folder / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


@pytest.fixture(scope="module")
def demo_catalog(tagger_dir, demo_music, tmp_path_factory):
    """(model, catalog, catalog directory) built the way `make demo` builds one."""
    from demo.catalog import build_catalog, manifest_entries

    model = sdk.load(tagger_dir)
    model.progress = False
    out = tmp_path_factory.mktemp("demo-data") / "catalog"
    build_catalog(model, manifest_entries(demo_music / "manifest.jsonl", packages=("pkg0", "pkg1")), out,
                  progress=False)
    return model, sdk.Catalog.load(out), out
