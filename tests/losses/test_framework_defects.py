"""The five defects the frameworks' own test cases exposed (issue 15), each checked against the
framework's number."""

from __future__ import annotations

import numpy as np
import pytest

import losskit as lk
from references import keras_numpy

torch = pytest.importorskip("torch")
F = torch.nn.functional


@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("shape,axis", [((2, 2, 2), 1), ((2, 3, 2, 2), 1), ((3, 2, 4), 0)])
def test_sparse_cross_entropy_gradient_with_a_moved_class_axis(shape, axis, from_logits):
    # 1. the NumPy gradient with the class axis not last on 3-D+ input was silently wrong
    rng = np.random.default_rng(0)
    z = np.zeros(shape) if shape == (2, 2, 2) else rng.normal(size=shape)
    label_shape = tuple(n for i, n in enumerate(shape) if i != axis)
    labels = rng.integers(0, shape[axis], size=label_shape)
    if shape == (2, 2, 2):
        labels = np.array([[0, 1], [1, 0]])
    zt = torch.tensor(z, requires_grad=True)
    moved = torch.movedim(zt, axis, 1)  # torch's class axis is 1
    if from_logits:
        F.cross_entropy(moved, torch.tensor(labels)).backward()
        y_pred = z
    else:
        probs = torch.softmax(moved, dim=1)
        probs.retain_grad()
        F.nll_loss(torch.log(probs), torch.tensor(labels)).backward()
        y_pred = np.moveaxis(probs.detach().numpy(), 1, axis)
    got = lk.gradient(lk.sparse_categorical_cross_entropy, labels, y_pred,
                      from_logits=from_logits, axis=axis)
    expected = zt.grad.numpy() if from_logits else np.moveaxis(probs.grad.numpy(), 1, axis)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-14)
    if shape == (2, 2, 2) and from_logits:
        np.testing.assert_allclose(got[0], [[-0.125, 0.125], [0.125, -0.125]])


@pytest.mark.parametrize("loss,torch_fn", [(lk.mean_squared_error, F.mse_loss),
                                           (lk.mean_absolute_error, F.l1_loss)])
def test_torch_convention_weighted_mse_and_mae_divide_by_the_weights(loss, torch_fn):
    # 2. torch 2.13's mse_loss / l1_loss(weight=) divide by the sum of the weights
    y, p, w = np.zeros(4), np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 1.0, 0.0, 0.0])
    expected = float(torch_fn(torch.tensor(p), torch.tensor(y), weight=torch.tensor(w)))
    assert expected == {lk.mean_squared_error: 2.5, lk.mean_absolute_error: 1.5}[loss]
    assert float(loss(y, p, sample_weight=w, convention="torch")) == expected
    # multi-output rows: per-sample weights repeated over a row's outputs
    rng = np.random.default_rng(1)
    y2, p2, w2 = rng.normal(size=(5, 3)), rng.normal(size=(5, 3)), rng.uniform(size=5)
    expected = float(torch_fn(torch.tensor(p2), torch.tensor(y2),
                              weight=torch.tensor(np.repeat(w2[:, None], 3, axis=1))))
    assert float(loss(y2, p2, sample_weight=w2, convention="torch")) == pytest.approx(
        expected, rel=1e-12)
    pt = torch.tensor(p2, requires_grad=True)
    torch_fn(pt, torch.tensor(y2), weight=torch.tensor(np.repeat(w2[:, None], 3, axis=1))
             ).backward()
    np.testing.assert_allclose(lk.gradient(loss, y2, p2, sample_weight=w2, convention="torch"),
                               pt.grad.numpy(), rtol=1e-10)
    # Keras still divides by n
    assert float(loss(y, p, sample_weight=w, convention="keras")) == expected_keras(loss)


def expected_keras(loss):
    return {lk.mean_squared_error: 1.25, lk.mean_absolute_error: 0.75}[loss]


def test_kl_divergence_on_one_distribution_against_torch_batchmean():
    # 3. a 1-D input is one sample for losskit; torch's batchmean divides by size(0) = C
    p, z = np.array([0.3, 0.7]), np.array([0.5, -0.5])
    log_q = torch.log_softmax(torch.tensor(z), 0)
    batchmean = float(F.kl_div(log_q, torch.tensor(p), reduction="batchmean"))
    assert batchmean == pytest.approx(0.2012, abs=1e-4)
    assert float(lk.kl_divergence(p, z, from_logits=True)) == pytest.approx(0.4024, abs=1e-4)
    assert float(lk.kl_divergence(p, z, from_logits=True, convention="torch")) == \
        pytest.approx(batchmean, rel=1e-12)
    # 2-D: losskit's mean is batchmean
    p2, z2 = np.array([[0.3, 0.7], [0.9, 0.1]]), np.array([[0.5, -0.5], [1.0, 2.0]])
    assert float(lk.kl_divergence(p2, z2, from_logits=True)) == pytest.approx(float(F.kl_div(
        torch.log_softmax(torch.tensor(z2), 1), torch.tensor(p2), reduction="batchmean")),
        rel=1e-12)
    doc = lk.kl_divergence.__doc__
    assert "1-D input" in doc and "input.size(0)" in doc


def _keras_focal(y, z, gamma):
    """Keras' binary focal cross-entropy from logits (sigmoid, clip, focal BCE)."""
    p = torch.clamp(torch.sigmoid(z), 1e-7, 1 - 1e-7)
    bce = -(y * torch.log(p) + (1 - y) * torch.log(1 - p))
    p_t = y * p + (1 - y) * (1 - p)
    return (1 - p_t) ** gamma * bce


