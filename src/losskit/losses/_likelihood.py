"""Negative log-likelihoods of the common target distributions, and the Tweedie deviance.

Each loss here is :math:`-\\log p(y \\mid \\theta)` for a named distribution whose parameters come
from the network. For continuous targets these are log-*densities*, which exceed 1 for
concentrated distributions: **negative values are legitimate** (a Gaussian with
:math:`\\sigma = 0.1` has density 3.99 at its mean, so its NLL there is -1.38) and the loss keeps
decreasing as the model becomes both accurate and confident. Only differences of NLL between
models on the same data are meaningful.

The gradient returned by :func:`losskit.gradient` is with respect to ``y_pred`` only (the mean,
or the log-rate/log-mean with ``log_input=True``); extra parameters passed as keywords (a
variance, a scale) are treated as constants. :func:`gaussian_mixture_nll` takes every raw
output in ``y_pred`` and differentiates all of them.
"""

from __future__ import annotations

import functools
import math
import numbers
from typing import Any

import array_api_compat as aac
import numpy as np

from losskit._array import (
    Array,
    Namespace,
    is_traced,
    log_sigmoid,
    log_softmax,
    mul_zero_safe,
    sigmoid_parts,
    to_bool,
    with_derivative,
)
from losskit._reduction import apply_scale
from losskit._validation import (
    Boolean,
    Constraint,
    Interval,
    Optional,
    Real,
    check_domain,
    check_nonempty,
    fail,
)
from losskit.losses._conventions import CONVENTIONS
from losskit.losses._core import Inputs, PerSample, loss_function, prepare
from losskit.losses._elementwise import (
    PositiveOrArray,
    RealOrArray,
    array_option,
    check_at_least,
    check_finite_pair,
    output_count,
    parameter,
    per_sample,
    scaled_in_place,
)
from losskit.losses._spec import Case, Kernel, LossExplanation

__all__ = [
    "gamma_nll",
    "gaussian_mixture_nll",
    "gaussian_nll",
    "laplace_nll",
    "negative_binomial_nll",
    "poisson_nll",
    "student_t_nll",
    "tweedie_deviance",
]

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_POSITIVE = Real(0.0, math.inf, closed="neither", traced=False)  # host constants (lgamma)

# Lanczos approximation of the gamma function, g = 7, n = 9 (relative error ~1e-15 for x >= 1)
_LANCZOS_G = 7.0
_LANCZOS = (
    0.99999999999980993,
    676.5203681218851,
    -1259.1392167224028,
    771.32342877765313,
    -176.61502916214059,
    12.507343278686905,
    -0.13857109526572012,
    9.9843695780195716e-6,
    1.5056327351493116e-7,
)


def _log_factorial(xp: Namespace, y: Array) -> Array:
    """:math:`\\log \\Gamma(y + 1)` for ``y >= 0`` (:math:`\\log y!` for counts), any library.

    The array API has no ``lgamma``, so this is Lanczos' approximation
    :math:`\\Gamma(x) = \\sqrt{2\\pi}\\, t^{x - 1/2} e^{-t} A(x)`, :math:`t = x + g - 1/2`,
    evaluated in logs: absolute error below ~1e-14 in float64.
    """
    x = y  # Gamma(y + 1) = Lanczos series at x - 1 = y
    if _is_numpy_float(x):
        # the same operations in three buffers (see _lanczos_log_sum)
        t = np.add(x, _LANCZOS_G + 0.5)
        value = np.log(t)
        value *= np.add(x, 0.5)
        np.add(value, _HALF_LOG_2PI, out=value)
        value -= t
        value += _lanczos_log_sum(xp, x, scratch=t)
        return value
    a = _LANCZOS[0]
    for i, c in enumerate(_LANCZOS[1:], start=1):
        a = a + c / (x + float(i))
    t = x + (_LANCZOS_G + 0.5)
    return _HALF_LOG_2PI + (x + 0.5) * xp.log(t) - t + xp.log(a)


def _is_numpy_float(x: Any) -> bool:
    """Whether ``x`` is a NumPy floating array, which the series below evaluate in a few
    buffers with the generic operations in the same order (the same numbers): each fresh
    array of their ~25 operations cost a page fault per 4 KB here (measured at 5e5 float32,
    the negative binomial's value and gradient: 45 -> see benchmarks/README.md)."""
    return isinstance(x, np.ndarray) and x.dtype.kind == "f" and x.ndim >= 1


def _check_targets(func: str, inputs: Inputs, check_values: bool) -> None:
    """``y_true`` and ``y_pred`` finite (one BLAS dot on NumPy: :func:`check_finite_pair`);
    a domain check after it reads only the minimum (:func:`check_at_least`)."""
    if check_values:
        check_finite_pair(func, inputs)


# ----------------------------------------------------------------------------------- Poisson
# Raw-space kernels (``(xp, y, eta, **options)``, see losses/_spec.Kernel): each derivative is
# written once, here; the loss bodies and the families (losskit.families) both call them.


_POISSON_NLL = LossExplanation(
    formula="l = e^η − y·η   [+ log y! with full=True]   (log_input=True: η = log μ)\n"
            "l = μ − y·log μ   (log_input=False: y_pred is the rate μ)",
    distribution="Poisson(μ): −log P(y | μ) = μ − y·log μ + log y!; full=False drops "
                 "log y!, which does not depend on the model.",
    activation_from="poisson",
    activation="exp applied inside the loss: the last layer is linear and outputs the "
               "log-rate η (log_input=True, the default)",
    raw_output="the log-rate η = log μ (log_input=True)",
    gradient="∂l/∂η = e^η − y = μ̂ − y  (prediction minus target: the log is the canonical "
             "link). W.r.t. the rate (log_input=False): 1 − y/μ.",
    when="Counts (events, visits, goals) whose variance is about their mean.",
    pitfalls=(
        "Needs a log-rate output: with log_input=True (the default) y_pred is η, the raw "
        "output of a linear layer; applying exp yourself as well takes it twice. With "
        "log_input=False y_pred must be a positive rate (μ = 0 with y > 0 is infinite).",
        "full=False values can be negative: only differences between models mean "
        "something (full=True is the exact, non-negative NLL).",
        "Over-dispersed counts (variance well above the mean) make it over-confident: "
        "use negative_binomial_nll (or tweedie_deviance with 1 < power < 2).",
        "PyTorch adds 1e-8 inside the log (log_input=False) and uses Stirling's "
        "approximation with full=True; convention='torch' reproduces both.",
    ),
    related=("tweedie_deviance", "negative_binomial_nll", "gamma_nll",
             "mean_squared_log_error"),
    case=Case("y = 3, μ = 2 (η = log 2)", 3.0, math.log(2.0), {"log_input": True},
               grid=(-2.0, 3.0), more_targets=(0.0,), x_label="log-rate η"),
)


def _poisson_value(xp: Namespace, y: Array, eta: Array, *, full: bool = False,
                   rate: Array | None = None) -> Array:
    r""":math:`e^\eta - y\eta\,[+ \log y!]` of the log-rate :math:`\eta` (``rate``: the
    :math:`e^\eta` a caller already has, shared with the gradient)."""
    if aac.is_jax_array(eta):
        # JAX: the plain product, equal to the masked one for every finite log-rate (the value
        # checks refuse an infinite one; unchecked, a 0 count with an infinite log-rate gives
        # NaN, not the limit): XLA fuses it with the mean where it writes a select out first
        # (jit value at 1e6 float32: 1.5 -> 1.05 ms; the plain formula 1.0)
        product = y * eta
    else:
        product = mul_zero_safe(xp, y, eta)
    value = (xp.exp(eta) if rate is None else rate) - product
    return value + _log_factorial(xp, y) if full else value


def _poisson_gradient(xp: Namespace, y: Array, eta: Array, *, full: bool = False,
                      rate: Array | None = None) -> Array:
    return (xp.exp(eta) if rate is None else rate) - y  # the rate minus the count


def _poisson_hessian(xp: Namespace, y: Array, eta: Array, *, full: bool = False) -> Array:
    return xp.exp(eta)


@loss_function(kernel=Kernel("log", _poisson_value, _poisson_gradient, _poisson_hessian),
               log_input=Boolean(), full=Boolean(),
               eps=Optional(Real(0.0, math.inf, closed="left")),
               aliases=("poisson loss", "PoissonNLLLoss"), explanation=_POISSON_NLL)
