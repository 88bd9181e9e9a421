"""The classification catalogue beyond cross-entropy: divergences, margins, focal losses.

* :func:`kl_divergence` and :func:`entropy` (with :func:`categorical_cross_entropy`:
  :math:`H(P, Q) = H(P) + \\mathrm{KL}(P \\,\\|\\, Q)`), and :func:`perplexity`;
* the margin losses of support-vector machines: :func:`hinge_loss`,
  :func:`squared_hinge_loss`, :func:`categorical_hinge_loss`;
* the focal losses of Lin et al. (2017): :func:`binary_focal_loss`,
  :func:`categorical_focal_loss`;
* the generalized cross-entropy of Zhang & Sabuncu (2018) for noisy labels:
  :func:`generalized_cross_entropy`.

Each loss is a body returning :class:`~losskit.losses._core.PerSample` with its analytic
gradient, turned into the public function by :func:`~losskit.losses._core.loss_function`.
"""

from __future__ import annotations

import math
from typing import Any

import array_api_compat as aac
import numpy as np

from losskit._array import (
    Array,
    Namespace,
    add_at_labels,
    as_array,
    device,
    first_index,
    log_softmax,
    log_softmax_at,
    maybe_nonzero,
    mul_zero_safe,
    numpy_errors_silenced,
    numpy_row_dot,
    row_dot,
    row_max,
    select,
    sigmoid,
    sigmoid_parts,
    take_labels,
    to_bool,
    to_float,
    with_derivative,
)
from losskit._reduction import mean_over_outputs, reduced
from losskit._validation import (
    UNIT_INTERVAL,
    Boolean,
    Integer,
    Optional,
    Real,
    check_domain,
    check_finite,
    check_labels,
    check_rows_sum_to_one,
    fail,
    index_text,
    options,
)
from losskit.losses._classification import (
    _BINARY_CASE,
    _CATEGORICAL_CASE,
    _CE_NAN_HINT,
    _LABEL_CASE,
    _P3,
    _P9,
    _SOFTMAX_TWICE,
    _check_predictions,
    _clipped_log,
    _kept_rows_gradient,
    _labels_as_integers,
    _log_probabilities,
    _normalised_rows,
    _numpy_logistic,
    _per_row,
    check_binary_targets,
    check_masked_targets,
    finite_logits,
    masked_cross_entropy,
    masked_weights,
    prepare_classes,
    sparse_categorical_cross_entropy,
    where_mask,
)
from losskit.losses._conventions import CONVENTIONS, Convention
from losskit.losses._core import (
    COMMON_OPTIONS,
    Inputs,
    PerSample,
    check_not_nan,
    count_normaliser,
    default_eps,
    loss_function,
    own_copy,
    prepare,
    sample_weights,
)
from losskit.losses._spec import Case, Kernel, LossExplanation, explained

__all__ = [
    "binary_focal_loss",
    "categorical_focal_loss",
    "categorical_hinge_loss",
    "entropy",
    "generalized_cross_entropy",
    "hinge_loss",
    "kl_divergence",
    "perplexity",
    "squared_hinge_loss",
]

_EPS = Optional(Real(0.0, 0.5, closed="left"))
_GAMMA = Real(0.0, math.inf, closed="left")
_ALPHA = Optional(Real(0.0, 1.0))
_Q3 = tuple(math.log(p) for p in (0.5, 0.3, 0.2))  # logits of the probabilities (0.5, 0.3, 0.2)
_NOT_CALIBRATED = (
    "Not a likelihood any more: its minimiser is not the true probability, so do not read the "
    "predictions as calibrated probabilities (recalibrate on held-out data if you need them).")


def _check_distributions(func: str, xp: Namespace, name: str, p: Array, dtype: Any,
                         fix: str) -> None:
    """``p`` holds probability rows along the last axis: values in [0, 1], rows sum to 1."""
    check_domain(func, xp, name, p, UNIT_INTERVAL, fix)
    check_rows_sum_to_one(func, xp, name, p, dtype, fix)


# ------------------------------------------------------------------------ divergence, entropy


_KL_DIVERGENCE = LossExplanation(
    formula="l = Σ_c y_c·log(y_c / q_c),   q = softmax(z)   (0·log 0 = 0; y the target "
            "distribution P, q the prediction Q)",
    distribution="Categorical: KL(P ‖ Q) = H(P, Q) − H(P) is the cross-entropy minus the "
                 "target's entropy (free of the model), so it has the categorical negative "
                 "log-likelihood's gradient and minimiser, and reads 0 at a perfect "
                 "prediction.",
    activation_from="categorical",
    activation="C units with softmax (from_logits=True for stability)",
    raw_output="the C logits z (from_logits=True), or the probabilities q",
    gradient="∂l/∂z_c = q_c − y_c  (target rows summing to 1): the cross-entropy's gradient.",
    when="Soft targets (distillation from a teacher, label distributions, variational "
         "objectives) when the value itself should read as 0 = perfect.",
    pitfalls=(
        "Argument order: PyTorch's kl_div takes (input = log q, target = p), the reverse "
        "of this function's (y_true = p, y_pred = q).",
        "PyTorch's reduction='mean' divides by n·C (1/C of the divergence); "
        "reduction='batchmean' is the per-sample mean computed here.",
        "It is KL(target ‖ prediction): q = 0 where the target is positive is infinite "
        "(probabilities are clipped; logits are safe).",
        "With one-hot targets it equals the cross-entropy (the target's entropy is 0).",
    ),
    related=("categorical_cross_entropy", "entropy"),
    case=Case("y = P = (0.7, 0.2, 0.1), q = Q = (0.5, 0.3, 0.2) (logits z = log q)",
               (0.7, 0.2, 0.1), _Q3, {"from_logits": True}, vary=0, grid=(-8.0, 8.0),
               x_label="logit z₀ of class 0 (other logits fixed)"),
    classification=True,
)


@loss_function(from_logits=Boolean(), log_target=Boolean(), axis=Integer(), eps=_EPS,
               aliases=("kl", "kld", "kl div", "kullback-leibler", "relative entropy"),
               explanation=_KL_DIVERGENCE)
