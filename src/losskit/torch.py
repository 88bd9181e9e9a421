"""losskit's losses as PyTorch criteria (``torch.nn.Module``), for plain loops, Lightning, skorch.

One generic criterion, :class:`Loss` (``Loss("huber_loss", delta=1.0)``; a family's NLL with
``Loss.from_family("poisson")``), and a named subclass for **every** catalogue loss, generated
from the catalogue: the class name is the loss's name in CamelCase ending in ``Loss``, as
PyTorch names its criteria (``BinaryFocalLoss``, ``HuberLoss``, ``GaussianNLLLoss``,
``MeanSquaredErrorLoss``; :data:`CRITERIA` maps each loss to its class). Why both: the named
classes are what a PyTorch user expects to import and what skorch's ``criterion=`` takes (a
class, configured with ``criterion__gamma=...``); the generic one serves a loss chosen by name
at run time (a config file, ``losskit advise``'s answer), and is what the named classes are.
Generating them (rather than writing each by hand) means a loss added to the catalogue is a
criterion at once, with the same options, checks and docs.

Conventions are PyTorch's where they meet: ``criterion(input, target)`` (prediction first, as
``torch.nn.MSELoss``; the function is called as ``fn(target, input)``), ``reduction`` in
``{"mean", "sum", "none"}`` at construction, an optional per-sample ``sample_weight`` at call
time. The options are the function's (``from_logits=True`` for raw outputs). With
``convention="torch"`` (losses that have a PyTorch counterpart) the numbers are PyTorch's,
including its weighted mean (weighted sum over the number of samples) and clamping. Array
options (``class_weight``, ``pos_weight``, ...) are buffers: ``.to(device)`` moves them.

``forward`` calls the function, so value checks, gradients and dtypes are the function's. What
does not change from call to call is resolved once, at construction: the options are checked
and frozen (``criterion.options`` is read-only: make a new criterion to change one), and the
loss's native PyTorch kernel (``losskit/_torch.py``), where it has one, is called directly with
them, without the function's per-call option screening.

**torch.compile**: with ``check_values=False`` the criterion is one opaque node to dynamo
(:func:`torch.compiler.allow_in_graph`): dynamo does not trace losskit's Python code (whose
input screening would cost a guard per global it reads, ~200, evaluated at every call), and AOT
autograd traces the loss's tensor operations into the graph, forward and backward, so inductor
fuses them with the model's. The criterion compiles with ``fullgraph=True`` (nothing is read on
the host) and its compiled step holds about as many guards as PyTorch's own criterion's
(tested). With the checks on (the default) the checks read values on the host, which is a
graph break: the criterion works under ``torch.compile`` (dynamo traces the function, checks
run, bad values still raise) but not with ``fullgraph=True``, which raises at the first call.
Use ``check_values=False`` in a compiled training step once the data pipeline is known to be
good.

Examples
--------
>>> import torch
>>> import losskit.torch as lkt
>>> criterion = lkt.BinaryFocalLoss(gamma=2.0, from_logits=True)
>>> criterion
BinaryFocalLoss(binary_focal_loss, gamma=2.0, from_logits=True)
>>> logits = torch.tensor([2.0, -1.0, 0.5], requires_grad=True)
>>> loss = criterion(logits, torch.tensor([1.0, 0.0, 1.0]))
>>> loss.backward()
>>> round(loss.item(), 4), logits.grad.shape
(0.0307, torch.Size([3]))
>>> lkt.Loss("huber_loss", delta=1.0)(torch.tensor([0.5, 3.0]), torch.zeros(2)).item()
1.3125
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import torch

from losskit._adapters import (
    NOT_OPTIONS,
    catalogue,
    checked_loss,
    class_name,
    family_loss,
    options_of,
)
from losskit._validation import fail

__all__ = ["CRITERIA", "TRACED_BY_DYNAMO", "Loss"]  # + a named criterion per catalogue loss

@dataclass
class _Plan:
    """What a criterion resolved at construction (see :meth:`Loss._resolve`)."""

    #: the keyword options of every call (``reduction`` only where not the default)
    kwargs: dict[str, Any]
    #: the loss's native kernel bound to ``kwargs`` (options screened once):
    #: ``(y_true, y_pred) -> value or None`` (``None``: no kernel, or array options, which the
    #: kernels do not take)
    native: Callable[[Any, Any], Any] | None
    #: the key of the compiled call in :data:`_GRAPH_CALLS` (``None``: dynamo traces the
    #: function, as with value checks on)
    graph_key: str | None
    #: the names of the array options (buffers), in the order :func:`_in_graph` takes them
    buffer_names: tuple[str, ...]


#: losses whose compiled criteria dynamo traces even without value checks: their bodies read a
#: value on the host whatever ``check_values`` says (e.g. the softmax's rows holding ``+inf``),
#: a graph break that dynamo handles and an opaque graph node cannot (tested: every other
#: criterion compiles as one node)
TRACED_BY_DYNAMO = frozenset({"categorical_focal_loss", "gaussian_mixture_nll",
                              "generalized_dice_loss", "kl_divergence"})

#: compiled criteria's calls by key: ``key -> (function, kwargs, buffer names)``; one key per
#: distinct (loss, options), so the graph node's only non-tensor argument is one string
_GRAPH_CALLS: dict[str, tuple[Callable, dict[str, Any], tuple[str, ...]]] = {}
_GRAPH_KEYS: dict[tuple[Any, ...], str] = {}
_GRAPH_LOCK = threading.Lock()


def _graph_key(function: Callable, kwargs: dict[str, Any],
               buffer_names: tuple[str, ...]) -> str | None:
    """The key of ``function`` called with ``kwargs`` and the named buffers, registered for
    :func:`_in_graph` (``None`` if an option is not hashable)."""
    identity = (function.spec.name, tuple(sorted(kwargs.items())), buffer_names)
    try:
        hash(identity)
    except TypeError:  # pragma: no cover - the scalar options are hashable
        return None
    with _GRAPH_LOCK:
        key = _GRAPH_KEYS.get(identity)
        if key is None:
            key = f"{function.spec.name}#{len(_GRAPH_KEYS)}"
            _GRAPH_CALLS[key] = (function, dict(kwargs), buffer_names)
            _GRAPH_KEYS[identity] = key
    return key


@torch.compiler.allow_in_graph
def _in_graph(key: str, input: torch.Tensor, target: torch.Tensor,
              sample_weight: torch.Tensor | None, *buffers: torch.Tensor) -> torch.Tensor:
    """A compiled criterion's call (checks off), one node of dynamo's graph: dynamo neither
    traces nor guards the Python code here, AOT autograd traces its tensor operations (with
    ``torch.compiler.is_compiling()`` true, so the loss takes its trace-safe path)."""
    function, kwargs, names = _GRAPH_CALLS[key]
    return function(target, input, sample_weight=sample_weight, **kwargs,
                    **dict(zip(names, buffers, strict=True)))


class Loss(torch.nn.Module):
    """A losskit loss as a PyTorch criterion: ``Loss(name, reduction="mean", **options)``.

    ``forward(input, target, sample_weight=None)`` returns
    ``losskit.<name>(target, input, sample_weight=sample_weight, reduction=reduction,
    **options)``.

    Parameters
    ----------
    loss : str
        A catalogue loss, e.g. ``"huber_loss"`` (see :data:`CRITERIA`).
    reduction : {"mean", "sum", "none"}
        ``"none"`` gives one value per sample.
    **options
        The loss function's keyword options (``from_logits``, ``gamma``, ``convention``,
        ``check_values``, ...), checked here, at construction.

    Examples
    --------
    >>> import torch
    >>> from losskit.torch import Loss
    >>> Loss("mean_squared_error", reduction="none")(torch.tensor([1.0, 3.0]), torch.zeros(2))
    tensor([1., 9.])
    """

    def __init__(self, loss: str, *, reduction: str = "mean", **options: Any) -> None:
        super().__init__()
        self.function: Callable = checked_loss(type(self).__name__, loss, options)
        self.function.spec.options["reduction"].check(loss, "reduction", reduction)
        required = [name for name, p in inspect.signature(self.function).parameters.items()
                    if p.kind is p.KEYWORD_ONLY and p.default is p.empty]
        for name in required:
            if name not in options:  # else every call fails, with Python's own message
                fail(type(self).__name__, name, f"is not given, and {loss} needs it",
                     "Pass it to the criterion: " + (f"Loss({loss!r}, {name}=...)"
                                                     if type(self) is Loss else
                                                     f"{type(self).__name__}({name}=...)"),
                     error=TypeError)
        self.loss, self.reduction = loss, reduction
        scalars: dict[str, Any] = {}
        for key, value in options.items():
            if isinstance(value, (torch.Tensor, np.ndarray, list, tuple)):
                self.register_buffer(key, torch.as_tensor(value))  # moved by .to(device)
            else:
                scalars[key] = value
        # read-only: the call plan below is resolved from them once
        self.options: Mapping[str, Any] = MappingProxyType(scalars)
        self._resolve()

    def _resolve(self) -> None:
        """The call plan, resolved once from the loss and the options (again after
        unpickling): the keyword options of every call, the native kernel for calls without
        sample weights, and the opaque graph node for compiled calls without value checks."""
        spec = self.function.spec
        kwargs = dict(self.options)
        if self.reduction != spec.defaults.get("reduction", "mean"):
            kwargs["reduction"] = self.reduction
        native = None
        if spec.native_bound is not None and not self._buffers:
            native = spec.native_bound(kwargs)
        plan = _Plan(kwargs=kwargs, native=native, graph_key=None,
                     buffer_names=tuple(self._buffers))
        if self.options.get("check_values") is False and self.loss not in TRACED_BY_DYNAMO:
            plan.graph_key = _graph_key(self.function, kwargs, plan.buffer_names)
        self.__dict__["_plan"] = plan  # not a Module attribute: no state, no submodule

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state = dict(state)
        state.pop("_plan", None)  # holds a closure; rebuilt on load
        state["options"] = dict(self.options)  # MappingProxyType does not pickle
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self.options = MappingProxyType(dict(self.options))
        self._resolve()

    @classmethod
    def from_family(cls, family: Any, *, reduction: str = "mean", **options: Any) -> Loss:
        """The criterion of a family's NLL of the raw outputs (``lk.family`` name or object):
        its loss's named class with the family's ``loss_options``, plus ``options`` (e.g.
        ``check_values``).

        Examples
        --------
        >>> from losskit.torch import Loss
        >>> Loss.from_family("poisson")
        PoissonNLLLoss(poisson_nll, log_input=True, full=True)
        """
        loss, fixed = family_loss(cls.__name__, family)
        return CRITERIA[loss](reduction=reduction, **fixed, **options)

    def forward(self, input: torch.Tensor, target: Any, sample_weight: Any = None,
                **per_batch: Any) -> torch.Tensor:
        """The loss of the prediction ``input`` against ``target`` (PyTorch's order).

        ``per_batch``: options that change with each batch (``ctc_loss``'s
        ``input_lengths``/``target_lengths``, a ``where`` mask), given to this call only;
        an option fixed at construction cannot be given again here.
        """
        plan: _Plan = self.__dict__["_plan"]
        if per_batch:
            return self.function(target, input, sample_weight=sample_weight, **plan.kwargs,
                                 **self._buffers, **self._per_batch(per_batch))
        if torch.compiler.is_compiling():
            if plan.graph_key is not None and isinstance(input, torch.Tensor) \
                    and isinstance(target, torch.Tensor) \
                    and (sample_weight is None or isinstance(sample_weight, torch.Tensor)):
                return _in_graph(plan.graph_key, input, target, sample_weight,
                                 *[self._buffers[name] for name in plan.buffer_names])
        elif plan.native is not None and sample_weight is None:
            value = plan.native(target, input)
            if value is not None:
                return value
        return self.function(target, input, sample_weight=sample_weight, **plan.kwargs,
                             **self._buffers)

    def _per_batch(self, per_batch: dict[str, Any]) -> dict[str, Any]:
        """The per-call options, checked: declared by the loss, not fixed at construction."""
        declared = [name for name, p in inspect.signature(self.function).parameters.items()
                    if p.kind is p.KEYWORD_ONLY and name not in ("reduction", "sample_weight")]
        for key in per_batch:
            if key not in declared:
                fail(type(self).__name__, key, f"is not an option of {self.loss} that can be "
                     f"given per batch", f"Pass one of its options ({', '.join(declared)}); "
                     "reduction is set at construction", error=TypeError)
            if key in self.options or key in self._buffers:
                fail(type(self).__name__, key, "was already given at construction",
                     "Give it either to the criterion or to each call, not both",
                     error=TypeError)
        return per_batch

    def extra_repr(self) -> str:
        shown = [self.loss] + ([f"reduction={self.reduction!r}"]
                               if self.reduction != "mean" else [])
        shown += [f"{k}={v!r}" for k, v in self.options.items()]
        return ", ".join(shown)

    def __repr__(self) -> str:  # one line: the options, not an empty module tree
        return f"{type(self).__name__}({self.extra_repr()})"


def _criterion(loss: str, function: Callable) -> type[Loss]:
    """The named criterion class of ``loss``: :class:`Loss` with the loss fixed."""

    def __init__(self: Loss, *, reduction: str = "mean", **options: Any) -> None:
        Loss.__init__(self, loss, reduction=reduction, **options)

    parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)] + [
        p for name, p in options_of(function).items() if name not in NOT_OPTIONS]
    parameters.insert(1, inspect.Parameter("reduction", inspect.Parameter.KEYWORD_ONLY,
                                           default="mean"))
    __init__.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    name = class_name(loss, suffix="Loss")
    summary = (function.__doc__ or "").strip().splitlines()[0]
    doc = (f"{summary}\n\nThe criterion of :func:`losskit.{loss}` (see :class:`Loss`): "
           f"``{name}(**options)(input, target, sample_weight=None)`` is "
           f"``losskit.{loss}(target, input, sample_weight=sample_weight, **options)``.")
    return type(name, (Loss,), {"__init__": __init__, "__doc__": doc, "__module__": __name__,
                                "__qualname__": name})


#: catalogue loss name -> its named criterion class
CRITERIA: dict[str, type[Loss]] = {
    loss: _criterion(loss, function) for loss, function in catalogue().items()}
globals().update({cls.__name__: cls for cls in CRITERIA.values()})
__all__ += sorted(cls.__name__ for cls in CRITERIA.values())
