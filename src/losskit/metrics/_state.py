"""Mergeable statistics: how a metric is computed, and why batching never changes its value.

A metric is written as a *body* that turns one batch into a **state** — a dict of statistics
(:class:`Sum`, :class:`Maximum`, :class:`Moments`, :class:`Samples`) — and a *finish* function
that turns a state into the value. Two states of the same metric merge into the state of the
concatenated data, so ``metric(all data) == finish(merge(state(batch) for batch in batches))``
up to float64 rounding. :func:`metric_function` builds the public function ``finish(body(...))``;
:class:`losskit.Accumulator` merges the states of many batches, epochs and processes.

Statistics are float64 arrays in the batch's library and device: merging them never brings data
to the host, so streaming over PyTorch tensors on a GPU does not synchronise per batch.
"""

from __future__ import annotations

import functools
import inspect
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import array_api_compat as aac
import numpy as np

from losskit import _torch
from losskit._array import Array, Namespace, as_array, device, numpy_errors_silenced
from losskit._validation import Boolean, Constraint, fail, options

__all__ = [
    "WEIGHT_SCALE",
    "Batch",
    "Count",
    "Maximum",
    "MetricSpec",
    "Moments",
    "Samples",
    "Sum",
    "accumulation_dtype",
    "merge_states",
    "metric_function",
    "state_from_json",
    "state_to_json",
    "state_to_namespace",
    "with_weight_scale",
]


def accumulation_dtype(xp: Namespace) -> Any:
    """float64 where the library has it (JAX only with ``jax_enable_x64``), else float32."""
    if not aac.is_jax_namespace(xp):
        return xp.float64
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        has_64 = xp.asarray(0.0, dtype=xp.float64).dtype == xp.float64
    return xp.float64 if has_64 else xp.float32


def _host(x: Array) -> np.ndarray:
    """A copy of ``x`` on the host as NumPy (only for state_dict: never inside a computation)."""
    if aac.is_torch_array(x):
        x = x.detach().cpu()
    return np.asarray(x)


def _convert(xp: Namespace, dev: Any, x: Array) -> Array:
    """``x`` in ``xp`` on ``dev``: arrays of ``xp`` unchanged, NumPy state (loaded) moved."""
    if isinstance(x, (np.ndarray, np.generic)):
        if aac.is_numpy_namespace(xp):
            return np.asarray(x)
        return xp.asarray(np.asarray(x), device=dev)
    if aac.array_namespace(x) is xp:
        return x
    fail("Accumulator", "update", f"mixes {type(x).__name__} arrays with a state in "
         f"{xp.__name__}", "Feed one accumulator arrays of one library (or merge states "
         "through state_dict()/load_state_dict())", TypeError)
    return x  # pragma: no cover


def _two_sum(xp: Namespace, a: Array, b: Array) -> tuple[Array, Array]:
    """``s = a + b`` and its rounding error ``e`` (Neumaier): ``a + b == s + e`` exactly."""
    if a.ndim == 0 and b.ndim == 0 and _torch.host_reads_are_free(a) \
            and _torch.host_reads_are_free(b):
        # native fast path (measured: about 25 -> 8 µs a merge of 0-d CPU tensors): the same
        # arithmetic on Python floats (IEEE float64, as the float64 arrays), two reads that
        # cost no device synchronisation, instead of eight tiny-tensor operations
        fa, fb = float(a), float(b)
        fs = fa + fb
        fe = ((fa - fs) + fb if abs(fa) >= abs(fb) else (fb - fs) + fa) \
            if math.isfinite(fs) else 0.0
        return (xp.full((), fs, dtype=a.dtype, device=a.device),
                xp.full((), fe, dtype=a.dtype, device=a.device))
    s = a + b
    error = xp.where(xp.abs(a) >= xp.abs(b), (a - s) + b, (b - s) + a)
    # an infinite sum has no finite rounding error (and inf - inf would be NaN)
    return s, xp.where(xp.isfinite(s), error, 0.0)


