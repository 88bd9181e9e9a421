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


# ---------------------------------------------------------------------------- focal losses

def _rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


_BINARY_OPTIONS = [{"gamma": 2.0}, {"gamma": 0.5, "alpha": 0.25},
                   {"gamma": 3.0, "label_smoothing": 0.1}, {"gamma": 0.0},
                   {"gamma": 2}]


@pytest.mark.parametrize("options", _BINARY_OPTIONS)
@pytest.mark.parametrize("soft", [False, True])
def test_binary_focal_jax_equals_the_generic_path(rng, options, soft):
    y = rng.random(300) if soft else rng.integers(0, 2, 300).astype(float)
    z = rng.normal(size=300) * 8
    z[:10] = [0.0, -0.0, 30.0, -30.0, 100.0, -100.0, 17.0, -17.0, 800.0, -800.0]
    kw = {"from_logits": True, "reduction": "none", **options}
    generic = lk.binary_focal_loss(xps.asarray(y), xps.asarray(z), **kw)
    assert _rel(lk.binary_focal_loss(jnp.asarray(y), jnp.asarray(z), **kw), generic) < 1e-13
    kw["reduction"] = "sum"

    def total(a, b):
        return lk.binary_focal_loss(a, b, check_values=False, **kw)

    gy, gz = jax.grad(total, argnums=(0, 1))(jnp.asarray(y), jnp.asarray(z))
    assert _rel(gz, lk.gradient(lk.binary_focal_loss, xps.asarray(y), xps.asarray(z),
                                **kw)) < 1e-13
    # the NumPy fast path groups a soft label's BCE as log1p(e) + t z (issue 19, fourth
    # round): within ulps of the generic terms, which the gradient's cancellation near its
    # zeros amplifies (both paths ~1e-12 from the exact value there): an absolute tolerance
    # of the gradient's scale
    g_jax = np.asarray(lk.gradient(lk.binary_focal_loss, jnp.asarray(y), jnp.asarray(z), **kw))
    g_np = lk.gradient(lk.binary_focal_loss, y, z, **kw)
    np.testing.assert_allclose(g_jax, g_np, rtol=1e-13, atol=1e-13 * np.max(np.abs(g_np)))
    assert _has_custom_jvp(total, jnp.asarray(y), jnp.asarray(z))
    if soft:  # the targets' derivative: autodiff of the value
        h = 1e-6
        for i in (11, 40, 200):
            e = np.zeros_like(y)
            e[i] = h
            numeric = (total(y + e, z) - total(y - e, z)) / (2 * h)
            np.testing.assert_allclose(float(gy[i]), float(numeric), rtol=1e-6, atol=1e-9)


def test_binary_focal_jax_hessian_and_a_traced_gamma():
    from losskit.losses._classification_catalogue import _binary_focal_hessian

    y, z = np.array([1.0, 0.0, 1.0, 0.0, 0.3]), np.array([0.0, 0.5, -3.0, 20.0, 1.5])

    def total(b, gamma=2.0):
        return lk.binary_focal_loss(jnp.asarray(y), b, gamma=gamma, alpha=0.25,
                                    from_logits=True, check_values=False, reduction="sum")

    hessian = np.diag(np.asarray(jax.hessian(total)(jnp.asarray(z))))
    want = _binary_focal_hessian(np, y, z, gamma=2.0, alpha=0.25)
    np.testing.assert_allclose(hessian, want, rtol=1e-12, atol=1e-300)
    # a traced gamma takes autodiff of the value (the derivative in gamma as well)
    h = 1e-6
    d_gamma = jax.grad(lambda g: total(jnp.asarray(z), g))(2.0)
    numeric = (total(jnp.asarray(z), 2.0 + h) - total(jnp.asarray(z), 2.0 - h)) / (2 * h)
    np.testing.assert_allclose(float(d_gamma), float(numeric), rtol=1e-6)


def test_binary_focal_gradient_of_a_confident_correct_logit_keeps_its_digits():
    # sigma(z) - y was p - 1 there: 3e-4 wrong in float64 at z = 30, a third off in float32
    z = 30.0
    q = np.exp(-z) / (1.0 + np.exp(-z))
    p, bce = 1.0 / (1.0 + np.exp(-z)), np.log1p(np.exp(-z))
    want = q * q * (-2.0 * bce * p - q)
    got = lk.gradient(lk.binary_focal_loss, [1.0], [z], from_logits=True, gamma=2.0)
    np.testing.assert_allclose(got[0], want, rtol=1e-12)
    got32 = lk.gradient(lk.binary_focal_loss, np.ones(1, np.float32),
                        np.full(1, 20.0, np.float32), from_logits=True, gamma=2.0)
    q = np.exp(-20.0)
    np.testing.assert_allclose(got32[0], -3.0 * q**3, rtol=1e-5)


