"""Issue 19, third round: the regression rows' faster forms give the old numbers, and the
Tweedie deviance no longer returns NaN where float32's ``exp`` overflows.

The JAX forms without ``where`` (Huber's minimum, the Gaussian's product by a number, the
Poisson's plain ``y * eta``) are compared with the masked forms they replace, on random and
edge inputs; the Tweedie deviance in float32 with a float64 evaluation of its textbook terms
(far from ``mu = y``, where nothing cancels) on every backend.
"""

from __future__ import annotations

import math
import warnings

import array_api_strict as xps
import numpy as np
import pytest

import losskit as lk
from losskit import _array

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
torch = pytest.importorskip("torch")

BACKENDS = {"numpy": np.asarray, "torch": torch.from_numpy, "jax": jnp.asarray}


def _np(x):
    return np.asarray(x.detach() if hasattr(x, "detach") else x, dtype=np.float64)


# --------------------------------------------------------------------------------- Tweedie


def _textbook(y: float, z: float, p: float) -> tuple[float, float]:
    """The deviance and its derivative in the log-mean ``z``, in float64 from the textbook
    terms (exact to rounding where ``mu`` is far from ``y``); ``inf`` where a term
    overflows float64 too (not in the cases below)."""
    a, b = 2.0 - p, 1.0 - p
    if p == 1:
        value = 2.0 * (y * math.log(y) - y * z - y + math.exp(z))
    elif p == 2:
        value = 2.0 * (z - math.log(y) + y * math.exp(-z) - 1.0)
    else:
        value = 2.0 * (y**a / (a * b) - y * math.exp(b * z) / b + math.exp(a * z) / a)
    return value, 2.0 * (math.exp(a * z) - y * math.exp(b * z))


def _expected(x: float) -> float:
    """What float32 can hold: ``inf`` past its range, else the number."""
    return math.copysign(math.inf, x) if abs(x) > float(np.finfo(np.float32).max) else x


