"""Classification metrics: what a classifier's users care about, not what it is trained on.

Every metric here is *decomposable*: its state is a few weighted counts (per class, or per
calibration bin), so a streaming :class:`losskit.Accumulator` gives exactly the value on the
concatenated data. Counts are float64 sums of the sample weights (1 per sample by default).
"""

from __future__ import annotations

from typing import Any

from losskit._array import Array, Namespace, log_softmax, sigmoid
from losskit._validation import (
    UNIT_INTERVAL,
    Boolean,
    Integer,
    OneOf,
    Optional,
    Real,
    check_domain,
    check_finite,
    check_labels,
    check_rows_sum_to_one,
    fail,
)
from losskit.metrics._inputs import (
    class_predictions,
    class_sums,
    labels_of,
    metric_inputs,
    require_weight,
    weights_of,
)
from losskit.metrics._state import Batch, Sum, metric_function, with_weight_scale

__all__ = [
    "accuracy_score",
    "balanced_accuracy_score",
    "brier_score_loss",
    "expected_calibration_error",
    "f1_score",
    "precision_score",
    "recall_score",
    "top_k_accuracy_score",
]

_PREDICTION_OPTIONS = {
    "threshold": Real(0.0, 1.0),
    "from_logits": Boolean(),
    "n_classes": Optional(Integer()),
}


def _ratio(xp: Namespace, num: Array, den: Array, zero_division: float) -> Array:
    """``num / den``, and ``zero_division`` where ``den == 0`` (never NaN)."""
    return xp.where(den > 0, num / xp.where(den > 0, den, 1.0), zero_division)


# ------------------------------------------------------------------------------- accuracy


def _accuracy_finish(xp: Namespace, totals: dict[str, Array], *, check_values: bool,
                     **_: Any) -> Array:
    require_weight("accuracy_score", totals["weight"], check_values)
    return totals["correct"] / totals["weight"]


@metric_function(finish=_accuracy_finish, **_PREDICTION_OPTIONS)
def accuracy_score(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    threshold: float = 0.5,
    from_logits: bool = False,
    n_classes: int | None = None,
    sample_weight: Any = None,
    check_values: bool = True,
) -> Batch:
    r"""Fraction of samples whose predicted class is the true class.

    .. math::

        \mathrm{accuracy} = \frac{\sum_i w_i\, [\hat y_i = y_i]}{\sum_i w_i}

    The metric to report for a classifier trained with a cross-entropy loss (the negative
    log-likelihood of a categorical target): people understand it, the optimiser does not need
    it. Equal to ``sklearn.metrics.accuracy_score``.

    Parameters
    ----------
    y_true : array_like of integer labels, shape (n, ...)
        True classes in ``[0, C)`` (booleans and integral floats accepted).
    y_pred : array_like
        Class scores of shape ``y_true.shape + (C,)`` (probabilities or logits: the predicted
        class is the argmax); or the positive-class probability with ``y_true``'s shape
        (positive where ``p > threshold``; logits with ``from_logits=True``); or integer
        predicted labels with ``y_true``'s shape.
    threshold : float in [0, 1]
        Decision threshold on the positive-class probability (binary scores only).
    from_logits : bool
        Binary scores are logits: the threshold applies to ``sigmoid(y_pred)``.
    n_classes : int, optional
        Number of classes when both arrays hold labels (otherwise inferred from the largest
        label, which reads the data on the host).
    sample_weight : array_like of ``y_true``'s shape, optional
        Non-negative weights :math:`w_i`.
    check_values : bool
        Check labels, ranges and weights, and that the metric is defined (host
        synchronisation). Off: nothing is read on the host (``jax.jit`` works) and an undefined
        metric is NaN.

    Returns
    -------
    array
        0-d, in ``y_pred``'s library and floating dtype (float64 for integer labels).

    Examples
    --------
    >>> import losskit as lk
    >>> float(lk.metrics.accuracy_score([0, 1, 2, 2], [[0.8, 0.1, 0.1], [0.2, 0.5, 0.3],
    ...                                                [0.1, 0.6, 0.3], [0.0, 0.1, 0.9]]))
    0.75
    >>> float(lk.metrics.accuracy_score([1, 0, 1], [0.9, 0.4, 0.3]))
    0.6666666666666666
    """
    func = "accuracy_score"
    inputs = metric_inputs(func, y_true, y_pred, sample_weight)
    xp = inputs.xp
    true, pred, _ = class_predictions(func, inputs, threshold=threshold,
                                      from_logits=from_logits, n_classes=n_classes,
                                      check_values=check_values)
    w = xp.reshape(weights_of(func, inputs, tuple(inputs.y_true.shape),
                              check_values=check_values), (-1,))
    correct = xp.sum(xp.where(true == pred, w, 0.0))
    state = {"correct": Sum.of(xp, correct), "weight": Sum.of(xp, xp.sum(w))}
    return Batch(xp, inputs.device, with_weight_scale(state, inputs.weight_scale),
                 inputs.out_dtype)


