"""The regression catalogue against real references: scikit-learn, PyTorch, scipy.stats, Keras.

Values to 1e-12 relative in float64 (1e-6 in float32); gradients against central finite
differences, against autograd through losskit itself on torch tensors, and against autograd of
an independent PyTorch implementation (torch.nn.functional or torch.distributions).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats as st
import sklearn.metrics as skm
import torch
import torch.nn.functional as F
from scipy.special import gammaln, logsumexp

import losskit as lk
from references import keras_numpy as _keras

N = 11
RTOL = 1e-12




def _t(x, grad=False):
    return torch.tensor(np.asarray(x, dtype="float64"), requires_grad=grad)


# ------------------------------------------------------------------------------------- cases


def _mixture(rng, shape, k, log_scale=True):
    logits = rng.normal(size=(*shape, k)) * 2
    means = rng.normal(size=(*shape, k)) * 2
    scales = rng.uniform(0.3, 2.0, size=(*shape, k))
    third = np.log(scales) if log_scale else scales
    return np.concatenate([logits, means, third], axis=-1)


def make_cases(rng):
    """name -> (loss, y_true, y_pred, options): inputs inside each loss's domain, no ties."""
    n2 = (N, 3)
    pos = rng.uniform(0.2, 4.0, N)
    cases = {
        "mae": (lk.mean_absolute_error, rng.normal(size=N), rng.normal(size=N), {}),
        "mae-2d": (lk.mean_absolute_error, rng.normal(size=n2), rng.normal(size=n2), {}),
        "huber": (lk.huber_loss, rng.normal(size=N), rng.normal(size=N) * 2, {"delta": 0.7}),
        "log_cosh": (lk.log_cosh_loss, rng.normal(size=n2), rng.normal(size=n2) * 3, {}),
        "msle": (lk.mean_squared_log_error, rng.uniform(-0.5, 5, N), rng.uniform(-0.5, 5, N),
                 {}),
        "mape": (lk.mean_absolute_percentage_error, rng.normal(size=N) + 3, rng.normal(size=N),
                 {}),
        "pinball": (lk.pinball_loss, rng.normal(size=n2), rng.normal(size=n2),
                    {"quantile": 0.3}),
        "poisson-log": (lk.poisson_nll, rng.poisson(2.0, N).astype(float),
                        rng.normal(size=N), {}),
        "poisson-rate-full": (lk.poisson_nll, rng.poisson(3.0, n2).astype(float),
                              rng.uniform(0.2, 5, n2), {"log_input": False, "full": True}),
        "gaussian-var": (lk.gaussian_nll, rng.normal(size=N), rng.normal(size=N),
                         {"var": rng.uniform(0.05, 3, N), "full": True}),
        "gaussian-log_var": (lk.gaussian_nll, rng.normal(size=n2), rng.normal(size=n2),
                             {"log_var": rng.normal(size=n2)}),
        "gaussian-scalar": (lk.gaussian_nll, rng.normal(size=N), rng.normal(size=N),
                            {"var": 0.3}),
        "laplace": (lk.laplace_nll, rng.normal(size=N), rng.normal(size=N),
                    {"scale": rng.uniform(0.1, 2, N)}),
        "student_t": (lk.student_t_nll, rng.normal(size=n2) * 3, rng.normal(size=n2),
                      {"df": 3.5, "scale": rng.uniform(0.1, 2, n2)}),
        "gamma-full": (lk.gamma_nll, rng.gamma(2.0, 1.0, N), pos,
                       {"shape": 2.5, "full": True}),
        "gamma-log": (lk.gamma_nll, rng.gamma(2.0, 1.0, n2), rng.normal(size=n2),
                      {"log_input": True}),
        "mixture": (lk.gaussian_mixture_nll, rng.normal(size=N) * 2, _mixture(rng, (N,), 3),
                    {}),
        "nb-learned": (lk.negative_binomial_nll, rng.negative_binomial(2, 0.3, N).astype(float),
                       np.stack([rng.normal(1.5, 0.5, N), rng.normal(-0.5, 1.0, N)], -1), {}),
        "nb-alpha-array-2d": (lk.negative_binomial_nll,
                              rng.negative_binomial(3, 0.4, n2).astype(float),
                              rng.normal(1.0, 0.5, n2), {"alpha": rng.uniform(0.1, 3, n2)}),
        "nb-mean-full": (lk.negative_binomial_nll, rng.negative_binomial(1, 0.2, N).astype(float),
                         rng.uniform(0.5, 8, N), {"alpha": 0.7, "log_input": False,
                                                  "full": True}),
        "mixture-scale-2d": (lk.gaussian_mixture_nll, rng.normal(size=(N, 2)),
                             _mixture(rng, (N, 2), 2, log_scale=False), {"log_scale": False}),
    }
    for power in (-0.5, 0.0, 1.0, 1.5, 2.0, 3.0):
        y = rng.gamma(2.0, 1.0, N) if power >= 1 else rng.normal(size=N)
        if 1 <= power < 2:
            y[:3] = 0.0  # exact zeros are in the domain
        cases[f"tweedie-{power}"] = (lk.tweedie_deviance, y, rng.uniform(0.2, 4, N),
                                     {"power": power})
    cases["tweedie-1.5-log"] = (lk.tweedie_deviance, rng.gamma(2.0, 1.0, N),
                                rng.normal(size=N), {"power": 1.5, "log_input": True})
    return cases


