"""Native kernels: a loss's value from the framework's own fused ops, for the common case.

A loss call on a small PyTorch batch is dominated by per-op dispatch and autograd bookkeeping,
not arithmetic (measured at 64 x 3: the generic sparse cross-entropy ran 5 autograd nodes and
~120 µs forward + backward against 35 µs for ``F.cross_entropy``). For the calls a training
loop makes, a kernel here computes the same value with fewer, fused ops.

The rules that keep this exact:

- A kernel takes a call only when every argument is one the generic path accepts and every
  option has a value the kernel implements; anything else (an unknown or invalid option, NumPy
  targets, float16, scalars, empty or meta tensors, tensors inside ``torch.func`` transforms,
  weights, smoothing) returns ``None`` and the generic path runs, with its checks and its
  error messages.
- It checks the targets with the generic path's own functions (``check_labels``,
  ``check_binary_targets``): one place holds each target domain, so a kernel cannot accept a
  target the generic path refuses, and the error is the same.
- It gives the generic path's value to rounding, including the limits the generic path takes:
  where a result comes out NaN (a NaN logit, or a row holding ``+inf``), or a label is out of
  range without checks (PyTorch's own bounds error on the CPU), the call is redone by the
  generic path, which reports it or takes the limit. The NaN probe
  reads the host only where reading costs no device synchronisation or the caller asked for
  checks (``check_values=True``, or a CPU tensor). On an accelerator without checks nothing
  is read, as in the generic path.
- Only the value is native: :func:`losskit.value_and_gradient` keeps its analytic gradient,
  and autograd differentiates the kernel's ops (tested equal to autograd through the generic
  path, second derivatives included).

Tests compare every kernel with the generic path (values, autograd gradients, errors) on
random and edge inputs; ``native_kernels(False)`` switches them off.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Callable, Iterator
from typing import Any

from losskit import _array
from losskit._reduction import REDUCTIONS
from losskit._validation import check_labels
from losskit.losses._classification import (
    binary_cross_entropy,
    check_binary_targets,
    sparse_categorical_cross_entropy,
)
from losskit.losses._core import _LOG2_E, CONVENTIONS
from losskit.losses._likelihood import gaussian_nll
from losskit.losses._regression import mean_squared_error

__all__ = ["native_kernels"]

Array = Any
_UNITS = ("nats", "bits")
_NO_LABEL = -(2**63)  # an ignore_index for nll_loss that no valid label equals

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


def _register(public: Callable) -> Callable[[Callable], Callable]:
    def decorate(kernel: Callable) -> Callable:
        def guarded(y_true: Any, y_pred: Any, kwargs: dict[str, Any]) -> Array | None:
            return kernel(y_true, y_pred, kwargs) if _enabled else None

        public.__losskit_native__ = guarded  # type: ignore[attr-defined]
        return kernel

    return decorate


# ------------------------------------------------------------------------ option screening

def _is(value: Any, *allowed: Any) -> bool:
    return type(value) is bool and value in allowed


def _one_of(value: Any, allowed: tuple[str, ...]) -> bool:
    return type(value) is str and value in allowed


def _is_zero(value: Any) -> bool:
    return type(value) in (int, float) and value == 0


_COMMON: dict[str, Callable[[Any], bool]] = {
    "reduction": lambda v: _one_of(v, REDUCTIONS),
    "unit": lambda v: _one_of(v, _UNITS),
    "check_values": lambda v: _is(v, True, False),
    "convention": lambda v: _one_of(v, CONVENTIONS),
    "sample_weight": lambda v: v is None,
}


def _plain(kwargs: dict[str, Any], accepted: dict[str, Callable[[Any], bool]]) -> bool:
    """Every option is known and has a value the kernel implements."""
    for name, value in kwargs.items():
        test = accepted.get(name)
        if test is None or not test(value):
            return False
    return True


def _torch_tensors(y_true: Any, y_pred: Any) -> Any:
    """The ``torch`` module if both are plain tensors on one device and ``y_pred`` is a
    non-empty float32/float64 array, else ``None``. Scalars and empty arrays (errors),
    meta tensors, and tensors inside ``torch.func`` transforms (``vmap``: no host reads) are
    left to the generic path."""
    torch = sys.modules.get("torch")
    if torch is None or type(y_pred) is not torch.Tensor or type(y_true) is not torch.Tensor:
        return None
    if y_pred.dtype not in (torch.float32, torch.float64) or y_pred.device != y_true.device \
            or y_pred.ndim == 0 or y_pred.numel() == 0 or y_pred.is_meta:
        return None
    if torch.compiler.is_compiling():  # torch.compile traces the generic code (no host reads)
        return None
    wrapped = torch._C._functorch.is_functorch_wrapped_tensor
    if wrapped(y_pred) or wrapped(y_true):
        return None
    return torch


def _torch_namespace() -> Any:
    """The array-API namespace of PyTorch tensors (what ``array_namespace`` returns, without
    its per-call cost), for the shared checks."""
    import array_api_compat.torch

    return array_api_compat.torch


def _finish(value: Array, kwargs: dict[str, Any], probe: bool) -> Array | None:
    """``None`` (redo generically) where the probe finds NaN; the unit applied."""
    if probe and (math.isnan(value.item()) if value.ndim == 0 else bool(value.isnan().any())):
        return None
    return value * _LOG2_E if kwargs.get("unit") == "bits" else value


def _probes(y_pred: Array, kwargs: dict[str, Any]) -> tuple[bool, bool]:
    """``(check, probe)``: whether to check values, and whether reading the result back is
    allowed (checks on, or a CPU tensor whose read costs no device synchronisation)."""
    check = kwargs.get("check_values", True)
    return check, check or _array.host_reads_are_free(y_pred)


# ------------------------------------------------------------------------------- kernels

_SPARSE_CE = {
    **_COMMON,
    "from_logits": lambda v: v is True,
    "axis": lambda v: type(v) is int and v in (-1, 1),
    "class_weight": lambda v: v is None,
    "ignore_index": lambda v: v is None,
    "label_smoothing": _is_zero,
    "eps": lambda v: v is None,
}


@_register(sparse_categorical_cross_entropy)
def _sparse_cross_entropy_from_logits(y_true: Any, y_pred: Any, kwargs: dict[str, Any]
                                      ) -> Array | None:
    """``-log softmax(z)[y]``: PyTorch's log_softmax and nll_loss kernels, two autograd nodes
    (the generic path takes five)."""
    if not kwargs.get("from_logits", False) or not _plain(kwargs, _SPARSE_CE):
        return None
    torch = _torch_tensors(y_true, y_pred)
    if torch is None or y_pred.ndim != 2 or y_true.ndim != 1 \
            or y_true.shape[0] != y_pred.shape[0] \
            or y_true.dtype not in (torch.int64, torch.int32):
        return None
    check, probe = _probes(y_pred, kwargs)
    n_classes = y_pred.shape[1]
    if check:
        # the generic path's own label check (one aminmax and one read when they are fine)
        check_labels(sparse_categorical_cross_entropy.__name__, _torch_namespace(), y_true,
                     n_classes, None)
    z = y_pred
    if not probe:
        # as the generic path does without host reads: +inf becomes the largest finite value
        z = z.clamp(max=torch.finfo(z.dtype).max)
    log_p = z.log_softmax(1)
    labels = y_true if y_true.dtype == torch.int64 else y_true.long()
    # nll_loss skips labels equal to its ignore_index (default -100): without checks such a
    # label must fail as out of range, as in the generic path, so the index is one no int64
    # label other than the most negative can hit
    try:
        value = torch.nn.functional.nll_loss(log_p, labels, ignore_index=_NO_LABEL,
                                             reduction=kwargs.get("reduction", "mean"))
    except (IndexError, RuntimeError):
        return None  # a label out of range without checks (CPU): the generic path's error
    return _finish(value, kwargs, probe)


_BINARY_CE = {
    **_COMMON,
    "from_logits": lambda v: v is True,
    "pos_weight": lambda v: v is None,
    "label_smoothing": _is_zero,
    "eps": lambda v: v is None,
}


@_register(binary_cross_entropy)
def _binary_cross_entropy_from_logits(y_true: Any, y_pred: Any, kwargs: dict[str, Any]
                                      ) -> Array | None:
    r"""Hard labels: :math:`\operatorname{softplus}((1 - 2y) z)`, three autograd nodes
    (multiply, softplus, mean), exact in value and gradient: PyTorch's
    ``binary_cross_entropy_with_logits`` computes :math:`(1-y)z + \operatorname{softplus}(-z)`,
    which cancels for :math:`z \ll 0`, :math:`y = 0` (float32: 0.8% off at :math:`z = -10`, 0
    from about :math:`z = -15`), and its gradient :math:`\sigma(z) - y` cancels for confident
    correct predictions. Soft labels (and every call that may not read the labels back: an
    accelerator without checks): :math:`-[y \log\sigma(z) + (1-y) \log\sigma(-z)]` with
    ``logsigmoid``, a zero coefficient giving 0 even against an infinite log."""
    if not kwargs.get("from_logits", False) or not _plain(kwargs, _BINARY_CE):
        return None
    torch = _torch_tensors(y_true, y_pred)
    if torch is None or y_true.shape != y_pred.shape or y_true.dtype != y_pred.dtype \
            or y_true.requires_grad:
        return None
    check, probe = _probes(y_pred, kwargs)
    functional = torch.nn.functional
    # hard labels: y - y² is 0 exactly for 0 and 1 (NaN for ±inf and NaN, nonzero for any
    # other value), so this branch holds only targets inside the domain; finding out is a
    # host read, so not on an accelerator without checks
    if probe and y_true.mul(y_true).sub_(y_true).count_nonzero().item() == 0:
        # tensor-tensor ops only: a Python scalar operand costs a tensor per call
        flip = torch.ones_like(y_pred).sub_(y_true).sub_(y_true)  # 1 - 2y: +1 for 0, -1 for 1
        # softplus(x) is taken as x above `threshold`: exact once e^-x is below half an ulp
        # of x (PyTorch's default 20 is that for float32; float64 needs about 37)
        elementwise = functional.softplus(
            y_pred * flip, threshold=40.0 if y_pred.dtype == torch.float64 else 20.0)
    else:
        if check:
            # the generic path's own target check: the same message, from the same function
            check_binary_targets(binary_cross_entropy.__name__, _torch_namespace(), y_true)
        log_sigmoid = functional.logsigmoid
        positive = torch.where(y_true == 0, 0.0, y_true * log_sigmoid(y_pred))
        negative = torch.where(y_true == 1, 0.0, (1.0 - y_true) * log_sigmoid(-y_pred))
        elementwise = -(positive + negative)
    return _finish(_reduce_per_sample(elementwise, kwargs), kwargs, probe)


_MSE = {k: v for k, v in _COMMON.items() if k != "unit"}


@_register(mean_squared_error)
def _mean_squared_error(y_true: Any, y_pred: Any, kwargs: dict[str, Any]) -> Array | None:
    """``(y - ŷ)²`` with PyTorch's ``mse_loss`` kernel."""
    if not _plain(kwargs, _MSE):
        return None
    torch = _torch_tensors(y_true, y_pred)
    if torch is None or y_true.shape != y_pred.shape or y_true.dtype != y_pred.dtype:
        return None
    check = kwargs.get("check_values", True)
    if kwargs.get("reduction", "mean") == "mean":
        # the mean of per-sample means over equal numbers of outputs is the overall mean
        value = torch.nn.functional.mse_loss(y_pred, y_true)
    else:
        value = _reduce_per_sample(torch.nn.functional.mse_loss(y_pred, y_true,
                                                                reduction="none"), kwargs)
    # a NaN or inf input makes the result non-finite: the generic path reports it (or, for a
    # square that overflows, returns the same inf)
    if check and not bool(value.isfinite().all()):
        return None
    return value


