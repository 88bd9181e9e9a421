r"""Negative log-likelihoods of directions: angles on the circle and points on the sphere.

An angle (a wind direction, a time of day, a heading) and a location on the globe live on a
circle and a sphere, where 359° is next to 1° and the longitudes -179.9° and 179.9° are 22 km
apart at the equator. A squared error on the raw numbers sees 358° and 359.8° of difference
instead, and averages them into the opposite direction. The von Mises distribution (circle) and
the von Mises-Fisher distribution (sphere) are the Gaussians of these spaces.

Both are exponential families written in their **natural parameter**: the network's raw output
is a vector :math:`\eta` (2 numbers for an angle, 3 for a point on the sphere) whose direction
:math:`\eta / \|\eta\|` is the predicted mean direction (the ``(cos, sin)`` of the angle, or the
unit vector of the location) and whose length :math:`\kappa = \|\eta\|` is the concentration
(large: confident). The NLL is convex in :math:`\eta`, and its gradient is the canonical
"prediction minus target": :math:`E[t(y)] - t(y)` with :math:`t(y)` the target as a unit vector.

Normalising constants are computed stably at any concentration: :math:`\log I_0(\kappa)` from
its power series below :data:`_ASYMPTOTIC_FROM` and its asymptotic expansion above (both
accurate to float64 rounding), and :math:`\log(\sinh\kappa / \kappa)` as
:math:`\kappa + \log(1 - e^{-2\kappa}) - \log 2\kappa` (no overflow), by its series near 0.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import array_api_compat as aac
import numpy as np

from losskit._array import (
    Array,
    Namespace,
    compute_dtype,
    first_index,
    namespace_and_arrays,
    to_bool,
    to_float,
)
from losskit._validation import Boolean, check_finite, check_nonempty, fail, index_text
from losskit.losses._core import Inputs, PerSample, loss_function, prepare
from losskit.losses._elementwise import check_finite_pair, per_sample
from losskit.losses._embedding import _dot as _row_product_sum
from losskit.losses._spec import Case, Kernel, LossExplanation

__all__ = [
    "lat_lon_to_unit_vector",
    "unit_vector_to_lat_lon",
    "von_mises_fisher_nll",
    "von_mises_nll",
]

_LOG_2PI = math.log(2.0 * math.pi)
#: switch from the power series of I0, I1 to their asymptotic expansions
_ASYMPTOTIC_FROM = 30.0
#: terms of the power series: at kappa = 30 the last is below 1e-20 of the sum
_SERIES_TERMS = 50
#: terms of the asymptotic expansion: at kappa = 30 the last is below 1e-17
_ASYMPTOTIC_TERMS = 24
#: below this concentration log(sinh k / k) and (coth k - 1/k)/k use their Taylor series
_SMALL_KAPPA = 0.05
#: how far from 1 the norm of a unit-vector target may be
_UNIT_TOLERANCE = 1e-6


def _asymptotic_coefficients(nu: int) -> tuple[Fraction, ...]:
    r"""The coefficients :math:`(-1)^k a_k(\nu)` of :math:`I_\nu(z) \sim
    \frac{e^z}{\sqrt{2\pi z}} \sum_k (-1)^k a_k(\nu) z^{-k}`, with
    :math:`a_k(\nu) = \prod_{j=1}^{k} (4\nu^2 - (2j - 1)^2) / (k!\, 8^k)` (exact)."""
    coefficients, c = [Fraction(1)], Fraction(1)
    for k in range(1, _ASYMPTOTIC_TERMS):
        c *= Fraction(-(4 * nu * nu - (2 * k - 1) ** 2), 8 * k)
        coefficients.append(c)
    return tuple(coefficients)


def _slope_numerator(c0: tuple[Fraction, ...], c1: tuple[Fraction, ...]) -> tuple[float, ...]:
    r"""Coefficients of :math:`a_0^2 - u\,a_0 a_1 - a_1^2` in :math:`u = 1/\kappa`, with
    :math:`a_\nu` the asymptotic series of :math:`I_\nu`: :math:`A'(\kappa) = 1 - A/\kappa
    - A^2` is this over :math:`a_0^2`. Its terms in :math:`u^0` and :math:`u^1` cancel
    exactly here, in rationals, instead of in floating point (where :math:`A'
    \approx 1/2\kappa^2` would lose every digit at large :math:`\kappa`)."""
    n = _ASYMPTOTIC_TERMS
    coefficients = [Fraction(0)] * n
    for i in range(n):
        for j in range(n - i):
            coefficients[i + j] += c0[i] * c0[j] - c1[i] * c1[j]
            if i + j + 1 < n:
                coefficients[i + j + 1] -= c0[i] * c1[j]
    return tuple(float(c) for c in coefficients)


_I0_EXACT, _I1_EXACT = _asymptotic_coefficients(0), _asymptotic_coefficients(1)
_I0_ASYMPTOTIC = tuple(float(c) for c in _I0_EXACT)
_I1_ASYMPTOTIC = tuple(float(c) for c in _I1_EXACT)
_SLOPE_ASYMPTOTIC = _slope_numerator(_I0_EXACT, _I1_EXACT)


def _polynomial(coefficients: tuple[float, ...], x: Array) -> Array:
    """``sum_k c_k x**k`` by Horner's rule."""
    total = coefficients[-1] + 0.0 * x
    for c in reversed(coefficients[:-1]):
        total = total * x + c
    return total


