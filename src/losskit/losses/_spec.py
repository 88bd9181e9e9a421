"""The declared spec of a loss: the one place every fact about a loss lives.

Each public loss carries a frozen :class:`LossSpec` (``losskit.binary_cross_entropy.spec``),
made by :func:`losskit.losses._core.loss_function` when the loss is defined and kept in one
registry (:func:`loss_specs`). Everything that needs a fact about a loss reads it from here:
the public function and :func:`losskit.gradient` run its ``body``; the accumulators and the
native kernels read its options and defaults; :func:`losskit.explain` renders its
``explanation``; the parametrised tests run over every spec and its worked example.

>>> import losskit as lk
>>> spec = lk.poisson_nll.spec
>>> spec.name, spec.defaults["log_input"], "log_input" in spec.options
('poisson_nll', True, True)
>>> loss_specs()["poisson_nll"] is spec
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from losskit._validation import Constraint, fail

__all__ = ["Case", "Kernel", "LossExplanation", "LossSpec", "explained", "explained_functions",
           "install", "loss_functions", "loss_specs", "replace", "spec_of"]


@dataclass(frozen=True)
class Case:
    """One worked example of a loss: a sample to compute at, and how to plot around it.

    :func:`losskit.explain` computes the example with the losskit function (or family) and
    its analytic gradient; ``tests/losses/test_specs.py`` checks it on every backend against
    a reference formula and finite differences.
    """

    #: the inputs, in words (``y = 1, p = 0.9``)
    inputs: str
    #: one sample's target (``None``: a function of the prediction alone, as ``entropy``)
    y_true: Any
    #: one sample's raw output(s)
    y_pred: Any
    #: the loss's options for the call; for a family, the family's parameters
    options: Mapping[str, Any] = field(default_factory=dict)
    #: index of the raw output the plot varies, in the sample's raw outputs flattened
    #: (``None``: a single raw output)
    vary: int | None = None
    grid: tuple[float, float] = (-4.0, 4.0)
    #: more targets for the plot (the example's target comes first)
    more_targets: tuple[Any, ...] = ()
    x_label: str = "prediction ŷ"

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))

    def batch(self, y_true: Any, x: Any = None) -> tuple[np.ndarray | None, np.ndarray]:
        """The example as NumPy arrays for the target ``y_true`` (``self.y_true`` or one of
        ``more_targets``): one sample, or with ``x`` one sample per value of ``x`` put in
        the raw output the plot varies. Targets stay integer labels or become float64.

        >>> Case("y = 1, p = (0.5, 0.5)", 1, (0.0, 0.0), vary=0).batch(1, [-1.0, 1.0])
        (array([1, 1]), array([[-1.,  0.],
               [ 1.,  0.]]))

        Stacked inputs (a pair of vectors): ``vary`` indexes the flattened sample.

        >>> Case("x₁ = (1, 0), x₂ = (1, 1)", 1.0, ((1.0, 0.0), (1.0, 1.0)), vary=2).batch(
        ...     1.0, [0.0, 2.0])[1].tolist()
        [[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [2.0, 1.0]]]
        """
        n = 1 if x is None else len(x)
        raw = np.repeat(np.asarray(self.y_pred, dtype=np.float64)[None, ...], n, axis=0)
        if x is not None:
            if self.vary is None:
                raw = np.asarray(x, dtype=np.float64)
            else:  # ``vary`` indexes the sample's raw outputs flattened (stacked pairs too)
                raw.reshape(n, -1)[:, self.vary] = x
        if y_true is None:
            return None, raw
        y = np.repeat(np.asarray(y_true)[None, ...], n, axis=0)
        return (y if y.dtype.kind in "iu" else y.astype(np.float64)), raw


@dataclass(frozen=True)
class LossExplanation:
    """What a loss (or a family) is, in maximum-likelihood terms, rendered by
    :func:`losskit.explain`. A loss declares it with ``loss_function(explanation=...)``; a
    family as its class attribute ``explanation`` (its activation then comes from the class).

    ``pitfalls`` may quote numbers that losskit computes when the page is made, as
    ``str.format`` fields (``{sat_mse:.2g}``; the names are listed by
    ``losskit.explain``'s ``_numbers``).
    """

    formula: str
    #: the distribution the loss is the negative log-likelihood of (or why it is none)
    distribution: str
    #: what the network's last layer outputs (the variable of ``gradient``)
    raw_output: str
    #: the gradient with respect to the raw output, in words and symbols
    gradient: str
    when: str
    pitfalls: tuple[str, ...]
    #: related losses and families (each one a name :func:`losskit.explain` knows)
    related: tuple[str, ...]
    case: Case
    #: the family whose output activation the loss goes with (its ``activation_name``)
    activation_from: str | None = None
    #: the activation, in words
    activation: str = ""
    #: whether the plot adds the saturation picture (classification)
    classification: bool = False


@dataclass(frozen=True)
class Kernel:
    """The loss in raw space: per-element value, gradient and hessian with respect to the raw
    output :math:`\\eta` (what the network's last layer gives, before the inverse ``link``).

    Each function is ``(xp, y, eta, **params) -> Array`` with ``y`` and ``eta`` already
    checked, in the compute dtype, the class/output axis last; ``params`` are the loss's
    options that change the maths (``delta``, ``nu``, ...). Families differentiate through
    these (no second derivation), and the loss body may use them too. Margin losses have
    no link and no kernel.
    """

    #: the link from the distribution's mean (or probability) to ``eta``: ``"identity"``,
    #: ``"log"``, ``"logit"``, ``"softmax"`` (multinomial logit) ...
    link: str
    value: Callable[..., Any]
    gradient: Callable[..., Any]
    hessian: Callable[..., Any] | None = None


@dataclass(frozen=True)
class LossSpec:
    """Everything declared about one loss.

    ``body`` has the public signature and returns the per-sample losses with their weights and
    gradient (:class:`losskit.losses._core.PerSample`); its options are checked against
    ``options`` before it runs. ``native`` is the fused-kernel form of the value for common
    calls on torch tensors (``(y_true, y_pred, kwargs) -> value or None``; see
    ``losskit/_torch.py``).
    """

    name: str
    body: Callable[..., Any]
    #: every keyword option and its constraint (the common ones included)
    options: Mapping[str, Constraint]
    #: every keyword option's default
    defaults: Mapping[str, Any]
    #: other names :func:`losskit.explain` and the CLIs accept
    aliases: tuple[str, ...] = ()
    explanation: LossExplanation | None = None
    #: the raw-space form for families and second-order use (``None``: none declared)
    kernel: Kernel | None = None
    native: Callable[[Any, Any, dict[str, Any]], Any] | None = None
    #: ``native`` for options fixed once (a ``losskit.torch`` criterion's): ``kwargs ->
    #: (y_true, y_pred) -> value or None``, the options screened at binding, not per call;
    #: ``None`` from it: no call with these options is native. Takes exactly the calls
    #: ``native`` takes with the same ``kwargs``
    native_bound: Callable[[dict[str, Any]], Callable[[Any, Any], Any] | None] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))


_REGISTRY: dict[str, LossSpec] = {}
_PUBLIC: dict[str, Callable[..., Any]] = {}
#: explained functions of the losses layer that are not loss bodies (no spec)
_EXPLAINED: dict[str, tuple[Callable[..., Any], tuple[str, ...], LossExplanation]] = {}


def install(public: Callable[..., Any], spec: LossSpec) -> None:
    """Register ``spec`` as the spec of the public function ``public`` (replacing any older)."""
    public.spec = spec  # type: ignore[attr-defined]
    _REGISTRY[spec.name] = spec
    _PUBLIC[spec.name] = public


def replace(public: Callable[..., Any], **changes: Any) -> LossSpec:
    """Install a copy of ``public``'s spec with ``changes`` (e.g. a native kernel)."""
    spec = dataclasses.replace(public.spec, **changes)  # type: ignore[attr-defined]
    install(public, spec)
    return spec


def loss_specs() -> dict[str, LossSpec]:
    """Every registered loss's spec, by name (a copy; the specs themselves are frozen)."""
    return dict(_REGISTRY)


def loss_functions() -> dict[str, Callable[..., Any]]:
    """Every registered public loss function, by name."""
    return dict(_PUBLIC)


def spec_of(loss_fn: Any, caller: str | None = None) -> LossSpec | None:
    """The spec of a losskit loss function; ``None`` for anything else, or with ``caller``
    an error naming the caller that needed a losskit loss."""
    spec = getattr(loss_fn, "spec", None)
    if isinstance(spec, LossSpec):
        return spec
    if caller is None:
        return None
    name = getattr(loss_fn, "__name__", type(loss_fn).__name__)
    fail(caller, "loss_fn", f"is {name}, which has no analytic gradient in losskit",
         "Pass a losskit loss such as losskit.binary_cross_entropy, or differentiate your "
         "own function with your framework's autograd", TypeError)
    raise AssertionError  # pragma: no cover - fail raises


def explained(*, aliases: tuple[str, ...] = (), explanation: LossExplanation
              ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare the explanation of a public function of the losses layer that is not a loss
    body (``entropy``, ``perplexity``: no :class:`LossSpec`, no analytic gradient); loss
    bodies declare theirs with ``loss_function(aliases=..., explanation=...)``."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        _EXPLAINED[fn.__name__] = (fn, aliases, explanation)
        return fn

    return decorate


def explained_functions() -> dict[str, tuple[Callable[..., Any], tuple[str, ...],
                                             LossExplanation | None]]:
    """Every public function of the losses layer with its aliases and explanation, by name:
    the registered losses (explanation ``None`` where none is declared) and the functions
    declared with :func:`explained`.

    >>> fn, aliases, explanation = explained_functions()["entropy"]
    >>> fn.__name__, aliases, spec_of(fn) is None
    ('entropy', ('shannon entropy',), True)
    """
    table: dict[str, tuple[Callable[..., Any], tuple[str, ...], LossExplanation | None]] = {
        name: (_PUBLIC[name], spec.aliases, spec.explanation) for name, spec in _REGISTRY.items()}
    table.update(_EXPLAINED)
    return table
