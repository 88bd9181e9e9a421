"""The classification catalogue: gradients, every backend, properties and bad inputs.

Gradients are checked against torch autograd (through losskit's own computation on torch
tensors) and central finite differences; every function runs on every backend through the
``backend`` fixture; hypothesis checks the properties each loss must have.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import losskit as lk

N, C = 10, 4


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _scores(rng, shape):
    """Raw scores away from the hinge's kink |s| = 1, where only a subgradient exists."""
    s = rng.normal(size=shape) * 1.5
    return np.where(np.abs(np.abs(s) - 1.0) < 1e-3, s + 0.01, s)


def _cases(rng):
    """name -> (loss, y_true, y_pred, options): every function and its main options."""
    z = rng.normal(size=(N, C)) * 2
    labels = rng.integers(0, C, size=N)
    soft = _softmax(rng.normal(size=(N, C)))
    sw = rng.uniform(0.1, 2.0, size=N)
    y01 = rng.integers(0, 2, size=N).astype(float)
    return {
        "kl-prob": (lk.kl_divergence, soft, _softmax(z), {"sample_weight": sw}),
        "kl-logits": (lk.kl_divergence, soft, z, {"from_logits": True, "unit": "bits"}),
        "kl-logits-axis0": (lk.kl_divergence, soft.T.copy(), z.T.copy(),
                            {"from_logits": True, "axis": 0}),
        "hinge-01": (lk.hinge_loss, y01, _scores(rng, N), {}),
        "hinge-pm1-2d": (lk.hinge_loss, 2 * rng.integers(0, 2, (N, 3)) - 1.0,
                         _scores(rng, (N, 3)), {"sample_weight": sw}),
        "squared-hinge": (lk.squared_hinge_loss, y01, _scores(rng, N), {"sample_weight": sw}),
        "squared-hinge-2d": (lk.squared_hinge_loss, rng.integers(0, 2, (N, 3)).astype(float),
                             _scores(rng, (N, 3)), {}),
        "categorical-hinge": (lk.categorical_hinge_loss, np.eye(C)[labels], z,
                              {"sample_weight": sw}),
        "binary-focal-prob": (lk.binary_focal_loss, y01, rng.uniform(0.02, 0.98, N),
                              {"alpha": 0.25}),
        "binary-focal-prob-soft": (lk.binary_focal_loss, rng.uniform(size=(N, 3)),
                                   rng.uniform(0.02, 0.98, (N, 3)),
                                   {"gamma": 0.5, "label_smoothing": 0.1, "sample_weight": sw,
                                    "unit": "bits"}),
        "binary-focal-logits": (lk.binary_focal_loss, rng.integers(0, 2, (N, 3)).astype(float),
                                rng.normal(size=(N, 3)) * 3,
                                {"from_logits": True, "alpha": 0.7, "gamma": 1.0}),
        "binary-focal-logits-soft": (lk.binary_focal_loss, rng.uniform(size=N),
                                     rng.normal(size=N) * 3,
                                     {"from_logits": True, "gamma": 2.5, "sample_weight": sw}),
        "categorical-focal-prob": (lk.categorical_focal_loss, np.eye(C)[labels], _softmax(z),
                                   {"alpha": 0.25}),
        "categorical-focal-prob-soft": (lk.categorical_focal_loss, soft, _softmax(z),
                                        {"gamma": 0.5, "label_smoothing": 0.1}),
        "categorical-focal-logits": (lk.categorical_focal_loss, np.eye(C)[labels], z,
                                     {"from_logits": True, "sample_weight": sw, "unit": "bits"}),
        "categorical-focal-logits-soft": (lk.categorical_focal_loss, soft, z,
                                          {"from_logits": True, "gamma": 0.5,
                                           "label_smoothing": 0.2, "alpha": 0.5}),
    }


CASES = list(_cases(np.random.default_rng(0)))
CATALOGUE_LOSSES = {lk.kl_divergence, lk.hinge_loss, lk.squared_hinge_loss,
                    lk.categorical_hinge_loss, lk.binary_focal_loss, lk.categorical_focal_loss}


def test_every_catalogue_loss_is_covered():
    assert {case[0] for case in _cases(np.random.default_rng(0)).values()} == CATALOGUE_LOSSES


