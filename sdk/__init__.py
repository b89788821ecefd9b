"""SDK: `load()` a preset, then `embed()`, `tag()` and `similar()` your own music.

    import sdk
    model = sdk.load("samplecnn-msd")            # registered id, hf://org/name[@rev] or a directory
    vector = model.embed("song.ogg")
    hits = model.similar("song.ogg", sdk.Catalog.load("my-catalog"), k=5)
"""

from zoo.backend import select_backend

select_backend()  # before keras is imported: KERAS_BACKEND, or the installed default

from sdk.audio import AudioError
from sdk.finetune import fine_tune
from sdk.index import Catalog
from sdk.model import MusicModel, SkippedFilesWarning, get_model, load
from sdk.presets import list_presets
from sdk.resolve import PresetNotFoundError


def embed(audio, sr=None, model=None, **kwargs):
    """`load(model).embed(...)`; the default preset is loaded once and cached."""
    return get_model(model).embed(audio, sr=sr, **kwargs)


def tag(audio, sr=None, top_k=10, model=None):
    return get_model(model).tag(audio, sr=sr, top_k=top_k)


def similar(query, catalog, k=10, model=None, **kwargs):
    return get_model(model).similar(query, catalog, k=k, **kwargs)


__all__ = ["AudioError", "Catalog", "MusicModel", "PresetNotFoundError", "SkippedFilesWarning", "embed", "fine_tune",
           "list_presets", "load", "similar", "tag"]
