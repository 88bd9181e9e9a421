"""Array namespaces, dtypes and numerically stable primitives.

Everything here works on any array-API array (NumPy, PyTorch, JAX, array-api-strict). A native
fast path is used only where it was measured to help, and each one says so. Nothing in this module
converts an array to NumPy, so autograd and ``jax.jit`` flow through.
"""

from __future__ import annotations

import contextlib
import functools
import math
import sys
from typing import Any

import array_api_compat as aac
import numpy as np

from losskit import _torch
from losskit._torch import torch_softmax

Array = Any
Namespace = Any

__all__ = [
    "Array",
    "Namespace",
    "SoftmaxTerms",
    "add_at_labels",
    "as_array",
    "compute_dtype",
    "device",
    "first_index",
    "host_array",
    "index_text",
    "is_low_precision",
    "is_real_dtype",
    "is_tensor",
    "is_traced",
    "limit_of_infinite_rows",
    "log_sigmoid",
    "log_softmax",
    "log_softmax_at",
    "machine_epsilon",
    "maybe_nonzero",
    "mul_zero_safe",
    "namespace_and_arrays",
    "numpy_errors_silenced",
    "numpy_row_dot",
    "row_dot",
    "row_max",
    "safe_log",
    "safe_log1m",
    "select",
    "sigmoid",
    "sigmoid_parts",
    "take_labels",
    "to_bool",
    "to_float",
    "torch_softmax",
    "with_derivative",
]


_TABLE_LIBRARIES = ("pandas", "polars")
_STRING_FIX = ("Labels are strings: encode them as integers (e.g. with "
               "numpy.unique(y, return_inverse=True), or sklearn's LabelEncoder), the same way "
               "for every batch")


def _string_fix(name: str) -> str:
    return _STRING_FIX if name in ("y_true", "y_pred") else f"Pass numbers as {name}"


def _fail(func: str, name: str, found: str, fix: str, error: type[Exception] = ValueError):
    # the template of losskit._validation.fail (which imports this module)
    raise error(f"{func}: {name} {found}. {fix}")


def _first_string(a: np.ndarray) -> tuple[int, ...] | None:
    """Index of the first ``str`` (or ``bytes``) in an object array, else ``None``."""
    for index, item in np.ndenumerate(a):
        if isinstance(item, (str, bytes)):
            return index
    return None


def _numeric_host(func: str, name: str, a: np.ndarray) -> np.ndarray:
    """A NumPy array with a numeric dtype: strings and objects get losskit's errors."""
    kind = a.dtype.kind
    if kind in "biuf":
        return a
    if kind in "US":
        index = next(iter(np.ndindex(a.shape)), ())
        shown = f" ({a[index].item()!r} at index {index_text(index)})" \
            if a.size else ""
        _fail(func, name, f"holds strings{shown}", _string_fix(name), TypeError)
    if kind == "O":
        index = _first_string(a)
        if index is not None:
            where = index_text(index)
            _fail(func, name, f"holds strings ({a[index]!r} at index {where})",
                  _string_fix(name), TypeError)
        try:  # numbers (and None, which becomes NaN and is reported by the value checks)
            return a.astype(np.float64)
        except (TypeError, ValueError):
            _fail(func, name, "holds Python objects that are not numbers",
                  "Pass numbers (a numeric NumPy, pandas, PyTorch or JAX array)", TypeError)
    return a  # complex, datetime, ...: the dtype checks name them


def _plain_host(func: str, name: str, value: np.ndarray) -> np.ndarray:
    """The plain ``ndarray`` of a ``numpy.matrix`` or a masked array without masked entries:
    their operators (``*`` a matrix product, reductions that keep two axes, masked methods
    without NumPy's keywords) are not the element-wise ones the losses compute with. Masked
    entries get losskit's error: a loss has no value for them."""
    if isinstance(value, np.ma.MaskedArray):
        if np.ma.getmaskarray(value).any():
            index = tuple(int(i) for i in np.argwhere(np.ma.getmaskarray(value))[0])
            _fail(func, name, f"is a masked array with masked entries (at index "
                  f"{index_text(index)})", "Leave those samples out, or pass a sample_weight "
                  "of 0 for them with the masked entries filled (numpy.ma.filled)")
        return np.asarray(value.data)
    return np.asarray(value)


def host_array(func: str, name: str, value: Any) -> Any:
    """``value`` as losskit takes it in: the input boundary of every public function.

    Lists, tuples, scalars, pandas and polars objects become NumPy arrays (as scikit-learn
    accepts them); ragged nested lists, strings and PyTorch ``meta`` tensors (shapes without
    data) get losskit's error naming ``func`` and the argument ``name``. Arrays of other
    libraries pass unchanged (nothing is read from a device).
    """
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        if isinstance(value, (np.matrix, np.ma.MaskedArray)):
            value = _plain_host(func, name, value)
        return value if value.dtype.kind in "biuf" else _numeric_host(func, name, value)
    if isinstance(value, (list, tuple, int, float, bool, np.generic)):
        try:
            a = np.asarray(value)
        except ValueError as error:  # NumPy's "inhomogeneous shape"
            if "inhomogeneous" not in str(error) and "sequence" not in str(error):
                raise
            _fail(func, name, "is a ragged nested list (its rows have different lengths)",
                  "Pass a rectangular array: every row with the same number of entries "
                  "(pad, or compute the loss per group)")
        return _numeric_host(func, name, a)
    module = type(value).__module__.partition(".")[0]
    if module in _TABLE_LIBRARIES and callable(getattr(value, "to_numpy", None)):
        # a Series or DataFrame: its values, as scikit-learn takes them (missing values of
        # nullable columns become NaN, which the value checks report)
        return _numeric_host(func, name, np.asarray(value.to_numpy()))
    if getattr(value, "is_meta", False) is True:
        _fail(func, name, f"is a tensor on the 'meta' device (shape {tuple(value.shape)}, no "
              "data)", "Pass a tensor that holds data (on 'cpu' or an accelerator); meta "
              "tensors are for shape inference only")
    return value