def kl_divergence(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    from_logits: bool = False,
    log_target: bool = False,
    axis: int = -1,
    eps: float | None = None,
    where: Any = None,
    sample_weight: Any = None,
    reduction: str = "mean",
    unit: str = "nats",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Kullback-Leibler divergence :math:`\mathrm{KL}(P \,\|\, Q)` of a prediction from a target.

    .. math::

        l_i = \sum_{c=1}^{C} p_{ic} \log \frac{p_{ic}}{q_{ic}}
            = H(P_i, Q_i) - H(P_i), \qquad L = \frac{\sum_i w_i l_i}{\sum_i w_i}

    with :math:`P` = ``y_true`` (the target distribution), :math:`Q` = ``y_pred`` (probabilities,
    or :math:`q = \mathrm{softmax}(z)` for logits) and :math:`0 \log 0 = 0`. It is the
    categorical cross-entropy :math:`H(P, Q)` (:func:`categorical_cross_entropy`) less the
    target's entropy :math:`H(P)` (:func:`entropy`), which does not depend on the model: the
    two losses have the same gradient and the same minimiser :math:`Q = P`, where the
    divergence is 0 while the cross-entropy is :math:`H(P)`. As a likelihood: the expected
    log-likelihood ratio of a sample of :math:`P` under :math:`P` against under :math:`Q`.
    Use it for soft targets (distillation, label distributions, variational objectives) when
    the value itself should read as "0 = perfect".

    The reduction is over samples: ``"mean"`` is the mean per *sample* (row), which is what
    Keras' ``KLDivergence`` and, for inputs of two or more dimensions, PyTorch's
    ``kl_div(..., reduction="batchmean")`` return. PyTorch's ``reduction="mean"`` divides by
    the number of *elements* :math:`nC` instead (it is :math:`1/C` of the divergence, and
    PyTorch warns about it). A 1-D input is one distribution here, but PyTorch's
    ``"batchmean"`` divides by ``input.size(0)``, which is then :math:`C`: on 1-D input both
    of PyTorch's means are :math:`1/C` of the divergence, and ``convention="torch"`` gives
    that number. PyTorch's ``kl_div`` also
    takes ``input`` = :math:`\log Q` and ``target`` = :math:`P`, in the opposite order:
    ``torch.nn.functional.kl_div(log_softmax(z), p, reduction="batchmean")`` equals
    ``kl_divergence(p, z, from_logits=True)``. Keras clips both arguments to
    :math:`[10^{-7}, 1]`, which gives targets of 0 a small non-zero contribution.

    From logits, :math:`\log q = z - \operatorname{logsumexp}(z)` (stable). From probabilities,
    :math:`q` is clipped to :math:`[\epsilon, 1-\epsilon]`, ``eps`` defaulting to the machine
    epsilon of ``y_pred``'s dtype; ``eps=0`` gives the exact value, ``inf`` where
    :math:`q_c = 0 < p_c`. The target is never clipped.

    Parameters
    ----------
    y_true : array_like, same shape as ``y_pred``
        Target distributions :math:`P`: rows of probabilities along ``axis`` summing to 1.
    y_pred : array_like, shape (..., C, ...)
        Predicted distributions :math:`Q` (rows summing to 1), or logits with
        ``from_logits=True``; classes along ``axis``.
    from_logits : bool
        ``y_pred`` holds logits (do not apply softmax yourself).
    log_target : bool
        ``y_true`` holds :math:`\log P` (PyTorch's ``kl_div(..., log_target=True)``, optax's
        ``kl_divergence_with_log_targets``): exact for targets too small for their
        probability to be represented.
    axis : int
        The class axis of both arrays.
    eps : float in [0, 0.5), optional
        Clipping bound for :math:`q` (ignored with logits).
    where : array_like of bool, optional
        optax's ``kl_divergence(..., where=)``, as in :func:`categorical_cross_entropy`: of
        ``y_pred``'s shape (logits only), the classes kept, :math:`Q` the softmax over them
        and the sum over them (losskit refuses a target on a masked class; ``"optax"`` drops
        it, optax's ``kl_divergence(log_softmax(z, where=where), p, where=where)``); of the
        per-sample shape, the samples kept (dropped from the mean; ``"optax"``: a loss of 0
        that stays in it).
    sample_weight : array_like of shape ``y_pred.shape`` less ``axis``, optional
        Non-negative per-sample weights :math:`w_i`.
    reduction : {"mean", "sum", "none"}
        Weighted mean over samples, weighted sum, or per-sample :math:`w_i l_i`.
    unit : {"nats", "bits"}
        Natural or base-2 logarithm.
    check_values : bool
        Check ranges, row sums, NaN and weights (host synchronisation).
    convention : {"losskit", "sklearn", "keras", "torch"}
        Whose number to reproduce (see ``docs/conventions.md``). ``"keras"``: both arguments
        clipped to :math:`[10^{-7}, 1]` (``eps`` replaces :math:`10^{-7}`; logits, which Keras
        does not take, are computed as losskit does), and a weighted mean divided by the
        number of samples. ``"torch"``: ``kl_div``'s ``reduction="mean"``, the sum divided by
        the number of *elements* :math:`nC` (with weights too), and no clipping unless
        ``eps`` is given; PyTorch's ``"batchmean"`` is losskit's ``"mean"`` on 2-D or larger
        input and ``"torch"``'s on 1-D input. scikit-learn has
        no KL divergence: ``"sklearn"`` is losskit's.

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype; non-negative up to rounding (and up to
        the clipping, which can leave a clipped :math:`Q` summing to slightly more than 1).

    See Also
    --------
    categorical_cross_entropy : :math:`H(P, Q)`, the same gradient.
    entropy : :math:`H(P)`.

    Examples
    --------
    The cross-entropy article's figures, in bits: :math:`H(P, Q) = H(P) + \mathrm{KL}(P\|Q)`.

    >>> import losskit as lk
    >>> p, q = [0.10, 0.40, 0.50], [0.80, 0.15, 0.05]
    >>> round(float(lk.kl_divergence(p, q, unit="bits")), 3)
    1.927
    >>> round(float(lk.categorical_cross_entropy(p, q, unit="bits")), 3)
    3.288
    >>> round(float(lk.entropy(p, unit="bits")), 3)
    1.361
    >>> float(lk.kl_divergence(p, p))
    0.0

    Neither the cross-entropy nor the divergence is symmetric in :math:`P` and :math:`Q`:

    >>> round(float(lk.categorical_cross_entropy(q, p, unit="bits")), 3)
    2.906
    >>> round(float(lk.kl_divergence(q, p, unit="bits")), 3)
    2.022

    A class mask (logits): the divergence from the softmax over the classes left.

    >>> z = [0.5, 1.0, -2.0]
    >>> round(float(lk.kl_divergence([0.4, 0.6, 0.0], z, from_logits=True,
    ...                              where=[True, True, False])), 6)
    0.001065
    >>> round(float(lk.kl_divergence([0.4, 0.6], z[:2], from_logits=True)), 6)
    0.001065
    """
    func = "kl_divergence"
    policy = CONVENTIONS[convention]
    inputs = prepare_classes(func, y_true, y_pred, sample_weight, axis,
                             arrays={"where": where})
    xp, p = inputs.xp, inputs.y_true
    log_p = None
    if log_target:
        if check_values:
            check_finite(func, xp, "y_true", xp.where(p == -math.inf, 0.0, p),
                         fix="With log_target=True y_true holds log-probabilities (-inf for "
                             "an impossible class)")
        log_p, p = p, xp.exp(p)
    if check_values:
        _check_distributions(func, xp, "y_true", p, inputs.out_dtype,
                             "y_true holds the target distributions P: probability rows "
                             "summing to 1 along axis")
        _check_predictions(func, inputs, from_logits, rows=True)
    mask = where_mask(func, inputs, from_logits)
    if mask.classes is not None:
        # from logits (a class mask of probabilities is refused): the softmax over the classes
        # left; optax's convention drops a target on a masked class, losskit refuses it
        if policy.masked_as_zero:
            p = xp.where(mask.classes, p, 0.0)
            log_p = None if log_p is None else xp.where(mask.classes, log_p, 0.0)
        elif check_values:
            check_masked_targets(func, xp, p, mask.classes, mask.alive)
        cross, masked_scaled = masked_cross_entropy(xp, inputs.y_pred, p, mask.classes)
        log_target_p = _log_of_target(xp, p, check_values) if log_p is None else log_p
        per_sample = row_dot(xp, p, log_target_p) + cross
    elif from_logits:
        # KL = sum p log p - sum p log q: the cross-entropy's contraction of log softmax(z)
        # (never formed as an (n, C) array on NumPy and JAX; measured at 1e6 x 10, NumPy
        # value + gradient 88 -> see benchmarks/README.md) less the target's negative entropy
        terms, _, (p_dot_log_q,) = log_softmax_at(xp, inputs.y_pred, vectors=(p,),
                                                  may_sync=check_values)
        log_target_p = _log_of_target(xp, p, check_values) if log_p is None else log_p
        per_sample = row_dot(xp, p, log_target_p) - p_dot_log_q
    elif policy.clip_target:
        # Keras: sum p log(p / q) with both clipped to [1e-7, 1], so p = 0 adds 1e-7 log(1e-7/q)
        floor = default_eps(inputs, eps, policy)
        inside = (inputs.y_pred >= floor) & (inputs.y_pred <= 1.0)
        p, q = xp.clip(p, floor, 1.0), xp.clip(inputs.y_pred, floor, 1.0)
        per_sample = xp.sum(p * xp.log(p / q), axis=-1)
    else:
        # PyTorch's kl_div takes log q as given: no clipping (its clip_eps is 0)
        log_q, q, inside = _log_probabilities(inputs, from_logits, eps, policy)
        # p log(p/q) with 0 log 0 = 0 (also where q = 0, which only eps=0 allows)
        per_sample = xp.sum(mul_zero_safe(xp, p, (xp.log(p) if log_p is None else log_p)
                                          - log_q), axis=-1)
    weight = sample_weights(func, inputs, inputs.sample_weight, tuple(per_sample.shape),
                            check_values=check_values)
    per_sample, weight = masked_weights(func, xp, policy, per_sample, weight, mask.alive,
                                        check_values and reduction == "mean")
    if policy.mean_over_classes:
        # kl_div(reduction="mean") divides by the number of elements n C, weighted or not
        mean_weight = xp.full_like(per_sample, float(inputs.y_pred.shape[-1]))
    else:
        mean_weight = count_normaliser(xp, per_sample, weight, policy)

    def gradient() -> Array:
        # d/dq_j = -p_j / q_j; zero where the clip is active (and on the samples dropped)
        g = xp.where(inside, -mul_zero_safe(xp, p, 1.0 / q), 0.0)
        return g if mask.alive is None else xp.where(mask.alive[..., None], g, 0.0)

    if not from_logits:
        return PerSample(inputs, per_sample, gradient, weight, mean_weight,
                         nan_hint=_CE_NAN_HINT)

    def scaled_gradient(scale: Array | float) -> Array:
        if mask.classes is not None:
            return masked_scaled(scale)
        # d/dz_j of -sum_c p_c log softmax(z)_c = softmax(z)_j sum_c p_c - p_j
        p_total = row_dot(xp, xp.ones(p.shape[-1], dtype=p.dtype, device=device(p)), p)
        return terms.scaled_probabilities(p_total * scale) - p * _per_row(scale)

    kept_rows_gradient = _kept_rows_gradient(xp, scaled_gradient, mask.alive)
    return PerSample(inputs, per_sample, lambda: kept_rows_gradient(1.0), weight, mean_weight,
                     nan_hint=_CE_NAN_HINT, scaled_gradient=kept_rows_gradient)


def _log_of_target(xp: Namespace, p: Array, checked: bool) -> Array:
    """``log p`` for the contraction ``sum_c p_c log p_c`` (``0 log 0 = 0``). On NumPy a zero
    ``p`` gets the finite log of the smallest subnormal instead of ``-inf`` (``max`` keeps every
    ``p > 0`` and NaN as they are), so the contraction stays one BLAS pass: with ``-inf`` every
    row of one-hot targets took :func:`~losskit._array.row_dot`'s exact redo (measured: 61 ->
    see benchmarks/README.md). Negative ``p`` (not ``checked`` to be >= 0) keeps its NaN."""
    if isinstance(p, np.ndarray) and aac.is_numpy_namespace(xp) and (
            checked or not bool((p < 0).any())):
        return np.log(np.maximum(p, np.finfo(p.dtype).smallest_subnormal))
    return xp.log(p)


_ENTROPY = LossExplanation(
    formula="H(p) = −Σ_c p_c·log p_c   (0·log 0 = 0; p = softmax(z) with from_logits=True)",
    distribution="Categorical: the expected negative log-likelihood of a sample of p under "
                 "p itself, the floor of the cross-entropy H(P, Q) = H(P) + KL(P ‖ Q).",
    activation_from="categorical",
    activation="softmax rows (from_logits=True takes the logits)",
    raw_output="the C logits z (from_logits=True), or probability rows p",
    gradient="∂H/∂z_c = −p_c·(log p_c + H)  (from logits).",
    when="Reading a cross-entropy against soft targets (how far above its floor it is), or "
         "as a regulariser on predicted distributions (confidence penalty, exploration "
         "bonus).",
    pitfalls=(
        "Not a training loss on its own: minimising it drives predictions to one-hot "
        "certainty regardless of the data; regularisers add −β·H (maximise it).",
        "Rows must sum to 1 (scipy.stats.entropy renormalises; this does not).",
        "No analytic gradient is registered (the example's gradient is a finite "
        "difference).",
    ),
    related=("kl_divergence", "categorical_cross_entropy", "perplexity"),
    case=Case("p = (0.7, 0.2, 0.1) (logits z = log p)", None, _P3, {"from_logits": True},
               vary=0, grid=(-8.0, 8.0), x_label="logit z₀ (other logits fixed)"),
)


@explained(aliases=("shannon entropy",), explanation=_ENTROPY)
@options(from_logits=Boolean(), axis=Integer(),
         **{name: COMMON_OPTIONS[name] for name in ("reduction", "unit", "check_values")})
def entropy(
    p: Any,
    /,
    *,
    from_logits: bool = False,
    axis: int = -1,
    sample_weight: Any = None,
    reduction: str = "mean",
    unit: str = "nats",
    check_values: bool = True,
) -> Array:
    r"""Shannon entropy :math:`H(P)` of probability rows.

    .. math::

        H(P_i) = -\sum_{c=1}^{C} p_{ic} \log p_{ic}, \qquad
        L = \frac{\sum_i w_i H(P_i)}{\sum_i w_i}

    with :math:`0 \log 0 = 0`. It is the expected negative log-likelihood of a sample of
    :math:`P` under :math:`P` itself: the smallest value the cross-entropy
    :math:`H(P, Q) = H(P) + \mathrm{KL}(P \| Q)` can take, reached at :math:`Q = P`. Use it
    to read a cross-entropy against soft targets ("how far above its floor is it?") or as a
    regulariser on predicted distributions (confidence penalty, exploration bonus).

    With ``from_logits=True`` the rows are :math:`\mathrm{softmax}(z)` and the entropy is
    computed stably as :math:`-\sum_c \mathrm{softmax}(z)_c \log\mathrm{softmax}(z)_c`.
    Unlike ``scipy.stats.entropy``, rows are not renormalised (they must sum to 1) and the
    class axis is the last one by default.

    Parameters
    ----------
    p : array_like, shape (..., C, ...)
        Probability rows along ``axis``, or logits with ``from_logits=True``. A 1-D array is
        one distribution.
    from_logits : bool
        ``p`` holds logits.
    axis : int
        The class axis.
    sample_weight : array_like of shape ``p.shape`` less ``axis``, optional
        Non-negative weights of the rows.
    reduction : {"mean", "sum", "none"}
        Weighted mean over rows, weighted sum, or one entropy per row.
    unit : {"nats", "bits"}
        Natural or base-2 logarithm.
    check_values : bool
        Check ranges, row sums, NaN and weights (host synchronisation).

    Returns
    -------
    array
        In ``p``'s library and floating dtype; between 0 and :math:`\log C`.

    Examples
    --------
    >>> import losskit as lk
    >>> round(float(lk.entropy([0.10, 0.40, 0.50], unit="bits")), 3)
    1.361
    >>> float(lk.entropy([0.25, 0.25, 0.25, 0.25], unit="bits"))
    2.0
    >>> lk.entropy([[0.5, 0.5], [1.0, 0.0]], reduction="none", unit="bits")
    array([1., 0.])
    """
    func = "entropy"
    with numpy_errors_silenced():
        inputs = prepare(func, p, p, sample_weight, axis=axis, names=("p", "p"))
        xp = inputs.xp
        if check_values and from_logits:
            check_finite(func, xp, "p", inputs.y_pred, allow_inf=True,
                         fix="Logits must not be NaN; look for a diverged model")
        elif check_values:
            _check_distributions(func, xp, "p", inputs.y_pred, inputs.out_dtype,
                                 "Pass probability rows summing to 1 along axis, or logits "
                                 "with from_logits=True")
        if from_logits:
            log_p = log_softmax(xp, inputs.y_pred)
            probabilities = xp.exp(log_p)
        else:
            probabilities = inputs.y_pred
            log_p = xp.log(probabilities)
        # p (-log p) with 0 log 0 = 0; the sign inside keeps a certain row at +0, not -0
        per_row = xp.sum(mul_zero_safe(xp, probabilities, -log_p), axis=-1)
        weight = sample_weights(func, inputs, inputs.sample_weight, tuple(per_row.shape),
                                check_values=check_values)
        if check_values and to_bool(func, xp.any(xp.isnan(per_row))):
            fail(func, "p", "gives an undefined (NaN) entropy", _CE_NAN_HINT)
        return reduced(xp, per_row, reduction, weight=weight, unit=unit,
                       dtype=inputs.out_dtype)


_PERPLEXITY = LossExplanation(
    formula="PPL = exp(−(1/n)·Σ_i log p_{i,y_i}) = exp(mean sparse categorical "
            "cross-entropy)",
    distribution="Categorical: the exponentiated negative mean log-likelihood of the "
                 "observed classes (tokens); a uniform guess among k classes has "
                 "perplexity k.",
    activation_from="categorical",
    activation="softmax over the vocabulary (from_logits=True takes the logits)",
    raw_output="the C logits z (from_logits=True), or the probabilities p",
    gradient="∂PPL/∂z_c = PPL·(p_c − [c = y])  (one sample: PPL times the cross-entropy's "
             "gradient).",
    when="Reporting a language model (or any categorical model): a metric on the scale of "
         "'choosing among k equally likely options'.",
    pitfalls=(
        "A metric, not a training loss: train on sparse_categorical_cross_entropy, its "
        "logarithm (no analytic gradient is registered here; the example uses a finite "
        "difference).",
        "It is the mean over all tokens of the batch, not the mean of per-sequence "
        "perplexities (a larger number).",
    ),
    related=("sparse_categorical_cross_entropy", "entropy"),
    case=Case(_LABEL_CASE.inputs, 0, _P3, {"from_logits": True}, vary=0,
               grid=(-4.0, 4.0), more_targets=(1,),
               x_label="logit z₀ of class 0 (other logits fixed)"),
)


@explained(aliases=("ppl",), explanation=_PERPLEXITY)
@options(from_logits=Boolean(), axis=Integer(), ignore_index=Optional(Integer()), eps=_EPS,
         check_values=Boolean())
def perplexity(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    from_logits: bool = False,
    axis: int = -1,
    ignore_index: int | None = None,
    eps: float | None = None,
    sample_weight: Any = None,
    check_values: bool = True,
) -> Array:
    r"""Perplexity: the exponential of the mean categorical cross-entropy (lower is better).

    .. math::

        \mathrm{PPL} = \exp\Bigl( \frac{\sum_i w_i\, (-\log p_{i y_i})}{\sum_i w_i} \Bigr)
                     = 2^{H_\mathrm{bits}}

    the geometric mean of :math:`1 / p_{i y_i}` over the (non-ignored) samples, e.g. the
    tokens of a language model: a model as uncertain as a uniform choice among :math:`k`
    classes has perplexity :math:`k`; a perfect model has 1. It is the exponentiated negative
    mean log-likelihood of a categorical target, so it is minimised exactly where the
    cross-entropy is, and it does not depend on the unit of the logarithm. Report it as a
    metric; train on :func:`sparse_categorical_cross_entropy`, its logarithm (perplexity has
    no registered gradient, and its scale grows with the loss).

    It is the mean over *all* samples of the batch (tokens, not sequences), as torchmetrics'
    and KerasNLP's ``Perplexity`` compute it; the mean over sequences of per-sequence
    perplexities is a different (larger) number.

    Parameters
    ----------
    y_true : array_like of integers, shape ``y_pred.shape`` less ``axis``
        Class (token) labels in ``[0, C)``, or ``ignore_index``.
    y_pred : array_like, shape (..., C, ...)
        Probabilities, or logits with ``from_logits=True``; classes along ``axis``.
    from_logits : bool
        ``y_pred`` holds logits.
    axis : int
        The class axis.
    ignore_index : int, optional
        Label marking samples to leave out (padding tokens).
    eps : float in [0, 0.5), optional
        Probability clipping bound (ignored with logits); as in
        :func:`sparse_categorical_cross_entropy`.
    sample_weight : array_like of shape ``y_true.shape``, optional
        Non-negative weights (a 0/1 mask works too).
    check_values : bool
        Check labels, ranges, NaN and weights (host synchronisation).

    Returns
    -------
    array
        0-d, in ``y_pred``'s library and floating dtype; at least 1.

    Examples
    --------
    >>> import losskit as lk
    >>> float(lk.perplexity([0, 1], [[0.25, 0.75], [0.75, 0.25]]))
    4.0
    >>> float(lk.perplexity([0, 1, 2], [[0.0, 0.0, 0.0]] * 3, from_logits=True))
    3.0
    """
    func = "perplexity"
    body = sparse_categorical_cross_entropy.spec.body
    with numpy_errors_silenced():
        try:
            parts = body(y_true, y_pred, from_logits=from_logits, axis=axis,
                         ignore_index=ignore_index, eps=eps, sample_weight=sample_weight,
                         check_values=check_values)
        except (ValueError, TypeError) as error:
            # the checks are the cross-entropy's: name the function the user called
            message = str(error).replace("sparse_categorical_cross_entropy:", f"{func}:", 1)
            raise type(error)(message) from None
        xp = parts.inputs.xp
        if check_values:
            # a NaN can only come from a sample (the mean's weights are normalised, so no
            # weight overflows it): name that sample, as the cross-entropy does
            check_not_nan(func, parts)
        value = xp.exp(reduced(xp, parts.loss, "mean", weight=parts.weight,
                               mean_weight=parts.mean_weight))
        out = parts.inputs.out_dtype
        return as_array(xp, value if value.dtype == out else xp.astype(value, out))


# ------------------------------------------------------------------------------ margin losses


def _signed_labels(func: str, xp: Namespace, y: Array, check_values: bool,
                   whole_array: bool = False, own: bool = False) -> Array:
    """Map labels {0, 1} or {-1, 1} to signs -1/+1 (0 and -1 are the negative class).

    With ``whole_array``, Keras' rule: ``2y - 1`` only if *every* label of the array is 0 or
    1, otherwise the labels as they are (so a 0 among -1/+1 labels is a target of 0).
    ``own``: ``y`` is this call's own copy (NumPy: the signs may be written into it).
    """
    if whole_array:
        if check_values:
            bad = ~((y == 1.0) | (y == 0.0) | (y == -1.0))
            if to_bool(func, xp.any(bad)):
                index = first_index(xp, bad)
                where = index_text(index)
                fail(func, "y_true", f"has label {to_float(y[index]):g} at index {where}, not "
                     "in {-1, 0, 1}", "Pass binary labels: 0/1 or -1/+1")
        binary = xp.all((y == 0.0) | (y == 1.0))
        return xp.where(binary, 2.0 * y - 1.0, y)
    if check_values and isinstance(y, np.ndarray) and y.dtype.kind == "f":
        signs = _numpy_checked_signs(y, own=own)
        if signs is not None:
            return signs
    if check_values:
        bad = ~((y == 1.0) | (y == 0.0) | (y == -1.0))
        if to_bool(func, xp.any(bad)):
            index = first_index(xp, bad)
            where = index_text(index)
            fail(func, "y_true", f"has label {to_float(y[index]):g} at index {where}, not in "
                 "{0, 1} or {-1, 1}",
                 "Pass binary labels: 0/1 or -1/+1 (for class indices use "
                 "categorical_hinge_loss with one-hot targets)")
        if to_bool(func, xp.any(y == 0.0) & xp.any(y == -1.0)):
            fail(func, "y_true", "mixes labels 0 and -1",
                 "Use one coding for the negative class: 0/1 or -1/+1")
    if aac.is_jax_namespace(xp):
        # g (g + 1) - 1 of g = sign(y): 2 [y > 0] - 1 for every label (-1, 0 -> -1, 1 -> +1;
        # exact in floating point), without a comparison: XLA on CPU does not vectorise a
        # comparison fused into the loss's sum (measured at 1e6 float32, jit of the hinge
        # value: 1.75 -> 1.06 ms; y (y + 1) - 1 alone 0.88 ms, but under jit the labels are
        # not checked, and a label 0.5, 2 or -2 got another sign than on other backends)
        g = xp.sign(y)
        return g * (g + 1.0) - 1.0
    # 2 * [y > 0] - 1: 1 -> +1, 0 and -1 -> -1
    return 2.0 * xp.astype(y > 0.0, y.dtype) - 1.0


def _numpy_checked_signs(y: np.ndarray, *, own: bool = False) -> np.ndarray | None:
    """The signs of labels coded all 0/1 (``2y − 1``) or all −1/+1 (``y`` itself), the same
    numbers as ``2 [y > 0] − 1``; ``None`` for anything else (the generic checks then name
    the bad label): the minimum, two comparisons and an ``or``, where the generic check
    takes five comparisons, two ``or`` and an inverse, and the mapping three passes.
    ``own``: ``y`` is the call's own copy (labels cast to the compute dtype), and ``2y − 1``
    is written into it (no fresh array: each costs page faults here)."""
    if y.size == 0:
        return None
    negative = bool(y.min() < 0.0)  # -1/+1 (NaN: neither, and the checks below fail)
    ok = y == (-1.0 if negative else 0.0)
    ok |= y == 1.0
    if not ok.all():
        return None
    if negative:
        return y
    signs = np.multiply(y, 2.0, out=y if own else None)
    signs -= 1.0
    return signs


def _margin_inputs(func: str, y_true: Any, y_pred: Any, sample_weight: Any,
                   check_values: bool, policy: Convention) -> tuple[Inputs, Array]:
    inputs = prepare(func, y_true, y_pred, sample_weight)
    xp = inputs.xp
    if check_values:
        check_finite(func, xp, "y_pred", inputs.y_pred, allow_inf=True,
                     fix="Scores must not be NaN; look for a diverged model or bad features")
    signs = _signed_labels(func, xp, inputs.y_true, check_values,
                           whole_array=policy.signs_if_all_binary,
                           own=own_copy(y_true, inputs.y_true))
    return inputs, signs


def _margin_gap(xp: Namespace, t: Array, s: Array, positive: bool = False) -> Array:
    """``1 − t s`` (with ``positive``, its positive part): on NumPy in one buffer (each fresh
    4 MB array costs about 1 ms of page faults here), the same operations."""
    if isinstance(s, np.ndarray) and isinstance(t, np.ndarray):
        gap = np.multiply(t, s)
        np.subtract(1.0, gap, out=gap)
        return np.maximum(gap, 0.0, out=gap) if positive else gap
    gap = 1.0 - t * s
    return xp.maximum(gap, 0.0) if positive else gap


_HINGE_LOSS = LossExplanation(
    formula="l = max(0, 1 − t·s),   t ∈ {−1, +1} (0/1 labels are mapped to −1/+1),   "
            "s the raw score",
    distribution="None: it is the margin loss of the support-vector machine, the tightest "
                 "convex upper bound of the 0-1 loss, not the negative log-likelihood of a "
                 "distribution. It gives a decision sign(s), not a probability.",
    activation="none (a linear score) or tanh (scores in [−1, 1], as in the classic "
               "study); never a sigmoid",
    raw_output="the score s (decision: sign(s))",
    gradient="∂l/∂s = −t where t·s < 1 (inside the margin or wrong), 0 beyond the margin.",
    when="Binary classification judged on accuracy alone, when no probabilities are "
         "needed; the labels ±1 are natural (the study's hinge run uses a tanh output).",
    pitfalls=(
        "Not a probability: do not threshold s at 0.5 or read it as P(y = 1); the decision "
        "is sign(s).",
        "A sigmoid output (s ∈ [0, 1]) can never reach the margin for t = −1: every "
        "negative sample costs at least 1. Use a linear or tanh output.",
        "Through a tanh output the hinge saturates like the squared error through a "
        "sigmoid: for a confidently wrong logit tanh′ vanishes, and so does the gradient "
        "w.r.t. the logit; and the margin t·s = 1 is reached only as the logit → ∞.",
        "Samples beyond the margin contribute nothing: the loss stops learning from them, "
        "which makes it robust but ignores how confident the model is.",
    ),
    related=("squared_hinge_loss", "categorical_hinge_loss", "binary_cross_entropy"),
    case=Case("y = +1, s = 0.3", 1.0, 0.3, grid=(-3.0, 3.0), more_targets=(-1.0,),
               x_label="score s"),
    classification=True,
)


@loss_function(aliases=("hinge", "svm", "svm loss"), explanation=_HINGE_LOSS)
def hinge_loss(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    sample_weight: Any = None,
    reduction: str = "mean",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Hinge loss, the margin loss of the (soft-margin) support-vector machine.

    .. math::

        l_{ij} = \max(0,\; 1 - t_{ij}\, s_{ij}), \qquad l_i = \frac1k \sum_j l_{ij}, \qquad
        L = \frac{\sum_i w_i l_i}{\sum_i w_i}

    with :math:`t \in \{-1, +1\}` the label and :math:`s` a raw score (a linear output, or a
    ``tanh`` output in [-1, 1]), *not* a probability: the decision is :math:`\mathrm{sign}(s)`.
    Correct predictions beyond the margin (:math:`ts \ge 1`) cost nothing, so the loss ignores
    well-classified samples. It is not a negative log-likelihood and gives no probabilities:
    it is the tightest convex upper bound of the 0-1 loss, and the loss for a classifier
    judged on accuracy alone. For probabilities use :func:`binary_cross_entropy` instead.

    Labels 0/1 are mapped to -1/+1 element by element, as Keras' ``Hinge`` does for 0/1
    arrays and scikit-learn's ``hinge_loss`` does for any two labels (smaller -> -1).

    Parameters
    ----------
    y_true : array_like, same shape as ``y_pred``
        Binary labels, coded 0/1 or -1/+1: 1 is the positive class, 0 and -1 the negative
        class (mapped to :math:`t = -1`; an array must not mix 0 and -1).
    y_pred : array_like, shape (n,) or (n, ..., k)
        Raw scores. With more than one dimension the last axis holds ``k`` binary outputs,
        averaged per sample (as Keras does).
    sample_weight : array_like of per-sample shape, optional
        Non-negative weights :math:`w_i`.
    reduction : {"mean", "sum", "none"}
    check_values : bool
        Check labels, NaN and weights (host synchronisation).
    convention : {"losskit", "sklearn", "keras", "torch"}
        Whose number to reproduce (see ``docs/conventions.md``). ``"keras"``: labels are
        mapped to -1/+1 only when the whole array is 0/1 (mixed -1/0/+1 labels are taken
        as they are, a 0 label giving a loss of 1 whatever the score), and a weighted mean
        divided by the number of samples. scikit-learn's ``hinge_loss`` is losskit's.
        PyTorch has no such loss (its ``hinge_embedding_loss`` is a different one):
        ``"torch"`` is losskit's.

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    See Also
    --------
    squared_hinge_loss : smooth at the margin.
    categorical_hinge_loss : more than two classes.

    Examples
    --------
    >>> import losskit as lk
    >>> float(lk.hinge_loss([1, 0, 1], [2.0, -0.5, 0.25]))
    0.4166666666666667
    >>> float(lk.hinge_loss([1, -1, 1], [2.0, -0.5, 0.25]))
    0.4166666666666667
    """
    func = "hinge_loss"
    policy = CONVENTIONS[convention].only("keras")
    inputs, t = _margin_inputs(func, y_true, y_pred, sample_weight, check_values, policy)
    xp = inputs.xp
    gap = _margin_gap(xp, t, inputs.y_pred)
    per_sample, k = mean_over_outputs(xp, xp.maximum(gap, 0.0))
    weight = sample_weights(func, inputs, inputs.sample_weight, tuple(per_sample.shape),
                            check_values=check_values)

    def gradient() -> Array:
        # d/ds max(0, 1 - t s) = -t inside the margin, 0 beyond it (0 at the kink, like relu)
        if isinstance(gap, np.ndarray):
            # NumPy (measured at 1e6 float32: 6 -> 1 ms): 0 - t [gap > 0], whose zeros are
            # +0 as the where's (-t · 0 would give -0 for t = 1)
            g = np.multiply(t, gap > 0.0)
            np.subtract(0.0, g, out=g)
            return g if k == 1 else np.divide(g, k, out=g)
        return xp.where(gap > 0.0, -t, 0.0) / k

    return PerSample(inputs, per_sample, gradient, weight,
                     count_normaliser(xp, per_sample, weight, policy))


_SQUARED_HINGE_LOSS = LossExplanation(
    formula="l = max(0, 1 − t·s)²,   t ∈ {−1, +1} (0/1 labels mapped),   s the raw score",
    distribution="None: the L2-SVM loss (scikit-learn's LinearSVC default), a margin loss "
                 "without a likelihood; it gives a decision sign(s), not a probability.",
    activation="none (a linear score) or tanh; never a sigmoid",
    raw_output="the score s",
    gradient="∂l/∂s = −2t·max(0, 1 − t·s)  (continuous: 0 at the margin).",
    when="As hinge_loss, when a loss differentiable at the margin is wanted (second-order "
         "or smooth optimisers).",
    pitfalls=(
        "Large margin violations cost quadratically, so mislabelled points pull much harder "
        "than under the hinge.",
        "Not a probability; the decision is sign(s).",
        "With a tanh output the gradient through tanh vanishes for confidently wrong "
        "logits (like the squared error through a sigmoid).",
    ),
    related=("hinge_loss", "categorical_hinge_loss", "binary_cross_entropy"),
    case=Case("y = +1, s = 0.3", 1.0, 0.3, grid=(-3.0, 3.0), more_targets=(-1.0,),
               x_label="score s"),
    classification=True,
)


@loss_function(aliases=("squared hinge", "l2 svm"), explanation=_SQUARED_HINGE_LOSS)
def squared_hinge_loss(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    sample_weight: Any = None,
    reduction: str = "mean",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Squared hinge loss: the hinge, squared, so smooth at the margin.

    .. math::

        l_{ij} = \max(0,\; 1 - t_{ij}\, s_{ij})^2, \qquad l_i = \frac1k \sum_j l_{ij}, \qquad
        L = \frac{\sum_i w_i l_i}{\sum_i w_i}

    with :math:`t \in \{-1, +1\}` and raw scores :math:`s` (as in :func:`hinge_loss`). The
    L2-SVM loss (scikit-learn's ``LinearSVC`` default): differentiable everywhere, and it
    penalises large margin violations more than the hinge, so it is more sensitive to
    mislabelled points. Not a likelihood: no probabilities come out of it.

    Parameters
    ----------
    y_true : array_like, same shape as ``y_pred``
        Binary labels, coded 0/1 or -1/+1: 1 is the positive class, 0 and -1 the negative
        class (mapped to :math:`t = -1`; an array must not mix 0 and -1).
    y_pred : array_like, shape (n,) or (n, ..., k)
        Raw scores; the last axis of a multi-dimensional array holds ``k`` outputs, averaged.
    sample_weight : array_like of per-sample shape, optional
    reduction : {"mean", "sum", "none"}
    check_values : bool
    convention : {"losskit", "sklearn", "keras", "torch"}
        Whose number to reproduce (see ``docs/conventions.md``). ``"keras"``: labels are
        mapped to -1/+1 only when the whole array is 0/1 (mixed -1/0/+1 labels are taken
        as they are, a 0 label giving a loss of 1 whatever the score), and a weighted mean
        divided by the number of samples. scikit-learn has no squared hinge loss:
        ``"sklearn"`` is losskit's. PyTorch has no such loss (its ``hinge_embedding_loss``
        is a different one): ``"torch"`` is losskit's.

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    Examples
    --------
    >>> import losskit as lk
    >>> float(lk.squared_hinge_loss([1, 0, 1], [2.0, -0.5, 0.25]))
    0.2708333333333333
    """
    func = "squared_hinge_loss"
    policy = CONVENTIONS[convention].only("keras")
    inputs, t = _margin_inputs(func, y_true, y_pred, sample_weight, check_values, policy)
    xp = inputs.xp
    gap = _margin_gap(xp, t, inputs.y_pred, positive=True)
    u = None
    if isinstance(gap, np.ndarray) and own_copy(y_true, t) and t.dtype == gap.dtype and \
            t.shape == gap.shape:
        # NumPy, the signs in a buffer of the call's own: u = t·gap there (exact: t = ±1) and
        # gap² in place, no fresh array (measured at 1e6 float32, the value with checks:
        # 4.7 -> 3.9 ms); the gradient -2u is the same numbers as -2t·gap
        u = np.multiply(t, gap, out=t)
        squared = np.multiply(gap, gap, out=gap)
    else:
        squared = gap * gap
    per_sample, k = mean_over_outputs(xp, squared)
    weight = sample_weights(func, inputs, inputs.sample_weight, tuple(per_sample.shape),
                            check_values=check_values)

    def gradient() -> Array:
        if u is not None:
            g = np.multiply(u, -2.0)
            return g if k == 1 else np.divide(g, k, out=g)
        if isinstance(gap, np.ndarray):  # the same operations in one buffer
            g = np.multiply(t, -2.0)
            g *= gap
            return g if k == 1 else np.divide(g, k, out=g)
        return -2.0 * t * gap / k

    return PerSample(inputs, per_sample, gradient, weight,
                     count_normaliser(xp, per_sample, weight, policy),
                     nan_hint="an infinite score was squared against an infinite margin")


_CATEGORICAL_HINGE_LOSS = LossExplanation(
    formula="l = max(0, 1 − s_y + max_{c≠y} s_c)   (s the raw class scores, y the class of "
            "the one-hot row)",
    distribution="None: the Crammer–Singer multi-class SVM loss, a margin loss without a "
                 "likelihood; it gives a decision argmax(s), not probabilities.",
    activation="none (linear scores); not softmax, since the margin 1 is in score units",
    raw_output="the C class scores s",
    gradient="∂l/∂s_y = −1 and ∂l/∂s_m = +1 for the best wrong class m = argmax_{c≠y} s_c "
             "while the margin is violated (l > 0); 0 otherwise.",
    when="Multi-class classification judged on accuracy alone, when no probabilities are "
         "needed.",
    pitfalls=(
        "Only the best wrong class gets a gradient, and nothing once the margin holds: "
        "learning stops early and says nothing about confidence.",
        "Keras' CategoricalHinge counts the true class as a score of 0 among the wrong "
        "ones, so it differs when every wrong score is negative.",
        "Not probabilities: use categorical_cross_entropy when they matter.",
    ),
    related=("hinge_loss", "categorical_cross_entropy", "squared_hinge_loss"),
    case=Case("y = (1, 0, 0), s = (0.5, 0.8, −1)", (1.0, 0.0, 0.0), (0.5, 0.8, -1.0),
               vary=0, grid=(-3.0, 3.0), more_targets=((0.0, 1.0, 0.0),),
               x_label="score s₀ of class 0 (other scores fixed)"),
    classification=True,
)


@loss_function(axis=Integer(),
               aliases=("categorical hinge", "multiclass hinge", "multi-class hinge",
                        "crammer singer"),
               explanation=_CATEGORICAL_HINGE_LOSS)
def categorical_hinge_loss(
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
    r"""Multi-class hinge loss (Crammer and Singer, 2001) against one-hot targets.

    .. math::

        l_i = \max\Bigl(0,\; 1 - s_{i y_i} + \max_{c \ne y_i} s_{ic}\Bigr), \qquad
        L = \frac{\sum_i w_i l_i}{\sum_i w_i}

    with raw class scores :math:`s` and the true class :math:`y_i` (the 1 of the one-hot row):
    zero once the true class's score beats every other by the margin 1. The multi-class SVM
    loss; like :func:`hinge_loss`, not a likelihood (use
    :func:`categorical_cross_entropy` for probabilities).

    This is scikit-learn's multi-class ``hinge_loss`` (which takes class indices) and Keras'
    ``CategoricalHinge`` on the inputs Keras is meant for. Keras computes the largest wrong
    score as :math:`\max_c (1 - y_{ic})\, s_{ic}`, which counts the true class as a score of 0:
    when every wrong-class score is negative it uses 0 instead of their maximum and gives a
    larger loss. Both agree whenever some wrong class scores :math:`\ge 0`, e.g. for
    probabilities. PyTorch's ``multi_margin_loss`` is a different loss (Weston-Watkins: a sum
    over the wrong classes, divided by :math:`C`).

    Parameters
    ----------
    y_true : array_like, same shape as ``y_pred``
        One-hot rows along ``axis`` (exactly one 1 per row, zeros elsewhere).
    y_pred : array_like, shape (..., C, ...)
        Raw class scores, :math:`C \ge 2`, classes along ``axis``.
    axis : int
        The class axis.
    sample_weight : array_like of shape ``y_pred.shape`` less ``axis``, optional
    reduction : {"mean", "sum", "none"}
    check_values : bool
        Check one-hot rows, NaN and weights (host synchronisation).
    convention : {"losskit", "sklearn", "keras", "torch"}
        Whose number to reproduce (see ``docs/conventions.md``). ``"keras"``: the largest
        wrong score is :math:`\max(0, \max_{c \ne y_i} s_{ic})` (Keras counts the true class
        as a score of 0), and a weighted mean divided by the number of samples.
        ``"sklearn"`` is losskit's; PyTorch has no such loss: ``"torch"`` is losskit's.

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    Examples
    --------
    >>> import losskit as lk
    >>> y = [[1, 0, 0], [0, 1, 0]]
    >>> s = [[2.0, 0.5, -1.0], [0.2, 0.6, 0.0]]
    >>> lk.categorical_hinge_loss(y, s, reduction="none")
    array([0. , 0.6])

    Keras' number where every wrong class scores below 0:

    >>> y, s = [[1, 0, 0]], [[-0.5, -1.0, -3.0]]
    >>> [float(lk.categorical_hinge_loss(y, s, convention=c)) for c in ("losskit", "keras")]
    [0.5, 1.5]
    """
    func = "categorical_hinge_loss"
    policy = CONVENTIONS[convention].only("keras")
    inputs = prepare(func, y_true, y_pred, sample_weight, axis=axis)
    xp, y, s = inputs.xp, inputs.y_true, inputs.y_pred
    n_classes = s.shape[-1]
    if n_classes < 2:
        fail(func, "y_pred", f"has {n_classes} class along axis {axis}",
             "Pass scores for at least 2 classes (for one score per sample use hinge_loss)")
    if check_values:
        if not _one_hot(func, xp, y):
            fail(func, "y_true", "is not one-hot (values other than 0/1, or rows without "
                 "exactly one 1)", "Pass one-hot rows along axis, e.g. numpy.eye(C)[labels]")
        check_finite(func, xp, "y_pred", s, allow_inf=True,
                     fix="Scores must not be NaN; look for a diverged model or bad features")
    if not policy.true_class_as_zero:
        fast = _numpy_categorical_hinge(y, s, one_hot=check_values)
        if fast is not None:
            per_sample, gap, shifted, rival_max, target = fast
            weight = sample_weights(func, inputs, inputs.sample_weight,
                                    tuple(per_sample.shape), check_values=check_values)

            def scaled_gradient(scale: Array | float) -> Array:
                return _numpy_categorical_hinge_gradient(gap, shifted, rival_max, target,
                                                         scale)

            return PerSample(inputs, per_sample, lambda: scaled_gradient(1.0), weight,
                             count_normaliser(xp, per_sample, weight, policy),
                             nan_hint="the true class and another both score +inf or -inf",
                             scaled_gradient=scaled_gradient)
    target = y > 0.0
    true_score = xp.sum(xp.where(target, s, 0.0), axis=-1)
    # Keras' max((1 - y) s) counts the true class as a wrong score of 0
    others = xp.where(target, 0.0 if policy.true_class_as_zero else -math.inf, s)
    gap = 1.0 - true_score + xp.max(others, axis=-1)
    per_sample = xp.maximum(gap, 0.0)
    weight = sample_weights(func, inputs, inputs.sample_weight, tuple(per_sample.shape),
                            check_values=check_values)

    def gradient() -> Array:
        # +1 at the first highest wrong class (none where Keras' 0 for the true class is the
        # highest), -1 at the true class, where the margin is violated
        rival = xp.argmax(others, axis=-1)
        classes = xp.arange(n_classes, dtype=rival.dtype, device=device(s))
        g = (xp.astype((classes == rival[..., None]) & ~target, s.dtype)
             - xp.astype(target, s.dtype))
        return xp.where((gap > 0.0)[..., None], g, 0.0)

    return PerSample(inputs, per_sample, gradient, weight,
                     count_normaliser(xp, per_sample, weight, policy),
                     nan_hint="the true class and another both score +inf or -inf")


def _one_hot(func: str, xp: Namespace, y: Array) -> bool:
    """Whether every value of ``y`` is 0 or 1 and every row (last axis) holds one 1. On NumPy
    the row counts are a BLAS contraction (measured at 333334 x 3 float32: the sum over the
    short axis 5.3 ms, the contraction 0.3)."""
    if isinstance(y, np.ndarray) and aac.is_numpy_namespace(xp) and y.dtype.kind == "f":
        binary = y == 0.0
        binary |= y == 1.0
        return bool(binary.all()) and bool(
            (row_dot(xp, np.ones(y.shape[-1], dtype=y.dtype), y) == 1.0).all())
    not_binary = ~((y == 0.0) | (y == 1.0))
    rows_bad = xp.sum(y, axis=-1) != 1.0
    return not to_bool(func, xp.any(not_binary) | xp.any(rows_bad))


def _numpy_categorical_hinge(y: Array, s: Array, *, one_hot: bool
                             ) -> tuple[np.ndarray, ...] | None:
    """NumPy fast path of :func:`categorical_hinge_loss` (losskit's convention): ``(loss,
    gap, shifted, rival_max, target)``, or ``None`` (another library; or a score that is
    not finite in a row's target score or rivals' maximum: the generic path).

    The target's score is ``(t · s) · 1`` and the rivals' maximum the row maximum of
    ``s − t · max_float`` (as the PyTorch kernel: the other scores are unchanged, and where
    the shifted target wins every rival is below ``s_y − max_float``, so the loss is 0
    either way), with ``t`` the one-hot rows (``y`` itself once checked, else ``[y > 0]``):
    no ``where`` and no sum or maximum over a short axis (measured at 333334 x 3 float32:
    the value 37 -> 5 ms, with the gradient 52 -> 9 ms). The same numbers as the generic
    path: the sums add zeros to the target's score.
    """
    if not (isinstance(s, np.ndarray) and isinstance(y, np.ndarray) and s.dtype.kind == "f"
            and y.shape == s.shape and s.ndim == 2):
        return None
    target = y if one_hot and y.dtype == s.dtype else (y > 0.0).astype(s.dtype)
    ones = np.ones(s.shape[-1], dtype=s.dtype)
    product = target * s
    true_score = numpy_row_dot(ones, product)  # ``product @ ones`` in one thread
    np.multiply(target, np.finfo(s.dtype).max, out=product)
    shifted = np.subtract(s, product, out=product)
    rival_max = row_max(np, shifted)
    gap = 1.0 - true_score
    gap += rival_max
    if not np.isfinite(gap).all():
        return None
    return np.maximum(gap, 0.0), gap, shifted, rival_max, target


def _numpy_categorical_hinge_gradient(gap: np.ndarray, shifted: np.ndarray,
                                      rival_max: np.ndarray, target: np.ndarray,
                                      scale: Array | float) -> np.ndarray:
    """``scale ·`` the gradient of :func:`_numpy_categorical_hinge`: +1 at the first highest
    rival, −1 at the target, in rows whose margin is violated (``gap > 0``), else +0. The
    rival is where the shifted row equals its maximum; rows with a tie (rare) take the
    first, as ``argmax`` does."""
    rival = (shifted == rival_max[:, None]).astype(shifted.dtype)
    active = gap > 0.0
    ties = np.flatnonzero(active & (numpy_row_dot(np.ones(rival.shape[-1], dtype=rival.dtype),
                                                   rival) != 1))
    if ties.size:
        rival[ties] = 0.0
        rival[ties, np.argmax(shifted[ties], axis=-1)] = 1.0
    factor = active.astype(shifted.dtype)
    factor *= scale
    rival -= target
    rival *= factor[:, None]
    rival += 0.0  # -1 · 0 is -0: the inactive rows' zeros are +0, as the generic path's
    return rival


# ------------------------------------------------------------------------------- focal losses


_BINARY_FOCAL_LOSS = LossExplanation(
    formula="l = −α_t·(1 − p_t)^γ·log p_t,   p_t = p if y = 1 else 1 − p,   p = σ(z)\n"
            "α_t = α if y = 1 else 1 − α (α = None: 1);   γ = gamma ≥ 0",
    distribution="Bernoulli, reweighted: −log p_t is the Bernoulli negative log-likelihood, "
                 "and (1 − p_t)^γ shrinks the samples already predicted well. With γ = 0 "
                 "(and α = None) it is binary_cross_entropy.",
    activation_from="bernoulli",
    activation="one sigmoid unit per label (from_logits=True for stability)",
    raw_output="the logit z (from_logits=True), or the probability p",
    gradient="∂l/∂z = t·(1 − p_t)^γ·(γ·p_t·log p_t + p_t − 1),   t = 2y − 1  (0/1 labels, "
             "α = None; with γ = 0 it is σ(z) − y). Easy samples (p_t → 1) get almost no "
             "gradient.",
    when="Extreme class imbalance with many easy negatives (dense object detection, "
         "segmentation of small structures), where the cross-entropy is dominated by "
         "samples the model already gets right.",
    pitfalls=(
        _NOT_CALIBRATED,
        "alpha differs between libraries: None here means no class balancing (Keras' "
        "apply_class_balancing=False, torchvision's alpha=-1); with balancing both "
        "libraries default to alpha = 0.25, the weight of the positive class.",
        "Combining alpha with class weights or pos_weight counts the imbalance twice.",
        "A large γ makes the gradient of every moderately well-classified sample tiny, "
        "which can slow training; γ = 2 (the paper's choice) is the usual default.",
    ),
    related=("binary_cross_entropy", "categorical_focal_loss", "bernoulli"),
    case=Case(_BINARY_CASE.inputs + ", γ = 2", 1.0, _P9,
               {"from_logits": True, "gamma": 2.0}, grid=(-8.0, 8.0), more_targets=(0.0,),
               x_label="logit z"),
    classification=True,
)


def _torch_logsigmoid(x: Array) -> Array:
    import torch

    return torch.nn.functional.logsigmoid(x)


def _focal_logit_parts(xp: Namespace, y: Array, eta: Array, gamma: float,
                       alpha: float | None) -> tuple[Array, ...]:
    """``(p, 1 - p, BCE, 1 - p_t, (1 - p_t)^gamma, alpha_t)`` of the logit ``eta``, as the body
    computes them from logits: ``BCE = y softplus(-eta) + (1 - y) softplus(eta)`` and
    ``1 - p_t = y sigma(-eta) + (1 - y) sigma(eta)``, sums of non-negative terms (nothing
    cancels, for soft labels too)."""
    if aac.is_torch_array(eta):
        # torch's own sigmoid and logsigmoid, one native op each (the output error of a
        # training step: 4 of them took 54 µs through sigmoid_parts' where-forms at 32 x 1,
        # 5 µs natively); exact and finite for every finite logit
        minus = -eta
        p, q = eta.sigmoid(), minus.sigmoid()
        log_p = _torch_logsigmoid(eta)
        log_q = _torch_logsigmoid(minus)
    elif aac.is_jax_namespace(xp):
        p, q, log_p, log_q = _jax_sigmoid_parts(xp, eta)
    else:
        p, q, log_p, log_q = sigmoid_parts(xp, eta)
    not_y = 1.0 - y
    bce = -(mul_zero_safe(xp, y, log_p) + mul_zero_safe(xp, not_y, log_q))
    miss = y * q + not_y * p
    balance = 1.0 if alpha is None else alpha * y + (1.0 - alpha) * not_y
    return p, q, bce, miss, _focal_power(miss, gamma), balance


def _jax_sigmoid_parts(xp: Namespace, x: Array) -> tuple[Array, Array, Array, Array]:
    """``sigmoid_parts``' four numbers from one ``exp(-|x|)`` and one ``log1p`` on JAX (the
    generic forms take two of each per function, eight in all, under ``jax.jit``). ``|x|`` is
    ``where(x >= 0, x, -x)``: each branch is the function's own formula on its side, so
    autodiff of them (``jax.hessian`` through the focal derivative) is right at 0 too."""
    positive = x >= 0
    e = xp.exp(-xp.where(positive, x, -x))
    softplus_e = xp.log1p(e)
    r = 1.0 / (1.0 + e)
    er = e * r
    return (xp.where(positive, r, er), xp.where(positive, er, r),
            xp.where(positive, -softplus_e, x - softplus_e),
            xp.where(positive, -x - softplus_e, -softplus_e))


def _plain_focal_options(gamma: Any, alpha: Any) -> bool:
    """Whether ``gamma`` and ``alpha`` are host numbers (the analytic JAX derivative is
    cached by them; a traced one is differentiated by autodiff with the rest)."""
    def host(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    return host(gamma) and (alpha is None or host(alpha))


def _binary_focal_logit_parts(xp: Namespace, y: Array, eta: Array, *, gamma: float,
                              alpha: float | None) -> tuple[Array, Array]:
    """The element-wise binary focal loss of the logit and its derivative, from one set of
    :func:`_focal_logit_parts` (for :func:`losskit._array.with_derivative`)."""
    p, q, bce, miss, focal, balance = _focal_logit_parts(xp, y, eta, gamma, alpha)
    d = (1.0 - y) * p - y * q
    if gamma:
        d = gamma * ((1.0 - y) - y) * bce * _focal_ratio(xp, p, q, miss) + d
    value, g = focal * bce, focal * d
    return (value, g) if alpha is None else (balance * value, balance * g)


def _focal_ratio(xp: Namespace, p: Array, q: Array, miss: Array) -> Array:
    """``p (1 - p) / (1 - p_t)``, in [0, 1] as ``1 - p_t >= min(p, 1 - p) >= p (1 - p)``;
    the divisor at least the smallest normal number, so 0 where ``1 - p_t`` underflows to 0
    (there ``BCE`` and the focal factor are 0 as well). Two element-wise ops, not a ``where``
    (12 -> 4 µs a call on torch at 32 x 1)."""
    floor = xp.finfo(miss.dtype).smallest_normal
    if aac.is_torch_array(miss):
        return (p * q) / miss.clamp_min(floor)
    return (p * q) / xp.maximum(miss, xp.asarray(floor, dtype=miss.dtype))


def _binary_focal_value(xp: Namespace, y: Array, eta: Array, *, gamma: float = 2.0,
                        alpha: float | None = None) -> Array:
    r""":math:`\alpha_t (1 - p_t)^\gamma\, \mathrm{BCE}(y, \sigma(\eta))` of the logit
    :math:`\eta` (``binary_focal_loss(..., from_logits=True)``, element by element)."""
    _, _, bce, _, focal, balance = _focal_logit_parts(xp, y, eta, gamma, alpha)
    return focal * bce if alpha is None else balance * focal * bce


def _binary_focal_gradient(xp: Namespace, y: Array, eta: Array, *, gamma: float = 2.0,
                           alpha: float | None = None) -> Array:
    r""":math:`\alpha_t m^\gamma [\gamma (1 - 2y)\, r\, \mathrm{BCE} + \sigma(\eta) - y]`,
    :math:`m = 1 - p_t`, :math:`r = p(1 - p)/m` (:math:`dm/d\eta = (1 - 2y) p (1 - p)`)."""
    p, q, bce, miss, focal, balance = _focal_logit_parts(xp, y, eta, gamma, alpha)
    d = (1.0 - y) * p - y * q  # sigma(eta) - y without cancellation
    if gamma:
        d = gamma * ((1.0 - y) - y) * bce * _focal_ratio(xp, p, q, miss) + d
    g = focal * d
    return g if alpha is None else balance * g


def _binary_focal_hessian(xp: Namespace, y: Array, eta: Array, *, gamma: float = 2.0,
                          alpha: float | None = None) -> Array:
    r""":math:`\alpha_t m^\gamma [\gamma(\gamma - 1) (t r)^2 \mathrm{BCE}
    + \gamma t r ((1 - 2p)\mathrm{BCE} + 2(p - y)) + p(1 - p)]`, :math:`t = 1 - 2y`: the
    derivative of :func:`_binary_focal_gradient` (bounded for ``0 < gamma < 1`` too, as
    :math:`r \le 1`). Not positive everywhere: the focal loss is not convex in the logit."""
    p, q, bce, miss, focal, balance = _focal_logit_parts(xp, y, eta, gamma, alpha)
    h = p * q
    if gamma:
        d = (1.0 - y) * p - y * q
        tr = ((1.0 - y) - y) * _focal_ratio(xp, p, q, miss)
        h = gamma * ((gamma - 1.0) * tr * tr * bce + tr * ((q - p) * bce + 2.0 * d)) + h
    h = focal * h
    return h if alpha is None else balance * h


@loss_function(kernel=Kernel("logit", _binary_focal_value, _binary_focal_gradient,
                             _binary_focal_hessian),
               gamma=_GAMMA, alpha=_ALPHA, from_logits=Boolean(), axis=Integer(),
               label_smoothing=Real(0.0, 1.0), eps=_EPS,
               aliases=("focal", "focal loss", "sigmoid focal"), explanation=_BINARY_FOCAL_LOSS)
def binary_focal_loss(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    gamma: float = 2.0,
    alpha: float | None = None,
    from_logits: bool = False,
    axis: int = -1,
    label_smoothing: float = 0.0,
    eps: float | None = None,
    sample_weight: Any = None,
    reduction: str = "mean",
    unit: str = "nats",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Binary focal loss (Lin et al., 2017): cross-entropy that down-weights easy samples.

    .. math::

        l_{ij} = \alpha_t\, (1 - p_t)^{\gamma}\, \mathrm{BCE}(y, p), \qquad
        p_t = y p + (1 - y)(1 - p), \qquad \alpha_t = \alpha y + (1 - \alpha)(1 - y),

    :math:`\mathrm{BCE}(y, p) = -[y \log p + (1-y) \log(1-p)]` and
    :math:`l_i = \frac1k \sum_j l_{ij}`. For 0/1 labels :math:`\mathrm{BCE} = -\log p_t`, so
    :math:`l = -\alpha_t (1 - p_t)^\gamma \log p_t`: the Bernoulli negative log-likelihood,
    each sample scaled by how badly it is predicted. A confident correct prediction
    (:math:`p_t \to 1`) contributes almost nothing, so training concentrates on the hard,
    rare examples; ``gamma=0`` gives :func:`binary_cross_entropy` back, and ``alpha`` weights
    the positive class by :math:`\alpha` and the negative by :math:`1 - \alpha` (``None``:
    no balancing). Use it for extreme class imbalance (dense object detection, segmentation
    of rare structures). It is no longer a proper likelihood: the minimiser is not the true
    probability, so do not read its predictions as calibrated.

    The formula for soft targets is that of Keras' ``BinaryFocalCrossentropy``
    (``apply_class_balancing=True`` with ``alpha``; ``alpha=None`` is its default
    ``apply_class_balancing=False``) and of ``torchvision.ops.sigmoid_focal_loss``
    (``alpha=-1`` there is ``alpha=None`` here; its ``reduction="mean"`` is the mean over all
    elements, ours over samples of the per-sample mean: the same number without weights).
    From logits, :math:`\log p = \log\sigma(z)`, :math:`\log(1-p) = \log\sigma(-z)` and
    :math:`1 - p = \sigma(-z)` are computed without overflow (Keras applies the sigmoid first
    and clips, so it differs for :math:`|z| \gtrsim 16`). From probabilities the logarithms
    use :math:`p` clipped to :math:`[\epsilon, 1-\epsilon]` (the focal factor does not, as in
    Keras).

    Parameters
    ----------
    y_true : array_like, same shape as ``y_pred``
        Targets in [0, 1] (labels 0/1 or probabilities).
    y_pred : array_like, shape (n,) or (n, ..., k)
        Probabilities of the positive class, or logits with ``from_logits=True``; the last
        axis of a multi-dimensional array holds ``k`` labels (multi-label), averaged.
    gamma : float >= 0
        Focusing parameter :math:`\gamma` (2 in the paper).
    alpha : float in [0, 1], optional
        Class balance :math:`\alpha` of the positive class (0.25 in the paper).
    from_logits : bool
        ``y_pred`` holds logits.
    axis : int
        The label axis, averaged per sample (Keras' ``binary_focal_crossentropy(..., axis=)``,
        under every convention); 1-D input is one label per sample.
    label_smoothing : float in [0, 1]
        Targets move towards 1/2 (Keras' definition), before everything else.
    eps : float in [0, 0.5), optional
        Probability clipping bound (ignored with logits); default the machine epsilon.
    sample_weight : array_like of per-sample shape, optional
    reduction : {"mean", "sum", "none"}
    unit : {"nats", "bits"}
    check_values : bool
        Check ranges, NaN and weights (host synchronisation).
    convention : {"losskit", "sklearn", "keras", "torch"}
        Whose number to reproduce (see ``docs/conventions.md``). ``"keras"``: ``eps``
        defaults to :math:`10^{-7}`, logits go through a sigmoid first (then as
        probabilities: clipped logarithms, unclipped focal factor), and a weighted mean
        divided by the number of samples. Neither scikit-learn nor PyTorch has a focal loss
        (``torchvision.ops.sigmoid_focal_loss`` is losskit's with ``alpha`` given):
        ``"sklearn"`` and ``"torch"`` are losskit's.

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    References
    ----------
    T.-Y. Lin, P. Goyal, R. Girshick, K. He, P. Dollár, "Focal Loss for Dense Object
    Detection", ICCV 2017.

    Examples
    --------
    An easy sample (p_t = 0.9) loses 99% of its cross-entropy, a hard one (p_t = 0.1) 19%:

    >>> import losskit as lk
    >>> y, p = [1, 1], [0.9, 0.1]
    >>> lk.binary_focal_loss(y, p, reduction="none") / lk.binary_cross_entropy(
    ...     y, p, reduction="none")
    array([0.01, 0.81])
    >>> bool(lk.binary_focal_loss(y, p, gamma=0.0) == lk.binary_cross_entropy(y, p))
    True

    ``axis`` names the label axis: here the two labels of each sample lie along axis 0.

    >>> y, p = [[1.0, 0.0], [0.0, 1.0]], [[0.9, 0.2], [0.3, 0.6]]
    >>> lk.binary_focal_loss(y, p, axis=0, reduction="none").round(6)
    array([0.016577, 0.045329])
    """
    func = "binary_focal_loss"
    inputs = prepare(func, y_true, y_pred, sample_weight, axis=axis)
    xp, y, z = inputs.xp, inputs.y_true, inputs.y_pred
    policy = CONVENTIONS[convention].only("keras")
    # Keras applies the sigmoid first, then computes as from probabilities
    through_sigmoid = from_logits and policy.logits_as_probabilities
    finite = False
    if check_values:
        check_binary_targets(func, xp, y)
        if from_logits:
            finite = finite_logits(func, inputs, check_values)
        else:
            _check_predictions(func, inputs, from_logits, rows=False)
    if maybe_nonzero(label_smoothing):
        y = y * (1.0 - label_smoothing) + 0.5 * label_smoothing
    balance = 1.0 if alpha is None else alpha * y + (1.0 - alpha) * (1.0 - y)

    if through_sigmoid:
        logits, z = z, sigmoid(xp, z)
    if (from_logits and not through_sigmoid and aac.is_jax_namespace(xp)
            and _plain_focal_options(gamma, alpha)):
        # JAX: the value from one exp and one log1p, differentiated by the analytic derivative
        # (measured, jit(value_and_grad) at 1e6: see benchmarks/README.md)
        options = {"gamma": float(gamma), "alpha": None if alpha is None else float(alpha)}
        elementwise = with_derivative(xp, _binary_focal_logit_parts, y, z, **options)
        per_sample, k = mean_over_outputs(xp, elementwise)
        weight = sample_weights(func, inputs, inputs.sample_weight, tuple(per_sample.shape),
                                check_values=check_values)

        def analytic() -> Array:
            g = _binary_focal_logit_parts(xp, y, z, **options)[1]
            return g if k == 1 else g / k

        return PerSample(inputs, per_sample, analytic, weight,
                         count_normaliser(xp, per_sample, weight, policy))
    fast = (_numpy_logistic(y, z, finite=finite) if from_logits and not through_sigmoid
            else None)
    if fast is not None:
        # NumPy, finite logits: the BCE as binary_cross_entropy's fast path computes it
        # (log1p(e) + t z, e = exp(-|z|), t = [z >= 0] - y: for labels 0/1 the generic
        # value bit for bit, soft labels regrouped, an ulp or two), and p, 1 - p as
        # sigmoid_parts does from the same e (bit for bit), without the two log-sigmoids and
        # the masked products (measured at 1e6 float32, the value with checks: see
        # benchmarks/README.md, issue 19 fourth round)
        bce, t, e, scratch = fast
        denominator = np.add(e, 1.0, out=scratch)
        p = np.maximum(e, z >= 0)
        p /= denominator
        one_minus_p = np.maximum(e, z <= 0, out=e)
        one_minus_p /= denominator
        # 1 - p_t = y (1 - p) + (1 - y) p as below, in the buffers of t and of 1 - y
        miss = np.subtract(1.0, y, dtype=z.dtype)
        miss *= p
        miss += np.multiply(y, one_minus_p, out=t)
    elif from_logits and not through_sigmoid:
        # log(1 - sigmoid(z)) = log_sigmoid(-z), exact for large |z|; the four share exp(-|z|)
        p, one_minus_p, log_p, log_one_minus_p = sigmoid_parts(xp, z)
        not_y = 1.0 - y
        bce = -(mul_zero_safe(xp, y, log_p) + mul_zero_safe(xp, not_y, log_one_minus_p))
        miss = y * one_minus_p + not_y * p  # 1 - p_t, without cancellation
    else:
        log_p, clipped, inside = _clipped_log(xp, z, default_eps(inputs, eps, policy))
        bce = -(mul_zero_safe(xp, y, log_p) + mul_zero_safe(xp, 1.0 - y, xp.log1p(-clipped)))
        miss = y * (1.0 - z) + (1.0 - y) * z
    focal = _focal_power(miss, gamma)
    elementwise = focal * bce if alpha is None else balance * focal * bce
    per_sample, k = mean_over_outputs(xp, elementwise)
    weight = sample_weights(func, inputs, inputs.sample_weight, tuple(per_sample.shape),
                            check_values=check_values)

    def gradient() -> Array:
        if from_logits and not through_sigmoid:
            g = _binary_focal_logit_gradient(xp, y, p, one_minus_p, bce, miss, focal, gamma,
                                             balance)
        elif through_sigmoid:
            g = _binary_focal_sigmoid_gradient(xp, y, z, sigmoid(xp, -logits), inside, bce,
                                               miss, gamma, balance)
        else:
            g = _binary_focal_probability_gradient(xp, y, clipped, inside, bce, miss, focal,
                                                   gamma, balance)
        return g if k == 1 else g / k

    return PerSample(inputs, per_sample, gradient, weight,
                     count_normaliser(xp, per_sample, weight, policy))