# (power, y, log-mean): float32 NaN before (exp(z) = inf times mu^(-p) = 0, or
# expm1 overflows of both terms), and powers of mu that underflowed to a 0 gradient
FAR = [(1.5, 2.0, 90.0), (1.5, 2.0, 100.0), (3.0, 2.0, 60.0), (3.0, 2.0, -60.0),
       (3.0, 2.0, -90.0), (1.0, 2.0, 90.0), (1.0, 2.0, -90.0), (2.0, 2.0, 90.0),
       (2.0, 2.0, -90.0), (2.0, 1e-30, 80.0), (3.0, 1e-30, 80.0), (1.5, 1e-30, 80.0),
       (1.5, 1e-20, 88.0), (1.2, 3.0, 150.0), (-1.0, 2.0, 25.0), (-1.0, 2.0, 60.0)]


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize(("power", "y", "z"), FAR)
def test_tweedie_float32_far_from_the_target_is_never_nan(backend, power, y, z):
    to = BACKENDS[backend]
    yy, zz = to(np.array([y], np.float32)), to(np.array([z], np.float32))
    want_value, want_slope = _textbook(y, float(np.float32(z)), power)
    kw = {"power": power, "log_input": True, "reduction": "none"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = float(_np(lk.tweedie_deviance(yy, zz, **kw))[0])
        unchecked = float(_np(lk.tweedie_deviance(yy, zz, check_values=False, **kw))[0])
        slope = float(_np(lk.gradient(lk.tweedie_deviance, yy, zz, power=power,
                                      log_input=True, reduction="sum"))[0])
    assert value == unchecked
    for got, want in ((value, _expected(want_value)), (slope, _expected(want_slope))):
        assert not math.isnan(got)
        if math.isinf(want):
            assert got == want
        elif abs(want) < float(np.finfo(np.float32).smallest_normal):
            assert abs(got) <= float(np.finfo(np.float32).smallest_normal)  # XLA flushes
        else:
            # float32 rounding of a log-mean up to 150 (L = z - log y to 1e-5 absolute)
            assert got == pytest.approx(want, rel=2e-5)


@pytest.mark.parametrize("power", [1.5, 3.0, 1.0, 2.0])
def test_tweedie_float32_unchanged_near_the_target(power, rng):
    # the careful form still gives the numbers near mu = y (the mend only touches entries
    # that overflowed): float32 against the float64 evaluation of the same code
    y = rng.gamma(2.0, 1.0, 2000) + 0.01
    z = np.log(y) + rng.normal(scale=0.5, size=2000)
    kw = {"power": power, "log_input": True, "reduction": "none"}
    want = np.asarray(lk.tweedie_deviance(y, z, **kw))
    for name, to in BACKENDS.items():
        got = _np(lk.tweedie_deviance(to(y.astype(np.float32)), to(z.astype(np.float32)),
                                      **kw))
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("power", [1.5, 3.0, 2.0, -1.0])
def test_tweedie_log_mean_gradient_is_the_difference_of_the_powers(power, rng):
    # 2 (e^((2-p) z) - y e^((1-p) z)) is 2 mu^(1-p) (mu - y), the old product, to rounding
    y = rng.gamma(2.0, 1.0, 500)
    if power < 2:
        y[:50] = 0.0
    z = rng.normal(size=500)
    mu = np.exp(z)
    want = 2.0 * mu ** (1.0 - power) * (mu - y) / y.size
    for xp in (np, xps):
        got = _np(lk.gradient(lk.tweedie_deviance, xp.asarray(y), xp.asarray(z), power=power,
                              log_input=True))
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def test_tweedie_torch_autograd_and_compile_paths_stay_finite():
    # torch: no host read under torch.func (branch-free mend), the same numbers
    y = torch.tensor([2.0, 1e-30, 3.0])
    z = torch.tensor([90.0, 80.0, 0.5])
    eager = lk.tweedie_deviance(y, z, power=1.5, log_input=True, reduction="none")
    per_sample = torch.func.vmap(
        lambda a, b: lk.tweedie_deviance(a[None], b[None], power=1.5, log_input=True,
                                         reduction="sum", check_values=False))(y, z)
    assert torch.isfinite(eager).all()
    torch.testing.assert_close(per_sample, eager)


# ----------------------------------------------------------------- JAX forms without where


def test_huber_jax_minimum_is_the_two_branches(rng):
    delta = 1.0
    r = np.concatenate([rng.normal(scale=2.0, size=400), [1.0, -1.0, 0.0, 1e30, -1e30]])
    r = r.astype(np.float32)
    y = np.zeros_like(r)
    got = np.asarray(lk.huber_loss(jnp.asarray(y), jnp.asarray(r), delta=delta,
                                   reduction="none"))
    a = np.abs(r)
    with np.errstate(over="ignore"):
        want = np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # the gradient at the bend (|r| = delta exactly) is delta, as the where form gave
    g = jax.grad(lambda b: lk.huber_loss(jnp.asarray(y), b, delta=delta, reduction="sum",
                                         check_values=False))(jnp.asarray(r))
    np.testing.assert_array_equal(np.asarray(g), np.clip(r, -delta, delta))
    nan = lk.huber_loss(jnp.zeros(1), jnp.asarray([math.nan]), reduction="none",
                        check_values=False)
    assert math.isnan(float(nan[0]))


@pytest.mark.parametrize("var", [1.0, 0.5, 1e-30, 1e30])
def test_gaussian_product_by_a_number_is_the_masked_product(var, rng):
    y = rng.normal(size=300).astype(np.float32)
    mu = y + rng.normal(size=300).astype(np.float32)
    mu[:20] = y[:20]  # exact predictions: 0 * (1/var)
    inv = 1.0 / var
    for name, to in (("jax", jnp.asarray), ("numpy", np.asarray), ("torch", torch.from_numpy)):
        got = _np(lk.gaussian_nll(to(y), to(mu), var=var, reduction="none"))
        r = (mu - y).astype(np.float32)
        masked = _np(_array.mul_zero_safe(np, r * r, np.float32(inv)))
        want = 0.5 * (math.log(var) + masked)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, err_msg=name)
        grad = _np(lk.gradient(lk.gaussian_nll, to(y), to(mu), var=var, reduction="sum"))
        np.testing.assert_allclose(grad, _np(_array.mul_zero_safe(np, r, np.float32(inv))),
                                   rtol=1e-6, err_msg=name)


