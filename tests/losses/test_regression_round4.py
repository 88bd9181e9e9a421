"""Issue 19, fourth round: the NumPy regression paths in place give the generic path's numbers.

The squared, absolute, Huber, pinball and percentage errors compute their values and
gradients on NumPy in fewer passes and buffers (a float64 target's cast copy reused as
scratch, the gradient written into the difference's buffer, Huber's value from its clipped
residual, the pinball loss as a maximum), and so does the Gamma NLL.
Each is compared bit for bit with the same loss on
array-api-strict arrays (the generic code), in float32 and float64, with several outputs,
weights, every reduction, and edges (ties, ±0, the bend, differences that overflow). The
JAX Student-t value (one form for both regimes) is compared with an exact reference.
"""

from __future__ import annotations

import math

import array_api_strict as xps
import numpy as np
import pytest

import losskit as lk
from losskit.losses._core import prepare
from losskit.losses._elementwise import scaled_in_place, spent_target

LOSSES = [
    (lk.mean_squared_error, {}),
    (lk.mean_absolute_error, {}),
    (lk.mean_absolute_error, {"convention": "keras"}),
    (lk.huber_loss, {"delta": 1.0}),
    (lk.huber_loss, {"delta": 0.3}),
    (lk.pinball_loss, {"quantile": 0.9}),
    (lk.pinball_loss, {"quantile": 0.3}),
    (lk.mean_absolute_percentage_error, {}),
    (lk.mean_absolute_percentage_error, {"convention": "keras"}),
    (lk.mean_absolute_percentage_error, {"eps": 0.5}),
]
IDS = [f"{fn.__name__}-{i}" for i, (fn, _) in enumerate(LOSSES)]


def _pair(rng, dtype, target_dtype, shape):
    y = rng.normal(size=shape) * 2
    z = y + rng.normal(size=shape) * 1.5
    flat_y, flat_z = y.reshape(-1), z.reshape(-1)
    # ties, signed zeros, the Huber bends, a zero target (MAPE's floor)
    flat_y[:8] = [1.0, 0.0, -0.0, 0.0, 2.0, -2.0, 0.5, 0.0]
    flat_z[:8] = [1.0, -0.0, 0.0, 3.0, 3.0, -3.0, 0.2, 1e-3]
    return y.astype(target_dtype), z.astype(dtype)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("shape", [(301,), (60, 3)], ids=["1d", "k3"])
@pytest.mark.parametrize("dtypes", [(np.float32, np.float64), (np.float32, np.float32),
                                    (np.float64, np.float64)],
                         ids=["f32-target64", "f32", "f64"])
@pytest.mark.parametrize("index", range(len(LOSSES)), ids=IDS)
def test_numpy_paths_are_the_generic_path_bit_for_bit(index, dtypes, shape, weighted,
                                                      reduction):
    fn, options = LOSSES[index]
    rng = np.random.default_rng(index)
    y, z = _pair(rng, *dtypes, shape)
    weight = rng.random(shape[0]) if weighted else None
    if weighted:
        weight[:3] = 0.0
    y_copy, z_copy = y.copy(), z.copy()
    extra = {} if weight is None else {"sample_weight": weight}
    value, grad = lk.value_and_gradient(fn, y, z, reduction=reduction, **options, **extra)
    # the caller's arrays are left alone (a float64 target's cast copy is the scratch)
    np.testing.assert_array_equal(y, y_copy)
    np.testing.assert_array_equal(z, z_copy)
    generic_extra = {} if weight is None else {"sample_weight": xps.asarray(weight)}
    generic_value, generic_grad = lk.value_and_gradient(
        fn, xps.asarray(y.astype(z.dtype)), xps.asarray(z), reduction=reduction, **options,
        **generic_extra)
    np.testing.assert_array_equal(value, np.asarray(generic_value))
    np.testing.assert_array_equal(grad, np.asarray(generic_grad))
    assert grad.dtype == z.dtype
    np.testing.assert_array_equal(fn(y, z, reduction=reduction, **options, **extra), value)


