"""``ranking_softmax_loss`` against optax's ``ranking_softmax_loss``: the cases of optax's own
``optax/losses/_ranking_test.py`` (their expected numbers written as there, from the formula),
random lists with masks and item weights, gradients against JAX and PyTorch autograd and
finite differences, the deliberate difference (an all-masked mean is an error), errors and
properties."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import losskit as lk

exp, log = math.exp, math.log
rank = lk.ranking_softmax_loss


@pytest.fixture(scope="module")
def optax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return pytest.importorskip("optax")


def _theirs(optax, y, s, reduction="mean", where=None, weights=None):
    """optax's value and jax.grad for losskit's ``reduction``."""
    import jax
    import jax.numpy as jnp

    reduce_fn = {"mean": jnp.mean, "sum": jnp.sum, "none": None}[reduction]
    extra = {k: jnp.asarray(v) for k, v in (("where", where), ("weights", weights))
             if v is not None}

    def value(z):
        return jnp.sum(optax.losses.ranking_softmax_loss(z, jnp.asarray(y), reduce_fn=reduce_fn,
                                                         **extra))

    z = jnp.asarray(s)
    out = optax.losses.ranking_softmax_loss(z, jnp.asarray(y), reduce_fn=reduce_fn, **extra)
    return np.asarray(out), np.asarray(jax.grad(value)(z))


# ------------------------------------------------------------- optax's RankingLossesTest


def test_optax_computes_loss_value():
    s, y = np.array([0.0, 3.0, 1.0, 2.0]), np.array([0.0, 0.0, 1.0, 1.0])
    total = exp(0.0) + exp(3.0) + exp(1.0) + exp(2.0)
    expected = -(log(exp(2.0) / total) + log(exp(1.0) / total))
    np.testing.assert_allclose(float(rank(y, s, reduction="sum")), expected, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_optax_computes_loss_with_extreme_inputs(optax, dtype):
    s = np.array([0.0, -2.1e26, 3.4e37, 42.0], dtype=dtype)
    y = np.array([0.0, 1.0, 1.0, 0.0], dtype=dtype)
    expected = -((-2.1e26 - (0.0 + -2.1e26 + 3.4e37 + 42.0))
                 + (3.4e37 - (0.0 + -2.1e26 + 3.4e37 + 42.0)))
    value = rank(y, s, reduction="sum")
    assert value.dtype == dtype and np.isfinite(value)
    np.testing.assert_allclose(float(value), expected, rtol=1e-3)  # optax's tolerance
    np.testing.assert_allclose(float(value), _theirs(optax, y, s, "sum")[0], rtol=1e-6)
    assert np.all(np.isfinite(lk.gradient(rank, y, s)))


def test_optax_computes_loss_for_zero_labels(optax):
    s, y = np.array([0.0, 3.0, 1.0, 2.0]), np.zeros(4)
    assert float(rank(y, s, reduction="sum")) == 0.0
    # and its gradient is 0, not NaN (test_grad_does_not_return_nan_for_zero_labels)
    gradient = lk.gradient(rank, y, s)
    assert not np.any(gradient)
    np.testing.assert_array_equal(gradient, _theirs(optax, y, s)[1])


def test_optax_computes_weighted_loss_value():
    s, y = np.array([0.0, 3.0, 2.0, 1.0]), np.array([0.0, 0.0, 1.0, 1.0])
    total = exp(0.0) + exp(3.0) + exp(1.0) + exp(2.0)
    expected = -(2.0 * log(exp(2.0) / total) + log(exp(1.0) / total))
    got = rank(y, s, item_weight=np.array([1.0, 1.0, 2.0, 1.0]), reduction="sum")
    np.testing.assert_allclose(float(got), expected, rtol=1e-12)


def test_optax_computes_loss_value_per_list():
    # test_computes_loss_value_with_vmap: losskit's leading axes are the lists
    s = np.array([[0.0, 3.0, 1.0, 2.0], [3.0, 1.0, 4.0, 2.0]])
    y = np.array([[0.0, 0.0, 1.0, 1.0], [2.0, 0.0, 1.0, 0.0]])
    t1 = exp(0.0) + exp(3.0) + exp(1.0) + exp(2.0)
    t2 = exp(3.0) + exp(1.0) + exp(4.0) + exp(2.0)
    expected = [-(log(exp(2.0) / t1) + log(exp(1.0) / t1)),
                -(2.0 * log(exp(3.0) / t2) + log(exp(4.0) / t2))]
    got = rank(y, s, reduction="none")
    assert got.shape == (2,)  # test_computes_unreduced_loss
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    np.testing.assert_allclose(float(rank(y, s, reduction="sum")), sum(expected), rtol=1e-12)


def test_optax_computes_reduced_loss():
    s = np.array([[2.0, 1.0, 3.0], [1.0, 0.5, 1.5]])
    y = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    expected = np.array([-log(exp(2.0) / (exp(2.0) + exp(1.0) + exp(3.0))),
                         -log(exp(1.5) / (exp(1.0) + exp(0.5) + exp(1.5)))])
    np.testing.assert_allclose(float(rank(y, s)), expected.sum() / 2.0, rtol=1e-12)
    np.testing.assert_allclose(float(rank(y, s, reduction="sum")), expected.sum(), rtol=1e-12)


def test_optax_where_masks_items_and_lists(optax):
    # test_computes_loss_value_with_where
    s, y = np.array([0.0, 3.0, 1.0, 2.0]), np.array([0.0, 0.0, 2.0, 1.0])
    where = np.array([True, True, True, False])
    np.testing.assert_allclose(float(rank(y, s, where=where)),
                               float(rank(y[:3], s[:3])), rtol=1e-12)
    # test_computes_loss_with_arbitrary_batch_dimensions
    s1, y1, w1 = np.array([2.0, 3.0, 1.0]), np.array([0.0, 0.0, 1.0]), np.array([0, 1, 1.0])
    np.testing.assert_allclose(float(rank(y1[None, None, None], s1[None, None, None],
                                          where=w1[None, None, None] > 0)),
                               float(rank(y1, s1, where=w1 > 0)), rtol=1e-12)
    # test_ignores_lists_containing_only_invalid_items: the mean is over the other lists
    s2 = np.array([[0.0, 3.0, 1.0, 2.0], [3.0, 1.0, 4.0, 2.0]])
    y2 = np.array([[0.0, 0.0, 1.0, 1.0], [2.0, 0.0, 1.0, 0.0]])
    mask = np.array([[1, 1, 1, 1], [0, 0, 0, 0]], dtype=bool)
    np.testing.assert_allclose(float(rank(y2, s2, where=mask)), float(rank(y2[0], s2[0])),
                               rtol=1e-12)
    np.testing.assert_allclose(float(rank(y2, s2, where=mask)),
                               float(_theirs(optax, y2, s2, where=mask)[0]), rtol=1e-12)
    # masks given as 0/1 numbers are the same masks
    np.testing.assert_allclose(float(rank(y2, s2, where=mask.astype(int))),
                               float(rank(y2, s2, where=mask)), rtol=0)


def test_optax_all_masked(optax):
    # optax returns 0 for the mean of no list (test_computes_loss_value_with_all_masked);
    # losskit refuses that mean (docs/conventions.md), and agrees on the sum and the gradient
    s, y = np.array([0.0, 3.0, 1.0, 2.0]), np.array([0.0, 0.0, 1.0, 1.0])
    where = np.zeros(4, dtype=bool)
    assert float(_theirs(optax, y, s, where=where)[0]) == 0.0
    with pytest.raises(ValueError, match=r"ranking_softmax_loss: where leaves out every item "
                                         r"of every list, so the mean over lists is undefined"):
        rank(y, s, where=where)
    assert float(rank(y, s, where=where, reduction="sum")) == 0.0
    assert float(rank(y, s, where=where, check_values=False)) == 0.0
    gradient = lk.gradient(rank, y, s, where=where, reduction="sum")
    np.testing.assert_array_equal(gradient, 0.0)  # test_grad_does_not_return_nan_with_all_masked
    np.testing.assert_array_equal(_theirs(optax, y, s, "sum", where=where)[1], gradient)


def test_optax_docstring_examples():
    # optax's module docstring: 1.408, then a masked batch 0.497, gradients
    np.testing.assert_allclose(float(rank([1.0, 0.0, 0.0], [2.0, 1.0, 3.0])), 1.408, atol=5e-4)
    s = np.array([[2.0, 1.0, 0.0], [1.0, 0.5, 1.5]])
    y = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    where = np.array([[True, True, False], [True, True, True]])
    np.testing.assert_allclose(float(rank(y, s, where=where)), 0.497, atol=5e-4)
    np.testing.assert_allclose(lk.gradient(rank, [1.0, 0.0, 0.0], [2.0, 1.0, 3.0]),
                               [-0.755, 0.09, 0.665], atol=5e-4)


# --------------------------------------------------------------------- random and gradients


@functools.cache
def _random_lists(seed):
    rng = np.random.default_rng(seed)
    shape = (3, 5)
    return (rng.integers(0, 3, size=shape).astype(float), rng.normal(size=shape) * 3,
            rng.random(shape) > 0.3, rng.uniform(0.5, 2.0, size=shape))


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("extra", ["", "where", "weights", "both"])
def test_random_lists_agree_with_optax(optax, seed, reduction, extra):
    y, s, where, weights = _random_lists(seed)
    where = where if extra in ("where", "both") else None
    weights = weights if extra in ("weights", "both") else None
    value, gradient = _theirs(optax, y, s, reduction, where=where, weights=weights)
    ours, our_gradient = lk.value_and_gradient(rank, y, s, reduction=reduction, where=where,
                                               item_weight=weights)
    np.testing.assert_allclose(ours, value, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(our_gradient, gradient, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gradient_against_pytorch_autograd_and_finite_differences(reduction):
    torch = pytest.importorskip("torch")
    y, s, where, weights = _random_lists(7)
    w = None if reduction == "none" else np.array([0.5, 2.0, 1.0])
    options = {"where": where, "item_weight": weights, "reduction": reduction,
               "sample_weight": w}
    analytic = lk.gradient(rank, y, s, **options)
    t = torch.tensor(s, requires_grad=True)
    torch.sum(rank(torch.tensor(y), t, **options)).backward()
    np.testing.assert_allclose(t.grad.numpy(), analytic, rtol=1e-10, atol=1e-14)
    numeric = np.zeros_like(s)
    for index in np.ndindex(s.shape):
        step = np.zeros_like(s)
        step[index] = 1e-6
        numeric[index] = (np.sum(rank(y, s + step, **options))
                          - np.sum(rank(y, s - step, **options))) / 2e-6
    np.testing.assert_allclose(numeric, analytic, rtol=1e-6, atol=1e-8)


def test_sample_weights_weigh_lists():
    y, s, where, _ = _random_lists(4)
    w = np.array([1.0, 3.0, 0.5])
    per_list = rank(y, s, reduction="none", where=where)
    np.testing.assert_allclose(float(rank(y, s, where=where, sample_weight=w)),
                               np.sum(w * per_list) / w.sum(), rtol=1e-12)
    np.testing.assert_allclose(float(rank(y, s, sample_weight=w, convention="torch")),
                               np.sum(w * rank(y, s, reduction="none")) / 3, rtol=1e-12)


@pytest.mark.parametrize("call,message", [
    (lambda: rank([1.0, -1.0], [0.0, 1.0]), r"y_true has the negative value -1 at index 1"),
    (lambda: rank([1.0, 0.0], [0.0, np.nan]), r"y_pred has NaN"),
    (lambda: rank([1.0, 0.0], [0.0, 1.0], where=[True]), r"where has shape \(1,\) but y_pred "
                                                          r"has shape \(2,\)"),
    (lambda: rank([1.0, 0.0], [0.0, 1.0], item_weight=[1.0, -2.0]),
     r"item_weight has the negative value -2 at index 1"),
    (lambda: rank([1.0, 0.0], [0.0, 1.0], item_weight=[1.0]),
     r"item_weight has shape \(1,\) but y_pred has shape \(2,\)"),
    (lambda: rank([1.0, 0.0, 0.0], [0.0, 1.0]), r"y_true has shape \(3,\) but y_pred"),
])
def test_errors(call, message):
    with pytest.raises(ValueError, match="ranking_softmax_loss: " + message):
        call()


def test_negative_relevances_with_check_values_off_are_optaxs(optax):
    y, s = np.array([1.0, -1.0, 0.5]), np.array([0.2, 0.1, -0.3])
    np.testing.assert_allclose(float(rank(y, s, check_values=False)),
                               float(_theirs(optax, y, s)[0]), rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), shift=st.floats(-1e3, 1e3))
def test_properties(seed, shift):
    rng = np.random.default_rng(seed)
    y, s = rng.integers(0, 3, size=(2, 6)).astype(float), rng.normal(size=(2, 6)) * 5
    value, gradient = lk.value_and_gradient(rank, y, s, reduction="none")
    # the softmax ignores a shift of a list's scores; the gradient sums to 0 over a list
    np.testing.assert_allclose(rank(y, s + shift, reduction="none"), value, rtol=1e-9,
                               atol=1e-9)
    np.testing.assert_allclose(gradient.sum(axis=-1), 0.0, atol=1e-12)
    # non-negative, 0 exactly when no item is relevant, and the order of items is free
    assert np.all(value >= 0)
    order = rng.permutation(6)
    np.testing.assert_allclose(rank(y[:, order], s[:, order], reduction="none"), value,
                               rtol=1e-9, atol=1e-14)
    # one relevant item: the categorical cross-entropy of the softmax picking it
    labels = rng.integers(0, 6, size=2)
    np.testing.assert_allclose(rank(np.eye(6)[labels], s, reduction="none"),
                               lk.sparse_categorical_cross_entropy(labels, s, from_logits=True,
                                                                   reduction="none"),
                               rtol=1e-9, atol=1e-14)


# ------------------------------------------------------------------ pairwise (no framework)

PAIRWISE = [lk.pairwise_logistic_loss, lk.pairwise_hinge_loss]


@pytest.mark.parametrize("fn", PAIRWISE)
def test_pairwise_against_the_pairs_written_out(fn):
    rng = np.random.default_rng(9)
    y, s = rng.integers(0, 3, size=(4, 5)).astype(float), rng.normal(size=(4, 5)) * 2
    where = rng.random((4, 5)) > 0.2
    term = (lambda d: np.log1p(np.exp(-d))) if fn is lk.pairwise_logistic_loss else \
        (lambda d: max(0.0, 0.5 - d))
    options = {} if fn is lk.pairwise_logistic_loss else {"margin": 0.5}
    expected, listed = [], []
    for row in range(4):
        pairs = [(i, j) for i in range(5) for j in range(5)
                 if where[row, i] and where[row, j] and y[row, i] > y[row, j]]
        expected.append(np.mean([term(s[row, i] - s[row, j]) for i, j in pairs])
                        if pairs else 0.0)
        if pairs:
            listed.append(expected[-1])
    np.testing.assert_allclose(fn(y, s, where=where, reduction="none", **options), expected,
                               rtol=1e-12)
    # the mean is over the lists that have a pair
    np.testing.assert_allclose(float(fn(y, s, where=where, **options)), np.mean(listed),
                               rtol=1e-12)


@pytest.mark.parametrize("fn", PAIRWISE)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_pairwise_gradient(fn, reduction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(10)
    y, s = rng.integers(0, 3, size=(3, 4)).astype(float), rng.normal(size=(3, 4)) * 2
    options = {"reduction": reduction, "where": rng.random((3, 4)) > 0.2,
               "sample_weight": None if reduction == "none" else np.array([1.0, 0.5, 2.0])}
    analytic = lk.gradient(fn, y, s, **options)
    t = torch.tensor(s, requires_grad=True)
    torch.sum(fn(torch.tensor(y), t, **options)).backward()
    np.testing.assert_allclose(t.grad.numpy(), analytic, rtol=1e-10, atol=1e-14)
    numeric = np.zeros_like(s)
    for index in np.ndindex(s.shape):
        step = np.zeros_like(s)
        step[index] = 1e-6
        numeric[index] = (np.sum(fn(y, s + step, **options))
                          - np.sum(fn(y, s - step, **options))) / 2e-6
    np.testing.assert_allclose(numeric, analytic, rtol=1e-6, atol=1e-8)


def test_pairwise_hinge_is_margin_ranking_over_the_ordered_pairs():
    y, s = np.array([2.0, 0.0, 1.0]), np.array([0.1, 0.4, -0.2])
    pairs = [(0, 1), (0, 2), (2, 1)]  # (higher, lower)
    stacked = np.array([[s[i], s[j]] for i, j in pairs])
    np.testing.assert_allclose(float(lk.pairwise_hinge_loss(y, s, margin=0.3)),
                               float(lk.margin_ranking_loss(np.ones(3), stacked, margin=0.3)),
                               rtol=1e-12)


@pytest.mark.parametrize("fn", PAIRWISE)
def test_pairwise_edge_cases_and_errors(fn):
    s = np.array([0.3, 0.0, -1.0])
    with pytest.raises(ValueError, match=fn.__name__ + r": y_true has no two \(valid\) items "
                                                       r"of different relevance"):
        fn([1.0, 1.0, 1.0], s)
    assert float(fn([1.0, 1.0, 1.0], s, reduction="sum")) == 0.0
    assert not np.any(lk.gradient(fn, [1.0, 1.0, 1.0], s, reduction="sum"))
    with pytest.raises(ValueError, match=fn.__name__ + r": y_pred has NaN"):
        fn([1.0, 0.0, 0.0], [0.0, np.nan, 1.0])
    # extreme scores stay finite
    value, gradient = lk.value_and_gradient(fn, [1.0, 0.0, 0.0], [-1e300, 0.0, 1e300])
    assert np.isfinite(float(value)) and np.all(np.isfinite(gradient))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_pairwise_properties(seed):
    rng = np.random.default_rng(seed)
    y, s = rng.integers(0, 4, size=(2, 5)).astype(float), rng.normal(size=(2, 5))
    y[:, 0], y[:, 1] = 0.0, 3.0  # every list has a pair
    for fn in PAIRWISE:
        value = fn(y, s, reduction="none")
        # only the order of the relevances matters, and a shift of the scores changes nothing
        np.testing.assert_allclose(fn(np.exp(y), s, reduction="none"), value, rtol=1e-12)
        np.testing.assert_allclose(fn(y, s + 7.5, reduction="none"), value, rtol=1e-9)
        assert np.all(value >= 0)
        np.testing.assert_allclose(lk.gradient(fn, y, s).sum(axis=-1), 0.0, atol=1e-12)
