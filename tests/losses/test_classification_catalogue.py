"""The classification catalogue: KL divergence, entropy, perplexity, hinge and focal losses.

References: scipy (entropy, rel_entr), scikit-learn (hinge_loss, log_loss), PyTorch (kl_div,
cross_entropy, binary_cross_entropy_with_logits) and Keras 3 with its NumPy backend where it is
installed. Gradients against torch autograd and finite differences; every backend; properties;
bad inputs.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special
import scipy.stats
import torch
from sklearn.metrics import hinge_loss as sk_hinge_loss
from sklearn.metrics import log_loss as sk_log_loss

import losskit as lk
from references import keras_numpy

N, C = 12, 4


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _keras(name, **options):
    """Keras' loss class ``name`` giving per-sample values (NumPy backend).

    Keras computes in float32 outside TensorFlow (it demotes float64), so the comparisons feed
    float32 inputs to both libraries and use the float32 tolerance.
    """
    keras = keras_numpy()
    loss = getattr(keras.losses, name)(reduction=None, **options)
    return lambda y, p: np.asarray(loss(y, p))


F32 = {"rtol": 1e-6, "atol": 1e-7}


def _f32(*arrays):
    return [np.asarray(a, dtype=np.float32) for a in arrays]


def _scores(rng, shape):
    """Raw scores kept away from the hinge's kink at t*s = 1 (no ambiguous subgradient)."""
    s = rng.normal(size=shape) * 1.5
    return np.where(np.abs(np.abs(s) - 1.0) < 1e-3, s + 0.01, s)


# ---------------------------------------------------------------------- the article's figures


P_ARTICLE = [0.10, 0.40, 0.50]
Q_ARTICLE = [0.80, 0.15, 0.05]


def test_article_figures_in_bits():
    h_pq = float(lk.categorical_cross_entropy(P_ARTICLE, Q_ARTICLE, unit="bits"))
    h_qp = float(lk.categorical_cross_entropy(Q_ARTICLE, P_ARTICLE, unit="bits"))
    h_p = float(lk.entropy(P_ARTICLE, unit="bits"))
    kl = float(lk.kl_divergence(P_ARTICLE, Q_ARTICLE, unit="bits"))
    assert (round(h_pq, 3), round(h_qp, 3), round(h_p, 3), round(kl, 3)) == \
        (3.288, 2.906, 1.361, 1.927)
    # and independently of losskit: sum p log2(1/q)
    p, q = np.array(P_ARTICLE), np.array(Q_ARTICLE)
    assert h_pq == pytest.approx(np.sum(p * np.log2(1 / q)), rel=1e-14)
    assert h_p == pytest.approx(scipy.stats.entropy(p, base=2), rel=1e-14)
    assert kl == pytest.approx(scipy.stats.entropy(p, q, base=2), rel=1e-14)
    assert h_pq == pytest.approx(h_p + kl, rel=1e-14)


# ----------------------------------------------------------------------------- KL divergence


def test_kl_divergence_matches_scipy_per_row(rng):
    p = _softmax(rng.normal(size=(N, C)) * 2)
    p[0] = [0.0, 0.5, 0.5, 0.0]  # zeros in the target contribute 0
    q = _softmax(rng.normal(size=(N, C)) * 2)
    expected = scipy.special.rel_entr(p, q).sum(axis=-1)
    out = lk.kl_divergence(p, q, reduction="none")
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(out, scipy.stats.entropy(p, q, axis=-1), rtol=1e-12, atol=1e-15)
    w = rng.uniform(0.1, 2.0, size=N)
    np.testing.assert_allclose(lk.kl_divergence(p, q, sample_weight=w),
                               np.average(expected, weights=w), rtol=1e-12)
    np.testing.assert_allclose(lk.kl_divergence(p, q, unit="bits", reduction="sum"),
                               expected.sum() / math.log(2), rtol=1e-12)