def _scaled_bessel(xp: Namespace) -> tuple[Any, Any] | None:
    """The library's own exponentially scaled Bessel functions ``(i0e, i1e)`` (SciPy's for
    NumPy, ``torch.special``, ``jax.scipy.special``: each the Cephes Chebyshev expansions,
    about 1e-16 relative in float64), or ``None`` (another array library: the series)."""
    if aac.is_numpy_namespace(xp):
        from scipy import special
        return special.i0e, special.i1e
    if aac.is_torch_namespace(xp):
        import torch
        return torch.special.i0e, torch.special.i1e
    if aac.is_jax_namespace(xp):
        from jax.scipy import special as jax_special
        return jax_special.i0e, jax_special.i1e
    return None


def bessel_terms(xp: Namespace, kappa: Array) -> tuple[Array, Array]:
    r"""``(log I0(kappa) - kappa, I1(kappa) / (kappa I0(kappa)))`` for ``kappa >= 0``.

    NumPy, torch and JAX: their own :math:`I_0 e^{-\kappa}`, :math:`I_1 e^{-\kappa}`
    (:func:`_scaled_bessel`; nothing overflows, the ratio is 1/2 at :math:`\kappa = 0`).
    Measured at 5e5 angles, float32, one thread: the series below cost NumPy 197 ms a
    value against 10 ms, and torch's autograd through its 200 operations 452 ms a value
    and gradient against 36 ms for ``torch.special.i0e``.

    Other array libraries: below :data:`_ASYMPTOTIC_FROM` the power series
    :math:`I_0 = \sum_k q^k / k!^2` and :math:`I_1/\kappa = \frac12 \sum_k q^k / (k!\,(k+1)!)`,
    :math:`q = \kappa^2/4` (positive terms: no cancellation, exact at :math:`\kappa = 0` where
    the ratio is 1/2); above it the asymptotic expansions, whose :math:`e^\kappa/\sqrt{2\pi
    \kappa}` cancels in the ratio and is taken out of the logarithm, so nothing overflows.
    Each branch sees clamped inputs, so autograd through the unused one stays finite.
    """
    native = _scaled_bessel(xp)
    if native is not None:
        i0e, i1e = native
        scaled0 = i0e(kappa)
        positive = kappa > 0
        safe = xp.where(positive, kappa, 1.0)
        ratio = xp.where(positive, i1e(safe) / (scaled0 * safe), 0.5)
        return xp.log(scaled0), ratio
    return _series_bessel_terms(xp, kappa)


def _log_i0e(xp: Namespace, kappa: Array) -> Array:
    """``log I0(kappa) - kappa`` alone (the value needs no ``I1``: half the Bessel cost)."""
    native = _scaled_bessel(xp)
    if native is not None:
        return xp.log(native[0](kappa))
    return _series_bessel_terms(xp, kappa)[0]


def _series_bessel_terms(xp: Namespace, kappa: Array) -> tuple[Array, Array]:
    """:func:`bessel_terms` by the power series and the asymptotic expansion."""
    small = kappa < _ASYMPTOTIC_FROM
    ks = xp.where(small, kappa, 0.0)
    kl = xp.where(small, _ASYMPTOTIC_FROM, kappa)
    q = 0.25 * ks * ks
    term = xp.ones_like(ks)
    s0, s1 = term, term
    for k in range(1, _SERIES_TERMS):
        term = term * q / float(k * k)
        s0 = s0 + term
        s1 = s1 + term / float(k + 1)
    inv = 1.0 / kl
    a0 = _polynomial(_I0_ASYMPTOTIC, inv)
    a1 = _polynomial(_I1_ASYMPTOTIC, inv)
    log_i0e = xp.where(small, xp.log(s0) - ks, xp.log(a0) - 0.5 * xp.log(2.0 * math.pi * kl))
    ratio = xp.where(small, 0.5 * s1 / s0, a1 / (a0 * kl))
    return log_i0e, ratio


