"""Keras 3's own test inputs (keras/src/losses/losses_test.py: CosineSimilarityTest, DiceTest,
TverskyTest) for the losses added in issue 15, with ``convention="keras"``, against the Keras
installed here (NumPy backend) computing the same inputs."""

from __future__ import annotations

import numpy as np
import pytest

import losskit as lk
from references import keras_numpy

# CosineSimilarityTest.setup
COS_TRUE = np.asarray([[1, 9, 2], [-5, -2, 6]], dtype=np.float32)
COS_PRED = np.asarray([[4, 8, 12], [8, 1, 3]], dtype=np.float32)
# DiceTest / TverskyTest
CORRECTNESS = (np.array([[1, 2], [1, 2]], dtype=np.float32),
               np.array([[4, 1], [6, 1]], dtype=np.float32))
BINARY = (np.array([[1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1]], dtype=np.float32),
          np.array([[0, 1, 0, 1], [1, 0, 1, 1], [0, 1, 0, 1], [1, 0, 1, 1]], dtype=np.float32))
WITH_AXIS = (np.array([[[[1.0], [1.0]], [[0.0], [0.0]]], [[[1.0], [1.0]], [[0.0], [0.0]]]],
                      dtype=np.float32),
             np.array([[[[0.0], [1.0]], [[0.0], [1.0]]], [[[0.4], [0.0]], [[0.0], [0.9]]]],
                      dtype=np.float32))


@pytest.fixture(scope="module")
def keras():
    return keras_numpy()


def _close(got, expected):
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64),
                               np.asarray(expected, dtype=np.float64), rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("case", ["unweighted", "sample_weighted", "timestep_weighted",
                                  "zero_weighted", "axis"])
def test_keras_cosine_similarity_cases(keras, case):
    y, p, w, axis = COS_TRUE, COS_PRED, None, -1
    if case == "sample_weighted":
        w = np.asarray([1.2, 3.4], dtype=np.float32)
    elif case == "timestep_weighted":
        y, p = y.reshape((2, 3, 1)), p.reshape((2, 3, 1))
        w = np.asarray([3, 6, 5, 0, 4, 2], dtype=np.float32).reshape((2, 3))
    elif case == "zero_weighted":
        w = np.zeros(2, dtype=np.float32)
    elif case == "axis":
        axis = 1
    expected = keras.losses.CosineSimilarity(axis=axis)(y, p, sample_weight=w)
    got = lk.cosine_similarity_loss(y, p, axis=axis, sample_weight=w, convention="keras")
    _close(got, expected)
    if case == "unweighted":
        # losskit's own number: one more (the cosine distance), the same gradient
        _close(lk.cosine_similarity_loss(y, p), np.asarray(expected) + 1.0)


@pytest.mark.parametrize("inputs,options", [
    (CORRECTNESS, {}),
    (BINARY, {}),
    (WITH_AXIS, {"axis": (1, 2, 3), "reduction": None}),
])
def test_keras_dice_cases(keras, inputs, options):
    y, p = inputs
    expected = keras.losses.Dice(**options)(y, p)
    axis = options.get("axis")
    reduction = "none" if "reduction" in options else "mean"
    got = lk.dice_loss(y, p, axis=axis, reduction=reduction, convention="keras",
                       check_values=inputs is not CORRECTNESS)
    _close(got, expected)


@pytest.mark.parametrize("inputs,options", [
    (CORRECTNESS, {}),
    (CORRECTNESS, {"alpha": 0.2, "beta": 0.8}),
    (BINARY, {}),
    (BINARY, {"alpha": 0.2, "beta": 0.8}),
    (WITH_AXIS, {"axis": (1, 2, 3), "reduction": None}),
    (WITH_AXIS, {"alpha": 0.2, "beta": 0.8, "axis": (1, 2, 3), "reduction": None}),
])
def test_keras_tversky_cases(keras, inputs, options):
    y, p = inputs
    expected = keras.losses.Tversky(**options)(y, p)
    lk_options = {k: v for k, v in options.items() if k in ("alpha", "beta", "axis")}
    reduction = "none" if "reduction" in options else "mean"
    got = lk.tversky_loss(y, p, reduction=reduction, convention="keras",
                          check_values=inputs is not CORRECTNESS, **lk_options)
    _close(got, expected)
    if "alpha" in options:
        # losskit's alpha weighs the false positives: Keras' alpha and beta swapped
        swapped = lk.tversky_loss(y, p, reduction=reduction, alpha=0.8, beta=0.2,
                                  axis=lk_options.get("axis"),
                                  check_values=inputs is not CORRECTNESS)
        if "axis" in options:
            _close(swapped, expected)


def test_values_outside_zero_one_need_check_values_false():
    y, p = CORRECTNESS
    with pytest.raises(ValueError, match=r"^dice_loss: y_true has values outside \[0, 1\]"):
        lk.dice_loss(y, p, convention="keras")
