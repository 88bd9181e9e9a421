"""The contrastive losses against the frameworks that have them: ``ntxent`` against optax's
``ntxent`` (its own test cases in ``optax/losses/_self_supervised_test.py``, random and edge
inputs), ``circle_loss`` against Keras' ``Circle`` (its ``CircleTest`` cases in
``keras/src/losses/losses_test.py``, NumPy backend) and ``triplet_margin_with_distance_loss``
against PyTorch's (its OpInfo samples and every named distance); gradients against PyTorch and
JAX autograd through losskit and against finite differences; errors; properties."""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_framework_cases import op_db as op_db  # the OpInfo database fixture, shared

import losskit as lk
from formulas import _circle, _ntxent
from references import keras_numpy

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _finite_difference(fn, y, x, h=1e-6, **options):
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = h
        grad[index] = (float(np.sum(fn(y, x + step, **options)))
                       - float(np.sum(fn(y, x - step, **options)))) / (2 * h)
    return grad


def _autograd(fn, y, x, **options):
    """d sum(fn)/dx by PyTorch's autograd, through losskit's own code."""
    t = torch.tensor(x, requires_grad=True)
    torch.sum(fn(None if y is None else torch.tensor(y), t, **options)).backward()
    return t.grad.numpy()


def _jax_autograd(fn, y, x, **options):
    """d sum(fn)/dx by JAX's autograd (jitted: one compilation), through losskit's code."""
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jy = None if y is None else jax.numpy.asarray(y)
    grad = jax.jit(jax.grad(lambda z: jax.numpy.sum(fn(jy, z, **options))))
    return np.asarray(grad(jax.numpy.asarray(x)))


def _check_gradient(fn, y, x, rtol=1e-7, **options):
    """The analytic gradient against PyTorch's autograd and finite differences."""
    analytic = lk.gradient(fn, y, x, **options)
    np.testing.assert_allclose(_autograd(fn, y, x, **options), analytic, rtol=rtol,
                               atol=1e-10)
    np.testing.assert_allclose(_finite_difference(fn, y, x, **options), analytic, rtol=1e-5,
                               atol=1e-6 * max(1.0, float(np.max(np.abs(analytic)))))


@pytest.mark.parametrize("fn,y,options", [
    (lk.ntxent, [0, 0, 1, 1, 2, 2], {"temperature": 0.2}),
    (lk.circle_loss, [0, 0, 1, 1, 2, 2], {"gamma": 8.0}),
    (lk.circle_loss, [0, 0, 1, 1, 2, 2], {"gamma": 8.0, "convention": "keras"}),
])
def test_jax_autograd_through_losskit_is_the_analytic_gradient(fn, y, options):
    x = np.random.default_rng(11).normal(size=(6, 3))
    np.testing.assert_allclose(_jax_autograd(fn, np.asarray(y), x, **options),
                               lk.gradient(fn, np.asarray(y), x, **options), rtol=1e-9,
                               atol=1e-12)
    triplets = np.random.default_rng(12).normal(size=(6, 3, 3))
    np.testing.assert_allclose(
        _jax_autograd(lk.triplet_margin_with_distance_loss, None, triplets,
                      distance_function="cosine", swap=True),
        lk.gradient(lk.triplet_margin_with_distance_loss, None, triplets,
                    distance_function="cosine", swap=True), rtol=1e-9, atol=1e-12)


# -------------------------------------------------------------------------------- NT-Xent


@pytest.fixture(scope="module")
def optax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return pytest.importorskip("optax")


# optax's NtxentTest: four 2-D embeddings (a second set with a zero vector), two labellings
OPTAX_YS = np.array([[-1.9540, 1.0780], [0.2380, -0.5703], [1.8745, -0.0195],
                     [-0.6719, -1.9210]])
OPTAX_YS_ZERO = np.vstack([[0.0, 0.0], OPTAX_YS[1:]])
OPTAX_CASES = [(OPTAX_YS, [0, 0, 1, 1], 14.01032), (OPTAX_YS, [0, 0, 0, 1], 8.968544),
               (OPTAX_YS_ZERO, [0, 0, 1, 1], 9.2889)]


