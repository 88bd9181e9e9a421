"""Declared checks with one error template.

Every error losskit raises reads ``"<function>: <argument> <what was found>. <what to do>."`` and
is a ``ValueError`` (bad value) or ``TypeError`` (bad type). Option constraints are declared once
per function with :func:`options`; tests read them back to feed bad values to every function.

Checks on array *values* (ranges, NaN, labels, row sums) need the data on the host; they run by
default and are skipped when the caller passes ``check_values=False`` (for hot loops). Shape
checks are static and always run.

**Traced code** (the rule, applied by :func:`options` to every loss): when an array argument is
a JAX tracer (inside ``jax.jit``, ``grad``, ``vmap``, a Keras JAX-backend or optax step) and
the caller did not pass ``check_values``, the loss runs as with ``check_values=False``: its
values cannot be read without leaving the trace, and a jitted training step must not fail.
The same call outside the trace runs every check; an explicit ``check_values=True`` on traced
inputs raises a ``TypeError`` that says so. A real-valued option (``gamma``, ``alpha``,
``delta``, ``label_smoothing``, ...) may be a 0-d array: a concrete one is checked and used as
a Python float, a traced one is used as it is (so ``jax.grad`` flows into it and ``vmap`` can
map over it) and its range is not checked, by the same rule.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from losskit._array import (
    Array,
    Namespace,
    device,
    first_index,
    index_text,  # defined beside first_index; the checks here and in the losses use it
    is_tensor,
    is_traced,
    machine_epsilon,
    numpy_row_dot,
    row_dot,
    to_bool,
    to_float,
)
from losskit._torch import host_reads_are_free

__all__ = [
    "UNIT_INTERVAL",
    "Boolean",
    "Constraint",
    "Integer",
    "Interval",
    "OneOf",
    "Optional",
    "Real",
    "check_domain",
    "check_finite",
    "check_labels",
    "check_nonempty",
    "check_rows_sum_to_one",
    "check_same_shape",
    "constraints_of",
    "did_you_mean",
    "fail",
    "index_text",
    "options",
    "weight_array",
]


def fail(func: str, argument: str, found: str, fix: str, error: type[Exception] = ValueError):
    """Raise ``error`` with the project's single message template."""
    raise error(f"{func}: {argument} {found}. {fix}")


def did_you_mean(name: str, choices: Iterable[str] | Mapping[str, str], *, n: int = 3) -> str:
    """``"Did you mean 'a' or 'b'?"`` for the (at most ``n``) choices closest to ``name`` by
    :func:`difflib.get_close_matches` (ratio ≥ 0.6), and any that differs from it only in case;
    ``""`` when none is close. With a mapping, ``name`` is matched against its keys (e.g.
    normalised names and aliases) and their values are suggested, each once.

    Examples
    --------
    >>> did_you_mean("huber_los", ["huber_loss", "hinge_loss", "pinball_loss"])
    "Did you mean 'huber_loss' or 'hinge_loss'?"
    >>> did_you_mean("Diagnosis", ["diagnosis", "age"])
    "Did you mean 'diagnosis'?"
    >>> did_you_mean("bce", {"bce": "binary_cross_entropy", "bcee": "binary_cross_entropy"})
    "Did you mean 'binary_cross_entropy'?"
    >>> did_you_mean("zzz", ["huber_loss"])
    ''
    """
    table = choices if isinstance(choices, Mapping) else {c: c for c in choices}
    keys = list(table)
    close = difflib.get_close_matches(name, keys, n=n, cutoff=0.6)
    close += [k for k in keys if k.lower() == name.lower() and k not in close]
    suggestions = list(dict.fromkeys(table[k] for k in close))
    return f"Did you mean {' or '.join(map(repr, suggestions))}?" if suggestions else ""


# --------------------------------------------------------------------------- option constraints


class Constraint:
    """A declared constraint on one keyword option."""

    description: str = ""
    #: whether a 0-d real array may stand for the value, and whether a traced one may
    takes_scalar_arrays: bool = False
    takes_traced: bool = False
    #: values that violate the constraint, used by the tests to probe every function
    invalid: tuple[Any, ...] = ()

    def type_ok(self, value: Any) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError

    def value_ok(self, value: Any) -> bool:
        return True

    def check(self, func: str, name: str, value: Any) -> None:
        if not self.type_ok(value):
            fail(func, name, f"must be {self.description}; got {value!r} of type "
                 f"{type(value).__name__}", f"Pass {self.description}.", TypeError)
        if not self.value_ok(value):
            fail(func, name, f"must be {self.description}; got {value!r}",
                 f"Pass {self.description}.")


