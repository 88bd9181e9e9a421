"""generalized_cross_entropy (Zhang & Sabuncu, 2018) against Keras 3's
``CategoricalGeneralizedCrossEntropy`` on its JAX backend (one subprocess: Keras picks its
backend once per process), over the cases of Keras' own keras/src/losses/losses_test.py
(CategoricalGeneralizedCrossEntropyTest) and random and edge inputs; its logits form, its
analytic gradient (finite differences, torch autograd) and its errors."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import losskit as lk

F32 = np.float32
# CategoricalGeneralizedCrossEntropyTest's inputs
BINARY = (np.array([0, 1, 0, 1]), np.array([[0.7, 0.3], [0.2, 0.8], [0.6, 0.4], [0.4, 0.6]]))
MULTI = (np.array([0, 1, 0, 1]),
         np.array([[0.7, 0.3, 0.0], [0.2, 0.2, 0.6], [0.6, 0.4, 0.0], [0.2, 0.2, 0.6]]))
SEG_LABELS = np.array([[0, 1, 1, 0], [1, 0, 1, 0], [0, 0, 1, 1], [1, 1, 0, 1]])
SEG_PERFECT = np.eye(2)[SEG_LABELS]
SEG_TWO_WRONG = SEG_PERFECT.copy()
SEG_TWO_WRONG[0, 3] = [0.2, 0.8]
SEG_TWO_WRONG[3, 3] = [0.6, 0.4]
MULTI_SEG_LABELS = np.array([[0, 1, 2, 0], [1, 0, 1, 0], [0, 0, 1, 1], [1, 1, 0, 1]])
MULTI_SEG_PERFECT = np.eye(3)[MULTI_SEG_LABELS]
MULTI_SEG_WRONG = MULTI_SEG_PERFECT.copy()
MULTI_SEG_WRONG[0, 3] = [0.2, 0.0, 0.8]
MULTI_SEG_WRONG[1, 0] = [1.0, 0.0, 0.0]
MULTI_SEG_WRONG[3, 2] = [0.5, 0.5, 0.0]

_RNG = np.random.default_rng(15)
_RANDOM_P = _RNG.dirichlet(np.ones(5), 12)
_RANDOM_Y = _RNG.integers(0, 5, 12)
_RANDOM_W = _RNG.uniform(0.0, 2.0, 12)
EDGE_P = np.array([[1.0, 0.0, 0.0], [1e-30, 1.0 - 1e-30, 0.0], [1e-6, 0.5, 0.5 - 1e-6],
                   [0.0, 0.5, 0.5]])
EDGE_Y = np.array([0, 0, 0, 0])

#: name -> (labels, probabilities, q, sample_weight, Keras reduction)
CASES = {
    "binary-q0.5": (*BINARY, 0.5, None, "sum_over_batch_size"),
    "binary-q0.8": (*BINARY, 0.8, None, "sum_over_batch_size"),
    "multi-class-q0.5": (*MULTI, 0.5, None, "sum_over_batch_size"),
    "multi-class-q0.8": (*MULTI, 0.8, None, "sum_over_batch_size"),
    "binary-segmentation-perfect": (SEG_LABELS, SEG_PERFECT, 0.5, None, "sum_over_batch_size"),
    "binary-segmentation": (SEG_LABELS, SEG_TWO_WRONG, 0.5, None, "sum_over_batch_size"),
    "multi-segmentation-perfect": (MULTI_SEG_LABELS, MULTI_SEG_PERFECT, 0.5, None,
                                   "sum_over_batch_size"),
    "multi-segmentation": (MULTI_SEG_LABELS, MULTI_SEG_WRONG, 0.5, None, "sum_over_batch_size"),
    "random-weighted-mean": (_RANDOM_Y, _RANDOM_P, 0.3, _RANDOM_W, "sum_over_batch_size"),
    "random-weighted-sum": (_RANDOM_Y, _RANDOM_P, 0.7, _RANDOM_W, "sum"),
    "random-none": (_RANDOM_Y, _RANDOM_P, 0.9, None, None),
    "edge-q0.5": (EDGE_Y, EDGE_P, 0.5, None, None),
    "edge-q0.05": (EDGE_Y, EDGE_P, 0.05, None, None),
}
#: the function form (Keras' class refuses q = 1): the MAE form 1 - p_y, per sample
FUNCTION_CASES = {"edge-q1": (EDGE_Y, EDGE_P, 1.0), "random-q1": (_RANDOM_Y, _RANDOM_P, 1.0)}

_KERAS_SCRIPT = """
import json, sys
import numpy as np
import keras
assert keras.backend.backend() == "jax", keras.backend.backend()
cases, functions = json.loads(sys.stdin.read())
out = {}
for name, (y, p, q, w, reduction) in cases.items():
    loss = keras.losses.CategoricalGeneralizedCrossEntropy(q=q, reduction=reduction)
    w = None if w is None else np.asarray(w, dtype="float32")
    out[name] = np.asarray(loss(np.asarray(y), np.asarray(p, dtype="float32"),
                                sample_weight=w), dtype="float64").tolist()