def _library(x: Array) -> str:
    module = type(x).__module__.partition(".")[0]
    return "JAX" if module.startswith("jax") else module


def _check_narrowing(func: str, name: str, host: np.ndarray, moved: Array) -> None:
    """No value changes when NumPy data is moved into a narrower dtype (JAX without
    ``jax_enable_x64`` holds int64 as int32 and float64 as float32): labels 2**32 would wrap to
    0 and pass the label checks, finite weights would become inf or 0. Checked on the host
    copy, before the narrowed array is used."""
    if getattr(moved.dtype, "itemsize", 8) >= host.dtype.itemsize or host.size == 0:
        return  # the common case: nothing narrower (PyTorch keeps every NumPy dtype)
    try:
        target = np.dtype(str(moved.dtype).removeprefix("torch."))
    except TypeError:  # bfloat16 and other dtypes NumPy lacks
        target = np.dtype(np.float16) if host.dtype.kind == "f" else np.dtype(np.int8)
    kind = host.dtype.kind
    if kind in "iu" and target.kind in "iu":
        info = np.iinfo(target)
        bad = (host < info.min) | (host > info.max)
    elif kind == "f" and target.kind == "f":
        narrowed = host.astype(target)
        bad = (np.isfinite(host) & ~np.isfinite(narrowed)) | ((host != 0) & (narrowed == 0))
    else:
        return
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        where = index_text(index)
        _fail(func, name, f"has the value {host[index].item()!r} at index {where}, which "
              f"{target} cannot hold ({_library(moved)} keeps "
              f"{host.dtype} as {target}: the value would change silently)",
              "Enable 64-bit types (jax.config.update('jax_enable_x64', True)), or pass "
              "values that fit")


def namespace_and_arrays(
    func: str, y_pred: object, *others: object, names: tuple[str, ...] = ()
) -> tuple[Namespace, Array, list[Array | None]]:
    """Return ``(xp, y_pred, others)`` with every array in ``y_pred``'s library and device.

    ``y_pred`` decides the library (lists, tuples, scalars, pandas and polars objects count as
    NumPy, see :func:`host_array`). The other arguments may be ``None``, host data (as for
    ``y_pred``) or arrays of the same library; host data is moved to ``y_pred``'s library and
    device (labels kept on the host are common) after checking that no value changes on the
    way (a narrower dtype), any other mix is a ``TypeError``. ``names`` names ``y_pred`` and
    the others in error messages (default ``y_pred``, ``y_true``, ``sample_weight``).
    """
    fast = _plain_numpy(y_pred, others)
    if fast is not None:
        return fast
    fast = _plain_tensors(y_pred, others)
    if fast is not None:
        return fast
    labels = (*names, *("y_pred", "y_true", "sample_weight")[len(names):])
    labels = (*labels, *(f"array option {k}" for k in range(len(labels), len(others) + 1)))
    y_pred = host_array(func, labels[0], y_pred)
    try:
        xp = aac.array_namespace(y_pred)
    except TypeError:
        raise TypeError(
            f"{func}: {labels[0]} has unsupported type {type(y_pred).__name__}. "
            "Pass a NumPy, PyTorch, JAX or array-API array (or a list, or a pandas or polars "
            "object)."
        ) from None
    device = aac.device(y_pred)
    numpy_target = aac.is_numpy_namespace(xp)
    converted: list[Array | None] = []
    for name, value in zip(labels[1:], others, strict=False):
        value = host_array(func, name, value)
        if value is None:
            converted.append(None)
        elif isinstance(value, np.ndarray):
            if numpy_target:
                converted.append(value)
                continue
            if not value.flags.writeable:
                # read-only data (pandas' copy-on-write): PyTorch would share it and warn
                value = np.array(value)
            moved = xp.asarray(value, device=device)
            _check_narrowing(func, name, value, moved)
            converted.append(moved)
        else:
            try:
                # same type, same library: skip the (measured: ~6 µs) namespace resolution
                same = type(value) is type(y_pred) or aac.array_namespace(value, y_pred) is xp
            except TypeError:
                same = False
            if not same:
                _fail(func, name, f"comes from {_library(value)} ({type(value).__name__}) but "
                      f"{labels[0]} from {_library(y_pred)} ({type(y_pred).__name__}): arrays "
                      "from different libraries",
                      f"Pass all arrays from {labels[0]}'s library, or NumPy", TypeError)
            converted.append(value)
    return xp, y_pred, converted


