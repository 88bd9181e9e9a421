"""The NumPy fast paths give the numbers of the generic array-API code they replace.

Each fast path (``losskit._array``'s NumPy branches without ``where``, the focal losses' shared
terms, the KL divergence through ``log_softmax_at``, the Poisson rate shared by the value and
the gradient) is compared with the generic code: the same primitive written with ``where`` as
before, or the same loss run on array-api-strict arrays (which take the generic branches), on
random and edge inputs (±0, ±inf, NaN, huge logits, one-hot rows, zero weights), in float64.
"""

from __future__ import annotations

import math
import warnings

import array_api_compat.numpy as xnp
import array_api_strict as xps
import numpy as np
import pytest

import losskit as lk
from losskit import _array

EDGES = [0.0, -0.0, 1e-300, -1e-300, 17.0, -17.0, 40.0, -40.0, 88.0, -88.0, 100.0, -100.0,
         800.0, -800.0, math.inf, -math.inf, math.nan]


def _edge_array(dtype, rng):
    values = np.concatenate([EDGES, rng.normal(size=400) * 30, [np.finfo(dtype).max,
                                                                -np.finfo(dtype).max]])
    with np.errstate(all="ignore"):
        return values.astype(dtype)


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def dtype(request):
    return request.param


def _where_sigmoid(x):
    positive = x >= 0
    e = np.exp(-np.where(positive, x, -x))
    return np.where(positive, 1.0 / (1.0 + e), e / (1.0 + e))


def _where_log_sigmoid(x):
    positive = x >= 0
    x_pos = np.where(positive, x, 0.0).astype(x.dtype)
    x_neg = np.where(positive, 0.0, x).astype(x.dtype)
    return np.where(positive, -np.log1p(np.exp(-x_pos)), x_neg - np.log1p(np.exp(x_neg)))


def _same(a, b):
    assert a.dtype == b.dtype
    np.testing.assert_array_equal(a, b)  # NaN where NaN, same signs of infinities
    numbers = ~np.isnan(a)  # and of zeros (a NaN's sign bit means nothing)
    assert np.array_equal(np.signbit(a[numbers]), np.signbit(b[numbers]))


def test_sigmoid_and_log_sigmoid_fast_paths_are_the_masked_forms(dtype, rng):
    x = _edge_array(dtype, rng)
    with np.errstate(all="ignore"):
        _same(_array.sigmoid(xnp, x), _where_sigmoid(x).astype(dtype))
        _same(_array.log_sigmoid(xnp, x), _where_log_sigmoid(x).astype(dtype))
        parts = _array.sigmoid_parts(xnp, x)
        expected = (_array.sigmoid(xnp, x), _array.sigmoid(xnp, -x),
                    _array.log_sigmoid(xnp, x), _array.log_sigmoid(xnp, -x))
    for got, want in zip(parts, expected, strict=True):
        _same(got, want)


def test_sigmoid_parts_on_another_library_is_the_four_functions(rng):
    x = xps.asarray(rng.normal(size=20) * 30)
    parts = _array.sigmoid_parts(xps, x)
    want = (_array.sigmoid(xps, x), _array.sigmoid(xps, -x), _array.log_sigmoid(xps, x),
            _array.log_sigmoid(xps, -x))
    for got, expected in zip(parts, want, strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))


def test_mul_zero_safe_fast_path_is_the_masked_product(dtype, rng):
    b = _edge_array(dtype, rng)
    a = np.where(rng.random(b.size) < 0.3, 0.0, rng.normal(size=b.size)).astype(dtype)
    a[:len(EDGES)] = 0.0  # 0 · ±inf and 0 · NaN are 0
    with np.errstate(all="ignore"):
        got = _array.mul_zero_safe(xnp, a, b)
        _same(got, np.where(a == 0, 0.0, a * b).astype(dtype))
        finite = np.isfinite(b)  # no NaN anywhere: the product itself, no mask
        _same(_array.mul_zero_safe(xnp, a[finite], b[finite]), a[finite] * b[finite])