CASES = list(make_cases(np.random.default_rng(0)))


def case(name, seed=0):
    return make_cases(np.random.default_rng(seed))[name]


def test_every_public_regression_loss_has_a_case():
    covered = {c[0] for c in make_cases(np.random.default_rng(0)).values()}
    assert covered == {lk.mean_absolute_error, lk.huber_loss, lk.log_cosh_loss,
                       lk.mean_squared_log_error, lk.mean_absolute_percentage_error,
                       lk.pinball_loss, lk.poisson_nll, lk.gaussian_nll, lk.laplace_nll,
                       lk.student_t_nll, lk.gamma_nll, lk.tweedie_deviance,
                       lk.gaussian_mixture_nll, lk.negative_binomial_nll}


# ------------------------------------------------------------------ point-prediction losses


@pytest.mark.parametrize("shape", [(N,), (N, 3)])
@pytest.mark.parametrize("weighted", [False, True])
def test_mae_matches_sklearn_and_torch(rng, shape, weighted):
    y, p = rng.normal(size=shape), rng.normal(size=shape)
    w = rng.uniform(0, 2, N) if weighted else None
    ours = float(lk.mean_absolute_error(y, p, sample_weight=w))
    assert ours == pytest.approx(skm.mean_absolute_error(y, p, sample_weight=w), rel=RTOL)
    if not weighted:
        assert ours == pytest.approx(F.l1_loss(_t(p), _t(y)).item(), rel=RTOL)


@pytest.mark.parametrize("delta", [0.1, 1.0, 2.5])
def test_huber_matches_torch(rng, delta):
    y, p = rng.normal(size=(N, 3)) * 2, rng.normal(size=(N, 3)) * 2
    ours = lk.huber_loss(y, p, delta=delta, reduction="none")
    ref = F.huber_loss(_t(p), _t(y), delta=delta, reduction="none").mean(-1).numpy()
    np.testing.assert_allclose(ours, ref, rtol=RTOL)
    smooth = F.smooth_l1_loss(_t(p), _t(y), beta=delta).item()
    assert float(lk.huber_loss(y, p, delta=delta)) / delta == pytest.approx(smooth, rel=RTOL)


def test_huber_matches_keras(rng):
    keras = _keras()
    y, p = rng.normal(size=(N, 3)) * 2, rng.normal(size=(N, 3)) * 2
    ref = keras.losses.Huber(delta=0.8, reduction=None)(y, p)
    np.testing.assert_allclose(lk.huber_loss(y, p, delta=0.8, reduction="none"), ref,
                               rtol=1e-6)


def test_log_cosh_is_the_hyperbolic_secant_nll(rng):
    y, p = rng.normal(size=N), rng.normal(size=N) * 5
    ours = lk.log_cosh_loss(y, p, reduction="none")
    ref = -st.hypsecant.logpdf(p - y) - math.log(math.pi)
    np.testing.assert_allclose(ours, ref, rtol=RTOL)
    np.testing.assert_allclose(ours, np.log(np.cosh(p - y)), rtol=RTOL)


def test_log_cosh_is_accurate_for_tiny_and_huge_errors():
    r = np.array([1e-300, 1e-12, 1e-5, 0.5, 0.999, 1.0, 30.0, 1e3, 1e300])
    out = lk.log_cosh_loss(np.zeros_like(r), r, reduction="none")
    # reference: r^2/2 - r^4/12 + r^6/45 for small r, |r| - log 2 (+ e^{-2|r|}) for large r
    def reference(v):
        if v < 1e-3:
            return v**2 / 2 - v**4 / 12 + v**6 / 45
        if v > 700:
            return v - math.log(2)
        return math.log(math.cosh(v))

    expected = [reference(v) for v in r.tolist()]
    np.testing.assert_allclose(out, expected, rtol=1e-14)
    assert out[0] == 0.0  # r^2/2 underflows to 0: never negative or NaN
    assert lk.gradient(lk.log_cosh_loss, [0.0], [1e300], reduction="sum").tolist() == [1.0]