@pytest.mark.parametrize("index", range(len(LOSSES)), ids=IDS)
def test_the_gradient_after_its_buffer_was_given_up(index):
    # scaled_gradient writes into a buffer of the loss's own once; any later gradient (the
    # generic one) still reads the inputs, not that buffer
    fn, options = LOSSES[index]
    y, z = _pair(np.random.default_rng(1), np.float32, np.float64, (50,))
    parts = fn.spec.body(y, z, **options)
    scale = 1.0 / 50
    first = parts.scaled_gradient(scale)
    expected = np.asarray(lk.gradient(fn, xps.asarray(y.astype(np.float32)), xps.asarray(z),
                                      **options))
    np.testing.assert_array_equal(first, expected)
    np.testing.assert_array_equal(parts.scaled_gradient(scale), expected)
    np.testing.assert_array_equal(parts.gradient() * np.float32(scale), expected)


def test_spent_target_is_only_a_cast_copy():
    z = np.zeros(4, np.float32)
    y64 = np.ones(4)
    assert spent_target(y64, prepare("f", y64, z)) is not None
    y32 = np.ones(4, np.float32)
    assert spent_target(y32, prepare("f", y32, z)) is None  # the caller's own array
    assert spent_target([1.0, 1.0, 1.0, 1.0], prepare("f", [1.0] * 4, z)) is None
    z64 = np.zeros(4)
    assert spent_target(y64, prepare("f", y64, z64)) is None


def test_scaled_in_place_takes_the_generic_path_for_weights_and_a_second_call():
    calls = []

    def derivative():
        calls.append(1)
        return np.array([2.0, 4.0])

    scaled = scaled_in_place(lambda: np.array([1.0, 2.0]), derivative, 2)
    np.testing.assert_array_equal(scaled(np.array([0.0, 3.0])), [0.0, 6.0])  # array factor
    np.testing.assert_array_equal(scaled(0.5), [0.5, 1.0])  # the buffer, halved and scaled
    np.testing.assert_array_equal(scaled(0.5), [0.5, 1.0])  # again: the generic gradient
    assert calls == [1]


@pytest.mark.parametrize("fn", [lk.mean_squared_error, lk.mean_absolute_error,
                                lk.pinball_loss, lk.mean_absolute_percentage_error])
def test_inputs_are_still_checked_with_their_messages(fn):
    for y, p, bad in [([1.0, math.nan], [0.0, 0.0], "y_true"),
                      ([1.0, 0.0], [0.0, -math.inf], "y_pred"),
                      ([math.inf, 0.0], [math.inf, 0.0], "y_true")]:
        with pytest.raises(ValueError, match=f"{fn.__name__}: {bad} has NaN or infinite"):
            lk.value_and_gradient(fn, np.array(y), np.array(p, np.float32))


def test_mse_difference_that_overflows_is_an_infinite_loss_not_an_error():
    value, grad = lk.value_and_gradient(lk.mean_squared_error,
                                        np.array([-3e38, 0.0]), np.array([3e38, 0.0],
                                                                         np.float32))
    assert value == math.inf
    assert grad[0] == math.inf and grad[1] == 0.0


def test_jax_student_t_value_is_exact_in_both_regimes():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    a = np.concatenate([np.logspace(-20, 38, 2000), [0.0, 1.0, 3.0]]).astype(np.float32)
    a = np.concatenate([a, -a])
    for df, scale in [(3.0, 1.0), (1.0, 2.5), (30.0, 0.1)]:
        y = np.zeros_like(a)
        values = np.asarray(lk.student_t_nll(jnp.asarray(y), jnp.asarray(a), df=df,
                                             scale=scale, reduction="none",
                                             check_values=False), dtype=np.float64)
        r = a.astype(np.float64) / scale
        with np.errstate(over="ignore", divide="ignore"):
            log_term = np.where(np.abs(r) < 1e150, np.log1p(r * r / df),
                                2 * np.log(np.abs(r)) - math.log(df))
        exact = np.asarray(lk.student_t_nll(np.zeros(1), np.zeros(1), df=df, scale=scale,
                                            reduction="none"))[0] + 0.5 * (df + 1) * log_term
        assert np.all(np.isfinite(values))
        np.testing.assert_allclose(values, exact, rtol=4 * np.finfo(np.float32).eps, atol=1e-6)
    edges = np.asarray(lk.student_t_nll(jnp.zeros(3), jnp.array([math.inf, -math.inf, math.nan]),
                                        df=3.0, reduction="none", check_values=False))
    assert edges[0] == math.inf and edges[1] == math.inf and math.isnan(edges[2])


@pytest.mark.parametrize("options", [{"shape": 2.0, "log_input": True},
                                     {"shape": 1.0, "log_input": True},
                                     {"shape": 0.3, "log_input": True, "full": True}])
