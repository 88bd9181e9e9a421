"""Listwise ranking losses on the scores of lists of items: the softmax ranking loss (optax's
``ranking_softmax_loss``).

A list's items are on the last axis of ``y_pred`` (their scores) and ``y_true`` (their
relevance labels, same shape); leading axes index the lists, one loss each. ``where`` leaves
items out of their list (padding), as optax's ``where``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import array_api_compat as aac

from losskit._array import Array, first_index, log_sigmoid, sigmoid, to_bool, to_float
from losskit._validation import Interval, Real, check_domain, check_finite, fail, index_text
from losskit.losses._contrastive import _masked_logsumexp
from losskit.losses._conventions import CONVENTIONS
from losskit.losses._core import (
    PerSample,
    count_normaliser,
    loss_function,
    prepare,
    sample_weights,
)
from losskit.losses._embedding import _indicator, hinge
from losskit.losses._spec import Case, LossExplanation

__all__ = ["pairwise_hinge_loss", "pairwise_logistic_loss", "ranking_softmax_loss"]


def _item_mask(func: str, xp: Any, where: Array | None, like: Array,
               check_values: bool) -> Array | None:
    """``where`` as a boolean mask of ``like``'s shape (nonzero: the item counts; checked to
    be 0/1, as a NaN or a fraction is no answer to "is this item in the list")."""
    if where is None:
        return None
    if tuple(where.shape) != tuple(like.shape):
        fail(func, "where", f"has shape {tuple(where.shape)} but y_pred has shape "
             f"{tuple(like.shape)}", "Pass one True/False per item (no broadcasting)")
    if xp.isdtype(where.dtype, "bool"):
        return where
    if check_values:
        check_domain(func, xp, "where", where, Interval(0, 1, integer=True),
                     "Pass True/False (or 1/0) per item: True keeps the item in its list")
    return where != 0


def _check_nonnegative(func: str, xp: Any, name: str, x: Array, fix: str) -> None:
    check_finite(func, xp, name, x)
    bad = x < 0
    if to_bool(func, xp.any(bad)):
        index = first_index(xp, bad)
        fail(func, name, f"has the negative value {to_float(x[index]):g} at index "
             f"{index_text(index)}", fix)


RANKING_SOFTMAX_EXPLANATION = LossExplanation(
    formula="l = −Σ_i y_i log softmax(s)_i over the list's (valid) items",
    distribution="categorical over the list's items: with one relevant item it is the "
                 "likelihood that softmax(s) picks it; graded relevances weight each item's "
                 "log-probability (not normalised, as optax)",
    raw_output="one raw score s_i per item of the list (no activation)",
    gradient="∂l/∂s_i = (Σ_j y_j) softmax(s)_i − y_i",
    when="learning to rank (search, recommendations) from graded or clicked relevance "
         "labels, one list per query; a strong listwise baseline",
    pitfalls=("The relevances are not normalised: a list with larger labels weighs more; "
              "divide them by their sum for a proper cross-entropy between distributions.",
              "A list whose labels are all 0 has loss 0 and no gradient."),
    related=("categorical_cross_entropy", "margin_ranking_loss"),
    activation="none (raw scores); softmax(s) over the list is the chance of each item "
               "being the relevant one",
    case=Case("relevances (1, 0, 0), s = (2, 1, 3)", [1.0, 0.0, 0.0], [2.0, 1.0, 3.0], {},
              vary=0, more_targets=([0.0, 1.0, 2.0],), x_label="score of the first item"),
    classification=True,
)


@loss_function(explanation=RANKING_SOFTMAX_EXPLANATION)
def ranking_softmax_loss(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    where: Any = None,
    item_weight: Any = None,
    sample_weight: Any = None,
    reduction: str = "mean",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Softmax (listwise) ranking loss.

    .. math::

        l = -\sum_{i \in V} y_i a_i \log \frac{e^{s_i}}{\sum_{j \in V} e^{s_j}}

    over the valid items :math:`V` of a list (``where``), with relevance labels :math:`y`,
    item weights :math:`a` (1 if none) and scores :math:`s`. optax's
    ``ranking_softmax_loss(logits, labels, where=, weights=)``: ``item_weight`` is its
    ``weights``; its ``reduce_fn`` (``jnp.mean``, ``jnp.sum``, ``None``) is ``reduction``
    (``"mean"``, ``"sum"``, ``"none"``). The mean is over the lists with at least one valid
    item.

    Parameters
    ----------
    y_true : array_like, same shape as ``y_pred``
        Relevance labels, >= 0 (any real with ``check_values=False``, as optax).
    y_pred : array_like of shape (..., L)
        Scores of the ``L`` items of each list; leading axes index the lists (a 1-D array
        is one list).
    where : array_like of bool, same shape as ``y_pred``, optional
        Which items count (padding is ``False``).
    item_weight : array_like, same shape as ``y_pred``, optional
        A weight per item, multiplying its relevance (optax's ``weights``).
    sample_weight : array_like of shape ``y_pred.shape[:-1]``, optional
        A weight per list.
    reduction : {"mean", "sum", "none"}
    check_values : bool
        Check that everything is finite, the relevances and item weights are >= 0 and that a
        mean has a list with a valid item (one host synchronisation).
    convention : {"losskit", "sklearn", "keras", "torch"}
        Only optax has this loss, and its numbers are losskit's, except that an all-masked
        batch's mean is an error (optax: 0); with ``sample_weight``, ``"keras"`` and
        ``"torch"`` divide the weighted sum by the number of (valid) lists.

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    Examples
    --------
    >>> import losskit as lk
    >>> round(float(lk.ranking_softmax_loss([1.0, 0.0, 0.0], [2.0, 1.0, 3.0])), 3)
    1.408
    >>> [round(g, 3) for g in lk.gradient(lk.ranking_softmax_loss, [1.0, 0.0, 0.0],
    ...                                   [2.0, 1.0, 3.0]).tolist()]
    [-0.755, 0.09, 0.665]
    """
    func = "ranking_softmax_loss"
    inputs = prepare(func, y_true, y_pred, sample_weight,
                     arrays={"where": where, "item_weight": item_weight})
    xp, y, s = inputs.xp, inputs.y_true, inputs.y_pred
    valid = _item_mask(func, xp, inputs.array("where"), s, check_values)
    a = inputs.array("item_weight")
    if a is not None:
        if tuple(a.shape) != tuple(s.shape):
            fail(func, "item_weight", f"has shape {tuple(a.shape)} but y_pred has shape "
                 f"{tuple(s.shape)}", "Pass one weight per item (no broadcasting)")
        a = xp.astype(a, s.dtype)
    if check_values:
        check_finite(func, xp, "y_pred", s)
        fix = "Pass relevances >= 0, or check_values=False to take them as optax does"
        _check_nonnegative(func, xp, "y_true", y, fix)
        if a is not None:
            _check_nonnegative(func, xp, "item_weight", a, fix.replace("relevances",
                                                                        "weights"))
    if a is not None:
        y = y * a
    if valid is None and s.shape[-1]:
        # every item counts: the framework's own log-sum-exp (one kernel, its backward the
        # softmax), no mask (measured at 1e6 float32, lists of 3: torch value + gradient
        # 1.8x -> 1.2x the formula on log_softmax, JAX 1.8x -> 1.0x optax)
        lse = _logsumexp(xp, s)

        def probabilities() -> Array:
            return xp.exp(s - lse[..., None])
    else:
        mask = xp.ones_like(s, dtype=xp.bool) if valid is None else valid
        y = xp.where(mask, y, 0.0)
        lse, p, has_item = _masked_logsumexp(xp, s, mask)

        def probabilities() -> Array:
            return p
    # each term y_i (lse − s_i) >= 0: no cancellation, even for scores near the float limit
    loss = xp.sum(xp.where(y != 0.0, y * (lse[..., None] - s), 0.0), axis=-1)

    def gradient() -> Array:
        return xp.sum(y, axis=-1, keepdims=True) * probabilities() - y

    weight = sample_weights(func, inputs, inputs.sample_weight, tuple(loss.shape),
                            check_values=check_values)
    policy = CONVENTIONS[convention]
    mean_weight = count_normaliser(xp, loss, weight, policy)
    if valid is not None:  # the mean is over the lists with a valid item
        listed = _indicator(xp, has_item, loss)
        if check_values and reduction == "mean" and not to_bool(func, xp.any(has_item)):
            fail(func, "where", "leaves out every item of every list, so the mean over "
                 "lists is undefined", "Keep at least one item, or use reduction='sum' "
                 "(0 here; optax's mean gives 0)")
        if policy.count_mean and weight is not None:
            mean_weight = listed
        else:
            weight = listed if weight is None else listed * weight
    return PerSample(inputs, loss, gradient, weight, mean_weight)