@functools.cache
def _optax_value_and_grad(optax):
    import jax

    return jax.jit(jax.value_and_grad(lambda z, y, t: optax.losses.ntxent(z, y, temperature=t)))


def _optax_ntxent(optax, y, x, temperature=0.07):
    import jax.numpy as jnp

    value, grad = _optax_value_and_grad(optax)(jnp.asarray(x), jnp.asarray(y),
                                               jnp.asarray(temperature, dtype=x.dtype))
    return float(value), np.asarray(grad)


@pytest.mark.parametrize("x,labels,expected", OPTAX_CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_ntxent_optax_test_cases(optax, x, labels, expected, dtype):
    x, y = x.astype(dtype), np.asarray(labels)
    value = lk.ntxent(y, x)
    assert value.dtype == dtype
    np.testing.assert_allclose(float(value), expected, atol=1e-4)  # optax's own tolerance
    theirs, their_gradient = _optax_ntxent(optax, y, x)
    np.testing.assert_allclose(float(value), theirs, rtol=1e-12 if dtype == np.float64
                               else 2e-6)
    np.testing.assert_allclose(lk.gradient(lk.ntxent, y, x), their_gradient,
                               rtol=1e-9 if dtype == np.float64 else 2e-4,
                               atol=1e-9 if dtype == np.float64 else 1e-4)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("temperature", [0.07, 0.5, 3.0])
def test_ntxent_random_batches_agree_with_optax(optax, seed, temperature):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(8, 4)) * rng.uniform(0.1, 10)  # one shape: optax compiles once
    y = np.repeat(np.arange(4), 2)[rng.permutation(8)]
    theirs, their_gradient = _optax_ntxent(optax, y, x, temperature)
    value, gradient = lk.value_and_gradient(lk.ntxent, y, x, temperature=temperature)
    np.testing.assert_allclose(float(value), theirs, rtol=1e-11)
    np.testing.assert_allclose(gradient, their_gradient, rtol=1e-8, atol=1e-11)
    # several batches: one loss each, optax's per batch
    batches = np.stack([x, x[::-1], 2 * x])
    labels = np.stack([y, y[::-1], y])
    per_batch = lk.ntxent(labels, batches, temperature=temperature, reduction="none")
    np.testing.assert_allclose(per_batch, [theirs] * 3, rtol=1e-11)


def test_ntxent_reductions_and_weights_count_pairs():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(5, 3)), np.array([0, 0, 0, 1, 1])
    pairs = [(i, j) for i in range(5) for j in range(5) if i != j and y[i] == y[j]]
    total = float(lk.ntxent(y, x, reduction="sum"))
    # "none": each anchor's sum over its positives; "mean": the mean over the 8 pairs
    rows = lk.ntxent(y, x, reduction="none")
    assert rows.shape == (5,) and len(pairs) == 8
    np.testing.assert_allclose(rows.sum(), total, rtol=1e-12)
    np.testing.assert_allclose(float(lk.ntxent(y, x)), total / 8, rtol=1e-12)
    np.testing.assert_allclose(float(_ntxent(y[None], x[None], 0.07)[0]), total / 8,
                               rtol=1e-12)
    w = np.array([1.0, 2.0, 0.0, 1.0, 3.0])
    per_pair_weight = np.array([w[i] for i, _ in pairs])
    expected = np.sum(rows * w) / per_pair_weight.sum()
    np.testing.assert_allclose(float(lk.ntxent(y, x, sample_weight=w)), expected, rtol=1e-12)
    # keras/torch: the weighted sum over the number of pairs
    np.testing.assert_allclose(float(lk.ntxent(y, x, sample_weight=w, convention="torch")),
                               np.sum(rows * w) / 8, rtol=1e-12)
    for reduction in ("mean", "sum", "none"):
        _check_gradient(lk.ntxent, y, x, temperature=0.3, reduction=reduction,
                        sample_weight=None if reduction == "none" else w)
    # several batches, weighted per batch
    xs, ys = rng.normal(size=(3, 4, 2)), np.array([[0, 0, 1, 1], [0, 1, 0, 1], [2, 2, 2, 5]])
    _check_gradient(lk.ntxent, ys, xs, temperature=0.3, sample_weight=np.array([1.0, 0.5, 2]))


