"""Losses for real-valued targets."""

from __future__ import annotations

from typing import Any

import numpy as np

from losskit._array import Array, Namespace
from losskit._reduction import apply_scale, mean_over_outputs
from losskit._validation import check_finite
from losskit.losses._conventions import CONVENTIONS
from losskit.losses._core import (
    PerSample,
    count_normaliser,
    loss_function,
    prepare,
    sample_weights,
)
from losskit.losses._elementwise import finite_sum
from losskit.losses._spec import Case, Kernel, LossExplanation

__all__ = ["mean_squared_error"]


_MEAN_SQUARED_ERROR = LossExplanation(
    formula="l = (1/k)·Σ_j (ŷ_j − y_j)²   (k outputs per sample)",
    distribution="Gaussian with a fixed variance: −log N(y | ŷ, σ²) = (y − ŷ)²/(2σ²) + "
                 "log σ + ½·log 2π, so the squared error is that negative log-likelihood "
                 "up to scale and a constant, and the model learns the conditional mean.",
    activation_from="gaussian",
    activation="a linear output",
    raw_output="the prediction ŷ itself",
    gradient="∂l/∂ŷ_j = 2(ŷ_j − y_j)/k  (shrinks as the prediction approaches the target).",
    when="Real-valued targets with roughly symmetric, light-tailed noise of constant size; "
         "the conditional mean is what you want to predict.",
    pitfalls=(
        "With a sigmoid (or softmax) output it saturates: the gradient w.r.t. the logit is "
        "2(p − y)·p·(1 − p), which vanishes when the unit is confidently wrong (at z = −10 "
        "for y = 1 it is {sat_mse:.2g}, against {sat_bce:.5g} for binary_cross_entropy). "
        "Use cross-entropy for classes.",
        "Outliers dominate: the loss grows with the squared error, so a few gross errors "
        "pull the fit (huber_loss, mean_absolute_error or student_t_nll resist them).",
        "Scale-dependent: standardise the target so the learning rate and the loss have "
        "a sensible scale (and report the metric on the original scale).",
        "Shapes must match: (n, 1) against (n,) is rejected rather than broadcast to "
        "(n, n).",
    ),
    related=("mean_absolute_error", "huber_loss", "gaussian_nll", "log_cosh_loss",
             "mean_squared_log_error", "binary_cross_entropy"),
    case=Case("y = 1, ŷ = 1.5", 1.0, 1.5, grid=(-2.0, 4.0)),
    classification=True,
)


def _squared_value(xp: Namespace, y: Array, eta: Array) -> Array:
    return (eta - y) * (eta - y)


def _squared_gradient(xp: Namespace, y: Array, eta: Array) -> Array:
    return 2.0 * (eta - y)


def _squared_hessian(xp: Namespace, y: Array, eta: Array) -> Array:
    return xp.full_like(eta, 2.0)


@loss_function(kernel=Kernel("identity", _squared_value, _squared_gradient, _squared_hessian),
               aliases=("mse", "l2", "squared error", "MSELoss", "quadratic loss"),
               explanation=_MEAN_SQUARED_ERROR)
def mean_squared_error(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    sample_weight: Any = None,
    reduction: str = "mean",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Mean squared error, the negative log-likelihood of a Gaussian target.

    .. math::

        l_i = \frac{1}{k} \sum_{j=1}^{k} (\hat y_{ij} - y_{ij})^2, \qquad
        L = \frac{\sum_i w_i l_i}{\sum_i w_i}

    Under :math:`y \sim \mathcal N(\hat y, \sigma^2)` with fixed :math:`\sigma`, the negative
    log-likelihood is :math:`l / (2\sigma^2)` plus a constant, so minimising MSE is maximum
    likelihood with a linear (identity) output layer.

    Parameters
    ----------
    y_true, y_pred : array_like, shape (n,) or (n, ..., k)
        Targets and predictions of exactly the same shape (no broadcasting). 1-D arrays hold one
        sample per entry; otherwise the last axis holds the ``k`` outputs of a sample, which are
        averaged.
    sample_weight : array_like of shape ``y_pred.shape[:-1]`` (``(n,)`` for 1-D), optional
        Non-negative weights :math:`w_i`.
    reduction : {"mean", "sum", "none"}
        Weighted mean :math:`\sum w l / \sum w`, weighted sum, or the per-sample
        :math:`w_i l_i`.
    check_values : bool
        Check for NaN/inf and bad weights (one host synchronisation). Switch off only in hot
        loops or traced JAX code.
    convention : {"losskit", "sklearn", "keras", "torch"}
        Whose number to reproduce. With ``sample_weight``, Keras divides the weighted sum by
        the number of samples; losskit, scikit-learn and PyTorch (``mse_loss(weight=)``) by
        the sum of the weights.

    Returns
    -------
    array
        0-d for ``"mean"``/``"sum"``, per-sample for ``"none"``; in ``y_pred``'s library and
        floating dtype.

    See Also
    --------
    losskit.gradient : the analytic gradient :math:`2(\hat y - y) w_i / (k \sum w)`.

    Examples
    --------
    >>> import losskit as lk
    >>> float(lk.mean_squared_error([1.0, 2.0, 3.0], [1.5, 2.0, 2.0]))
    0.4166666666666667
    >>> lk.mean_squared_error([[1.0, 2.0], [3.0, 4.0]], [[1.0, 3.0], [3.0, 6.0]], reduction="none")
    array([0.5, 2. ])
    """
    func = "mean_squared_error"
    inputs = prepare(func, y_true, y_pred, sample_weight)
    xp = inputs.xp
    kept = [inputs.y_pred - inputs.y_true]
    diff = kept[0]
    numpy = isinstance(diff, np.ndarray) and diff.ndim > 0
    # checked in one reduction of the difference (needed anyway): a finite sum means every
    # difference is finite, so both inputs are; otherwise the two checks, with their messages
    if check_values and not finite_sum(func, xp, diff):
        check_finite(func, xp, "y_true", inputs.y_true)
        check_finite(func, xp, "y_pred", inputs.y_pred)
    loss, k = mean_over_outputs(xp, diff * diff)
    weight = sample_weights(func, inputs, inputs.sample_weight, tuple(loss.shape),
                            check_values=check_values)

    def gradient() -> Array:
        return (kept[0] if kept else inputs.y_pred - inputs.y_true) * (2.0 / k)

    # PyTorch's mse_loss(weight=) divides by the sum of the weights, as losskit does; Keras by n
    normaliser = count_normaliser(xp, loss, weight,
                                  CONVENTIONS["keras" if convention == "keras" else "losskit"])
    parts = PerSample(inputs, loss, gradient, weight, normaliser,
                      nan_hint="the squared error overflows; rescale the targets")
    if numpy:
        def scaled(scale: Any) -> Any:
            # NumPy: the gradient in the difference's buffer, scaled there (two fresh arrays
            # and a pass or two less; measured at 1e6 float32: see benchmarks/README.md)
            if not (kept and isinstance(scale, float)):
                return apply_scale(np, gradient(), scale)
            if k == 1:
                # one multiplication by 2 scale: 2 r and 2 scale are exact (powers of two
                # times floats), so r (2 scale) is the generic (2 r) scale rounded once, the
                # same number (where 2 r overflows, |r| > max/2, it is the finite gradient
                # that the generic path's inf was not)
                return np.multiply(diff, 2.0 * scale, out=kept.pop())
            g = np.multiply(diff, 2.0 / k, out=kept.pop())
            if scale != 1.0:
                g *= scale
            return g

        parts.scaled_gradient = scaled
    return parts
