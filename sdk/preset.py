"""The preset format: a plain directory that rebuilds one registered zoo model.

    config.json        {"format_version": 1, "name": <zoo registry name>, "arguments": {...}}
    model.weights.h5   Keras 3 weights of `zoo.build(name, **arguments)` (no optimizer state)
    preprocessor.json  sample rate, front-end settings, segmentation, aggregation
    metadata.json      preset id, outputs, licence, provenance, sha256 of every weight file
    README.md          the model card (copied from hub_cards/<preset-id>.md), optional

Loading never unpickles anything: the architecture comes from the zoo registry
by name, the numbers from an HDF5 weight file whose sha256 is checked first.
Only keras and the standard library are used here, so it runs on every Keras backend.
"""

import dataclasses
import datetime
import json
import os
import shutil
import tempfile
from pathlib import Path

from sdk.files import check_sha256, sha256_file, swap_directory  # noqa: F401  (sha256_file is public here too)

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
PREPROCESSOR_FILE = "preprocessor.json"
METADATA_FILE = "metadata.json"
README_FILE = "README.md"
REQUIRED_FILES = (CONFIG_FILE, WEIGHTS_FILE, PREPROCESSOR_FILE, METADATA_FILE)
# Keys of a layer config that describe the Keras object, not the front end.
_LAYER_ONLY_KEYS = ("name", "trainable", "dtype")


class PresetError(ValueError):
    """A preset directory is incomplete, corrupted or of an unknown format."""


@dataclasses.dataclass(frozen=True)
class PresetFiles:
    """What `read_preset` found: parsed JSON files and the path of every file present."""

    directory: Path
    config: dict
    preprocessor: dict
    metadata: dict
    paths: dict  # file name -> Path, for every (non-hidden) file in the directory

    @property
    def name(self):
        return self.config["name"]

    @property
    def arguments(self):
        return dict(self.config.get("arguments", {}))


def frontend_config(layer):
    """A front-end layer's settings as plain JSON (its get_config minus name/trainable/dtype)."""
    return {k: v for k, v in layer.get_config().items() if k not in _LAYER_ONLY_KEYS}


def _dump(path, data):
    text = json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False)
    Path(path).write_text(text + "\n", encoding="utf-8")


def _jsonable(data):
    """Tuples -> lists etc.: what the value looks like after a JSON round trip."""
    return json.loads(json.dumps(data))


def _save_weights(model, path):
    """`model.save_weights` without the optimizer: a preset holds the network only, and the
    optimizer's step counter (int32 or int64 by backend) would make the bytes backend-dependent."""
    try:
        from keras.src.saving.saving_lib import save_weights_only  # what KerasHub's Task uses
    except ImportError:  # a future Keras moved it: the optimizer counter is saved, loads the same
        return model.save_weights(path)
    optimizer = getattr(model, "optimizer", None)
    save_weights_only(model, path, objects_to_skip=[optimizer] if optimizer is not None else None)


def _load_weights(model, path):
    """`model.load_weights`, leaving a compiled model's (unsaved) optimizer alone."""
    try:
        from keras.src.saving.saving_lib import load_weights_only
    except ImportError:
        return model.load_weights(path)
    optimizer = getattr(model, "optimizer", None)
    load_weights_only(model, path, objects_to_skip=[optimizer] if optimizer is not None else None)


def _check_weights_fit(model, name, arguments):
    """Refuse to write a preset whose weights would not load into zoo.build(name, **arguments)."""
    import zoo

    fresh = zoo.build(name, **arguments)
    ours = [(w.path, tuple(w.shape)) for w in model.weights]
    theirs = [(w.path, tuple(w.shape)) for w in fresh.weights]
    if [s for _, s in ours] != [s for _, s in theirs]:
        raise PresetError(
            f"the model's weights do not match zoo.build({name!r}, **arguments): "
            f"{len(ours)} vs {len(theirs)} variables; first difference "
            f"{next(((a, b) for a, b in zip(ours, theirs) if a[1] != b[1]), None)}"
        )


def _store_as_float16(path):
    """Rewrite the float32 arrays of a weights file as float16 (half the bytes); Keras casts
    them back to the variables' float32 on load. For presets whose size matters more than
    the ~5e-4 relative rounding of each weight. HDF5 does not give back the space of a
    deleted dataset, so the file is copied into a new one rather than edited in place."""
    import h5py
    import numpy as np

    path = Path(path)
    half = path.with_suffix(".f16.h5")

    def copy(source, target):
        target.attrs.update(source.attrs)
        for key, item in source.items():
            if isinstance(item, h5py.Group):
                copy(item, target.create_group(key))
            else:
                data = item[()]
                if item.dtype == np.float32:
                    data = data.astype(np.float16)
                target.create_dataset(key, data=data).attrs.update(item.attrs)

    with h5py.File(path, "r") as source, h5py.File(half, "w") as target:
        copy(source, target)
    half.replace(path)


