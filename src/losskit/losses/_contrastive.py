"""Contrastive losses on a batch of embeddings with integer labels: NT-Xent (SimCLR, optax's
``ntxent``) and the Circle loss (Keras' ``Circle``).

Both compare every embedding of a batch with the others: two embeddings with the same label
form a positive pair, two with different labels a negative pair. The batch is the unit, so
``y_pred`` holds a batch of ``N`` embeddings on its last two axes, ``(N, D)``, and ``y_true``
their ``N`` labels; leading axes index independent batches (groups). Neither loss is a
likelihood of a target: each asks positive pairs to be more similar than negative ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from losskit._array import Array, device, first_index, log_sigmoid, sigmoid, to_bool
from losskit._validation import Boolean, Real, check_finite, fail, index_text
from losskit.losses._classification import _labels_as_integers
from losskit.losses._conventions import CONVENTIONS
from losskit.losses._core import (
    Inputs,
    PerSample,
    count_normaliser,
    loss_function,
    prepare,
    sample_weights,
)
from losskit.losses._embedding import _indicator, normalised, unit_pullback
from losskit.losses._spec import Case, LossExplanation

__all__ = ["circle_loss", "ntxent"]


# ------------------------------------------------------------------------------ shared parts


def _check_batch_shape(func: str, y_true: Array, y_pred: Array) -> None:
    """Embeddings ``(..., N, D)`` and one label per embedding, ``(..., N)``."""
    if y_pred.ndim < 2:
        fail(func, "y_pred", f"has shape {tuple(y_pred.shape)}, but holds a batch of "
             "embeddings: shape (N, D), or (..., N, D) for several batches",
             "Pass one embedding vector per row (reshape a single vector to (1, D))")
    expected = tuple(y_pred.shape[:-1])
    if tuple(y_true.shape) != expected:
        fail(func, "y_true", f"has shape {tuple(y_true.shape)} but the embeddings of shape "
             f"{tuple(y_pred.shape)} need one integer label each: shape {expected}",
             "Pass one label per embedding (no broadcasting)")


def _embeddings(func: str, y_true: Any, y_pred: Any, sample_weight: Any, *,
                check_values: bool, arrays: dict[str, Any] | None = None
                ) -> tuple[Inputs, Array]:
    """Inputs with the embeddings checked, and the labels as integers."""
    inputs = prepare(func, y_true, y_pred, sample_weight, labels=True, arrays=arrays,
                     check_shape=_check_batch_shape)
    xp = inputs.xp
    labels = _labels_as_integers(func, xp, inputs.y_true, check_values)
    if check_values:
        check_finite(func, xp, "y_pred", inputs.y_pred)
    return inputs, labels


def _pair_masks(xp: Any, query: Array, key: Array, *, remove_diagonal: bool
                ) -> tuple[Array, Array]:
    """``(positive, negative)`` pair masks of shape ``(..., N, M)``: same label (less the
    diagonal ``i == j`` with ``remove_diagonal``), different label."""
    same = query[..., :, None] == key[..., None, :]
    positive = same
    if remove_diagonal:
        n, m = query.shape[-1], key.shape[-1]
        rows = xp.arange(n, device=device(query))[:, None]
        diagonal = rows == xp.arange(m, device=device(query))[None, :]
        positive = same & ~diagonal
    return positive, ~same


def _similarities(xp: Any, u: Array, v: Array) -> Array:
    """``u_i · v_j`` for every pair: shape ``(..., N, M)``."""
    return xp.matmul(u, xp.matrix_transpose(v))


def _masked_logsumexp(xp: Any, z: Array, mask: Array) -> tuple[Array, Array, Array]:
    """``log Σ_{mask} exp(z)`` over the last axis, its softmax weights over the masked
    entries (0 elsewhere) and whether the row has any: rows without one get 0 for the value
    (a finite placeholder the caller masks; every branch stays finite for autograd)."""
    m, log_total, weights, has = _shifted_logsumexp(xp, z, mask)
    return m + log_total, weights, has


def _shifted_logsumexp(xp: Any, c: Array, mask: Array, temperature: Any = None
                       ) -> tuple[Array, Array, Array, Array]:
    """``log Σ_{mask} exp(c / τ) = m / τ + log_total`` over the last axis as its two parts:
    the shift ``m`` (the masked maximum of ``c``, 0 for a row without a masked entry) and
    ``log Σ exp((c − m) / τ)``, with the softmax weights and whether the row has any entry
    (``temperature=None``: τ = 1; it may be a traced array). Each difference is scaled after
    the shift, so no term overflows where ``c / τ`` does."""
    has = xp.any(mask, axis=-1)
    m = xp.max(xp.where(mask, c, -math.inf), axis=-1)
    m = xp.where(has, m, 0.0)
    d = xp.where(mask, c - m[..., None], 0.0)
    e = xp.where(mask, xp.exp(d if temperature is None else d / temperature), 0.0)
    total = xp.where(has, xp.sum(e, axis=-1), 1.0)
    return m, xp.log(total), e / total[..., None], has


def _softplus(xp: Any, x: Array) -> Array:
    # log(1 + e^x) = -log sigmoid(-x), the latter without overflow
    return -log_sigmoid(xp, -x)


def _rows_as_samples(func: str, inputs: Inputs, row_total: Array, row_count: Array, *,
                     convention: str, check_values: bool
                     ) -> tuple[Array, Array | None, Array | None, Callable[[Any], Any]]:
    """Per-sample losses, weights and mean normaliser from per-row totals over ``row_count``
    terms each (pairs, or 0/1 for a row that counts), and the factor that turns the
    reduction's per-sample factor into each row's factor on ``d(row_total)``.

    One batch ``(N, D)``: the rows are the samples, each the mean of its terms and weighing
    its number of terms (so ``"mean"`` is the mean over all terms; ``"none"`` gives each
    row's total). Several batches: each batch is one sample, the mean of its terms. A
    convention whose weighted mean divides by the count divides by the number of terms."""
    xp = inputs.xp

    def safe(c: Array) -> Array:
        return xp.where(c > 0, c, 1.0)

    policy = CONVENTIONS[convention]
    if row_total.ndim > 1:  # several batches
        count = xp.sum(row_count, axis=-1)
        loss = xp.sum(row_total, axis=-1) / safe(count)
        weight = sample_weights(func, inputs, inputs.sample_weight, tuple(loss.shape),
                                check_values=check_values)

        def batch_factor(scale: Any) -> Any:
            return (scale if isinstance(scale, float) else scale[..., None]) \
                / safe(count)[..., None]

        return loss, weight, count_normaliser(xp, loss, weight, policy), batch_factor
    loss = row_total / safe(row_count)
    weight = sample_weights(func, inputs, inputs.sample_weight, tuple(loss.shape),
                            check_values=check_values)
    weight = row_count if weight is None else row_count * weight
    # no term at all: the sum is 0 (and Keras' masked mean too)
    mean_weight = xp.where(xp.any(row_count > 0), row_count, 1.0) if policy.count_mean \
        else None

    def row_factor(scale: Any) -> Any:
        return scale / safe(row_count)

    return loss, weight, mean_weight, row_factor


def _dtype_name(dtype: Any) -> str:
    """``float32`` for NumPy's, JAX's and PyTorch's (``torch.float32``) dtype alike."""
    return str(dtype).removeprefix("torch.")


def _first_group(xp: Any, bad: Array) -> str:
    """`` in group (i, j)`` for a mask over groups (empty for a single batch)."""
    if bad.ndim == 0:
        return ""
    index = first_index(xp, bad)
    return f" in batch {index_text(index)}"


# ------------------------------------------------------------------------------------ NT-Xent

NTXENT_EXPLANATION = LossExplanation(
    formula="l = mean over positive pairs (i, j) of −log(exp(s_ij) / (exp(s_ij) + Σ_k exp(s_ik))), "
            "k over the negatives of i (y_k ≠ y_i), s_ij = cos(x_i, x_j) / τ",
    distribution="categorical: for each positive pair, the softmax over the positive and the "
                 "anchor's negatives picks the positive (an InfoNCE bound, not the likelihood "
                 "of a target)",
    raw_output="a batch of embedding vectors x_i (any length: the cosine normalises them), "
               "with integer labels that mark the positive pairs",
    gradient="∂l/∂s_ij = −σ(A_i − s_ij) for a positive pair, ∂l/∂s_ik = q_ik Σ_j σ(A_i − s_ij) "
             "for a negative, over the number of pairs (A_i = log Σ_neg exp(s_ik), q_ik its "
             "softmax); then through the cosine",
    when="self-supervised and supervised contrastive learning (SimCLR): two augmented views of "
         "each item share a label, and the batch supplies the negatives",
    pitfalls=("The temperature sets the scale: small τ (0.07) makes the loss focus on the "
              "hardest negatives and its gradients large.",
              "A batch in which no two embeddings share a label has no positive pair: the loss "
              "is undefined (losskit raises; optax returns NaN).",
              "A batch in which every label is the same has no negatives: the loss is 0 and "
              "nothing is learned."),
    related=("circle_loss", "cosine_embedding_loss", "triplet_margin_loss"),
    activation="none (raw embedding vectors, one per row); the cosine normalises them",
    case=Case("labels (0, 0, 1), x₁ = (x, 0.5), x₂ = (0.6, 0.8), x₃ = (0, 1), τ = 0.5",
              [0, 0, 1], [[1.0, 0.5], [0.6, 0.8], [0.0, 1.0]], {"temperature": 0.5},
              vary=0, more_targets=([0, 1, 1],), x_label="first coordinate of x₁"),
)


@loss_function(temperature=Real(0.0, math.inf, closed="neither"),
               explanation=NTXENT_EXPLANATION)
def ntxent(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    temperature: float = 0.07,
    sample_weight: Any = None,
    reduction: str = "mean",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Normalised temperature-scaled cross-entropy (NT-Xent, SimCLR's loss).

    .. math::

        s_{ij} = \frac{\cos(x_i, x_j)}{\tau}, \qquad
        l = \frac{1}{|P|} \sum_{(i, j) \in P}
            -\log \frac{e^{s_{ij}}}{e^{s_{ij}} + \sum_{k:\, y_k \ne y_i} e^{s_{ik}}}

    over the positive pairs :math:`P = \{(i, j): i \ne j,\ y_i = y_j\}` of a batch, with
    :math:`\cos(a, b) = a \cdot b / (\max(|a|, \sqrt\epsilon) \max(|b|, \sqrt\epsilon))` and
    :math:`\epsilon` the machine epsilon of ``y_pred``'s dtype (a zero vector has cosine 0).
    optax's ``ntxent(embeddings, labels, temperature)``, computed per pair as
    :math:`\operatorname{softplus}(\log\sum_{k} e^{s_{ik}} - s_{ij})` with each anchor's
    cosines shifted by its largest negative one :math:`m_i` before the division by
    :math:`\tau`: finite and exact for any temperature at which the loss is representable
    (optax's single shift per row of :math:`s/\tau` makes its terms infinite long before).
    Where a difference :math:`(m_i - \cos(x_i, x_j))/\tau` overflows the dtype — the loss
    itself beyond its largest number — or ``temperature`` rounds to 0 in it, the call is
    refused with an error naming ``temperature``.

    Parameters
    ----------
    y_true : array_like of integers, shape ``y_pred.shape[:-1]``
        The label of each embedding: embeddings with the same label are positive pairs
        (the two views of an item).
    y_pred : array_like of shape (N, D) or (..., N, D)
        A batch of ``N`` embeddings. For one batch the anchors (rows) are the samples:
        ``"none"`` gives each anchor's sum over its positive pairs and ``"mean"`` the mean
        over all pairs (optax's number). Leading axes index independent batches, each one
        sample: the mean over its pairs.
    temperature : float > 0
    sample_weight : array_like, optional
        A weight per anchor, shape ``y_pred.shape[:-1]`` (each of its pairs weighs it), or
        per batch, shape ``y_pred.shape[:-2]``, for several batches.
    reduction : {"mean", "sum", "none"}
    check_values : bool
        Check the labels are integers, the embeddings finite and that a mean has a positive
        pair to average (one host synchronisation). With ``False`` a batch without a positive
        pair gives 0 (optax: NaN).
    convention : {"losskit", "sklearn", "keras", "torch"}
        Only optax has this loss, and its numbers are losskit's; with ``sample_weight``,
        ``"keras"`` and ``"torch"`` divide the weighted sum by the number of pairs (one
        batch) or of batches.

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    Examples
    --------
    >>> import losskit as lk
    >>> x = [[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8]]
    >>> round(float(lk.ntxent([0, 0, 1, 1], x, temperature=0.5)), 6)
    0.43019
    >>> lk.gradient(lk.ntxent, [0, 0, 1, 1], x, temperature=0.5).shape
    (4, 2)
    """
    func = "ntxent"
    inputs, labels = _embeddings(func, y_true, y_pred, sample_weight, check_values=check_values)
    xp = inputs.xp
    positive, negative = _pair_masks(xp, labels, labels, remove_diagonal=True)
    n_positive = xp.sum(_indicator(xp, positive, inputs.y_pred), axis=-1)
    if check_values:
        _check_terms(func, xp, xp.sum(n_positive, axis=-1) > 0, reduction,
                     "has no two embeddings with the same label{where}, so there is no "
                     "positive pair to average over",
                     "Put at least two views of an item (the same label) in every batch")
    finfo = xp.finfo(inputs.out_dtype)
    if isinstance(temperature, float) and \
            temperature < float(finfo.smallest_normal) * float(finfo.eps) / 2:  # 0 in the dtype
        fail(func, "temperature", f"= {temperature!r} rounds to 0 in "
             f"{_dtype_name(inputs.out_dtype)}", "Use a larger temperature (the default "
             "is 0.07), or compute in float64")
    u, norm, free = normalised(xp, inputs.y_pred, math.sqrt(finfo.eps))
    c = _similarities(xp, u, u)
    # per pair: -log(e^s / (e^s + e^A)) = softplus(A - s), A = log Σ_negatives e^s, s = c/τ:
    # A - s = (m - c)/τ + log Σ e^((c_k - m)/τ), m the anchor's largest negative similarity;
    # only a difference over τ is formed, so a tiny τ overflows only where the loss does
    m, log_total, q, has_negative = _shifted_logsumexp(xp, c, negative, temperature)
    active = positive & has_negative[..., None]
    z = (m[..., None] - c) / temperature + log_total[..., None]
    row_total = xp.sum(xp.where(active, _softplus(xp, z), 0.0), axis=-1)
    if check_values and not to_bool(func, xp.all(xp.isfinite(row_total))):
        fail(func, "temperature", f"= {temperature!r} makes a difference of scaled "
             f"similarities (m − s)/τ overflow {_dtype_name(inputs.out_dtype)}: the loss is "
             "beyond its largest number", "Use a larger temperature (the default is 0.07), "
             "or compute in float64")
    loss, weight, mean_weight, row_factor = _rows_as_samples(
        func, inputs, row_total, n_positive, convention=convention, check_values=check_values)

    def scaled_gradient(scale: Array | float) -> Array:
        per_pair = xp.where(active, sigmoid(xp, z), 0.0)
        g = (q * xp.sum(per_pair, axis=-1, keepdims=True) - per_pair) * row_factor(scale)[
            ..., None]
        g_u = xp.matmul(g + xp.matrix_transpose(g), u) / temperature
        return unit_pullback(xp, g_u, u, norm, free)

    return PerSample(inputs, loss, lambda: scaled_gradient(1.0), weight, mean_weight,
                     scaled_gradient=scaled_gradient)


# ------------------------------------------------------------------------------------- Circle

CIRCLE_EXPLANATION = LossExplanation(
    formula="l_i = softplus(log Σ_pos e^{−γ α_p (s − 1 + m)} + log Σ_neg e^{γ α_n (s − m)}), "
            "α_p = [1 + m − s]₊, α_n = [s + m]₊, s the cosine similarity",
    distribution="none: a pair-weighted metric-learning loss (a smooth form of 'every "
                 "positive above every negative'), not a likelihood",
    raw_output="a batch of embedding vectors (normalised to unit length by the loss; "
               "Keras expects them normalised already), with integer labels",
    gradient="∂l_i/∂s_ij = σ(P_i) · softmax weight · d(±γ α (s − Δ))/ds, pulled back through "
             "the cosine to the embeddings (every row's loss depends on the whole batch)",
    when="metric learning with class labels (face recognition, re-identification, retrieval): "
         "a batch with several items per class, when pairs far from their optimum should "
         "weigh more",
    pitfalls=("A row with no positive (a class seen once in the batch) or no negative has "
              "loss 0 and is left out of the mean; sample batches with two or more items "
              "per class.",
              "γ scales the loss and its gradients (Keras' default 80): lower the learning "
              "rate or γ if training diverges."),
    related=("ntxent", "triplet_margin_loss", "cosine_embedding_loss"),
    activation="none (raw embedding vectors, one per row); normalised to unit length",
    case=Case("labels (0, 0, 1), x₁ = (x, 0.5), x₂ = (0.6, 0.8), x₃ = (0, 1), γ = 4",
              [0, 0, 1], [[1.0, 0.5], [0.6, 0.8], [0.0, 1.0]], {"gamma": 4.0},
              vary=0, more_targets=([0, 1, 1],), x_label="first coordinate of x₁"),
)


def _circle_rows(xp: Any, sim: Array, positive: Array, negative: Array, gamma: Any,
                 margin: Any, clamp: bool) -> tuple[Array, Array, Callable[[], Array]]:
    """Per-row Circle losses ``(..., N)``, where each row has both a positive and a negative,
    and the row-wise derivative ``d l_i / d sim_ij`` (a closure)."""
    below = sim < 1.0
    s = xp.where(below, sim, 1.0) if clamp else sim  # Keras: cosine distance clamped at 0
    alpha_p = xp.maximum(1.0 + margin - s, 0.0)
    alpha_n = xp.maximum(s + margin, 0.0)
    a = -gamma * alpha_p * (s - (1.0 - margin))
    b = gamma * alpha_n * (s - margin)
    lse_p, w_p, has_p = _masked_logsumexp(xp, a, positive)
    lse_n, w_n, has_n = _masked_logsumexp(xp, b, negative)
    both = has_p & has_n
    total = lse_p + lse_n
    rows = xp.where(both, _softplus(xp, total), 0.0)

    def row_gradient() -> Array:
        da = -gamma * (alpha_p - _indicator(xp, 1.0 + margin - s > 0.0, s) * (s - 1.0 + margin))
        db = gamma * (alpha_n + _indicator(xp, s + margin > 0.0, s) * (s - margin))
        g = xp.where(both, sigmoid(xp, total), 0.0)[..., None] * (w_p * da + w_n * db)
        return g * _indicator(xp, below, s) if clamp else g

    return rows, both, row_gradient


@loss_function(gamma=Real(0.0, math.inf, closed="neither"),
               margin=Real(-math.inf, math.inf, closed="neither"),
               remove_diagonal=Boolean(), explanation=CIRCLE_EXPLANATION)
def circle_loss(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    gamma: float = 80.0,
    margin: float = 0.4,
    remove_diagonal: bool = True,
    ref_labels: Any = None,
    ref_embeddings: Any = None,
    sample_weight: Any = None,
    reduction: str = "mean",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Circle loss (Sun et al., 2020) of a batch of labelled embeddings.

    .. math::

        l_i = \operatorname{softplus}\Bigl(
            \log \sum_{j \in P_i} e^{-\gamma\, \alpha^p_{ij} (s_{ij} - \Delta_p)}
          + \log \sum_{k \in N_i} e^{\gamma\, \alpha^n_{ik} (s_{ik} - \Delta_n)} \Bigr)

    with :math:`\alpha^p = [1 + m - s]_+`, :math:`\alpha^n = [s + m]_+`,
    :math:`\Delta_p = 1 - m`, :math:`\Delta_n = m`, :math:`s_{ij}` the cosine similarity of
    embedding :math:`i` and reference :math:`j`, :math:`P_i` the references with
    :math:`i`'s label (less :math:`i` itself with ``remove_diagonal``) and :math:`N_i` the
    others. A row without a positive or a negative has :math:`l_i = 0` and is left out of
    the mean. Keras' ``circle``/``Circle``.

    Parameters
    ----------
    y_true : array_like of integers, shape ``y_pred.shape[:-1]``
        The label of each embedding.
    y_pred : array_like of shape (N, D) or (..., N, D)
        The embeddings. A 2-D batch gives one loss per row (as Keras); with leading axes each
        batch is one sample, the mean of its rows' losses.
    gamma : float > 0
        The scale (Keras' default 80).
    margin : float
        The relaxation :math:`m` (Keras' default 0.4).
    remove_diagonal : bool
        Leave out the pairs :math:`i = j` (an embedding with itself, or with the reference
        at its index).
    ref_labels, ref_embeddings : array_like, optional
        Reference labels ``(..., M)`` and embeddings ``(..., M, D)`` to compare with (both
        default to the batch itself); the gradient is with respect to ``y_pred`` only.
    sample_weight : array_like of per-sample shape, optional
    reduction : {"mean", "sum", "none"}
        ``"mean"`` averages over the rows that have both a positive and a negative, with
        their sample weights (Keras' ``"mean_with_sample_weight"``).
    check_values : bool
    convention : {"losskit", "sklearn", "keras", "torch"}
        ``"keras"``: Keras' numbers: the similarity is the plain dot product (Keras expects
        unit-norm embeddings and does not normalise them), the cosine distance clamped at 0,
        and its default ``"sum_over_batch_size"`` mean: :math:`\sum_i w_i l_i` over the
        number of rows with :math:`l_i > 0` (its mask), 0 when there is none.

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    Examples
    --------
    >>> import losskit as lk
    >>> x = [[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8]]
    >>> [round(v, 4) for v in lk.circle_loss([0, 0, 1, 1], x, gamma=4.0,
    ...                                      reduction="none").tolist()]
    [0.6653, 0.9945, 0.9945, 0.6653]
    """
    func = "circle_loss"
    inputs, labels = _embeddings(func, y_true, y_pred, sample_weight, check_values=check_values,
                                 arrays={"ref_labels": ref_labels,
                                         "ref_embeddings": ref_embeddings})
    xp, x = inputs.xp, inputs.y_pred
    refs, ref_y = _references(func, inputs, labels, check_values)
    keras = convention == "keras"
    u, norm, free = (x, None, None) if keras else normalised(xp, x)
    v = u if refs is None else (refs if keras else normalised(xp, refs)[0])
    positive, negative = _pair_masks(xp, labels, ref_y, remove_diagonal=remove_diagonal)
    sim = _similarities(xp, u, v)
    rows, both, row_gradient = _circle_rows(xp, sim, positive, negative, gamma, margin,
                                            clamp=keras)
    if check_values:
        _check_gamma_scale(func, xp, rows, sim, gamma, margin, "loss")
    counted = rows > 0.0 if keras else both  # Keras' mask: the rows whose loss is positive
    if check_values and not keras:
        _check_terms(func, xp, xp.any(both, axis=-1), reduction,
                     "gives no embedding both a positive (same label) and a negative (other "
                     "label){where}, so the mean over such rows is undefined",
                     "Put at least two items of each of two classes in every batch, or use "
                     "reduction='sum'")
    loss, weight, mean_weight, row_factor = _rows_as_samples(
        func, inputs, rows, _indicator(xp, counted, rows), convention=convention,
        check_values=check_values)

    def scaled_gradient(scale: Array | float) -> Array:
        g = row_gradient() * row_factor(scale)[..., None]
        g_u = xp.matmul(g, v)
        if refs is None:
            g_u = g_u + xp.matmul(xp.matrix_transpose(g), u)
        grad = g_u if keras else unit_pullback(xp, g_u, u, norm, free)
        if check_values:
            _check_gamma_scale(func, xp, grad, sim, gamma, margin, "loss's gradient")
        return grad

    return PerSample(inputs, loss, lambda: scaled_gradient(1.0), weight, mean_weight,
                     scaled_gradient=scaled_gradient)


def _check_gamma_scale(func: str, xp: Any, result: Array, sim: Array, gamma: float,
                       margin: float, what: str) -> None:
    """A non-finite loss or gradient of finite embeddings is gamma's overflow (γ·α·(s − Δ)
    and its derivative scale with γ), unless the similarities themselves overflowed or the
    margin alone does (α·(s − Δ) grows as m²)."""
    if to_bool(func, xp.all(xp.isfinite(result))):
        return
    if not to_bool(func, xp.all(xp.isfinite(sim))):
        fail(func, "y_pred", "overflows the dot products of the embeddings",
             "Scale the embeddings down (to unit length, as Keras expects)")
    dtype = _dtype_name(result.dtype)
    if isinstance(margin, float) and \
            abs(margin) + 2.0 > math.sqrt(float(xp.finfo(result.dtype).max)):
        fail(func, "margin", f"= {margin!r} makes the {what} overflow {dtype}",
             "Use a margin between 0 and 1 (Keras' default is 0.4)")
    fail(func, "gamma", f"= {gamma!r} makes the {what} overflow {dtype}",
         "Use a smaller gamma (Keras' default is 80), or compute in float64")


def _references(func: str, inputs: Inputs, labels: Array, check_values: bool
                ) -> tuple[Array | None, Array]:
    """The reference embeddings (``None``: the batch itself) and their labels."""
    xp, x = inputs.xp, inputs.y_pred
    refs, ref_y = inputs.array("ref_embeddings"), inputs.array("ref_labels")
    if refs is None and ref_y is None:
        return None, labels
    if refs is not None:
        if refs.ndim != x.ndim or tuple(refs.shape[:-2]) != tuple(x.shape[:-2]) \
                or refs.shape[-1] != x.shape[-1]:
            fail(func, "ref_embeddings", f"has shape {tuple(refs.shape)}, but the embeddings "
                 f"of shape {tuple(x.shape)} need references of shape "
                 f"{(*x.shape[:-2], 'M', x.shape[-1])}",
                 "Pass reference embeddings of the same dimension and batch axes")
        refs = xp.astype(refs, x.dtype)
        if check_values:
            check_finite(func, xp, "ref_embeddings", refs)
    keys = x if refs is None else refs
    if keys.shape[-2] == 0:
        fail(func, "ref_embeddings", f"is empty (shape {tuple(keys.shape)}): no reference "
             "to compare with", "Pass at least one reference embedding, or neither "
             "ref_embeddings nor ref_labels to compare the batch with itself")
    if ref_y is None:
        ref_y = labels
    expected = tuple(keys.shape[:-1])
    if tuple(ref_y.shape) != expected:
        fail(func, "ref_labels", f"has shape {tuple(ref_y.shape)}, but the reference "
             f"embeddings of shape {tuple(keys.shape)} need one label each: shape {expected}",
             "Pass ref_labels and ref_embeddings together, one label per reference")
    return refs, _labels_as_integers(func, xp, ref_y, check_values)


def _check_terms(func: str, xp: Any, present: Array, reduction: str, found: str,
                 fix: str) -> None:
    """Every batch has a term to average (one batch: only its mean needs one)."""
    if reduction != "mean" and present.ndim == 0:
        return
    bad = ~present
    if to_bool(func, xp.any(bad)):
        fail(func, "y_true", found.format(where=_first_group(xp, bad)), fix)
