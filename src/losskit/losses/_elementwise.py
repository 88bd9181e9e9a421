"""Shared plumbing of the element-wise regression losses (robust losses and likelihoods).

An element-wise loss computes one value per entry of ``y_pred``; :func:`per_sample` averages a
sample's outputs (the last axis of arrays with two or more dimensions), attaches the sample
weights and wraps the analytic gradient. Distribution parameters that may be a number or an
array (a variance, a scale) are declared with :class:`PositiveOrArray` / :class:`RealOrArray`,
so the option probes in the tests reach them, and converted with :func:`parameter`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from losskit._array import Array, Namespace, to_bool
from losskit._reduction import apply_scale, mean_over_outputs
from losskit._validation import Constraint, Interval, check_domain, check_finite, fail
from losskit.losses._core import (
    Inputs,
    PerSample,
    own_copy,
    weighted_parts,
)

__all__ = [
    "PositiveOrArray",
    "RealOrArray",
    "array_option",
    "check_at_least",
    "check_finite_pair",
    "finite_sum",
    "output_count",
    "parameter",
    "per_sample",
    "scaled_in_place",
    "spent_target",
]


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class RealOrArray(Constraint):
    """A finite real number, or an array (whose values the loss checks)."""

    description = "a finite number or an array of y_pred's shape"
    invalid = (math.nan, math.inf, "1.0", True)

    def type_ok(self, value: Any) -> bool:
        return _is_number(value) or (
            not isinstance(value, (str, bytes, bool, dict, set)) and value is not None)

    def value_ok(self, value: Any) -> bool:
        return not _is_number(value) or math.isfinite(value)


class PositiveOrArray(RealOrArray):
    """A finite number > 0, or an array (whose values the loss checks)."""

    description = "a finite number > 0 or an array of y_pred's shape"
    invalid = (0.0, -1.0, math.nan, math.inf, "1.0", True)

    def value_ok(self, value: Any) -> bool:
        return not _is_number(value) or (math.isfinite(value) and value > 0)


def array_option(value: Any) -> Any:
    """``value`` for :func:`~losskit.losses._core.prepare`'s ``arrays``: ``None`` for a number
    (kept as a Python float by :func:`parameter`, never moved to an array library)."""
    return None if _is_number(value) else value


def parameter(func: str, inputs: Inputs, name: str, value: Any, *,
              positive: bool, check_values: bool) -> float | Array:
    """A distribution parameter as a Python float or an array of ``y_pred``'s shape.

    ``value`` is what the caller passed; an array was moved to ``y_pred``'s library by
    :func:`losskit.losses._core.prepare` (given it as ``arrays={name: array_option(value)}``)
    and is read from ``inputs.array(name)``. Arrays must have
    ``y_pred``'s shape (or be 0-d) and are cast to the compute dtype; their values are checked
    (finite, and > 0 when ``positive``) unless ``check_values`` is false.
    """
    if _is_number(value):
        return float(value)
    xp = inputs.xp
    converted = inputs.array(name)
    if converted is None:  # pragma: no cover - prepare converts every non-None value
        raise AssertionError(name)
    if not xp.isdtype(converted.dtype, ("real floating", "integral")):
        fail(func, name, f"has dtype {converted.dtype}", "Pass real values", TypeError)
    shape = tuple(converted.shape)
    if shape not in ((), tuple(inputs.y_pred.shape)):
        fail(func, name, f"has shape {shape} but y_pred has shape {tuple(inputs.y_pred.shape)}",
             "Pass one value per entry of y_pred (no broadcasting), or a single number")
    converted = xp.astype(converted, inputs.y_pred.dtype)
    if check_values:
        check_finite(func, xp, name, converted, fix=f"Pass finite values of {name}")
        if positive:
            check_domain(func, xp, name, converted, Interval.above(0.0, strict=True),
                         f"{name} must be > 0 everywhere; predict it through a positive "
                         "activation (exp or softplus), or pass its logarithm instead")
    return converted


def per_sample(func: str, inputs: Inputs, elementwise: Array, gradient: Callable[[], Array],
               sample_weight: Array | None, *, check_values: bool,
               convention: str = "losskit", nan_hint: str = "check y_pred") -> PerSample:
    """Average the element-wise loss over each sample's outputs and attach weights.

    ``gradient`` returns the element-wise derivative of ``elementwise`` with respect to
    ``y_pred`` (same shape); the mean over ``k`` outputs divides it by ``k``. With
    ``convention="keras"`` or ``"torch"`` the weighted mean divides by the number of samples
    rather than the sum of the weights (Keras' ``sum_over_batch_size``).
    """
    xp = inputs.xp
    loss, k = mean_over_outputs(xp, elementwise)

    def gradient_per_sample() -> Array:
        g = gradient()
        return g if k == 1 else g / k

    return weighted_parts(func, inputs, loss, gradient_per_sample, sample_weight,
                          check_values=check_values, convention=convention, nan_hint=nan_hint)


def _numpy_floats(*arrays: Any) -> bool:
    return all(isinstance(a, np.ndarray) and a.dtype.kind == "f" for a in arrays)


def check_finite_pair(func: str, inputs: Inputs) -> bool:
    """``y_true`` and ``y_pred`` finite (:func:`~losskit._validation.check_finite` of each,
    with its message). On NumPy arrays of one size one BLAS dot decides first: a product
    ``y z`` is finite only where both factors are (``inf * 0`` and ``NaN`` are NaN), and a
    finite sum of products means every product is (a sum of finite products that overflows
    only sends the call to the two checks). One pass over both instead of a sum of each
    (measured at 1e6 float32: 0.29 ms against 0.54-0.64). Returns whether the inputs are
    known finite (always, unless it raised)."""
    xp, y, z = inputs.xp, inputs.y_true, inputs.y_pred
    if _numpy_floats(y, z) and y.size == z.size and y.dtype == z.dtype:
        if math.isfinite(np.vdot(y, z)):
            return True
    check_finite(func, xp, "y_true", y)
    check_finite(func, xp, "y_pred", z)
    return True


def check_at_least(func: str, xp: Namespace, name: str, x: Array, low: float, *,
                   strict: bool, fix: str) -> None:
    """:func:`~losskit._validation.check_domain` of ``x`` in ``[low, inf)`` (``(low, inf)``
    with ``strict``) for an ``x`` already checked finite: on NumPy only its minimum is read
    (the maximum's test, ``< inf``, is the finiteness already known; one reduction instead
    of two); otherwise, or where the minimum fails, the domain check with its message."""
    if _numpy_floats(x):
        smallest = x.min()
        if smallest > low or (smallest == low and not strict):
            return
    check_domain(func, xp, name, x, Interval.above(low, strict=strict), fix)


def scaled_in_place(gradient: Callable[[], Array], derivative: Callable[[], np.ndarray],
                    k: int = 1) -> Callable[[Array | float], Array]:
    """A NumPy loss's ``scaled_gradient`` (:class:`~losskit.losses._core.PerSample`): for a
    float factor, ``derivative()``, the element-wise derivative in a buffer the loss gives up
    (called at most once), divided by ``k`` and scaled in place: the same operations as the
    generic ``apply_scale(gradient(), scale)`` with ``gradient() = derivative / k``, without
    their two fresh arrays (each fresh 4 MB array page-faults in: about 1 ms at 1e6 float32
    here). Any other factor, or a second call, takes ``gradient`` and
    :func:`~losskit._reduction.apply_scale`."""
    unused = [True]

    def scaled(scale: Any) -> Any:
        if not isinstance(scale, float) or not unused:
            return apply_scale(np, gradient(), scale)
        unused.clear()
        g = derivative()
        if k != 1:
            g /= k
        if scale != 1.0:
            g *= scale
        return g

    return scaled


def spent_target(given: Any, inputs: Inputs) -> np.ndarray | None:
    """``inputs.y_true`` when :func:`~losskit.losses._core.prepare` made it as a fresh NumPy
    copy of ``given`` (a NumPy target of another dtype, cast to the compute dtype), else
    ``None``: a buffer a loss may write over once it has read the target for the last time
    (nothing reads ``inputs.y_true`` after the loss body, and a loss whose generic gradient
    reads the target must not spend it). One fresh 4 MB array less at 1e6 float32, and one
    fewer freed at the end of a call: with more, glibc handed the top of its heap back to the
    system and every later call page-faulted its arrays in again (Huber, MSE and MAE value +
    gradient of a float64 target, each alone in a process: 13-15 ms with 4,851 faults a call
    before, 4-5 ms with none; see benchmarks/README.md)."""
    taken = inputs.y_true
    return taken if isinstance(given, np.ndarray) and own_copy(given, taken) else None


def finite_sum(func: str, xp: Namespace, diff: Array) -> bool:
    """Whether a sum over ``diff`` is finite, so that every entry is (a loss's check of its two
    inputs through their difference: an infinite or NaN input leaves an infinite or NaN
    difference). On NumPy the sum of squares, one BLAS dot: 0.15 ms at 1e6 float32 against
    0.25 for the sum (a square that overflows only sends the caller to its two checks, which
    pass); elsewhere the sum."""
    if isinstance(diff, np.ndarray) and diff.ndim and diff.dtype.kind == "f":
        return math.isfinite(np.vdot(diff, diff))
    return to_bool(func, xp.isfinite(xp.sum(diff)))


def output_count(values: Array) -> int:
    """The number of outputs :func:`per_sample` averages a sample's loss over (its ``k``):
    the last axis of arrays with two or more dimensions, else 1."""
    return values.shape[-1] if values.ndim > 1 else 1