def test_kl_divergence_matches_torch_kl_div(rng):
    p = _softmax(rng.normal(size=(N, C)))
    z = rng.normal(size=(N, C)) * 3
    tp, tz = torch.tensor(p), torch.tensor(z)
    log_q = torch.log_softmax(tz, dim=-1)
    batchmean = torch.nn.functional.kl_div(log_q, tp, reduction="batchmean")
    np.testing.assert_allclose(lk.kl_divergence(p, z, from_logits=True), batchmean.item(),
                               rtol=1e-12)
    # the same from probabilities
    np.testing.assert_allclose(lk.kl_divergence(p, _softmax(z)), batchmean.item(), rtol=1e-12)
    # PyTorch's "mean" is per element: 1/C of the divergence (the documented difference)
    with pytest.warns(UserWarning, match="batchmean"):  # PyTorch warns about it too
        elementwise_mean = torch.nn.functional.kl_div(log_q, tp, reduction="mean")
    np.testing.assert_allclose(lk.kl_divergence(p, z, from_logits=True) / C,
                               elementwise_mean.item(), rtol=1e-12)
    none = torch.nn.functional.kl_div(log_q, tp, reduction="none").sum(-1)
    np.testing.assert_allclose(lk.kl_divergence(p, z, from_logits=True, reduction="none"),
                               none.numpy(), rtol=1e-12)


def test_kl_divergence_matches_keras(rng):
    p = _softmax(rng.normal(size=(N, C)))
    q = np.clip(_softmax(rng.normal(size=(N, C))), 1e-3, None)
    q /= q.sum(axis=-1, keepdims=True)
    p, q = _f32(p, q)
    expected = _keras("KLDivergence")(p, q)
    out = lk.kl_divergence(p, q, eps=1e-7, reduction="none")
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, **F32)


def test_kl_divergence_along_another_axis(rng):
    p = _softmax(rng.normal(size=(3, 5, C)))
    q = _softmax(rng.normal(size=(3, 5, C)))
    expected = lk.kl_divergence(p, q, reduction="none")
    out = lk.kl_divergence(np.moveaxis(p, -1, 1), np.moveaxis(q, -1, 1), axis=1,
                           reduction="none")
    np.testing.assert_allclose(out, expected, rtol=1e-14)
    grad = lk.gradient(lk.kl_divergence, np.moveaxis(p, -1, 1), np.moveaxis(q, -1, 1), axis=1)
    np.testing.assert_allclose(grad, np.moveaxis(lk.gradient(lk.kl_divergence, p, q), -1, 1),
                               rtol=1e-14)


def test_kl_divergence_is_cross_entropy_minus_entropy(rng):
    p = _softmax(rng.normal(size=(N, C)))
    z = rng.normal(size=(N, C))
    ce = lk.categorical_cross_entropy(p, z, from_logits=True, reduction="none")
    np.testing.assert_allclose(lk.kl_divergence(p, z, from_logits=True, reduction="none"),
                               ce - lk.entropy(p, reduction="none"), rtol=1e-10, atol=1e-14)
    # same gradient as the cross-entropy: H(P) does not depend on the model
    np.testing.assert_allclose(lk.gradient(lk.kl_divergence, p, z, from_logits=True),
                               lk.gradient(lk.categorical_cross_entropy, p, z, from_logits=True),
                               rtol=1e-12)


def test_kl_divergence_exact_limits():
    assert float(lk.kl_divergence([0.5, 0.5], [1.0, 0.0], eps=0.0)) == math.inf
    assert float(lk.kl_divergence([1.0, 0.0], [1.0, 0.0], eps=0.0)) == 0.0
    assert float(lk.kl_divergence([1.0, 0.0], [math.inf, 0.0], from_logits=True)) == 0.0
    # clipping keeps the default finite: -log(eps) per unit of target mass
    out = float(lk.kl_divergence([0.0, 1.0], [1.0, 0.0]))
    assert out == pytest.approx(-math.log(np.finfo(np.float64).eps), rel=1e-12)


# ---------------------------------------------------------------------------------- entropy


