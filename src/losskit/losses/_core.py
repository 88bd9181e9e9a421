"""What every loss shares: input preparation, the per-sample result, reduction and units.

A loss is written as a *body* that validates its inputs and returns :class:`PerSample` — the
per-sample losses, their weights, and a closure computing the analytic gradient from the same
intermediate results. :func:`loss_function` turns the body into the public function (which
reduces and converts units) and registers it for :func:`losskit.gradient`.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from losskit import _torch
from losskit._array import (
    Array,
    Namespace,
    first_index,
    host_array,
    is_traced,
    machine_epsilon,
    numpy_errors_silenced,
    to_bool,
)
from losskit._pipeline import check_target_shape, class_axis_last, in_compute_dtype, take_arrays
from losskit._reduction import (
    REDUCTIONS,
    apply_scale,
    mean_over_outputs,
    normalised_weights,
    reduce,
    reduced,
    reduction_scale,
    to_unit,
)
from losskit._validation import Boolean, Constraint, OneOf, fail, index_text, options, weight_array
from losskit.losses._conventions import CONVENTIONS, Convention
from losskit.losses._spec import Kernel, LossExplanation, LossSpec, install, replace

__all__ = [
    "COMMON_OPTIONS",
    "Inputs",
    "PerSample",
    "apply_scale",
    "attach_native",
    "check_mean_defined",
    "check_not_nan",
    "count_normaliser",
    "default_eps",
    "loss_function",
    "prepare",
    "sample_weights",
    "value_and_parts",
    "weighted_losses",
]

#: options every loss takes, declared once; ``convention`` names one of the policies of
#: :mod:`losskit.losses._conventions` (see docs/conventions.md)
COMMON_OPTIONS: dict[str, Constraint] = {
    "reduction": OneOf(*REDUCTIONS),
    "unit": OneOf("nats", "bits"),
    "check_values": Boolean(),
    "convention": OneOf(*CONVENTIONS),
}


@dataclass
class Inputs:
    """Inputs in one namespace, ``y_pred`` in its compute dtype with the class axis last.

    The array options a loss takes besides the sample weights (``pos_weight``,
    ``class_weight``, a variance ...) are in ``arrays`` by name, moved to ``y_pred``'s library
    (``None`` where not given): read them with :meth:`array`.
    """

    xp: Namespace
    y_true: Array
    y_pred: Array
    sample_weight: Array | None
    out_dtype: Any
    moved_axis: int | None
    arrays: Mapping[str, Array | None] = field(default_factory=dict)

    def array(self, name: str) -> Array | None:
        """The array option ``name`` as :func:`prepare` took it in."""
        if name not in self.arrays:  # pragma: no cover - programming error
            raise KeyError(f"prepare() was not given the array option {name!r}")
        return self.arrays[name]

    def restore(self, grad: Array) -> Array:
        """Bring a gradient from the compute layout back to ``y_pred``'s layout and dtype."""
        xp = self.xp
        if self.moved_axis is not None:
            grad = xp.moveaxis(grad, -1, self.moved_axis)
        return grad if grad.dtype == self.out_dtype else xp.astype(grad, self.out_dtype)


def own_copy(given: Any, taken: Array) -> bool:
    """``taken`` (an input as :func:`prepare` took it in) is a NumPy array of this call's
    own, which the call may overwrite: not the caller's array nor a view of it (a list, or
    another dtype, was converted)."""
    # Only what is certainly a fresh array: a Python sequence converted, or a NumPy array cast
    # to another dtype; never a read-only or borrowed buffer (a pandas Series, a memoryview or
    # any other array-like may hand NumPy its own memory, which must not be written).
    if not (isinstance(taken, np.ndarray) and taken is not given and taken.flags.writeable
            and taken.flags.owndata):
        return False
    if isinstance(given, (list, tuple)):
        return True
    return isinstance(given, np.ndarray) and not np.shares_memory(given, taken)


