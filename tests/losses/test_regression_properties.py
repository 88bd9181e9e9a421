"""Property tests of the regression catalogue (hypothesis): bounds, invariances, identities."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import losskit as lk

SETTINGS = settings(max_examples=40, deadline=None)

reals = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
positives = st.floats(1e-3, 1e3, allow_nan=False, allow_infinity=False)


def pairs(elements=reals, n=(1, 12)):
    """Two float64 arrays of one random shape (n,)."""
    return st.integers(*n).flatmap(lambda size: st.tuples(
        hnp.arrays(np.float64, size, elements=elements),
        hnp.arrays(np.float64, size, elements=elements)))


LOCATION_LOSSES = [
    (lk.mean_absolute_error, {}),
    (lk.huber_loss, {"delta": 0.5}),
    (lk.log_cosh_loss, {}),
    (lk.pinball_loss, {"quantile": 0.2}),
    (lk.gaussian_nll, {"var": 2.0}),
    (lk.laplace_nll, {"scale": 0.3}),
    (lk.student_t_nll, {"df": 2.0, "scale": 0.5}),
    (lk.tweedie_deviance, {"power": 0.0}),
]


@pytest.mark.parametrize(("loss", "options"), LOCATION_LOSSES)
@SETTINGS
@given(data=pairs(), shift=st.floats(-100, 100))
def test_location_losses_depend_only_on_the_error(loss, options, data, shift):
    y, p = data
    base = loss(y, p, reduction="none", **options)
    moved = loss(y + shift, p + shift, reduction="none", **options)
    # the shift is exact up to the rounding of y + shift and p + shift
    scale = np.abs(y) + np.abs(p) + abs(shift) + 1
    tol = 1e-12 * scale * (np.abs(lk.gradient(loss, y, p, reduction="none", **options)) + 1)
    np.testing.assert_array_less(np.abs(moved - base), tol + 1e-12 * np.abs(base) + 1e-300)


ZERO_AT_PERFECT = [
    (lk.mean_absolute_error, {}, reals),
    (lk.huber_loss, {"delta": 2.0}, reals),
    (lk.log_cosh_loss, {}, reals),
    (lk.mean_squared_log_error, {}, st.floats(-0.99, 1e3)),
    (lk.mean_absolute_percentage_error, {}, reals),
    (lk.pinball_loss, {"quantile": 0.7}, reals),
    (lk.tweedie_deviance, {"power": 0}, reals),
    (lk.tweedie_deviance, {"power": 1}, positives),
    (lk.tweedie_deviance, {"power": 1.5}, positives),
    (lk.tweedie_deviance, {"power": 2}, positives),
    (lk.tweedie_deviance, {"power": 3}, positives),
    (lk.tweedie_deviance, {"power": -1}, positives),
]


@pytest.mark.parametrize(("loss", "options", "elements"), ZERO_AT_PERFECT)
@SETTINGS
@given(data=st.data())
def test_point_losses_are_nonnegative_and_zero_only_at_the_target(loss, options, elements,
                                                                  data):
    y, p = data.draw(pairs(elements))
    values = loss(y, p, reduction="none", **options)
    assert np.all(values >= 0)
    assert np.all(np.abs(loss(y, y, reduction="none", **options)) <= 1e-12 * (np.abs(y) + 1))
    different = np.abs(p - y) > 1e-6 * (np.abs(y) + 1)
    assert np.all(values[different] > 0)


@SETTINGS
@given(data=pairs(), delta=st.floats(0.01, 100))
def test_huber_lies_between_its_two_halves(data, delta):
    y, p = data
    r = np.abs(p - y)
    h = lk.huber_loss(y, p, delta=delta, reduction="none")
    assert np.all(h <= 0.5 * r * r * (1 + 1e-12) + 1e-300)
    assert np.all(h <= delta * r * (1 + 1e-12))
    assert np.all(h >= delta * r - 0.5 * delta**2 - 1e-9 * (delta * r + delta**2))


@SETTINGS
@given(data=pairs(st.floats(-1e6, 1e6)))
def test_log_cosh_bounds(data):
    y, p = data
    r = np.abs(p - y)
    v = lk.log_cosh_loss(y, p, reduction="none")
    assert np.all(v <= np.minimum(0.5 * r * r, r) * (1 + 1e-12) + 1e-300)
    assert np.all(v >= (r - math.log(2)) - 1e-12 * (r + 1))
    assert np.all(v >= 0)


@SETTINGS
@given(data=pairs(), q=st.floats(0.01, 0.99))
def test_pinball_symmetry_and_median(data, q):
    y, p = data
    a = lk.pinball_loss(y, p, quantile=q, reduction="none")
    b = lk.pinball_loss(-y, -p, quantile=1 - q, reduction="none")
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-300)
    half = lk.pinball_loss(y, p, quantile=0.5, reduction="none")
    np.testing.assert_allclose(half, 0.5 * lk.mean_absolute_error(y, p, reduction="none"),
                               rtol=1e-15)


@SETTINGS
@given(data=pairs(st.floats(0.1, 1e3)), c=st.floats(1e-3, 1e3))
def test_mape_is_scale_free_and_mae_scales(data, c):
    y, p = data
    # c * y and c * p round on their own: where y == p the scaled error is a rounding
    # residue, so an absolute tolerance of a few ulps of the scaled values is allowed
    np.testing.assert_allclose(lk.mean_absolute_percentage_error(c * y, c * p),
                               lk.mean_absolute_percentage_error(y, p), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(lk.mean_absolute_error(c * y, c * p),
                               c * lk.mean_absolute_error(y, p), rtol=1e-12,
                               atol=1e-14 * c * float(np.max(np.abs(np.r_[y, p]))))


@SETTINGS
@given(counts=hnp.arrays(np.float64, st.integers(1, 10), elements=st.integers(1, 500)))
def test_poisson_is_minimised_at_the_count(counts):
    # the gradient vanishes at log-rate = log y and the loss is larger on either side
    log_rate = np.log(counts)
    np.testing.assert_allclose(lk.gradient(lk.poisson_nll, counts, log_rate), 0.0, atol=1e-12)
    best = float(lk.poisson_nll(counts, log_rate))
    assert float(lk.poisson_nll(counts, log_rate + 0.01)) > best
    assert float(lk.poisson_nll(counts, log_rate - 0.01)) > best


@SETTINGS
@given(data=pairs(), v=positives)
def test_gaussian_nll_is_scaled_mse_plus_log_var(data, v):
    y, p = data
    expected = 0.5 * math.log(v) + float(lk.mean_squared_error(y, p)) / (2 * v)
    assert float(lk.gaussian_nll(y, p, var=v)) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert float(lk.gaussian_nll(y, p, log_var=math.log(v))) == pytest.approx(
        expected, rel=1e-12, abs=1e-12)


def _mixture_raw(draw, n, k):
    logits = draw(hnp.arrays(np.float64, (n, k), elements=st.floats(-20, 20)))
    means = draw(hnp.arrays(np.float64, (n, k), elements=st.floats(-10, 10)))
    log_sd = draw(hnp.arrays(np.float64, (n, k), elements=st.floats(-3, 3)))
    return logits, means, log_sd


@SETTINGS
@given(data=st.data(), k=st.integers(1, 4), n=st.integers(1, 6))
def test_mixture_invariances(data, k, n):
    logits, means, log_sd = _mixture_raw(data.draw, n, k)
    y = data.draw(hnp.arrays(np.float64, n, elements=st.floats(-10, 10)))
    base = lk.gaussian_mixture_nll(y, np.concatenate([logits, means, log_sd], -1),
                                   reduction="none")
    # permuting components, shifting all logits, splitting a component in two: same density
    perm = data.draw(st.permutations(range(k)))
    permuted = np.concatenate([logits[:, perm], means[:, perm], log_sd[:, perm]], -1)
    np.testing.assert_allclose(lk.gaussian_mixture_nll(y, permuted, reduction="none"), base,
                               rtol=1e-10, atol=1e-10)
    shifted = np.concatenate([logits + 7.5, means, log_sd], -1)
    np.testing.assert_allclose(lk.gaussian_mixture_nll(y, shifted, reduction="none"), base,
                               rtol=1e-10, atol=1e-10)
    # the first component now appears twice with half its weight each
    split = np.concatenate([logits[:, :1] - math.log(2), logits[:, :1] - math.log(2),
                            logits[:, 1:], means[:, :1], means, log_sd[:, :1], log_sd], -1)
    np.testing.assert_allclose(lk.gaussian_mixture_nll(y, split, reduction="none"), base,
                               rtol=1e-10, atol=1e-10)
    # the gradient of the logits sums to 0 over the components (softmax is shift invariant)
    g = lk.gradient(lk.gaussian_mixture_nll, y, np.concatenate([logits, means, log_sd], -1))
    np.testing.assert_allclose(g[:, :k].sum(-1), 0.0, atol=1e-12)


@SETTINGS
@given(data=pairs(st.floats(0.01, 100)), power=st.sampled_from([1.0, 1.3, 2.0, 2.5, 3.0]))
def test_tweedie_deviance_is_twice_a_log_likelihood_ratio_in_its_gradient(data, power):
    # d/dmu of the deviance is 2 (mu - y) / mu^p: zero at mu = y, sign of mu - y
    y, mu = data
    g = lk.gradient(lk.tweedie_deviance, y, mu, power=power, reduction="sum")
    np.testing.assert_allclose(g, 2 * (mu - y) / mu**power, rtol=1e-12, atol=1e-300)
