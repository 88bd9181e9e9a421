"""Margin and embedding losses on raw scores and vectors: ranking pairs, hinge embedding, soft
margin, cosine embedding, triplets and the cosine-similarity loss.

None of them is a likelihood: each asks scores or embeddings to keep a margin (or an angle)
between what should be near and what should be far. PyTorch's criteria of the same names take
the two or three inputs as separate tensors; losskit takes them **stacked** in ``y_pred`` (a
pair of scores on the last axis, a pair or triplet of vectors on the second-to-last axis), so
that :func:`losskit.gradient` returns the gradient for every input at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import array_api_compat as aac
import numpy as np

from losskit import _torch
from losskit._array import Array, first_index, log_sigmoid, sigmoid, to_bool, to_float
from losskit._validation import Boolean, Constraint, Integer, Real, check_finite, fail, index_text
from losskit.losses._core import (
    Inputs,
    PerSample,
    loss_function,
    mean_over_outputs,
    prepare,
    weighted_parts,
)
from losskit.losses._elementwise import per_sample
from losskit.losses._spec import Case, LossExplanation

__all__ = [
    "cosine_embedding_loss",
    "cosine_similarity_loss",
    "hinge_embedding_loss",
    "margin_ranking_loss",
    "soft_margin_loss",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
]

#: PyTorch's guard against a zero vector in ``cosine_embedding_loss`` (added to |x|²)
_TORCH_COSINE_EPS = 1e-12
#: Keras' ``l2_normalize`` floor on the norm (1e-12 on the squared norm)
_KERAS_NORM_FLOOR = 1e-6
_ANY_REAL = Real(-math.inf, math.inf, closed="neither")


def _indicator(xp: Any, mask: Array, like: Array) -> Array:
    """``mask`` as 0/1 in ``like``'s dtype (``where`` of two Python numbers is not portable)."""
    return xp.astype(mask, like.dtype)


def hinge(xp: Any, x: Array) -> Array:
    """``max(x, 0)``; on torch tensors ``torch.relu`` (measured at 1e6 float32: the backward
    of ``maximum`` with 0 took 69 ms a call, relu's 2 ms), whose derivative 0 at ``x = 0``
    is the one losskit's analytic gradients take (``maximum`` splits it in halves there)."""
    if aac.is_torch_array(x):
        return x.relu()
    return xp.maximum(x, 0.0)


def check_signs(func: str, xp: Any, y: Array) -> None:
    """Targets are -1 or +1 (the error names the first other value)."""
    bad = xp.abs(y) != 1.0  # NaN too; two passes where (y == 1) | (y == -1) took four
    if to_bool(func, xp.any(bad)):
        index = first_index(xp, bad)
        where = index_text(index)
        fail(func, "y_true", f"has the value {to_float(y[index]):g} at index {where}, not -1 "
             "or +1", "Code the targets as +1 and -1 (map 0/1 labels with 2 * y - 1); "
             "check_values=False takes any real target as PyTorch does")


