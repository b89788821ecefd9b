"""`make demo`'s quick start on a tiny tagger preset: embed, tag, catalog with tags, search by tag."""


import numpy as np
import soundfile

import zoo
from sdk.index import Catalog
from sdk.preset import save_preset
from sdk.quickstart import main

TAGS = ["electronic", "ambient", "rock"]


def tiny_tagger(directory):
    tiny = {**zoo.get_model_info("samplecnn").tiny, "num_tags": len(TAGS)}
    preprocessor = {"sample_rate": 2000, "frontend": {}, "segment": {"length": 81, "hop": 81, "unit": "samples"},
                    "aggregation": "mean"}
    metadata = {"preset": "test-quickstart", "registry_name": "samplecnn", "embedding_size": tiny["top_filters"],
                "tags": TAGS, "license": "MIT",
                "outputs": [{"name": "embedding", "purpose": "embeddings", "size": 16, "layer": "backbone"}]}
    return save_preset(zoo.build("samplecnn", **tiny), directory, name="samplecnn", arguments=tiny,
                       preprocessor=preprocessor, metadata=metadata)


def test_quickstart_tags_the_catalog_and_searches_by_tag(tmp_path, capsys):
    music = tmp_path / "music"
    (music / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(4):
        folder = music / "sub" if i == 3 else music
        soundfile.write(folder / f"track{i}.wav", (0.1 * rng.standard_normal(4000)).astype(np.float32), 2000)
    (music / "broken.ogg").write_bytes(b"not audio")
    preset = tiny_tagger(tmp_path / "preset")

    main([str(music), "--preset", str(preset), "--catalog", str(tmp_path / "catalog"), "--top-tags", "2"])

    out = capsys.readouterr().out
    catalog = Catalog.load(tmp_path / "catalog")
    assert sorted(catalog.ids) == ["sub/track3.wav", "track0.wav", "track1.wav", "track2.wav"]
    assert "skipping " in out and "broken.ogg" in out and "(1 skipped)" in out
    for item in catalog.items:
        assert len(item["tags"]) == 2 and set(item["tags"]) <= set(TAGS)
    assert "tags of " in out and "tracks closest to the tag" in out
    counts = {t: sum(t in item["tags"] for item in catalog.items) for t in TAGS}
    partial = [t for t in TAGS if 0 < counts[t] < len(catalog)]
    chosen = out.split("closest to the tag '")[1].split("'")[0]
    best = max(counts[t] for t in (partial or TAGS))
    assert chosen in (partial or TAGS) and counts[chosen] == best  # ties may go either way