def test_entropy_matches_scipy(rng):
    p = _softmax(rng.normal(size=(N, C)) * 2)
    p[1] = [0.0, 1.0, 0.0, 0.0]
    expected = scipy.stats.entropy(p, axis=-1)
    np.testing.assert_allclose(lk.entropy(p, reduction="none"), expected, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(lk.entropy(p, unit="bits"), scipy.stats.entropy(
        p, axis=-1, base=2).mean(), rtol=1e-12)
    z = rng.normal(size=(N, C)) * 5
    np.testing.assert_allclose(lk.entropy(z, from_logits=True, reduction="none"),
                               scipy.stats.entropy(_softmax(z), axis=-1), rtol=1e-12)
    np.testing.assert_allclose(lk.entropy(np.moveaxis(p, -1, 0), axis=0, reduction="none"),
                               expected, rtol=1e-12, atol=1e-300)
    w = rng.uniform(0.1, 2, size=N)
    np.testing.assert_allclose(lk.entropy(p, sample_weight=w), np.average(expected, weights=w),
                               rtol=1e-12)
    assert lk.entropy(p, reduction="none")[1] == 0.0


def test_entropy_of_extreme_logits():
    out = lk.entropy([[1e4, -1e4, 0.0], [0.0, 0.0, 0.0], [math.inf, 0.0, math.inf]],
                     from_logits=True, reduction="none")
    np.testing.assert_allclose(out, [0.0, math.log(3), math.log(2)], rtol=1e-15)


# ------------------------------------------------------------------------------- perplexity


def test_perplexity_matches_exp_of_log_loss_and_torch(rng):
    z = rng.normal(size=(N, C)) * 2
    labels = rng.integers(0, C, size=N)
    expected = math.exp(sk_log_loss(labels, _softmax(z), labels=list(range(C))))
    np.testing.assert_allclose(lk.perplexity(labels, _softmax(z)), expected, rtol=1e-12)
    np.testing.assert_allclose(lk.perplexity(labels, z, from_logits=True), expected, rtol=1e-12)
    # padding tokens are left out, as torch's ignore_index
    padded = np.where(rng.uniform(size=N) < 0.3, -100, labels)
    ce = torch.nn.functional.cross_entropy(torch.tensor(z), torch.tensor(padded),
                                           ignore_index=-100)
    np.testing.assert_allclose(lk.perplexity(padded, z, from_logits=True, ignore_index=-100),
                               math.exp(ce.item()), rtol=1e-12)
    # tokens of a (batch, time, vocabulary) array: the mean over all tokens
    z3 = rng.normal(size=(2, 5, C))
    y3 = rng.integers(0, C, size=(2, 5))
    ce3 = torch.nn.functional.cross_entropy(torch.tensor(z3).reshape(-1, C),
                                            torch.tensor(y3).reshape(-1))
    np.testing.assert_allclose(lk.perplexity(y3, z3, from_logits=True), math.exp(ce3.item()),
                               rtol=1e-12)


def test_perplexity_bounds_and_weights(rng):
    z = rng.normal(size=(N, C))
    labels = rng.integers(0, C, size=N)
    assert float(lk.perplexity(labels, np.zeros((N, C)), from_logits=True)) == \
        pytest.approx(C, rel=1e-14)
    assert float(lk.perplexity(labels, np.eye(C)[labels])) == pytest.approx(1.0, rel=1e-12)
    w = rng.uniform(0.1, 2, size=N)
    ce = lk.sparse_categorical_cross_entropy(labels, z, from_logits=True, sample_weight=w)
    np.testing.assert_allclose(lk.perplexity(labels, z, from_logits=True, sample_weight=w),
                               np.exp(ce), rtol=1e-14)


def test_perplexity_errors_name_perplexity_and_it_has_no_gradient():
    with pytest.raises(ValueError,
                       match=r"^perplexity: y_true has values outside \[0, 2\) \(3 at index 1"):
        lk.perplexity([0, 3], [[0.5, 0.5], [0.5, 0.5]])
    with pytest.raises(TypeError, match="unexpected keyword argument 'unit'"):
        lk.perplexity([0], [[0.5, 0.5]], unit="bits")
    with pytest.raises(TypeError, match="perplexity, which has no analytic gradient"):
        lk.gradient(lk.perplexity, [0], [[0.5, 0.5]])


# ----------------------------------------------------------------------------- hinge losses


@pytest.mark.parametrize("coding", ["01", "pm1"])
def test_hinge_matches_sklearn(rng, coding):
    y01 = rng.integers(0, 2, size=40)
    y = y01 if coding == "01" else 2 * y01 - 1
    s = _scores(rng, 40)
    w = rng.uniform(0.1, 2, size=40)
    np.testing.assert_allclose(lk.hinge_loss(y, s), sk_hinge_loss(y, s), rtol=1e-12)
    np.testing.assert_allclose(lk.hinge_loss(y, s, sample_weight=w),
                               sk_hinge_loss(y, s, sample_weight=w), rtol=1e-12)


@pytest.mark.parametrize("coding", ["01", "pm1"])
def test_hinge_and_squared_hinge_match_keras(rng, coding):
    y01 = rng.integers(0, 2, size=(N, 3)).astype(float)
    y = y01 if coding == "01" else 2 * y01 - 1
    y, s = _f32(y, _scores(rng, (N, 3)))
    np.testing.assert_allclose(lk.hinge_loss(y, s, reduction="none"),
                               _keras("Hinge")(y, s), **F32)
    np.testing.assert_allclose(lk.squared_hinge_loss(y, s, reduction="none"),
                               _keras("SquaredHinge")(y, s), **F32)


def test_squared_hinge_is_the_square_of_the_hinge_per_element(rng):
    y = rng.integers(0, 2, size=30)
    s = _scores(rng, 30)
    h = lk.hinge_loss(y, s, reduction="none")
    np.testing.assert_allclose(lk.squared_hinge_loss(y, s, reduction="none"), h * h, rtol=1e-14)
    # scikit-learn's hinge_loss on the squared margins is not a thing; check against LinearSVC's
    # objective directly: max(0, 1 - t s)^2 with t = 2y - 1
    t = 2 * y - 1
    np.testing.assert_allclose(lk.squared_hinge_loss(y, s),
                               np.mean(np.maximum(0, 1 - t * s) ** 2), rtol=1e-14)


def test_categorical_hinge_matches_sklearn_multiclass(rng):
    labels = rng.integers(0, C, size=40)
    labels[:C] = np.arange(C)
    s = _scores(rng, (40, C))
    w = rng.uniform(0.1, 2, size=40)
    expected = sk_hinge_loss(labels, s, labels=np.arange(C), sample_weight=w)
    np.testing.assert_allclose(lk.categorical_hinge_loss(np.eye(C)[labels], s, sample_weight=w),
                               expected, rtol=1e-12)


def test_categorical_hinge_matches_keras_on_non_negative_scores(rng):
    keras_hinge = _keras("CategoricalHinge")
    labels = rng.integers(0, C, size=N)
    y, p = _f32(np.eye(C)[labels], _softmax(rng.normal(size=(N, C))))
    np.testing.assert_allclose(lk.categorical_hinge_loss(y, p, reduction="none"),
                               keras_hinge(y, p), **F32)
    # the documented difference: Keras counts the true class as a wrong score of 0
    s = np.array([[-0.5, -1.0, -3.0]])
    y = np.array([[1.0, 0.0, 0.0]])
    assert float(lk.categorical_hinge_loss(y, s)) == pytest.approx(0.5)
    assert float(keras_hinge(y, s)[0]) == pytest.approx(1.5)


def test_hinge_values_by_hand():
    # t s = 2 (beyond the margin), 0.5 (inside), -1 (wrong)
    out = lk.hinge_loss([1, 0, 1], [2.0, -0.5, -1.0], reduction="none")
    np.testing.assert_array_equal(out, [0.0, 0.5, 2.0])
    out = lk.categorical_hinge_loss([[0, 1, 0]], [[0.3, 0.5, 0.1]], reduction="none")
    np.testing.assert_allclose(out, [0.8], rtol=1e-15)


# ------------------------------------------------------------------------------ focal losses


@pytest.mark.parametrize("alpha", [None, 0.25, 0.8])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 3.5])
def test_binary_focal_matches_keras(rng, gamma, alpha):
    y = rng.uniform(size=(N, 3))
    y[:, 0] = rng.integers(0, 2, size=N)
    p = rng.uniform(0.01, 0.99, size=(N, 3))
    z = rng.normal(size=(N, 3)) * 3
    y, p, z = _f32(y, p, z)
    options = {"gamma": gamma, "alpha": alpha}
    keras_options = {"gamma": gamma, "alpha": 0.25 if alpha is None else alpha,
                     "apply_class_balancing": alpha is not None}
    for smoothing in (0.0, 0.1):
        expected = _keras("BinaryFocalCrossentropy", label_smoothing=smoothing,
                          **keras_options)(y, p)
        out = lk.binary_focal_loss(y, p, eps=1e-7, label_smoothing=smoothing,
                                   reduction="none", **options)
        np.testing.assert_allclose(out, expected, **F32)
    expected = _keras("BinaryFocalCrossentropy", from_logits=True, **keras_options)(y, z)
    out = lk.binary_focal_loss(y, z, from_logits=True, reduction="none", **options)
    np.testing.assert_allclose(out, expected, **F32)


