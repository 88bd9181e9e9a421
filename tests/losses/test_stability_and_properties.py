"""Numerical stability at the extremes, and properties that must hold for any input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import losskit as lk
import losskit._torch

# ------------------------------------------------------------------ extremes, exact limits


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_bce_large_logits_are_finite_and_exact(dtype):
    z = np.array([1e4, -1e4, 1e4, -1e4], dtype=dtype)
    y = np.array([1, 0, 0, 1], dtype=dtype)
    out = lk.binary_cross_entropy(y, z, from_logits=True, reduction="none")
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, np.array([0, 0, 1e4, 1e4], dtype=dtype))


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_cce_large_logits_are_finite_and_exact(dtype):
    z = np.array([[1e4, -1e4, 0.0], [1e4, -1e4, 0.0]], dtype=dtype)
    out = lk.sparse_categorical_cross_entropy([0, 2], z, from_logits=True, reduction="none")
    np.testing.assert_array_equal(out, np.array([0.0, 1e4], dtype=dtype))


def test_infinite_logits_give_the_limit():
    inf = math.inf
    out = lk.binary_cross_entropy([1.0, 0.0, 0.5], [inf, -inf, inf], from_logits=True,
                                  reduction="none")
    np.testing.assert_array_equal(out[:2], [0.0, 0.0])
    assert out[2] == inf  # the true value: half the mass on an impossible outcome
    out = lk.sparse_categorical_cross_entropy([0, 1, 0], [[inf, 0.0, -inf],
                                                          [inf, 0.0, -inf],
                                                          [inf, inf, 0.0]],
                                              from_logits=True, reduction="none")
    np.testing.assert_allclose(out, [0.0, inf, math.log(2)])


def test_bce_eps_zero_is_exact():
    assert float(lk.binary_cross_entropy([1.0, 0.0], [1.0, 0.0], eps=0.0)) == 0.0
    assert float(lk.binary_cross_entropy([1.0], [0.0], eps=0.0)) == math.inf
    p = np.array([1e-300, 0.3])
    np.testing.assert_allclose(lk.binary_cross_entropy([1.0, 1.0], p, eps=0.0, reduction="none"),
                               -np.log(p), rtol=1e-15)


def test_float16_probabilities_do_not_collapse():
    p = np.array([0.999, 0.001, 0.5], dtype="float16")
    out = lk.binary_cross_entropy(np.array([1, 0, 1], dtype="float16"), p)
    expected = -np.mean([np.log(np.float64(p[0])), np.log1p(-np.float64(p[1])),
                         np.log(0.5)])
    assert out.dtype == np.float16
    np.testing.assert_allclose(float(out), expected, rtol=1e-3)


def test_zero_weight_samples_contribute_nothing_even_if_infinite():
    out = lk.binary_cross_entropy([1.0, 1.0], [0.0, 0.5], eps=0.0, sample_weight=[0.0, 1.0])
    np.testing.assert_allclose(out, math.log(2))
    none = lk.binary_cross_entropy([1.0, 1.0], [0.0, 0.5], eps=0.0, sample_weight=[0.0, 1.0],
                                   reduction="none")
    np.testing.assert_allclose(none, [0.0, math.log(2)])


def test_all_ignored_with_checks_off_gives_zero_not_nan():
    out = lk.sparse_categorical_cross_entropy([-1, -1], [[0.0, 1.0], [1.0, 0.0]],
                                              from_logits=True, ignore_index=-1,
                                              check_values=False)
    assert float(out) == 0.0


# ------------------------------------------------------------------------------- properties

finite = st.floats(-30, 30, allow_nan=False, width=64)
probability = st.floats(0, 1, allow_nan=False, width=64)


@st.composite
def logits_and_labels(draw):
    n = draw(st.integers(1, 8))
    c = draw(st.integers(2, 6))
    z = draw(arrays(np.float64, (n, c), elements=finite))
    labels = draw(arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
    return z, labels


@settings(max_examples=60, deadline=None)
@given(logits_and_labels(), st.floats(-1e3, 1e3))
def test_cross_entropy_is_invariant_to_shifting_a_row_of_logits(data, shift):
    z, labels = data
    base = lk.sparse_categorical_cross_entropy(labels, z, from_logits=True, reduction="none")
    shifted = lk.sparse_categorical_cross_entropy(labels, z + shift, from_logits=True,
                                                  reduction="none")
    np.testing.assert_allclose(shifted, base, rtol=1e-9, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(logits_and_labels(), st.floats(0, 1))
def test_cross_entropy_is_non_negative_and_matches_one_hot(data, smoothing):
    z, labels = data
    sparse = lk.sparse_categorical_cross_entropy(labels, z, from_logits=True,
                                                 label_smoothing=smoothing, reduction="none")
    assert np.all(sparse >= 0)
    dense = lk.categorical_cross_entropy(np.eye(z.shape[1])[labels], z, from_logits=True,
                                         label_smoothing=smoothing, reduction="none")
    np.testing.assert_allclose(dense, sparse, rtol=1e-12, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(1, 20), elements=probability),
       arrays(np.float64, st.integers(1, 20), elements=probability))
def test_bce_is_non_negative(y, p):
    n = min(len(y), len(p))
    assert float(lk.binary_cross_entropy(y[:n], p[:n])) >= 0


@settings(max_examples=60, deadline=None)
@given(arrays(np.int64, st.integers(1, 20), elements=st.integers(0, 1)))
def test_perfect_predictions_have_zero_loss(labels):
    y = labels.astype(float)
    assert float(lk.binary_cross_entropy(y, y, eps=0.0)) == 0.0
    assert float(lk.mean_squared_error(y, y)) == 0.0
    one_hot = np.eye(2)[labels]
    assert float(lk.categorical_cross_entropy(one_hot, one_hot, eps=0.0)) == 0.0
    assert float(lk.sparse_categorical_cross_entropy(labels, one_hot, eps=0.0)) == 0.0


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(1, 20), elements=finite),
       arrays(np.float64, st.integers(1, 20), elements=probability))
def test_bce_from_logits_equals_bce_of_sigmoid(z, y):
    n = min(len(z), len(y))
    z, y = z[:n], y[:n]
    p = 1 / (1 + np.exp(-z))
    from_probabilities = lk.binary_cross_entropy(y, p, eps=0.0, reduction="none")
    from_logits = lk.binary_cross_entropy(y, z, from_logits=True, reduction="none")
    ok = (p > 1e-6) & (p < 1 - 1e-6)  # where rounding 1 - p loses no digits that matter
    np.testing.assert_allclose(from_logits[ok], from_probabilities[ok], rtol=1e-7, atol=1e-10)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(1, 30), elements=st.floats(0.01, 10)),
       st.integers(0, 2**31 - 1))
def test_mean_is_weighted_sum_over_weight_total(w, seed):
    rng = np.random.default_rng(seed)
    y, p = rng.normal(size=len(w)), rng.normal(size=len(w))
    total = lk.mean_squared_error(y, p, sample_weight=w, reduction="sum")
    np.testing.assert_allclose(lk.mean_squared_error(y, p, sample_weight=w), total / w.sum(),
                               rtol=1e-12)
    np.testing.assert_allclose(lk.mean_squared_error(y, p, sample_weight=w, reduction="none"),
                               w * (p - y) ** 2, rtol=1e-12)


@pytest.mark.parametrize("check_values", [True, False])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_infinite_logits_on_every_backend(backend, smoothing, check_values, monkeypatch):
    if backend.name == "torch" and not check_values:
        # take the branch-free path an accelerator tensor takes (no host read)
        monkeypatch.setattr(losskit._torch, "host_reads_are_free", lambda x: False)
    inf = math.inf
    z = backend.asarray([[inf, 0.0, -inf], [inf, inf, 0.0], [3.0, -inf, 1.0]])
    labels = backend.asarray([0, 1, 2])
    out = lk.sparse_categorical_cross_entropy(labels, z, from_logits=True, reduction="none",
                                              label_smoothing=smoothing,
                                              check_values=check_values)
    expected = lk.sparse_categorical_cross_entropy(
        [0, 1, 2], backend.to_numpy(z), from_logits=True, reduction="none",
        label_smoothing=smoothing)
    if smoothing == 0.0:
        np.testing.assert_allclose(expected, [0.0, math.log(2), math.log1p(math.exp(2.0))])
    else:
        assert np.all(np.isinf(expected))  # smoothing gives mass to impossible classes
    _assert_limit(backend, check_values, out, expected)
    grad = lk.gradient(lk.sparse_categorical_cross_entropy, labels, z, from_logits=True,
                       check_values=check_values)
    assert np.all(np.isfinite(backend.to_numpy(grad)))
    dense = lk.categorical_cross_entropy(np.eye(3)[[0, 1, 2]], z, from_logits=True,
                                         reduction="none", label_smoothing=smoothing,
                                         check_values=check_values)
    _assert_limit(backend, check_values, dense, expected)


def _assert_limit(backend, check_values, out, expected):
    got = backend.to_numpy(out)
    if backend.name == "torch" and not check_values:
        # without a host read, torch takes +inf as the largest float: exact where the loss is
        # finite, above 1e38 where it is infinite (documented in _array.log_softmax)
        assert np.all(got[np.isinf(expected)] > 1e38)
        got = np.where(np.isinf(expected), expected, got)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