def _logsumexp(xp: Any, s: Array) -> Array:
    """``log Σ exp(s)`` over the last axis (non-empty): PyTorch's and JAX's own, else shifted
    by the row maximum."""
    if aac.is_torch_array(s):
        return s.logsumexp(-1)
    if aac.is_jax_namespace(xp):
        import jax

        return jax.nn.logsumexp(s, axis=-1)
    m = xp.max(s, axis=-1)
    m = xp.where(xp.isfinite(m), m, 0.0)
    return m + xp.log(xp.sum(xp.exp(s - m[..., None]), axis=-1))


# ------------------------------------------------------------------------- pairwise losses


def _pairwise(func: str, y_true: Any, y_pred: Any, where: Any, sample_weight: Any, *,
              term: Callable[[Any, Array], tuple[Array, Callable[[], Array]]], reduction: str,
              check_values: bool, convention: str) -> PerSample:
    """The mean over a list's pairs ``(i, j)`` with ``y_i > y_j`` (both valid) of
    ``term(xp, s_i − s_j) -> (value, derivative)``; the mean over lists is over the lists with a
    pair."""
    inputs = prepare(func, y_true, y_pred, sample_weight, arrays={"where": where})
    xp, y, s = inputs.xp, inputs.y_true, inputs.y_pred
    valid = _item_mask(func, xp, inputs.array("where"), s, check_values)
    if check_values:
        check_finite(func, xp, "y_true", y)
        check_finite(func, xp, "y_pred", s)
    pairs = y[..., :, None] > y[..., None, :]
    if valid is not None:
        pairs = pairs & valid[..., :, None] & valid[..., None, :]
    pair_f = _indicator(xp, pairs, s)
    count = xp.sum(pair_f, axis=(-2, -1))
    has_pair = count > 0
    if check_values and reduction == "mean" and not to_bool(func, xp.any(has_pair)):
        fail(func, "y_true", "has no two (valid) items of different relevance in any list, so "
             "the mean over lists is undefined", "Give some list items of different "
             "relevance, or use reduction='sum' (0 here)")
    value, derivative = term(xp, s[..., :, None] - s[..., None, :])
    safe = xp.where(has_pair, count, 1.0)
    loss = xp.sum(xp.where(pairs, value, 0.0), axis=(-2, -1)) / safe

    def gradient() -> Array:
        d = xp.where(pairs, derivative(), 0.0)
        return (xp.sum(d, axis=-1) - xp.sum(d, axis=-2)) / safe[..., None]

    weight = sample_weights(func, inputs, inputs.sample_weight, tuple(loss.shape),
                            check_values=check_values)
    listed = _indicator(xp, has_pair, loss)
    if CONVENTIONS[convention].count_mean and weight is not None:
        mean_weight = listed
    else:
        weight, mean_weight = (listed if weight is None else listed * weight), None
    return PerSample(inputs, loss, gradient, weight, mean_weight)