def test_log_cosh_matches_keras(rng):
    keras = _keras()
    y, p = rng.normal(size=(N, 3)), rng.normal(size=(N, 3)) * 4
    ref = keras.losses.LogCosh(reduction=None)(y, p)
    np.testing.assert_allclose(lk.log_cosh_loss(y, p, reduction="none"), ref, rtol=1e-6,
                               atol=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_msle_matches_sklearn(rng, weighted):
    y, p = rng.uniform(-0.9, 10, (N, 3)), rng.uniform(-0.9, 10, (N, 3))
    w = rng.uniform(0, 2, N) if weighted else None
    ours = float(lk.mean_squared_log_error(y, p, sample_weight=w))
    ref = skm.mean_squared_log_error(y, p, sample_weight=w)
    assert ours == pytest.approx(ref, rel=RTOL)


def test_msle_matches_keras_above_its_clip(rng):
    keras = _keras()
    y, p = rng.uniform(0.0, 10, (N, 3)), rng.uniform(0.0, 10, (N, 3))
    ref = keras.losses.MeanSquaredLogarithmicError(reduction=None)(y, p)
    np.testing.assert_allclose(lk.mean_squared_log_error(y, p, reduction="none"), ref,
                               rtol=1e-6)


@pytest.mark.parametrize("weighted", [False, True])
def test_mape_matches_sklearn(rng, weighted):
    y, p = rng.normal(size=(N, 2)), rng.normal(size=(N, 2))
    y[0, 0] = 0.0  # the eps floor: huge but finite, as scikit-learn
    w = rng.uniform(0, 2, N) if weighted else None
    ours = float(lk.mean_absolute_percentage_error(y, p, sample_weight=w))
    ref = skm.mean_absolute_percentage_error(y, p, sample_weight=w)
    assert ours == pytest.approx(ref, rel=RTOL)
    assert ours > 1e14


def test_mape_is_keras_divided_by_100_with_keras_eps(rng):
    keras = _keras()
    y, p = rng.normal(size=(N, 3)), rng.normal(size=(N, 3))
    y[0, 0] = 0.0
    ref = keras.losses.MeanAbsolutePercentageError(reduction=None)(y, p)
    ours = lk.mean_absolute_percentage_error(y, p, eps=1e-7, reduction="none")
    np.testing.assert_allclose(100 * ours, ref, rtol=1e-6)


@pytest.mark.parametrize("quantile", [0.05, 0.3, 0.5, 0.9])
@pytest.mark.parametrize("weighted", [False, True])
def test_pinball_matches_sklearn(rng, quantile, weighted):
    y, p = rng.normal(size=(N, 2)), rng.normal(size=(N, 2))
    w = rng.uniform(0, 2, N) if weighted else None
    ours = float(lk.pinball_loss(y, p, quantile=quantile, sample_weight=w))
    ref = skm.mean_pinball_loss(y, p, alpha=quantile, sample_weight=w)
    assert ours == pytest.approx(ref, rel=RTOL)


# ------------------------------------------------------------------------------ likelihoods


@pytest.mark.parametrize("log_input", [True, False])
def test_poisson_matches_torch(rng, log_input):
    y = rng.poisson(3.0, (N, 2)).astype(float)
    p = rng.normal(size=(N, 2)) if log_input else rng.uniform(0.1, 6, (N, 2))
    ours = float(lk.poisson_nll(y, p, log_input=log_input))
    # PyTorch adds eps=1e-8 inside the log for rates: compare with eps=0
    ref = F.poisson_nll_loss(_t(p), _t(y), log_input=log_input, eps=0.0).item()
    assert ours == pytest.approx(ref, rel=RTOL)


def test_poisson_full_is_the_exact_log_pmf_not_torchs_stirling(rng):
    y = np.concatenate([rng.poisson(4.0, N), [0, 1, 2, 50, 1000, 10**6]]).astype(float)
    rate = rng.uniform(0.1, 8, y.shape)
    ours = lk.poisson_nll(y, rate, log_input=False, full=True, reduction="none")
    np.testing.assert_allclose(ours, -st.poisson.logpmf(y, rate), rtol=RTOL)
    torch_full = F.poisson_nll_loss(_t(rate), _t(y), log_input=False, full=True, eps=0.0,
                                    reduction="none").numpy()
    # Stirling is only asymptotically log y!: off by ~1/(12 y), 0.04 at y = 2, 8e-8 at 1e6
    assert abs(torch_full[-4] - ours[-4]) > 0.01
    assert abs(torch_full[-1] - ours[-1]) < 1e-6


def test_poisson_log_input_and_deviance_relation(rng):
    y, rate = rng.poisson(3.0, N).astype(float), rng.uniform(0.2, 6, N)
    full = lk.poisson_nll(y, np.log(rate), full=True, reduction="none")
    np.testing.assert_allclose(full, -st.poisson.logpmf(y, rate), rtol=RTOL)
    # sklearn's deviance = 2 (NLL(mu) - NLL(y)): the saturated model predicts mu = y
    nll = lk.poisson_nll(y, rate, log_input=False, reduction="none")
    saturated = lk.poisson_nll(y, y, log_input=False, reduction="none")
    assert float(np.mean(2 * (nll - saturated))) == pytest.approx(
        skm.mean_poisson_deviance(y, rate), rel=1e-10)


def test_poisson_matches_keras(rng):
    keras = _keras()
    y, rate = rng.poisson(3.0, (N, 3)).astype(float), rng.uniform(0.2, 6, (N, 3))
    ref = keras.losses.Poisson(reduction=None)(y, rate)
    np.testing.assert_allclose(lk.poisson_nll(y, rate, log_input=False, reduction="none"), ref,
                               rtol=1e-6)


@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("shape", [(N,), (N, 3)])
def test_gaussian_nll_matches_torch(rng, full, shape):
    y, mean, var = rng.normal(size=shape), rng.normal(size=shape), rng.uniform(0.01, 3, shape)
    ours = lk.gaussian_nll(y, mean, var=var, full=full, reduction="none")
    ref = F.gaussian_nll_loss(_t(mean), _t(y), _t(var), full=full, reduction="none").numpy()
    np.testing.assert_allclose(ours, ref.reshape(shape).mean(-1) if len(shape) > 1 else ref,
                               rtol=RTOL)
    via_log = lk.gaussian_nll(y, mean, log_var=np.log(var), full=full, reduction="none")
    np.testing.assert_allclose(via_log, ours, rtol=RTOL)


def test_gaussian_nll_full_is_scipy_and_goes_negative(rng):
    y, mean, sd = rng.normal(size=N), rng.normal(size=N), rng.uniform(0.01, 0.2, N)
    ours = lk.gaussian_nll(y, mean, var=sd**2, full=True, reduction="none")
    np.testing.assert_allclose(ours, -st.norm.logpdf(y, mean, sd), rtol=RTOL)
    assert float(lk.gaussian_nll([0.0], [0.0], var=0.01, full=True)) < 0
    # no variance: sigma^2 = 1, half the squared error
    assert float(lk.gaussian_nll(y, mean)) == pytest.approx(
        0.5 * float(lk.mean_squared_error(y, mean)), rel=RTOL)


def test_laplace_matches_scipy(rng):
    y, loc, b = rng.normal(size=(N, 2)), rng.normal(size=(N, 2)), rng.uniform(0.05, 2, (N, 2))
    ours = lk.laplace_nll(y, loc, scale=b, reduction="none")
    np.testing.assert_allclose(ours, -st.laplace.logpdf(y, loc, b).mean(-1), rtol=RTOL)
    assert float(lk.laplace_nll(y, loc, scale=0.7)) == pytest.approx(
        -st.laplace.logpdf(y, loc, 0.7).mean(), rel=RTOL)


@pytest.mark.parametrize("df", [0.5, 1.0, 3.0, 30.0, 1e6])
def test_student_t_matches_scipy_and_torch(rng, df):
    y, loc, s = rng.normal(size=N) * 3, rng.normal(size=N), rng.uniform(0.05, 2, N)
    y[0] = 1e200  # far in the tail: log(1 + z^2/nu) without overflow
    ours = lk.student_t_nll(y, loc, df=df, scale=s, reduction="none")
    np.testing.assert_allclose(ours[1:], -st.t.logpdf(y[1:], df, loc[1:], s[1:]), rtol=RTOL)
    ref = -torch.distributions.StudentT(df, _t(loc), _t(s)).log_prob(_t(y)).numpy()
    # torch subtracts two lgamma values, which loses ~1e-9 absolute at df = 1e6 (scipy does not)
    np.testing.assert_allclose(ours[1:], ref[1:], rtol=1e-10 if df < 1e3 else 1e-7)
    # scipy and torch overflow in z^2 here; log(1 + z^2/nu) = 2 log|z| - log nu + O(nu/z^2)
    z = (y[0] - loc[0]) / s[0]
    tail = (math.lgamma(df / 2) - math.lgamma((df + 1) / 2) + 0.5 * math.log(df * math.pi)
            + math.log(s[0]) + (df + 1) / 2 * (2 * math.log(abs(z)) - math.log(df)))
    assert ours[0] == pytest.approx(tail, rel=RTOL)


def test_student_t_tends_to_gaussian(rng):
    y, loc = rng.normal(size=N), rng.normal(size=N)
    t = float(lk.student_t_nll(y, loc, df=1e7, scale=0.5))
    g = float(lk.gaussian_nll(y, loc, var=0.25, full=True))
    assert t == pytest.approx(g, rel=1e-5)
    assert t != pytest.approx(float(lk.student_t_nll(y, loc, df=3.0, scale=0.5)), rel=1e-2)


@pytest.mark.parametrize("shape_", [0.3, 1.0, 2.5, 40.0])
def test_gamma_matches_scipy(rng, shape_):
    y, mu = rng.gamma(2.0, 1.0, (N, 2)), rng.uniform(0.1, 5, (N, 2))
    ours = lk.gamma_nll(y, mu, shape=shape_, full=True, reduction="none")
    ref = -st.gamma.logpdf(y, a=shape_, scale=mu / shape_).mean(-1)
    np.testing.assert_allclose(ours, ref, rtol=RTOL)
    logged = lk.gamma_nll(y, np.log(mu), shape=shape_, full=True, log_input=True,
                          reduction="none")
    np.testing.assert_allclose(logged, ref, rtol=RTOL)
    # full=False differs only by terms that do not involve mu
    short = lk.gamma_nll(y, mu, shape=shape_, reduction="none")
    short2 = lk.gamma_nll(y, 2 * mu, shape=shape_, reduction="none")
    full2 = lk.gamma_nll(y, 2 * mu, shape=shape_, full=True, reduction="none")
    np.testing.assert_allclose(full2 - ours, short2 - short, rtol=1e-10, atol=1e-12)


def test_gamma_nll_relates_to_sklearn_deviance(rng):
    y, mu = rng.gamma(2.0, 1.0, N), rng.uniform(0.1, 5, N)
    nll = lk.gamma_nll(y, mu, reduction="none")
    saturated = lk.gamma_nll(y, y, reduction="none")
    assert float(np.mean(2 * (nll - saturated))) == pytest.approx(
        skm.mean_gamma_deviance(y, mu), rel=1e-10)


@pytest.mark.parametrize("power", [-1.0, -0.5, 0.0, 1.0, 1.2, 1.5, 2.0, 2.5, 3.0])
@pytest.mark.parametrize("weighted", [False, True])
def test_tweedie_matches_sklearn(rng, power, weighted):
    y = rng.gamma(2.0, 1.0, N) if power >= 1 else rng.normal(size=N)
    if 1 <= power < 2:
        y[:3] = 0.0
    mu = rng.uniform(0.1, 5, N)
    w = rng.uniform(0, 2, N) if weighted else None
    ours = float(lk.tweedie_deviance(y, mu, power=power, sample_weight=w))
    ref = skm.mean_tweedie_deviance(y, mu, power=power, sample_weight=w)
    assert ours == pytest.approx(ref, rel=RTOL)
    logged = float(lk.tweedie_deviance(y, np.log(mu), power=power, log_input=True,
                                       sample_weight=w))
    assert logged == pytest.approx(ref, rel=1e-10)


def test_tweedie_special_powers_are_the_named_deviances(rng):
    y, mu = rng.gamma(2.0, 1.0, N), rng.uniform(0.1, 5, N)
    assert float(lk.tweedie_deviance(y, mu, power=1)) == pytest.approx(
        skm.mean_poisson_deviance(y, mu), rel=RTOL)
    assert float(lk.tweedie_deviance(y, mu, power=2)) == pytest.approx(
        skm.mean_gamma_deviance(y, mu), rel=RTOL)
    assert float(lk.tweedie_deviance(y, mu, power=0)) == pytest.approx(
        float(lk.mean_squared_error(y, mu)), rel=RTOL)
    # continuity of the general formula at the special powers
    for p in (1.0, 2.0):
        near = float(lk.tweedie_deviance(y, mu, power=p + 1e-7))
        assert near == pytest.approx(float(lk.tweedie_deviance(y, mu, power=p)), rel=1e-5)


def _scipy_mixture_nll(y, raw, log_scale=True):
    k = raw.shape[-1] // 3
    logits, means, third = raw[..., :k], raw[..., k:2 * k], raw[..., 2 * k:]
    sd = np.exp(third) if log_scale else third
    log_w = logits - logsumexp(logits, axis=-1, keepdims=True)
    return -logsumexp(log_w + st.norm.logpdf(y[..., None], means, sd), axis=-1)


@pytest.mark.parametrize("k", [1, 2, 5])
@pytest.mark.parametrize("log_scale", [True, False])
def test_mixture_matches_scipy(rng, k, log_scale):
    y = rng.normal(size=(N, 2)) * 2
    raw = _mixture(rng, (N, 2), k, log_scale)
    ours = lk.gaussian_mixture_nll(y, raw, log_scale=log_scale, reduction="none")
    np.testing.assert_allclose(ours, _scipy_mixture_nll(y, raw, log_scale).mean(-1), rtol=RTOL)


def test_mixture_matches_torch_distributions_and_its_autograd(rng):
    y, raw = rng.normal(size=N) * 2, _mixture(rng, (N,), 4)
    r = _t(raw, grad=True)
    mix = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(logits=r[:, :4]),
        torch.distributions.Normal(r[:, 4:8], r[:, 8:].exp()))
    ref = -mix.log_prob(_t(y)).mean()
    (ref_grad,) = torch.autograd.grad(ref, r)
    value, grad = lk.value_and_gradient(lk.gaussian_mixture_nll, y, raw)
    assert float(value) == pytest.approx(ref.item(), rel=RTOL)
    np.testing.assert_allclose(grad, ref_grad.numpy(), rtol=1e-10, atol=1e-14)


