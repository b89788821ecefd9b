"""Losses of the thesis, as serialisable Keras losses."""

import keras
from keras import ops

from zoo.frontends import PACKAGE


@keras.saving.register_keras_serializable(package=PACKAGE)
class MarginHingeLoss(keras.losses.Loss):
    """Max-margin hinge over relevance scores (Eq. 2.4, 4.2, 5.1, 5.4, 5.6, 5.7).

    `y_pred` is (B, 1 + N): column 0 scores the positive, the other N columns
    the negatives, larger = more similar (`PairScores` returns -distance for the
    euclidean metric, so Eq. 5.1 is the same formula). Per example:
    sum_j max(0, margin - s_pos + s_neg_j). `y_true` is not used (pass zeros);
    weigh examples with Keras's `sample_weight`, e.g. lambda for track triplets (Eq. 5.5).
    """

    def __init__(self, margin=0.4, name="margin_hinge", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.margin = margin

    def call(self, y_true, y_pred):
        positive = y_pred[:, :1]
        negatives = y_pred[:, 1:]
        return ops.sum(ops.relu(self.margin - positive + negatives), axis=-1)

    def get_config(self):
        return {**super().get_config(), "margin": self.margin}


def binary_crossentropy():
    """BCE for multi-label tagging (Eq. 5.10, thesis section 3.1.5)."""
    return keras.losses.BinaryCrossentropy(name="bce")


def track_regularization_weights(conditions, num_subspaces, track_weight):
    """Per-triplet weights for Eq. 5.5: 1 for category triplets, lambda for track ones.

    Track triplets carry the condition index `num_subspaces` (the all-ones mask).
    """
    import numpy as np

    conditions = np.asarray(conditions).reshape(-1)
    return np.where(conditions >= num_subspaces, track_weight, 1.0).astype("float32")