def prepare(func: str, y_true: Any, y_pred: Any, sample_weight: Any = None, /, *,
            axis: int | None = None, labels: bool = False, names: tuple[str, str] = (),
            arrays: Mapping[str, Any] | None = None,
            check_shape: Callable[[str, Array, Array], None] | None = None) -> Inputs:
    """The shared input pipeline (:mod:`losskit._pipeline`) for a loss.

    Puts ``y_true``, ``sample_weight`` and the named ``arrays`` in ``y_pred``'s namespace,
    checks emptiness and dtypes, moves ``axis`` last and casts to the compute dtype. With
    ``labels=True`` ``y_true`` holds integer labels with ``y_pred``'s shape less its class
    axis and keeps its dtype; otherwise it must have ``y_pred``'s shape exactly (or pass the
    check ``check_shape(func, y_true, y_pred)`` of a loss with another layout) and is cast to
    the compute dtype. ``names`` names ``y_pred`` and ``y_true`` in error messages.
    """
    arrays = dict(arrays or {})
    names = (*names, *("y_pred", "y_true")[len(names):])
    xp, y_pred, y_true, (weight, *rest) = take_arrays(
        func, y_pred, y_true, sample_weight, *arrays.values(),
        names=(*names, "sample_weight", *arrays))
    moved = None
    if axis is not None:
        y_pred, y_true, moved = class_axis_last(func, xp, y_pred, y_true, axis, labels=labels)
    elif check_shape is not None:
        check_shape(func, y_true, y_pred)
    else:
        check_target_shape(func, y_true, y_pred, labels=labels)
    y_pred, cast_true, out = in_compute_dtype(xp, y_pred, None if labels else y_true)
    return Inputs(xp, y_true if labels else cast_true, y_pred, weight, out, moved,
                  dict(zip(arrays, rest, strict=True)))


def sample_weights(func: str, inputs: Inputs, sample_weight: Array | None,
                   shape: tuple[int, ...], *, check_values: bool) -> Array | None:
    """Validated per-sample weights of exactly ``shape`` in the compute dtype (or ``None``)."""
    if sample_weight is None:
        return None
    # all zero is fine where the result is defined (a sum; a mean over n): value_and_parts
    # refuses it where the mean divides by the weights
    return weight_array(func, inputs.xp, "sample_weight", sample_weight, shape,
                        inputs.y_pred.dtype, check_values=check_values, allow_all_zero=True)


def default_eps(inputs: Inputs, eps: float | None,
                policy: Convention = CONVENTIONS["losskit"]) -> float:
    """Clipping bound for probabilities: ``eps`` if given, else the convention's
    ``clip_eps`` — the machine epsilon of y_pred's dtype (losskit, scikit-learn), 1e-7
    (Keras), or 0 (PyTorch, which does not clip; its binary cross-entropy clamps each log at
    -100 instead)."""
    if eps is not None:
        return eps
    if policy.clip_eps is not None:
        return policy.clip_eps
    return machine_epsilon(inputs.xp, inputs.out_dtype)


def count_normaliser(xp: Namespace, per_sample: Array, weight: Array | None,
                     policy: Convention) -> Array | None:
    """The ``mean_weight`` of conventions whose weighted mean divides by the number of
    samples (``count_mean``): ones, or ``None`` to keep ``sum(w)``."""
    if weight is not None and policy.count_mean:
        return xp.ones_like(per_sample)
    return None


@dataclass
class PerSample:
    """Per-sample losses of one call, and how to reduce and differentiate them."""

    inputs: Inputs
    loss: Array
    gradient: Callable[[], Array]
    weight: Array | None = None
    mean_weight: Array | None = None
    nan_hint: str = "check y_pred"
    #: optional faster form of ``gradient``: given the per-sample factor of the reduction (a
    #: float or an array of the per-sample shape), return the scaled gradient directly, with
    #: exact zeros for samples whose factor is 0
    scaled_gradient: Callable[[Array | float], Array] | None = None