def test_ntxent_edge_cases(optax):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 4))
    y = np.array([0, 0, 1, 1, 2, 2])
    # a tiny temperature: finite and exact (optax's single shift per row overflows)
    for t in (1e-3, 1e-6):
        value, gradient = lk.value_and_gradient(lk.ntxent, y, x, temperature=t)
        assert np.isfinite(float(value)) and np.all(np.isfinite(gradient))
        np.testing.assert_allclose(float(value), _ntxent(y[None], x[None], t)[0], rtol=1e-9)
    theirs, _ = _optax_ntxent(optax, y, x, 1e-3)
    if math.isfinite(theirs):
        np.testing.assert_allclose(float(lk.ntxent(y, x, temperature=1e-3)), theirs, rtol=1e-9)
    # every label the same: no negatives, loss 0 and no gradient (optax: 0)
    same = np.zeros(6, dtype=int)
    assert float(lk.ntxent(same, x)) == 0.0
    assert abs(_optax_ntxent(optax, same, x)[0]) < 1e-15
    assert not np.any(lk.gradient(lk.ntxent, same, x))
    # a zero vector has cosine 0 with everything (optax's floor); a zero batch is finite
    zero = x.copy()
    zero[2] = 0.0
    np.testing.assert_allclose(float(lk.ntxent(y, zero)), _optax_ntxent(optax, y, zero)[0],
                               rtol=1e-12)
    assert np.isfinite(float(lk.ntxent(y, np.zeros((6, 4)))))
    # one sample, or all labels distinct: no positive pair, an error (optax: NaN)
    for labels, batch in (([0], x[:1]), ([0, 1, 2], x[:3])):
        assert math.isnan(_optax_ntxent(optax, np.asarray(labels), batch)[0])
        with pytest.raises(ValueError, match=r"ntxent: y_true has no two embeddings with the "
                                             r"same label, so there is no positive pair"):
            lk.ntxent(labels, batch)
        assert float(lk.ntxent(labels, batch, check_values=False)) == 0.0
        assert float(lk.ntxent(labels, batch, reduction="sum")) == 0.0
    with pytest.raises(ValueError, match=r"in batch 1"):
        lk.ntxent([[0, 0], [0, 1]], np.ones((2, 2, 3)))


@pytest.mark.parametrize("call,message", [
    (lambda: lk.ntxent([0, 0], [1.0, 2.0]), r"ntxent: y_pred has shape \(2,\), but holds a "
                                            r"batch of embeddings"),
    (lambda: lk.ntxent([0, 0, 1], np.ones((2, 3))), r"ntxent: y_true has shape \(3,\) but the "
                                                    r"embeddings of shape \(2, 3\) need"),
    (lambda: lk.ntxent([0.5, 0.5], np.ones((2, 3))), r"ntxent: y_true has a non-integer label"),
    (lambda: lk.ntxent([0, 0], [[1.0, np.nan], [0.0, 1.0]]), r"ntxent: y_pred has NaN"),
    (lambda: lk.ntxent([0, 0], np.ones((2, 3)), temperature=0.0),
     r"ntxent: temperature must be a number in \(0.0, inf\)"),
])
def test_ntxent_errors(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.01, 100.0))
def test_ntxent_properties(seed, scale):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(6, 3)), rng.integers(0, 3, size=6)
    y[:2] = 7  # at least one positive pair
    value, gradient = lk.value_and_gradient(lk.ntxent, y, x, temperature=0.2)
    # the cosine ignores the embeddings' scale; the gradient scales as 1/scale
    v2, g2 = lk.value_and_gradient(lk.ntxent, y, scale * x, temperature=0.2)
    np.testing.assert_allclose(float(v2), float(value), rtol=1e-9)
    np.testing.assert_allclose(g2 * scale, gradient, rtol=1e-7, atol=1e-10)
    # the order of the batch and the names of the labels do not matter
    order = rng.permutation(6)
    np.testing.assert_allclose(float(lk.ntxent(3 * y[order] + 1, x[order], temperature=0.2)),
                               float(value), rtol=1e-12)
    # moving an embedding towards its positive lowers the loss (first-order)
    assert value >= 0.0 and np.all(np.isfinite(gradient))