def _pad(xp: Namespace, a: Array, length: int) -> Array:
    """Per-class vectors from batches that saw fewer classes: the missing classes count 0."""
    if a.ndim != 1 or a.shape[0] >= length:
        return a
    zeros = xp.zeros((length - a.shape[0],), dtype=a.dtype, device=device(a))
    return xp.concat([a, zeros])


@dataclass
class Sum:
    """A compensated float64 sum (Neumaier): ``value + compensation`` is the total.

    A batch's own sum has no compensation yet (``None``, i.e. 0). Per-class vectors of
    different lengths merge by padding the shorter with zeros.
    """

    value: Array
    compensation: Array | None = None

    @classmethod
    def of(cls, xp: Namespace, total: Array) -> Sum:
        """The statistic of one batch whose (float64) sum is ``total``."""
        return cls(xp.asarray(total))

    def merge(self, xp: Namespace, other: Sum) -> Sum:
        a, b = self.value, other.value
        ca, cb = self.compensation, other.compensation
        if a.ndim == 1 and b.ndim == 1 and a.shape[0] != b.shape[0]:
            n = max(a.shape[0], b.shape[0])
            a, b = _pad(xp, a, n), _pad(xp, b, n)
            ca, cb = (None if c is None else _pad(xp, c, n) for c in (ca, cb))
        s, e = _two_sum(xp, a, b)
        for c in (ca, cb):
            if c is not None:
                e = e + c
        return type(self)(s, e)

    def total(self, xp: Namespace) -> Array:
        return self.value if self.compensation is None else self.value + self.compensation

    def arrays(self) -> dict[str, Array]:
        if self.compensation is None:
            return {"value": self.value}
        return {"value": self.value, "compensation": self.compensation}

    @classmethod
    def from_arrays(cls, arrays: dict[str, Array]) -> Sum:
        return cls(arrays["value"], arrays.get("compensation"))


class Count(Sum):
    """A compensated sum that does not scale with the weights (a number of samples)."""


@dataclass
class Maximum:
    """A running maximum."""

    value: Array

    def merge(self, xp: Namespace, other: Maximum) -> Maximum:
        return Maximum(xp.maximum(self.value, other.value))

    def total(self, xp: Namespace) -> Array:
        return self.value

    def arrays(self) -> dict[str, Array]:
        return {"value": self.value}

    @classmethod
    def from_arrays(cls, arrays: dict[str, Array]) -> Maximum:
        return cls(arrays["value"])


@dataclass
class Moments:
    """Weight, weighted mean and weighted sum of squared deviations (per output).

    Merged with Chan et al.'s parallel update, which stays accurate where ``sum(w y^2) -
    (sum(w y))^2 / sum(w)`` would cancel catastrophically (targets with a large mean).
    """

    weight: Array
    mean: Array
    m2: Array

    def merge(self, xp: Namespace, other: Moments) -> Moments:
        wa, wb = self.weight, other.weight
        w = wa + wb
        safe = xp.where(w > 0, w, 1.0)
        delta = other.mean - self.mean
        mean = self.mean + delta * (wb / safe)
        m2 = self.m2 + other.m2 + delta * delta * (wa * wb / safe)
        return Moments(w, mean, m2)

    def total(self, xp: Namespace) -> Moments:
        return self

    def arrays(self) -> dict[str, Array]:
        return {"weight": self.weight, "mean": self.mean, "m2": self.m2}

    @classmethod
    def from_arrays(cls, arrays: dict[str, Array]) -> Moments:
        return cls(arrays["weight"], arrays["mean"], arrays["m2"])


