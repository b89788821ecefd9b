"""`music-zoo publish PRESET_DIR ORG/NAME`: upload a preset directory to the Hugging Face Hub.

Before anything is sent, the preset is checked as `sdk.load` would check it (every file
listed in metadata.json against its sha256, the graph rebuilt) and its card's YAML front
matter is validated for the Hub: `library_name: keras`, the licence metadata.json names,
`pipeline_tag`, tags and a `model-index` of measured results, parsed by huggingface_hub's
own ModelCard. `dry_run=True` stops there and returns what would be uploaded.
Uploading uses huggingface_hub's `create_repo` (exist_ok) and `upload_folder`.
"""

from pathlib import Path

from sdk.preset import README_FILE, PresetError, load_preset_model, sha256_file, verify_preset
from sdk.resolve import PRESET_FILES

REQUIRED_CARD_KEYS = ("library_name", "license", "pipeline_tag", "tags", "model-index")


class PublishError(ValueError):
    """A preset that must not be uploaded as it is, or an upload that failed; says why."""


def check_card(path, metadata):
    """Parse a card's front matter with huggingface_hub; return its data as a dict, or raise
    PublishError naming what is missing or wrong."""
    from huggingface_hub import ModelCard

    path = Path(path)
    if not path.is_file():
        raise PublishError(f"{path.parent}: has no {README_FILE} (the model card); generate it with "
                           "`python -m sdk.cards`")
    try:
        card = ModelCard.load(path)
    except Exception as error:  # the library raises ValueError / YAML errors for a broken header
        raise PublishError(f"{path}: the card's YAML front matter does not parse ({error})") from None
    data = card.data.to_dict()
    missing = [key for key in REQUIRED_CARD_KEYS if not data.get(key)]
    if missing:
        raise PublishError(f"{path}: the card's front matter lacks {', '.join(missing)}")
    if data["library_name"] != "keras":
        raise PublishError(f"{path}: library_name is {data['library_name']!r}, not 'keras'")
    licence = str(metadata.get("license", "")).lower()
    if licence and str(data["license"]).lower() != licence:
        raise PublishError(f"{path}: the card says license {data['license']!r}, metadata.json {metadata['license']!r}")
    results = card.data.eval_results or []
    if not results or any(r.metric_value is None for r in results):
        raise PublishError(f"{path}: model-index holds no measured result")
    return data


def plan(directory):
    """[(file name, bytes, sha256)] of what an upload of `directory` sends, after the checks."""
    files = verify_preset(directory)
    try:
        load_preset_model(directory)  # the graph rebuilds and its weights load
    except PresetError as error:
        raise PublishError(str(error)) from None
    check_card(files.directory / README_FILE, files.metadata)
    unknown = sorted(set(files.paths) - set(PRESET_FILES))
    if unknown:
        raise PublishError(f"{files.directory}: holds files a preset does not ({', '.join(unknown)}); "
                           "only " + ", ".join(PRESET_FILES) + " are uploaded")
    return [(name, files.paths[name].stat().st_size, sha256_file(files.paths[name]))
            for name in PRESET_FILES if name in files.paths]


def publish(directory, repo_id, *, dry_run=False, token=None, private=None, commit_message=None):
    """Check `directory` and upload it to the Hub model repo `repo_id`; returns a summary dict
    (with the commit URL unless `dry_run`)."""
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise PublishError(f"{repo_id!r}: a Hub repo is ORG/NAME")
    uploads = plan(directory)
    summary = {"repo_id": repo_id, "directory": str(directory), "dry_run": dry_run,
               "files": [{"name": n, "bytes": size, "sha256": digest} for n, size, digest in uploads]}
    if dry_run:
        return summary
    from huggingface_hub import create_repo, upload_folder

    try:
        create_repo(repo_id, token=token, private=private, exist_ok=True)
        info = upload_folder(repo_id=repo_id, folder_path=str(directory), allow_patterns=[n for n, _, _ in uploads],
                             commit_message=commit_message or f"Upload preset {Path(directory).name}", token=token)
    except Exception as error:  # offline mode, no network, no token, no permission: all end here
        raise PublishError(f"uploading {directory} to {repo_id} failed ({type(error).__name__}: {error}); "
                           "check the network, HF_HUB_OFFLINE and `hf auth login`") from None
    summary["commit_url"] = str(getattr(info, "commit_url", info))
    return summary
