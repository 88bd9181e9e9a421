"""Regression metrics in the target's own units (RMSE, MAE, max error) and R².

Targets are ``(n,)`` or ``(n, k)`` (``k`` outputs, each scored and then averaged uniformly, as
scikit-learn's ``multioutput="uniform_average"``); sample weights have shape ``(n,)``.
"""

from __future__ import annotations

import math
from typing import Any

from losskit._array import Array, Namespace, to_bool
from losskit._validation import Interval, check_domain, check_finite, fail
from losskit.metrics._inputs import MetricInputs, metric_inputs, require_weight, weights_of
from losskit.metrics._state import (
    Batch,
    Count,
    Maximum,
    Moments,
    Sum,
    metric_function,
    with_weight_scale,
)

__all__ = [
    "max_error",
    "mean_absolute_error",
    "mean_gamma_deviance",
    "mean_poisson_deviance",
    "r2_score",
    "root_mean_squared_error",
]


def _regression_inputs(func: str, y_true: Any, y_pred: Any, sample_weight: Any,
                       check_values: bool) -> tuple[MetricInputs, Array, Array, Array]:
    """``(inputs, y_true, y_pred, w)`` as float64 ``(n, k)`` arrays and ``(n,)`` weights."""
    inputs = metric_inputs(func, y_true, y_pred, sample_weight)
    xp, t, p = inputs.xp, inputs.y_true, inputs.y_pred
    if tuple(t.shape) != tuple(p.shape):
        fail(func, "y_true", f"has shape {tuple(t.shape)} but y_pred has shape "
             f"{tuple(p.shape)}", "Shapes must match exactly (losskit never broadcasts (n, 1) "
             "against (n,)); reshape one of them, e.g. with .reshape(-1)")
    if p.ndim > 2:
        fail(func, "y_pred", f"has {p.ndim} dimensions (shape {tuple(p.shape)})",
             "Pass (n,) targets or (n, k) for k outputs; flatten other axes into n")
    t, p = xp.astype(t, inputs.dtype), xp.astype(p, inputs.dtype)
    if check_values:
        check_finite(func, xp, "y_true", t)
        check_finite(func, xp, "y_pred", p)
    w = weights_of(func, inputs, (p.shape[0],), check_values=check_values)
    if p.ndim == 1:
        t, p = t[:, None], p[:, None]
    return inputs, t, p, w


def _rmse_finish(xp: Namespace, totals: dict[str, Array], *, check_values: bool,
                 **_: Any) -> Array:
    require_weight("root_mean_squared_error", totals["weight"], check_values)
    return xp.mean(xp.sqrt(totals["error"] / totals["weight"]))


def _mae_finish(xp: Namespace, totals: dict[str, Array], *, check_values: bool,
                **_: Any) -> Array:
    require_weight("mean_absolute_error", totals["weight"], check_values)
    return xp.mean(totals["error"] / totals["weight"])


def _summed_errors(func: str, y_true: Any, y_pred: Any, sample_weight: Any,
                   check_values: bool, squared: bool) -> Batch:
    inputs, t, p, w = _regression_inputs(func, y_true, y_pred, sample_weight, check_values)
    xp = inputs.xp
    d = p - t
    error = d * d if squared else xp.abs(d)
    state = {"error": Sum.of(xp, xp.sum(w[:, None] * error, axis=0)),
             "weight": Sum.of(xp, xp.sum(w))}
    return Batch(xp, inputs.device, with_weight_scale(state, inputs.weight_scale),
                 inputs.out_dtype)


@metric_function(finish=_rmse_finish)
def root_mean_squared_error(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    sample_weight: Any = None,
    check_values: bool = True,
) -> Batch:
    r"""Root mean squared error, in the target's units (minimised).

    .. math::

        \mathrm{RMSE} = \frac1k \sum_{j=1}^{k}
        \sqrt{\frac{\sum_i w_i (\hat y_{ij} - y_{ij})^2}{\sum_i w_i}}

    The square root of the mean squared error (the Gaussian negative log-likelihood up to scale
    and a constant), reported in the units of the target so people can read it. Equal to
    ``sklearn.metrics.root_mean_squared_error``.

    Parameters
    ----------
    y_true, y_pred : array_like, shape (n,) or (n, k)
        Targets and predictions of exactly the same shape.
    sample_weight : array_like of shape (n,), optional
    check_values : bool
        Check for NaN/inf, bad weights and that the metric is defined (host synchronisation).
        Off: nothing is read on the host (``jax.jit`` works) and an undefined metric is NaN.

    Returns
    -------
    array
        0-d, in ``y_pred``'s library and floating dtype.

    Examples
    --------
    >>> import losskit as lk
    >>> float(lk.metrics.root_mean_squared_error([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 6.0]))
    1.0
    """
    return _summed_errors("root_mean_squared_error", y_true, y_pred, sample_weight,
                          check_values, squared=True)


