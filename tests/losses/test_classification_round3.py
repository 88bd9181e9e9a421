"""Issue 19, third round: the faster classification paths give the numbers of the paths they
replace (or the analytic gradient), on edge inputs, in float32 and float64.

- JAX binary cross-entropy from logits: one ``exp`` and one ``log1p`` with an analytic
  derivative (``_jax_logistic_parts``), against the generic two-``log_sigmoid`` form;
- JAX hinge signs ``y (y + 1) − 1`` (no comparison for XLA to fuse into the sum);
- JAX sparse cross-entropy of a few classes (``_jax_sparse_parts``), ``+inf`` rows included;
- NumPy ``row_dot`` in one thread (no BLAS matrix-vector product);
- NumPy categorical cross-entropy from probabilities (the clip's mask left to the gradient).
"""

from __future__ import annotations

import math
import re
import warnings

import array_api_strict as xps
import numpy as np
import pytest

import losskit as lk
from losskit import _array
from losskit.losses import _classification as cls

jax = pytest.importorskip("jax")
jnp = jax.numpy

LOGITS = [-math.inf, -1e30, -100.0, -20.0, -17.0, -1.0, -0.0, 0.0, 1e-30, 1.0, 17.0, 20.0, 100.0,
          1e30, math.inf]


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def dtype(request):
    return request.param


@pytest.fixture
def x64(dtype):
    """float64 needs JAX's x64 mode; restored afterwards."""
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", dtype == np.float64)
    yield
    jax.config.update("jax_enable_x64", before)


def _primitives(fn, *args):
    """The primitives of ``fn``'s jaxpr, nested ones included (read from its text)."""
    return re.findall(r"= ([a-z_][\w-]*)", str(jax.make_jaxpr(fn)(*args)))


# ------------------------------------------------------------------ JAX binary cross-entropy


def test_jax_bce_value_is_one_exp_and_one_log1p():
    y, z = jnp.asarray([1.0, 0.0, 0.3]), jnp.asarray([2.0, -1.0, 0.5])
    prims = _primitives(lambda a, b: lk.binary_cross_entropy(a, b, from_logits=True,
                                                             check_values=False), y, z)
    assert prims.count("exp") == 1 and prims.count("log1p") == 1  # the generic form: 4 and 4


@pytest.mark.parametrize("label", [0.0, 1.0, 0.3, "random"])
def test_jax_bce_matches_the_generic_form_and_the_analytic_gradient(dtype, x64, label, rng):
    z = np.concatenate([LOGITS, rng.normal(size=200) * 5]).astype(dtype)
    y = (rng.uniform(size=z.shape) if label == "random" else np.full(z.shape, label)
         ).astype(dtype)
    jy, jz = jnp.asarray(y), jnp.asarray(z)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = np.asarray(lk.binary_cross_entropy(jy, jz, from_logits=True, reduction="none"))
        generic = np.asarray(cls._logistic_value(jnp, jy, 1.0 - jy, jz))
    finite = np.isfinite(generic)
    assert np.array_equal(np.isinf(got), np.isinf(generic)) and not np.isnan(got).any()
    if label in (0.0, 1.0):  # the same two terms added: bit for bit
        np.testing.assert_array_equal(got, generic)
    else:  # soft labels regrouped: an ulp or two
        np.testing.assert_array_max_ulp(got[finite], generic[finite], maxulp=4)
    # the gradient under autodiff is the analytic sigma(z) - y, nothing cancelled
    grad = np.asarray(jax.grad(lambda b: lk.binary_cross_entropy(
        jy, b, from_logits=True, reduction="sum"))(jz))
    with np.errstate(over="ignore"):
        exact = 1.0 / (1.0 + np.exp(-z.astype(np.float64))) - y.astype(np.float64)
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(grad, exact, rtol=4 * eps, atol=4 * eps)
    # confident and right: the tiny gradient survives (sigma(z) - 1 rounds to 0)
    if label == 1.0:
        assert grad[list(z).index(dtype(17.0))] < 0
    # +-0 both give 1/2 - y
    zeros = np.flatnonzero(z == 0)
    np.testing.assert_allclose(grad[zeros], 0.5 - y[zeros].astype(np.float64), rtol=0,
                               atol=2 * eps)