# ---------------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", CASES)
def test_gradient_matches_torch_autograd(rng, case, reduction):
    loss, y, p, options = _cases(rng)[case]
    options = {**options, "reduction": reduction}
    analytic = lk.gradient(loss, y, p, **options)
    tp = torch.tensor(p, requires_grad=True)
    value = loss(torch.as_tensor(y), tp, **options)
    (value.sum() if reduction == "none" else value).backward()
    np.testing.assert_allclose(analytic, tp.grad.numpy(), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(value.detach().numpy(), loss(y, p, **options), rtol=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_gradient_matches_finite_differences(rng, case):
    loss, y, p, options = _cases(rng)[case]
    analytic = lk.gradient(loss, y, p, **options)
    options = {**options, "check_values": False}  # a perturbed row no longer sums to 1
    numeric = np.zeros_like(p)
    for index in np.ndindex(p.shape):
        h = 1e-5 * abs(p[index]) + 1e-9  # relative: small probabilities curve sharply
        up, down = p.copy(), p.copy()
        up[index] += h
        down[index] -= h
        numeric[index] = (float(loss(y, up, **options)) - float(loss(y, down, **options))) / (2 * h)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_hinge_gradients_by_hand():
    # inside the margin: -t / n; beyond it: 0
    grad = lk.gradient(lk.hinge_loss, [1, 0, 1], [0.5, 0.5, 3.0])
    np.testing.assert_allclose(grad, [-1 / 3, 1 / 3, 0.0])
    grad = lk.gradient(lk.categorical_hinge_loss, [[0, 1, 0], [1, 0, 0]],
                       [[0.3, 0.5, 0.1], [5.0, 0.0, 1.0]], reduction="sum")
    np.testing.assert_array_equal(grad, [[1.0, -1.0, 0.0], [0.0, 0.0, 0.0]])


def test_focal_gradient_where_the_prediction_is_perfect():
    # p_t = 1 exactly: the loss is 0 and flat for gamma >= 1 (autograd gives NaN here, through
    # log(0) in the discarded branch of 0 * log 0, as it does for binary_cross_entropy)
    for gamma in (1.0, 2.0):
        grad = lk.gradient(lk.binary_focal_loss, [1.0, 0.0], [1.0, 0.0], gamma=gamma, eps=0.0)
        np.testing.assert_array_equal(grad, [0.0, 0.0])
    grad = lk.gradient(lk.binary_focal_loss, [1.0, 0.0], [math.inf, -math.inf],
                       from_logits=True, gamma=0.5)
    np.testing.assert_array_equal(grad, [0.0, 0.0])


# ------------------------------------------------------------------------------- backends


BACKEND_CASES = [*CASES, "entropy", "entropy-logits", "perplexity", "perplexity-logits"]


def _backend_case(rng, case):
    if case.startswith("entropy"):
        z = rng.normal(size=(N, C))
        return lk.entropy, None, (z if case.endswith("logits") else _softmax(z)), \
            {"from_logits": case.endswith("logits"), "unit": "bits"}
    if case.startswith("perplexity"):
        z = rng.normal(size=(N, C))
        labels = rng.integers(0, C, size=N)
        return lk.perplexity, labels, (z if case.endswith("logits") else _softmax(z)), \
            {"from_logits": case.endswith("logits")}
    return _cases(rng)[case]


def _call(loss, y, p, **options):
    return loss(p, **options) if y is None else loss(y, p, **options)


@pytest.mark.parametrize("case", BACKEND_CASES)
def test_same_numbers_and_array_type_on_every_backend(backend, rng, case):
    loss, y, p, options = _backend_case(rng, case)
    reductions = [None] if loss is lk.perplexity else ["mean", "none"]
    for reduction in reductions:
        o = options if reduction is None else {**options, "reduction": reduction}
        if "sample_weight" in o:
            o = {**o, "sample_weight": backend.asarray(o["sample_weight"])}
        expected = _call(loss, y, p, **{**options, **({} if reduction is None
                                                      else {"reduction": reduction})})
        out = _call(loss, None if y is None else backend.asarray(y), backend.asarray(p), **o)
        assert backend.is_native(out)
        assert tuple(out.shape) == np.shape(expected)
        np.testing.assert_allclose(backend.to_numpy(out), expected, rtol=1e-12, atol=1e-300)
        if loss in (lk.entropy, lk.perplexity):
            continue
        value, grad = lk.value_and_gradient(loss, backend.asarray(y), backend.asarray(p), **o)
        assert backend.is_native(grad) and tuple(grad.shape) == np.shape(p)
        np.testing.assert_allclose(backend.to_numpy(value), expected, rtol=1e-12)
        np.testing.assert_allclose(
            backend.to_numpy(grad),
            lk.gradient(loss, y, p, **{**options, "reduction": reduction}),
            rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", ["float16", "float32", "bfloat16"])
@pytest.mark.parametrize("case", ["kl-logits", "hinge-01", "categorical-hinge",
                                  "binary-focal-logits", "categorical-focal-prob"])
def test_low_precision_is_computed_in_float32_and_returned_as_is(rng, case, dtype):
    loss, y, p, options = _cases(rng)[case]
    torch_dtype = getattr(torch, dtype)
    tp = torch.tensor(p).to(torch_dtype)
    out = loss(torch.tensor(y).to(torch_dtype), tp, **options)
    assert out.dtype == torch_dtype
    # against float64 on the same (rounded) inputs: only the final rounding differs
    exact = loss(torch.tensor(y).to(torch_dtype).double(), tp.double(),
                 **{**options, "check_values": False})
    tol = {"float16": 1e-3, "bfloat16": 8e-3, "float32": 1e-6}[dtype]
    np.testing.assert_allclose(out.double().item(), exact.item(), rtol=tol)
    grad = lk.gradient(loss, torch.tensor(y).to(torch_dtype), tp, **options)
    assert grad.dtype == torch_dtype


def test_jax_jit_and_grad_flow_through():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    rng = np.random.default_rng(3)
    for case in ["binary-focal-logits", "categorical-focal-logits-soft", "kl-logits",
                 "squared-hinge"]:
        loss, y, p, options = _cases(rng)[case]
        options = {**options, "check_values": False}
        jy, jp = jnp.asarray(y), jnp.asarray(p)
        fn = jax.jit(lambda a, b, loss=loss, options=options: loss(a, b, **options))
        np.testing.assert_allclose(fn(jy, jp), loss(y, p, **options), rtol=1e-12)
        np.testing.assert_allclose(jax.grad(fn, argnums=1)(jy, jp),
                                   lk.gradient(loss, y, p, **options), rtol=1e-10, atol=1e-13)


# ------------------------------------------------------------------------------- properties


def _distribution(n_classes):
    return arrays(np.float64, n_classes, elements=st.floats(0.0, 1.0)).filter(
        lambda a: a.sum() > 1e-3).map(lambda a: a / a.sum())


logits = st.integers(2, 6).flatmap(
    lambda c: arrays(np.float64, (3, c), elements=st.floats(-30, 30)))


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 6).flatmap(lambda c: st.tuples(_distribution(c), _distribution(c))))
def test_kl_is_non_negative_and_zero_only_at_p(pq):
    p, q = pq
    assert float(lk.kl_divergence(p, p, eps=0.0)) == 0.0
    assert float(lk.kl_divergence(p, p)) == pytest.approx(0.0, abs=1e-12)
    kl = float(lk.kl_divergence(p, q, eps=0.0))
    assert kl >= -1e-12
    # Gibbs: H(P, Q) >= H(P), with equality only at Q = P
    assert float(lk.categorical_cross_entropy(p, q, eps=0.0)) >= float(lk.entropy(p)) - 1e-12


@settings(max_examples=60, deadline=None)
@given(logits, st.data())
def test_kl_from_logits_is_non_negative(z, data):
    p = data.draw(_distribution(z.shape[1]))
    out = lk.kl_divergence(np.tile(p, (3, 1)), z, from_logits=True, reduction="none")
    assert np.all(out >= -1e-12)
    assert float(lk.kl_divergence(_softmax(z), z, from_logits=True)) == \
        pytest.approx(0.0, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(logits)
def test_entropy_is_between_zero_and_log_c(z):
    h = lk.entropy(z, from_logits=True, reduction="none")
    assert np.all(h >= 0.0) and np.all(h <= math.log(z.shape[1]) * (1 + 1e-12))
    assert np.all(lk.entropy(z, from_logits=True, reduction="none", unit="bits")
                  <= math.log2(z.shape[1]) * (1 + 1e-12))


@settings(max_examples=60, deadline=None)
@given(arrays(np.int64, 8, elements=st.integers(0, 1)),
       arrays(np.float64, 8, elements=st.floats(-1e3, 1e3)))
def test_hinge_bounds_the_zero_one_loss(y, s):
    t = 2 * y - 1
    hinge = lk.hinge_loss(y, s, reduction="none")
    squared = lk.squared_hinge_loss(y, s, reduction="none")
    mistakes = (t * s <= 0).astype(float)
    assert np.all(hinge >= mistakes) and np.all(squared >= mistakes)
    assert np.all(hinge[t * s >= 1] == 0) and np.all(squared[t * s >= 1] == 0)
    np.testing.assert_array_equal(lk.hinge_loss(t, s, reduction="none"), hinge)


@settings(max_examples=60, deadline=None)
@given(logits, st.data())
def test_categorical_hinge_bounds_the_zero_one_loss(s, data):
    labels = np.array(data.draw(st.lists(st.integers(0, s.shape[1] - 1), min_size=3,
                                         max_size=3)))
    out = lk.categorical_hinge_loss(np.eye(s.shape[1])[labels], s, reduction="none")
    wrong = np.array([s[i, labels[i]] <= np.max(np.delete(s[i], labels[i]))
                      for i in range(3)])
    assert np.all(out >= 0) and np.all(out[wrong] >= 1 - 1e-12)  # 1 + m - s rounds at ties


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, 6, elements=st.floats(0, 1)),
       arrays(np.float64, 6, elements=st.floats(-40, 40)),
       st.floats(0.0, 5.0), st.floats(0.0, 5.0))