@metric_function(finish=_mae_finish)
def mean_absolute_error(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    sample_weight: Any = None,
    check_values: bool = True,
) -> Batch:
    r"""Mean absolute error, in the target's units (minimised).

    .. math::

        \mathrm{MAE} = \frac1k \sum_{j=1}^{k} \frac{\sum_i w_i |\hat y_{ij} - y_{ij}|}{\sum_i w_i}

    Less sensitive to a few large errors than RMSE. Equal to
    ``sklearn.metrics.mean_absolute_error``.

    Parameters
    ----------
    y_true, y_pred, sample_weight, check_values
        As in :func:`root_mean_squared_error`.

    Returns
    -------
    array
        0-d, in ``y_pred``'s library and floating dtype.

    Examples
    --------
    >>> import losskit as lk
    >>> float(lk.metrics.mean_absolute_error([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 6.0]))
    0.5
    """
    return _summed_errors("mean_absolute_error", y_true, y_pred, sample_weight,
                          check_values, squared=False)


def _r2_finish(xp: Namespace, totals: dict[str, Any], *, check_values: bool,
               **_: Any) -> Array:
    func = "r2_score"
    moments: Moments = totals["moments"]
    if check_values and not to_bool(func, totals["count"] >= 2):
        fail(func, "y_true", "has fewer than two samples with positive weight, so R² is "
             "undefined", "Pass at least two samples")
    residual, total = totals["residual"], moments.m2
    # a constant target: R² is 1 for a perfect fit, else 0 (scikit-learn's force_finite)
    perfect = xp.astype(residual == 0, residual.dtype)
    ratio = residual / xp.where(total > 0, total, 1.0)
    value = xp.mean(xp.where(total > 0, 1.0 - ratio, perfect))
    # fewer than two samples (possible only with check_values=False): undefined, not 0
    return xp.where(totals["count"] >= 2, value, math.nan)


@metric_function(finish=_r2_finish)
def r2_score(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    sample_weight: Any = None,
    check_values: bool = True,
) -> Batch:
    r"""Coefficient of determination :math:`R^2` (maximised; 1 is a perfect fit).

    .. math::

        R^2_j = 1 - \frac{\sum_i w_i (y_{ij} - \hat y_{ij})^2}{\sum_i w_i (y_{ij} - \bar y_j)^2},
        \qquad \bar y_j = \frac{\sum_i w_i y_{ij}}{\sum_i w_i}

    averaged over the :math:`k` outputs. The fraction of the target's variance the model
    explains: 0 for predicting the mean, negative for worse. A constant target gives 1 for a
    perfect prediction and 0 otherwise (scikit-learn's ``force_finite=True``). Equal to
    ``sklearn.metrics.r2_score``.

    The denominator is accumulated as a weighted mean and sum of squared deviations merged
    with Chan et al.'s update, so streaming stays accurate for targets with a large mean.

    Parameters
    ----------
    y_true, y_pred, sample_weight, check_values
        As in :func:`root_mean_squared_error`.

    Returns
    -------
    array
        0-d, in ``y_pred``'s library and floating dtype.

    Examples
    --------
    >>> import losskit as lk
    >>> float(lk.metrics.r2_score([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 6.0]))
    0.2
    """
    func = "r2_score"
    inputs, t, p, w = _regression_inputs(func, y_true, y_pred, sample_weight, check_values)
    xp = inputs.xp
    d = p - t
    weight = xp.sum(w)
    safe = xp.where(weight > 0, weight, 1.0)
    mean = xp.sum(w[:, None] * t, axis=0) / safe
    centred = t - mean
    state = {
        "residual": Sum.of(xp, xp.sum(w[:, None] * d * d, axis=0)),
        "moments": Moments(xp.asarray(weight), mean,
                           xp.sum(w[:, None] * centred * centred, axis=0)),
        "count": Count.of(xp, xp.sum(xp.astype(w > 0, inputs.dtype))),
    }
    return Batch(xp, inputs.device, with_weight_scale(state, inputs.weight_scale),
                 inputs.out_dtype)


def _max_finish(xp: Namespace, totals: dict[str, Array], *, check_values: bool,
                **_: Any) -> Array:
    require_weight("max_error", totals["count"], check_values)
    # no sample at all (possible only with check_values=False): undefined, not 0
    return xp.where(totals["count"] > 0, totals["max"], math.nan)


@metric_function(finish=_max_finish)
def max_error(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    sample_weight: Any = None,
    check_values: bool = True,
) -> Batch:
    r"""Largest absolute error (minimised): the worst case, in the target's units.

    .. math::

        \max_{i:\, w_i > 0,\ j} |\hat y_{ij} - y_{ij}|

    Weights only select samples (weight 0 leaves a sample out). Equal to
    ``sklearn.metrics.max_error`` (which takes neither weights nor several outputs).

    Parameters
    ----------
    y_true, y_pred, sample_weight, check_values
        As in :func:`root_mean_squared_error`.

    Returns
    -------
    array
        0-d, in ``y_pred``'s library and floating dtype.

    Examples
    --------
    >>> import losskit as lk
    >>> float(lk.metrics.max_error([1.0, 2.0, 3.0, 4.0], [1.0, 2.5, 3.0, 6.0]))
    2.0
    """
    func = "max_error"
    inputs, t, p, w = _regression_inputs(func, y_true, y_pred, sample_weight, check_values)
    xp = inputs.xp
    error = xp.where(w[:, None] > 0, xp.abs(p - t), 0.0)
    state = {"max": Maximum(xp.max(error)),
             "count": Count.of(xp, xp.sum(xp.astype(w > 0, inputs.dtype)))}
    return Batch(xp, inputs.device, with_weight_scale(state, inputs.weight_scale),
                 inputs.out_dtype)


