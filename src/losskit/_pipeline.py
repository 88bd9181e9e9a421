"""The input pipeline every loss, metric and family shares.

The common steps, in order, each in one place:

1. :func:`take_arrays`: every array in ``y_pred``'s (or ``raw``'s) library and device
   (:func:`~losskit._array.namespace_and_arrays`), no empty or scalar prediction, real dtypes;
2. :func:`class_axis_last`: the class axis checked and moved last, so the maths never handles
   axes;
3. :func:`check_target_shape`: ``y_true`` of ``y_pred``'s shape (or, for labels, of its shape
   less the class axis), never broadcast;
4. :func:`in_compute_dtype`: float16/bfloat16 computed in float32 (:func:`compute_dtype`).

Value checks come after, with :func:`losskit._validation.check_domain` (the one domain check).
``losses._core.prepare`` runs all four; ``metrics`` runs the first (metrics have their own
shape rules and accumulate in float64); families run 1 and 4 with their own layout checks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from losskit._array import (
    Array,
    Namespace,
    compute_dtype,
    is_real_dtype,
    namespace_and_arrays,
)
from losskit._validation import check_nonempty, check_same_shape, fail

__all__ = ["check_target_shape", "class_axis_last", "in_compute_dtype", "take_arrays"]


def take_arrays(func: str, y_pred: Any, y_true: Any, *others: Any,
                names: tuple[str, ...] = ()) -> tuple[Namespace, Array, Array, list[Any]]:
    """``(xp, y_pred, y_true, others)`` in ``y_pred``'s library and device, ``y_pred`` not
    empty, both of a real dtype. ``names`` names ``y_pred``, ``y_true`` and ``others`` in
    error messages (default ``y_pred``, ``y_true``, ``sample_weight``)."""
    if len(names) < 2:
        names = (*names, *_NAMES[len(names):])
    xp, y_pred, (y_true, *rest) = namespace_and_arrays(func, y_pred, y_true, *others,
                                                       names=names)
    check_nonempty(func, names[0], y_pred)
    if not (is_real_dtype(xp, y_pred.dtype) and is_real_dtype(xp, y_true.dtype)):
        for name, x in ((names[0], y_pred), (names[1], y_true)):
            if not is_real_dtype(xp, x.dtype):
                fail(func, name, f"has dtype {x.dtype}",
                     "Pass real-valued arrays (floating, integer or boolean)", TypeError)
    return xp, y_pred, y_true, rest


_NAMES = ("y_pred", "y_true")


def class_axis_last(func: str, xp: Namespace, y_pred: Array, y_true: Array, axis: int, *,
                    labels: bool) -> tuple[Array, Array, int | None]:
    """``axis`` checked, and moved last in ``y_pred`` (and in ``y_true`` unless it holds
    labels, which have no class axis). Returns ``(y_pred, y_true, moved)`` with ``moved`` the
    original axis, or ``None`` when it already was the last."""
    if not -y_pred.ndim <= axis < y_pred.ndim:
        fail(func, "axis", f"is {axis} but y_pred has {y_pred.ndim} dimension(s)",
             "Pass the index of y_pred's class axis (default -1)")
    axis = axis % y_pred.ndim
    check_target_shape(func, y_true, y_pred, axis=axis, labels=labels)
    if axis == y_pred.ndim - 1:
        return y_pred, y_true, None
    y_pred = xp.moveaxis(y_pred, axis, -1)
    # labels have no class axis: their axes already are y_pred's other axes in order
    if not labels and y_true.ndim == y_pred.ndim:
        y_true = xp.moveaxis(y_true, axis, -1)
    return y_pred, y_true, axis


def check_target_shape(func: str, y_true: Array, y_pred: Array, *, axis: int | None = None,
                       labels: bool = False) -> None:
    """``y_true`` has ``y_pred``'s shape; labels have it less the class ``axis``."""
    if not labels:
        check_same_shape(func, y_true, y_pred)
        return
    expected = tuple(n for i, n in enumerate(y_pred.shape) if i != axis)
    if tuple(y_true.shape) != expected:
        fail(func, "y_true", f"has shape {tuple(y_true.shape)} but labels for y_pred of "
             f"shape {tuple(y_pred.shape)} (class axis {axis}) need shape {expected}",
             "Pass one integer label per sample (no class axis, no broadcasting); "
             "for one-hot targets use categorical_cross_entropy")


def in_compute_dtype(xp: Namespace, y_pred: Array, y_true: Array | None = None
                     ) -> tuple[Array, Array | None, Any]:
    """``(y_pred, y_true, out_dtype)``: both cast to ``y_pred``'s compute dtype (``y_true``
    only if given), and the dtype results are returned in."""
    cdtype, out = compute_dtype(xp, y_pred.dtype)
    if y_pred.dtype != cdtype:
        y_pred = _cast(xp, y_pred, cdtype)
    if y_true is not None and y_true.dtype != cdtype:
        y_true = _cast(xp, y_true, cdtype)
    return y_pred, y_true, out


def _cast(xp: Namespace, x: Array, dtype: Any) -> Array:
    """``xp.astype(x, dtype)``; a NumPy array by its own method (the namespace's wrapper is
    the same copy and ~0.5 µs more a call)."""
    if type(x) is np.ndarray:
        return x.astype(dtype)
    return xp.astype(x, dtype)