# --------------------------------------------------------------- confusion-matrix metrics


def _confusion_batch(func: str, y_true: Any, y_pred: Any, *, threshold: float,
                     from_logits: bool, n_classes: int | None, sample_weight: Any,
                     check_values: bool, average: str | None) -> Batch:
    """Per-class weighted counts: true positives, true (support) and predicted."""
    inputs = metric_inputs(func, y_true, y_pred, sample_weight)
    xp = inputs.xp
    true, pred, classes = class_predictions(func, inputs, threshold=threshold,
                                            from_logits=from_logits, n_classes=n_classes,
                                            check_values=check_values)
    if average == "binary" and classes > 2:
        fail(func, "average", f"is 'binary' but y_pred has {classes} classes",
             "Pass average='macro', 'micro' or 'weighted' for more than two classes")
    w = xp.reshape(weights_of(func, inputs, tuple(inputs.y_true.shape),
                              check_values=check_values), (-1,))
    state = {
        "tp": Sum.of(xp, class_sums(xp, true, xp.where(true == pred, w, 0.0), classes)),
        "true": Sum.of(xp, class_sums(xp, true, w, classes)),
        "pred": Sum.of(xp, class_sums(xp, pred, w, classes)),
    }
    return Batch(xp, inputs.device, with_weight_scale(state, inputs.weight_scale),
                 inputs.out_dtype)


def _averaged(func: str, xp: Namespace, totals: dict[str, Array], numerator: str,
              average: str, zero_division: float, check_values: bool) -> Array:
    """Precision (``pred``), recall (``true``) or F1 (``f1``) per class, then averaged."""
    tp, true, pred = totals["tp"], totals["true"], totals["pred"]
    require_weight(func, xp.sum(true), check_values)

    def score(tp_: Array, true_: Array, pred_: Array) -> Array:
        if numerator == "pred":
            return _ratio(xp, tp_, pred_, zero_division)
        if numerator == "true":
            return _ratio(xp, tp_, true_, zero_division)
        return _ratio(xp, 2.0 * tp_, true_ + pred_, zero_division)

    if average == "binary":
        if tp.shape[0] > 2:
            fail(func, "average", f"is 'binary' but the data hold {tp.shape[0]} classes",
                 "Pass average='macro', 'micro' or 'weighted' for more than two classes")
        return score(tp[1], true[1], pred[1])
    if average == "micro":
        return score(xp.sum(tp), xp.sum(true), xp.sum(pred))
    per_class = score(tp, true, pred)
    if average == "weighted":
        return xp.sum(per_class * true) / xp.sum(true)
    # macro: the classes that occur in y_true or y_pred (as scikit-learn's unique labels)
    present = (true + pred) > 0
    return xp.sum(xp.where(present, per_class, 0.0)) / xp.sum(xp.astype(present, true.dtype))