@pytest.mark.parametrize("mask_kind", ["all", "some", "none"])
def test_select_is_where(mask_kind, dtype, rng):
    a = rng.normal(size=50).astype(dtype)
    mask = {"all": np.ones(50, bool), "none": np.zeros(50, bool),
            "some": rng.random(50) < 0.5}[mask_kind]
    _same(_array.select(xnp, mask, a, 0.0), np.where(mask, a, 0.0).astype(dtype))
    b = rng.normal(size=50).astype(dtype)
    _same(_array.select(xnp, mask, a, b), np.where(mask, a, b))


# ------------------------------------------------------------------ losses: fast vs generic


def _rows(rng, n=40, c=5):
    z = rng.normal(size=(n, c)) * 3
    z[0, 1], z[1, 0], z[2] = 60.0, -60.0, [1e4, -1e4, 0.0, 0.0, 0.0]
    p = rng.dirichlet(np.ones(c), size=n)
    p[: n // 2] = np.eye(c)[rng.integers(0, c, n // 2)]  # one-hot rows: zeros to skip
    e = np.exp(z[3] - z[3].max())
    p[3] = e / e.sum()  # the target is the prediction: KL 0
    return p, z


def _cases(rng):
    p, z = _rows(rng)
    w = rng.random(len(p))
    w[:3] = 0.0
    y = rng.integers(0, 2, 200).astype(float)
    soft = rng.random(200)
    zb = rng.normal(size=200) * 8
    zb[:8] = [0.0, -0.0, 30.0, -30.0, 100.0, -100.0, 17.0, -17.0]
    counts = rng.poisson(3.0, size=200).astype(float)
    counts[:5] = 0.0
    eta = rng.normal(size=200) * 2
    eta[:3] = [0.0, 60.0, -60.0]
    with np.errstate(divide="ignore"):
        log_p = np.log(p)
    return [
        (lk.kl_divergence, p, z, {"from_logits": True}),
        (lk.kl_divergence, p, z, {"from_logits": True, "sample_weight": w}),
        (lk.kl_divergence, p, z, {"from_logits": True, "reduction": "none", "unit": "bits"}),
        (lk.kl_divergence, log_p, z, {"from_logits": True, "log_target": True}),
        (lk.kl_divergence, p, z, {"from_logits": True, "convention": "torch"}),
        (lk.categorical_focal_loss, p, z, {"from_logits": True}),
        (lk.categorical_focal_loss, p, z, {"from_logits": True, "gamma": 1.5, "alpha": 0.25,
                                           "sample_weight": w}),
        (lk.categorical_focal_loss, p, z, {"from_logits": True, "label_smoothing": 0.1,
                                           "reduction": "none"}),
        (lk.categorical_focal_loss, p, np.exp(z - z.max(-1, keepdims=True))
         / np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True), {"gamma": 3.0}),
        (lk.binary_focal_loss, y, zb, {"from_logits": True}),
        (lk.binary_focal_loss, soft, zb, {"from_logits": True, "gamma": 0.5, "alpha": 0.25}),
        (lk.binary_focal_loss, y, zb, {"from_logits": True, "gamma": 3.0, "reduction": "none"}),
        (lk.binary_focal_loss, y.reshape(-1, 4), zb.reshape(-1, 4), {"from_logits": True}),
        (lk.binary_focal_loss, y, zb, {"from_logits": True, "convention": "keras"}),
        (lk.binary_cross_entropy, y, zb, {"from_logits": True}),
        (lk.binary_cross_entropy, soft, zb, {"from_logits": True, "reduction": "none"}),
        (lk.binary_cross_entropy, y, zb, {"from_logits": True, "label_smoothing": 0.1,
                                          "unit": "bits"}),
        (lk.binary_cross_entropy, y.reshape(-1, 4), zb.reshape(-1, 4), {"from_logits": True}),
        (lk.binary_cross_entropy, soft.reshape(-1, 5), zb.reshape(-1, 5),
         {"from_logits": True, "sample_weight": soft[:40]}),
        (lk.binary_cross_entropy, y, np.concatenate([[math.inf, -math.inf], zb[2:]]),
         {"from_logits": True, "reduction": "none"}),
        (lk.binary_cross_entropy, y, zb, {"from_logits": True, "pos_weight": 2.0}),
        (lk.hinge_loss, y, zb / 8, {}),
        (lk.hinge_loss, (2 * y - 1).reshape(-1, 4), zb.reshape(-1, 4) / 8,
         {"reduction": "none"}),
        (lk.squared_hinge_loss, y, zb / 8, {}),
        (lk.squared_hinge_loss, 2 * y - 1, zb / 8, {"sample_weight": soft}),
        (lk.squared_hinge_loss, y.reshape(-1, 4), zb.reshape(-1, 4) / 8, {"check_values": False}),
        (lk.squared_hinge_loss, y, zb / 8, {"convention": "keras"}),
        (lk.log_cosh_loss, soft * 4, eta * 3, {}),
        (lk.log_cosh_loss, soft, np.concatenate([[1e-9, -3e-5, 1000.0], eta[3:]]),
         {"reduction": "none"}),
        (lk.log_cosh_loss, soft.reshape(-1, 4), (eta * 3).reshape(-1, 4),
         {"sample_weight": soft[:50]}),
        (lk.huber_loss, soft.reshape(-1, 5), (eta * 3).reshape(-1, 5), {"delta": 0.7}),
        (lk.negative_binomial_nll, counts, np.stack([eta, eta[::-1] - 1.0], -1), {}),
        (lk.negative_binomial_nll, counts, np.stack([eta, eta[::-1]], -1),
         {"full": True, "reduction": "none", "sample_weight": soft}),
        (lk.negative_binomial_nll, counts, eta, {"alpha": 0.3}),
        (lk.poisson_nll, counts, eta, {"sample_weight": soft}),
        (lk.poisson_nll, counts.reshape(-1, 4), eta.reshape(-1, 4), {"unit": "bits"}),
        (lk.poisson_nll, counts, eta, {}),
        (lk.poisson_nll, counts, eta, {"full": True, "reduction": "none"}),
        (lk.poisson_nll, counts, np.abs(eta), {"log_input": False}),
        (lk.huber_loss, soft * 4, eta * 3, {"delta": 1.35}),
        (lk.huber_loss, soft, np.concatenate([[1.0, -1.0, 0.0, 1e200], eta[4:]]),
         {"delta": 1.0, "reduction": "none"}),
        (lk.student_t_nll, soft * 4, eta * 3, {"df": 3.0}),
        (lk.student_t_nll, soft * 4, eta * 3, {"df": 1e7, "scale": 2.5, "reduction": "none"}),
        (lk.student_t_nll, soft * 4, eta * 3, {"df": 1.0, "scale": soft + 0.1}),
        (lk.student_t_nll, soft, np.concatenate([[1e200, -1e250], eta[2:]]), {"df": 4.0}),
    ]