def _norm(xp: Namespace, eta: Array) -> Array:
    return xp.sqrt(_dot(xp, eta, eta))


def _dot(xp: Namespace, a: Array, b: Array) -> Array:
    """``sum(a * b)`` over the last axis (2 or 3 here); on torch without autograd the
    product's columns added in order, as torch's reduction adds them (the same numbers), a
    strided add where the reduction over a short last axis took twice as long (measured at
    333334 x 3 float32, one thread: 2.6 -> 1.1 ms; the von Mises-Fisher value 17.8 ->
    14.6 ms). Under autograd the reduction: its backward is the cheaper one (value and
    gradient 27.4 ms with it, 29.3 with the columns)."""
    if (aac.is_torch_array(a) and aac.is_torch_array(b) and a.ndim and a.shape[-1] <= 3
            and not (a.requires_grad or b.requires_grad)):
        product = a * b
        total = product[..., 0]
        for column in range(1, product.shape[-1]):
            total = total + product[..., column]
        return total
    return _row_product_sum(xp, a, b)


# -------------------------------------------------------------------------- von Mises kernel


def _von_mises_value(xp: Namespace, y: Array, eta: Array) -> Array:
    kappa = _norm(xp, eta)
    log_i0e = _log_i0e(xp, kappa)
    # kappa - eta . t(y) = kappa (1 - cos(y - mu)) >= 0, then log(2 pi I0(kappa)) - kappa
    return kappa - (eta[..., 0] * xp.cos(y) + eta[..., 1] * xp.sin(y)) + _LOG_2PI + log_i0e


def _von_mises_gradient(xp: Namespace, y: Array, eta: Array) -> Array:
    _, ratio = bessel_terms(xp, _norm(xp, eta))
    # d/d eta of -eta . t + log I0(|eta|) = (I1/I0) eta/|eta| - t: mean resultant minus target
    return ratio[..., None] * eta - xp.stack([xp.cos(y), xp.sin(y)], axis=-1)


def _direction_hessian(xp: Namespace, eta: Array, ratio: Array, slope: Array) -> Array:
    """Diagonal of :math:`A'(\\kappa)\\hat\\eta\\hat\\eta^T + (A/\\kappa)(I - \\hat\\eta
    \\hat\\eta^T)`: ``ratio`` is :math:`A/\\kappa`, ``slope`` :math:`A'`; at :math:`\\kappa = 0`
    both are equal and the direction does not matter."""
    kappa2 = _dot(xp, eta, eta)
    safe = xp.where(kappa2 > 0, kappa2, 1.0)
    share = xp.where((kappa2 > 0)[..., None], eta * eta / safe[..., None], 0.0)
    return slope[..., None] * share + ratio[..., None] * (1.0 - share)


def _von_mises_hessian(xp: Namespace, y: Array, eta: Array) -> Array:
    kappa = _norm(xp, eta)
    _, ratio = bessel_terms(xp, kappa)
    a = ratio * kappa
    # A' = 1 - A/k - A^2 (A <= 0.97 below the switch, so no digits are lost); above it, the
    # asymptotic numerator with its leading terms cancelled exactly, over a0^2
    small = kappa < _ASYMPTOTIC_FROM
    inv = 1.0 / xp.where(small, _ASYMPTOTIC_FROM, kappa)
    a0 = _polynomial(_I0_ASYMPTOTIC, inv)
    slope = xp.where(small, 1.0 - ratio - a * a,
                     _polynomial(_SLOPE_ASYMPTOTIC, inv) / (a0 * a0))
    return _direction_hessian(xp, eta, ratio, slope)


VON_MISES_KERNEL = Kernel(link="canonical", value=_von_mises_value,
                          gradient=_von_mises_gradient, hessian=_von_mises_hessian)


# ------------------------------------------------------------------ von Mises-Fisher kernel