def test_mixture_of_one_is_the_gaussian_nll(rng):
    y, mean, log_sd = rng.normal(size=N), rng.normal(size=N), rng.normal(size=N)
    raw = np.stack([rng.normal(size=N), mean, log_sd], axis=-1)
    mixture = lk.gaussian_mixture_nll(y, raw, reduction="none")
    gaussian = lk.gaussian_nll(y, mean, log_var=2 * log_sd, full=True, reduction="none")
    np.testing.assert_allclose(mixture, gaussian, rtol=RTOL)


def test_mixture_far_components_stay_finite_and_can_be_very_negative():
    # the target sits 1e4 standard deviations from one component and on top of the other
    raw = [[50.0, -50.0, 0.0, 100.0, math.log(1e-2), math.log(1e-6)]]
    out = float(lk.gaussian_mixture_nll([100.0], raw))
    # -log(pi_2 N(100 | 100, 1e-12)) with log pi_2 = -100 - log(1 + e^-100)
    expected = 100.0 + math.log1p(math.exp(-100.0)) + math.log(1e-6) + 0.5 * math.log(
        2 * math.pi)
    assert out == pytest.approx(expected, rel=1e-12)
    assert float(lk.gaussian_mixture_nll([0.0], [[0.0, 0.0, math.log(1e-6)]])) < -12


