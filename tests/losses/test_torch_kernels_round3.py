"""The third round's native torch kernels (``losskit/_torch.py``: Laplace NLL, pinball,
Tweedie of log-means) give the generic path's values, gradients, second derivatives and
errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import losskit as lk
from losskit._torch import native_kernels
from native_paths import assert_same_error, gradients_and_hvps, taken

torch = pytest.importorskip("torch")

DTYPES = [(torch.float32, 1e-5), (torch.float64, 1e-12)]
OPTIONS = [{}, {"reduction": "sum"}, {"reduction": "none"}, {"check_values": False},
           {"check_values": False, "reduction": "none"}]
SHAPES = [(31,), (31, 1), (31, 4), (5, 3, 2)]


_taken = taken


def _both(fn, y, z, **kw):
    """``(native, generic)`` values and autograd gradients w.r.t. ``z``."""
    out = []
    for enabled in (True, False):
        zz = z.detach().clone().requires_grad_(True)
        with native_kernels(enabled):
            assert _taken(fn, y, zz, **kw) is enabled
            value = fn(y, zz, **kw)
        grad, = torch.autograd.grad(value.sum(), zz)
        out.append((value.detach(), grad))
    return out


def _assert_same(pair, rtol, atol_grad=None):
    (v1, g1), (v2, g2) = pair
    assert v1.dtype == v2.dtype and v1.shape == v2.shape
    torch.testing.assert_close(v1, v2, rtol=rtol, atol=rtol * 1e-3)
    torch.testing.assert_close(g1, g2, rtol=rtol, atol=atol_grad or rtol * 1e-3)


def _residuals(rng, shape, dtype):
    y = torch.as_tensor(rng.normal(scale=3.0, size=shape), dtype=dtype)
    z = torch.as_tensor(rng.normal(scale=3.0, size=shape), dtype=dtype)
    return y, z


# ---------------------------------------------------------------------------------- Laplace


@pytest.mark.parametrize("dtype,rtol", DTYPES)
@pytest.mark.parametrize("kw", [*OPTIONS, {"unit": "bits"}])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("scale", [1.0, 0.3, 7])
def test_laplace_matches_generic(dtype, rtol, kw, shape, scale, rng):
    y, z = _residuals(rng, shape, dtype)
    z.view(-1)[0] = y.view(-1)[0]  # a tie: gradient 0 on both paths
    _assert_same(_both(lk.laplace_nll, y, z, scale=scale, **kw), rtol)


def test_laplace_near_the_largest_float_is_the_generic_number():
    # |r|/b overflows per entry in the generic path; the mean divided once would not
    y = torch.tensor([0.0, 0.0], dtype=torch.float32)
    z = torch.tensor([3e38, 0.0], dtype=torch.float32)
    kw = {"scale": 0.5, "check_values": False}
    assert not _taken(lk.laplace_nll, y, z, **kw)
    with native_kernels(False):
        generic = lk.laplace_nll(y, z, **kw)
    assert torch.equal(lk.laplace_nll(y, z, **kw), generic) and math.isinf(generic)


# ---------------------------------------------------------------------------------- pinball


@pytest.mark.parametrize("dtype,rtol", DTYPES)
@pytest.mark.parametrize("kw", OPTIONS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("quantile", [0.9, 0.5, 0.013])
def test_pinball_matches_generic(dtype, rtol, kw, shape, quantile, rng):
    y, z = _residuals(rng, shape, dtype)
    _assert_same(_both(lk.pinball_loss, y, z, quantile=quantile, **kw), rtol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pinball_values_are_the_generic_ones_bit_for_bit(dtype, rng):
    y, z = _residuals(rng, (257,), dtype)
    kw = {"quantile": 0.37, "reduction": "none"}
    with native_kernels(False):
        generic = lk.pinball_loss(y, z, **kw)
    assert torch.equal(lk.pinball_loss(y, z, **kw), generic)


def test_pinball_gradient_at_a_tie_is_the_documented_subgradient():
    # 0 at y = ŷ, as lk.gradient (the generic path's autograd takes the d >= 0 branch: -τ)
    y = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    z = torch.tensor([1.0, 3.0, 2.0], dtype=torch.float64, requires_grad=True)
    lk.pinball_loss(y, z, quantile=0.9).backward()
    expected = lk.gradient(lk.pinball_loss, y.numpy(), z.detach().numpy(), quantile=0.9)
    np.testing.assert_allclose(z.grad.numpy(), expected, rtol=1e-15)
    assert z.grad[0] == 0


# ---------------------------------------------------------------------------------- Tweedie


def _counts(rng, shape, dtype, zeros):
    y = rng.gamma(2.0, 1.5, size=shape)
    if zeros:
        y[rng.uniform(size=shape) < 0.3] = 0.0
    return torch.as_tensor(y, dtype=dtype)


@pytest.mark.parametrize("dtype,rtol", DTYPES)
@pytest.mark.parametrize("kw", OPTIONS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("power", [1.5, 1.2, 1.9])
@pytest.mark.parametrize("zeros", [False, True])
def test_tweedie_matches_generic(dtype, rtol, kw, shape, power, zeros, rng):
    y = _counts(rng, shape, dtype, zeros)
    z = torch.as_tensor(rng.normal(size=shape), dtype=dtype)
    # the generic gradient 2 μ^b (μ - y) cancels near μ = y: an absolute tolerance of the
    # gradient's scale
    _assert_same(_both(lk.tweedie_deviance, y, z, power=power, log_input=True, **kw), rtol,
                 atol_grad=rtol * 10)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_tweedie_is_zero_for_the_perfect_prediction(dtype):
    y = torch.tensor([0.5, 1.0, 3.0, 1e4], dtype=dtype)
    z = torch.log(y).requires_grad_(True)
    value = lk.tweedie_deviance(y, z, power=1.5, log_input=True, reduction="none")
    assert torch.equal(value.detach(), torch.zeros_like(y))
    value.sum().backward()
    assert torch.equal(z.grad, torch.zeros_like(y))


def test_tweedie_gradient_near_the_prediction_is_accurate():
    # y = 1, η = 1e-12: ∂/∂η = 2 e^(bη)(e^η - 1) ≈ 2e-12; μ - y is computed from expm1s
    y = torch.ones(1, dtype=torch.float64)
    z = torch.full((1,), 1e-12, dtype=torch.float64, requires_grad=True)
    lk.tweedie_deviance(y, z, power=1.5, log_input=True).backward()
    exact = 2 * math.exp(-0.5e-12) * math.expm1(1e-12)
    assert abs(z.grad.item() - exact) <= 4e-16 * exact


def _tweedie_formula(y, z, power):
    """The textbook deviance of log-means, 2 (y^a/(ab) - y μ^b/b + μ^a/a), in float64."""
    a, b = 2.0 - power, 1.0 - power
    return 2.0 * (y ** a / (a * b) - y * torch.exp(b * z) / b + torch.exp(a * z) / a)


@pytest.mark.parametrize("power", [1.01, 1.1, 1.5, 1.9])
@pytest.mark.parametrize("reduction", ["none", "sum"])
def test_tweedie_past_the_float32_exponential_range(power, reduction):
    """float32 log-means from 89 on, and tiny targets far below the mean: the careful form's
    expm1(a L) overflows while the deviance does not (p = 1.1, η = 89: 6.8e34; p = 1.01,
    η = 80, y = 1e-30: 2.5e34). The kernel stepped aside there, to the generic path, whose
    autograd through the careful form gave a NaN gradient; now the value and the gradient
    are float64 autograd's of the formula (to float32's conditioning: exp(aη) carries the
    relative rounding of aη, ~100 x 2^-24), and where the deviance itself overflows float32,
    inf with an infinite gradient, never NaN."""
    eta = [80.0, 89.0, 95.0, 100.0, 0.5]
    targets = [0.0, 1e-30, 1.0, 3.0, 100.0]
    y = torch.tensor([t for t in targets for _ in eta])
    z32 = torch.tensor(eta * len(targets), requires_grad=True)
    value = lk.tweedie_deviance(y, z32, power=power, log_input=True, reduction=reduction)
    value.sum().backward()
    z64 = z32.detach().double().requires_grad_(True)
    reference = _tweedie_formula(y.double(), z64, power)
    if reduction == "sum":
        reference = reference.sum()
    reference.sum().backward()
    big = float(torch.finfo(torch.float32).max)
    expected = reference.detach()
    overflow = expected.abs() > big
    assert not torch.isnan(value).any() and not torch.isnan(z32.grad).any()
    assert torch.isinf(value.detach()[overflow]).all()
    torch.testing.assert_close(value.detach()[~overflow].double(), expected[~overflow],
                               rtol=1e-5, atol=0)
    grad_overflow = z64.grad.abs() > big
    assert torch.isinf(z32.grad[grad_overflow]).all()
    torch.testing.assert_close(z32.grad[~grad_overflow].double(), z64.grad[~grad_overflow],
                               rtol=1e-5, atol=0)


@pytest.mark.parametrize("case", ["laplace", "pinball", "tweedie", "tweedie_zeros"])
def test_second_derivatives_match_the_generic_path(case, rng):
    z0 = torch.as_tensor(rng.normal(size=(11, 3)))
    fn, y, kw = {
        "laplace": (lk.laplace_nll, torch.as_tensor(rng.normal(size=(11, 3))), {"scale": 0.7}),
        "pinball": (lk.pinball_loss, torch.as_tensor(rng.normal(size=(11, 3))),
                    {"quantile": 0.2}),
        "tweedie": (lk.tweedie_deviance, _counts(rng, (11, 3), torch.float64, False),
                    {"power": 1.5, "log_input": True}),
        "tweedie_zeros": (lk.tweedie_deviance, _counts(rng, (11, 3), torch.float64, True),
                          {"power": 1.3, "log_input": True}),
    }[case]
    v = torch.as_tensor(rng.normal(size=(11, 3)))
    (g_native, hv_native), (g_generic, hv_generic) = gradients_and_hvps(fn, y, z0, v, **kw)
    torch.testing.assert_close(g_native, g_generic, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(hv_native, hv_generic, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ errors and other calls


@pytest.mark.parametrize("call", [
    lambda: lk.laplace_nll(torch.zeros(2), torch.tensor([0.0, math.inf])),
    lambda: lk.laplace_nll(torch.tensor([math.nan, 0.0]), torch.zeros(2), scale=2.0),
    lambda: lk.laplace_nll(torch.zeros(2), torch.zeros(2), scale=0.0),
    lambda: lk.pinball_loss(torch.zeros(2), torch.tensor([0.0, math.nan]), quantile=0.3),
    lambda: lk.pinball_loss(torch.zeros(2), torch.tensor([0.0, -math.inf]), quantile=0.3),
    lambda: lk.tweedie_deviance(torch.tensor([-1.0, 2.0]), torch.zeros(2), power=1.5,
                                log_input=True),
    lambda: lk.tweedie_deviance(torch.tensor([math.nan, 2.0]), torch.zeros(2), power=1.5,
                                log_input=True),
    lambda: lk.tweedie_deviance(torch.tensor([1.0, 2.0]), torch.tensor([0.0, math.inf]),
                                power=1.5, log_input=True),
])
def test_errors_are_the_generic_errors(call):
    assert_same_error(call)


@pytest.mark.parametrize("call", [
    # finite inputs whose loss overflows: the generic path's inf, with checks too
    lambda: lk.pinball_loss(torch.tensor([3e38, 0.0]), torch.tensor([-3e38, 0.0]),
                            quantile=0.3),
    lambda: lk.tweedie_deviance(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 200.0]),
                                power=1.5, log_input=True),
    lambda: lk.tweedie_deviance(torch.tensor([-1.0, 2.0]), torch.zeros(2), power=1.5,
                                log_input=True, check_values=False),
    lambda: lk.tweedie_deviance(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 200.0]),
                                power=1.5, log_input=True, check_values=False),
    lambda: lk.pinball_loss(torch.tensor([3e38, 0.0]), torch.tensor([-3e38, 0.0]),
                            quantile=0.3, check_values=False),
    lambda: lk.laplace_nll(torch.zeros(2), torch.tensor([0.0, math.nan]), check_values=False),
])
def test_overflow_and_no_checks_give_the_generic_number(call):
    with native_kernels(False):
        generic = call()
    torch.testing.assert_close(call(), generic, equal_nan=True)


@pytest.mark.parametrize("fn,y,z,kw", [
    (lk.laplace_nll, torch.zeros(2), torch.zeros(2), {"scale": torch.ones(2)}),
    (lk.laplace_nll, torch.zeros(2), torch.zeros(2), {"sample_weight": [1.0, 2.0]}),
    (lk.laplace_nll, torch.zeros(2, dtype=torch.float64), torch.zeros(2), {}),
    (lk.pinball_loss, torch.zeros(2), torch.zeros(2), {"convention": "keras"}),
    (lk.pinball_loss, torch.zeros(2), torch.zeros(2), {"sample_weight": [1.0, 2.0]}),
    (lk.tweedie_deviance, torch.ones(2), torch.zeros(2), {"power": 1.5}),
    (lk.tweedie_deviance, torch.ones(2), torch.zeros(2), {"power": 2.0, "log_input": True}),
    (lk.tweedie_deviance, torch.ones(2), torch.zeros(2), {"power": 0.0, "log_input": True}),
    (lk.tweedie_deviance, torch.ones(2), torch.zeros(2), {"power": 1, "log_input": True}),
    (lk.tweedie_deviance, torch.tensor([-1.0, 1.0]), torch.zeros(2),
     {"power": 1.5, "log_input": True, "check_values": False}),
])
def test_other_calls_are_left_to_the_generic_path(fn, y, z, kw):
    assert not _taken(fn, y, z, **kw)


def test_the_kernels_are_attached():
    for fn in (lk.laplace_nll, lk.pinball_loss, lk.tweedie_deviance):
        y = torch.ones(3, dtype=torch.float64)
        assert _taken(fn, y, y.clone(), **({"power": 1.5, "log_input": True}
                                           if fn is lk.tweedie_deviance else {}))


# ------------------------------------------------------------------ Poisson with full=True


@pytest.mark.parametrize("dtype,rtol", DTYPES)
@pytest.mark.parametrize("kw", [*OPTIONS, {"unit": "bits"}, {"convention": "sklearn"}])
@pytest.mark.parametrize("shape", SHAPES)
def test_poisson_full_matches_generic(dtype, rtol, kw, shape, rng):
    y = torch.as_tensor(rng.poisson(3.0, size=shape), dtype=dtype)
    z = torch.as_tensor(rng.normal(size=shape), dtype=dtype)
    # torch.lgamma against the generic Lanczos series: the generic one is 2e-6 off at y <= 2
    # in float32 (the native one 1e-7)
    _assert_same(_both(lk.poisson_nll, y, z, full=True, **kw), rtol * 3)


def test_poisson_full_log_factorial_is_accurate_in_float32():
    y = torch.tensor([0.0, 1.0, 2.0, 3.0, 10.0, 1000.0])
    value = lk.poisson_nll(y, torch.zeros(6), full=True, reduction="none")
    exact = torch.lgamma(y.double() + 1) + 1.0  # e^0 - y·0
    torch.testing.assert_close(value.double(), exact, rtol=2e-7, atol=2e-7)


def test_poisson_full_zero_count_at_rate_zero_is_the_generic_limit():
    y = torch.tensor([0.0, 2.0], dtype=torch.float64)
    z = torch.tensor([-math.inf, 0.0], dtype=torch.float64)
    with native_kernels(False):
        generic = lk.poisson_nll(y, z, full=True, check_values=False)
    torch.testing.assert_close(lk.poisson_nll(y, z, full=True, check_values=False), generic)
    assert math.isfinite(generic)


@pytest.mark.parametrize("kw", [{"convention": "torch"}, {"log_input": False},
                                {"check_values": False, "y": [-1.0, 2.0]}])
def test_poisson_full_leaves_other_calls_to_the_generic_path(kw):
    kw = dict(kw)
    y = torch.tensor(kw.pop("y", [1.0, 2.0]))
    assert not _taken(lk.poisson_nll, y, torch.ones(2), full=True, **kw)


def test_poisson_full_second_derivatives_match_the_generic_path(rng):
    y = torch.as_tensor(rng.poisson(3.0, size=(11, 3)), dtype=torch.float64)
    z0 = torch.as_tensor(rng.normal(size=(11, 3)))
    v = torch.as_tensor(rng.normal(size=(11, 3)))
    results = []
    for enabled in (True, False):
        z = z0.clone().requires_grad_(True)
        with native_kernels(enabled):
            assert _taken(lk.poisson_nll, y, z, full=True) is enabled
            value = lk.poisson_nll(y, z, full=True)
        g, = torch.autograd.grad(value, z, create_graph=True)
        hv, = torch.autograd.grad((g * v).sum(), z)
        results.append((g.detach(), hv))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(results[0][1], results[1][1], rtol=1e-10, atol=1e-12)


def test_poisson_family_takes_the_native_kernel(rng):
    y = torch.as_tensor(rng.poisson(3.0, size=50), dtype=torch.float32)
    z = torch.as_tensor(rng.normal(size=50), dtype=torch.float32)
    fam = lk.families.Poisson()
    assert _taken(lk.poisson_nll, y, z, **fam.loss_options)
    with native_kernels(False):
        generic = fam.loss(y, z)
    torch.testing.assert_close(fam.loss(y, z), generic, rtol=3e-5, atol=1e-6)


# --------------------------------------------- mean squared log error, percentage error

CONVENTIONS = [{"convention": c} for c in ("sklearn", "torch", "optax", "keras")]


@pytest.mark.parametrize("dtype,rtol", DTYPES)
@pytest.mark.parametrize("kw", OPTIONS + CONVENTIONS)
@pytest.mark.parametrize("shape", SHAPES)
def test_mean_squared_log_error_matches_generic(dtype, rtol, kw, shape, rng):
    y = torch.as_tensor(rng.uniform(-0.9, 20.0, size=shape), dtype=dtype)
    z = torch.as_tensor(rng.uniform(-0.9, 20.0, size=shape), dtype=dtype)
    if kw.get("convention") == "keras":  # Keras clips at 1e-7: the generic path
        assert not _taken(lk.mean_squared_log_error, y, z, **kw)
        return
    _assert_same(_both(lk.mean_squared_log_error, y, z, **kw), rtol)


@pytest.mark.parametrize("dtype,rtol", DTYPES)
@pytest.mark.parametrize("kw", [*OPTIONS, *CONVENTIONS, {"eps": 0.5},
                                {"eps": 1e-3, "convention": "keras", "reduction": "none"}])
@pytest.mark.parametrize("shape", SHAPES)
def test_mean_absolute_percentage_error_matches_generic(dtype, rtol, kw, shape, rng):
    y, z = _residuals(rng, shape, dtype)
    y.view(-1)[:2] = torch.tensor([0.0, 1e-9])  # below the floor
    z.view(-1)[2] = y.view(-1)[2]  # a tie: gradient 0 on both paths
    _assert_same(_both(lk.mean_absolute_percentage_error, y, z, **kw), rtol)


@pytest.mark.parametrize("call", [
    lambda: lk.mean_squared_log_error(torch.zeros(2), torch.tensor([0.0, -1.0])),
    lambda: lk.mean_squared_log_error(torch.tensor([-2.0, 0.0]), torch.zeros(2)),
    lambda: lk.mean_squared_log_error(torch.tensor([math.inf, 0.0]), torch.zeros(2)),
    lambda: lk.mean_squared_log_error(torch.zeros(2), torch.tensor([math.nan, 0.0])),
    lambda: lk.mean_absolute_percentage_error(torch.tensor([math.inf, 1.0]), torch.zeros(2)),
    lambda: lk.mean_absolute_percentage_error(torch.ones(2), torch.tensor([1.0, math.nan])),
])
def test_msle_and_mape_errors_are_the_generic_errors(call):
    test_errors_are_the_generic_errors(call)


@pytest.mark.parametrize("call", [
    lambda: lk.mean_squared_log_error(torch.zeros(2), torch.tensor([0.0, -1.0]),
                                      check_values=False),
    lambda: lk.mean_squared_log_error(torch.zeros(2), torch.tensor([0.0, -3.0]),
                                      check_values=False, reduction="none"),
    lambda: lk.mean_absolute_percentage_error(torch.zeros(2), torch.tensor([1.0, 3e38])),
    lambda: lk.mean_absolute_percentage_error(torch.zeros(2), torch.tensor([1.0, 3e38]),
                                              check_values=False),
])
def test_msle_and_mape_without_checks_give_the_generic_number(call):
    test_overflow_and_no_checks_give_the_generic_number(call)


@pytest.mark.parametrize("case", ["msle", "mape"])
def test_msle_and_mape_second_derivatives_match_the_generic_path(case, rng):
    y = torch.as_tensor(rng.uniform(0.0, 5.0, size=(11, 3)))
    z0 = torch.as_tensor(rng.uniform(0.0, 5.0, size=(11, 3)))
    fn = lk.mean_squared_log_error if case == "msle" else lk.mean_absolute_percentage_error
    v = torch.as_tensor(rng.normal(size=(11, 3)))
    results = []
    for enabled in (True, False):
        z = z0.clone().requires_grad_(True)
        with native_kernels(enabled):
            assert _taken(fn, y, z) is enabled
            value = fn(y, z)
        g, = torch.autograd.grad(value, z, create_graph=True)
        hv, = torch.autograd.grad((g * v).sum(), z)
        results.append((g.detach(), hv))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(results[0][1], results[1][1], rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- multi-class margin loss


@pytest.mark.parametrize("dtype,rtol", DTYPES)
@pytest.mark.parametrize("kw", [*OPTIONS, {"p": 2}, {"p": 2, "margin": 0.3,
                                                     "reduction": "sum"},
                                {"margin": -0.5}, {"axis": 1}])
@pytest.mark.parametrize("labels", [torch.int64, torch.int32])
def test_multi_margin_matches_generic(dtype, rtol, kw, labels, rng):
    s = torch.as_tensor(rng.normal(scale=2.0, size=(37, 5)), dtype=dtype)
    y = torch.as_tensor(rng.integers(0, 5, size=37)).to(labels)
    s[0, y[0]] = s[0, (y[0] + 1) % 5] + 1.0  # a margin of exactly 1: the kink
    _assert_same(_both(lk.multi_margin_loss, y, s, **kw), rtol)
    # and PyTorch's own criterion
    value = lk.multi_margin_loss(y, s, **kw)
    reference = torch.nn.functional.multi_margin_loss(
        s, y.long(), p=kw.get("p", 1), margin=kw.get("margin", 1.0),
        reduction=kw.get("reduction", "mean"))
    torch.testing.assert_close(value, reference, rtol=rtol, atol=0)


@pytest.mark.parametrize("p", [1, 2])
def test_multi_margin_second_derivatives_match_the_generic_path(p, rng):
    """PyTorch has no derivative of its ``multi_margin_loss_backward``: the kernel's node
    recomputes the generic gradient by differentiable ops under ``create_graph``."""
    z0 = torch.as_tensor(rng.normal(size=(11, 4)))
    y = torch.as_tensor(rng.integers(0, 4, size=11))
    v = torch.as_tensor(rng.normal(size=(11, 4)))
    for reduction in ("mean", "sum"):
        (g1, hv1), (g2, hv2) = gradients_and_hvps(lk.multi_margin_loss, y, z0, v, p=p,
                                                  reduction=reduction)
        torch.testing.assert_close(g1, g2, rtol=1e-12, atol=1e-15)
        torch.testing.assert_close(hv1, hv2, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("call", [
    lambda: lk.multi_margin_loss(torch.tensor([0, 3]), torch.zeros(2, 3)),
    lambda: lk.multi_margin_loss(torch.tensor([0, -1]), torch.zeros(2, 3)),
    lambda: lk.multi_margin_loss(torch.tensor([0, 1]), torch.tensor([[0.0, 1.0],
                                                                     [math.nan, 0.0]])),
    # -inf scores: PyTorch's loss is finite, the generic path refuses them
    lambda: lk.multi_margin_loss(torch.tensor([0, 1]), torch.tensor([[0.0, -math.inf],
                                                                     [1.0, 0.0]])),
    lambda: lk.multi_margin_loss(torch.tensor([0, 1]), torch.tensor([[0.0, math.inf],
                                                                     [1.0, 0.0]])),
])
def test_multi_margin_errors_are_the_generic_errors(call):
    assert_same_error(call)


@pytest.mark.parametrize("y,s", [
    (torch.tensor([0, 1]), torch.tensor([[0.0, -math.inf], [1.0, 0.0]])),
    (torch.tensor([0, 1]), torch.tensor([[math.inf, math.inf], [1.0, 0.0]])),
    (torch.tensor([0, 1]), torch.tensor([[3e38, -3e38], [1.0, 0.0]])),
])
def test_multi_margin_without_checks_gives_the_generic_number(y, s):
    with native_kernels(False):
        generic = lk.multi_margin_loss(y, s, check_values=False)
    torch.testing.assert_close(lk.multi_margin_loss(y, s, check_values=False), generic,
                               equal_nan=True)


@pytest.mark.parametrize("y,s,kw", [
    (torch.tensor([0, 1]), torch.zeros(2, 3), {"class_weight": [1.0, 2.0, 3.0]}),
    (torch.tensor([0, 1]), torch.zeros(2, 3), {"sample_weight": [1.0, 2.0]}),
    (torch.tensor([0.0, 1.0]), torch.zeros(2, 3), {}),
    (torch.tensor([[0, 1]]), torch.zeros(1, 2, 3), {}),
    (torch.tensor([0, 1]), torch.zeros(3, 2), {"axis": 0}),
])
def test_multi_margin_other_calls_are_left_to_the_generic_path(y, s, kw):
    assert not _taken(lk.multi_margin_loss, y, s, **kw)