def _log_sinhc_minus_kappa(xp: Namespace, kappa: Array) -> Array:
    r""":math:`\log(\sinh\kappa / \kappa) - \kappa`, without overflow and exact at 0:
    :math:`\log(1 - e^{-2\kappa}) - \log 2\kappa`, and its Taylor series near 0 (where
    :math:`1 - e^{-2\kappa}` and :math:`2\kappa` both vanish)."""
    small = kappa < _SMALL_KAPPA
    ks = xp.where(small, kappa, 0.0)
    kl = xp.where(small, 1.0, kappa)
    k2 = ks * ks
    series = k2 * (1.0 / 6.0 - k2 * (1.0 / 180.0 - k2 * (1.0 / 2835.0))) - ks
    # sinh k = e^k (1 - e^-2k) / 2
    large = xp.log(-xp.expm1(-2.0 * kl)) - xp.log(2.0 * kl)
    return xp.where(small, series, large)


def langevin_over_kappa(xp: Namespace, kappa: Array) -> tuple[Array, Array]:
    """:math:`A_3(\\kappa)/\\kappa` and :math:`A_3'(\\kappa)` for the mean resultant length
    :math:`A_3 = \\coth\\kappa - 1/\\kappa` (the Langevin function), by their Taylor series
    near 0 (the direct forms cancel there)."""
    small = kappa < _SMALL_KAPPA
    ks = xp.where(small, kappa, 0.0)
    kl = xp.where(small, 1.0, kappa)
    k2 = ks * ks
    ratio_small = 1.0 / 3.0 - k2 * (1.0 / 45.0 - k2 * (2.0 / 945.0 - k2 / 4725.0))
    slope_small = 1.0 / 3.0 - k2 * (1.0 / 15.0 - k2 * (2.0 / 189.0 - k2 / 675.0))
    e = xp.exp(-2.0 * kl)
    d = -xp.expm1(-2.0 * kl)  # 1 - e^-2k
    coth = (1.0 + e) / d
    ratio_large = (coth - 1.0 / kl) / kl
    slope_large = 1.0 / (kl * kl) - 4.0 * e / (d * d)  # 1/k^2 - 1/sinh^2 k
    return xp.where(small, ratio_small, ratio_large), xp.where(small, slope_small, slope_large)


def _vmf_value(xp: Namespace, y: Array, eta: Array) -> Array:
    kappa = _norm(xp, eta)
    # -log[kappa exp(eta . x) / (4 pi sinh kappa)] with kappa - eta . x = kappa (1 - cos) >= 0
    return (kappa - _dot(xp, eta, y)) + math.log(4.0 * math.pi) \
        + _log_sinhc_minus_kappa(xp, kappa)


def _vmf_gradient(xp: Namespace, y: Array, eta: Array) -> Array:
    ratio, _ = langevin_over_kappa(xp, _norm(xp, eta))
    return ratio[..., None] * eta - y


def _vmf_hessian(xp: Namespace, y: Array, eta: Array) -> Array:
    ratio, slope = langevin_over_kappa(xp, _norm(xp, eta))
    return _direction_hessian(xp, eta, ratio, slope)


VON_MISES_FISHER_KERNEL = Kernel(link="canonical", value=_vmf_value, gradient=_vmf_gradient,
                                 hessian=_vmf_hessian)


# ----------------------------------------------------------------------------- the inputs


def _direction_inputs(func: str, y_true: Any, y_pred: Any, sample_weight: Any, width: int,
                      target: str) -> Inputs:
    """Arrays in ``y_pred``'s library and compute dtype; ``y_pred`` has ``width`` raw
    outputs per target along its last axis; ``target`` is ``"angle"`` (``y_true`` has
    ``y_pred``'s shape without it) or ``"vector"`` (``y_true`` has ``y_pred``'s shape)."""
    def check_shape(func: str, y_true: Array, y_pred: Array) -> None:
        if y_pred.ndim < 2 or y_pred.shape[-1] != width:
            fail(func, "y_pred", f"has shape {tuple(y_pred.shape)}",
                 f"Pass {width} raw outputs per target along the last axis: shape (n, {width})")
        expected = tuple(y_pred.shape) if target == "vector" else tuple(y_pred.shape[:-1])
        if tuple(y_true.shape) != expected:
            what = "unit vectors (x, y, z)" if target == "vector" else "angles"
            fail(func, "y_true", f"has shape {tuple(y_true.shape)} but y_pred of shape "
                 f"{tuple(y_pred.shape)} needs y_true of shape {expected}",
                 f"Pass {what}, one per row of raw outputs (losskit never broadcasts)")

    return prepare(func, y_true, y_pred, sample_weight, check_shape=check_shape)