@functools.cache
def _numpy_namespace() -> Namespace:
    """The array-API namespace of NumPy arrays: what ``array_namespace`` returns for one."""
    import array_api_compat.numpy

    return array_api_compat.numpy


def _plain_numpy(y_pred: Any, others: tuple[Any, ...]
                 ) -> tuple[Namespace, Array, list[Array | None]] | None:
    """:func:`namespace_and_arrays` of plain numeric NumPy arrays (each argument an
    ``np.ndarray`` of a boolean, integer or floating dtype, or ``None``): what the general
    path returns for them, without its per-argument screening and namespace resolution
    (measured on a 64-row batch: ~3 µs of a loss call, 1.6 -> 0.3 µs quiet). Anything else
    (lists, subclasses, other dtypes) returns ``None`` and takes the general path, with its
    conversions and errors."""
    if type(y_pred) is not np.ndarray or y_pred.dtype.kind not in "biuf":
        return None
    for value in others:
        if value is not None and (type(value) is not np.ndarray
                                  or value.dtype.kind not in "biuf"):
            return None
    return _numpy_namespace(), y_pred, list(others)


@functools.cache
def _torch_namespace() -> Namespace:
    """The array-API namespace of PyTorch tensors: what ``array_namespace`` returns for one."""
    import array_api_compat.torch

    return array_api_compat.torch


def _plain_tensors(y_pred: Any, others: tuple[Any, ...]
                   ) -> tuple[Namespace, Array, list[Array | None]] | None:
    """:func:`namespace_and_arrays` of plain PyTorch tensors (each argument a
    ``torch.Tensor`` or ``None``, none on the ``meta`` device), the common call of a training
    loop, without the per-argument screening and namespace resolution (measured: ~7 of the
    ~35 µs of a generic loss call on a small batch); anything else returns ``None`` and takes
    the general path, with its conversions and errors. Subclasses (fake and functional tensors
    under ``torch.compile``, ``Parameter``) take the general path too."""
    tensor = type(y_pred)
    if tensor.__module__ != "torch" or tensor.__name__ != "Tensor" or y_pred.is_meta:
        return None
    for value in others:
        if value is not None and (type(value) is not tensor or value.is_meta):
            return None
    return _torch_namespace(), y_pred, list(others)


def as_array(xp: Namespace, value: Any) -> Array:
    """NumPy reductions give scalars (``np.float64``); return a 0-d array like other libraries."""
    if aac.is_numpy_namespace(xp) and not isinstance(value, np.ndarray):
        return np.asarray(value)
    return value


def device(x: Array) -> Any:
    """The device of ``x`` (``"cpu"`` for NumPy)."""
    return aac.device(x)


def index_dtype(xp: Namespace) -> Any:
    """The widest integer dtype ``xp`` holds in its configuration, for labels and indices:
    int64, or int32 for JAX without ``jax_enable_x64`` (asking it for int64 warns at every
    call, then truncates). Its array-API default indexing dtype.

    >>> import numpy as np
    >>> index_dtype(np)
    dtype('int64')
    """
    info = getattr(xp, "__array_namespace_info__", None)
    if info is None:  # pragma: no cover - every supported namespace has it
        return xp.int64
    return info().default_dtypes()["indexing"]


def is_low_precision(xp: Namespace, dtype: Any) -> bool:
    """Whether ``dtype`` is a floating type narrower than 32 bits (float16, bfloat16)."""
    return xp.isdtype(dtype, "real floating") and xp.finfo(dtype).bits < 32


@functools.lru_cache(maxsize=256)
def is_real_dtype(xp: Namespace, dtype: Any) -> bool:
    """Whether ``dtype`` is real floating, integral or boolean (cached: checked on every call)."""
    return bool(xp.isdtype(dtype, ("real floating", "integral", "bool")))


@functools.lru_cache(maxsize=256)
def machine_epsilon(xp: Namespace, dtype: Any) -> float:
    """The machine epsilon of the floating ``dtype`` (cached: read on every call of the
    losses that clip probabilities or check row sums; ``finfo`` costs ~1 µs a call).

    >>> import numpy as np
    >>> machine_epsilon(np, np.dtype(np.float32)) == float(np.finfo(np.float32).eps)
    True
    """
    return float(xp.finfo(dtype).eps)


@functools.lru_cache(maxsize=256)
def compute_dtype(xp: Namespace, dtype: Any) -> tuple[Any, Any]:
    """Return ``(compute, result)`` dtypes for an input of ``dtype``.

    float16/bfloat16 are computed in float32 and returned in their own dtype; float32/float64
    are kept; anything else (integers, booleans) uses the library's default floating type.
    Cached per (library, dtype): it runs on every call of every loss.
    """
    if xp.isdtype(dtype, "real floating"):
        return (xp.float32 if is_low_precision(xp, dtype) else dtype), dtype
    default = xp.asarray(0.0).dtype
    return default, default