def _precision_finish(xp: Namespace, totals: dict[str, Array], *, average: str,
                      zero_division: float, check_values: bool, **_: Any) -> Array:
    return _averaged("precision_score", xp, totals, "pred", average, zero_division, check_values)


def _recall_finish(xp: Namespace, totals: dict[str, Array], *, average: str,
                   zero_division: float, check_values: bool, **_: Any) -> Array:
    return _averaged("recall_score", xp, totals, "true", average, zero_division, check_values)


def _f1_finish(xp: Namespace, totals: dict[str, Array], *, average: str,
               zero_division: float, check_values: bool, **_: Any) -> Array:
    return _averaged("f1_score", xp, totals, "f1", average, zero_division, check_values)


_AVERAGE_OPTIONS = {
    "average": OneOf("binary", "macro", "micro", "weighted"),
    "zero_division": Real(0.0, 1.0),
    **_PREDICTION_OPTIONS,
}

_PRF_DOC = r"""
    Parameters
    ----------
    y_true, y_pred, threshold, from_logits, n_classes, sample_weight, check_values
        As in :func:`accuracy_score`.
    average : {"binary", "macro", "micro", "weighted"}
        ``"binary"``: the score of class 1 (two classes only). ``"macro"``: the unweighted mean
        over the classes present in ``y_true`` or the predictions. ``"micro"``: from the counts
        summed over classes (equal to accuracy for single-label data). ``"weighted"``: the mean
        weighted by each class's (weighted) support.
    zero_division : float in [0, 1]
        Value of a ratio whose denominator is 0 (scikit-learn's default gives 0 with a warning).

    Returns
    -------
    array
        0-d, in ``y_pred``'s library and floating dtype (float64 for integer labels).
"""


@metric_function(finish=_precision_finish, **_AVERAGE_OPTIONS)
def precision_score(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    average: str = "binary",
    zero_division: float = 0.0,
    threshold: float = 0.5,
    from_logits: bool = False,
    n_classes: int | None = None,
    sample_weight: Any = None,
    check_values: bool = True,
) -> Batch:
    return _confusion_batch("precision_score", y_true, y_pred, threshold=threshold,
                            from_logits=from_logits, n_classes=n_classes,
                            sample_weight=sample_weight, check_values=check_values,
                            average=average)


precision_score.__doc__ = r"""Precision: of the samples predicted as a class, the fraction in it.

    .. math::

        \mathrm{precision}_c = \frac{\mathrm{TP}_c}{\mathrm{TP}_c + \mathrm{FP}_c}

    with weighted counts. Equal to ``sklearn.metrics.precision_score``.
""" + _PRF_DOC + r"""
    Examples
    --------
    >>> import losskit as lk
    >>> float(lk.metrics.precision_score([1, 0, 1, 0], [0.9, 0.8, 0.3, 0.1]))
    0.5
    >>> round(float(lk.metrics.precision_score([0, 1, 2, 2], [0, 2, 2, 1], average="macro")), 4)
    0.5
"""


@metric_function(finish=_recall_finish, **_AVERAGE_OPTIONS)
def recall_score(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    average: str = "binary",
    zero_division: float = 0.0,
    threshold: float = 0.5,
    from_logits: bool = False,
    n_classes: int | None = None,
    sample_weight: Any = None,
    check_values: bool = True,
) -> Batch:
    return _confusion_batch("recall_score", y_true, y_pred, threshold=threshold,
                            from_logits=from_logits, n_classes=n_classes,
                            sample_weight=sample_weight, check_values=check_values,
                            average=average)


recall_score.__doc__ = r"""Recall: of the samples in a class, the fraction predicted as it.

    .. math::

        \mathrm{recall}_c = \frac{\mathrm{TP}_c}{\mathrm{TP}_c + \mathrm{FN}_c}

    with weighted counts. Equal to ``sklearn.metrics.recall_score``.
""" + _PRF_DOC + r"""
    Examples
    --------
    >>> import losskit as lk
    >>> float(lk.metrics.recall_score([1, 0, 1, 0], [0.9, 0.8, 0.3, 0.1]))
    0.5
"""


