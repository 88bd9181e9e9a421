"""Sequence losses: connectionist temporal classification (CTC).

CTC scores a label sequence against per-frame class scores without an alignment: it sums the
probability of every frame-by-frame path (labels and a *blank*, a label repeated over frames)
that collapses to the target, with the forward (alpha) recursion in log space. The recursion
here runs over the batch and the extended label sequence (blank, l₁, blank, l₂, …, blank)
at once, with one step per frame; the analytic gradient uses the backward (beta) recursion.

The frameworks lay the same loss out differently (``docs/conventions.md``): losskit's own
call is optax's (batch-major raw scores, one negative log-likelihood per sequence);
``convention="torch"`` takes PyTorch's time-major log-probabilities and its mean over target
lengths; ``convention="keras"`` Keras 3's padding with the blank.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from losskit._array import (
    Array,
    Namespace,
    device,
    first_index,
    index_dtype,
    log_softmax,
    to_bool,
)
from losskit._reduction import apply_scale
from losskit._validation import (
    Boolean,
    Integer,
    Interval,
    Optional,
    check_domain,
    check_finite,
    check_rows_sum_to_one,
    fail,
)
from losskit.losses._classification import _labels_as_integers
from losskit.losses._core import PerSample, loss_function, prepare, weighted_parts
from losskit.losses._spec import Case, LossExplanation

__all__ = ["ctc_loss"]

#: the log-probability of an impossible state: finite, so that no ``logaddexp`` of two of
#: them (nor its derivative) is NaN, and far below any real log-likelihood; a sequence whose
#: log-likelihood ends below half of it has no alignment (its loss is +inf)
_NEG = -1e30


@dataclass(frozen=True)
class _Layout:
    """How one framework lays out the CTC call (the fields ``convention=`` changes)."""

    #: y_pred is (T, N, C), or (T, C) for one sequence (PyTorch); else (N, T, C)
    time_major: bool = False
    #: what ``from_logits=None`` means: log-probabilities used as given (PyTorch), else raw
    #: scores that go through log-softmax
    log_probabilities: bool = False
    #: ``reduction="mean"`` divides each sequence's loss by its target length first
    per_label_mean: bool = False
    #: without target lengths, a target's length is its number of non-blank entries (Keras
    #: pads with the blank); else the entries before the first -1
    blank_padding: bool = False


_LAYOUTS = {
    "losskit": _Layout(),
    "sklearn": _Layout(),
    "keras": _Layout(blank_padding=True),
    "torch": _Layout(time_major=True, log_probabilities=True, per_label_mean=True),
}


CTC_EXPLANATION = LossExplanation(
    formula="l = −log Σ_{π ∈ B⁻¹(y)} Π_t p_t(π_t), B: merge repeats, then drop blanks",
    distribution="the probability of the label sequence y under frame-wise independent "
                 "softmax outputs, summed over every alignment π that collapses to y "
                 "(Graves et al., 2006)",
    raw_output="one raw score per class and frame, the blank among the classes "
               "(log-softmax over the classes)",
    gradient="∂l/∂z_tc = p_t(c) − γ_t(c): the softmax minus the posterior probability that "
             "an alignment emits class c at frame t (forward-backward, α β / p(y))",
    when="sequence labelling without a frame-level alignment: speech and handwriting "
         "recognition, OCR, any output sequence shorter than the input",
    pitfalls=("A target needs at least as many frames as labels plus one per repeated pair "
              "(a blank must separate them): shorter inputs have no alignment and an "
              "infinite loss (losskit refuses them unless zero_infinity=True).",
              "The blank must not appear inside a target, and every framework puts it at a "
              "different default place in the signature: check blank= and the padding.",
              "PyTorch's mean divides each sequence by its target length, Keras' and "
              "optax's do not: the same model reports different numbers "
              "(convention=)."),
    related=("sparse_categorical_cross_entropy", "perplexity"),
    activation="softmax over the classes (blank included) at every frame",
    case=Case("labels (1, 2), T = 3 frames, C = 3 classes, blank = 0", [1, 2],
              [[0.5, -0.2, 0.1], [0.0, 0.3, -0.5], [0.2, 0.1, 0.4]], {}, vary=0,
              x_label="raw score of the blank at frame 1"),
)


def _integer_lengths(func: str, xp: Namespace, name: str, value: Array, n: int, high: int,
                     what: str, check_values: bool) -> Array:
    """Per-sequence lengths of shape (n,) as indices, checked to lie in [0, high] (one
    sequence's may be a 0-d array, as PyTorch takes it unbatched)."""
    if value.ndim == 0 and n == 1:
        value = xp.reshape(value, (1,))
    if tuple(value.shape) != (n,):
        fail(func, name, f"has shape {tuple(value.shape)} but ({n},) is needed",
             f"Pass one {what} per sequence")
    if not xp.isdtype(value.dtype, "integral"):
        if xp.isdtype(value.dtype, "bool") or not xp.isdtype(value.dtype, "real floating"):
            fail(func, name, f"has dtype {value.dtype}", "Pass integer lengths", TypeError)
        if check_values:
            check_domain(func, xp, name, value, Interval(0, high, integer=True),
                         f"Each {what} is a whole number of at most {high}")
    elif check_values:
        check_domain(func, xp, name, value, Interval(0, high),
                     f"Each {what} must lie in [0, {high}]")
    return xp.astype(value, index_dtype(xp))


def _lengths_from_paddings(func: str, xp: Namespace, name: str, paddings: Array,
                           shape: tuple[int, int], check_values: bool) -> Array:
    """optax's padding indicators (1 = padded, right-padded) as lengths."""
    if tuple(paddings.shape) != shape:
        fail(func, name, f"has shape {tuple(paddings.shape)} but {shape} is needed",
             "Pass one 0/1 padding indicator per position")
    if check_values and not xp.isdtype(paddings.dtype, "bool"):
        check_domain(func, xp, name, paddings, Interval(0, 1, integer=True),
                     "Paddings are 0 (a value) or 1 (padding)")
    p = xp.astype(paddings, index_dtype(xp))
    if check_values:
        if shape[1] > 1 and to_bool(func, xp.any(p[:, 1:] < p[:, :-1])):
            index = first_index(xp, p[:, 1:] < p[:, :-1])
            fail(func, name, f"has a value after padding in row {index[0]}",
                 "Pad on the right: each row is 0s, then 1s")
    return shape[1] - xp.sum(p, axis=1)


def _as_padded(func: str, xp: Namespace, targets: Array, lengths: Array, n: int) -> Array:
    """PyTorch's concatenated 1-D targets as an (n, max length) padded array."""
    total = int(xp.sum(lengths))
    if total != targets.shape[0]:
        fail(func, "target_lengths", f"sum to {total} but y_true holds {targets.shape[0]} "
             "concatenated labels", "Give each sequence's length in y_true, in order")
    width = max(int(xp.max(lengths)) if n else 0, 1)
    offsets = xp.cumulative_sum(lengths) - lengths
    positions = offsets[:, None] + xp.arange(width, dtype=lengths.dtype,
                                             device=device(targets))[None, :]
    positions = xp.clip(positions, 0, max(total - 1, 0))
    if total == 0:
        return xp.zeros((n, width), dtype=targets.dtype, device=device(targets))
    return xp.reshape(xp.take(targets, xp.reshape(positions, (-1,))), (n, width))


def _shift(xp: Namespace, x: Array, k: int, fill: Any) -> Array:
    """``x`` moved ``k`` places right (k > 0) or left (k < 0) along the last axis, filled."""
    n, width = x.shape
    pad = xp.full((n, min(abs(k), width)), fill, dtype=x.dtype, device=device(x))
    if k > 0:
        return xp.concat([pad, x[:, :width - k]], axis=1) if k < width else pad
    k = -k
    return xp.concat([x[:, k:], pad], axis=1) if k < width else pad


@loss_function(aliases=("ctc", "connectionist temporal classification"),
               explanation=CTC_EXPLANATION, blank=Integer(), from_logits=Optional(Boolean()),
               zero_infinity=Boolean())
def ctc_loss(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    input_lengths: Any = None,
    target_lengths: Any = None,
    logit_paddings: Any = None,
    label_paddings: Any = None,
    blank: int = 0,
    from_logits: bool | None = None,
    zero_infinity: bool = False,
    sample_weight: Any = None,
    reduction: str = "mean",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Connectionist temporal classification loss: the negative log-probability of a label
    sequence, summed over all its alignments to the frames.

    .. math::

        l_i = -\log \sum_{\pi \in \mathcal B^{-1}(y_i)} \prod_{t=1}^{T_i} p_{t, \pi_t},
        \qquad L = \frac{\sum_i w_i l_i}{\sum_i w_i}

    where :math:`\mathcal B` merges repeated labels and then removes blanks, and
    :math:`p_t = \operatorname{softmax}(z_t)` over the classes (blank included). Computed with
    the forward recursion in log space over the extended sequence
    :math:`(\varnothing, y_1, \varnothing, \ldots, y_S, \varnothing)`, one step per frame.

    losskit's own call (``convention="losskit"``) is **optax's** ``ctc_loss``: batch-major raw
    scores ``(N, T, C)``, padded labels ``(N, S)``, one loss per sequence, and a plain mean
    over sequences. ``convention="torch"`` takes ``F.ctc_loss``'s layout and numbers;
    ``convention="keras"`` Keras 3's ``CTC`` (see *Notes*).

    Parameters
    ----------
    y_true : array_like of integers, shape (N, S)
        Target labels in ``[0, C)``, never the blank, right-padded: a sequence ends at its
        ``target_lengths`` entry, else (``label_paddings`` not given either) before its first
        -1 (Keras convention: its length is its number of non-blank entries). With
        ``convention="torch"`` also PyTorch's 1-D concatenated targets (with
        ``target_lengths``), or one sequence of shape (S,) with ``y_pred`` of shape (T, C).
    y_pred : array_like, shape (N, T, C)
        Raw scores per sequence, frame and class (log-softmax is taken over the classes);
        probabilities with ``from_logits=False``. ``convention="torch"``: PyTorch's
        time-major log-probabilities, shape (T, N, C) or (T, C).
    input_lengths : array_like of integers, shape (N,), optional
        Number of valid frames of each sequence (default: all T).
    target_lengths : array_like of integers, shape (N,), optional
        Number of labels of each sequence.
    logit_paddings, label_paddings : array_like of 0/1, shapes (N, T) and (N, S), optional
        optax's padding indicators (1 = padded), instead of ``input_lengths`` and
        ``target_lengths``.
    blank : int
        Class index of the blank (PyTorch's ``blank``, optax's ``blank_id``, Keras'
        ``mask_index``); 0 by default, as in all three.
    from_logits : bool, optional
        ``True``: raw scores (log-softmax applied); ``False``: probabilities (each frame's row
        must sum to 1). ``None`` (default): the convention's input, raw scores, or for
        ``convention="torch"`` log-probabilities used as given (checked to be normalised).
    zero_infinity : bool
        Count a sequence with no alignment (too few frames) as 0, with a zero gradient
        (PyTorch's option). Otherwise its loss is +inf, which ``check_values=True`` refuses
        except under ``convention="torch"`` (PyTorch returns inf).
    sample_weight : array_like of shape (N,), optional
    reduction : {"mean", "sum", "none"}
        ``"mean"`` averages the sequences' losses; with ``convention="torch"`` each is first
        divided by its target length (at least 1), as PyTorch does.
    check_values : bool
    convention : {"losskit", "sklearn", "keras", "torch"}

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    Notes
    -----
    - PyTorch: ``F.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank,
      reduction, zero_infinity)`` is ``ctc_loss(targets, log_probs,
      input_lengths=..., target_lengths=..., blank=..., reduction=..., zero_infinity=...,
      convention="torch")``. losskit's gradient with respect to the log-probabilities is
      their true partial derivative :math:`-\gamma_t(c)`; PyTorch's kernel returns
      :math:`p_t(c) - \gamma_t(c)`, the gradient with respect to the logits, which equals
      losskit's once composed with ``log_softmax``.
    - Keras 3: ``keras.losses.CTC()(y_true, y_pred)`` is ``ctc_loss(y_true, y_pred,
      convention="keras")``; ``keras.ops.ctc_loss(target, output, target_length,
      output_length, mask_index)`` passes ``target_lengths``, ``input_lengths`` and
      ``blank``.
    - optax: ``optax.ctc_loss(logits, logit_paddings, labels, label_paddings, blank_id=...)``
      is ``ctc_loss(labels, logits, logit_paddings=..., label_paddings=...,
      blank=..., reduction="none")``. Keras and optax return a large finite number (about
      ``-log_epsilon`` = 1e5) for a target that has no alignment; losskit
      refuses it (or returns +inf with ``check_values=False``).

    Examples
    --------
    >>> import numpy as np
    >>> import losskit as lk
    >>> z = np.zeros((1, 2, 3))           # 2 frames, 3 classes (blank 0), uniform
    >>> round(float(lk.ctc_loss([[1]], z)), 6)  # paths 1·1, ∅·1, 1·∅ of 9: -log(3/9)
    1.098612
    >>> log_probs = np.log(np.full((2, 1, 3), 1 / 3))  # PyTorch's (T, N, C)
    >>> round(float(lk.ctc_loss([[1]], log_probs, target_lengths=[1], convention="torch")), 6)
    1.098612
    """
    func = "ctc_loss"
    layout = _LAYOUTS[convention]

    def check_shape(func: str, y: Array, pred: Array) -> None:
        if layout.time_major and pred.ndim == 2:
            if y.ndim != 1:
                fail(func, "y_true", f"has shape {tuple(y.shape)}", "With one sequence's "
                     "log-probabilities (T, C), pass its targets as a 1-D array")
            return
        if pred.ndim != 3:
            fail(func, "y_pred", f"has shape {tuple(pred.shape)}, not (N, T, C)" if not
                 layout.time_major else f"has shape {tuple(pred.shape)}, not (T, N, C)",
                 "Pass one score per sequence, frame and class")
        n = pred.shape[1 if layout.time_major else 0]
        if layout.time_major and y.ndim == 1:
            return  # PyTorch's concatenated targets: checked against target_lengths
        if y.ndim != 2 or y.shape[0] != n:
            fail(func, "y_true", f"has shape {tuple(y.shape)} but ({n}, S) is needed",
                 "Pass each sequence's labels as a row, right-padded")

    inputs = prepare(func, y_true, y_pred, sample_weight, labels=True,
                     arrays={"input_lengths": input_lengths, "target_lengths": target_lengths,
                             "logit_paddings": logit_paddings,
                             "label_paddings": label_paddings},
                     check_shape=check_shape)
    xp, raw = inputs.xp, inputs.y_pred
    single = layout.time_major and raw.ndim == 2
    scores = raw[:, None, :] if single else raw
    scores = xp.permute_dims(scores, (1, 0, 2)) if layout.time_major else scores
    n, frames, classes = scores.shape
    if not 0 <= blank < classes:
        fail(func, "blank", f"is {blank}, not a class of y_pred's {classes}",
             f"Pass the blank's class index in [0, {classes})")
    labels = _labels_as_integers(func, xp, inputs.y_true, check_values)
    if single:
        labels = labels[None, :]
    kind = ("log_probabilities" if layout.log_probabilities else "logits") \
        if from_logits is None else ("logits" if from_logits else "probabilities")

    # ----------------------------------------------------------------- lengths
    if input_lengths is not None and logit_paddings is not None:
        fail(func, "logit_paddings", "is given with input_lengths",
             "Pass one of input_lengths and logit_paddings")
    if target_lengths is not None and label_paddings is not None:
        fail(func, "label_paddings", "is given with target_lengths",
             "Pass one of target_lengths and label_paddings")
    if labels.ndim == 1 and inputs.array("target_lengths") is None:
        fail(func, "target_lengths", "is not given, but y_true is 1-D (concatenated targets)",
             "Pass each sequence's number of labels, or y_true as padded rows (N, S)")
    if inputs.array("input_lengths") is not None:
        t_len = _integer_lengths(func, xp, "input_lengths", inputs.array("input_lengths"), n,
                                 frames, "input length", check_values)
    elif inputs.array("logit_paddings") is not None:
        t_len = _lengths_from_paddings(func, xp, "logit_paddings",
                                       inputs.array("logit_paddings"), (n, frames),
                                       check_values)
    else:
        t_len = xp.full((n,), frames, dtype=index_dtype(xp), device=device(scores))
    every_frame = input_lengths is None and logit_paddings is None
    concatenated = labels.ndim == 1
    if inputs.array("target_lengths") is not None:
        # at most the row width, or PyTorch's concatenated labels in all
        lengths = _integer_lengths(func, xp, "target_lengths", inputs.array("target_lengths"),
                                   n, labels.shape[-1], "target length", check_values)
        if concatenated:
            labels = _as_padded(func, xp, labels, lengths, n)
    elif inputs.array("label_paddings") is not None:
        lengths = _lengths_from_paddings(func, xp, "label_paddings",
                                         inputs.array("label_paddings"),
                                         (n, labels.shape[1]), check_values)
    else:
        if layout.blank_padding:
            lengths = xp.sum(xp.astype(labels != blank, index_dtype(xp)), axis=1)
        else:
            before = xp.cumulative_sum(xp.astype(labels == -1, index_dtype(xp)), axis=1) == 0
            lengths = xp.sum(xp.astype(before, index_dtype(xp)), axis=1)
    if labels.shape[1] == 0:  # every target empty: one padding column, outside every target
        labels = xp.full((n, 1), blank, dtype=labels.dtype, device=device(scores))
    width = labels.shape[1]
    position = xp.arange(width, dtype=lengths.dtype, device=device(scores))[None, :]
    inside = position < lengths[:, None]

    # ------------------------------------------------------------------ checks
    if check_values:
        if to_bool(func, xp.any(inside & ((labels < 0) | (labels >= classes)))):
            bad = inside & ((labels < 0) | (labels >= classes))
            index = first_index(xp, bad)
            fail(func, "y_true", f"has the label {int(labels[index])} at {index}, outside "
                 f"[0, {classes})", f"Labels index the {classes} classes of y_pred; pad "
                 "each row after its labels (with -1, or give target_lengths)")
        if to_bool(func, xp.any(inside & (labels == blank))):
            index = first_index(xp, inside & (labels == blank))
            fail(func, "y_true", f"has the blank ({blank}) as a label at {index}",
                 "The blank cannot be a target label: map your labels to the other "
                 "classes, or set blank= to the blank's class index")
        if kind == "probabilities":
            check_domain(func, xp, "y_pred", scores, Interval(0.0, 1.0),
                         "With from_logits=False y_pred holds probabilities; pass raw scores "
                         "with from_logits=True")
            check_rows_sum_to_one(func, xp, "y_pred", scores, inputs.out_dtype,
                                  "Each frame's probabilities must sum to 1 over the classes; "
                                  "pass raw scores with from_logits=True")
        elif kind == "log_probabilities":
            check_finite(func, xp, "y_pred", scores, allow_inf=True)
            if to_bool(func, xp.any(scores == math.inf)):
                fail(func, "y_pred", "has +inf log-probabilities", "Pass log_softmax of the "
                     "scores, or the raw scores with from_logits=True")
            check_rows_sum_to_one(func, xp, "y_pred", xp.exp(scores), inputs.out_dtype,
                                  "y_pred holds log-probabilities under convention='torch': "
                                  "apply log_softmax over the classes, or pass the raw scores "
                                  "with from_logits=True (check_values=False computes with "
                                  "them as given, as PyTorch does)")
        else:
            check_finite(func, xp, "y_pred", scores)

    # ------------------------------------------- the forward (alpha) recursion
    if kind == "logits":
        log_p = log_softmax(xp, scores, may_sync=check_values)
    elif kind == "probabilities":
        log_p = xp.log(scores)
    else:
        log_p = scores
    integer = index_dtype(xp)
    # unchecked labels outside the classes (check_values=False) are clipped, not read past
    targets = xp.where(inside, xp.clip(xp.astype(labels, integer), 0, classes - 1), blank)
    blanks = xp.full((n, width), blank, dtype=integer, device=device(scores))
    extended = xp.concat([xp.reshape(xp.stack([blanks, targets], axis=-1), (n, 2 * width)),
                          blanks[:, :1]], axis=1)  # (N, 2S + 1): ∅ l₁ ∅ l₂ … ∅
    states = 2 * width + 1
    # a label state may be entered from the label before it (skipping the blank between)
    # unless it repeats that label: by position, as PyTorch's, Keras' and optax's recursions
    # (the same as by class for targets without the blank)
    state = xp.arange(states, dtype=integer, device=device(scores))[None, :]
    skip = (state % 2 == 1) & (state >= 2) & (extended != _shift(xp, extended, 2, blank))
    emit = xp.take_along_axis(log_p, xp.broadcast_to(extended[:, None, :], (n, frames, states)),
                              axis=-1)
    emit = xp.maximum(emit, _NEG)  # log 0 = -inf: an impossible state, kept finite
    alpha = xp.where(state == 0, 0.0, xp.full((n, states), _NEG, dtype=scores.dtype,
                                                device=device(scores)))
    alphas = []
    for t in range(frames):
        step = xp.logaddexp(xp.logaddexp(alpha, _shift(xp, alpha, 1, _NEG)),
                            xp.where(skip, _shift(xp, alpha, 2, _NEG), _NEG)) + emit[:, t, :]
        alphas.append(step)
        # every sequence runs all frames without lengths: no mask (one pass a frame less)
        alpha = step if every_frame else xp.where((t < t_len)[:, None], step, alpha)
    last, before_last = 2 * lengths, xp.clip(2 * lengths - 1, 0, None)
    end = state == last[:, None]
    end_label = (state == before_last[:, None]) & (lengths > 0)[:, None]
    # log(α(end) + α(end − 1)) from the two states alone (a log-sum-exp over every state
    # took exp of the impossible ones, -1e30: PyTorch's exp is ~10x slower out of range)
    at_end = xp.take_along_axis(alpha, xp.astype(last[:, None], integer), axis=1)[:, 0]
    at_label = xp.where(lengths > 0, xp.take_along_axis(
        alpha, xp.astype(before_last[:, None], integer), axis=1)[:, 0], _NEG)
    log_likelihood = xp.logaddexp(at_end, at_label)
    feasible = log_likelihood > 0.5 * _NEG
    if check_values and not zero_infinity and convention != "torch" and \
            to_bool(func, xp.any(~feasible)):
        seq = first_index(xp, ~feasible)[0]
        fail(func, "y_pred", f"has no alignment with the target of sequence {seq} (its "
             f"{int(t_len[seq])} frames are fewer than its {int(lengths[seq])} labels "
             "plus one blank between each repeated pair, or a label has probability 0)",
             "Give each sequence enough frames, drop it, or pass zero_infinity=True to count "
             "it as 0 (check_values=False returns +inf)")
    loss = xp.where(feasible, -log_likelihood, 0.0 if zero_infinity else math.inf)

    def gradient() -> Array:
        # the backward (beta) recursion: beta_t(s) is the log-probability of the frames
        # after t given state s at frame t; gamma = exp(alpha + beta - log p(y)) the
        # posterior of state s at frame t
        frame_ends = t_len - 1
        terminal = xp.where(end | end_label, 0.0, xp.full((n, states), _NEG,
                                                           dtype=scores.dtype,
                                                           device=device(scores)))
        skip_ahead = _shift(xp, skip, -2, False)
        beta = terminal
        occupancy = [None] * frames
        for t in range(frames - 1, -1, -1):
            if t < frames - 1:
                ahead = beta + emit[:, t + 1, :]
                nxt = xp.logaddexp(xp.logaddexp(ahead, _shift(xp, ahead, -1, _NEG)),
                                   xp.where(skip_ahead, _shift(xp, ahead, -2, _NEG), _NEG))
                beta = xp.where((t == frame_ends)[:, None], terminal, nxt)
            valid = ((t < t_len) & feasible)[:, None]
            occupancy[t] = xp.where(valid, xp.exp(alphas[t] + beta - log_likelihood[:, None]),
                                    0.0)
        gamma = xp.stack(occupancy, axis=1)  # (N, T, states)
        onehot = xp.astype(extended[:, :, None] == xp.arange(
            classes, dtype=integer, device=device(scores))[None, None, :], scores.dtype)
        posterior = xp.matmul(gamma, onehot)  # (N, T, C): per class
        if kind == "logits":
            active = ((xp.arange(frames, dtype=integer, device=device(scores))[None, :]
                       < t_len[:, None]) & feasible[:, None])[:, :, None]
            grad = xp.where(active, xp.exp(log_p), 0.0) - posterior
        elif kind == "probabilities":
            grad = xp.where(scores > 0, -posterior / xp.where(scores > 0, scores, 1.0), 0.0)
        else:
            grad = -posterior
        return grad

    def in_layout(grad: Array) -> Array:
        """A batch-major (N, T, C) gradient in y_pred's layout."""
        if layout.time_major:
            grad = xp.permute_dims(grad, (1, 0, 2))
        return grad[:, 0, :] if single else grad

    def scaled_gradient(scale: Array | float) -> Array:
        # the per-sequence factors of the reduction go on the batch axis, then the layout
        return in_layout(apply_scale(xp, gradient(), scale))

    weight = inputs.sample_weight
    parts = weighted_parts(func, inputs, loss[0] if single else loss,
                           lambda: in_layout(gradient()), None if single else weight,
                           check_values=check_values, convention=convention,
                           nan_hint="check y_pred")
    parts.scaled_gradient = scaled_gradient
    if single and weight is not None:
        fail(func, "sample_weight", "is given for one unbatched sequence",
             "Add a batch axis to weight sequences")
    if layout.per_label_mean and reduction == "mean":
        # PyTorch: the mean over the batch of each loss divided by its target length
        per_label = 1.0 / xp.astype(xp.clip(lengths, 1, None), scores.dtype)
        if single:
            per_label = per_label[0]
        parts.weight = per_label if parts.weight is None else parts.weight * per_label
        parts.mean_weight = xp.ones_like(parts.loss)
    return parts
