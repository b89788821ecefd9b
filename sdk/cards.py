"""Model cards, generated: one generator for the bundled presets and for presets the SDK writes.

    python -m sdk.cards [--repo DIR] [--check]

rewrites, for every bundled preset, `hub_cards/<id>.md` and `sdk/bundled/<id>/README.md`, and
the preset table between the `<!-- presets -->` markers of README.md (`--check`: write nothing,
exit 1 if any file differs). A card is built from the preset's `metadata.json` (its "card"
object holds the prose: summary, warning, how_made, limitations, licence text, citations,
report, and which evaluation JSON and rows to show), its `preprocessor.json`, and that JSON
under `results/` as `python -m training_recipes.evaluation` wrote it. Every figure in a card
comes from those files; this module holds none. Prose fields may name metadata values
(`{training[train_hours]}`), filled in with `str.format_map`.

The YAML front matter is huggingface_hub's `ModelCardData` with one `EvalResult` per measured
figure of the preset itself (`model-index`), so the Hub reads it as it reads any model card.
"""

import argparse
import json
import shlex
import sys
from pathlib import Path

README_START, README_END = "<!-- presets:start -->", "<!-- presets:end -->"
COLUMNS = (("map", "soundtrack MAP"), ("knn_1", "1-NN"), ("knn_5", "5-NN"),
           ("linear_accuracy", "linear softmax"))
CHANCE = {"map": "map_random_ranking", "knn_1": "knn_majority_soundtrack",
          "knn_5": "knn_majority_soundtrack", "linear_accuracy": "linear_majority_soundtrack"}
TASKS = {"map": "same-soundtrack retrieval", "knn_1": "soundtrack classification (1-NN)",
         "knn_5": "soundtrack classification (5-NN)", "linear_accuracy": "soundtrack classification (linear)"}


