"""Likelihood families against real references.

Each family's NLL is checked against scipy.stats log-densities (with every constant) and
torch.distributions log-probabilities; its analytic gradient and hessian against central finite
differences, autograd of torch.distributions and autograd through losskit itself; its
prediction against the distribution's mean; its stated equivalence with a catalogue loss
numerically. Values to 1e-12 relative in float64.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.integrate
import scipy.stats as st
import torch
import torch.distributions as D
from scipy.special import expit, gammaln, logsumexp, softmax

import losskit as lk
from losskit.families import (
    Bernoulli,
    Categorical,
    Gamma,
    Gaussian,
    GaussianMixture,
    HeteroscedasticGaussian,
    Laplace,
    MultiLabel,
    NegativeBinomial,
    Poisson,
    StudentT,
)

N = 9
RTOL = 1e-12
LOG_2PI = math.log(2 * math.pi)


def _mix_split(raw, k):
    return raw[..., :k], raw[..., k:2 * k], raw[..., 2 * k:]


# ----------------------------------------------------------------------------------- cases
# name -> (family, make(rng) -> (y, raw), scipy per-entry NLL, torch per-entry NLL)


def _scipy_mixture(y, raw, k=3):
    a, mu, s = _mix_split(raw, k)
    log_pi = a - logsumexp(a, axis=-1, keepdims=True)
    return -logsumexp(log_pi + st.norm.logpdf(y[..., None], mu, np.exp(s)), axis=-1)


def _torch_mixture(y, raw, k=3):
    a, mu, s = _mix_split(raw, k)
    mix = D.MixtureSameFamily(D.Categorical(logits=a), D.Normal(mu, torch.exp(s)))
    return -mix.log_prob(y)


CASES = {
    "gaussian": (
        Gaussian(scale=0.7),
        lambda r: (r.normal(size=N), r.normal(size=N)),
        lambda y, z: -st.norm.logpdf(y, z, 0.7),
        lambda y, z: -D.Normal(z, 0.7).log_prob(y),
    ),
    "gaussian-2d": (
        Gaussian(),
        lambda r: (r.normal(size=(N, 3)), r.normal(size=(N, 3))),
        lambda y, z: -st.norm.logpdf(y, z, 1.0),
        lambda y, z: -D.Normal(z, 1.0).log_prob(y),
    ),
    "laplace": (
        Laplace(scale=0.8),
        lambda r: (r.normal(size=N), r.normal(size=N)),
        lambda y, z: -st.laplace.logpdf(y, z, 0.8),
        lambda y, z: -D.Laplace(z, 0.8).log_prob(y),
    ),
    "student_t": (
        StudentT(df=3.5, scale=1.3),
        lambda r: (r.normal(size=N) * 3, r.normal(size=N)),
        lambda y, z: -st.t.logpdf(y, 3.5, z, 1.3),
        lambda y, z: -D.StudentT(3.5, z, 1.3).log_prob(y),
    ),
    "poisson": (
        Poisson(),
        lambda r: (r.poisson(3.0, size=N).astype(float), r.normal(size=N) * 0.5 + 1.0),
        lambda y, z: -st.poisson.logpmf(y, np.exp(z)),
        lambda y, z: -D.Poisson(torch.exp(z)).log_prob(y),
    ),
    "negative_binomial": (
        NegativeBinomial(),
        lambda r: (r.negative_binomial(2, 0.3, size=N).astype(float),
                   np.stack([r.normal(size=N) * 0.5 + 1.5, r.normal(size=N) - 0.5], -1)),
        lambda y, z: -st.nbinom.logpmf(y, np.exp(-z[..., 1]),
                                       1.0 / (1.0 + np.exp(z[..., 0] + z[..., 1]))),
        lambda y, z: -D.NegativeBinomial(total_count=torch.exp(-z[..., 1]),
                                         logits=z[..., 0] + z[..., 1]).log_prob(y),
    ),
    "gamma": (
        Gamma(shape=2.5),
        lambda r: (r.gamma(2.0, 1.5, size=N), r.normal(size=N) * 0.5 + 1.0),
        lambda y, z: -st.gamma.logpdf(y, a=2.5, scale=np.exp(z) / 2.5),
        lambda y, z: -D.Gamma(2.5, 2.5 * torch.exp(-z)).log_prob(y),
    ),
    "bernoulli": (
        Bernoulli(),
        lambda r: (r.integers(0, 2, size=N).astype(float), r.normal(size=N) * 2),
        lambda y, z: -st.bernoulli.logpmf(y, expit(z)),
        lambda y, z: -D.Bernoulli(logits=z).log_prob(y),
    ),
    "multilabel": (
        MultiLabel(),
        lambda r: (r.integers(0, 2, size=(N, 4)).astype(float), r.normal(size=(N, 4)) * 2),
        lambda y, z: -st.bernoulli.logpmf(y, expit(z)),
        lambda y, z: -D.Bernoulli(logits=z).log_prob(y),
    ),
    "categorical": (
        Categorical(),
        lambda r: (r.integers(0, 5, size=N), r.normal(size=(N, 5)) * 2),
        lambda y, z: -st.multinomial.logpmf(np.eye(z.shape[-1])[y], 1, softmax(z, axis=-1)),
        lambda y, z: -D.Categorical(logits=z).log_prob(y),
    ),
    "heteroscedastic": (
        HeteroscedasticGaussian(),
        lambda r: (r.normal(size=N), np.stack([r.normal(size=N), r.normal(size=N)], -1)),
        lambda y, z: -st.norm.logpdf(y, z[..., 0], np.exp(z[..., 1] / 2)),
        lambda y, z: -D.Normal(z[..., 0], torch.exp(z[..., 1] / 2)).log_prob(y),
    ),
    "mixture": (
        GaussianMixture(3),
        lambda r: (r.normal(size=N) * 2, np.concatenate(
            [r.normal(size=(N, 3)) * 2, r.normal(size=(N, 3)) * 2,
             np.log(r.uniform(0.4, 2.0, size=(N, 3)))], -1)),
        _scipy_mixture,
        _torch_mixture,
    ),
}
NAMES = list(CASES)


def case(name, seed=0):
    fam, make, ref, tref = CASES[name]
    y, raw = make(np.random.default_rng(seed))
    return fam, y, raw, ref, tref


def _per_sample(entries):
    """The catalogue's per-sample value: the mean over the last axis of 2-D+ targets."""
    return entries if entries.ndim <= 1 else entries.mean(axis=-1)