def _focal_power(miss: Array, gamma: float) -> Array:
    """``miss ** gamma``; a whole ``gamma`` (the usual 2) as an integer power: products, where
    a float power is ``exp(gamma log x)`` under ``jax.jit`` and in its derivative (measured,
    categorical focal loss, ``jit(value_and_grad)`` at 1e5 x 10: see benchmarks/README.md)."""
    if isinstance(gamma, float) and gamma.is_integer() and 0.0 <= gamma <= 8.0:
        return miss ** int(gamma)
    return miss**gamma


def _binary_focal_logit_gradient(xp: Namespace, y: Array, p: Array, one_minus_p: Array,
                                 bce: Array, miss: Array, focal: Array, gamma: float,
                                 balance: Array | float) -> Array:
    """d l / d z of the binary focal loss from logits."""
    # d(1-p_t)/dz = (1-2y) p(1-p), and p(1-p) / (1-p_t) <= 1 never overflows
    positive = miss > 0.0
    ratio = select(xp, positive, (p * one_minus_p) / select(xp, positive, miss, 1.0), 0.0)
    pull = gamma * (1.0 - 2.0 * y) * bce * ratio if gamma else 0.0
    # sigma(z) - y as (1 - y) p - y (1 - p): p - y cancels for a confident correct logit
    # (p - 1 has no correct digit in float32 beyond z ~ 17: a third of the gradient lost)
    g = focal * (pull + ((1.0 - y) * p - y * one_minus_p))
    return g if isinstance(balance, float) and balance == 1.0 else balance * g


