"""Keras 3 model zoo for "Similarity-based Deep Learning for Music Retrieval" (J. Lee, 2021).

`zoo.list_models()` names every thesis architecture; `zoo.build(name, **overrides)`
returns it as a compiled `keras.Model` (or, for `mfcc-vq`, a numpy estimator).
"""

from zoo.backend import select_backend

select_backend()  # before keras is imported: KERAS_BACKEND, or the installed default

# Importing a family module fills the registry.
from zoo import (  # noqa: F401
    artist,
    framelevel,
    inception,
    inception_classifiers,
    mfcc_vq,
    multiscale,
    musicnn,
    rese2multi,
    samplecnn,
)
from zoo.registry import build, get_model_info, list_models, model_arguments

__all__ = ["build", "get_model_info", "list_models", "model_arguments"]