def _check_unit_vectors(func: str, xp: Namespace, name: str, x: Array, fix: str) -> None:
    norm = _norm(xp, x)
    # every |norm - 1| <= tol exactly when the smallest and the largest norm pass (norm - 1 is
    # monotone in norm; NaN fails): NumPy's minimum and maximum, torch's aminmax on the CPU
    # (one kernel and one read), no masks (measured at 333334 vectors float32: see
    # benchmarks/README.md); else the test that names the row
    extremes = None
    if isinstance(norm, np.ndarray) and norm.size:
        extremes = (norm.min(), norm.max())
    elif aac.is_torch_array(norm) and norm.numel():
        from losskit._torch import host_reads_are_free
        if host_reads_are_free(norm):
            import torch
            extremes = torch.stack(torch.aminmax(norm.detach())).tolist()
    if extremes is not None and all(abs(e - 1.0) <= _UNIT_TOLERANCE for e in extremes):
        return
    bad = ~(xp.abs(norm - 1.0) <= _UNIT_TOLERANCE)
    if to_bool(func, xp.any(bad)):
        index = first_index(xp, bad)
        where = index_text(index)
        fail(func, name, f"has a vector of norm {to_float(norm[index]):.6g} at index {where}, "
             f"not a unit vector", fix)


# ------------------------------------------------------------------------------ von Mises

VON_MISES_EXPLANATION = LossExplanation(
    formula="l = κ − η·(cos y, sin y) + log(2π I₀(κ)),  κ = ‖η‖  (η: the 2 raw outputs)",
    distribution="von Mises on the circle: p(y) = exp(κ cos(y − μ)) / (2π I₀(κ)) with mean "
                 "direction μ = atan2(η₂, η₁) and concentration κ; −log p is this loss. For "
                 "large κ it is a Gaussian on the angle with variance 1/κ.",
    raw_output="η = κ·(cos μ, sin μ): the direction of the angle scaled by the concentration",
    gradient="∂l/∂η = A(κ)·η/κ − (cos y, sin y) with A = I₁/I₀: the mean resultant vector "
             "minus the target's unit vector (prediction minus target, the canonical link).",
    when="Angles and other periodic targets: wind or wave directions, headings, the time of "
         "day or the day of the year as an angle, joint angles.",
    pitfalls=(
        "A squared error on the raw angle is wrong at the wrap-around: 359° and 1° are 2° "
        "apart, not 358°, and the average of the two is 0°, not 180°.",
        "Pass the angles in radians, or degrees=True; the raw outputs are not an angle but a "
        "2-vector whose direction is the predicted angle (predict with atan2(η₂, η₁)).",
        "The concentration is learned with the direction: a network that cannot tell the "
        "direction predicts κ near 0 (a uniform angle) rather than a confident wrong angle.",
    ),
    related=("von_mises", "von_mises_fisher_nll", "gaussian_nll"),
    case=Case("y = 0.5 rad, η = (2, 0) (μ = 0, κ = 2)", 0.5, (2.0, 0.0), vary=0,
              grid=(-6.0, 6.0), more_targets=(math.pi,), x_label="raw output η₁ (η₂ = 0)"),
    activation_from="von_mises", activation="the mean resultant A(κ)·η/κ",
)


@loss_function(aliases=("von mises nll", "circular nll"),
               explanation=VON_MISES_EXPLANATION, kernel=VON_MISES_KERNEL,
               degrees=Boolean())
