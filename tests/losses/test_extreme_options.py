"""Options at the edge of the floating range: a contrastive loss is computed wherever its
value is representable, and where it is not the error names the option at fault (the
temperature, gamma) with how to fix it, never ``y_pred``."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import losskit as lk

X = [[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8]]
LABELS = [0, 0, 1, 1]


def _ntxent_float64(y, x, temperature):
    """NT-Xent written out per positive pair in float64 with exact shifts (the reference)."""
    x = np.asarray(x, dtype=np.float64)
    u = x / np.linalg.norm(x, axis=-1, keepdims=True)
    c = u @ u.T
    y = np.asarray(y)
    total, pairs = 0.0, 0
    for i in range(len(y)):
        negatives = c[i][y != y[i]]
        m = negatives.max()
        log_total = math.log(np.sum(np.exp((negatives - m) / temperature)))
        for j in range(len(y)):
            if j != i and y[j] == y[i]:
                z = (m - c[i, j]) / temperature + log_total
                total += max(z, 0.0) + math.log1p(math.exp(-abs(z)))
                pairs += 1
    return total / pairs


@pytest.mark.parametrize("temperature", [1e-30, 1e-38, 1e-40, 1e-44])
@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_ntxent_at_tiny_temperatures_is_the_loss_not_an_error(temperature, library):
    # the positive pairs are more similar than every negative: the loss tends to 0 as τ → 0,
    # and (m − s)/τ → −inf is exact; only the unshifted s/τ overflows float32
    x = np.float32(X) if library == "numpy" else torch.tensor(X, dtype=torch.float32)
    value, gradient = lk.value_and_gradient(lk.ntxent, LABELS, x, temperature=temperature)
    assert float(value) == _ntxent_float64(LABELS, X, temperature) == 0.0
    assert not np.any(np.asarray(gradient))


def test_ntxent_at_small_temperatures_matches_the_float64_reference():
    for temperature in (0.07, 1e-3, 1e-6):
        np.testing.assert_allclose(float(lk.ntxent(LABELS, np.float64(X),
                                                   temperature=temperature)),
                                   _ntxent_float64(LABELS, X, temperature), rtol=1e-9)


@pytest.mark.parametrize("dtype,temperature", [(np.float32, 1e-39), (np.float64, 5e-309)])
def test_ntxent_refuses_an_overflowing_quotient_naming_the_temperature(dtype, temperature):
    # x₁ is closer to a negative (x₃) than to its positive (x₂): the loss is about
    # (cos(x₁, x₃) − cos(x₁, x₂)) / τ, beyond the dtype's largest number
    x = dtype([[1.0, 0.0], [-0.8, 0.6], [0.6, 0.8], [0.0, 1.0]])
    with pytest.raises(ValueError, match=r"ntxent: temperature .*overflow.*\. Use a larger "
                                         r"temperature"):
        lk.ntxent(LABELS, x, temperature=temperature)
    with pytest.raises(ValueError, match=r"ntxent: temperature "):
        lk.gradient(lk.ntxent, LABELS, x, temperature=temperature)


def test_ntxent_refuses_a_temperature_that_rounds_to_zero_in_the_dtype():
    with pytest.raises(ValueError, match=r"ntxent: temperature = 1e-46 rounds to 0 in "
                                         r"float32\. Use a larger temperature"):
        lk.ntxent(LABELS, np.float32(X), temperature=1e-46)
    # float64 represents it: the loss of the well-separated batch is 0
    assert float(lk.ntxent(LABELS, np.float64(X), temperature=1e-46)) == 0.0


@pytest.mark.parametrize("library", ["numpy", "torch"])
@pytest.mark.parametrize("gamma", [1e100, 1e39])
def test_circle_loss_refuses_an_overflowing_gamma_naming_gamma(library, gamma):
    # γ beyond float32's largest number: every scaled similarity overflows
    x = np.float32(X) if library == "numpy" else torch.tensor(X, dtype=torch.float32)
    with pytest.raises(ValueError, match=r"circle_loss: gamma = .* makes the loss overflow "
                                         r"float32\. Use a smaller gamma"):
        lk.circle_loss(LABELS, x, gamma=gamma)
    with pytest.raises(ValueError, match=r"circle_loss: gamma = "):
        lk.gradient(lk.circle_loss, LABELS, x, gamma=gamma)
    # a moderate gamma on the same batch is a number
    assert math.isfinite(float(lk.circle_loss(LABELS, x, gamma=80.0)))


def test_circle_loss_gradient_that_overflows_names_gamma():
    # float64 at γ = 1e308: the loss (about 4e306) is a number, its gradient is not
    x = np.float64(X)
    value = float(lk.circle_loss(LABELS, x, gamma=1e308))
    assert math.isfinite(value) and value > 1e306
    with pytest.raises(ValueError, match=r"circle_loss: gamma = 1e\+308 makes the loss's "
                                         r"gradient overflow float64\. Use a smaller gamma"):
        lk.gradient(lk.circle_loss, LABELS, x, gamma=1e308)


def test_the_last_resort_gradient_check_refuses_a_nan():
    # what catches a NaN gradient no loss attributes to an option itself
    from losskit.losses._core import check_gradient_defined

    grad = np.array([[0.5, np.nan], [1.0, 2.0]])
    with pytest.raises(ValueError, match=r"some_loss: y_pred gives an undefined \(NaN\) "
                                         r"gradient at index \(0, 1\) \(the loss is 2\.0\)"):
        check_gradient_defined("some_loss", np, np.float64(2.0), grad)
    check_gradient_defined("some_loss", np, np.float64(2.0), np.ones((2, 2)))


def test_ntxent_temperature_may_be_traced():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    x, y = jnp.asarray(X, dtype=jnp.float32), jnp.asarray(LABELS)
    traced = jax.jit(lambda t: lk.ntxent(y, x, temperature=t))(0.5)
    np.testing.assert_allclose(float(traced), float(lk.ntxent(LABELS, np.float32(X),
                                                              temperature=0.5)), rtol=1e-6)
    assert math.isfinite(float(jax.grad(lambda t: lk.ntxent(y, x, temperature=t))(0.5)))


def test_circle_loss_refuses_an_overflowing_margin_naming_margin():
    # α·(s − Δ) grows as m²: beyond float32 at m = 1e20 whatever gamma is
    with pytest.raises(ValueError, match=r"circle_loss: margin = 1e\+20 makes the loss "
                                         r"overflow float32\. Use a margin between 0 and 1"):
        lk.circle_loss(LABELS, np.float32(X), gamma=4.0, margin=1e20)
    # in float64 the same loss is representable (every pair far beyond its margin: 0)
    assert float(lk.circle_loss(LABELS, np.float64(X), gamma=4.0, margin=1e20)) == 0.0