@metric_function(finish=_f1_finish, **_AVERAGE_OPTIONS)
def f1_score(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    average: str = "binary",
    zero_division: float = 0.0,
    threshold: float = 0.5,
    from_logits: bool = False,
    n_classes: int | None = None,
    sample_weight: Any = None,
    check_values: bool = True,
) -> Batch:
    return _confusion_batch("f1_score", y_true, y_pred, threshold=threshold,
                            from_logits=from_logits, n_classes=n_classes,
                            sample_weight=sample_weight, check_values=check_values,
                            average=average)


f1_score.__doc__ = r"""F1 score, the harmonic mean of precision and recall.

    .. math::

        F_{1,c} = \frac{2\,\mathrm{TP}_c}{2\,\mathrm{TP}_c + \mathrm{FP}_c + \mathrm{FN}_c}

    with weighted counts (``zero_division`` where the denominator is 0). Equal to
    ``sklearn.metrics.f1_score``.
""" + _PRF_DOC + r"""
    Examples
    --------
    >>> import losskit as lk
    >>> round(float(lk.metrics.f1_score([1, 0, 1, 1], [0.9, 0.8, 0.3, 0.6])), 4)
    0.6667
"""


def _balanced_finish(xp: Namespace, totals: dict[str, Array], *, check_values: bool,
                     **_: Any) -> Array:
    func = "balanced_accuracy_score"
    tp, true = totals["tp"], totals["true"]
    require_weight(func, xp.sum(true), check_values)
    present = true > 0
    recall = _ratio(xp, tp, true, 0.0)
    return xp.sum(xp.where(present, recall, 0.0)) / xp.sum(xp.astype(present, tp.dtype))


@metric_function(finish=_balanced_finish, **_PREDICTION_OPTIONS)
def balanced_accuracy_score(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    threshold: float = 0.5,
    from_logits: bool = False,
    n_classes: int | None = None,
    sample_weight: Any = None,
    check_values: bool = True,
) -> Batch:
    r"""Balanced accuracy: the mean recall over the classes present in ``y_true``.

    .. math::

        \mathrm{balanced\ accuracy} = \frac{1}{|K|} \sum_{c \in K}
        \frac{\sum_i w_i [y_i = c][\hat y_i = c]}{\sum_i w_i [y_i = c]}

    with :math:`K` the classes with positive weight in ``y_true``. Unlike accuracy it is not
    inflated by a majority class (a constant prediction scores :math:`1/|K|`). Equal to
    ``sklearn.metrics.balanced_accuracy_score`` (``adjusted=False``).

    Parameters
    ----------
    y_true, y_pred, threshold, from_logits, n_classes, sample_weight, check_values
        As in :func:`accuracy_score`.

    Returns
    -------
    array
        0-d, in ``y_pred``'s library and floating dtype (float64 for integer labels).

    Examples
    --------
    >>> import losskit as lk
    >>> float(lk.metrics.balanced_accuracy_score([0, 0, 0, 1], [0, 0, 0, 0]))
    0.5
    """
    return _confusion_batch("balanced_accuracy_score", y_true, y_pred, threshold=threshold,
                            from_logits=from_logits, n_classes=n_classes,
                            sample_weight=sample_weight, check_values=check_values,
                            average=None)


# ------------------------------------------------------------------------ top-k accuracy


def _top_k_finish(xp: Namespace, totals: dict[str, Array], *, check_values: bool,
                  **_: Any) -> Array:
    require_weight("top_k_accuracy_score", totals["weight"], check_values)
    return totals["correct"] / totals["weight"]


