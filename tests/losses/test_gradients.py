"""Analytic gradients against torch autograd and central finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import losskit as lk

N, C = 12, 4


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _case(name, rng):
    """(loss, y_true, y_pred, options) for one configuration."""
    z = rng.normal(size=(N, C)) * 2
    labels = rng.integers(0, C, size=N)
    cw = rng.uniform(0.5, 2, size=C)
    sw = rng.uniform(0.1, 2, size=N)
    cases = {
        "mse": (lk.mean_squared_error, rng.normal(size=N), rng.normal(size=N), {}),
        "mse-2d-weighted": (lk.mean_squared_error, rng.normal(size=(N, 3)),
                            rng.normal(size=(N, 3)), {"sample_weight": sw}),
        "bce-prob": (lk.binary_cross_entropy, rng.integers(0, 2, N).astype(float),
                     rng.uniform(0.05, 0.95, N), {}),
        "bce-prob-soft-smooth": (lk.binary_cross_entropy, rng.uniform(size=N),
                                 rng.uniform(0.05, 0.95, N),
                                 {"label_smoothing": 0.1, "pos_weight": 1.7,
                                  "sample_weight": sw}),
        "bce-logits-multilabel": (lk.binary_cross_entropy, rng.uniform(size=(N, C)), z,
                                  {"from_logits": True, "pos_weight": cw, "sample_weight": sw}),
        "cce-prob": (lk.categorical_cross_entropy, np.eye(C)[labels],
                     _softmax(z), {"class_weight": cw}),
        "cce-logits-soft": (lk.categorical_cross_entropy, _softmax(rng.normal(size=(N, C))), z,
                            {"from_logits": True, "label_smoothing": 0.2, "class_weight": cw,
                             "sample_weight": sw}),
        "sparse-prob-smooth": (lk.sparse_categorical_cross_entropy, labels, _softmax(z),
                               {"label_smoothing": 0.1, "class_weight": cw}),
        "sparse-logits": (lk.sparse_categorical_cross_entropy, labels, z,
                          {"from_logits": True}),
        "sparse-logits-all": (lk.sparse_categorical_cross_entropy,
                              np.where(rng.uniform(size=N) < 0.3, -1, labels), z,
                              {"from_logits": True, "label_smoothing": 0.1, "class_weight": cw,
                               "ignore_index": -1, "sample_weight": sw}),
    }
    return cases[name]


CASES = ["mse", "mse-2d-weighted", "bce-prob", "bce-prob-soft-smooth", "bce-logits-multilabel",
         "cce-prob", "cce-logits-soft", "sparse-prob-smooth", "sparse-logits",
         "sparse-logits-all"]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", CASES)
def test_gradient_matches_torch_autograd(rng, case, reduction):
    loss, y, p, options = _case(case, rng)
    options = {**options, "reduction": reduction, "unit": "bits"} if loss is not \
        lk.mean_squared_error else {**options, "reduction": reduction}
    analytic = lk.gradient(loss, y, p, **options)
    tp = torch.tensor(p, requires_grad=True)
    value = loss(torch.as_tensor(y), tp, **options)
    (value.sum() if reduction == "none" else value).backward()
    np.testing.assert_allclose(analytic, tp.grad.numpy(), rtol=1e-10, atol=1e-13)
    # and the torch call returned torch, with the same value as NumPy
    np.testing.assert_allclose(value.detach().numpy(), loss(y, p, **options), rtol=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_gradient_matches_finite_differences(rng, case):
    loss, y, p, options = _case(case, rng)
    analytic = lk.gradient(loss, y, p, **options)
    options["check_values"] = False  # a perturbed probability row no longer sums to 1
    h = 1e-7
    numeric = np.zeros_like(p)
    for index in np.ndindex(p.shape):
        up, down = p.copy(), p.copy()
        up[index] += h
        down[index] -= h
        numeric[index] = (float(loss(y, up, **options)) - float(loss(y, down, **options))) / (2 * h)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("case", CASES)
def test_value_and_gradient_share_one_call(rng, case):
    loss, y, p, options = _case(case, rng)
    value, grad = lk.value_and_gradient(loss, y, p, **options)
    np.testing.assert_array_equal(value, loss(y, p, **options))
    np.testing.assert_array_equal(grad, lk.gradient(loss, y, p, **options))
    assert grad.shape == np.shape(p) and grad.dtype == np.float64


def test_gradient_is_zero_outside_the_clip_like_autograd():
    y = np.array([1.0, 0.0, 1.0])
    p = np.array([0.0, 1.0, 0.5])
    grad = lk.gradient(lk.binary_cross_entropy, y, p)
    tp = torch.tensor(p, requires_grad=True)
    lk.binary_cross_entropy(torch.tensor(y), tp).backward()
    np.testing.assert_allclose(grad, tp.grad.numpy())
    assert grad[0] == 0 and grad[1] == 0 and grad[2] != 0


def test_gradient_of_infinite_logits_is_exact():
    grad = lk.gradient(lk.binary_cross_entropy, [1.0, 0.0, 1.0], [np.inf, np.inf, -np.inf],
                       from_logits=True, reduction="sum")
    np.testing.assert_array_equal(grad, [0.0, 1.0, -1.0])
    grad = lk.gradient(lk.sparse_categorical_cross_entropy, [0], [[np.inf, 0.0, -np.inf]],
                       from_logits=True)
    np.testing.assert_array_equal(grad, [[0.0, 0.0, 0.0]])


def test_gradient_rejects_an_unknown_function():
    with pytest.raises(TypeError, match="gradient: loss_fn is mean, which has no analytic"):
        lk.gradient(np.mean, [1.0], [1.0])


@pytest.mark.parametrize("convention", ["losskit", "torch"])
def test_autograd_is_finite_at_probabilities_of_exactly_0_and_1(convention):
    # 0 · log 0 terms are masked; their autograd branch must not send NaN back
    y = torch.tensor([1.0, 0.0, 1.0, 0.0], dtype=torch.float64)
    p = torch.tensor([1.0, 0.0, 0.5, 0.25], dtype=torch.float64, requires_grad=True)
    options = {"convention": convention} if convention == "torch" else {"eps": 0.0}
    lk.binary_cross_entropy(y, p, **options).backward()
    assert torch.isfinite(p.grad).all()
    np.testing.assert_allclose(p.grad.numpy(), lk.gradient(lk.binary_cross_entropy,
                                                             y.numpy(), p.detach().numpy(),
                                                             **options), rtol=1e-12)
    q = torch.tensor([[1.0, 0.0], [0.3, 0.7]], dtype=torch.float64, requires_grad=True)
    lk.categorical_cross_entropy(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), q, eps=0.0).backward()
    assert torch.isfinite(q.grad).all()
