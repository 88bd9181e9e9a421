"""Overlap losses for segmentation: Dice and Tversky.

Both compare a predicted mask of probabilities with a target mask as sets: one minus a soft
overlap coefficient, summed over a sample's pixels (or the axes given), so a small object counts
as much as a large one. Neither is a likelihood; they are usually added to a cross-entropy.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from losskit._array import Array, Namespace, device, log_softmax, numpy_row_dot, row_dot, sigmoid
from losskit._validation import (
    UNIT_INTERVAL,
    Boolean,
    Constraint,
    Optional,
    Real,
    check_domain,
    check_finite,
    fail,
    weight_array,
)
from losskit.losses._conventions import CONVENTIONS, KERAS_EPSILON
from losskit.losses._core import (
    Inputs,
    PerSample,
    loss_function,
    prepare,
    weighted_parts,
)
from losskit.losses._spec import Case, LossExplanation

__all__ = ["dice_loss", "generalized_dice_loss", "tversky_loss"]


class _Axes(Constraint):
    """``None``, an axis, or a tuple of axes (which reaches the body as a 1-D integer NumPy
    array: array options are taken in as arrays)."""

    description = "None, an int or a tuple of ints"
    invalid = ("1", 1.5, True, (1.0, 2.0))

    def type_ok(self, value: Any) -> bool:
        if isinstance(value, np.ndarray):
            return value.ndim == 1 and value.size > 0 and value.dtype.kind in "iu"
        return value is None or (isinstance(value, int) and not isinstance(value, bool))

    def value_ok(self, value: Any) -> bool:
        return True


def _summed_axes(func: str, ndim: int, axis: Any, convention: str) -> tuple[int, ...]:
    """The axes one overlap coefficient sums over: ``axis``, or by default every axis but the
    first (the samples) — every axis for 1-D input and under Keras' convention."""
    if axis is None:
        first = 0 if ndim == 1 or convention == "keras" else 1
        return tuple(range(first, ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(int(a) for a in axis)
    if any(not -ndim <= a < ndim for a in axes):
        fail(func, "axis", f"is {axis} but y_pred has {ndim} dimension(s)",
             "Pass axes of y_pred (the axes one coefficient sums over)")
    axes = tuple(sorted({a % ndim for a in axes}))
    if axes != tuple(range(ndim - len(axes), ndim)):
        fail(func, "axis", f"is {axis}, which are not the last axes of y_pred's "
             f"{ndim}", "Put the samples first and sum over the trailing axes (move the "
             "axes with numpy.moveaxis)")
    return axes


def _overlap_inputs(func: str, y_true: Any, y_pred: Any, sample_weight: Any, axis: Any,
                    check_values: bool, convention: str, from_logits: bool = False,
                    class_weight: Any = None) -> tuple[Inputs, tuple[int, ...]]:
    inputs = prepare(func, y_true, y_pred, sample_weight, arrays={"class_weight": class_weight})
    if check_values:
        fix = ("Pass masks of probabilities in [0, 1] (a sigmoid or softmax output), or logits "
               "with from_logits=True; check_values=False takes any values, as Keras does")
        check_domain(func, inputs.xp, "y_true", inputs.y_true, UNIT_INTERVAL, fix)
        if from_logits:
            check_finite(func, inputs.xp, "y_pred", inputs.y_pred, allow_inf=True,
                         fix="Logits must not be NaN")
        else:
            check_domain(func, inputs.xp, "y_pred", inputs.y_pred, UNIT_INTERVAL, fix)
    if CONVENTIONS[convention].overlap_per_class:
        return inputs, _class_summed_axes(func, inputs.y_pred.ndim, axis)
    return inputs, _summed_axes(func, inputs.y_pred.ndim, axis, convention)


def _class_summed_axes(func: str, ndim: int, axis: Any) -> tuple[int, ...]:
    """optax's layout: the last axis holds the classes, one coefficient per class sums over
    ``axis`` (default: every axis between the first and the last), the axes before them
    index the samples."""
    if ndim < 2:
        fail(func, "y_pred", f"has {ndim} dimension, but convention='optax' takes the last "
             "axis as the classes", "Add a class axis of length 1 for a binary mask "
             "(y[..., None]), as optax's binary_dice_loss does")
    if axis is None:
        return tuple(range(1, ndim - 1))
    axes = (axis,) if isinstance(axis, int) else tuple(int(a) for a in axis)
    if any(not -ndim <= a < ndim - 1 or a == -1 for a in axes):
        fail(func, "axis", f"is {axis} but y_pred has {ndim} dimension(s), the last the "
             "classes", "Pass axes of y_pred before its class axis")
    axes = tuple(sorted({a % ndim for a in axes}))
    if axes != tuple(range(ndim - 1 - len(axes), ndim - 1)):
        fail(func, "axis", f"is {axis}, which are not the axes just before the class axis",
             "Put the samples first, then the summed axes, then the classes (numpy.moveaxis)")
    return axes


def _probabilities(xp: Namespace, z: Array, from_logits: bool, per_class: bool
                   ) -> tuple[Array, Any]:
    """``(p, chain)``: the probabilities (softmax over the classes with several, else the
    sigmoid of each entry, as optax's ``apply_softmax``) and the chain rule back to ``z``."""
    if not from_logits:
        return z, lambda g: g
    if per_class and z.shape[-1] > 1:
        p = xp.exp(log_softmax(xp, z))
        return p, lambda g: p * (g - xp.sum(g * p, axis=-1, keepdims=True))
    p = sigmoid(xp, z)
    return p, lambda g: g * p * (1.0 - p)


def _per_class_overlap(func: str, inputs: Inputs, axes: tuple[int, ...], alpha: Any,
                       beta: Any, smooth: Any, from_logits: bool, ignore_background: bool,
                       check_values: bool, weights: Array | None = None
                       ) -> tuple[Array, Any]:
    r"""optax's ``dice_loss``: per class :math:`1 - (I + s) / (I + lpha (P - I) +
    eta (T - I) + s)` over ``axes``, times the class weights, averaged over the classes
    (less the first with ``ignore_background``). Returns the per-sample losses and the
    gradient with respect to ``y_pred``."""
    xp, y = inputs.xp, inputs.y_true
    p, chain = _probabilities(xp, inputs.y_pred, from_logits, per_class=True)
    n_classes = y.shape[-1]
    if weights is None:
        weights = xp.ones(n_classes, dtype=p.dtype, device=device(p))
    if inputs.arrays.get("class_weight") is not None:
        weights = weight_array(func, xp, "class_weight", inputs.array("class_weight"),
                               (n_classes,), p.dtype, check_values=check_values,
                               allow_all_zero=True)
    count = n_classes
    if ignore_background and n_classes > 1:
        weights = weights * xp.astype(xp.arange(n_classes, device=device(p)) > 0, p.dtype)
        count = n_classes - 1
    intersection = _per_sample(inputs, axes, y * p)
    denominator = (intersection + alpha * (_per_sample(inputs, axes, p) - intersection)
                   + beta * (_per_sample(inputs, axes, y) - intersection) + smooth)
    numerator = intersection + smooth
    loss = xp.sum((1.0 - numerator / denominator) * weights, axis=-1) / count
    shape = tuple(n for i, n in enumerate(y.shape[:-1]) if i not in axes)

    def gradient() -> Array:
        g = -y / denominator + numerator * (y * (1.0 - alpha - beta) + alpha) / (
            denominator * denominator)
        return chain(g * weights / count)

    return xp.reshape(loss, shape), gradient


def _losskit_only(func: str, convention: str, class_weight: Any,
                  ignore_background: bool) -> None:
    """The per-class options need the per-class coefficients of ``convention="optax"``."""
    for name, given in (("class_weight", class_weight is not None),
                        ("ignore_background", ignore_background)):
        if given and not CONVENTIONS[convention].overlap_per_class:
            fail(func, name, f"is given with convention={convention!r}, which computes one "
                 "coefficient over all a sample's entries (no classes)",
                 "Pass convention='optax' for one coefficient per class (the last axis)")


def _smoothing(eps: float | None, convention: str) -> float:
    """``eps``, or the convention's default (optax's ``smooth=1``; 1e-7 otherwise)."""
    if eps is not None:
        return eps
    default = CONVENTIONS[convention].overlap_smooth
    return KERAS_EPSILON if default is None else default


def _per_sample(inputs: Inputs, axes: tuple[int, ...], x: Array, times: Array | None = None
                ) -> Array:
    """``x`` (times ``times``, if given) summed over ``axes``, keeping them (length 1) for
    broadcasting. NumPy, summed over a short last axis (at most 32 entries): a contraction
    (:func:`row_dot`), with no product array and no reduction over a short axis (one tiny
    inner loop per row; measured at 250000 x 4 float32, dice value with checks: see
    benchmarks/README.md, issue 19 fourth round); the sums round in another order, within
    an ulp per addition."""
    if (isinstance(x, np.ndarray) and x.ndim >= 2 and axes == (x.ndim - 1,)
            and 1 < x.shape[-1] <= 32 and x.dtype.kind == "f"
            and (times is None or (isinstance(times, np.ndarray) and times.shape == x.shape
                                   and times.dtype == x.dtype))):
        if times is None:
            total = numpy_row_dot(np.ones(x.shape[-1], dtype=x.dtype), x)
        else:
            total = row_dot(np, x, times)
        return total[..., None]
    return inputs.xp.sum(x if times is None else x * times, axis=axes, keepdims=True)


def _finish(func: str, inputs: Inputs, axes: tuple[int, ...], loss: Array, gradient: Any,
            sample_weight: Any, check_values: bool, convention: str) -> PerSample:
    xp = inputs.xp
    shape = tuple(n for i, n in enumerate(inputs.y_pred.shape) if i not in axes)
    return weighted_parts(func, inputs, xp.reshape(loss, shape), gradient, sample_weight,
                          check_values=check_values, convention=convention,
                          nan_hint=_EMPTY_HINT)


_EMPTY_HINT = "both masks are empty and eps is 0: pass eps > 0"


DICE_EXPLANATION = LossExplanation(
    formula="l = 1 − 2 Σ y p / (Σ y + Σ p + ε), sums over a sample's pixels",
    distribution="none: one minus the soft Dice (F1) overlap, not a likelihood",
    raw_output="a mask of probabilities p (after a sigmoid or softmax)",
    gradient="∂l/∂p_j = (D − 2 y_j) / (Σ y + Σ p + ε), D the Dice coefficient",
    when="segmentation with small foreground objects, where a per-pixel cross-entropy is "
         "dominated by the background",
    pitfalls=("An empty target and an empty prediction give D = 0, a loss of 1, unless eps "
              "is large: add a cross-entropy, or a smoothing eps.",
              "The gradient of one pixel depends on the whole mask, and is large for small "
              "objects: training can be unstable early."),
    related=("tversky_loss", "binary_cross_entropy"),
    activation="sigmoid (per-pixel probabilities p in [0, 1]; softmax per pixel for classes)",
    case=Case("y = (1, 1, 0, 0), p = (0.9, 0.6, 0.2, 0.1)", [1.0, 1.0, 0.0, 0.0],
              [0.9, 0.6, 0.2, 0.1], {}, vary=0, grid=(0.0, 1.0),
              x_label="probability of pixel 0"),
)

_EPS = Optional(Real(0.0, math.inf, closed="left"))


_OPTAX_OPTIONS = {"from_logits": Boolean(), "ignore_background": Boolean()}


@loss_function(axis=_Axes(), eps=_EPS, **_OPTAX_OPTIONS, explanation=DICE_EXPLANATION)
def dice_loss(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    axis: int | tuple[int, ...] | None = None,
    eps: float | None = None,
    from_logits: bool = False,
    class_weight: Any = None,
    ignore_background: bool = False,
    sample_weight: Any = None,
    reduction: str = "mean",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Dice loss: one minus the soft Dice coefficient of two masks.

    .. math::

        l_i = 1 - \frac{2 \sum_j y_{ij} p_{ij}}{\sum_j y_{ij} + \sum_j p_{ij} + \epsilon}

    with the sums over a sample's pixels (``axis``). Keras' ``Dice`` with the same ``axis``;
    Keras' default (``axis=None``) is one coefficient over the whole batch, which
    ``convention="keras"`` also takes for ``axis=None``.

    ``convention="optax"`` is optax's ``dice_loss``: the last axis holds classes, one
    coefficient per class with the smoothing :math:`s` (``eps``, default 1) in both terms,
    :math:`1 - (2 I_c + 2s) / (P_c + T_c + 2s)`, weighted by ``class_weight`` and averaged
    over the classes. optax's ``binary_dice_loss(z, y)`` is
    ``dice_loss(y[..., None], z[..., None], from_logits=True, convention="optax")``.

    Parameters
    ----------
    y_true, y_pred : array_like, same shape (n, ...)
        Target and predicted masks of probabilities in [0, 1] (any values with
        ``check_values=False``, as Keras takes them).
    axis : int, tuple of int or None
        The trailing axes one coefficient sums over; the axes before them index the samples.
        None: every axis but the first (every axis for 1-D input, and with
        ``convention="keras"``).
    eps : float >= 0, optional
        Added to the denominator (Keras' ``backend.epsilon()``, 1e-7, by default); under
        ``convention="optax"`` optax's ``smooth`` (default 1), added to both terms.
    from_logits : bool
        ``y_pred`` holds logits: the sigmoid of each entry (under ``convention="optax"``,
        optax's ``apply_softmax``: the softmax over the classes, the sigmoid for one class).
    class_weight : array_like of shape (C,), optional
        Weights of the per-class losses (``convention="optax"`` only).
    ignore_background : bool
        Leave class 0 out of the average (``convention="optax"`` only).
    sample_weight : array_like of per-sample shape, optional
    reduction : {"mean", "sum", "none"}
    check_values : bool
    convention : {"losskit", "sklearn", "keras", "torch", "optax"}
        ``"keras"``: ``axis=None`` sums over every axis; with ``sample_weight`` the weighted
        sum is divided by the number of samples (also for ``"torch"`` and ``"optax"``).
        ``"optax"``: per class, as above; ``axis=None`` sums over the axes between the first
        (the samples) and the last (the classes).

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    Examples
    --------
    >>> import losskit as lk
    >>> y = [[1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]
    >>> p = [[0.9, 0.6, 0.2, 0.1], [0.5, 0.5, 0.0, 0.0]]
    >>> [round(v, 4) for v in lk.dice_loss(y, p, reduction="none").tolist()]
    [0.2105, 0.5]

    optax's ``dice_loss`` on logits, two pixels and two classes per sample (the second class
    weighted 3):

    >>> z = [[[2.0, -1.0], [0.0, 1.0]]]
    >>> t = [[[1.0, 0.0], [0.0, 1.0]]]
    >>> round(float(lk.dice_loss(t, z, from_logits=True, class_weight=[1.0, 3.0],
    ...                          convention="optax")), 4)
    0.1631
    """
    func = "dice_loss"
    _losskit_only(func, convention, class_weight, ignore_background)
    inputs, axes = _overlap_inputs(func, y_true, y_pred, sample_weight, axis, check_values,
                                   convention, from_logits, class_weight)
    smooth = _smoothing(eps, convention)
    if CONVENTIONS[convention].overlap_per_class:
        loss, gradient = _per_class_overlap(func, inputs, axes, 0.5, 0.5, smooth, from_logits,
                                            ignore_background, check_values)
        return weighted_parts(func, inputs, loss, gradient, inputs.sample_weight,
                              check_values=check_values, convention=convention,
                              nan_hint=_EMPTY_HINT)
    y = inputs.y_true
    p, chain = _probabilities(inputs.xp, inputs.y_pred, from_logits, per_class=False)
    intersection = _per_sample(inputs, axes, y, p)
    total = _per_sample(inputs, axes, y) + _per_sample(inputs, axes, p) + smooth
    coefficient = 2.0 * intersection / total

    def gradient() -> Array:
        return chain((coefficient - 2.0 * y) / total)

    return _finish(func, inputs, axes, 1.0 - coefficient, gradient, inputs.sample_weight,
                   check_values, convention)


TVERSKY_EXPLANATION = LossExplanation(
    formula="l = 1 − TP / (TP + α FP + β FN + ε), TP = Σ y p, FP = Σ (1 − y) p, "
            "FN = Σ y (1 − p)",
    distribution="none: one minus the soft Tversky index, not a likelihood",
    raw_output="a mask of probabilities p (after a sigmoid or softmax)",
    gradient="∂l/∂p_j = −y_j / S + TP (y_j + α (1 − y_j) − β y_j) / S², "
             "S = TP + α FP + β FN + ε",
    when="segmentation where missing foreground costs more than false alarms (β > α) or the "
         "reverse; α = β = 0.5 is the Dice loss",
    pitfalls=("Keras' alpha and beta are the other way round: its alpha weighs the missed "
              "foreground Σ y (1 − p); convention='keras' takes them as Keras does.",
              "As for Dice, empty masks give a loss of 1 unless eps is large."),
    related=("dice_loss", "binary_cross_entropy"),
    activation="sigmoid (per-pixel probabilities p in [0, 1]; softmax per pixel for classes)",
    case=Case("y = (1, 1, 0, 0), p = (0.9, 0.6, 0.2, 0.1), α = 0.3, β = 0.7",
              [1.0, 1.0, 0.0, 0.0], [0.9, 0.6, 0.2, 0.1], {"alpha": 0.3, "beta": 0.7},
              vary=0, grid=(0.0, 1.0), x_label="probability of pixel 0"),
)


@loss_function(alpha=Real(0.0, math.inf, closed="left"), beta=Real(0.0, math.inf, closed="left"),
               axis=_Axes(), eps=_EPS, **_OPTAX_OPTIONS, explanation=TVERSKY_EXPLANATION)
def tversky_loss(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    alpha: float = 0.5,
    beta: float = 0.5,
    axis: int | tuple[int, ...] | None = None,
    eps: float | None = None,
    from_logits: bool = False,
    class_weight: Any = None,
    ignore_background: bool = False,
    sample_weight: Any = None,
    reduction: str = "mean",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Tversky loss: Dice with separate weights for false positives and false negatives.

    .. math::

        l_i = 1 - \frac{TP_i}{TP_i + \alpha\, FP_i + \beta\, FN_i + \epsilon}, \qquad
        TP = \sum_j y_j p_j,\; FP = \sum_j (1 - y_j) p_j,\; FN = \sum_j y_j (1 - p_j)

    (Salehi et al., 2017); :math:`\alpha = \beta = 0.5` is :func:`dice_loss` (with
    :math:`2\epsilon` for its :math:`\epsilon`). Keras'
    ``Tversky`` multiplies :math:`FN` by its ``alpha`` and :math:`FP` by its ``beta``, the
    other way round: ``convention="keras"`` reads ``alpha`` and ``beta`` as Keras does.
    ``convention="optax"`` is optax's ``dice_loss`` with its ``alpha`` (false positives)
    and ``beta`` (false negatives): per class, the smoothing in both terms, as in
    :func:`dice_loss`.

    Parameters
    ----------
    y_true, y_pred : array_like, same shape (n, ...)
        Masks of probabilities in [0, 1] (any values with ``check_values=False``).
    alpha, beta : float >= 0
        Weights of the false positives and the false negatives.
    axis, eps, from_logits, class_weight, ignore_background, sample_weight, reduction
        As in :func:`dice_loss`.
    check_values : bool
    convention : {"losskit", "sklearn", "keras", "torch", "optax"}
        ``"keras"``: ``alpha`` weighs :math:`FN` and ``beta`` :math:`FP`, and ``axis=None``
        sums over every axis, as in :func:`dice_loss`; ``"optax"``: per class, as there.

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    Examples
    --------
    >>> import losskit as lk
    >>> y, p = [[1.0, 1.0, 0.0, 0.0]], [[0.9, 0.6, 0.2, 0.1]]
    >>> round(float(lk.tversky_loss(y, p, alpha=0.3, beta=0.7)), 4)
    0.2268
    >>> round(float(lk.tversky_loss(y, p)), 4) == round(float(lk.dice_loss(y, p)), 4)
    True
    """
    func = "tversky_loss"
    _losskit_only(func, convention, class_weight, ignore_background)
    inputs, axes = _overlap_inputs(func, y_true, y_pred, sample_weight, axis, check_values,
                                   convention, from_logits, class_weight)
    eps = _smoothing(eps, convention)
    if CONVENTIONS[convention].overlap_per_class:
        loss, gradient = _per_class_overlap(func, inputs, axes, alpha, beta, eps, from_logits,
                                            ignore_background, check_values)
        return weighted_parts(func, inputs, loss, gradient, inputs.sample_weight,
                              check_values=check_values, convention=convention,
                              nan_hint=_EMPTY_HINT)
    if convention == "keras":
        alpha, beta = beta, alpha
    y = inputs.y_true
    p, chain = _probabilities(inputs.xp, inputs.y_pred, from_logits, per_class=False)
    tp = _per_sample(inputs, axes, y, p)
    fp = _per_sample(inputs, axes, 1.0 - y, p)
    fn = _per_sample(inputs, axes, y, 1.0 - p)
    denominator = tp + alpha * fp + beta * fn + eps
    index = tp / denominator

    def gradient() -> Array:
        return chain(-y / denominator
                     + index * (y + alpha * (1.0 - y) - beta * y) / denominator)

    return _finish(func, inputs, axes, 1.0 - index, gradient, inputs.sample_weight,
                   check_values, convention)


GENERALIZED_DICE_EXPLANATION = LossExplanation(
    formula="l = (1/C) Σ_c w_c [1 − (2 I_c + 2s) / (P_c + T_c + 2s)], I_c = Σ y p, "
            "P_c = Σ p, T_c = Σ y over a sample's pixels; w_c ∝ 1 / (F_c² + 10⁻⁷), "
            "F_c the batch's count of class c, Σ_c w_c = C",
    distribution="none: a class-weighted mean of per-class Dice losses, not a likelihood",
    raw_output="the C logits of each pixel (from_logits=True, softmax over the classes), or "
               "the probabilities p",
    gradient="∂l/∂p_j = (w_c / C) (D_c − 2 y_j) / (P_c + T_c + 2s) for pixel j of class c "
             "(D_c the class's coefficient), then through the softmax",
    when="multi-class segmentation with rare classes: each class's Dice counts with a weight "
         "that grows as the class gets rarer in the batch (optax's "
         "multiclass_generalized_dice_loss)",
    pitfalls=("The class weights come from the batch's targets: the same sample's loss "
              "changes with the batch it is in, and a class absent from the batch gets a "
              "weight of about 10⁷ before normalising (its loss is then s / (P_c + s)).",
              "The smoothing s defaults to 1, as optax's; with s = 0 an empty class gives 0/0."),
    related=("dice_loss", "tversky_loss"),
    activation="softmax over the classes of each pixel",
    case=Case("y = two pixels of classes (0, 1), z = ((2, −1), (0, 1))",
              [[1.0, 0.0], [0.0, 1.0]], [[2.0, -1.0], [0.0, 1.0]], {"from_logits": True},
              vary=0, x_label="logit of class 0 at pixel 0"),
)

#: optax's floor under the squared class counts of the generalized Dice weights
_GENERALIZED_FLOOR = 1e-7


@loss_function(eps=_EPS, **_OPTAX_OPTIONS, explanation=GENERALIZED_DICE_EXPLANATION)
def generalized_dice_loss(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    eps: float | None = None,
    from_logits: bool = False,
    ignore_background: bool = False,
    sample_weight: Any = None,
    reduction: str = "mean",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Generalized Dice loss: per-class Dice losses weighted by inverse squared class counts.

    .. math::

        l_i = rac1C \sum_c w_c \Bigl(1 - rac{2 I_{ic} + 2s}{P_{ic} + T_{ic} + 2s}\Bigr),
        \qquad w_c = C rac{1 / (F_c^2 + 10^{-7})}{\sum_k 1 / (F_k^2 + 10^{-7})}

    with :math:`I, P, T` the sums of :math:`y p`, :math:`p` and :math:`y` over a sample's
    pixels (every axis between the first and the last), :math:`F_c = \sum y_{\cdot c}` over the
    whole batch, and the smoothing :math:`s` (``eps``, default 1). optax's
    ``multiclass_generalized_dice_loss`` (whose mean over samples and classes is
    ``reduction="mean"``); the weights follow Sudre et al. (2017), who apply them inside one
    ratio instead. The weights are constants of the targets (no gradient through them).

    Parameters
    ----------
    y_true : array_like, same shape as ``y_pred``
        One-hot (or soft) class masks, classes on the last axis.
    y_pred : array_like, shape (n, ..., C)
        Probabilities, or logits with ``from_logits=True`` (softmax over the classes; the
        sigmoid for one class).
    eps : float >= 0, optional
        The smoothing :math:`s` (optax's ``smooth``), 1 by default.
    from_logits : bool
    ignore_background : bool
        Leave class 0 out of the mean (its weight still counts in the normalisation).
    sample_weight : array_like of shape (n,), optional
    reduction : {"mean", "sum", "none"}
    check_values : bool
    convention : {"losskit", "sklearn", "keras", "torch", "optax"}
        The same numbers under every convention (optax's); with ``sample_weight``,
        ``"keras"``, ``"torch"`` and ``"optax"`` divide the weighted sum by n.

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    Examples
    --------
    >>> import losskit as lk
    >>> y = [[[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]]
    >>> z = [[[2.0, -1.0], [1.0, 0.0], [0.0, 1.0]]]
    >>> round(float(lk.generalized_dice_loss(y, z, from_logits=True)), 4)
    0.1354
    """
    func = "generalized_dice_loss"
    inputs, axes = _overlap_inputs(func, y_true, y_pred, sample_weight, None, check_values,
                                   "optax", from_logits)
    xp, y = inputs.xp, inputs.y_true
    counts = xp.sum(xp.reshape(y, (-1, y.shape[-1])), axis=0)
    inverse = 1.0 / (counts * counts + _GENERALIZED_FLOOR)
    weights = inverse / xp.sum(inverse) * y.shape[-1]
    loss, gradient = _per_class_overlap(func, inputs, axes, 0.5, 0.5,
                                        1.0 if eps is None else eps, from_logits,
                                        ignore_background, check_values, weights)
    return weighted_parts(func, inputs, loss, gradient, inputs.sample_weight,
                          check_values=check_values, convention=convention,
                          nan_hint=_EMPTY_HINT)