def weighted_parts(func: str, inputs: Inputs, loss: Array, gradient: Callable[[], Array],
                   sample_weight: Array | None, *, check_values: bool, convention: str,
                   nan_hint: str = "check y_pred") -> PerSample:
    """:class:`PerSample` of ``loss`` with the sample weights validated to its shape and the
    ``convention``'s mean normaliser."""
    weight = sample_weights(func, inputs, sample_weight, tuple(loss.shape),
                            check_values=check_values)
    return PerSample(inputs, loss, gradient, weight,
                     count_normaliser(inputs.xp, loss, weight, CONVENTIONS[convention]),
                     nan_hint=nan_hint)


def check_not_nan(func: str, parts: PerSample) -> None:
    """No NaN per-sample loss where the weight is not 0 (the message names the sample)."""
    xp, loss = parts.inputs.xp, parts.loss
    if parts.weight is None and _sum_is_not_nan(loss):
        return
    bad = xp.isnan(loss)
    if parts.weight is not None:
        bad = bad & (parts.weight != 0)
    if to_bool(func, xp.any(bad)):
        index = first_index(xp, bad)
        where = index_text(index)
        fail(func, "y_pred", f"gives an undefined (NaN) loss for sample {where}",
             parts.nan_hint)


def _sum_is_not_nan(loss: Array) -> bool:
    """Fast path of :func:`check_not_nan` for NumPy arrays and CPU tensors: a sum that is not
    NaN means no entry is NaN (one reduction and one read, where ``isnan`` and ``any`` took two
    kernels and a read: 64 entries, torch 4.0 -> 2.0 µs, NumPy 3.3 -> 1.7); a NaN sum (a NaN
    entry, or +inf and -inf together) goes on to the exact test. (NumPy: inside
    ``numpy_errors_silenced``, as every caller is.)"""
    if isinstance(loss, np.ndarray):
        return not math.isnan(np.add.reduce(loss, axis=None))
    if type(loss).__module__ == "torch" and _torch.host_reads_are_free(loss):
        return not math.isnan(loss.detach().sum().item())
    return False


def _reads_not_nan(value: Array) -> bool:
    """Whether a reduced value (0-d) reads as not NaN on the host, where reading it is free (a
    NumPy array, a CPU tensor); ``False`` where it cannot be read for free."""
    if isinstance(value, np.ndarray):
        return not math.isnan(value)
    if type(value).__module__ == "torch" and _torch.host_reads_are_free(value):
        return not math.isnan(value.item())
    return False


def check_mean_defined(func: str, parts: PerSample) -> None:
    """The mean's denominator (``mean_weight``, else the weights) is not all zero."""
    xp = parts.inputs.xp
    denominator = parts.mean_weight if parts.mean_weight is not None else parts.weight
    if denominator is None or to_bool(func, xp.any(denominator > 0)):
        return
    if parts.weight is not None and not to_bool(func, xp.any(parts.weight > 0)):
        fail(func, "sample_weight", "is all zero, so the weighted mean is undefined",
             "Give at least one entry a positive weight, or use reduction='sum'")
    # the sample weights are not all zero: the class weights of the samples' labels are
    fail(func, "class_weight", "is 0 for every sample's label, so the weighted mean is "
         "undefined", "Give a class present in y_true a positive weight, or use "
         "reduction='sum'")


