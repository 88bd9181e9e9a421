"""Multilayer perceptrons whose output heads come from the loss (the likelihood).

The network ends in *raw* outputs — as many as the head's distribution needs (one logit for a
Bernoulli target, one per class for a categorical one, a mean and a log-variance per target
for a heteroscedastic Gaussian: the family's layout). The output activation is applied inside
the loss (``from_logits=True``: stable for any logit) and in :meth:`MLP.predict`, never twice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from losskit._validation import fail
from losskit.nn._evaluation import combine
from losskit.nn._heads import LAYOUT, Head
from losskit.nn._parameters import check_parameters, mlp_parameters

__all__ = ["ACTIVATIONS", "MLP"]

#: hidden-layer activations by name (scikit-learn's names, plus GELU)
ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "logistic": nn.Sigmoid,
    "identity": nn.Identity,
    "gelu": nn.GELU,
}
_INITS = ("he_uniform", "glorot_uniform", "torch")
_FUNC = "MLP"
_PARAMETERS = mlp_parameters(tuple(ACTIVATIONS), _INITS)


class MLP(nn.Module):
    r"""A multilayer perceptron with one or several output heads.

    ``x -> [Linear -> activation] * len(hidden_layer_sizes)`` is the shared trunk; each head is
    a linear layer with the head's number of raw outputs. :meth:`forward` returns the raw
    outputs of every head; :meth:`loss` combines the heads' losses:

    .. math::

        L = \sum_h w_h L_h
        \qquad\text{or, with uncertainty weighting,}\qquad
        L = \sum_h w_h \Bigl(c_h\, e^{-s_h} L_h + \tfrac12 s_h\Bigr)

    where :math:`s_h = \log\sigma_h^2` is learned with the network (Kendall, Gal & Cipolla,
    2018, "Multi-task learning using uncertainty to weigh losses"): a head whose loss is noisy
    learns a large :math:`\sigma_h` and is down-weighted, and the :math:`\tfrac12 s_h` term
    stops :math:`\sigma_h` from growing without bound. :math:`c_h = \tfrac12` for a squared
    error (the Gaussian likelihood :math:`\frac{1}{2\sigma^2}\|y - \hat y\|^2 + \log\sigma`)
    and :math:`1` for the other losses (the scaled-logit form of the paper's classification
    likelihood).

    Parameters
    ----------
    n_features : int
        Inputs per sample.
    heads : Head or dict of str to Head
        The output head(s). A single head is called ``"output"``.
    hidden_layer_sizes : sequence of int
        Units of each hidden layer (``()`` gives a generalised linear model).
    activation : {"relu", "tanh", "logistic", "identity", "gelu"}
        Hidden-layer activation.
    init : {"he_uniform", "glorot_uniform", "torch"}
        Weight initialisation. ``"he_uniform"`` (He et al., 2015):
        :math:`W \sim U(\pm\sqrt{6 / \text{fan\_in}})` for the hidden layers, keeping the
        variance of ReLU activations constant through depth; ``"glorot_uniform"``:
        :math:`U(\pm\sqrt{6 / (\text{fan\_in} + \text{fan\_out})})`; ``"torch"``: PyTorch's
        default. Output layers are always Glorot-uniform; biases start at 0 (except with
        ``"torch"``).
    uncertainty_weighting : bool
        Learn one :math:`s_h` per head (see above).
    random_state : int, optional
        Seed of the initialisation (a private ``torch.Generator``: the global RNG is untouched).
    dtype : torch.dtype

    Examples
    --------
    >>> import torch
    >>> from losskit.nn import MLP, Head
    >>> model = MLP(4, Head("cross_entropy", task="classification", n_classes=3),
    ...             hidden_layer_sizes=(8,), random_state=0)
    >>> model(torch.zeros(2, 4))["output"].shape
    torch.Size([2, 3])
    """

    #: the declared parameters (losskit.nn._parameters), probed by the tests
    __losskit_constraints__ = _PARAMETERS

    def __init__(self, n_features: int, heads: Head | Mapping[str, Head], *,
                 hidden_layer_sizes: Sequence[int] = (100,), activation: str = "relu",
                 init: str = "he_uniform", uncertainty_weighting: bool = False,
                 random_state: int | None = None, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        check_parameters(_FUNC, _PARAMETERS, n_features=n_features,
                         hidden_layer_sizes=hidden_layer_sizes, activation=activation,
                         init=init, uncertainty_weighting=uncertainty_weighting)
        if isinstance(heads, Head):
            heads = {"output": heads}
        if not isinstance(heads, Mapping) or not heads or \
                not all(isinstance(h, Head) for h in heads.values()):
            fail(_FUNC, "heads", f"is {type(heads).__name__}",
                 "Pass a Head or a non-empty dict of name -> Head", TypeError)
        sizes = (hidden_layer_sizes,) if isinstance(hidden_layer_sizes, int) else tuple(
            int(s) for s in hidden_layer_sizes)
        self.n_features = n_features
        self.hidden_layer_sizes = sizes
        self.activation = activation
        self.init = init
        self.head_specs: dict[str, Head] = dict(heads)
        layers: list[nn.Module] = []
        width = n_features
        # nn.Linear's own initialisation draws from the global RNG: keep it untouched (the
        # weights are drawn again from a private generator in reset_parameters)
        with torch.random.fork_rng(devices=[]):
            for size in sizes:
                layers += [nn.Linear(width, size, dtype=dtype), ACTIVATIONS[activation]()]
                width = size
            self.trunk = nn.Sequential(*layers)
            self.heads = nn.ModuleDict({name: nn.Linear(width, h.n_outputs, dtype=dtype)
                                        for name, h in self.head_specs.items()})
        self.log_vars = (nn.Parameter(torch.zeros(len(self.head_specs), dtype=dtype))
                         if uncertainty_weighting else None)
        self.reset_parameters(random_state)

    @property
    def uncertainty_weighting(self) -> bool:
        return self.log_vars is not None

    def reset_parameters(self, random_state: int | None = None) -> None:
        """Initialise the weights (see ``init``) from a private generator seeded with
        ``random_state``."""
        gen = torch.Generator()
        if random_state is None:
            gen.seed()
        else:
            gen.manual_seed(int(random_state))
        gain = nn.init.calculate_gain("relu" if self.activation in ("relu", "gelu") else
                                      "tanh" if self.activation == "tanh" else "linear")
        with torch.no_grad():
            for layer in self.trunk:
                if isinstance(layer, nn.Linear):
                    _init_linear(layer, self.init, gain, gen)
            for layer in self.heads.values():
                _init_linear(layer, "glorot_uniform" if self.init != "torch" else "torch",
                             1.0, gen)
            if self.log_vars is not None:
                self.log_vars.zero_()

    def start_at_baseline(self, y: Mapping[str, Any]) -> dict[str, bool]:
        """Set each head's output bias to the raw output of the best constant model.

        The untrained network then predicts about what a model without features would: the
        mean (0 for a standardised target), the log of the mean for log-link heads (Poisson,
        Gamma, Tweedie, negative binomial), the log class priors (the logit of the positive
        class for one sigmoid output) — :meth:`losskit.nn.Head.baseline_raw`. This removes the
        large initial error (and gradient) of an output that starts at 0 far from the
        target's level, the usual cause of divergence in the first epoch.

        Parameters
        ----------
        y : dict of head name to array_like
            Per head, the training targets: values ``(n,)`` or ``(n, n_targets)`` for
            regression, class indices ``(n,)`` for classification.

        Returns
        -------
        dict of str to bool
            Which heads were set; a head without a closed-form baseline (``baseline_raw``
            returns ``None``, e.g. a mixture) keeps its bias.

        Examples
        --------
        >>> import numpy as np, torch
        >>> from losskit.nn import MLP, Head
        >>> model = MLP(2, Head("poisson_nll"), hidden_layer_sizes=(4,), random_state=0)
        >>> model.start_at_baseline({"output": np.array([1.0, 2.0, 5.0])})
        {'output': True}
        >>> round(float(model.heads["output"].bias[0].exp()), 4)
        2.6667
        """
        done: dict[str, bool] = {}
        for name, head in self.head_specs.items():
            if name not in y:
                done[name] = False
                continue
            t = y[name]
            t = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
            if head.task == "regression":
                t = t.astype(np.float64).reshape(t.shape[0], -1)
            else:
                t = t.astype(np.int64).reshape(-1)
            base = head.baseline_raw(t) if t.shape[0] else None
            bias = self.heads[name].bias
            if base is None:
                done[name] = False
                continue
            base = np.asarray(base, dtype=np.float64).reshape(-1)
            if base.shape[0] != bias.shape[0] or not np.isfinite(base).all():
                done[name] = False
                continue
            with torch.no_grad():
                bias.copy_(torch.as_tensor(base, dtype=bias.dtype))
            done[name] = True
        return done

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Raw outputs of every head: ``{name: (n, head.n_outputs)}``."""
        z = self.trunk(x)
        return {name: layer(z) for name, layer in self.heads.items()}

    def combine(self, losses: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The total loss from the heads' losses (weights, uncertainty weighting): one
        formula with the evaluation's, :func:`losskit.nn._evaluation.combine`."""
        return combine(self.head_specs, self.log_vars, losses)

    def loss(self, outputs: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor],
             sample_weight: torch.Tensor | None = None, check_values: bool = False
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``(total loss, {head: loss})`` of a batch, differentiable."""
        parts = {name: head.batch_loss(targets[name], outputs[name], sample_weight,
                                       check_values)
                 for name, head in self.head_specs.items()}
        return self.combine(parts), parts

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Predictions of every head: the activation applied to the raw outputs (class
        probabilities for classification heads)."""
        out = self(x)
        return {name: (h.probabilities(out[name]) if h.task == "classification"
                       else h.activate(out[name]))
                for name, h in self.head_specs.items()}

    def config(self) -> dict[str, Any]:
        """JSON-serialisable description (the heads' losses must be names)."""
        return {
            "n_features": self.n_features,
            "hidden_layer_sizes": list(self.hidden_layer_sizes),
            "activation": self.activation,
            "init": self.init,
            "uncertainty_weighting": self.uncertainty_weighting,
            "heads": {name: {"loss": h.spec.name if h.spec.user_fn is None else None,
                             "task": h.task, "n_targets": h.n_targets,
                             "n_classes": h.n_classes, "weight": h.weight,
                             "layout": LAYOUT}
                      for name, h in self.head_specs.items()},
        }


def _init_linear(layer: nn.Linear, init: str, gain: float, gen: torch.Generator) -> None:
    fan_out, fan_in = layer.weight.shape
    if init == "torch":
        bound = 1.0 / math.sqrt(fan_in)  # PyTorch's default (Kaiming-uniform with a=sqrt(5))
        nn.init.uniform_(layer.weight, -bound, bound, generator=gen)
        nn.init.uniform_(layer.bias, -bound, bound, generator=gen)
        return
    if init == "he_uniform":
        bound = gain * math.sqrt(3.0 / fan_in)
    else:
        bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    nn.init.uniform_(layer.weight, -bound, bound, generator=gen)
    nn.init.zeros_(layer.bias)
