"""Pieces shared by the training recipes (evaluation metrics in :mod:`.metrics`)."""