_GAUSSIAN = {
    **_COMMON,
    "var": lambda v: v is None or (type(v) in (int, float) and 0 < v < math.inf),
    "log_var": lambda v: v is None,
    "full": lambda v: _is(v, True, False),
}
_TORCH_MIN_VAR = 1e-6  # PyTorch's clamp of the variance (convention="torch")


@_register(gaussian_nll)
def _gaussian_nll_fixed_variance(y_true: Any, y_pred: Any, kwargs: dict[str, Any]
                                 ) -> Array | None:
    r"""A number :math:`\sigma^2`: :math:`\frac12 (r^2/\sigma^2 + \log\sigma^2)`
    :math:`[+ \frac12 \log 2\pi]`, PyTorch's ``mse_loss`` scaled and shifted (the Gaussian
    family's loss)."""
    if not _plain(kwargs, _GAUSSIAN):
        return None
    var = float(kwargs.get("var") or 1.0)
    if kwargs.get("convention") == "torch" and var < _TORCH_MIN_VAR:
        return None  # the generic path reproduces the clamp
    torch = _torch_tensors(y_true, y_pred)
    if torch is None or y_true.shape != y_pred.shape or y_true.dtype != y_pred.dtype \
            or 0.5 / var > torch.finfo(y_pred.dtype).max:
        return None  # (a variance so small that 1/σ² overflows: the generic path's numbers)
    shift = 0.5 * math.log(var) + (0.5 * math.log(2.0 * math.pi) if kwargs.get("full") else 0.0)
    reduction = kwargs.get("reduction", "mean")
    mse_loss = torch.nn.functional.mse_loss
    if reduction == "mean":
        value = mse_loss(y_pred, y_true) * (0.5 / var) + shift
    else:
        per_sample = _reduce_per_sample(mse_loss(y_pred, y_true, reduction="none"),
                                        {"reduction": "none"}) * (0.5 / var) + shift
        value = per_sample if reduction == "none" else per_sample.sum()
    # a NaN or inf input makes the result non-finite: the generic path reports it; and near
    # the largest float, where the generic path's per-entry r²/σ² may overflow while this mean
    # of r² scaled once does not, the generic path gives its number (a margin of 4: r²/σ² is
    # at most 2n times the value, plus the shift)
    _, probe = _probes(y_pred, kwargs)
    largest = torch.finfo(y_pred.dtype).max / (4 * y_pred.numel())
    if probe and not value.detach().abs().max().item() < largest:
        return None
    return _finish(value, kwargs, probe=False)


def _reduce_per_sample(elementwise: Array, kwargs: dict[str, Any]) -> Array:
    """Per-sample losses (the mean over the last axis from 2-D on) reduced as asked."""
    reduction = kwargs.get("reduction", "mean")
    if reduction == "mean":
        # equal counts per sample: the mean of the means (0-d: already reduced, or one value)
        return elementwise if elementwise.ndim == 0 else elementwise.mean()
    per_sample = elementwise if elementwise.ndim <= 1 else elementwise.mean(-1)
    return per_sample if reduction == "none" else per_sample.sum()