PAIRWISE_LOGISTIC_EXPLANATION = LossExplanation(
    formula="l = mean over the pairs with y_i > y_j of log(1 + exp(−(s_i − s_j)))",
    distribution="Bernoulli per pair: P(i ranks above j) = sigmoid(s_i − s_j) (RankNet, "
                 "Burges et al. 2005), the pairs taken as independent",
    raw_output="one raw score s_i per item of the list (no activation)",
    gradient="∂l/∂s_i = −Σ_j σ(−(s_i − s_j)) over the pairs where i should be above, plus the "
             "same over the pairs where it should be below, over the number of pairs",
    when="learning to rank from graded relevances when every correctly ordered pair counts "
         "(RankNet); smoother than the pairwise hinge",
    pitfalls=("Every pair weighs the same: a swap at the top of the list costs what a swap at "
              "the bottom costs (listwise losses and LambdaRank weigh the top more).",
              "The number of pairs grows as the square of the list length."),
    related=("pairwise_hinge_loss", "ranking_softmax_loss", "soft_margin_loss"),
    activation="none (raw scores); sigmoid(s_i − s_j) is the chance that i ranks above j",
    case=Case("relevances (1, 0, 0), s = (0.3, 0, −1)", [1.0, 0.0, 0.0], [0.3, 0.0, -1.0], {},
              vary=0, more_targets=([0.0, 1.0, 2.0],), x_label="score of the first item"),
    classification=True,
)


def _logistic_term(xp: Any, d: Array) -> tuple[Array, Callable[[], Array]]:
    # log(1 + e^{−d}) = −log sigmoid(d), without overflow
    return -log_sigmoid(xp, d), lambda: -sigmoid(xp, -d)


