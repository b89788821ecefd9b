"""sdk.cards: the committed cards and README table are what the generator writes, in the order
a user needs, with Hub-valid front matter whose figures are the evaluation JSON's."""

import json
import re
import shutil

import pytest
from huggingface_hub import ModelCard

from helpers import REPO, tiny_samplecnn_preset
from sdk import cards

BUNDLED = cards.bundled_ids(REPO)
SECTIONS = ["## Usage", "## Inputs and outputs", "## How it was made", "## Evaluation", "## Limitations",
            "## Licence and citation"]
RESERVED = ("Wesnoth", "Warzone", "Nexuiz", "UFO", "wesnoth-1.16", "warzone2100", "nexuiz-music", "ufoai")


def metadata(preset_id):
    return json.loads((REPO / "sdk/bundled" / preset_id / "metadata.json").read_text())


def test_committed_files_are_what_the_generator_writes():
    files = cards.expected_files(REPO)
    assert REPO / "README.md" in files and len(files) == 2 * len(BUNDLED) + 1
    for path, text in files.items():
        assert path.read_text() == text, f"{path.relative_to(REPO)} is stale: run `python -m sdk.cards`"
    assert cards.main(["--repo", str(REPO), "--check"]) == 0


@pytest.mark.parametrize("preset_id", BUNDLED)
def test_card_order_size_and_front_matter(preset_id):
    text = (REPO / "hub_cards" / f"{preset_id}.md").read_text()
    assert len(text.splitlines()) <= 150
    positions = [text.index(section) for section in SECTIONS]
    assert positions == sorted(positions) and text.index(f"# {preset_id}\n") < positions[0]
    data = ModelCard(text).data
    meta = metadata(preset_id)
    assert data.library_name == "keras" and data.pipeline_tag == "audio-classification"
    assert data.license == meta["license"].lower() and data.tags
    assert (data.datasets or []) == meta["card"].get("datasets", [])
    if "Million Song Dataset" not in (data.datasets or []):  # the warning, before the usage
        warning = text[text.index("\n> **"):text.index("## Usage")]
        assert "not on the Million Song Dataset" in warning or "Not trained on the Million Song Dataset" in warning


@pytest.mark.parametrize("preset_id", BUNDLED)
def test_model_index_holds_the_reports_own_figures(preset_id):
    evaluation = metadata(preset_id)["card"].get("evaluation")
    results = ModelCard((REPO / "hub_cards" / f"{preset_id}.md").read_text()).data.eval_results or []
    if evaluation is None:
        assert results == []
        return
    report = json.loads((REPO / evaluation["file"]).read_text())
    own = report["results"][evaluation["self"]]
    measured = {r.metric_type: r.metric_value for r in results}
    assert measured["map"] == round(own["map"], 4) and measured["knn_1"] == round(own["knn_1"], 4)
    assert {r.dataset_args["tracks"] for r in results} == {report["n_tracks"]}
    text = (REPO / "hub_cards" / f"{preset_id}.md").read_text()
    assert f"| **{evaluation['rows'][evaluation['self']]}** | {own['map']:.3f} |" in text
    assert f"`{evaluation['file']}`" in text and "```bash\npython -m " in text  # the command that made it


def test_readme_is_short_and_its_figures_come_from_the_reports():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    for preset_id in BUNDLED:
        headline = metadata(preset_id)["card"].get("headline")
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{preset_id}` |"))
        if headline:
            value = json.loads((REPO / headline["file"]).read_text())["results"][headline["row"]][headline["metric"]]
            assert re.search(rf"\| {value:.3f}[¹²³⁴⁵⁶⁷⁸⁹] \|", row), row  # its mark names the report's note
            mark = re.search(rf"{value:.3f}(.) \|", row).group(1)
            assert f"{mark} From `{headline['file']}`" in readme
        else:
            assert "| not measured |" in row


def test_no_figures_of_the_reserved_soundtracks_in_user_documents():
    documents = [REPO / "README.md", *(REPO / "hub_cards").glob("*.md"), *(REPO / "docs").glob("*.md")]
    for path in documents:
        text = path.read_text()
        if path.name == "corpus.md":  # names the reserved packages, to say they are refused
            text = text[:text.index("## Reserved evaluation packages")]
        assert not [name for name in RESERVED if name in text], path.name
    reports = [p for p in (REPO / "results").rglob("*.json") if "manifest" in json.loads(p.read_text())]
    assert reports  # the evaluation reports (other results, e.g. install timings, have no manifest)
    for path in reports:
        manifest = json.loads(path.read_text())["manifest"]["path"]
        assert "evaluation" not in manifest, f"{path}: a report on the reserved evaluation set"


def test_figures_follow_the_report_not_the_generator(tmp_path):
    preset_id = "samplecnn-msd"
    evaluation = metadata(preset_id)["card"]["evaluation"]
    (tmp_path / evaluation["file"]).parent.mkdir(parents=True)
    report = json.loads((REPO / evaluation["file"]).read_text())
    report["results"][preset_id]["map"] = 0.1234
    (tmp_path / evaluation["file"]).write_text(json.dumps(report))
    text = cards.render_card(REPO / "sdk/bundled" / preset_id, repo=tmp_path)
    assert "| **samplecnn-msd** | 0.123 |" in text and "value: 0.1234" in text
    original = round(json.loads((REPO / evaluation["file"]).read_text())["results"][preset_id]["map"], 4)
    assert f"value: {original}" not in text


def test_a_preset_without_card_prose_gets_a_plain_card(tmp_path):
    preset = tiny_samplecnn_preset(tmp_path / "my-tagger", 8000, tags=["a", "b"])
    path = cards.write_preset_card(preset)
    text = path.read_text()
    assert ModelCard(text).data.library_name == "keras" and "# my-tagger" in text
    assert "over its 2 tags" in text and "Not evaluated by this project yet." in text
    assert [text.index(s) for s in SECTIONS if s in text] == sorted(text.index(s) for s in SECTIONS if s in text)


def test_converters_carry_the_card_prose_over(tmp_path):
    """A converter or export writes the card object of the bundled copy into the preset it makes."""
    for preset_id in BUNDLED:
        assert cards.bundled_card(preset_id) == metadata(preset_id)["card"]
    assert cards.bundled_card("no-such-preset") is None
    # A preset with no evaluation yet: its card says so instead of showing a table.
    copy = shutil.copytree(REPO / "sdk/bundled/musicnn-mtat", tmp_path / "musicnn-mtat")
    meta = json.loads((copy / "metadata.json").read_text())
    for key in ("evaluation", "headline"):
        meta["card"].pop(key)
    meta["card"]["not_evaluated"] = "This project has not measured musicnn-mtat yet."
    (copy / "metadata.json").write_text(json.dumps(meta))
    text = cards.render_card(copy, REPO)
    assert "## Evaluation\n\nThis project has not measured musicnn-mtat" in text and "model-index" not in text