# ---------------------------------------------------------------------------------- units


@pytest.mark.parametrize("name", ["poisson-log", "gaussian-var", "laplace", "student_t",
                                  "gamma-full", "mixture"])
def test_bits_are_nats_over_log_2(name):
    loss, y, p, options = case(name)
    nats = float(loss(y, p, **options))
    assert float(loss(y, p, unit="bits", **options)) == pytest.approx(nats / math.log(2),
                                                                       rel=RTOL)
    np.testing.assert_allclose(lk.gradient(loss, y, p, unit="bits", **options),
                               lk.gradient(loss, y, p, **options) / math.log(2), rtol=RTOL)


# --------------------------------------------------------------------- reductions, weights


@pytest.mark.parametrize("name", CASES)
def test_reductions_and_sample_weights(rng, name):
    loss, y, p, options = case(name)
    per = loss(y, p, reduction="none", **options)
    assert per.shape == (N,)
    w = rng.uniform(0, 2, N)
    w[2] = 0.0
    assert float(loss(y, p, **options)) == pytest.approx(per.mean(), rel=RTOL)
    assert float(loss(y, p, reduction="sum", **options)) == pytest.approx(per.sum(), rel=RTOL)
    weighted = loss(y, p, sample_weight=w, reduction="none", **options)
    np.testing.assert_allclose(weighted, w * per, rtol=RTOL)
    assert float(loss(y, p, sample_weight=w, **options)) == pytest.approx(
        (w * per).sum() / w.sum(), rel=RTOL)


