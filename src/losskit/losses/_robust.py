"""Point-prediction losses for real targets: absolute, Huber, log-cosh, log and percentage
errors, and the pinball (quantile) loss.

Each is the negative log-likelihood of a location family up to scale and constants (named in
its docstring), so each says which statistic of the target the model learns: the mean (squared
error), the median (absolute error), a quantile (pinball), something in between (Huber,
log-cosh).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import array_api_compat as aac
import numpy as np

from losskit._array import Array
from losskit._reduction import apply_scale
from losskit._validation import Interval, Optional, Real, check_domain, check_finite
from losskit.losses._conventions import CONVENTIONS
from losskit.losses._core import PerSample, loss_function, prepare
from losskit.losses._elementwise import (
    check_finite_pair,
    finite_sum,
    output_count,
    per_sample,
    scaled_in_place,
    spent_target,
)
from losskit.losses._spec import Case, LossExplanation

__all__ = [
    "huber_loss",
    "log_cosh_loss",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_log_error",
    "pinball_loss",
]

_LOG_2 = math.log(2.0)


def _finite_inputs(func: str, y_true: Any, y_pred: Any, sample_weight: Any,
                   check_values: bool):
    inputs = prepare(func, y_true, y_pred, sample_weight)
    if check_values:
        check_finite_pair(func, inputs)  # one BLAS dot on NumPy, else the two checks
    return inputs


def _checked_difference(func: str, y_true: Any, y_pred: Any, sample_weight: Any,
                        check_values: bool) -> tuple[Any, Array]:
    """The inputs and ``y_pred − y_true``, checked in one reduction: a finite sum of the
    differences means every difference is finite, so both inputs are (an infinite or NaN
    input leaves an infinite or NaN difference). Otherwise :func:`_finite_inputs`' two checks
    run, with their messages (and pass where a difference of finite inputs overflowed)."""
    inputs = prepare(func, y_true, y_pred, sample_weight)
    xp = inputs.xp
    diff = inputs.y_pred - inputs.y_true
    if check_values and not finite_sum(func, xp, diff):
        check_finite(func, xp, "y_true", inputs.y_true)
        check_finite(func, xp, "y_pred", inputs.y_pred)
    return inputs, diff


_MEAN_ABSOLUTE_ERROR = LossExplanation(
    formula="l = (1/k)·Σ_j |ŷ_j − y_j|",
    distribution="Laplace with a fixed scale b: −log Laplace(y | ŷ, b) = |y − ŷ|/b + "
                 "log 2b, so minimising the absolute error is maximum likelihood and the "
                 "model learns the conditional median.",
    activation_from="laplace",
    activation="a linear output",
    raw_output="the prediction ŷ itself",
    gradient="∂l/∂ŷ_j = sign(ŷ_j − y_j)/k  (constant size; 0 at a tie).",
    when="Targets with heavy tails or outliers that should not dominate the fit, or when "
         "the median is the number you will report.",
    pitfalls=(
        "Its gradient is constant in size: it does not shrink near the optimum, so SGD with "
        "a fixed learning rate keeps jumping around it; decay the learning rate or use "
        "huber_loss.",
        "It learns the median, not the mean: for skewed noise the predictions are biased "
        "as estimates of the mean.",
        "Its second derivative is 0: Newton methods and gradient boosting need a constant "
        "hessian instead.",
    ),
    related=("mean_squared_error", "huber_loss", "laplace_nll", "pinball_loss",
             "mean_absolute_percentage_error"),
    case=Case("y = 1, ŷ = 1.5", 1.0, 1.5, grid=(-2.0, 4.0)),
)


@loss_function(aliases=("mae", "l1", "absolute error", "L1Loss"), explanation=_MEAN_ABSOLUTE_ERROR)
def mean_absolute_error(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    sample_weight: Any = None,
    reduction: str = "mean",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Mean absolute error (L1 loss), the negative log-likelihood of a Laplace target.

    .. math::

        l_i = \frac{1}{k} \sum_{j=1}^{k} |\hat y_{ij} - y_{ij}|, \qquad
        L = \frac{\sum_i w_i l_i}{\sum_i w_i}

    Under :math:`y \sim \mathrm{Laplace}(\hat y, b)` with a fixed scale :math:`b`, the
    negative log-likelihood is :math:`|y - \hat y| / b + \log 2b`, so minimising MAE is maximum
    likelihood with a linear output layer, and the model learns the conditional **median**.

    When to use it: targets with heavy tails or outliers that should not dominate the fit, or
    when the median is the number you will report. Its gradient has constant size, so it
    does not shrink near the optimum (use a decaying learning rate, or :func:`huber_loss`).

    Equals scikit-learn's ``mean_absolute_error`` (``multioutput="uniform_average"``),
    PyTorch's ``l1_loss`` and Keras' ``MeanAbsoluteError``.

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
        the number of samples; losskit, scikit-learn and PyTorch (``l1_loss(weight=)``) by the
        sum of the weights.

    Returns
    -------
    array
        0-d for ``"mean"``/``"sum"``, per-sample for ``"none"``; in ``y_pred``'s library and
        floating dtype.

    See Also
    --------
    losskit.gradient : :math:`\operatorname{sign}(\hat y - y)\, w_i / (k \sum w)`, with
        :math:`\operatorname{sign}(0) = 0` (as autograd gives).
    laplace_nll : the same likelihood with the scale and constant included.

    Examples
    --------
    >>> import losskit as lk
    >>> float(lk.mean_absolute_error([1.0, 2.0, 3.0], [1.5, 2.0, 2.0]))
    0.5
    >>> lk.gradient(lk.mean_absolute_error, [1.0, 2.0, 3.0], [1.5, 2.0, 2.0]).tolist()
    [0.3333333333333333, 0.0, -0.3333333333333333]
    """
    func = "mean_absolute_error"
    inputs = _finite_inputs(func, y_true, y_pred, sample_weight, check_values)
    xp = inputs.xp
    diff = inputs.y_pred - inputs.y_true
    numpy = isinstance(diff, np.ndarray) and diff.ndim > 0
    # NumPy: |r| in a float64 target's spent cast copy (the target is not read again) and
    # the sign scaled in its own buffer: two fresh arrays fewer, and one fewer left to free
    # at the end of a call, which kept glibc from handing its heap back (measured at 1e6
    # float32: see benchmarks/README.md)
    size = np.abs(diff, out=spent_target(y_true, inputs)) if numpy else xp.abs(diff)
    # PyTorch's l1_loss(weight=) divides by the sum of the weights, as losskit does
    parts = per_sample(func, inputs, size, lambda: xp.sign(diff),
                       inputs.sample_weight, check_values=check_values,
                       convention="keras" if convention == "keras" else "losskit")
    if numpy:
        parts.scaled_gradient = scaled_in_place(parts.gradient, lambda: np.sign(diff),
                                                output_count(diff))
    return parts