def _binary_focal_probability_gradient(xp: Namespace, y: Array, clipped: Array, inside: Array,
                                       bce: Array, miss: Array, focal: Array, gamma: float,
                                       balance: Array | float) -> Array:
    """d l / d p of the binary focal loss (zero outside the clip)."""
    dbce = xp.where(inside, mul_zero_safe(xp, 1.0 - y, 1.0 / (1.0 - clipped))
                    - mul_zero_safe(xp, y, 1.0 / clipped), 0.0)
    if not gamma:
        return balance * dbce
    # gamma (1-p_t)^(gamma-1) (1-2y) BCE, 0 where BCE is 0; d(1 - p_t)/dp = 1 - 2y
    pull = gamma * (1.0 - 2.0 * y) * mul_zero_safe(xp, bce, miss ** (gamma - 1.0))
    return balance * (pull + focal * dbce)


def _binary_focal_sigmoid_gradient(xp: Namespace, y: Array, p: Array, q: Array,
                                   inside: Array, bce: Array, miss: Array, gamma: float,
                                   balance: Array | float) -> Array:
    """d l / d z through ``p = sigmoid(z)`` (Keras from logits), with ``1 - p = q =
    sigmoid(-z)``, not ``1 - p`` rounded (3e-4 relative in float32 near p = 1):
    d BCE/dz = p - y inside the clip."""
    g = balance * miss**gamma * xp.where(inside, (1.0 - y) * p - y * q, 0.0)
    if gamma:
        accurate_miss = y * q + (1.0 - y) * p
        g = g + balance * gamma * (1.0 - 2.0 * y) * mul_zero_safe(
            xp, bce, accurate_miss ** (gamma - 1.0)) * (p * q)
    return g