@dataclass
class Samples:
    """The batches themselves (scores, labels, weights), for metrics that need every score.

    Memory grows with the data: one float64 score (per class), one label and one weight per
    sample. The batches stay in their library and device until the value is computed.
    """

    parts: list[dict[str, Array]] = field(default_factory=list)

    def merge(self, xp: Namespace, other: Samples) -> Samples:
        return Samples(self.parts + other.parts)

    def total(self, xp: Namespace) -> dict[str, Array]:
        if len(self.parts) == 1:
            return self.parts[0]
        parts = self.parts
        scales = [p.get(WEIGHT_SCALE) for p in parts]
        if any(scale is not None for scale in scales):
            # each part's weights are in units of its own scale: bring them to the largest
            # (a factor <= 1, exact for powers of two), so no sum of weights overflows
            given = [scale for scale in scales if scale is not None]
            top = functools.reduce(xp.maximum, given)
            parts = [{**p, "weight": p["weight"] * (1.0 / top if scale is None else scale / top)}
                     for p, scale in zip(parts, scales, strict=True)]
        keys = [key for key in parts[0] if key != WEIGHT_SCALE]
        return {key: xp.concat([p[key] for p in parts]) for key in keys}

    def arrays(self) -> dict[str, Array]:
        raise NotImplementedError  # serialised part by part (see state_to_json)


_KINDS: dict[str, type] = {"sum": Sum, "count": Count, "maximum": Maximum,
                           "moments": Moments, "samples": Samples}
_NAMES = {cls: name for name, cls in _KINDS.items()}

Stat = Sum | Maximum | Moments | Samples
State = dict[str, Stat]


#: the state entry (a :class:`Maximum`) holding the power of two that a state's weighted
#: statistics are divided by (see :func:`losskit._reduction.weight_scale`); absent: 1
WEIGHT_SCALE = "weight_scale"


def _rescaled(xp: Namespace, stat: Stat, factor: Array) -> Stat:
    """``stat`` with its weight-linear parts multiplied by ``factor`` (counts, maxima and the
    per-part scaled samples unchanged)."""
    if isinstance(stat, Count | Maximum | Samples):
        return stat
    if isinstance(stat, Moments):
        return Moments(stat.weight * factor, stat.mean, stat.m2 * factor)
    compensation = None if stat.compensation is None else stat.compensation * factor
    return type(stat)(stat.value * factor, compensation)


def merge_states(xp: Namespace, a: State, b: State) -> State:
    """The state of the concatenation of the data of ``a`` and ``b``.

    States whose weights were normalised (an entry :data:`WEIGHT_SCALE`) are brought to the
    larger of the two scales first: a factor of at most 1, exact for powers of two (a part
    below 2**-1074 of the other vanishes, as it would in the sum)."""
    if WEIGHT_SCALE not in a and WEIGHT_SCALE not in b:
        return {key: a[key].merge(xp, b[key]) for key in a}
    scale_a = a[WEIGHT_SCALE].value if WEIGHT_SCALE in a else None
    scale_b = b[WEIGHT_SCALE].value if WEIGHT_SCALE in b else None
    if scale_a is None:
        scale_a = xp.ones_like(scale_b)
    if scale_b is None:
        scale_b = xp.ones_like(scale_a)
    top = xp.maximum(scale_a, scale_b)
    merged = {key: _rescaled(xp, a[key], scale_a / top).merge(
        xp, _rescaled(xp, b[key], scale_b / top)) for key in a if key != WEIGHT_SCALE}
    merged[WEIGHT_SCALE] = Maximum(top)
    return merged


def with_weight_scale(state: State, scale: Array | None) -> State:
    """``state`` of a batch whose weights were divided by ``scale`` (``None``: not divided):
    the scale recorded for :func:`merge_states` (samples keep it in their part)."""
    if scale is None:
        return state
    out: State = {}
    for key, stat in state.items():
        if isinstance(stat, Samples):
            stat = Samples([{**part, WEIGHT_SCALE: scale} for part in stat.parts])
        out[key] = stat
    if not any(isinstance(stat, Samples) for stat in state.values()):
        out[WEIGHT_SCALE] = Maximum(scale)
    return out


def _map_arrays(stat: Stat, fn: Callable[[Array], Any]) -> Stat:
    if isinstance(stat, Samples):
        return Samples([{k: fn(v) for k, v in part.items()} for part in stat.parts])
    return type(stat).from_arrays({k: fn(v) for k, v in stat.arrays().items()})