# ---------------------------------------------------------------------------------- gradients


def _finite_difference(loss, y, p, options, h=1e-6):
    p = np.asarray(p, dtype=float)
    grad = np.zeros_like(p)
    for index in np.ndindex(p.shape):
        step = h * max(1.0, abs(p[index]))
        up, down = p.copy(), p.copy()
        up[index] += step
        down[index] -= step
        grad[index] = (float(loss(y, up, **options)) - float(loss(y, down, **options))) / (
            2 * step)
    return grad


@pytest.mark.parametrize("name", CASES)
def test_gradient_matches_finite_differences(name):
    loss, y, p, options = case(name)
    expected = _finite_difference(loss, y, p, options)
    np.testing.assert_allclose(lk.gradient(loss, y, p, **options), expected, rtol=1e-5,
                               atol=1e-8)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", CASES)
def test_gradient_matches_torch_autograd_through_losskit(rng, name, reduction):
    loss, y, p, options = case(name)
    w = rng.uniform(0.1, 2, N)
    pt = _t(p, grad=True)
    torch_options = {k: _t(v) if isinstance(v, np.ndarray) else v for k, v in options.items()}
    out = loss(_t(y), pt, sample_weight=_t(w), reduction=reduction, **torch_options)
    (auto,) = torch.autograd.grad(out.sum(), pt)
    ours = lk.gradient(loss, y, p, sample_weight=w, reduction=reduction, **options)
    np.testing.assert_allclose(ours, auto.numpy(), rtol=1e-11, atol=1e-15)


