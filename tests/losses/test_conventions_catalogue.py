"""``convention=`` on the classification catalogue reproduces each framework's own number.

Tested against the real libraries on the same input: Keras (NumPy backend; float32, which is
all Keras computes in outside TensorFlow), PyTorch and scikit-learn; the gradients of every new
branch against torch autograd and finite differences, and every branch on every backend.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.metrics import hinge_loss as sk_hinge_loss

import losskit as lk
from references import keras_numpy as _keras

N, C = 24, 4
KERAS_RTOL = 1e-6




def _keras_loss(name, y, p, w=None, **options):
    loss = getattr(_keras().losses, name)(**options)
    return float(loss(y, p, sample_weight=w))


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _f32(*arrays):
    return [np.asarray(a, dtype=np.float32) for a in arrays]


def _scores(rng, shape):
    """Raw scores kept away from the hinge's kink and from 0 (no ambiguous subgradient)."""
    s = rng.normal(size=shape) * 1.5
    s = np.where(np.abs(np.abs(s) - 1.0) < 1e-2, s + 0.05, s)
    return np.where(np.abs(s) < 1e-2, s + 0.05, s)


@pytest.fixture
def data(rng):
    labels = rng.integers(0, C, size=N)
    labels[:C] = np.arange(C)
    p = _softmax(rng.normal(size=(N, C)) * 2)
    p[0] = [0.0, 1.0, 0.0, 0.0]  # exercises every clip
    target = _softmax(rng.normal(size=(N, C)))
    target[1] = [0.0, 0.5, 0.5, 0.0]  # zeros in the target: Keras clips them to 1e-7
    return {
        "labels": labels, "one_hot": np.eye(C)[labels], "p": p, "target": target,
        "unnormalised": p * rng.uniform(0.5, 2, size=(N, 1)),
        "z": rng.normal(size=(N, C)) * 3, "w": rng.uniform(0.1, 2, size=N),
        "yb": rng.integers(0, 2, size=(N, 3)).astype(float),
        "pb": rng.uniform(size=(N, 3)), "zb": rng.normal(size=(N, 3)) * 8,
    }


# ----------------------------------------------------------------------------- KL divergence


def test_kl_keras_clips_both_arguments_and_divides_by_n(data):
    p, q, w = _f32(data["target"], data["p"], data["w"])
    expected = _keras_loss("KLDivergence", p, q, w)
    ours = float(lk.kl_divergence(p, q, sample_weight=w, convention="keras"))
    assert ours == pytest.approx(expected, rel=KERAS_RTOL)
    # losskit leaves the target unclipped and divides by the sum of the weights
    assert float(lk.kl_divergence(p, q, sample_weight=w)) != pytest.approx(expected, rel=1e-3)


def test_kl_keras_target_zeros_contribute(data):
    # a target of 0 gives Keras 1e-7 log(1e-7 / q) instead of 0: here negative
    p, q = _f32([[0.0, 1.0]], [[0.5, 0.5]])
    ours = lk.kl_divergence(p, q, convention="keras")
    assert float(ours) == pytest.approx(_keras_loss("KLDivergence", p, q), rel=KERAS_RTOL)
    expected_loss = np.float32(1e-7) * np.log(np.float32(1e-7) / 0.5) + np.log(2.0)
    assert float(ours) == pytest.approx(expected_loss, rel=1e-6)
    assert float(lk.kl_divergence(p, q)) == pytest.approx(np.log(2.0), rel=1e-6)


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")
@pytest.mark.parametrize("from_logits", [False, True])
def test_kl_torch_mean_divides_by_the_number_of_elements(data, from_logits):
    p = data["target"]
    if from_logits:
        log_q = torch.log_softmax(torch.from_numpy(data["z"]), dim=-1)
        given = data["z"]
    else:
        given = _softmax(data["z"])
        log_q = torch.log(torch.from_numpy(given))
    target = torch.from_numpy(p)
    for reduction in ("mean", "sum"):
        expected = F.kl_div(log_q, target, reduction=reduction)
        ours = lk.kl_divergence(p, given, from_logits=from_logits, reduction=reduction,
                                convention="torch")
        assert float(ours) == pytest.approx(float(expected), rel=1e-12)
    # PyTorch's "batchmean" is losskit's mean, C times its "mean"
    batchmean = F.kl_div(log_q, target, reduction="batchmean")
    assert float(lk.kl_divergence(p, given, from_logits=from_logits)) == pytest.approx(
        float(batchmean), rel=1e-12)
    assert float(batchmean) == pytest.approx(
        C * float(lk.kl_divergence(p, given, from_logits=from_logits, convention="torch")),
        rel=1e-12)


