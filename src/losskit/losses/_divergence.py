"""The generalized Kullback-Leibler (I-) divergence between non-negative vectors.

Unlike :func:`losskit.kl_divergence` the vectors need not sum to 1: the terms
:math:`q - p` make it a divergence of unnormalised measures (Bregman divergence of
:math:`x \\log x - x`), and summed over classes it is half the Poisson deviance.
"""

from __future__ import annotations

from typing import Any

from losskit._array import Array, mul_zero_safe
from losskit._validation import Boolean, Integer, Interval, check_domain, check_finite
from losskit.losses._core import (
    PerSample,
    loss_function,
    prepare,
    weighted_parts,
)
from losskit.losses._spec import Case, LossExplanation

__all__ = ["generalized_kl_divergence"]

GENERALIZED_KL_EXPLANATION = LossExplanation(
    formula="l = Σ_c [p_c log(p_c / q_c) − p_c + q_c], q = exp(η) for log-inputs",
    distribution="independent Poisson counts p_c with rates q_c: the Poisson negative "
                 "log-likelihood up to terms free of q (half the Poisson deviance)",
    raw_output="log-rates η = log q (the default), or the non-negative q itself",
    gradient="∂l/∂η_c = q_c − p_c (log-inputs); ∂l/∂q_c = 1 − p_c/q_c",
    when="matching unnormalised non-negative vectors: spectra, histograms, intensity maps, "
         "non-negative matrix factorisation",
    pitfalls=("It is not symmetric in p and q.",
              "Without log-inputs a zero q where p > 0 gives an infinite loss."),
    related=("kl_divergence", "poisson_nll"),
    activation="exp (log-rates η; q = exp(η) ≥ 0 is the prediction)",
    case=Case("p = (2, 1), η = (0.5, 0)", [2.0, 1.0], [0.5, 0.0], {}, vary=0,
              x_label="log-rate η₀"),
)


@loss_function(log_input=Boolean(), axis=Integer(), explanation=GENERALIZED_KL_EXPLANATION)
def generalized_kl_divergence(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    log_input: bool = True,
    axis: int = -1,
    sample_weight: Any = None,
    reduction: str = "mean",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Generalized KL (I-) divergence of non-negative vectors.

    .. math::

        l_i = \sum_c \Bigl[p_{ic} \log \frac{p_{ic}}{q_{ic}} - p_{ic} + q_{ic}\Bigr]

    with :math:`0 \log 0 = 0` and :math:`q = e^{\eta}` for log-inputs. optax's
    ``generalized_kl_divergence(log_predictions, targets)`` and ``convex_kl_divergence``
    (the same function).

    Parameters
    ----------
    y_true : array_like, same shape as ``y_pred``
        Non-negative targets :math:`p` along ``axis``.
    y_pred : array_like, shape (..., C, ...)
        Log-predictions :math:`\eta`, or :math:`q \ge 0` with ``log_input=False``.
    log_input : bool
    axis : int
        The axis summed over (a 1-D array is one vector).
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
    >>> import math
    >>> import losskit as lk
    >>> round(float(lk.generalized_kl_divergence([2.0, 1.0], [math.log(2.0), 0.0])), 6)
    0.0
    >>> round(float(lk.generalized_kl_divergence([2.0, 1.0], [1.0, 1.0], log_input=False)), 6)
    0.386294
    """
    func = "generalized_kl_divergence"
    inputs = prepare(func, y_true, y_pred, sample_weight, axis=axis)
    xp, p, z = inputs.xp, inputs.y_true, inputs.y_pred
    if check_values:
        check_finite(func, xp, "y_true", p)
        check_finite(func, xp, "y_pred", z)
        check_domain(func, xp, "y_true", p, Interval.above(0.0, strict=False),
                     "The targets are non-negative (counts, intensities, masses)")
        if not log_input:
            check_domain(func, xp, "y_pred", z, Interval.above(0.0, strict=False),
                         "Predictions must be >= 0; pass log-predictions with log_input=True")
    log_p = xp.log(xp.where(p > 0.0, p, 1.0))
    if log_input:
        q = xp.exp(z)
        terms = mul_zero_safe(xp, p, log_p - z) - p + q
    else:
        q = z
        terms = mul_zero_safe(xp, p, log_p - xp.log(xp.where(p > 0.0, q, 1.0))) - p + q
    loss = xp.sum(terms, axis=-1)
    def gradient() -> Array:
        if log_input:
            return q - p
        return 1.0 - mul_zero_safe(xp, p, 1.0 / q)

    return weighted_parts(func, inputs, loss, gradient, inputs.sample_weight,
                          check_values=check_values, convention=convention,
                          nan_hint="a prediction of 0 where the target is positive: pass "
                              "log-predictions")
