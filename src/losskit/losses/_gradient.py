"""Analytic gradients of the losses, without autograd."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from losskit._array import Array
from losskit.losses._core import value_and_parts
from losskit.losses._spec import spec_of

__all__ = ["gradient", "value_and_gradient"]


def _registered(loss_fn: Callable, caller: str) -> Callable:
    spec_of(loss_fn, caller)
    return loss_fn


def value_and_gradient(loss_fn: Callable, y_true: Any, y_pred: Any, /,
                       **options: Any) -> tuple[Array, Array]:
    r"""The loss and its gradient with respect to ``y_pred``, sharing the work.

    Returns ``(loss_fn(y_true, y_pred, **options), d loss / d y_pred)``; with
    ``from_logits=True`` the gradient is with respect to the logits. The gradient has
    ``y_pred``'s shape, library and floating dtype and is computed analytically (no autograd),
    equal to what autograd gives, including the clipping of probabilities (zero derivative
    outside :math:`[\epsilon, 1-\epsilon]`). For ``reduction="none"`` it is the gradient of the
    sum of the per-sample outputs (each sample depends only on its own row).

    Examples
    --------
    >>> import losskit as lk
    >>> value, grad = lk.value_and_gradient(lk.binary_cross_entropy, [1.0, 0.0], [0.0, 0.0],
    ...                                     from_logits=True)
    >>> round(float(value), 6), grad.tolist()
    (0.693147, [-0.25, 0.25])
    """
    public = _registered(loss_fn, "value_and_gradient")
    value, grad = value_and_parts(public, y_true, y_pred, options, with_gradient=True)
    return value, grad


def gradient(loss_fn: Callable, y_true: Any, y_pred: Any, /, **options: Any) -> Array:
    r"""Gradient of the reduced loss with respect to ``y_pred`` (or the logits).

    The per-sample derivative times the reduction's weight: for ``"mean"``
    :math:`\partial L / \partial \hat y_i = w_i\, \partial l_i / \partial \hat y_i / \sum_j v_j`.
    See :func:`value_and_gradient`.

    Examples
    --------
    >>> import losskit as lk
    >>> lk.gradient(lk.mean_squared_error, [1.0, 2.0], [2.0, 2.0]).tolist()
    [1.0, 0.0]
    >>> lk.gradient(lk.categorical_cross_entropy, [[0.0, 1.0]], [[0.0, 0.0]],
    ...             from_logits=True).tolist()
    [[0.5, -0.5]]
    """
    public = _registered(loss_fn, "gradient")
    return value_and_parts(public, y_true, y_pred, options, with_gradient=True)[1]
