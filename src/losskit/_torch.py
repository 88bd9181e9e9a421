"""Everything PyTorch-specific, in one module: tensor helpers and the native loss kernels.

This module never imports ``torch`` at import time (``import losskit`` does not load it): it
looks it up in ``sys.modules``, so the code here runs only on tensors of a PyTorch that the
caller already imported. It imports nothing from losskit either (it is the bottom of the base
layer): what a kernel needs from its loss — the declared options, the target checks, the one
reduction helper — is given by the losses layer when it attaches the kernel
(:func:`losskit.losses._core.attach_native`).

**Native kernels**: a loss's value from PyTorch's own fused ops, for the common case. A loss
call on a small PyTorch batch is dominated by per-op dispatch and autograd bookkeeping, not
arithmetic (measured at 64 x 3: the generic sparse cross-entropy ran 5 autograd nodes and
~120 µs forward + backward against 35 µs for ``F.cross_entropy``). For the calls a training
loop makes, a kernel here computes the same value with fewer, fused ops. The rules that keep
this exact:

- A kernel takes a call only when every argument is one the generic path accepts and every
  option has a value the kernel implements: the options the kernel restricts are tested here,
  every other one against the loss's declared constraint (so the screening follows the
  declaration). Anything else (an unknown or invalid option, NumPy targets, float16, scalars,
  empty or meta tensors, tensors inside ``torch.func`` transforms, weights, smoothing) returns
  ``None`` and the generic path runs, with its checks and its error messages.
- It checks the targets with the generic path's own functions (the label check, the binary
  target check): one place holds each target domain, so a kernel cannot accept a target the
  generic path refuses, and the error is the same.
- It gives the generic path's value to rounding, including the limits the generic path takes:
  where a result comes out NaN (a NaN logit, or a row holding ``+inf``), or a label is out of
  range without checks (PyTorch's own bounds error on the CPU), the call is redone by the
  generic path, which reports it or takes the limit. The NaN probe reads the host only where
  reading costs no device synchronisation or the caller asked for checks
  (``check_values=True``, or a CPU tensor). On an accelerator without checks nothing is read,
  as in the generic path.
- Only the value is native: :func:`losskit.value_and_gradient` keeps its analytic gradient,
  and autograd differentiates the kernel's ops (tested equal to autograd through the generic
  path, second derivatives included). The fused kernels (Student-t, Gamma, log-cosh, the
  hinges, the negative binomial) are one custom autograd node whose backward is the loss's
  analytic derivative from what the forward kept; under ``create_graph`` it is recomputed
  from the inputs with differentiable ops, so second derivatives still agree.
- A data-dependent choice (a label coding, a range a formula is exact in) costs one read at
  most, taken with the checks; where nothing may be read the kernel either has a form exact
  for every input or steps aside.

Tests compare every kernel with the generic path (values, autograd gradients, errors) on
random and edge inputs; ``native_kernels(False)`` switches them off.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "KERNELS",
    "LossHooks",
    "all_gather_objects",
    "detached",
    "host_reads_are_free",
    "native_kernels",
    "torch_softmax",
]

Array = Any
_NO_LABEL = -(2**63)  # an ignore_index for nll_loss that no valid label equals


# ------------------------------------------------------------------------------ tensor helpers


def _torch() -> Any:
    """The ``torch`` module if the caller imported it, else ``None`` (never imports it)."""
    return sys.modules.get("torch")


def host_reads_are_free(x: Array) -> bool:
    """Whether reading ``x``'s values on the host costs no device synchronisation (a CPU
    tensor). Used to choose between a cheap data-dependent branch and branch-free code."""
    torch = _torch()
    if torch is not None and type(x) is torch.Tensor:  # (is_cpu: 0.1 µs, .device.type 0.5)
        if not x.is_cpu:
            return False
    elif getattr(getattr(x, "device", None), "type", None) != "cpu":
        return False
    # inside torch.func transforms (vmap, grad) values cannot be read at all, and under
    # torch.compile a read is a graph break (the tracer cannot follow a data-dependent branch)
    return torch is None or not isinstance(x, torch.Tensor) or not (
        torch.compiler.is_compiling() or torch._C._functorch.is_functorch_wrapped_tensor(x))


_TORCH_VECTOR_ROW = 16  # rows this long or longer: PyTorch's CPU softmax kernel vectorises them
_TRANSPOSE_MIN_ROWS = 1024


def torch_softmax(x: Array, *, log: bool = False) -> Array:
    """``softmax`` (or ``log_softmax``) of a PyTorch tensor over its last axis.

    Native fast path (measured, CPU float32 without autograd, one thread: log-softmax
    20000 x 3 0.78 -> 0.30 ms, 1e6 x 10 177 -> 109 ms; softmax 20000 x 3 1.3 -> 0.29 ms):
    PyTorch's CPU kernel vectorises along a row only when it holds at least 16 values; shorter
    rows are reduced on the transposed ``(C, n)`` block, along ``n``, and transposed back. Not
    under autograd, where the copies' backward cost more than they saved, and not on
    accelerators.
    """
    if x.ndim == 2 and 1 < x.shape[1] < _TORCH_VECTOR_ROW \
            and x.shape[0] >= _TRANSPOSE_MIN_ROWS and not x.requires_grad \
            and host_reads_are_free(x):
        block = x.t().contiguous()
        return (block.log_softmax(0) if log else block.softmax(0)).t().contiguous()
    return x.log_softmax(-1) if log else x.softmax(-1)


def detached(x: Any) -> Any:
    """``x`` without its autograd graph if it is a tensor; anything else unchanged."""
    torch = _torch()
    return x.detach() if torch is not None and isinstance(x, torch.Tensor) else x


def all_gather_objects(value: Any, group: Any = None) -> list[Any] | None:
    """``value`` of every ``torch.distributed`` rank, in rank order; ``None`` without an
    initialised process group (one process)."""
    import torch.distributed as dist  # the only place losskit imports torch itself

    if not (dist.is_available() and dist.is_initialized()):
        return None
    gathered: list[Any] = [None] * dist.get_world_size(group)
    dist.all_gather_object(gathered, value, group=group)
    return gathered


# --------------------------------------------------------------------------- native kernels

_enabled = True


@contextlib.contextmanager
def native_kernels(enabled: bool) -> Iterator[None]:
    """Switch the native kernels on or off inside a ``with`` block (for tests and benchmarks)."""
    global _enabled
    before, _enabled = _enabled, enabled
    try:
        yield
    finally:
        _enabled = before


@dataclass(frozen=True)
class LossHooks:
    """What a kernel takes from its loss (given by the losses layer)."""

    #: the loss's name, for error messages
    func: str
    #: the loss's declared option constraints (objects with ``type_ok`` and ``value_ok``)
    options: Mapping[str, Any]
    #: ``(xp, per_sample, reduction) -> value``: the one reduction
    #: (:func:`losskit._reduction.reduce`)
    reduce: Callable[[Any, Array, str], Array]
    #: ``(xp, elementwise) -> (per_sample, k)``: a sample's outputs averaged
    #: (:func:`losskit._reduction.mean_over_outputs`)
    per_sample: Callable[[Any, Array], tuple[Array, int]]
    #: the generic path's own target check ``(func, xp, y_true, ...)`` (``None``: none)
    check_targets: Callable[..., None] | None = None
    #: ``convention -> variance floor`` (the Gaussian kernel; ``None``: no floor)
    min_variance: Callable[[str], float | None] | None = None
    #: the loss's constant term from its parameters (the Student-t kernel: ``df -> c``)
    constant: Callable[..., float] | None = None
    #: ``(value, unit) -> value``: a value in nats converted to the call's ``unit``
    #: (:func:`losskit._reduction.to_unit`; ``None``: nats only)
    to_unit: Callable[[Array, str], Array] | None = None
    #: ``name -> convention`` (:data:`losskit.losses._conventions.CONVENTIONS`; the
    #: percentage and log errors read their floors from it)
    convention: Callable[[str], Any] | None = None


def _is(value: Any, *allowed: Any) -> bool:
    return type(value) is bool and value in allowed


def _is_zero(value: Any) -> bool:
    return type(value) in (int, float) and value == 0


def _is_none(value: Any) -> bool:
    return value is None


def _is_true(value: Any) -> bool:
    return value is True


class _Fixed(dict):
    """The options of calls that all share them (a bound kernel's, :func:`kernel_for`): a
    ``dict`` that remembers :func:`_plain`'s answer for each kernel's restrictions, so the
    options are screened once, not at every call (~1 µs a call)."""

    __slots__ = ("plain",)

    def __init__(self, kwargs: Mapping[str, Any]) -> None:
        super().__init__(kwargs)
        self.plain: dict[tuple[int, int], bool] = {}


def _plain(kwargs: dict[str, Any], hooks: LossHooks,
           restricted: Mapping[str, Callable[[Any], bool]]) -> bool:
    """Every option is known and has a value the kernel implements: the ``restricted`` ones
    pass the kernel's test, every other one its declared constraint."""
    if type(kwargs) is _Fixed:
        # (the restriction tables and the hooks live as long as the module)
        key = (id(restricted), id(hooks))
        known = kwargs.plain.get(key)
        if known is None:
            known = kwargs.plain[key] = _screen(kwargs, hooks, restricted)
        return known
    return _screen(kwargs, hooks, restricted)


def _screen(kwargs: Mapping[str, Any], hooks: LossHooks,
            restricted: Mapping[str, Callable[[Any], bool]]) -> bool:
    for name, value in kwargs.items():
        if name == "check_values" and type(value) is bool:  # (declared Boolean for every loss:
            continue  # the constraint's two calls cost 0.5 µs a call)
        test = restricted.get(name)
        if test is not None:
            if not test(value):
                return False
            continue
        constraint = hooks.options.get(name)
        if constraint is None or not (constraint.type_ok(value) and constraint.value_ok(value)):
            return False
    return True


def _tensors(y_true: Any, y_pred: Any) -> Any:
    """The ``torch`` module if both are plain tensors on one device and ``y_pred`` is a
    non-empty float32/float64 array, else ``None``. Scalars and empty arrays (errors),
    meta tensors, and tensors inside ``torch.func`` transforms (``vmap``: no host reads) are
    left to the generic path."""
    torch = _torch()
    if torch is None or type(y_pred) is not torch.Tensor or type(y_true) is not torch.Tensor:
        return None
    if y_pred.dtype not in (torch.float32, torch.float64) \
            or not ((y_pred.is_cpu and y_true.is_cpu) or y_pred.device == y_true.device) \
            or y_pred.ndim == 0 or y_pred.numel() == 0 or y_pred.is_meta:
        return None
    if torch.compiler.is_compiling():  # torch.compile traces the generic code (no host reads)
        return None
    wrapped = torch._C._functorch.is_functorch_wrapped_tensor
    if wrapped(y_pred) or wrapped(y_true):
        return None
    return torch


def _namespace() -> Any:
    """The array-API namespace of PyTorch tensors (what ``array_namespace`` returns, without
    its per-call cost), for the shared checks and reductions."""
    import array_api_compat.torch

    return array_api_compat.torch


def _reduced(hooks: LossHooks, torch: Any, elementwise: Array, reduction: str) -> Array:
    """Unweighted per-element losses reduced through the loss's reduction helpers."""
    if reduction == "mean":
        # equal counts per sample: the mean of the per-sample means is the mean of all entries
        return hooks.reduce(torch, elementwise, "mean")
    return hooks.reduce(torch, hooks.per_sample(torch, elementwise)[0], reduction)


def _finish(value: Array, probe: bool) -> Array | None:
    """``None`` (redo generically) where the probe finds NaN. An array is probed by its sum
    (a NaN entry makes it NaN; so do +inf and -inf together, which the generic path then
    takes too): one reduction, 1.5 µs at 64 entries against 9 µs for ``isnan().any()``."""
    if probe and math.isnan((value if value.ndim == 0 else value.detach().sum()).item()):
        return None
    return value


def _read(*scalars: Array) -> list[float]:
    """The values of 0-d tensors on the host: one read of them stacked on an accelerator
    (each read is a device synchronisation), each one's ``item()`` on the CPU (0.3 µs each,
    where ``stack`` and ``tolist`` cost 2.8 µs)."""
    if scalars[0].is_cpu:
        return [x.item() for x in scalars]
    return _torch().stack(scalars).tolist()


def _probes(y_pred: Array, kwargs: dict[str, Any]) -> tuple[bool, bool]:
    """``(check, probe)``: whether to check values, and whether reading the result back is
    allowed (checks on, or a CPU tensor whose read costs no device synchronisation)."""
    check = kwargs.get("check_values", True)
    return check, check or host_reads_are_free(y_pred)


_SPARSE_CE: dict[str, Callable[[Any], bool]] = {
    "from_logits": _is_true,
    "axis": lambda v: type(v) is int and v in (-1, 1),
    "class_weight": _is_none,
    "ignore_index": _is_none,
    "label_smoothing": _is_zero,
    "eps": _is_none,
    "sample_weight": _is_none,
}


def sparse_cross_entropy_from_logits(hooks: LossHooks, y_true: Any, y_pred: Any,
                                     kwargs: dict[str, Any]) -> Array | None:
    """``-log softmax(z)[y]``: PyTorch's ``cross_entropy`` (its log_softmax and nll_loss
    kernels, two autograd nodes; the generic path takes five)."""
    if not kwargs.get("from_logits", False) or not _plain(kwargs, hooks, _SPARSE_CE):
        return None
    torch = _tensors(y_true, y_pred)
    if torch is None or y_pred.ndim != 2 or y_true.ndim != 1 \
            or y_true.shape[0] != y_pred.shape[0] \
            or y_true.dtype not in (torch.int64, torch.int32):
        return None
    check, probe = _probes(y_pred, kwargs)
    if check and hooks.check_targets is not None:
        # labels in [0, C): one aminmax and its read (2.4 µs at 64 labels); anything else
        # goes through the generic path's own label check, whose error it is (5.1 µs: it
        # builds its domain and message first)
        low, high = _read(*torch.aminmax(y_true))
        if not (low >= 0 and high < y_pred.shape[1]):
            hooks.check_targets(hooks.func, _namespace(), y_true, y_pred.shape[1], None)
    z = y_pred
    if not probe:
        # as the generic path does without host reads: +inf becomes the largest finite value
        z = z.clamp(max=torch.finfo(z.dtype).max)
    labels = y_true if y_true.dtype == torch.int64 else y_true.long()
    # cross_entropy is log_softmax and nll_loss in one call (one Python call fewer: ~1.5 µs
    # at 64 rows; its torch._C._nn binding, without functional's argument handling: ~1 µs).
    # nll_loss skips labels equal to its ignore_index (default -100): without checks such a
    # label must fail as out of range, as in the generic path, so the index is one no int64
    # label other than the most negative can hit
    try:
        value = torch._C._nn.cross_entropy_loss(
            z, labels, None, _REDUCTION[kwargs.get("reduction", "mean")], _NO_LABEL, 0.0)
    except (IndexError, RuntimeError):
        return None  # a label out of range without checks (CPU): the generic path's error
    return _finish(value, probe)


# hard or soft labels, no weights or smoothing
_BINARY_CE: dict[str, Callable[[Any], bool]] = dict.fromkeys(
    ("pos_weight", "eps", "sample_weight"), _is_none) | {
    "from_logits": _is_true, "label_smoothing": _is_zero}


def binary_cross_entropy_from_logits(hooks: LossHooks, y_true: Any, y_pred: Any,
                                     kwargs: dict[str, Any]) -> Array | None:
    r"""Hard labels: :math:`\operatorname{softplus}((1 - 2y) z)`, which is PyTorch's
    ``soft_margin_loss`` of the signs :math:`t = 2y - 1`, :math:`\log(1 + e^{-tz})`: one
    fused op and one autograd node, exact in value and gradient (its backward is
    :math:`-t\sigma(-tz)`, formed without a cancellation). PyTorch's
    ``binary_cross_entropy_with_logits`` computes :math:`(1-y)z - \log\sigma(z)`, which
    cancels for :math:`z \ll 0`, :math:`y = 0` (float32: 0.8% off at :math:`z = -10`, 0 from
    about :math:`z = -17`, where the loss is 4e-8), and its gradient :math:`\sigma(z) - y`
    cancels for confident correct predictions (0 from :math:`z = 17`, :math:`y = 1`).
    ``soft_margin_loss``'s :math:`e^{-tz}` overflows for a confidently wrong logit
    (:math:`|z| > 88.7` in float32, 709 in float64): the result, read back, is then infinite
    and the call is redone by the generic path, which takes the finite value. Soft labels
    (and every call that may not read the labels back: an accelerator without checks):
    :math:`-[y \log\sigma(z) + (1-y) \log\sigma(-z)]` with ``logsigmoid``, a zero
    coefficient giving 0 even against an infinite log."""
    if not kwargs.get("from_logits", False) or not _plain(kwargs, hooks, _BINARY_CE):
        return None
    if kwargs.get("reduction", "mean") == "mean" and kwargs.get("axis", -1) == -1:
        value = _binary_common(hooks, y_true, y_pred, kwargs.get("check_values", True))
        if value is not _UNDECIDED:
            return value
    torch = _tensors(y_true, y_pred)
    if torch is None or y_true.shape != y_pred.shape or y_true.dtype != y_pred.dtype \
            or y_true.requires_grad or kwargs.get("axis", -1) not in (-1, y_pred.ndim - 1):
        return None  # (the kernel averages the last axis)
    check, probe = _probes(y_pred, kwargs)
    reduction = kwargs.get("reduction", "mean")
    # hard labels (so this branch holds only targets inside the domain: the target check);
    # finding out is a host read, so not on an accelerator without checks
    if probe and _zero_one(torch, y_true):
        if y_pred.numel() >= _BINARY_FUSED_MIN and y_pred.requires_grad \
                and torch.is_grad_enabled():
            value = _fused_function(torch).apply(
                y_pred, y_true, _HardBinary(y_pred.dtype == torch.float64), hooks, reduction)
            return value if _finite(value) else None  # a NaN logit: the generic path's error
        # 2y - 1, one kernel
        signs = torch.add(_constant(torch, -1.0, y_true.dtype), y_true, alpha=2)
        # (torch._C._nn's own binding: the same op and dispatch, without
        # functional.soft_margin_loss's argument handling, ~0.6 µs)
        if reduction == "mean":  # equal counts per sample: the mean of all entries
            value = torch._C._nn.soft_margin_loss(y_pred, signs, _MEAN)
        else:
            value = _reduced(hooks, torch, torch._C._nn.soft_margin_loss(
                y_pred, signs, _NONE), reduction)
        # NaN (a NaN logit: the generic path's error) or inf (e^{-tz} overflowed, or an
        # infinite wrong logit, whose limit the generic path takes): redo generically
        return value if _finite(value) else None
    return _binary_soft(hooks, torch, y_true, y_pred, check, probe, reduction)


def _binary_soft(hooks: LossHooks, torch: Any, y_true: Array, y_pred: Array, check: bool,
                 probe: bool, reduction: str) -> Array | None:
    r"""BCE from logits for any labels in [0, 1] (checked with ``check``):
    :math:`-[y \log\sigma(z) + (1-y) \log\sigma(-z)]`, a zero coefficient giving 0 even
    against an infinite log."""
    if check and hooks.check_targets is not None:
        # the generic path's own target check: the same message, from the same function
        hooks.check_targets(hooks.func, _namespace(), y_true)
    functional = torch.nn.functional
    log_sigmoid = functional.logsigmoid
    positive = torch.where(y_true == 0, 0.0, y_true * log_sigmoid(y_pred))
    negative = torch.where(y_true == 1, 0.0, (1.0 - y_true) * log_sigmoid(-y_pred))
    elementwise = -(positive + negative)
    return _finish(_reduced(hooks, torch, elementwise, reduction), probe)


#: :func:`_binary_common`'s answer for a call it leaves to the whole kernel
_UNDECIDED = object()


def _binary_common(hooks: LossHooks, y_true: Any, y_pred: Any, check: bool) -> Any:
    """BCE from logits, mean over the last axis, for the calls of a training loop on the CPU
    (issue 17: the kernel's per-call Python was ~9 µs of a 60 µs criterion call at 256 x 1,
    PyTorch's ``BCEWithLogitsLoss`` 43 in all): :func:`binary_cross_entropy_from_logits`'s
    tests made from attributes read once each (~1.1 µs), then its hard-label form, or its
    soft one. The same value, node and errors; any call it does not decide (another device,
    dtype or shape pair, labels needing a gradient, a large array, ``torch.func``
    transforms, ``torch.compile``, NumPy) is :data:`_UNDECIDED`, for the whole kernel."""
    torch = _torch()
    if torch is None:
        return _UNDECIDED
    ops = _BINARY_OPS or _binary_ops(torch)  # (local names: ~1 µs of attribute reads a call)
    tensor, float32, float64, compiling, transforms, equal, heaviside, add, soft_margin, \
        constants = ops
    if type(y_pred) is tensor and type(y_true) is tensor:
        dtype = y_pred.dtype
        if (dtype is float32 or dtype is float64) and y_true.dtype is dtype \
                and y_pred.is_cpu and y_true.is_cpu and not y_true.requires_grad:
            shape = y_pred.shape
            # (a CPU tensor is not a meta tensor; with no functorch transform active no
            # tensor is wrapped; on the CPU the result may be read, so the 0/1 probe is
            # taken, with checks or without)
            if shape == y_true.shape and 0 < shape.numel() < _BINARY_FUSED_MIN \
                    and len(shape) and not compiling() and not transforms() \
                    and host_reads_are_free(y_pred):  # (the one rule for a host read)
                zero, minus_one = constants[dtype]
                if (equal(y_true, heaviside(y_true, zero)) if shape.numel() < _HEAVISIDE_MAX
                        else _zero_one(torch, y_true)):
                    value = soft_margin(y_pred, add(minus_one, y_true, alpha=2), _MEAN)
                    # NaN or inf: the generic path's error or limit (as the kernel)
                    return value if math.isfinite(value.item()) else None
                return _binary_soft(hooks, torch, y_true, y_pred, check, True, "mean")
    return _UNDECIDED


_BINARY_OPS: tuple[Any, ...] = ()


def _binary_ops(torch: Any) -> tuple[Any, ...]:
    """What :func:`_binary_common` calls, looked up once (this module imports no torch)."""
    global _BINARY_OPS
    _BINARY_OPS = (
        torch.Tensor, torch.float32, torch.float64, torch.compiler.is_compiling,
        torch._C._are_functorch_transforms_active, torch.equal, torch.heaviside, torch.add,
        torch._C._nn.soft_margin_loss,
        # per dtype: 0 (the probe's H(0)) and -1 (for the signs 2y - 1)
        {dtype: (_constant(torch, 0.0, dtype), _constant(torch, -1.0, dtype))
         for dtype in (torch.float32, torch.float64)})
    return _BINARY_OPS


def _bind_binary_cross_entropy(hooks: LossHooks, fixed: _Fixed
                               ) -> Callable[[Any, Any], Array | None] | None:
    """A criterion's BCE from logits (options fixed, mean reduction over the last axis):
    :func:`_binary_common` without the option screening, else the kernel. ``None``
    (options the kernel does not take as fixed here): the kernel for every call."""
    if not (fixed.get("from_logits", False) and _plain(fixed, hooks, _BINARY_CE)
            and fixed.get("axis", -1) == -1 and fixed.get("reduction", "mean") == "mean"):
        return None
    check = fixed.get("check_values", True)

    def bound(y_true: Any, y_pred: Any) -> Array | None:
        if not _enabled:
            return None
        value = _binary_common(hooks, y_true, y_pred, check)
        if value is _UNDECIDED:
            return binary_cross_entropy_from_logits(hooks, y_true, y_pred, fixed)
        return value

    return bound


#: kernels with a specialised form for fixed options (:func:`kernel_for`'s ``bind``):
#: ``name -> (hooks, fixed options) -> bound kernel, or None``
_BINDERS: dict[str, Callable[[LossHooks, _Fixed], Callable[[Any, Any], Array | None] | None]
               ] = {"binary_cross_entropy": _bind_binary_cross_entropy}


#: ``torch._C._nn``'s reduction codes (``torch.nn._reduction.get_enum``): the kernels call
#: the bindings of ``torch.nn.functional``'s losses directly (the same ops and dispatch,
#: ``__torch_function__`` included, without functional's argument handling: 0.6-1.5 µs a
#: call, a tenth of a small batch's loss; their shapes are checked here)
_NONE, _MEAN, _SUM = 0, 1, 2
_REDUCTION = {"none": _NONE, "mean": _MEAN, "sum": _SUM}


def _zero_one(torch: Any, y: Array) -> bool:
    r"""Whether every value of ``y`` is 0 or 1: the Heaviside step
    :math:`H(y)` (1 for :math:`y > 0`, 0 at and below 0) equals :math:`y` for those alone
    (NaN, ±inf, -1, 2, fractions and labels too small for :math:`2y - 1` to see fail;
    :math:`y^2 = y` would take +inf). One kernel and a comparison read on the host
    (at 256 labels 3.0 µs, and one dispatch fewer inside a training step, where each costs
    more; ``sign(y) = y²`` took 3.4, a count of the nonzero :math:`y^2 - y` 4.1). Only a
    batch of a training step: ``heaviside`` is not vectorised on the CPU (1e6 labels: 7.1 ms
    against 1.4 for :math:`\operatorname{sign}(y) = y^2`, which holds for 0 and 1 alone too;
    1024 labels 4.6 against 3.9 µs), so larger arrays take the latter."""
    if y.numel() >= _HEAVISIDE_MAX:
        return torch.equal(torch.sign(y), y * y)
    return torch.equal(y, torch.heaviside(y, _constant(torch, 0.0, y.dtype)))


#: labels from which the 0/1 probe is ``sign(y) = y²`` (see :func:`_zero_one`)
_HEAVISIDE_MAX = 1024


zero_one = _zero_one  # public for losskit.nn._backprop's hard-label check (one 0/1 probe)


_CONSTANTS: dict[tuple[float, Any], Array] = {}


def _constant(torch: Any, value: float, dtype: Any) -> Array:
    """A 0-d CPU tensor ``value`` of ``dtype``, made once: a tensor operand, where a Python
    scalar costs a tensor per call (a 0-d CPU tensor combines with tensors of any device; of
    the other operand's dtype it needs no type promotion: ``torch.add(c, y, alpha=2)`` at 64
    entries 1.9 µs, 3.0 with a float64 constant, 6.1 as ``y.mul(2.0).sub_(1.0)``)."""
    key = (value, dtype)
    tensor = _CONSTANTS.get(key)
    if tensor is None:
        tensor = _CONSTANTS[key] = torch.tensor(value, dtype=dtype)
    return tensor


_MSE: dict[str, Callable[[Any], bool]] = {"sample_weight": _is_none}


def mean_squared_error(hooks: LossHooks, y_true: Any, y_pred: Any, kwargs: dict[str, Any]
                       ) -> Array | None:
    """``(y - ŷ)²`` with PyTorch's ``mse_loss`` kernel."""
    if not _plain(kwargs, hooks, _MSE):
        return None
    torch = _tensors(y_true, y_pred)
    if torch is None or y_true.shape != y_pred.shape or y_true.dtype != y_pred.dtype:
        return None
    check = kwargs.get("check_values", True)
    reduction = kwargs.get("reduction", "mean")
    if reduction == "mean":
        # the mean of per-sample means over equal numbers of outputs is the overall mean
        value = torch._C._nn.mse_loss(y_pred, y_true, _MEAN)
    else:
        value = _reduced(hooks, torch, torch._C._nn.mse_loss(y_pred, y_true, _NONE), reduction)
    # a NaN or inf input makes the result non-finite: the generic path reports it (or, for a
    # square that overflows, returns the same inf)
    if check and not _finite(value):  # a 0-d mean: one scalar read (8.6 -> ~1 µs)
        return None
    return value


_GAUSSIAN: dict[str, Callable[[Any], bool]] = {
    "var": lambda v: v is None or (type(v) in (int, float) and 0 < v < math.inf),
    "log_var": _is_none,
    "sample_weight": _is_none,
}


def gaussian_nll_fixed_variance(hooks: LossHooks, y_true: Any, y_pred: Any,
                                kwargs: dict[str, Any]) -> Array | None:
    r"""A number :math:`\sigma^2`: :math:`\frac12 (r^2/\sigma^2 + \log\sigma^2)`
    :math:`[+ \frac12 \log 2\pi]`, PyTorch's ``mse_loss`` scaled and shifted (the Gaussian
    family's loss)."""
    if not _plain(kwargs, hooks, _GAUSSIAN):
        return None
    var = float(kwargs.get("var") or 1.0)
    floor = None if hooks.min_variance is None else hooks.min_variance(
        kwargs.get("convention", "losskit"))
    if floor is not None and var < floor:
        return None  # the generic path reproduces the clamp
    torch = _tensors(y_true, y_pred)
    if torch is None or y_true.shape != y_pred.shape or y_true.dtype != y_pred.dtype \
            or 0.5 / var > torch.finfo(y_pred.dtype).max:
        return None  # (a variance so small that 1/σ² overflows: the generic path's numbers)
    shift = 0.5 * math.log(var) + (0.5 * math.log(2.0 * math.pi) if kwargs.get("full") else 0.0)
    reduction = kwargs.get("reduction", "mean")
    mse_loss = torch._C._nn.mse_loss
    if reduction == "mean":
        value = mse_loss(y_pred, y_true, _MEAN) * (0.5 / var) + shift
    else:
        per_sample, _ = hooks.per_sample(torch, mse_loss(y_pred, y_true, _NONE))
        value = hooks.reduce(torch, per_sample * (0.5 / var) + shift, reduction)
    # a NaN or inf input makes the result non-finite: the generic path reports it; and near
    # the largest float, where the generic path's per-entry r²/σ² may overflow while this mean
    # of r² scaled once does not, the generic path gives its number (a margin of 4: r²/σ² is
    # at most 2n times the value, plus the shift)
    _, probe = _probes(y_pred, kwargs)
    largest = torch.finfo(y_pred.dtype).max / (4 * y_pred.numel())
    if probe and not value.detach().abs().max().item() < largest:
        return None
    return value


def _regression_value(hooks: LossHooks, torch: Any, fused: Callable[..., Array], y_true: Array,
                      y_pred: Array, kwargs: dict[str, Any], *extra: Any) -> Array | None:
    """``fused(y_pred, y_true, reduction code, *extra)`` (a ``torch._C._nn`` loss binding, see
    :data:`_REDUCTION`) reduced as the loss reduces; ``None`` (redo generically) for a
    non-finite value where the result may be read: a NaN or inf input always gives one (the
    generic path reports it), and where finite inputs overflow the generic path gives its own
    number."""
    reduction = kwargs.get("reduction", "mean")
    if reduction == "mean":
        # equal counts per sample: the mean of the per-sample means is the mean of all entries
        value = fused(y_pred, y_true, _MEAN, *extra)
    else:
        value = _reduced(hooks, torch, fused(y_pred, y_true, _NONE, *extra), reduction)
    _, probe = _probes(y_pred, kwargs)
    if probe and not _finite(value):
        return None
    return value


_ROBUST: dict[str, Callable[[Any], bool]] = {"sample_weight": _is_none}


def huber(hooks: LossHooks, y_true: Any, y_pred: Any, kwargs: dict[str, Any]) -> Array | None:
    """PyTorch's ``huber_loss`` kernel: one fused pass forward and one backward (measured,
    2e6 float32, forward + backward: 13 element-wise ops and ~15x ``F.huber_loss`` before).
    The value checks are the one read of the result (a NaN or inf input makes it
    non-finite)."""
    if not _plain(kwargs, hooks, _ROBUST):
        return None
    torch = _torch()
    if _tensors(y_true, y_pred) is None or y_true.shape != y_pred.shape \
            or y_true.dtype != y_pred.dtype:
        return None
    return _regression_value(hooks, torch, torch._C._nn.huber_loss, y_true, y_pred, kwargs,
                             float(kwargs.get("delta", 1.0)))


def mean_absolute_error(hooks: LossHooks, y_true: Any, y_pred: Any, kwargs: dict[str, Any]
                        ) -> Array | None:
    """PyTorch's ``l1_loss`` kernel (its gradient ``sign(r)``, 0 at 0, as the generic path's)."""
    if not _plain(kwargs, hooks, _ROBUST):
        return None
    torch = _tensors(y_true, y_pred)
    if torch is None or y_true.shape != y_pred.shape or y_true.dtype != y_pred.dtype:
        return None
    return _regression_value(hooks, torch, torch._C._nn.l1_loss, y_true, y_pred, kwargs)


_POISSON: dict[str, Callable[[Any], bool]] = {
    "log_input": _is_true, "full": lambda v: v is False, "sample_weight": _is_none}


def poisson_log_rate(hooks: LossHooks, y_true: Any, y_pred: Any, kwargs: dict[str, Any]
                     ) -> Array | None:
    r"""Log-rates :math:`\eta`, ``full=False``: :math:`e^\eta - y\eta` with PyTorch's
    ``poisson_nll_loss`` kernel. Its :math:`0 \cdot (-\infty)` is NaN where the generic path
    takes 0 (a zero count at rate 0): the result is read back and a NaN redoes the call
    generically, so only where reading is allowed. The target check (counts >= 0) is one
    minimum, read with the result."""
    if not _plain(kwargs, hooks, _POISSON):
        return None
    torch = _tensors(y_true, y_pred)
    if torch is None or y_true.shape != y_pred.shape or y_true.dtype != y_pred.dtype:
        return None
    check, probe = _probes(y_pred, kwargs)
    if not probe:
        return None  # an accelerator without checks: nothing may be read
    if check and not y_true.min().item() >= 0:
        return None  # a negative (or NaN) count: the generic path's error

    # torch.poisson_nll_loss(input, target, log_input, full, eps, reduction code)
    return _regression_value(hooks, torch, _poisson_log_input, y_true, y_pred, kwargs)


def _poisson_log_input(a: Array, b: Array, reduction: int) -> Array:
    return _torch().poisson_nll_loss(a, b, True, False, 1e-8, reduction)


_FOCAL: dict[str, Callable[[Any], bool]] = dict.fromkeys(("eps", "sample_weight"), _is_none) | {
    "from_logits": _is_true, "label_smoothing": _is_zero,
    # from logits these three agree (Keras applies the sigmoid first)
    "convention": lambda v: v in ("losskit", "sklearn", "torch"),
    # the factor (1 - p_t)^gamma through pow: its derivative is finite at 0 for gamma >= 1
    "gamma": lambda v: type(v) in (int, float) and (v == 0 or 1 <= v < math.inf),
    "alpha": lambda v: v is None or (type(v) in (int, float) and 0 <= v <= 1),
}


def binary_focal_from_logits(hooks: LossHooks, y_true: Any, y_pred: Any,
                             kwargs: dict[str, Any]) -> Array | None:
    r"""Hard labels: with :math:`s = (1 - 2y) z`, :math:`1 - p_t = \sigma(s)` and
    :math:`-\log p_t = \operatorname{softplus}(s)`, so
    :math:`l = lpha_t\, \sigma(s)^\gamma \operatorname{softplus}(s)`: five element-wise
    ops, each exact (no :math:`1 - p` is ever formed; measured, 2e6 float32 forward + backward:
    the generic path's 25 ops took 8-10x the textbook form on
    ``binary_cross_entropy_with_logits``). Soft labels go to the generic path."""
    if not kwargs.get("from_logits", False) or not _plain(kwargs, hooks, _FOCAL):
        return None
    torch = _tensors(y_true, y_pred)
    if torch is None or y_true.shape != y_pred.shape or y_true.dtype != y_pred.dtype \
            or y_true.requires_grad or kwargs.get("axis", -1) not in (-1, y_pred.ndim - 1):
        return None  # (the kernel averages the last axis)
    _, probe = _probes(y_pred, kwargs)
    # hard labels only (y - y² is 0 exactly for 0 and 1): a host read, as in the BCE kernel
    if not probe or y_true.mul(y_true).sub_(y_true).count_nonzero().item() != 0:
        return None
    functional = torch.nn.functional
    flip = torch.ones_like(y_pred).sub_(y_true).sub_(y_true)  # 1 - 2y: +1 for 0, -1 for 1
    s = y_pred * flip
    elementwise = functional.softplus(s, threshold=40.0 if y_pred.dtype == torch.float64
                                      else 20.0)
    gamma = float(kwargs.get("gamma", 2.0))
    if gamma != 0:
        elementwise = elementwise * torch.sigmoid(s).pow(gamma)
    alpha = kwargs.get("alpha")
    if alpha is not None:
        # alpha_t = alpha for y = 1, 1 - alpha for y = 0 (exact: y is 0 or 1)
        # (0-d tensors of y_pred's dtype: Python scalars in where would be float32)
        a = float(alpha)
        elementwise = elementwise * torch.where(y_true == 1, y_pred.new_tensor(a),
                                                y_pred.new_tensor(1.0 - a))
    value = _reduced(hooks, torch, elementwise, kwargs.get("reduction", "mean"))
    return _finish(value, probe)


#: the kernels by name, ``(hooks, y_true, y_pred, kwargs) -> value or None``, and the options
#: each one restricts (for the tests)
KERNELS: dict[str, tuple[Callable[..., Array | None], Mapping[str, Callable[[Any], bool]]]] = {
    "sparse_categorical_cross_entropy": (sparse_cross_entropy_from_logits, _SPARSE_CE),
    "binary_cross_entropy": (binary_cross_entropy_from_logits, _BINARY_CE),
    "mean_squared_error": (mean_squared_error, _MSE),
    "gaussian_nll": (gaussian_nll_fixed_variance, _GAUSSIAN),
    "huber_loss": (huber, _ROBUST),
    "mean_absolute_error": (mean_absolute_error, _ROBUST),
    "poisson_nll": (poisson_log_rate, _POISSON),
    "binary_focal_loss": (binary_focal_from_logits, _FOCAL),
}


def kernel_for(name: str, hooks: LossHooks) -> Callable[[Any, Any, dict[str, Any]],
                                                        Array | None]:
    """The native kernel ``name`` bound to its loss's ``hooks``, switched by
    :func:`native_kernels`: ``(y_true, y_pred, kwargs) -> value in the call's unit, or None``.

    Its ``bind(kwargs)`` fixes the options once (a criterion's): ``(y_true, y_pred) -> value
    or None``, the same calls taken with the same result, the options screened at the first
    call only (:class:`_Fixed`), no unit conversion where the unit is nats."""
    kernel = KERNELS[name][0]
    to_unit = hooks.to_unit

    def native(y_true: Any, y_pred: Any, kwargs: dict[str, Any]) -> Array | None:
        # only plain tensors are ever taken (_tensors): NumPy and JAX calls leave at once,
        # without the kernel's option screening (~2 µs a call)
        torch = _torch()
        if not _enabled or torch is None or type(y_pred) is not torch.Tensor:
            return None
        value = kernel(hooks, y_true, y_pred, kwargs)
        unit = kwargs.get("unit", "nats")
        if value is None or unit == "nats" or to_unit is None:
            return value
        return to_unit(value, unit)

    def bind(kwargs: Mapping[str, Any]) -> Callable[[Any, Any], Array | None]:
        fixed = _Fixed(kwargs)
        unit = fixed.get("unit", "nats")
        if unit != "nats" and to_unit is not None:
            return lambda y_true, y_pred: native(y_true, y_pred, fixed)

        specialised = _BINDERS.get(name)
        if specialised is not None:
            fast = specialised(hooks, fixed)
            if fast is not None:
                return fast

        def bound(y_true: Any, y_pred: Any) -> Array | None:
            return kernel(hooks, y_true, y_pred, fixed) if _enabled else None

        return bound

    native.bind = bind  # type: ignore[attr-defined]
    return native


# ------------------------------------------------ fused element-wise kernels with their gradient
# (issue 19: Student-t, Gamma, log-cosh, the hinge losses). Each computes its per-element loss
# in as few passes as it can, without autograd, and differentiates it with its analytic
# derivative in one custom autograd node (``_Fused``): a plain-ops version records every op for
# autograd and runs a backward op for each (measured, 1e6 float32: the Student-t NLL's plain
# ops took 13 passes forward + backward, this 7). Under ``create_graph`` (second derivatives)
# the backward recomputes the derivative from the saved inputs with differentiable ops.


class _Elementwise:
    """A per-element loss: ``forward(torch, y, z) -> (loss, saved)`` without autograd, and
    ``derivative(torch, y, z, saved, scale) -> scale * dl/dz`` (``saved`` is ``None`` under
    ``create_graph``: then from ``y``, ``z`` with differentiable ops; never in place on
    anything saved)."""

    #: a factor of the reduced value (the per-element losses are ``forward``'s divided by it:
    #: a constant factor costs a pass over the elements and nothing on the reduced value);
    #: ``derivative`` is of the final loss
    after = 1.0

    def forward(self, torch: Any, y: Array, z: Array) -> tuple[Array, tuple[Array, ...]]:
        raise NotImplementedError

    def derivative(self, torch: Any, y: Array, z: Array, saved: tuple[Array, ...] | None,
                   scale: Any) -> Array:
        raise NotImplementedError


_FUNCTIONS: dict[str, Any] = {}


def _fused_function(torch: Any) -> Any:
    """The custom autograd function of the element-wise kernels (made on first use: this
    module does not import torch)."""
    fused = _FUNCTIONS.get("elementwise")
    if fused is not None:
        return fused

    class _Fused(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, z: Array, y: Array, kernel: _Elementwise, hooks: LossHooks,
                    reduction: str) -> Array:
            loss, saved = kernel.forward(torch, y, z)
            ctx.kernel, ctx.reduction = kernel, reduction
            ctx.save_for_backward(z, y, *saved)
            return _after(kernel, _reduced(hooks, torch, loss, reduction))

        @staticmethod
        def backward(ctx: Any, g: Array) -> tuple[Array | None, ...]:
            z, y, *saved = ctx.saved_tensors
            scale = _backward_scale(g, z, ctx.reduction)
            differentiable = torch.is_grad_enabled()
            d = ctx.kernel.derivative(torch, y, z, None if differentiable else tuple(saved),
                                      scale)
            return d, None, None, None, None

    _FUNCTIONS["elementwise"] = _Fused
    return _Fused


def _fused_value(hooks: LossHooks, torch: Any, kernel: _Elementwise, y_true: Array,
                 y_pred: Array, reduction: str) -> Array:
    """The reduced loss; through the one custom autograd node where a gradient is wanted."""
    if y_pred.requires_grad and torch.is_grad_enabled():
        return _fused_function(torch).apply(y_pred, y_true, kernel, hooks, reduction)
    return _after(kernel, _reduced(hooks, torch, kernel.forward(torch, y_true, y_pred)[0],
                                   reduction))


def _after(kernel: _Elementwise, value: Array) -> Array:
    """``value`` times the kernel's factor ``after`` (in place: a fresh reduced tensor)."""
    return value if kernel.after == 1.0 else value.mul_(kernel.after)


#: from this many elements the hard-label BCE under autograd is one custom node (fewer
#: passes: forward flip, product, softplus, mean; backward sigmoid and two in-place products,
#: against ``soft_margin_loss``'s five and six), below it, and for the value alone,
#: ``soft_margin_loss`` (no Python backward; its in-place forward: value at 1e6 1.1-1.3x
#: PyTorch's BCE against 1.3x for the node's forward).
#: Measured, float32 forward + backward, one thread: 65,536 elements 0.40 / 0.42 ms, 262,144
#: 1.55 / 1.87 ms (PyTorch's fused BCE 1.28), 1e6 6.5 / 7.8 ms (5.5); 16,384 0.13 / 0.11 ms
_BINARY_FUSED_MIN = 1 << 16


class _HardBinary(_Elementwise):
    r""":math:`\operatorname{softplus}(s)`, :math:`s = (1 - 2y) z`, for labels 0/1, with
    its derivative :math:`(1 - 2y)\sigma(s)` (exact: no :math:`\sigma(z) - y` is formed).
    ``softplus`` takes :math:`s` itself above its threshold: exact once :math:`e^{-s}` is
    below half an ulp of :math:`s` (PyTorch's default 20 for float32; float64 needs 37)."""

    def __init__(self, double: bool) -> None:
        self.threshold = 40.0 if double else 20.0

    def forward(self, torch: Any, y: Array, z: Array) -> tuple[Array, tuple[Array, ...]]:
        flip = torch.add(_constant(torch, 1.0, y.dtype), y, alpha=-2)  # 1 - 2y: 1 for 0, -1 for 1
        s = torch.mul(z, flip)
        return torch.nn.functional.softplus(s, threshold=self.threshold), (s, flip)

    def derivative(self, torch: Any, y: Array, z: Array, saved: tuple[Array, ...] | None,
                   scale: Any) -> Array:
        if saved is None:  # create_graph: differentiably, from the inputs
            # sigma(s) as exp(-softplus(-s)): its derivative sigma(s) sigma(-s) without the
            # cancellation of sigmoid's own backward, sigma(s) (1 - sigma(s)), for s >> 0
            flip = 1.0 - 2.0 * y
            return torch.exp(-torch.nn.functional.softplus(
                -(z * flip), threshold=self.threshold)) * flip * scale
        s, flip = saved
        return torch.sigmoid(s).mul_(flip).mul_(scale)


def _same_float_tensors(y_true: Any, y_pred: Any) -> Any:
    """``torch`` for two float tensors of one shape and dtype whose targets need no gradient,
    else ``None``."""
    torch = _tensors(y_true, y_pred)
    if torch is None or y_true.shape != y_pred.shape or y_true.dtype != y_pred.dtype \
            or y_true.requires_grad:
        return None
    return torch


def _backward_scale(g: Array, x: Array, reduction: str) -> Array:
    """The factor of each element of ``x`` in the backward pass of a reduced loss: the
    reduction's (1/n for the mean, 1/k for a sample's k outputs) times the incoming
    gradient ``g``."""
    k = x.shape[-1] if x.ndim > 1 else 1
    if reduction == "mean":
        return g / x.numel()
    if reduction == "sum":
        return g / k
    return (g / k)[..., None] if x.ndim > 1 else g


def _finite(value: Array) -> bool:
    """Whether every value is finite (one read): an array by its sum, which any inf or NaN
    entry makes non-finite (a sum that overflows says no too, and the caller's generic path
    gives its number); 1.5 µs at 64 entries against 9 µs for ``isfinite().all()``."""
    return math.isfinite((value if value.ndim == 0 else value.detach().sum()).item())


class _StudentT(_Elementwise):
    r""":math:`\frac{\nu+1}2 \log(1 + r^2/(\nu s^2))` (the constant is added to the reduced
    value). The generic path splits at :math:`|r| = s\sqrt\nu` so that :math:`r^2` never
    overflows; here :math:`r^2/(\nu s^2)` is formed directly and a result that overflows is
    redone by the generic path (read with the result)."""

    def __init__(self, nu: float, scale: float) -> None:
        self.nu, self.c = nu, 1.0 / (nu * scale * scale)

    def forward(self, torch: Any, y: Array, z: Array) -> tuple[Array, tuple[Array, ...]]:
        r = z - y
        q = torch.mul(r, r).mul_(self.c)  # r²/(ν s²)
        return torch.log1p(q).mul_(0.5 * (self.nu + 1.0)), (r, q)

    def derivative(self, torch: Any, y: Array, z: Array, saved: tuple[Array, ...] | None,
                   scale: Any) -> Array:
        factor = (self.nu + 1.0) * self.c  # (ν+1)/(ν s²) · r/(1 + r²/(ν s²))
        if saved is None:
            r = z - y
            return r / (1.0 + r * r * self.c) * (scale * factor)
        r, q = saved
        return torch.add(q, 1.0).reciprocal_().mul_(r).mul_(scale * factor)


_STUDENT_T: dict[str, Callable[[Any], bool]] = {
    "scale": lambda v: type(v) in (int, float) and 0 < v < math.inf,
    "sample_weight": _is_none,
}


def student_t(hooks: LossHooks, y_true: Any, y_pred: Any, kwargs: dict[str, Any]
              ) -> Array | None:
    r"""A number scale: :math:`\frac{\nu+1}2\log(1 + r^2/(\nu s^2)) + c(\nu, s)`, one fused
    node. The value checks (finite inputs) are the one read of the result, which is also
    where an overflowing :math:`r^2` is caught; so only where the result may be read."""
    if not _plain(kwargs, hooks, _STUDENT_T):
        return None
    torch = _same_float_tensors(y_true, y_pred)
    if torch is None or not _probes(y_pred, kwargs)[1]:
        return None
    if "df" not in kwargs:  # the generic path says what is missing
        return None
    nu, s = float(kwargs["df"]), float(kwargs.get("scale", 1.0))
    # ν s² may underflow to 0 (a tiny scale): the generic path computes it in its own order
    if hooks.constant is None or not 0.0 < nu * s * s or \
            not 1.0 / (nu * s * s) < torch.finfo(y_pred.dtype).max:
        return None
    reduction = kwargs.get("reduction", "mean")
    value = _fused_value(hooks, torch, _StudentT(nu, s), y_true, y_pred, reduction)
    # + log[Γ(ν/2) √(νπ) s / Γ((ν+1)/2)] per sample (times the number of samples for a sum)
    constant = hooks.constant(nu) + math.log(s)
    if reduction == "sum":
        constant *= y_pred.numel() // (y_pred.shape[-1] if y_pred.ndim > 1 else 1)
    value = value + constant
    return value if _finite(value) else None


class _Gamma(_Elementwise):
    r""":math:`\alpha(y e^{-\eta} + \eta)`, the generic path's ops in its order (bitwise the
    same value); the derivative :math:`\alpha(1 - y e^{-\eta})` from the saved
    :math:`y e^{-\eta}`."""

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha

    def forward(self, torch: Any, y: Array, z: Array) -> tuple[Array, tuple[Array, ...]]:
        t = torch.neg(z).exp_().mul_(y)
        return torch.add(t, z).mul_(self.alpha), (t,)

    def derivative(self, torch: Any, y: Array, z: Array, saved: tuple[Array, ...] | None,
                   scale: Any) -> Array:
        if saved is None:
            return (1.0 - y * torch.exp(-z)) * (scale * self.alpha)
        return torch.rsub(saved[0], 1.0).mul_(scale * self.alpha)


_GAMMA: dict[str, Callable[[Any], bool]] = {
    "log_input": _is_true, "full": lambda v: type(v) is bool, "sample_weight": _is_none}


def gamma_log_mean(hooks: LossHooks, y_true: Any, y_pred: Any, kwargs: dict[str, Any]
                   ) -> Array | None:
    r"""Log-means: :math:`\alpha(y e^{-\eta} + \eta)`, one fused node (the generic path's
    value, the same ops); ``full=True`` adds the terms free of :math:`\eta`. The target
    check (:math:`y > 0`) is one minimum, and the finite-input check the one read of the
    result."""
    if not kwargs.get("log_input", False) or not _plain(kwargs, hooks, _GAMMA):
        return None
    torch = _same_float_tensors(y_true, y_pred)
    if torch is None:
        return None
    check = kwargs.get("check_values", True)
    if check and not y_true.min().item() > 0:
        return None  # a target <= 0 (or NaN): the generic path's error
    alpha, reduction = float(kwargs.get("shape", 1.0)), kwargs.get("reduction", "mean")
    value = _fused_value(hooks, torch, _Gamma(alpha), y_true, y_pred, reduction)
    if kwargs.get("full") is True:
        # + log Γ(α) - α log α - (α - 1) log y (the Gamma family's NLL), free of η: no
        # gradient; reduced apart and added, as the full Poisson kernel adds log y!
        terms = torch.log(y_true).mul_(1.0 - alpha).add_(
            math.lgamma(alpha) - alpha * math.log(alpha))
        value = value + (terms.mean() if reduction == "mean"
                         else _reduced(hooks, torch, terms, reduction))
    # the same ops as the generic path, so without checks its inf or NaN too; with checks a
    # non-finite result is the generic path's error
    return None if check and not _finite(value) else value


_LOG_COSH_BEND = 20.0  # beyond |r| = 20, log cosh r = |r| - log 2 to rounding (float64 too)


class _LogCosh(_Elementwise):
    r""":math:`\log\cosh r = \tfrac12 \log(1 + \sinh^2 r)` (:math:`\cosh^2 = 1 + \sinh^2`;
    the :math:`\tfrac12` is applied to the reduced value): one form, relatively accurate for
    tiny errors (where :math:`\cosh r` rounds to 1, and where the one-form alternatives
    :math:`|r| + \mathrm{softplus}(-2|r|) - \log 2` or :math:`\log\cosh r` lose every digit)
    and for large ones; the generic path's two forms (split at :math:`|r| = 1`) agree with it
    to rounding. Four passes (difference, ``sinh``, square, ``log1p``) where
    :math:`\log(1 + 2\sinh^2(r/2))` took six (measured at 1e6 float32, one thread, CPU ms:
    ``sinh`` 1.5, ``log1p`` 0.8, a product 0.3-0.5; the reference ``log(cosh r)`` is 2.5 in
    all; the cheap ``tanh`` form :math:`-\tfrac12\log(1 - \tanh^2 r)` loses digits from
    :math:`|r| \approx 2`). :math:`\sinh^2 r` overflows beyond :math:`|r| \approx 44`
    (float32; 355 in float64): where the result is read, such a call is redone by the generic
    path; where it may not be read, :math:`r` is clamped at 20 and :math:`2(|r| - |c|)`
    added back (:math:`\log\cosh 20 = 20 - \log 2` to rounding)."""

    after = 0.5

    def __init__(self, read: bool) -> None:
        self.read = read

    def forward(self, torch: Any, y: Array, z: Array) -> tuple[Array, tuple[Array, ...]]:
        r = z - y
        if self.read:
            h = torch.sinh(r)
            return h.mul_(h).log1p_(), (r,)
        c = torch.clamp(r, -_LOG_COSH_BEND, _LOG_COSH_BEND)
        h = torch.sinh(c)
        loss = h.mul_(h).log1p_()
        return loss.add_(torch.abs(r).sub_(c.abs_()).mul_(2.0)), (r,)

    def derivative(self, torch: Any, y: Array, z: Array, saved: tuple[Array, ...] | None,
                   scale: Any) -> Array:
        if saved is None:
            return torch.tanh(z - y) * scale
        return torch.tanh(saved[0]).mul_(scale)


_LOG_COSH: dict[str, Callable[[Any], bool]] = {
    "sample_weight": _is_none,
    # Keras' form (convention="keras") is its own formula, rounding included
    "convention": lambda v: v in ("losskit", "sklearn", "torch"),
}


def log_cosh(hooks: LossHooks, y_true: Any, y_pred: Any, kwargs: dict[str, Any]
             ) -> Array | None:
    """One fused node; the finite-input check is the one read of the result."""
    if not _plain(kwargs, hooks, _LOG_COSH):
        return None
    torch = _same_float_tensors(y_true, y_pred)
    if torch is None:
        return None
    probe = _probes(y_pred, kwargs)[1]
    value = _fused_value(hooks, torch, _LogCosh(probe), y_true, y_pred,
                         kwargs.get("reduction", "mean"))
    # an infinite input gives inf or NaN (the generic path's error, or its NaN without
    # checks), and so does |r| beyond ~89 (float32): the generic path's number
    return None if probe and not _finite(value) else value


class _Hinge(_Elementwise):
    r""":math:`\max(0, 1 - ts)^p` (:math:`p` = 1 or 2) with the signs :math:`t = \pm 1` the
    generic path takes (``2·[y > 0] - 1``): ``2y - 1`` for checked 0/1 labels, ``y`` for
    checked -1/+1 labels; :math:`1 - ts` is one ``addcmul`` (exact: :math:`ts = \pm s`). No
    ``torch.where``: on the CPU a select on a boolean mask took 5 ms at 1e6 elements, ten
    times a multiplication."""

    def __init__(self, power: int, coding: str, signs: Array | None = None) -> None:
        self.power, self.coding, self.known = power, coding, signs

    def signs(self, torch: Any, y: Array) -> Array:
        if self.known is not None:  # (made by the label check)
            return self.known
        if self.coding == "pm1":
            return y
        if self.coding == "01":
            return torch.mul(y, 2.0).sub_(1.0)
        if self.coding == "read":
            # sign(sign(y) - 1/2): +1 for y > 0, -1 for 0, -0 and y < 0 (three cheap passes
            # where the comparison and its conversion took two slow ones); NaN stays NaN,
            # which the read of the result sends to the generic path
            return torch.sign(y).sub_(0.5).sign_()
        return (y > 0).to(y.dtype).mul_(2.0).sub_(1.0)

    def forward(self, torch: Any, y: Array, z: Array) -> tuple[Array, tuple[Array, ...]]:
        t = self.signs(torch, y)
        gap = torch.addcmul(z.new_ones(()), t, z, value=-1.0).clamp_min_(0.0)
        if self.power == 1:
            return gap, (t, gap)
        if not torch.is_grad_enabled() and not z.requires_grad:
            return gap.mul_(gap), ()  # the value alone: squared in place
        return gap * gap, (t, gap)

    def derivative(self, torch: Any, y: Array, z: Array, saved: tuple[Array, ...] | None,
                   scale: Any) -> Array:
        if saved is None:
            t = self.signs(torch, y)
            gap = (1.0 - t * z).clamp_min(0.0)
            return (-t if self.power == 1 else -2.0 * t * gap) * torch.sign(gap) * scale
        t, gap = saved
        if self.power == 1:
            # -t inside the margin, 0 beyond it and at the kink (as the generic path): the
            # sign of the clamped gap is 1 or 0
            return torch.sign(gap).mul_(t).mul_(-scale)
        return torch.mul(gap, t).mul_(-2.0 * scale)


_HINGE: dict[str, Callable[[Any], bool]] = {
    "sample_weight": _is_none,
    # Keras maps labels by the whole array's coding
    "convention": lambda v: v in ("losskit", "sklearn", "torch"),
}


def _label_coding(torch: Any, y: Array) -> tuple[str, Array] | None:
    """``("01", 2y - 1)`` or ``("pm1", y)`` where every label is 0/1 (:func:`_zero_one`), or
    every label -1/+1 (the squares are all 1: a product and one reduction), with the signs;
    else ``None`` (mixed codings, other values, NaN, inf: the generic path's error)."""
    if _zero_one(torch, y):
        return "01", torch.add(_constant(torch, -1.0, y.dtype), y, alpha=2)
    if _read(*torch.aminmax(y * y)) == [1.0, 1.0]:
        return "pm1", y
    return None


def _hinge(power: int) -> Callable[..., Array | None]:
    def kernel(hooks: LossHooks, y_true: Any, y_pred: Any, kwargs: dict[str, Any]
               ) -> Array | None:
        """One fused node. The label check: the labels are all 0/1 or all -1/+1 (a
        multiplication and a reduction); anything else goes to the generic path, whose error
        it is. The scores' NaN check is the one read of the result."""
        if not _plain(kwargs, hooks, _HINGE):
            return None
        torch = _same_float_tensors(y_true, y_pred)
        if torch is None:
            return None
        check, probe = _probes(y_pred, kwargs)
        if check:
            coding = _label_coding(torch, y_true)
            if coding is None:
                return None
            fused = _Hinge(power, *coding)
        else:
            fused = _Hinge(power, "read" if probe else "any")
        value = _fused_value(hooks, torch, fused, y_true, y_pred,
                             kwargs.get("reduction", "mean"))
        return _finish(value, probe)

    kernel.__name__ = kernel.__qualname__ = "squared_hinge" if power == 2 else "hinge"
    return kernel


hinge = _hinge(1)
squared_hinge = _hinge(2)

KERNELS.update({
    "student_t_nll": (student_t, _STUDENT_T),
    "gamma_nll": (gamma_log_mean, _GAMMA),
    "log_cosh_loss": (log_cosh, _LOG_COSH),
    "hinge_loss": (hinge, _HINGE),
    "squared_hinge_loss": (squared_hinge, _HINGE),
})


# ------------------------------------------------- probability rows: KL, soft cross-entropy
# (issue 19). The target rows' check is two reductions and one read (their range and the range
# of their sums); a row that fails it goes to the generic path, whose error it is.


def _row_sums(p: Array) -> Array:
    """Sums along the last axis by a matrix-vector product (as the generic path's check
    takes them): measured at 333,333 x 3 float32, 1.0 ms against 2.2 ms for ``sum(-1)``,
    whose short rows do not vectorise."""
    return p @ p.new_ones(p.shape[-1])


#: rows this short and arrays this small are checked by one matrix product (:func:`_rows_ok`)
_AFFINE_MAX_CLASSES = 32
_AFFINE_MAX_ELEMENTS = 1 << 12  # (4096 x 10: 39 µs by reductions, 79 by the product)
_AFFINE: dict[tuple[Any, ...], tuple[Array, Array]] = {}


def _affine(torch: Any, p: Array) -> tuple[Array, Array]:
    r"""``(b, W)`` of the check of :func:`_rows_ok` for ``p``'s row length, dtype and device,
    made once: ``W = [I | w 1]``, ``b = [0, ..., 0, 1/2 - w]`` with
    :math:`w = 1 / (2	au')`, :math:`	au' = 	au (1 - 2^{-6})` a little inside the generic
    path's tolerance :math:`	au = \sqrt{\epsilon}` (the rounding of the scaled row sum, at
    most :math:`(C + 1)` half-ulps of :math:`w`, is below :math:`2^{-6}	au` in row-sum units
    up to 32 classes: a row this check takes is one the generic check takes)."""
    c = p.shape[-1]
    key = (c, p.dtype) if p.is_cpu else (c, p.dtype, p.device)
    found = _AFFINE.get(key)
    if found is None:
        tol = math.sqrt(torch.finfo(p.dtype).eps) * (1.0 - 2.0 ** -6)
        w = 0.5 / tol
        weights = torch.zeros((c, c + 1), dtype=p.dtype, device=p.device)
        weights[:, :c] = torch.eye(c, dtype=p.dtype, device=p.device)
        weights[:, c] = w
        bias = torch.zeros(c + 1, dtype=p.dtype, device=p.device)
        bias[c] = 0.5 - w
        found = _AFFINE[key] = (bias, weights)
    return found


def _rows_ok(torch: Any, *rows: Array) -> bool:
    """Every array holds values in [0, 1] in rows (last axis) summing to 1 within the generic
    path's tolerance (``sqrt(eps)``); NaN fails. Two reductions an array and one read for all
    of them (compared on the host: at a 64-row batch each tensor op costs more than the
    arithmetic). Small arrays with short rows: one matrix product maps each row to itself and
    its sum, shifted and scaled so that a valid sum falls in [0, 1] too
    (:func:`_affine`), and one ``aminmax`` of that says all (measured at 64 x 3: 11.4 ->
    6.6 µs). ``False`` may also mean "too close to the tolerance to say": the generic path's
    check then decides."""
    if len(rows) == 1:
        p = rows[0]
        if p.ndim == 2 and p.shape[-1] <= _AFFINE_MAX_CLASSES \
                and p.numel() <= _AFFINE_MAX_ELEMENTS:
            bias, weights = _affine(torch, p)
            low, high = _read(*torch.addmm(bias, p.detach(), weights).aminmax())
            return low >= 0 and high <= 1
    stats, affine = [], []
    for p in rows:
        small = p.ndim == 2 and p.shape[-1] <= _AFFINE_MAX_CLASSES \
            and p.numel() <= _AFFINE_MAX_ELEMENTS
        affine.append(small)
        if small:
            bias, weights = _affine(torch, p)
            stats.extend(torch.addmm(bias, p.detach(), weights).aminmax())
        else:
            stats.extend(torch.aminmax(p))
            stats.extend(torch.aminmax(_row_sums(p)))
    values = iter(_read(*stats))
    tol = math.sqrt(torch.finfo(rows[0].dtype).eps)
    for small in affine:
        if small:
            low, high = next(values), next(values)
            if not (low >= 0 and high <= 1):
                return False
            continue
        low, high, low_sum, high_sum = (next(values) for _ in range(4))
        if not (low >= 0 and high <= 1 and low_sum >= 1 - tol and high_sum <= 1 + tol):
            return False
    return True


def _row_tensors(y_true: Any, y_pred: Any, kwargs: dict[str, Any]) -> Any:
    """``torch`` for float rows along the last axis (``axis`` -1, or the last one) that may be
    read back, else ``None``: a ``-inf`` logit under a zero target gives PyTorch's
    ``0 · (-inf) = NaN`` where the generic path takes 0, so the result is read and a NaN
    redoes the call generically."""
    torch = _same_float_tensors(y_true, y_pred)
    if torch is None or kwargs.get("axis", -1) not in (-1, y_pred.ndim - 1) \
            or not _probes(y_pred, kwargs)[1]:
        return None
    return torch


def _row_reduced(torch: Any, per_sample_total: Callable[[str], Array], y_pred: Array,
                 reduction: str) -> Array:
    if reduction == "none":
        return per_sample_total("none")
    total = per_sample_total("sum")
    return total if reduction == "sum" else total / (y_pred.numel() // y_pred.shape[-1])


_KL: dict[str, Callable[[Any], bool]] = {
    "from_logits": _is_true, "log_target": lambda v: v is False, "sample_weight": _is_none,
    "axis": lambda v: type(v) is int,
    # PyTorch's "mean" divides by n·C; with logits and no weights the others are losskit's
    "convention": lambda v: v in ("losskit", "sklearn", "keras"),
}


def kl_divergence_from_logits(hooks: LossHooks, y_true: Any, y_pred: Any,
                              kwargs: dict[str, Any]) -> Array | None:
    r""":math:`\sum_c p_c (\log p_c - \log\mathrm{softmax}(z)_c)` with PyTorch's
    ``log_softmax`` and ``kl_div`` (two autograd nodes; the generic path takes about ten)."""
    if not kwargs.get("from_logits", False) or not _plain(kwargs, hooks, _KL):
        return None
    torch = _row_tensors(y_true, y_pred, kwargs)
    if torch is None:
        return None
    if kwargs.get("check_values", True) and not _rows_ok(torch, y_true):
        return None
    log_q = y_pred.log_softmax(-1)

    def total(reduction: str) -> Array:
        value = torch.kl_div(log_q, y_true, _REDUCTION[reduction], log_target=False)
        return value.sum(-1) if reduction == "none" else value

    return _finish(_row_reduced(torch, total, y_pred, kwargs.get("reduction", "mean")), True)


_SOFT_CE: dict[str, Callable[[Any], bool]] = {
    "class_weight": _is_none, "label_smoothing": _is_zero, "sample_weight": _is_none,
    "axis": lambda v: type(v) is int,
    "eps": lambda v: v is None or (type(v) in (int, float) and 0 < v < 0.5),
    # Keras renormalises probability rows and clips at 1e-7, PyTorch does not clip
    "convention": lambda v: v in ("losskit", "sklearn"),
}


def categorical_cross_entropy(hooks: LossHooks, y_true: Any, y_pred: Any,
                              kwargs: dict[str, Any]) -> Array | None:
    r"""Probability (or one-hot) target rows. Logits: PyTorch's ``cross_entropy`` with
    probability targets (:math:`-\sum_c y_c \log\mathrm{softmax}(z)_c`, its own kernel).
    Probabilities: :math:`-\sum_c y_c \log \operatorname{clip}(p_c, \epsilon, 1 - \epsilon)`,
    four autograd nodes. The checks (both arrays' ranges and row sums) are four reductions and
    one read; logits are checked for NaN by the read of the result."""
    if not _plain(kwargs, hooks, _SOFT_CE):
        return None
    torch = _row_tensors(y_true, y_pred, kwargs)
    if torch is None:
        return None
    from_logits = kwargs.get("from_logits", False)
    if kwargs.get("check_values", True) and not (
            _rows_ok(torch, y_true) if from_logits else _rows_ok(torch, y_true, y_pred)):
        return None
    reduction = kwargs.get("reduction", "mean")
    if from_logits:
        if y_pred.ndim != 2:
            return None  # (cross_entropy takes classes on axis 1)
        value = torch._C._nn.cross_entropy_loss(y_pred, y_true, None, _REDUCTION[reduction],
                                                -100, 0.0)
    else:
        eps = kwargs.get("eps")
        eps = float(torch.finfo(y_pred.dtype).eps if eps is None else eps)
        terms = y_pred.clamp(eps, 1.0 - eps).log()

        def total(how: str) -> Array:
            if how == "none":
                return -torch.linalg.vecdot(y_true, terms)
            return -torch.mul(y_true, terms).sum()  # (no per-row sums: one op fewer)

        value = _row_reduced(torch, total, y_pred, reduction)
    return _finish(value, True)


def _categorical_hinge_function(torch: Any) -> Any:
    fused = _FUNCTIONS.get("categorical_hinge")
    if fused is not None:
        return fused

    class _CategoricalHinge(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, z: Array, y: Array, one_hot: bool) -> Array:
            loss, target, rival, gap = _categorical_hinge_rows(torch, y, z, one_hot)
            ctx.save_for_backward(z, target, rival, gap)
            return loss

        @staticmethod
        def backward(ctx: Any, g: Array) -> tuple[Array | None, ...]:
            z, target, rival, gap = ctx.saved_tensors
            # -1 at the target, +1 at the highest other class, where the margin is violated
            # (the sign of the clamped gap is 1 or 0)
            rows = torch.sign(gap).clamp_min_(0.0).mul_(g)[..., None]
            d = torch.mul(target, -rows)
            d.scatter_add_(-1, rival[..., None], rows)
            if torch.is_grad_enabled():
                d = d + z * 0.0  # piecewise linear: the second derivative is 0
            return d, None, None

    _FUNCTIONS["categorical_hinge"] = _CategoricalHinge
    return _CategoricalHinge


def _categorical_hinge_rows(torch: Any, y: Array, z: Array, one_hot: bool
                            ) -> tuple[Array, ...]:
    r"""Per-row :math:`\max(0, 1 - s_y + \max_{c \ne y} s_c)`, in the generic path's order.

    With :math:`t = [y > 0]` (``y`` itself for checked one-hot rows) the target's score is
    :math:`t \cdot s` and the other classes' maximum is taken over
    :math:`s - t \cdot \mathrm{max}_{float}` (measured at 1e6 x 3
    float32: 2.6 ms for the product and the shift against 6.5 ms for ``where`` and
    ``masked_fill``). Exact: the other classes' scores are unchanged, and where the shifted
    target wins (every other score below ``s_y - max``) the loss is 0 either way. An infinite
    score makes the value NaN, which sends the call to the generic path."""
    # the targets as 0/1 (y itself for checked one-hot rows; else [y > 0], NaN kept)
    target = y if one_hot else torch.sign(y).clamp_min_(0.0)
    true_score = _row_sums(target * z)
    others = torch.add(z, target, alpha=-torch.finfo(z.dtype).max)
    rival_score, rival = others.max(-1)
    gap = (1.0 - true_score) + rival_score
    return gap.clamp_min(0.0), target, rival, gap


_CATEGORICAL_HINGE: dict[str, Callable[[Any], bool]] = {
    "sample_weight": _is_none, "axis": lambda v: type(v) is int,
    # Keras counts the true class as a wrong score of 0
    "convention": lambda v: v in ("losskit", "sklearn", "torch"),
}


def categorical_hinge(hooks: LossHooks, y_true: Any, y_pred: Any, kwargs: dict[str, Any]
                      ) -> Array | None:
    """One custom autograd node: the rows' scores at the target and the highest other class,
    and a backward that writes only those two entries per row. The one-hot check: every value
    is 0 or 1 (:func:`_zero_one`) and every row sums to 1 (one reduction, one read)."""
    if not _plain(kwargs, hooks, _CATEGORICAL_HINGE):
        return None
    torch = _row_tensors(y_true, y_pred, kwargs)
    if torch is None or y_pred.ndim < 2 or y_pred.shape[-1] < 2:
        return None
    one_hot = kwargs.get("check_values", True)
    if one_hot:
        # 0/1 entries, rows summing to 1 (one reduction)
        if not _zero_one(torch, y_true) \
                or _read(*torch.aminmax(_row_sums(y_true))) != [1.0, 1.0]:
            return None
    if y_pred.requires_grad and torch.is_grad_enabled():
        per_row = _categorical_hinge_function(torch).apply(y_pred, y_true, one_hot)
    else:
        per_row = _categorical_hinge_rows(torch, y_true, y_pred, one_hot)[0]
    return _finish(hooks.reduce(torch, per_row, kwargs.get("reduction", "mean")), True)


KERNELS.update({
    "kl_divergence": (kl_divergence_from_logits, _KL),
    "categorical_cross_entropy": (categorical_cross_entropy, _SOFT_CE),
    "categorical_hinge_loss": (categorical_hinge, _CATEGORICAL_HINGE),
})


# ---------------------------------------------------------------- negative binomial (issue 19)

#: the largest r = 1/α and count y the kernel takes: there float64 lgamma/digamma differences
#: (absolute error below ~1e-16 lgamma(y + r)) are exact for a float32 result; the generic
#: path's Lanczos and asymptotic forms take the rest (and float64 inputs, whose result needs
#: them to keep 1e-12 near the Poisson limit, where lgamma(y + r) - lgamma(r) cancels)
_NB_MAX_R = 1e4
_NB_MAX_COUNT = 1e6


def _nb_terms(torch: Any, y: Array, z: Array, full: bool = False) -> tuple[Array, ...]:
    r"""``(loss, u, r, softplus(u), y64, r64)`` in the generic path's order of operations;
    ``full``: with :math:`\log y!`, in the float64 difference of ``lgamma`` (one rounding;
    ``torch.lgamma``, as the full Poisson kernel: the generic path's float32 Lanczos series
    is 2e-6 off at small counts)."""
    functional = torch.nn.functional
    eta, s = z.unbind(-1)
    u = eta + s
    r = torch.exp(-s)
    sp = functional.softplus(u)  # -log σ(-u); exact past its threshold 20 (e^-20 < ulp/2)
    y64, r64 = y.double(), r.double()
    ratio = torch.lgamma(y64 + r64) - torch.lgamma(r64)  # 0 at y = 0
    if full:
        ratio = ratio - torch.lgamma(y64 + 1.0)
    ratio = ratio.to(z.dtype)
    loss = r * sp + y * functional.softplus(-u) - ratio
    return loss, u, r, sp, y64, r64


def _nb_gradient(torch: Any, y: Array, u: Array, r: Array, sp: Array, y64: Array,
                 r64: Array, out: Array | None = None) -> Array:
    r""":math:`(rp - y(1-p),\; r[\psi(y + r) - \psi(r) - \mathrm{softplus}(u)] + \dots)`,
    written into the two columns of ``out`` where given (a ``stack`` took 5% of the call)."""
    p = torch.sigmoid(u)
    digamma = (torch.digamma(y64 + r64) - torch.digamma(r64)).to(u.dtype)
    if out is None:  # (differentiable: create_graph)
        g_eta = r * p - y * (1.0 - p)
        return torch.stack((g_eta, r * (digamma - sp) + g_eta), dim=-1)
    g_eta, g_s = out.unbind(-1)
    torch.sub(r * p, y * (1.0 - p), out=g_eta)
    torch.add(r * digamma.sub_(sp), g_eta, out=g_s)
    return out


def _nb_function(torch: Any) -> Any:
    fused = _FUNCTIONS.get("negative_binomial")
    if fused is not None:
        return fused

    class _NegativeBinomial(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, z: Array, y: Array, hooks: LossHooks, reduction: str,
                    full: bool = False) -> Array:
            loss, *saved = _nb_terms(torch, y, z, full)
            ctx.reduction = reduction
            ctx.save_for_backward(z, y, *saved)
            return _reduced(hooks, torch, loss, reduction)

        @staticmethod
        def backward(ctx: Any, g: Array) -> tuple[Array | None, ...]:
            z, y, *saved = ctx.saved_tensors
            scale = _backward_scale(g, y, ctx.reduction)  # y: one column per output
            factor = scale[..., None] if scale.ndim else scale
            if torch.is_grad_enabled():  # create_graph: from z, differentiably
                return _nb_gradient(torch, y, *_nb_terms(torch, y, z)[1:]) * factor, \
                    None, None, None, None
            return _nb_gradient(torch, y, *saved, out=torch.empty_like(z)).mul_(factor), \
                None, None, None, None

    _FUNCTIONS["negative_binomial"] = _NegativeBinomial
    return _NegativeBinomial


_NEGATIVE_BINOMIAL: dict[str, Callable[[Any], bool]] = {
    "alpha": _is_none, "log_input": _is_true, "full": lambda v: type(v) is bool,  # (+ log y!)
    "sample_weight": _is_none}


def negative_binomial_learned(hooks: LossHooks, y_true: Any, y_pred: Any,
                              kwargs: dict[str, Any]) -> Array | None:
    r"""Learned dispersion, float32: :math:`r\,\mathrm{softplus}(u) + y\,\mathrm{softplus}(-u)
    - [\log\Gamma(y + r) - \log\Gamma(r)]`, one custom autograd node, the two ``lgamma``
    (and, backward, ``digamma``) differences in float64 (the generic path's Lanczos series
    take about 40 element-wise ops each way). Needs one read (the counts' range and the
    largest :math:`r`): counts or dispersions outside the kernel's range, and float64 inputs,
    go to the generic path."""
    if not _plain(kwargs, hooks, _NEGATIVE_BINOMIAL):
        return None
    torch = _tensors(y_true, y_pred)
    if torch is None or y_pred.dtype != torch.float32 or y_true.dtype != y_pred.dtype \
            or tuple(y_pred.shape) != (*y_true.shape, 2) or y_true.requires_grad \
            or not _probes(y_pred, kwargs)[1]:
        return None
    low, high, s_low = _read(*torch.aminmax(y_true), y_pred[..., 1].min())
    check = kwargs.get("check_values", True)
    if not (high <= _NB_MAX_COUNT and s_low >= -math.log(_NB_MAX_R)) or (check and not low >= 0):
        return None
    reduction = kwargs.get("reduction", "mean")
    full = kwargs.get("full") is True
    if y_pred.requires_grad and torch.is_grad_enabled():
        value = _nb_function(torch).apply(y_pred, y_true, hooks, reduction, full)
    else:
        value = _reduced(hooks, torch, _nb_terms(torch, y_true, y_pred, full)[0], reduction)
    return value if _finite(value) else None


KERNELS["negative_binomial_nll"] = (negative_binomial_learned, _NEGATIVE_BINOMIAL)


# ============================================ the third round's kernels (issue 19)
# More native kernels: the Laplace NLL, the pinball loss, the Tweedie deviance of log-means,
# the full Poisson NLL, the squared log and percentage errors. Same rules as above: a kernel
# returns the loss's value, or ``None`` to leave the call to the generic path. Measured
# figures: ``benchmarks/README.md`` ("Issue 19, torch rows at 1e6 ..., third round").


def _is_bool(value: Any) -> bool:
    return type(value) is bool

# ------------------------------------------------------------------------------- Laplace NLL

_LAPLACE: dict[str, Callable[[Any], bool]] = {
    "scale": lambda v: type(v) in (int, float) and 0 < v < math.inf,
    "sample_weight": _is_none,
}


def laplace_location(hooks: LossHooks, y_true: Any, y_pred: Any, kwargs: dict[str, Any]
                     ) -> Array | None:
    r"""A number scale :math:`b`: :math:`\log 2b + |\eta - y|/b` as PyTorch's ``l1_loss``
    divided once by :math:`b` (one fused pass forward and one backward, against the generic
    path's subtraction, ``abs``, division, addition and their backward ops; gradient
    :math:`\operatorname{sign}(\eta - y)/b`, 0 at a tie, as the generic path's). The value
    checks are the one read of the result (a NaN or inf input makes it non-finite); near the
    largest float, where the generic path's per-entry :math:`|r|/b` may overflow while this
    mean divided once does not, the generic path gives its number."""
    if not _plain(kwargs, hooks, _LAPLACE):
        return None
    torch = _same_float_tensors(y_true, y_pred)
    if torch is None:
        return None
    b = float(kwargs.get("scale", 1.0))
    shift = math.log(2.0 * b)
    if not (math.isfinite(shift) and 1.0 / b < torch.finfo(y_pred.dtype).max):
        return None  # 2b overflows or 1/b does: the generic path's numbers
    _, probe = _probes(y_pred, kwargs)
    l1_loss = torch.nn.functional.l1_loss
    reduction = kwargs.get("reduction", "mean")
    if reduction == "mean":
        value = l1_loss(y_pred, y_true) / b + shift
    else:
        per_sample, _ = hooks.per_sample(torch, l1_loss(y_pred, y_true, reduction="none"))
        value = hooks.reduce(torch, per_sample / b + shift, reduction)
    if probe:
        # |r|/b is at most n times the mean (plus the shift): a margin of 4n
        largest = torch.finfo(y_pred.dtype).max / (4 * y_pred.numel())
        if not value.detach().abs().max().item() < largest:
            return None
    return value


# ------------------------------------------------------------------------------ pinball loss


class _Pinball(_Elementwise):
    r""":math:`\max(\tau d, (\tau - 1) d)`, :math:`d = y - \hat y`: the generic path's
    :math:`\tau d` for :math:`d \ge 0` and :math:`(\tau - 1) d` otherwise, the same products
    (bit for bit: for :math:`d \ge 0` the first is :math:`\ge 0 \ge` the second), four passes
    and no mask; the derivative :math:`-\tau` for :math:`d > 0`, :math:`1 - \tau` for
    :math:`d < 0`, 0 at a tie."""

    def __init__(self, quantile: float) -> None:
        self.q = quantile

    def forward(self, torch: Any, y: Array, z: Array) -> tuple[Array, tuple[Array, ...]]:
        d = torch.sub(y, z)
        upper = torch.mul(d, self.q)
        return torch.maximum(upper, torch.mul(d, self.q - 1.0), out=upper), (d,)

    def derivative(self, torch: Any, y: Array, z: Array, saved: tuple[Array, ...] | None,
                   scale: Any) -> Array:
        d = y - z if saved is None else saved[0]
        below = _constant(torch, 1.0 - self.q, d.dtype)
        if saved is None:  # create_graph: no in-place op on what autograd may hold
            return torch.where(d < 0, below, torch.sign(d) * -self.q) * scale
        # sign(d)·(-τ): -τ above, 0 (as -0) at a tie; 1 - τ below
        return torch.where(d < 0, below, torch.sign(d).mul_(-self.q)).mul_(scale)


_PINBALL: dict[str, Callable[[Any], bool]] = {
    "sample_weight": _is_none,
    "convention": lambda v: v == "losskit",
}


def pinball(hooks: LossHooks, y_true: Any, y_pred: Any, kwargs: dict[str, Any]
            ) -> Array | None:
    r""":math:`\rho_\tau(y - \hat y)`, one fused node (the generic path's ``where`` of two
    products and its gradient's two masks took 2.4-3.1x the plain formula for the value).
    The value checks (finite inputs) are the one read of the result."""
    if not _plain(kwargs, hooks, _PINBALL):
        return None
    torch = _same_float_tensors(y_true, y_pred)
    if torch is None:
        return None
    _, probe = _probes(y_pred, kwargs)
    value = _fused_value(hooks, torch, _Pinball(float(kwargs.get("quantile", 0.5))), y_true,
                         y_pred, kwargs.get("reduction", "mean"))
    # a NaN or inf input (or a difference that overflows) makes the result non-finite: the
    # generic path's error or number
    return None if probe and not _finite(value) else value


# --------------------------------------------------------------- Tweedie deviance, log-means


class _Tweedie(_Elementwise):
    r"""Log-means :math:`\eta`, power :math:`1 < p < 2` (:math:`a = 2 - p`,
    :math:`b = 1 - p`), targets :math:`y \ge 0`: for :math:`y > 0`, with
    :math:`L = \eta - \log y`, the generic path's cancellation-free form
    :math:`2 y^a [\mathrm{expm1}(aL)/a - \mathrm{expm1}(bL)/b]`; for :math:`y = 0`,
    :math:`2 e^{a\eta}/a`. The factor 2 is applied to the reduced value. The derivative
    :math:`2 \mu^b (\mu - y)` as :math:`2 y^a [\mathrm{expm1}(aL) - \mathrm{expm1}(bL)]`
    from the saved terms (no :math:`\mu - y` cancels near :math:`\mu = y`: :math:`aL` and
    :math:`bL` have opposite signs), :math:`2 e^{a\eta}` at :math:`y = 0`.

    ``zeros``: whether any target is 0 (read with the target check): without one the
    ``where`` and the :math:`e^{a\eta}` pass are skipped."""

    after = 2.0

    def __init__(self, power: float, zeros: bool) -> None:
        self.a, self.b, self.zeros = 2.0 - power, 1.0 - power, zeros

    def _y_a(self, torch: Any, y: Array) -> Array:
        # y^(1/2) (power 1.5) as sqrt: the same number (correctly rounded), a tenth of pow
        return torch.sqrt(y) if self.a == 0.5 else torch.pow(y, self.a)

    def forward(self, torch: Any, y: Array, z: Array) -> tuple[Array, tuple[Array, ...]]:
        a, b = self.a, self.b
        big_l = torch.log(y)
        torch.sub(z, big_l, out=big_l)  # L = η - log y (+inf at y = 0: replaced below)
        e_a = torch.mul(big_l, a).expm1_()
        e_b = big_l.mul_(b).expm1_()
        y_a = self._y_a(torch, y)
        loss = torch.mul(e_a, 1.0 / a).add_(e_b, alpha=-1.0 / b).mul_(y_a)
        if self.zeros:
            at_zero = torch.mul(z, a).exp_()
            loss = torch.where(y > 0, loss, at_zero.mul_(1.0 / a))
            return loss, (e_a, e_b, y_a, at_zero)
        return loss, (e_a, e_b, y_a)

    def derivative(self, torch: Any, y: Array, z: Array, saved: tuple[Array, ...] | None,
                   scale: Any) -> Array:
        if saved is None:  # create_graph: differentiably, every branch finite
            positive = y > 0
            safe_y = torch.where(positive, y, torch.ones_like(y))
            big_l = z - torch.log(safe_y)
            d = self._y_a(torch, safe_y) * (torch.expm1(big_l * self.a)
                                            - torch.expm1(big_l * self.b))
            if self.zeros:
                d = torch.where(positive, d, torch.exp(z * self.a))
            return d * (scale * 2.0)
        e_a, e_b, y_a, *rest = saved
        d = torch.sub(e_a, e_b).mul_(y_a)
        if self.zeros:
            # e^(aη)/a was saved: times a is e^(aη) (within an ulp)
            d = torch.where(y > 0, d, rest[0] * self.a)
        return d.mul_(scale * 2.0)


_TWEEDIE: dict[str, Callable[[Any], bool]] = {
    "log_input": _is_true,
    "power": lambda v: type(v) in (int, float) and 1 < v < 2,
    "sample_weight": _is_none,
}


def tweedie_log_mean(hooks: LossHooks, y_true: Any, y_pred: Any, kwargs: dict[str, Any]
                     ) -> Array | None:
    r"""Log-means, :math:`1 < p < 2`: the deviance in one fused node (the generic path's
    careful form with its ``where``\ s, about 25 passes forward and backward, took ~3x the
    textbook formula). The target check (:math:`y \ge 0`) is one minimum, read with the
    finite-value check of the result; so only where the result may be read."""
    if not kwargs.get("log_input", False) or not _plain(kwargs, hooks, _TWEEDIE):
        return None
    torch = _same_float_tensors(y_true, y_pred)
    if torch is None or not _probes(y_pred, kwargs)[1]:
        return None
    smallest = y_true.min().item()
    if not smallest >= 0:
        return None  # a negative (or NaN) target: the generic path's error or number
    power, reduction = float(kwargs["power"]), kwargs.get("reduction", "mean")
    kernel = _Tweedie(power, zeros=smallest == 0)
    value = _fused_value(hooks, torch, kernel, y_true, y_pred, reduction)
    if _finite(value):
        return value
    # a NaN or inf input: the generic path's error or number
    if not (bool(torch.isfinite(y_pred).all()) and bool(torch.isfinite(y_true).all())):
        return None
    # finite inputs: the careful form overflowed (an expm1 of a large a L, e.g. float32
    # log-means from 89 on, or tiny targets far below the mean), or the deviance itself does:
    # the generic path's mended form (a rare call: its cost does not matter), whose wheres see
    # inputs safe for each branch, so its autograd is the gradient (inf only where it
    # overflows), never NaN
    return None


# ------------------------------------------------------------- Poisson NLL with log y! (full)

_POISSON_FULL: dict[str, Callable[[Any], bool]] = {
    "log_input": _is_true, "full": _is_true, "eps": _is_none, "sample_weight": _is_none,
    # convention="torch" adds Stirling's approximation instead of log y!
    "convention": lambda v: v in ("losskit", "sklearn"),
}


def poisson_log_rate_full(hooks: LossHooks, y_true: Any, y_pred: Any, kwargs: dict[str, Any]
                          ) -> Array | None:
    r"""Log-rates, ``full=True``: :math:`e^\eta - y\eta + \log\Gamma(y + 1)`, PyTorch's
    ``poisson_nll_loss`` (``full=False``) plus ``lgamma(y + 1)``, which takes no gradient
    (the Poisson family's NLL). ``torch.lgamma`` is the more exact of the two in float32
    (measured, counts 0 to 1e5: at most 12 ulp, 1e-7 at y <= 2, against the generic path's
    Lanczos series in float32, 2e-6 at y <= 2 and 0.14 absolute at 1e5); the two agree to
    1e-15 in float64. The target check (counts >= 0) is one minimum, the finite-input check
    the one read of the result (also where PyTorch's :math:`0 \cdot (-\infty)` is NaN and
    the generic path takes 0): so only where the result may be read."""
    if not _plain(kwargs, hooks, _POISSON_FULL):
        return None
    torch = _same_float_tensors(y_true, y_pred)
    if torch is None or not _probes(y_pred, kwargs)[1]:
        return None
    if not y_true.min().item() >= 0:
        return None  # a negative (or NaN) count: the generic path's error or number
    log_factorial = torch.lgamma(y_true + 1.0)
    loss = torch.nn.functional.poisson_nll_loss
    reduction = kwargs.get("reduction", "mean")
    if reduction == "mean":
        value = loss(y_pred, y_true, log_input=True, full=False) + log_factorial.mean()
    else:
        value = _reduced(hooks, torch, loss(y_pred, y_true, log_input=True, full=False,
                                            reduction="none") + log_factorial, reduction)
    return value if _finite(value) else None


def poisson_log_rate_any(hooks: LossHooks, y_true: Any, y_pred: Any, kwargs: dict[str, Any]
                         ) -> Array | None:
    """:func:`losskit._torch.poisson_log_rate`, and with ``full=True``
    :func:`poisson_log_rate_full`."""
    if kwargs.get("full") is True:
        return poisson_log_rate_full(hooks, y_true, y_pred, kwargs)
    return poisson_log_rate(hooks, y_true, y_pred, kwargs)


# ------------------------------------------------- mean squared log error, percentage error


_MSLE: dict[str, Callable[[Any], bool]] = {
    "sample_weight": _is_none,
    # the conventions without Keras' clip of the inputs at 1e-7
    "convention": lambda v: type(v) is str and v in ("losskit", "sklearn", "torch", "optax"),
}


def mean_squared_log_error(hooks: LossHooks, y_true: Any, y_pred: Any, kwargs: dict[str, Any]
                           ) -> Array | None:
    r""":math:`(\log(1 + \hat y) - \log(1 + y))^2` as PyTorch's ``mse_loss`` of the two
    ``log1p``\ s (autograd's own nodes: gradient :math:`2 d/(1 + \hat y)`, the generic
    path's). Every check is the one read of the result: an input at or below -1 makes its
    ``log1p`` -inf or NaN, an infinite or NaN input an infinite or NaN ``log1p``, and a
    ``log1p`` of a finite float is at most 710 in size, so no square overflows: the result
    is finite exactly when the generic path's checks pass (then its error)."""
    if not _plain(kwargs, hooks, _MSLE) or hooks.convention(
            kwargs.get("convention", "losskit")).log1p_floor is not None:
        return None
    torch = _same_float_tensors(y_true, y_pred)
    if torch is None:
        return None
    a, b = torch.log1p(y_pred), torch.log1p(y_true)
    reduction = kwargs.get("reduction", "mean")
    if reduction == "mean":
        value = torch.nn.functional.mse_loss(a, b)
    else:
        value = _reduced(hooks, torch, torch.nn.functional.mse_loss(a, b, reduction="none"),
                         reduction)
    _, probe = _probes(y_pred, kwargs)
    return None if probe and not _finite(value) else value


class _Percentage(_Elementwise):
    r""":math:`f |\hat y - y| / m`, :math:`m = \max(|y|, \epsilon)` (:math:`f` = 1, or
    100 for percent, applied to the reduced value): a division where the generic path
    multiplies by :math:`f/m` (within an ulp of it, and the more exact; one pass fewer:
    measured, 1e6 float32 value 1.4-1.6x the plain formula with the reciprocal, see
    benchmarks/README.md); derivative :math:`f \operatorname{sign}(\hat y - y)/m`, 0 at a
    tie."""

    def __init__(self, floor: float, factor: float) -> None:
        self.floor, self.after = floor, factor

    def forward(self, torch: Any, y: Array, z: Array) -> tuple[Array, tuple[Array, ...]]:
        d = torch.sub(z, y)
        m = torch.abs(y).clamp_(min=self.floor)
        return torch.abs(d).div_(m), (d, m)

    def derivative(self, torch: Any, y: Array, z: Array, saved: tuple[Array, ...] | None,
                   scale: Any) -> Array:
        if saved is None:
            return torch.sign(z - y) / torch.abs(y).clamp(min=self.floor) \
                * (scale * self.after)
        d, m = saved
        return torch.sign(d).div_(m).mul_(scale * self.after)


_MAPE: dict[str, Callable[[Any], bool]] = {
    "sample_weight": _is_none,
    "eps": lambda v: v is None or (type(v) in (int, float) and 0 < v < math.inf),
}


def mean_absolute_percentage_error(hooks: LossHooks, y_true: Any, y_pred: Any,
                                   kwargs: dict[str, Any]) -> Array | None:
    """One fused node (the generic path's ops, in place). The finite-input checks are the one
    read of the result: an infinite or NaN input makes it infinite or NaN (``w`` is positive
    and finite, 0 for an infinite target, whose difference is infinite), and so does a
    percentage error that overflows (the generic path's error)."""
    if not _plain(kwargs, hooks, _MAPE):
        return None
    torch = _same_float_tensors(y_true, y_pred)
    if torch is None:
        return None
    policy = hooks.convention(kwargs.get("convention", "losskit"))
    eps = kwargs.get("eps")
    floor = float(eps if eps is not None else policy.relative_floor)
    if not 1.0 / floor < torch.finfo(y_pred.dtype).max:
        return None
    kernel = _Percentage(floor, 100.0 if policy.percent else 1.0)
    value = _fused_value(hooks, torch, kernel, y_true, y_pred, kwargs.get("reduction", "mean"))
    _, probe = _probes(y_pred, kwargs)
    return None if probe and not _finite(value) else value


KERNELS.update({
    "mean_squared_log_error": (mean_squared_log_error, _MSLE),
    "mean_absolute_percentage_error": (mean_absolute_percentage_error, _MAPE),
    "poisson_nll": (poisson_log_rate_any, {**KERNELS["poisson_nll"][1], "full": _is_bool}),
    "laplace_nll": (laplace_location, _LAPLACE),
    "pinball_loss": (pinball, _PINBALL),
    "tweedie_deviance": (tweedie_log_mean, _TWEEDIE),
})


# ------------------------------------------------- multi-class margin loss (issue 19, round 4)

_MULTI_MARGIN: dict[str, Callable[[Any], bool]] = {
    "p": lambda v: type(v) is int and v in (1, 2),
    "margin": lambda v: type(v) in (int, float) and math.isfinite(v),
    "class_weight": _is_none,
    "axis": lambda v: type(v) is int and v in (-1, 1),
    "sample_weight": _is_none,
}


def _multi_margin_function(torch: Any) -> Any:
    """The custom autograd node of :func:`multi_margin` (made on first use)."""
    fused = _FUNCTIONS.get("multi_margin")
    if fused is not None:
        return fused

    class _MultiMargin(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, z: Array, labels: Array, p: int, margin: float,
                    code: int) -> Array:
            ctx.save_for_backward(z, labels)
            ctx.p, ctx.margin, ctx.code = p, margin, code
            return torch._C._nn.multi_margin_loss(z, labels, p, margin, None, code)

        @staticmethod
        def backward(ctx: Any, g: Array) -> tuple[Array | None, ...]:
            z, labels = ctx.saved_tensors
            if not torch.is_grad_enabled():  # PyTorch's own backward kernel
                d = torch.ops.aten.multi_margin_loss_backward(g, z, labels, ctx.p, ctx.margin,
                                                              None, ctx.code)
                return d, None, None, None, None
            # create_graph (PyTorch has no derivative of its backward): the generic path's
            # gradient by differentiable ops, a_y p h_j^(p-1)/C for each wrong class j inside
            # the margin and minus their sum at the label
            n, c = z.shape
            wrong = labels[:, None] != torch.arange(c, device=z.device)
            h = ctx.margin - z.gather(1, labels[:, None]) + z
            inside = wrong & (h > 0)
            d = inside.to(z.dtype) / c if ctx.p == 1 else torch.where(inside, h, 0.0) * (2.0 / c)
            d = torch.where(wrong, d, -d.sum(-1, keepdim=True))
            if ctx.p == 1:
                d = d + z * 0.0  # piecewise constant: the second derivative is 0
            scale = g / n if ctx.code == _MEAN else (g if ctx.code == _SUM else g[:, None])
            return d * scale, None, None, None, None

    _FUNCTIONS["multi_margin"] = _MultiMargin
    return _MultiMargin


def multi_margin(hooks: LossHooks, y_true: Any, y_pred: Any, kwargs: dict[str, Any]
                 ) -> Array | None:
    r"""PyTorch's ``multi_margin_loss`` (one fused op forward, one backward) for integer
    labels over the classes of 2-D scores: the same per-sample sum
    :math:`\sum_{j \ne y} \max(0, m - s_y + s_j)^p / C`, mean over the samples. The generic
    path builds the margins, a mask and a ``where`` over every score and differentiates them
    (2.0-2.4x PyTorch at 1e6 scores). The label check is one ``aminmax`` (the generic
    path's own check gives the error); with checks, the scores' finiteness is one sum, read
    with it (a score of -inf gives PyTorch a finite loss, and the generic path an error);
    a non-finite result, and every call that may not read the host, goes to the generic path.
    Second derivatives (PyTorch has none for its backward) are the generic gradient's, by
    differentiable ops. Eager only (``_tensors``): compiled, the generic code is traced."""
    if not _plain(kwargs, hooks, _MULTI_MARGIN):
        return None
    torch = _tensors(y_true, y_pred)
    if torch is None or y_pred.ndim != 2 or y_true.ndim != 1 \
            or y_true.shape[0] != y_pred.shape[0] \
            or y_true.dtype not in (torch.int64, torch.int32):
        return None
    check, probe = _probes(y_pred, kwargs)
    if not probe:
        return None
    low, high, *total = _read(*torch.aminmax(y_true), *([y_pred.sum()] if check else []))
    if not (low >= 0 and high < y_pred.shape[1]) or (check and not math.isfinite(total[0])):
        return None  # the generic path's error (or, unchecked, its number)
    labels = y_true if y_true.dtype == torch.int64 else y_true.long()
    p, margin = kwargs.get("p", 1), float(kwargs.get("margin", 1.0))
    code = _REDUCTION[kwargs.get("reduction", "mean")]
    if y_pred.requires_grad and torch.is_grad_enabled():
        value = _multi_margin_function(torch).apply(y_pred, labels, p, margin, code)
    else:
        value = torch._C._nn.multi_margin_loss(y_pred, labels, p, margin, None, code)
    return value if _finite(value) else None


KERNELS["multi_margin_loss"] = (multi_margin, _MULTI_MARGIN)
