"""Backpropagation through a stacked MLP written out, without an autograd graph.

A training step of a small network in eager PyTorch is mostly per-call overhead, and autograd
adds a graph per step (recording the forward operations, then running the backward engine).
For a plain MLP the backward pass is a few batched matrix products, as scikit-learn writes it
in NumPy:

.. math::

    \\delta_L = \\frac{\\partial L}{\\partial \\eta}, \\qquad
    \\frac{\\partial L}{\\partial W_l} = h_{l-1}^\\top \\delta_l, \\qquad
    \\frac{\\partial L}{\\partial b_l} = \\textstyle\\sum_{rows} \\delta_l, \\qquad
    \\delta_{l-1} = (\\delta_l W_l^\\top) \\odot f'(z_{l-1})

The output error :math:`\\delta_L` — the gradient of each member's weighted mean loss with
respect to the raw outputs :math:`\\eta` — comes from the loss's declared raw-space
:class:`~losskit.losses._spec.Kernel` (``spec.kernel.gradient``), read from the spec registry:
nothing about a loss is restated here. :func:`raw_gradient` says which heads have one (a
losskit loss of the raw outputs whose options the kernel takes); the others train through
autograd, as before. The tests check both paths give the same weights to float32 rounding.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np
import torch

from losskit._torch import zero_one
from losskit.losses import spec_of
from losskit.nn._heads import Head

__all__ = ["ACTIVATION_GRADIENTS", "OutputError", "backward", "forward", "raw_gradient"]

#: raw-space options that only say what the loss's input is (the kernel's input is the raw
#: output already)
_RAW_SPACE = {"from_logits": True, "log_input": True}


_aten = torch.ops.aten


def _relu(dh: torch.Tensor, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    # autograd's own kernel: ReLU'(0) = 0; one fused pass (measured at 50 x 32 x 100: 0.16 ms
    # against 0.7 ms for dh * (z > 0))
    return _aten.threshold_backward(dh, a, 0)


def _tanh(dh: torch.Tensor, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    return _aten.tanh_backward(dh, a)  # dh (1 - tanh^2), autograd's kernel


def _logistic(dh: torch.Tensor, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    return _aten.sigmoid_backward(dh, a)  # dh (1 - s) s, autograd's kernel


def _identity(dh: torch.Tensor, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    return dh


#: ``dL/dz`` from ``dL/da``, the pre-activation ``z`` and the activation ``a``,
#: per hidden activation written out (GELU trains through autograd)
ACTIVATION_GRADIENTS: dict[str, Callable[..., torch.Tensor]] = {
    "relu": _relu, "tanh": _tanh, "logistic": _logistic, "identity": _identity}

_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu, "tanh": torch.tanh, "logistic": torch.sigmoid,
    "identity": lambda z: z}


def _logit_error(xp: object, y: torch.Tensor, eta: torch.Tensor) -> torch.Tensor:
    r"""Binary cross-entropy's kernel gradient, :math:`(1 - y)\,\sigma(\eta) -
    y\,\sigma(-\eta)` (:math:`= \sigma(\eta) - y`, written so that nothing cancels for a
    confident, correct output), with PyTorch's native ``sigmoid``: seven operations where the
    kernel's portable ``sigmoid`` takes ten each (measured: 104 -> 20 µs a step at 32 rows).
    The same numbers as the kernel to float rounding, except where :math:`\sigma` is
    subnormal (:math:`\eta < -87.3` in float32): ``torch.sigmoid`` gives 0 where the kernel
    keeps the subnormal value, a gradient below 1.2e-38. The tests compare the two."""
    return (1.0 - y) * torch.sigmoid(eta) - y * torch.sigmoid(-eta)


def _focal_labels(y: torch.Tensor, *, alpha: float | None, **_: object) -> torch.Tensor:
    r"""The signed class weight :math:`c = -s\,\alpha_t` of hard labels :math:`y \in
    \{0, 1\}` (:math:`s = 2y - 1`; :math:`\alpha_t = \alpha` for :math:`y = 1`, else
    :math:`1 - \alpha`, 1 without ``alpha``): :math:`1 - 2y`, or :math:`(1 - \alpha) - y`.
    Once per epoch, for :func:`_focal_error` at every step."""
    if alpha is None:
        return torch.mul(y, -2.0).add_(1.0)
    return torch.neg(y).add_(1.0 - alpha)


def _focal_error(c: torch.Tensor, eta: torch.Tensor, *, gamma: float,
                 alpha: float | None) -> torch.Tensor:
    r"""The binary focal loss's gradient in the logit for hard labels, from the signed class
    weight :math:`c` of :func:`_focal_labels`:

    .. math::

        \frac{\partial l}{\partial \eta} = s\,\alpha_t\, q^\gamma
        (\gamma\, p_t \log p_t - q) = c\, q^\gamma (q - \gamma\, p_t \log p_t),
        \qquad q = 1 - p_t = \sigma(v),\ p_t = \sigma(-v),\ v = -s\,\eta,

    with :math:`\log p_t` as ``logsigmoid(-v)``: both terms in the bracket are
    non-negative, so nothing cancels, and :math:`1 - p` is never formed (a confident, correct
    logit keeps its tiny gradient, relative to rounding, until it is subnormal). Nine native
    operations where the kernel's form for soft labels takes about twenty (measured at 32
    rows: its NumPy path 34 µs a step, this 15 µs, BCE's native form 13 µs)."""
    v = c * eta if alpha is None else torch.sign(c).mul_(eta)  # -s eta (sign(0) = 0: c = 0)
    q = torch.sigmoid(v)
    if not gamma:
        return q.mul_(c)
    minus = v.neg_()
    bracket = torch.addcmul(q, torch.sigmoid(minus), torch.nn.functional.logsigmoid(minus),
                            value=-gamma)
    return bracket.mul_(q if gamma == 1.0 else q.pow(gamma)).mul_(c)


#: raw outputs up to this many elements on the CPU take a kernel's NumPy path (below it a
#: NumPy operation costs less than a torch call; measured at 32 x 1 and 50 x 32 x 1)
_NUMPY_ELEMENTS = 4096

#: native PyTorch forms of a kernel's gradient, by loss name, used when the loss is called
#: without options (a loss-kernel form on torch tensors that is this fast makes them moot)
_NATIVE_GRADIENTS: dict[str, Callable[..., torch.Tensor]] = {
    "binary_cross_entropy": _logit_error}

#: closed forms of a kernel's gradient for hard labels (0/1), by loss name: ``(labels, step)``,
#: ``labels(y, **options)`` once per epoch and ``step(labels(y), raw, **options)`` per step,
#: used when every label of the fit is 0 or 1 and the options are host numbers
_HARD_LABEL_GRADIENTS: dict[str, tuple[Callable[..., torch.Tensor],
                                       Callable[..., torch.Tensor]]] = {
    "binary_focal_loss": (_focal_labels, _focal_error)}


def _same(y: torch.Tensor) -> torch.Tensor:
    return y


class OutputError:
    """A head's output error ``d l_i / d raw`` (the gradient of each sample's loss with
    respect to its raw outputs, shape of ``raw``), in two parts: :attr:`labels` maps the
    labels once per epoch (the identity, or what a closed form wants of them, e.g. binary
    focal's signed class weights) and :attr:`step` gives the error of a step from the mapped
    labels and the raw outputs. Calling it does both: ``error(y, raw)``.

    :attr:`form` says where the numbers come from: ``"kernel"`` (the loss's declared
    kernel), ``"native"`` (a native PyTorch form of it, ``_NATIVE_GRADIENTS``) or
    ``"hard labels"`` (a closed form for 0/1 labels, ``_HARD_LABEL_GRADIENTS``)."""

    __slots__ = ("form", "labels", "step")

    def __init__(self, step: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], form: str,
                 labels: Callable[[torch.Tensor], torch.Tensor] = _same) -> None:
        self.step, self.form, self.labels = step, form, labels

    def __call__(self, y: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        return self.step(self.labels(y), raw)


def raw_gradient(head: Head, labels: torch.Tensor | None = None) -> OutputError | None:
    """The head's :class:`OutputError` from the loss's declared kernel, or ``None`` where the
    head's loss has none that applies (then autograd). ``labels``: every label the fit will
    train on; where all are 0 or 1 a loss with a closed form for hard labels
    (``_HARD_LABEL_GRADIENTS``: binary focal) uses it.

    A head qualifies when its loss is a losskit loss called on the raw outputs themselves
    (``from_logits=True``/``log_input=True``, not a family's split layout, not a callable)
    whose other options are all parameters of its kernel. The kernel's value is per element
    (a loss averaged over the outputs, e.g. the squared error) or per row (softmax
    cross-entropy); its gradient is divided by the number of outputs in the first case.
    """
    spec = head.spec
    if spec.fn is None or spec.user_fn is not None or not spec.on_logits or spec.via_family:
        return None
    loss_spec = spec_of(spec.fn)
    kernel = None if loss_spec is None else loss_spec.kernel
    if kernel is None:
        return None
    accepted = _parameters(kernel.gradient)
    params = {}
    for key, value in spec.options.items():
        if key in accepted:
            params[key] = value
        elif _RAW_SPACE.get(key) is not value:
            return None  # an option that changes the loss beyond the kernel
    if head.task == "classification" and head.activation == "softmax":
        per_row = True  # labels against C logits: one value per row
    elif head.activation in ("identity", "exp", "sigmoid"):
        per_row = False  # one value per output, averaged over a sample's outputs
    else:
        return None

    def per_output(g: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        return g / raw.shape[-1] if not per_row and raw.shape[-1] > 1 else g

    hard = _HARD_LABEL_GRADIENTS.get(loss_spec.name)
    if hard is not None and labels is not None and _host_numbers(params) and \
            zero_one(torch, labels):
        closed = _closed_form_options(kernel.gradient, params)
        to_labels, error = hard

        def hard_step(c: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
            return per_output(error(c, raw, **closed), raw)

        return OutputError(hard_step, "hard labels", lambda y: to_labels(y, **closed))

    if not params and loss_spec.name in _NATIVE_GRADIENTS:
        native = _NATIVE_GRADIENTS[loss_spec.name]
        return OutputError(lambda y, raw: per_output(native(torch, y, raw), raw), "native")
    gradient = kernel.gradient

    def step(y: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        if raw.device.type == "cpu" and raw.numel() <= _NUMPY_ELEMENTS:
            # a small CPU step: the kernel's NumPy path on views of the same memory (its
            # twenty-odd element-wise operations cost ~1 µs each in NumPy against ~3 µs as
            # torch calls at 32 x 1: binary focal's soft-label kernel 70 -> 30 µs a step)
            g = torch.from_numpy(np.asarray(gradient(
                np, y.detach().numpy(), raw.detach().numpy(), **params)))
        else:
            g = gradient(torch, y, raw, **params)
        return per_output(g, raw)

    return OutputError(step, "kernel")


def _keyword_defaults(fn: Callable[..., object]) -> dict[str, object]:
    """``fn``'s keyword-only parameters (a kernel gradient's options) with their defaults."""
    return {name: p.default for name, p in inspect.signature(fn).parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY}


def _parameters(fn: Callable[..., object]) -> set[str]:
    return set(_keyword_defaults(fn))


def _closed_form_options(kernel_gradient: Callable[..., object],
                         params: dict[str, object]) -> dict[str, object]:
    """The kernel's options with their defaults filled in (the closed form takes them all),
    as floats."""
    options = {**_keyword_defaults(kernel_gradient), **params}
    return {k: None if v is None else float(v) for k, v in options.items()}


def _host_numbers(params: dict[str, object]) -> bool:
    """Whether every option is a Python number or ``None`` (a tensor option: the kernel)."""
    return all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
               for v in params.values())


def forward(params: list[torch.Tensor], x: torch.Tensor, activation: str,
            out: torch.Tensor | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Raw outputs ``(M, b, n_outputs)`` of stacked layers ``params`` (``W (M, in, out)``,
    ``b (M, 1, out)`` per layer) and what :func:`backward` needs: each layer's input and, for
    the hidden layers, the pre-activation. ``out`` receives the raw outputs if given."""
    act = _ACTIVATIONS[activation]
    saved: list[torch.Tensor] = []
    h = x
    n_layers = len(params) // 2
    for layer in range(n_layers):
        saved.append(h)
        W, b = params[2 * layer], params[2 * layer + 1]
        if layer == n_layers - 1:
            return (torch.baddbmm(b, h, W) if out is None else
                    torch.baddbmm(b, h, W, out=out)), saved
        z = torch.baddbmm(b, h, W)
        saved.append(z)
        h = act(z)
    raise AssertionError("no layers")  # pragma: no cover


def backward(params: list[torch.Tensor], saved: list[torch.Tensor], delta: torch.Tensor,
             activation: str) -> list[torch.Tensor]:
    """The gradients of ``params`` given ``delta = dL/d raw`` ``(M, b, n_outputs)`` and
    :func:`forward`'s ``saved`` tensors (the same products autograd's ``baddbmm`` backward
    computes)."""
    act_grad = ACTIVATION_GRADIENTS[activation]
    n_layers = len(params) // 2
    grads: list[torch.Tensor] = [delta] * len(params)
    for layer in range(n_layers - 1, -1, -1):
        h = saved[2 * layer]
        grads[2 * layer] = torch.bmm(h.transpose(1, 2), delta)
        grads[2 * layer + 1] = delta.sum(dim=1, keepdim=True)
        if layer == 0:
            break
        dh = torch.bmm(delta, params[2 * layer].transpose(1, 2))
        z = saved[2 * layer - 1]
        delta = act_grad(dh, z, h)
    return grads