# --------------------------------------------------------------------------------- Circle


@pytest.fixture(scope="module")
def keras():
    return keras_numpy()


# Keras' CircleTest.setup: five unit embeddings (labels 1, 1, 2, 2, 3) and six references
KERAS_LABELS = np.array([1, 1, 2, 2, 3])
KERAS_EMBEDDINGS = np.array([
    [0.70014004, -0.42008403, 0.14002801, 0.56011203],
    [0.17609018, 0.70436073, -0.52827054, 0.44022545],
    [-0.34050261, 0.25537696, -0.68100522, 0.59587957],
    [0.32163376, -0.75047877, 0.53605627, -0.21442251],
    [0.51261459, -0.34174306, 0.17087153, 0.76892189]])
KERAS_REF_LABELS = np.array([1, 1, 2, 2, 3, 4])
KERAS_REFS = np.array([
    [0.40824829, -0.54433105, 0.27216553, 0.68041382],
    [0.76376261, 0.10910895, -0.54554473, 0.32732684],
    [-0.74420841, 0.24806947, 0.49613894, -0.3721042],
    [0.52981294, -0.13245324, 0.79471941, -0.26490647],
    [0.54554473, -0.32732684, 0.10910895, 0.76376261],
    [-0.27216553, 0.68041382, 0.40824829, -0.54433105]])
KERAS_WEIGHTS = np.array([2.0, 2.0, 1.0, 1.0, 0.5])


def _close(got, expected, rtol=1e-6):
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64),
                               np.asarray(expected, dtype=np.float64), rtol=rtol, atol=1e-6)


@pytest.mark.parametrize("convention", ["keras", "losskit"])
def test_circle_keras_test_cases(keras, convention):
    # on unit embeddings losskit's cosine is Keras' dot product: both conventions agree
    y, x = KERAS_LABELS, KERAS_EMBEDDINGS
    options = {"convention": convention}
    ours = lk.circle_loss(y, x, reduction="none", **options)
    if convention == "keras":  # Keras' default mean: over the rows with a positive loss
        _close(lk.circle_loss(y, x, **options), 188.3883, rtol=1e-5)
        _close(lk.circle_loss(y, x, gamma=256.0, margin=0.25, **options), 652.7617, rtol=1e-5)
        _close(lk.circle_loss(y, x, sample_weight=KERAS_WEIGHTS, **options), 244.91918,
               rtol=1e-5)
        _close(lk.circle_loss(y, x, sample_weight=KERAS_WEIGHTS, **options),
               keras.losses.Circle()(y, x, sample_weight=KERAS_WEIGHTS))
        _close(lk.circle_loss(y, x, **options), keras.losses.Circle()(y, x))
    else:  # losskit's mean is Keras' "mean_with_sample_weight" over the counted rows
        _close(lk.circle_loss(y, x, sample_weight=KERAS_WEIGHTS), 163.27948, rtol=1e-5)
        _close(lk.circle_loss(y, x, sample_weight=KERAS_WEIGHTS),
               keras.losses.Circle(reduction="mean_with_sample_weight")(
                   y, x, sample_weight=KERAS_WEIGHTS))
        _close(lk.circle_loss(y, x), np.sum(ours) / 4)  # row 5 (label 3) has no positive
    _close(ours, keras.losses.Circle(reduction=None)(y, x))
    refs = {"ref_labels": KERAS_REF_LABELS, "ref_embeddings": KERAS_REFS}
    _close(lk.circle_loss(y, x, remove_diagonal=False, reduction="none", **refs, **options),
           [61.5844, 94.3465, 276.9344, 90.9873, 48.8963], rtol=1e-5)
    _close(lk.circle_loss(y, x, remove_diagonal=False, reduction="none", **refs, **options),
           keras.losses.circle(y, x, remove_diagonal=False, **refs))
    y, x = KERAS_REF_LABELS, KERAS_REFS
    _close(lk.circle_loss(y, x, reduction="none", **options),
           [82.9116, 36.7942, 92.4590, 52.6798, 0.0, 0.0], rtol=1e-5)
    _close(lk.circle_loss(y, x, reduction="sum", **options), 264.845, rtol=1e-5)