def poisson_nll(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    log_input: bool = True,
    full: bool = False,
    eps: float | None = None,
    sample_weight: Any = None,
    reduction: str = "mean",
    unit: str = "nats",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Negative log-likelihood of a Poisson count target.

    With rate :math:`\mu` (``y_pred``, or :math:`e^{\eta}` for a log-rate :math:`\eta`):

    .. math::

        l = \mu - y \log \mu \;\bigl[+ \log \Gamma(y + 1)\bigr], \qquad
        -\log P(y \mid \mu) = \mu - y\log\mu + \log y!

    averaged over a sample's outputs. For :math:`y \sim \mathrm{Poisson}(\mu)` this is the
    exact negative log-likelihood with ``full=True`` (never negative: a count's probability is
    at most 1); ``full=False`` drops :math:`\log y!`, which does not depend on the model, so
    its values can be negative (only differences between models mean something). With
    ``log_input=True`` (the default, as PyTorch) the network's raw output is the log-rate
    :math:`\eta` (exponential output activation, the canonical link) and the loss is
    :math:`e^\eta - y\eta`: finite for any finite :math:`\eta`, with gradient
    :math:`e^\eta - y` (prediction minus target).

    When to use it: counts (events, visits, photons, goals); the mean equals the variance.
    For over-dispersed counts consider a Tweedie deviance with power between 1 and 2.

    Conventions: equals PyTorch's ``poisson_nll_loss`` with ``full=False`` except that
    PyTorch adds ``eps=1e-8`` inside the log when ``log_input=False``; this computes
    :math:`\log\mu` exactly, so :math:`\mu = 0` with :math:`y > 0` gives ``inf``. With
    ``full=True`` PyTorch adds Stirling's approximation :math:`y\log y - y +
    \frac12\log(2\pi y)` for :math:`y > 1` only (off by about :math:`1/12y`), whereas this
    adds the exact :math:`\log\Gamma(y+1)` (equal to ``scipy.stats.poisson.logpmf``);
    ``convention="torch"`` reproduces both PyTorch choices. Keras' ``Poisson`` is
    ``log_input=False`` with :math:`\log(\mu + 10^{-7})`, reproduced by
    ``convention="keras"``. scikit-learn's ``mean_poisson_deviance`` is
    :math:`2\,[l(\mu) - l(y)]` (the NLL minus that of the perfect prediction, doubled).

    Parameters
    ----------
    y_true : array_like, same shape as ``y_pred``
        Counts :math:`y \ge 0` (non-integer values are accepted: the quasi-Poisson loss).
    y_pred : array_like, shape (n,) or (n, ..., k)
        Log-rates :math:`\eta` (``log_input=True``) or rates :math:`\mu \ge 0`.
    log_input : bool
        ``y_pred`` holds log-rates (raw network outputs) rather than rates.
    full : bool
        Include :math:`\log y!` (the exact NLL) instead of dropping it.
    eps : float >= 0, optional
        Added to rates inside the log with ``log_input=False`` (PyTorch's ``eps``); default
        the convention's: 0 (losskit, exact), 1e-8 (PyTorch), 1e-7 (Keras).
    sample_weight : array_like of per-sample shape, optional
    reduction : {"mean", "sum", "none"}
    unit : {"nats", "bits"}
        Natural or base-2 logarithm.
    check_values : bool
        Check non-negative counts and rates, NaN/inf and weights (a host synchronisation).
    convention : {"losskit", "sklearn", "keras", "torch"}
        Whose number to reproduce: ``"torch"`` adds 1e-8 to rates inside the log and uses
        Stirling's term for ``full=True``; ``"keras"`` adds 1e-7 to rates inside the log. With
        ``sample_weight``, Keras and PyTorch divide the weighted sum by the number of samples,
        losskit and scikit-learn (same numbers as losskit) by the sum of the weights.

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    See Also
    --------
    losskit.gradient : with respect to ``y_pred``: :math:`e^\eta - y` for log-rates,
        :math:`1 - y/\mu` for rates.

    Examples
    --------
    >>> import math
    >>> import losskit as lk
    >>> y, rate = [0.0, 2.0, 5.0], [1.0, 2.0, 4.0]
    >>> log_rate = [math.log(r) for r in rate]
    >>> round(float(lk.poisson_nll(y, log_rate)), 6)
    -0.439255
    >>> round(float(lk.poisson_nll(y, rate, log_input=False, full=True)), 6)
    1.387624
    >>> lk.poisson_nll([-1.0], [0.0])
    Traceback (most recent call last):
    ...
    ValueError: poisson_nll: y_true has values outside [0, inf) (-1 at index 0; ...
    """
    func = "poisson_nll"
    inputs = prepare(func, y_true, y_pred, sample_weight)
    xp, y, z = inputs.xp, inputs.y_true, inputs.y_pred
    if check_values:
        _check_targets(func, inputs, check_values)
        check_at_least(func, xp, "y_true", y, 0.0, strict=False,
                       fix="Poisson targets are counts >= 0; for signed targets use "
                       "mean_squared_error or gaussian_nll")
        if not log_input:
            check_at_least(func, xp, "y_pred", z, 0.0, strict=False,
                           fix="Rates must be >= 0; pass log-rates with log_input=True, or put "
                           "an exp/softplus activation on the output")
    scaled_gradient = None
    if log_input and check_values and _is_numpy_float(z) and _is_numpy_float(y):
        # NumPy, checked (y and eta finite, so y·eta needs no 0·inf mask): e^eta - y·eta in
        # two buffers, and the gradient e^eta - y scaled in the rate's (used once): the same
        # operations as below (measured at 1e6 float32: value 5 -> 4 ms)
        rate = np.exp(z)
        elementwise = np.multiply(y, z)
        np.subtract(rate, elementwise, out=elementwise)
        buffers = [rate]

        def gradient() -> Array:
            return _poisson_gradient(xp, y, z, rate=rate)

        def scaled_gradient(scale: Array | float) -> Array:
            # (no reference to the PerSample: a cycle would keep these buffers until the
            # garbage collector runs, and every later call page-faults in fresh memory)
            if not isinstance(scale, float) or not buffers or rate.ndim > 1:
                g = gradient()
                return apply_scale(xp, g if rate.ndim == 1 else g / rate.shape[-1], scale)
            g = np.subtract(rate, y, out=buffers.pop())
            if scale != 1.0:
                g *= scale
            return g
    elif log_input:
        # e^eta once for the value and the gradient (measured: 9 -> see benchmarks/README.md)
        rate = xp.exp(z)
        elementwise = _poisson_value(xp, y, z, rate=rate)

        def gradient() -> Array:
            return _poisson_gradient(xp, y, z, rate=rate)
    else:
        # PyTorch and Keras add a constant to the rate inside the log; losskit does not
        offset = eps if eps is not None else CONVENTIONS[convention].rate_offset
        shifted = z + offset if offset else z
        # y * log(mu) with 0 * log 0 = 0: a zero rate is exact where the count is 0
        # (the log never sees a 0 rate where the count is 0, so autograd stays finite)
        elementwise = z - mul_zero_safe(xp, y, xp.log(xp.where(y == 0, 1.0, shifted)))

        def gradient() -> Array:
            return 1.0 - mul_zero_safe(xp, y, 1.0 / shifted)
    if full and CONVENTIONS[convention].stirling:
        # PyTorch's Stirling approximation of log y!, only where y > 1
        big = y > 1
        safe = xp.where(big, y, 2.0)
        stirling = safe * xp.log(safe) - safe + 0.5 * xp.log(2.0 * math.pi * safe)
        elementwise = elementwise + xp.where(big, stirling, 0.0)
    elif full:
        elementwise = elementwise + _log_factorial(xp, y)
    parts = per_sample(func, inputs, elementwise, gradient, inputs.sample_weight,
                       check_values=check_values, convention=convention,
                       nan_hint="the rate overflows or is 0 with a 0 count and inf log; "
                                "check y_pred")
    parts.scaled_gradient = scaled_gradient
    return parts


# ------------------------------------------------------------------------- negative binomial


def _lanczos_log_sum(xp: Namespace, x: Array, scratch: Array | None = None) -> Array:
    """``log A(x)``, the logarithm of the Lanczos series of :func:`_log_factorial` (NumPy:
    in a new buffer, with ``scratch`` a free one of ``x``'s shape, if given)."""
    if _is_numpy_float(x):
        term = np.add(x, 1.0, out=scratch)
        np.divide(_LANCZOS[1], term, out=term)
        a = np.add(term, _LANCZOS[0])
        for i, c in enumerate(_LANCZOS[2:], start=2):
            np.add(x, float(i), out=term)
            np.divide(c, term, out=term)
            a += term
        return np.log(a, out=a)
    a = _LANCZOS[0]
    for i, c in enumerate(_LANCZOS[1:], start=1):
        a = a + c / (x + float(i))
    return xp.log(a)


def _log_gamma_ratio(xp: Namespace, a: Array, y: Array) -> Array:
    r""":math:`\log\Gamma(a + y) - \log\Gamma(a)` for :math:`a > 0`, :math:`y \ge 0`.

    Lanczos' series for :math:`\log\Gamma(a + 1 + y) - \log\Gamma(a + 1)` with the two
    :math:`t\log t` terms regrouped (:math:`(a + \frac12)\log(1 + y/t) + y(\log(t + y) - 1)`,
    :math:`t = a + g + \frac12`), so nothing of size :math:`a\log a` cancels when :math:`a` is
    large (a negative binomial near its Poisson limit), then
    :math:`\Gamma(z + 1) = z\Gamma(z)` shifts it back by one: exactly 0 at :math:`y = 0`.
    """
    if _is_numpy_float(a) and _is_numpy_float(y) and a.dtype == y.dtype:
        # the operations below in four buffers (see _is_numpy_float)
        t = np.add(a, _LANCZOS_G + 0.5)
        w = np.divide(y, t)
        np.log1p(w, out=w)
        shifted = np.add(a, 0.5)
        shifted *= w
        np.add(t, y, out=w)
        np.log(w, out=w)
        w -= 1.0
        w *= y
        shifted += w
        np.add(a, y, out=t)
        lanczos = _lanczos_log_sum(xp, t, scratch=w)
        shifted += lanczos
        shifted -= _lanczos_log_sum(xp, a, scratch=w)
        np.divide(y, a, out=w)
        shifted -= np.log1p(w, out=w)
        return shifted
    t = a + (_LANCZOS_G + 0.5)
    shifted = ((a + 0.5) * xp.log1p(y / t) + y * (xp.log(t + y) - 1.0)
               + _lanczos_log_sum(xp, a + y) - _lanczos_log_sum(xp, a))
    return shifted - xp.log1p(y / a)


def _digamma_shifted(x: Array) -> Array:
    """:math:`\\psi(x)` for ``x >= 10``: the asymptotic series, error below 1e-17."""
    if _is_numpy_float(x):  # the same operations in three buffers (see _is_numpy_float)
        inv = np.divide(1.0, x)
        inv2 = np.multiply(inv, inv)
        series = np.divide(inv2, 12.0)
        for c in (691.0 / 32760, 1.0 / 132, 1.0 / 240, 1.0 / 252, 1.0 / 120, 1.0 / 12):
            np.subtract(c, series, out=series)
            series *= inv2
        inv *= -0.5
        inv -= series
        return inv
    inv = 1.0 / x
    inv2 = inv * inv
    series = inv2 * (1.0 / 12 - inv2 * (1.0 / 120 - inv2 * (1.0 / 252 - inv2 * (
        1.0 / 240 - inv2 * (1.0 / 132 - inv2 * (691.0 / 32760 - inv2 / 12.0))))))
    return -0.5 * inv - series


def digamma_difference(xp: Namespace, a: Array, y: Array) -> Array:
    r""":math:`\psi(a + y) - \psi(a)` (:math:`a > 0`, :math:`y \ge 0`): each digamma shifted
    up by ten with :math:`\psi(x) = \psi(x + 1) - 1/x` and then the asymptotic series
    :math:`\log x - \frac1{2x} - \sum_k B_{2k}/(2k x^{2k})`; the logarithms are combined as
    :math:`\log(1 + y / (a + 10))`."""
    b = a + y
    if _is_numpy_float(a) and _is_numpy_float(y) and a.dtype == y.dtype:
        # the operations below in four buffers (see _is_numpy_float)
        c = np.add(a, 10.0)
        total = np.divide(y, c)
        np.log1p(total, out=total)
        d = np.add(b, 10.0)
        total += _digamma_shifted(d)
        total -= _digamma_shifted(c)
        for k in range(10):
            np.add(a, float(k), out=c)
            np.add(b, float(k), out=d)
            c *= d
            np.divide(y, c, out=c)
            total += c
        return total
    total = xp.log1p(y / (a + 10.0)) + _digamma_shifted(b + 10.0) - _digamma_shifted(a + 10.0)
    for k in range(10):
        # 1/(a + k) - 1/(b + k) as one fraction: one division instead of two (float64: the
        # same to rounding, checked against mpmath; float32: the NB gradient's largest error
        # against float64 halved, 3.7e-7 -> 1.8e-7 of its scale)
        total = total + y / ((a + float(k)) * (b + float(k)))
    return total


def trigamma(xp: Namespace, x: Array) -> Array:
    r""":math:`\psi'(x)` for :math:`x > 0`: ten steps of :math:`\psi'(x) = \psi'(x + 1) +
    1/x^2`, then the asymptotic series :math:`\frac1z + \frac1{2z^2} + \sum_k B_{2k}/z^{2k+1}`
    at :math:`z = x + 10` (error below 1e-17)."""
    total = xp.zeros_like(x)
    for k in range(10):
        total = total + 1.0 / ((x + float(k)) * (x + float(k)))
    z = x + 10.0
    inv = 1.0 / z
    inv2 = inv * inv
    series = inv * (1.0 + inv * (0.5 + inv * (1.0 / 6 - inv2 * (1.0 / 30 - inv2 * (
        1.0 / 42 - inv2 * (1.0 / 30 - inv2 * (5.0 / 66 - inv2 * 691.0 / 2730)))))))
    return total + series


def negative_binomial_terms(xp: Namespace, y: Array, eta: Array, s: Array
                            ) -> tuple[Array, Array, Array]:
    r"""``(nll, p, r)`` of a negative binomial (NB2) with log-mean ``eta`` and log-dispersion
    ``s``, without :math:`\log y!`: :math:`r = e^{-s}`, :math:`u = \eta + s`,
    :math:`p = \sigma(u) = \alpha\mu / (1 + \alpha\mu)` and

    .. math::

        l = r\,\mathrm{softplus}(u) + y\,\mathrm{softplus}(-u)
            - \log\Gamma(y + r) + \log\Gamma(r)
    """
    nll, p, r, _ = _negative_binomial_parts(xp, y, eta, s)
    return nll, p, r


def _negative_binomial_parts(xp: Namespace, y: Array, eta: Array, s: Array
                             ) -> tuple[Array, Array, Array, Array]:
    r""":func:`negative_binomial_terms` and :math:`\log\sigma(-u) = -\mathrm{softplus}(u)`,
    which the gradient of the log-dispersion reuses; the sigmoid and both log-sigmoids share
    one ``exp(-|u|)`` (:func:`~losskit._array.sigmoid_parts`)."""
    u = eta + s
    r = xp.exp(-s)
    # softplus(u) = -log sigmoid(-u): no overflow for any finite u
    p, _, log_p, log_one_minus_p = sigmoid_parts(xp, u)
    nll = (-r * log_one_minus_p - mul_zero_safe(xp, y, log_p) - _log_gamma_ratio(xp, r, y))
    return nll, p, r, log_one_minus_p


def _negative_binomial_mean_gradient(y: Array, p: Array, r: Array) -> Array:
    return r * p - y * (1.0 - p)


def _negative_binomial_gradients(xp: Namespace, y: Array, eta: Array, s: Array, p: Array,
                                 r: Array, log_one_minus_p: Array | None = None
                                 ) -> tuple[Array, Array]:
    r""":math:`\partial l/\partial\eta = rp - y(1 - p) = (\mu - y)/(1 + \alpha\mu)` and
    :math:`\partial l/\partial s = r[\psi(y + r) - \psi(r) - \mathrm{softplus}(u)]
    + \partial l/\partial\eta` (``log_one_minus_p``: :math:`\log\sigma(-u)` if the caller has
    it)."""
    g_eta = _negative_binomial_mean_gradient(y, p, r)
    # softplus(u) = -log sigmoid(-u)
    if log_one_minus_p is None:
        log_one_minus_p = log_sigmoid(xp, -(eta + s))
    g_s = r * (digamma_difference(xp, r, y) + log_one_minus_p) + g_eta
    return g_eta, g_s


def _stacked_gradients(xp: Namespace, y: Array, eta: Array, s: Array, p: Array, r: Array,
                       log_one_minus_p: Array) -> Array:
    """:func:`_negative_binomial_gradients` stacked along a last axis of 2; on NumPy each is
    written into its column of the result (the same operations, without a stack copy and
    fresh temporaries: see :func:`_is_numpy_float`)."""
    if not all(_is_numpy_float(a) for a in (y, p, r, log_one_minus_p)):
        return xp.stack(_negative_binomial_gradients(xp, y, eta, s, p, r, log_one_minus_p),
                        axis=-1)
    out = np.empty((*p.shape, 2), dtype=p.dtype)
    g_eta, g_s = out[..., 0], out[..., 1]
    # r p - y (1 - p)
    np.multiply(r, p, out=g_eta)
    q = np.subtract(1.0, p)
    q *= y
    g_eta -= q
    # r (psi(y + r) - psi(r) + log sigma(-u)) + g_eta
    dd = digamma_difference(xp, r, y)
    dd += log_one_minus_p
    dd *= r
    np.add(dd, g_eta, out=g_s)
    return out


def _negative_binomial_value(xp: Namespace, y: Array, eta: Array, *, full: bool = False
                             ) -> Array:
    """The NLL of raw outputs ``eta[..., 0]`` (log-mean), ``eta[..., 1]`` (log-dispersion)."""
    value = negative_binomial_terms(xp, y, eta[..., 0], eta[..., 1])[0]
    return value + _log_factorial(xp, y) if full else value


def _negative_binomial_gradient(xp: Namespace, y: Array, eta: Array, *, full: bool = False
                                ) -> Array:
    log_mean, s = eta[..., 0], eta[..., 1]
    # p, r and log sigma(-u) only: not the value's log-gamma series (measured at 5e5 float32:
    # the family's gradient 45 -> see benchmarks/README.md)
    p, _, _, log_one_minus_p = sigmoid_parts(xp, log_mean + s)
    return _stacked_gradients(xp, y, log_mean, s, p, xp.exp(-s), log_one_minus_p)


def _negative_binomial_hessian(xp: Namespace, y: Array, eta: Array, *, full: bool = False
                               ) -> Array:
    r"""The diagonal: :math:`(r + y)p(1 - p)` and :math:`r[\mathrm{softplus}(u) - \psi(y + r)
    + \psi(r) - 2p] - r^2[\psi'(y + r) - \psi'(r)] + (r + y)p(1 - p)`."""
    log_mean, s = eta[..., 0], eta[..., 1]
    p, r = sigmoid_parts(xp, log_mean + s)[0], xp.exp(-s)  # not the value's series
    h_eta = (r + y) * p * (1.0 - p)
    d_trigamma = trigamma(xp, r + y) - trigamma(xp, r)
    h_s = (r * (-log_sigmoid(xp, -(log_mean + s)) - digamma_difference(xp, r, y) - 2.0 * p)
           - r * r * d_trigamma + h_eta)
    return xp.stack([h_eta, h_s], axis=-1)


def _negative_binomial_inputs(func: str, y_true: Any, y_pred: Any, sample_weight: Any,
                              alpha: Any) -> Inputs:
    if alpha is not None:
        return prepare(func, y_true, y_pred, sample_weight,
                       arrays={"alpha": array_option(alpha)})
    return prepare(func, y_true, y_pred, sample_weight, check_shape=_learned_dispersion_shape)


def _learned_dispersion_shape(func: str, y_true: Array, y_pred: Array) -> None:
    """With ``alpha`` learned, ``y_pred`` holds ``(log-mean, log-dispersion)`` per entry."""
    if y_pred.ndim != y_true.ndim + 1 or tuple(y_pred.shape) != (*tuple(y_true.shape), 2):
        fail(func, "y_pred", f"has shape {tuple(y_pred.shape)} but y_true of shape "
             f"{tuple(y_true.shape)} needs shape {(*tuple(y_true.shape), 2)} when alpha is "
             "learned (alpha=None)", "Put each entry's log-mean and log-dispersion along "
             "y_pred's last axis, or pass a fixed alpha with y_pred of y_true's shape")
    check_nonempty(func, "y_true", y_true)


_NEGATIVE_BINOMIAL_NLL = LossExplanation(
    formula="l = r·softplus(u) + y·softplus(−u) + log Γ(r) − log Γ(y + r)   [+ log y! with "
            "full=True]\nu = η + s,  η = log μ,  s = log α,  r = 1/α   (alpha=None: the raw "
            "outputs per target are (η, s))",
    distribution="Negative binomial (NB2) with mean μ and dispersion α: variance μ + α·μ², a "
                 "Poisson whose rate varies as a Gamma with shape 1/α; exactly "
                 "−log NB(y | μ, α) with full=True. α → 0 is the Poisson.",
    activation_from="negative_binomial",
    activation="exp for the log-mean and for the log-dispersion, inside the loss (the last "
               "layer is linear, two outputs per target)",
    raw_output="two values per target: the log-mean η and the log-dispersion s = log α (a "
               "fixed alpha= takes one value, η)",
    gradient="∂l/∂η = (μ − y)/(1 + α·μ),  ∂l/∂s = r·(ψ(y + r) − ψ(r) − log(1 + α·μ)) + "
             "(μ − y)/(1 + α·μ)  (ψ the digamma function).",
    when="Over-dispersed counts: the variance well above the mean (doctor visits, claims, "
         "species counts), where poisson_nll fits the mean but is over-confident.",
    pitfalls=(
        "With alpha=None y_pred has shape y_true.shape + (2,): (log-mean, log-dispersion) "
        "along the last axis; a fixed alpha takes y_pred of y_true's shape.",
        "full=False drops log y! only: values can be negative, differences between models "
        "still mean something.",
        "Marginal over-dispersion can come from the inputs: a learned dispersion falls "
        "towards 0 (the Poisson) when the model explains it.",
    ),
    related=("poisson_nll", "tweedie_deviance", "negative_binomial"),
    case=Case("y = 7, μ = 3 (η = log 3), α = 0.5 (s = log 0.5)", 7.0,
               (math.log(3.0), math.log(0.5)), vary=0, grid=(-2.0, 4.0),
               more_targets=(0.0,), x_label="log-mean η (log-dispersion fixed)"),
)


@loss_function(kernel=Kernel("log,log", _negative_binomial_value, _negative_binomial_gradient,
                              _negative_binomial_hessian),
               alpha=Optional(PositiveOrArray()), log_input=Boolean(), full=Boolean(),
               aliases=("negative binomial loss", "nb nll", "nb2"),
               explanation=_NEGATIVE_BINOMIAL_NLL)
def negative_binomial_nll(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    alpha: Any = None,
    log_input: bool = True,
    full: bool = False,
    sample_weight: Any = None,
    reduction: str = "mean",
    unit: str = "nats",
    check_values: bool = True,
) -> PerSample:
    r"""Negative log-likelihood of an over-dispersed count: the negative binomial (NB2).

    Mean :math:`\mu` and dispersion :math:`\alpha > 0`: variance :math:`\mu + \alpha\mu^2`
    (a Poisson whose rate varies as a Gamma with shape :math:`r = 1/\alpha`). With the
    log-mean :math:`\eta = \log\mu`, :math:`s = \log\alpha` and :math:`u = \eta + s`:

    .. math::

        l = r\,\mathrm{softplus}(u) + y\,\mathrm{softplus}(-u)
            + \log\Gamma(r) - \log\Gamma(y + r) \;\bigl[+ \log y!\bigr]

    averaged over a sample's outputs; with ``full=True`` it is exactly
    ``-scipy.stats.nbinom.logpmf(y, r, r / (r + mu))`` (never negative). ``full=False`` drops
    :math:`\log y!`, the only term free of both :math:`\mu` and :math:`\alpha`. As
    :math:`\alpha \to 0` it becomes :func:`poisson_nll`; at :math:`\alpha = 1` it is the
    geometric distribution.

    **Learned dispersion** (``alpha=None``, the default): ``y_pred`` has shape
    ``y_true.shape + (2,)`` holding the raw outputs :math:`(\eta, s)` of each entry, both
    differentiated (the network learns the mean and how over-dispersed the counts are).
    **Fixed dispersion** (``alpha`` a number or an array of ``y_pred``'s shape): ``y_pred`` has
    ``y_true``'s shape and holds :math:`\eta` (``log_input=True``) or :math:`\mu > 0`.
    Computed with :math:`\mathrm{softplus}` and a Lanczos :math:`\log\Gamma` difference that
    stays accurate near the Poisson limit (large :math:`r`).

    When to use it: counts whose variance exceeds their mean (visits, claims, species
    counts): :func:`poisson_nll` fits the same mean but is over-confident on them.

    Conventions: PyTorch's ``torch.distributions.NegativeBinomial(total_count=r,
    logits=u)`` has mean :math:`r e^u = \mu`: ``-log_prob`` equals this with ``full=True``.
    statsmodels' ``NegativeBinomial`` (``loglike_method="nb2"``) uses the same :math:`\alpha`.

    Parameters
    ----------
    y_true : array_like
        Counts :math:`y \ge 0` (non-integers are accepted: the density's continuation).
    y_pred : array_like, shape ``y_true.shape + (2,)``, or ``y_true``'s shape with ``alpha``
        Raw outputs :math:`(\eta, \log\alpha)`; or log-means (means with ``log_input=False``).
    alpha : float > 0 or array_like of ``y_pred``'s shape, optional
        A fixed dispersion :math:`\alpha`; ``None`` learns it from ``y_pred``'s last axis.
    log_input : bool
        ``y_pred`` holds log-means (raw outputs) rather than means (only with ``alpha``).
    full : bool
        Include :math:`\log y!` (the exact NLL).
    sample_weight : array_like of per-sample shape, optional
    reduction : {"mean", "sum", "none"}
    unit : {"nats", "bits"}
        Natural or base-2 logarithm.
    check_values : bool
        Check non-negative counts, positive means and dispersions, NaN/inf and weights (a host
        synchronisation).

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    See Also
    --------
    losskit.gradient : with :math:`p = \sigma(u)`: :math:`r p - y(1 - p) = (\mu - y)/(1 +
        \alpha\mu)` for the log-mean and, when learned,
        :math:`r[\psi(y + r) - \psi(r) - \log(1 + \alpha\mu)] + (\mu - y)/(1 + \alpha\mu)` for
        the log-dispersion.
    poisson_nll : the limit :math:`\alpha \to 0`.

    Examples
    --------
    >>> import math
    >>> import losskit as lk
    >>> y = [0.0, 3.0, 10.0]
    >>> raw = [[math.log(2.0), math.log(0.5)]] * 3  # mean 2, dispersion 0.5: variance 4
    >>> [round(v, 6) for v in lk.negative_binomial_nll(y, raw, full=True,
    ...                                                 reduction="none").tolist()]
    [1.386294, 2.079442, 5.919871]
    >>> round(float(lk.negative_binomial_nll([3.0], [math.log(2.0)], alpha=1e-9, full=True)),
    ...       6)  # the Poisson limit: -log(e^-2 2^3 / 3!)
    1.712318
    """
    func = "negative_binomial_nll"
    learned = alpha is None
    if learned and not log_input:
        fail(func, "log_input", "is False but alpha is learned (alpha=None)",
             "Pass raw outputs (log-mean, log-dispersion), or give a fixed alpha")
    inputs = _negative_binomial_inputs(func, y_true, y_pred, sample_weight, alpha)
    xp, y, z = inputs.xp, inputs.y_true, inputs.y_pred
    _check_targets(func, inputs, check_values)
    if check_values:
        check_at_least(func, xp, "y_true", y, 0.0, strict=False,
                       fix="Negative binomial targets are counts >= 0; for signed targets use "
                       "mean_squared_error or gaussian_nll")
        if not log_input:
            check_at_least(func, xp, "y_pred", z, 0.0, strict=True,
                           fix="Means must be > 0; pass log-means with log_input=True, or put "
                           "an exp/softplus activation on the output")
    if learned:
        eta, s = z[..., 0], z[..., 1]
    else:
        a = parameter(func, inputs, "alpha", alpha, positive=True,
                      check_values=check_values)
        eta = z if log_input else xp.log(z)
        s = xp.full_like(eta, math.log(a)) if isinstance(a, float) else xp.log(a)
    elementwise, p, r, log_one_minus_p = _negative_binomial_parts(xp, y, eta, s)
    if full:
        elementwise = elementwise + _log_factorial(xp, y)

    def gradient() -> Array:
        if not learned:  # a fixed dispersion: the log-mean's derivative only
            g_eta = _negative_binomial_mean_gradient(y, p, r)
            return g_eta if log_input else g_eta / z
        return _stacked_gradients(xp, y, eta, s, p, r, log_one_minus_p)

    parts = per_sample(func, inputs, elementwise, gradient, inputs.sample_weight,
                       check_values=check_values,
                       nan_hint="the mean or dispersion overflows; check y_pred")
    if learned and _is_numpy_float(elementwise) and elementwise.ndim == 1:

        def scaled_gradient(scale: Array | float) -> Array:
            # one output per sample: gradient() is the per-sample gradient (and no reference
            # to the PerSample, whose cycle would keep the buffers until a collection)
            if not isinstance(scale, float):
                return apply_scale(xp, gradient(), scale)
            g = gradient()  # a new array: scaled in place, as apply_scale's product
            if scale != 1.0:
                g *= scale
            return g

        parts.scaled_gradient = scaled_gradient
    return parts


# ---------------------------------------------------------------------------------- Gaussian


_GAUSSIAN_NLL = LossExplanation(
    formula="l = ½·(log σ² + (y − ŷ)²/σ²)   [+ ½·log 2π with full=True]\n"
            "σ² = var, or exp(log_var) for a predicted log-variance",
    distribution="Gaussian N(ŷ, σ²) with a known or predicted variance; with full=True l is "
                 "exactly −log N(y | ŷ, σ²).",
    activation_from="gaussian",
    activation="a linear output for the mean; for a predicted variance a second, linear "
               "output read as log σ² (log_var=)",
    raw_output="the mean ŷ (and, as log_var, the log-variance s)",
    gradient="∂l/∂ŷ = (ŷ − y)/σ²;  with log_var = s: ∂l/∂s = ½·(1 − (y − ŷ)²·e^(−s)).",
    when="Real targets whose noise level you also predict (or know): calibrated "
         "uncertainty next to the prediction. With a fixed variance, use the squared error.",
    pitfalls=(
        "Negative values are legitimate (the density exceeds 1 when σ² < 1/2π and the fit "
        "is good).",
        "A predicted variance can collapse onto fitted points (σ² → 0, loss → −∞): predict "
        "log σ² and bound it, or regularise.",
        "The mean's gradient is divided by σ²: points the model calls noisy are learned "
        "slowly, and it can explain errors away by raising σ².",
        "PyTorch clamps the variance at 1e-6 and broadcasts (n, 1) variances; "
        "convention='torch' reproduces the clamp.",
    ),
    related=("mean_squared_error", "laplace_nll", "student_t_nll", "gaussian_mixture_nll"),
    case=Case("y = 1, ŷ = 0.3, σ² = 0.5", 1.0, 0.3, {"var": 0.5}),
)


def _inverse_variance(xp: Namespace, var: Any, log_var: Any) -> tuple[Any, Any]:
    """``(log sigma^2, 1 / sigma^2)`` from ``var`` or ``log_var`` (numbers or arrays; neither:
    unit variance); ``exp(-s)`` of a number below -709 is ``inf``, not an overflow error."""
    if log_var is not None:
        if isinstance(log_var, float):
            return log_var, math.exp(-log_var) if log_var > -709.0 else math.inf
        return log_var, xp.exp(-log_var)
    v = 1.0 if var is None else var
    if isinstance(v, float):
        return math.log(v), 1.0 / v
    return xp.log(v), 1.0 / v


def _gaussian_value(xp: Namespace, y: Array, eta: Array, *, var: Any = None,
                    log_var: Any = None, full: bool = False) -> Array:
    r""":math:`\frac12(s + (\eta - y)^2 e^{-s})\,[+ \frac12\log 2\pi]` of the mean
    :math:`\eta`, :math:`s = \log\sigma^2`."""
    s, inv_var = _inverse_variance(xp, var, log_var)
    diff = eta - y
    # r^2 / sigma^2 with 0 * inf = 0: an exact prediction stays exact as sigma -> 0
    value = 0.5 * (s + _times_inverse(xp, diff * diff, inv_var))
    return value + _HALF_LOG_2PI if full else value


def _times_inverse(xp: Namespace, a: Array, inverse: Any) -> Array:
    """``a * inverse`` with ``0 * inf = 0`` (:func:`mul_zero_safe`); a number > 0 and
    finite in ``a``'s dtype (``1/1e-300`` is not in float32) needs no mask (``0 * inverse``
    is 0 and a NaN stays NaN): the plain product, which XLA fuses with the mean where its
    select was written out first (JAX value at 1e6 float32: 1.0 -> 0.8 ms) and NumPy
    computes without the NaN scan."""
    if isinstance(inverse, float) and 0.0 < inverse <= float(xp.finfo(a.dtype).max):
        return a * inverse
    return mul_zero_safe(xp, a, inverse)


def _gaussian_gradient(xp: Namespace, y: Array, eta: Array, *, var: Any = None,
                       log_var: Any = None, full: bool = False) -> Array:
    return _times_inverse(xp, eta - y, _inverse_variance(xp, var, log_var)[1])


def _gaussian_hessian(xp: Namespace, y: Array, eta: Array, *, var: Any = None,
                      log_var: Any = None, full: bool = False) -> Array:
    return xp.zeros_like(eta) + _inverse_variance(xp, var, log_var)[1]


def gaussian_log_var_derivatives(xp: Namespace, y: Array, mean: Array, log_var: Array
                                 ) -> tuple[Array, Array]:
    r"""First and second derivative of the Gaussian NLL with respect to the log-variance
    :math:`s`: :math:`\frac12(1 - (y - \mu)^2 e^{-s})` and :math:`\frac12 (y - \mu)^2
    e^{-s}` (a learned variance, :class:`losskit.families.HeteroscedasticGaussian`)."""
    scaled = (mean - y) * xp.exp(-0.5 * log_var)  # (y - mu) / sigma, without overflow
    half_square = 0.5 * scaled * scaled
    return 0.5 - half_square, half_square


@loss_function(kernel=Kernel("identity", _gaussian_value, _gaussian_gradient, _gaussian_hessian),
               var=Optional(PositiveOrArray()), log_var=Optional(RealOrArray()),
               full=Boolean(),
               aliases=("gaussian nll loss", "GaussianNLLLoss", "normal nll"),
               explanation=_GAUSSIAN_NLL)
def gaussian_nll(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    var: Any = None,
    log_var: Any = None,
    full: bool = False,
    sample_weight: Any = None,
    reduction: str = "mean",
    unit: str = "nats",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Negative log-likelihood of a Gaussian target with known or predicted variance.

    .. math::

        l = \frac12 \Bigl(\log \sigma^2 + \frac{(y - \hat y)^2}{\sigma^2}\Bigr)
            \;\Bigl[+ \frac12 \log 2\pi\Bigr]

    averaged over a sample's outputs; with ``full=True`` it is exactly
    :math:`-\log \mathcal N(y \mid \hat y, \sigma^2)`. With a constant variance it is
    :func:`losskit.mean_squared_error` scaled by :math:`1/(2\sigma^2)` plus a constant; a
    per-entry variance (an array, typically a second network output) gives the
    heteroscedastic Gaussian: the model learns both the mean and its uncertainty. The NLL is
    negative wherever the density exceeds 1 (:math:`\sigma^2 < 1/2\pi` and a good fit): this
    is legitimate, not a bug.

    Give the variance as ``var`` (:math:`\sigma^2 > 0`) **or** ``log_var``
    (:math:`\log\sigma^2`, any real; the stable choice for a raw network output, computed as
    :math:`\frac12(s + r^2 e^{-s})`); neither means :math:`\sigma^2 = 1`. Each may be a number
    or an array of ``y_pred``'s shape.

    When to use it: real targets whose noise level you also want to predict (or know), e.g.
    for calibrated uncertainty; with a fixed variance, use MSE.

    Conventions: equals PyTorch's ``gaussian_nll_loss(input=y_pred, target=y_true, var)``
    wherever ``var >= 1e-6``; PyTorch clamps the variance to ``eps=1e-6`` (without gradient,
    so zeros are accepted) and broadcasts a ``(n, 1)`` variance, whereas this rejects a
    non-positive variance and needs exactly ``y_pred``'s shape (or a number).
    ``convention="torch"`` reproduces the clamp (also applied to ``exp(log_var)``).

    Parameters
    ----------
    y_true, y_pred : array_like, shape (n,) or (n, ..., k)
        Targets and predicted means, exactly the same shape.
    var : float > 0 or array_like of ``y_pred``'s shape, optional
        The variance :math:`\sigma^2`.
    log_var : float or array_like of ``y_pred``'s shape, optional
        The log-variance :math:`\log\sigma^2` (exclusive with ``var``).
    full : bool
        Include :math:`\frac12\log 2\pi` (the exact NLL).
    sample_weight : array_like of per-sample shape, optional
    reduction : {"mean", "sum", "none"}
    unit : {"nats", "bits"}
        Natural or base-2 logarithm.
    check_values : bool
        Check NaN/inf, positive variance and weights (a host synchronisation).
    convention : {"losskit", "sklearn", "keras", "torch"}
        Whose number to reproduce: ``"torch"`` accepts zero variances and clamps the variance
        at 1e-6. With ``sample_weight``, Keras and PyTorch divide the weighted sum by the
        number of samples, losskit and scikit-learn by the sum of the weights (neither has a
        Gaussian NLL).

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    See Also
    --------
    losskit.gradient : with respect to the mean ``y_pred`` only:
        :math:`(\hat y - y) / \sigma^2` (the variance is held fixed).
    gaussian_mixture_nll : several Gaussian components, all parameters differentiated.

    Examples
    --------
    >>> import losskit as lk
    >>> y, mean = [0.0, 1.0], [0.0, 1.0]
    >>> [round(v, 4) for v in lk.gaussian_nll(y, mean, var=[0.01, 1.0], full=True,
    ...                                       reduction="none").tolist()]
    [-1.3836, 0.9189]
    >>> lk.gaussian_nll([1.0], [0.0], var=[0.0])
    Traceback (most recent call last):
    ...
    ValueError: gaussian_nll: var has values outside (0, inf) (0 at index 0; ...
    """
    func = "gaussian_nll"
    if var is not None and log_var is not None:
        fail(func, "var", "and log_var are both given",
             "Pass the variance as var or as its logarithm log_var, not both")
    inputs = prepare(func, y_true, y_pred, sample_weight,
                     arrays={"var": array_option(var), "log_var": array_option(log_var)})
    xp = inputs.xp
    _check_targets(func, inputs, check_values)
    floor = CONVENTIONS[convention].min_variance  # PyTorch's clamp of the variance (1e-6)
    if log_var is not None:
        s = parameter(func, inputs, "log_var", log_var, positive=False,
                      check_values=check_values)
        if floor is not None:
            log_floor = math.log(floor)
            s = max(s, log_floor) if isinstance(s, float) else xp.maximum(s, log_floor)
        variance = {"log_var": s}
    else:
        v = 1.0 if var is None else parameter(func, inputs, "var", var,
                                              positive=floor is None,
                                              check_values=check_values)
        if floor is not None and not isinstance(v, float):
            if check_values:
                check_domain(func, xp, "var", v, Interval.above(0.0, strict=False),
                             "A variance must be >= 0 (PyTorch rejects negative ones too)")
            v = xp.maximum(v, floor)  # PyTorch's clamp, without gradient
        elif floor is not None:
            v = max(v, floor)
        variance = {"var": v}
    elementwise = _gaussian_value(xp, inputs.y_true, inputs.y_pred, full=full, **variance)

    def gradient() -> Array:
        return _gaussian_gradient(xp, inputs.y_true, inputs.y_pred, **variance)

    return per_sample(func, inputs, elementwise, gradient, inputs.sample_weight,
                      check_values=check_values, convention=convention,
                      nan_hint="the squared error overflows; rescale the targets")


# ------------------------------------------------------------------------- Laplace, Student t


_LAPLACE_NLL = LossExplanation(
    formula="l = log 2b + |y − ŷ|/b   (b = scale)",
    distribution="Laplace(ŷ, b): exactly −log Laplace(y | ŷ, b); with a constant b it is "
                 "the absolute error up to scale and a constant (the model learns the "
                 "median).",
    activation_from="laplace",
    activation="a linear output",
    raw_output="the location ŷ",
    gradient="∂l/∂ŷ = sign(ŷ − y)/b.",
    when="Heavy-tailed real targets with a known or separately predicted scale, or to "
         "compare an L1-trained model's likelihood with a Gaussian one.",
    pitfalls=(
        "Negative values are legitimate (b < 1/2 near the location).",
        "The gradient has constant size, as for the absolute error.",
    ),
    related=("mean_absolute_error", "gaussian_nll", "student_t_nll"),
    case=Case("y = 1, ŷ = 0.3, b = 0.5", 1.0, 0.3, {"scale": 0.5}),
)


def _log(xp: Namespace, x: Any) -> Any:
    return math.log(x) if isinstance(x, float) else xp.log(x)


def _laplace_value(xp: Namespace, y: Array, eta: Array, *, scale: Any = 1.0) -> Array:
    r""":math:`\log 2b + |\eta - y| / b` of the location :math:`\eta`."""
    return _log(xp, 2.0 * scale) + xp.abs(eta - y) / scale


def _laplace_gradient(xp: Namespace, y: Array, eta: Array, *, scale: Any = 1.0) -> Array:
    return xp.sign(eta - y) / scale  # 0 at a tie (a subgradient)


def _laplace_hessian(xp: Namespace, y: Array, eta: Array, *, scale: Any = 1.0) -> Array:
    return xp.zeros_like(eta)  # 0 wherever it exists


@loss_function(kernel=Kernel("identity", _laplace_value, _laplace_gradient, _laplace_hessian),
               scale=PositiveOrArray(),
               aliases=("laplace nll",), explanation=_LAPLACE_NLL)
def laplace_nll(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    scale: Any = 1.0,
    sample_weight: Any = None,
    reduction: str = "mean",
    unit: str = "nats",
    check_values: bool = True,
) -> PerSample:
    r"""Negative log-likelihood of a Laplace target (location ``y_pred``, scale :math:`b`).

    .. math::

        l = \log 2b + \frac{|y - \hat y|}{b} = -\log \mathrm{Laplace}(y \mid \hat y, b)

    averaged over a sample's outputs. With a constant :math:`b` minimising it is minimising
    :func:`mean_absolute_error` (the model learns the median); a per-entry scale array gives
    a heteroscedastic Laplace model. Negative values are legitimate where the density exceeds
    1 (:math:`b < 1/2` near the location).

    When to use it: heavy-tailed real targets with a known or separately predicted scale, or
    to compare an L1-trained model's likelihood with a Gaussian one.

    Parameters
    ----------
    y_true, y_pred : array_like, shape (n,) or (n, ..., k)
        Targets and predicted locations (medians), exactly the same shape.
    scale : float > 0 or array_like of ``y_pred``'s shape
        The scale :math:`b` (the mean absolute deviation); the variance is :math:`2b^2`.
    sample_weight : array_like of per-sample shape, optional
    reduction : {"mean", "sum", "none"}
    unit : {"nats", "bits"}
        Natural or base-2 logarithm.
    check_values : bool
        Check NaN/inf, positive scales and weights (a host synchronisation).

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    See Also
    --------
    losskit.gradient : with respect to ``y_pred`` only: :math:`\operatorname{sign}(\hat y -
        y) / b` (0 at a tie).

    Examples
    --------
    >>> import losskit as lk
    >>> lk.laplace_nll([0.0, 0.0], [0.0, 2.0], scale=0.5, reduction="none").tolist()
    [0.0, 4.0]
    """
    func = "laplace_nll"
    inputs = prepare(func, y_true, y_pred, sample_weight,
                     arrays={"scale": array_option(scale)})
    xp = inputs.xp
    _check_targets(func, inputs, check_values)
    b = parameter(func, inputs, "scale", scale, positive=True,
                  check_values=check_values)
    y, z = inputs.y_true, inputs.y_pred
    elementwise = _laplace_value(xp, y, z, scale=b)
    return per_sample(func, inputs, elementwise, lambda: _laplace_gradient(xp, y, z, scale=b),
                      inputs.sample_weight, check_values=check_values)


def _student_t_constant(nu: float) -> float:
    r""":math:`\log\Gamma(\nu/2) - \log\Gamma((\nu+1)/2) + \frac12\log(\nu\pi)`, accurate for
    any :math:`\nu`: for large :math:`\nu` the two ``lgamma`` values cancel (1e-10 relative
    error at :math:`\nu = 10^6`), so the asymptotic series of
    :math:`\log\Gamma(x + \frac12) - \log\Gamma(x)` (error < 1e-16 for :math:`x \ge 25`) is
    used there, with :math:`\frac12\log(\nu\pi) - \frac12\log(\nu/2) = \frac12\log 2\pi`
    folded in exactly."""
    x = nu / 2.0
    if x < 25.0:
        return math.lgamma(x) - math.lgamma(x + 0.5) + 0.5 * math.log(nu * math.pi)
    u = 1.0 / x  # powers of 1/x: x**7 overflows a float for ν above about 1e44
    return (_HALF_LOG_2PI + u / 8.0 - u**3 / 192.0 + u**5 / 640.0
            - 17.0 * u**7 / 14336.0)


_STUDENT_T_NLL = LossExplanation(
    formula="l = log[Γ(ν/2)·√(νπ)·s / Γ((ν+1)/2)] + ((ν+1)/2)·log(1 + r²/(ν·s²)),   "
            "r = ŷ − y,  ν = df,  s = scale",
    distribution="Student-t t_ν(ŷ, s): exactly −log t_ν(y | ŷ, s). ν → ∞ gives the "
                 "Gaussian, ν = 1 the Cauchy distribution.",
    activation_from="student_t",
    activation="a linear output",
    raw_output="the location ŷ",
    gradient="∂l/∂ŷ = (ν + 1)·r / (ν·s² + r²)  (largest at |r| = s·√ν, then decreasing: "
             "gross outliers barely pull).",
    when="Real targets with a fraction of gross outliers (corrupted labels); df from 3 to 5 "
         "is a common robust choice.",
    pitfalls=(
        "Not convex: the second derivative is negative beyond |r| = s·√ν, so Newton methods "
        "(boosting) need the hessian clipped to a positive value.",
        "df has no default: pass it.",
        "Negative values are legitimate where the density exceeds 1.",
    ),
    related=("huber_loss", "gaussian_nll", "laplace_nll"),
    case=Case("y = 0, ŷ = 1, ν = 3, s = 1", 0.0, 1.0, {"df": 3.0, "scale": 1.0},
               grid=(-8.0, 8.0)),
)


def _student_t_parts(xp: Namespace, y: Array, eta: Array, nu: float, scale: Any
                     ) -> tuple[Array, Array, Array, Array]:
    """``(large, a_large, a_small, z)`` with ``z = (eta - y) / s`` and ``a = |z| / sqrt(nu)``
    split at 1 (each part safe to square where it is used), so that no square overflows."""
    z = (eta - y) / scale
    a = xp.abs(z) / math.sqrt(nu)
    large = a > 1.0
    return large, xp.where(large, a, 1.0), xp.where(large, 0.0, a), z


def _student_t_plain(xp: Namespace, y: Array, eta: Array, nu: float, scale: Any
                     ) -> tuple[Array, Array] | None:
    """``(z, a^2)``, ``a^2 = z^2 / nu``, when it is finite everywhere on NumPy, else ``None``.

    The split forms of :func:`_student_t_parts` only change the result where ``a^2``
    overflows (``|z| > 1.8e19`` in float32); below, ``log1p(a^2)`` and ``z / (nu (1 + a^2))``
    are the same numbers to rounding, without the five ``where`` passes (measured, NumPy
    value + gradient at 1e6 float32: see benchmarks/README.md). One reduction tells.
    """
    if not (aac.is_numpy_namespace(xp) and isinstance(eta, np.ndarray)
            and isinstance(y, np.ndarray)):
        return None
    # in place, one fresh array each (a new 4 MB temporary page-faults in: ~1 ms here), and the
    # check one maximum (NaN fails it too), not isfinite + all (measured: the Student-t
    # family's value + gradient at 1e6 float32, see benchmarks/README.md)
    z = np.asarray(eta - y)
    if not (isinstance(scale, float) and scale == 1.0):
        z = z / scale if z.ndim == 0 or not isinstance(scale, float) else np.divide(
            z, scale, out=z)
    a2 = np.asarray(z * z)
    if a2.ndim:
        np.divide(a2, nu, out=a2)
    else:
        a2 = a2 / nu
    if a2.dtype.kind != "f" or not bool(a2.max(initial=0.0) < math.inf):
        return None
    return z, a2


def _student_t_jax_parts(xp: Namespace, r: Array, *, c: float, inv: float, shift: float
                         ) -> tuple[Array, Array]:
    """``(c log(1 + a^2) + shift, its derivative in r)``, ``a = r inv``, for JAX: one form
    for every error, no overflow, differentiated by :func:`_student_t_jax_slope`.

    Where ``a^2`` overflows (``|a| > 1.8e19`` in float32, ``1.3e154`` in float64) the log
    is ``2 log1p(|a|)``: ``log(1 + a^2) = 2 log|a| + log1p(1/a^2)`` and ``2 log1p(|a|) =
    2 log|a| + 2 log1p(1/|a|)`` differ there by less than ``2/|a|`` (1e-19 absolute on a
    value above 88), below the value's rounding. One ``log1p`` an element (the split form at
    ``|a| = 1`` took three logarithms and, under ``jax.grad``, the derivatives of five
    ``where``s: ``jit(value_and_grad)`` 2.6-4x the plain formula's time, now about its own).
    Few operations on purpose: XLA on CPU runs a program estimated under 1000 flops inline
    and larger ones on its thread pool (~35 µs more a call here), so at 64 rows every
    element-wise operation counts (measured: see benchmarks/README.md).

    Both regimes as ``2c log1p(x)``: ``x = a^2 / (1 + sqrt(1 + a^2))`` (``= sqrt(1 + a^2) - 1``,
    so ``2 log1p(x) = log(1 + a^2)``; at most 1.6 ulp from the exact value in float32 over
    ``|a|`` in [1e-20, 1e19], against 1.7 for ``log1p(a^2)``) where ``a^2`` is finite, else
    ``|a|``. The one ``where`` then picks the argument of the log, not its factor (``c`` or
    ``2c``), which XLA's CPU backend compiles to a slower fused loop: ``jit`` value at 1e6
    float32 1.8-2.3 ms -> 1.3-1.4 ms (the plain formula: 1.1 ms).

    Below :data:`_STUDENT_T_SMALL` elements (a static shape, so a Python branch under
    ``jit``) the form with fewer operations, ``c log1p(a^2)`` with the ``where`` on its factor:
    the extra ``sqrt`` and division took a 64-row ``jit(value_and_grad)`` past that inline
    threshold (11 -> 48 µs a call).
    """
    a = r * inv
    a2 = a * a
    finite = a2 < math.inf  # False for NaN too: log1p(|NaN|) is NaN
    if math.prod(a.shape) < _STUDENT_T_SMALL:
        return (xp.where(finite, c, 2.0 * c) * xp.log1p(xp.where(finite, a2, xp.abs(a)))
                + shift), with_derivative(xp, _student_t_jax_slope, r, c=c,
                                          k=1.0 / (inv * inv))
    half = xp.where(finite, a2 / (1.0 + xp.sqrt(1.0 + a2)), xp.abs(a))
    value = (2.0 * c) * xp.log1p(half) + shift
    return value, with_derivative(xp, _student_t_jax_slope, r, c=c, k=1.0 / (inv * inv))


#: elements below which the JAX Student-t value takes its shorter form (see
#: :func:`_student_t_jax_parts`)
_STUDENT_T_SMALL = 4096


def _student_t_jax_slope(xp: Namespace, r: Array, *, c: float, k: Any
                         ) -> tuple[Array, Array]:
    r"""``(d, d')`` of :math:`d = 2c\,r/(k + r^2)`, ``d`` as ``2c / (r + k/r)``: no overflow
    for large ``r`` (``1/r`` there), exact at ``r = ±0`` (``k/0 = ±inf``); ``k/r`` overflows
    only for ``|r| < k / max_float``, where ``d`` is below ``2c / max_float`` (at most
    ``(ν + 1) 2.9e-39`` in float32, subnormal for ``ν < 3``, which XLA's CPU code flushes to
    zero anyway) and comes out 0. ``d'`` (for ``jax.hessian``) in the split form of
    :func:`_student_t_hessian`: second derivatives are not on the training path."""
    slope = (2.0 * c) / (r + k / r)
    t = r * r / k
    large = t > 1.0
    b = 1.0 / xp.where(large, t, 1.0)
    small = xp.where(large, 0.0, t)
    far = (b - 1.0) * b / ((1.0 + b) * (1.0 + b))
    near = (1.0 - small) / ((1.0 + small) * (1.0 + small))
    return slope, (2.0 * c / k) * xp.where(large, far, near)


def _student_t_value(xp: Namespace, y: Array, eta: Array, *, df: float, scale: Any = 1.0,
                     plain: tuple[Array, Array] | None = None) -> Array:
    """The Student-t NLL (``plain``: :func:`_student_t_plain`'s terms, if the caller has
    them)."""
    nu = float(df)
    if aac.is_jax_namespace(xp):
        # one form for every error, differentiated by its analytic derivative; a host scale
        # is folded into the constants (the error r = eta - y is the argument)
        c = 0.5 * (nu + 1.0)
        if isinstance(scale, float):
            return with_derivative(xp, _student_t_jax_parts, eta - y, c=c,
                                   inv=1.0 / (scale * math.sqrt(nu)),
                                   shift=_student_t_constant(nu) + math.log(scale))
        log_term = with_derivative(xp, _student_t_jax_parts, (eta - y) / (scale * math.sqrt(nu)),
                                   c=c, inv=1.0, shift=0.0)
        return _student_t_constant(nu) + _log(xp, scale) + log_term
    plain = _student_t_plain(xp, y, eta, nu, scale) if plain is None else plain
    if plain is not None:
        log_term = xp.log1p(plain[1])
        if isinstance(log_term, np.ndarray) and log_term.ndim and isinstance(scale, float):
            log_term *= 0.5 * (nu + 1.0)  # in place: see _student_t_plain
            log_term += _student_t_constant(nu) + math.log(scale)
            return log_term
    else:
        large, a_large, a_small, _ = _student_t_parts(xp, y, eta, nu, scale)
        # log(1 + a^2): direct below 1, 2 log a + log1p(1/a^2) above (a^2 may overflow)
        log_term = xp.where(large,
                            2.0 * xp.log(a_large) + xp.log1p(1.0 / (a_large * a_large)),
                            xp.log1p(a_small * a_small))
    return _student_t_constant(nu) + _log(xp, scale) + 0.5 * (nu + 1.0) * log_term


def _student_t_gradient(xp: Namespace, y: Array, eta: Array, *, df: float, scale: Any = 1.0,
                        plain: tuple[Array, Array] | None = None) -> Array:
    r""":math:`(\nu + 1) r / (\nu s^2 + r^2)`, :math:`r = \eta - y`."""
    nu = float(df)
    if aac.is_jax_namespace(xp):
        return _student_t_jax_slope(xp, eta - y, c=0.5 * (nu + 1.0), k=nu * scale * scale)[0]
    plain = _student_t_plain(xp, y, eta, nu, scale) if plain is None else plain
    if plain is not None:
        z, a2 = plain
        if a2.ndim and isinstance(scale, float):  # in place: see _student_t_plain
            g = a2 + 1.0
            g *= nu
            np.divide(z, g, out=g)
            g *= (nu + 1.0) / scale
            return g
        return (nu + 1.0) / scale * (z / (nu * (1.0 + a2)))
    large, a_large, a_small, z = _student_t_parts(xp, y, eta, nu, scale)
    z_large, z_small = xp.where(large, z, 1.0), xp.where(large, 0.0, z)
    # (nu + 1) z / (s (nu + z^2)); for large |z| as 1 / (z (1 + 1/a^2)): z^2 never overflows
    far = 1.0 / (z_large * (1.0 + 1.0 / (a_large * a_large)))
    near = z_small / (nu * (1.0 + a_small * a_small))
    return (nu + 1.0) / scale * xp.where(large, far, near)


def _student_t_hessian(xp: Namespace, y: Array, eta: Array, *, df: float, scale: Any = 1.0
                       ) -> Array:
    """:math:`(\nu + 1)(\nu s^2 - r^2)/(\nu s^2 + r^2)^2`: negative beyond
    :math:`|r| = s\\sqrt\nu` (the loss is not convex)."""
    nu = float(df)
    large, a_large, a_small, _ = _student_t_parts(xp, y, eta, nu, scale)
    # (nu + 1)/(nu s^2) (1 - a^2)/(1 + a^2)^2; with b = 1/a^2 above 1: (b - 1) b/(1 + b)^2
    b = 1.0 / (a_large * a_large)
    far = (b - 1.0) * b / ((1.0 + b) * (1.0 + b))
    a2 = a_small * a_small
    near = (1.0 - a2) / ((1.0 + a2) * (1.0 + a2))
    return (nu + 1.0) / (nu * scale * scale) * xp.where(large, far, near)


@loss_function(kernel=Kernel("identity", _student_t_value, _student_t_gradient,
                             _student_t_hessian),
               df=_POSITIVE, scale=PositiveOrArray(),
               aliases=("student t nll", "t nll"), explanation=_STUDENT_T_NLL)
def student_t_nll(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    df: float,
    scale: Any = 1.0,
    sample_weight: Any = None,
    reduction: str = "mean",
    unit: str = "nats",
    check_values: bool = True,
) -> PerSample:
    r"""Negative log-likelihood of a Student-t target (location ``y_pred``, scale, ``df``).

    .. math::

        l = \log\frac{\Gamma(\nu/2)\sqrt{\nu\pi}\,s}{\Gamma((\nu+1)/2)}
            + \frac{\nu + 1}{2} \log\Bigl(1 + \frac{z^2}{\nu}\Bigr), \qquad
        z = \frac{y - \hat y}{s}

    averaged over a sample's outputs: exactly :math:`-\log t_\nu(y \mid \hat y, s)`. The loss
    grows only logarithmically in the error, so gross outliers have almost no pull (the
    gradient :math:`(\nu+1)\,r/(\nu s^2 + r^2)` *decreases* beyond :math:`|r| = s\sqrt\nu`):
    more robust than :func:`huber_loss`, at the price of a non-convex loss. As
    :math:`\nu \to \infty` it becomes the Gaussian NLL with :math:`\sigma = s`; :math:`\nu = 1`
    is the Cauchy distribution. Negative values are legitimate where the density exceeds 1.

    Computed without overflow for large errors: :math:`\log(1 + a^2) = 2\log a +
    \log(1 + a^{-2})` for :math:`a = |z|/\sqrt\nu > 1`.

    When to use it: targets with gross outliers (a fraction of corrupted labels); ``df``
    between 3 and 5 is a common robust choice.

    Parameters
    ----------
    y_true, y_pred : array_like, shape (n,) or (n, ..., k)
        Targets and predicted locations, exactly the same shape.
    df : float > 0
        Degrees of freedom :math:`\nu` (required: it decides how robust the loss is).
    scale : float > 0 or array_like of ``y_pred``'s shape
        The scale :math:`s` (not the standard deviation, which is
        :math:`s\sqrt{\nu/(\nu-2)}` for :math:`\nu > 2`).
    sample_weight : array_like of per-sample shape, optional
    reduction : {"mean", "sum", "none"}
    unit : {"nats", "bits"}
        Natural or base-2 logarithm.
    check_values : bool
        Check NaN/inf, positive scales and weights (a host synchronisation).

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    See Also
    --------
    losskit.gradient : with respect to ``y_pred`` only:
        :math:`(\nu + 1)(\hat y - y) / (\nu s^2 + (y - \hat y)^2)`.

    Examples
    --------
    >>> import losskit as lk
    >>> [round(v, 4) for v in lk.student_t_nll([0.0, 0.0], [0.0, 100.0], df=1.0,
    ...                                        reduction="none").tolist()]
    [1.1447, 10.3552]
    """
    func = "student_t_nll"
    inputs = prepare(func, y_true, y_pred, sample_weight,
                     arrays={"scale": array_option(scale)})
    xp = inputs.xp
    _check_targets(func, inputs, check_values)
    s = parameter(func, inputs, "scale", scale, positive=True,
                  check_values=check_values)
    y, z = inputs.y_true, inputs.y_pred
    plain = _student_t_plain(xp, y, z, float(df), s)  # shared by the value and the gradient
    elementwise = _student_t_value(xp, y, z, df=df, scale=s, plain=plain)
    return per_sample(func, inputs, elementwise,
                      lambda: _student_t_gradient(xp, y, z, df=df, scale=s, plain=plain),
                      inputs.sample_weight, check_values=check_values)


# ------------------------------------------------------------------------------ Gamma, Tweedie


_GAMMA_NLL = LossExplanation(
    formula="l = α·(y/μ + log μ)   [− α·log α + log Γ(α) − (α − 1)·log y with full=True]\n"
            "μ = e^η with log_input=True;  α = shape",
    distribution="Gamma with mean μ and shape α (variance μ²/α): the standard deviation is "
                 "proportional to the mean, so errors count relatively.",
    activation_from="gamma",
    activation="exp (log link): a linear last layer outputs η = log μ (log_input=True)",
    raw_output="the log-mean η = log μ (log_input=True), or the mean μ",
    gradient="∂l/∂η = α·(1 − y·e^(−η))  (log_input=True);  w.r.t. the mean: "
             "∂l/∂μ = α·(μ − y)/μ².",
    when="Positive, right-skewed continuous targets whose spread grows with their level "
         "(claim sizes, durations, rainfall amounts).",
    pitfalls=(
        "Targets must be > 0: exact zeros need tweedie_deviance with 1 < power < 2.",
        "log_input defaults to False here (y_pred is the mean μ > 0), unlike poisson_nll; "
        "for a network pass log_input=True and a linear last layer.",
        "Negative values are legitimate where the density exceeds 1.",
    ),
    related=("tweedie_deviance", "poisson_nll", "mean_squared_log_error"),
    case=Case("y = 1.5, η = 0.2 (μ = e^0.2), α = 2", 1.5, 0.2,
               {"shape": 2.0, "log_input": True}, grid=(-2.0, 3.0), x_label="log-mean η"),
)


def _gamma_constant(xp: Namespace, y: Array, alpha: float) -> Array:
    r"""The terms free of the mean: :math:`\log\Gamma(\alpha) - \alpha\log\alpha
    - (\alpha - 1)\log y`."""
    return math.lgamma(alpha) - alpha * math.log(alpha) - (alpha - 1.0) * xp.log(y)


def _gamma_value(xp: Namespace, y: Array, eta: Array, *, shape: float = 1.0,
                 full: bool = False) -> Array:
    r""":math:`\alpha(y e^{-\eta} + \eta)\,[+ \text{terms free of } \eta]` of the log-mean."""
    alpha = float(shape)
    value = alpha * (y * xp.exp(-eta) + eta)
    return value + _gamma_constant(xp, y, alpha) if full else value


def _gamma_gradient(xp: Namespace, y: Array, eta: Array, *, shape: float = 1.0,
                    full: bool = False) -> Array:
    return float(shape) * (1.0 - y * xp.exp(-eta))


def _gamma_hessian(xp: Namespace, y: Array, eta: Array, *, shape: float = 1.0,
                   full: bool = False) -> Array:
    return float(shape) * y * xp.exp(-eta)


@loss_function(kernel=Kernel("log", _gamma_value, _gamma_gradient, _gamma_hessian),
               shape=_POSITIVE, log_input=Boolean(), full=Boolean(),
               aliases=("gamma loss",), explanation=_GAMMA_NLL)
def gamma_nll(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    shape: float = 1.0,
    log_input: bool = False,
    full: bool = False,
    sample_weight: Any = None,
    reduction: str = "mean",
    unit: str = "nats",
    check_values: bool = True,
) -> PerSample:
    r"""Negative log-likelihood of a Gamma target with mean ``y_pred`` and shape :math:`\alpha`.

    With mean :math:`\mu` (``y_pred``, or :math:`e^\eta` for a log-mean :math:`\eta`) and
    shape :math:`\alpha` (rate :math:`\alpha/\mu`, variance :math:`\mu^2/\alpha`):

    .. math::

        l = \alpha\Bigl(\frac{y}{\mu} + \log\mu\Bigr)
            \;\Bigl[- \alpha\log\alpha + \log\Gamma(\alpha) - (\alpha - 1)\log y\Bigr]

    averaged over a sample's outputs; with ``full=True`` it is exactly
    :math:`-\log \mathrm{Gamma}(y \mid \alpha, \alpha/\mu)` (``scipy.stats.gamma.logpdf(y,
    a=shape, scale=mu/shape)``), and ``full=False`` drops the terms that do not depend on
    :math:`\mu`. The standard deviation is proportional to the mean, so errors count
    relatively. With ``shape=1`` it is the exponential distribution. Negative values are
    legitimate where the density exceeds 1.

    When to use it: positive, right-skewed continuous targets (claim sizes, durations,
    rainfall amounts) whose spread grows with their level. ``log_input=True`` takes the raw
    network output as :math:`\eta = \log \mu` (exponential output activation; the loss is
    then convex in :math:`\eta`).

    Conventions: scikit-learn's ``mean_gamma_deviance`` equals :math:`2[l(\mu) - l(y)]/\alpha`
    (the deviance with the perfect prediction subtracted); its ``HalfGammaLoss`` is
    ``full=False`` with ``shape=1`` and ``log_input=True``.

    Parameters
    ----------
    y_true : array_like, same shape as ``y_pred``
        Targets :math:`y > 0`.
    y_pred : array_like, shape (n,) or (n, ..., k)
        Means :math:`\mu > 0`, or log-means with ``log_input=True``.
    shape : float > 0
        The shape :math:`\alpha` (:math:`1/\alpha` is the squared coefficient of variation).
    log_input : bool
        ``y_pred`` holds :math:`\log\mu` (raw outputs) rather than :math:`\mu`.
    full : bool
        Include the terms constant in :math:`\mu` (the exact NLL).
    sample_weight : array_like of per-sample shape, optional
    reduction : {"mean", "sum", "none"}
    unit : {"nats", "bits"}
        Natural or base-2 logarithm.
    check_values : bool
        Check positive targets and means, NaN/inf and weights (a host synchronisation).

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    See Also
    --------
    losskit.gradient : with respect to ``y_pred``: :math:`\alpha(\mu - y)/\mu^2` for means,
        :math:`\alpha(1 - y e^{-\eta})` for log-means.

    Examples
    --------
    >>> import losskit as lk
    >>> round(float(lk.gamma_nll([1.0, 4.0], [2.0, 2.0], shape=2.0, full=True)), 6)
    1.806853
    >>> lk.gamma_nll([0.0], [1.0])
    Traceback (most recent call last):
    ...
    ValueError: gamma_nll: y_true has values outside (0, inf) (0 at index 0; ...
    """
    func = "gamma_nll"
    inputs = prepare(func, y_true, y_pred, sample_weight)
    xp, y, z = inputs.xp, inputs.y_true, inputs.y_pred
    alpha = float(shape)
    if check_values:
        _check_targets(func, inputs, check_values)
        check_at_least(func, xp, "y_true", y, 0.0, strict=True,
                       fix="Gamma targets are positive; for targets that can be 0 use "
                       "tweedie_deviance with 1 < power < 2, or poisson_nll")
        if not log_input:
            check_at_least(func, xp, "y_pred", z, 0.0, strict=True,
                           fix="Means must be > 0; pass log-means with log_input=True, or put "
                           "an exp/softplus activation on the output")
    scaled_gradient = None
    if log_input and _is_numpy_float(z) and _is_numpy_float(y) and y.dtype == z.dtype:
        # NumPy: _gamma_value's and _gamma_gradient's operations in two fresh buffers, y e^-eta
        # computed once for both (five fresh arrays for the value and four more for the
        # gradient before; measured at 1e6 float32: see benchmarks/README.md)
        term = np.negative(z)
        np.exp(term, out=term)
        term *= y
        elementwise = np.add(term, z)
        if alpha != 1.0:  # alpha * x is x itself for alpha = 1
            elementwise *= alpha

        def gradient() -> Array:
            return _gamma_gradient(xp, y, z, shape=alpha)

        def derivative() -> np.ndarray:
            g = np.subtract(1.0, term, out=term)
            if alpha != 1.0:
                g *= alpha
            return g

        scaled_gradient = (derivative, output_count(elementwise))
    elif log_input:
        elementwise = _gamma_value(xp, y, z, shape=alpha)

        def gradient() -> Array:
            return _gamma_gradient(xp, y, z, shape=alpha)
    else:
        ratio = y / z
        elementwise = alpha * (ratio + xp.log(z))

        def gradient() -> Array:
            return alpha * (1.0 - ratio) / z
    if full:
        elementwise = elementwise + _gamma_constant(xp, y, alpha)
    parts = per_sample(func, inputs, elementwise, gradient, inputs.sample_weight,
                       check_values=check_values)
    if scaled_gradient is not None:
        parts.scaled_gradient = scaled_in_place(parts.gradient, *scaled_gradient)
    return parts


class _TweediePower(Constraint):
    """A Tweedie power: finite and outside (0, 1), where no Tweedie distribution exists."""

    description = "a finite number <= 0 or >= 1"
    invalid = (0.5, math.nan, math.inf, "1.5", True)

    def type_ok(self, value: Any) -> bool:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)

    def value_ok(self, value: Any) -> bool:
        return math.isfinite(value) and (value <= 0 or value >= 1)


def _tweedie_unit_deviance(xp: Namespace, y: Array, log_mu: Array | None, mu: Array | None,
                           p: float) -> Array:
    r"""The Tweedie deviance for ``p != 0``, accurate near ``mu = y``.

    For :math:`y > 0`, with :math:`L = \log\mu - \log y`, the textbook formula's three terms
    cancel as :math:`\mu \to y` (leaving rounding noise that can be negative); here they are
    regrouped exactly into :math:`2y^{2-p}\,[\mathrm{expm1}((2-p)L)/(2-p) -
    \mathrm{expm1}((1-p)L)/(1-p)]` (:math:`2y(\mathrm{expm1}(L) - L)` at :math:`p = 1`,
    :math:`2(\mathrm{expm1}(-L) + L)` at :math:`p = 2`), which is exactly 0 at
    :math:`\mu = y` and accurate to rounding of :math:`L` elsewhere. For :math:`y \le 0`
    (allowed for :math:`p < 2`) the :math:`y^{2-p}` term is 0; for :math:`p \ge 2` the
    deviance of :math:`y \to 0` is :math:`+\infty`.
    """
    positive = y > 0
    # NumPy: the masks read first (one reduction each); where every target is positive (no
    # zero count) and every mean is, no where and no y = 0 branch is computed: NumPy's where
    # costs 3.6 ms at 1e6 float32 here, seven times an exp (measured; value 23 -> see
    # benchmarks/README.md)
    every = isinstance(y, np.ndarray) and bool(positive.all())
    safe_y = y if every else xp.where(positive, y, 1.0)  # every log and power sees y > 0
    if log_mu is None:
        unmasked = isinstance(mu, np.ndarray) and bool((mu > 0).all())
        log_mu = xp.log(mu if unmasked else xp.where(mu > 0, mu, 1.0))
    if every and isinstance(log_mu, np.ndarray) and log_mu.dtype == y.dtype:
        return _tweedie_stable_numpy(y, log_mu, p)
    # each branch of the final where on inputs safe for it (the "double where"): autograd
    # (torch) of the branch it drops is then finite, not 0 * inf = NaN (a mean past float32's
    # range in the y = 0 branch of a positive target, or the reverse)
    big_l = (log_mu if every else xp.where(positive, log_mu, 0.0)) - xp.log(safe_y)
    if p == 1:
        stable = 2.0 * safe_y * (xp.expm1(big_l) - big_l)
    elif p == 2:
        stable = 2.0 * (xp.expm1(-big_l) + big_l)
    else:
        a, b = 2.0 - p, 1.0 - p
        # y^(1/2) (power 1.5) as sqrt, the same number, a third of pow's time (measured)
        y_a = xp.sqrt(safe_y) if a == 0.5 else xp.pow(safe_y, a)
        stable = 2.0 * y_a * (xp.expm1(a * big_l) / a - xp.expm1(b * big_l) / b)
    if every:
        return stable
    if mu is None:
        mu = xp.exp(xp.where(positive, 0.0, log_mu))
    else:
        mu = xp.where(positive, 1.0, mu)
    if p >= 2:
        at_zero = xp.full_like(mu, math.inf)
    elif p == 1:
        at_zero = 2.0 * (mu - y)
    else:
        # y = 0: the y term is 0, not 0 * inf where mu^(1-p) overflows (mu past exp's range)
        y_term = xp.where(y == 0, 0.0, y * xp.pow(mu, 1.0 - p))
        at_zero = 2.0 * (xp.pow(mu, 2.0 - p) / (2.0 - p) - y_term / (1.0 - p))
    return xp.where(positive, stable, at_zero)


def _tweedie_stable_numpy(y: np.ndarray, log_mu: np.ndarray, p: float) -> np.ndarray:
    """:func:`_tweedie_unit_deviance`'s careful form for positive NumPy targets: the same
    operations in the same order (the same numbers) in three buffers, as each fresh 4 MB
    temporary page-faults in here (measured at 1e6 float32, power 1.5: the careful form
    11 ms in fresh temporaries, its operations 4 ms)."""
    big_l = np.log(y)
    np.subtract(log_mu, big_l, out=big_l)
    if p == 1:
        stable = np.expm1(big_l)
        stable -= big_l
        np.multiply(y, 2.0, out=big_l)
        return np.multiply(big_l, stable, out=stable)
    if p == 2:
        stable = np.negative(big_l)
        np.expm1(stable, out=stable)
        stable += big_l
        stable *= 2.0
        return stable
    a, b = 2.0 - p, 1.0 - p
    stable = np.multiply(big_l, a)
    np.expm1(stable, out=stable)
    stable /= a
    big_l *= b
    np.expm1(big_l, out=big_l)
    big_l /= b
    stable -= big_l
    y_a = np.sqrt(y, out=big_l) if a == 0.5 else np.power(y, a, out=big_l)
    y_a *= 2.0
    return np.multiply(y_a, stable, out=stable)


def _tweedie_derivative(xp: Namespace, y: Array, z: Array, mu: Array, p: float,
                        log_input: bool) -> Array:
    """``2 mu^-p (mu - y)``, times ``mu`` for log-means: ``2 (mu^(2-p) - y mu^(1-p))`` with
    the powers as ``e^((2-p) z)``, ``e^((1-p) z)``, which underflow or overflow only where
    the true terms do (``mu^-p`` of ``mu = e^80`` underflowed to 0 in float32, then the
    gradient was 0 at power 2 where it is 2; ``0 * inf`` past exp's range was NaN)."""
    if log_input and p != 0:
        if p == 1:
            return 2.0 * (mu - y)
        if isinstance(z, np.ndarray) and isinstance(y, np.ndarray) and z.dtype == y.dtype:
            # the same operations in two buffers (fresh temporaries page-fault in here)
            g = np.multiply(z, 2.0 - p)
            np.exp(g, out=g)
            y_mu_b = np.multiply(z, 1.0 - p)
            np.exp(y_mu_b, out=y_mu_b)
            y_mu_b = mul_zero_safe(xp, y, y_mu_b)
            g -= y_mu_b
            g *= 2.0
            return g
        y_mu_b = mul_zero_safe(xp, y, xp.exp((1.0 - p) * z))
        return 2.0 * (xp.exp((2.0 - p) * z) - y_mu_b)
    scale = 2.0 if p == 0 else 2.0 * xp.pow(mu, -p)
    g = scale * (mu - y)
    return g * mu if log_input else g


def _tweedie_far(xp: Namespace, y: Array, log_mu: Array, p: float) -> tuple[Array, Array]:
    r"""The textbook deviance and its derivative in :math:`\log\mu`, from the powers of
    :math:`\mu` as :math:`e^{a\log\mu}`, :math:`e^{b\log\mu}` (:math:`a = 2 - p`,
    :math:`b = 1 - p`): :math:`2(y^a/(ab) - y\mu^b/b + \mu^a/a)` (the limits at
    :math:`p = 1, 2`) and :math:`2(\mu^a - y\mu^b)`.

    Where the careful form overflows (an ``expm1`` of a large :math:`(2 - p)L` that a small
    :math:`y^{2-p}` would have brought back, or :math:`\mu^{-p} = 0` times
    :math:`\mu = \infty` in the derivative) the true terms do not cancel (:math:`\mu` is far
    from :math:`y`), and this form overflows only where a true term does. Where two terms
    overflow with opposite signs (``inf - inf``) the deviance (never negative) is
    :math:`+\infty` and the derivative :math:`\pm\infty` with the sign of
    :math:`\mu - y`.
    """
    a, b = 2.0 - p, 1.0 - p
    positive = y > 0
    safe_y = xp.where(positive, y, 1.0)
    mu_a, mu_b = xp.exp(a * log_mu), xp.exp(b * log_mu)
    y_mu_b = xp.where(y == 0, 0.0, y * mu_b)  # 0 * inf = 0 for a zero target
    if p == 1:
        y_log_y = xp.where(positive, y * xp.log(safe_y), 0.0)
        value = 2.0 * (y_log_y - y * log_mu - y + mu_a)
    elif p == 2:
        value = 2.0 * (log_mu - xp.log(safe_y) + y_mu_b - 1.0)
    else:
        y_a = xp.where(positive, xp.pow(safe_y, a), 0.0)
        value = 2.0 * (y_a / (a * b) - y_mu_b / b + mu_a / a)
    slope = 2.0 * (mu_a - y_mu_b)
    defined = (y == y) & (log_mu == log_mu)  # a NaN input stays NaN
    value = xp.where(xp.isnan(value) & defined, math.inf, value)
    toward = xp.where(log_mu > xp.log(xp.where(positive, y, 0.0)), xp.full_like(log_mu, math.inf),
                      -math.inf)
    slope = xp.where(xp.isnan(slope) & defined, toward, slope)
    if p >= 2:
        value = xp.where(positive, value, math.inf)
    return value, slope


def _tweedie_mended(xp: Namespace, y: Array, log_mu: Array, value: Array, slope: Array | None,
                    p: float) -> tuple[Array, Array | None]:
    """``value`` (and ``slope``, the derivative in log μ) with every entry that is not
    finite replaced by :func:`_tweedie_far`'s (only overflows are)."""
    far_value, far_slope = _tweedie_far(xp, y, log_mu, p)
    value = xp.where(xp.isfinite(value), value, far_value)
    if slope is not None:
        slope = xp.where(xp.isfinite(slope), slope, far_slope)
    return value, slope


def _tweedie_mended_differentiably(xp: Namespace, y: Array, z: Array, value: Array, p: float,
                                   log_input: bool) -> Array:
    """:func:`_tweedie_mended`'s value by the "double where": the careful form is recomputed
    on the entries where it was finite (the others see a mean of 1) and the far form on the
    rest (the kept ones see a mean of 1), so the branch a ``where`` drops has a finite
    derivative and autograd (torch) never meets ``0 · inf``: through the mended value itself
    it gave a NaN gradient where the careful form overflowed (float32 log-means from 89 with
    a ``sample_weight``, whose calls the native kernel does not take)."""
    keep = xp.isfinite(value)
    unit = 0.0 if log_input else 1.0  # a log-mean of 0, or a mean of 1
    kept = xp.where(keep, z, unit)
    mu_kept = (xp.exp(kept) if p in (0.0, 1.0) else None) if log_input else kept
    careful = _tweedie_unit_deviance(xp, y, kept if log_input else None, mu_kept, p)
    dropped = xp.where(keep, unit, z)
    far = _tweedie_far(xp, y, dropped if log_input else xp.log(dropped), p)[0]
    return xp.where(keep, careful, far)


def _branch_free(x: Array) -> bool:
    """Whether code on ``x`` must not branch on its values: traced JAX, a tensor under
    ``torch.compile`` or ``torch.func``, or on a GPU (a read would synchronise)."""
    if isinstance(x, np.ndarray):
        return False
    if aac.is_torch_array(x):
        from losskit._torch import host_reads_are_free
        return not host_reads_are_free(x)
    return is_traced(x)


def _all_finite(func: str, xp: Namespace, x: Array) -> bool:
    """Every entry of ``x`` finite (one reduction and a host read)."""
    return to_bool(func, xp.isfinite(xp.sum(x)))


def _tweedie_parts(xp: Namespace, y: Array, z: Array, *, p: float, log_input: bool
                   ) -> tuple[Array, Array]:
    """The Tweedie deviance of ``z`` and its derivative (for
    :func:`losskit._array.with_derivative`).

    For log-means and a power other than 0, 1, 2, :func:`_tweedie_unit_deviance`'s terms
    from six transcendental passes instead of about ten (the powers of ``mu = e^z`` as
    ``e^(bz)`` and ``e^(az)``, not ``pow(e^z, .)``; the derivative ``2 (e^(az) - y e^(bz))``
    shares them). Entries the careful form cannot give (it overflowed, or ``y = 0``) take
    the textbook form, never NaN for finite inputs (float32 past ``exp``'s range was).
    """
    if log_input and p > 1.0 and p != 2.0:
        # one select, where there were four: every term from y0 = max(y, 0) (y >= 0 here),
        # whose log is -inf at 0: there y^a = 0 (p < 2; inf for p > 2, the deviance of
        # y -> 0), y e^(bz) = e^(bz + log y) = 0 without a 0 * inf, and the careful form, not
        # finite, is replaced by the textbook one, which is the y = 0 deviance 2 mu^a / a.
        # The textbook form also replaces the careful one where that overflowed (an expm1 of
        # a large a L that a small y^a brings back): far from mu = y nothing cancels. Its two
        # exponential terms have one sign for 1 < p < 2 and can overflow together only for
        # p > 2, where the NaN of inf - inf is the deviance's overflow, +inf (jit value at
        # 1e6 float32, power 1.5: 5.4 -> see benchmarks/README.md)
        a, b = 2.0 - p, 1.0 - p
        y0 = xp.maximum(y, 0.0)
        log_y = xp.log(y0)
        big_l = z - log_y
        # y^(1/2) (power 1.5) as sqrt, the same number: XLA's pow takes 6 ms at 1e6 float32
        # on one thread, sqrt 0.45 (measured)
        y_a = xp.sqrt(y0) if a == 0.5 else xp.pow(y0, a)
        stable = 2.0 * y_a * (xp.expm1(a * big_l) / a - xp.expm1(b * big_l) / b)
        mu_a, y_mu_b = xp.exp(a * z), xp.exp(b * z + log_y)
        far = 2.0 * (y_a / (a * b) - y_mu_b / b + mu_a / a)
        derivative = 2.0 * (mu_a - y_mu_b)
        if p > 2:
            defined = (z == z) & (y == y)
            far = xp.where(xp.isnan(far) & defined, math.inf, far)
            derivative = xp.where(xp.isnan(derivative) & defined, -math.inf, derivative)
        return xp.where((y > 0) & xp.isfinite(stable), stable, far), derivative
    if log_input and p not in (0.0, 1.0, 2.0):
        a, b = 2.0 - p, 1.0 - p
        positive = y > 0
        safe_y = xp.where(positive, y, 1.0)
        big_l = z - xp.log(safe_y)
        y_a = xp.sqrt(safe_y) if a == 0.5 else xp.pow(safe_y, a)
        stable = 2.0 * y_a * (xp.expm1(a * big_l) / a - xp.expm1(b * big_l) / b)
        # mu^(2-p) and mu^(1-p) as e^(az), e^(bz), not powers of e^z (inf * 0 past exp's
        # range), and the y term 0 at y = 0, not 0 * inf
        mu_a, y_mu_b = xp.exp(a * z), xp.where(y == 0, 0.0, y * xp.exp(b * z))
        derivative = 2.0 * (mu_a - y_mu_b)
        value = xp.where(positive, stable, 2.0 * (mu_a / a - y_mu_b / b))
        return _tweedie_mended(xp, y, z, value, derivative, p)
    mu = xp.exp(z) if log_input else z
    if p == 0:
        return (y - mu) * (y - mu), _tweedie_derivative(xp, y, z, mu, p, log_input)
    value = _tweedie_unit_deviance(xp, y, z if log_input else None, mu, p)
    derivative = _tweedie_derivative(xp, y, z, mu, p, log_input)
    if log_input:
        return _tweedie_mended(xp, y, z, value, derivative, p)
    return _tweedie_mended(xp, y, xp.log(mu), value, None, p)[0], derivative


_TWEEDIE_DEVIANCE = LossExplanation(
    formula="d = 2·(max(y, 0)^(2−p)/((1−p)(2−p)) − y·μ^(1−p)/(1−p) + μ^(2−p)/(2−p)),   "
            "p = power\n(limits: (y − μ)² at p = 0, Poisson deviance at 1, Gamma deviance "
            "at 2;  μ = e^η with log_input=True)",
    distribution="Tweedie exponential-dispersion model with variance φ·μ^p: the deviance is "
                 "twice its negative log-likelihood minus that of the perfect prediction, "
                 "over φ; 1 < p < 2 is the compound Poisson–Gamma (zeros plus a positive "
                 "part).",
    activation_from="poisson",
    activation="exp (log link): a linear last layer outputs η = log μ (log_input=True)",
    raw_output="the log-mean η (log_input=True), or the mean μ",
    gradient="∂d/∂η = 2·μ^(1−p)·(μ − y)  (log_input=True);  w.r.t. the mean: "
             "∂d/∂μ = 2·μ^(−p)·(μ − y).",
    when="Non-negative targets with exact zeros and a continuous positive part (insurance "
         "claims, rainfall): 1 < power < 2. power 1 and 2 are the Poisson and Gamma "
         "deviances.",
    pitfalls=(
        "Powers in (0, 1) have no distribution and are rejected.",
        "Deviances of different powers are on different scales: do not compare models "
        "trained with different powers by their deviance.",
        "log_input defaults to False (y_pred is the mean μ > 0).",
    ),
    related=("poisson_nll", "gamma_nll", "mean_squared_error"),
    case=Case("y = 2, η = 0.5 (μ = e^0.5), p = 1.5", 2.0, 0.5,
               {"power": 1.5, "log_input": True}, grid=(-2.0, 3.0), more_targets=(0.0,),
               x_label="log-mean η"),
)


@loss_function(power=_TweediePower(), log_input=Boolean(),
               aliases=("tweedie",), explanation=_TWEEDIE_DEVIANCE)
def tweedie_deviance(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    power: float = 0.0,
    log_input: bool = False,
    sample_weight: Any = None,
    reduction: str = "mean",
    check_values: bool = True,
) -> PerSample:
    r"""Tweedie deviance: one family from Gaussian (power 0) through Poisson (1) to Gamma (2).

    With mean :math:`\mu` (``y_pred``, or :math:`e^\eta` with ``log_input=True``) and
    power :math:`p`:

    .. math::

        d(y, \mu) = 2\Bigl(\frac{\max(y,0)^{2-p}}{(1-p)(2-p)}
                    - \frac{y\,\mu^{1-p}}{1-p} + \frac{\mu^{2-p}}{2-p}\Bigr)

    with the limits :math:`(y - \mu)^2` at :math:`p = 0`,
    :math:`2(y\log(y/\mu) - y + \mu)` at :math:`p = 1` and
    :math:`2(\log(\mu/y) + y/\mu - 1)` at :math:`p = 2`, averaged over a sample's outputs.
    The deviance is twice the negative log-likelihood of the Tweedie exponential-dispersion
    model (variance :math:`\phi\mu^p`) minus that of the perfect prediction
    :math:`\mu = y`, divided by the dispersion :math:`\phi`: it is 0 for a perfect
    prediction and never negative. Powers in (0, 1) have no distribution and are rejected.

    When to use it: :math:`1 < p < 2` is the compound Poisson–Gamma model for non-negative
    targets with exact zeros and a continuous positive part (insurance claims, rainfall);
    :math:`p = 3` is the inverse Gaussian.

    Equals scikit-learn's ``mean_tweedie_deviance(power=...)`` (and
    ``mean_poisson_deviance`` / ``mean_gamma_deviance`` at powers 1 and 2).

    Parameters
    ----------
    y_true : array_like, same shape as ``y_pred``
        Targets: any real for :math:`p \le 0`, :math:`y \ge 0` for :math:`1 \le p < 2`,
        :math:`y > 0` for :math:`p \ge 2`.
    y_pred : array_like, shape (n,) or (n, ..., k)
        Means :math:`\mu` (any real at :math:`p = 0`, else :math:`\mu > 0`), or log-means
        with ``log_input=True``.
    power : float, <= 0 or >= 1
        The Tweedie power :math:`p`.
    log_input : bool
        ``y_pred`` holds :math:`\log\mu` (the log link scikit-learn's GLMs use).
    sample_weight : array_like of per-sample shape, optional
    reduction : {"mean", "sum", "none"}
    check_values : bool
        Check the domain, NaN/inf and weights (a host synchronisation).

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    See Also
    --------
    losskit.gradient : with respect to ``y_pred``: :math:`2\mu^{-p}(\mu - y)` for means,
        :math:`2\mu^{1-p}(\mu - y)` for log-means.

    Examples
    --------
    >>> import losskit as lk
    >>> round(float(lk.tweedie_deviance([0.0, 1.0, 3.0], [0.5, 1.0, 2.0], power=1.5)), 6)
    1.038052
    >>> float(lk.tweedie_deviance([1.0, 2.0], [1.5, 2.0], power=0))  # squared error
    0.125
    """
    func = "tweedie_deviance"
    inputs = prepare(func, y_true, y_pred, sample_weight)
    xp, y, z = inputs.xp, inputs.y_true, inputs.y_pred
    p = float(power)
    if check_values:
        _check_targets(func, inputs, check_values)
        if p >= 1:
            strict = p >= 2
            check_at_least(func, xp, "y_true", y, 0.0, strict=strict,
                           fix=f"Tweedie power {p:g} needs targets {'>' if strict else '>='} 0; "
                           "use power <= 0 (or mean_squared_error) for signed targets")
        if p != 0 and not log_input:
            check_at_least(func, xp, "y_pred", z, 0.0, strict=True,
                           fix="Means must be > 0 for power != 0; pass log-means with "
                           "log_input=True, or put an exp/softplus activation on the output")
    if aac.is_jax_namespace(xp):
        # the deviance differentiated by its analytic derivative, not through the careful
        # form's expm1s, powers and wheres (measured, jit(value_and_grad) at 1e6: see
        # benchmarks/README.md)
        elementwise = with_derivative(xp, _tweedie_parts, y, z, p=p, log_input=log_input)
        return per_sample(func, inputs, elementwise,
                          lambda: _tweedie_parts(xp, y, z, p=p, log_input=log_input)[1],
                          inputs.sample_weight, check_values=check_values)
    # e^z only where a form below uses it (log-means at powers 0 and 1; elsewhere the powers
    # of mu are exponentials of their own)
    mu = (xp.exp(z) if p in (0.0, 1.0) else None) if log_input else z
    if p == 0:
        elementwise = (y - mu) * (y - mu)
    else:
        elementwise = _tweedie_unit_deviance(xp, y, z if log_input else None, mu, p)
    # one reduction: where the careful form overflowed (float32 past exp's range, or powers
    # of mu that overflow while the deviance does not), the far form replaces it; a deviance
    # that truly overflows is inf, as every loss's (not NaN, as it was from inf - inf)
    traced = _branch_free(elementwise)
    if p != 0 and (traced or not _all_finite(func, xp, elementwise)):
        if isinstance(elementwise, np.ndarray):
            elementwise = _tweedie_mended(xp, y, z if log_input else xp.log(mu), elementwise,
                                          None, p)[0]
        else:  # autograd may follow (torch): each form on inputs safe for it
            elementwise = _tweedie_mended_differentiably(xp, y, z, elementwise, p, log_input)

    def gradient() -> Array:
        g = _tweedie_derivative(xp, y, z, mu, p, log_input)
        if log_input and p != 0 and (traced or not _all_finite(func, xp, g)):
            g = _tweedie_mended(xp, y, z, elementwise, g, p)[1]
        return g

    return per_sample(func, inputs, elementwise, gradient, inputs.sample_weight,
                      check_values=check_values)



# ------------------------------------------------------------------------- Gaussian mixture


#: components up to which a NumPy row reduction runs over the columns (see _logsumexp)
_FEW_COLUMNS = 7


def _logsumexp(xp: Namespace, a: Array) -> Array:
    """``log(sum(exp(a)))`` over the last axis with the maximum subtracted first."""
    if isinstance(a, np.ndarray) and a.ndim >= 1 and 1 < a.shape[-1] <= _FEW_COLUMNS:
        # NumPy, a few components: the row maximum and sum as element-wise operations over
        # the columns (the same numbers: a maximum is exact, and NumPy sums fewer than 8
        # entries from the first on, left to right; tested); its reductions along a short
        # last axis cost 7.5 and 2.6 ms at 166,667 x 2, the columns' 0.2 (measured)
        columns = [a[..., j] for j in range(a.shape[-1])]
        m = functools.reduce(np.maximum, columns)
        m = np.where(np.isfinite(m), m, 0.0).astype(a.dtype, copy=False)
        total = functools.reduce(np.add, [np.exp(c - m) for c in columns])
        return np.log(total) + m
    m = xp.max(a, axis=-1, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0.0)
    return xp.log(xp.sum(xp.exp(a - m), axis=-1)) + m[..., 0]


def _mixture_inputs(func: str, y_true: Any, y_pred: Any, sample_weight: Any) -> Inputs:
    return prepare(func, y_true, y_pred, sample_weight, check_shape=_mixture_shape)


def _mixture_shape(func: str, y_true: Array, y_pred: Array) -> None:
    """``y_pred`` holds ``3k`` raw outputs per target entry."""
    expected = (*tuple(y_true.shape), "3k")
    if (y_pred.ndim != y_true.ndim + 1 or tuple(y_pred.shape[:-1]) != tuple(y_true.shape)
            or y_pred.shape[-1] % 3 != 0):
        fail(func, "y_pred", f"has shape {tuple(y_pred.shape)} but y_true of shape "
             f"{tuple(y_true.shape)} needs shape {expected}",
             "Put the k mixing logits, k means and k (log) scales of each target entry along "
             "y_pred's last axis, in that order")
    check_nonempty(func, "y_true", y_true)


_GAUSSIAN_MIXTURE_NLL = LossExplanation(
    formula="l = −log Σ_j π_j·N(y | μ_j, σ_j²),   π = softmax(a),   σ_j = e^(s_j)\n"
            "raw outputs per target: (a_1..a_k, μ_1..μ_k, s_1..s_k)",
    distribution="A mixture of k Gaussians; l is exactly its negative log-likelihood "
                 "(with k = 1, gaussian_nll with log_var = 2s, full=True).",
    activation_from="gaussian_mixture",
    activation="softmax for the k mixing logits, identity for the k means, exp for the k "
               "log standard deviations (all inside the loss: the last layer is linear)",
    raw_output="3k values per target: mixing logits a, means μ, log standard deviations s",
    gradient="∂l/∂a_j = π_j − r_j,  ∂l/∂μ_j = −r_j·z_j/σ_j,  ∂l/∂s_j = r_j·(1 − z_j²),\n"
             "z_j = (y − μ_j)/σ_j,  r_j = π_j·N_j / Σ_i π_i·N_i (the responsibilities).",
    when="Multimodal targets (several plausible answers for one input: inverse kinematics, "
         "trajectories), where a single Gaussian would predict the useless average of the "
         "modes.",
    pitfalls=(
        "A component can collapse onto single points (σ → 0, loss → −∞): bound σ from "
        "below, e.g. s = log(softplus(raw) + 1e-3).",
        "The order of the 3k outputs is fixed (logits, means, log standard deviations); a "
        "different layout silently trains the wrong quantities.",
        "Negative values are legitimate (a narrow component on a target).",
        "The mixture mean Σ π_j·μ_j can fall between modes: report the most probable mode "
        "when that is what is used.",
    ),
    related=("gaussian_nll", "gaussian_mixture", "heteroscedastic_gaussian"),
    case=Case("y = 0.5, k = 2: a = (0.3, −0.2), μ = (0, 1), s = (−0.5, 0.2)", 0.5,
               (0.3, -0.2, 0.0, 1.0, -0.5, 0.2), vary=2, grid=(-3.0, 4.0),
               x_label="mean μ₁ of component 1 (other outputs fixed)"),
)


def _mixture_terms(xp: Namespace, y: Array, raw: Array, log_scale: bool = True
                   ) -> tuple[Array, Array, Array, Array, Array]:
    """``(log pi, z, 1/sigma, joint, log density)`` of raw outputs ``[a | mu | s]``:
    ``joint_j = log pi_j - log sigma_j - log(2 pi)/2 - z_j^2/2`` and the log-density its
    log-sum-exp (``s`` is log sigma, or sigma with ``log_scale=False``)."""
    k = raw.shape[-1] // 3
    logits, mu, s = raw[..., :k], raw[..., k:2 * k], raw[..., 2 * k:]
    log_sigma, inv_sigma = (s, xp.exp(-s)) if log_scale else (xp.log(s), 1.0 / s)
    z = (y[..., None] - mu) * inv_sigma
    log_pi = log_softmax(xp, logits)
    joint = log_pi - log_sigma - _HALF_LOG_2PI - 0.5 * z * z
    return log_pi, z, inv_sigma, joint, _logsumexp(xp, joint)


def _mixture_gradient_of(xp: Namespace, terms: tuple[Array, ...], log_scale: bool = True
                         ) -> Array:
    r"""With the responsibilities :math:`r_j`: :math:`\pi_j - r_j` (logits),
    :math:`-r_j z_j/\sigma_j` (means), :math:`r_j(1 - z_j^2)` (log scales; divided by
    :math:`\sigma_j` for scales)."""
    log_pi, z, inv_sigma, joint, log_density = terms
    r = xp.exp(joint - log_density[..., None])  # responsibilities
    g_scale = r * (1.0 - z * z)
    if not log_scale:
        g_scale = g_scale * inv_sigma
    return xp.concat([xp.exp(log_pi) - r, -r * z * inv_sigma, g_scale], axis=-1)


def _mixture_value(xp: Namespace, y: Array, eta: Array) -> Array:
    return -_mixture_terms(xp, y, eta)[-1]


def _mixture_gradient(xp: Namespace, y: Array, eta: Array) -> Array:
    return _mixture_gradient_of(xp, _mixture_terms(xp, y, eta))


def _mixture_hessian(xp: Namespace, y: Array, eta: Array) -> Array:
    r"""The diagonal: :math:`\pi_j(1 - \pi_j) - r_j(1 - r_j)`,
    :math:`r_j(1 - (1 - r_j)z_j^2)/\sigma_j^2` and :math:`2r_jz_j^2 - r_j(1 - r_j)(z_j^2 -
    1)^2` (not convex: these can be negative)."""
    log_pi, z, inv_sigma, joint, log_density = _mixture_terms(xp, y, eta)
    pi, r, z2 = xp.exp(log_pi), xp.exp(joint - log_density[..., None]), z * z
    h_a = pi * (1.0 - pi) - r * (1.0 - r)
    h_mu = r * inv_sigma * inv_sigma * (1.0 - (1.0 - r) * z2)
    h_s = 2.0 * r * z2 - r * (1.0 - r) * (z2 - 1.0) * (z2 - 1.0)
    return xp.concat([h_a, h_mu, h_s], axis=-1)


@loss_function(kernel=Kernel("multinomial logit,identity,log", _mixture_value,
                             _mixture_gradient, _mixture_hessian),
               log_scale=Boolean(),
               aliases=("mdn", "mixture density network", "mixture nll"),
               explanation=_GAUSSIAN_MIXTURE_NLL)
def gaussian_mixture_nll(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    log_scale: bool = True,
    sample_weight: Any = None,
    reduction: str = "mean",
    unit: str = "nats",
    check_values: bool = True,
) -> PerSample:
    r"""Negative log-likelihood of a Gaussian mixture: the loss of a mixture density network.

    For each target entry :math:`y` the network outputs :math:`3k` raw values along the last
    axis of ``y_pred``, in this order: mixing logits :math:`a_{1..k}`, means
    :math:`\mu_{1..k}` and log standard deviations :math:`s_{1..k} = \log \sigma_{1..k}`
    (standard deviations :math:`\sigma` themselves with ``log_scale=False``). With
    :math:`\pi = \mathrm{softmax}(a)`:

    .. math::

        l = -\log \sum_{j=1}^{k} \pi_j\, \mathcal N(y \mid \mu_j, \sigma_j^2)
          = -\operatorname{logsumexp}_j \Bigl(\log\pi_j - s_j - \tfrac12\log 2\pi
            - \tfrac12 z_j^2\Bigr), \qquad z_j = \frac{y - \mu_j}{\sigma_j}

    averaged over a sample's target entries; this is the exact NLL (``scipy.stats.norm``
    densities mixed with weights :math:`\pi`). It is computed from the raw outputs with
    log-softmax and log-sum-exp, so it stays finite when components are far from the target
    or the weights are extreme. With :math:`k = 1` it equals
    ``gaussian_nll(y, mu, log_var=2 s, full=True)``.

    A mixture can put a very narrow component on a target, so the density can be far above 1
    and **the NLL can be (very) negative**; that is legitimate, but a loss falling without
    bound means a component is collapsing onto single points (bound :math:`\sigma` from
    below, e.g. ``s = log(softplus(raw) + 1e-3)``).

    When to use it: multimodal targets (several plausible answers for one input: inverse
    kinematics, trajectories, ambiguous measurements) where a single Gaussian would predict
    the useless average of the modes.

    Parameters
    ----------
    y_true : array_like, shape (n,) or (n, ..., d)
        Targets; each entry gets its own mixture (entries of a sample are averaged).
    y_pred : array_like, shape ``y_true.shape + (3k,)``
        Raw outputs ``[logits | means | log scales]`` for each target entry.
    log_scale : bool
        The last block holds :math:`\log\sigma` (raw outputs, default) rather than
        :math:`\sigma > 0`.
    sample_weight : array_like of shape (n,) (``y_true.shape[:-1]`` for 2-D+ targets), optional
    reduction : {"mean", "sum", "none"}
    unit : {"nats", "bits"}
        Natural or base-2 logarithm.
    check_values : bool
        Check NaN/inf, positive scales and weights (a host synchronisation).

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    See Also
    --------
    losskit.gradient : with respect to every raw output, with responsibilities
        :math:`r_j = \pi_j \mathcal N_j / \sum_i \pi_i \mathcal N_i`: :math:`\pi_j - r_j` for the
        logits, :math:`-r_j z_j / \sigma_j` for the means and :math:`r_j (1 - z_j^2)` for the
        log scales (divided by :math:`\sigma_j` with ``log_scale=False``).

    Examples
    --------
    Two equally weighted components at -1 and +1 with :math:`\sigma = 0.1`:

    >>> import math
    >>> import losskit as lk
    >>> raw = [[0.0, 0.0, -1.0, 1.0, math.log(0.1), math.log(0.1)]]
    >>> round(float(lk.gaussian_mixture_nll([1.0], raw)), 6)
    -0.690499
    >>> g = lk.gradient(lk.gaussian_mixture_nll, [1.0], raw)
    >>> [round(v, 6) for v in g[0].tolist()]
    [0.5, -0.5, -0.0, -0.0, -0.0, 1.0]
    """
    func = "gaussian_mixture_nll"
    inputs = _mixture_inputs(func, y_true, y_pred, sample_weight)
    xp = inputs.xp
    _check_targets(func, inputs, check_values)
    raw = inputs.y_pred
    if check_values and not log_scale:
        check_domain(func, xp, "y_pred", raw[..., 2 * (raw.shape[-1] // 3):],
                     Interval.above(0.0, strict=True),
                     "With log_scale=False the last k entries are standard deviations "
                     "and must be > 0; or pass log standard deviations")
    terms = _mixture_terms(xp, inputs.y_true, raw, log_scale)
    log_density = terms[-1]

    def gradient() -> Array:
        return _mixture_gradient_of(xp, terms, log_scale)

    return per_sample(func, inputs, -log_density, gradient, inputs.sample_weight,
                      check_values=check_values,
                      nan_hint="no mixture component gives the target a finite log-density; "
                               "check the scales and logits")