def test_poisson_jax_plain_product_equals_the_masked_one(rng):
    y = rng.poisson(3.0, 500).astype(np.float32)
    y[:50] = 0.0
    z = rng.normal(scale=3.0, size=500).astype(np.float32)
    got = np.asarray(lk.poisson_nll(jnp.asarray(y), jnp.asarray(z), reduction="none"))
    want = np.asarray(lk.poisson_nll(xps.asarray(y), xps.asarray(z), reduction="none"))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)  # XLA's exp and fusions
    g = jax.grad(lambda b: lk.poisson_nll(jnp.asarray(y), b, reduction="sum",
                                          check_values=False))(jnp.asarray(z))
    np.testing.assert_allclose(np.asarray(g), np.exp(z) - y, rtol=1e-6, atol=1e-5)
    # checked, an infinite log-rate is still refused (the mask only mattered there)
    with pytest.raises(ValueError, match="y_pred"):
        lk.poisson_nll(jnp.zeros(2), jnp.asarray([0.0, -math.inf]))


# ----------------------------------------------------------------- checks in fewer passes

CHECKED = [(lk.poisson_nll, {}), (lk.gamma_nll, {"log_input": True}),
           (lk.tweedie_deviance, {"power": 1.5, "log_input": True}),
           (lk.gaussian_nll, {}), (lk.laplace_nll, {"scale": 1.0}),
           (lk.student_t_nll, {"df": 3.0}), (lk.mean_absolute_error, {}),
           (lk.mean_squared_error, {}), (lk.log_cosh_loss, {})]