def test_kl_torch_does_not_clip():
    p, q = [[0.5, 0.5]], [[1.0, 0.0]]
    assert float(lk.kl_divergence(p, q, convention="torch")) == np.inf
    assert np.isfinite(float(lk.kl_divergence(p, q)))


# ------------------------------------------------------------------------------------ hinges


@pytest.mark.parametrize("coding", ["01", "pm1", "mixed"])
@pytest.mark.parametrize(("fn", "name"), [(lk.hinge_loss, "Hinge"),
                                          (lk.squared_hinge_loss, "SquaredHinge")])
def test_hinges_keras_label_mapping(rng, data, coding, fn, name):
    y01 = rng.integers(0, 2, size=(N, 3)).astype(float)
    y = {"01": y01, "pm1": 2 * y01 - 1,
         "mixed": rng.integers(-1, 2, size=(N, 3)).astype(float)}[coding]
    y, s, w = _f32(y, _scores(rng, (N, 3)), data["w"])
    expected = _keras_loss(name, y, s, w)
    ours = float(fn(y, s, sample_weight=w, convention="keras"))
    assert ours == pytest.approx(expected, rel=KERAS_RTOL)
    if coding == "mixed":
        # losskit refuses to guess what a 0 among -1/+1 labels means
        with pytest.raises(ValueError, match="mixes labels 0 and -1"):
            fn(y, s)
    else:
        assert float(fn(y, s, sample_weight=w)) == pytest.approx(
            ours * N / float(w.sum()), rel=1e-6)


def test_hinge_keras_zero_label_among_signs_costs_one():
    y, s = [[-1.0, 0.0, 1.0]], [[-3.0, 5.0, 3.0]]
    assert lk.hinge_loss(y, s, convention="keras", reduction="none").tolist() == [1 / 3]
    with pytest.raises(ValueError, match=r"has label 2 at index \(0, 1\), not in \{-1, 0, 1\}"):
        lk.hinge_loss([[-1.0, 2.0]], [[0.0, 0.0]], convention="keras")


def test_categorical_hinge_keras_counts_the_true_class_as_zero(rng, data):
    y, s, w = _f32(data["one_hot"], _scores(rng, (N, C)), data["w"])
    s[:4] = -np.abs(s[:4])  # all wrong scores negative: where Keras differs
    expected = _keras_loss("CategoricalHinge", y, s, w)
    ours = float(lk.categorical_hinge_loss(y, s, sample_weight=w, convention="keras"))
    assert ours == pytest.approx(expected, rel=KERAS_RTOL)
    one = ([[1.0, 0.0, 0.0]], [[-0.5, -1.0, -3.0]])
    assert float(lk.categorical_hinge_loss(*one, convention="keras")) == pytest.approx(1.5)
    assert float(lk.categorical_hinge_loss(*one)) == pytest.approx(0.5)


@pytest.mark.parametrize("convention", ["sklearn", "torch"])
def test_hinges_sklearn_and_torch_conventions_are_losskits(rng, data, convention):
    w = data["w"]
    y = rng.integers(0, 2, size=N)
    s = _scores(rng, N)
    expected = sk_hinge_loss(y, s, sample_weight=w)
    assert float(lk.hinge_loss(y, s, sample_weight=w, convention=convention)) == \
        pytest.approx(expected, rel=1e-12)
    s = _scores(rng, (N, C))
    expected = sk_hinge_loss(data["labels"], s, labels=np.arange(C), sample_weight=w)
    assert float(lk.categorical_hinge_loss(data["one_hot"], s, sample_weight=w,
                                           convention=convention)) == \
        pytest.approx(expected, rel=1e-12)
    for fn, y_true, y_pred in ((lk.squared_hinge_loss, y, _scores(rng, N)),
                               (lk.binary_focal_loss, data["yb"], data["pb"]),
                               (lk.categorical_focal_loss, data["one_hot"], data["p"])):
        assert float(fn(y_true, y_pred, sample_weight=w, convention=convention)) == \
            float(fn(y_true, y_pred, sample_weight=w))


# ------------------------------------------------------------------------------ focal losses