def value_and_parts(public: Callable, y_true: Any, y_pred: Any, kwargs: dict[str, Any],
                    *, with_gradient: bool) -> tuple[Array, Array | None]:
    """Evaluate a registered loss; optionally also d(reduced value)/d(y_pred)."""
    spec: LossSpec = public.spec  # type: ignore[attr-defined]
    body = spec.body
    reduction = kwargs.get("reduction", spec.defaults["reduction"])
    unit = kwargs.get("unit", spec.defaults.get("unit", "nats"))
    func = spec.name
    with numpy_errors_silenced(y_pred):
        parts = body(y_true, y_pred, **kwargs)
        inputs = parts.inputs
        xp = inputs.xp
        checked = kwargs.get("check_values", not is_traced(parts.loss))  # traced-code rule
        value = reduced(xp, parts.loss, reduction, weight=parts.weight,
                        mean_weight=parts.mean_weight, unit=unit, dtype=inputs.out_dtype)
        if checked:
            # a sum or mean that is not NaN has no NaN term of nonzero weight: the value
            # settles the NaN check without a pass of its own (one reduction and a read less
            # a call); else the exact check, which names the sample
            if reduction == "none" or not _reads_not_nan(value):
                check_not_nan(func, parts)
            if reduction == "mean":
                check_mean_defined(spec.name, parts)
        if not with_gradient:
            return value, None
        scale = to_unit(reduction_scale(xp, tuple(parts.loss.shape), reduction,
                                            weight=parts.weight, mean_weight=parts.mean_weight),
                            unit)
        if parts.scaled_gradient is not None:
            grad = parts.scaled_gradient(scale)
        else:
            grad = apply_scale(xp, parts.gradient(), scale)
        if checked:
            check_gradient_defined(func, xp, value, grad)
        return value, inputs.restore(grad)


def check_gradient_defined(func: str, xp: Any, value: Array, grad: Array) -> None:
    """A gradient holding a NaN is refused (options or inputs so extreme that the
    derivative's terms overflow, e.g. ``inf - inf``), never returned as a number."""
    # (a sum that is not NaN settles it in one reduction: see _sum_is_not_nan)
    if _sum_is_not_nan(grad) or not to_bool(func, xp.any(xp.isnan(grad))):
        return
    index = first_index(xp, xp.isnan(grad))
    fail(func, "y_pred", f"gives an undefined (NaN) gradient at index {index_text(index)} "
         f"(the loss is {float(value) if value.ndim == 0 else 'per sample'}): a term of the "
         "derivative overflows",
         "Bring the inputs and options into a moderate range (e.g. a smaller gamma, a "
         "larger temperature, embeddings scaled down), or pass check_values=False to get "
         "the raw result")


_SCALARS = (str, bool, int, float, type(None))


def _with_host_options(checked: Callable[..., PerSample]) -> Callable[..., PerSample]:
    """The input boundary of a loss's array options (``sample_weight``, ``class_weight``,
    ``var``, ...): lists, pandas and polars objects become NumPy, and ragged lists, strings
    and meta tensors get an error naming the option (``y_true`` and ``y_pred`` are taken in by
    :func:`prepare`)."""
    func = checked.__name__

    @functools.wraps(checked)
    def body(y_true: Any, y_pred: Any, /, **kwargs: Any) -> PerSample:
        for key, value in kwargs.items():
            if not isinstance(value, _SCALARS):
                kwargs[key] = host_array(func, key, value)
        return checked(y_true, y_pred, **kwargs)

    return body