def _categorical_focal_logit_parts(xp: Namespace, q: Array, z: Array, *, gamma: float,
                                   scale: float) -> tuple[Array, Array]:
    """Each row's categorical focal loss of the logits ``z`` and its gradient, the body's
    formulas (for :func:`losskit._array.with_derivative`): with ``a_c = scale q_c (1 -
    p_c)^gamma (gamma p_c r_c + 1)``, ``r = -log p / (1 - p)``, the gradient is
    ``p_j sum_c a_c - a_j``."""
    log_p = log_softmax(xp, z)
    p = xp.exp(log_p)
    miss = -xp.expm1(log_p)
    focal = _focal_power(miss, gamma)
    value = 0.0 - scale * row_dot(xp, q * focal, log_p)
    positive = miss > 0.0
    r = select(xp, positive, -log_p / select(xp, positive, miss, 1.0), 1.0)
    a = scale * mul_zero_safe(xp, q, focal * (gamma * p * r + 1.0))
    return value, p * xp.sum(a, axis=-1, keepdims=True) - a


def _check_focal_rows(func: str, inputs: Inputs, from_logits: bool,
                      policy: Convention) -> None:
    _check_distributions(func, inputs.xp, "y_true", inputs.y_true, inputs.out_dtype,
                         "y_true holds one-hot or probability rows; for integer labels "
                         "use numpy.eye(C)[labels]")
    _check_predictions(func, inputs, from_logits, rows=True,
                       renormalised=policy.renormalise_rows)


