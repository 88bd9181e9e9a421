"""More native PyTorch kernels (issue 19, third round): the Laplace NLL, the pinball loss and
the Tweedie deviance of log-means.

Each is registered in :data:`losskit._torch.KERNELS` on import (the end of
:mod:`losskit._torch` imports this module) and follows that module's rules: a kernel returns
the loss's value, or ``None`` to leave the call to the generic path (options it does not
implement, inputs whose value is not finite: the generic path gives its error or its
number). Measured figures: ``benchmarks/README.md`` ("Issue 19, torch rows at 1e6 ...,
third round").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from losskit._torch import (
    KERNELS,
    LossHooks,
    _constant,
    _Elementwise,
    _finite,
    _fused_value,
    _is_none,
    _is_true,
    _plain,
    _probes,
    _reduced,
    _same_float_tensors,
    poisson_log_rate,
)

Array = Any


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
    kernel = _Tweedie(float(kwargs["power"]), zeros=smallest == 0)
    value = _fused_value(hooks, torch, kernel, y_true, y_pred, kwargs.get("reduction", "mean"))
    # a NaN or inf input, or a deviance that overflows: the generic path's error or number
    return value if _finite(value) else None


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


def _convention(name: Any) -> Any:
    """The convention ``name`` of the losses layer (imported at call time: the losses layer
    imports this module)."""
    from losskit.losses._conventions import CONVENTIONS

    return CONVENTIONS[name]


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
    if not _plain(kwargs, hooks, _MSLE) or _convention(
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
    policy = _convention(kwargs.get("convention", "losskit"))
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