@metric_function(finish=_top_k_finish, k=Integer())
def top_k_accuracy_score(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    k: int = 2,
    sample_weight: Any = None,
    check_values: bool = True,
) -> Batch:
    r"""Fraction of samples whose true class is among the ``k`` highest scores.

    .. math::

        \mathrm{top}\text{-}k = \frac{\sum_i w_i\, [\mathrm{rank}_i(y_i) < k]}{\sum_i w_i},
        \qquad \mathrm{rank}_i(c) = \#\{j: s_{ij} > s_{ic}\} + \#\{j > c: s_{ij} = s_{ic}\}

    Tied scores rank the higher class index first, as ``sklearn.metrics.top_k_accuracy_score``
    does (which it equals, with ``labels=range(C)``).

    Parameters
    ----------
    y_true : array_like of integer labels, shape (n, ...)
    y_pred : array_like, shape ``y_true.shape + (C,)``
        Class scores (probabilities or logits).
    k : int >= 1
    sample_weight : array_like of ``y_true``'s shape, optional
    check_values : bool

    Returns
    -------
    array
        0-d, in ``y_pred``'s library and floating dtype.

    Examples
    --------
    >>> import losskit as lk
    >>> float(lk.metrics.top_k_accuracy_score([2, 0], [[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]], k=2))
    0.0
    """
    func = "top_k_accuracy_score"
    if k < 1:
        fail(func, "k", f"is {k}", "Pass k >= 1")
    inputs = metric_inputs(func, y_true, y_pred, sample_weight)
    xp, scores = inputs.xp, inputs.y_pred
    if scores.ndim != inputs.y_true.ndim + 1 or \
            tuple(scores.shape[:-1]) != tuple(inputs.y_true.shape):
        fail(func, "y_pred", f"has shape {tuple(scores.shape)} but y_true has shape "
             f"{tuple(inputs.y_true.shape)}", "Pass one score per class along y_pred's "
             "last axis: shape y_true.shape + (n_classes,)")
    n_classes = scores.shape[-1]
    true = labels_of(func, xp, inputs.y_true, "y_true", check_values=check_values)
    if check_values:
        check_labels(func, xp, true, n_classes, None)
        check_finite(func, xp, "y_pred", scores, allow_inf=True,
                     fix="Scores must not be NaN; look for a diverged model")
    scores = xp.reshape(scores, (-1, n_classes))
    true = xp.reshape(true, (-1,))
    own = xp.take_along_axis(scores, true[:, None], axis=-1)
    index = xp.arange(n_classes, dtype=xp.int64, device=inputs.device)
    ahead = (scores > own) | ((scores == own) & (index > true[:, None]))
    rank = xp.sum(xp.astype(ahead, xp.int64), axis=-1)
    w = xp.reshape(weights_of(func, inputs, tuple(inputs.y_true.shape),
                              check_values=check_values), (-1,))
    correct = xp.sum(xp.where(rank < k, w, 0.0))
    state = {"correct": Sum.of(xp, correct), "weight": Sum.of(xp, xp.sum(w))}
    return Batch(xp, inputs.device, with_weight_scale(state, inputs.weight_scale),
                 inputs.out_dtype)


# ---------------------------------------------------------------- probability calibration


