"""Directions and locations: the von Mises and von Mises-Fisher NLLs against scipy, their
analytic gradients against torch autograd and finite differences, stability at any
concentration, the kernels' hessians, the lat/lon helpers and their errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import special, stats

import losskit as lk
from losskit.losses._directional import (
    VON_MISES_FISHER_KERNEL,
    VON_MISES_KERNEL,
    _series_bessel_terms,
    bessel_terms,
)

XP = __import__("array_api_compat.numpy", fromlist=["numpy"])
TEMPLATE = r"^[a-z_.A-Z]+: [a-z_]+.* .+\. .+"
KAPPAS = np.array([0.0, 1e-9, 1e-3, 0.0499, 0.05, 0.7, 2.0, 9.0, 29.99, 30.0, 30.01, 75.0,
                   1e3, 1e6, 1e9])


def _unit(rng, n, d=3):
    x = rng.normal(size=(n, d))
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _angles_and_raw(rng, n=40, scale=3.0):
    return rng.uniform(-4.0, 4.0, size=n), rng.normal(size=(n, 2)) * scale


# ------------------------------------------------------------------------------ values


def test_bessel_terms_are_scipys_at_every_concentration():
    log_i0e, ratio = bessel_terms(XP, KAPPAS)
    np.testing.assert_allclose(log_i0e, np.log(special.i0e(KAPPAS)), rtol=1e-14, atol=1e-15)
    safe = np.where(KAPPAS > 0, KAPPAS, 1.0)
    expected = np.where(KAPPAS > 0, special.i1e(KAPPAS) / special.i0e(KAPPAS) / safe, 0.5)
    np.testing.assert_allclose(ratio, expected, rtol=1e-14)


@pytest.mark.parametrize("library", ["torch", "jax"])
def test_bessel_terms_of_every_library_agree_with_the_series(library):
    """NumPy, torch and JAX take their own scaled Bessel functions (Cephes); any other array
    library the power series and asymptotic expansion: the two agree at every concentration."""
    if library == "jax":
        jax = pytest.importorskip("jax")
        jax.config.update("jax_enable_x64", True)
        xp = __import__("jax.numpy", fromlist=["numpy"])
    else:
        xp = torch
    kappa = xp.asarray(KAPPAS, dtype=xp.float64)
    log_i0e, ratio = (np.asarray(a) for a in bessel_terms(xp, kappa))
    series_log, series_ratio = _series_bessel_terms(XP, KAPPAS)
    np.testing.assert_allclose(log_i0e, series_log, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(ratio, series_ratio, rtol=1e-14)


def test_von_mises_is_scipys_negative_log_density():
    rng = np.random.default_rng(0)
    y, raw = _angles_and_raw(rng)
    kappa, mu = np.linalg.norm(raw, axis=1), np.arctan2(raw[:, 1], raw[:, 0])
    np.testing.assert_allclose(lk.von_mises_nll(y, raw, reduction="none"),
                               -stats.vonmises.logpdf(y, kappa, loc=mu), rtol=1e-13, atol=1e-14)
    # degrees, and the wrap-around: 359 degrees is -1 degree
    np.testing.assert_allclose(lk.von_mises_nll(np.degrees(y), raw, degrees=True,
                                                reduction="none"),
                               lk.von_mises_nll(y + 2 * math.pi, raw, reduction="none"),
                               rtol=1e-12)


def test_von_mises_fisher_is_scipys_negative_log_density():
    rng = np.random.default_rng(1)
    x, raw = _unit(rng, 30), rng.normal(size=(30, 3)) * 4.0
    kappa = np.linalg.norm(raw, axis=1)
    expected = [-stats.vonmises_fisher(r / k, k).logpdf(xi)
                for r, k, xi in zip(raw, kappa, x, strict=True)]
    np.testing.assert_allclose(lk.von_mises_fisher_nll(x, raw, reduction="none"), expected,
                               rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("kappa", KAPPAS.tolist())
def test_normalising_constants_are_stable_at_any_concentration(kappa):
    # vMF at the mean: log 2 pi + log(1 - exp(-2k)) - log k, in closed form (uniform at k = 0)
    north = np.array([[0.0, 0.0, 1.0]])
    value = float(lk.von_mises_fisher_nll(north, np.array([[0.0, 0.0, kappa]])))
    expected = (math.log(4 * math.pi) if kappa == 0 else
                math.log(2 * math.pi) + math.log(-math.expm1(-2 * kappa)) - math.log(kappa))
    assert value == pytest.approx(expected, rel=1e-12, abs=1e-12)
    # von Mises at the mean: log 2 pi + log i0e(k)
    value = float(lk.von_mises_nll([0.0], np.array([[kappa, 0.0]])))
    assert value == pytest.approx(math.log(2 * math.pi) + math.log(special.i0e(kappa)),
                                  rel=1e-12, abs=1e-12)
    for fn, y, raw in ((lk.von_mises_nll, [math.pi], [[kappa, 0.0]]),
                       (lk.von_mises_fisher_nll, -north, [[0.0, 0.0, kappa]])):
        g = lk.gradient(fn, y, np.array(raw))
        assert np.all(np.isfinite(g))


def test_the_far_side_costs_two_kappa_more_than_the_mean():
    for kappa in (5.0, 500.0, 5e6):
        raw = np.array([[0.0, 0.0, kappa]] * 2)
        y = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]])
        near, far = lk.von_mises_fisher_nll(y, raw, reduction="none").tolist()
        assert far - near == pytest.approx(2 * kappa, rel=1e-12)


# --------------------------------------------------------------------------- gradients


def _autograd(fn, y, raw, **options):
    raw_t = torch.tensor(raw, dtype=torch.float64, requires_grad=True)
    fn(torch.tensor(y, dtype=torch.float64), raw_t, **options).backward()
    return raw_t.grad.numpy()


def _finite_differences(fn, y, raw, h=1e-6, **options):
    grad = np.zeros_like(raw)
    for index in np.ndindex(raw.shape):
        up, down = raw.copy(), raw.copy()
        up[index] += h
        down[index] -= h
        grad[index] = (float(fn(y, up, **options)) - float(fn(y, down, **options))) / (2 * h)
    return grad


CASES = {
    "von_mises": (lk.von_mises_nll, lambda rng: _angles_and_raw(rng, 12)),
    "von_mises_degrees": (lk.von_mises_nll,
                          lambda rng: (np.degrees(_angles_and_raw(rng, 12)[0]),
                                       rng.normal(size=(12, 2)))),
    "von_mises_2d_targets": (lk.von_mises_nll,
                             lambda rng: (rng.uniform(-3, 3, size=(5, 3)),
                                          rng.normal(size=(5, 3, 2)) * 2)),
    "von_mises_fisher": (lk.von_mises_fisher_nll,
                         lambda rng: (_unit(rng, 12), rng.normal(size=(12, 3)) * 3)),
    "von_mises_fisher_small_and_large": (
        lk.von_mises_fisher_nll,
        lambda rng: (_unit(rng, 4), np.array([[1e-3, 0, 0], [0, 0.03, 0.01],
                                              [40.0, 5.0, 1.0], [0, 2e3, 0]]))),
}


@pytest.mark.parametrize("name", list(CASES))
def test_analytic_gradient_is_autograds_and_the_finite_differences(name):
    fn, make = CASES[name]
    y, raw = make(np.random.default_rng(3))
    options = {"degrees": True} if name == "von_mises_degrees" else {}
    weights = np.random.default_rng(4).uniform(0.5, 2.0, size=raw.shape[0])
    ours = lk.gradient(fn, y, raw, sample_weight=weights, **options)
    theirs = _autograd(fn, y, raw, sample_weight=weights, **options)
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-13)
    if name != "von_mises_fisher_small_and_large":  # kappa = 2000: h is too small there
        fd = _finite_differences(fn, y, raw, sample_weight=weights, **options)
        np.testing.assert_allclose(ours, fd, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize(("kernel", "width"), [(VON_MISES_KERNEL, 2),
                                               (VON_MISES_FISHER_KERNEL, 3)])
def test_kernel_hessian_is_the_derivative_of_its_gradient(kernel, width):
    rng = np.random.default_rng(5)
    eta = np.concatenate([rng.normal(size=(6, width)) * 3, np.full((1, width), 1e-3),
                          np.zeros((1, width))])
    y = rng.uniform(-3, 3, size=8) if width == 2 else _unit(rng, 8)
    h = 1e-6
    expected = np.zeros_like(eta)
    for c in range(width):
        step = np.zeros_like(eta)
        step[:, c] = h
        expected[:, c] = (kernel.gradient(XP, y, eta + step)[:, c]
                          - kernel.gradient(XP, y, eta - step)[:, c]) / (2 * h)
    np.testing.assert_allclose(kernel.hessian(XP, y, eta), expected, rtol=1e-6, atol=1e-8)
    assert kernel.link == "canonical"
    # the kernel is the loss, element by element
    fn = lk.von_mises_nll if width == 2 else lk.von_mises_fisher_nll
    np.testing.assert_allclose(kernel.value(XP, y, eta), fn(y, eta, reduction="none"),
                               rtol=1e-14)


def test_the_losses_are_declared_with_explanation_and_kernel():
    for fn, kernel in ((lk.von_mises_nll, VON_MISES_KERNEL),
                       (lk.von_mises_fisher_nll, VON_MISES_FISHER_KERNEL)):
        spec = fn.spec
        assert spec.kernel is kernel and spec.explanation is not None
        case = spec.explanation.case
        assert np.isfinite(float(fn([case.y_true], [case.y_pred], **case.options)))
        assert lk.losses.loss_specs()[spec.name] is spec


def test_float32_and_torch_keep_their_type():
    raw = np.array([[1.0, 2.0, 0.5]], dtype=np.float32)
    value = lk.von_mises_fisher_nll(np.array([[1.0, 0.0, 0.0]], dtype=np.float32), raw)
    assert value.dtype == np.float32
    t = lk.von_mises_nll(torch.tensor([0.3]), torch.tensor([[1.0, 1.0]]))
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(("fn", "y", "raw", "match"), [
    (lk.von_mises_nll, [0.0, 1.0], [[1.0, 0.0]], "y_true has shape"),
    (lk.von_mises_nll, [0.0], [[1.0, 0.0, 2.0]], "y_pred has shape"),
    (lk.von_mises_nll, [0.0], [1.0], "y_pred has shape"),
    (lk.von_mises_nll, [math.nan], [[1.0, 0.0]], "y_true has NaN"),
    (lk.von_mises_fisher_nll, [[1.0, 1.0, 0.0]], [[1.0, 0.0, 0.0]], "not a unit vector"),
    (lk.von_mises_fisher_nll, [[1.0, 0.0]], [[1.0, 0.0]], "y_pred has shape"),
    (lk.von_mises_fisher_nll, [[1.0, 0.0, 0.0]], [[math.inf, 0.0, 0.0]], "y_pred has NaN"),
])
def test_bad_inputs_fail_with_the_template(fn, y, raw, match):
    with pytest.raises(ValueError, match=match) as info:
        fn(np.array(y), np.array(raw))
    assert __import__("re").match(TEMPLATE, str(info.value))


def test_lat_lon_helpers_round_trip_and_refuse_bad_input():
    rng = np.random.default_rng(6)
    ll = np.column_stack([rng.uniform(-89, 89, 20), rng.uniform(-179, 179, 20)])
    v = lk.lat_lon_to_unit_vector(ll)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-15)
    np.testing.assert_allclose(lk.unit_vector_to_lat_lon(v), ll, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(lk.lat_lon_to_unit_vector(np.radians(ll), degrees=False), v,
                               rtol=1e-14)
    with pytest.raises(ValueError, match="latitude beyond"):
        lk.lat_lon_to_unit_vector([[120.0, 10.0]])
    with pytest.raises(ValueError, match="lat_lon has shape"):
        lk.lat_lon_to_unit_vector([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="zero vector"):
        lk.unit_vector_to_lat_lon([[0.0, 0.0, 0.0]])


def test_array_api_strict_and_jax_give_numpys_numbers():
    xps = pytest.importorskip("array_api_strict")
    rng = np.random.default_rng(8)
    y, raw = _unit(rng, 6), rng.normal(size=(6, 3)) * 2
    expected = float(lk.von_mises_fisher_nll(y, raw))
    assert float(lk.von_mises_fisher_nll(xps.asarray(y), xps.asarray(raw))) == \
        pytest.approx(expected, rel=1e-14)
    a, eta = _angles_and_raw(rng, 6)
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    grad = jax.grad(lambda r: lk.von_mises_nll(jnp.asarray(a), r))(jnp.asarray(eta))
    np.testing.assert_allclose(np.asarray(grad), lk.gradient(lk.von_mises_nll, a, eta),
                               rtol=1e-10, atol=1e-13)


# ------------------------------------------------------------------------------ families

import scipy.integrate  # noqa: E402

LOG_2PI = math.log(2 * math.pi)


def _family_case(name, rng, n=9):
    if name == "von_mises":
        y, raw = _angles_and_raw(rng, n)

        def torch_vm(y, r):  # torch.distributions.VonMises' I0 is good to ~1e-7 only
            k = torch.linalg.norm(r, dim=-1)
            return -(r[..., 0] * torch.cos(y) + r[..., 1] * torch.sin(y)) + LOG_2PI \
                + torch.log(torch.special.i0e(k)) + k

        return (lk.families.VonMises(), y, raw,
                lambda y, r: -stats.vonmises.logpdf(y, np.linalg.norm(r, axis=-1),
                                                    loc=np.arctan2(r[..., 1], r[..., 0])),
                torch_vm)
    x, raw = _unit(rng, n), rng.normal(size=(n, 3)) * 3

    def torch_vmf(y, r):  # the density written out, sinh included (moderate kappa only)
        k = torch.linalg.norm(r, dim=-1)
        return -(torch.sum(r * y, -1) + torch.log(k) - torch.log(4 * math.pi * torch.sinh(k)))

    return (lk.families.VonMisesFisher(), x, raw,
            lambda y, r: np.array([-stats.vonmises_fisher(ri / np.linalg.norm(ri),
                                                          np.linalg.norm(ri)).logpdf(yi)
                                   for ri, yi in zip(r, y, strict=True)]),
            torch_vmf)


FAMILIES = ["von_mises", "von_mises_fisher"]


@pytest.mark.parametrize("name", FAMILIES)
def test_family_loss_gradient_and_hessian_against_references(name):
    fam, y, raw, ref, tref = _family_case(name, np.random.default_rng(9))
    assert lk.family(name) == fam and fam.canonical and fam.convex
    np.testing.assert_allclose(fam.loss(y, raw, reduction="none"), ref(y, raw), rtol=1e-12)
    # gradient: finite differences of scipy and torch autograd of an independent reference
    h, fd = 1e-6, np.zeros_like(raw)
    for index in np.ndindex(raw.shape):
        up, down = raw.copy(), raw.copy()
        up[index] += h
        down[index] -= h
        fd[index] = (ref(y, up).sum() - ref(y, down).sum()) / (2 * h)
    grad = np.asarray(fam.gradient(y, raw))
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-7)
    raw_t = torch.tensor(raw, requires_grad=True)
    (auto,) = torch.autograd.grad(tref(torch.tensor(y), raw_t).sum(), raw_t)
    np.testing.assert_allclose(grad, auto.numpy(), rtol=1e-10, atol=1e-12)
    # hessian diagonal: autograd's
    flat = torch.tensor(raw[:3].reshape(-1))
    full = torch.autograd.functional.hessian(
        lambda f: tref(torch.tensor(y[:3]), f.reshape(raw[:3].shape)).sum(), flat)
    np.testing.assert_allclose(fam.hessian(y[:3], raw[:3]),
                               torch.diagonal(full).reshape(raw[:3].shape).numpy(),
                               rtol=1e-9, atol=1e-12)
    # the family reads the loss's kernel: no second derivation
    assert fam._kernel is getattr(lk, fam.loss_name).spec.kernel


@pytest.mark.parametrize("name", FAMILIES)
def test_activation_is_the_mean_resultant_and_the_gradient_prediction_minus_target(name):
    fam, y, raw, _, _ = _family_case(name, np.random.default_rng(10), n=4)
    act = np.asarray(fam.activation(raw))
    for row, eta in zip(act, raw, strict=True):
        kappa = np.linalg.norm(eta)
        if name == "von_mises":  # E[cos(y - mu)] by quadrature
            length = scipy.integrate.quad(lambda a, k=kappa: math.cos(a) * math.exp(
                k * (math.cos(a) - 1)), -math.pi, math.pi)[0] / scipy.integrate.quad(
                lambda a, k=kappa: math.exp(k * (math.cos(a) - 1)), -math.pi, math.pi)[0]
        else:  # E[mu . x] = E[t] with density proportional to exp(kappa t) on [-1, 1]
            length = scipy.integrate.quad(lambda t, k=kappa: t * math.exp(k * (t - 1)), -1,
                                          1)[0] / scipy.integrate.quad(
                lambda t, k=kappa: math.exp(k * (t - 1)), -1, 1)[0]
        np.testing.assert_allclose(row, length * eta / kappa, rtol=1e-9)
    target = np.stack([np.cos(y), np.sin(y)], -1) if name == "von_mises" else y
    np.testing.assert_allclose(fam.gradient(y, raw), act - target, rtol=1e-12, atol=1e-15)
    pred = np.asarray(fam.predict(raw))
    if name == "von_mises":
        np.testing.assert_allclose(np.cos(pred), raw[:, 0] / np.linalg.norm(raw, axis=1))
        np.testing.assert_allclose(np.sin(pred), raw[:, 1] / np.linalg.norm(raw, axis=1))
    else:
        np.testing.assert_allclose(pred, raw / np.linalg.norm(raw, axis=1, keepdims=True))


def test_family_errors_name_the_fault():
    with pytest.raises(ValueError, match=r"VonMisesFisher.loss: y_true has a value that is the "
                                         "norm of a vector not of length 1"):
        lk.families.VonMisesFisher().loss([[1.0, 1.0, 0.0]], [[1.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match=r"VonMises.gradient: raw has shape \(2,\)"):
        lk.families.VonMises().gradient([0.0], [1.0, 0.0])
    with pytest.raises(ValueError, match=r"VonMisesFisher.predict: raw has a zero vector at "
                                         "index 1"):
        lk.families.VonMisesFisher().predict([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match=r"VonMises.predict: raw has a zero vector"):
        lk.families.VonMises().predict([[0.0, 0.0]])
    with pytest.raises(TypeError, match="degrees is set by the VonMises family"):
        lk.families.VonMises().loss([0.0], [[1.0, 0.0]], degrees=True)


def test_metrics_of_the_families():
    # 359 and 1 degrees are 2 apart; the date line at the equator: 0.2 degrees = 22.24 km
    assert float(lk.metrics.mean_angular_error([359.0], [1.0], degrees=True)) == \
        pytest.approx(2.0, rel=1e-12)
    assert float(lk.metrics.great_circle_distance([[0.0, 179.9]], [[0.0, -179.9]])) == \
        pytest.approx(0.2 * math.pi / 180 * 6371.0088, rel=1e-9)
    # antipodes: half the circumference, with no NaN from rounding
    assert float(lk.metrics.great_circle_distance([[0.0, 0.0, 1.0]], [[0.0, 0.0, -1.0]])) == \
        pytest.approx(math.pi * 6371.0088, rel=1e-12)
    with pytest.raises(ValueError, match="latitude outside"):
        lk.metrics.great_circle_distance([[91.0, 0.0]], [[0.0, 0.0]])
    with pytest.raises(ValueError, match="not of unit length"):
        lk.metrics.great_circle_distance([[0.0, 0.0, 2.0]], [[0.0, 0.0, 1.0]])


def test_von_mises_radial_hessian_keeps_its_digits_at_large_concentrations():
    """A'(k) = 1 - A/k - A^2 is about 1/(2 k^2): computed directly it loses every digit at
    large k; the asymptotic numerator with its leading terms cancelled exactly keeps them."""
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 50
    for kappa in (0.5, 5.0, 29.0, 31.0, 1e3, 1e6, 1e9):
        h = VON_MISES_KERNEL.hessian(XP, np.array([0.3]), np.array([[kappa, 0.0]]))[0]
        k = mp.mpf(kappa)
        a = mp.besseli(1, k) / mp.besseli(0, k)
        assert h[0] == pytest.approx(float(1 - a / k - a * a), rel=1e-11)
        assert h[1] == pytest.approx(float(a / k), rel=1e-13)