CASE_IDS = [f"{fn.__name__}-{i}" for i, (fn, *_) in enumerate(_cases(np.random.default_rng(0)))]


@pytest.mark.parametrize("index", range(len(CASE_IDS)), ids=CASE_IDS)
def test_numpy_fast_paths_equal_the_generic_path(index):
    fn, y, raw, options = _cases(np.random.default_rng(0))[index]
    options = dict(options)
    weight = options.pop("sample_weight", None)
    extra = {} if weight is None else {"sample_weight": weight}
    value, grad = lk.value_and_gradient(fn, y, raw, **options, **extra)
    extra = {} if weight is None else {"sample_weight": xps.asarray(weight)}
    generic_options = {k: xps.asarray(v) if isinstance(v, np.ndarray) else v
                       for k, v in options.items()}
    generic_value, generic_grad = lk.value_and_gradient(fn, xps.asarray(y), xps.asarray(raw),
                                                        **generic_options, **extra)
    np.testing.assert_allclose(value, np.asarray(generic_value), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grad, np.asarray(generic_grad), rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(fn(y, raw, **options, **({} if weight is None else
                                                         {"sample_weight": weight})),
                               value, rtol=1e-14)


def test_kl_divergence_from_logits_matches_its_formula_and_finite_differences(rng):
    p, z = _rows(rng)
    log_q = z - z.max(-1, keepdims=True)
    log_q = log_q - np.log(np.exp(log_q).sum(-1, keepdims=True))
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.where(p > 0, p * (np.log(p) - log_q), 0.0).sum(-1)
    got = lk.kl_divergence(p, z, from_logits=True, reduction="none")
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    # a perfect prediction is +0 (not -0), also for a one-hot row at a huge logit
    assert got[3] >= 0.0 and abs(got[3]) < 1e-15
    certain = lk.kl_divergence([[1.0, 0.0, 0.0]], [[1e4, -1e4, 0.0]], from_logits=True,
                               reduction="none")
    assert certain[0] == 0.0 and not np.signbit(certain[0])
    grad = lk.gradient(lk.kl_divergence, p[3:], z[3:], from_logits=True)
    h = 1e-6
    for i, j in [(0, 0), (5, 2), (20, 4), (30, 1)]:
        up, down = z[3:].copy(), z[3:].copy()
        up[i, j] += h
        down[i, j] -= h
        numeric = (lk.kl_divergence(p[3:], up, from_logits=True)
                   - lk.kl_divergence(p[3:], down, from_logits=True)) / (2 * h)
        np.testing.assert_allclose(grad[i, j], numeric, rtol=1e-5, atol=1e-10)


def test_kl_divergence_unchecked_negative_target_stays_nan():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = lk.kl_divergence([[1.5, -0.5]], [[0.0, 0.0]], from_logits=True,
                               check_values=False, reduction="none")
    assert np.isnan(out[0])


def test_jax_gradients_equal_the_analytic_ones(rng):
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    p, z = _rows(rng)
    for fn, options in [(lk.kl_divergence, {"from_logits": True}),
                        (lk.categorical_focal_loss, {"from_logits": True, "gamma": 2.0})]:
        value, grad = jax.jit(jax.value_and_grad(
            lambda a, b, fn=fn, options=options: fn(a, b, check_values=False, **options),
            argnums=1))(jnp.asarray(p), jnp.asarray(z))
        want_value, want_grad = lk.value_and_gradient(fn, p, z, **options)
        np.testing.assert_allclose(float(value), want_value, rtol=1e-5)
        np.testing.assert_allclose(np.asarray(grad), want_grad, rtol=1e-4, atol=1e-7)


def test_student_t_takes_the_split_form_only_where_a_square_overflows():
    from losskit.losses._likelihood import _student_t_plain

    y = np.zeros(3, dtype=np.float32)
    assert _student_t_plain(xnp, y, np.array([1.0, -5.0, 1e9], np.float32), 3.0, 1.0)
    # (1e20)^2 overflows float32: the split form, exact there (value finite, gradient ~1/z)
    far = np.array([1.0, -5.0, 1e20], np.float32)
    with np.errstate(over="ignore"):
        assert _student_t_plain(xnp, y, far, 3.0, 1.0) is None
    value, grad = lk.value_and_gradient(lk.student_t_nll, y, far, df=3.0, reduction="sum")
    assert np.isfinite(value) and grad[2] > 0.0
    np.testing.assert_allclose(grad[2], 4.0 / 1e20, rtol=1e-6)


def test_huber_without_where_is_the_two_branches(dtype, rng):
    r = _edge_array(dtype, rng)
    for delta in (1.0, 1.35, 1e-3):
        with np.errstate(all="ignore"):
            size = np.abs(r)
            branches = np.where(size <= delta, 0.5 * r * r, delta * (size - 0.5 * delta))
        got = lk.huber_loss(np.zeros_like(r), r, delta=delta, reduction="none",
                            check_values=False)
        _same(got, branches.astype(dtype))


def test_huber_jax_gradient_at_the_bend_and_at_zero():
    jax = pytest.importorskip("jax")
    r = np.array([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0])
    grad = jax.grad(lambda p: lk.huber_loss(jax.numpy.zeros(7), p, delta=1.0,
                                            reduction="sum", check_values=False))(
        jax.numpy.asarray(r))
    np.testing.assert_allclose(np.asarray(grad), np.clip(r, -1.0, 1.0), atol=1e-7)


def test_poisson_rate_is_shared_and_the_kernel_still_computes_it(rng):
    from losskit.losses._likelihood import _poisson_gradient, _poisson_value

    y = rng.poisson(2.0, size=30).astype(float)
    eta = rng.normal(size=30)
    rate = np.exp(eta)
    np.testing.assert_array_equal(_poisson_value(xnp, y, eta), _poisson_value(
        xnp, y, eta, rate=rate))
    np.testing.assert_array_equal(_poisson_gradient(xnp, y, eta), rate - y)
    value, grad = lk.value_and_gradient(lk.poisson_nll, y, eta, reduction="sum")
    np.testing.assert_allclose(value, np.sum(rate - y * eta), rtol=1e-13)
    np.testing.assert_allclose(grad, rate - y, rtol=1e-13)


def _generic_logistic(y, z):
    from losskit.losses._classification import _logistic_gradient, _logistic_value

    return _logistic_value(xps, xps.asarray(y), xps.asarray(1.0 - y), xps.asarray(z)), \
        _logistic_gradient(xps, xps.asarray(y), xps.asarray(1.0 - y), xps.asarray(z))


def test_logistic_fast_path_is_the_generic_value_for_labels(dtype, rng):
    from losskit.losses._classification import _numpy_logistic, _numpy_logistic_gradient

    z = _edge_array(dtype, rng)
    z = z[np.isfinite(z)]  # infinite logits take the generic path (0 · inf)
    for y in (np.zeros_like(z), np.ones_like(z), (rng.random(z.size) < 0.5).astype(dtype)):
        with np.errstate(all="ignore"):
            value, t, e, scratch = _numpy_logistic(y, z)
            want_value, want_grad = (np.asarray(a) for a in _generic_logistic(y, z))
            grad = _numpy_logistic_gradient(z, t, e, out=scratch)
        # bit for bit; a zero loss is +0 (the generic path's negated sum gives -0 there)
        np.testing.assert_array_equal(value, want_value)
        assert value.dtype == want_value.dtype and not np.signbit(value).any()
        tiny = np.finfo(dtype).tiny
        np.testing.assert_allclose(grad, want_grad, rtol=2 * np.finfo(dtype).eps, atol=tiny)
    soft = rng.random(z.size).astype(dtype)
    value, t, e, scratch = _numpy_logistic(soft, z)
    want_value, want_grad = (np.asarray(a) for a in _generic_logistic(soft, z))
    np.testing.assert_allclose(value, want_value, rtol=4 * np.finfo(dtype).eps)
    np.testing.assert_allclose(_numpy_logistic_gradient(z, t, e), want_grad,
                               rtol=4 * np.finfo(dtype).eps, atol=4 * np.finfo(dtype).eps)


def test_logistic_fast_path_is_exact_for_confident_logits():
    z = np.array([17.0, -17.0, 30.0, -30.0, 90.0], np.float32)
    y = np.array([1.0, 0.0, 1.0, 0.0, 1.0], np.float32)
    value, grad = lk.value_and_gradient(lk.binary_cross_entropy, y, z, from_logits=True,
                                        reduction="sum")
    exact = np.log1p(np.exp(-np.abs(z.astype(np.float64))))
    np.testing.assert_allclose(value, exact.sum(), rtol=1e-6)
    np.testing.assert_allclose(grad, np.sign(z) * -np.exp(-np.abs(z.astype(np.float64))),
                               rtol=1e-6)  # sigma(z) - y, not 0 where sigma(z) rounds to y
    assert grad[4] != 0.0


def test_logistic_fast_path_leaves_the_callers_targets_alone(rng):
    z = rng.normal(size=50).astype(np.float32)
    for y in ((rng.random(50) < 0.5).astype(np.float64),
              (rng.random(50) < 0.5).astype(np.float32)):
        kept = y.copy()
        for smoothing in (0.0, 0.2):
            lk.value_and_gradient(lk.binary_cross_entropy, y, z, from_logits=True,
                                  label_smoothing=smoothing)
            lk.family("bernoulli").loss(y, z)
            np.testing.assert_array_equal(y, kept)


@pytest.mark.parametrize("name", ["bernoulli", "multilabel"])
def test_logistic_family_gradient_and_loss_fast_paths(name, rng):
    fam = lk.family(name)
    z = _edge_array(np.float64, rng)
    z = z[~np.isnan(z)]  # (the family refuses NaN)
    y = (rng.random(z.size) < 0.5).astype(float)
    if name == "multilabel":
        z, y = z[: z.size // 3 * 3].reshape(-1, 3), y[: z.size // 3 * 3].reshape(-1, 3)
    with np.errstate(invalid="ignore"):  # the raw check's sum of +inf and -inf
        np.testing.assert_allclose(fam.gradient(y, z), np.asarray(fam.gradient(
            xps.asarray(y), xps.asarray(z))), rtol=1e-15, atol=1e-300)
        np.testing.assert_allclose(fam.loss(y, z, reduction="none"), np.asarray(fam.loss(
            xps.asarray(y), xps.asarray(z), reduction="none")), rtol=1e-14)
        finite = np.where(np.isfinite(z), z, 0.0)
        np.testing.assert_allclose(fam.loss(y, finite, reduction="none"), np.asarray(fam.loss(
            xps.asarray(y), xps.asarray(finite), reduction="none")), rtol=1e-14)


def _hinge_rows(rng, n=120, c=4):
    y = np.eye(c)[rng.integers(0, c, n)]
    s = rng.normal(size=(n, c)) * 2
    s[:6] = [[1.0, 1.0, 1.0, 1.0], [0.0, 2.0, 2.0, -1.0], [5.0, -1e308, -1e308, -1e308],
             [-1e308, 1e308, 3.0, 3.0], [0.5, 0.5, -0.0, 0.0], [2.0, 1.0, 1.0, 0.99]]
    y[:6] = np.eye(c)[[0, 3, 0, 1, 2, 0]]  # ties among the rivals, and with the target
    s[6:9] = np.round(s[6:9])  # more ties
    return y, s


@pytest.mark.parametrize("options", [{}, {"reduction": "none"}, {"reduction": "sum"},
                                     {"check_values": False}, {"weights": True},
                                     {"convention": "keras"}, {"infinite": True}])
def test_categorical_hinge_fast_path_is_the_generic_path_bit_for_bit(options, rng):
    y, s = _hinge_rows(rng)
    options = dict(options)
    if options.pop("infinite", False):  # rows the generic path takes
        s[10, 1], s[11, y[11].argmax()], s[12, 0] = math.inf, -math.inf, -math.inf
    if options.pop("weights", False):
        w = rng.random(len(y))
        w[:4] = 0.0
        options["sample_weight"] = w
    value, grad = lk.value_and_gradient(lk.categorical_hinge_loss, y, s, **options)
    generic = {k: xps.asarray(v) if isinstance(v, np.ndarray) else v for k, v in options.items()}
    want_value, want_grad = lk.value_and_gradient(lk.categorical_hinge_loss, xps.asarray(y),
                                                  xps.asarray(s), **generic)
    _same(np.asarray(value), np.asarray(want_value))
    _same(grad, np.asarray(want_grad))
    if "convention" not in options:  # +1 and -1, or nothing, in each row
        assert ((grad != 0).sum(-1) % 2 == 0).all()


def test_categorical_hinge_checks_one_hot_rows_on_numpy():
    for bad in ([[1.0, 0.0, 1.0]], [[0.0, 0.0, 0.0]], [[0.5, 0.5, 0.0]], [[1.0, 0.0, math.nan]]):
        with pytest.raises(ValueError, match="is not one-hot"):
            lk.categorical_hinge_loss(np.array(bad), np.zeros((1, 3)))


@pytest.mark.parametrize("fn", [lk.hinge_loss, lk.squared_hinge_loss])
def test_margin_losses_numpy_label_checks_and_signs(fn, rng):
    from losskit.losses._classification_catalogue import _numpy_checked_signs

    y = (rng.random(50) < 0.5).astype(float)
    y[:2] = [-0.0, 1.0]
    np.testing.assert_array_equal(_numpy_checked_signs(y), 2.0 * (y > 0) - 1.0)
    assert _numpy_checked_signs(2 * y - 1) is not None
    for bad, match in [([1.0, 0.5], "has label 0.5"), ([1.0, 0.0, -1.0], "mixes labels 0"),
                       ([1.0, math.nan], "has label nan"), ([2.0, 1.0], "has label 2")]:
        assert _numpy_checked_signs(np.array(bad)) is None
        with pytest.raises(ValueError, match=match):
            fn(np.array(bad), np.zeros(len(bad)))
    s = np.array([-2.0, 0.5, 1.0, 3.0])  # 1 − t s = 0 at the third: a zero gradient, +0
    grad = lk.gradient(fn, np.array([1.0, 1.0, 1.0, 0.0]), s, reduction="sum")
    _same(grad, np.asarray(lk.gradient(fn, xps.asarray([1.0, 1.0, 1.0, 0.0]), xps.asarray(s),
                                       reduction="sum")))


@pytest.mark.parametrize("name", ["_log_gamma_ratio", "digamma_difference", "_log_factorial"])
def test_count_series_fast_paths_are_the_generic_series_bit_for_bit(name, dtype, rng):
    from losskit.losses import _likelihood

    y = rng.poisson(3.0, 300).astype(dtype)
    y[:4] = [0.0, 1e5, 50.0, 1.0]
    a = np.exp(rng.normal(size=300) * 4).astype(dtype)
    fn = getattr(_likelihood, name)
    args = (y,) if name == "_log_factorial" else (a, y)
    _same(fn(xnp, *args), np.asarray(fn(xps, *(xps.asarray(v) for v in args))))


def test_negative_binomial_family_derivatives_skip_the_value(dtype, rng):
    fam = lk.family("negative_binomial")
    y = rng.poisson(3.0, 200).astype(dtype)
    raw = np.stack([rng.normal(size=200), rng.normal(size=200) * 2], -1).astype(dtype)
    for method in ("gradient", "hessian"):
        got = getattr(fam, method)(y, raw)
        _same(got, np.asarray(getattr(fam, method)(xps.asarray(y), xps.asarray(raw))))
    _same(fam.loss(y, raw, reduction="none"),
          np.asarray(fam.loss(xps.asarray(y), xps.asarray(raw), reduction="none")))


def test_log_cosh_one_form_is_relatively_exact(dtype):
    r = np.array([1e-15, -3e-8, 1e-3, 0.5, 1.0, -2.0, 30.0, -80.0], dtype)
    got = lk.log_cosh_loss(np.zeros_like(r), r, reduction="none")
    exact = [float(np.log(np.cosh(np.float64(v)))) if abs(v) > 1e-3 else
             float(v) ** 2 / 2 - float(v) ** 4 / 12 + float(v) ** 6 / 45 for v in r]
    np.testing.assert_allclose(got, exact, rtol=8 * np.finfo(dtype).eps)
    # past sinh's overflow the generic far form, finite
    big = np.array([1.0, 1e4], dtype)
    assert np.isfinite(lk.log_cosh_loss(np.zeros_like(big), big, reduction="none")).all()


def test_log_cosh_jax_form_and_declared_derivatives(rng):
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    r = np.concatenate([[1e-12, -3e-7, 0.5, -1.0, 39.9, 40.1, -60.0, 349.0, 351.0, 1e4],
                        rng.normal(size=40) * 5])
    y = np.zeros_like(r)
    jax.config.update("jax_enable_x64", True)
    got = np.asarray(lk.log_cosh_loss(jnp.asarray(y), jnp.asarray(r), reduction="none"))
    grad, hess = (np.asarray(f(jnp.asarray(r))) for f in (
        jax.grad(lambda b: lk.log_cosh_loss(jnp.zeros_like(b), b, reduction="sum",
                                            check_values=False)),
        jax.vmap(jax.grad(jax.grad(lambda b: lk.log_cosh_loss(
            jnp.zeros(1), b[None], reduction="sum", check_values=False))))))
    r32 = jnp.asarray(r[:9], dtype=jnp.float32)
    got32 = np.asarray(lk.log_cosh_loss(jnp.zeros_like(r32), r32, reduction="none"))
    want = lk.log_cosh_loss(y, r, reduction="none")
    np.testing.assert_allclose(got, want, rtol=1e-14)
    np.testing.assert_allclose(got32, want[:9], rtol=8 * np.finfo(np.float32).eps)
    np.testing.assert_allclose(grad, np.tanh(r), rtol=1e-15)
    np.testing.assert_allclose(hess, 1.0 - np.tanh(r) ** 2, rtol=1e-12, atol=1e-15)


def test_fast_paths_leave_no_reference_cycles(rng):
    # a cycle (a closure holding its PerSample) kept the call's 4 MB buffers until the
    # garbage collector ran: every later call page-faulted in fresh memory
    import gc

    y = rng.poisson(2.0, 50).astype(float)
    z = rng.normal(size=50)
    labels = (rng.random(50) < 0.5).astype(float)
    cases = [(lk.poisson_nll, y, z, {}), (lk.negative_binomial_nll, y, np.stack([z, z], -1), {}),
             (lk.binary_cross_entropy, labels, z, {"from_logits": True}),
             (lk.huber_loss, y, z, {}), (lk.log_cosh_loss, y, z, {}),
             (lk.squared_hinge_loss, labels, z, {}),
             (lk.categorical_hinge_loss, np.eye(5)[rng.integers(0, 5, 10)], z.reshape(10, 5), {})]
    for fn, a, b, options in cases:
        lk.value_and_gradient(fn, a, b, **options)
        gc.collect()
        gc.disable()
        try:
            lk.value_and_gradient(fn, a, b, **options)
            fn(a, b, **options)
            assert gc.collect() == 0, fn.__name__
        finally:
            gc.enable()


@pytest.mark.parametrize("fn", [lk.huber_loss, lk.log_cosh_loss])
def test_robust_losses_check_their_inputs_in_one_reduction(fn):
    # the sum of the differences is finite: no other pass; else the two checks, in order
    for y, p, bad in [([1.0, math.nan], [0.0, 0.0], "y_true"),
                      ([1.0, 0.0], [0.0, -math.inf], "y_pred"),
                      ([math.inf, 0.0], [math.inf, 0.0], "y_true")]:
        with pytest.raises(ValueError, match=f"{fn.__name__}: {bad} has NaN or infinite"):
            fn(np.array(y), np.array(p))
    # finite inputs whose difference overflows pass the checks: an infinite loss
    far = fn(np.array([-3e38, 0.0], np.float32), np.array([3e38, 0.0], np.float32))
    assert far == math.inf