class OneOf(Constraint):
    def __init__(self, *values: str) -> None:
        self.values = values
        self.description = "one of " + ", ".join(repr(v) for v in values)
        self.invalid = ("not-an-option", 3)

    def type_ok(self, value: Any) -> bool:
        return isinstance(value, str)

    def value_ok(self, value: Any) -> bool:
        return value in self.values


class Boolean(Constraint):
    description = "True or False"
    invalid = ("yes", None)

    def type_ok(self, value: Any) -> bool:
        return isinstance(value, bool)


class Real(Constraint):
    """A real number in an interval; ``closed`` says which ends belong to it. A 0-d array
    may stand for it; a traced one only with ``traced=True`` (an option the body uses in
    array arithmetic, not in constants computed on the host)."""

    takes_scalar_arrays = True

    def __init__(self, low: float, high: float, closed: str = "both", *,
                 traced: bool = True) -> None:
        self.low, self.high, self.closed = low, high, closed
        self.takes_traced = traced
        left = "[" if closed in ("both", "left") else "("
        right = "]" if closed in ("both", "right") else ")"
        self.description = f"a number in {left}{low}, {high}{right}"
        bad = [x for x in (low - 1, high + 1) if math.isfinite(x)]
        if closed in ("right", "neither"):
            bad.append(low)
        if closed in ("left", "neither"):
            bad.append(high)
        self.invalid = (*[b for b in bad if math.isfinite(b)], math.nan, "0.1")

    def type_ok(self, value: Any) -> bool:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)

    def value_ok(self, value: Any) -> bool:
        if math.isnan(value):
            return False
        above = value >= self.low if self.closed in ("both", "left") else value > self.low
        below = value <= self.high if self.closed in ("both", "right") else value < self.high
        return above and below


class Integer(Constraint):
    description = "an integer"
    invalid = (1.5, "1")

    def type_ok(self, value: Any) -> bool:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)


class Optional(Constraint):
    """``None`` or a value meeting ``inner``."""

    def __init__(self, inner: Constraint) -> None:
        self.inner = inner
        self.takes_scalar_arrays = inner.takes_scalar_arrays
        self.takes_traced = inner.takes_traced
        self.description = f"None or {inner.description}"
        self.invalid = tuple(v for v in inner.invalid if v is not None)

    def type_ok(self, value: Any) -> bool:
        return value is None or self.inner.type_ok(value)

    def value_ok(self, value: Any) -> bool:
        return value is None or self.inner.value_ok(value)


def options(**constraints: Constraint) -> Callable[[Callable], Callable]:
    """Declare the constraints of a function's keyword options and check them on every call."""

    def decorate(fn: Callable) -> Callable:
        names = set(inspect.signature(fn).parameters)
        unknown = set(constraints) - names
        if unknown:  # pragma: no cover - programming error caught at import
            raise TypeError(f"constraints for unknown parameters {sorted(unknown)} of {fn}")

        takes_checks = "check_values" in names
        # (option, type, value) of the Python scalars that passed their check: a training
        # loop passes the same few at every call (each lookup replaces a check; entries are
        # only ever valid ones, so nothing can go stale)
        passed: set[tuple[str, type, Any]] = set()

        @functools.wraps(fn)
        def checked(*args: Any, **kwargs: Any) -> Any:
            traced = False
            for name, value in kwargs.items():
                kind = type(value)
                if kind in _CACHED_TYPES and (name, kind, value) in passed:
                    continue
                constraint = constraints.get(name)
                if constraint is None:
                    traced = traced or is_traced(value)
                    continue
                if constraint.takes_scalar_arrays and _is_scalar_array(value):
                    value = kwargs[name] = _scalar(fn.__name__, name, value,
                                                   constraint.description)
                    if is_traced(value):  # its value is unknown here: the traced-code rule
                        if not constraint.takes_traced:
                            fail(fn.__name__, name, "is a traced array, but it sets "
                                 "constants computed on the host",
                                 f"Pass {name} as a Python number (close over it, or mark "
                                 "it static: jax.jit(..., static_argnames=...))", TypeError)
                        traced = True
                        continue
                constraint.check(fn.__name__, name, value)
                if kind in _CACHED_TYPES and len(passed) < _CACHE_SIZE:
                    passed.add((name, kind, value))
            if takes_checks and "check_values" not in kwargs and (traced or is_traced(*args)):
                kwargs["check_values"] = False  # the traced-code rule (module docstring)
            return fn(*args, **kwargs)

        checked.__losskit_constraints__ = dict(constraints)  # type: ignore[attr-defined]
        checked.__losskit_passed__ = passed  # type: ignore[attr-defined]  # (for the tests)
        return checked

    return decorate


