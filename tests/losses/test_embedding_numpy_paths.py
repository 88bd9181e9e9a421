"""NumPy's fast norms in the embedding losses (issue 19): ``|x|²`` by one einsum when nothing
overflows, else the scaled norm; the same numbers as the generic path to rounding, and no
overflow for huge vectors."""

from __future__ import annotations

import array_api_strict as xps
import numpy as np
import pytest

import losskit as lk
from losskit.losses._embedding import normalised


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normalised_on_numpy_is_the_scaled_norm(dtype):
    rng = np.random.default_rng(0)
    big = np.finfo(dtype).max ** 0.5 * 4  # |x|² overflows: the scaled path
    x = np.concatenate([rng.normal(size=(50, 3)), np.zeros((1, 3)), [[1e-7, 0.0, 0.0]],
                        [[big, big, 0.0]]]).astype(dtype)
    for rows in (x[:-1], x):  # without and with the row whose |x|² overflows
        u, norm, free = normalised(np, rows)
        gu, gnorm, gfree = normalised(xps, xps.asarray(rows))
        rtol = 4 * np.finfo(dtype).eps
        np.testing.assert_allclose(u, np.asarray(gu), rtol=rtol, atol=1e-30)
        np.testing.assert_allclose(norm, np.asarray(gnorm), rtol=rtol)
        np.testing.assert_array_equal(free, np.asarray(gfree))
        assert np.all(np.isfinite(u))
    np.testing.assert_allclose(normalised(np, x)[0][-1], [2**-0.5, 2**-0.5, 0.0], rtol=1e-6)


def test_cosine_losses_on_huge_vectors_do_not_overflow():
    y = np.array([[1e30, 1e30], [0.0, 1.0]], dtype=np.float32)
    p = np.array([[3e30, 3e30], [0.0, 2.0]], dtype=np.float32)
    np.testing.assert_allclose(lk.cosine_similarity_loss(y, p, reduction="none"), [0.0, 0.0],
                               atol=1e-6)
    triplet = np.array([[[1e30, 0.0], [1e30, 1e29], [0.0, 1e30]]], dtype=np.float32)
    value = lk.triplet_margin_with_distance_loss(None, triplet, distance_function="cosine")
    assert np.isfinite(value) and 0.0 < value < 1.0