def save_preset(model, directory, *, name, arguments, preprocessor, metadata, card_path=None,
                weights_dtype="float32", extra_files=None):
    """Write `model` as a preset directory; returns its Path.

    `weights_dtype="float16"` stores the weights at half size (see _store_as_float16);
    the metadata records it. `extra_files` ({name: source path}) are copied in and their
    sha256 listed next to the weights' (e.g. a recipe's readout.npz).

    `arguments` are merged over the registry defaults, so config.json records the
    full build. `metadata` gains keras_version, parameter_count, date_saved and
    `files` (sha256 of each weight file). The files are written into a temporary
    sibling directory that is renamed into place at the end: an interrupted save
    never leaves a half-written preset. An existing *preset* at `directory` is
    replaced; any other non-empty directory is refused.
    """
    import keras

    import zoo

    directory = Path(directory)
    arguments = _jsonable(zoo.model_arguments(name, **arguments))
    if zoo.get_model_info(name).kind != "keras":
        raise PresetError(f"{name!r} is not a Keras model; presets hold Keras weights only")
    _check_weights_fit(model, name, arguments)
    if directory.exists() and any(directory.iterdir()) and not (directory / CONFIG_FILE).is_file():
        raise PresetError(f"{directory}: exists and is not a preset; refusing to replace it")

    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        _dump(staging / CONFIG_FILE, {"format_version": FORMAT_VERSION, "name": name, "arguments": arguments})
        _save_weights(model, staging / WEIGHTS_FILE)
        if weights_dtype == "float16":
            _store_as_float16(staging / WEIGHTS_FILE)
        elif weights_dtype != "float32":
            raise PresetError(f"weights_dtype must be 'float32' or 'float16', got {weights_dtype!r}")
        _dump(staging / PREPROCESSOR_FILE, _jsonable(preprocessor))
        full = dict(_jsonable(metadata))
        full.update(
            keras_version=keras.__version__,
            parameter_count=int(model.count_params()),
            date_saved=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            files={WEIGHTS_FILE: sha256_file(staging / WEIGHTS_FILE)},
        )
        for filename, source in (extra_files or {}).items():
            if filename in REQUIRED_FILES or filename == README_FILE or "/" in filename:
                raise PresetError(f"extra file {filename!r} would clash with the preset's own files")
            shutil.copyfile(source, staging / filename)
            full["files"][filename] = sha256_file(staging / filename)
        if weights_dtype != "float32":
            full["weights_dtype"] = weights_dtype
        _dump(staging / METADATA_FILE, full)
        if card_path is not None:
            shutil.copyfile(card_path, staging / README_FILE)
        os.chmod(staging, 0o755)
        swap_directory(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


def _load_json(directory, filename):
    path = directory / filename
    if not path.is_file():
        raise PresetError(f"{directory}: not a complete preset, {filename} is missing")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise PresetError(f"{path}: not valid JSON ({error})") from error


def read_preset(directory):
    """Parse a preset directory -> PresetFiles. Checks presence and format, not hashes."""
    directory = Path(directory)
    if not directory.is_dir():
        raise PresetError(f"{directory}: no such preset directory")
    for filename in REQUIRED_FILES:
        if not (directory / filename).is_file():
            raise PresetError(f"{directory}: not a complete preset, {filename} is missing")
    config = _load_json(directory, CONFIG_FILE)
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise PresetError(
            f"{directory}: {CONFIG_FILE} has format_version {version!r}; this library reads "
            f"version {FORMAT_VERSION} (upgrade the package or re-export the preset)"
        )
    if not isinstance(config.get("name"), str):
        raise PresetError(f"{directory}: {CONFIG_FILE} has no model 'name'")
    paths = {p.name: p for p in sorted(directory.iterdir()) if p.is_file() and not p.name.startswith(".")}
    return PresetFiles(
        directory=directory,
        config=config,
        preprocessor=_load_json(directory, PREPROCESSOR_FILE),
        metadata=_load_json(directory, METADATA_FILE),
        paths=paths,
    )


def verify_preset(directory):
    """Check the sha256 of every weight file listed in metadata.json; returns PresetFiles."""
    files = read_preset(directory)
    listed = files.metadata.get("files") or {}
    if WEIGHTS_FILE not in listed:
        raise PresetError(f"{files.directory}: {METADATA_FILE} lists no sha256 for {WEIGHTS_FILE}")
    for filename, expected in listed.items():
        path = files.directory / filename
        if not path.is_file():
            raise PresetError(f"{files.directory}: not a complete preset, {filename} is missing")
        check_sha256(path, expected, PresetError, f"recorded in {METADATA_FILE}",
                     "the file is corrupted or was modified")
    return files


def load_preset_model(directory):
    """Verify, build `zoo.build(name, **arguments)` and load the weights -> keras.Model."""
    return build_preset_model(verify_preset(directory))


def build_preset_model(files):
    """The keras.Model of an already verified preset (PresetFiles from verify_preset)."""
    import zoo

    try:
        entry = zoo.get_model_info(files.name)
    except KeyError as error:
        raise PresetError(f"{files.directory}: {error.args[0]}") from None
    if entry.kind != "keras":
        raise PresetError(f"{files.directory}: {files.name!r} is not a Keras model")
    try:
        model = zoo.build(files.name, **files.arguments)
    except TypeError as error:
        raise PresetError(f"{files.directory}: {CONFIG_FILE} arguments do not fit {files.name!r}: {error}") from None
    try:
        _load_weights(model, files.directory / WEIGHTS_FILE)
    except ValueError as error:
        raise PresetError(f"{files.directory / WEIGHTS_FILE}: does not fit {files.name!r} ({error})") from error
    return model