_HUBER_LOSS = LossExplanation(
    formula="l = (1/k)·Σ_j ρ_δ(ŷ_j − y_j),   ρ_δ(r) = ½·r² if |r| ≤ δ, else δ·(|r| − ½·δ)",
    distribution="Huber's least-favourable distribution p(y) ∝ exp(−ρ_δ(y − ŷ)): Gaussian "
                 "in the centre, Laplace in the tails; the fit lies between the mean and "
                 "the median.",
    activation_from="gaussian",
    activation="a linear output",
    raw_output="the prediction ŷ itself",
    gradient="∂l/∂ŷ_j = clip(ŷ_j − y_j, −δ, δ)/k  (the residual, capped at ±δ: outliers pull "
             "with a constant force).",
    when="Regression with occasional outliers where you still want the smooth, shrinking "
         "gradient of the squared error near the optimum.",
    pitfalls=(
        "δ is in the target's units: choose it on the scale of residuals you consider "
        "normal (standardise the target if unsure).",
        "PyTorch's smooth_l1_loss(beta=δ) is this divided by δ: the same minimiser, "
        "gradients scaled by 1/δ.",
        "Its second derivative jumps at |r| = δ; log_cosh_loss is smooth everywhere.",
    ),
    related=("mean_squared_error", "mean_absolute_error", "log_cosh_loss", "student_t_nll"),
    case=Case("y = 0, ŷ = 2, δ = 1", 0.0, 2.0, {"delta": 1.0}),
)


@loss_function(delta=Real(0.0, math.inf, closed="neither"),
               aliases=("huber", "HuberLoss"), explanation=_HUBER_LOSS)
