"""losskit's losses as Keras 3 losses (``keras.losses.Loss``), for ``model.compile(loss=...)``.

One class per catalogue loss, generated from the catalogue and named as Keras names its losses:
the function's name in CamelCase (``BinaryCrossEntropy``, ``BinaryFocalLoss``, ``HuberLoss``,
``GaussianNLL``, ``KLDivergence``; :data:`LOSSES` maps each loss to its class), plus the
generic :class:`Loss` (``Loss("huber_loss", delta=1.0)``; a family's NLL with
``Loss.from_family("poisson")``) that they all are. Each works on
every Keras 3 backend that losskit computes on (JAX, PyTorch, NumPy: the arrays Keras hands
the loss are that library's, and losskit's functions take them as they are), inside
``model.fit`` (on JAX, traced by ``jax.jit``: the value checks follow losskit's traced-code
rule, see :mod:`losskit._validation`), and is serialisable: ``get_config``/``from_config``
round-trip the options, and a model saved to ``.keras`` loads back with its loss (the classes
are registered with Keras as ``losskit>ClassName``).

Conventions are Keras': ``loss(y_true, y_pred, sample_weight=None)``; the class computes one
value per sample (``reduction="none"`` of the function) and Keras reduces them with its own
``reduction`` (default ``"sum_over_batch_size"``), sample weights and masks (so a weighted
mean, also with ``class_weight``, is Keras' ``sum(w l) / n``). Targets come as
Keras feeds them: a ``y_true`` of shape ``(n,)`` against a ``y_pred`` of ``(n, 1)`` gets the
trailing axis, and labels of shape ``(n, 1)`` against ``(n, C)`` outputs lose it (what Keras'
own losses do); any other shape mismatch is losskit's error. Pass ``convention="keras"`` (for
losses with a Keras counterpart) to reproduce Keras' own numbers, e.g. its probability
clipping.

Examples
--------
>>> import numpy as np
>>> import losskit.keras as lkk
>>> loss = lkk.BinaryFocalLoss(gamma=2.0, from_logits=True)
>>> loss.get_config()["gamma"], type(loss).from_config(loss.get_config()).options
(2.0, {'gamma': 2.0, 'from_logits': True})
>>> y = np.array([[1.0], [0.0]])
>>> round(float(lkk.Loss("huber_loss", delta=1.0)(y, np.array([[0.5], [3.0]]))), 4)
1.3125
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from losskit._adapters import (
    NOT_OPTIONS,
    catalogue,
    checked_loss,
    class_name,
    family_loss,
    options_of,
)

__all__ = ["LOSSES", "Loss"]  # + one named loss per catalogue loss (see LOSSES)


def _plain(value: Any) -> Any:
    """An option value as JSON can hold it (arrays as nested lists)."""
    if isinstance(value, (np.ndarray, np.generic)) or hasattr(value, "__array__"):
        return np.asarray(value).tolist()
    return value


@keras.saving.register_keras_serializable(package="losskit")
class Loss(keras.losses.Loss):
    """A losskit loss as a Keras loss: ``Loss(name, reduction="sum_over_batch_size",
    **options)``.

    ``call(y_true, y_pred)`` returns ``losskit.<name>(y_true, y_pred, reduction="none",
    **options)``; Keras applies ``reduction``, sample weights and masks.

    Parameters
    ----------
    loss : str
        A catalogue loss, e.g. ``"huber_loss"`` (see :data:`LOSSES`).
    reduction : str
        Keras' reduction of the per-sample values (``"sum_over_batch_size"``, ``"sum"``,
        ``"mean"``, ``"none"``, ...).
    name : str, optional
        Keras' name of the loss (default: the loss's).
    **options
        The loss function's keyword options, checked here, at construction.
    """

    def __init__(self, loss: str, *, reduction: str = "sum_over_batch_size",
                 name: str | None = None, dtype: Any = None, **options: Any) -> None:
        self.function: Callable = checked_loss(type(self).__name__, loss, options)
        super().__init__(name=name or loss, reduction=reduction, dtype=dtype)
        self.loss, self.options = loss, options

    @classmethod
    def from_family(cls, family: Any, **options: Any) -> Loss:
        """The Keras loss of a family's NLL of the raw outputs (``lk.family`` name or object):
        its loss's named class with the family's ``loss_options``, plus ``options``."""
        loss, fixed = family_loss(cls.__name__, family)
        return LOSSES[loss](**fixed, **options)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return self.function(_keras_shape(y_true, y_pred), y_pred, reduction="none",
                             **self.options)

    def get_config(self) -> dict[str, Any]:
        config = {**super().get_config(), **{k: _plain(v) for k, v in self.options.items()}}
        if type(self) is Loss:
            config["loss"] = self.loss
        return config


def _keras_shape(y_true: Any, y_pred: Any) -> Any:
    """``y_true`` with a trailing axis of length 1 added or removed where Keras' feeding
    differs from the loss's shapes by just that axis."""
    true_shape, pred_shape = tuple(y_true.shape), tuple(y_pred.shape)
    if len(true_shape) == len(pred_shape) - 1 and pred_shape[-1] == 1:
        return keras.ops.expand_dims(y_true, -1)
    if len(true_shape) == len(pred_shape) and true_shape[-1:] == (1,) != pred_shape[-1:] \
            and len(true_shape) > 1:
        return keras.ops.squeeze(y_true, -1)
    return y_true


def _named(loss: str, function: Callable) -> type[Loss]:
    """The named Keras loss class of ``loss``: :class:`Loss` with the loss fixed."""

    def __init__(self: Loss, *, reduction: str = "sum_over_batch_size",
                 name: str | None = None, dtype: Any = None, **options: Any) -> None:
        Loss.__init__(self, loss, reduction=reduction, name=name, dtype=dtype, **options)

    keyword = inspect.Parameter.KEYWORD_ONLY
    parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY),
                  inspect.Parameter("reduction", keyword, default="sum_over_batch_size"),
                  inspect.Parameter("name", keyword, default=None),
                  inspect.Parameter("dtype", keyword, default=None)]
    parameters += [p for k, p in options_of(function).items() if k not in NOT_OPTIONS]
    __init__.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    cls_name = class_name(loss)
    summary = (function.__doc__ or "").strip().splitlines()[0]
    doc = (f"{summary}\n\nThe Keras loss of :func:`losskit.{loss}` (see :class:`Loss`): "
           f"``{cls_name}(**options)(y_true, y_pred, sample_weight=None)``.")
    cls = type(cls_name, (Loss,), {"__init__": __init__, "__doc__": doc,
                                   "__module__": __name__, "__qualname__": cls_name})
    return keras.saving.register_keras_serializable(package="losskit")(cls)


#: catalogue loss name -> its Keras loss class
LOSSES: dict[str, type[Loss]] = {loss: _named(loss, fn) for loss, fn in catalogue().items()}
globals().update({cls.__name__: cls for cls in LOSSES.values()})
__all__ += sorted(cls.__name__ for cls in LOSSES.values())