@pytest.mark.parametrize("y,z", [(0.0, 8.471355), (1.0, -8.0), (1.0, 0.3), (0.0, -3.0),
                                 (0.5, 2.0)])
def test_keras_focal_gradient_from_logits_is_accurate_in_float32(y, z):
    # 4. the float32 gradient was 3e-4 relative off near p = 1 (1 - p rounded)
    zt = torch.tensor([z], dtype=torch.float64, requires_grad=True)
    _keras_focal(torch.tensor([y], dtype=torch.float64), zt, 2.0).sum().backward()
    got = lk.gradient(lk.binary_focal_loss, np.array([y], np.float32),
                      np.array([z], np.float32), from_logits=True, convention="keras",
                      gamma=2.0, reduction="sum")
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, zt.grad.numpy(), rtol=2e-6, atol=1e-12)
    if z == 8.471355:
        assert float(got[0]) == pytest.approx(1.002917, abs=2e-6)


@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_every_label_ignored_is_zero_for_sum_and_none(reduction):
    # 5a. torch returns 0 when every label is ignore_index and the reduction is sum or none
    z = np.array([[0.2, 0.8], [1.0, -1.0]])
    labels = np.array([-100, -100])
    expected = F.cross_entropy(torch.tensor(z), torch.tensor(labels), reduction=reduction)
    got = lk.sparse_categorical_cross_entropy(labels, z, from_logits=True, ignore_index=-100,
                                              reduction=reduction)
    np.testing.assert_array_equal(got, expected.numpy())
    grad = lk.gradient(lk.sparse_categorical_cross_entropy, labels, z, from_logits=True,
                       ignore_index=-100, reduction=reduction)
    np.testing.assert_array_equal(grad, np.zeros_like(z))
    with pytest.raises(ValueError, match=r"ignore_index=-100 .* everywhere, so the mean is "
                                         r"undefined"):
        lk.sparse_categorical_cross_entropy(labels, z, from_logits=True, ignore_index=-100)


@pytest.mark.parametrize("convention", ["keras", "torch"])
@pytest.mark.parametrize("loss,y,p", [
    (lk.binary_cross_entropy, [1.0, 0.0], [0.9, 0.2]),
    (lk.sparse_categorical_cross_entropy, [0, 1], [[0.9, 0.1], [0.2, 0.8]]),
    (lk.categorical_cross_entropy, [[1.0, 0.0], [0.0, 1.0]], [[0.9, 0.1], [0.2, 0.8]]),
    (lk.huber_loss, [1.0, 2.0], [1.5, 0.0]),
])
def test_all_zero_sample_weight_is_zero_when_the_mean_divides_by_n(convention, loss, y, p):
    # 5b. Keras' test_zero_weighted: a mean over n of zero-weighted samples is 0
    value = loss(y, p, sample_weight=[0.0, 0.0], convention=convention)
    assert float(value) == 0.0
    np.testing.assert_array_equal(
        lk.gradient(loss, y, p, sample_weight=[0.0, 0.0], convention=convention),
        np.zeros(np.shape(p)))
    # dividing by the weights is still undefined
    with pytest.raises(ValueError, match="sample_weight is all zero, so the weighted mean is "
                                         "undefined"):
        loss(y, p, sample_weight=[0.0, 0.0])
    assert float(loss(y, p, sample_weight=[0.0, 0.0], reduction="sum")) == 0.0


def test_keras_zero_weighted_case():
    keras = keras_numpy()
    y_true = np.array([[1, 9, 2], [-5, -2, 6]], dtype="float32")
    y_pred = np.array([[4, 8, 12], [8, 1, 3]], dtype="float32")
    expected = float(keras.losses.MeanSquaredError()(y_true, y_pred, sample_weight=0))
    assert expected == 0.0
    assert float(lk.mean_squared_error(y_true, y_pred, sample_weight=np.zeros(2, "float32"),
                                       convention="keras")) == expected


def test_ignore_index_on_float64_torch_keeps_float64_accuracy():
    # found on the frameworks' cases: the ignore mask became float32 weights on PyTorch, and
    # the mean's 1 / sum(w) with them (6e-8 relative off in float64)
    rng = np.random.default_rng(0)
    z = torch.tensor(rng.normal(size=(37, 5)))
    labels = torch.tensor(rng.integers(0, 5, 37))
    labels[::3] = -100
    expected = float(F.cross_entropy(z, labels))
    assert float(lk.sparse_categorical_cross_entropy(labels, z, from_logits=True,
                                                     ignore_index=-100)) == \
        pytest.approx(expected, rel=1e-14)


def test_class_weights_zero_for_every_label_leave_the_mean_undefined():
    # PyTorch's nll_loss gives 0/0 = NaN here; losskit said 0.0, now names the cause
    p = [[0.5, 0.5], [0.4, 0.6]]
    assert np.isnan(float(F.nll_loss(torch.log(torch.tensor(p)), torch.tensor([0, 0]),
                                     weight=torch.tensor([0.0, 1.0]))))
    with pytest.raises(ValueError, match=r"^sparse_categorical_cross_entropy: class_weight is "
                                         r"0 for every sample's label"):
        lk.sparse_categorical_cross_entropy([0, 0], p, class_weight=[0.0, 1.0])
    assert float(lk.sparse_categorical_cross_entropy([0, 0], p, class_weight=[0.0, 1.0],
                                                     reduction="sum")) == 0.0
