"""Issue 19, fourth round: the embedding and ranking losses' fast paths on every backend.

- cosines by per-row norms where no square overflows (one check), the careful normalisation
  only where one does; on torch PyTorch's norm, on JAX a ``lax.cond`` of per-row scales;
- triplet distances whose derivatives are formed only for a gradient;
- the ranking losses' derivative closures and the framework's log-sum-exp when every item
  counts.

Each path is checked against the old formula (:func:`_scaled_cosine`, the careful form that
ran on every call before) and against ``losskit.gradient``'s analytic derivative, in float32
and float64, with autograd on torch and JAX.
"""

from __future__ import annotations

import array_api_strict as xps
import numpy as np
import pytest

import losskit as lk
from losskit.losses._embedding import cosines, norms

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
jnp = jax.numpy

DTYPES = [np.float32, np.float64]


def _scaled_cosine(u: np.ndarray, v: np.ndarray, floor: float) -> np.ndarray:
    """The careful cosine in float64: each vector over its largest entry first."""
    def unit(x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float64)
        big = np.max(np.abs(x), axis=-1, keepdims=True)
        big = np.where(big > 0, big, 1.0)
        norm = big * np.sqrt(np.sum((x / big) ** 2, axis=-1, keepdims=True))
        return x / np.maximum(norm, floor)
    return np.sum(unit(u) * unit(v), axis=-1)