@pytest.mark.parametrize("dtypes", [(np.float32, np.float64), (np.float64, np.float64)],
                         ids=["f32-target64", "f64"])
@pytest.mark.parametrize("shape", [(301,), (60, 3)], ids=["1d", "k3"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_gamma_numpy_path_is_the_generic_path_bit_for_bit(options, dtypes, shape, weighted):
    rng = np.random.default_rng(3)
    y = (rng.gamma(2.0, size=shape) + 1e-3).astype(dtypes[1])
    eta = (rng.normal(size=shape) * 3).astype(dtypes[0])
    eta.reshape(-1)[:4] = [0.0, -0.0, 80.0, -80.0]
    extra = {"sample_weight": rng.random(shape[0])} if weighted else {}
    for reduction in ("mean", "sum", "none"):
        value, grad = lk.value_and_gradient(lk.gamma_nll, y, eta, reduction=reduction,
                                            **options, **extra)
        generic_value, generic_grad = lk.value_and_gradient(
            lk.gamma_nll, xps.asarray(y.astype(eta.dtype)), xps.asarray(eta),
            reduction=reduction, **options,
            **{k: xps.asarray(v) for k, v in extra.items()})
        np.testing.assert_array_equal(value, np.asarray(generic_value))
        np.testing.assert_array_equal(grad, np.asarray(generic_grad))
    parts = lk.gamma_nll.spec.body(y, eta, **options)
    first = parts.scaled_gradient(0.5)
    np.testing.assert_array_equal(parts.scaled_gradient(0.5), first)  # the generic path


@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_von_mises_fisher_checks_in_fewer_passes_keep_their_messages(library):
    if library == "torch":
        torch = pytest.importorskip("torch")
        convert = torch.from_numpy
    else:
        def convert(a):
            return a
    rng = np.random.default_rng(5)
    x = rng.normal(size=(500, 3))
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    eta = rng.normal(size=(500, 3)).astype(np.float32)
    lk.von_mises_fisher_nll(convert(x), convert(eta))  # unit vectors (float64 cast to float32) pass
    for scale, row in [(1.0 + 3e-6, 17), (1.0 - 3e-6, 250), (0.0, 499)]:
        bad = x.copy()
        bad[row] *= scale
        with pytest.raises(ValueError, match=f"y_true has a vector of norm .* at index {row}, "
                                             "not a unit vector"):
            lk.von_mises_fisher_nll(convert(bad), convert(eta))
    for name, y, p in [("y_true", np.where(np.arange(1500).reshape(500, 3) == 7, np.nan, x),
                        eta),
                       ("y_pred", x, np.where(np.arange(1500).reshape(500, 3) == 9, np.inf,
                                              eta))]:
        with pytest.raises(ValueError, match=f"von_mises_fisher_nll: {name} has NaN or "
                                             "infinite"):
            lk.von_mises_fisher_nll(convert(y), convert(p))
    # within the tolerance at both ends: no error
    edge = x.copy()
    edge[3] *= 1.0 + 5e-7
    edge[4] *= 1.0 - 5e-7
    lk.von_mises_fisher_nll(convert(edge), convert(eta.astype(np.float64)))


@pytest.mark.parametrize("fn, options", [
    (lk.tweedie_deviance, {"power": 1.5, "log_input": True}),
    (lk.tweedie_deviance, {"power": 1.2, "log_input": True}),
    (lk.student_t_nll, {"df": 3.0}),
    (lk.log_cosh_loss, {}),
    (lk.huber_loss, {"delta": 1.0}),
    (lk.gamma_nll, {"shape": 2.0, "log_input": True}),
])
def test_jax_jit_values_of_large_batches_are_the_numpy_values(fn, options):
    # XLA's CPU backend (jaxlib 0.10) miscompiles some fused reductions of large arrays:
    # jit(sum(expm1(z / 2) + expm1(-z / 2))) over 1e4 normal z is 2705.35 where the sum is
    # 2650.42 (exact below about 1e4 elements). The losses' JAX forms are checked at a size
    # that reaches it, against NumPy in float64
    jax = pytest.importorskip("jax")
    rng = np.random.default_rng(7)
    n = 20_000
    y = rng.gamma(2.0, size=n) + 0.5
    z = (np.log(y) + rng.normal(size=n)).astype(np.float32)
    jitted = jax.jit(lambda a, b: fn(a, b, check_values=False, **options))
    value = float(jitted(jax.numpy.asarray(y.astype(np.float32)), jax.numpy.asarray(z)))
    expected = float(fn(y.astype(np.float32).astype(np.float64), z.astype(np.float64),
                        **options))
    assert value == pytest.approx(expected, rel=2e-5)


def test_von_mises_fisher_torch_value_by_columns_is_the_reduction():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    x = rng.normal(size=(4000, 3))
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    eta = torch.from_numpy((rng.normal(size=(4000, 3)) * 4).astype(np.float32))
    y = torch.from_numpy(x.astype(np.float32))
    with torch.no_grad():  # the column sums
        plain = lk.von_mises_fisher_nll(y, eta, reduction="none")
    leaf = eta.clone().requires_grad_()
    tracked = lk.von_mises_fisher_nll(y, leaf, reduction="none")  # torch's reduction
    torch.testing.assert_close(plain, tracked.detach(), rtol=0, atol=0)
    tracked.sum().backward()
    expected = lk.gradient(lk.von_mises_fisher_nll, y, eta, reduction="sum")
    torch.testing.assert_close(leaf.grad, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("power", [1.01, 1.1, 1.5, 1.9])
@pytest.mark.parametrize("weighted", [False, True])
def test_tweedie_torch_gradient_is_never_nan_past_float32_exp_range(power, weighted):
    # float32 log-means from 89 overflow e^z; with a sample_weight the call takes the generic
    # path, whose autograd went through the dropped branch of a where (0 * inf = NaN)
    torch = pytest.importorskip("torch")
    z = torch.tensor([89.5, 95.0, 1.0, 95.0, -3.0], dtype=torch.float32, requires_grad=True)
    y = torch.tensor([1e-30, 2.0, 3.0, 0.0, 0.0])
    w = torch.tensor([1.0, 2.0, 1.0, 1.0, 3.0])
    kwargs = {"sample_weight": w} if weighted else {}
    value = lk.tweedie_deviance(y, z, power=power, log_input=True, **kwargs)
    value.backward()
    z64 = z.detach().double().requires_grad_()
    y64, w64 = y.double(), (w if weighted else torch.ones(5)).double()
    a, b = 2.0 - power, 1.0 - power
    textbook = 2.0 * (y64 ** a / (a * b) - y64 * torch.exp(b * z64) / b + torch.exp(a * z64) / a)
    reference = (w64 * textbook).sum() / w64.sum()
    reference.backward()
    expected = z64.grad.numpy()
    got = z.grad.double().numpy()
    assert not np.isnan(got).any()
    fits = np.abs(expected) < float(np.finfo(np.float32).max)
    np.testing.assert_allclose(got[fits], expected[fits], rtol=2e-5)
    assert np.isinf(got[~fits]).all()
    if np.isfinite(reference.item()) and abs(reference.item()) < 3e38:
        assert value.item() == pytest.approx(reference.item(), rel=2e-5)


@pytest.mark.parametrize("size", [64, 8192])
def test_jax_student_t_both_forms_agree_with_float64(size):
    # below _STUDENT_T_SMALL elements the value takes c log1p(a^2) (fewer ops: a 64-row
    # jit(value_and_grad) stays under XLA's inline threshold), from it 2c log1p(sqrt form)
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    from losskit.losses._likelihood import _STUDENT_T_SMALL
    assert 64 < _STUDENT_T_SMALL <= 8192
    rng = np.random.default_rng(size)
    r = rng.normal(size=size) * 10.0 ** rng.integers(-20, 21, size)
    r[:4] = [0.0, 1e19, -3e19, 1e-20]
    y = np.zeros(size, dtype=np.float32)
    got = np.asarray(lk.student_t_nll(jnp.asarray(y), jnp.asarray(r, dtype=jnp.float32),
                                      df=3.0, reduction="none", check_values=False))
    expected = lk.student_t_nll(y.astype(np.float64), r.astype(np.float32).astype(np.float64),
                                df=3.0, reduction="none")
    np.testing.assert_allclose(got, expected, rtol=3e-6, atol=1e-6)
    grad = jax.grad(lambda z: lk.student_t_nll(jnp.asarray(y), z, df=3.0,
                                               check_values=False))(jnp.asarray(r, jnp.float32))
    assert np.isfinite(np.asarray(grad)).all()