# ------------------------------------------------------------------------- deviance metrics


def _deviance_finish(func: str) -> Any:
    def finish(xp: Namespace, totals: dict[str, Array], *, check_values: bool,
               **_: Any) -> Array:
        require_weight(func, totals["weight"], check_values)
        return xp.mean(totals["deviance"] / totals["weight"])

    return finish


def _summed_deviance(func: str, y_true: Any, y_pred: Any, sample_weight: Any,
                     check_values: bool, power: int) -> Batch:
    """Weighted sums of the unit deviance of a Poisson (``power=1``) or Gamma (2) mean."""
    inputs, t, p, w = _regression_inputs(func, y_true, y_pred, sample_weight, check_values)
    xp = inputs.xp
    if check_values:
        strict = power == 2
        for name, x, need_positive in (("y_true", t, strict), ("y_pred", p, True)):
            check_domain(func, xp, name, x, Interval.above(0.0, strict=need_positive),
                         "The deviance needs predicted means > 0 and targets "
                         f"{'> 0' if strict else '>= 0'}; put an exp output on the model")
    positive = t > 0
    safe_t = xp.where(positive, t, 1.0)
    safe_p = xp.where(p > 0, p, 1.0)
    log_ratio = xp.log(safe_t) - xp.log(safe_p)  # log(y / mu)
    if power == 1:  # 2 (y log(y/mu) - y + mu), with 0 log 0 = 0
        unit = 2.0 * (xp.where(positive, t * log_ratio, 0.0) - t + p)
    else:  # 2 (log(mu/y) + y/mu - 1)
        unit = 2.0 * (-log_ratio + xp.exp(log_ratio) - 1.0)
    state = {"deviance": Sum.of(xp, xp.sum(w[:, None] * unit, axis=0)),
             "weight": Sum.of(xp, xp.sum(w))}
    return Batch(xp, inputs.device, with_weight_scale(state, inputs.weight_scale),
                 inputs.out_dtype)


@metric_function(finish=_deviance_finish("mean_poisson_deviance"))
def mean_poisson_deviance(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    sample_weight: Any = None,
    check_values: bool = True,
) -> Batch:
    r"""Mean Poisson deviance of predicted means (minimised; 0 is a perfect fit).

    .. math::

        D = \frac1k \sum_{j=1}^{k} \frac{\sum_i w_i\, 2\bigl(y_{ij}\log(y_{ij}/\hat y_{ij})
            - y_{ij} + \hat y_{ij}\bigr)}{\sum_i w_i}, \qquad 0 \log 0 = 0

    Twice the Poisson negative log-likelihood minus that of the perfect prediction: the
    metric to report for counts (``poisson_nll``, ``negative_binomial_nll``). Targets
    :math:`y \ge 0`, predictions :math:`\hat y > 0`. Equal to
    ``sklearn.metrics.mean_poisson_deviance``.

    Parameters
    ----------
    y_true, y_pred, sample_weight, check_values
        As in :func:`root_mean_squared_error`.

    Returns
    -------
    array
        0-d, in ``y_pred``'s library and floating dtype.

    Examples
    --------
    >>> import losskit as lk
    >>> round(float(lk.metrics.mean_poisson_deviance([0.0, 2.0, 4.0], [1.0, 2.0, 2.0])), 6)
    1.181726
    """
    return _summed_deviance("mean_poisson_deviance", y_true, y_pred, sample_weight,
                            check_values, power=1)


@metric_function(finish=_deviance_finish("mean_gamma_deviance"))
def mean_gamma_deviance(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    sample_weight: Any = None,
    check_values: bool = True,
) -> Batch:
    r"""Mean Gamma deviance of predicted means (minimised; 0 is a perfect fit).

    .. math::

        D = \frac1k \sum_{j=1}^{k} \frac{\sum_i w_i\, 2\bigl(\log(\hat y_{ij}/y_{ij})
            + y_{ij}/\hat y_{ij} - 1\bigr)}{\sum_i w_i}

    Relative errors: the metric to report for positive skewed targets (``gamma_nll``).
    Targets and predictions :math:`> 0`. Equal to ``sklearn.metrics.mean_gamma_deviance``.

    Parameters
    ----------
    y_true, y_pred, sample_weight, check_values
        As in :func:`root_mean_squared_error`.

    Returns
    -------
    array
        0-d, in ``y_pred``'s library and floating dtype.

    Examples
    --------
    >>> import losskit as lk
    >>> round(float(lk.metrics.mean_gamma_deviance([1.0, 2.0, 4.0], [1.0, 2.0, 2.0])), 6)
    0.204569
    """
    return _summed_deviance("mean_gamma_deviance", y_true, y_pred, sample_weight,
                            check_values, power=2)