for name, (y, p, q) in functions.items():
    value = keras.losses.categorical_generalized_cross_entropy(
        np.asarray(y), np.asarray(p, dtype="float32"), q)
    out[name] = np.asarray(value, dtype="float64").tolist()
print(json.dumps(out))
"""


def _listed(a):
    return None if a is None else np.asarray(a).tolist()


@pytest.fixture(scope="module")
def keras_jax():
    """Keras' numbers for every case, computed by Keras on its JAX backend."""
    if importlib.util.find_spec("keras") is None or importlib.util.find_spec("jax") is None:
        pytest.skip("keras with the jax backend is not installed")
    payload = json.dumps([
        {k: (_listed(y), _listed(p), q, _listed(w), r) for k, (y, p, q, w, r) in CASES.items()},
        {k: (_listed(y), _listed(p), q) for k, (y, p, q) in FUNCTION_CASES.items()}])
    run = subprocess.run([sys.executable, "-c", _KERAS_SCRIPT], input=payload, text=True,
                         capture_output=True, timeout=300,
                         env={**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"})
    assert run.returncode == 0, run.stderr[-3000:]
    return {k: np.asarray(v) for k, v in json.loads(run.stdout.strip().splitlines()[-1]).items()}


def _close(got, expected, rtol=2e-6, atol=2e-7):
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64),
                               np.asarray(expected, dtype=np.float64), rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", list(CASES))
def test_matches_keras_on_its_own_and_random_cases(keras_jax, name):
    y, p, q, w, keras_reduction = CASES[name]
    reduction = {"sum_over_batch_size": "mean", "sum": "sum", None: "none"}[keras_reduction]
    got = lk.generalized_cross_entropy(y, p.astype(F32), q=q, reduction=reduction,
                                       sample_weight=None if w is None else w.astype(F32),
                                       convention="keras")
    assert np.asarray(got).dtype == F32
    _close(got, keras_jax[name])


def test_keras_test_suite_expectations():
    """The numbers Keras' own tests assert, independently of the Keras installed."""
    def gce(p, q):
        return (1 - np.power(p, q)) / q

    for q in (0.5, 0.8):
        _close(lk.generalized_cross_entropy(*BINARY, q=q, convention="keras"),
               gce(np.array([0.7, 0.8, 0.6, 0.6]), q).mean(), rtol=1e-12)
        _close(lk.generalized_cross_entropy(*MULTI, q=q, convention="keras"),
               gce(np.array([0.7, 0.2, 0.6, 0.2]), q).mean(), rtol=1e-12)
    for y, p in ((SEG_LABELS, SEG_PERFECT), (MULTI_SEG_LABELS, MULTI_SEG_PERFECT)):
        assert float(lk.generalized_cross_entropy(y, p, q=0.5, convention="keras")) == 0.0
    _close(lk.generalized_cross_entropy(SEG_LABELS, SEG_TWO_WRONG, q=0.5, convention="keras"),
           gce(np.array([0.2, 0.4]), 0.5).sum() / 16, rtol=1e-12)
    _close(lk.generalized_cross_entropy(MULTI_SEG_LABELS, MULTI_SEG_WRONG, q=0.5,
                                        convention="keras"),
           gce(np.array([0.2, 0.0, 0.5]), 0.5).sum() / 16, rtol=1e-12)


@pytest.mark.parametrize("name", list(FUNCTION_CASES))
def test_q1_is_the_mae_form_as_keras_function(keras_jax, name):
    y, p, q = FUNCTION_CASES[name]
    got = lk.generalized_cross_entropy(y, p.astype(F32), q=q, reduction="none",
                                       convention="keras")
    _close(got, keras_jax[name])
    _close(lk.generalized_cross_entropy(y, p, q=1.0, reduction="none", convention="keras"),
           1.0 - np.take_along_axis(p, y[:, None], axis=-1)[:, 0], rtol=1e-15, atol=0)


def test_edges_certain_tiny_and_zero_probability():
    q = 0.5
    got = np.asarray(lk.generalized_cross_entropy(EDGE_Y, EDGE_P, q=q, reduction="none",
                                                  convention="keras"))
    assert got[0] == 0.0  # p = 1: exactly 0
    _close(got[1], (1 - 1e-15) / q, rtol=1e-15)  # p = 1e-30: p^q = 1e-15 kept
    assert got[3] == 1 / q  # p = 0 (Keras: no clip): the bound 1/q
    # losskit clips p_y from below at machine epsilon: the bound minus eps^q / q
    ours = np.asarray(lk.generalized_cross_entropy(EDGE_Y, EDGE_P, q=q, reduction="none"))
    _close(ours[3], (1 - np.finfo(float).eps ** q) / q, rtol=1e-15)
    _close(ours[:3], got[:3], rtol=1e-15)
    # from logits: p_y = e^-800 (0 as a probability) and p_y near 1 stay finite and exact
    z = np.array([[30.0, 4.0, 3.0], [-800.0, 0.0, -1e9]])
    log_p = np.array([-np.log1p(np.exp(-26.0) + np.exp(-27.0)), -800.0])  # log p_0 exactly
    expected = -np.expm1(q * log_p) / q
    got = lk.generalized_cross_entropy([0, 0], z, q=q, from_logits=True, reduction="none")
    # row 0: 1 - p_y = 7e-12 keeps the rounding of logsumexp near 0 (about 1e-16 absolute)
    _close(got, expected, rtol=1e-4, atol=0)
    assert 0.0 < float(lk.generalized_cross_entropy([0], z[:1], q=q, from_logits=True)) < 1e-10


def test_logits_equal_probabilities_of_the_softmax():
    z = _RNG.normal(size=(7, 4)) * 3
    y = _RNG.integers(0, 4, 7)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    for q in (0.1, 0.7, 1.0):
        _close(lk.generalized_cross_entropy(y, z, q=q, from_logits=True, reduction="none"),
               lk.generalized_cross_entropy(y, p, q=q, reduction="none"), rtol=1e-12)
    # q -> 0: the cross-entropy
    _close(lk.generalized_cross_entropy(y, z, q=1e-8, from_logits=True),
           lk.sparse_categorical_cross_entropy(y, z, from_logits=True), rtol=1e-6)


def _finite_difference(f, x, h=1e-6):
    g = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[index] += h
        down[index] -= h
        g[index] = (f(up) - f(down)) / (2 * h)
    return g


@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("q", [0.3, 0.7, 1.0])
def test_gradient_against_finite_differences(from_logits, q):
    y = _RNG.integers(0, 4, 6)
    w = _RNG.uniform(0.2, 2.0, 6)
    raw = _RNG.normal(size=(6, 4)) if from_logits else _RNG.dirichlet(np.ones(4), 6)
    options = {"q": q, "from_logits": from_logits, "sample_weight": w,
               "check_values": from_logits}
    grad = np.asarray(lk.gradient(lk.generalized_cross_entropy, y, raw, **options))
    numeric = _finite_difference(
        lambda x: float(lk.generalized_cross_entropy(y, x, **options)), raw)
    _close(grad, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("q", [0.25, 0.7, 1.0])
def test_gradient_against_torch_autograd(q):
    torch = pytest.importorskip("torch")
    z = _RNG.normal(size=(5, 3)) * 4
    y = _RNG.integers(0, 3, 5)
    w = _RNG.uniform(0.0, 2.0, 5)
    zt = torch.tensor(z, requires_grad=True)
    p_y = torch.softmax(zt, dim=-1).gather(-1, torch.tensor(y)[:, None])[:, 0]
    wt = torch.tensor(w)
    ((wt * (1 - p_y ** q) / q).sum() / wt.sum()).backward()
    grad = lk.gradient(lk.generalized_cross_entropy, y, z, q=q, from_logits=True,
                       sample_weight=w)
    _close(grad, zt.grad.numpy(), rtol=1e-10, atol=1e-14)
    # and losskit on torch tensors, through autograd
    zt2 = torch.tensor(z, requires_grad=True)
    lk.generalized_cross_entropy(torch.tensor(y), zt2, q=q, from_logits=True,
                                 sample_weight=wt).backward()
    _close(zt2.grad.numpy(), zt.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_keras_convention_divides_a_weighted_sum_by_n():
    y, p = BINARY
    w = np.array([1.0, 2.0, 0.0, 1.0])
    per = np.asarray(lk.generalized_cross_entropy(y, p, q=0.5, reduction="none"))
    _close(lk.generalized_cross_entropy(y, p, q=0.5, sample_weight=w), (w * per).sum() / w.sum(),
           rtol=1e-12)
    _close(lk.generalized_cross_entropy(y, p, q=0.5, sample_weight=w, convention="keras"),
           (w * per).sum() / 4, rtol=1e-12)


@pytest.mark.parametrize("q", [0.0, -0.5])
def test_q_at_most_zero_is_refused_with_the_cross_entropy_as_the_fix(q):
    with pytest.raises(ValueError, match="generalized_cross_entropy: q must be a number in "
                                         r"\(0.0, 1.0\].*use sparse_categorical_cross_entropy"):
        lk.generalized_cross_entropy([0], [[0.5, 0.5]], q=q)


def test_bad_labels_and_rows_are_refused():
    with pytest.raises(ValueError, match="generalized_cross_entropy: y_true has values outside"):
        lk.generalized_cross_entropy([2], [[0.5, 0.5]])
    with pytest.raises(ValueError, match="generalized_cross_entropy: y_pred"):
        lk.generalized_cross_entropy([0], [[0.5, 0.6]])
    with pytest.raises(ValueError, match="generalized_cross_entropy: y_true has a non-integer"):
        lk.generalized_cross_entropy([0.5], [[0.5, 0.5]])


def test_explained():
    text = str(lk.explain("generalized_cross_entropy"))
    assert "noisy labels" in text and "(1 − p_y^q) / q" in text
