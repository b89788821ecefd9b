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


@dataclasses.dataclass(frozen=True)
class PresetSpec:
    preset_id: str
    description: str
    repo_id: str
    revision: str | None  # full commit hash once published
    weights_sha256: dict  # file name -> sha256 the loaded files must match
    bundled: bool = False

    @property
    def bundled_path(self):
        return BUNDLED_DIR / self.preset_id


PRESETS: dict[str, PresetSpec] = {}


def register_preset(spec):
    if spec.preset_id in PRESETS:
        raise ValueError(f"preset {spec.preset_id!r} registered twice")
    PRESETS[spec.preset_id] = spec
    return spec


def list_presets(pattern="*"):
    """Registered preset ids matching a shell wildcard."""
    return sorted(p for p in PRESETS if fnmatch.fnmatchcase(p, pattern))


register_preset(
    PresetSpec(
        preset_id="artist-siamese-msd",
        description="Thesis section 4.1 artist-label Siamese model (MSD, 10,000 artists), ported exactly.",
        repo_id=f"{HUB_ORG}/artist-siamese-msd",
        revision=None,
        # sha256 of the converter's output (training_recipes/artist_siamese_msd/convert.py).
        weights_sha256={"model.weights.h5": "ffc5530604239b28a3aa6aefa8f17274055aba5ec5699b253ef227f8192705b7"},
        bundled=True,
    )
)

register_preset(
    PresetSpec(
        preset_id="musicnn-msd",
        description="musicnn (Pons & Serra 2019) MSD_musicnn tagger, 50 MSD tags, 200-d penultimate "
                    "embedding; the authors' weights ported exactly (ISC).",
        repo_id=f"{HUB_ORG}/musicnn-msd",
        revision=None,
        # sha256 of the converter's output (training_recipes/musicnn_msd/convert.py).
        weights_sha256={"model.weights.h5": "790b4a93e675a437c02e475aed945d794cef2b5ad5ef70a0e410d3a006108641"},
        bundled=True,
    )
)

register_preset(
    PresetSpec(
        preset_id="musicnn-mtat",
        description="musicnn (Pons & Serra 2019) MTT_musicnn tagger, 50 MagnaTagATune tags, 200-d "
                    "penultimate embedding; the authors' weights ported exactly (ISC).",
        repo_id=f"{HUB_ORG}/musicnn-mtat",
        revision=None,
        # sha256 of the converter's output (training_recipes/musicnn_msd/convert.py).
        weights_sha256={"model.weights.h5": "87e94a2325334f06ce73748ccbcc6a3a546ae89f4e663e38e187b4cb5fefa62b"},
        bundled=True,
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
        # sha256 of training_recipes/samplecnn_msd/export.py's output (float16 weights, the readout)
        # and of levels.py's level read-out (the embedding).
        weights_sha256={"model.weights.h5": "ead6aff851b58655d34e196ff25dd840c665a314f8c3175e17b10a4883d46f8e",
                        "readout.npz": "35fa5828de32fc22cbfd147afbe821a34e1da59d9a601b103f7b21e0ac4173bf",
                        "levels.npz": "5b00c81a4327a0a837ec948ebb875e0090989efcc7f8c012d0ed0cae646e3a69"},
        bundled=True,
    )
)