def _vectors(dtype, huge: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    u, v = rng.normal(size=(2, 40, 3))
    u[0], v[1] = 0.0, 0.0  # zero vectors: cosine 0
    u[2] = [1e-9, 0.0, 0.0]  # below every floor
    if huge:  # |x|² overflows the dtype: the careful form
        u[3] = np.finfo(dtype).max ** 0.5 * np.array([4.0, -2.0, 0.0])
        v[3] = np.finfo(dtype).max ** 0.5 * np.array([1.0, 1.0, 0.0])
    return u.astype(dtype), v.astype(dtype)


def _as(lib: str, x: np.ndarray):
    return {"np": lambda a: a, "torch": torch.from_numpy, "jax": jnp.asarray,
            "strict": xps.asarray}[lib](x)


@pytest.mark.parametrize("lib", ["np", "torch", "jax", "strict"])
@pytest.mark.parametrize("huge", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_cosines_equal_the_careful_form(lib, huge, dtype):
    if lib == "jax" and dtype == np.float64 and not jax.config.jax_enable_x64:
        pytest.skip("JAX without x64")
    u, v = _vectors(dtype, huge)
    xp = {"np": np, "torch": __import__("array_api_compat").array_namespace(torch.ones(1)),
          "jax": jnp, "strict": xps}[lib]
    for floor in (1e-8, 1e-6):
        with np.errstate(all="ignore"):  # the plain |x|² overflows on NumPy: as the losses
            got = cosines(xp, [_as(lib, u), _as(lib, v)], [(0, 1), (1, 0), (0, 0)], floor)
        want = [_scaled_cosine(u, v, floor), _scaled_cosine(v, u, floor),
                _scaled_cosine(u, u, floor)]
        for g, w in zip(got, want, strict=True):
            g = np.asarray(g, dtype=np.float64)
            assert np.all(np.isfinite(g))
            np.testing.assert_allclose(g, w, rtol=8 * np.finfo(dtype).eps,
                                       atol=8 * np.finfo(dtype).eps)


@pytest.mark.parametrize("lib", ["np", "torch", "jax"])
def test_norms_do_not_overflow(lib):
    x = np.array([[3e30, 4e30], [3.0, 4.0], [0.0, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(np.asarray(norms({"np": np, "torch": torch, "jax": jnp}[lib]
                                                if lib != "torch" else
                                                __import__("array_api_compat")
                                                .array_namespace(torch.ones(1)),
                                                _as(lib, x))), [5e30, 5.0, 0.0], rtol=1e-6)


def _autograd(lib: str, fn, y, x, **options):
    """d fn(y, x) / dx by torch's or JAX's autograd."""
    if lib == "torch":
        leaf = torch.from_numpy(x).requires_grad_()
        fn(None if y is None else torch.from_numpy(y), leaf, **options).backward()
        return leaf.grad.numpy()
    return np.asarray(jax.grad(lambda z: fn(None if y is None else jnp.asarray(y), z,
                                            **options))(jnp.asarray(x)))


@pytest.mark.parametrize("lib", ["torch", "jax"])
def test_autograd_of_a_zero_vector_is_the_analytic_gradient(lib):
    """A zero vector's cosine is 0 and its gradient g / floor (the docs, lk.gradient); autograd
    gave NaN before (sqrt's derivative at 0 through the careful norm)."""
    y = np.array([[0.0, 1.0], [1.0, 1.0]], dtype=np.float32)
    p = np.array([[0.0, 0.0], [2.0, 1.0]], dtype=np.float32)
    got = _autograd(lib, lk.cosine_similarity_loss, y, p)
    want = lk.gradient(lk.cosine_similarity_loss, y, p)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    triplets = np.array([[[0.0, 0.0], [1.0, 0.5], [-1.0, 1.0]],
                         [[0.5, 1.0], [0.0, 0.0], [-1.0, 1.0]]], dtype=np.float32)
    triplet = lk.triplet_margin_with_distance_loss
    got = _autograd(lib, triplet, None, triplets, distance_function="cosine")
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, lk.gradient(triplet, None, triplets,
                                                distance_function="cosine"),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("lib", ["torch", "jax"])
@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("distance", ["cosine", "euclidean", "manhattan", "squared_euclidean"])
def test_triplet_autograd_is_the_analytic_gradient(lib, swap, distance):
    """Including huge vectors (the careful cosine) and triplets that keep the margin."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(30, 3, 4))
    if distance == "cosine":
        x[0] *= 1e30  # squares overflow float32
    x = x.astype(np.float32)

    loss = lk.triplet_margin_with_distance_loss
    options = {"distance_function": distance, "margin": 0.5, "swap": swap}
    value = float(loss(None, x, **options))
    assert np.isfinite(value)
    for other in (torch.from_numpy(x), jnp.asarray(x)):
        assert float(loss(None, other, **options)) == pytest.approx(value, rel=1e-5)
    got, want = _autograd(lib, loss, None, x, **options), lk.gradient(loss, None, x, **options)
    np.testing.assert_allclose(got[1:], want[1:], rtol=2e-4, atol=1e-6)
    np.testing.assert_allclose(got[0], want[0], rtol=2e-4, atol=1e-37)  # scaled 1e-30


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lib", ["np", "torch", "jax"])
def test_triplet_distances_match_the_old_formulas(dtype, lib):
    """PyTorch's pairwise distances and cosine distance, written out (float64 references)."""
    if lib == "jax" and dtype == np.float64 and not jax.config.jax_enable_x64:
        pytest.skip("JAX without x64")
    rng = np.random.default_rng(3)
    x = rng.normal(size=(20, 3, 5)).astype(dtype)
    a, p, n = (x[:, i].astype(np.float64) for i in range(3))
    tol = {"rtol": 16 * np.finfo(dtype).eps, "atol": 16 * np.finfo(dtype).eps}
    for name, d in {
        "euclidean": lambda u, v: np.sqrt(np.sum((u - v + 1e-6) ** 2, -1)),
        "manhattan": lambda u, v: np.sum(np.abs(u - v + 1e-6), -1),
        "squared_euclidean": lambda u, v: np.sum((u - v) ** 2, -1),
        "cosine": lambda u, v: 1 - _scaled_cosine(u, v, 1e-8),
    }.items():
        want = np.maximum(d(a, p) - np.minimum(d(a, n), d(p, n)) + 0.3, 0)
        got = lk.triplet_margin_with_distance_loss(None, _as(lib, x), distance_function=name,
                                                   margin=0.3, swap=True, reduction="none")
        np.testing.assert_allclose(np.asarray(got, dtype=np.float64), want, **tol)
    got = lk.triplet_margin_loss(None, _as(lib, x), p=1.5, reduction="none")
    d = lambda u, v: np.sum(np.abs(u - v + 1e-6) ** 1.5, -1) ** (1 / 1.5)  # noqa: E731
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64),
                               np.maximum(d(a, p) - d(a, n) + 1.0, 0), **tol)


@pytest.mark.parametrize("lib", ["np", "torch", "jax"])
def test_ranking_softmax_fast_path_is_the_masked_one(lib):
    """Without ``where`` (the framework's log-sum-exp) the same value and gradient as with an
    all-true ``where`` (the masked path that ran before)."""
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, size=(50, 6)).astype(np.float32)
    s = (rng.normal(size=(50, 6)) * 30).astype(np.float32)
    keep = np.ones_like(y, dtype=bool)
    fast = float(lk.ranking_softmax_loss(_as(lib, y), _as(lib, s)))
    masked = float(lk.ranking_softmax_loss(_as(lib, y), _as(lib, s), where=_as(lib, keep)))
    assert fast == pytest.approx(masked, rel=1e-6)
    if lib == "np":
        np.testing.assert_allclose(lk.gradient(lk.ranking_softmax_loss, y, s),
                                   lk.gradient(lk.ranking_softmax_loss, y, s, where=keep),
                                   rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_allclose(_autograd(lib, lk.ranking_softmax_loss, y, s),
                                   lk.gradient(lk.ranking_softmax_loss, y, s), rtol=1e-5,
                                   atol=1e-6)


@pytest.mark.parametrize("lib", ["torch", "jax"])
@pytest.mark.parametrize("name", ["pairwise_hinge_loss", "pairwise_logistic_loss"])
def test_pairwise_autograd_is_the_analytic_gradient(lib, name):
    """The derivative closures (formed only for ``losskit.gradient``) and JAX's relu in the
    hinge give the analytic gradient; scores exactly at the margin take derivative 0."""
    fn = getattr(lk, name)
    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, size=(40, 5)).astype(np.float32)
    s = rng.normal(size=(40, 5)).astype(np.float32)
    s[0, :2] = [1.0, 0.0]  # one pair exactly at the hinge's kink (margin 1)
    y[0, :2] = [2.0, 0.0]
    np.testing.assert_allclose(_autograd(lib, fn, y, s), lk.gradient(fn, y, s), rtol=1e-5,
                               atol=1e-6)
