"""The regression catalogue on every backend: same numbers, native arrays, dtypes, autograd, jit."""

from __future__ import annotations

import numpy as np
import pytest
from test_regression_catalogue import CASES, N, case

import losskit as lk

# every loss and every input form (log inputs, parameter arrays, multi-output), not every power:
# JAX dispatches each new eager operation slowly, so the backend matrix is kept to these
BACKEND_CASES = ["mae-2d", "huber", "log_cosh", "msle", "mape", "pinball", "poisson-log",
                 "poisson-rate-full", "gaussian-var", "gaussian-log_var", "laplace", "student_t",
                 "gamma-full", "gamma-log", "mixture", "mixture-scale-2d", "tweedie-1.0",
                 "tweedie-1.5-log", "nb-learned", "nb-alpha-array-2d", "nb-mean-full"]
assert set(BACKEND_CASES) <= set(CASES)
# one case per loss for the dtype matrix
DTYPE_CASES = ["mae-2d", "huber", "log_cosh", "msle", "mape", "pinball", "poisson-rate-full",
               "gaussian-log_var", "laplace", "student_t", "gamma-log", "mixture",
               "tweedie-1.5-log", "nb-learned"]


def _options_on(backend, options):
    return {k: backend.asarray(v) if isinstance(v, np.ndarray) else v for k, v in options.items()}


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("name", BACKEND_CASES)
def test_same_numbers_and_array_type_on_every_backend(backend, rng, name, reduction):
    loss, y, p, options = case(name)
    w = rng.uniform(0.1, 2, N)
    expected = loss(y, p, sample_weight=w, reduction=reduction, **options)
    yb, pb, wb = backend.asarray(y), backend.asarray(p), backend.asarray(w)
    ob = _options_on(backend, options)
    out = loss(yb, pb, sample_weight=wb, reduction=reduction, **ob)
    assert backend.is_native(out)
    np.testing.assert_allclose(backend.to_numpy(out), expected, rtol=1e-12)
    value, grad = lk.value_and_gradient(loss, yb, pb, sample_weight=wb, reduction=reduction,
                                        **ob)
    assert backend.is_native(grad) and tuple(grad.shape) == tuple(np.shape(p))
    np.testing.assert_allclose(backend.to_numpy(value), expected, rtol=1e-12)
    np.testing.assert_allclose(
        backend.to_numpy(grad),
        lk.gradient(loss, y, p, sample_weight=w, reduction=reduction, **options),
        rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", ["gaussian-var", "laplace", "student_t", "mixture",
                                  "nb-alpha-array-2d"])
def test_numpy_parameters_with_other_backends(backend, name):
    # targets and parameter arrays kept on the host are moved to y_pred's library
    loss, y, p, options = case(name)
    out = loss(y, backend.asarray(p), **options)
    assert backend.is_native(out)
    np.testing.assert_allclose(backend.to_numpy(out), loss(y, p, **options), rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
@pytest.mark.parametrize("name", DTYPE_CASES)
def test_low_precision_is_computed_in_float32_and_returned_in_its_dtype(backend, name, dtype):
    if (dtype == "bfloat16" and backend.name in ("numpy", "array_api_strict")) or (
            dtype == "float16" and backend.name == "array_api_strict"):
        pytest.skip(f"{backend.name} has no {dtype}")
    if dtype == "float16" and backend.name == "jax":
        pytest.skip("float16 is covered by numpy and torch; JAX's low precision is bfloat16")
    loss, y, p, options = case(name)
    pb = backend.asarray(p, dtype)
    yb = backend.asarray(y, dtype)
    ob = {k: backend.asarray(v, dtype) if isinstance(v, np.ndarray) else v
          for k, v in options.items()}
    out = loss(yb, pb, **ob)
    assert out.dtype == backend.dtype(dtype)
    grad = lk.gradient(loss, yb, pb, **ob)
    assert grad.dtype == backend.dtype(dtype)
    # the reference: the same rounded inputs in float64
    rounded = {k: backend.to_numpy(v).astype("float64") if k in options and isinstance(
        options[k], np.ndarray) else v for k, v in ob.items()}
    expected = float(loss(backend.to_numpy(yb).astype("float64"),
                          backend.to_numpy(pb).astype("float64"), **rounded))
    # float32 compute: 1e-6; the result then rounds to the input dtype
    tolerance = {"float16": 1e-3, "bfloat16": 8e-3, "float32": 1e-6}[dtype]
    assert float(backend.to_numpy(out)) == pytest.approx(expected, rel=tolerance, abs=tolerance)


@pytest.mark.parametrize("name", CASES)
def test_torch_autograd_flows_through_in_float32(name):
    torch = pytest.importorskip("torch")
    loss, y, p, options = case(name)
    pt = torch.tensor(p, dtype=torch.float32, requires_grad=True)
    topts = {k: torch.tensor(v, dtype=torch.float32) if isinstance(v, np.ndarray) else v
             for k, v in options.items()}
    out = loss(torch.tensor(y, dtype=torch.float32), pt, **topts)
    out.backward()
    ours = lk.gradient(loss, np.float32(y), np.float32(p),
                       **{k: np.float32(v) if isinstance(v, np.ndarray) else v
                          for k, v in options.items()})
    np.testing.assert_allclose(pt.grad.numpy(), ours, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", CASES)
def test_jax_grad_and_jit_flow_through(name):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    loss, y, p, options = case(name)
    jopts = {k: jnp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in options.items()}
    yj = jnp.asarray(y)

    def f(pred):
        return loss(yj, pred, check_values=False, **jopts)

    value = jax.jit(f)(jnp.asarray(p))
    np.testing.assert_allclose(np.asarray(value), loss(y, p, **options), rtol=1e-12)
    grad = jax.jit(jax.grad(f))(jnp.asarray(p))
    np.testing.assert_allclose(np.asarray(grad), lk.gradient(loss, y, p, **options),
                               rtol=1e-10, atol=1e-15)


def test_value_checks_inside_jit_ask_for_check_values_false():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    with pytest.raises(TypeError, match=r"poisson_nll: .*check_values=False"):
        jax.jit(lambda p: lk.poisson_nll(jnp.ones(3), p, check_values=True))(jnp.zeros(3))