@pytest.mark.parametrize("seed", range(3))
def test_circle_random_batches_agree_with_keras(keras, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(8, 5)), rng.integers(0, 3, size=8)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    w = rng.uniform(0.5, 2.0, size=8)
    for options in ({}, {"gamma": 16.0, "margin": 0.25}, {"remove_diagonal": False}):
        kc = keras.losses.Circle(**options)
        # Keras on any embeddings (its dot product); losskit's default on the unit ones
        # (Keras computes in float32)
        _close(lk.circle_loss(y, x, convention="keras", **options), kc(y, x), rtol=2e-6)
        _close(lk.circle_loss(y, x, convention="keras", sample_weight=w, **options),
               kc(y, x, sample_weight=w), rtol=2e-6)
        _close(lk.circle_loss(y, x, reduction="none", **options),
               keras.losses.Circle(reduction=None, **options)(y, unit), rtol=2e-6)
        _close(lk.circle_loss(y, x, **options), kc(y, unit), rtol=2e-6)


@pytest.mark.parametrize("options", [{}, {"gamma": 4.0}, {"gamma": 4.0, "convention": "keras"},
                                     {"gamma": 4.0, "remove_diagonal": False},
                                     {"gamma": 4.0, "margin": -0.2}])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_circle_gradient(options, reduction):
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(6, 3)) * 0.6, np.array([0, 0, 1, 1, 1, 2])
    w = None if reduction == "none" else rng.uniform(0.5, 2.0, size=6)
    _check_gradient(lk.circle_loss, y, x, reduction=reduction, sample_weight=w, **options)
    xs, ys = rng.normal(size=(2, 5, 3)), np.array([[0, 0, 1, 1, 1], [0, 1, 1, 2, 2]])
    _check_gradient(lk.circle_loss, ys, xs, reduction=reduction, **options)
    # reference embeddings: the gradient is the queries' only
    refs = rng.normal(size=(4, 3))
    _check_gradient(lk.circle_loss, y, x, reduction=reduction, ref_embeddings=refs,
                    ref_labels=np.array([0, 1, 2, 3]), **options)


def test_circle_edge_cases(keras):
    x = np.random.default_rng(2).normal(size=(4, 3))
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    # no row has both a positive and a negative: Keras' mean is 0; losskit's is undefined
    for y in ([0, 0, 0, 0], [0, 1, 2, 3]):
        assert float(lk.circle_loss(y, x, convention="keras")) == 0.0
        with warnings.catch_warnings():  # Keras' NumPy backend divides 0 by 0 there
            warnings.simplefilter("ignore", RuntimeWarning)
            _close(keras.losses.Circle()(np.asarray(y), unit), 0.0)
        assert float(lk.circle_loss(y, x, reduction="sum")) == 0.0
        with pytest.raises(ValueError, match=r"circle_loss: y_true gives no embedding both a "
                                             r"positive \(same label\) and a negative"):
            lk.circle_loss(y, x)
    assert not np.any(lk.gradient(lk.circle_loss, [0, 0, 0, 0], x, reduction="sum"))
    # a single sample: no pair at all
    assert float(lk.circle_loss([3], x[:1], reduction="sum")) == 0.0
    # a zero vector has cosine 0 (losskit's normalisation floor), everything finite
    zero = x.copy()
    zero[1] = 0.0
    value, gradient = lk.value_and_gradient(lk.circle_loss, [0, 0, 1, 1], zero)
    assert np.isfinite(float(value)) and np.all(np.isfinite(gradient))
    # large gamma: finite (the log-sum-exps are shifted)
    value, gradient = lk.value_and_gradient(lk.circle_loss, [0, 0, 1, 1], x, gamma=1e6)
    assert np.isfinite(float(value)) and np.all(np.isfinite(gradient))