#: option values whose check :func:`options` remembers (hashable, compared by value; ``type``
#: is part of the key, so ``True`` is not taken for ``1``, and NaN never equals itself)
_CACHED_TYPES = frozenset({str, bool, int, float, type(None)})
#: at most this many remembered values per function (more are checked at every call)
_CACHE_SIZE = 256


def _is_scalar_array(value: Any) -> bool:
    """An array object (not a Python or NumPy scalar) standing for one option value."""
    return hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(
        value, numbers.Number)


def _scalar(func: str, name: str, value: Any, description: str) -> Any:
    """A 0-d real array option: a traced one as it is, a concrete one as a Python float."""
    kind = str(value.dtype)
    if tuple(value.shape) != () or "bool" in kind or "complex" in kind:
        fail(func, name, f"must be {description} (or a 0-d real array); got an array of "
             f"shape {tuple(value.shape)} and dtype {value.dtype}",
             f"Pass {description}.", TypeError)
    return value if is_traced(value) else float(value)


def constraints_of(fn: Callable) -> dict[str, Constraint]:
    """The declared option constraints of a public function (empty if none): a loss's from
    its spec, any other checked function's from :func:`options`."""
    spec = getattr(fn, "spec", None)
    if spec is not None and isinstance(getattr(spec, "options", None), Mapping):
        return dict(spec.options)
    return dict(getattr(fn, "__losskit_constraints__", {}))


# ------------------------------------------------------------------------------ array checks


def check_nonempty(func: str, name: str, x: Array) -> None:
    if math.prod(x.shape) == 0 or x.ndim == 0:
        found = "is a scalar" if x.ndim == 0 else f"is empty (shape {tuple(x.shape)})"
        fail(func, name, found, "Pass at least one sample, with samples along the first axis.")


def check_same_shape(func: str, y_true: Array, y_pred: Array) -> None:
    if tuple(y_true.shape) != tuple(y_pred.shape):
        fail(func, "y_true", f"has shape {tuple(y_true.shape)} but y_pred has shape "
             f"{tuple(y_pred.shape)}",
             "Shapes must match exactly (losskit never broadcasts (n, 1) against (n,)); "
             "reshape one of them, e.g. with .reshape(-1)")


def check_finite(func: str, xp: Namespace, name: str, x: Array, *, allow_inf: bool = False,
                 fix: str = "Remove or impute them before computing the loss") -> None:
    """No NaN (and no ±inf unless ``allow_inf``) in ``x``."""
    # fast path (measured: one reduction instead of an elementwise mask): a finite sum means
    # every value is finite, and a sum that is not NaN means no value is NaN
    if type(x) is np.ndarray and x.dtype.kind in "biuf":
        # NumPy: the ufunc's reduction itself, compared on the host (the namespace's sum,
        # isfinite and bool were three wrapped calls: 64 entries, ~2 µs less a call)
        value = float(np.add.reduce(x, axis=None))
        if not math.isnan(value) if allow_inf else math.isfinite(value):
            return
    elif is_tensor(x) and host_reads_are_free(x):
        # one kernel and one read of a CPU scalar (the tests on the host: ~3 µs less a call)
        value = x.sum().item()
        if not math.isnan(value) if allow_inf else math.isfinite(value):
            return
    else:
        total = xp.sum(x)
        if to_bool(func, ~xp.isnan(total) if allow_inf else xp.isfinite(total)):
            return
    bad = xp.isnan(x) if allow_inf else ~xp.isfinite(x)
    if to_bool(func, xp.any(bad)):
        index = first_index(xp, bad)
        count = int(xp.count_nonzero(bad))
        kind = "NaN" if allow_inf else "NaN or infinite values"
        fail(func, name, f"has {kind} ({count} of {math.prod(x.shape)}, first at "
             f"index {index_text(index)})", fix)


