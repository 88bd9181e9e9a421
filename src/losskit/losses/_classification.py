"""Cross-entropy losses: Bernoulli (binary, multi-label) and categorical targets."""

from __future__ import annotations

import math
from typing import Any

from losskit._array import (
    Array,
    Namespace,
    add_at_labels,
    device,
    first_index,
    log_sigmoid,
    log_softmax,
    log_softmax_at,
    mul_zero_safe,
    row_dot,
    safe_log,
    safe_log1m,
    sigmoid,
    take_labels,
    to_bool,
    to_float,
)
from losskit._validation import (
    Boolean,
    Integer,
    Optional,
    Real,
    check_finite,
    check_labels,
    check_range,
    check_rows_sum_to_one,
    fail,
    weight_array,
)
from losskit.losses._core import (
    Inputs,
    PerSample,
    count_normaliser,
    default_eps,
    loss_function,
    mean_over_outputs,
    prepare,
    sample_weights,
)

__all__ = [
    "binary_cross_entropy",
    "categorical_cross_entropy",
    "sparse_categorical_cross_entropy",
]

_PROBABILITY_OPTIONS = {
    "from_logits": Boolean(),
    "label_smoothing": Real(0.0, 1.0),
    "eps": Optional(Real(0.0, 0.5, closed="left")),
}
_CLASS_WEIGHT_NAMES = ("y_pred", "y_true", "sample_weight", "class_weight")
_LOGITS_FIX = "Pass probabilities, or logits with from_logits=True"
_TORCH_LOG_FLOOR = -100.0  # PyTorch's clamp of log p and log(1 - p) in binary_cross_entropy


def check_binary_targets(func: str, xp: Namespace, y: Array) -> None:
    """The target domain of the Bernoulli losses, [0, 1] (NaN and ±inf are outside): the one
    check, on every path (the native kernel of :func:`binary_cross_entropy` calls it too)."""
    check_range(func, xp, "y_true", y, 0.0, 1.0,
                "Targets are probabilities of the positive class: map labels to 0/1 "
                "(for -1/+1 labels use (y + 1) / 2)")


def _check_predictions(func: str, inputs: Inputs, from_logits: bool, rows: bool,
                       renormalised: bool = False) -> None:
    """Logits: no NaN. Probabilities: in [0, 1] and, with ``rows``, rows summing to 1; with
    ``renormalised`` (Keras divides each row by its sum) any non-negative finite values."""
    xp, y_pred = inputs.xp, inputs.y_pred
    if from_logits:
        # ±inf logits are limits with exact losses; NaN is not
        check_finite(func, xp, "y_pred", y_pred, allow_inf=True,
                     fix="Logits must not be NaN; look for a diverged model or bad features")
    elif renormalised:
        check_range(func, xp, "y_pred", y_pred, 0.0, math.inf,
                    "Keras' convention divides each row by its sum: pass non-negative scores")
    else:
        check_range(func, xp, "y_pred", y_pred, 0.0, 1.0, _LOGITS_FIX)
        if rows:
            check_rows_sum_to_one(
                func, xp, "y_pred", y_pred, inputs.out_dtype,
                "Pass probabilities (e.g. after softmax), logits with from_logits=True, or "
                "normalise explicitly with y_pred / y_pred.sum(axis=-1, keepdims=True)")


def _clipped_log(xp: Namespace, p: Array, eps: float, unused: Array | None = None
                 ) -> tuple[Array, Array, Array]:
    """``log(clip(p, eps, 1 - eps))``, the clipped ``p`` and where the clip is inactive.

    ``unused`` marks entries whose coefficient is 0 (``0 · log p`` is taken as 0): with
    ``eps=0`` their log is taken of 1 instead, so autograd sends back 0 there, not ``0/0``.
    """
    if eps == 0.0:
        safe = p if unused is None else xp.where(unused, 1.0, p)
        return xp.log(safe), p, xp.ones_like(p, dtype=xp.bool)
    clipped = xp.clip(p, eps, 1.0 - eps)
    # the derivative of the clip is 1 inside [eps, 1 - eps] (ends included, as autograd says)
    inside = (p >= eps) & (p <= 1.0 - eps)
    return xp.log(clipped), clipped, inside