def test_jax_bce_family_loss_equals_the_loss():
    y, z = jnp.asarray([[1.0, 0.0, 1.0]]), jnp.asarray([[3.0, -40.0, 0.0]])
    assert float(lk.family("multilabel").loss(y, z)) == float(
        lk.binary_cross_entropy(y, z, from_logits=True))


@pytest.mark.parametrize("label", [0.0, 1.0, 0.3])
def test_jax_bce_gradient_in_the_labels_is_minus_the_logit(x64, dtype, label):
    """BCE from logits is affine in the label, ``softplus(z) − y z``: its derivative in ``y``
    is ``−z`` at every label, 0 and 1 included (soft targets from a teacher that saturate
    at exactly 0 or 1). The ``t z = 0`` of a right label at an infinite logit must not zero
    it at finite logits."""
    z = np.asarray([-30.0, -2.0, -0.5, 0.5, 2.0, 30.0], dtype=dtype)
    jz = jnp.asarray(z)
    grad = np.asarray(jax.grad(lambda a: lk.binary_cross_entropy(
        a, jz, from_logits=True, reduction="sum"))(jnp.full(z.shape, label, dtype=dtype)))
    np.testing.assert_allclose(grad, -z, rtol=4 * np.finfo(dtype).eps)
    # the limits at infinite logits stay 0 for a right label (and the value finite)
    y = jnp.asarray([1.0, 0.0], dtype=dtype)
    assert np.asarray(lk.binary_cross_entropy(y, jnp.asarray([math.inf, -math.inf], dtype=dtype),
                                              from_logits=True, reduction="none")).tolist() \
        == [0.0, 0.0]


# ------------------------------------------------------------------------ JAX hinge signs


@pytest.mark.parametrize("loss", ["hinge_loss", "squared_hinge_loss"])
def test_jax_hinge_signs_without_a_comparison(loss, rng):
    fn = getattr(lk, loss)
    s = rng.normal(size=50).astype(np.float32)
    for labels in ([0.0, 1.0], [-1.0, 1.0]):
        y = rng.choice(labels, size=50).astype(np.float32)
        traced = lambda a, b: fn(a, b, check_values=False)  # noqa: E731
        assert not {"gt", "ge", "lt", "le"} & set(_primitives(traced, jnp.asarray(y),
                                                              jnp.asarray(s)))
        got = np.asarray(fn(jnp.asarray(y), jnp.asarray(s), reduction="none"))
        np.testing.assert_array_equal(got, np.asarray(fn(y, s, reduction="none")))


@pytest.mark.parametrize("loss", ["hinge_loss", "squared_hinge_loss"])
def test_jax_hinge_signs_of_unchecked_labels_are_the_other_backends(loss):
    """Under ``jax.jit`` (and ``vmap``) the labels cannot be checked: a label outside
    {-1, 0, 1} (soft 0.5, a 2 or -2 coding) must get the sign ``2 [y > 0] − 1`` as on every
    other backend, not ``y (y + 1) − 1`` (2 gave a loss of 0, -2 the positive class's)."""
    fn = getattr(lk, loss)
    y = np.asarray([1.0, -1.0, 0.0, -0.0, 0.5, 2.0, -2.0, -0.5, 1e-30], dtype=np.float32)
    s = np.full(y.shape, 0.3, dtype=np.float32)
    expected = np.asarray(fn(y, s, reduction="none", check_values=False))
    jitted = jax.jit(lambda a, b: fn(a, b, reduction="none"))
    np.testing.assert_array_equal(np.asarray(jitted(jnp.asarray(y), jnp.asarray(s))), expected)
    np.testing.assert_array_equal(np.asarray(fn(jnp.asarray(y), jnp.asarray(s),
                                                reduction="none", check_values=False)), expected)