@dataclass(frozen=True)
class Interval:
    """A set of allowed values: the numbers between ``low`` and ``high`` (``closed`` says which
    ends belong to it), optionally only the integers among them. Shown as ``[0, 1]``,
    ``(0, inf)``, ``the integers in [0, 3)``."""

    low: float
    high: float
    closed: str = "both"
    integer: bool = False

    @classmethod
    def above(cls, low: float, *, strict: bool) -> Interval:
        """``(low, inf)`` (``strict``) or ``[low, inf)``."""
        return cls(low, math.inf, "neither" if strict else "left")

    @property
    def low_closed(self) -> bool:
        return self.closed in ("both", "left")

    @property
    def high_closed(self) -> bool:
        return self.closed in ("both", "right")

    def __str__(self) -> str:
        left, right = "[" if self.low_closed else "(", "]" if self.high_closed else ")"
        span = f"{left}{self.low:g}, {self.high:g}{right}"
        return f"the integers in {span}" if self.integer else span

    def contains(self, xp: Namespace, x: Array) -> Array:
        """Elementwise membership (NaN is outside)."""
        above = x >= self.low if self.low_closed else x > self.low
        below = x <= self.high if self.high_closed else x < self.high
        inside = above & below
        if self.integer and not xp.isdtype(x.dtype, ("integral", "bool")):
            inside = inside & (xp.floor(x) == x)
        return inside


#: the unit interval [0, 1] (probabilities, Bernoulli targets)
UNIT_INTERVAL = Interval(0.0, 1.0)


def _within(func: str, xp: Namespace, x: Array, domain: Interval) -> bool:
    """Whether every value of ``x`` is in ``domain`` (ignoring ``integer``); NaN is not.

    Two reductions and one host read (PyTorch: one ``aminmax`` kernel) instead of elementwise
    masks; the locating code runs only when this fails."""
    low, high = domain.low, domain.high
    if type(x) is np.ndarray and x.dtype.kind in "biuf" and x.size:
        # NumPy: the ufuncs' reductions themselves, compared on the host (``np.min`` and
        # ``np.max`` add ~1 µs of wrappers each on a small batch)
        smallest, largest = np.minimum.reduce(x, axis=None), np.maximum.reduce(x, axis=None)
        above = smallest >= low if domain.low_closed else smallest > low
        return bool(above and (largest <= high if domain.high_closed else largest < high))
    if is_tensor(x):
        smallest, largest = x.aminmax()
        if x.device.type == "cpu":
            # two reads of CPU scalars cost less than two comparisons and an ``&`` of tensors
            smallest, largest = smallest.item(), largest.item()
            above = smallest >= low if domain.low_closed else smallest > low
            return above and (largest <= high if domain.high_closed else largest < high)
    else:
        smallest, largest = xp.min(x), xp.max(x)
    above = smallest >= low if domain.low_closed else smallest > low
    below = largest <= high if domain.high_closed else largest < high
    return to_bool(func, above & below)


def check_domain(func: str, xp: Namespace, name: str, x: Array, domain: Interval, fix: str,
                 *, skip: tuple[str, float] | None = None) -> None:
    """All values of ``x`` in ``domain`` (NaN counts as outside): the one domain check.

    ``skip`` is ``(option name, value)`` of a value allowed besides the domain (a label's
    ``ignore_index``). The message names the first value outside, its index and the range
    of ``x``: ``"y_true has values outside [0, 1] (1.5 at index 2; min 0, max 1.5)"``.
    """
    # fast path (measured: two reductions instead of three elementwise passes); NaN makes
    # both comparisons false and falls through to the locating code
    if skip is None and not domain.integer and _within(func, xp, x, domain):
        return
    ok = domain.contains(xp, x)
    if skip is not None:
        ok = ok | (x == skip[1])
    bad = ~ok
    if not to_bool(func, xp.any(bad)):
        return
    index = first_index(xp, bad)
    extra = "" if skip is None else f" or {skip[0]}={skip[1]}"
    fail(func, name, f"has values outside {domain}{extra} ({_shown(xp, x, x[index])} at "
         f"index {index_text(index)}; min {_shown(xp, x, xp.min(x))}, "
         f"max {_shown(xp, x, xp.max(x))})", fix)


