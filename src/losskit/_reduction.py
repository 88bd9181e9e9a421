"""The one place where per-sample losses become a reported number.

With per-sample losses :math:`l_i`, weights :math:`w_i` (sample weights, zero for ignored
samples) and normalising weights :math:`v_i` (``w_i`` unless a loss says otherwise, e.g. times the
class weight of the label):

* ``"none"``: :math:`w_i l_i` for every sample (0 where :math:`w_i = 0`, even if :math:`l_i` is
  not finite),
* ``"sum"``: :math:`\\sum_i w_i l_i`,
* ``"mean"``: :math:`\\sum_i w_i l_i / \\sum_i v_i` (the plain mean when there are no weights).
"""

from __future__ import annotations

import math

from losskit._array import Array, Namespace, device

__all__ = ["REDUCTIONS", "reduce", "reduction_scale", "weight_scale"]

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
    return xp.pow(xp.asarray(2.0, dtype=weight.dtype, device=device(weight)), exponent)


def _weighted(xp: Namespace, values: Array, weight: Array | None) -> Array:
    if weight is None:
        return values
    # 0 * inf would be NaN: a sample of zero weight contributes exactly 0
    return xp.where(weight == 0, 0.0, values * weight)


def _normalised(xp: Namespace, weight: Array | None) -> tuple[Array | None, Array | float]:
    """``(w / s, s)`` with ``s`` the :func:`weight_scale` of ``w`` (``(None, 1.0)`` if none)."""
    if weight is None:
        return None, 1.0
    scale = weight_scale(xp, weight)
    return weight / scale, scale


def _denominator(xp: Namespace, shape: tuple[int, ...], weight: Array | None,
                 mean_weight: Array | None) -> tuple[Array | float, Array | float]:
    """``(sum(v / t), t)``: the mean's normaliser ``sum(v)`` as a normalised sum and its
    scale ``t`` (``v`` is ``mean_weight``, else ``weight``)."""
    norm = mean_weight if mean_weight is not None else weight
    if norm is None:
        return float(math.prod(shape)), 1.0
    scaled, scale = _normalised(xp, norm)
    total = xp.sum(scaled)
    # only reachable with check_values=False: an all-ignored batch contributes 0, not NaN
    return xp.where(total > 0, total, 1.0), scale


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
    if mean_weight is None:
        # v = w: the scales cancel
        denominator, _ = _denominator(xp, tuple(values.shape), scaled, None)
        return total / denominator
    denominator, norm_scale = _denominator(xp, tuple(values.shape), None, mean_weight)
    return total / denominator * (scale / norm_scale)


def reduction_scale(xp: Namespace, shape: tuple[int, ...], reduction: str, *,
                    weight: Array | None = None, mean_weight: Array | None = None
                    ) -> Array | float:
    """Per-sample factor ``d(reduced)/d(l_i)``; for ``"none"`` that of the sum of the outputs."""
    if reduction == "mean":
        if weight is None and mean_weight is None:
            return 1.0 / float(math.prod(shape))
        scaled, scale = _normalised(xp, weight)
        if mean_weight is None:
            denominator, _ = _denominator(xp, shape, scaled, None)
            return scaled / denominator
        denominator, norm_scale = _denominator(xp, shape, None, mean_weight)
        factor = scale / norm_scale
        return (1.0 if scaled is None else scaled) / denominator * factor
    return 1.0 if weight is None else weight