# ------------------------------------------------------------------- JAX sparse cross-entropy


def _edge_logits(dtype, rng, n_classes):
    z = (rng.normal(size=(40, n_classes)) * 5).astype(dtype)
    y = rng.integers(0, n_classes, 40)
    z[0, 1], y[0] = math.inf, 1  # +inf at the label: loss 0
    z[1, 0] = z[1, 2] = math.inf  # two +inf: they share the probability
    y[1] = 0
    z[2, 0], y[2] = math.inf, 1  # +inf elsewhere: loss +inf
    z[4, 2], y[4] = -math.inf, 2  # -inf at the label: loss +inf
    z[5], z[5, 1] = 1e30, -1e30
    return y, z


def test_jax_sparse_ce_values_and_gradients(dtype, x64, rng):
    y, z = _edge_logits(dtype, rng, 3)
    jy, jz = jnp.asarray(y), jnp.asarray(z)
    got = np.asarray(lk.sparse_categorical_cross_entropy(jy, jz, from_logits=True,
                                                         reduction="none"))
    numpy = np.asarray(lk.sparse_categorical_cross_entropy(y, z, from_logits=True,
                                                           reduction="none"))
    assert got[0] == 0 and got[1] == pytest.approx(math.log(2)) and got[2] == math.inf
    assert got[4] == math.inf
    finite = np.isfinite(numpy)
    np.testing.assert_array_equal(np.isinf(got), np.isinf(numpy))
    np.testing.assert_allclose(got[finite], numpy[finite], rtol=8 * np.finfo(dtype).eps,
                               atol=8 * np.finfo(dtype).eps)
    # autodiff gives the analytic gradient, the +inf rows' limits included (softmax - onehot:
    # (-1/2, 0, 1/2) for row 1; the generic path's autodiff gave 0 in those rows)
    keep = np.r_[0:3, 4:40]
    grad = np.asarray(jax.grad(lambda b: lk.sparse_categorical_cross_entropy(
        jy[keep], b, from_logits=True, check_values=False))(jz[keep]))
    analytic = np.asarray(lk.gradient(lk.sparse_categorical_cross_entropy, y[keep], z[keep],
                                      from_logits=True))
    np.testing.assert_allclose(grad, analytic, rtol=0, atol=4 * np.finfo(dtype).eps)
    n = len(keep)
    np.testing.assert_allclose(grad[1], np.array([-0.5, 0.0, 0.5]) / n, rtol=1e-6)
    np.testing.assert_allclose(grad[2], np.array([1.0, -1.0, 0.0]) / n, rtol=1e-6)
    # a row that is all -inf has no softmax: NaN, reported by the checks
    z[3] = -math.inf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert math.isnan(float(lk.sparse_categorical_cross_entropy(
            jnp.asarray(y), jnp.asarray(z), from_logits=True, check_values=False,
            reduction="none")[3]))


def test_jax_sparse_ce_gradient_follows_the_value_for_a_negative_label():
    """Under ``jax.jit`` the labels cannot be checked; a label -1 indexes the last class in the
    value (``take_along_axis`` wraps it, as the generic path does), so the analytic gradient
    must be that class's too, not ``softmax`` with no class subtracted."""
    z = jnp.asarray([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]], dtype=jnp.float32)

    def loss(labels, b):
        return lk.sparse_categorical_cross_entropy(labels, b, from_logits=True)

    got = jax.jit(jax.value_and_grad(loss, argnums=1))(jnp.asarray([-1, 0]), z)
    want = jax.value_and_grad(loss, argnums=1)(jnp.asarray([2, 0]), z)
    np.testing.assert_allclose(float(got[0]), float(want[0]), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(got[1]), np.asarray(want[1]), rtol=1e-6, atol=1e-7)