def _read(path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _prose(text, metadata):
    """A prose field with `{key[...]}` references to metadata filled in."""
    if not text:
        return ""
    text = "\n".join(text) if isinstance(text, list) else text
    return text.format_map(metadata)


def evaluation_rows(report, rows):
    """[(label, key, result)] of the report's rows named in `rows` ({result key: label}), in that order."""
    missing = [key for key in rows if key not in report["results"]]
    if missing:
        raise KeyError(f"rows {missing} are not in the evaluation report (it has {list(report['results'])})")
    return [(label, key, report["results"][key]) for key, label in rows.items()]


def _figure(value):
    return "" if value is None else f"{value:.3f}"


# ----- the parts of a card ------------------------------------------------------------------------
def card_data(preset_id, metadata, report=None):
    """huggingface_hub ModelCardData: licence, tags, datasets the weights saw, measured results."""
    from huggingface_hub import EvalResult, ModelCardData

    card = metadata.get("card", {})
    results = []
    evaluation = card.get("evaluation")
    if report is not None and evaluation:
        own = report["results"][evaluation["self"]]
        dataset = dict(dataset_type=evaluation.get("dataset_type", "custom"), dataset_name=evaluation["dataset"],
                       dataset_split=evaluation.get("split"),
                       dataset_args={"tracks": report["n_tracks"], "soundtracks": len(report["soundtracks"]),
                                     "clip_seconds": report["settings"].get("clip_seconds")})
        for key, name in COLUMNS:
            if own.get(key) is not None:
                results.append(EvalResult(task_type="audio-classification", task_name=TASKS[key], metric_type=key,
                                          metric_name=name, metric_value=round(own[key], 4), **dataset))
        agreement = (own.get("tag_agreement") or {}).get("roc_auc")
        if agreement is not None:
            results.append(EvalResult(task_type="audio-classification",
                                      task_name=f"tag agreement with {own['tag_agreement']['teacher']}",
                                      metric_type="roc_auc", metric_name="macro ROC-AUC",
                                      metric_value=round(agreement, 4), **dataset))
    return ModelCardData(library_name="keras", license=str(metadata.get("license", "other")).lower(),
                         tags=card.get("tags") or ["music", "audio"], pipeline_tag="audio-classification",
                         datasets=card.get("datasets") or None, model_name=preset_id,
                         eval_results=results or None)


def _segment(preprocessor):
    rate, segment = preprocessor["sample_rate"], preprocessor.get("segment", {})
    length = segment.get("length")
    if length is None:
        return "the whole song at once"
    if segment.get("unit") == "frames":
        hop = preprocessor.get("frontend", {}).get("hop_length", 1)
        span = f"{length} frames (hop {hop}: about {length * hop / rate:.2f} s)"
    else:
        span = f"{length:,} samples ({length / rate:.2f} s)"
    return f"consecutive segments of {span}; a last partial segment is dropped, a shorter song zero-padded"


def _frontend(preprocessor):
    name = str(preprocessor.get("frontend_class", "")).split(">")[-1]
    settings = preprocessor.get("frontend", {})
    if name == "LogMelSpectrogram":
        return (f"log-mel spectrogram inside the model ({settings.get('n_mels')} bands, n_fft "
                f"{settings.get('n_fft')}, hop {settings.get('hop_length')})")
    if name == "RawWaveform":
        return "none: the first layer is a strided convolution over the raw samples"
    return name or "see preprocessor.json"


def usage(preset_id, metadata):
    tags = metadata.get("tags") or []
    size = metadata.get("embedding_size")
    code = [(f'model = sdk.load("{preset_id}")', "bundled with the package: works offline"),
            ('vector = model.embed("song.ogg")', f"({size},) song embedding")]
    if tags:
        code.append(('model.tag("song.ogg", top_k=5)', f"[(tag, score)] over its {len(tags)} tags"))
    code += [('model.similar("song.ogg", catalog, k=5)', "nearest songs of a catalog, by cosine")]
    column = max(len(line) for line, _ in code) + 2
    lines = ["## Usage", "", "```python", "import sdk", ""]
    lines += [f"{line:<{column}}# {comment}" for line, comment in code[:-1]]
    lines += ['catalog = sdk.Catalog.build("my-music/", model.embed, embedding_size=model.embedding_size)']
    lines += [f"{line:<{column}}# {comment}" for line, comment in code[-1:]] + ["```", "",
              f"From the shell: `music-zoo embed song.ogg --model {preset_id}`"
              + (f", `music-zoo tag song.ogg --model {preset_id}`." if tags else "."),
              "Install: `pip install music-retrieval-zoo`; `sdk.load` also takes a directory or `hf://org/name`."]
    return lines


def inputs_outputs(metadata, preprocessor):
    lines = ["## Inputs and outputs", "",
             f"- Input: mono audio at {preprocessor['sample_rate']:,} Hz (the SDK decodes and resamples files), "
             f"cut into {_segment(preprocessor)}; a song's outputs are the "
             f"{preprocessor.get('aggregation', 'mean')} over its segments.",
             f"- Front end: {_frontend(preprocessor)}.",
             f"- {metadata.get('parameter_count', 0):,} parameters; files and their sha256: "
             + ", ".join(f"`{name}` `{digest[:16]}…`" for name, digest in metadata.get("files", {}).items()) + ".",
             "", "| output | purpose | size | what |", "|---|---|---|---|"]
    readout = metadata.get("level_readout") or {}
    for output in metadata.get("outputs", []):
        what = output.get("description") or ""
        if not what and output.get("purpose") == "embeddings":
            what = (f"max over time of {len(readout['stages'])} backbone stages, centred and whitened "
                    "(a `MultiLevelReadout` layer of the graph)" if readout.get("stages") else "the network's embedding")
        if not what and output.get("purpose") == "predictions":
            what = "the tag head, on the network's own embedding"
        lines.append(f"| `{output.get('name')}` | {output.get('purpose', '')} | {output.get('size', '')} | {what} |")
    tags = metadata.get("tags") or []
    if tags:
        lines += ["", f"The {len(tags)} tags, in output order: " + ", ".join(tags) + "."]
    return lines


def _command(report, width=92):
    """The report's recorded command as a shell line, wrapped before options."""
    words = [str(word) for word in report.get("command") or []]
    if words and "python" in Path(words[0]).name:
        words[0] = "python"
    groups = []
    for word in words:
        if word.startswith("--") or not groups:
            groups.append([])
        groups[-1].append(shlex.quote(word))
    lines = [""]
    for group in (" ".join(g) for g in groups):
        if lines[-1].strip() and len(lines[-1]) + len(group) + 1 > width:
            lines.append("   ")
        lines[-1] = f"{lines[-1]} {group}" if lines[-1] else group
    return " \\\n".join(lines)


def evaluation(metadata, report, report_path):
    evaluation = metadata.get("card", {}).get("evaluation")
    lines = ["## Evaluation", ""]
    if not evaluation or report is None:
        lines.append(_prose(metadata.get("card", {}).get("not_evaluated"), metadata)
                     or "Not evaluated by this project yet.")
        return lines
    rows = evaluation_rows(report, evaluation["rows"])
    soundtracks = report["soundtracks"]
    clip = report["settings"].get("clip_seconds")
    lines += [f"{_prose(evaluation['data'], metadata)}: {report['n_tracks']} tracks of {len(soundtracks)} "
              f"soundtracks" + (f", the centre {clip:g} s of each" if clip else "")
              + ". Each track queries all the others by cosine; relevant = same soundtrack. Models in one run, "
              "same tracks:", ""]
    agreement = any((r.get("tag_agreement") or {}).get("roc_auc") is not None for _, _, r in rows)
    teacher = report["settings"].get("teacher")
    header = [name for _, name in COLUMNS] + ([f"tag agreement with {teacher} (ROC-AUC)"] if agreement else [])
    lines += ["| model | " + " | ".join(header) + " |", "|---" * (len(header) + 1) + "|"]
    chance = report.get("chance", {})
    lines.append("| chance | " + " | ".join(_figure(chance.get(CHANCE[k])) for k, _ in COLUMNS)
                 + (" |  |" if agreement else " |"))
    for label, key, result in rows:
        cells = [_figure(result.get(k)) for k, _ in COLUMNS]
        if agreement:
            cells.append(_figure((result.get("tag_agreement") or {}).get("roc_auc"))
                         or ("(the teacher)" if result.get("teacher") else ""))
        bold = key == evaluation["self"]
        lines.append(f"| {'**' + label + '**' if bold else label} | " + " | ".join(cells) + " |")
    from sdk.card_notions import notion_lines

    lines += notion_lines(report, rows, evaluation["self"])
    lines += ["", f"From `{report_path}`, written by:", "", "```bash", _command(report), "```"]
    note = _prose(evaluation.get("note"), metadata)
    if note:
        lines += ["", note]
    return lines


def render_card(preset_dir, repo=None):
    """The card (Markdown with YAML front matter) of the preset at `preset_dir`; `repo` is where
    the evaluation JSON its metadata names is looked up (default: the current directory)."""
    preset_dir = Path(preset_dir)
    metadata = _read(preset_dir / "metadata.json")
    preprocessor = _read(preset_dir / "preprocessor.json")
    preset_id = metadata.get("preset", preset_dir.name)
    card = metadata.get("card", {})
    report_path = (card.get("evaluation") or {}).get("file")
    report = _read(Path(repo or ".") / report_path) if report_path else None
    data = card_data(preset_id, metadata, report)
    lines = ["---", data.to_yaml().rstrip("\n"), "---", "", f"# {preset_id}", "",
             _prose(card.get("summary") or metadata.get("provenance") or metadata.get("description"), metadata)]
    if card.get("warning"):
        lines += ["", "> " + _prose(card["warning"], metadata).replace("\n", "\n> ")]
    lines += [""] + usage(preset_id, metadata) + [""] + inputs_outputs(metadata, preprocessor)
    lines += ["", "## How it was made", "", _prose(card.get("how_made") or metadata.get("provenance"), metadata)
              or "Not recorded in the preset's metadata.json."]
    links = [f"the full report: `{card['report']}`" if card.get("report") else "",
             f"every step again: `bash {card['recipe']}`" if card.get("recipe") else ""]
    if any(links):
        lines += ["", "More: " + "; ".join(link for link in links if link) + " (in the source repository)."]
    lines += [""] + evaluation(metadata, report, report_path)
    if card.get("limitations"):
        lines += ["", "## Limitations", ""] + [f"- {_prose(item, metadata)}" for item in card["limitations"]]
    lines += ["", "## Licence and citation", "", f"Licence: {metadata.get('license', 'unknown')}."]
    if card.get("licence_text"):
        lines += ["", _prose(card["licence_text"], metadata)]
    elif metadata.get("copyright"):
        lines[-1] += f" {metadata['copyright']}"
    if card.get("citations"):
        lines += ["", "Please cite:", ""] + [f"- {_prose(item, metadata)}" for item in card["citations"]]
    return "\n".join(lines).rstrip("\n") + "\n"


# ----- the README's preset table ------------------------------------------------------------------
def preset_table(repo, preset_ids):
    """Markdown: one line per preset (id, what, input, embedding, headline figure, licence, card)."""
    repo = Path(repo)
    lines, sources, notes_by_file, figure_of, file_of = [], {}, {}, {}, {}
    for preset_id in preset_ids:
        directory = repo / "sdk" / "bundled" / preset_id
        metadata, preprocessor = _read(directory / "metadata.json"), _read(directory / "preprocessor.json")
        card = metadata.get("card", {})
        headline = card.get("headline") or {}
        figure = "not measured"
        if headline.get("file"):
            report = _read(repo / headline["file"])
            value = report["results"][headline.get("row", preset_id)].get(headline["metric"])
            figure = _figure(value)
            figure_of[preset_id], file_of[preset_id] = figure, headline["file"]
            sources[headline["file"]] = report
            if headline.get("note"):
                notes_by_file.setdefault(headline["file"], []).append(_prose(headline["note"], metadata))
        frontend = "raw audio" if "RawWaveform" in str(preprocessor.get("frontend_class")) else "log-mel"
        tags = metadata.get("tags") or []
        lines.append(f"| `{preset_id}` | {card.get('tagline', '')} | {preprocessor['sample_rate']:,} Hz, {frontend} | "
                     f"{metadata.get('embedding_size')}" + (f" + {len(tags)} tags" if tags else "")
                     + f" | {figure} | {metadata.get('license')} | [card](hub_cards/{preset_id}.md) |")
    header = ["| preset | what it does | input | embedding | soundtrack MAP¹ | licence | card |",
              "|---|---|---|---|---|---|---|"]
    marks = {path: "¹²³⁴⁵⁶⁷⁸⁹"[i] for i, path in enumerate(sources)}
    lines = [line.replace(f" | {figure_of[pid]} | ", f" | {figure_of[pid]}{marks[file_of[pid]]} | ", 1)
             if pid in file_of else line for pid, line in zip(preset_ids, lines)]
    header[0] = header[0].replace("soundtrack MAP¹", "soundtrack MAP")
    notes = [f"{marks[path]} From `{path}`: {report['n_tracks']} tracks of {len(report['soundtracks'])} soundtracks, "
             "all models in one run. " + " ".join(notes_by_file.get(path, [])) for path, report in sources.items()]
    notes[-1:] = [notes[-1] + " Each card has its own table and command."] if notes else []
    return "\n".join(header + lines + [""] + notes)


# ----- writing ------------------------------------------------------------------------------------
def bundled_ids(repo):
    return sorted(p.name for p in (Path(repo) / "sdk" / "bundled").iterdir() if (p / "metadata.json").is_file())


def expected_files(repo="."):
    """{path: text} of every generated file."""
    repo = Path(repo)
    files = {}
    for preset_id in bundled_ids(repo):
        text = render_card(repo / "sdk" / "bundled" / preset_id, repo)
        files[repo / "hub_cards" / f"{preset_id}.md"] = text
        files[repo / "sdk" / "bundled" / preset_id / "README.md"] = text
    readme = repo / "README.md"
    if readme.is_file():
        current = readme.read_text(encoding="utf-8")
        if README_START in current and README_END in current:
            head, rest = current.split(README_START, 1)
            tail = rest.split(README_END, 1)[1]
            table = preset_table(repo, bundled_ids(repo))
            files[readme] = f"{head}{README_START}\n{table}\n{README_END}{tail}"
    return files


def bundled_card(preset_id):
    """The "card" object of the bundled preset's metadata.json (None if it has none): where a
    card's prose is edited, and what a converter or export carries over into the preset it writes."""
    from sdk.presets import BUNDLED_DIR

    path = BUNDLED_DIR / preset_id / "metadata.json"
    return _read(path).get("card") if path.is_file() else None


def write_preset_card(directory, repo=None):
    """Write README.md into a preset directory (e.g. one `sdk.fine_tune` saved); returns its Path."""
    path = Path(directory) / "README.md"
    path.write_text(render_card(directory, repo), encoding="utf-8")
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m sdk.cards", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", default=".", help="the source checkout (default: the current directory)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file is out of date")
    args = parser.parse_args(argv)
    stale = []
    for path, text in expected_files(args.repo).items():
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    for path in stale:
        print(f"{'out of date' if args.check else 'wrote'}: {path}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