def _shown(xp: Namespace, x: Array, value: Array) -> str:
    return str(int(value)) if xp.isdtype(x.dtype, "integral") else f"{to_float(value):g}"


def check_rows_sum_to_one(func: str, xp: Namespace, name: str, p: Array, dtype: Any,
                          fix: str) -> None:
    """Probability rows (last axis) must sum to 1 within ``sqrt(eps)`` of ``dtype``."""
    tol = math.sqrt(machine_epsilon(xp, dtype))
    # fast path: the smallest and largest row sums, compared on the host (PyTorch on the CPU:
    # a sum and one ``aminmax``, two reads; NumPy: BLAS sums, ``min`` and ``max``), where the
    # elementwise ``|s - 1| > tol`` and ``any`` took four more kernels (measured at 64 x 3:
    # torch 8.3 -> 4.4 µs). NaN fails both comparisons and reaches the locating code below.
    # NumPy's sums by numpy_row_dot, not ``p @ ones``: OpenBLAS's matrix-vector product spins
    # its threads at 1e6 entries (categorical cross-entropy from probabilities, value at
    # 333334 x 3, checks on: 6.9x -> 2.4x the reference; this check runs on both inputs)
    if isinstance(p, np.ndarray):
        sums = numpy_row_dot(np.ones(p.shape[-1], dtype=p.dtype), p)
        if sums.size and 1.0 - tol <= np.minimum.reduce(sums, axis=None) \
                and np.maximum.reduce(sums, axis=None) <= 1.0 + tol:
            return
    elif is_tensor(p) and host_reads_are_free(p):
        low, high = p.sum(-1).aminmax()
        if 1.0 - tol <= low.item() and high.item() <= 1.0 + tol:
            return
    ones = xp.ones(p.shape[-1], dtype=p.dtype, device=device(p))
    bad = xp.abs(row_dot(xp, ones, p) - 1.0) > tol  # row sums (BLAS on NumPy)
    if to_bool(func, xp.any(bad)):
        index = first_index(xp, bad)
        total = to_float(xp.sum(p[index], axis=-1))
        fail(func, name, f"rows do not sum to 1 (row {index_text(index)} sums to {total:.10g}; "
             f"tolerance {tol:.2g})", fix)


def check_labels(func: str, xp: Namespace, labels: Array, n_classes: int,
                 ignore_index: int | None) -> None:
    """Labels are integers in ``[0, n_classes)`` (``ignore_index`` allowed).

    The one check of class labels, on every path (the native kernels call it too), and on the
    labels as given: NumPy labels are moved to another library only after
    :func:`losskit._array.namespace_and_arrays` made sure no value changes on the way.
    """
    check_domain(func, xp, "y_true", labels, Interval(0, n_classes, "left"),
                 f"Labels must index the {n_classes} classes of y_pred's class axis; map them "
                 "to 0..n_classes-1 (e.g. with numpy.unique(..., return_inverse=True))",
                 skip=None if ignore_index is None else ("ignore_index", ignore_index))


def weight_array(func: str, xp: Namespace, name: str, w: Array, shape: tuple[int, ...],
                 dtype: Any, *, check_values: bool, allow_all_zero: bool = False) -> Array:
    """Validate a weight array of exactly ``shape`` and cast it to ``dtype``."""
    if not xp.isdtype(w.dtype, ("real floating", "integral", "bool")):
        fail(func, name, f"has dtype {w.dtype}", "Pass real-valued weights", TypeError)
    if tuple(w.shape) != tuple(shape):
        fail(func, name, f"has shape {tuple(w.shape)} but {shape} is needed",
             "Pass one weight per entry (no broadcasting)")
    w = xp.astype(w, dtype)
    if check_values:
        check_finite(func, xp, name, w, fix="Pass finite weights")
        check_domain(func, xp, name, w, Interval.above(0.0, strict=False),
                     "Weights must be >= 0")
        if not allow_all_zero and not to_bool(func, xp.any(w > 0)):
            fail(func, name, "is all zero, so the weighted mean is undefined",
                 "Give at least one entry a positive weight")
    return w
