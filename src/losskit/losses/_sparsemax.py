"""Sparsemax losses and the PolyLoss: classification losses from logits that are not the
plain cross-entropy.

The sparsemax losses (Martins & Astudillo, 2016) are the Fenchel-Young losses of sparsemax,
the Euclidean projection of the scores on the probability simplex: their gradient is
``sparsemax(z) − onehot(y)``, exactly 0 once the right class wins by a margin. The PolyLoss
(Leng et al., 2022) adds :math:`\\epsilon (1 - p_t)` to the cross-entropy.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from losskit._array import (
    Array,
    device,
    first_index,
    index_dtype,
    log_softmax,
    mul_zero_safe,
    numpy_row_dot,
    row_dot,
    take_labels,
    to_bool,
    to_float,
)
from losskit._validation import Integer, Real, check_finite, check_labels, fail, index_text
from losskit.losses._classification import (
    ClassAxes,
    _labels_as_integers,
    check_masked_targets,
    masked_log_softmax,
    masked_weights,
    prepare_classes,
    where_mask,
)
from losskit.losses._classification_catalogue import _check_distributions
from losskit.losses._conventions import CONVENTIONS
from losskit.losses._core import (
    PerSample,
    count_normaliser,
    loss_function,
    prepare,
    sample_weights,
    weighted_parts,
)
from losskit.losses._elementwise import per_sample
from losskit.losses._embedding import _indicator
from losskit.losses._spec import Case, LossExplanation

__all__ = ["multiclass_sparsemax_loss", "poly_loss_cross_entropy", "sparsemax_loss"]


def sparsemax(xp: Any, z: Array) -> Array:
    """The Euclidean projection of each row of ``z`` (last axis) on the probability simplex."""
    ordered = -xp.sort(-z, axis=-1)
    cumulative = xp.cumulative_sum(ordered, axis=-1)
    k = xp.arange(1, z.shape[-1] + 1, dtype=z.dtype, device=device(z))
    size = _row_sum(xp, _indicator(xp, 1.0 + k * ordered > cumulative, z))
    index = xp.astype(size, index_dtype(xp)) - 1  # int32 on JAX without x64: no warning
    tau = (take_labels(xp, cumulative, index) - 1.0) / size
    return xp.maximum(z - tau[..., None], 0.0)


def _row_sum(xp: Any, x: Array) -> Array:
    """Sum over the last axis; on NumPy a contraction with ones (:func:`numpy_row_dot`: a
    reduction over a short axis runs one tiny inner loop per row). Used for counts, exact
    in any order."""
    if isinstance(x, np.ndarray) and x.ndim >= 1 and x.dtype.kind == "f":
        return numpy_row_dot(np.ones(x.shape[-1], dtype=x.dtype), x)
    return xp.sum(x, axis=-1)


SPARSEMAX_EXPLANATION = LossExplanation(
    formula="l = sparse_plus(−z) for y = 1, sparse_plus(z) for y = 0; sparse_plus(x) = 0 "
            "(x ≤ −1), (x + 1)²/4 (|x| < 1), x (x ≥ 1)",
    distribution="none: the binary sparsemax (Fenchel-Young) loss, not a likelihood; its "
                 "probability clip(0.5 + z/2, 0, 1) reaches 0 and 1 exactly",
    raw_output="a raw score z (a logit)",
    gradient="∂l/∂z = sparsemax probability − y: clip((z + 1)/2, 0, 1) − y",
    when="binary classification that should give exact 0/1 probabilities to confident "
         "samples (sparse attention, multi-label with many labels)",
    pitfalls=("Samples beyond |z| = 1 on the right side give no gradient at all.",
              "Labels must be exactly 0 or 1."),
    related=("binary_cross_entropy", "multiclass_sparsemax_loss"),
    activation="none (raw logit z); the two-class sparsemax clip((z + 1)/2, 0, 1) gives P(y = 1)",
    case=Case("y = 1, z = 0.2", 1.0, 0.2, {}, more_targets=(0.0,), x_label="logit z"),
    classification=True,
)


@loss_function(explanation=SPARSEMAX_EXPLANATION)
def sparsemax_loss(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    sample_weight: Any = None,
    reduction: str = "mean",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Binary sparsemax loss from logits.

    .. math::

        l = \operatorname{sparse\_plus}\bigl((1 - 2y)\, z\bigr), \qquad
        \operatorname{sparse\_plus}(x) = \begin{cases} 0 & x \le -1 \\
            (x + 1)^2 / 4 & -1 < x < 1 \\ x & x \ge 1 \end{cases}

    optax's ``sparsemax_loss``; the Fenchel-Young loss of the two-class sparsemax, whose
    probability :math:`\operatorname{clip}((z + 1)/2, 0, 1)` is the gradient plus :math:`y`.

    Parameters
    ----------
    y_true : array_like, same shape as ``y_pred``
        Labels, exactly 0 or 1.
    y_pred : array_like, shape (n,) or (n, ..., k)
        Logits.
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
    >>> lk.sparsemax_loss([1.0, 0.0, 1.0], [0.2, -3.0, -2.0], reduction="none").tolist()
    [0.16000000000000003, 0.0, 2.0]
    """
    func = "sparsemax_loss"
    inputs = prepare(func, y_true, y_pred, sample_weight)
    xp, y, z = inputs.xp, inputs.y_true, inputs.y_pred
    if check_values:
        check_finite(func, xp, "y_pred", z)
        bad = ~((y == 0.0) | (y == 1.0))
        if to_bool(func, xp.any(bad)):
            index = first_index(xp, bad)
            fail(func, "y_true", f"has the value {to_float(y[index]):g} at index "
                 f"{index_text(index)}, not 0 or 1",
                 "Pass binary labels 0 or 1")
    sign = 1.0 - 2.0 * y
    x = sign * z
    elementwise = xp.where(x <= -1.0, 0.0, xp.where(x >= 1.0, x, (x + 1.0) ** 2 / 4.0))

    def gradient() -> Array:
        return sign * xp.clip((x + 1.0) / 2.0, 0.0, 1.0)

    return per_sample(func, inputs, elementwise, gradient, inputs.sample_weight,
                      check_values=check_values, convention=convention)