def _shape(value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        return tuple(getattr(value, "shape", None) or np.shape(value))
    except (ValueError, TypeError):
        return None  # ragged or not an array: prepare names the problem


def stacked(func: str, y_true: Any, y_pred: Any, sample_weight: Any, *, count: int,
            what: str, vectors: bool, check_values: bool) -> tuple[Inputs, Array | None]:
    """``(inputs, targets)`` for a ``y_pred`` that stacks ``count`` inputs on axis -1
    (scores) or -2 (vectors); the targets (``None`` if ``y_true`` is) have ``y_pred``'s shape
    less the stacked axes, in the compute dtype. ``inputs.sample_weight`` is the sample weights."""
    axis = -2 if vectors else -1
    shape = _shape(y_pred)
    if shape is not None and (len(shape) < -axis or shape[axis] != count):
        fail(func, "y_pred", f"has shape {shape} but holds {what} stacked on axis {axis}, "
             f"which must have length {count}",
             f"Stack the inputs on that axis, e.g. numpy.stack([...], axis={axis})")
    # y_pred also stands in for y_true: the targets have their own shape
    inputs = prepare(func, y_pred, y_pred, sample_weight, names=("y_pred", "y_pred"),
                     arrays={"y_true": y_true})
    xp, y = inputs.xp, inputs.array("y_true")
    if y is not None:
        expected = tuple(inputs.y_pred.shape[:axis])
        if tuple(y.shape) != expected:
            fail(func, "y_true", f"has shape {tuple(y.shape)} but y_pred of shape "
                 f"{tuple(inputs.y_pred.shape)} needs one target per stacked "
                 f"{'pair' if count == 2 else 'group'}: shape {expected}",
                 "Pass one target per stacked input (no broadcasting)")
        if not xp.isdtype(y.dtype, ("real floating", "integral")):
            fail(func, "y_true", f"has dtype {y.dtype}", "Pass real-valued targets", TypeError)
        y = xp.astype(y, inputs.y_pred.dtype)
        if check_values:
            check_finite(func, xp, "y_true", y)
    if check_values:
        check_finite(func, xp, "y_pred", inputs.y_pred)
    return inputs, y


# ------------------------------------------------------------------------------ ranking pairs

MARGIN_RANKING_EXPLANATION = LossExplanation(
    formula="l = max(0, −y (s₁ − s₂) + margin), y = +1 when s₁ should rank above s₂, −1 below",
    distribution="none: a ranking hinge (a pairwise SVM), not a likelihood",
    raw_output="two raw scores per pair (s₁, s₂), stacked on the last axis",
    gradient="∂l/∂s₁ = −y and ∂l/∂s₂ = +y while the pair violates the margin, 0 beyond it",
    when="learning to rank from preference pairs (search results, recommendations) when only "
         "the order of the scores matters",
    pitfalls=("With margin = 0 a tie already costs nothing: any constant score is a minimum; "
              "use a positive margin.",
              "Pairs that already keep the margin give no gradient at all, so late in "
              "training only the hard pairs teach the model."),
    related=("hinge_loss", "soft_margin_loss"),
    activation="none (raw scores s₁, s₂ stacked on the last axis); only their difference counts",
    case=Case("y = 1, s₁ = 0.2, s₂ = 0.5, margin = 0.1", 1.0, [0.2, 0.5],
              {"margin": 0.1}, vary=0, more_targets=(-1.0,), x_label="score s₁"),
    classification=True,
)


@loss_function(margin=_ANY_REAL, explanation=MARGIN_RANKING_EXPLANATION)
def margin_ranking_loss(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    margin: float = 0.0,
    sample_weight: Any = None,
    reduction: str = "mean",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Margin ranking loss: the hinge on the difference of two scores.

    .. math::

        l_{ij} = \max\bigl(0,\; -y_{ij}\,(s_{ij1} - s_{ij2}) + m\bigr), \qquad
        l_i = \frac1k \sum_j l_{ij}, \qquad L = \frac{\sum_i w_i l_i}{\sum_i w_i}

    with :math:`y = +1` when the first score should be the larger and :math:`-1` when the
    second should, and the margin :math:`m`. PyTorch's ``margin_ranking_loss(x1, x2, y)``
    with ``y_pred = numpy.stack([x1, x2], axis=-1)``.

    Parameters
    ----------
    y_true : array_like of shape ``y_pred.shape[:-1]``
        -1 or +1 (any real value with ``check_values=False``, as PyTorch accepts).
    y_pred : array_like of shape (..., 2)
        The two scores of each pair on the last axis. 1-D targets are one pair each; with more
        dimensions the last axis of the targets holds a sample's ``k`` pairs, averaged.
    margin : float
    sample_weight : array_like of per-sample shape, optional
    reduction : {"mean", "sum", "none"}
    check_values : bool
        Check the targets are ±1 and everything is finite (one host synchronisation).
    convention : {"losskit", "sklearn", "keras", "torch"}
        With ``sample_weight``, ``"keras"`` and ``"torch"`` divide the weighted sum by the
        number of samples (PyTorch's idiom ``(w * loss).mean()``).

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    Examples
    --------
    >>> import losskit as lk
    >>> float(lk.margin_ranking_loss([1.0, -1.0], [[0.2, 0.5], [0.0, 1.0]], margin=0.1))
    0.2
    >>> lk.gradient(lk.margin_ranking_loss, [1.0, -1.0], [[0.2, 0.5], [0.0, 1.0]],
    ...             margin=0.1).tolist()
    [[-0.5, 0.5], [0.0, 0.0]]
    """
    func = "margin_ranking_loss"
    inputs, y = stacked(func, y_true, y_pred, sample_weight, count=2,
                        what="the two scores of each pair", vectors=False,
                        check_values=check_values)
    xp = inputs.xp
    if check_values:
        check_signs(func, xp, y)
    gap = margin - y * (inputs.y_pred[..., 0] - inputs.y_pred[..., 1])
    loss, k = mean_over_outputs(xp, hinge(xp, gap))

    def gradient() -> Array:
        g = xp.where(gap > 0.0, -y, 0.0) / k
        return xp.stack([g, -g], axis=-1)

    return weighted_parts(func, inputs, loss, gradient, inputs.sample_weight,
                          check_values=check_values, convention=convention)


# ----------------------------------------------------------------------------- hinge embedding

HINGE_EMBEDDING_EXPLANATION = LossExplanation(
    formula="l = x for y = +1 (similar pair), max(0, margin − x) for y = −1 (dissimilar pair)",
    distribution="none: a contrastive hinge on a distance, not a likelihood",
    raw_output="a distance x ≥ 0 between two embeddings (e.g. the L1 or L2 distance)",
    gradient="∂l/∂x = 1 for similar pairs; −1 for dissimilar pairs closer than the margin, "
             "else 0",
    when="metric learning and semi-supervised embeddings from pairs labelled similar or "
         "dissimilar, when the network outputs their distance",
    pitfalls=("x must be a distance: a negative x for a similar pair lowers the loss without "
              "bound.",
              "Dissimilar pairs beyond the margin give no gradient; set the margin on the "
              "scale of the distances."),
    related=("cosine_embedding_loss", "triplet_margin_loss"),
    activation="none (a non-negative distance x between the pair's embeddings)",
    case=Case("y = −1, x = 0.4, margin = 1", -1.0, 0.4, {}, grid=(0.0, 2.0), more_targets=(1.0,),
              x_label="distance x"),
)


@loss_function(margin=_ANY_REAL, explanation=HINGE_EMBEDDING_EXPLANATION)
def hinge_embedding_loss(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    margin: float = 1.0,
    sample_weight: Any = None,
    reduction: str = "mean",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Hinge embedding loss on distances between pairs.

    .. math::

        l_{ij} = \begin{cases} x_{ij} & y_{ij} = +1 \\
                               \max(0,\; m - x_{ij}) & y_{ij} = -1 \end{cases}, \qquad
        l_i = \frac1k \sum_j l_{ij}

    PyTorch's ``hinge_embedding_loss``: :math:`x` is a distance between two inputs, pulled
    to 0 for similar pairs and pushed beyond the margin :math:`m` for dissimilar ones. With
    ``check_values=False`` any target is accepted and PyTorch's rule applies: the first
    term wherever :math:`y \ne -1`, the second wherever :math:`y \ne 1`.

    Parameters
    ----------
    y_true : array_like, same shape as ``y_pred``
        -1 or +1.
    y_pred : array_like, shape (n,) or (n, ..., k)
        Distances; the last axis of a multi-dimensional array holds ``k`` outputs, averaged.
    margin : float
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
    >>> lk.hinge_embedding_loss([1.0, -1.0, -1.0], [0.3, 0.4, 2.0], reduction="none").tolist()
    [0.3, 0.6, 0.0]
    """
    func = "hinge_embedding_loss"
    inputs = prepare(func, y_true, y_pred, sample_weight)
    xp, y, x = inputs.xp, inputs.y_true, inputs.y_pred
    if check_values:
        check_finite(func, xp, "y_pred", x)
        check_signs(func, xp, y)
    similar, dissimilar = y != -1.0, y != 1.0
    gap = margin - x
    elementwise = xp.where(similar, x, 0.0) + xp.where(dissimilar, hinge(xp, gap), 0.0)

    def gradient() -> Array:
        return _indicator(xp, similar, x) - _indicator(xp, dissimilar & (gap > 0.0), x)

    return per_sample(func, inputs, elementwise, gradient, inputs.sample_weight,
                      check_values=check_values, convention=convention)


# --------------------------------------------------------------------------------- soft margin

SOFT_MARGIN_EXPLANATION = LossExplanation(
    formula="l = log(1 + exp(−y s)), y ∈ {−1, +1}",
    distribution="Bernoulli: P(y = +1) = sigmoid(s); the logistic loss with ±1 labels",
    raw_output="a raw score s (the logit of P(y = +1))",
    gradient="∂l/∂s = −y · sigmoid(−y s)",
    when="binary classification with ±1 labels (the logistic regression / soft-margin SVM "
         "loss); equal to binary_cross_entropy(from_logits=True) on 0/1 labels",
    pitfalls=("It equals binary cross-entropy from logits: don't add a sigmoid before it.",
              "Labels must be ±1; 0/1 labels turn the negative class into a constant loss."),
    related=("binary_cross_entropy", "hinge_loss"),
    case=Case("y = 1, s = 0.5", 1.0, 0.5, {}, more_targets=(-1.0,), x_label="score s"),
    activation_from="bernoulli",
    activation="none (raw score); sigmoid(s) is P(y = +1)",
    classification=True,
)


@loss_function(explanation=SOFT_MARGIN_EXPLANATION)
def soft_margin_loss(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    sample_weight: Any = None,
    reduction: str = "mean",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Soft margin (logistic) loss with ±1 labels.

    .. math::

        l_{ij} = \log\bigl(1 + e^{-y_{ij} s_{ij}}\bigr), \qquad l_i = \frac1k \sum_j l_{ij}

    the negative log-likelihood of :math:`P(y = \pm 1) = \sigma(\pm s)`: the same number as
    :func:`binary_cross_entropy` with ``from_logits=True`` on the labels :math:`(y + 1)/2`.
    PyTorch's ``soft_margin_loss``; computed as :math:`-\log\sigma(ys)`, finite for any finite
    score (PyTorch's ``log1p(exp(-ys))`` overflows to ``inf`` beyond :math:`-ys \approx 710`).

    Parameters
    ----------
    y_true : array_like, same shape as ``y_pred``
        -1 or +1 (any real value with ``check_values=False``).
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
    >>> round(float(lk.soft_margin_loss([1.0, -1.0], [0.0, 2.0])), 6)
    1.410038
    >>> [round(g, 6) for g in lk.gradient(lk.soft_margin_loss, [1.0], [0.0]).tolist()]
    [-0.5]
    """
    func = "soft_margin_loss"
    inputs = prepare(func, y_true, y_pred, sample_weight)
    xp, y, s = inputs.xp, inputs.y_true, inputs.y_pred
    if check_values:
        check_finite(func, xp, "y_pred", s)
        check_signs(func, xp, y)
    margin = y * s

    def gradient() -> Array:
        return -y * sigmoid(xp, -margin)

    return per_sample(func, inputs, -log_sigmoid(xp, margin), gradient, inputs.sample_weight,
                      check_values=check_values, convention=convention)


# ---------------------------------------------------------------------------- cosine embedding

COSINE_EMBEDDING_EXPLANATION = LossExplanation(
    formula="l = 1 − cos(x₁, x₂) for y = +1, max(0, cos(x₁, x₂) − margin) for y = −1",
    distribution="none: an angular contrastive loss, not a likelihood",
    raw_output="two embedding vectors (x₁, x₂) per pair, stacked on the second-to-last axis",
    gradient="∂cos/∂x₁ = x₂/(|x₁||x₂|) − cos · x₁/|x₁|², times −1 (similar) or +1 (dissimilar "
             "and above the margin)",
    when="learning embeddings compared by angle (text and image retrieval, face "
         "verification) from pairs labelled similar or dissimilar",
    pitfalls=("The length of the embeddings does not matter, so it drifts freely; normalise "
              "them where the length would mean something.",
              "A margin of 0 pushes dissimilar pairs only to orthogonal; PyTorch suggests 0 "
              "to 0.5."),
    related=("hinge_embedding_loss", "cosine_similarity_loss", "triplet_margin_loss"),
    activation="none (raw embedding vectors x₁, x₂ stacked on axis −2); the cosine normalises them",
    case=Case("y = 1, x₁ = (1, 0), x₂ = (1, 1)", 1.0, [[1.0, 0.0], [1.0, 1.0]], {},
              vary=0, more_targets=(-1.0,), x_label="first coordinate of x₁"),
)


def _cosine_parts(xp: Any, x1: Array, x2: Array) -> tuple[Array, Array, Array, Array]:
    """PyTorch's cosine: ``x₁·x₂ / sqrt((|x₁|² + ε)(|x₂|² + ε))``; returns it with the
    squared norms (ε added) and the denominator."""
    m1 = _dot(xp, x1, x1) + _TORCH_COSINE_EPS
    m2 = _dot(xp, x2, x2) + _TORCH_COSINE_EPS
    denom = xp.sqrt(m1 * m2)
    return _dot(xp, x1, x2) / denom, m1, m2, denom


@loss_function(margin=Real(-1.0, 1.0), explanation=COSINE_EMBEDDING_EXPLANATION)
def cosine_embedding_loss(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    margin: float = 0.0,
    sample_weight: Any = None,
    reduction: str = "mean",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Cosine embedding loss on pairs of vectors.

    .. math::

        c = \frac{x_1 \cdot x_2}{\sqrt{(|x_1|^2 + \epsilon)(|x_2|^2 + \epsilon)}}, \qquad
        l = \begin{cases} 1 - c & y = +1 \\ \max(0,\; c - m) & y = -1 \end{cases}

    with :math:`\epsilon = 10^{-12}` (PyTorch's guard: a zero vector has cosine 0 with
    everything). PyTorch's ``cosine_embedding_loss(x1, x2, y)`` with
    ``y_pred = numpy.stack([x1, x2], axis=-2)``. With ``check_values=False`` a target other
    than ±1 gives 0, as in PyTorch.

    Parameters
    ----------
    y_true : array_like of shape ``y_pred.shape[:-2]``
        -1 or +1 per pair.
    y_pred : array_like of shape (..., 2, D)
        The two vectors of each pair on the second-to-last axis. One pair per target for 1-D
        targets; with more dimensions the targets' last axis holds ``k`` pairs, averaged.
    margin : float in [-1, 1]
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
    >>> pairs = [[[1.0, 0.0], [1.0, 1.0]], [[1.0, 0.0], [0.0, 2.0]]]
    >>> [round(v, 4) for v in lk.cosine_embedding_loss([1, -1], pairs, margin=-0.5,
    ...                                                reduction="none").tolist()]
    [0.2929, 0.5]
    """
    func = "cosine_embedding_loss"
    inputs, y = stacked(func, y_true, y_pred, sample_weight, count=2,
                        what="the two vectors of each pair", vectors=True,
                        check_values=check_values)
    xp = inputs.xp
    if check_values:
        check_signs(func, xp, y)
    x1, x2 = inputs.y_pred[..., 0, :], inputs.y_pred[..., 1, :]
    cos, m1, m2, denom = _cosine_parts(xp, x1, x2)
    similar, dissimilar = y == 1.0, y == -1.0
    over = cos - margin
    elementwise = xp.where(similar, 1.0 - cos, 0.0) + \
        xp.where(dissimilar, hinge(xp, over), 0.0)
    loss, k = mean_over_outputs(xp, elementwise)

    def gradient() -> Array:
        dcos = (_indicator(xp, dissimilar & (over > 0.0), cos)
                - _indicator(xp, similar, cos))[..., None] / k
        c, d = cos[..., None], denom[..., None]
        g1 = dcos * (x2 / d - c * x1 / m1[..., None])
        g2 = dcos * (x1 / d - c * x2 / m2[..., None])
        return xp.stack([g1, g2], axis=-2)

    return weighted_parts(func, inputs, loss, gradient, inputs.sample_weight,
                          check_values=check_values, convention=convention)


# ------------------------------------------------------------------------------------ triplets

TRIPLET_EXPLANATION = LossExplanation(
    formula="l = max(0, d(a, p) − d(a, n) + margin), d(u, v) = ‖u − v + ε‖_p",
    distribution="none: a metric-learning hinge on distances, not a likelihood",
    raw_output="three embeddings per triplet (anchor a, positive p, negative n), stacked on "
               "the second-to-last axis",
    gradient="while the triplet violates the margin: ∂l/∂a = ∇d(a, p) − ∇d(a, n), "
             "∂l/∂p = −∇d(a, p), ∂l/∂n = ∇d(a, n), with ∇‖u‖₂ = u/‖u‖₂",
    when="learning an embedding in which items of the same identity are closer than items of "
         "different ones (face recognition, retrieval)",
    pitfalls=("Random triplets are mostly easy and give no gradient; mine hard or semi-hard "
              "negatives.",
              "The embeddings can shrink or grow to meet the margin; normalise them to fix "
              "the scale of the margin."),
    related=("cosine_embedding_loss", "hinge_embedding_loss"),
    activation="none (raw embedding vectors a, p, n stacked on axis −2)",
    case=Case("a = (0, 0), p = (1, 0), n = (0, 1.5)", None,
              [[0.0, 0.0], [1.0, 0.0], [0.0, 1.5]], {}, vary=0,
              x_label="first coordinate of a"),
)


def _distance(xp: Any, u: Array, v: Array, p: float, eps: float
              ) -> tuple[Array, Callable[[], Array]]:
    """PyTorch's ``pairwise_distance``: ``‖u − v + ε‖_p`` and its gradient in ``u`` (a closure:
    a value alone does not form it; measured at 1e6 float32, torch value 2.6x -> 1.2x
    PyTorch's)."""
    diff = u - v + eps
    if aac.is_torch_array(diff):
        # PyTorch's own norm: one kernel, and the derivative 0 at a zero difference
        norm = diff.norm(p=p, dim=-1)
    elif p == 2.0:
        norm = xp.sqrt(_dot(xp, diff, diff))
    else:
        norm = xp.sum(xp.abs(diff)**p, axis=-1) ** (1.0 / p)

    def gradient() -> Array:
        safe = xp.where(norm > 0.0, norm, 1.0)[..., None]
        if p == 2.0:
            grad = diff / safe
        else:
            grad = xp.sign(diff) * (xp.abs(diff) / safe) ** (p - 1.0)
        return xp.where((norm > 0.0)[..., None], grad, 0.0)

    return norm, gradient


@loss_function(margin=Real(0.0, math.inf, closed="left"),
               p=Real(1.0, math.inf, closed="left"), eps=Real(0.0, math.inf, closed="left"),
               swap=Boolean(), explanation=TRIPLET_EXPLANATION)
def triplet_margin_loss(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    margin: float = 1.0,
    p: float = 2.0,
    eps: float = 1e-6,
    swap: bool = False,
    sample_weight: Any = None,
    reduction: str = "mean",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Triplet margin loss: an anchor closer to its positive than to its negative.

    .. math::

        l = \max\bigl(0,\; d(a, p) - d(a, n) + m\bigr), \qquad
        d(u, v) = \lVert u - v + \epsilon \rVert_p

    PyTorch's ``triplet_margin_loss(anchor, positive, negative)`` with
    ``y_pred = numpy.stack([anchor, positive, negative], axis=-2)``; ``swap=True`` uses
    :math:`\min(d(a, n), d(p, n))` for the negative distance (Balntas et al.). A triplet holds
    its own supervision: ``y_true`` must be ``None``.

    Parameters
    ----------
    y_true : None
    y_pred : array_like of shape (..., 3, D)
        Anchor, positive and negative embeddings on the second-to-last axis. The leading axes
        index the triplets (the last of several leading axes is averaged per sample).
    margin : float >= 0
    p : float >= 1
        The norm's degree.
    eps : float >= 0
        Added to the differences, as PyTorch does.
    swap : bool
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
    >>> triplets = [[[0.0, 0.0], [1.0, 0.0], [0.0, 1.5]]]
    >>> round(float(lk.triplet_margin_loss(None, triplets, eps=0.0)), 6)
    0.5
    >>> (lk.gradient(lk.triplet_margin_loss, None, triplets, eps=0.0) + 0.0).tolist()
    [[[-1.0, 1.0], [1.0, 0.0], [0.0, -1.0]]]
    """
    return _triplet_parts("triplet_margin_loss", y_true, y_pred, sample_weight,
                          _minkowski(p, eps), margin=margin, swap=swap,
                          check_values=check_values, convention=convention)


#: the pullback of one distance: ``() -> (∂d/∂u, ∂d/∂v)``, ``None`` where the derivative is
#: unknown (a user's callable); called only for a gradient
Pullback = Callable[[], tuple[Array, Array]] | None
#: a distance on a stack of triplets ``x`` (..., 3, D): ``(xp, x, pairs) -> pair``, where
#: ``pair(i, j) -> (d, pullback)`` is the distance of the vectors ``x[..., i, :]`` and
#: ``x[..., j, :]`` for ``(i, j)`` in ``pairs`` (a distance may compute them together)
Distance = Callable[[Any, Array, list[tuple[int, int]]],
                    Callable[[int, int], tuple[Array, Pullback]]]


def _minkowski(p: float, eps: float) -> Distance:
    """PyTorch's ``PairwiseDistance(p, eps)`` as a :data:`Distance`."""

    def prepare(xp: Any, x: Array, pairs: list[tuple[int, int]]
                ) -> Callable[[int, int], tuple[Array, Pullback]]:
        def pair(i: int, j: int) -> tuple[Array, Pullback]:
            d, g = _distance(xp, x[..., i, :], x[..., j, :], p, eps)

            def pullback() -> tuple[Array, Array]:
                gu = g()
                return gu, -gu

            return d, pullback

        return pair

    return prepare


def _triplet_parts(func: str, y_true: Any, y_pred: Any, sample_weight: Any,
                   distance: Distance, *, margin: Any, swap: bool, check_values: bool,
                   convention: str) -> PerSample:
    """The triplet hinge ``max(0, d(a, p) − d(a, n) + margin)`` of stacked triplets, for any
    distance (with ``swap``, ``d(a, n)`` is ``min(d(a, n), d(p, n))``)."""
    if y_true is not None:
        fail(func, "y_true", f"is {type(y_true).__name__}, but a triplet holds its own "
             "supervision", "Pass None as y_true and the stacked (anchor, positive, negative) "
             "as y_pred", TypeError)
    inputs, _ = stacked(func, None, y_pred, sample_weight, count=3,
                        what="(anchor, positive, negative)", vectors=True,
                        check_values=check_values)
    xp = inputs.xp
    pair = distance(xp, inputs.y_pred, [(0, 1), (0, 2), (1, 2)] if swap else [(0, 1), (0, 2)])
    d_ap, ap = pair(0, 1)
    d_an, an = pair(0, 2)
    swapped = pn = None
    if swap:
        d_pn, pn = pair(1, 2)
        swapped = d_pn < d_an
        d_an = xp.where(swapped, d_pn, d_an)
    gap = d_ap - d_an + margin
    loss, k = mean_over_outputs(xp, hinge(xp, gap))

    def gradient() -> Array:
        active = _indicator(xp, gap > 0.0, gap)[..., None] / k
        (ap_a, ap_p), (an_a, an_n) = ap(), an()  # type: ignore[misc]
        if swapped is None:
            g_a, g_p, g_n = ap_a - an_a, ap_p, -an_n
        else:
            pn_p, pn_n = pn()  # type: ignore[misc]
            sw = _indicator(xp, swapped, gap)[..., None]
            g_a = ap_a - (1.0 - sw) * an_a
            g_p = ap_p - sw * pn_p
            g_n = -(1.0 - sw) * an_n - sw * pn_n
        return xp.stack([active * g_a, active * g_p, active * g_n], axis=-2)

    return weighted_parts(func, inputs, loss, gradient, inputs.sample_weight,
                          check_values=check_values, convention=convention,
                          nan_hint="Its distances overflow (inf - inf) or are NaN: scale the "
                                   "embeddings down (or normalise them), and check a "
                                   "distance_function")


# ------------------------------------------------------------------ triplets, any distance

#: PyTorch's ``cosine_similarity`` floor on each vector's norm
_TORCH_COSINE_FLOOR = 1e-8


def _cosine_distance(xp: Any, x: Array, pairs: list[tuple[int, int]]
                     ) -> Callable[[int, int], tuple[Array, Pullback]]:
    """PyTorch's ``1 − cosine_similarity(u, v)``: each vector over ``max(|x|, 1e-8)``; the
    three cosines of a triplet from one pass (:func:`cosines`)."""
    vectors = [x[..., i, :] for i in range(3)]
    cos = dict(zip(pairs, cosines(xp, vectors, pairs, _TORCH_COSINE_FLOOR), strict=True))

    def pair(i: int, j: int) -> tuple[Array, Pullback]:

        def pullback() -> tuple[Array, Array]:
            ui, norm_i, free_i = normalised(xp, vectors[i], _TORCH_COSINE_FLOOR)
            uj, norm_j, free_j = normalised(xp, vectors[j], _TORCH_COSINE_FLOOR)
            return (unit_pullback(xp, -uj, ui, norm_i, free_i),
                    unit_pullback(xp, -ui, uj, norm_j, free_j))

        return 1.0 - cos[(i, j)], pullback

    return pair


def _squared_euclidean(xp: Any, x: Array, pairs: list[tuple[int, int]]
                       ) -> Callable[[int, int], tuple[Array, Pullback]]:
    def pair(i: int, j: int) -> tuple[Array, Pullback]:
        diff = x[..., i, :] - x[..., j, :]
        return _dot(xp, diff, diff), lambda: (2.0 * diff, -2.0 * diff)

    return pair


#: the named distances of ``triplet_margin_with_distance_loss``
DISTANCES: dict[str, Distance] = {
    # PyTorch's default, ``PairwiseDistance()``: ‖u − v + 1e-6‖₂
    "euclidean": _minkowski(2.0, 1e-6),
    "manhattan": _minkowski(1.0, 1e-6),
    "squared_euclidean": _squared_euclidean,
    "cosine": _cosine_distance,
}


class _DistanceFunction(Constraint):
    """``None``, a named distance or a callable ``(u, v) -> distances``."""

    description = f"None, one of {', '.join(map(repr, DISTANCES))}, or a callable (u, v) -> d"
    invalid = ("hamming", 3)

    def type_ok(self, value: Any) -> bool:
        return value is None or isinstance(value, str) or callable(value)

    def value_ok(self, value: Any) -> bool:
        return not isinstance(value, str) or value in DISTANCES


def _user_distance(func: str, fn: Callable[[Array, Array], Array]) -> Distance:
    """A user's distance callable, its result checked for shape; no known derivative."""

    def prepare(xp: Any, x: Array, pairs: list[tuple[int, int]]
                ) -> Callable[[int, int], tuple[Array, Pullback]]:
        def pair(i: int, j: int) -> tuple[Array, Pullback]:
            u = x[..., i, :]
            d = fn(u, x[..., j, :])
            if tuple(getattr(d, "shape", ())) != tuple(u.shape[:-1]):
                fail(func, "distance_function", f"returned shape "
                     f"{tuple(getattr(d, 'shape', ()))} for vectors of shape {tuple(u.shape)}",
                     f"Return one distance per pair of vectors, shape {tuple(u.shape[:-1])}")
            return d, None

        return pair

    return prepare


TRIPLET_DISTANCE_EXPLANATION = LossExplanation(
    formula="l = max(0, d(a, p) − d(a, n) + margin) for a distance d (Euclidean, cosine "
            "1 − cos, Manhattan, squared Euclidean, or your own)",
    distribution="none: a metric-learning hinge on distances, not a likelihood",
    raw_output="three embeddings per triplet (anchor a, positive p, negative n), stacked on "
               "the second-to-last axis",
    gradient="while the triplet violates the margin: ∂l/∂a = ∂d(a, p)/∂a − ∂d(a, n)/∂a, "
             "∂l/∂p = ∂d(a, p)/∂p, ∂l/∂n = −∂d(a, n)/∂n (a callable distance: autograd only)",
    when="triplet training when the embedding is compared by angle (cosine) or another "
         "distance than the plain Euclidean one",
    pitfalls=("The margin is on the distance's scale: a cosine distance lies in [0, 2], a "
              "squared Euclidean one grows with the square of the embedding's scale.",
              "Random triplets are mostly easy and give no gradient; mine hard negatives."),
    related=("triplet_margin_loss", "cosine_embedding_loss"),
    activation="none (raw embedding vectors a, p, n stacked on axis −2)",
    case=Case("a = (x, 1), p = (1, 0.5), n = (−1, 1), cosine distance", None,
              [[0.5, 1.0], [1.0, 0.5], [-1.0, 1.0]], {"distance_function": "cosine"},
              vary=0, x_label="first coordinate of a"),
)


@loss_function(distance_function=_DistanceFunction(),
               margin=Real(0.0, math.inf, closed="neither"), swap=Boolean(),
               explanation=TRIPLET_DISTANCE_EXPLANATION)
def triplet_margin_with_distance_loss(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    distance_function: str | Callable[[Any, Any], Any] | None = None,
    margin: float = 1.0,
    swap: bool = False,
    sample_weight: Any = None,
    reduction: str = "mean",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Triplet margin loss with a chosen distance.

    .. math::

        l = \maxigl(0,\; d(a, p) - d(a, n) + migr)

    PyTorch's ``triplet_margin_with_distance_loss(anchor, positive, negative,
    distance_function=..., margin=..., swap=...)`` with
    ``y_pred = numpy.stack([anchor, positive, negative], axis=-2)``. ``distance_function``
    is ``None`` or ``"euclidean"`` (PyTorch's default ``PairwiseDistance()``,
    :math:`\lVert u - v + 10^{-6} \rVert_2`), ``"manhattan"`` (the same with the 1-norm),
    ``"squared_euclidean"`` (:math:`\lVert u - v \rVert_2^2`), ``"cosine"``
    (:math:`1 - \cos(u, v)`, PyTorch's ``1 - F.cosine_similarity``, each norm floored at
    :math:`10^{-8}`), or a callable ``(u, v) -> d`` on the arrays' library, one distance
    per pair of vectors (as PyTorch's; its value only: differentiate it with your
    framework's autograd, :func:`losskit.gradient` needs a named distance).

    Parameters
    ----------
    y_true : None
    y_pred : array_like of shape (..., 3, D)
        Anchor, positive and negative embeddings on the second-to-last axis.
    distance_function : str, callable or None
    margin : float > 0
        As PyTorch, which refuses a margin <= 0.
    swap : bool
        Use :math:`\min(d(a, n), d(p, n))` as the negative distance.
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
    >>> triplets = [[[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]]
    >>> round(float(lk.triplet_margin_with_distance_loss(None, triplets,
    ...                                                  distance_function="cosine")), 6)
    0.292893
    """
    func = "triplet_margin_with_distance_loss"
    if distance_function is None or isinstance(distance_function, str):
        distance = DISTANCES[distance_function or "euclidean"]
    else:
        distance = _user_distance(func, distance_function)
    parts = _triplet_parts(func, y_true, y_pred, sample_weight, distance, margin=margin,
                           swap=swap, check_values=check_values, convention=convention)
    if callable(distance_function):
        def no_gradient() -> Array:
            fail(func, "distance_function", "is a callable, whose derivative losskit does "
                 "not know", "Pass a named distance ('euclidean', 'cosine', ...) to "
                 "losskit.gradient, or differentiate the loss with your framework's "
                 "autograd (it runs under PyTorch and JAX)", TypeError)
            raise AssertionError  # pragma: no cover - fail raises

        parts.gradient = no_gradient
    return parts


# --------------------------------------------------------------------------- cosine similarity

COSINE_SIMILARITY_EXPLANATION = LossExplanation(
    formula="l = 1 − cos(y, ŷ) = 1 − (y/‖y‖)·(ŷ/‖ŷ‖); Keras reports −cos(y, ŷ)",
    distribution="none directly; for unit vectors it is half the squared distance, the "
                 "von Mises-Fisher negative log-likelihood up to scale",
    raw_output="a vector ŷ whose direction is the prediction (its length does not matter)",
    gradient="∂l/∂ŷ = −(t − cos · u)/‖ŷ‖ with t = y/‖y‖, u = ŷ/‖ŷ‖",
    when="targets that are directions: word or sentence embeddings, normals, distillation of "
         "embeddings",
    pitfalls=("The prediction's length is free and unpenalised; it may drift.",
              "A zero vector has cosine 0 with everything (Keras' and optax' convention), so "
              "its loss is 1 and its gradient points along the target."),
    related=("cosine_embedding_loss", "mean_squared_error"),
    activation="none (a raw vector ŷ); the loss normalises it to unit length",
    case=Case("y = (0, 1), ŷ = (1, 1)", [0.0, 1.0], [1.0, 1.0], {}, vary=0,
              x_label="first coordinate of ŷ"),
)


def norms(xp: Any, x: Array) -> Array:
    """``|x|`` along the last axis, without overflow of ``|x|²``.

    The plain norm ``sqrt(x · x)`` where no square overflows, which a cheap check settles (one
    reduction over the norms); the careful form — ``x`` divided by its largest entry first —
    only where one does. Measured at 1e6 float32 elements (D = 2, one thread, CPU time):
    torch value + gradient of ``cosine_similarity_loss`` through it 1.9x -> 1.1x PyTorch's
    ``cosine_similarity`` (before :func:`cosines`), NumPy 11 -> 2 ms. An entry whose square
    underflows changes the plain norm by less than
    the floors on the norm (at least 1e-8) can see. Under JAX the check is a ``lax.cond``
    (one branch runs); in traced torch code (``torch.compile``, ``torch.func``) and on
    devices whose host reads synchronise, the careful form always.

    The derivative at a zero vector is 0 on every backend (the floors then give the
    analytic gradient ``g / floor``; ``sqrt``'s own is infinite there).
    """
    if isinstance(x, np.ndarray) and aac.is_numpy_namespace(xp):
        squared = np.einsum("...c,...c->...", x, x)
        if not squared.size or np.isfinite(np.max(squared)):
            return np.sqrt(squared)
    elif aac.is_torch_array(x):
        # PyTorch's vector_norm: one pass, and a backward that is 0 at a zero vector
        norm = x.norm(dim=-1) if x.shape[-1] else x.sum(-1)
        if _torch.host_reads_are_free(x) and (
                not norm.numel() or bool(norm.detach().max().isfinite())):
            return norm
    elif aac.is_jax_namespace(xp) and x.size:
        import jax

        return jax.lax.cond(xp.isfinite(xp.max(xp.sum(x * x, axis=-1))),
                            lambda x: _plain_norm(xp, x), lambda x: _careful_norm(xp, x), x)
    return _careful_norm(xp, x)


def _plain_norm(xp: Any, x: Array) -> Array:
    """``sqrt(x · x)`` with the derivative 0 (not NaN) at a zero vector (the double ``where``;
    on JAX, inside :func:`norms`' branch)."""
    squared = xp.sum(x * x, axis=-1)
    positive = squared > 0.0
    return xp.where(positive, xp.sqrt(xp.where(positive, squared, 1.0)), 0.0)


def _careful_norm(xp: Any, x: Array) -> Array:
    """``|x|`` from ``x`` over its largest entry (no overflow of ``|x|²``). The largest entry is
    a constant to autograd (the norm does not depend on it: its derivative was a pass of
    compares and a scatter), and a zero vector's derivative is 0."""
    largest = xp.max(xp.abs(x), axis=-1) if x.shape[-1] else xp.sum(x, axis=-1)
    if aac.is_torch_array(largest):
        largest = largest.detach()
    elif aac.is_jax_namespace(xp):
        import jax

        largest = jax.lax.stop_gradient(largest)
    scaled = x / xp.where(largest > 0.0, largest, 1.0)[..., None]
    return largest * _plain_norm(xp, scaled)


def normalised(xp: Any, x: Array, floor: float = _KERAS_NORM_FLOOR
               ) -> tuple[Array, Array, Array]:
    """``x / max(|x|, floor)`` along the last axis (Keras' ``l2_normalize`` with the default
    floor 1e-6), the norm by :func:`norms` (no overflow of ``|x|²``); returns it, the divisor
    and where the floor is not active."""
    norm = norms(xp, x)
    free = norm > floor
    if aac.is_torch_array(norm):
        norm = norm.clamp_min(floor)  # (PyTorch's cosine_similarity: one kernel, not two)
    elif isinstance(norm, np.ndarray):
        norm = np.maximum(norm, floor)
    else:
        norm = xp.where(free, norm, floor)
    return x / norm[..., None], norm, free


def _dot(xp: Any, a: Array, b: Array) -> Array:
    """``sum(a * b)`` over the last axis; on NumPy one einsum (a sum over a short last axis is
    ~10x slower there)."""
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and aac.is_numpy_namespace(xp):
        return np.einsum("...c,...c->...", a, b)
    return xp.sum(a * b, axis=-1)


def cosines(xp: Any, vectors: list[Array], pairs: list[tuple[int, int]], floor: float
            ) -> list[Array]:
    """``v_i · v_j / (max(|v_i|, floor) max(|v_j|, floor))`` along the last axis for each
    ``(i, j)`` in ``pairs``: the dot products of the vectors normalised with the floor.

    Where no dot product can overflow (twice the largest ``|v|²`` is finite: one cheap
    check), the dot products are divided by the norms per row, and no vector is divided
    entry by entry (measured at 1e6 float32 elements, one thread, CPU time: JAX ``jit`` of
    the cosine triplet loss's value and gradient 22 -> 12 ms, the plain formula 9 ms; torch
    ``cosine_similarity_loss`` value 1.85x -> 0.96x ``1 - F.cosine_similarity``, value and
    gradient 1.90x -> 0.79x; see benchmarks/README.md, fourth round). Else every vector
    is normalised first with its norm from :func:`_careful_norm`. The check is a
    ``lax.cond`` under JAX (one branch runs), and in traced torch code (``torch.compile``,
    ``torch.func``) or on a device whose host reads synchronise the careful form runs.
    """

    limit = float(xp.finfo(vectors[0].dtype).max) / 2

    def plain(norm: list[Array], vectors: list[Array]) -> list[Array]:
        norm = [_floored(xp, n, floor) for n in norm]
        return [_dot(xp, vectors[i], vectors[j]) / (norm[i] * norm[j]) for i, j in pairs]

    def careful(vectors: list[Array]) -> list[Array]:
        units = [v / _floored(xp, _careful_norm(xp, v), floor)[..., None] for v in vectors]
        return [_dot(xp, units[i], units[j]) for i, j in pairs]

    if not all(math.prod(v.shape) for v in vectors):  # no entries
        return careful(vectors)
    if aac.is_torch_array(vectors[0]):
        if not _torch.host_reads_are_free(vectors[0]):
            return careful(vectors)
        # PyTorch's norm: one kernel each, and the derivative 0 at a zero vector
        norm = [v.norm(dim=-1) for v in vectors]
        largest = max(float(n.detach().max()) for n in norm)  # inf where a square overflows
        return plain(norm, vectors) if largest * largest <= limit else careful(vectors)
    squared = [_dot(xp, v, v) for v in vectors]
    largest = squared[0]
    for q in squared[1:]:
        largest = xp.maximum(largest, q)
    largest = xp.max(largest)
    if aac.is_jax_namespace(xp):
        import jax

        # the branch gives per-row numbers only: each vector's scale (1, or 1 over its
        # largest entry: a constant to autograd) and its scaled norm; the dot products of
        # the scaled vectors follow outside (a branch that formed the cosines had its
        # full-size intermediates as residuals of both branches under value_and_grad: the
        # triplet loss 30 ms, against 12 here and 9 for the optax-style formula)
        def plain_rows(squared: list[Array]) -> list[tuple[Array, Array]]:
            return [(xp.ones_like(q), _sqrt_of_squares(xp, q)) for q in squared]

        def careful_rows(squared: list[Array]) -> list[tuple[Array, Array]]:
            out = []
            for v in vectors:
                largest = jax.lax.stop_gradient(xp.max(xp.abs(v), axis=-1))
                scale = 1.0 / xp.where(largest > 0.0, largest, 1.0)
                scaled = v * scale[..., None]
                out.append((scale, _sqrt_of_squares(xp, _dot(xp, scaled, scaled))))
            return out

        rows = jax.lax.cond(largest <= limit, plain_rows, careful_rows, squared)
        # cos = (s_i v_i · s_j v_j) / (max(|v_i|, f) s_i · max(|v_j|, f) s_j): with the floor
        # on the scaled norm at f s
        factor = [1.0 / xp.maximum(n, floor * scale) for scale, n in rows]
        return [_dot(xp, vectors[i] * rows[i][0][..., None], vectors[j] * rows[j][0][..., None])
                * (factor[i] * factor[j]) for i, j in pairs]
    if float(largest) <= limit:
        return plain([_sqrt_of_squares(xp, q) for q in squared], vectors)
    return careful(vectors)


def _sqrt_of_squares(xp: Any, squared: Array) -> Array:
    """``sqrt`` of a sum of squares, with the derivative 0 (not NaN) at 0."""
    if isinstance(squared, np.ndarray):
        return np.sqrt(squared)
    positive = squared > 0.0
    return xp.where(positive, xp.sqrt(xp.where(positive, squared, 1.0)), 0.0)


def _floored(xp: Any, norm: Array, floor: float) -> Array:
    """``max(norm, floor)`` (NaN stays NaN on NumPy and torch; ``where`` elsewhere)."""
    if isinstance(norm, np.ndarray):
        return np.maximum(norm, floor)
    if aac.is_torch_array(norm):
        return norm.clamp_min(floor)
    return xp.where(norm > floor, norm, floor)


def unit_pullback(xp: Any, g: Array, u: Array, norm: Array, free: Array) -> Array:
    """The gradient with respect to ``x`` of a function of ``u = x / max(|x|, floor)``
    (:func:`normalised`) given its gradient ``g`` with respect to ``u``:
    :math:`(g - (g \\cdot u) u) / |x|` where the floor is not active, :math:`g / \\text{floor}`
    where it is."""
    along = xp.where(free, _dot(xp, g, u), 0.0)[..., None] * u
    return (g - along) / norm[..., None]


@loss_function(axis=Integer(), explanation=COSINE_SIMILARITY_EXPLANATION)
def cosine_similarity_loss(
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
    r"""Cosine distance between target and predicted vectors.

    .. math::

        l_i = 1 - \frac{y_i}{\lVert y_i \rVert} \cdot \frac{\hat y_i}{\lVert \hat y_i \rVert}

    with the norms floored at :math:`10^{-6}` (:math:`\lVert x \rVert^2 \ge 10^{-12}`, Keras'
    ``l2_normalize``), so a zero vector has cosine 0. It is optax's ``cosine_distance``;
    Keras' ``CosineSimilarity`` loss is :math:`-\cos`, one less (``convention="keras"``), with
    the same gradient.

    Parameters
    ----------
    y_true, y_pred : array_like, same shape
        Vectors along ``axis``; the other axes index the samples (a 1-D array is one vector).
    axis : int
        The vector axis.
    sample_weight : array_like of shape ``y_pred.shape`` less ``axis``, optional
    reduction : {"mean", "sum", "none"}
    check_values : bool
    convention : {"losskit", "sklearn", "keras", "torch"}
        ``"keras"``: :math:`-\cos`, and with ``sample_weight`` the weighted sum divided by the
        number of samples. ``"torch"`` (``1 - F.cosine_similarity``, whose floor differs
        only for vectors shorter than :math:`10^{-8}`) and ``"sklearn"`` are losskit's.

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    Examples
    --------
    >>> import losskit as lk
    >>> y, p = [[0.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [2.0, 2.0]]
    >>> [round(v, 6) for v in lk.cosine_similarity_loss(y, p, reduction="none").tolist()]
    [1.0, 0.0]
    >>> [round(v, 6) for v in lk.cosine_similarity_loss(y, p, reduction="none",
    ...                                                 convention="keras").tolist()]
    [-0.0, -1.0]
    """
    func = "cosine_similarity_loss"
    inputs = prepare(func, y_true, y_pred, sample_weight, axis=axis)
    xp = inputs.xp
    if check_values:
        check_finite(func, xp, "y_true", inputs.y_true)
        check_finite(func, xp, "y_pred", inputs.y_pred)
    cos = cosines(xp, [inputs.y_true, inputs.y_pred], [(0, 1)], _KERAS_NORM_FLOOR)[0]
    loss = -cos if convention == "keras" else 1.0 - cos

    def gradient() -> Array:
        t, _, _ = normalised(xp, inputs.y_true)
        u, norm, free = normalised(xp, inputs.y_pred)
        return unit_pullback(xp, -t, u, norm, free)

    return weighted_parts(func, inputs, loss, gradient, inputs.sample_weight,
                          check_values=check_values, convention=convention)