@pytest.mark.parametrize(("gamma", "alpha"), [(2.0, None), (0.5, 0.3)])
def test_binary_focal_keras(data, gamma, alpha):
    y, p, z, w = _f32(data["yb"], data["pb"], data["zb"], data["w"])
    p[0] = [0.0, 1.0, 1e-9]  # clipped at Keras' 1e-7, not at the float32 eps
    keras_options = {"gamma": gamma, "apply_class_balancing": alpha is not None,
                     "alpha": 0.25 if alpha is None else alpha}
    for y_pred, from_logits in ((p, False), (z, True)):
        expected = _keras_loss("BinaryFocalCrossentropy", y, y_pred, w,
                               from_logits=from_logits, label_smoothing=0.1, **keras_options)
        ours = float(lk.binary_focal_loss(y, y_pred, gamma=gamma, alpha=alpha,
                                          from_logits=from_logits, label_smoothing=0.1,
                                          sample_weight=w, convention="keras"))
        assert ours == pytest.approx(expected, rel=KERAS_RTOL)
    # logits of size ~30 saturate Keras' float32 sigmoid; losskit's own logits path does not
    big = np.float32([[30.0]])
    assert float(lk.binary_focal_loss([[0.0]], big, from_logits=True, convention="keras")) == \
        pytest.approx(_keras_loss("BinaryFocalCrossentropy", np.float32([[0.0]]), big,
                                  from_logits=True),
                      rel=KERAS_RTOL)
    assert float(lk.binary_focal_loss([[0.0]], big, from_logits=True)) == pytest.approx(30.0)


@pytest.mark.parametrize(("gamma", "alpha"), [(2.0, None), (1.5, 0.6)])
def test_categorical_focal_keras(data, gamma, alpha):
    y, q, z, w = _f32(data["one_hot"], data["unnormalised"], data["z"], data["w"])
    keras_alpha = 0.25 if alpha is None else alpha  # Keras' default is always applied
    for y_pred, from_logits in ((q, False), (z, True)):
        expected = _keras_loss("CategoricalFocalCrossentropy", y, y_pred, w, alpha=keras_alpha,
                               gamma=gamma, from_logits=from_logits, label_smoothing=0.1)
        ours = float(lk.categorical_focal_loss(y, y_pred, gamma=gamma, alpha=alpha,
                                               from_logits=from_logits, label_smoothing=0.1,
                                               sample_weight=w, convention="keras"))
        assert ours == pytest.approx(expected, rel=KERAS_RTOL)
    with pytest.raises(ValueError, match=r"outside \[0, 1\]|rows do not sum to 1"):
        lk.categorical_focal_loss(y, q)
    with pytest.raises(ValueError, match="categorical_focal_loss: y_pred has values outside"):
        lk.categorical_focal_loss(y, -q, convention="keras")


# -------------------------------------------------------------------------------- gradients


def _cases(data):
    """(function, y_true, y_pred, options) exercising every new branch."""
    mixed = np.where(data["yb"] > 0, 1.0, -1.0)
    mixed[0, 0] = 0.0
    s = data["z"].copy()
    s[:3] = -np.abs(s[:3]) - 0.1
    kl_q = data["p"].copy()
    kl_q[0] = [0.1, 0.7, 1e-9, 0.2 - 1e-9]
    return {
        "kl": (lk.kl_divergence, data["target"], kl_q, {}),
        "kl-logits": (lk.kl_divergence, data["target"], data["z"], {"from_logits": True}),
        "hinge": (lk.hinge_loss, data["yb"], data["zb"] / 8, {}),
        "hinge-mixed": (lk.hinge_loss, mixed, data["zb"] / 8, {}),
        "squared-hinge": (lk.squared_hinge_loss, mixed, data["zb"] / 8, {}),
        "categorical-hinge": (lk.categorical_hinge_loss, data["one_hot"], s, {}),
        "binary-focal": (lk.binary_focal_loss, data["yb"], data["pb"], {"alpha": 0.3}),
        "binary-focal-logits": (lk.binary_focal_loss, data["yb"], data["zb"] / 4,
                                {"from_logits": True, "label_smoothing": 0.1}),
        "categorical-focal": (lk.categorical_focal_loss, data["one_hot"], data["unnormalised"],
                              {"gamma": 1.5}),
        "categorical-focal-logits": (lk.categorical_focal_loss, data["target"], data["z"],
                                     {"from_logits": True, "label_smoothing": 0.2}),
    }


