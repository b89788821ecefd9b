"""Name or path -> a local preset directory, through the real huggingface_hub.

Order: (1) an existing directory; (2) `hf://org/name[@revision]`, downloaded
file by file into the normal Hub cache (so HF_HOME, HF_HUB_CACHE and
HF_HUB_OFFLINE apply); (3) a registered preset id -> its Hub repo at the pinned
revision, then the copy bundled with the package. Anything else is one error
that says what was tried and how to get the files.
"""

from pathlib import Path

from sdk.files import check_sha256

from sdk.presets import PRESETS, list_presets

# Files a preset directory may hold; only these are fetched from the Hub.
PRESET_FILES = ["config.json", "model.weights.h5", "preprocessor.json", "metadata.json", "README.md"]


class PresetNotFoundError(FileNotFoundError):
    """No preset directory could be found or fetched; the message says how to get one."""


def parse_hub_handle(handle):
    """"hf://org/name@rev" -> ("org/name", "rev" or None)."""
    body = handle[len("hf://"):]
    repo_id, _, revision = body.partition("@")
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ValueError(f"{handle!r}: a Hub handle is hf://org/name[@revision]")
    return repo_id, revision or None


def download_from_hub(repo_id, revision=None, cache_dir=None):
    """Fetch a preset repo's files (or find them in the cache when offline) -> snapshot dir."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, revision=revision, allow_patterns=PRESET_FILES,
                                      cache_dir=cache_dir))
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as error:
        # OSError covers connection failures; LocalEntryNotFoundError is also a FileNotFoundError.
        raise PresetNotFoundError(_how_to_get(repo_id, revision, error)) from error


def _how_to_get(repo_id, revision, error):
    at = f" at revision {revision}" if revision else ""
    pin = f" --revision {revision}" if revision else ""
    return (f"Preset repo {repo_id}{at} is not in the local Hugging Face cache and could not be "
            f"downloaded ({type(error).__name__}). With a network connection and HF_HUB_OFFLINE unset, "
            f"it downloads on first use; or fetch it once with `hf download {repo_id}{pin}` "
            f"(HF_HOME / HF_HUB_CACHE choose where it is stored).")


def verify_checksums(directory, expected):
    """Every file listed in `expected` must exist in `directory` with that sha256."""
    for name, digest in expected.items():
        path = Path(directory) / name
        if not path.is_file():
            raise PresetNotFoundError(f"{path}: missing from the preset")
        check_sha256(path, digest, ValueError, "registered in sdk/presets.py",
                     "refusing to load a modified or corrupted preset")


def resolve(name_or_path, revision=None, cache_dir=None):
    """Return the local directory holding the preset `name_or_path`."""
    text = str(name_or_path)
    if Path(text).expanduser().is_dir():
        return Path(text).expanduser()
    if text.startswith("hf://"):
        repo_id, handle_revision = parse_hub_handle(text)
        return download_from_hub(repo_id, revision or handle_revision, cache_dir)
    spec = PRESETS.get(text)
    if spec is None:
        raise PresetNotFoundError(
            f"{text!r} is neither a preset directory, an hf://org/name handle, nor a registered "
            f"preset; registered presets: {', '.join(list_presets()) or 'none'}."
        )
    pinned = revision or spec.revision
    has_bundle = spec.bundled and revision is None and spec.bundled_path.is_dir()
    if pinned is None and has_bundle:
        # Not published on the Hub yet: the bundled copy is the only one there is.
        directory = spec.bundled_path
    else:
        try:
            directory = download_from_hub(spec.repo_id, pinned, cache_dir)
        except PresetNotFoundError:
            if not has_bundle:
                raise
            directory = spec.bundled_path
    verify_checksums(directory, spec.weights_sha256)
    return directory