def _torch_reference_losses():
    """Independent PyTorch implementations (per element): name -> f(y, p) as tensors."""
    c = make_cases(np.random.default_rng(0))
    return {
        "mae": lambda y, p: F.l1_loss(p, y, reduction="none"),
        "huber": lambda y, p: F.huber_loss(p, y, delta=0.7, reduction="none"),
        "poisson-log": lambda y, p: F.poisson_nll_loss(p, y, reduction="none"),
        "poisson-rate-full": lambda y, p: F.poisson_nll_loss(
            p, y, log_input=False, eps=0.0, reduction="none") + torch.lgamma(y + 1),
        "gaussian-var": lambda y, p: F.gaussian_nll_loss(
            p, y, _t(c["gaussian-var"][3]["var"]), full=True, reduction="none"),
        "laplace": lambda y, p: -torch.distributions.Laplace(
            p, _t(c["laplace"][3]["scale"])).log_prob(y),
        "student_t": lambda y, p: -torch.distributions.StudentT(
            3.5, p, _t(c["student_t"][3]["scale"])).log_prob(y),
        "gamma-full": lambda y, p: -torch.distributions.Gamma(2.5, 2.5 / p).log_prob(y),
        # torch's NegativeBinomial(total_count=r, logits=u) has mean r e^u: u = log(alpha mu)
        "nb-learned": lambda y, p: -torch.distributions.NegativeBinomial(
            total_count=torch.exp(-p[..., 1]), logits=p[..., 0] + p[..., 1]).log_prob(y)
            - torch.lgamma(y + 1),
        "nb-alpha-array-2d": lambda y, p: -torch.distributions.NegativeBinomial(
            total_count=1.0 / _t(c["nb-alpha-array-2d"][3]["alpha"]),
            logits=p + torch.log(_t(c["nb-alpha-array-2d"][3]["alpha"]))).log_prob(y)
            - torch.lgamma(y + 1),
        "nb-mean-full": lambda y, p: -torch.distributions.NegativeBinomial(
            total_count=1.0 / 0.7, logits=torch.log(0.7 * p)).log_prob(y),
    }


@pytest.mark.parametrize("name", list(_torch_reference_losses()))
def test_value_and_gradient_match_an_independent_torch_implementation(name):
    reference = _torch_reference_losses()[name]
    loss, y, p, options = case(name)
    pt = _t(p, grad=True)
    ref = reference(_t(y), pt)
    ref = ref.mean(-1).mean() if ref.ndim > 1 else ref.mean()
    (ref_grad,) = torch.autograd.grad(ref, pt)
    value, grad = lk.value_and_gradient(loss, y, p, **options)
    assert float(value) == pytest.approx(ref.item(), rel=1e-10)
    np.testing.assert_allclose(grad, ref_grad.numpy(), rtol=1e-10, atol=1e-15)


def test_subgradients_at_ties_are_zero():
    y = [1.0, 2.0]
    for loss, options in [(lk.mean_absolute_error, {}), (lk.pinball_loss, {"quantile": 0.2}),
                          (lk.laplace_nll, {"scale": 2.0})]:
        assert lk.gradient(loss, y, y, **options).tolist() == [0.0, 0.0]
    assert lk.gradient(lk.pinball_loss, [1.0, 1.0], [0.0, 2.0], quantile=0.2,
                       reduction="sum").tolist() == [-0.2, 0.8]


# -------------------------------------------------------------------------- float32 accuracy