def is_tensor(x: Any) -> bool:
    """Whether ``x`` is a PyTorch tensor: ``array_api_compat.is_torch_array`` without its
    per-call type-cache lookup (~0.3 µs, several times in every call of a loss), and ``False``
    without importing torch when the caller has not."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def numpy_errors_silenced(value: object = None) -> contextlib.AbstractContextManager:
    """Silence NumPy's floating-point warnings: the losses handle ±inf on purpose and check NaN.

    With ``value`` given, skipped for PyTorch and JAX arrays, which do not warn (NumPy and
    libraries built on it, such as array-api-strict, do).
    """
    if value is not None and type(value) is not np.ndarray \
            and (is_tensor(value) or aac.is_jax_array(value)):
        return _NO_CONTEXT
    return np.errstate(all="ignore")


_NO_CONTEXT = contextlib.nullcontext()  # (reusable: it holds no state)


def is_traced(*values: Any) -> bool:
    """Whether any of ``values`` is a JAX tracer (inside ``jax.jit``, ``grad``, ``vmap``, ...):
    an array whose values cannot be read on the host. ``False`` without JAX loaded."""
    jax_core = sys.modules.get("jax.core")
    if jax_core is None:
        return False
    return any(isinstance(v, jax_core.Tracer) for v in values)


def maybe_nonzero(value: Any) -> bool:
    """``bool(value)`` for a hyperparameter, ``True`` for a traced one (its value is unknown
    while tracing): a body then takes the general branch, which is also right at 0."""
    return True if is_traced(value) else bool(value)


def to_bool(func: str, value: Array) -> bool:
    """Bring a 0-d boolean array to the host, with a clear error inside traced JAX code."""
    try:
        return bool(value)
    except Exception as error:  # JAX tracers raise their own ConcretizationTypeError family
        if type(error).__module__.startswith("jax"):
            raise TypeError(
                f"{func}: value checks need concrete arrays, but the inputs are traced "
                "(inside jax.jit, grad or vmap). Pass check_values=False in traced code (a "
                "loss does so itself unless check_values=True is passed), and check the data "
                "outside it."
            ) from None
        raise


def to_float(value: Array) -> float:
    """A 0-d array as a Python float (only used to build error messages)."""
    return float(value)


def index_text(index: tuple[int, ...]) -> str:
    """An array index as messages show it: the number for one axis, the tuple for several.

    >>> index_text((3,)), index_text((1, 2))
    ('3', '(1, 2)')
    """
    return f"{index[0]}" if len(index) == 1 else f"{index}"


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
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and aac.is_numpy_namespace(xp):
        # native fast path (measured: 5.7 -> 0.9 ms at 1e6 float32; NumPy's ``where`` is ten
        # times slower than a multiply): ``a * b`` differs from the masked product only where
        # it is NaN, so the mask is built only when a NaN is there
        product = a * b
        if np.isnan(product).any():
            product = np.where(a == 0, 0.0, product).astype(product.dtype, copy=False)
        return product
    # ``b`` is masked, not the product: the derivative in ``a`` stays ``b`` wherever ``b`` is
    # finite (a label's derivative at a label of exactly 0, e.g. the BCE's −z for soft targets
    # that saturate), only ``0 · ±inf`` (and ``0 · NaN``) is taken as 0, and autograd there
    # gives 0 in both factors (``where(a == 0, 0, a * b)`` gave ``0 · inf = NaN`` in ``a``).
    # Under ``jax.jit`` this costs more than a ``where`` outside the product (1.5 against
    # 0.84 ms at 1e6 float32, the JAX categorical cross-entropy from probabilities 1.3 ->
    # 1.5-2.2 ms, still 0.3-0.4x optax's), which would keep that NaN
    if isinstance(b, (int, float)):
        # a Python number: finite in ``a``'s dtype, a plain product (1e300 is inf in float32)
        if hasattr(a, "dtype") and xp.isdtype(a.dtype, "real floating") and \
                abs(b) <= float(xp.finfo(a.dtype).max):
            return a * b
        return xp.where(a == 0, 0.0, a * b)
    if aac.is_torch_array(a) and aac.is_torch_array(b):
        # the tensors' own where: the namespace's wrapper re-derives the result dtype per call
        return a * b.where((a != 0) | b.isfinite(), 0.0)
    return a * xp.where((a == 0) & ~xp.isfinite(b), 0.0, b)


def select(xp: Namespace, mask: Array, a: Array, b: Array | float) -> Array:
    """``xp.where(mask, a, b)`` for an array ``a`` of ``mask``'s shape and dtype of the result.

    On NumPy the mask is read first (one reduction): where it is all true, ``a`` itself is
    the result, with no ``where`` (measured: ``where`` costs 5 ms at 1e6 float32, ten times a
    multiply; the masks of the rare branches, a zero ``1 - p`` or a clip, are all true on
    almost every call).
    """
    if (isinstance(mask, np.ndarray) and isinstance(a, np.ndarray)
            and aac.is_numpy_namespace(xp) and a.shape == mask.shape
            and (isinstance(b, float) or (isinstance(b, np.ndarray) and b.dtype == a.dtype))
            and a.dtype.kind == "f" and mask.all()):
        return a
    return xp.where(mask, a, b)


def with_derivative(xp: Namespace, parts: Any, *args: Array, **params: Any) -> Array:
    """``parts(xp, *args, **params)[0]``: an element-wise value whose derivative in the last
    argument is ``parts(xp, *args, **params)[1]``, which JAX's autodiff then uses. A value with
    one axis fewer than the derivative is a function of the rows along the last axis (the
    derivative is each row's gradient).

    Under JAX the value is a ``jax.custom_jvp``: ``jit(value_and_grad)`` computes the value and
    that derivative in the forward pass and multiplies by the cotangent, instead of
    differentiating every ``where`` and careful form of the value (measured on the
    Student-t, focal and Tweedie losses: see benchmarks/README.md). The other arguments are
    differentiated by autodiff of the value (only when asked for), and the derivative is
    itself written in ``xp`` operations, so ``jax.hessian`` and ``jacfwd`` work. ``parts``
    must be a module-level function and ``params`` hashable (Python numbers): they key a
    cache of the wrapped functions. Other libraries: the value, computed as it is.
    """
    if not aac.is_jax_namespace(xp):
        return parts(xp, *args, **params)[0]
    return _jax_with_derivative(xp, parts, tuple(sorted(params.items())))(*args)


@functools.lru_cache(maxsize=64)
def _jax_with_derivative(xp: Namespace, parts: Any, params: tuple[tuple[str, Any], ...]) -> Any:
    import jax
    from jax.custom_derivatives import SymbolicZero

    options = dict(params)

    @jax.custom_jvp
    def value(*args: Array) -> Array:
        return parts(xp, *args, **options)[0]

    def rule(primals: tuple[Array, ...], tangents: tuple[Any, ...]) -> tuple[Array, Array]:
        out, derivative = parts(xp, *primals, **options)
        *others, last = tangents
        tangent = None
        if not isinstance(last, SymbolicZero):
            tangent = derivative * last
            if tangent.ndim > out.ndim:  # a function of rows: the gradient times the tangent
                tangent = xp.sum(tangent, axis=-1)
        if any(not isinstance(t, SymbolicZero) for t in others):
            def of_others(*leading: Array) -> Array:
                return parts(xp, *leading, primals[-1], **options)[0]

            zeros = tuple(xp.zeros_like(p) if isinstance(t, SymbolicZero) else t
                          for p, t in zip(primals[:-1], others, strict=True))
            _, more = jax.jvp(of_others, primals[:-1], zeros)
            tangent = more if tangent is None else tangent + more
        return out, tangent

    value.defjvp(rule, symbolic_zeros=True)
    return value


def safe_log(xp: Namespace, p: Array) -> Array:
    """``log(p)`` (``-inf`` at 0) whose autograd derivative is 0, not NaN, where ``p == 0``.

    ``0 · log 0`` terms are masked with ``where``; the masked branch still sends ``0 / p`` back
    through ``log`` in autograd, which is NaN at ``p = 0``. Taking the log of ``p`` with its
    zeros replaced by 1 keeps that branch finite.
    """
    positive = p > 0
    return xp.where(positive, xp.log(xp.where(positive, p, 1.0)), -math.inf)


def safe_log1m(xp: Namespace, p: Array) -> Array:
    """``log(1 - p)`` (accurate for small ``p``, ``-inf`` at 1), with a finite autograd
    derivative at ``p == 1`` (see :func:`safe_log`)."""
    below = p < 1
    return xp.where(below, xp.log1p(-xp.where(below, p, 0.0)), -math.inf)


def log_sigmoid(xp: Namespace, x: Array) -> Array:
    """``log(sigmoid(x))`` without overflow, exact at ±inf, with the right autograd at 0.

    ``-log1p(exp(-x))`` for ``x >= 0`` and ``x - log1p(exp(x))`` below: ``exp`` never sees a
    positive argument. Each branch gets an input clamped to its own side, so the branch that
    ``where`` discards has finite derivatives (no ``0 * inf = NaN`` in autograd).
    """
    if isinstance(x, np.ndarray) and aac.is_numpy_namespace(xp):
        # native fast path (measured: 24 -> 3 ms at 1e6 float32; no ``where``), the same
        # numbers as the branches below, signed zeros included: -(log1p(exp(-|x|)) - min(x, 0))
        return _log_sigmoid_from(np.log1p(np.exp(-np.abs(x))), x)
    if is_tensor(x):
        # native fast path (measured, 256 x 1 float32 with autograd: one kernel for the ten
        # element-wise ops below, ~25 µs less per call): PyTorch's log_sigmoid is the same
        # formula (min(x, 0) - log1p(exp(-|x|))), exact at ±inf, with finite derivatives
        return sys.modules["torch"].nn.functional.logsigmoid(x)
    positive = x >= 0
    x_pos = xp.where(positive, x, 0.0)
    x_neg = xp.where(positive, 0.0, x)
    return xp.where(positive, -xp.log1p(xp.exp(-x_pos)), x_neg - xp.log1p(xp.exp(x_neg)))


def sigmoid(xp: Namespace, x: Array) -> Array:
    """Logistic function without overflow: both branches use ``exp(-|x|) <= 1``. ``|x|`` is
    taken with the comparison the branches use, not ``abs``, whose autograd derivative at 0 is
    0: it gave sigmoid'(0) = 0 (the focal loss's autograd gradient at z = 0 was -0.125 for
    the exact -0.298)."""
    if isinstance(x, np.ndarray) and aac.is_numpy_namespace(xp):
        # native fast path (measured: 13 -> 3 ms at 1e6 float32; no ``where``), the same
        # numbers as the branches below: the numerator max(e, [x >= 0]) is 1 for x >= 0
        # (e <= 1) and e below
        e = np.exp(-np.abs(x))
        return np.maximum(e, x >= 0) / (1.0 + e)
    positive = x >= 0
    e = xp.exp(-xp.where(positive, x, -x))
    return xp.where(positive, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_parts(xp: Namespace, x: Array) -> tuple[Array, Array, Array, Array]:
    """``(sigmoid(x), sigmoid(-x), log_sigmoid(x), log_sigmoid(-x))``, the same numbers as the
    four functions, sharing ``exp(-|x|)`` and its ``log1p`` on NumPy (measured: 40 -> 9 ms at
    1e6 float32)."""
    if not (isinstance(x, np.ndarray) and aac.is_numpy_namespace(xp)):
        return sigmoid(xp, x), sigmoid(xp, -x), log_sigmoid(xp, x), log_sigmoid(xp, -x)
    e = np.asarray(np.abs(x))  # 0-d: a NumPy scalar, which cannot be written in place
    np.negative(e, out=e)
    np.exp(e, out=e)
    denominator = 1.0 + e
    softplus_e = np.log1p(e)
    p = np.maximum(e, x >= 0)
    p /= denominator
    np.maximum(e, x <= 0, out=e)
    e /= denominator
    return p, e, _log_sigmoid_from(softplus_e, x), _log_sigmoid_from(softplus_e, -x)


def _log_sigmoid_from(softplus_e: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``log_sigmoid(x)`` given ``log1p(exp(-|x|))``: ``-(that - min(x, 0))``, whose zero for a
    large ``x`` is ``-0`` as the branch ``-log1p(exp(-x))`` gives it."""
    out = np.asarray(softplus_e - np.minimum(x, 0.0))  # a 0-d result is a NumPy scalar
    np.negative(out, out=out)
    return out