def _probabilities(func: str, inputs: Any, from_logits: bool, check_values: bool
                   ) -> tuple[Array, Array, bool]:
    """``(flat labels, probabilities (n,) or (n, C), binary)`` in the accumulation dtype."""
    xp, y_true, y_pred = inputs.xp, inputs.y_true, inputs.y_pred
    labels = labels_of(func, xp, y_true, "y_true", check_values=check_values)
    p = xp.astype(y_pred, inputs.dtype)
    if tuple(y_pred.shape) == tuple(y_true.shape):
        binary = True
        if check_values:
            if from_logits:
                check_finite(func, xp, "y_pred", p, allow_inf=True,
                             fix="Logits must not be NaN; look for a diverged model")
            else:
                check_domain(func, xp, "y_pred", p, UNIT_INTERVAL,
                            "Pass probabilities of the positive class, or logits with "
                            "from_logits=True")
            check_labels(func, xp, labels, 2, None)
        p = sigmoid(xp, p) if from_logits else p
        return xp.reshape(labels, (-1,)), xp.reshape(p, (-1,)), binary
    if y_pred.ndim == y_true.ndim + 1 and tuple(y_pred.shape[:-1]) == tuple(y_true.shape):
        n_classes = y_pred.shape[-1]
        if check_values:
            if from_logits:
                check_finite(func, xp, "y_pred", p, allow_inf=True,
                             fix="Logits must not be NaN; look for a diverged model")
            else:
                check_domain(func, xp, "y_pred", p, UNIT_INTERVAL,
                            "Pass probabilities, or logits with from_logits=True")
                check_rows_sum_to_one(func, xp, "y_pred", p, inputs.out_dtype,
                                      "Pass probabilities (e.g. after softmax), or logits "
                                      "with from_logits=True")
            check_labels(func, xp, labels, n_classes, None)
        p = xp.exp(log_softmax(xp, p, may_sync=check_values)) if from_logits else p
        return xp.reshape(labels, (-1,)), xp.reshape(p, (-1, n_classes)), False
    fail(func, "y_true", f"has shape {tuple(y_true.shape)} but y_pred has shape "
         f"{tuple(y_pred.shape)}", "Pass the positive-class probability with y_true's shape, "
         "or class probabilities of shape y_true.shape + (n_classes,)")
    raise AssertionError  # pragma: no cover


def _brier_finish(xp: Namespace, totals: dict[str, Array], *, check_values: bool,
                  **_: Any) -> Array:
    require_weight("brier_score_loss", totals["weight"], check_values)
    return totals["squared"] / totals["weight"]


@metric_function(finish=_brier_finish, from_logits=Boolean())
def brier_score_loss(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    from_logits: bool = False,
    sample_weight: Any = None,
    check_values: bool = True,
) -> Batch:
    r"""Brier score: the mean squared error of predicted probabilities (minimised).

    .. math::

        \mathrm{BS} = \frac{\sum_i w_i\, s \sum_c (p_{ic} - [y_i = c])^2}{\sum_i w_i}

    with :math:`s = 1/2` for two classes (so that binary input gives
    :math:`\sum_i w_i (p_i - y_i)^2 / \sum_i w_i`) and :math:`s = 1` for more, as
    ``sklearn.metrics.brier_score_loss`` (``scale_by_half="auto"``), which it equals. A proper
    scoring rule, like the log-loss, but bounded: one confident mistake cannot dominate it.
    Named ``*_loss`` because it is minimised.

    Parameters
    ----------
    y_true : array_like of integer labels, shape (n, ...)
        0/1 for binary ``y_pred``, classes in ``[0, C)`` otherwise.
    y_pred : array_like
        Positive-class probabilities with ``y_true``'s shape, or class probabilities of shape
        ``y_true.shape + (C,)``; logits with ``from_logits=True``.
    from_logits : bool
    sample_weight : array_like of ``y_true``'s shape, optional
    check_values : bool

    Returns
    -------
    array
        0-d, in ``y_pred``'s library and floating dtype.

    Examples
    --------
    >>> import losskit as lk
    >>> round(float(lk.metrics.brier_score_loss([1, 0, 1], [0.9, 0.2, 0.6])), 4)
    0.07
    """
    func = "brier_score_loss"
    inputs = metric_inputs(func, y_true, y_pred, sample_weight)
    xp = inputs.xp
    labels, p, binary = _probabilities(func, inputs, from_logits, check_values)
    w = xp.reshape(weights_of(func, inputs, tuple(inputs.y_true.shape),
                              check_values=check_values), (-1,))
    if binary:
        d = p - xp.astype(labels, p.dtype)
        per_sample = d * d
    else:
        n_classes = p.shape[-1]
        classes = xp.arange(n_classes, dtype=xp.int64, device=inputs.device)
        d = p - xp.astype(labels[:, None] == classes, p.dtype)
        per_sample = xp.sum(d * d, axis=-1) * (0.5 if n_classes == 2 else 1.0)
    state = {"squared": Sum.of(xp, xp.sum(w * per_sample)), "weight": Sum.of(xp, xp.sum(w))}
    return Batch(xp, inputs.device, with_weight_scale(state, inputs.weight_scale),
                 inputs.out_dtype)


