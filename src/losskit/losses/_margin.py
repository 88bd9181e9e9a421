"""Multi-class margin losses on raw scores: the multi-class hinge (Weston-Watkins, PyTorch's
``multi_margin_loss``) and the multi-label ranking hinge (``multilabel_margin_loss``).

Neither is a likelihood: both ask the score of every right class to beat the scores of the
wrong classes by a margin, and stop pulling once it does.
"""

from __future__ import annotations

import math
from typing import Any

import array_api_compat as aac
import numpy as np

from losskit._array import (
    Array,
    device,
    first_index,
    index_dtype,
    row_dot,
    row_max,
    take_labels,
    to_bool,
    to_float,
)
from losskit._validation import (
    Constraint,
    Integer,
    Real,
    check_finite,
    check_labels,
    fail,
    index_text,
)
from losskit.losses._classification import _class_weights, _labels_as_integers
from losskit.losses._core import (
    PerSample,
    loss_function,
    prepare,
    weighted_parts,
)
from losskit.losses._elementwise import per_sample
from losskit.losses._embedding import _indicator, check_signs, hinge
from losskit.losses._spec import Case, LossExplanation

__all__ = ["multi_margin_loss", "multiclass_perceptron_loss", "multilabel_margin_loss",
           "perceptron_loss"]