@pytest.mark.parametrize("alpha", [None, 0.25])
@pytest.mark.parametrize("gamma", [0.0, 2.0])
def test_binary_focal_matches_torchvision_formula(rng, gamma, alpha):
    # torchvision.ops.sigmoid_focal_loss, line by line (torchvision is not a test dependency)
    z = torch.tensor(rng.normal(size=(N, 5)) * 4)
    targets = torch.tensor(rng.integers(0, 2, size=(N, 5)).astype(float))
    prob = torch.sigmoid(z)
    ce_loss = torch.nn.functional.binary_cross_entropy_with_logits(z, targets, reduction="none")
    p_t = prob * targets + (1 - prob) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha is not None:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    out = lk.binary_focal_loss(targets, z, gamma=gamma, alpha=alpha, from_logits=True)
    np.testing.assert_allclose(out.item(), loss.mean().item(), rtol=1e-12)


@pytest.mark.parametrize("alpha", [None, 0.25])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_categorical_focal_matches_keras(rng, gamma, alpha):
    labels = rng.integers(0, C, size=N)
    y = np.eye(C)[labels]
    y[0] = _softmax(rng.normal(size=C))  # a soft row
    y, z = _f32(y, rng.normal(size=(N, C)) * 2)
    (p,) = _f32(_softmax(z.astype(np.float64)))
    keras_alpha = 1.0 if alpha is None else alpha
    for smoothing in (0.0, 0.1):
        expected = _keras("CategoricalFocalCrossentropy", alpha=keras_alpha, gamma=gamma,
                          label_smoothing=smoothing)(y, p)
        out = lk.categorical_focal_loss(y, p, gamma=gamma, alpha=alpha, eps=1e-7,
                                        label_smoothing=smoothing, reduction="none")
        np.testing.assert_allclose(out, expected, **F32)
        expected = _keras("CategoricalFocalCrossentropy", alpha=keras_alpha, gamma=gamma,
                          label_smoothing=smoothing, from_logits=True)(y, z)
        out = lk.categorical_focal_loss(y, z, gamma=gamma, alpha=alpha, from_logits=True,
                                        label_smoothing=smoothing, reduction="none")
        np.testing.assert_allclose(out, expected, **F32)