def von_mises_nll(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    degrees: bool = False,
    sample_weight: Any = None,
    reduction: str = "mean",
    unit: str = "nats",
    check_values: bool = True,
) -> PerSample:
    r"""Negative log-likelihood of an angle: the von Mises distribution on the circle.

    The raw outputs of each angle are the natural parameter :math:`\eta \in \mathbb R^2`,
    :math:`\eta = \kappa(\cos\mu, \sin\mu)`: its direction is the predicted angle
    :math:`\mu = \operatorname{atan2}(\eta_2, \eta_1)` and its length
    :math:`\kappa = \|\eta\|` the concentration. With :math:`t(y) = (\cos y, \sin y)`:

    .. math::

        l = -\eta \cdot t(y) + \log\bigl(2\pi I_0(\kappa)\bigr)
          = \kappa\bigl(1 - \cos(y - \mu)\bigr) + \log 2\pi + \log\bigl(I_0(\kappa)
            e^{-\kappa}\bigr)

    averaged over a sample's angles: exactly ``-scipy.stats.vonmises.logpdf(y, kappa, loc=mu)``.
    :math:`\log I_0` is computed from its power series and its asymptotic expansion (no
    overflow at any :math:`\kappa`). Convex in :math:`\eta`; the density exceeds 1 for
    :math:`\kappa \gtrsim 7`, so **negative values are legitimate** for confident models.

    When to use it: angles and periodic targets (directions, headings, time of day), where a
    squared error on the number is wrong across the wrap-around.

    Parameters
    ----------
    y_true : array_like, shape (n,) or (n, d)
        Angles, in radians (any real value: they are taken modulo :math:`2\pi`).
    y_pred : array_like, shape ``y_true.shape + (2,)``
        Raw outputs :math:`\eta`.
    degrees : bool
        ``y_true`` is in degrees.
    sample_weight : array_like of shape (n,), optional
    reduction : {"mean", "sum", "none"}
    unit : {"nats", "bits"}
        Natural or base-2 logarithm.
    check_values : bool
        Check NaN/inf and weights (a host synchronisation).

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    See Also
    --------
    losskit.gradient : with respect to :math:`\eta`: :math:`A(\kappa)\,\eta/\kappa - t(y)`
        with :math:`A = I_1/I_0` (the mean resultant vector minus the target's unit vector).
    von_mises_fisher_nll : the same on the sphere.

    Examples
    --------
    >>> import losskit as lk
    >>> round(float(lk.von_mises_nll([0.5], [[2.0, 0.0]])), 6)   # mu = 0, kappa = 2
    0.906705
    >>> round(float(lk.von_mises_nll([359.0], [[2.0, 0.0]], degrees=True)),
    ...       6) == round(float(lk.von_mises_nll([-1.0], [[2.0, 0.0]], degrees=True)), 6)
    True
    >>> [round(v, 6) for v in lk.gradient(lk.von_mises_nll, [0.0], [[0.0, 0.0]])[0].tolist()]
    [-1.0, -0.0]
    """
    func = "von_mises_nll"
    inputs = _direction_inputs(func, y_true, y_pred, sample_weight, 2, "angle")
    xp = inputs.xp
    if check_values:
        check_finite(func, xp, "y_true", inputs.y_true)
        check_finite(func, xp, "y_pred", inputs.y_pred)
    y = inputs.y_true * (math.pi / 180.0) if degrees else inputs.y_true
    eta = inputs.y_pred
    native = _scaled_bessel(xp)
    if native is None:
        elementwise = _von_mises_value(xp, y, eta)

        def gradient() -> Array:
            return _von_mises_gradient(xp, y, eta)
    else:  # the kernel's forms, sharing kappa, I0 e^-kappa, cos y and sin y with the gradient
        kappa = _norm(xp, eta)
        scaled0 = native[0](kappa)
        cos, sin = xp.cos(y), xp.sin(y)
        elementwise = kappa - (eta[..., 0] * cos + eta[..., 1] * sin) + _LOG_2PI \
            + xp.log(scaled0)

        def gradient() -> Array:
            positive = kappa > 0
            safe = xp.where(positive, kappa, 1.0)
            ratio = xp.where(positive, native[1](safe) / (scaled0 * safe), 0.5)
            return ratio[..., None] * eta - xp.stack([cos, sin], axis=-1)

    return per_sample(func, inputs, elementwise, gradient, inputs.sample_weight,
                      check_values=check_values)


# ----------------------------------------------------------------------- von Mises-Fisher

VON_MISES_FISHER_EXPLANATION = LossExplanation(
    formula="l = κ − η·x + log(4π) + log(sinh κ / κ) − κ,  κ = ‖η‖  (x: the unit vector of "
            "the target, η: the 3 raw outputs)",
    distribution="von Mises-Fisher on the sphere: p(x) = κ exp(κ μ·x) / (4π sinh κ) with mean "
                 "direction μ = η/κ and concentration κ; −log p is this loss. For large κ it "
                 "is a Gaussian on the tangent plane with variance 1/κ per axis.",
    raw_output="η = κ·μ: the unit vector of the predicted location scaled by the concentration",
    gradient="∂l/∂η = (coth κ − 1/κ)·η/κ − x: the mean resultant vector minus the target's "
             "unit vector (prediction minus target, the canonical link).",
    when="Locations on the globe (latitude/longitude), directions in 3-D (normals, "
         "orientations of an axis, sound sources).",
    pitfalls=(
        "A squared error on latitude and longitude in degrees is wrong at the date line "
        "(179.9° and −179.9° are 22 km apart, not 359.8°) and near the poles (a degree of "
        "longitude shrinks to nothing): convert to unit vectors with lat_lon_to_unit_vector.",
        "The targets must be unit vectors (norm 1 within 1e-6): the loss checks it.",
        "Report the error in kilometres with metrics.great_circle_distance, not the NLL.",
    ),
    related=("von_mises_fisher", "von_mises_nll", "gaussian_nll"),
    case=Case("x = (0, 0, 1) (north pole), η = (0, 0, 5) (μ = x, κ = 5)", (0.0, 0.0, 1.0),
              (0.0, 0.0, 5.0), vary=2, grid=(-6.0, 10.0),
              more_targets=((1.0, 0.0, 0.0),), x_label="raw output η₃ (η₁ = η₂ = 0)"),
    activation_from="von_mises_fisher", activation="the mean resultant (coth κ − 1/κ)·η/κ",
)