def _torch_entries(tref, y, raw):
    y_t = torch.tensor(y)
    raw_t = torch.tensor(raw, dtype=torch.float64, requires_grad=True)
    return tref(y_t, raw_t), raw_t


def test_every_family_has_a_case():
    covered = {type(CASES[n][0]) for n in NAMES}
    # the direction families have the same checks in tests/test_directional.py
    directional = {lk.families.VonMises, lk.families.VonMisesFisher}
    assert covered | directional == set(lk.families.registered_families().values())


# ---------------------------------------------------------------------------------- values


@pytest.mark.parametrize("name", NAMES)
def test_loss_is_the_scipy_negative_log_likelihood(name):
    fam, y, raw, ref, _ = case(name)
    expected = _per_sample(ref(y, raw))
    np.testing.assert_allclose(fam.loss(y, raw, reduction="none"), expected, rtol=RTOL)
    np.testing.assert_allclose(fam.loss(y, raw), expected.mean(), rtol=RTOL)
    np.testing.assert_allclose(fam.loss(y, raw, reduction="sum"), expected.sum(), rtol=RTOL)


@pytest.mark.parametrize("name", NAMES)
def test_loss_is_the_torch_distributions_negative_log_prob(name):
    fam, y, raw, _, tref = case(name)
    entries, _ = _torch_entries(tref, y, raw)
    expected = _per_sample(entries.detach().numpy())
    np.testing.assert_allclose(fam.loss(y, raw, reduction="none"), expected, rtol=1e-11)


@pytest.mark.parametrize("name", ["gaussian", "poisson", "gamma", "heteroscedastic",
                                  "negative_binomial"])
