r"""Ranking metrics (ROC AUC, average precision): exact, from every score.

These metrics are not decomposable into fixed-size counts: their state keeps every score,
label and weight (:class:`~losskit.metrics._state.Samples`), so a streaming
:class:`losskit.Accumulator` holds ``8 (C + 2)`` bytes per sample (``C = 1`` for binary scores;
about 24 MB per million binary samples) in the batches' library and device, and its result is
exactly the value on the concatenated data. Both are computed after one sort, in
:math:`O(n \log n)` per class.
"""

from __future__ import annotations

from typing import Any

from losskit._array import Array, Namespace, device, to_bool
from losskit._reduction import weight_scale
from losskit._validation import OneOf, check_finite, check_labels, fail
from losskit.metrics._inputs import labels_of, metric_inputs, weights_of
from losskit.metrics._state import Batch, Samples, metric_function, with_weight_scale

__all__ = ["average_precision_score", "roc_auc_score"]


def _ranking_batch(func: str, y_true: Any, y_pred: Any, sample_weight: Any,
                   check_values: bool) -> Batch:
    inputs = metric_inputs(func, y_true, y_pred, sample_weight)
    xp, y_true, scores = inputs.xp, inputs.y_true, inputs.y_pred
    labels = labels_of(func, xp, y_true, "y_true", check_values=check_values)
    if tuple(scores.shape) == tuple(y_true.shape):
        classes = 2
        scores = xp.reshape(scores, (-1,))
    elif scores.ndim == y_true.ndim + 1 and tuple(scores.shape[:-1]) == tuple(y_true.shape):
        classes = scores.shape[-1]
        if classes < 2:
            fail(func, "y_pred", f"has {classes} class score(s) per sample",
                 "Pass one score per class, or the positive-class score with y_true's shape")
        # two class columns are a binary problem: rank by the positive class's score
        scores = scores[..., 1] if classes == 2 else scores
        scores = xp.reshape(scores, (-1,) if classes == 2 else (-1, classes))
    else:
        fail(func, "y_true", f"has shape {tuple(y_true.shape)} but y_pred has shape "
             f"{tuple(scores.shape)}", "Pass the positive-class score with y_true's shape, or "
             "class scores of shape y_true.shape + (n_classes,)")
    if check_values:
        check_labels(func, xp, labels, classes, None)
        check_finite(func, xp, "y_pred", scores, allow_inf=True,
                     fix="Scores must not be NaN; look for a diverged model")
    w = weights_of(func, inputs, tuple(y_true.shape), check_values=check_values)
    part = {"label": xp.reshape(labels, (-1,)), "score": xp.astype(scores, inputs.dtype),
            "weight": xp.reshape(w, (-1,))}
    state = with_weight_scale({"samples": Samples([part])}, inputs.weight_scale)
    return Batch(xp, inputs.device, state, inputs.out_dtype)


def _sorted(xp: Namespace, score: Array, positive: Array, weight: Array
            ) -> tuple[Array, Array, Array, Array]:
    """Ascending scores, positive and negative weights in that order, start of each tie."""
    order = xp.argsort(score)
    s = xp.take(score, order)
    w = xp.take(weight, order)
    pos = xp.take(positive, order)
    wp = xp.where(pos, w, 0.0)
    wn = xp.where(pos, 0.0, w)
    start = xp.searchsorted(s, s, side="left")
    return wp, wn, s, start


def _binary_auc(xp: Namespace, score: Array, positive: Array, weight: Array) -> tuple[
        Array, Array, Array]:
    """``(AUC numerator, positive weight, negative weight)``; ties count one half."""
    wp, wn, s, start = _sorted(xp, score, positive, weight)
    # the AUC does not change when either class's weights are scaled: bring each class's
    # largest weight near 1, so that no product w_p w_n underflows (a class of weights far
    # below the other's, which XLA would even flush to 0)
    wp, wn = wp / weight_scale(xp, wp), wn / weight_scale(xp, wn)
    zero = xp.zeros((1,), dtype=wn.dtype, device=device(s))
    below_all = xp.concat([zero, xp.cumulative_sum(wn)])
    end = xp.searchsorted(s, s, side="right")
    below = xp.take(below_all, start)  # negatives scored strictly lower
    up_to = xp.take(below_all, end)  # ... lower or tied
    numerator = xp.sum(wp * (below + up_to)) * 0.5
    return numerator, xp.sum(wp), xp.sum(wn)


def _binary_ap(xp: Namespace, score: Array, positive: Array, weight: Array) -> tuple[
        Array, Array]:
    """``(sum of w_i * precision at i's threshold over positives, positive weight)``."""
    wp, wn, _, start = _sorted(xp, score, positive, weight)
    n = wp.shape[0]
    # cumulative counts from the top score down (accurate where few samples are above)
    tp_desc = xp.cumulative_sum(xp.flip(wp))
    fp_desc = xp.cumulative_sum(xp.flip(wn))
    # samples scored >= s_i: in descending order they end where i's tie group starts ascending
    last = (n - 1) - start
    tp = xp.take(tp_desc, last)
    fp = xp.take(fp_desc, last)
    predicted = tp + fp
    precision = xp.where(predicted > 0, tp / xp.where(predicted > 0, predicted, 1.0), 0.0)
    return xp.sum(wp * precision), xp.sum(wp)


def _one_class(func: str, positives: Array, negatives: Array | None, label: str,
               check_values: bool) -> None:
    """Both classes are needed (checks off: nothing is read on the host, the value is NaN)."""
    if not check_values:
        return
    if not to_bool(func, positives > 0):
        fail(func, "y_true", f"has no sample of {label} (with positive weight), so the score "
             "is undefined", "Evaluate on data holding every class, or pool batches with "
             "losskit.Accumulator")
    if negatives is not None and not to_bool(func, negatives > 0):
        fail(func, "y_true", f"has only {label} (with positive weight), so the score is "
             "undefined", "Evaluate on data holding both classes, or pool batches with "
             "losskit.Accumulator")