def _through_rows(xp: Namespace, g: Array, softmax: Array | None, normalised: Array,
                  row_total: Array) -> Array:
    """A gradient with respect to the normalised rows taken back through ``p / sum(p)``:
    d/dp_j = (g_j - sum_c g_c p_c / sum(p)) / sum(p); for logits, through the softmax too:
    d/dz_j = s_j (g_j - sum_c g_c s_c) (sum(s) = 1)."""
    if softmax is not None:
        return softmax * (g - xp.sum(g * softmax, axis=-1, keepdims=True))
    return (g - xp.sum(g * normalised, axis=-1, keepdims=True)) / row_total[..., None]


def _keras_focal_log_probabilities(inputs: Inputs, from_logits: bool, eps: float | None,
                                   policy: Convention) -> tuple[Array, ...]:
    """Keras: softmax for logits, then rows divided by their sum, then clipped to
    [1e-7, 1 - 1e-7] in both the logarithm and the focal factor. Returns ``(log p, clipped
    p, inside the clip, softmax or None, row sums, normalised rows)``."""
    xp = inputs.xp
    softmax = xp.exp(log_softmax(xp, inputs.y_pred)) if from_logits else None
    row_total, normalised = _normalised_rows(
        xp, inputs.y_pred if softmax is None else softmax, policy)
    log_p, clipped, inside = _clipped_log(xp, normalised, default_eps(inputs, eps, policy))
    return log_p, clipped, inside, softmax, row_total, normalised