def test_full_false_drops_only_terms_free_of_the_model(name):
    fam, y, raw, ref, _ = case(name)
    partial = type(fam)(**{**fam._params(), "full": False})
    diff = ref(y, raw) - partial.loss(y, raw, reduction="none")
    if name in ("poisson", "negative_binomial"):
        np.testing.assert_allclose(diff, gammaln(y + 1), rtol=RTOL, atol=1e-13)
    elif name == "gamma":
        a = 2.5
        np.testing.assert_allclose(diff, gammaln(a) - a * math.log(a) - (a - 1) * np.log(y),
                                   rtol=RTOL)
    else:
        np.testing.assert_allclose(diff, 0.5 * LOG_2PI, rtol=RTOL)


def test_negative_nll_is_legitimate_for_concentrated_densities():
    fam = Gaussian(scale=0.05)
    value = float(fam.loss([0.0], [0.0]))
    assert value < 0
    assert value == pytest.approx(-st.norm.logpdf(0.0, 0.0, 0.05), rel=RTOL)


@pytest.mark.parametrize("name", NAMES)
def test_predict_is_the_mean_of_the_distribution(name):
    fam, y, raw, _, _ = case(name)
    pred = np.asarray(fam.predict(raw))
    if name.startswith("gaussian"):
        expected = st.norm(raw, fam.scale).mean()
    elif name == "laplace":
        expected = st.laplace(raw, 0.8).mean()
    elif name == "student_t":
        expected = st.t(3.5, raw, 1.3).mean()
    elif name == "poisson":
        expected = st.poisson(np.exp(raw)).mean()
    elif name == "negative_binomial":
        r, mu = np.exp(-raw[:, 1]), np.exp(raw[:, 0])
        dist = st.nbinom(r, r / (r + mu))
        np.testing.assert_allclose(dist.var(), mu + np.exp(raw[:, 1]) * mu**2, rtol=RTOL)
        expected = dist.mean()
    elif name == "gamma":
        expected = st.gamma(a=2.5, scale=np.exp(raw) / 2.5).mean()
    elif name in ("bernoulli", "multilabel"):
        expected = st.bernoulli(expit(raw)).mean()
    elif name == "categorical":
        expected = np.stack([st.multinomial(1, softmax(r)).mean() for r in raw])
    elif name == "heteroscedastic":
        expected = st.norm(raw[:, 0], np.exp(raw[:, 1] / 2)).mean()
    else:  # mixture: integrate y p(y) numerically
        a, mu, s = _mix_split(raw, 3)
        pi = softmax(a, axis=-1)
        expected = [scipy.integrate.quad(
            lambda t, i=i: t * np.sum(pi[i] * st.norm.pdf(t, mu[i], np.exp(s[i]))),
            -40, 40, points=list(mu[i]), limit=200)[0] for i in range(len(y))]
        np.testing.assert_allclose(pred, expected, rtol=1e-8, atol=1e-10)
        return
    np.testing.assert_allclose(pred, expected, rtol=RTOL)


@pytest.mark.parametrize("name", NAMES)
def test_activation_is_the_inverse_link(name):
    fam, _, raw, _, _ = case(name)
    got = np.asarray(fam.activation(raw))
    functions = {"identity": lambda x: x, "exp": np.exp, "sigmoid": expit,
                 "softmax": lambda x: softmax(x, axis=-1)}
    blocks = fam.activation_name.split(",")
    width = raw.shape[-1] // len(blocks) if len(blocks) > 1 else raw.shape[-1]
    parts = [raw] if len(blocks) == 1 else [raw[..., i * width:(i + 1) * width]
                                            for i in range(len(blocks))]
    expected = np.concatenate([functions[b](p) for b, p in zip(blocks, parts, strict=True)],
                              axis=-1)
    np.testing.assert_allclose(got, expected.reshape(got.shape), rtol=RTOL)


# ------------------------------------------------------------------------------ derivatives


def _fd_gradient(ref, y, raw, h=1e-6):
    """Central differences of the summed reference NLL (entries are independent)."""
    grad = np.zeros_like(raw)
    for index in np.ndindex(raw.shape):
        up, down = raw.copy(), raw.copy()
        up[index] += h
        down[index] -= h
        grad[index] = (ref(y, up).sum() - ref(y, down).sum()) / (2 * h)
    return grad


