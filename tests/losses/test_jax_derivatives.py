"""JAX paths differentiated by their analytic derivatives (``_array.with_derivative``).

Each is compared with the generic path (array-api-strict arrays, float64) for values, with
``losskit.gradient`` and finite differences for ``jax.grad`` (with respect to every argument
that autodiff may ask for), and with the analytic hessian for ``jax.hessian`` (forward over
reverse mode must work through a ``custom_jvp``).
"""

from __future__ import annotations

import array_api_strict as xps
import numpy as np
import pytest

import losskit as lk
from losskit import _array

jax = pytest.importorskip("jax")
jnp = jax.numpy


@pytest.fixture(autouse=True)
def _x64():
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", previous)


def _has_custom_jvp(fn, *args):
    return "custom_jvp_call" in str(jax.make_jaxpr(fn)(*args))


def _square_parts(xp, y, x, *, k):
    return k * (x - y) ** 2, 2.0 * k * (x - y)


def test_with_derivative_uses_the_given_derivative_and_autodiff_for_the_others():
    y, x = jnp.array([1.0, 2.0]), jnp.array([0.5, 4.0])
    f = lambda y, x: _array.with_derivative(jnp, _square_parts, y, x, k=3.0).sum()  # noqa: E731
    np.testing.assert_allclose(f(y, x), 3.0 * (0.25 + 4.0))
    np.testing.assert_allclose(jax.grad(f, argnums=1)(y, x), 6.0 * (x - y))
    np.testing.assert_allclose(jax.grad(f, argnums=0)(y, x), -6.0 * (x - y))
    gy, gx = jax.grad(f, argnums=(0, 1))(y, x)
    np.testing.assert_allclose(gx, -gy)
    np.testing.assert_allclose(jax.hessian(f, argnums=1)(y, x), 6.0 * np.eye(2))
    np.testing.assert_allclose(jax.jacfwd(jax.grad(f, argnums=1), argnums=0)(y, x),
                               -6.0 * np.eye(2))
    assert _has_custom_jvp(f, y, x)
    # a derivative that differs from the value's own shows it is the one autodiff takes
    wrong = lambda xp, y, x: (x * x, 0.0 * x)  # noqa: E731
    assert float(jax.grad(lambda x: _array.with_derivative(jnp, wrong, y, x).sum())(x)[0]) == 0
    # other libraries: the value as it is
    np.testing.assert_allclose(_array.with_derivative(np, _square_parts, np.ones(2),
                                                      np.zeros(2), k=2.0), [2.0, 2.0])


# ------------------------------------------------------------------------------ Student-t

_FAR = [0.0, -0.0, 1e-300, 3.0, -7.5, 1.2e154, -3e153, 1e200, -1e250]


def _student_inputs(rng):
    y = rng.normal(size=60) * 10.0 ** rng.integers(-3, 4, 60)
    x = rng.normal(size=60) * 10.0 ** rng.integers(-3, 4, 60)
    x[: len(_FAR)] = _FAR
    y[: len(_FAR)] = 0.0
    return y, x


@pytest.mark.parametrize("df, scale", [(3.0, 1.0), (1.0, 2.5), (1e7, 0.3), (0.01, 1.0)])
def test_student_t_jax_value_and_gradients_equal_the_generic_path(rng, df, scale):
    y, x = _student_inputs(rng)
    kw = {"df": df, "scale": scale, "reduction": "none"}
    generic = np.asarray(lk.student_t_nll(xps.asarray(y), xps.asarray(x), **kw))
    got = np.asarray(lk.student_t_nll(jnp.asarray(y), jnp.asarray(x), **kw))
    np.testing.assert_allclose(got, generic, rtol=1e-13, atol=1e-300)

    def total(y, x, s):
        return lk.student_t_nll(y, x, df=df, scale=s, reduction="sum", check_values=False)

    gy, gx, gs = jax.grad(total, argnums=(0, 1, 2))(jnp.asarray(y), jnp.asarray(x), scale)
    want = np.asarray(lk.gradient(lk.student_t_nll, xps.asarray(y), xps.asarray(x), df=df,
                                  scale=scale, reduction="sum"))
    np.testing.assert_allclose(np.asarray(gx), want, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(np.asarray(gy), -want, rtol=1e-13, atol=1e-300)
    h = 1e-6 * scale
    numeric = (total(y, x, scale + h) - total(y, x, scale - h)) / (2 * h)
    np.testing.assert_allclose(float(gs), float(numeric), rtol=1e-6)
    # lk.gradient on JAX arrays: the same closed form
    np.testing.assert_allclose(
        np.asarray(lk.gradient(lk.student_t_nll, jnp.asarray(y), jnp.asarray(x), df=df,
                               scale=scale, reduction="sum")), want, rtol=1e-13, atol=1e-300)
    assert _has_custom_jvp(total, jnp.asarray(y), jnp.asarray(x), scale)


def test_student_t_jax_hessian_is_the_analytic_one():
    x = jnp.asarray([0.0, 0.5, 2.0, -9.0, 1e200])
    y = jnp.zeros(5)
    f = lambda x: lk.student_t_nll(y, x, df=3.0, reduction="sum", check_values=False)  # noqa
    want = lk.families.StudentT(df=3.0).hessian(np.zeros(5), np.asarray(x))
    np.testing.assert_allclose(np.diag(np.asarray(jax.hessian(f)(x))), want, rtol=1e-13,
                               atol=1e-300)


def test_student_t_jax_float32_past_the_square_overflow():
    jax.config.update("jax_enable_x64", False)
    y = jnp.zeros(4, dtype=jnp.float32)
    x = jnp.asarray([1.0, -5.0, 1e20, -3e30], dtype=jnp.float32)
    value, grad = jax.value_and_grad(
        lambda x: lk.student_t_nll(y, x, df=3.0, reduction="sum", check_values=False))(x)
    want = lk.student_t_nll(np.zeros(4), np.asarray(x, np.float64), df=3.0, reduction="sum")
    np.testing.assert_allclose(float(value), want, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(grad), 4.0 * np.asarray(x, np.float64)
                               / (3.0 + np.asarray(x, np.float64) ** 2), rtol=1e-6)
    assert float(grad[2]) > 0.0 and float(grad[3]) < 0.0
