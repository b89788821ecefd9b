"""The preset registry: short name -> Hub repo, pinned revision, bundled copy, checksums.

One place lists every preset the project ships. `revision` pins a Hub commit
(40 hex digits) once the repo is published; until then it is None and a named
load falls back to the copy bundled inside the installed package.
"""

import dataclasses
import fnmatch
from pathlib import Path

HUB_ORG = "music-retrieval-zoo"
BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"


DEFAULT_PRESET = "samplecnn-msd"  # the flagship: what sdk.embed/tag/similar and the CLI use unless told


@dataclasses.dataclass(frozen=True)
class PresetSpec:
    preset_id: str
    description: str
    repo_id: str
    revision: str | None  # full commit hash once published
    weights_sha256: dict  # file name -> sha256 the loaded files must match
    bundled: bool = False
    # What a user picks a preset by (KerasHub's preset tables, timm's pretrained listing);
    # tests/test_one_graph.py holds them to the preset's own metadata.json.
    input: str = ""
    sample_rate: int = 0
    parameters: int = 0
    embedding_size: int = 0
    subspaces: tuple = ("all",)
    num_tags: int = 0
    license: str = ""

    @property
    def bundled_path(self):
        return BUNDLED_DIR / self.preset_id

    def info(self):
        """The catalogue entry: a plain dict."""
        return {"preset": self.preset_id, "description": self.description, "input": self.input,
                "sample_rate": self.sample_rate, "parameters": self.parameters,
                "embedding_size": self.embedding_size, "subspaces": list(self.subspaces), "tags": self.num_tags,
                "license": self.license, "bundled": self.bundled,
                "hub": f"hf://{self.repo_id}" + (f"@{self.revision}" if self.revision else " (not yet published)")}


class PresetTable(dict):
    """{preset id: its catalogue entry}; iterates over the ids, prints as a table."""

    COLUMNS = (("preset", "preset"), ("input", "input"), ("sample_rate", "Hz"), ("parameters", "params"),
               ("embedding_size", "dim"),
               ("subspaces", "sub-spaces"), ("tags", "tags"), ("license", "licence"))

    def table(self):
        rows = [[_cell(info[key], key) for key, _ in self.COLUMNS] for info in self.values()]
        header = [title for _, title in self.COLUMNS]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
                 for row in [header, *rows]]
        return "\n".join(lines + [""] + [f"{pid}: {info['description']}" for pid, info in self.items()])

    def __str__(self):
        return self.table()


def _cell(value, key=None):
    if isinstance(value, list):
        return ",".join(value)
    if key == "parameters" and isinstance(value, int) and value >= 10000:
        return f"{value / 1e6:.2f}M"
    return str(value)


PRESETS: dict[str, PresetSpec] = {}


def register_preset(spec):
    if spec.preset_id in PRESETS:
        raise ValueError(f"preset {spec.preset_id!r} registered twice")
    PRESETS[spec.preset_id] = spec
    return spec


def list_presets(pattern="*"):
    """The registered presets matching a shell wildcard, as a PresetTable: {id: description,
    input, sample rate, parameters, embedding size, sub-spaces, tag count, licence, ...}.
    Iterating gives the ids; printing gives a table (what `music-zoo info` shows)."""
    return PresetTable((p, PRESETS[p].info()) for p in sorted(PRESETS) if fnmatch.fnmatchcase(p, pattern))


register_preset(
    PresetSpec(
        preset_id="artist-siamese-msd",
        description="Thesis section 4.1 artist-label Siamese model (MSD, 10,000 artists), ported exactly.",
        repo_id=f"{HUB_ORG}/artist-siamese-msd",
        revision=None,
        # sha256 of the preset graph (format 2) holding the converter's weights (artist_siamese_msd/convert.py).
        weights_sha256={"model.weights.h5": "d2ee5b7cac5b1833d2de2714290b6ef05c9e940ecc12c4898a59885f5a9864b5"},
        bundled=True,
        input="log-mel, 129 frames (3 s)", sample_rate=22050, parameters=265_984, embedding_size=256, license="MIT",
    )
)

register_preset(
    PresetSpec(
        preset_id="musicnn-msd",
        description="musicnn (Pons & Serra 2019) MSD_musicnn tagger, 50 MSD tags, 200-d penultimate "
                    "embedding; the authors' weights ported exactly (ISC).",
        repo_id=f"{HUB_ORG}/musicnn-msd",
        revision=None,
        # sha256 of the preset graph (format 2) holding the converter's weights (musicnn_msd/convert.py).
        weights_sha256={"model.weights.h5": "0f661ac4fec8b5fbf5fccae08d68762d6db268ee2a069aa42d574cf4f64dcb94"},
        bundled=True,
        input="log-mel, 187 frames (3 s)", sample_rate=16000, parameters=792_079, embedding_size=200, num_tags=50,
        license="ISC",
    )
)

register_preset(
    PresetSpec(
        preset_id="musicnn-mtat",
        description="musicnn (Pons & Serra 2019) MTT_musicnn tagger, 50 MagnaTagATune tags, 200-d "
                    "penultimate embedding; the authors' weights ported exactly (ISC).",
        repo_id=f"{HUB_ORG}/musicnn-mtat",
        revision=None,
        # sha256 of the preset graph (format 2) holding the converter's weights (musicnn_msd/convert.py).
        weights_sha256={"model.weights.h5": "5ec74e77eccbf750b842091b280f6bad25d166275941e9907df12626d4063880"},
        bundled=True,
        input="log-mel, 187 frames (3 s)", sample_rate=16000, parameters=792_079, embedding_size=200, num_tags=50,
        license="ISC",
    )
)

register_preset(
    PresetSpec(
        preset_id="samplecnn-msd",
        description="3^9-SampleCNN (thesis Table 3.1) on raw 22,050 Hz audio: 50 MSD tags + a 256-d embedding "
                    "read from all its stages, distilled from musicnn-msd and artist-siamese-msd on free game "
                    "soundtracks (not trained on MSD audio).",
        repo_id=f"{HUB_ORG}/samplecnn-msd",
        revision=None,
        # sha256 of the preset graph (format 2): the distilled weights and the multi-level read-out (samplecnn_msd/levels.py).
        weights_sha256={"model.weights.h5": "6f504c52e748d8a60ce416889c7208c7d39793e4c45200cb38f4d4aec236b410"},
        bundled=True,
        input="raw waveform, 59,049 samples (2.7 s)", sample_rate=22050, parameters=3_407_794, embedding_size=256,
        num_tags=50, license="MIT",
    )
)

register_preset(
    PresetSpec(
        preset_id="disentangled-msd",
        description="Thesis section 5.2 disentangled classifier on the samplecnn-msd backbone: a 256-d embedding "
                    "of four 64-d sub-spaces (genre, mood, instrument, era) and 50 MSD tags, each scored in its "
                    "notion's sub-space; trained on free game soundtracks from musicnn-msd's tags.",
        repo_id=f"{HUB_ORG}/disentangled-msd",
        revision=None,
        # sha256 of the preset graph: samplecnn-msd's weights + the head (disentangled_msd/export.py).
        weights_sha256={"model.weights.h5": "eefc0c3c50cfc4f9cf8521c98843369187f0b782810a5c96e7a1a11c0b1eda8e"},
        bundled=True,
        input="raw waveform, 59,049 samples (2.7 s)", sample_rate=22050, parameters=3_699_506, embedding_size=256,
        subspaces=("genre", "mood", "instrument", "era"), num_tags=50, license="MIT",
    )
)