@pytest.mark.parametrize("name", NAMES)
def test_gradient_matches_finite_differences_of_scipy(name):
    fam, y, raw, ref, _ = case(name)
    if name == "laplace":
        assert np.all(np.abs(raw - y) > 1e-3)  # away from the kink
    np.testing.assert_allclose(fam.gradient(y, raw), _fd_gradient(ref, y, raw),
                               rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", NAMES)
def test_hessian_matches_finite_differences_of_the_gradient(name):
    fam, y, raw, _, _ = case(name)
    h = 1e-6
    hess = np.zeros_like(raw)
    # the gradient of one raw column depends on the others only within a sample: move one
    # column of every sample at a time and read the same column of the gradient
    columns = [(...,)] if raw.ndim == 1 else [(..., j) for j in range(raw.shape[-1])]
    for col in columns:
        up, down = raw.copy(), raw.copy()
        up[col] += h
        down[col] -= h
        hess[col] = (np.asarray(fam.gradient(y, up))[col]
                     - np.asarray(fam.gradient(y, down))[col]) / (2 * h)
    np.testing.assert_allclose(fam.hessian(y, raw), hess, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", NAMES)
def test_gradient_matches_autograd_of_torch_distributions(name):
    fam, y, raw, _, tref = case(name)
    entries, raw_t = _torch_entries(tref, y, raw)
    (expected,) = torch.autograd.grad(entries.sum(), raw_t)
    np.testing.assert_allclose(fam.gradient(y, raw), expected.numpy(), rtol=1e-11,
                               atol=1e-14)


@pytest.mark.parametrize("name", NAMES)
def test_hessian_is_the_diagonal_of_the_autograd_hessian(name):
    fam, y, raw, _, tref = case(name)
    y, raw = y[:4], raw[:4]
    y_t = torch.tensor(y)

    def total(flat):
        return tref(y_t, flat.reshape(raw.shape)).sum()

    full = torch.autograd.functional.hessian(total, torch.tensor(raw.reshape(-1)))
    expected = torch.diagonal(full).reshape(raw.shape).numpy()
    # torch's polygamma (the second derivative of lgamma) is accurate to about 1e-9; the
    # negative binomial's dispersion hessian is checked against mpmath below
    tol = {"rtol": 1e-8, "atol": 1e-9} if name == "negative_binomial" else {
        "rtol": 1e-10, "atol": 1e-13}
    np.testing.assert_allclose(fam.hessian(y, raw), expected, **tol)


def test_negative_binomial_derivatives_against_mpmath():
    """Both derivatives of the dispersion at 40 digits, also near the Poisson limit (large r)
    and for a dispersion above 1 (r < 1)."""
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 40

    def nll(y, eta, s):
        r, mu = mp.e ** (-s), mp.e ** eta
        return -(mp.loggamma(y + r) - mp.loggamma(r) - mp.loggamma(y + 1)
                 + r * mp.log(r / (r + mu)) + y * mp.log(mu / (r + mu)))

    y = np.array([0.0, 1.0, 4.0, 17.0, 3.0, 250.0])
    raw = np.array([[0.3, -0.5], [1.2, 1.5], [1.0, -6.0], [2.5, 0.2], [0.0, 3.0], [5.0, -2.0]])
    fam = NegativeBinomial()
    grad, hess = fam.gradient(y, raw), fam.hessian(y, raw)
    for i in range(len(y)):
        for j in range(2):
            def f(t, i=i, j=j):
                args = [mp.mpf(raw[i, 0]), mp.mpf(raw[i, 1])]
                args[j] = t
                return nll(mp.mpf(y[i]), *args)
            point = mp.mpf(raw[i, j])
            assert grad[i, j] == pytest.approx(float(mp.diff(f, point)), rel=1e-11, abs=1e-13)
            assert hess[i, j] == pytest.approx(float(mp.diff(f, point, 2)), rel=1e-10,
                                               abs=1e-12)
        assert float(fam.loss(y[i:i + 1], raw[i:i + 1])) == pytest.approx(
            float(nll(mp.mpf(y[i]), mp.mpf(raw[i, 0]), mp.mpf(raw[i, 1]))), rel=1e-13)


@pytest.mark.parametrize("name", NAMES)
def test_gradient_matches_autograd_through_the_family_loss(name):
    """loss on torch tensors is differentiable end to end; "sum" of the per-sample means."""
    fam, y, raw, _, _ = case(name)
    raw_t = torch.tensor(raw, requires_grad=True)
    fam.loss(torch.tensor(y), raw_t, reduction="sum").backward()
    outputs = y.shape[-1] if y.ndim > 1 else 1  # the loss averages a sample's outputs
    np.testing.assert_allclose(np.asarray(fam.gradient(y, raw)) / outputs,
                               raw_t.grad.numpy(), rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize("name", NAMES)
def test_gradient_agrees_with_the_catalogue_gradient_where_it_covers_raw(name):
    fam, y, raw, _, _ = case(name)
    if name == "heteroscedastic":  # the catalogue differentiates the mean only
        g = lk.gradient(lk.gaussian_nll, y, raw[:, 0], log_var=raw[:, 1], full=True,
                        reduction="sum")
        np.testing.assert_allclose(np.asarray(fam.gradient(y, raw))[:, 0], g, rtol=RTOL)
        return
    options = {"reduction": "sum"}
    catalogue = getattr(lk, fam.loss_name)
    call = {"gaussian": {"var": fam.scale**2 if hasattr(fam, "scale") else 1.0},
            "gaussian-2d": {"var": 1.0}, "laplace": {"scale": 0.8},
            "student_t": {"df": 3.5, "scale": 1.3}, "poisson": {"log_input": True},
            "gamma": {"shape": 2.5, "log_input": True}, "bernoulli": {"from_logits": True},
            "negative_binomial": {"full": True},
            "multilabel": {"from_logits": True}, "categorical": {"from_logits": True},
            "mixture": {}}[name]
    g = np.asarray(lk.gradient(catalogue, y, raw, **call, **options))
    outputs = y.shape[-1] if y.ndim > 1 else 1
    np.testing.assert_allclose(np.asarray(fam.gradient(y, raw)) / outputs, g, rtol=RTOL,
                               atol=1e-15)


@pytest.mark.parametrize("name", ["gaussian", "poisson", "bernoulli", "multilabel",
                                  "categorical"])
def test_canonical_links_give_prediction_minus_target(name):
    fam, y, raw, _, _ = case(name)
    if name == "gaussian":
        fam = Gaussian()
    assert fam.canonical
    target = np.eye(raw.shape[-1])[y] if name == "categorical" else y
    np.testing.assert_allclose(fam.gradient(y, raw), np.asarray(fam.predict(raw)) - target,
                               rtol=RTOL, atol=1e-15)


def test_non_canonical_families_say_so():
    assert not Gamma().canonical and not Laplace().canonical
    assert not StudentT(df=3).convex and not GaussianMixture(2).convex


# ------------------------------------------------------------------------------ equivalence


def test_every_equivalent_loss_is_a_catalogue_loss():
    for cls in lk.families.registered_families().values():
        assert callable(getattr(lk, cls.equivalent_loss)), cls
        assert callable(getattr(lk, cls.loss_name)), cls
        assert cls.equivalence


def test_gaussian_is_mse_up_to_scale_and_constants(rng):
    y, raw, sigma = rng.normal(size=N), rng.normal(size=N), 0.6
    mse = float(lk.mean_squared_error(y, raw))
    value = float(Gaussian(scale=sigma).loss(y, raw))
    assert value == pytest.approx(mse / (2 * sigma**2) + math.log(sigma) + 0.5 * LOG_2PI,
                                  rel=RTOL)
    np.testing.assert_allclose(Gaussian(scale=sigma).gradient(y, raw) / N,
                               lk.gradient(lk.mean_squared_error, y, raw) / (2 * sigma**2),
                               rtol=RTOL)


def test_laplace_is_mae_up_to_scale_and_constants(rng):
    y, raw, b = rng.normal(size=N), rng.normal(size=N), 0.4
    value = float(Laplace(scale=b).loss(y, raw))
    assert value == pytest.approx(float(lk.mean_absolute_error(y, raw)) / b
                                  + math.log(2 * b), rel=RTOL)


def test_student_t_tends_to_the_gaussian(rng):
    y, raw = rng.normal(size=N), rng.normal(size=N)
    far = StudentT(df=1e9, scale=0.8)
    near = Gaussian(scale=0.8)
    assert float(far.loss(y, raw)) == pytest.approx(float(near.loss(y, raw)), rel=1e-8)
    np.testing.assert_allclose(far.gradient(y, raw), near.gradient(y, raw), rtol=1e-8)


def test_poisson_is_half_the_poisson_deviance_plus_terms_free_of_the_model(rng):
    y = rng.poisson(2.0, size=N).astype(float)
    raw = rng.normal(size=N)
    dev = np.asarray(lk.tweedie_deviance(y, raw, power=1, log_input=True, reduction="none"))
    ylogy = np.where(y > 0, y * np.log(np.where(y > 0, y, 1)), 0.0)
    np.testing.assert_allclose(Poisson().loss(y, raw, reduction="none"),
                               dev / 2 - ylogy + y + gammaln(y + 1), rtol=RTOL, atol=1e-14)


def test_gamma_is_the_gamma_deviance_up_to_scale_and_constants(rng):
    a, y, raw = 2.5, rng.gamma(2.0, size=N), rng.normal(size=N)
    dev = np.asarray(lk.tweedie_deviance(y, raw, power=2, log_input=True, reduction="none"))
    np.testing.assert_allclose(Gamma(shape=a).loss(y, raw, reduction="none"),
                               a * dev / 2 + np.log(y) + a - a * math.log(a) + gammaln(a),
                               rtol=RTOL)


def test_classification_families_equal_their_cross_entropies(rng):
    y = rng.integers(0, 2, size=N).astype(float)
    z = rng.normal(size=N) * 3
    assert float(Bernoulli().loss(y, z)) == pytest.approx(
        float(lk.binary_cross_entropy(y, expit(z), eps=0.0)), rel=1e-12)
    labels, logits = rng.integers(0, 4, size=N), rng.normal(size=(N, 4))
    assert float(Categorical().loss(labels, logits)) == pytest.approx(
        float(lk.categorical_cross_entropy(np.eye(4)[labels], softmax(logits, axis=-1),
                                           eps=0.0)), rel=1e-12)
    ym, zm = rng.integers(0, 2, size=(N, 3)).astype(float), rng.normal(size=(N, 3))
    joint = -st.bernoulli.logpmf(ym, expit(zm)).sum(axis=-1)
    np.testing.assert_allclose(MultiLabel().loss(ym, zm, reduction="none"), joint / 3,
                               rtol=RTOL)


def test_heteroscedastic_gaussian_is_gaussian_nll_and_a_mixture_of_one(rng):
    y = rng.normal(size=N)
    raw = np.stack([rng.normal(size=N), rng.normal(size=N)], -1)
    hg = HeteroscedasticGaussian()
    np.testing.assert_allclose(
        hg.loss(y, raw, reduction="none"),
        lk.gaussian_nll(y, raw[:, 0], var=np.exp(raw[:, 1]), full=True, reduction="none"),
        rtol=RTOL)
    mix_raw = np.stack([np.zeros(N), raw[:, 0], raw[:, 1] / 2], -1)
    np.testing.assert_allclose(GaussianMixture(1).loss(y, mix_raw, reduction="none"),
                               hg.loss(y, raw, reduction="none"), rtol=RTOL)
    # the chain rule through log_var = 2 s links the two gradients
    g_mix, g_hg = GaussianMixture(1).gradient(y, mix_raw), hg.gradient(y, raw)
    np.testing.assert_allclose(g_mix[:, 0], 0.0, atol=1e-15)
    np.testing.assert_allclose(g_mix[:, 1], g_hg[:, 0], rtol=RTOL)
    np.testing.assert_allclose(g_mix[:, 2], 2 * g_hg[:, 1], rtol=1e-10, atol=1e-14)


# ------------------------------------------------------------------ metrics, units, weights


@pytest.mark.parametrize("name", NAMES)
def test_default_metrics_are_metrics_that_score_the_prediction(name):
    fam, y, raw, _, _ = case(name)
    pred = np.asarray(fam.predict(raw))
    if name == "multilabel":  # micro-averaged over the labels
        y, pred = y.reshape(-1), pred.reshape(-1)
    assert fam.default_metrics
    for metric in fam.default_metrics:
        value = float(getattr(lk.metrics, metric)(y, pred))
        assert math.isfinite(value), metric


@pytest.mark.parametrize("name", NAMES)
def test_bits_are_nats_over_log_2(name):
    fam, y, raw, _, _ = case(name)
    ln2 = math.log(2)
    assert float(fam.loss(y, raw, unit="bits")) == pytest.approx(
        float(fam.loss(y, raw)) / ln2, rel=RTOL)
    np.testing.assert_allclose(fam.gradient(y, raw, unit="bits"),
                               np.asarray(fam.gradient(y, raw)) / ln2, rtol=RTOL)
    np.testing.assert_allclose(fam.hessian(y, raw, unit="bits"),
                               np.asarray(fam.hessian(y, raw)) / ln2, rtol=RTOL)


@pytest.mark.parametrize("name", NAMES)
def test_sample_weights_scale_each_samples_derivatives(name):
    fam, y, raw, _, _ = case(name)
    shape = y.shape if name == "categorical" or y.ndim == 1 else y.shape[:-1]
    w = np.random.default_rng(3).uniform(0, 2, size=shape)
    w[0] = 0.0
    wide = w.reshape(w.shape + (1,) * (raw.ndim - w.ndim))
    for method in (fam.gradient, fam.hessian):
        np.testing.assert_allclose(method(y, raw, sample_weight=w),
                                   wide * np.asarray(method(y, raw)), rtol=RTOL)
    np.testing.assert_allclose(fam.loss(y, raw, sample_weight=w),
                               np.sum(w * np.asarray(fam.loss(y, raw, reduction="none")))
                               / w.sum(), rtol=RTOL)


# ------------------------------------------------------------------------ boosting objective


@pytest.mark.parametrize("name", ["gaussian", "poisson", "gamma", "bernoulli", "categorical"])
def test_newton_boosting_of_a_constant_reaches_the_maximum_likelihood_fit(name):
    """The family as a gradient-boosting objective: Newton steps on one constant leaf per
    output converge to the MLE (the mean of y, or the class frequencies)."""
    fam, y, raw, _, _ = case(name, seed=7)
    raw = np.zeros_like(raw)
    for _ in range(60):
        g, h = fam.gradient(y, raw), fam.hessian(y, raw)
        step = g.sum(axis=0) / h.sum(axis=0)
        raw = raw - step
    if name == "categorical":
        expected = np.bincount(y, minlength=raw.shape[-1]) / len(y)
        got = np.asarray(fam.predict(raw))[0]
        np.testing.assert_allclose(got, expected, atol=1e-10)
    else:
        assert float(np.asarray(fam.predict(raw))[0]) == pytest.approx(float(y.mean()),
                                                                       rel=1e-10)


def test_the_docs_page_examples_run_and_match():
    import doctest
    from pathlib import Path

    page = Path(__file__).resolve().parents[2] / "docs" / "families.md"
    result = doctest.testfile(str(page), module_relative=False,
                              optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 15
    assert result.failed == 0


@pytest.mark.parametrize("name", NAMES)
def test_loss_options_make_the_catalogue_loss_the_family_nll(name):
    """advise and the nn heads read ``loss_options``: the catalogue loss called with them is
    the family's NLL of the same raw outputs."""
    fam, y, raw, _, _ = case(name)
    options = fam.loss_options
    if name == "heteroscedastic":  # the raw outputs are split between y_pred and log_var
        assert options is None
        return
    catalogue = getattr(lk, fam.loss_name)
    np.testing.assert_allclose(catalogue(y, raw, reduction="none", **options),
                               fam.loss(y, raw, reduction="none"), rtol=RTOL)


def test_negative_binomial_tends_to_the_poisson(rng):
    y = rng.poisson(3.0, size=N).astype(float)
    eta = rng.normal(size=N)
    raw = np.stack([eta, np.full(N, -25.0)], -1)  # alpha = e^-25
    np.testing.assert_allclose(NegativeBinomial().loss(y, raw, reduction="none"),
                               Poisson().loss(y, eta, reduction="none"), rtol=1e-9)
    np.testing.assert_allclose(NegativeBinomial().gradient(y, raw)[:, 0],
                               Poisson().gradient(y, eta), rtol=1e-9, atol=1e-12)
    fixed = lk.negative_binomial_nll(y, eta, alpha=math.exp(-25.0), full=True,
                                     reduction="none")
    np.testing.assert_allclose(fixed, Poisson().loss(y, eta, reduction="none"), rtol=1e-9)