@loss_function(explanation=PAIRWISE_LOGISTIC_EXPLANATION)
def pairwise_logistic_loss(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    where: Any = None,
    sample_weight: Any = None,
    reduction: str = "mean",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Pairwise logistic (RankNet) ranking loss.

    .. math::

        l = \frac{1}{|P|} \sum_{(i, j) \in P} \log\bigl(1 + e^{-(s_i - s_j)}\bigr),
        \qquad P = \{(i, j): y_i > y_j\}

    over the valid items of each list (``where``). No installed framework has it (rax's
    ``pairwise_logistic_loss`` is the same pairs' sum); a list without a pair has loss 0 and
    is left out of the mean.

    Parameters
    ----------
    y_true : array_like, same shape as ``y_pred``
        Relevance labels (only their order matters).
    y_pred : array_like of shape (..., L)
        Scores; leading axes index the lists.
    where : array_like of bool, same shape as ``y_pred``, optional
    sample_weight : array_like of shape ``y_pred.shape[:-1]``, optional
    reduction : {"mean", "sum", "none"}
    check_values : bool
    convention : {"losskit", "sklearn", "keras", "torch"}
        With ``sample_weight``, ``"keras"`` and ``"torch"`` divide by the number of lists.

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    Examples
    --------
    >>> import losskit as lk
    >>> round(float(lk.pairwise_logistic_loss([1.0, 0.0, 0.0], [0.3, 0.0, -1.0])), 6)
    0.397682
    """
    return _pairwise("pairwise_logistic_loss", y_true, y_pred, where, sample_weight,
                     term=_logistic_term, reduction=reduction,
                     check_values=check_values, convention=convention)


PAIRWISE_HINGE_EXPLANATION = LossExplanation(
    formula="l = mean over the pairs with y_i > y_j of max(0, margin − (s_i − s_j))",
    distribution="none: a ranking SVM (Herbrich et al., Joachims), not a likelihood",
    raw_output="one raw score s_i per item of the list (no activation)",
    gradient="each pair inside the margin adds −1 to ∂l/∂s_i and +1 to ∂l/∂s_j, over the "
             "number of pairs; pairs beyond the margin add nothing",
    when="learning to rank from graded relevances with a large-margin objective (RankSVM); "
         "margin_ranking_loss when the pairs come ready-made",
    pitfalls=("Pairs already ordered by the margin give no gradient: late in training only "
              "the hard pairs teach.",
              "The number of pairs grows as the square of the list length."),
    related=("pairwise_logistic_loss", "margin_ranking_loss", "ranking_softmax_loss"),
    activation="none (raw scores); only their differences within a list count",
    case=Case("relevances (1, 0, 0), s = (0.3, 0, −1)", [1.0, 0.0, 0.0], [0.3, 0.0, -1.0], {},
              vary=0, more_targets=([0.0, 1.0, 2.0],), x_label="score of the first item"),
    classification=True,
)


@loss_function(margin=Real(-math.inf, math.inf, closed="neither"),
               explanation=PAIRWISE_HINGE_EXPLANATION)
def pairwise_hinge_loss(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    margin: float = 1.0,
    where: Any = None,
    sample_weight: Any = None,
    reduction: str = "mean",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Pairwise hinge (RankSVM) ranking loss.

    .. math::

        l = \frac{1}{|P|} \sum_{(i, j) \in P} \max\bigl(0,\; m - (s_i - s_j)\bigr),
        \qquad P = \{(i, j): y_i > y_j\}

    over the valid items of each list (``where``), with the margin :math:`m`:
    :func:`margin_ranking_loss` over every pair a list's relevances order. No installed
    framework has it (rax's ``pairwise_hinge_loss`` is the same pairs' sum); a list without a
    pair has loss 0 and is left out of the mean.

    Parameters
    ----------
    y_true : array_like, same shape as ``y_pred``
        Relevance labels (only their order matters).
    y_pred : array_like of shape (..., L)
        Scores; leading axes index the lists.
    margin : float
    where : array_like of bool, same shape as ``y_pred``, optional
    sample_weight : array_like of shape ``y_pred.shape[:-1]``, optional
    reduction : {"mean", "sum", "none"}
    check_values : bool
    convention : {"losskit", "sklearn", "keras", "torch"}
        With ``sample_weight``, ``"keras"`` and ``"torch"`` divide by the number of lists.

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    Examples
    --------
    >>> import losskit as lk
    >>> round(float(lk.pairwise_hinge_loss([1.0, 0.0, 0.0], [0.3, 0.0, -1.0])), 6)
    0.35
    """

    def term(xp: Any, d: Array) -> tuple[Array, Callable[[], Array]]:
        gap = margin - d
        if aac.is_jax_namespace(xp):
            import jax

            # jax.nn.relu's derivative (a where) rather than maximum's (measured at 1e6
            # float32, lists of 3: jit(value_and_grad) 53 -> 24 ms; the reference 18)
            return jax.nn.relu(gap), lambda: -_indicator(xp, gap > 0.0, d)
        return hinge(xp, gap), lambda: -_indicator(xp, gap > 0.0, d)

    return _pairwise("pairwise_hinge_loss", y_true, y_pred, where, sample_weight, term=term,
                     reduction=reduction, check_values=check_values, convention=convention)