def test_jax_sparse_ce_gradient_has_no_scatter(rng):
    y = jnp.asarray(rng.integers(0, 3, 8))
    z = jnp.asarray(rng.normal(size=(8, 3)).astype(np.float32))
    prims = _primitives(jax.value_and_grad(lambda b: lk.sparse_categorical_cross_entropy(
        y, b, from_logits=True, check_values=False)), z)
    assert "scatter-add" not in prims and "scatter_add" not in prims


def test_jax_sparse_ce_many_classes_keep_the_generic_path(rng):
    y = jnp.asarray(rng.integers(0, 40, 8))
    z = jnp.asarray(rng.normal(size=(8, 40)).astype(np.float32))
    got = lk.sparse_categorical_cross_entropy(y, z, from_logits=True, reduction="none")
    want = lk.sparse_categorical_cross_entropy(np.asarray(y), np.asarray(z), from_logits=True,
                                               reduction="none")
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6)


# ---------------------------------------------------------------------------- NumPy row_dot


@pytest.mark.parametrize("n_classes", [1, 2, 3, 8, 9, 40])
def test_row_dot_against_float64(dtype, n_classes, rng):
    for x in (rng.normal(size=(20000, n_classes)).astype(dtype),
              rng.normal(size=(64, n_classes)).astype(dtype)):  # BLAS below 9216 elements
        _check_row_dot(x, rng)


def _check_row_dot(x, rng):
    dtype, (n, n_classes) = x.dtype, x.shape
    for a in (rng.normal(size=n_classes).astype(dtype), np.ones(n_classes, dtype=dtype),
              rng.normal(size=x.shape).astype(dtype)):
        got = _array.row_dot(np, a, x)
        assert got.dtype == dtype and got.shape == (n,)
        exact = np.sum(a.astype(np.float64) * x.astype(np.float64), axis=-1)
        scale = np.sum(np.abs(a.astype(np.float64) * x), axis=-1)
        assert np.all(np.abs(got - exact) <= 4 * n_classes * np.finfo(dtype).eps * scale)


def test_row_dot_zero_times_infinity_is_zero(dtype):
    x = np.array([[1.0, math.inf, 2.0], [3.0, -math.inf, 1.0]], dtype=dtype)
    with np.errstate(invalid="ignore"):  # the callers silence NumPy's warnings
        got = _array.row_dot(np, np.array([1.0, 0.0, 1.0], dtype), x)
    np.testing.assert_array_equal(got, np.array([3.0, 4.0], dtype))


# ------------------------------------------------ NumPy categorical cross-entropy, probabilities


@pytest.mark.parametrize("options", [{}, {"eps": 1e-3}, {"eps": 0.0}, {"label_smoothing": 0.1},
                                     {"class_weight": [1.0, 2.0, 0.5, 0.0]},
                                     {"convention": "keras"}])
def test_numpy_probability_cross_entropy_is_the_generic_path(dtype, options, rng):
    p = rng.dirichlet(np.ones(4), 60)
    eps = float(np.finfo(dtype).eps)
    p[:5] = [[1, 0, 0, 0], [0.5, 0.5, 0, 0], [1e-30, 1 - 1e-30, 0, 0], [0.25] * 4,
             [0.5, 0.5 - 2 * eps, eps, eps]]
    p = p.astype(dtype)
    for y in (np.eye(4)[rng.integers(0, 4, 60)].astype(dtype),
              rng.dirichlet(np.ones(4), 60).astype(dtype)):
        value, grad = lk.value_and_gradient(lk.categorical_cross_entropy, y, p, **options)
        # array-api-strict arrays take the generic branches
        s_value, s_grad = lk.value_and_gradient(lk.categorical_cross_entropy, xps.asarray(y),
                                                xps.asarray(p), **options)
        np.testing.assert_array_max_ulp(np.asarray(value), np.asarray(s_value), maxulp=2)
        np.testing.assert_array_equal(grad, np.asarray(s_grad))
