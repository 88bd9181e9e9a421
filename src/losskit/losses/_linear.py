"""Fused linear layer + cross-entropy for large vocabularies, without the whole logits matrix.

``logits = h @ W.T`` for 8192 tokens and a 128k vocabulary is 4 GiB in float32, twice that with
its gradient; the loss only needs one row's log-sum-exp and the label's logit. The tokens are
taken ``chunk_size`` at a time: each chunk's logits are made, reduced and dropped, in the value
and again in the gradient (recomputed, not stored). On PyTorch tensors that require gradients a
custom autograd function does the same in the backward pass and also returns the gradients of
``weight`` and ``bias``, so a training step never holds more than one chunk's logits.
"""

from __future__ import annotations

import math
from typing import Any

import array_api_compat as aac

from losskit._array import Array, device, take_labels
from losskit._validation import Integer, Optional, Real, check_finite, check_labels, fail
from losskit.losses._classification import _labels_as_integers
from losskit.losses._core import Inputs, PerSample, loss_function, prepare, sample_weights
from losskit.losses._spec import Case, LossExplanation

__all__ = ["linear_cross_entropy"]


class _Options:
    """The maths options of one call (shared by the array path and the torch function)."""

    def __init__(self, label_smoothing: float, z_loss: float, softcap: float | None) -> None:
        self.smoothing, self.z_loss, self.softcap = label_smoothing, z_loss, softcap


def _chunk_logits(xp: Any, h: Array, weight: Array, bias: Array | None,
                  opt: _Options) -> tuple[Array, Array | None]:
    """One chunk's logits (soft-capped) and ``tanh`` of the cap (``None`` without one)."""
    logits = h @ xp.matrix_transpose(weight)
    if bias is not None:
        logits = logits + bias
    if opt.softcap is None:
        return logits, None
    t = xp.tanh(logits / opt.softcap)
    return opt.softcap * t, t


def _chunk_loss(xp: Any, logits: Array, labels: Array, opt: _Options) -> tuple[Array, Array]:
    """Per-token loss of one chunk and its log-sum-exp."""
    top = xp.max(logits, axis=-1)
    lse = top + xp.log(xp.sum(xp.exp(logits - top[..., None]), axis=-1))
    target = (1.0 - opt.smoothing) * take_labels(xp, logits, labels)
    if opt.smoothing:
        target = target + opt.smoothing * xp.mean(logits, axis=-1)
    loss = lse - target
    if opt.z_loss:
        loss = loss + opt.z_loss * lse * lse
    return loss, lse


def _chunk_dlogits(xp: Any, logits: Array, lse: Array, t: Array | None, labels: Array,
                   opt: _Options, scale: Array) -> Array:
    """d(Σ scale · loss)/d(pre-cap logits) of one chunk."""
    p = xp.exp(logits - lse[..., None])
    factor = 1.0 + 2.0 * opt.z_loss * lse if opt.z_loss else None
    g = p if factor is None else p * factor[..., None]
    if opt.smoothing:
        g = g - opt.smoothing / logits.shape[-1]
    classes = xp.arange(logits.shape[-1], dtype=labels.dtype, device=device(logits))
    # (a where of two Python numbers would be float32 in PyTorch)
    g = g - xp.astype(labels[..., None] == classes, g.dtype) * (1.0 - opt.smoothing)
    if t is not None:
        g = g * (1.0 - t * t)
    return g * scale[..., None]


def _chunks(n: int, size: int) -> list[tuple[int, int]]:
    return [(i, min(i + size, n)) for i in range(0, n, size)]


def _value(xp: Any, h: Array, weight: Array, bias: Array | None, labels: Array,
           opt: _Options, size: int) -> Array:
    if aac.is_jax_namespace(xp) and h.shape[0] > size:
        return _jax_value(xp, h, weight, bias, labels, opt, size)
    parts = []
    for lo, hi in _chunks(h.shape[0], size):
        logits, _ = _chunk_logits(xp, h[lo:hi, ...], weight, bias, opt)
        parts.append(_chunk_loss(xp, logits, labels[lo:hi], opt)[0])
    return xp.concat(parts) if len(parts) > 1 else parts[0]


