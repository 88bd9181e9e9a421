"""Reference libraries shared by the tests."""

from __future__ import annotations

import os

import pytest


def keras_numpy():
    """Keras on its NumPy backend (no TensorFlow), or skip the test if it is not there."""
    os.environ.setdefault("KERAS_BACKEND", "numpy")
    try:
        import keras
    except Exception:  # keras is optional and may fail to import without its backend
        pytest.skip("keras with a numpy backend is not importable")
    if keras.backend.backend() != "numpy":
        pytest.skip("these references use Keras' NumPy backend")
    return keras
