"""The one place where per-sample losses become a reported number.

With per-sample losses :math:`l_i`, weights :math:`w_i` (sample weights, zero for ignored
samples) and normalising weights :math:`v_i` (``w_i`` unless a loss says otherwise, e.g. times the
class weight of the label):

* ``"none"``: :math:`w_i l_i` for every sample (0 where :math:`w_i = 0`, even if :math:`l_i` is
  not finite),
* ``"sum"``: :math:`\\sum_i w_i l_i`,
* ``"mean"``: :math:`\\sum_i w_i l_i / \\sum_i v_i` (the plain mean when there are no weights).

The sums are taken over weights divided by a power of two near the largest weight
(:func:`weight_scale`, exact) and scaled back once: the result is right whenever it is
representable, however large or small the weights (two weights of ``1e308`` would overflow
:math:`\\sum_i w_i`). The metrics and :class:`losskit.Accumulator` normalise the same way.
"""

from __future__ import annotations

import math

from losskit._array import Array, Namespace, device

__all__ = ["REDUCTIONS", "normalised_weights", "reduce", "reduction_scale", "weight_scale"]

REDUCTIONS = ("mean", "sum", "none")


def weight_scale(xp: Namespace, weight: Array) -> Array:
    """A power of two near ``max |w|`` (1 where every weight is 0): dividing the weights by it
    is exact and brings the largest to [0.5, 2), so no sum of weights (or of weighted values
    that is itself representable) overflows or underflows: ``sum(w l)`` of two weights of
    ``1e308`` would be ``inf`` and one weight of ``5e-324`` times a loss below 1 would be 0.

    Computed on the device (no host read), so it also runs in traced JAX code."""
    largest = xp.max(xp.abs(weight))
    positive = (largest > 0) & (largest < math.inf)
    exponent = xp.floor(xp.log2(xp.where(positive, largest, 1.0)))
    # the scale and its reciprocal stay normal numbers: XLA (JAX) flushes subnormals to 0 and
    # may divide by multiplying with the reciprocal
    bound = -math.log2(float(xp.finfo(weight.dtype).smallest_normal))
    exponent = xp.clip(exponent, -bound, bound)
    return xp.pow(xp.asarray(2.0, dtype=weight.dtype, device=device(weight)), exponent)


def _weighted(xp: Namespace, values: Array, weight: Array | None) -> Array:
    if weight is None:
        return values
    # 0 * inf would be NaN: a sample of zero weight contributes exactly 0
    return xp.where(weight == 0, 0.0, values * weight)


def normalised_weights(xp: Namespace, weight: Array) -> tuple[Array, Array]:
    """``(w / s, s)`` with ``s`` the :func:`weight_scale` of ``w``.

    A positive weight stays positive: one so much smaller than the largest that it would
    become 0 (or subnormal, which XLA flushes to 0) becomes the smallest normal number instead,
    so "weight 0 leaves a sample out" keeps its meaning (its share of a sum is below the
    rounding either way)."""
    scale = weight_scale(xp, weight)
    scaled = weight / scale
    tiny = float(xp.finfo(weight.dtype).smallest_normal)
    return xp.where((scaled < tiny) & (weight > 0), tiny, scaled), scale


def _normalised(xp: Namespace, weight: Array | None) -> tuple[Array | None, Array | float]:
    if weight is None:
        return None, 1.0
    return normalised_weights(xp, weight)


def _positive_sum(xp: Namespace, scaled: Array) -> Array:
    total = xp.sum(scaled)
    # only reachable with check_values=False: an all-ignored batch contributes 0, not NaN
    return xp.where(total > 0, total, 1.0)


def _mean_factor(xp: Namespace, scaled: Array | None, scale: Array | float,
                 mean_weight: Array | None) -> Array | float:
    """``s / sum(v)`` for weights ``w = scaled · s``: the mean's factor of ``sum(scaled l)``
    (``v`` is ``mean_weight``, else ``w``), computed from normalised sums."""
    if mean_weight is None:
        return 1.0 / _positive_sum(xp, scaled)  # v = w: the scales cancel
    norm, norm_scale = normalised_weights(xp, mean_weight)
    return (scale / norm_scale) / _positive_sum(xp, norm)


def reduce(xp: Namespace, values: Array, reduction: str, *, weight: Array | None = None,
           mean_weight: Array | None = None) -> Array:
    """Reduce per-sample ``values`` as ``reduction`` says (see the module docstring).

    Weighted sums are taken over the weights divided by a power of two near their largest
    value (:func:`weight_scale`, exact) and scaled back once, so the result is right
    whenever it is representable, however large or small the weights."""
    if reduction == "none":
        return _weighted(xp, values, weight)
    if weight is None and mean_weight is None:
        # one autograd node instead of a sum and a division
        return xp.mean(values) if reduction == "mean" else xp.sum(values)
    scaled, scale = _normalised(xp, weight)
    total = xp.sum(_weighted(xp, values, scaled))
    if reduction == "sum":
        return total if weight is None else total * scale
    return total * _mean_factor(xp, scaled, scale, mean_weight)


def reduction_scale(xp: Namespace, shape: tuple[int, ...], reduction: str, *,
                    weight: Array | None = None, mean_weight: Array | None = None
                    ) -> Array | float:
    """Per-sample factor ``d(reduced)/d(l_i)``; for ``"none"`` that of the sum of the outputs."""
    if reduction == "mean":
        if weight is None and mean_weight is None:
            return 1.0 / float(math.prod(shape))
        scaled, scale = _normalised(xp, weight)
        factor = _mean_factor(xp, scaled, scale, mean_weight)
        return factor if scaled is None else scaled * factor
    return 1.0 if weight is None else weight