def _ece_finish(xp: Namespace, totals: dict[str, Array], *, check_values: bool,
                **_: Any) -> Array:
    weight = totals["weight"]
    total = xp.sum(weight)
    require_weight("expected_calibration_error", total, check_values)
    return xp.sum(xp.abs(totals["correct"] - totals["confidence"])) / total


@metric_function(finish=_ece_finish, n_bins=Integer(), from_logits=Boolean())
def expected_calibration_error(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    n_bins: int = 10,
    from_logits: bool = False,
    sample_weight: Any = None,
    check_values: bool = True,
) -> Batch:
    r"""Expected calibration error over equal-width probability bins (minimised).

    .. math::

        \mathrm{ECE} = \sum_{b=1}^{B} \frac{W_b}{W}\,
        \bigl|\mathrm{acc}_b - \mathrm{conf}_b\bigr|
        = \frac1W \sum_b \Bigl|\sum_{i \in b} w_i a_i - \sum_{i \in b} w_i c_i\Bigr|

    For binary ``y_pred`` (positive-class probabilities) :math:`c_i = p_i` and
    :math:`a_i = y_i`: the bins are those of ``sklearn.calibration.calibration_curve``
    (``strategy="uniform"``), and ECE is the bin-weighted gap of its reliability diagram. For
    class probabilities it is the *top-label* ECE (Guo et al., 2017): :math:`c_i = \max_c
    p_{ic}` and :math:`a_i = [\arg\max_c p_{ic} = y_i]`. Bin :math:`b` holds
    :math:`c \in ((b-1)/B, b/B]` (the first also holds 0).

    A model can have a low loss and still be miscalibrated (and the reverse); ECE tells whether
    its probabilities can be read as frequencies.

    Parameters
    ----------
    y_true : array_like of integer labels, shape (n, ...)
    y_pred : array_like
        As in :func:`brier_score_loss`.
    n_bins : int >= 1
    from_logits : bool
    sample_weight : array_like of ``y_true``'s shape, optional
    check_values : bool

    Returns
    -------
    array
        0-d, in ``y_pred``'s library and floating dtype.

    Examples
    --------
    >>> import losskit as lk
    >>> round(float(lk.metrics.expected_calibration_error([1, 0, 1, 1], [0.9, 0.1, 0.8, 0.2],
    ...                                                   n_bins=5)), 4)
    0.25
    """
    func = "expected_calibration_error"
    if n_bins < 1:
        fail(func, "n_bins", f"is {n_bins}", "Pass at least one bin")
    inputs = metric_inputs(func, y_true, y_pred, sample_weight)
    xp = inputs.xp
    labels, p, binary = _probabilities(func, inputs, from_logits, check_values)
    if binary:
        confidence, correct = p, xp.astype(labels, p.dtype)
    else:
        confidence = xp.max(p, axis=-1)
        correct = xp.astype(xp.argmax(p, axis=-1) == labels, p.dtype)
    edges = xp.linspace(0.0, 1.0, n_bins + 1, dtype=p.dtype, device=inputs.device)
    # bin b holds (edge_b, edge_{b+1}], as calibration_curve's searchsorted on the inner edges
    bins = xp.searchsorted(edges[1:-1], confidence, side="left")
    w = xp.reshape(weights_of(func, inputs, tuple(inputs.y_true.shape),
                              check_values=check_values), (-1,))
    state = {
        "weight": Sum.of(xp, class_sums(xp, bins, w, n_bins)),
        "confidence": Sum.of(xp, class_sums(xp, bins, w * confidence, n_bins)),
        "correct": Sum.of(xp, class_sums(xp, bins, w * correct, n_bins)),
    }
    return Batch(xp, inputs.device, with_weight_scale(state, inputs.weight_scale),
                 inputs.out_dtype)
