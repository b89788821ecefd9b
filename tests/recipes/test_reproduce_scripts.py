"""Each bundled preset's recipe folder holds a reproduce.sh that bash can parse and whose
`python -m` commands all name modules that exist."""

import importlib.util
import re
import subprocess

import pytest

from helpers import REPO
from sdk.presets import PRESETS, list_presets

BUNDLED = [preset_id for preset_id in list_presets() if PRESETS[preset_id].bundled]


def script(preset_id):
    return REPO / "training_recipes" / preset_id.replace("-", "_") / "reproduce.sh"


@pytest.mark.parametrize("preset_id", BUNDLED)
def test_reproduce_script_parses_and_names_real_modules(preset_id):
    path = script(preset_id)
    assert path.is_file(), f"{path} missing"
    subprocess.run(["bash", "-n", str(path)], check=True)
    modules = re.findall(r"python -m ([\w.]+)", path.read_text())
    assert modules, "no python -m command"
    for module in modules:
        assert importlib.util.find_spec(module) is not None, module


def test_samplecnn_msd_replays_every_phase_and_the_level_readout():
    text = script("samplecnn-msd").read_text()
    commands = re.findall(r"^(train|export_preset) ", text, flags=re.M)
    assert commands.count("train") == 10 and commands.count("export_preset") == 9  # phases 1+2 export once
    assert "training_recipes.samplecnn_msd.levels" in text