@pytest.mark.parametrize("call,message", [
    (lambda: lk.circle_loss([0, 0], np.ones((2, 3)), ref_embeddings=np.ones((3, 2))),
     r"circle_loss: ref_embeddings has shape \(3, 2\), but the embeddings of shape \(2, 3\)"),
    (lambda: lk.circle_loss([0, 0], np.ones((2, 3)), ref_labels=[0, 1, 2]),
     r"circle_loss: ref_labels has shape \(3,\), but the reference embeddings"),
    (lambda: lk.circle_loss([0, 0], np.ones((2, 3)), gamma=0.0),
     r"circle_loss: gamma must be a number in \(0.0, inf\)"),
    (lambda: lk.circle_loss([0, 1], np.ones((2, 3)), remove_diagonal=1),
     r"circle_loss: remove_diagonal must be True or False"),
])
def test_circle_errors(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.01, 100.0))
def test_circle_properties(seed, scale):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(6, 3)), np.array([0, 0, 1, 1, 2, 2])
    rows = lk.circle_loss(y, x, gamma=8.0, reduction="none")
    # losskit normalises: the scale of the embeddings does not matter
    np.testing.assert_allclose(lk.circle_loss(y, scale * x, gamma=8.0, reduction="none"),
                               rows, rtol=1e-9)
    # a softplus: positive where a row has a positive and a negative
    assert np.all(rows > 0)
    order = rng.permutation(6)
    np.testing.assert_allclose(lk.circle_loss(y[order], x[order], gamma=8.0, reduction="none"),
                               rows[order], rtol=1e-12)
    np.testing.assert_allclose(float(lk.circle_loss(y[None], x[None], gamma=8.0,
                                                    reduction="none")[0]),
                               _circle(y[None], x[None], 8.0, 0.4)[0], rtol=1e-9)


# ---------------------------------------------------------------- triplets with a distance


def _stacked(a, p, n):
    return torch.stack([a, p, n], dim=-2)


def test_triplet_with_distance_pytorch_opinfo_samples(op_db):
    op = op_db["nn.functional.triplet_margin_with_distance_loss"]
    samples = list(op.sample_inputs("cpu", torch.float64, requires_grad=True))
    assert len(samples) == 7
    for sample in samples:
        kwargs = dict(sample.kwargs)
        stacked = _stacked(sample.input, *sample.args).detach().requires_grad_(True)
        theirs = F.triplet_margin_with_distance_loss(
            stacked[..., 0, :], stacked[..., 1, :], stacked[..., 2, :], **kwargs)
        theirs.sum().backward()
        # their distance is PairwiseDistance(), a module: losskit calls it as it is, and
        # "euclidean" is the same distance with losskit's analytic gradient
        ours = lk.triplet_margin_with_distance_loss(None, stacked.detach(), **kwargs)
        named = {**kwargs, "distance_function": "euclidean"}
        x = stacked.detach().numpy()
        value, gradient = lk.value_and_gradient(lk.triplet_margin_with_distance_loss, None, x,
                                                **named)
        np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(value, theirs.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(gradient, stacked.grad.numpy(), rtol=1e-9, atol=1e-12)


_TORCH_DISTANCES = {
    "euclidean": None,
    "manhattan": lambda u, v: F.pairwise_distance(u, v, p=1),
    "squared_euclidean": lambda u, v: ((u - v) ** 2).sum(-1),
    "cosine": lambda u, v: 1.0 - F.cosine_similarity(u, v),
}


@pytest.mark.parametrize("name", sorted(_TORCH_DISTANCES))
@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_triplet_with_distance_every_named_distance_is_pytorchs(name, swap, reduction):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(9, 3, 4))
    x[0, 2] = x[0, 0]  # a negative on its anchor
    x[1, 1] = 0.0  # a zero positive (cosine: PyTorch's floor)
    t = torch.tensor(x, requires_grad=True)
    theirs = F.triplet_margin_with_distance_loss(
        t[:, 0], t[:, 1], t[:, 2], distance_function=_TORCH_DISTANCES[name], margin=0.7,
        swap=swap, reduction=reduction)
    theirs.sum().backward()
    options = {"distance_function": name, "margin": 0.7, "swap": swap, "reduction": reduction}
    value, gradient = lk.value_and_gradient(lk.triplet_margin_with_distance_loss, None, x,
                                            **options)
    np.testing.assert_allclose(value, theirs.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gradient, t.grad.numpy(), rtol=1e-9, atol=1e-12)
    _check_gradient(lk.triplet_margin_with_distance_loss, None, x[2:], **options)