@loss_function(aliases=("vmf nll", "von mises-fisher nll"),
               explanation=VON_MISES_FISHER_EXPLANATION, kernel=VON_MISES_FISHER_KERNEL)
def von_mises_fisher_nll(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    sample_weight: Any = None,
    reduction: str = "mean",
    unit: str = "nats",
    check_values: bool = True,
) -> PerSample:
    r"""Negative log-likelihood of a direction in 3-D: the von Mises-Fisher distribution.

    The target is a unit vector :math:`x` (a location on the globe: see
    :func:`lat_lon_to_unit_vector`); the raw outputs are the natural parameter
    :math:`\eta \in \mathbb R^3`, :math:`\eta = \kappa\mu`, whose direction :math:`\mu` is the
    predicted unit vector and whose length :math:`\kappa` the concentration:

    .. math::

        l = -\eta \cdot x + \log\frac{4\pi \sinh\kappa}{\kappa}
          = \kappa(1 - \mu\cdot x) + \log 2\pi + \log\frac{1 - e^{-2\kappa}}{\kappa}

    averaged over a sample's directions: exactly
    ``-scipy.stats.vonmises_fisher(mu, kappa).logpdf(x)``. The second form has no
    :math:`\sinh` to overflow (any :math:`\kappa`), and :math:`\log(\sinh\kappa/\kappa)` uses
    its series near 0 (exact at :math:`\kappa = 0`: the uniform density :math:`1/4\pi`).
    Convex in :math:`\eta`; negative values are legitimate for confident models.

    When to use it: locations (latitude/longitude) and 3-D directions, where a squared error on
    the coordinates is wrong at the date line and the poles.

    Parameters
    ----------
    y_true : array_like, shape (n, 3) or (n, d, 3)
        Unit vectors (norm 1 within 1e-6).
    y_pred : array_like, same shape
        Raw outputs :math:`\eta`.
    sample_weight : array_like of shape (n,), optional
    reduction : {"mean", "sum", "none"}
    unit : {"nats", "bits"}
        Natural or base-2 logarithm.
    check_values : bool
        Check NaN/inf, unit targets and weights (a host synchronisation).

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    See Also
    --------
    losskit.gradient : with respect to :math:`\eta`: :math:`(\coth\kappa - 1/\kappa)\,
        \eta/\kappa - x`.
    von_mises_nll : the same on the circle.

    Examples
    --------
    >>> import losskit as lk
    >>> north = [[0.0, 0.0, 1.0]]
    >>> round(float(lk.von_mises_fisher_nll(north, [[0.0, 0.0, 5.0]])), 6)  # mu = x, kappa = 5
    0.228394
    >>> round(float(lk.von_mises_fisher_nll(north, [[0.0, 0.0, 0.0]])), 6)  # uniform: log 4 pi
    2.531024
    >>> round(float(lk.von_mises_fisher_nll(north, [[0.0, 0.0, 1e4]])), 4)  # no overflow
    -7.3725
    """
    func = "von_mises_fisher_nll"
    inputs = _direction_inputs(func, y_true, y_pred, sample_weight, 3, "vector")
    xp = inputs.xp
    if check_values:
        check_finite_pair(func, inputs)  # one BLAS dot on NumPy, else the two checks
        _check_unit_vectors(func, xp, "y_true", inputs.y_true,
                            "Pass unit vectors (x, y, z); convert latitude and longitude with "
                            "losskit.lat_lon_to_unit_vector")
    y, eta = inputs.y_true, inputs.y_pred
    elementwise = _vmf_value(xp, y, eta)

    def gradient() -> Array:
        return _vmf_gradient(xp, y, eta)

    return per_sample(func, inputs, elementwise, gradient, inputs.sample_weight,
                      check_values=check_values)


# ------------------------------------------------------------------- latitude / longitude