def _ranking_finish(xp: Namespace, data: dict[str, Array], average: str, binary_fn: Any,
                    check_values: bool) -> Array:
    labels, score, weight = data["label"], data["score"], data["weight"]
    if score.ndim == 1:
        return binary_fn(xp, score, labels == 1, weight, "class 1", check_values)
    n_classes = score.shape[-1]
    values, prevalence = [], []
    for c in range(n_classes):
        positive = labels == c
        values.append(binary_fn(xp, score[:, c], positive, weight, f"class {c}", check_values))
        prevalence.append(xp.sum(xp.where(positive, weight, 0.0)))
    per_class = xp.stack(values)
    if average == "weighted":
        support = xp.stack(prevalence)
        return xp.sum(per_class * support) / xp.sum(support)
    return xp.mean(per_class)


def _auc_value(xp: Namespace, score: Array, positive: Array, weight: Array, label: str,
               check_values: bool) -> Array:
    numerator, p, n = _binary_auc(xp, score, positive, weight)
    _one_class("roc_auc_score", p, n, label, check_values)
    return numerator / (p * n)


def _ap_value(xp: Namespace, score: Array, positive: Array, weight: Array, label: str,
              check_values: bool) -> Array:
    numerator, p = _binary_ap(xp, score, positive, weight)
    _one_class("average_precision_score", p, None, label, check_values)
    return numerator / p


def _auc_finish(xp: Namespace, totals: dict[str, Any], *, average: str, check_values: bool,
                **_: Any) -> Array:
    return _ranking_finish(xp, totals["samples"], average, _auc_value, check_values)


def _ap_finish(xp: Namespace, totals: dict[str, Any], *, average: str, check_values: bool,
               **_: Any) -> Array:
    return _ranking_finish(xp, totals["samples"], average, _ap_value, check_values)


@metric_function(finish=_auc_finish, average=OneOf("macro", "weighted"))
def roc_auc_score(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    average: str = "macro",
    sample_weight: Any = None,
    check_values: bool = True,
) -> Batch:
    r"""Area under the ROC curve: the probability that a positive outranks a negative.

    .. math::

        \mathrm{AUC} = \frac{\sum_{i \in P} \sum_{j \in N} w_i w_j
        \bigl([s_i > s_j] + \tfrac12 [s_i = s_j]\bigr)}{\sum_{i \in P} w_i \sum_{j \in N} w_j}

    (the weighted Mann–Whitney statistic, equal to the trapezoidal area under the ROC curve).
    With class scores of shape ``(n, C)``, ``C > 2``, it is one-vs-rest: the AUC of each
    class's column against the rest, averaged (``"macro"``) or weighted by class prevalence
    (``"weighted"``). Equal to ``sklearn.metrics.roc_auc_score`` (``multi_class="ovr"``); the
    scores need not be probabilities (only their order matters), so logits work too.

    Exact: the value depends on every score. Its streaming state keeps the scores (see the
    module notes for memory).

    Parameters
    ----------
    y_true : array_like of integer labels, shape (n, ...)
        0/1 for binary scores; classes in ``[0, C)`` for class scores.
    y_pred : array_like
        Positive-class scores with ``y_true``'s shape, or class scores of shape
        ``y_true.shape + (C,)`` (two columns: column 1 is the positive class).
    average : {"macro", "weighted"}
        One-vs-rest averaging (ignored for binary scores).
    sample_weight : array_like of ``y_true``'s shape, optional
    check_values : bool

    Returns
    -------
    array
        0-d, in ``y_pred``'s library and floating dtype.

    Raises
    ------
    ValueError
        If ``y_true`` holds one class only (for some class, one-vs-rest).

    Examples
    --------
    >>> import losskit as lk
    >>> float(lk.metrics.roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]))
    0.75
    >>> lk.metrics.roc_auc_score([1, 1], [0.2, 0.7])
    Traceback (most recent call last):
    ...
    ValueError: roc_auc_score: y_true has only class 1 (with positive weight), so the score ...
    """
    return _ranking_batch("roc_auc_score", y_true, y_pred, sample_weight, check_values)


@metric_function(finish=_ap_finish, average=OneOf("macro", "weighted"))
def average_precision_score(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    average: str = "macro",
    sample_weight: Any = None,
    check_values: bool = True,
) -> Batch:
    r"""Average precision: the precision-recall curve summarised as a step-wise area.

    .. math::

        \mathrm{AP} = \sum_k (R_k - R_{k-1})\, P_k
        = \frac{\sum_{i \in P} w_i\, \mathrm{precision}(s \ge s_i)}{\sum_{i \in P} w_i}

    with :math:`P_k, R_k` the precision and recall at the :math:`k`-th distinct threshold
    (no interpolation). Equal to ``sklearn.metrics.average_precision_score``; class scores of
    shape ``(n, C)``, ``C > 2``, are one-vs-rest, averaged as in :func:`roc_auc_score`.
    Preferable to ROC AUC when positives are rare: it does not reward ranking the many
    negatives among themselves.

    Parameters
    ----------
    y_true, y_pred, average, sample_weight, check_values
        As in :func:`roc_auc_score`.

    Returns
    -------
    array
        0-d, in ``y_pred``'s library and floating dtype.

    Examples
    --------
    >>> import losskit as lk
    >>> round(float(lk.metrics.average_precision_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])), 4)
    0.8333
    """
    return _ranking_batch("average_precision_score", y_true, y_pred, sample_weight,
                          check_values)