CASES = ["kl", "kl-logits", "hinge", "hinge-mixed", "squared-hinge", "categorical-hinge",
         "binary-focal", "binary-focal-logits", "categorical-focal", "categorical-focal-logits"]


def _applicable(case, convention):
    if case == "hinge-mixed" or (case == "squared-hinge"):
        return convention == "keras"  # losskit's rule refuses mixed labels
    if case == "categorical-focal":
        return convention == "keras"  # unnormalised rows
    return True


@pytest.mark.parametrize(("case", "convention"), [
    (case, convention) for case in CASES for convention in ("keras", "torch", "sklearn")
    if _applicable(case, convention)])
def test_gradients_under_every_convention_match_autograd(data, case, convention):
    fn, y, p, options = _cases(data)[case]
    options = dict(options, sample_weight=data["w"], convention=convention)
    analytic = lk.gradient(fn, y, p, **options)
    leaf = torch.tensor(p, requires_grad=True)
    fn(torch.as_tensor(y), leaf, **options).backward()
    np.testing.assert_allclose(analytic, leaf.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("case", ["kl", "binary-focal", "binary-focal-logits",
                                  "categorical-focal", "categorical-focal-logits"])
def test_keras_gradients_match_finite_differences(data, case):
    fn, y, p, options = _cases(data)[case]
    y, p = y[4:8], p[4:8]  # rows away from the clip
    # perturbed rows no longer sum to 1: the derivative is the formula's, not the checks'
    options = dict(options, convention="keras", reduction="sum", check_values=False)
    analytic = lk.gradient(fn, y, p, **options)
    h = 1e-6
    numeric = np.zeros_like(p)
    for index in np.ndindex(p.shape):
        up, down = p.copy(), p.copy()
        up[index] += h
        down[index] -= h
        numeric[index] = (float(fn(y, up, **options)) - float(fn(y, down, **options))) / (2 * h)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


# ----------------------------------------------------------------------------- every backend


@pytest.mark.parametrize("convention", ["keras", "torch"])
def test_every_branch_on_every_backend(backend, data, convention):
    for case in CASES:
        if not _applicable(case, convention):
            continue
        fn, y, p, options = _cases(data)[case]
        options = dict(options, sample_weight=data["w"], convention=convention)
        expected = float(fn(y, p, **options))
        native = {k: backend.asarray(v) if isinstance(v, np.ndarray) else v
                  for k, v in options.items()}
        out = fn(backend.asarray(y), backend.asarray(p), **native)
        assert backend.is_native(out), case
        np.testing.assert_allclose(float(backend.to_numpy(out)), expected, rtol=1e-12,
                                   err_msg=case)


# ------------------------------------------------------------------------ property tests


def _rows(draw, n, c, low):
    """``n`` probability rows of ``c`` classes with every entry at least ``low``."""
    raw = draw(hnp.arrays(np.float64, (n, c), elements=st.floats(0.0, 1.0)))
    return low + (1.0 - c * low) * (raw + 1e-3) / (raw + 1e-3).sum(axis=-1, keepdims=True)


@st.composite
def batches(draw):
    n = draw(st.integers(1, 8))
    c = draw(st.integers(2, 5))
    labels = draw(hnp.arrays(np.int64, n, elements=st.integers(0, c - 1)))
    return {
        "one_hot": np.eye(c)[labels],
        "p": _rows(draw, n, c, 1e-3), "q": _rows(draw, n, c, 1e-3),
        "scores": draw(hnp.arrays(np.float64, (n, c), elements=st.floats(-5, 5))),
        "y01": draw(hnp.arrays(np.float64, (n, 2), elements=st.sampled_from([0.0, 1.0]))),
        "w": draw(hnp.arrays(np.float64, n, elements=st.floats(0.0, 3.0))),
    }


@settings(max_examples=60, deadline=None)
@given(b=batches())
def test_conventions_differ_only_where_documented(b):
    w, n = b["w"], len(b["w"])
    if w.sum() == 0:
        w = w + 1.0
    scores = np.abs(b["scores"])  # some wrong class scores >= 0: Keras' maximum is losskit's
    cases = [
        (lk.kl_divergence, b["p"], b["q"], {}),
        (lk.hinge_loss, b["y01"], b["scores"][:, :2], {}),
        (lk.squared_hinge_loss, b["y01"], b["scores"][:, :2], {}),
        (lk.categorical_hinge_loss, b["one_hot"], scores, {}),
        (lk.binary_focal_loss, b["y01"], b["p"][:, :2], {"eps": 1e-9}),
        (lk.categorical_focal_loss, b["one_hot"], b["q"], {"alpha": 1.0, "eps": 1e-9}),
    ]
    for fn, y, p, options in cases:
        losskit = float(fn(y, p, sample_weight=w, **options))
        # scikit-learn's weighted mean is losskit's, and so is PyTorch's where it has no loss
        assert float(fn(y, p, sample_weight=w, convention="sklearn", **options)) == losskit
        if fn is not lk.kl_divergence:
            assert float(fn(y, p, sample_weight=w, convention="torch", **options)) == losskit
        # away from the clips, with 0/1 labels and a non-negative wrong score, Keras differs
        # only in dividing the weighted sum by n
        keras = float(fn(y, p, sample_weight=w, convention="keras", **options))
        # (the KL divergence as Keras writes it, p log(p / q), rounds differently near 0)
        assert keras * n == pytest.approx(losskit * w.sum(), rel=1e-12, abs=1e-12)
    # PyTorch's kl_div "mean" is losskit's mean over C (its "batchmean")
    c = b["p"].shape[-1]
    assert float(lk.kl_divergence(b["p"], b["q"], convention="torch")) * c == pytest.approx(
        float(lk.kl_divergence(b["p"], b["q"])), rel=1e-12, abs=1e-300)


# ------------------------------------------------------------------ log-cosh, Keras' formula


@pytest.mark.parametrize("scale", [1.0, 0.05, 1e-3, 1e-6])
def test_log_cosh_keras_formula_reproduces_keras_for_small_errors(rng, scale):
    y = rng.normal(size=(N, 3)).astype("float32")
    p = (y + scale * rng.normal(size=(N, 3))).astype("float32")
    w = rng.uniform(0.1, 2, N).astype("float32")
    expected = _keras_loss("LogCosh", y, p, w)
    ours = float(lk.log_cosh_loss(y, p, sample_weight=w, convention="keras"))
    assert ours == pytest.approx(expected, rel=KERAS_RTOL, abs=1e-12)
    if scale <= 1e-3:
        # Keras' formula has lost the small errors' relative accuracy; losskit's keeps it
        accurate = float(np.average(np.mean(np.log(np.cosh((p - y).astype("float64"))),
                                            axis=-1), weights=w)) * float(w.sum()) / N
        assert abs(ours - accurate) > 1e-3 * abs(accurate)
        losskit = float(lk.log_cosh_loss(y, p, sample_weight=w)) * float(w.sum()) / N
        assert losskit == pytest.approx(accurate, rel=1e-5)


def test_log_cosh_keras_gradient_matches_autograd(rng):
    y, p, w = rng.normal(size=(N, 3)), rng.normal(size=(N, 3)), rng.uniform(0.1, 2, N)
    options = {"sample_weight": w, "convention": "keras"}
    analytic = lk.gradient(lk.log_cosh_loss, y, p, **options)
    leaf = torch.tensor(p, requires_grad=True)
    lk.log_cosh_loss(torch.as_tensor(y), leaf, **options).backward()
    np.testing.assert_allclose(analytic, leaf.grad.numpy(), rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("scale", [1.0, 1e-3])
def test_msle_keras_reproduces_keras_for_small_values(rng, scale):
    y = (rng.uniform(0, 1, (N, 3)) * scale).astype("float32")
    p = (rng.uniform(0, 1, (N, 3)) * scale).astype("float32")
    w = rng.uniform(0.1, 2, N).astype("float32")
    expected = _keras_loss("MeanSquaredLogarithmicError", y, p, w)
    ours = float(lk.mean_squared_log_error(y, p, sample_weight=w, convention="keras"))
    assert ours == pytest.approx(expected, rel=KERAS_RTOL)


@pytest.mark.parametrize(("fn", "low"), [(lk.log_cosh_loss, -3.0),
                                         (lk.mean_squared_log_error, -0.5)])
def test_keras_regression_formulas_on_every_backend(backend, rng, fn, low):
    y, p = rng.uniform(low, 3, (N, 2)), rng.uniform(low, 3, (N, 2))
    w = rng.uniform(0.1, 2, N)
    expected = float(fn(y, p, sample_weight=w, convention="keras"))
    out = fn(backend.asarray(y), backend.asarray(p), sample_weight=backend.asarray(w),
             convention="keras")
    assert backend.is_native(out)
    np.testing.assert_allclose(float(backend.to_numpy(out)), expected, rtol=1e-12)