def test_focal_with_gamma_zero_is_cross_entropy(rng):
    y = rng.integers(0, 2, size=(N, 3)).astype(float)
    z = rng.normal(size=(N, 3)) * 3
    w = rng.uniform(0.1, 2, size=N)
    for pred, options in ((z, {"from_logits": True}), (1 / (1 + np.exp(-z)), {})):
        for extra in ({}, {"label_smoothing": 0.2, "sample_weight": w, "unit": "bits"}):
            o = {**options, **extra}
            np.testing.assert_allclose(lk.binary_focal_loss(y, pred, gamma=0.0, **o),
                                       lk.binary_cross_entropy(y, pred, **o), rtol=1e-13)
            np.testing.assert_allclose(lk.gradient(lk.binary_focal_loss, y, pred, gamma=0.0, **o),
                                       lk.gradient(lk.binary_cross_entropy, y, pred, **o),
                                       rtol=1e-12, atol=1e-15)
    labels = rng.integers(0, C, size=N)
    y = np.eye(C)[labels]
    z = rng.normal(size=(N, C)) * 3
    for pred, options in ((z, {"from_logits": True}), (_softmax(z), {})):
        for extra in ({}, {"label_smoothing": 0.2, "sample_weight": w, "unit": "bits"}):
            o = {**options, **extra}
            np.testing.assert_allclose(lk.categorical_focal_loss(y, pred, gamma=0.0, **o),
                                       lk.categorical_cross_entropy(y, pred, **o), rtol=1e-13)
            np.testing.assert_allclose(
                lk.gradient(lk.categorical_focal_loss, y, pred, gamma=0.0, **o),
                lk.gradient(lk.categorical_cross_entropy, y, pred, **o), rtol=1e-12, atol=1e-15)


