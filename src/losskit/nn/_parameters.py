"""The parameters of losskit.nn's classes, declared as constraints.

Each class that checks its parameters carries its table as ``__losskit_constraints__`` (what
:func:`losskit._validation.constraints_of` reads), so the tests feed every declared
constraint's ``invalid`` values to it automatically, as they do to the losses' options. A
check reads the table (:func:`check_parameters`); nothing is written twice. The message is the
project's template: ``"<Class>: <parameter> is <value>. Pass <what the constraint says>."``
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from losskit._validation import Boolean, Constraint, OneOf, Optional, Real, fail

__all__ = ["ESTIMATOR_PARAMETERS", "HEAD_PARAMETERS", "REGRESSOR_PARAMETERS", "LayerSizes",
           "PositiveInteger", "ScaleTarget", "check_parameters", "mlp_parameters"]


def _integer(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


class PositiveInteger(Constraint):
    """An integer of at least ``low``."""

    def __init__(self, low: int = 1) -> None:
        self.low = low
        self.description = "a positive integer" if low == 1 else f"an integer >= {low}"
        self.invalid = (low - 1, 1.5, "2", True)

    def type_ok(self, value: Any) -> bool:
        return _integer(value)

    def value_ok(self, value: Any) -> bool:
        return value >= self.low


class LayerSizes(Constraint):
    """The hidden layers' widths: a positive integer, or a sequence of them (``()``: none)."""

    description = "a tuple of positive integers, e.g. (100,)"
    invalid = ((0,), (16, -1), (1.5,), "16", None)

    def type_ok(self, value: Any) -> bool:
        if _integer(value):
            return True
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            return False
        return all(_integer(v) for v in value)

    def value_ok(self, value: Any) -> bool:
        return all(v >= 1 for v in ((value,) if _integer(value) else value))


class ScaleTarget(Constraint):
    """``"auto"``, ``True`` or ``False`` (NumPy booleans included)."""

    description = "'auto', True or False"
    invalid = ("yes", 1, None)

    def type_ok(self, value: Any) -> bool:
        import numpy as np

        return isinstance(value, (str, bool, np.bool_))

    def value_ok(self, value: Any) -> bool:
        return value == "auto" if isinstance(value, str) else True


#: :class:`losskit.nn.Head` (``n_classes`` is required for classification, checked apart)
HEAD_PARAMETERS: Mapping[str, Constraint] = MappingProxyType({
    "task": OneOf("regression", "classification"),
    "n_targets": PositiveInteger(),
    "n_classes": Optional(PositiveInteger(2)),
    "weight": Real(0.0, math.inf, closed="left"),
})

#: the parameters :class:`losskit.nn.MLPClassifier` and ``MLPRegressor`` check themselves
#: (the training parameters are the :class:`losskit.nn.Trainer`'s)
ESTIMATOR_PARAMETERS: Mapping[str, Constraint] = MappingProxyType({
    "hidden_layer_sizes": LayerSizes(),
    "validation_fraction": Real(0.0, 1.0, closed="left"),
})
#: :class:`losskit.nn.MLPRegressor`'s: the estimators' and ``scale_target``
REGRESSOR_PARAMETERS: Mapping[str, Constraint] = MappingProxyType({
    **ESTIMATOR_PARAMETERS, "scale_target": ScaleTarget()})


def mlp_parameters(activations: tuple[str, ...], inits: tuple[str, ...]
                   ) -> Mapping[str, Constraint]:
    """:class:`losskit.nn.MLP`'s table, for its hidden activations and initialisations."""
    return MappingProxyType({
        "n_features": PositiveInteger(),
        "hidden_layer_sizes": LayerSizes(),
        "activation": OneOf(*activations),
        "init": OneOf(*inits),
        "uncertainty_weighting": Boolean(),
    })


def check_parameters(func: str, table: Mapping[str, Constraint], **values: Any) -> None:
    """Check each of ``values`` against its declared constraint in ``table``: a
    ``TypeError`` for a value of the wrong kind, a ``ValueError`` for one out of range.

    Examples
    --------
    >>> check_parameters("Head", HEAD_PARAMETERS, weight=-1.0)
    Traceback (most recent call last):
    ...
    ValueError: Head: weight is -1.0. Pass a number in [0.0, inf).
    """
    for name, value in values.items():
        constraint = table[name]
        if not constraint.type_ok(value):
            fail(func, name, f"is {value!r}", f"Pass {constraint.description}.", TypeError)
        if not constraint.value_ok(value):
            fail(func, name, f"is {value!r}", f"Pass {constraint.description}.")