@loss_function(**_PROBABILITY_OPTIONS)
def binary_cross_entropy(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    from_logits: bool = False,
    pos_weight: Any = None,
    label_smoothing: float = 0.0,
    eps: float | None = None,
    sample_weight: Any = None,
    reduction: str = "mean",
    unit: str = "nats",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Binary cross-entropy, the negative log-likelihood of a Bernoulli target.

    .. math::

        l_{ij} = -\bigl[\, \beta\, y_{ij} \log p_{ij} + (1 - y_{ij}) \log(1 - p_{ij}) \bigr],
        \qquad l_i = \frac1k \sum_j l_{ij}

    with :math:`p = \sigma(z)` for logits :math:`z`, :math:`\beta` the ``pos_weight`` and, with
    label smoothing :math:`\varepsilon`, :math:`y \leftarrow y(1-\varepsilon) + \varepsilon/2`.
    It is :math:`-\log P(y \mid p)` for :math:`y \sim \mathrm{Bernoulli}(p)`: the loss for a
    sigmoid output layer. Both terms are always present (the article's loop dropped the second).

    From logits it is computed as :math:`-[\beta y \log\sigma(z) + (1-y)\log\sigma(-z)]` with
    :math:`\log\sigma(z) = \min(z, 0) - \log(1 + e^{-|z|})`: finite for any finite logit and
    exact at :math:`\pm\infty` (``0 · log 0 = 0``). From probabilities, :math:`p` is clipped to
    :math:`[\epsilon, 1 - \epsilon]`, ``eps`` defaulting to the machine epsilon of ``y_pred``'s
    dtype (as scikit-learn's ``log_loss``); ``eps=0`` gives the exact value, ``inf`` where a
    confident prediction is wrong.

    Parameters
    ----------
    y_true : array_like, same shape as ``y_pred``
        Targets in [0, 1] (labels 0/1 or probabilities).
    y_pred : array_like, shape (n,) or (n, ..., k)
        Probabilities of the positive class, or logits with ``from_logits=True``. With more than
        one dimension the last axis holds ``k`` labels (multi-label), averaged per sample.
    from_logits : bool
        ``y_pred`` holds logits (raw outputs of a linear layer).
    pos_weight : float or array_like of shape (k,), optional
        Weight :math:`\beta \ge 0` of the positive term (per label), as PyTorch's
        ``pos_weight``; > 1 raises recall for rare positives.
    label_smoothing : float in [0, 1]
        Keras' definition: targets move towards 1/2.
    eps : float in [0, 0.5), optional
        Probability clipping bound (ignored with logits).
    sample_weight : array_like of per-sample shape, optional
        Non-negative weights :math:`w_i`.
    reduction : {"mean", "sum", "none"}
        :math:`\sum w l / \sum w`, :math:`\sum w l`, or per-sample :math:`w_i l_i`.
    unit : {"nats", "bits"}
        Natural or base-2 logarithm.
    check_values : bool
        Check ranges, NaN and weights (host synchronisation); switch off only for hot loops.

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    Examples
    --------
    The article's example, with both terms:

    >>> import losskit as lk
    >>> y = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    >>> p = [0.8, 0.9, 0.9, 0.6, 0.8, 0.1, 0.4, 0.2, 0.1, 0.3]
    >>> round(float(lk.binary_cross_entropy(y, p)), 3)
    0.247
    >>> float(lk.binary_cross_entropy([1.0, 0.0], [1e4, -1e4], from_logits=True))
    0.0
    """
    func = "binary_cross_entropy"
    inputs = prepare(func, y_true, y_pred, sample_weight, pos_weight,
                     names=("y_pred", "y_true", "sample_weight", "pos_weight"))
    xp, y, z = inputs.xp, inputs.y_true, inputs.y_pred
    if check_values:
        check_binary_targets(func, xp, y)
        _check_predictions(func, inputs, from_logits, rows=False)
    if label_smoothing:
        y = y * (1.0 - label_smoothing) + 0.5 * label_smoothing
    positive = y
    if inputs.others[1] is not None:
        shape = () if y.ndim == 1 or inputs.others[1].ndim == 0 else (y.shape[-1],)
        beta = weight_array(func, xp, "pos_weight", inputs.others[1], shape, z.dtype,
                            check_values=check_values)
        positive = y * beta
    negative = 1.0 - y

    if from_logits:
        elementwise = -(mul_zero_safe(xp, positive, log_sigmoid(xp, z))
                        + mul_zero_safe(xp, negative, log_sigmoid(xp, -z)))

        def gradient() -> Array:
            # d/dz = (1 - y) sigmoid(z) - beta y sigmoid(-z)  (= sigmoid(z) - y without
            # weights), written so that nothing cancels: sigmoid(z) - 1 rounds to 0 for a
            # confident correct positive (z = 17, float32) where the gradient is -4e-8
            return negative * sigmoid(xp, z) - positive * sigmoid(xp, -z)
    else:
        if convention == "torch" and eps is None:
            # PyTorch's binary_cross_entropy: no clipping, each log clamped at -100
            p, raw_p, raw_q = z, safe_log(xp, z), safe_log1m(xp, z)
            inside_p, inside_q = raw_p > _TORCH_LOG_FLOOR, raw_q > _TORCH_LOG_FLOOR
            log_p = xp.maximum(raw_p, _TORCH_LOG_FLOOR)
            log_q = xp.maximum(raw_q, _TORCH_LOG_FLOOR)
        else:
            log_p, p, inside_p = _clipped_log(xp, z, default_eps(inputs, eps, convention),
                                              unused=positive == 0)
            # log(1 - p), accurate for small p; of 0 where its coefficient is 0 (see above)
            log_q, inside_q = xp.log1p(-xp.where(negative == 0, 0.0, p)), inside_p
        elementwise = -(mul_zero_safe(xp, positive, log_p) + mul_zero_safe(xp, negative, log_q))

        def gradient() -> Array:
            return (xp.where(inside_q, mul_zero_safe(xp, negative, 1.0 / (1.0 - p)), 0.0)
                    - xp.where(inside_p, mul_zero_safe(xp, positive, 1.0 / p), 0.0))

    per_sample, k = mean_over_outputs(xp, elementwise)
    weight = sample_weights(func, inputs, inputs.others[0], tuple(per_sample.shape),
                            check_values=check_values)

    def gradient_per_sample() -> Array:
        g = gradient()
        return g if k == 1 else g / k

    return PerSample(inputs, per_sample, gradient_per_sample, weight,
                     count_normaliser(xp, per_sample, weight, convention))


def _class_weights(func: str, inputs: Inputs, class_weight: Array | None,
                   check_values: bool) -> Array | None:
    if class_weight is None:
        return None
    return weight_array(func, inputs.xp, "class_weight", class_weight,
                        (inputs.y_pred.shape[-1],), inputs.y_pred.dtype,
                        check_values=check_values)


def _log_probabilities(inputs: Inputs, from_logits: bool, eps: float | None
                       ) -> tuple[Array, Array | None, Array | None]:
    """``(log p, clipped p, inside-clip mask)``; the last two are ``None`` for logits."""
    xp = inputs.xp
    if from_logits:
        return log_softmax(xp, inputs.y_pred), None, None
    return _clipped_log(xp, inputs.y_pred, default_eps(inputs, eps))


_CE_NAN_HINT = ("a row of logits is all -inf (no class possible) or holds both +inf and -inf "
                "where the target is; check the model's outputs")


@loss_function(axis=Integer(), **_PROBABILITY_OPTIONS)
def categorical_cross_entropy(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    from_logits: bool = False,
    axis: int = -1,
    class_weight: Any = None,
    label_smoothing: float = 0.0,
    eps: float | None = None,
    sample_weight: Any = None,
    reduction: str = "mean",
    unit: str = "nats",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Categorical cross-entropy against one-hot or soft targets (a categorical NLL).

    .. math::

        l_i = -\sum_{c=1}^{C} a_c\, q_{ic} \log p_{ic}, \qquad
        q = (1-\varepsilon)\, y + \varepsilon / C, \qquad
        L = \frac{\sum_i w_i l_i}{\sum_i w_i \sum_c a_c y_{ic}}

    with :math:`p = \mathrm{softmax}(z)` for logits, :math:`a` the ``class_weight`` (1 if
    none) and :math:`\varepsilon` the label smoothing (PyTorch's and Keras' definition). It is
    :math:`-\log P(y \mid p)` for :math:`y \sim \mathrm{Categorical}(p)`: the loss for a softmax
    output layer. For one-hot ``y_true`` it equals :func:`sparse_categorical_cross_entropy` with
    the same options, class weights included (their mean divides by the summed class weight of
    the targets, as PyTorch does for class indices).

    From logits, :math:`\log p = z - \operatorname{logsumexp}(z)` with the row maximum
    subtracted first: finite for any finite logits; a row holding ``+inf`` takes its limit.
    From probabilities, rows must sum to 1 (within :math:`\sqrt{\epsilon}`) and are clipped to
    :math:`[\epsilon, 1-\epsilon]`, ``eps`` defaulting to the machine epsilon of ``y_pred``'s
    dtype; ``eps=0`` is exact.

    Parameters
    ----------
    y_true : array_like, same shape as ``y_pred``
        One-hot rows or probability rows (each summing to 1).
    y_pred : array_like, shape (..., C, ...)
        Probabilities, or logits with ``from_logits=True``; classes along ``axis``.
    from_logits : bool
        ``y_pred`` holds logits (do not apply softmax yourself).
    axis : int
        The class axis of ``y_pred`` and ``y_true``.
    class_weight : array_like of shape (C,), optional
        Non-negative per-class weights :math:`a_c`.
    label_smoothing : float in [0, 1]
    eps : float in [0, 0.5), optional
    sample_weight : array_like of shape ``y_pred.shape`` less ``axis``, optional
    reduction : {"mean", "sum", "none"}
    unit : {"nats", "bits"}
    check_values : bool

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    Examples
    --------
    >>> import losskit as lk
    >>> y = [[1, 0, 0], [0, 0, 1]]
    >>> p = [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]
    >>> round(float(lk.categorical_cross_entropy(y, p)), 5)
    0.43375
    >>> lk.categorical_cross_entropy(y, [[0.5, 0.5, 0.5], [0.0, 0.0, 1.0]])
    Traceback (most recent call last):
    ...
    ValueError: categorical_cross_entropy: y_pred rows do not sum to 1 (row 0 sums to 1.5; ...
    """
    func = "categorical_cross_entropy"
    inputs = prepare(func, y_true, y_pred, sample_weight, class_weight, axis=axis,
                     names=_CLASS_WEIGHT_NAMES)
    xp, y = inputs.xp, inputs.y_true
    n_classes = inputs.y_pred.shape[-1]
    if check_values:
        check_range(func, xp, "y_true", y, 0.0, 1.0,
                    "y_true holds one-hot or probability rows; for integer labels use "
                    "sparse_categorical_cross_entropy")
        check_rows_sum_to_one(
            func, xp, "y_true", y, inputs.out_dtype,
            "Targets must be one-hot or probability rows; for several labels per sample "
            "use binary_cross_entropy (multi-label)")
        _check_predictions(func, inputs, from_logits, rows=True,
                           renormalised=convention == "keras")
    weights = _class_weights(func, inputs, inputs.others[1], check_values)
    q = y * (1.0 - label_smoothing) + label_smoothing / n_classes if label_smoothing else y
    a = q if weights is None else q * weights
    if from_logits:
        terms, _, (a_dot_log_p,) = log_softmax_at(xp, inputs.y_pred, vectors=(a,),
                                                  may_sync=check_values)
        per_sample = -a_dot_log_p
    else:
        row_total, p_in = _keras_rows(xp, inputs.y_pred, convention)
        log_p, p, inside = _clipped_log(xp, p_in, default_eps(inputs, eps, convention),
                                        unused=a == 0)
        per_sample = -row_dot(xp, a, log_p)
    weight = sample_weights(func, inputs, inputs.others[0], tuple(per_sample.shape),
                            check_values=check_values)
    mean_weight = count_normaliser(xp, per_sample, weight, convention)
    if convention == "torch" and weights is not None:
        mean_weight = xp.ones_like(per_sample)  # PyTorch's probability targets: divide by n
    elif weights is not None and mean_weight is None:
        target_weight = xp.sum(y * weights, axis=-1)
        mean_weight = target_weight if weight is None else weight * target_weight

    def scaled_gradient(scale: Array | float) -> Array:
        if from_logits:
            # d/dz_j of -sum_c a_c log softmax(z)_c = softmax(z)_j * sum_c a_c - a_j
            a_total = xp.sum(a, axis=-1)
            g = terms.scaled_probabilities(a_total * scale) - a * _per_row(scale)
        else:
            g = xp.where(inside, -mul_zero_safe(xp, a, 1.0 / p), 0.0)
            if row_total is not None:
                # through p / sum(p): d/dp_j = (g_j(p_hat) + sum_c a_c [inside_c]) / sum(p)
                active = xp.sum(xp.where(inside, a, 0.0), axis=-1)
                g = (g + active[..., None]) / row_total[..., None]
            g = g * _per_row(scale)
        return _zero_where_unweighted(xp, g, scale)

    return PerSample(inputs, per_sample, lambda: scaled_gradient(1.0), weight, mean_weight,
                     nan_hint=_CE_NAN_HINT, scaled_gradient=scaled_gradient)


def _keras_rows(xp: Namespace, p: Array, convention: str) -> tuple[Array | None, Array]:
    """Keras divides probability rows by their sum before clipping; others take them as given.
    Returns ``(row sums or None, probabilities to use)``."""
    if convention != "keras":
        return None, p
    total = xp.sum(p, axis=-1)
    return total, p / total[..., None]


def _per_row(scale: Array | float) -> Array | float:
    return scale if isinstance(scale, float) else scale[..., None]


def _zero_where_unweighted(xp: Namespace, g: Array, scale: Array | float) -> Array:
    """Rows of zero weight get an exactly zero gradient, even from non-finite inputs."""
    if isinstance(scale, float):
        return g
    return xp.where(scale[..., None] == 0, 0.0, g)


def _labels_as_integers(func: str, xp: Namespace, labels: Array, check_values: bool) -> Array:
    if xp.isdtype(labels.dtype, "integral"):
        return labels if labels.dtype == xp.int64 else xp.astype(labels, xp.int64)
    if xp.isdtype(labels.dtype, "bool"):
        fail(func, "y_true", "has dtype bool", "Pass integer class labels", TypeError)
    if check_values:
        fractional = ~(xp.floor(labels) == labels)
        if to_bool(func, xp.any(fractional)):
            index = first_index(xp, fractional)
            fail(func, "y_true", f"has a non-integer label {to_float(labels[index]):g} at index "
                 f"{index[0] if len(index) == 1 else index}",
                 "Pass integer class labels (for one-hot or soft targets use "
                 "categorical_cross_entropy)")
    return xp.astype(labels, xp.int64)


@loss_function(axis=Integer(), ignore_index=Optional(Integer()), **_PROBABILITY_OPTIONS)
def sparse_categorical_cross_entropy(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    from_logits: bool = False,
    axis: int = -1,
    ignore_index: int | None = None,
    class_weight: Any = None,
    label_smoothing: float = 0.0,
    eps: float | None = None,
    sample_weight: Any = None,
    reduction: str = "mean",
    unit: str = "nats",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Categorical cross-entropy against integer class labels.

    .. math::

        l_i = -(1-\varepsilon)\, a_{y_i} \log p_{i y_i}
              - \frac{\varepsilon}{C} \sum_{c} a_c \log p_{ic}, \qquad
        L = \frac{\sum_i w_i l_i}{\sum_i w_i a_{y_i}}

    the negative log-likelihood of :math:`y_i \sim \mathrm{Categorical}(p_i)` (softmax output),
    with class weights :math:`a` and label smoothing :math:`\varepsilon`. Equal to
    :func:`categorical_cross_entropy` on one-hot targets, and to PyTorch's ``cross_entropy``
    with ``weight``, ``ignore_index`` and ``label_smoothing``. Samples whose label equals
    ``ignore_index`` get weight 0 and leave the mean's denominator.

    Parameters
    ----------
    y_true : array_like of integers, shape ``y_pred.shape`` less ``axis``
        Labels in ``[0, C)`` (or ``ignore_index``). Floats with integral values are accepted.
    y_pred : array_like, shape (..., C, ...)
        Probabilities, or logits with ``from_logits=True``; classes along ``axis``.
    from_logits, axis, class_weight, label_smoothing, eps, sample_weight, reduction, unit
        As in :func:`categorical_cross_entropy`.
    check_values : bool
        As in :func:`categorical_cross_entropy`.
    ignore_index : int, optional
        Label value marking samples to skip (e.g. padding).

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    Examples
    --------
    >>> import losskit as lk
    >>> round(float(lk.sparse_categorical_cross_entropy([0, 2], [[0.7, 0.2, 0.1],
    ...                                                       [0.1, 0.3, 0.6]])), 5)
    0.43375
    >>> lk.sparse_categorical_cross_entropy([0, 3], [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    Traceback (most recent call last):
    ...
    ValueError: sparse_categorical_cross_entropy: y_true has label 3 at index 1, outside [0, 3)...
    """
    func = "sparse_categorical_cross_entropy"
    inputs = prepare(func, y_true, y_pred, sample_weight, class_weight, axis=axis, labels=True,
                     names=_CLASS_WEIGHT_NAMES)
    xp = inputs.xp
    n_classes = inputs.y_pred.shape[-1]
    labels = _labels_as_integers(func, xp, inputs.y_true, check_values)
    if check_values:
        check_labels(func, xp, labels, n_classes, ignore_index)
        _check_predictions(func, inputs, from_logits, rows=True,
                           renormalised=convention == "keras")
    weights = _class_weights(func, inputs, inputs.others[1], check_values)
    ignored = None if ignore_index is None else labels == ignore_index
    if ignored is not None:
        labels = xp.where(ignored, 0, labels)
    label_weight = None  # a_{y_i}
    if weights is not None:
        label_weight = xp.reshape(xp.take(weights, xp.reshape(labels, (-1,))), labels.shape)
    hit = (1.0 - label_smoothing) * (1.0 if label_weight is None else label_weight)
    spread = None  # the smoothing part of the target: eps/C * a_c for every class
    if label_smoothing:
        spread = label_smoothing / n_classes * (
            xp.ones(n_classes, dtype=inputs.y_pred.dtype, device=device(inputs.y_pred))
            if weights is None else weights)
    if from_logits:
        terms, log_p_y, smooth = log_softmax_at(
            xp, inputs.y_pred, labels=labels, vectors=() if spread is None else (spread,),
            may_sync=check_values)
    else:
        # only the labels' probabilities are needed unless the target is smoothed
        row_total, _ = _keras_rows(xp, inputs.y_pred, convention) if convention == "keras" \
            else (None, None)
        p_y = take_labels(xp, inputs.y_pred, labels)
        if row_total is not None:
            p_y = p_y / row_total
        eps_value = default_eps(inputs, eps, convention)
        log_p_y, p_y, inside_y = _clipped_log(xp, p_y, eps_value)
        smooth = []
        if spread is not None:
            p_all = inputs.y_pred if row_total is None else inputs.y_pred / row_total[..., None]
            log_p, p, inside = _clipped_log(xp, p_all, eps_value)
            smooth = [row_dot(xp, spread, log_p)]
    per_sample = -log_p_y if isinstance(hit, float) and hit == 1.0 else -hit * log_p_y
    if spread is not None:
        per_sample = per_sample - smooth[0]

    weight = sample_weights(func, inputs, inputs.others[0], tuple(per_sample.shape),
                            check_values=check_values)
    if ignored is not None:
        # (ones_like: a where of two Python numbers is float32 in PyTorch, and 1/sum(w) with it)
        weight = xp.where(ignored, 0.0, xp.ones_like(per_sample) if weight is None else weight)
        # a sum over no sample is 0 (as in PyTorch); a mean over none is undefined
        if check_values and reduction == "mean" and not to_bool(func, xp.any(weight > 0)):
            fail(func, "y_true", f"is ignore_index={ignore_index} (or weight 0) everywhere, so "
                 "the mean is undefined", "Skip this batch, or pass check_values=False to get 0")
    mean_weight = None
    if convention == "keras" and (weight is not None or label_weight is not None):
        # Keras divides by the number of samples it did not mask
        mean_weight = (xp.ones_like(per_sample) if ignored is None
                       else xp.where(ignored, 0.0, xp.ones_like(per_sample)))
    elif convention == "torch" and sample_weight is not None:
        # PyTorch has no sample weights: its idiom (w * loss(reduction="none")).mean()
        # divides by n
        mean_weight = xp.ones_like(per_sample)
    elif label_weight is not None:
        mean_weight = label_weight if weight is None else weight * label_weight

    def scaled_gradient(scale: Array | float) -> Array:
        hits = hit * scale
        if isinstance(hits, float):
            hits = xp.full(labels.shape, hits, dtype=inputs.y_pred.dtype,
                           device=device(inputs.y_pred))
        if from_logits:
            # d/dz_j = softmax(z)_j * sum_c target_c - target_j, target = hit at y + spread
            total = hits
            if spread is not None:
                total = hits + xp.sum(spread) * scale
            g = terms.scaled_probabilities(total)
            if spread is not None:
                g = g - spread * _per_row(scale)
            g = add_at_labels(xp, g, labels, -hits)
        else:
            g = (xp.where(inside, -spread / p, 0.0) * _per_row(scale) if spread is not None
                 else xp.zeros_like(inputs.y_pred))
            g = add_at_labels(xp, g, labels, xp.where(inside_y, -hits / p_y, 0.0))
            if row_total is not None:
                # through p / sum(p): d/dp_j = (g_j(p_hat) + sum_c target_c [inside_c]) / sum(p)
                active = xp.where(inside_y, hits, 0.0)
                if spread is not None:
                    active = active + xp.sum(xp.where(inside, spread, 0.0), axis=-1) * scale
                g = (g + active[..., None]) / row_total[..., None]
        return _zero_where_unweighted(xp, g, scale)

    return PerSample(inputs, per_sample, lambda: scaled_gradient(1.0), weight, mean_weight,
                     nan_hint=_CE_NAN_HINT, scaled_gradient=scaled_gradient)
