"""The three losses of the article against scikit-learn and PyTorch, on random and edge inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import log_loss
from sklearn.metrics import mean_squared_error as sk_mse

import losskit as lk

RTOL = {"float64": 1e-12, "float32": 1e-6}


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _close(actual, expected, dtype="float64"):
    np.testing.assert_allclose(np.asarray(actual, dtype="float64"), expected,
                               rtol=RTOL[dtype], atol=0)


# ---------------------------------------------------------------- mean squared error vs sklearn

@pytest.mark.parametrize("shape", [(50,), (40, 3)])
@pytest.mark.parametrize("weighted", [False, True])
def test_mse_matches_sklearn(rng, shape, weighted):
    y, p = rng.normal(size=shape), rng.normal(size=shape)
    w = rng.uniform(0.1, 3, size=shape[0]) if weighted else None
    _close(lk.mean_squared_error(y, p, sample_weight=w), sk_mse(y, p, sample_weight=w))


def test_mse_float32_matches_sklearn(rng):
    y, p = rng.normal(size=1000).astype("float32"), rng.normal(size=1000).astype("float32")
    value = lk.mean_squared_error(y, p)
    assert value.dtype == np.float32
    _close(value, sk_mse(y.astype("float64"), p.astype("float64")), "float32")


def test_mse_reductions(rng):
    y, p, w = rng.normal(size=20), rng.normal(size=20), rng.uniform(0, 2, size=20)
    per = (p - y) ** 2
    _close(lk.mean_squared_error(y, p, sample_weight=w, reduction="none"), w * per)
    _close(lk.mean_squared_error(y, p, sample_weight=w, reduction="sum"), (w * per).sum())


# ----------------------------------------------------------- binary cross-entropy vs sklearn

@pytest.mark.parametrize("weighted", [False, True])
def test_bce_probabilities_match_sklearn_log_loss(rng, weighted):
    y = rng.integers(0, 2, size=200)
    p = rng.uniform(0, 1, size=200)
    p[:3] = [0.0, 1.0, 1e-300]  # clipped exactly like log_loss (dtype eps)
    w = rng.uniform(0.1, 2, size=200) if weighted else None
    _close(lk.binary_cross_entropy(y, p, sample_weight=w),
           log_loss(y, p, sample_weight=w, labels=[0, 1]))


def test_bce_float32_matches_sklearn_log_loss(rng):
    y = rng.integers(0, 2, size=500)
    p = rng.uniform(0, 1, size=500).astype("float32")
    _close(lk.binary_cross_entropy(y, p), log_loss(y, p, labels=[0, 1]), "float32")


def test_bce_article_example_has_both_terms():
    y = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0])
    p = np.array([0.8, 0.9, 0.9, 0.6, 0.8, 0.1, 0.4, 0.2, 0.1, 0.3])
    expected = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    _close(lk.binary_cross_entropy(y, p), expected)
    assert round(expected, 3) == 0.247
    _close(lk.binary_cross_entropy(y, p, unit="bits"), expected / np.log(2))


# ------------------------------------------------------------ binary cross-entropy vs PyTorch

@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", [(64,), (32, 5)])
@pytest.mark.parametrize("pos_weight", [None, "scalar", "vector"])
@pytest.mark.parametrize("weighted", [False, True])
def test_bce_logits_match_torch(rng, dtype, shape, pos_weight, weighted):
    if pos_weight == "vector" and len(shape) == 1:
        pytest.skip("per-label pos_weight needs a label axis")
    z = (rng.normal(size=shape) * 5).astype(dtype)
    y = rng.uniform(0, 1, size=shape).astype(dtype)
    pw = {None: None, "scalar": np.array(2.5, dtype),
          "vector": rng.uniform(0.5, 3, size=shape[-1]).astype(dtype)}[pos_weight]
    w = rng.uniform(0.1, 2, size=shape[0]).astype(dtype) if weighted else None
    # the reference is PyTorch in float64 on the same (possibly float32) inputs
    tz, ty = torch.from_numpy(z).double(), torch.from_numpy(y).double()
    elementwise = F.binary_cross_entropy_with_logits(
        tz, ty, pos_weight=None if pw is None else torch.as_tensor(pw).double(),
        reduction="none").numpy()
    per = elementwise if len(shape) == 1 else elementwise.mean(axis=-1)
    ww = np.ones(shape[0]) if w is None else w.astype("float64")
    ours = lk.binary_cross_entropy(y, z, from_logits=True, pos_weight=pw, sample_weight=w,
                                   reduction="none")
    _close(ours, ww * per, dtype)
    _close(lk.binary_cross_entropy(y, z, from_logits=True, pos_weight=pw, sample_weight=w),
           (ww * per).sum() / ww.sum(), dtype)


def test_bce_torch_weight_argument_is_the_weighted_sum(rng):
    # PyTorch's `weight` with reduction="mean" divides by n, not by the sum of the weights;
    # its "sum" equals ours.
    z, y, w = rng.normal(size=30), rng.integers(0, 2, size=30).astype(float), rng.uniform(size=30)
    torch_sum = F.binary_cross_entropy_with_logits(
        torch.from_numpy(z), torch.from_numpy(y), weight=torch.from_numpy(w), reduction="sum")
    _close(lk.binary_cross_entropy(y, z, from_logits=True, sample_weight=w, reduction="sum"),
           float(torch_sum))


def test_bce_label_smoothing_is_keras_definition(rng):
    z, y = rng.normal(size=40), rng.integers(0, 2, size=40).astype(float)
    smoothed = y * 0.8 + 0.1
    _close(lk.binary_cross_entropy(y, z, from_logits=True, label_smoothing=0.2),
           float(F.binary_cross_entropy_with_logits(torch.from_numpy(z),
                                                    torch.from_numpy(smoothed))))


# ---------------------------------------------------------- categorical cross-entropy

@pytest.mark.parametrize("weighted", [False, True])
def test_cce_probabilities_match_sklearn_log_loss(rng, weighted):
    labels = rng.integers(0, 4, size=100)
    p = _softmax(rng.normal(size=(100, 4)) * 3)
    w = rng.uniform(0.1, 2, size=100) if weighted else None
    expected = log_loss(labels, p, sample_weight=w, labels=[0, 1, 2, 3])
    _close(lk.categorical_cross_entropy(np.eye(4)[labels], p, sample_weight=w), expected)
    _close(lk.sparse_categorical_cross_entropy(labels, p, sample_weight=w), expected)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.15])
@pytest.mark.parametrize("class_weighted", [False, True])
@pytest.mark.parametrize("ignore", [False, True])
def test_sparse_cce_logits_match_torch(rng, dtype, label_smoothing, class_weighted, ignore):
    n, c = 80, 6
    z = (rng.normal(size=(n, c)) * 4).astype(dtype)
    labels = rng.integers(0, c, size=n)
    cw = rng.uniform(0.2, 3, size=c).astype(dtype) if class_weighted else None
    ignore_index = -100 if ignore else None
    if ignore:
        labels[rng.uniform(size=n) < 0.3] = -100
    kwargs = {"label_smoothing": label_smoothing}
    if ignore_index is not None:
        kwargs["ignore_index"] = ignore_index
    tz, tl = torch.from_numpy(z).double(), torch.from_numpy(labels)
    tw = None if cw is None else torch.from_numpy(cw).double()
    for reduction in ("mean", "sum", "none"):
        expected = F.cross_entropy(tz, tl, weight=tw, reduction=reduction, **kwargs)
        ours = lk.sparse_categorical_cross_entropy(
            labels, z, from_logits=True, class_weight=cw, reduction=reduction, **kwargs)
        _close(ours, expected.double().numpy(), dtype)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
def test_cce_probability_targets_match_torch(rng, label_smoothing):
    z = rng.normal(size=(50, 5)) * 3
    target = _softmax(rng.normal(size=(50, 5)))
    expected = F.cross_entropy(torch.from_numpy(z), torch.from_numpy(target),
                               label_smoothing=label_smoothing)
    _close(lk.categorical_cross_entropy(target, z, from_logits=True,
                                        label_smoothing=label_smoothing), float(expected))


def test_cce_one_hot_equals_sparse_with_every_option(rng):
    n, c = 40, 5
    z = rng.normal(size=(n, c)) * 2
    labels = rng.integers(0, c, size=n)
    options = {"class_weight": rng.uniform(0.5, 2, size=c), "label_smoothing": 0.1,
               "sample_weight": rng.uniform(0, 2, size=n), "from_logits": True}
    for reduction in ("mean", "sum", "none"):
        _close(lk.categorical_cross_entropy(np.eye(c)[labels], z, reduction=reduction, **options),
               lk.sparse_categorical_cross_entropy(labels, z, reduction=reduction, **options))
        g1 = lk.gradient(lk.categorical_cross_entropy, np.eye(c)[labels], z,
                         reduction=reduction, **options)
        g2 = lk.gradient(lk.sparse_categorical_cross_entropy, labels, z,
                         reduction=reduction, **options)
        np.testing.assert_allclose(g1, g2, rtol=1e-12, atol=1e-15)


def test_class_axis_option(rng):
    z = rng.normal(size=(4, 3, 7))  # classes on axis 1, like PyTorch's (N, C, d)
    labels = rng.integers(0, 3, size=(4, 7))
    expected = F.cross_entropy(torch.from_numpy(z), torch.from_numpy(labels))
    _close(lk.sparse_categorical_cross_entropy(labels, z, from_logits=True, axis=1),
           float(expected))
    one_hot = np.moveaxis(np.eye(3)[labels], -1, 1)
    _close(lk.categorical_cross_entropy(one_hot, z, from_logits=True, axis=1), float(expected))
    grad = lk.gradient(lk.sparse_categorical_cross_entropy, labels, z, from_logits=True, axis=1)
    assert grad.shape == z.shape


def test_eps_default_is_dtype_machine_epsilon():
    p = np.array([[1.0, 0.0]])
    y = np.array([[0.0, 1.0]])
    _close(lk.categorical_cross_entropy(y, p), -np.log(np.finfo(np.float64).eps))
    _close(lk.categorical_cross_entropy(y, p.astype("float32")),
           -np.log(np.float32(np.finfo(np.float32).eps)), "float32")
    assert np.isinf(lk.categorical_cross_entropy(y, p, eps=0.0))
    _close(lk.categorical_cross_entropy(y, p, eps=1e-3), -np.log(1e-3))