MULTICLASS_SPARSEMAX_EXPLANATION = LossExplanation(
    formula="l = Σ_j p_j (z_j − z_y) + (1 − ‖p‖²)/2, p = sparsemax(z)",
    distribution="none: the sparsemax (Fenchel-Young) loss; sparsemax(z) is a probability "
                 "vector with exact zeros",
    raw_output="one raw score per class",
    gradient="∂l/∂z = sparsemax(z) − onehot(y)",
    when="multi-class classification or attention where most classes should get probability "
         "exactly 0",
    pitfalls=("Classes outside the support get no gradient: a wrong class far below stays "
              "there even if it is the right one of another sample.",
              "Probabilities are sparsemax(z), not softmax(z): don't mix them with a softmax "
              "cross-entropy's calibration."),
    related=("sparse_categorical_cross_entropy", "sparsemax_loss"),
    activation="none (raw scores z); sparsemax(z), a sparse softmax, gives the probabilities",
    case=Case("y = 0, z = (1, 0.5, −1)", 0, [1.0, 0.5, -1.0], {}, vary=0,
              x_label="score of the right class"),
    classification=True,
)


@loss_function(axis=Integer(), explanation=MULTICLASS_SPARSEMAX_EXPLANATION)
def multiclass_sparsemax_loss(
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
    r"""Multi-class sparsemax loss against integer labels.

    .. math::

        l = \sum_j p_j (z_j - z_y) + \tfrac12 \bigl(1 - \lVert p \rVert^2\bigr), \qquad
        p = \operatorname{sparsemax}(z) = \arg\min_{q \in \Delta} \lVert q - z \rVert

    optax's ``multiclass_sparsemax_loss`` (Martins & Astudillo, 2016); 0 exactly when the
    right class wins by a margin of 1.

    Parameters
    ----------
    y_true : array_like of integers, shape ``y_pred.shape`` less ``axis``
    y_pred : array_like, shape (..., C, ...)
        Scores, classes along ``axis``.
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
    >>> lk.multiclass_sparsemax_loss([0, 1], [[1.0, 0.5, -1.0], [3.0, 0.0, 0.0]],
    ...                              reduction="none").tolist()
    [0.0625, 3.0]
    """
    func = "multiclass_sparsemax_loss"
    inputs = prepare(func, y_true, y_pred, sample_weight, axis=axis, labels=True)
    xp, z = inputs.xp, inputs.y_pred
    labels = _labels_as_integers(func, xp, inputs.y_true, check_values)
    if check_values:
        check_labels(func, xp, labels, z.shape[-1], None)
        check_finite(func, xp, "y_pred", z)
    p = sparsemax(xp, z)
    relative = z - take_labels(xp, z, labels)[..., None]
    if isinstance(z, np.ndarray):
        # NumPy: the two sums over the short class axis as contractions (row_dot; measured
        # at 333334 x 3 float32, value with checks: see benchmarks/README.md, issue 19
        # fourth round), within an ulp per addition of the generic sums
        loss = row_dot(xp, p, relative) + 0.5 * (1.0 - row_dot(xp, p, p))
    else:
        loss = xp.sum(p * relative, axis=-1) + 0.5 * (1.0 - xp.sum(p * p, axis=-1))

    def gradient() -> Array:
        classes = xp.arange(z.shape[-1], dtype=labels.dtype, device=device(z))
        return p - _indicator(xp, classes == labels[..., None], z)

    return weighted_parts(func, inputs, loss, gradient, inputs.sample_weight,
                          check_values=check_values, convention=convention)


POLY_EXPLANATION = LossExplanation(
    formula="l = −Σ_c y_c log p_c + ε Σ_c y_c (1 − p_c), p = softmax(z)",
    distribution="the categorical cross-entropy (a categorical NLL) plus a polynomial term; "
                 "with ε ≠ 0 no longer a likelihood",
    raw_output="logits z (one per class)",
    gradient="∂l/∂z = p Σy − y − ε p ⊙ (y − y·p)",
    when="image classification (ε = 2 in the PolyLoss paper) or detection (ε = −1), as a "
         "tuned replacement for the cross-entropy",
    pitfalls=("ε < −1 makes the loss non-convex in p_t and can reward wrong predictions.",
              "The value is not a log-likelihood: compare models with the cross-entropy."),
    related=("categorical_cross_entropy", "categorical_focal_loss"),
    activation="none (raw logits z); softmax(z) gives the class probabilities",
    case=Case("y = (1, 0, 0), z = (1, 0, −1), ε = 2", [1.0, 0.0, 0.0], [1.0, 0.0, -1.0],
              {"epsilon": 2.0}, vary=0, x_label="logit of the right class"),
    classification=True,
)


@loss_function(epsilon=Real(-math.inf, math.inf, closed="neither"), axis=ClassAxes(),
               explanation=POLY_EXPLANATION)
def poly_loss_cross_entropy(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    epsilon: float = 2.0,
    axis: int | tuple[int, ...] = -1,
    where: Any = None,
    sample_weight: Any = None,
    reduction: str = "mean",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Poly-1 loss: the cross-entropy from logits plus ε (1 − p_t) (p_t: the right class).

    .. math::

        l = -\sum_c y_c \log p_c + \epsilon \sum_c y_c (1 - p_c), \qquad
        p = \operatorname{softmax}(z)

    optax's ``poly_loss_cross_entropy`` (Leng et al., 2022).

    Parameters
    ----------
    y_true : array_like, same shape as ``y_pred``
        One-hot or probability rows along ``axis``.
    y_pred : array_like, shape (..., C, ...)
        Logits, classes along ``axis``.
    epsilon : float
    axis : int or tuple of int
        The class axis, or several (optax's), as in
        :func:`~losskit.categorical_cross_entropy`.
    where : array_like of bool, optional
        optax's mask, as in :func:`~losskit.categorical_cross_entropy`: the classes left
        out of the softmax and of :math:`1 - p_t`, or the samples kept.
    sample_weight : array_like of per-sample shape, optional
    reduction : {"mean", "sum", "none"}
    check_values : bool
    convention : {"losskit", "sklearn", "keras", "torch", "optax"}
        With ``sample_weight``, ``"keras"``, ``"torch"`` and ``"optax"`` divide by the number
        of samples; ``"optax"``: ``where`` as optax's (see
        :func:`~losskit.categorical_cross_entropy`).

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    Examples
    --------
    >>> import losskit as lk
    >>> round(float(lk.poly_loss_cross_entropy([[1.0, 0.0, 0.0]], [[1.0, 0.0, -1.0]])), 6)
    1.077124
    """
    func = "poly_loss_cross_entropy"
    policy = CONVENTIONS[convention]
    inputs = prepare_classes(func, y_true, y_pred, sample_weight, axis,
                             arrays={"where": where})
    xp, y, z = inputs.xp, inputs.y_true, inputs.y_pred
    if check_values:
        check_finite(func, xp, "y_pred", z)
        _check_distributions(func, xp, "y_true", y, inputs.out_dtype,
                             "y_true holds one-hot or probability rows along axis")
    mask = where_mask(func, inputs, from_logits=True)
    if mask.classes is None:
        log_p = log_softmax(xp, z, may_sync=check_values)
        p = xp.exp(log_p)
    else:  # the softmax over the classes left; a target on a masked class: see the CE
        if policy.masked_as_zero:
            y = xp.where(mask.classes, y, 0.0)
        elif check_values:
            check_masked_targets(func, xp, y, mask.classes, mask.alive)
        log_p = masked_log_softmax(xp, z, mask.classes)
        p = xp.where(mask.classes, xp.exp(log_p), 0.0)
    y_dot_p = xp.sum(y * p, axis=-1)
    total = xp.sum(y, axis=-1)
    loss = -xp.sum(mul_zero_safe(xp, y, log_p), axis=-1) + epsilon * (total - y_dot_p)

    def gradient() -> Array:
        g = p * total[..., None] - y - epsilon * p * (y - y_dot_p[..., None])
        return g if mask.alive is None else xp.where(mask.alive[..., None], g, 0.0)

    weight = sample_weights(func, inputs, inputs.sample_weight, tuple(loss.shape),
                            check_values=check_values)
    loss, weight = masked_weights(func, xp, policy, loss, weight, mask.alive,
                                  check_values and reduction == "mean")
    return PerSample(inputs, loss, gradient, weight,
                     count_normaliser(xp, loss, weight, policy))
