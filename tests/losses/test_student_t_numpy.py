"""The Student-t NumPy path (one fresh array per step, the overflow check one maximum) against
the generic path (array-api-strict arrays), through the loss and through the family."""

from __future__ import annotations

import array_api_strict as xps
import numpy as np
import pytest

import losskit as lk


def _inputs(rng, dtype):
    y = (rng.normal(size=50) * 4).astype(dtype)
    x = (rng.normal(size=50) * 4).astype(dtype)
    x[:4] = [0.0, -0.0, 3.0, -1e-3]
    return y, x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("df, scale", [(3.0, 1.0), (1.0, 2.5), (1e7, 0.3), (4.0, "array")])
def test_student_t_numpy_equals_the_generic_path(rng, dtype, df, scale):
    y, x = _inputs(rng, dtype)
    if scale == "array":
        scale = (rng.random(50) + 0.1).astype(dtype)
    generic_scale = xps.asarray(scale) if isinstance(scale, np.ndarray) else scale
    kw = {"df": df, "reduction": "none"}
    value, grad = lk.value_and_gradient(lk.student_t_nll, y, x, scale=scale, **kw)
    g_value, g_grad = lk.value_and_gradient(lk.student_t_nll, xps.asarray(y), xps.asarray(x),
                                            scale=generic_scale, **kw)
    tol = 1e-13 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(value, np.asarray(g_value), rtol=tol, atol=tol)
    np.testing.assert_allclose(grad, np.asarray(g_grad), rtol=tol, atol=tol)
    assert value.dtype == dtype and grad.dtype == dtype
    # the inputs are not written to
    y2, x2 = _inputs(np.random.default_rng(0), dtype)
    lk.student_t_nll(y2, x2, df=df, scale=scale)
    np.testing.assert_array_equal(x2, _inputs(np.random.default_rng(0), dtype)[1])
    if isinstance(scale, float):
        fam = lk.families.StudentT(df=df, scale=scale)
        np.testing.assert_allclose(fam.loss(y, x, reduction="none"), np.asarray(g_value),
                                   rtol=tol, atol=tol)
        np.testing.assert_allclose(fam.gradient(y, x), np.asarray(g_grad), rtol=tol, atol=tol)


def test_student_t_numpy_takes_the_split_form_for_overflow_and_nan():
    y = np.zeros(3, np.float32)
    far = np.array([1.0, 1e20, np.nan], np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        value = lk.student_t_nll(y, far, df=3.0, reduction="none", check_values=False)
        grad = lk.families.StudentT(df=3.0).gradient(y, far, check_values=False)
    assert np.isfinite(value[:2]).all() and np.isnan(value[2])
    np.testing.assert_allclose(grad[1], 4.0 / 1e20, rtol=1e-6)
    assert np.isnan(grad[2])