def test_focal_is_below_cross_entropy_and_decreases_with_gamma(y, z, g1, g2):
    low, high = sorted((g1, g2))
    bce = lk.binary_cross_entropy(y, z, from_logits=True, reduction="none")
    f_low = lk.binary_focal_loss(y, z, from_logits=True, gamma=low, reduction="none")
    f_high = lk.binary_focal_loss(y, z, from_logits=True, gamma=high, reduction="none")
    assert np.all(f_high >= 0) and np.all(f_high <= f_low * (1 + 1e-12) + 1e-300)
    assert np.all(f_low <= bce * (1 + 1e-12))
    np.testing.assert_allclose(lk.binary_focal_loss(y, z, from_logits=True, gamma=0.0,
                                                    reduction="none"), bce, rtol=1e-13)


@settings(max_examples=60, deadline=None)
@given(logits, st.data(), st.floats(0.0, 5.0))
def test_categorical_focal_is_below_cross_entropy(z, data, gamma):
    labels = np.array(data.draw(st.lists(st.integers(0, z.shape[1] - 1), min_size=3,
                                         max_size=3)))
    y = np.eye(z.shape[1])[labels]
    ce = lk.categorical_cross_entropy(y, z, from_logits=True, reduction="none")
    focal = lk.categorical_focal_loss(y, z, from_logits=True, gamma=gamma, reduction="none")
    # log-softmax rounds log(1 + tiny) with an absolute error of ~1e-16: hence the atol
    assert np.all(focal >= 0) and np.all(focal <= ce * (1 + 1e-12) + 1e-15)
    np.testing.assert_allclose(
        lk.categorical_focal_loss(y, z, from_logits=True, gamma=0.0, reduction="none"), ce,
        rtol=1e-13, atol=1e-15)
    assert float(lk.perplexity(labels, z, from_logits=True)) >= 1.0


