"""The preset format: a plain directory holding one Keras graph (zoo.task.MusicTask).

    config.json        {"format_version": 2, <keras.saving.serialize_keras_object(task)>}: the
                       task's class and its config (zoo registry name and arguments of the
                       network, segment length, read-out); rebuilt in Keras safe mode
    model.weights.h5   Keras 3 weights of that graph (no optimizer state)
    preprocessor.json  sample rate, front-end settings, segmentation, aggregation
    metadata.json      preset id, outputs, licence, provenance, sha256 of every weight file
    README.md          the model card, optional

Loading never unpickles anything: the graph comes from registered zoo classes, the
numbers from an HDF5 weight file whose sha256 is checked first. Only keras and the
standard library are used here, so it runs on every Keras backend.
"""

import dataclasses
import datetime
import json
import os
import shutil
from pathlib import Path

from sdk.files import check_sha256, clean_stale, sha256_file, staging_directory, swap_directory  # noqa: F401

FORMAT_VERSION = 2
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
    def task_config(self):
        """The serialized MusicTask: {"class_name", "config", "module", "registered_name"}."""
        return {k: v for k, v in self.config.items() if k != "format_version"}

    @property
    def name(self):
        """The zoo registry name of the preset's network."""
        return self.config["config"]["network"]

    @property
    def arguments(self):
        return dict(self.config["config"].get("arguments") or {})


def frontend_config(layer):
    """A front-end layer's settings as plain JSON (its get_config minus name/trainable/dtype)."""
    return {k: v for k, v in layer.get_config().items() if k not in _LAYER_ONLY_KEYS}


def _dump(path, data):
    text = json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False)
    Path(path).write_text(text + "\n", encoding="utf-8")


def _jsonable(data):
    """Tuples -> lists etc.: what the value looks like after a JSON round trip."""
    return json.loads(json.dumps(data))


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


def as_task(model, *, name=None, arguments=None, preprocessor=None, tags=True):
    """`model` as a preset graph: a MusicTask as it is, or a trained network (built by
    `zoo.build(name, **arguments)`) wrapped with its weights copied in (and its tag head
    unless `tags` is false: a preset whose metadata names no tags has none)."""
    from zoo.task import MusicTask

    if isinstance(model, MusicTask):
        return model
    if name is None:
        raise PresetError("a trained network needs name= (its zoo registry name) to become a preset")
    import zoo

    if zoo.get_model_info(name).kind != "keras":
        raise PresetError(f"{name!r} is not a Keras model; presets hold Keras weights only")
    segment = ((preprocessor or {}).get("segment") or {}).get("length")
    task = MusicTask(name, _jsonable(zoo.model_arguments(name, **(arguments or {}))), segment=segment, tags=tags)
    try:
        return task.load_network_weights(model)
    except ValueError as error:
        raise PresetError(f"the model's weights do not fit zoo.build({name!r}, **arguments): {error}") from None


def save_preset(model, directory, *, preprocessor, metadata, name=None, arguments=None, card_path=None,
                weights_dtype="float32", extra_files=None):
    """Write `model` (a zoo.task.MusicTask, or a trained network with its `name` and
    `arguments`, see `as_task`) as a preset directory; returns its Path.

    `weights_dtype="float16"` stores the weights at half size (see _store_as_float16);
    the metadata records it. `extra_files` ({name: source path}) are copied in and their
    sha256 listed next to the weights' (e.g. a recipe's readout.npz).

    `metadata` gains keras_version, parameter_count, date_saved and `files` (sha256 of
    each weight file). The files are written into a temporary sibling directory that is
    renamed into place at the end: an interrupted save never leaves a half-written
    preset. An existing *preset* at `directory` is replaced; any other non-empty
    directory is refused.
    """
    import keras

    directory = Path(directory)
    task = as_task(model, name=name, arguments=arguments, preprocessor=preprocessor,
                   tags=bool((metadata or {}).get("tags")))
    if directory.exists() and any(directory.iterdir()) and not (directory / CONFIG_FILE).is_file():
        raise PresetError(f"{directory}: exists and is not a preset; refusing to replace it")

    staging = staging_directory(directory)
    try:
        _dump(staging / CONFIG_FILE, {"format_version": FORMAT_VERSION,
                                      **_jsonable(keras.saving.serialize_keras_object(task))})
        task.save_weights(staging / WEIGHTS_FILE)
        if weights_dtype == "float16":
            _store_as_float16(staging / WEIGHTS_FILE)
        elif weights_dtype != "float32":
            raise PresetError(f"weights_dtype must be 'float32' or 'float16', got {weights_dtype!r}")
        _dump(staging / PREPROCESSOR_FILE, _jsonable(preprocessor))
        full = dict(_jsonable(metadata))
        full.update(
            keras_version=keras.__version__,
            parameter_count=int(task.count_params()),
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
    clean_stale(directory, lambda d: (d / CONFIG_FILE).is_file())  # what killed saves left
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
    if not isinstance((config.get("config") or {}).get("network"), str):
        raise PresetError(f"{directory}: {CONFIG_FILE} names no network")
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
    """Verify, rebuild the preset's MusicTask and load its weights."""
    return build_preset_model(verify_preset(directory))


def build_preset_model(files):
    """The zoo.task.MusicTask of an already verified preset (PresetFiles from verify_preset)."""
    import keras

    import zoo
    from zoo.task import MusicTask

    try:
        zoo.get_model_info(files.name)
    except KeyError as error:
        raise PresetError(f"{files.directory}: {error.args[0]}") from None
    if files.task_config.get("registered_name") != "zoo>MusicTask":
        raise PresetError(f"{files.directory}: {CONFIG_FILE} holds a {files.task_config.get('registered_name')!r}, "
                          "not a zoo>MusicTask")
    try:
        task = keras.saving.deserialize_keras_object(files.task_config, safe_mode=True)
    except (TypeError, ValueError, KeyError) as error:
        raise PresetError(f"{files.directory}: {CONFIG_FILE} does not rebuild a {files.name!r} graph: {error}") from None
    if not isinstance(task, MusicTask):
        raise PresetError(f"{files.directory}: {CONFIG_FILE} rebuilt a {type(task).__name__}, not a MusicTask")
    try:
        task.load_weights(files.directory / WEIGHTS_FILE)
    except ValueError as error:
        raise PresetError(f"{files.directory / WEIGHTS_FILE}: does not fit {files.name!r} ({error})") from error
    return task