def limit_of_infinite_rows(xp: Namespace, x: Array, m: Array) -> Array:
    """Rows whose maximum is ``+inf`` replaced by their softmax limit: 0 at each ``+inf`` (they
    share the probability equally), ``-inf`` elsewhere."""
    limit = xp.where(x == math.inf, xp.zeros_like(x), xp.full_like(x, -math.inf))
    return xp.where(m[..., None] == math.inf, limit, x)


def row_max(xp: Namespace, x: Array) -> Array:
    """Maximum over the last axis."""
    if type(x) is np.ndarray and x.size < _BLAS_ONE_THREAD:
        return np.maximum.reduce(x, axis=-1)  # a small batch: the ufunc without wrappers
    if aac.is_numpy_namespace(xp) and 1 < x.shape[-1] <= _FEW_CLASSES and x.ndim == 2:
        # native fast path (measured: 45 ms -> 7 ms at 1e6 x 10 float32): NumPy's reduction
        # over a short last axis runs one tiny inner loop per row; a transposed block held in
        # cache reduces along contiguous memory instead
        out = np.empty(x.shape[0], dtype=x.dtype)
        for start in range(0, x.shape[0], _BLOCK_ROWS):
            block = x[start:start + _BLOCK_ROWS]
            np.max(block.T.copy(), axis=0, out=out[start:start + _BLOCK_ROWS])
        return out
    return xp.max(x, axis=-1)