def state_to_namespace(xp: Namespace, dev: Any, state: State) -> State:
    """``state`` with NumPy arrays (from :func:`state_from_json`) moved to ``xp`` on ``dev``."""
    return {key: _map_arrays(stat, lambda x: _convert(xp, dev, x)) for key, stat in
            state.items()}


def _to_json_array(x: Array) -> dict[str, Any]:
    a = _host(x)
    return {"dtype": str(a.dtype), "shape": list(a.shape), "data": a.reshape(-1).tolist()}


def _from_json_array(d: dict[str, Any]) -> np.ndarray:
    return np.asarray(d["data"], dtype=d["dtype"]).reshape(d["shape"])


def state_to_json(state: State) -> dict[str, Any]:
    """Plain Python lists and numbers (exact: float64 values round-trip through JSON)."""
    out: dict[str, Any] = {}
    for key, stat in state.items():
        if isinstance(stat, Samples):
            parts = [{k: _to_json_array(v) for k, v in p.items()} for p in stat.parts]
            out[key] = {"kind": "samples", "parts": parts}
        else:
            out[key] = {"kind": _NAMES[type(stat)],
                        **{k: _to_json_array(v) for k, v in stat.arrays().items()}}
    return out


def state_from_json(data: dict[str, Any]) -> State:
    """The inverse of :func:`state_to_json`, with NumPy arrays."""
    state: State = {}
    for key, entry in data.items():
        kind = _KINDS[entry["kind"]]
        if kind is Samples:
            state[key] = Samples([{k: _from_json_array(v) for k, v in p.items()}
                                  for p in entry["parts"]])
        else:
            state[key] = kind.from_arrays({k: _from_json_array(v) for k, v in entry.items()
                                           if k != "kind"})
    return state


# ------------------------------------------------------------------------- metric functions


@dataclass
class Batch:
    """What a metric body returns: the batch's state, its namespace, device and result dtype."""

    xp: Namespace
    device: Any
    state: State
    out_dtype: Any


@dataclass(frozen=True)
class MetricSpec:
    """A metric's body (one batch to a state) and finish (a state to the value)."""

    name: str
    body: Callable[..., Batch]
    finish: Callable[..., Array]
    defaults: dict[str, Any]

    def value(self, xp: Namespace, state: State, opts: dict[str, Any]) -> Array:
        """The metric of ``state`` (float64), computed with the full options."""
        totals = {key: stat.total(xp) for key, stat in state.items()}
        with numpy_errors_silenced():
            return self.finish(xp, totals, **{**self.defaults, **opts})


def metric_function(*, finish: Callable[..., Array], **constraints: Constraint
                    ) -> Callable[[Callable[..., Batch]], Callable[..., Array]]:
    """Turn a metric body into the public metric ``finish(body(...))``.

    ``finish(xp, totals, **options)`` receives each statistic's total and every option of the
    public function (with defaults); it must depend on the data only through the totals.
    """

    def decorate(body: Callable[..., Batch]) -> Callable[..., Array]:
        signature = inspect.signature(body)
        if "check_values" in signature.parameters:
            constraints.setdefault("check_values", Boolean())
        checked = options(**constraints)(body)
        defaults = {name: p.default for name, p in signature.parameters.items()
                    if p.default is not inspect.Parameter.empty and name != "sample_weight"}
        spec = MetricSpec(body.__name__, checked, finish, defaults)

        @functools.wraps(body)
        def public(y_true: Any, y_pred: Any, /, **kwargs: Any) -> Array:
            with numpy_errors_silenced():
                batch = checked(y_true, y_pred, **kwargs)
            opts = {k: v for k, v in kwargs.items() if k != "sample_weight"}
            xp = batch.xp
            value = spec.value(xp, batch.state, opts)
            if value.dtype != batch.out_dtype:
                value = xp.astype(value, batch.out_dtype)
            return as_array(xp, value)

        public.__losskit_metric__ = spec  # type: ignore[attr-defined]
        public.__losskit_constraints__ = dict(constraints)  # type: ignore[attr-defined]
        return public

    return decorate
