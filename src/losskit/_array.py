"""Array namespaces, dtypes and numerically stable primitives.

Everything here works on any array-API array (NumPy, PyTorch, JAX, array-api-strict). A native
fast path is used only where it was measured to help, and each one says so. Nothing in this module
converts an array to NumPy, so autograd and ``jax.jit`` flow through.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import array_api_compat as aac
import numpy as np

Array = Any
Namespace = Any

__all__ = [
    "Array",
    "Namespace",
    "add_at_labels",
    "as_array",
    "compute_dtype",
    "device",
    "first_index",
    "is_low_precision",
    "log_sigmoid",
    "log_softmax",
    "mul_zero_safe",
    "namespace_and_arrays",
    "numpy_errors_silenced",
    "sigmoid",
    "softmax_from_log",
    "take_labels",
    "to_bool",
    "to_float",
]


def _is_numpy_like(value: object) -> bool:
    return isinstance(value, (list, tuple, int, float, bool, np.ndarray, np.generic))


def namespace_and_arrays(
    func: str, y_pred: object, *others: object
) -> tuple[Namespace, Array, list[Array | None]]:
    """Return ``(xp, y_pred, others)`` with every array in ``y_pred``'s library and device.

    ``y_pred`` decides the library (lists, tuples and scalars count as NumPy). The other
    arguments may be ``None``, lists, NumPy arrays or arrays of the same library; NumPy data is
    moved to ``y_pred``'s library and device (labels kept on the host are common), any other mix
    is a ``TypeError``.
    """
    if _is_numpy_like(y_pred):
        y_pred = np.asarray(y_pred)
    try:
        xp = aac.array_namespace(y_pred)
    except TypeError:
        raise TypeError(
            f"{func}: y_pred has unsupported type {type(y_pred).__name__}. "
            "Pass a NumPy, PyTorch, JAX or array-API array (or a list)."
        ) from None
    device = aac.device(y_pred)
    converted: list[Array | None] = []
    for value in others:
        if value is None:
            converted.append(None)
        elif _is_numpy_like(value):
            converted.append(xp.asarray(np.asarray(value), device=device))
        else:
            try:
                same = aac.array_namespace(value, y_pred) is xp
            except TypeError:
                same = False
            if not same:
                raise TypeError(
                    f"{func}: arrays come from different libraries ({type(value).__name__} and "
                    f"{type(y_pred).__name__}). Pass all arrays from y_pred's library, or NumPy."
                )
            converted.append(value)
    return xp, y_pred, converted


def as_array(xp: Namespace, value: Any) -> Array:
    """NumPy reductions give scalars (``np.float64``); return a 0-d array like other libraries."""
    if aac.is_numpy_namespace(xp) and not isinstance(value, np.ndarray):
        return np.asarray(value)
    return value


def device(x: Array) -> Any:
    """The device of ``x`` (``"cpu"`` for NumPy)."""
    return aac.device(x)


def is_low_precision(xp: Namespace, dtype: Any) -> bool:
    """Whether ``dtype`` is a floating type narrower than 32 bits (float16, bfloat16)."""
    return xp.isdtype(dtype, "real floating") and xp.finfo(dtype).bits < 32


def compute_dtype(xp: Namespace, dtype: Any) -> tuple[Any, Any]:
    """Return ``(compute, result)`` dtypes for an input of ``dtype``.

    float16/bfloat16 are computed in float32 and returned in their own dtype; float32/float64
    are kept; anything else (integers, booleans) uses the library's default floating type.
    """
    if xp.isdtype(dtype, "real floating"):
        return (xp.float32 if is_low_precision(xp, dtype) else dtype), dtype
    default = xp.asarray(0.0).dtype
    return default, default


@contextlib.contextmanager
def numpy_errors_silenced() -> Iterator[None]:
    """Silence NumPy's floating-point warnings: the losses handle ±inf on purpose and check NaN."""
    with np.errstate(all="ignore"):
        yield


def to_bool(func: str, value: Array) -> bool:
    """Bring a 0-d boolean array to the host, with a clear error inside traced JAX code."""
    try:
        return bool(value)
    except Exception as error:  # JAX tracers raise their own ConcretizationTypeError family
        if type(error).__module__.startswith("jax"):
            raise TypeError(
                f"{func}: value checks need concrete arrays, but the inputs are traced "
                "(inside jax.jit or vmap). Pass check_values=False in traced code."
            ) from None
        raise