class _Power(Constraint):
    """The power of the multi-class hinge: the integer 1 or 2."""

    description = "1 or 2"
    invalid = (0, 3, 1.5, "1", True)

    def type_ok(self, value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    def value_ok(self, value: Any) -> bool:
        return value in (1, 2)


MULTI_MARGIN_EXPLANATION = LossExplanation(
    formula="l = a_y Σ_{j≠y} max(0, margin − s_y + s_j)^p / C",
    distribution="none: the multi-class SVM hinge (Weston-Watkins), not a likelihood",
    raw_output="one raw score per class (no softmax)",
    gradient="∂l/∂s_j = a_y p h_j^(p−1)/C for every wrong class j inside the margin "
             "(h_j = margin − s_y + s_j > 0); ∂l/∂s_y = minus their sum",
    when="multi-class classification when only the ranking of the right class matters and "
         "no probabilities are needed (a large-margin alternative to cross-entropy)",
    pitfalls=("No probabilities come out: the scores are not calibrated.",
              "Once every wrong class is a margin below, the loss and its gradient are 0: "
              "the model stops improving on easy samples."),
    related=("categorical_hinge_loss", "sparse_categorical_cross_entropy"),
    activation="none (raw class scores s); the largest score is the prediction",
    case=Case("y = 0, s = (0.5, 0.2, −1)", 0, [0.5, 0.2, -1.0], {}, vary=0,
              x_label="score of the right class"),
    classification=True,
)


@loss_function(p=_Power(), margin=Real(-math.inf, math.inf, closed="neither"),
               axis=Integer(), explanation=MULTI_MARGIN_EXPLANATION)
def multi_margin_loss(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    p: int = 1,
    margin: float = 1.0,
    class_weight: Any = None,
    axis: int = -1,
    sample_weight: Any = None,
    reduction: str = "mean",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Multi-class margin (hinge) loss against integer labels.

    .. math::

        l_i = \frac{a_{y_i}}{C} \sum_{j \ne y_i} \max(0,\; m - s_{i y_i} + s_{ij})^p,
        \qquad L = \frac{\sum_i w_i l_i}{\sum_i w_i}

    with the margin :math:`m`, :math:`p \in \{1, 2\}` and class weights :math:`a` (1 if none).
    PyTorch's ``multi_margin_loss``: its mean divides by the number of samples, not by the
    class weights (unlike the cross-entropies), and so does losskit's.

    Parameters
    ----------
    y_true : array_like of integers, shape ``y_pred.shape`` less ``axis``
        Labels in ``[0, C)``.
    y_pred : array_like, shape (..., C, ...)
        Raw scores, classes along ``axis``.
    p : {1, 2}
    margin : float
    class_weight : array_like of shape (C,), optional
        Non-negative per-class weights (any real with ``check_values=False``, as PyTorch).
    axis : int
    sample_weight : array_like of shape ``y_pred.shape`` less ``axis``, optional
    reduction : {"mean", "sum", "none"}
    check_values : bool
    convention : {"losskit", "sklearn", "keras", "torch"}
        With ``sample_weight``, ``"keras"`` and ``"torch"`` divide by the number of samples.

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    Examples
    --------
    >>> import losskit as lk
    >>> round(float(lk.multi_margin_loss([0], [[0.5, 0.2, -1.0]])), 6)
    0.233333
    >>> [[round(g, 6) for g in row] for row in
    ...  lk.gradient(lk.multi_margin_loss, [0], [[0.5, 0.2, -1.0]]).tolist()]
    [[-0.333333, 0.333333, 0.0]]
    """
    func = "multi_margin_loss"
    inputs = prepare(func, y_true, y_pred, sample_weight, axis=axis, labels=True,
                     arrays={"class_weight": class_weight})
    xp, s = inputs.xp, inputs.y_pred
    n_classes = s.shape[-1]
    labels = _labels_as_integers(func, xp, inputs.y_true, check_values)
    if check_values:
        check_labels(func, xp, labels, n_classes, None)
        check_finite(func, xp, "y_pred", s)
    weights = _class_weights(func, inputs, check_values)
    if isinstance(s, np.ndarray) and s.ndim == 2 and s.dtype.kind == "f" and \
            s.shape[-1] > 1 and s.flags.c_contiguous:
        return _numpy_multi_margin(func, inputs, labels, weights, p, margin, check_values,
                                   convention)
    wrong = labels[..., None] != xp.arange(n_classes, dtype=labels.dtype, device=device(s))
    h = margin - take_labels(xp, s, labels)[..., None] + s
    inside = wrong & (h > 0.0)
    hinge = xp.where(inside, h, 0.0)
    scale = 1.0 / n_classes
    if weights is not None:
        scale = xp.reshape(xp.take(weights, xp.reshape(labels, (-1,))), labels.shape) / n_classes
    loss = xp.sum(hinge if p == 1 else hinge * hinge, axis=-1) * scale

    def gradient() -> Array:
        g = _indicator(xp, inside, s) if p == 1 else 2.0 * hinge
        g = g * (scale if isinstance(scale, float) else scale[..., None])
        return xp.where(wrong, g, -xp.sum(g, axis=-1, keepdims=True))

    return weighted_parts(func, inputs, loss, gradient, inputs.sample_weight,
                          check_values=check_values, convention=convention)


def _numpy_multi_margin(func: str, inputs: Any, labels: np.ndarray, weights: Any, p: int,
                        margin: float, check_values: bool, convention: str) -> PerSample:
    """:func:`multi_margin_loss` on NumPy scores of shape (n, C): the hinges by ``maximum``
    in one buffer, the label's column set to 0 by one write per row, and the sums over the
    classes by :func:`row_dot`, where the generic path builds an (n, C) mask of the wrong
    classes, a second of the active hinges, a ``where`` (ten times a multiply on NumPy) and
    sums over the short class axis (measured at 333334 x 3 float32, value with checks: see
    benchmarks/README.md, issue 19 fourth round). The same numbers: ``max(h, 0)`` is ``h``
    where the hinge is active and 0 elsewhere; an unchecked NaN score gives NaN, not 0."""
    s = inputs.y_pred
    n_classes = s.shape[-1]
    label_index = np.reshape(labels, (-1,))
    at_labels = _flat_label_index(s, label_index)
    h = np.subtract(margin, np.take(s, at_labels))  # margin - s_y, then + s as the generic
    hinges = np.add(h[:, None], s)
    np.maximum(hinges, 0.0, out=hinges)
    hinges.reshape(-1)[at_labels] = 0.0
    scale = 1.0 / n_classes
    if weights is not None:
        scale = np.take(weights, label_index) / n_classes
    ones = np.ones(n_classes, dtype=s.dtype)
    loss = row_dot(np, ones, hinges if p == 1 else hinges * hinges) * scale

    def gradient() -> Array:
        g = (hinges > 0.0).astype(s.dtype) if p == 1 else 2.0 * hinges
        g *= scale if isinstance(scale, float) else scale[:, None]
        g.reshape(-1)[at_labels] = -row_dot(np, ones, g)
        return g

    return weighted_parts(func, inputs, loss, gradient, inputs.sample_weight,
                          check_values=check_values, convention=convention)


def _flat_label_index(s: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The flat index of each row's label in the C-contiguous (n, C) ``s``: one ``take`` or
    write reaches them (measured at 333334 x 3: 0.4 ms each, 1.3-1.5 ms for ``s[rows,
    labels]`` and ``take_along_axis``)."""
    return np.arange(0, s.size, s.shape[-1]) + labels


MULTILABEL_MARGIN_EXPLANATION = LossExplanation(
    formula="l = Σ_{j ∈ targets} Σ_{k ∉ targets} max(0, 1 − (s_j − s_k)) / C",
    distribution="none: a multi-label ranking hinge, not a likelihood",
    raw_output="one raw score per class",
    gradient="each (target j, other k) pair inside the margin adds −1/C to ∂l/∂s_j and +1/C "
             "to ∂l/∂s_k",
    when="multi-label classification where every relevant label should score above every "
         "irrelevant one (tagging), and the labels come as a list of indices",
    pitfalls=("The labels are indices padded with −1, not a 0/1 matrix: everything after the "
              "first −1 is ignored.",
              "A sample with no target (or every class a target) has no pair and a loss of "
              "0."),
    related=("multi_margin_loss", "binary_cross_entropy"),
    activation="none (raw class scores s); the targets should score above the rest",
    case=Case("targets {0, 2}, s = (0.5, 0.2, 1)", [0, 2, -1], [0.5, 0.2, 1.0], {},
              vary=0, x_label="score of class 0"),
    classification=True,
)


def _compiling() -> bool:
    import torch

    return bool(torch.compiler.is_compiling())


@loss_function(explanation=MULTILABEL_MARGIN_EXPLANATION)
def multilabel_margin_loss(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    sample_weight: Any = None,
    reduction: str = "mean",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Multi-label margin loss: every target class above every other class by 1.

    .. math::

        l_i = \frac1C \sum_{j \in T_i} \sum_{k \notin T_i} \max(0,\; 1 - s_{ij} + s_{ik})

    where :math:`T_i` holds the labels of row :math:`i` of ``y_true`` up to its first -1.
    PyTorch's ``multilabel_margin_loss``, a label listed twice counting twice as there.

    Parameters
    ----------
    y_true : array_like of integers, same shape as ``y_pred``
        Each row: target class indices in ``[0, C)``, then -1 padding (anything after the
        first -1 is ignored).
    y_pred : array_like, shape (..., C)
        Raw scores, classes on the last axis (a 1-D array is one sample).
    sample_weight : array_like of shape ``y_pred.shape[:-1]``, optional
    reduction : {"mean", "sum", "none"}
    check_values : bool
    convention : {"losskit", "sklearn", "keras", "torch"}
        With ``sample_weight``, ``"keras"`` and ``"torch"`` divide by the number of samples.

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    Examples
    --------
    >>> import losskit as lk
    >>> round(float(lk.multilabel_margin_loss([[0, 2, -1]], [[0.5, 0.2, 1.0]])), 6)
    0.3
    """
    func = "multilabel_margin_loss"
    inputs = prepare(func, y_true, y_pred, sample_weight)
    xp, s, y = inputs.xp, inputs.y_pred, inputs.y_true
    n_classes = s.shape[-1]
    if check_values:
        check_finite(func, xp, "y_pred", s)
        bad = ~((y == xp.floor(y)) & (y >= -1.0) & (y < n_classes))
        if to_bool(func, xp.any(bad)):
            index = first_index(xp, bad)
            fail(func, "y_true", f"has {to_float(y[index]):g} at index "
                 f"{index_text(index)}, not a class index in "
                 f"[0, {n_classes}) or -1", "List each row's target classes, then pad with -1")
    # the slots before the first -1, and how often each class is listed there
    if aac.is_torch_array(s) and s.ndim == 2 and not _compiling():
        # PyTorch's own kernel, the same sum (measured at 1e6 scores, C = 3, float32, one
        # thread: 8x faster than the (n, C, C) pairs below, forward and backward); the labels
        # are checked above, its gradient is the one of this formula. Not under torch.compile:
        # there (torch 2.13, aot_eager and inductor) its decomposition gives another number
        # (1.198 for eager's 0.805 on 16 rows listing classes 0 and 2), so the formula below
        # is traced instead
        import torch
        loss = torch.nn.functional.multilabel_margin_loss(s, y.to(torch.int64), reduction="none")

        def native_gradient() -> Array:
            with torch.enable_grad():
                leaf = s.detach().requires_grad_()
                value = torch.nn.functional.multilabel_margin_loss(
                    leaf, y.to(torch.int64), reduction="sum")
                return torch.autograd.grad(value, leaf)[0]

        return weighted_parts(func, inputs, loss, native_gradient, inputs.sample_weight,
                              check_values=check_values, convention=convention)
    # the running count of -1s, in the configuration's index dtype (int64 is truncated by JAX
    # without x64, with a warning at every call)
    listed = xp.cumulative_sum(xp.astype(y == -1.0, index_dtype(xp)), axis=-1) == 0
    classes = xp.arange(n_classes, dtype=s.dtype, device=device(s))
    counts = xp.sum(_indicator(xp, listed[..., None] & (y[..., None] == classes), s), axis=-2)
    others = _indicator(xp, counts == 0, s)
    h = 1.0 - s[..., :, None] + s[..., None, :]  # h[j, k] = 1 - s_j + s_k
    pairs = counts[..., :, None] * others[..., None, :] / n_classes
    loss = xp.sum(xp.sum(pairs * hinge(xp, h), axis=-1), axis=-1)

    def gradient() -> Array:
        active = xp.where(h > 0.0, pairs, 0.0)
        return xp.sum(active, axis=-2) - xp.sum(active, axis=-1)

    return weighted_parts(func, inputs, loss, gradient, inputs.sample_weight,
                          check_values=check_values, convention=convention)


PERCEPTRON_EXPLANATION = LossExplanation(
    formula="l = max(0, −y s), y ∈ {−1, +1}",
    distribution="none: Rosenblatt's perceptron criterion, not a likelihood",
    raw_output="a raw score s (its sign is the predicted class)",
    gradient="∂l/∂s = −y on a misclassified sample (y s < 0), 0 otherwise",
    when="the classic perceptron update: online linear classification of separable data",
    pitfalls=("No margin: a score of 0 already costs nothing, so the boundary can sit right "
              "on the data; the hinge loss adds a margin.",
              "Labels must be ±1: 0/1 labels make the negative class cost nothing."),
    related=("hinge_loss", "soft_margin_loss"),
    activation="none (raw score s); its sign is the prediction",
    case=Case("y = 1, s = −0.5", 1.0, -0.5, {}, more_targets=(-1.0,), x_label="score s"),
    classification=True,
)


@loss_function(explanation=PERCEPTRON_EXPLANATION)
def perceptron_loss(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    sample_weight: Any = None,
    reduction: str = "mean",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Perceptron loss on ±1 labels.

    .. math::

        l_{ij} = \max(0,\; -y_{ij} s_{ij}), \qquad l_i = \frac1k \sum_j l_{ij}

    optax's ``perceptron_loss``.

    Parameters
    ----------
    y_true : array_like, same shape as ``y_pred``
        -1 or +1.
    y_pred : array_like, shape (n,) or (n, ..., k)
        Raw scores.
    sample_weight : array_like of per-sample shape, optional
    reduction : {"mean", "sum", "none"}
    check_values : bool
    convention : {"losskit", "sklearn", "keras", "torch"}
        With ``sample_weight``, ``"keras"`` and ``"torch"`` divide by the number of samples.

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    Examples
    --------
    >>> import losskit as lk
    >>> lk.perceptron_loss([1.0, -1.0, 1.0], [-0.5, -2.0, 3.0], reduction="none").tolist()
    [0.5, 0.0, 0.0]
    """
    func = "perceptron_loss"
    inputs = prepare(func, y_true, y_pred, sample_weight)
    xp, y, s = inputs.xp, inputs.y_true, inputs.y_pred
    if check_values:
        check_finite(func, xp, "y_pred", s)
        check_signs(func, xp, y)
    wrong = -y * s

    def gradient() -> Array:
        return -y * _indicator(xp, wrong > 0.0, s)

    return per_sample(func, inputs, hinge(xp, wrong), gradient, inputs.sample_weight,
                      check_values=check_values, convention=convention)


MULTICLASS_PERCEPTRON_EXPLANATION = LossExplanation(
    formula="l = max_j s_j − s_y",
    distribution="none: the multi-class perceptron criterion, not a likelihood",
    raw_output="one raw score per class",
    gradient="∂l/∂s = onehot(argmax s) − onehot(y): 0 when the right class scores highest",
    when="the multi-class perceptron; structured prediction with an argmax decoder",
    pitfalls=("No margin: a tie with the right class costs nothing.",
              "The gradient is 0 once the right class wins, however narrowly."),
    related=("multi_margin_loss", "perceptron_loss"),
    activation="none (raw class scores s); the largest score is the prediction",
    case=Case("y = 0, s = (0.5, 1, −1)", 0, [0.5, 1.0, -1.0], {}, vary=0,
              x_label="score of the right class"),
    classification=True,
)


@loss_function(axis=Integer(), explanation=MULTICLASS_PERCEPTRON_EXPLANATION)
def multiclass_perceptron_loss(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    axis: int = -1,
    sample_weight: Any = None,
    reduction: str = "mean",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Multi-class perceptron loss against integer labels.

    .. math::

        l_i = \max_j s_{ij} - s_{i y_i}

    optax's ``multiclass_perceptron_loss``. Where several classes share the largest score the
    gradient goes to the first of them.

    Parameters
    ----------
    y_true : array_like of integers, shape ``y_pred.shape`` less ``axis``
    y_pred : array_like, shape (..., C, ...)
        Raw scores, classes along ``axis``.
    axis : int
    sample_weight : array_like of per-sample shape, optional
    reduction : {"mean", "sum", "none"}
    check_values : bool
    convention : {"losskit", "sklearn", "keras", "torch"}
        With ``sample_weight``, ``"keras"`` and ``"torch"`` divide by the number of samples.

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    Examples
    --------
    >>> import losskit as lk
    >>> float(lk.multiclass_perceptron_loss([0, 1], [[0.5, 1.0, -1.0], [0.0, 2.0, 1.0]]))
    0.25
    """
    func = "multiclass_perceptron_loss"
    inputs = prepare(func, y_true, y_pred, sample_weight, axis=axis, labels=True)
    xp, s = inputs.xp, inputs.y_pred
    labels = _labels_as_integers(func, xp, inputs.y_true, check_values)
    if check_values:
        check_labels(func, xp, labels, s.shape[-1], None)
        check_finite(func, xp, "y_pred", s)
    # NumPy: the row maximum over a short class axis by row_max (measured at 333334 x 3
    # float32, value with checks: see benchmarks/README.md, issue 19 fourth round)
    numpy_rows = isinstance(s, np.ndarray) and s.ndim == 2 and s.flags.c_contiguous
    largest = row_max(xp, s)
    if numpy_rows:
        at_labels = _flat_label_index(s, np.reshape(labels, (-1,)))
        loss = largest - np.take(s, at_labels)
    else:
        loss = largest - take_labels(xp, s, labels)

    def gradient() -> Array:
        if numpy_rows:
            # NumPy: +1 at each row's largest score (s == its maximum, when every row has
            # one; else the first, by argmax, 5.9 ms at 333334 x 3 against 1.5), -1 at its
            # label by one write: the same numbers as the generic path's two (n, C) grids
            g = np.equal(s, largest[:, None]).astype(s.dtype)
            ones = np.ones(s.shape[-1], dtype=s.dtype)
            ties = row_dot(np, ones, g)
            if ties.size and not (ties.min() == 1.0 and ties.max() == 1.0):
                g = np.zeros_like(s)
                g.reshape(-1)[_flat_label_index(s, np.argmax(s, axis=-1))] = 1.0
            g.reshape(-1)[at_labels] -= 1.0
            return g
        classes = xp.arange(s.shape[-1], dtype=labels.dtype, device=device(s))
        best = xp.argmax(s, axis=-1)
        return (_indicator(xp, classes == xp.astype(best, labels.dtype)[..., None], s)
                - _indicator(xp, classes == labels[..., None], s))

    return weighted_parts(func, inputs, loss, gradient, inputs.sample_weight,
                          check_values=check_values, convention=convention)