@pytest.mark.parametrize("name", CASES)
def test_float32_matches_float64_reference(name):
    loss, y, p, options = case(name)
    y32, p32 = np.asarray(y, "float32"), np.asarray(p, "float32")
    opts32 = {k: np.asarray(v, "float32") if isinstance(v, np.ndarray) else v
              for k, v in options.items()}
    out = loss(y32, p32, **opts32)
    assert out.dtype == np.float32
    opts64 = {k: v.astype("float64") if isinstance(v, np.ndarray) else v
              for k, v in opts32.items()}
    expected = float(loss(y32.astype("float64"), p32.astype("float64"), **opts64))
    assert float(out) == pytest.approx(expected, rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("power", [-0.5, 1.0, 1.5, 2.0, 3.0])
def test_tweedie_is_accurate_near_the_perfect_prediction(power):
    # the textbook formula (scikit-learn's) cancels to rounding noise, possibly negative, as
    # mu -> y; losskit regroups it with expm1. Reference: 50-digit mpmath.
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 50
    y = np.full(6, 37.5)
    mu = y * (1 + np.array([0.0, 1e-12, -1e-9, 1e-6, -1e-3, 0.5]))

    def exact(yv, mv):
        yv, mv, p = mp.mpf(yv), mp.mpf(mv), mp.mpf(power)
        if power == 1:
            return 2 * (yv * mp.log(yv / mv) - yv + mv)
        if power == 2:
            return 2 * (mp.log(mv / yv) + yv / mv - 1)
        return 2 * (yv ** (2 - p) / ((1 - p) * (2 - p)) - yv * mv ** (1 - p) / (1 - p)
                    + mv ** (2 - p) / (2 - p))

    ours = lk.tweedie_deviance(y, mu, power=power, reduction="none")
    expected = [float(exact(a, b)) for a, b in zip(y, mu, strict=True)]
    assert ours[0] == 0.0
    np.testing.assert_allclose(ours[2:], expected[2:], rtol=1e-6)
    np.testing.assert_allclose(ours[3:], expected[3:], rtol=1e-9)
    assert np.all(ours >= 0)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_log_factorial_matches_scipy_gammaln(dtype):
    # the array API has no lgamma: poisson_nll(full=True) uses a Lanczos series
    from scipy.special import gammaln

    from losskit.losses._likelihood import _log_factorial

    y = np.concatenate([np.arange(0, 30), [0.5, 2.5, 99.5, 1e3, 12345.0, 1e6, 1e8]])
    ours = _log_factorial(np, y.astype(dtype))
    expected = gammaln(y + 1)
    if dtype == "float64":
        np.testing.assert_allclose(ours, expected, rtol=1e-13, atol=2e-14)
    else:
        np.testing.assert_allclose(ours, expected, rtol=2e-6, atol=2e-6)


def test_parameters_may_be_0d_arrays_and_inputs_integers():
    y, p = np.array([1, 2, 4]), np.array([1, 1, 5])
    assert float(lk.laplace_nll(y, p, scale=np.array(0.5))) == pytest.approx(
        float(lk.laplace_nll(y, p, scale=0.5)), rel=RTOL)
    assert float(lk.gaussian_nll(y, p, var=torch.tensor(2.0).numpy())) == pytest.approx(
        float(lk.gaussian_nll(y, p, var=2.0)), rel=RTOL)
    out = lk.poisson_nll(y, p, log_input=False, full=True)
    assert out.dtype == np.float64
    assert float(out) == pytest.approx(-st.poisson.logpmf(y, p).mean(), rel=RTOL)


@pytest.mark.parametrize("name", ["nb-learned", "nb-alpha-array-2d", "nb-mean-full"])
def test_negative_binomial_matches_scipy(name):
    _, y, p, options = case(name)
    if name == "nb-learned":
        mu, alpha = np.exp(p[:, 0]), np.exp(p[:, 1])
    else:
        alpha = options["alpha"]
        mu = p if name == "nb-mean-full" else np.exp(p)
    r = 1.0 / alpha
    expected = -st.nbinom.logpmf(y, r, r / (r + mu))
    if not options.get("full", False):
        expected = expected - gammaln(y + 1)
    ours = lk.negative_binomial_nll(y, p, reduction="none", **options)
    np.testing.assert_allclose(ours, expected.mean(-1) if expected.ndim > 1 else expected,
                               rtol=1e-12)


def test_negative_binomial_variance_and_errors():
    # the mean of the NLL-minimising constant is the mean of the counts, whatever alpha
    y = np.array([0.0, 0.0, 1.0, 3.0, 9.0, 20.0])
    eta = np.full(6, math.log(y.mean()))
    assert float(lk.gradient(lk.negative_binomial_nll, y, eta, alpha=0.8).sum()) == \
        pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match=r"negative_binomial_nll: y_pred has shape \(2,\) but "
                                         r"y_true of shape \(2,\) needs shape \(2, 2\)"):
        lk.negative_binomial_nll([1.0, 2.0], [0.0, 0.0])
    with pytest.raises(ValueError, match="negative_binomial_nll: log_input is False but alpha"):
        lk.negative_binomial_nll([1.0], [[0.0, 0.0]], log_input=False)
    with pytest.raises(ValueError, match=r"negative_binomial_nll: y_true has values "
                       r"outside \[0, inf\)"):
        lk.negative_binomial_nll([-1.0], [[0.0, 0.0]])
    with pytest.raises(ValueError, match=r"negative_binomial_nll: alpha must be"):
        lk.negative_binomial_nll([1.0], [0.0], alpha=-1.0)
    with pytest.raises(ValueError, match=r"y_pred has values outside \(0, inf\)"):
        lk.negative_binomial_nll([1.0], [0.0], alpha=1.0, log_input=False)