def to_float(value: Array) -> float:
    """A 0-d array as a Python float (only used to build error messages)."""
    return float(value)


def first_index(xp: Namespace, mask: Array) -> tuple[int, ...]:
    """Index of the first ``True`` in ``mask`` (which must have one), as a tuple."""
    flat = xp.reshape(mask, (-1,))
    position = int(xp.argmax(xp.astype(flat, xp.int8)))
    index = []
    for size in reversed(mask.shape):
        index.append(position % size)
        position //= size
    return tuple(reversed(index))


def mul_zero_safe(xp: Namespace, a: Array, b: Array) -> Array:
    """``a * b`` with ``0 * b = 0`` even where ``b`` is ±inf (the convention ``0·log 0 = 0``)."""
    return xp.where(a == 0, 0.0, a * b)


def log_sigmoid(xp: Namespace, x: Array) -> Array:
    """``log(sigmoid(x))`` without overflow, exact at ±inf, with the right autograd at 0.

    ``-log1p(exp(-x))`` for ``x >= 0`` and ``x - log1p(exp(x))`` below: ``exp`` never sees a
    positive argument. Each branch gets an input clamped to its own side, so the branch that
    ``where`` discards has finite derivatives (no ``0 * inf = NaN`` in autograd).
    """
    positive = x >= 0
    x_pos = xp.where(positive, x, 0.0)
    x_neg = xp.where(positive, 0.0, x)
    return xp.where(positive, -xp.log1p(xp.exp(-x_pos)), x_neg - xp.log1p(xp.exp(x_neg)))


def sigmoid(xp: Namespace, x: Array) -> Array:
    """Logistic function without overflow: both branches use ``exp(-|x|) <= 1``."""
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def log_softmax(xp: Namespace, x: Array) -> Array:
    """``log(softmax(x))`` over the last axis, stable for large and infinite logits.

    The row maximum is subtracted before ``exp`` (log-sum-exp). A row holding ``+inf`` is
    replaced by its limit: the probability is shared equally by the ``+inf`` entries and is 0
    elsewhere. A row that is all ``-inf`` has no softmax and gives NaN (reported by the checks).
    """
    m = xp.max(x, axis=-1, keepdims=True)
    if aac.is_jax_namespace(xp):
        # traced code cannot branch on data: always take the limit where a row holds +inf
        x = xp.where(m == math.inf, xp.where(x == math.inf, 0.0, -math.inf), x)
        m = xp.max(x, axis=-1, keepdims=True)
    elif to_bool("log_softmax", xp.any(m == math.inf)):
        x = xp.where(m == math.inf, xp.where(x == math.inf, 0.0, -math.inf), x)
        m = xp.max(x, axis=-1, keepdims=True)
    if aac.is_torch_namespace(xp):
        # native fast path (measured: one fused kernel instead of five passes)
        return x.log_softmax(-1)
    m = xp.where(xp.isfinite(m), m, 0.0)
    shifted = x - m
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=-1, keepdims=True))


def softmax_from_log(xp: Namespace, log_p: Array) -> Array:
    """Probabilities from log-probabilities (one ``exp``; used for gradients)."""
    return xp.exp(log_p)


def take_labels(xp: Namespace, x: Array, labels: Array) -> Array:
    """``x[..., labels]`` per row: the entry of each sample's label along the last axis."""
    return xp.take_along_axis(x, labels[..., None], axis=-1)[..., 0]


def add_at_labels(xp: Namespace, x: Array, labels: Array, values: Array) -> Array:
    """Return ``x`` with ``values`` added at each sample's label along the last axis."""
    if aac.is_numpy_namespace(xp):
        # native fast path: in-place fancy indexing avoids an (n, C) one-hot mask
        out = np.array(x, copy=True)
        flat = out.reshape(-1, out.shape[-1])
        flat[np.arange(flat.shape[0]), np.reshape(labels, (-1,))] += np.reshape(values, (-1,))
        return out
    classes = xp.arange(x.shape[-1], dtype=labels.dtype, device=aac.device(x))
    return xp.where(labels[..., None] == classes, x + values[..., None], x)