_CATEGORICAL_FOCAL_LOSS = LossExplanation(
    formula="l = −α·Σ_c y_c·(1 − p_c)^γ·log p_c,   p = softmax(z)   (α = None: 1)",
    distribution="Categorical, reweighted: for a one-hot y it is −(1 − p_y)^γ·log p_y, the "
                 "categorical negative log-likelihood shrunk where the model is already "
                 "right; γ = 0 gives categorical_cross_entropy.",
    activation_from="categorical",
    activation="C units with softmax (from_logits=True for stability)",
    raw_output="the C logits z (from_logits=True), or the probabilities p",
    gradient="∂l/∂z_c = (p_c − [c = y])·(1 − p_y)^(γ−1)·(1 − p_y − γ·p_y·log p_y)  (one-hot "
             "y, α = None; γ = 0 gives p_c − [c = y]).",
    when="Many classes with a few rare or hard ones (long-tailed recognition, dense "
         "prediction), where easy samples dominate the cross-entropy.",
    pitfalls=(
        _NOT_CALIBRATED,
        "Keras always multiplies by alpha (default 0.25) and renormalises rows; here "
        "alpha=None means 1 and rows must sum to 1.",
        _SOFTMAX_TWICE,
    ),
    related=("categorical_cross_entropy", "binary_focal_loss",
             "sparse_categorical_cross_entropy"),
    case=Case(_CATEGORICAL_CASE.inputs + ", γ = 2", (1.0, 0.0, 0.0), _P3,
               {"from_logits": True, "gamma": 2.0}, vary=0, grid=(-8.0, 8.0),
               more_targets=((0.0, 1.0, 0.0),),
               x_label="logit z₀ of class 0 (other logits fixed)"),
    classification=True,
)


@loss_function(gamma=_GAMMA, alpha=_ALPHA, from_logits=Boolean(), axis=Integer(),
               label_smoothing=Real(0.0, 1.0), eps=_EPS,
               aliases=("categorical focal", "softmax focal"), explanation=_CATEGORICAL_FOCAL_LOSS)