def _focal_rows(rng, n=40, c=5):
    z = rng.normal(size=(n, c)) * 3
    z[0, 1], z[1, 0], z[2] = 60.0, -60.0, [1e4, -1e4, 0.0, 0.0, 0.0]
    p = rng.dirichlet(np.ones(c), size=n)
    p[: n // 2] = np.eye(c)[rng.integers(0, c, n // 2)]
    return p, z


@pytest.mark.parametrize("options", [{"gamma": 2.0}, {"gamma": 1.5, "alpha": 0.25},
                                     {"gamma": 3.0, "label_smoothing": 0.1}, {"gamma": 0.0},
                                     {"gamma": 2, "sample_weight": "w"}])
def test_categorical_focal_jax_equals_the_generic_path(rng, options):
    p, z = _focal_rows(rng)
    options = dict(options)
    if options.get("sample_weight") == "w":
        options["sample_weight"] = rng.random(len(p))
    kw = {"from_logits": True, **options}
    generic = lk.categorical_focal_loss(xps.asarray(p), xps.asarray(z), reduction="none",
                                        **{k: v for k, v in kw.items() if k != "sample_weight"})
    got = lk.categorical_focal_loss(jnp.asarray(p), jnp.asarray(z), reduction="none",
                                    **{k: v for k, v in kw.items() if k != "sample_weight"})
    assert _rel(got, generic) < 1e-13

    def total(a, b):
        return lk.categorical_focal_loss(a, b, check_values=False, **kw)

    gp, gz = jax.grad(total, argnums=(0, 1))(jnp.asarray(p), jnp.asarray(z))
    generic_kw = {k: xps.asarray(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    want = lk.gradient(lk.categorical_focal_loss, xps.asarray(p), xps.asarray(z), **generic_kw)
    assert _rel(gz, want) < 1e-12
    assert _rel(lk.gradient(lk.categorical_focal_loss, jnp.asarray(p), jnp.asarray(z), **kw),
                want) < 1e-12
    assert _has_custom_jvp(total, jnp.asarray(p), jnp.asarray(z))
    # the targets' derivative (a soft row): autodiff of the value
    h, e = 1e-6, np.zeros_like(p)
    e[30, 2] = h
    numeric = (total(p + e, z) - total(p - e, z)) / (2 * h)
    np.testing.assert_allclose(float(gp[30, 2]), float(numeric), rtol=1e-6, atol=1e-9)


def test_categorical_focal_jax_hessian_is_the_gradient_s_derivative(rng):
    p, z = _focal_rows(rng)
    p, z = p[28:30], z[28:30]

    def total(b):
        return lk.categorical_focal_loss(jnp.asarray(p), b, from_logits=True, gamma=2.0,
                                         check_values=False, reduction="sum")

    hessian = np.asarray(jax.hessian(total)(jnp.asarray(z)))
    h, numeric = 1e-5, np.zeros(z.shape * 2)
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            e = np.zeros_like(z)
            e[i, j] = h
            numeric[:, :, i, j] = (
                lk.gradient(lk.categorical_focal_loss, p, z + e, from_logits=True, gamma=2.0,
                            reduction="sum")
                - lk.gradient(lk.categorical_focal_loss, p, z - e, from_logits=True, gamma=2.0,
                              reduction="sum")) / (2 * h)
    np.testing.assert_allclose(hessian, numeric, atol=1e-8)


# -------------------------------------------------------------------------------- Tweedie

@pytest.mark.parametrize("power, log_input", [(1.5, True), (1.5, False), (1.2, True), (3.0, True),
                                              (2.0, True), (1.0, True), (0.0, True),
                                              (-1.0, True), (-1.0, False)])
def test_tweedie_jax_equals_the_generic_path(rng, power, log_input):
    n = 80
    y = rng.gamma(2.0, 1.0, n) * 10.0 ** rng.integers(-2, 3, n)
    if 1.0 <= power < 2.0:
        y[:10] = 0.0
    elif power <= 0.0:
        y[:10] = -rng.random(10)
    z = rng.normal(size=n)
    z[10:14] = np.log(y[10:14]) + np.array([0.0, 1e-9, -1e-7, 3e-5])  # the mean at the target
    if not log_input:
        z = np.exp(z)
    kw = {"power": power, "log_input": log_input}
    generic = lk.tweedie_deviance(xps.asarray(y), xps.asarray(z), reduction="none", **kw)
    got = lk.tweedie_deviance(jnp.asarray(y), jnp.asarray(z), reduction="none", **kw)
    # at the target the deviance is ~L^2, L = log(mu/y) rounded: an ulp of XLA's log against
    # NumPy's moves it by ~1e-9 relative (the generic path on JAX did the same)
    near = np.zeros(n, bool)
    near[10:14] = True
    np.testing.assert_allclose(np.asarray(got)[~near], np.asarray(generic)[~near], rtol=1e-13,
                               atol=1e-300)
    np.testing.assert_allclose(np.asarray(got)[near], np.asarray(generic)[near], rtol=1e-6,
                               atol=1e-28)

    def total(a, b):
        return lk.tweedie_deviance(a, b, reduction="sum", check_values=False, **kw)

    gy, gz = jax.grad(total, argnums=(0, 1))(jnp.asarray(y), jnp.asarray(z))
    want = np.asarray(lk.gradient(lk.tweedie_deviance, xps.asarray(y), xps.asarray(z),
                                  reduction="sum", **kw))
    scale = np.abs(want).max()
    np.testing.assert_allclose(np.asarray(gz), want, rtol=1e-12, atol=1e-14 * scale)
    np.testing.assert_allclose(
        np.asarray(lk.gradient(lk.tweedie_deviance, jnp.asarray(y), jnp.asarray(z),
                               reduction="sum", **kw)), want, rtol=1e-12, atol=1e-14 * scale)
    assert _has_custom_jvp(total, jnp.asarray(y), jnp.asarray(z))
    h = 1e-6
    for i in (20, 50):  # the targets' derivative: autodiff of the value
        e = np.zeros_like(y)
        e[i] = h * y[i]
        numeric = (total(y + e, z) - total(y - e, z)) / (2 * h * y[i])
        np.testing.assert_allclose(float(gy[i]), float(numeric), rtol=1e-6)
    # the second derivative (jax.hessian differentiates the derivative)
    hessian = np.diag(np.asarray(jax.hessian(lambda b: total(jnp.asarray(y[:20]), b))(
        jnp.asarray(z[:20]))))
    numeric = np.array([
        (lk.gradient(lk.tweedie_deviance, y[:20], z[:20] + h * np.eye(20)[i],
                     reduction="sum", **kw)[i]
         - lk.gradient(lk.tweedie_deviance, y[:20], z[:20] - h * np.eye(20)[i],
                       reduction="sum", **kw)[i]) / (2 * h) for i in range(20)])
    np.testing.assert_allclose(hessian, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("power", [1.5, 1.2, -1.0])
def test_tweedie_log_mean_past_exp_overflow_for_zero_targets(power):
    # y = 0: d = 2 mu^(2-p)/(2-p), inf for a log-mean past exp's overflow and 0 below its
    # underflow; the product e^z * e^((1-p)z) (inf * 0) and 0 * mu^(1-p) (0 * inf) were NaN
    kw = {"power": power, "log_input": True}
    z = np.array([1e4, 3e3, -3e3, -1e4, 0.5])
    y = np.zeros(5)
    with np.errstate(over="ignore"):
        want = 2.0 * np.exp((2.0 - power) * z) / (2.0 - power)
    for xp in (np, jnp, xps):
        got = np.asarray(lk.tweedie_deviance(xp.asarray(y), xp.asarray(z), reduction="none",
                                             **kw))
        np.testing.assert_allclose(got, want, rtol=1e-14, err_msg=xp.__name__)
    # the derivative in the log-mean, 2 e^((2-p) z) for y = 0: inf and 0, not NaN
    g = jax.grad(lambda b: lk.tweedie_deviance(jnp.asarray(y), b, reduction="sum",
                                               check_values=False, **kw))(jnp.asarray(z))
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(np.asarray(g), 2.0 * np.exp((2.0 - power) * z), rtol=1e-14)
    # float32: the NaN began where e^((1-p) z) underflows (z > 206 at power 1.5)
    z32 = jnp.asarray([300.0, -300.0], dtype=jnp.float32)
    got = lk.tweedie_deviance(jnp.zeros(2, jnp.float32), z32, reduction="none", **kw)
    np.testing.assert_array_equal(np.asarray(got), [np.inf, 0.0])