def huber_loss(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    delta: float = 1.0,
    sample_weight: Any = None,
    reduction: str = "mean",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Huber loss: squared error for small residuals, absolute error for large ones.

    .. math::

        \rho_\delta(r) = \begin{cases}
            \tfrac12 r^2 & |r| \le \delta \\
            \delta\,(|r| - \tfrac12 \delta) & |r| > \delta
        \end{cases}, \qquad
        r = \hat y - y, \qquad l_i = \frac1k \sum_j \rho_\delta(r_{ij})

    It is the negative log-likelihood (up to a constant) of Huber's least-favourable
    distribution, :math:`p(y) \propto e^{-\rho_\delta(y - \hat y)}`: Gaussian in the centre,
    Laplace in the tails. The model learns something between the mean and the median; residuals
    beyond :math:`\delta` pull with a constant force :math:`\delta`, so outliers cannot dominate.

    When to use it: regression with occasional outliers (sensor glitches, mislabelled
    targets) where you still want the smooth, shrinking gradient of MSE near the optimum.
    Choose :math:`\delta` on the scale of the residuals you consider normal (in the target's
    units; standardise targets first if unsure).

    Equals PyTorch's ``huber_loss(delta=...)`` and Keras' ``Huber``; PyTorch's
    ``smooth_l1_loss(beta=delta)`` is this divided by ``delta``.

    Parameters
    ----------
    y_true, y_pred : array_like, shape (n,) or (n, ..., k)
        Exactly the same shape; the last axis of 2-D+ arrays holds a sample's outputs.
    delta : float > 0
        Where the loss turns from quadratic to linear.
    sample_weight : array_like of per-sample shape, optional
    reduction : {"mean", "sum", "none"}
    check_values : bool
        As in :func:`mean_absolute_error`.
    convention : {"losskit", "sklearn", "keras", "torch"}
        Whose number to reproduce. With ``sample_weight``, Keras and PyTorch divide the
        weighted sum by the number of samples, losskit and scikit-learn by the sum of the
        weights.

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    See Also
    --------
    losskit.gradient : :math:`\operatorname{clip}(\hat y - y, -\delta, \delta)` per element.

    Examples
    --------
    >>> import losskit as lk
    >>> lk.huber_loss([0.0, 0.0], [0.5, 3.0], reduction="none").tolist()
    [0.125, 2.5]
    >>> lk.gradient(lk.huber_loss, [0.0, 0.0], [0.5, 3.0], reduction="sum").tolist()
    [0.5, 1.0]
    """
    func = "huber_loss"
    inputs, diff = _checked_difference(func, y_true, y_pred, sample_weight, check_values)
    xp = inputs.xp
    # m (|r| - m/2), m = min(|r|, delta): 0.5 r^2 inside and delta (|r| - delta/2) outside,
    # the same numbers as the two branches (|r| - |r|/2 is exact) without a where, which cost
    # 5 ms at 1e6 float32 on NumPy, and without a second branch to differentiate under jit
    # (np.minimum on NumPy; elsewhere a where with a Python scalar, which torch.compile traces
    # without a graph break, as it does not the compat layer's minimum of a scalar)
    if isinstance(diff, np.ndarray) and diff.ndim:
        # NumPy: with c = clip(r, -delta, delta), the gradient, |c (r - c/2)| is the same
        # number (for r < 0 both factors change sign, and IEEE rounding is symmetric; the
        # product is >= 0, and the absolute value turns the -0 of r = -0 into m (|r| - m/2)'s
        # +0), so one clip gives the value and the gradient: 6 passes in two fresh buffers
        # (one if a float64 target's cast copy is spent) where |r|, the minimum, the value
        # and a clip for the gradient took 7 in three (measured at 1e6 float32, value +
        # gradient: see benchmarks/README.md)
        clipped = np.clip(diff, -delta, delta)
        elementwise = np.multiply(clipped, -0.5, out=spent_target(y_true, inputs))
        elementwise += diff
        elementwise *= clipped
        np.abs(elementwise, out=elementwise)
        parts = per_sample(func, inputs, elementwise, lambda: xp.clip(diff, -delta, delta),
                           inputs.sample_weight, check_values=check_values,
                           convention=convention)
        parts.scaled_gradient = scaled_in_place(parts.gradient, lambda: clipped,
                                                output_count(elementwise))
        return parts
    size = xp.abs(diff)
    if aac.is_jax_array(size):
        # JAX: a minimum, which XLA's CPU backend fuses with the mean into one pass, where a
        # select is written out first (measured at 1e6 float32, jit value: 2.3 -> 1.1 ms)
        bounded = xp.minimum(size, delta)
    else:
        bounded = xp.where(size <= delta, size, delta)
    elementwise = bounded * (size - 0.5 * bounded)
    return per_sample(func, inputs, elementwise, lambda: xp.clip(diff, -delta, delta),
                      inputs.sample_weight, check_values=check_values,
                      convention=convention)


_LOG_COSH_LOSS = LossExplanation(
    formula="l = (1/k)·Σ_j log cosh(ŷ_j − y_j)   (≈ r²/2 for small r, ≈ |r| − log 2 for "
            "large r)",
    distribution="The hyperbolic secant distribution p(y) = 1 / (π·cosh(y − ŷ)): l is its "
                 "negative log-likelihood minus log π.",
    activation_from="gaussian",
    activation="a linear output",
    raw_output="the prediction ŷ itself",
    gradient="∂l/∂ŷ_j = tanh(ŷ_j − y_j)/k  (bounded by 1/k; second derivative "
             "(1 − tanh²)/k).",
    when="Like huber_loss, but twice differentiable with no parameter to tune (second-order "
         "methods, gradient boosting).",
    pitfalls=(
        "The bend is fixed at |r| ≈ 1: scale the target to put it where you want.",
        "Written naively, cosh(r) overflows for |r| > 710; losskit computes it stably.",
        "For large errors the gradient is ±1/k like the absolute error: far from the "
        "optimum it learns no faster than MAE.",
    ),
    related=("huber_loss", "mean_squared_error", "mean_absolute_error"),
    case=Case("y = 0, ŷ = 2", 0.0, 2.0),
)


@loss_function(aliases=("logcosh", "log cosh"), explanation=_LOG_COSH_LOSS)
def log_cosh_loss(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    sample_weight: Any = None,
    reduction: str = "mean",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Log-cosh loss: :math:`\log\cosh` of the error, smooth everywhere and linear in the tails.

    .. math::

        l_i = \frac1k \sum_j \log\cosh(\hat y_{ij} - y_{ij})

    It is the negative log-likelihood, minus :math:`\log \pi`, of the hyperbolic secant
    distribution :math:`p(y) = \frac{1}{\pi \cosh(y - \hat y)}`. Like :func:`huber_loss` it
    is :math:`\approx r^2/2` for small errors and :math:`\approx |r| - \log 2` for large
    ones, but it is twice differentiable (hessian :math:`1 - \tanh^2 r`), which second-order
    methods and gradient boosting need; it has no tuning parameter, so scale the targets to
    put the bend where you want it (the bend is at :math:`|r| \approx 1`).

    Computed stably: :math:`\log(1 + 2\sinh^2(r/2))` for :math:`|r| < 1` (accurate for tiny
    errors, where :math:`\cosh r` rounds to 1) and :math:`|r| + \log(1 + e^{-2|r|}) - \log 2`
    otherwise (no overflow; :math:`\cosh r` overflows for :math:`|r| > 710`). Keras'
    ``log_cosh`` computes :math:`r + \mathrm{softplus}(-2r) - \log 2` everywhere, so it agrees
    with this to absolute rounding error but loses relative accuracy for small errors (in
    float32, already about 1e-6 for errors near 0.05); ``convention="keras"`` uses Keras'
    formula to give Keras' number.

    Parameters
    ----------
    y_true, y_pred : array_like, shape (n,) or (n, ..., k)
        Exactly the same shape; the last axis of 2-D+ arrays holds a sample's outputs.
    sample_weight : array_like of per-sample shape, optional
    reduction : {"mean", "sum", "none"}
    check_values : bool
        As in :func:`mean_absolute_error`.
    convention : {"losskit", "sklearn", "keras", "torch"}
        Whose number to reproduce. ``"keras"`` computes Keras' formula (and its rounding).
        With ``sample_weight``, Keras and PyTorch divide the weighted sum by the number of
        samples, losskit and scikit-learn by the sum of the weights.

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    See Also
    --------
    losskit.gradient : :math:`\tanh(\hat y - y)` per element.

    Examples
    --------
    >>> import losskit as lk
    >>> lk.log_cosh_loss([0.0, 0.0, 0.0], [1e-9, 1.0, 1000.0], reduction="none").tolist()
    [5e-19, 0.4337808304830271, 999.3068528194401]
    """
    func = "log_cosh_loss"
    inputs, diff = _checked_difference(func, y_true, y_pred, sample_weight, check_values)
    xp = inputs.xp
    if CONVENTIONS[convention].softplus_log_cosh:
        # Keras' r + softplus(-2r) - log 2, rounding included (the same function, so the same
        # derivative tanh r)
        elementwise = diff + xp.logaddexp(-2.0 * diff, xp.zeros_like(diff)) - _LOG_2
    elif aac.is_jax_namespace(xp):
        elementwise = _jax_log_cosh()(diff)
    else:
        fast = _numpy_log_cosh(diff)
        if fast is not None:
            elementwise, scratch = fast
            parts = per_sample(func, inputs, elementwise, lambda: xp.tanh(diff),
                               inputs.sample_weight, check_values=check_values,
                               convention=convention)
            parts.scaled_gradient = scaled_in_place(parts.gradient,
                                                    lambda: np.tanh(diff, out=scratch),
                                                    output_count(elementwise))
            return parts
        size = xp.abs(diff)
        small = size < 1.0
        # cosh r - 1 = 2 sinh^2(r/2) keeps the relative accuracy of tiny errors
        half = xp.sinh(xp.where(small, diff, 0.0) * 0.5)
        near = xp.log1p(2.0 * half * half)
        # log cosh r = |r| + log(1 + exp(-2|r|)) - log 2, with exp(-2|r|) <= 1: no overflow
        far = size + xp.log1p(xp.exp(-2.0 * size)) - _LOG_2
        elementwise = xp.where(small, near, far)
    return per_sample(func, inputs, elementwise, lambda: xp.tanh(diff), inputs.sample_weight,
                      check_values=check_values,
                      convention=convention)


@functools.cache
def _jax_log_cosh() -> Any:
    """log cosh for JAX: ``log1p(m² / (2 (1 + m)))`` with ``m = expm1(|r|)`` (``cosh r − 1``
    in one transcendental, relatively exact for tiny errors), ``|r| − log 2`` where ``m²``
    would overflow (|r| ≥ 40 in float32, 350 in float64, where ``log1p(e^(−2|r|))`` is below
    an ulp), and the derivative ``tanh r`` declared (``jax.custom_jvp``): measured,
    ``jit(value_and_grad)`` at 1e6 float32, 7.9 -> 3.9 ms (optax's ``log_cosh`` 4.2 ms, which
    loses tiny errors); the generic path's two forms and ``where`` were differentiated
    through both branches."""
    import jax
    import jax.numpy as jnp

    @jax.custom_jvp
    def log_cosh(r: Any) -> Any:
        size = jnp.abs(r)
        inside = size < (40.0 if r.dtype == jnp.float32 else 350.0)
        m = jnp.expm1(jnp.where(inside, size, 0.0))
        return jnp.where(inside, jnp.log1p(m * m / (2.0 * (1.0 + m))), size - _LOG_2)

    @log_cosh.defjvp
    def _derivative(primals: Any, tangents: Any) -> Any:
        (r,), (t,) = primals, tangents
        return log_cosh(r), jnp.tanh(r) * t

    return log_cosh


def _numpy_log_cosh(r: Array) -> tuple[np.ndarray, np.ndarray] | None:
    """NumPy fast path of log cosh: ``(log1p(2 sinh²(r/2)), scratch)`` everywhere (as the
    PyTorch kernel), or ``None`` (another library, or an ``r`` so large that ``sinh²``
    overflows, |r| > 89 in float32, 710 in float64: the generic path's two forms).

    The generic path's small-error form, used for every error: it keeps the relative
    accuracy of tiny errors, and for large ones agrees with the far form
    ``|r| + log1p(exp(−2|r|)) − log 2`` to a few ulps (no ``where``, 5 passes instead of 14:
    measured at 1e6 float32, value 19 → 5 ms). Below |r| = 1 the same numbers bit for bit.
    """
    if not (isinstance(r, np.ndarray) and r.dtype.kind == "f" and r.ndim >= 1):
        return None
    half = np.multiply(r, 0.5)
    np.sinh(half, out=half)
    value = np.multiply(half, 2.0)
    value *= half
    np.log1p(value, out=value)
    # every value >= 0 or NaN: finite where the largest is (NaN is not < inf): one
    # reduction, no mask (measured at 1e6 float32: isfinite + all 0.4 ms, max 0.15)
    if not value.max(initial=0.0) < math.inf:
        return None
    return value, half


_MEAN_SQUARED_LOG_ERROR = LossExplanation(
    formula="l = (1/k)·Σ_j (log(1 + ŷ_j) − log(1 + y_j))²",
    distribution="Gaussian on the log(1 + y) scale: 1 + y is log-normal with median 1 + ŷ; "
                 "errors count relatively.",
    activation="a non-negative output (softplus, ReLU or exp), since log(1 + ŷ) needs "
               "ŷ > −1",
    raw_output="the prediction ŷ itself",
    gradient="∂l/∂ŷ_j = 2·(log(1 + ŷ_j) − log(1 + y_j)) / (k·(1 + ŷ_j)).",
    when="Non-negative targets spanning orders of magnitude (prices, counts, durations) "
         "where relative error matters.",
    pitfalls=(
        "A linear output can go below −1, where the loss is undefined (rejected): use a "
        "non-negative output.",
        "Under-prediction costs more than over-prediction by the same amount.",
        "Often better: regress log(1 + y) with mean_squared_error and predict expm1, or "
        "use poisson_nll / gamma_nll.",
        "Keras clips both arrays at 1e-7 before the log (convention='keras').",
    ),
    related=("mean_squared_error", "poisson_nll", "gamma_nll",
             "mean_absolute_percentage_error"),
    case=Case("y = 3, ŷ = 5", 3.0, 5.0, grid=(-0.9, 10.0)),
)


@loss_function(aliases=("msle", "mean squared logarithmic error"),
               explanation=_MEAN_SQUARED_LOG_ERROR)
def mean_squared_log_error(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    sample_weight: Any = None,
    reduction: str = "mean",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Mean squared logarithmic error: squared error between :math:`\log(1 + y)` values.

    .. math::

        l_i = \frac1k \sum_j \bigl(\log(1 + \hat y_{ij}) - \log(1 + y_{ij})\bigr)^2

    It is the Gaussian negative log-likelihood on the :math:`\log(1 + y)` scale (up to scale
    and constants): :math:`1 + y` is log-normal with median :math:`1 + \hat y`. Errors count
    relatively, so predicting 110 for 100 costs about as much as 1.1 for 1.0, and
    under-prediction costs more than over-prediction by the same amount.

    When to use it: non-negative targets spanning orders of magnitude (prices, counts,
    durations) where relative error matters. Often better: predict :math:`\log(1 + y)` with
    :func:`losskit.mean_squared_error`, or use :func:`poisson_nll` / :func:`gamma_nll`.

    Equals scikit-learn's ``mean_squared_log_error``: both arrays must be > -1 (where
    :math:`\log(1 + y)` exists; scikit-learn accepts the same domain). Keras'
    ``MeanSquaredLogarithmicError`` instead clips both arrays to ``>= 1e-7`` before the log,
    so it differs for inputs below ``1e-7``: ``convention="keras"`` reproduces it.

    Parameters
    ----------
    y_true, y_pred : array_like, shape (n,) or (n, ..., k)
        Exactly the same shape, values > -1.
    sample_weight : array_like of per-sample shape, optional
    reduction : {"mean", "sum", "none"}
    check_values : bool
        As in :func:`mean_absolute_error`, plus the > -1 check.
    convention : {"losskit", "sklearn", "keras", "torch"}
        Whose number to reproduce. Keras clips both arrays to ``>= 1e-7`` (so any finite
        value is accepted, with zero gradient below the clip). With ``sample_weight``, Keras
        and PyTorch divide the weighted sum by the number of samples, losskit and
        scikit-learn by the sum of the weights.

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    See Also
    --------
    losskit.gradient : :math:`2(\log(1+\hat y) - \log(1+y)) / (1 + \hat y)` per element.

    Examples
    --------
    >>> import losskit as lk
    >>> round(float(lk.mean_squared_log_error([3.0, 5.0, 2.5, 7.0], [2.5, 5.0, 4.0, 8.0])), 6)
    0.039730
    >>> lk.mean_squared_log_error([1.0], [-1.0])
    Traceback (most recent call last):
    ...
    ValueError: mean_squared_log_error: y_pred has values outside (-1, inf) (-1 at index 0; ...
    """
    func = "mean_squared_log_error"
    inputs = _finite_inputs(func, y_true, y_pred, sample_weight, check_values)
    xp, y, p = inputs.xp, inputs.y_true, inputs.y_pred
    floor = CONVENTIONS[convention].log1p_floor
    if check_values and floor is None:
        for name, x in (("y_true", y), ("y_pred", p)):
            check_domain(func, xp, name, x, Interval.above(-1.0, strict=True),
                         "log(1 + y) needs values > -1; for targets that can be negative "
                         "use mean_squared_error or huber_loss")
    if floor is not None:
        # Keras: log(max(x, 1e-7) + 1); the clip's derivative is 1 from 1e-7 up (end included)
        inside = p >= floor
        y, p = xp.maximum(y, floor), xp.maximum(p, floor)
        # log(x + 1) as Keras writes it, rounding included (log1p is accurate for small x)
        diff = xp.log(p + 1.0) - xp.log(y + 1.0)
    else:
        diff = xp.log1p(p) - xp.log1p(y)

    def gradient() -> Array:
        g = 2.0 * diff / (1.0 + p)
        return g if floor is None else xp.where(inside, g, 0.0)

    return per_sample(func, inputs, diff * diff, gradient, inputs.sample_weight,
                      check_values=check_values,
                      convention=convention)


_MEAN_ABSOLUTE_PERCENTAGE_ERROR = LossExplanation(
    formula="l = (1/k)·Σ_j |ŷ_j − y_j| / max(|y_j|, ε)   (a fraction: 0.1 means 10 %)",
    distribution="Laplace with a scale proportional to |y|: an absolute error weighted by "
                 "1/|y|; the minimiser is a weighted median biased low.",
    activation_from="laplace",
    activation="a linear output (or a positive one)",
    raw_output="the prediction ŷ itself",
    gradient="∂l/∂ŷ_j = sign(ŷ_j − y_j) / (k·max(|y_j|, ε)).",
    when="Reporting to people who think in percentages, for targets bounded away from 0; "
         "as a training loss prefer mean_squared_log_error or a likelihood.",
    pitfalls=(
        "Targets near 0 explode it (ε is the machine epsilon, so y = 0 gives a huge value).",
        "Biased low: over-predicting a small target costs more than under-predicting it, "
        "and predicting 0 never costs more than 1.",
        "Keras reports percent (100 times this); convention='keras' reproduces it.",
    ),
    related=("mean_absolute_error", "mean_squared_log_error"),
    case=Case("y = 2, ŷ = 2.5", 2.0, 2.5, grid=(0.0, 5.0)),
)


@loss_function(eps=Optional(Real(0.0, math.inf, closed="neither")),
               aliases=("mape",), explanation=_MEAN_ABSOLUTE_PERCENTAGE_ERROR)
def mean_absolute_percentage_error(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    eps: float | None = None,
    sample_weight: Any = None,
    reduction: str = "mean",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Mean absolute percentage error, as a **fraction** (0.1 means 10 %).

    .. math::

        l_i = \frac1k \sum_j \frac{|\hat y_{ij} - y_{ij}|}{\max(|y_{ij}|, \epsilon)}

    It is a mean absolute error weighted by :math:`1/|y|`, i.e. the negative log-likelihood of
    a Laplace target whose scale is proportional to :math:`|y|`. The minimiser is a weighted
    median that is biased **low**: over-predicting a small target costs more than
    under-predicting it, and the loss is unbounded above but at most 1 for predicting 0.

    When to use it: reporting to people who think in percentages, for targets bounded away
    from 0. As a training loss prefer :func:`mean_squared_log_error` or a likelihood.

    Equals scikit-learn's ``mean_absolute_percentage_error`` (a fraction, with
    :math:`\epsilon` = float64 machine epsilon ``2.2e-16``, so a zero target gives a huge but
    finite value). Keras' ``MeanAbsolutePercentageError`` reports **percent** (100 times this)
    and uses :math:`\epsilon = 10^{-7}`: ``convention="keras"`` reproduces it. PyTorch has
    no MAPE.

    Parameters
    ----------
    y_true, y_pred : array_like, shape (n,) or (n, ..., k)
        Exactly the same shape.
    eps : float > 0, optional
        Floor of the denominator; default ``2**-52`` as scikit-learn (``1e-7`` with
        ``convention="keras"``).
    sample_weight : array_like of per-sample shape, optional
    reduction : {"mean", "sum", "none"}
    check_values : bool
        As in :func:`mean_absolute_error`.
    convention : {"losskit", "sklearn", "keras", "torch"}
        Whose number to reproduce. Keras reports percent (100 times the fraction) with
        ``eps`` defaulting to ``1e-7``. With ``sample_weight``, Keras and PyTorch divide the
        weighted sum by the number of samples, losskit and scikit-learn by the sum of the
        weights.

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    See Also
    --------
    losskit.gradient : :math:`\operatorname{sign}(\hat y - y) / \max(|y|, \epsilon)`.

    Examples
    --------
    >>> import losskit as lk
    >>> float(lk.mean_absolute_percentage_error([100.0, 200.0], [110.0, 150.0]))
    0.175
    """
    func = "mean_absolute_percentage_error"
    inputs = _finite_inputs(func, y_true, y_pred, sample_weight, check_values)
    xp = inputs.xp
    policy = CONVENTIONS[convention]
    floor = eps if eps is not None else policy.relative_floor
    # Keras reports percent
    diff = inputs.y_pred - inputs.y_true
    numpy = isinstance(diff, np.ndarray) and diff.ndim > 0
    if numpy:
        # NumPy: the same operations, the scale in the target's spent buffer (if it is a cast
        # copy) and the gradient scaled in its own (measured at 1e6 float32: see
        # benchmarks/README.md)
        scale = np.abs(inputs.y_true, out=spent_target(y_true, inputs))
        np.maximum(scale, floor, out=scale)
        np.divide(100.0 if policy.percent else 1.0, scale, out=scale)
        elementwise = np.abs(diff)
        elementwise *= scale
    else:
        scale = (100.0 if policy.percent else 1.0) / xp.maximum(xp.abs(inputs.y_true), floor)
        elementwise = xp.abs(diff) * scale
    parts = per_sample(func, inputs, elementwise, lambda: xp.sign(diff) * scale,
                       inputs.sample_weight, check_values=check_values, convention=convention,
                       nan_hint="the percentage error overflows; rescale the targets")
    if numpy:
        def derivative() -> np.ndarray:
            g = np.sign(diff)
            g *= scale
            return g

        parts.scaled_gradient = scaled_in_place(parts.gradient, derivative, output_count(diff))
    return parts


_PINBALL_LOSS = LossExplanation(
    formula="l = (1/k)·Σ_j ρ_τ(y_j − ŷ_j),   ρ_τ(d) = τ·d if d ≥ 0, else (τ − 1)·d   "
            "(τ = quantile)",
    distribution="The asymmetric Laplace distribution with location ŷ, whose τ-quantile is "
                 "ŷ: minimising the loss gives the conditional τ-quantile.",
    activation_from="laplace",
    activation="a linear output (one per quantile)",
    raw_output="the prediction ŷ (the τ-quantile)",
    gradient="∂l/∂ŷ_j = (1 − τ)/k where ŷ_j > y_j, −τ/k where ŷ_j < y_j  (0 at a tie).",
    when="Prediction intervals (one output per quantile, e.g. 0.05 and 0.95) and asymmetric "
         "costs (under-stocking costs more than over-stocking).",
    pitfalls=(
        "Quantiles trained separately can cross (the 0.9 quantile below the 0.1): sort the "
        "outputs or predict positive increments.",
        "At τ = 0.5 it is half the absolute error, not the absolute error.",
        "The gradient has constant size, as for the absolute error.",
    ),
    related=("mean_absolute_error", "laplace_nll"),
    case=Case("y = 0, ŷ = −1, τ = 0.9", 0.0, -1.0, {"quantile": 0.9}, grid=(-3.0, 3.0)),
)


@loss_function(quantile=Real(0.0, 1.0, closed="neither"),
               aliases=("pinball", "quantile", "quantile loss"), explanation=_PINBALL_LOSS)
def pinball_loss(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    quantile: float = 0.5,
    sample_weight: Any = None,
    reduction: str = "mean",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Pinball (quantile) loss: the model learns the ``quantile`` of the target.

    .. math::

        \rho_\tau(d) = \begin{cases} \tau\, d & d \ge 0 \\ (\tau - 1)\, d & d < 0
        \end{cases}, \qquad d = y - \hat y, \qquad l_i = \frac1k \sum_j \rho_\tau(d_{ij})

    It is the negative log-likelihood (up to scale and constants) of the asymmetric Laplace
    distribution with location :math:`\hat y` and asymmetry :math:`\tau`, whose
    :math:`\tau`-quantile is :math:`\hat y`: minimising it gives the conditional
    :math:`\tau`-quantile. At :math:`\tau = 0.5` it is half the absolute error.

    When to use it: prediction intervals (train one output per quantile, e.g. 0.05 and 0.95,
    each with its own call) and asymmetric costs (under-stocking costs more than
    over-stocking).

    Equals scikit-learn's ``mean_pinball_loss(alpha=quantile)``.

    Parameters
    ----------
    y_true, y_pred : array_like, shape (n,) or (n, ..., k)
        Exactly the same shape.
    quantile : float in (0, 1)
        The quantile :math:`\tau` to predict.
    sample_weight : array_like of per-sample shape, optional
    reduction : {"mean", "sum", "none"}
    check_values : bool
        As in :func:`mean_absolute_error`.
    convention : {"losskit", "sklearn", "keras", "torch"}
        Whose number to reproduce. With ``sample_weight``, Keras and PyTorch divide the
        weighted sum by the number of samples, losskit and scikit-learn by the sum of the
        weights.

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    See Also
    --------
    losskit.gradient : :math:`-\tau` where :math:`y > \hat y`, :math:`1 - \tau` where
        :math:`y < \hat y`, and 0 at :math:`y = \hat y` (a subgradient, as for
        :func:`mean_absolute_error`).

    Examples
    --------
    >>> import losskit as lk
    >>> lk.pinball_loss([10.0, 10.0], [8.0, 12.0], quantile=0.9, reduction="none").tolist()
    [1.8, 0.2]
    >>> lk.pinball_loss([1.0], [1.0], quantile=1.0)
    Traceback (most recent call last):
    ...
    ValueError: pinball_loss: quantile must be a number in (0.0, 1.0); got 1.0. ...
    """
    func = "pinball_loss"
    inputs = _finite_inputs(func, y_true, y_pred, sample_weight, check_values)
    xp = inputs.xp
    d = inputs.y_true - inputs.y_pred

    def gradient() -> Array:
        # both branches as arrays of d's dtype (a where() of two Python scalars would not be)
        return (1.0 - quantile) * xp.astype(d < 0, d.dtype) - quantile * xp.astype(d > 0, d.dtype)

    if not (isinstance(d, np.ndarray) and d.ndim):
        elementwise = xp.where(d >= 0, quantile * d, (quantile - 1.0) * d)
        return per_sample(func, inputs, elementwise, gradient, inputs.sample_weight,
                          check_values=check_values, convention=convention)
    # NumPy: max(tau d, (tau - 1) d), the branch the where picks (tau in (0, 1): the larger
    # one), without NumPy's where (3 passes in two buffers instead of 4 in four, one of them
    # a where), and the gradient from the two masks times the gradient's two nonzero values
    # scaled as the generic path scales them, the same numbers (measured at 1e6 float32: see
    # benchmarks/README.md)
    elementwise = np.multiply(d, quantile)
    np.maximum(elementwise, np.multiply(d, quantile - 1.0, out=spent_target(y_true, inputs)),
               out=elementwise)
    parts = per_sample(func, inputs, elementwise, gradient, inputs.sample_weight,
                       check_values=check_values, convention=convention)
    k = output_count(d)

    def scaled(scale: Any) -> Any:
        if not isinstance(scale, float):
            return apply_scale(np, parts.gradient(), scale)
        # gradient()'s values where d < 0 and d > 0, in d's dtype, divided and scaled as
        # per_sample and apply_scale do it
        t = d.dtype.type
        below, above = t(1.0 - quantile), -t(quantile)
        if k != 1:
            below, above = below / t(k), above / t(k)
        if scale != 1.0:
            below, above = below * t(scale), above * t(scale)
        g = np.multiply(d > 0, above, dtype=d.dtype)
        g += np.multiply(d < 0, below, dtype=d.dtype)
        return g

    parts.scaled_gradient = scaled
    return parts
