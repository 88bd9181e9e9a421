"""optax's own test inputs (optax/losses/_classification_test.py: PolyLossTest, SparsemaxTest,
PerceptronTest; _regression_test.py's cosine cases) for the losses added in issue 15, against
the installed optax computing the same inputs: values and ``jax.grad``."""

from __future__ import annotations

import numpy as np
import pytest

import losskit as lk

optax = pytest.importorskip("optax")
jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

# PolyLossTest.setUp
POLY_LOGITS = np.array([0.14, 1.456, 2.356, -0.124, -2.47])
POLY_LABELS = np.array([0.1, 0.15, 0.2, 0.25, 0.3])
POLY_BATCHED_LOGITS = np.array([[4.0, 2.0, 1.0], [0.0, 5.0, 1.0]])
POLY_BATCHED_LABELS = np.array([[1.0, 0.0, 0.0], [0.0, 0.8, 0.2]])
POLY_EPS = [2, 1, 0, -0.5, 1.15, 1.214, 5.45]


def _check(lk_fn, y, p, theirs, options=None, per_sample=None):
    """losskit's per-sample values and summed gradient against optax's."""
    options = options or {}
    expected = np.asarray(theirs(jnp.asarray(p)))
    if per_sample is not None:
        expected = per_sample(expected)
    got = lk_fn(y, p, reduction="none", **options)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    expected_grad = np.asarray(jax.grad(lambda q: jnp.sum(
        per_sample(theirs(q)) if per_sample else theirs(q)))(jnp.asarray(p)))
    grad = lk.gradient(lk_fn, y, p, reduction="sum", **options)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("eps", POLY_EPS)
@pytest.mark.parametrize("batched", [False, True])
def test_optax_poly_loss_cases(eps, batched):
    logits, labels = ((POLY_BATCHED_LOGITS, POLY_BATCHED_LABELS) if batched
                      else (POLY_LOGITS, POLY_LABELS))
    _check(lk.poly_loss_cross_entropy, labels, logits,
           lambda z: optax.losses.poly_loss_cross_entropy(z, jnp.asarray(labels),
                                                          epsilon=float(eps)),
           {"epsilon": float(eps)})


def test_optax_sparsemax_cases():
    # SparsemaxTest: binary labels [1, 0] for scores [10, 20]
    labels, scores = np.array([1.0, 0.0]), np.array([10.0, 20.0])
    _check(lk.sparsemax_loss, labels, scores,
           lambda z: optax.losses.sparsemax_loss(z, jnp.asarray(labels)))
    # ... and the multiclass cases with a winning score of 1e5 (loss 0), and random scores
    labels = np.array([1, 0, 2])
    scores = np.array([[0.0, 1e5, 0.0], [1e5, 0.0, 0.0], [0.0, 0.0, 1e5]])
    _check(lk.multiclass_sparsemax_loss, labels, scores,
           lambda z: optax.losses.multiclass_sparsemax_loss(z, jnp.asarray(labels)))
    scores = np.random.default_rng(0).normal(size=(3, 3))
    _check(lk.multiclass_sparsemax_loss, labels, scores,
           lambda z: optax.losses.multiclass_sparsemax_loss(z, jnp.asarray(labels)))


def test_optax_perceptron_cases():
    # PerceptronTest: signed labels 2 y - 1 for scores [10, 20]; multiclass [[10, 3], [11, -2]]
    labels = np.array([1.0, 0.0])
    signed, scores = 2.0 * labels - 1.0, np.array([10.0, 20.0])
    _check(lk.perceptron_loss, signed, scores,
           lambda z: optax.losses.perceptron_loss(z, jnp.asarray(signed)))
    classes, scores = np.array([1, 0]), np.array([[10.0, 3.0], [11.0, -2.0]])
    _check(lk.multiclass_perceptron_loss, classes, scores,
           lambda z: optax.losses.multiclass_perceptron_loss(z, jnp.asarray(classes)))


def test_optax_cosine_distance_cases():
    # the regression tests' style: random vectors, cosine_distance along the last axis
    rng = np.random.default_rng(1)
    targets, predictions = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    _check(lk.cosine_similarity_loss, targets, predictions,
           lambda z: optax.losses.cosine_distance(z, jnp.asarray(targets)))


@pytest.mark.parametrize("name", ["generalized_kl_divergence", "convex_kl_divergence"])
def test_optax_generalized_kl_cases(name):
    # GeneralizedKLDivergenceTest's kind of input: log-predictions and non-negative targets
    rng = np.random.default_rng(2)
    log_q, p = rng.normal(size=(2, 4)), rng.uniform(0.0, 2.0, (2, 4))
    p[0, 1] = 0.0
    fn = getattr(optax.losses, name)
    with pytest.warns(DeprecationWarning) if name.startswith("convex") else _nothing():
        _check(lk.generalized_kl_divergence, p, log_q, lambda z: fn(z, jnp.asarray(p)))


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
