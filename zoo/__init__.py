"""Keras 3 model zoo for "Similarity-based Deep Learning for Music Retrieval" (J. Lee, 2021).

`zoo.list_models()` names every thesis architecture; `zoo.build(name, **overrides)`
returns it as a compiled `keras.Model` (or, for `mfcc-vq`, a numpy estimator).
"""

from zoo import samplecnn  # noqa: F401  (importing a family fills the registry)
from zoo.registry import build, get_model_info, list_models, model_arguments

__all__ = ["build", "get_model_info", "list_models", "model_arguments"]