_FEW_CLASSES = 32
_BLOCK_ROWS = 8192
#: OpenBLAS computes a matrix-vector product of fewer elements than this in one thread
_BLAS_ONE_THREAD = 9216


def row_dot(xp: Namespace, a: Array, x: Array) -> Array:
    """``sum_c a_c x_c`` over the last axis with ``0 · ±inf = 0``; ``a`` may be 1-D (weights)."""
    if aac.is_numpy_namespace(xp):
        # native fast path (measured: 19 ms -> 2 ms at 1e6 x 10): a contraction instead of a
        # reduction over a short axis; rows where 0 met an infinity are redone exactly
        out = numpy_row_dot(a, x)
        if not math.isnan(np.add.reduce(out, axis=None)):
            return out  # no NaN: settled by one reduction (a NaN sum goes on to the test)
        bad = np.isnan(out)
        if bad.any():
            exact = np.sum(np.where(a == 0, 0.0, a * x), axis=-1)
            out = np.where(bad, exact, out)
        return out
    return xp.sum(mul_zero_safe(xp, a, x), axis=-1)


def numpy_row_dot(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``sum_c a_c x_c`` over the last axis, in one thread. Not ``x @ a``: OpenBLAS runs a
    matrix-vector product on threads that spin (measured at 1e6 float32 elements, process
    CPU time, two loaded cores: 7 ms, and 20 ms wall, against 0.3-0.6 ms for ``einsum``).
    Rows of up to 8 terms against one vector are contracted in transposed blocks held in
    cache (333334 x 3: 0.85 ms; ``einsum`` over the short axis 1.5-2.9 ms). Products too
    small for OpenBLAS to thread (a 64-row batch) stay ``x @ a``, the cheapest call there."""
    if a.ndim != 1:
        return np.einsum("...c,...c->...", a, x)
    if x.size < _BLAS_ONE_THREAD:
        return x @ a  # BLAS runs a product this small in one thread (and is fastest here)
    if x.ndim != 2 or x.shape[-1] > 8:
        return np.einsum("...c,c->...", x, a)
    out = np.empty(x.shape[0], dtype=np.result_type(a, x))
    for start in range(0, x.shape[0], _BLOCK_ROWS):
        stop = start + _BLOCK_ROWS
        np.einsum("cn,c->n", x[start:stop].T.copy(), a, out=out[start:stop])
    return out


class SoftmaxTerms:
    """The softmax of a row of logits, kept in the form its producer computed it in."""

    def __init__(self, xp: Namespace, log_p: Array | None, exp_shifted: Array | None,
                 total: Array | None) -> None:
        self.xp, self._log_p, self._exp, self._total = xp, log_p, exp_shifted, total

    def scaled_probabilities(self, factor: Array | float) -> Array:
        """``softmax * factor[..., None]``; with NumPy it reuses (so uses up) a buffer."""
        xp = self.xp
        factor = factor if isinstance(factor, float) else factor[..., None]
        if self._exp is None:
            return xp.exp(self._log_p) * factor
        row = (1.0 / self._total)[..., None] * factor
        exp, self._exp = self._exp, None
        exp *= row
        return exp


def log_softmax_at(xp: Namespace, x: Array, *, labels: Array | None = None,
                   vectors: tuple[Array, ...] = (), may_sync: bool = True
                   ) -> tuple[SoftmaxTerms, Array | None, list[Array]]:
    r"""Contractions of ``log softmax(x)`` over the last axis, without overflow or precision loss.

    Returns ``(terms, at_labels, dots)``: ``at_labels[i] = log p[i, labels[i]]`` and, for each
    ``v`` in ``vectors`` (shape ``(C,)`` or ``x.shape``), ``sum_c v_c log p_c`` (with
    ``0 · -inf = 0``). :math:`\log p = (x - m) - \log \sum_c e^{x_c - m}` with :math:`m` the
    row maximum, so nothing overflows and the shifted logits near the maximum stay exact. Rows
    holding ``+inf`` take their limit; a row that is all ``-inf`` gives NaN (reported by the
    checks). With ``may_sync=False`` nothing is read back from an accelerator (the limit is
    then taken on every row, as in traced JAX code); reading a CPU tensor is no device sync.
    """
    if aac.is_torch_namespace(xp) and not may_sync and not _torch.host_reads_are_free(x):
        log_p = log_softmax(xp, x, may_sync=False)
        at = None if labels is None else take_labels(xp, log_p, labels)
        return SoftmaxTerms(xp, log_p, None, None), at, [row_dot(xp, v, log_p) for v in vectors]
    if aac.is_torch_namespace(xp):
        # native fast path (measured: within a few % of F.cross_entropy): log_softmax as one
        # kernel, and rows holding +inf (NaN there) looked for in the n results only
        log_p = torch_softmax(x, log=True)
        at = None if labels is None else take_labels(xp, log_p, labels)
        dots = [row_dot(xp, v, log_p) for v in vectors]
        results = [r for r in (at, *dots) if r is not None]
        # tensor methods: the compat namespace's any() adds a dtype conversion per call
        if results and _holds_nan(functools.reduce(lambda a, b: a + b, results)):
            log_p = log_softmax(xp, x)
            at = None if labels is None else take_labels(xp, log_p, labels)
            dots = [row_dot(xp, v, log_p) for v in vectors]
        return SoftmaxTerms(xp, log_p, None, None), at, dots
    if aac.is_jax_namespace(xp):
        # native fast path (measured, jit(value_and_grad), 2e5 x 10 and 4e3 x 1000: 5.3x and
        # 11x optax's softmax_cross_entropy_with_integer_labels before, see the benchmarks'
        # README for after): as on NumPy, the (n, C) log-probabilities are never formed, and
        # the row shift is a constant to autograd (the loss does not depend on it; its
        # derivative through the max was a pass of compares and a scatter per call)
        from jax.lax import stop_gradient

        m, replaced = _finite_row_max(xp, x)
        shifted = (x if replaced is None else replaced) - stop_gradient(m)[..., None]
        exp = xp.exp(shifted)
        total = xp.sum(exp, axis=-1)
        log_total = xp.log(total)
        at = None if labels is None else take_labels(xp, shifted, labels) - log_total
        dots = [row_dot(xp, v, shifted) - log_total * (xp.sum(v) if v.ndim == 1
                                                       else xp.sum(v, axis=-1))
                for v in vectors]
        return SoftmaxTerms(xp, None, exp, total), at, dots
    if not aac.is_numpy_namespace(xp):
        log_p = log_softmax(xp, x)
        at = None if labels is None else take_labels(xp, log_p, labels)
        return SoftmaxTerms(xp, log_p, None, None), at, [row_dot(xp, v, log_p) for v in vectors]
    # native fast path (measured: 3x faster than the generic code at 1e6 x 10): the (n, C)
    # log-probabilities are never materialised; one buffer holds x - m, then its exp
    m = _finite_row_max(xp, x)
    x = x if m[1] is None else m[1]
    shifted = np.subtract(x, m[0][..., None])
    at = None if labels is None else take_labels(xp, shifted, labels)
    dots = [row_dot(xp, v, shifted) for v in vectors]
    np.exp(shifted, out=shifted)
    total = row_dot(xp, np.ones(x.shape[-1], dtype=x.dtype), shifted)
    log_total = np.log(total)
    if at is not None:
        at = at - log_total
    dots = [d - log_total * (np.sum(v) if v.ndim == 1 else np.sum(v, axis=-1))
            for d, v in zip(dots, vectors, strict=True)]
    return SoftmaxTerms(xp, None, shifted, total), at, dots


def _below_inf(x: Array) -> bool:
    """Whether the largest value of ``x`` reads as below ``+inf`` on the host, where that read
    is free (a NumPy array, a CPU tensor): then no value is ``+inf``, settled by one reduction
    and a read, where ``any(x == inf)`` took two passes (NaN reads as not below: the exact
    test follows). ``False`` where it cannot be read for free."""
    if type(x) is np.ndarray and x.size:
        return bool(np.maximum.reduce(x, axis=None) < math.inf)
    if is_tensor(x) and _torch.host_reads_are_free(x) and x.numel():
        return x.detach().max().item() < math.inf
    return False


def _holds_nan(x: Array) -> bool:
    """Whether the tensor ``x`` holds a NaN: a sum that is not NaN settles it in one
    reduction and a read on the CPU (two passes otherwise)."""
    if _torch.host_reads_are_free(x) and not math.isnan(x.detach().sum().item()):
        return False
    return to_bool("log_softmax", x.isnan().any())


def _finite_row_max(xp: Namespace, x: Array) -> tuple[Array, Array | None]:
    """A finite shift per row (the row maximum, 0 for rows with none) and, if some row holds
    ``+inf``, ``x`` with those rows replaced by their limit (else ``None``)."""
    m = row_max(xp, x)
    if type(m) is np.ndarray and math.isfinite(np.add.reduce(m, axis=None)):
        # NumPy, every row maximum finite (their sum is): nothing to replace, settled by one
        # reduction (where the +inf probe and the ``where`` of the finite shift took three)
        return m, None
    replaced = None
    if aac.is_jax_namespace(xp):
        from jax.lax import stop_gradient

        # the shift is a constant to autograd (a softmax does not depend on it; the derivative
        # of the max was a pass of compares and a scatter per call)
        m = stop_gradient(m)
        # traced code cannot branch on data: always take the limit where a row holds +inf
        replaced = limit_of_infinite_rows(xp, x, m)
        # the maximum of a limit row is 0 (its former +inf entries): no second pass
        m = xp.where(m == math.inf, 0.0, m)
    elif not _below_inf(m) and to_bool("softmax", xp.any(m == math.inf)):
        replaced = limit_of_infinite_rows(xp, x, m)
        m = row_max(xp, replaced)
    return xp.where(xp.isfinite(m), m, 0.0), replaced


def log_softmax(xp: Namespace, x: Array, *, may_sync: bool = True) -> Array:
    """``log(softmax(x))`` over the last axis, stable for large and infinite logits.

    ``(x - m) - log(sum(exp(x - m)))`` with ``m`` the row maximum. A row holding ``+inf`` takes
    its limit (the probability is shared equally by the ``+inf`` entries); a row that is all
    ``-inf`` has no softmax and gives NaN (reported by the checks). ``may_sync=False`` reads
    nothing back to the host (the limit is taken with ``where`` on every row).
    """
    if aac.is_torch_namespace(xp):
        # native fast path (measured: one fused kernel, as F.cross_entropy uses)
        if not may_sync and not _torch.host_reads_are_free(x):
            # without reading the host: +inf becomes the largest finite value, whose softmax
            # is the limit's (exact where the loss is finite; a loss that is +inf in the
            # limit comes out as a finite number above 1e38 instead)
            return x.clamp(max=xp.finfo(x.dtype).max).log_softmax(-1)
        if not _below_inf(x) and to_bool("log_softmax", xp.any(x == math.inf)):
            x = limit_of_infinite_rows(xp, x, xp.max(x, axis=-1))
        return torch_softmax(x, log=True)
    m, replaced = _finite_row_max(xp, x)
    shifted = (x if replaced is None else replaced) - m[..., None]
    if isinstance(shifted, np.ndarray) and aac.is_numpy_namespace(xp):
        # native fast path: the row sums through BLAS (see row_dot)
        total = row_dot(xp, np.ones(x.shape[-1], dtype=shifted.dtype), np.exp(shifted))
        return shifted - np.log(total)[..., None]
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=-1, keepdims=True))


def take_labels(xp: Namespace, x: Array, labels: Array) -> Array:
    """``x[..., labels]`` per row: the entry of each sample's label along the last axis."""
    if aac.is_torch_namespace(xp):
        # native fast path: gather without the index normalisation of the generic version
        return x.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    return xp.take_along_axis(x, labels[..., None], axis=-1)[..., 0]


def add_at_labels(xp: Namespace, x: Array, labels: Array, values: Array) -> Array:
    """``x`` with ``values`` added at each sample's label along the last axis.

    With NumPy ``x`` may be updated in place (pass an array you own) and the result is the
    return value; other libraries get a copy.
    """
    if aac.is_numpy_namespace(xp):
        # native fast path: fancy indexing instead of an (n, C) one-hot mask; the reshape is
        # a copy when x is not contiguous (a class axis moved last), so return it
        flat = x.reshape(-1, x.shape[-1])
        rows = np.arange(flat.shape[0])
        flat[rows, np.reshape(labels, (-1,))] += np.reshape(values, (-1,))
        return flat.reshape(x.shape)
    classes = xp.arange(x.shape[-1], dtype=labels.dtype, device=aac.device(x))
    return xp.where(labels[..., None] == classes, x + values[..., None], x)
