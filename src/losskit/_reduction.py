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
from typing import Any

import numpy as np

from losskit._array import Array, Namespace, as_array, device, is_tensor

__all__ = ["LOG2_E", "REDUCTIONS", "apply_scale", "batch_sums", "mean_over_outputs",
           "normalised_weights", "reduce", "reduced", "reduction_scale", "to_unit",
           "weight_scale"]

REDUCTIONS = ("mean", "sum", "none")

#: nats to bits
LOG2_E = 1.0 / math.log(2.0)


def to_unit(value: Array, unit: str) -> Array:
    """A value in nats converted to ``unit`` (``"nats"`` or ``"bits"``)."""
    return value * LOG2_E if unit == "bits" else value


def mean_over_outputs(xp: Namespace, values: Array) -> tuple[Array, int]:
    """Per-sample values of an element-wise loss: 1-D arrays are one sample per entry; with
    more dimensions the last axis holds a sample's outputs and is averaged (as Keras and, for
    the uniform mean, scikit-learn do). Returns the values and the number averaged."""
    if values.ndim <= 1:
        return values, 1
    k = values.shape[-1]
    if _is_torch_float(values):
        return values.mean(-1), k  # the tensor's method: no namespace wrapper per call
    return xp.mean(values, axis=-1), k


def _is_torch_float(values: Array) -> bool:
    """A floating PyTorch tensor, whose own ``mean`` and ``sum`` are the namespace's (which
    wraps them with ~2 µs of argument handling per call, measured on a 256 x 1 batch)."""
    return is_tensor(values) and values.is_floating_point()


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
        if _is_torch_float(values):
            return values.mean() if reduction == "mean" else values.sum()
        if type(values) is np.ndarray and values.dtype.kind == "f" and values.itemsize >= 4:
            # NumPy's own mean, without its wrappers (~2 µs a call on a small batch): the
            # pairwise sum, divided by the count as ``np.mean`` divides it (bit for bit)
            total = np.add.reduce(values, axis=None)
            if reduction == "sum":
                return total
            return values.dtype.type(total / np.intp(values.size))
        return xp.mean(values) if reduction == "mean" else xp.sum(values)
    scaled, scale = _normalised(xp, weight)
    total = xp.sum(_weighted(xp, values, scaled))
    if reduction == "sum":
        return total if weight is None else total * scale
    return total * _mean_factor(xp, scaled, scale, mean_weight)


def reduced(xp: Namespace, values: Array, reduction: str, *, weight: Array | None = None,
            mean_weight: Array | None = None, unit: str = "nats", dtype: Any = None) -> Array:
    """What a loss reports: :func:`reduce`, converted to ``unit`` and cast to ``dtype`` (the
    input's, for float16/bfloat16 computed in float32), as an array (not a NumPy scalar)."""
    value = to_unit(reduce(xp, values, reduction, weight=weight, mean_weight=mean_weight), unit)
    if dtype is not None and value.dtype != dtype:
        value = xp.astype(value, dtype)
    return as_array(xp, value)


def apply_scale(xp: Namespace, per_element: Array, scale: Array | float) -> Array:
    """Multiply a per-element gradient by per-sample factors (0 stays exactly 0)."""
    if isinstance(scale, float):
        return per_element if scale == 1.0 else per_element * scale
    while scale.ndim < per_element.ndim:
        scale = scale[..., None]
    # a zero-weight sample contributes exactly 0, even where its loss is not finite
    return xp.where(scale == 0, 0.0, per_element * scale)


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


def batch_sums(xp: Namespace, weighted: Array, normaliser: Array | None, dtype: Any,
               device: Any) -> tuple[Array, Array]:
    """``(sum_i w_i l_i, sum_i v_i)`` of one batch in ``dtype``: the two sums a streaming
    mean accumulates (``normaliser`` ``None``: every sample counts 1, so the count)."""
    total = reduce(xp, xp.astype(weighted, dtype), "sum")
    if normaliser is None:
        # a kernel on the device (a host scalar copied to a GPU would synchronise)
        return total, xp.full((), float(math.prod(weighted.shape)), dtype=dtype, device=device)
    return total, reduce(xp, xp.astype(normaliser, dtype), "sum")