def _jax_value(xp: Any, h: Array, weight: Array, bias: Array | None, labels: Array,
               opt: _Options, size: int) -> Array:
    """:func:`_value` on JAX: the full chunks by one ``lax.map`` of a checkpointed chunk (one
    chunk's logits in memory, recomputed for the gradient, as the torch function does), the
    rest as one more chunk. A Python loop over the chunks unrolls under ``jit``: measured at
    5e5 tokens, 1,024 a chunk, ``jit(value_and_grad)`` took 16x optax's on the whole logits."""
    import jax

    def chunk(part: tuple[Array, Array]) -> Array:
        logits, _ = _chunk_logits(xp, part[0], weight, bias, opt)
        return _chunk_loss(xp, logits, part[1], opt)[0]

    chunk = jax.checkpoint(chunk)
    n, full = h.shape[0], h.shape[0] // size * size
    mapped = jax.lax.map(chunk, (xp.reshape(h[:full, ...], (n // size, size, h.shape[1])),
                                 xp.reshape(labels[:full], (n // size, size))))
    parts = [xp.reshape(mapped, (full,))]
    if full < n:
        parts.append(chunk((h[full:, ...], labels[full:])))
    return xp.concat(parts) if len(parts) > 1 else parts[0]


def _input_gradient(xp: Any, h: Array, weight: Array, bias: Array | None, labels: Array,
                    opt: _Options, size: int, scale: Array, with_weight: bool
                    ) -> tuple[Array, Array | None, Array | None]:
    """``(d/dh, d/dW, d/db)`` of ``Σ scale · loss``, one chunk of logits at a time."""
    dh, dw, db = [], None, None
    for lo, hi in _chunks(h.shape[0], size):
        logits, t = _chunk_logits(xp, h[lo:hi, ...], weight, bias, opt)
        _, lse = _chunk_loss(xp, logits, labels[lo:hi], opt)
        g = _chunk_dlogits(xp, logits, lse, t, labels[lo:hi], opt, scale[lo:hi])
        dh.append(g @ weight)
        if with_weight:
            part = xp.matrix_transpose(g) @ h[lo:hi, ...]
            dw = part if dw is None else dw + part
            if bias is not None:
                col = xp.sum(g, axis=0)
                db = col if db is None else db + col
    return (xp.concat(dh) if len(dh) > 1 else dh[0]), dw, db


def _torch_chunk_logits(torch: Any, h: Any, weight: Any, bias: Any, opt: _Options
                        ) -> tuple[Any, Any]:
    logits = h @ weight.T if bias is None else torch.addmm(bias, h, weight.T)
    if opt.softcap is None:
        return logits, None
    t = torch.tanh(logits.div_(opt.softcap))
    return t * opt.softcap, t


def _torch_function():
    """A ``torch.autograd.Function``: per-token losses forward (keeping only each token's
    log-sum-exp), the chunk's logits recomputed in the backward pass and turned into the
    gradient in place."""
    import torch

    class LinearCrossEntropy(torch.autograd.Function):
        @staticmethod
        def forward(ctx, h, weight, bias, labels, opt, size):  # type: ignore[override]
            losses, lses = [], []
            with torch.no_grad():
                for lo, hi in _chunks(h.shape[0], size):
                    logits, _ = _torch_chunk_logits(torch, h[lo:hi], weight, bias, opt)
                    lse = torch.logsumexp(logits, dim=-1)
                    target = logits.gather(-1, labels[lo:hi, None])[:, 0]
                    loss = lse - (1.0 - opt.smoothing) * target
                    if opt.smoothing:
                        loss = loss - opt.smoothing * logits.mean(dim=-1)
                    if opt.z_loss:
                        loss = loss + opt.z_loss * lse * lse
                    losses.append(loss)
                    lses.append(lse)
            ctx.save_for_backward(h, weight, bias, labels, torch.cat(lses))
            ctx.opt, ctx.size = opt, size
            return torch.cat(losses)

        @staticmethod
        def backward(ctx, grad):  # type: ignore[override]
            h, weight, bias, labels, lse = ctx.saved_tensors
            opt = ctx.opt
            dh = torch.empty_like(h)
            dw = torch.zeros_like(weight)
            db = None if bias is None else torch.zeros_like(bias)
            with torch.no_grad():
                for lo, hi in _chunks(h.shape[0], ctx.size):
                    logits, t = _torch_chunk_logits(torch, h[lo:hi], weight, bias, opt)
                    g = logits.sub_(lse[lo:hi, None]).exp_()  # softmax, in place
                    if opt.z_loss:
                        g.mul_((1.0 + 2.0 * opt.z_loss * lse[lo:hi])[:, None])
                    if opt.smoothing:
                        g.sub_(opt.smoothing / g.shape[-1])
                    rows = torch.arange(hi - lo, device=g.device)
                    g[rows, labels[lo:hi]] -= 1.0 - opt.smoothing
                    if t is not None:
                        g.mul_(1.0 - t * t)
                    g.mul_(grad[lo:hi, None])
                    torch.mm(g, weight, out=dh[lo:hi])
                    dw.addmm_(g.T, h[lo:hi])
                    if db is not None:
                        db.add_(g.sum(dim=0))
            return dh, dw, db, None, None, None

    return LinearCrossEntropy


_TORCH_FUNCTION: list[Any] = []


def _needs_torch_autograd(inputs: Inputs, *arrays: Any) -> bool:
    return any(getattr(a, "requires_grad", False) for a in (inputs.y_pred, *arrays))


LINEAR_CE_EXPLANATION = LossExplanation(
    formula="l = logsumexp(z) − (1 − ε) z_y − ε mean(z) + λ logsumexp(z)², z = cap(h Wᵀ + b)",
    distribution="Categorical over the vocabulary, p = softmax(h Wᵀ + b): the cross-entropy "
                 "of a linear output layer, with the layer fused in",
    raw_output="the hidden state h that the output layer multiplies (not the logits)",
    gradient="∂l/∂h = (softmax(z) − onehot(y)) W per token (with smoothing, z-loss and cap "
             "terms), computed one chunk of tokens at a time",
    when="language-model heads and other classifiers with a vocabulary so large that the "
         "logits of a batch do not fit in memory",
    pitfalls=("The weight is an argument, not part of y_pred: losskit.gradient gives d/dh; "
              "on PyTorch tensors autograd also reaches weight and bias.",
              "A small chunk_size saves memory but runs more, smaller matrix products."),
    related=("sparse_categorical_cross_entropy",),
    activation="none (hidden states h); the logits z = h Wᵀ + b go through softmax inside",
    case=Case("y = 1, h = (1, −1), W = ((1, 0), (0, 1), (1, 1))", 1, [1.0, -1.0],
              {"weight": [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]}, vary=0,
              x_label="first hidden unit"),
    classification=True,
)


@loss_function(chunk_size=Integer(), ignore_index=Optional(Integer()),
               label_smoothing=Real(0.0, 1.0), z_loss=Real(0.0, math.inf, closed="left"),
               softcap=Optional(Real(0.0, math.inf, closed="neither")),
               explanation=LINEAR_CE_EXPLANATION)
def linear_cross_entropy(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    weight: Any = None,
    bias: Any = None,
    chunk_size: int = 1024,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    softcap: float | None = None,
    sample_weight: Any = None,
    reduction: str = "mean",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Cross-entropy of a linear layer's logits, computed without the whole logits matrix.

    .. math::

        z = c \tanh\Bigl(\frac{h W^\top + b}{c}\Bigr), \qquad
        l = \operatorname{logsumexp}(z) - (1 - \varepsilon) z_y
            - \frac{\varepsilon}{V} \sum_v z_v + \lambda \operatorname{logsumexp}(z)^2

    with the soft cap :math:`c` (none by default), label smoothing :math:`\varepsilon` and the
    z-loss weight :math:`\lambda`. Equal to
    ``sparse_categorical_cross_entropy(y, h @ W.T + b, from_logits=True)`` and to PyTorch's
    ``linear_cross_entropy(h, W, y, linear_bias=b)`` (``ignore_index``, ``label_smoothing``),
    but the tokens are taken ``chunk_size`` at a time, so memory holds one chunk's logits.

    Parameters
    ----------
    y_true : array_like of integers, shape (n,)
        Labels in ``[0, V)`` (or ``ignore_index``).
    y_pred : array_like, shape (n, H)
        Hidden states.
    weight : array_like, shape (V, H)
        The output layer's weight (required).
    bias : array_like, shape (V,), optional
    chunk_size : int > 0
        Tokens per chunk.
    ignore_index : int, optional
        Label of tokens to skip (weight 0, out of the mean's denominator).
    label_smoothing : float in [0, 1]
    z_loss : float >= 0
        Weight of :math:`\operatorname{logsumexp}(z)^2` (PaLM's auxiliary loss).
    softcap : float > 0, optional
        Logit soft-capping :math:`c` (Gemma 2).
    sample_weight : array_like of shape (n,), optional
    reduction : {"mean", "sum", "none"}
    check_values : bool
    convention : {"losskit", "sklearn", "keras", "torch"}
        With ``sample_weight``, ``"keras"`` and ``"torch"`` divide by the number of tokens.

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype. On PyTorch tensors that require gradients
        the value's autograd reaches ``y_pred``, ``weight`` and ``bias`` (recomputing one chunk
        of logits at a time); :func:`losskit.gradient` gives the gradient with respect to
        ``y_pred``.

    Examples
    --------
    >>> import losskit as lk
    >>> w = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
    >>> round(float(lk.linear_cross_entropy([1, 2], [[1.0, -1.0], [0.5, 0.5]], weight=w)), 6)
    1.600991
    >>> round(float(lk.sparse_categorical_cross_entropy(
    ...     [1, 2], [[1.0, -1.0, 0.0], [0.5, 0.5, 1.0]], from_logits=True)), 6)
    1.600991
    """
    func = "linear_cross_entropy"
    if weight is None:
        fail(func, "weight", "is missing", "Pass the output layer's weight of shape "
             "(vocabulary, hidden), e.g. weight=model.lm_head.weight", TypeError)
    if chunk_size < 1:
        fail(func, "chunk_size", f"is {chunk_size}", "Pass a positive number of tokens")
    inputs = prepare(func, y_true, y_pred, sample_weight, axis=-1, labels=True,
                     arrays={"weight": weight, "bias": bias})
    xp, h = inputs.xp, inputs.y_pred
    w, b = (None if a is None else xp.astype(a, h.dtype) if a.dtype != h.dtype else a
            for a in (inputs.array("weight"), inputs.array("bias")))
    if h.ndim != 2:
        fail(func, "y_pred", f"has shape {tuple(h.shape)}", "Pass hidden states of shape "
             "(tokens, hidden); flatten the batch and sequence axes first")
    if w.ndim != 2 or w.shape[1] != h.shape[1]:
        fail(func, "weight", f"has shape {tuple(w.shape)} but y_pred has {h.shape[1]} hidden "
             "units", "Pass the weight of shape (vocabulary, hidden)")
    if b is not None and tuple(b.shape) != (w.shape[0],):
        fail(func, "bias", f"has shape {tuple(b.shape)}", f"Pass ({w.shape[0]},)")
    labels = _labels_as_integers(func, xp, inputs.y_true, check_values)
    if check_values:
        check_labels(func, xp, labels, w.shape[0], ignore_index)
        check_finite(func, xp, "y_pred", h)
        check_finite(func, xp, "weight", w)
    ignored = None if ignore_index is None else labels == ignore_index
    if ignored is not None:
        labels = xp.where(ignored, 0, labels)
    opt = _Options(label_smoothing, z_loss, softcap)
    if _needs_torch_autograd(inputs, w, b):
        if not _TORCH_FUNCTION:
            _TORCH_FUNCTION.append(_torch_function())
        loss = _TORCH_FUNCTION[0].apply(h, w, b, labels, opt, chunk_size)
    else:
        loss = _value(xp, h, w, b, labels, opt, chunk_size)
    weight_ = sample_weights(func, inputs, inputs.sample_weight, tuple(loss.shape),
                             check_values=check_values)
    if ignored is not None:
        weight_ = xp.where(ignored, 0.0, xp.ones_like(loss) if weight_ is None else weight_)
        if check_values and reduction == "mean" and not bool(xp.any(weight_ > 0)):
            fail(func, "y_true", f"is ignore_index={ignore_index} everywhere, so the mean is "
                 "undefined", "Skip this batch, or use reduction='sum'")
    mean_weight = None
    if convention in ("keras", "torch") and sample_weight is not None:
        mean_weight = xp.ones_like(loss) if ignored is None else \
            xp.where(ignored, 0.0, xp.ones_like(loss))

    def scaled_gradient(scale: Array | float) -> Array:
        if isinstance(scale, float):
            scale = xp.full(loss.shape, scale, dtype=h.dtype, device=device(h))
        if ignored is not None:
            scale = xp.where(ignored, 0.0, scale)
        return _input_gradient(xp, h, w, b, labels, opt, chunk_size, scale,
                               with_weight=False)[0]

    return PerSample(inputs, loss, lambda: scaled_gradient(1.0), weight_, mean_weight,
                     scaled_gradient=scaled_gradient)