# ------------------------------------------------------------------------------- bad inputs


P = [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]
Y = [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]

BAD = [
    (lambda: lk.kl_divergence([[0.5, 0.6, 0.0], [0.0, 0.0, 1.0]], P),
     ValueError, r"^kl_divergence: y_true rows do not sum to 1 \(row 0 sums to 1\.1"),
    (lambda: lk.kl_divergence([[1.5, -0.5, 0.0], [0.0, 0.0, 1.0]], P),
     ValueError, r"^kl_divergence: y_true has values outside \[0, 1\]"),
    (lambda: lk.kl_divergence(Y, [[0.5, 0.5, 0.5], [0.1, 0.3, 0.6]]),
     ValueError, r"^kl_divergence: y_pred rows do not sum to 1.*logits with from_logits=True"),
    (lambda: lk.kl_divergence(Y, [[0.0, math.nan, 0.0], [0.0, 0.0, 0.0]], from_logits=True),
     ValueError, r"^kl_divergence: y_pred has NaN"),
    (lambda: lk.kl_divergence(Y, [[1.0, 0.0], [0.0, 1.0]]),
     ValueError, r"^kl_divergence: y_true has shape \(2, 3\) but y_pred has shape \(2, 2\)"),
    (lambda: lk.entropy([[0.5, 0.6], [0.5, 0.5]]),
     ValueError, r"^entropy: p rows do not sum to 1 \(row 0"),
    (lambda: lk.entropy([[1.2, -0.2]]), ValueError, r"^entropy: p has values outside"),
    (lambda: lk.entropy([[math.nan, 0.0]], from_logits=True), ValueError, r"^entropy: p has NaN"),
    (lambda: lk.entropy([0.5, 0.5], reduction="avg"), ValueError, r"^entropy: reduction must be"),
    (lambda: lk.hinge_loss([1, 2, 0], [0.5, 0.5, 0.5]),
     ValueError, r"^hinge_loss: y_true has label 2 at index 1, not in \{0, 1\} or \{-1, 1\}"),
    (lambda: lk.hinge_loss([1, 0.5], [0.5, 0.5]), ValueError, r"^hinge_loss: y_true has label 0.5"),
    (lambda: lk.hinge_loss([1, 0, -1], [0.5, 0.5, 0.5]),
     ValueError, r"^hinge_loss: y_true mixes labels 0 and -1\. Use one coding"),
    (lambda: lk.squared_hinge_loss([1, 0], [0.5, math.nan]),
     ValueError, r"^squared_hinge_loss: y_pred has NaN"),
    (lambda: lk.categorical_hinge_loss([[1, 1, 0], [0, 0, 1]], P),
     ValueError, r"^categorical_hinge_loss: y_true is not one-hot"),
    (lambda: lk.categorical_hinge_loss([[0.5, 0.5, 0], [0, 0, 1]], P),
     ValueError, r"^categorical_hinge_loss: y_true is not one-hot"),
    (lambda: lk.categorical_hinge_loss([[1.0], [1.0]], [[0.3], [0.2]]),
     ValueError, r"^categorical_hinge_loss: y_pred has 1 class.*use hinge_loss"),
    (lambda: lk.binary_focal_loss([1.0, 0.0], [0.5, 0.5], gamma=-1.0),
     ValueError, r"^binary_focal_loss: gamma must be a number in \[0.0, inf\); got -1.0"),
    (lambda: lk.binary_focal_loss([1.0, 0.0], [0.5, 0.5], alpha=1.5),
     ValueError, r"^binary_focal_loss: alpha must be None or a number in \[0.0, 1.0\]"),
    (lambda: lk.binary_focal_loss([2.0, 0.0], [0.5, 0.5]),
     ValueError, r"^binary_focal_loss: y_true has values outside \[0, 1\].*\(y \+ 1\) / 2"),
    (lambda: lk.binary_focal_loss([1.0, 0.0], [1.5, 0.5]),
     ValueError, r"^binary_focal_loss: y_pred has values outside.*from_logits=True"),
    (lambda: lk.categorical_focal_loss(Y, P, gamma=math.nan),
     ValueError, r"^categorical_focal_loss: gamma must be a number"),
    (lambda: lk.categorical_focal_loss(Y, P, alpha=-0.1),
     ValueError, r"^categorical_focal_loss: alpha must be"),
    (lambda: lk.categorical_focal_loss([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]], P),
     ValueError, r"^categorical_focal_loss: y_true rows do not sum to 1"),
    (lambda: lk.categorical_focal_loss(Y, [[0.7, 0.2, 0.2], [0.1, 0.3, 0.6]]),
     ValueError, r"^categorical_focal_loss: y_pred rows do not sum to 1"),
    (lambda: lk.perplexity([0.0, 1.5], P),
     ValueError, r"^perplexity: y_true has a non-integer label 1.5"),
    (lambda: lk.perplexity([[0], [1]], P),
     ValueError, r"^perplexity: y_true has shape \(2, 1\)"),
    (lambda: lk.perplexity([0, -1], P, ignore_index=-1, sample_weight=[0.0, 1.0]),
     ValueError, r"^perplexity: y_true is ignore_index=-1 \(or weight 0\) everywhere"),
]


@pytest.mark.parametrize(("call", "error", "pattern"), BAD)
def test_bad_input_gets_a_clear_error(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_checks_can_be_switched_off_for_hot_loops():
    # no host synchronisation: labels are mapped element by element, 0 and -1 both negative
    out = lk.hinge_loss([1, 0, -1], [0.5, 0.5, 0.5], check_values=False, reduction="none")
    np.testing.assert_array_equal(out, [0.5, 1.5, 1.5])