def lat_lon_to_unit_vector(lat_lon: Any, /, *, degrees: bool = True) -> Array:
    r"""Unit vectors :math:`(\cos\phi\cos\lambda, \cos\phi\sin\lambda, \sin\phi)` of
    latitude/longitude pairs.

    Parameters
    ----------
    lat_lon : array_like, shape (..., 2)
        Latitude :math:`\phi` in [-90, 90] and longitude :math:`\lambda` (any value) per row.
    degrees : bool
        In degrees (default) rather than radians.

    Returns
    -------
    array, shape (..., 3)
        In ``lat_lon``'s library and floating dtype.

    Examples
    --------
    >>> import losskit as lk
    >>> lk.lat_lon_to_unit_vector([[90.0, 0.0], [0.0, 180.0]]).round(12).tolist()
    [[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0]]
    """
    func = "lat_lon_to_unit_vector"
    Boolean().check(func, "degrees", degrees)
    xp, x, _ = namespace_and_arrays(func, lat_lon)
    check_nonempty(func, "lat_lon", x)
    if not xp.isdtype(x.dtype, ("real floating", "integral")) or x.ndim < 1 or x.shape[-1] != 2:
        fail(func, "lat_lon", f"has shape {tuple(x.shape)} and dtype {x.dtype}",
             "Pass real (latitude, longitude) pairs along the last axis: shape (n, 2)")
    cdtype, out = compute_dtype(xp, x.dtype)
    x = xp.astype(x, cdtype)
    check_finite(func, xp, "lat_lon", x)
    scale = math.pi / 180.0 if degrees else 1.0
    lat, lon = x[..., 0] * scale, x[..., 1] * scale
    limit = 90.0 if degrees else math.pi / 2
    if to_bool(func, xp.any(xp.abs(x[..., 0]) > limit)):
        fail(func, "lat_lon", f"has a latitude beyond ±{limit:g}",
             "Put the latitude first and the longitude second"
             + ("" if degrees else ", or pass degrees=True for degrees"))
    v = xp.stack([xp.cos(lat) * xp.cos(lon), xp.cos(lat) * xp.sin(lon), xp.sin(lat)], axis=-1)
    return v if v.dtype == out else xp.astype(v, out)


def unit_vector_to_lat_lon(vectors: Any, /, *, degrees: bool = True) -> Array:
    r"""Latitude and longitude of (not necessarily unit) 3-vectors: the inverse of
    :func:`lat_lon_to_unit_vector`, longitudes in :math:`(-180, 180]`.

    .. math::

        \phi = \operatorname{atan2}\bigl(z, \sqrt{x^2 + y^2}\bigr), \qquad
        \lambda = \operatorname{atan2}(y, x)

    Parameters
    ----------
    vectors : array_like, shape (..., 3)
        Non-zero 3-vectors (a :class:`~losskit.families.VonMisesFisher` family's raw outputs
        or predictions).
    degrees : bool
        Latitude and longitude in degrees (default) rather than radians.

    Returns
    -------
    array, shape (..., 2)
        In ``vectors``' library and floating dtype.

    Examples
    --------
    >>> import losskit as lk
    >>> lk.unit_vector_to_lat_lon([[0.0, -2.0, 0.0]]).tolist()
    [[0.0, -90.0]]
    """
    func = "unit_vector_to_lat_lon"
    Boolean().check(func, "degrees", degrees)
    xp, v, _ = namespace_and_arrays(func, vectors)
    check_nonempty(func, "vectors", v)
    if not xp.isdtype(v.dtype, ("real floating", "integral")) or v.ndim < 1 or v.shape[-1] != 3:
        fail(func, "vectors", f"has shape {tuple(v.shape)} and dtype {v.dtype}",
             "Pass real 3-vectors along the last axis: shape (n, 3)")
    cdtype, out = compute_dtype(xp, v.dtype)
    v = xp.astype(v, cdtype)
    check_finite(func, xp, "vectors", v)
    horizontal = xp.sqrt(v[..., 0] * v[..., 0] + v[..., 1] * v[..., 1])
    if to_bool(func, xp.any((horizontal == 0) & (v[..., 2] == 0))):
        fail(func, "vectors", "has a zero vector", "A zero vector has no direction")
    scale = 180.0 / math.pi if degrees else 1.0
    result = xp.stack([xp.atan2(v[..., 2], horizontal) * scale,
                       xp.atan2(v[..., 1], v[..., 0]) * scale], axis=-1)
    return result if result.dtype == out else xp.astype(result, out)