def categorical_focal_loss(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    gamma: float = 2.0,
    alpha: float | None = None,
    from_logits: bool = False,
    axis: int = -1,
    label_smoothing: float = 0.0,
    eps: float | None = None,
    sample_weight: Any = None,
    reduction: str = "mean",
    unit: str = "nats",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Categorical focal loss (Lin et al., 2017): softmax cross-entropy focused on hard samples.

    .. math::

        l_i = -\alpha \sum_{c=1}^{C} q_{ic}\, (1 - p_{ic})^{\gamma} \log p_{ic}, \qquad
        q = (1-\varepsilon)\, y + \varepsilon / C, \qquad
        L = \frac{\sum_i w_i l_i}{\sum_i w_i}

    with :math:`p = \mathrm{softmax}(z)` for logits and :math:`\alpha = 1` when ``alpha`` is
    ``None``. For one-hot targets it is :math:`-\alpha (1 - p_{iy})^{\gamma} \log p_{iy}`: the
    categorical negative log-likelihood scaled down where the model is already right, which
    makes training concentrate on rare and hard classes. ``gamma=0`` (and ``alpha=None``)
    gives :func:`categorical_cross_entropy`. Its minimiser is not the true distribution, so
    the predicted probabilities are not calibrated.

    This is Keras' ``CategoricalFocalCrossentropy`` with a scalar ``alpha``, except that Keras
    always multiplies by ``alpha`` (default 0.25, where ``None`` here means 1) and divides the
    rows of ``y_pred`` by their sum (here they must sum to 1). From logits,
    :math:`\log p = z - \operatorname{logsumexp}(z)` and :math:`1 - p = -\operatorname{expm1}
    (\log p)` are computed stably; from probabilities, :math:`p` is clipped to
    :math:`[\epsilon, 1 - \epsilon]` in both the logarithm and the focal factor, as Keras
    does.

    Parameters
    ----------
    y_true : array_like, same shape as ``y_pred``
        One-hot or probability rows along ``axis``.
    y_pred : array_like, shape (..., C, ...)
        Probabilities (rows summing to 1), or logits with ``from_logits=True``.
    gamma : float >= 0
        Focusing parameter :math:`\gamma`.
    alpha : float in [0, 1], optional
        Overall weight :math:`\alpha` (Keras' scalar ``alpha``); ``None`` is 1.
    from_logits : bool
    axis : int
        The class axis.
    label_smoothing : float in [0, 1]
        As in :func:`categorical_cross_entropy`.
    eps : float in [0, 0.5), optional
        Probability clipping bound (ignored with logits).
    sample_weight : array_like of shape ``y_pred.shape`` less ``axis``, optional
    reduction : {"mean", "sum", "none"}
    unit : {"nats", "bits"}
    check_values : bool
    convention : {"losskit", "sklearn", "keras", "torch"}
        Whose number to reproduce (see ``docs/conventions.md``). ``"keras"``: ``alpha=None``
        means Keras' default 0.25, the rows of ``y_pred`` are divided by their sum (so any
        non-negative scores are accepted), logits go through a softmax first (then as
        probabilities), ``eps`` defaults to :math:`10^{-7}`, and a weighted mean is divided
        by the number of samples. Neither scikit-learn nor PyTorch has a categorical focal
        loss: ``"sklearn"`` and ``"torch"`` are losskit's.

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    References
    ----------
    T.-Y. Lin, P. Goyal, R. Girshick, K. He, P. Dollár, "Focal Loss for Dense Object
    Detection", ICCV 2017.

    Examples
    --------
    >>> import losskit as lk
    >>> y = [[0, 1, 0], [0, 1, 0]]
    >>> p = [[0.05, 0.9, 0.05], [0.45, 0.1, 0.45]]
    >>> lk.categorical_focal_loss(y, p, reduction="none") / lk.categorical_cross_entropy(
    ...     y, p, reduction="none")
    array([0.01, 0.81])
    """
    func = "categorical_focal_loss"
    inputs = prepare(func, y_true, y_pred, sample_weight, axis=axis)
    xp, y = inputs.xp, inputs.y_true
    policy = CONVENTIONS[convention].only("keras")
    # Keras: softmax first, then rows renormalised and clipped as probabilities
    as_probabilities = policy.logits_as_probabilities
    n_classes = inputs.y_pred.shape[-1]
    if check_values:
        _check_focal_rows(func, inputs, from_logits, policy)
    smooth = maybe_nonzero(label_smoothing)  # a traced value takes the general branch
    q = y * (1.0 - label_smoothing) + label_smoothing / n_classes if smooth else y
    scale = policy.focal_alpha if alpha is None else alpha
    if (from_logits and not as_probabilities and aac.is_jax_namespace(xp)
            and _plain_focal_options(gamma, scale)):
        # JAX: each row's loss differentiated by its analytic gradient (measured,
        # jit(value_and_grad) at 1e5 x 10: see benchmarks/README.md)
        options = {"gamma": float(gamma), "scale": float(scale)}
        per_sample = with_derivative(xp, _categorical_focal_logit_parts, q, inputs.y_pred,
                                     **options)
        weight = sample_weights(func, inputs, inputs.sample_weight, tuple(per_sample.shape),
                                check_values=check_values)
        return PerSample(inputs, per_sample,
                         lambda: _categorical_focal_logit_parts(xp, q, inputs.y_pred,
                                                                **options)[1],
                         weight, count_normaliser(xp, per_sample, weight, policy),
                         nan_hint=_CE_NAN_HINT)
    if as_probabilities:
        log_p, clipped, inside, softmax, row_total, normalised = \
            _keras_focal_log_probabilities(inputs, from_logits, eps, policy)
    else:
        log_p, clipped, inside = _log_probabilities(inputs, from_logits, eps)
    probabilities = from_logits and not as_probabilities
    p = xp.exp(log_p) if probabilities else clipped
    miss = -xp.expm1(log_p) if probabilities else 1.0 - clipped  # 1 - p
    focal = _focal_power(miss, gamma)
    # 0 - x: a certain row's loss is +0, not -0
    per_sample = 0.0 - scale * row_dot(xp, q * focal, log_p)
    weight = sample_weights(func, inputs, inputs.sample_weight, tuple(per_sample.shape),
                            check_values=check_values)

    def gradient() -> Array:
        # r = -log p / (1 - p) -> 1 as p -> 1, so gamma (1-p)^(gamma-1) log p never overflows
        positive = miss > 0.0
        r = select(xp, positive, -log_p / select(xp, positive, miss, 1.0), 1.0)
        if probabilities:
            # with a_c = alpha q_c (1-p_c)^gamma (gamma p_c r_c + 1):
            # d l / d z_j = p_j sum_c a_c - a_j
            a = scale * mul_zero_safe(xp, q, focal * (gamma * p * r + 1.0))
            ones = xp.ones(a.shape[-1], dtype=a.dtype, device=device(a))
            return p * row_dot(xp, ones, a)[..., None] - a
        # d l / d p_j = -alpha q_j (1-p_j)^gamma (gamma r_j + 1 / p_j), zero outside the clip
        g = select(xp, inside, -scale * mul_zero_safe(xp, q, focal * (gamma * r + 1.0 / p)), 0.0)
        return _through_rows(xp, g, softmax, normalised, row_total) if as_probabilities else g

    return PerSample(inputs, per_sample, gradient, weight,
                     count_normaliser(xp, per_sample, weight, policy),
                     nan_hint=_CE_NAN_HINT)


# ------------------------------------------------------------- generalized cross-entropy


class _GeneralizedQ(Real):
    """GCE's ``q`` in (0, 1]: ``q <= 0`` is refused with the loss its limit is."""

    def __init__(self) -> None:
        super().__init__(0.0, 1.0, closed="right")

    def check(self, func: str, name: str, value: Any) -> None:
        if self.type_ok(value) and not math.isnan(value) and value <= 0.0:
            fail(func, name, f"must be {self.description}; got {value!r}",
                 f"Pass {self.description}; q → 0 is the cross-entropy: use "
                 "sparse_categorical_cross_entropy")
        super().check(func, name, value)


_GENERALIZED_CROSS_ENTROPY = LossExplanation(
    formula="l = (1 − p_y^q) / q,   p = softmax(z),   y an integer label,   0 < q ≤ 1",
    distribution="None (a robust surrogate of the categorical likelihood): the Box–Cox "
                 "transform of p_y; q → 0 gives −log p_y (cross-entropy), q = 1 gives "
                 "1 − p_y (mean absolute error on the one-hot target).",
    activation_from="categorical",
    activation="C units with softmax (from_logits=True for stability)",
    raw_output="the C logits z (from_logits=True), or the probabilities p",
    gradient="∂l/∂z_c = p_y^q·(p_c − [c = y])  (the cross-entropy's gradient scaled by "
             "p_y^q, so samples the model finds unlikely, often mislabelled, count less).",
    when="Classification with noisy labels (web-scraped or crowd-sourced annotations): it "
         "bounds each sample's loss by 1/q, so mislabelled samples cannot dominate training.",
    pitfalls=(
        _NOT_CALIBRATED,
        "Larger q is more robust but trains slower (q = 1 is MAE, which underfits many "
        "classes); q = 0.7 is the paper's default, Keras' is 0.5.",
        _SOFTMAX_TWICE,
    ),
    related=("sparse_categorical_cross_entropy", "categorical_focal_loss",
             "mean_absolute_error"),
    case=Case(_LABEL_CASE.inputs + ", q = 0.7", 0, _P3, {"from_logits": True, "q": 0.7},
              vary=0, grid=(-8.0, 8.0), more_targets=(1,),
              x_label="logit z₀ of class 0 (other logits fixed)"),
    classification=True,
)


@loss_function(q=_GeneralizedQ(), from_logits=Boolean(), axis=Integer(), eps=_EPS,
               aliases=("gce", "generalized ce", "CategoricalGeneralizedCrossEntropy",
                        "categorical_generalized_cross_entropy"),
               explanation=_GENERALIZED_CROSS_ENTROPY)
def generalized_cross_entropy(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    q: float = 0.7,
    from_logits: bool = False,
    axis: int = -1,
    eps: float | None = None,
    sample_weight: Any = None,
    reduction: str = "mean",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Generalized cross-entropy (Zhang & Sabuncu, 2018), robust to noisy labels.

    .. math::

        l_i = \frac{1 - p_{i y_i}^{\,q}}{q}, \qquad 0 < q \le 1, \qquad
        L = \frac{\sum_i w_i l_i}{\sum_i w_i}

    with :math:`p = \mathrm{softmax}(z)` for logits and integer labels :math:`y_i`. It lies
    between :func:`sparse_categorical_cross_entropy` (the limit :math:`q \to 0`) and the mean
    absolute error :math:`1 - p_{iy_i}` (:math:`q = 1`); each sample's loss is at most
    :math:`1/q`, so mislabelled samples cannot dominate. Its gradient is the cross-entropy's
    scaled by :math:`p_{iy_i}^{\,q}`. From logits, :math:`p^q = \exp(q \log p)` with
    :math:`\log p = z_y - \operatorname{logsumexp}(z)` and :math:`1 - p^q =
    -\operatorname{expm1}(q \log p)`, exact for tiny and near-certain probabilities; from
    probabilities, :math:`p_y` is clipped from below at :math:`\epsilon` (the gradient
    :math:`-p^{q-1}` is infinite at 0), except under Keras' convention.

    Parameters
    ----------
    y_true : array_like of integers, shape ``y_pred.shape`` less ``axis``
        Labels in ``[0, C)``. Floats with integral values are accepted.
    y_pred : array_like, shape (..., C, ...)
        Probabilities (rows summing to 1), or logits with ``from_logits=True``.
    q : float in (0, 1]
        Robustness: larger is more robust to label noise and slower to train.
    from_logits : bool
    axis : int
        The class axis.
    eps : float in [0, 0.5), optional
        Lower clipping bound of :math:`p_y` from probabilities (ignored with logits).
    sample_weight : array_like of shape ``y_pred.shape`` less ``axis``, optional
    reduction : {"mean", "sum", "none"}
    check_values : bool
    convention : {"losskit", "sklearn", "keras", "torch"}
        Whose number to reproduce (see ``docs/conventions.md``). ``"keras"``: Keras'
        ``CategoricalGeneralizedCrossEntropy``: probabilities are not clipped (``eps``
        defaults to 0) and a weighted mean is divided by the number of samples. Neither
        scikit-learn nor PyTorch has it: ``"sklearn"`` and ``"torch"`` are losskit's.

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    References
    ----------
    Z. Zhang, M. R. Sabuncu, "Generalized Cross Entropy Loss for Training Deep Neural
    Networks with Noisy Labels", NeurIPS 2018.

    Examples
    --------
    >>> import losskit as lk
    >>> lk.generalized_cross_entropy([0, 1], [[0.64, 0.36], [0.75, 0.25]], q=0.5,
    ...                              reduction="none")
    array([0.4, 1. ])
    >>> lk.generalized_cross_entropy([0], [[0.5, 0.5]], q=0)
    Traceback (most recent call last):
    ...
    ValueError: generalized_cross_entropy: q must be a number in (0.0, 1.0]; got 0. Pass a...
    """
    func = "generalized_cross_entropy"
    policy = CONVENTIONS[convention].only("keras")
    inputs = prepare(func, y_true, y_pred, sample_weight, axis=axis, labels=True)
    xp = inputs.xp
    labels = _labels_as_integers(func, xp, inputs.y_true, check_values)
    if check_values:
        check_labels(func, xp, labels, inputs.y_pred.shape[-1], None)
        _check_predictions(func, inputs, from_logits, rows=True)
    terms = inside = None
    if from_logits:
        terms, log_p, _ = log_softmax_at(xp, inputs.y_pred, labels=labels,
                                         may_sync=check_values)
    else:
        # Keras takes p_y as given; losskit clips it from below (the gradient -p^(q-1) is
        # infinite at 0)
        bound = eps if eps is not None else (
            0.0 if policy.name == "keras" else default_eps(inputs, None, policy))
        p_y = take_labels(xp, inputs.y_pred, labels)
        inside = p_y >= bound
        with numpy_errors_silenced(p_y):
            log_p = xp.log(xp.where(inside, p_y, bound))
    p_q = xp.exp(q * log_p)
    per_sample = -xp.expm1(q * log_p) / q
    weight = sample_weights(func, inputs, inputs.sample_weight, tuple(per_sample.shape),
                            check_values=check_values)

    def gradient() -> Array:
        if terms is not None:
            # p_y^q (softmax - one_hot)
            return add_at_labels(xp, terms.scaled_probabilities(p_q), labels, -p_q)
        # d l / d p_y = -p_y^(q-1), zero below the clip; log p = -inf (Keras' unclipped
        # p = 0) is taken as the lowest float, so q = 1 gives -1 there, q < 1 gives -inf
        lowest = float(xp.finfo(log_p.dtype).min)
        with numpy_errors_silenced(log_p):
            power = xp.exp((q - 1.0) * xp.where(log_p < lowest, lowest, log_p))
        at_label = xp.where(inside, -power, 0.0)
        return add_at_labels(xp, xp.zeros_like(inputs.y_pred), labels, at_label)

    return PerSample(inputs, per_sample, gradient, weight,
                     count_normaliser(xp, per_sample, weight, policy),
                     nan_hint=_CE_NAN_HINT)