def loss_function(*, aliases: tuple[str, ...] = (), explanation: LossExplanation | None = None,
                  kernel: Kernel | None = None, **constraints: Constraint
                  ) -> Callable[[Callable[..., PerSample]], Callable]:
    """Turn a loss body into the public loss: checked options, reduction, units, gradient.

    The body has the public signature and returns :class:`PerSample`; the public function
    returns the reduced value in ``y_pred``'s library and floating dtype. The declaration —
    the options' ``constraints`` (the common ones are added), ``aliases``, the
    ``explanation`` and the raw-space ``kernel`` — becomes the loss's
    :class:`~losskit.losses._spec.LossSpec`.
    """

    def decorate(body: Callable[..., PerSample]) -> Callable[..., Array]:
        signature = inspect.signature(body)
        common = {k: v for k, v in COMMON_OPTIONS.items() if k in signature.parameters}
        constraints.update(common)
        checked_body = _with_host_options(options(**constraints)(body))
        defaults = {name: p.default for name, p in signature.parameters.items()
                    if p.default is not inspect.Parameter.empty}

        @functools.wraps(body)
        def public(y_true: Any, y_pred: Any, /, **kwargs: Any) -> Array:
            native = public.spec.native  # type: ignore[attr-defined]
            if native is not None:
                value = native(y_true, y_pred, kwargs)
                if value is not None:
                    return value
            return value_and_parts(public, y_true, y_pred, kwargs, with_gradient=False)[0]

        install(public, LossSpec(name=body.__name__, body=checked_body, options=constraints,
                                 defaults=defaults, aliases=aliases, explanation=explanation,
                                 kernel=kernel))
        return public

    return decorate


def attach_native(public: Callable, kernel: str, *,
                  check_targets: Callable[..., None] | None = None,
                  min_variance: Callable[[str], float | None] | None = None,
                  constant: Callable[..., float] | None = None) -> None:
    """Give the loss ``public`` the native PyTorch kernel ``kernel`` of :mod:`losskit._torch`,
    bound to what it reads from the loss: the declared options (its screening follows them),
    the generic path's ``check_targets``, the one reduction and the unit conversion (the
    kernel's value is in nats). Also gives the spec's ``native_bound``: the same kernel with
    options fixed once (the ``losskit.torch`` criteria)."""
    spec: LossSpec = public.spec  # type: ignore[attr-defined]
    native = _torch.kernel_for(kernel, _torch.LossHooks(
        func=spec.name, options=spec.options, reduce=_reduce_values,
        per_sample=mean_over_outputs, check_targets=check_targets,
        min_variance=min_variance, constant=constant, to_unit=to_unit,
        convention=CONVENTIONS.__getitem__))
    replace(public, native=native, native_bound=native.bind)  # type: ignore[attr-defined]


def _reduce_values(xp: Namespace, values: Array, reduction: str) -> Array:
    return reduce(xp, values, reduction)


def weighted_losses(public: Callable, y_true: Any, y_pred: Any, kwargs: dict[str, Any]
                    ) -> tuple[Inputs, Array, Array | None, Array | None]:
    """Per-sample ``w_i l_i / s`` (in ``unit``), normalising weights ``v_i / s`` and ``s``.

    The loss's ``"sum"`` is ``s · sum(w_i l_i / s)`` and its ``"mean"`` is
    ``sum(w_i l_i / s) / sum(v_i / s)`` (``v`` is ``None`` when every sample counts 1): the two
    sums a streaming mean accumulates. ``s`` is the power of two that the sample weights are
    divided by so that no sum overflows (:func:`~losskit._reduction.weight_scale`; ``None``
    without sample weights). Runs the same body and NaN check as the public loss;
    ``reduction`` is not used.
    """
    spec: LossSpec = public.spec  # type: ignore[attr-defined]
    unit = kwargs.get("unit", spec.defaults.get("unit", "nats"))
    with numpy_errors_silenced(y_pred):
        parts = spec.body(y_true, y_pred, **kwargs)
        if kwargs.get("check_values", not is_traced(parts.loss)):  # the traced-code rule
            check_not_nan(spec.name, parts)
            check_mean_defined(spec.name, parts)  # a batch is checked as the mean checks it
        xp = parts.inputs.xp
        weight, scale = parts.weight, None
        if weight is not None:
            weight, scale = normalised_weights(xp, weight)
        weighted = reduce(xp, parts.loss, "none", weight=weight)
        normaliser = parts.mean_weight if parts.mean_weight is not None else parts.weight
        if normaliser is not None and scale is not None:
            normaliser = normaliser / scale
        return parts.inputs, to_unit(weighted, unit), normaliser, scale