def test_focal_from_extreme_logits_is_finite_and_exact():
    z = np.array([60.0, -60.0, 800.0, -800.0, 800.0])
    y = np.array([1.0, 0.0, 1.0, 0.0, 0.0])
    out = lk.binary_focal_loss(y, z, from_logits=True, reduction="none")
    # confident and right: (e^-60)^2 * e^-60, not 0 from a clipped probability
    np.testing.assert_allclose(out[:2], [math.exp(-180)] * 2, rtol=1e-12)
    np.testing.assert_array_equal(out[2:], [0.0, 0.0, 800.0])
    grad = lk.gradient(lk.binary_focal_loss, y, z, from_logits=True, reduction="sum")
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad[4], 1.0, rtol=1e-12)
    out = lk.categorical_focal_loss([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
                                    [[50.0, 0.0, 0.0], [1e4, -1e4, 0.0]], from_logits=True,
                                    reduction="none")
    # the first is ~6e-65; log-softmax rounds log(1 + 4e-22) to 0 (as PyTorch and Keras do)
    assert 0.0 <= out[0] < 1e-60 and math.copysign(1.0, out[0]) == 1.0
    assert out[1] == 2e4
    grad = lk.gradient(lk.categorical_focal_loss, [[1.0, 0.0, 0.0]], [[800.0, 0.0, -800.0]],
                       from_logits=True, gamma=0.5)
    assert np.all(np.isfinite(grad))


# ----------------------------------------------------------- multi-label binary cross-entropy


def test_multilabel_bce_matches_torch_and_sklearn_per_label(rng):
    n, k = 30, 5
    y = rng.integers(0, 2, size=(n, k)).astype(float)
    z = rng.normal(size=(n, k)) * 2
    p = 1 / (1 + np.exp(-z))
    w = rng.uniform(0.1, 2, size=n)
    torch_loss = torch.nn.BCEWithLogitsLoss()(torch.tensor(z), torch.tensor(y))
    np.testing.assert_allclose(lk.binary_cross_entropy(y, z, from_logits=True),
                               torch_loss.item(), rtol=1e-12)
    per_element = torch.nn.BCEWithLogitsLoss(reduction="none")(torch.tensor(z), torch.tensor(y))
    np.testing.assert_allclose(lk.binary_cross_entropy(y, z, from_logits=True, reduction="none"),
                               per_element.mean(-1).numpy(), rtol=1e-12)
    # torch's per-element weight with one weight per row is a sample weight; torch divides by
    # n*k, losskit by sum(w) * ... : the weighted mean of the per-sample means
    weighted = torch.nn.BCEWithLogitsLoss(weight=torch.tensor(w)[:, None], reduction="sum")(
        torch.tensor(z), torch.tensor(y))
    np.testing.assert_allclose(lk.binary_cross_entropy(y, z, from_logits=True, sample_weight=w),
                               weighted.item() / (k * w.sum()), rtol=1e-12)
    # scikit-learn's log_loss, one label (column) at a time
    for j in range(k):
        np.testing.assert_allclose(lk.binary_cross_entropy(y[:, j], p[:, j]),
                                   sk_log_loss(y[:, j], p[:, j], labels=[0, 1]), rtol=1e-12)
        np.testing.assert_allclose(
            lk.binary_cross_entropy(y[:, j], p[:, j], sample_weight=w),
            sk_log_loss(y[:, j], p[:, j], labels=[0, 1], sample_weight=w), rtol=1e-12)
    # and the multi-label mean is the mean of the per-label log losses
    per_label = [sk_log_loss(y[:, j], p[:, j], labels=[0, 1]) for j in range(k)]
    np.testing.assert_allclose(lk.binary_cross_entropy(y, p), np.mean(per_label), rtol=1e-12)
