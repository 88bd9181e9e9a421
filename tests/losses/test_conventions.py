"""``convention=`` reproduces each framework's number on the same input, tested against it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import log_loss
from sklearn.metrics import mean_squared_error as sk_mse

import losskit as lk
from references import keras_numpy as _keras

RTOL = 1e-6




def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.fixture
def data(rng):
    n, c = 40, 4
    p = _softmax(rng.normal(size=(n, c)) * 3)
    p[0] = [1.0, 0.0, 0.0, 0.0]  # exercises the clipping
    labels = rng.integers(0, c, size=n)
    labels[0] = 1
    return {
        "p": p, "labels": labels, "one_hot": np.eye(c, dtype="float32")[labels],
        "unnormalised": p * rng.uniform(0.5, 2, size=(n, 1)),
        "z": (rng.normal(size=(n, c)) * 3).astype("float32"),
        "w": rng.uniform(0.1, 2, size=n).astype("float32"),
        "yb": rng.integers(0, 2, size=(n, c)).astype("float32"),
        "pb": np.clip(rng.uniform(size=(n, c)), 0, 1).astype("float32"),
    }


# ------------------------------------------------------------------------------------ Keras

def test_keras_binary_cross_entropy(data):
    keras = _keras()
    pb = data["pb"].copy()
    pb[0, :2] = [0.0, 1.0]
    for smoothing in (0.0, 0.2):
        loss = keras.losses.BinaryCrossentropy(label_smoothing=smoothing)
        expected = float(loss(data["yb"], pb, sample_weight=data["w"]))
        ours = lk.binary_cross_entropy(data["yb"], pb, sample_weight=data["w"],
                                       label_smoothing=smoothing, convention="keras")
        np.testing.assert_allclose(float(ours), expected, rtol=RTOL)


def test_keras_categorical_cross_entropy_renormalises_rows(data):
    keras = _keras()
    expected = float(keras.losses.CategoricalCrossentropy()(
        data["one_hot"], data["unnormalised"], sample_weight=data["w"]))
    ours = lk.categorical_cross_entropy(data["one_hot"], data["unnormalised"],
                                        sample_weight=data["w"], convention="keras")
    np.testing.assert_allclose(float(ours), expected, rtol=RTOL)
    # losskit's own convention refuses these rows instead
    with pytest.raises(ValueError, match=r"outside \[0, 1\]|rows do not sum to 1"):
        lk.categorical_cross_entropy(data["one_hot"], data["unnormalised"])


def test_keras_sparse_and_smoothed_categorical(data):
    keras = _keras()
    expected = float(keras.losses.SparseCategoricalCrossentropy()(
        data["labels"], data["unnormalised"], sample_weight=data["w"]))
    ours = lk.sparse_categorical_cross_entropy(data["labels"], data["unnormalised"],
                                               sample_weight=data["w"], convention="keras")
    np.testing.assert_allclose(float(ours), expected, rtol=RTOL)
    expected = float(keras.losses.CategoricalCrossentropy(from_logits=True,
                                                          label_smoothing=0.1)(
        data["one_hot"], data["z"]))
    ours = lk.categorical_cross_entropy(data["one_hot"], data["z"], from_logits=True,
                                        label_smoothing=0.1, convention="keras")
    np.testing.assert_allclose(float(ours), expected, rtol=RTOL)


def test_keras_mean_squared_error_divides_by_n(data):
    keras = _keras()
    y, p = data["pb"], data["z"]
    expected = float(keras.losses.MeanSquaredError()(y, p, sample_weight=data["w"]))
    ours = lk.mean_squared_error(y, p, sample_weight=data["w"], convention="keras")
    np.testing.assert_allclose(float(ours), expected, rtol=RTOL)


# ---------------------------------------------------------------------------------- PyTorch

def test_torch_binary_cross_entropy_clamps_logs(data):
    pb = data["pb"].astype("float64")
    pb[0, :2] = [0.0, 1.0]
    y = data["yb"].astype("float64")
    w = data["w"].astype("float64")
    weight = torch.from_numpy(np.repeat(w[:, None], pb.shape[1], axis=1))
    expected = F.binary_cross_entropy(torch.from_numpy(pb), torch.from_numpy(y), weight=weight)
    ours = lk.binary_cross_entropy(y, pb, sample_weight=w, convention="torch")
    np.testing.assert_allclose(float(ours), float(expected), rtol=1e-12)
    # the default clips at the dtype's eps instead of clamping at -100
    assert float(lk.binary_cross_entropy([1.0], [0.0], convention="torch")) == 100.0
    assert float(lk.binary_cross_entropy([1.0], [0.0])) == pytest.approx(-np.log(2.0**-52))


def test_torch_bce_with_logits_weight_divides_by_n(data):
    z, y, w = (data[k].astype("float64") for k in ("z", "yb", "w"))
    weight = torch.from_numpy(np.repeat(w[:, None], z.shape[1], axis=1))
    expected = F.binary_cross_entropy_with_logits(torch.from_numpy(z), torch.from_numpy(y),
                                                  weight=weight)
    ours = lk.binary_cross_entropy(y, z, from_logits=True, sample_weight=w, convention="torch")
    np.testing.assert_allclose(float(ours), float(expected), rtol=1e-12)


def test_torch_probability_targets_with_class_weights_divide_by_n(rng):
    z = rng.normal(size=(30, 5))
    target = _softmax(rng.normal(size=(30, 5)))
    cw = rng.uniform(0.2, 3, size=5)
    expected = F.cross_entropy(torch.from_numpy(z), torch.from_numpy(target),
                               weight=torch.from_numpy(cw), label_smoothing=0.1)
    ours = lk.categorical_cross_entropy(target, z, from_logits=True, class_weight=cw,
                                        label_smoothing=0.1, convention="torch")
    np.testing.assert_allclose(float(ours), float(expected), rtol=1e-12)
    # losskit's own convention keeps one-hot and sparse equal instead (documented)
    losskit = lk.categorical_cross_entropy(target, z, from_logits=True, class_weight=cw,
                                           label_smoothing=0.1)
    assert abs(float(losskit) - float(expected)) > 1e-3


def test_torch_sample_weights_follow_the_weighted_mean_idiom(data):
    z, w = data["z"].astype("float64"), data["w"].astype("float64")
    cw = np.linspace(0.5, 2.0, z.shape[1])
    per = F.cross_entropy(torch.from_numpy(z), torch.from_numpy(data["labels"]),
                          weight=torch.from_numpy(cw), reduction="none").numpy()
    expected = (w * per).mean()  # PyTorch's idiom for sample weights divides by n
    for fn, y in ((lk.sparse_categorical_cross_entropy, data["labels"]),
                  (lk.categorical_cross_entropy, data["one_hot"])):
        ours = fn(y, z, from_logits=True, class_weight=cw, sample_weight=w, convention="torch")
        np.testing.assert_allclose(float(ours), expected, rtol=1e-12)


def test_torch_nll_of_log_probabilities_is_exact(data):
    p = data["p"].astype("float64")
    expected = F.nll_loss(torch.log(torch.from_numpy(p)), torch.from_numpy(data["labels"]))
    ours = lk.sparse_categorical_cross_entropy(data["labels"], p, convention="torch")
    np.testing.assert_allclose(float(ours), float(expected), rtol=1e-12)


# ----------------------------------------------------------------------------- scikit-learn

def test_sklearn_convention_is_losskit(data):
    p = data["p"].astype("float64")
    w = data["w"].astype("float64")
    expected = log_loss(data["labels"], p, sample_weight=w, labels=range(4))
    for fn, y in ((lk.sparse_categorical_cross_entropy, data["labels"]),
                  (lk.categorical_cross_entropy, data["one_hot"])):
        np.testing.assert_allclose(float(fn(y, p, sample_weight=w, convention="sklearn")),
                                   expected, rtol=1e-12)
    y, q = data["pb"].astype("float64"), data["z"].astype("float64")
    np.testing.assert_allclose(
        float(lk.mean_squared_error(y, q, sample_weight=w, convention="sklearn")),
        sk_mse(y, q, sample_weight=w), rtol=1e-12)


# -------------------------------------------------------------------------------- gradients

@pytest.mark.parametrize("convention", ["keras", "torch", "sklearn"])
@pytest.mark.parametrize("case", ["cce", "sparse", "sparse-smooth", "bce"])
def test_gradients_under_every_convention_match_autograd(rng, data, case, convention):
    w = data["w"].astype("float64")
    p = data["unnormalised" if convention == "keras" else "p"].astype("float64")
    if case == "bce":
        fn, y, p = lk.binary_cross_entropy, data["yb"].astype("float64"), \
            data["pb"].astype("float64")
        p[0, :2] = [0.0, 1.0]
        options = {}
    elif case == "cce":
        fn, y, options = lk.categorical_cross_entropy, data["one_hot"].astype("float64"), {}
    else:
        fn, y = lk.sparse_categorical_cross_entropy, data["labels"]
        options = {"label_smoothing": 0.2} if case == "sparse-smooth" else {}
    options.update(sample_weight=w, convention=convention)
    analytic = lk.gradient(fn, y, p, **options)
    leaf = torch.tensor(p, requires_grad=True)
    fn(torch.as_tensor(y), leaf, **options).backward()
    expected = leaf.grad.numpy()
    # autograd of PyTorch's clamp max(log p, -100) at p = 0 is 0 * inf = NaN; the derivative
    # of the clamped function there is 0, which is what losskit returns
    undefined = np.isnan(expected)
    assert np.all(np.isfinite(analytic[undefined]))
    np.testing.assert_allclose(analytic[~undefined], expected[~undefined], rtol=1e-10,
                               atol=1e-12)


def test_unknown_convention_is_refused():
    with pytest.raises(ValueError, match="convention must be one of 'losskit', 'sklearn', "
                                         "'keras', 'torch'"):
        lk.binary_cross_entropy([1.0], [0.5], convention="tensorflow")
