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

from losskit._array import Array, Namespace

__all__ = ["REDUCTIONS", "reduce", "reduction_scale"]

REDUCTIONS = ("mean", "sum", "none")


def _weighted(xp: Namespace, values: Array, weight: Array | None) -> Array:
    if weight is None:
        return values
    # 0 * inf would be NaN: a sample of zero weight contributes exactly 0
    return xp.where(weight == 0, 0.0, values * weight)


def _denominator(xp: Namespace, shape: tuple[int, ...], weight: Array | None,
                 mean_weight: Array | None) -> Array | float:
    norm = mean_weight if mean_weight is not None else weight
    if norm is None:
        return float(math.prod(shape))
    total = xp.sum(norm)
    # only reachable with check_values=False: an all-ignored batch contributes 0, not NaN
    return xp.where(total > 0, total, 1.0)


def reduce(xp: Namespace, values: Array, reduction: str, *, weight: Array | None = None,
           mean_weight: Array | None = None) -> Array:
    """Reduce per-sample ``values`` as ``reduction`` says (see the module docstring)."""
    weighted = _weighted(xp, values, weight)
    if reduction == "none":
        return weighted
    if reduction == "mean" and weight is None and mean_weight is None:
        return xp.mean(weighted)  # one autograd node instead of a sum and a division
    total = xp.sum(weighted)
    if reduction == "sum":
        return total
    return total / _denominator(xp, tuple(values.shape), weight, mean_weight)


def reduction_scale(xp: Namespace, shape: tuple[int, ...], reduction: str, *,
                    weight: Array | None = None, mean_weight: Array | None = None
                    ) -> Array | float:
    """Per-sample factor ``d(reduced)/d(l_i)``; for ``"none"`` that of the sum of the outputs."""
    if reduction == "mean":
        denominator = _denominator(xp, shape, weight, mean_weight)
        return (1.0 if weight is None else weight) / denominator
    return 1.0 if weight is None else weight