def test_triplet_with_distance_callables_and_default():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(5, 3, 2))
    # None is PyTorch's PairwiseDistance(), which is triplet_margin_loss's default
    np.testing.assert_allclose(lk.triplet_margin_with_distance_loss(None, x, reduction="none"),
                               lk.triplet_margin_loss(None, x, reduction="none"), rtol=1e-15)
    # a callable on the arrays' own library: autograd differentiates it
    t = torch.tensor(x, requires_grad=True)
    value = lk.triplet_margin_with_distance_loss(
        None, t, distance_function=lambda u, v: 1.0 - F.cosine_similarity(u, v))
    value.backward()
    np.testing.assert_allclose(t.grad.numpy(), lk.gradient(
        lk.triplet_margin_with_distance_loss, None, x, distance_function="cosine"), rtol=1e-9)
    jax = pytest.importorskip("jax")
    jnp = jax.numpy

    def squared(u, v):
        return jnp.sum((u - v) ** 2, axis=-1)

    g = jax.grad(lambda z: lk.triplet_margin_with_distance_loss(
        None, z, distance_function=squared))(jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(g), lk.gradient(
        lk.triplet_margin_with_distance_loss, None, x, distance_function="squared_euclidean"),
        rtol=1e-6, atol=1e-7)
    with pytest.raises(TypeError, match=r"triplet_margin_with_distance_loss: "
                                        r"distance_function is a callable, whose derivative"):
        lk.gradient(lk.triplet_margin_with_distance_loss, None, x,
                    distance_function=lambda u, v: np.sum((u - v) ** 2, axis=-1))


@pytest.mark.parametrize("call,message", [
    (lambda: lk.triplet_margin_with_distance_loss(None, np.ones((2, 3, 2)), margin=0.0),
     r"margin must be a number in \(0.0, inf\)"),
    (lambda: lk.triplet_margin_with_distance_loss(None, np.ones((2, 3, 2)),
                                                  distance_function="hamming"),
     r"distance_function must be None, one of 'euclidean'"),
    (lambda: lk.triplet_margin_with_distance_loss(None, np.ones((2, 3, 2)),
                                                  distance_function=3),
     r"distance_function must be None, one of"),
    (lambda: lk.triplet_margin_with_distance_loss(None, np.ones((2, 3, 2)),
                                                  distance_function=lambda u, v: u - v),
     r"distance_function returned shape \(2, 2\) for vectors of shape \(2, 2\)"),
    (lambda: lk.triplet_margin_with_distance_loss([1.0], np.ones((2, 3, 2))),
     r"y_true is list, but a triplet holds its own supervision"),
    (lambda: lk.triplet_margin_with_distance_loss(None, np.ones((2, 2, 2))),
     r"y_pred has shape \(2, 2, 2\) .* must have length 3"),
])
def test_triplet_with_distance_errors(call, message):
    with pytest.raises((ValueError, TypeError), match="triplet_margin_with_distance_loss: "
                                                      + message):
        call()
