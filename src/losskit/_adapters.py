"""What the framework adapters (:mod:`losskit.torch`, :mod:`losskit.keras`) share: the list of
catalogue losses and the names of their classes.

The adapters never import each other; both read the catalogue here, from the declared loss
specs (:func:`catalogue`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from losskit._validation import fail

__all__ = ["NOT_ADAPTED", "catalogue", "checked_loss", "class_name", "family_loss", "options_of"]

#: options of the functions that an adapter takes elsewhere (at call time, or its own way)
NOT_OPTIONS = ("sample_weight", "reduction")

#: name parts written in capitals in class names
_ACRONYMS = {"nll": "NLL", "kl": "KL"}


#: catalogue losses that are not a criterion of (prediction, target), with the reason
NOT_ADAPTED = {
    "linear_cross_entropy": "takes the hidden states and the output layer's weight, not a "
                            "prediction: call losskit.linear_cross_entropy in the forward pass",
    "triplet_margin_loss": "has no target (anchor, positive and negative are stacked in "
                           "y_pred): call losskit.triplet_margin_loss directly",
    "triplet_margin_with_distance_loss": "has no target (anchor, positive and negative are "
                                         "stacked in y_pred): call "
                                         "losskit.triplet_margin_with_distance_loss directly",
}


def catalogue() -> dict[str, Callable]:
    """The catalogue losses by name: every loss declared with a spec but those in
    :data:`NOT_ADAPTED` (``lk.gradient``, ``entropy`` and ``perplexity`` are not losses of a
    prediction against a target either).

    Examples
    --------
    >>> from losskit._adapters import catalogue
    >>> "huber_loss" in catalogue() and "gradient" not in catalogue()
    True
    """
    from losskit.losses import loss_functions

    return {name: fn for name, fn in sorted(loss_functions().items())
            if name not in NOT_ADAPTED}


def class_name(loss: str, *, suffix: str = "") -> str:
    """The class name of a loss: its name in CamelCase (``nll`` and ``kl`` in capitals), with
    ``suffix`` added unless the name already ends with it.

    Examples
    --------
    >>> class_name("gaussian_nll", suffix="Loss"), class_name("binary_focal_loss", suffix="Loss")
    ('GaussianNLLLoss', 'BinaryFocalLoss')
    >>> class_name("kl_divergence")
    'KLDivergence'
    """
    name = "".join(_ACRONYMS.get(part, part.capitalize()) for part in loss.split("_"))
    return name if not suffix or name.endswith(suffix) else name + suffix


def options_of(function: Callable) -> dict[str, inspect.Parameter]:
    """The keyword options of a loss (everything after ``y_true, y_pred``)."""
    parameters = inspect.signature(function).parameters
    return {name: p for name, p in parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}


def checked_loss(owner: str, loss: Any, options: dict[str, Any]) -> Callable:
    """The catalogue function ``loss`` names, after checking that each of ``options`` is one
    of its options with a valid value (so an adapter fails at construction, not at its first
    batch). ``owner`` (the adapter class) names the error."""
    functions = catalogue()
    if not isinstance(loss, str) or loss not in functions:
        fail(owner, "loss", f"is {loss!r}, not a catalogue loss",
             f"Pass one of {', '.join(sorted(functions))}")
    function = functions[loss]
    allowed = [name for name in options_of(function) if name not in NOT_OPTIONS]
    constraints = function.spec.options  # type: ignore[attr-defined]
    for key, value in options.items():
        if key not in allowed:
            what = ("is given at call time, with the batch" if key == "sample_weight"
                    else f"is not an option of {loss}")
            fail(owner, key, what, f"Options of {loss}: {', '.join(allowed)}", TypeError)
        if key in constraints:
            constraints[key].check(loss, key, value)
    return function


def family_loss(owner: str, family: Any) -> tuple[str, dict[str, Any]]:
    """The catalogue loss and options of a family's NLL of the raw outputs (a
    :class:`~losskit.families.Family` or its name, as ``lk.family`` takes it)."""
    from losskit.families import family as family_named

    fam = family_named(family) if isinstance(family, str) else family
    options = getattr(fam, "loss_options", None)
    if options is None:
        fail(owner, "family", f"{getattr(fam, 'name', fam)!r} splits its raw outputs between "
             "the loss's arguments, which a (prediction, target) loss cannot do",
             "Call the family's loss(y, raw) in your training step instead")
    return fam.loss_name, dict(options)
