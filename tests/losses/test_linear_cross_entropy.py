"""linear_cross_entropy: PyTorch's F.linear_cross_entropy and the naive logits + cross-entropy,
values and gradients (of the hidden states, the weight and the bias), chunk by chunk."""

from __future__ import annotations

import numpy as np
import pytest

import losskit as lk

torch = pytest.importorskip("torch")
F = torch.nn.functional

_RNG = np.random.default_rng(11)
N, H, V = 37, 6, 23
HIDDEN = _RNG.normal(size=(N, H))
WEIGHT = _RNG.normal(size=(V, H)) / 2
BIAS = _RNG.normal(size=V)
LABELS = _RNG.integers(0, V, N)


def _naive(h, w, b, labels, smoothing=0.0, z_loss=0.0, softcap=None, ignore=None):
    """The reference: the whole logits, then PyTorch's cross-entropy (and the extras)."""
    logits = h @ w.T + (0 if b is None else b)
    if softcap is not None:
        logits = softcap * torch.tanh(logits / softcap)
    kept = torch.ones(len(labels), dtype=torch.bool) if ignore is None else labels != ignore
    ce = F.cross_entropy(logits, torch.where(kept, labels, 0), label_smoothing=smoothing,
                         reduction="none")
    if z_loss:
        ce = ce + z_loss * torch.logsumexp(logits, dim=-1) ** 2
    return (ce * kept).sum() / kept.sum()


@pytest.mark.parametrize("chunk_size", [8, 1000])
@pytest.mark.parametrize("options", [{}, {"label_smoothing": 0.1}, {"z_loss": 1e-2},
                                     {"softcap": 3.0}, {"ignore_index": 4},
                                     {"label_smoothing": 0.2, "z_loss": 0.1, "softcap": 2.0}])
def test_value_and_every_gradient_against_the_naive_logits(options, chunk_size):
    labels = torch.tensor(LABELS)
    if "ignore_index" in options:
        labels = torch.where(labels % 3 == 0, 4, labels)
        labels[0] = 5  # not everything ignored
    tensors = [torch.tensor(a, requires_grad=True) for a in (HIDDEN, WEIGHT, BIAS)]
    expected = _naive(*tensors, labels, smoothing=options.get("label_smoothing", 0.0),
                      z_loss=options.get("z_loss", 0.0), softcap=options.get("softcap"),
                      ignore=options.get("ignore_index"))
    expected.backward()
    ours = [torch.tensor(a, requires_grad=True) for a in (HIDDEN, WEIGHT, BIAS)]
    value = lk.linear_cross_entropy(labels, ours[0], weight=ours[1], bias=ours[2],
                                    chunk_size=chunk_size, **options)
    value.backward()
    assert float(value.detach()) == pytest.approx(float(expected.detach()), rel=1e-12)
    for mine, theirs in zip(ours, tensors, strict=True):
        np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=1e-9,
                                   atol=1e-13)
    # NumPy: the analytic gradient with respect to the hidden states, chunked too
    grad = lk.gradient(lk.linear_cross_entropy, labels.numpy(), HIDDEN, weight=WEIGHT,
                       bias=BIAS, chunk_size=chunk_size, **options)
    np.testing.assert_allclose(grad, tensors[0].grad.numpy(), rtol=1e-9, atol=1e-13)


def test_torch_linear_cross_entropy_and_its_chunked_path():
    h, w, labels = torch.tensor(HIDDEN), torch.tensor(WEIGHT), torch.tensor(LABELS)
    for reduction in ("mean", "sum", "none"):
        expected = F.linear_cross_entropy(h, w, labels, reduction=reduction,
                                          label_smoothing=0.1)
        got = lk.linear_cross_entropy(labels, h, weight=w, reduction=reduction,
                                      label_smoothing=0.1, chunk_size=5)
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-12)
    chunked = F.linear_cross_entropy(h, w, labels,
                                     options=torch.nn.LinearCrossEntropyOptions())
    assert float(lk.linear_cross_entropy(labels, h, weight=w)) == pytest.approx(
        float(chunked), rel=1e-10)


def test_backends_and_errors(backend):
    to = backend.asarray
    expected = lk.linear_cross_entropy(LABELS, HIDDEN, weight=WEIGHT, chunk_size=10)
    got = lk.linear_cross_entropy(to(LABELS), to(HIDDEN), weight=to(WEIGHT), chunk_size=10)
    np.testing.assert_allclose(backend.to_numpy(got), expected, rtol=1e-12)
    with pytest.raises(TypeError, match="linear_cross_entropy: weight is missing"):
        lk.linear_cross_entropy(LABELS, HIDDEN)
    with pytest.raises(ValueError, match=r"linear_cross_entropy: weight has shape \(23, 5\) "
                                         r"but y_pred has 6 hidden units"):
        lk.linear_cross_entropy(LABELS, HIDDEN, weight=WEIGHT[:, :5])
    with pytest.raises(ValueError,
                       match=r"linear_cross_entropy: y_true has values outside \[0, 23\)"):
        lk.linear_cross_entropy(np.full(N, V), HIDDEN, weight=WEIGHT)
    with pytest.raises(ValueError, match="linear_cross_entropy: chunk_size is 0"):
        lk.linear_cross_entropy(LABELS, HIDDEN, weight=WEIGHT, chunk_size=0)


@pytest.mark.parametrize("chunk_size", [8, 37, 1000])
def test_jax_chunks_by_one_lax_map_with_every_gradient(chunk_size):
    # on JAX the full chunks run as one lax.map of a checkpointed chunk (a Python loop
    # unrolled under jit: 16x optax's time and 30 s to compile at 5e5 tokens); the same values
    # and gradients (hidden states, weight, bias) as the naive logits, with the last partial
    # chunk, in jit and eagerly
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    options = {"label_smoothing": 0.1, "z_loss": 1e-2, "softcap": 3.0}
    h, w, b = (torch.tensor(a, requires_grad=True) for a in (HIDDEN, WEIGHT, BIAS))
    expected = _naive(h, w, b, torch.tensor(LABELS), 0.1, 1e-2, 3.0)
    expected.backward()
    expected = expected.item()
    labels = jnp.asarray(LABELS)

    def loss(hh, ww, bb):
        return lk.linear_cross_entropy(labels, hh, weight=ww, bias=bb, chunk_size=chunk_size,
                                       check_values=False, **options)

    for run in (jax.value_and_grad(loss, argnums=(0, 1, 2)),
                jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)))):
        value, grads = run(jnp.asarray(HIDDEN), jnp.asarray(WEIGHT), jnp.asarray(BIAS))
        np.testing.assert_allclose(float(value), expected, rtol=1e-12)
        for got, want in zip(grads, (h.grad, w.grad, b.grad), strict=True):
            np.testing.assert_allclose(np.asarray(got), want.numpy(), rtol=1e-10, atol=1e-14)