@pytest.mark.parametrize(("fn", "kw"), CHECKED, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_pass_checks_name_the_same_argument_as_before(fn, kw, dtype):
    y = np.array([1.0, 2.0, 3.0, 4.0], dtype)
    z = np.array([0.5, 0.1, -0.2, 1.0], dtype)
    for bad_y, bad_z, name in ((math.nan, None, "y_true"), (math.inf, None, "y_true"),
                               (None, math.nan, "y_pred"), (None, -math.inf, "y_pred")):
        yy, zz = y.copy(), z.copy()
        if bad_y is not None:
            yy[2] = bad_y
        if bad_z is not None:
            zz[1] = bad_z
        with pytest.raises(ValueError, match=f"{fn.__name__}: {name} has NaN or infinite "
                                             r"values \(1 of 4, first at index [12]\)"):
            fn(yy, zz, **kw)
        # a zero target times an infinite prediction (NaN in the dot) is found too
        yy, zz = y.copy(), z.copy()
        yy[0], zz[0] = 0.0, math.inf
        with pytest.raises(ValueError, match=f"{fn.__name__}: y_pred has NaN or infinite"):
            fn(yy, zz, **kw)
    # finite inputs whose products overflow the dot are accepted (the two checks pass)
    yy, zz = y.copy(), z.copy()
    yy[:2], zz[:2] = float(np.finfo(dtype).max) / 2, 3.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert not math.isfinite(np.vdot(yy, zz))
        fn(yy, zz, **kw, reduction="none")


@pytest.mark.parametrize(("fn", "kw", "name", "y"), [
    (lk.poisson_nll, {}, "y_true", [1.0, -1.0]),
    (lk.gamma_nll, {"log_input": True}, "y_true", [1.0, 0.0]),
    (lk.tweedie_deviance, {"power": 2.5, "log_input": True}, "y_true", [1.0, 0.0]),
    (lk.tweedie_deviance, {"power": 1.5, "log_input": True}, "y_true", [1.0, -1e-30]),
])
def test_domain_after_the_finite_check_reads_the_minimum_with_the_old_message(fn, kw, name, y):
    with pytest.raises(ValueError, match=rf"{name} has values outside \(?\[?0, inf\) \(.* at "
                                         r"index 1; min .*, max 1\)"):
        fn(np.array(y), np.array([0.1, 0.2]), **kw)
    zero_ok = fn is lk.poisson_nll or kw.get("power", 2.0) < 2
    inside = np.array([1.0, 0.0 if zero_ok else 2.0])
    assert math.isfinite(float(fn(inside, np.array([0.1, 0.2]), **kw)))


@pytest.mark.parametrize("power", [1.0, 1.5, 2.0, 3.0, 1.2, -1.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("zeros", [False, True])
def test_tweedie_numpy_in_place_forms_are_the_generic_numbers(power, dtype, zeros, rng):
    # positive targets: the careful form in three buffers, the gradient in two; bit for bit
    # the generic (array-api-strict, where-based) value and within rounding its gradient
    if zeros and power >= 2:
        pytest.skip("targets must be > 0 at power >= 2")
    y = (rng.gamma(2.0, 1.0, 3000) + 0.01).astype(dtype)
    if zeros:
        y[::7] = 0.0
    z = (np.log(y + 0.5) + rng.normal(size=3000)).astype(dtype)
    kw = {"power": power, "log_input": True}
    got = lk.tweedie_deviance(y, z, reduction="none", **kw)
    want = np.asarray(lk.tweedie_deviance(xps.asarray(y), xps.asarray(z), reduction="none",
                                          **kw))
    np.testing.assert_array_equal(got, want)
    g = lk.gradient(lk.tweedie_deviance, y, z, **kw)
    gw = np.asarray(lk.gradient(lk.tweedie_deviance, xps.asarray(y), xps.asarray(z), **kw))
    np.testing.assert_array_equal(g, gw)


@pytest.mark.parametrize("k", [2, 3, 4, 5, 6, 7])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mixture_numpy_column_reductions_are_the_axis_reductions(k, dtype, rng):
    # a few components: the row maximum and sum over the columns, bit for bit the
    # reductions along the last axis they replace, edges included
    from losskit.losses._likelihood import _logsumexp

    a = (rng.normal(size=(500, k)) * 30).astype(dtype)
    a[0, 0], a[1, :], a[2, 1], a[3, :] = -np.inf, -np.inf, np.inf, np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = np.max(a, axis=-1, keepdims=True)
        m = np.where(np.isfinite(m), m, 0.0).astype(dtype)
        want = np.log(np.sum(np.exp(a - m), axis=-1)) + m[..., 0]
        got = _logsumexp(np, a)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mixture_numpy_equals_the_generic_path(dtype, rng):
    n, k = 400, 3
    raw = (rng.normal(size=(n, 3 * k)) * 4).astype(dtype)
    raw[1, 0], raw[2, 2 * k:] = 50.0, -40.0
    y = rng.normal(size=n).astype(dtype)
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-12}
    got = lk.gaussian_mixture_nll(y, raw, reduction="none")
    want = np.asarray(lk.gaussian_mixture_nll(xps.asarray(y), xps.asarray(raw),
                                              reduction="none"))
    np.testing.assert_allclose(got, want, **tol)
    g = lk.gradient(lk.gaussian_mixture_nll, y, raw)
    gw = np.asarray(lk.gradient(lk.gaussian_mixture_nll, xps.asarray(y), xps.asarray(raw)))
    np.testing.assert_allclose(g, gw, **tol)


@pytest.mark.parametrize("backend", ["numpy", "torch"])  # (JAX warns casting 1e300)
def test_gaussian_inverse_variance_past_the_dtype_keeps_the_mask(backend):
    # 1/1e-300 is a finite Python float but inf in float32: an exact prediction stays 0
    to = BACKENDS[backend]
    y = to(np.zeros(3, np.float32))
    got = _np(lk.gaussian_nll(y, to(np.zeros(3, np.float32)), var=1e-300, reduction="none",
                              check_values=False))
    np.testing.assert_allclose(got, 0.5 * math.log(1e-300), rtol=1e-6)
