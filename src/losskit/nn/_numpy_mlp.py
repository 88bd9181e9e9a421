"""A saved :class:`~losskit.nn.MLP` run in NumPy: ``losskit predict`` and ``evaluate`` without
importing torch.

Importing torch was two thirds of a ``losskit predict`` (1.9-3.3 s on the project's machine,
for a forward pass of milliseconds). :class:`NumpyMLP` reads ``model.safetensors`` with
``safetensors.numpy`` and computes what :class:`~losskit.nn.MLP` computes, in the model's
own dtype (float32: each layer ``x @ W.T + b``, the activations written as torch's CPU kernels
write them), so its outputs differ from torch's at float32 rounding only. The output heads are
the same :class:`~losskit.nn.Head` objects (their prediction and loss code takes NumPy arrays
too), and ``losskit.nn._evaluation`` evaluates it with the trainer's own evaluation (the same
functions, on NumPy arrays).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from losskit._validation import fail
from losskit.nn._heads import Head, heads_from_config, upgrade_state

__all__ = ["ACTIVATIONS", "NumpyMLP", "check_finite_weights", "erf", "state_shapes"]

MODEL_FILE = "model.safetensors"


def state_shapes(n_features: int, hidden_layer_sizes: Sequence[int],
                 heads: Mapping[str, int], uncertainty_weighting: bool
                 ) -> dict[str, tuple[int, ...]]:
    """The tensors of an :class:`~losskit.nn.MLP`'s ``state_dict`` and their shapes
    (``heads``: each head's raw outputs), without building it.

    Examples
    --------
    >>> state_shapes(3, [4], {"output": 2}, False)
    {'trunk.0.weight': (4, 3), 'trunk.0.bias': (4,), 'heads.output.weight': (2, 4), \
'heads.output.bias': (2,)}
    """
    # in the state_dict's order: the module's own parameters, then its submodules'
    shapes: dict[str, tuple[int, ...]] = {"log_vars": (len(heads),)} if uncertainty_weighting \
        else {}
    width = n_features
    for i, size in enumerate(hidden_layer_sizes):  # nn.Sequential(Linear, activation, ...)
        shapes[f"trunk.{2 * i}.weight"] = (int(size), width)
        shapes[f"trunk.{2 * i}.bias"] = (int(size),)
        width = int(size)
    for name, n_outputs in heads.items():
        shapes[f"heads.{name}.weight"] = (int(n_outputs), width)
        shapes[f"heads.{name}.bias"] = (int(n_outputs),)
    return shapes


def check_finite_weights(command: str, argument: str, folder: str | os.PathLike,
                         state: dict[str, Any]) -> None:
    """Refuse a model whose weights (``state``: the NumPy arrays or torch tensors of the
    ``model.safetensors`` in ``folder``) are not all finite, naming the first such tensor."""
    from losskit.nn._evaluation import namespace

    for key, value in state.items():
        xp = namespace(value)
        finite = xp.isfinite(value)
        if not bool(xp.all(finite)):
            bad = int(xp.sum(xp.astype(~finite, xp.int64)))
            fail(command, argument, f"{str(folder)!r} holds NaN or infinite weights: tensor "
                 f"{key!r} has {bad} non-finite value(s)", "The model is broken (training "
                 "diverged, or the file was altered): fit it again")


def erf(x: np.ndarray) -> np.ndarray:
    r"""The error function in float64, to about 1e-14 relative (NumPy has none; SciPy's
    import would cost more than the forward pass).

    .. math::

        \operatorname{erf}(t) = \frac{2}{\sqrt\pi} e^{-t^2}
            \sum_{n\ge0} \frac{2^n t^{2n+1}}{1\cdot3\cdots(2n+1)} \quad (|t| < 2.5),
        \qquad
        \operatorname{erfc}(t) = \frac{e^{-t^2}}{\sqrt\pi}\,
            \cfrac{1}{t + \cfrac{1/2}{t + \cfrac{1}{t + \cfrac{3/2}{t + \cdots}}}}
            \quad (t \ge 2.5)

    (the series has positive terms only: no cancellation; 50 terms reach double precision
    at ``|t| = 2.5``, and 40 levels of the continued fraction beyond it).

    Examples
    --------
    >>> import math
    >>> x = np.array([-3.0, -0.5, 0.0, 1e-8, 2.0, 6.0])
    >>> bool(np.allclose(erf(x), [math.erf(v) for v in x], rtol=1e-14, atol=0))
    True
    """
    x = np.asarray(x, dtype=np.float64)
    t = np.abs(x)
    out = np.empty_like(t)
    small = t < 2.5
    ts = t[small]
    term, total, ratio = ts.copy(), ts.copy(), 2.0 * ts * ts
    for n in range(1, 50):
        term *= ratio / (2 * n + 1)
        total += term
    out[small] = 2.0 / math.sqrt(math.pi) * np.exp(-ts * ts) * total
    tl = t[~small]
    f = tl.copy()
    for k in range(40, 0, -1):
        f = tl + (k / 2.0) / f
    with np.errstate(invalid="ignore"):  # t = inf: exp(-inf) / inf = 0
        out[~small] = 1.0 - np.exp(-tl * tl) / math.sqrt(math.pi) / f
    out[np.isinf(t)] = 1.0
    out[np.isnan(t)] = np.nan
    return np.copysign(out, x)


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, x.dtype.type(0))


def _logistic(x: np.ndarray) -> np.ndarray:
    # torch's CPU sigmoid: 1 / (1 + exp(-x)); exp overflows to inf below -88 (float32): 0
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


def _gelu(x: np.ndarray) -> np.ndarray:
    # nn.GELU() (exact, not tanh): x * 0.5 * (1 + erf(x / sqrt 2)), in the order torch's CPU
    # kernel computes it, erf exact in float64 and rounded to the model's dtype
    one = x.dtype.type(1)
    return x * x.dtype.type(0.5) * (one + erf(x * x.dtype.type(math.sqrt(0.5))).astype(x.dtype))


#: the hidden-layer activations of :data:`losskit.nn.models.ACTIVATIONS`, on NumPy arrays
ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": _relu, "tanh": np.tanh, "logistic": _logistic, "identity": lambda x: x,
    "gelu": _gelu,
}


class NumpyMLP:
    """A saved :class:`~losskit.nn.MLP` for predictions: :meth:`predict` and the raw outputs
    (``model(X)``), as the network computes them; ``head_specs``, ``log_vars`` and
    ``n_features`` as the MLP has them, for ``losskit.nn._evaluation``.

    Parameters
    ----------
    heads : dict of str to Head
    weights : list of (weight, bias)
        The trunk's linear layers, ``weight`` of shape ``(fan_out, fan_in)`` as torch keeps
        it.
    head_weights : dict of str to (weight, bias)
    activation : str
        A key of :data:`ACTIVATIONS`.
    log_vars : ndarray, optional
        The learned uncertainty weights (one per head).
    """

    def __init__(self, heads: Mapping[str, Head], weights: list[tuple[np.ndarray, np.ndarray]],
                 head_weights: Mapping[str, tuple[np.ndarray, np.ndarray]], activation: str,
                 log_vars: np.ndarray | None = None) -> None:
        self.head_specs = dict(heads)
        self.layers = list(weights)
        self.head_layers = dict(head_weights)
        self.activation = activation
        self.log_vars = log_vars
        first = self.layers[0][0] if self.layers else next(iter(self.head_layers.values()))[0]
        self.n_features = int(first.shape[1])
        self.dtype = first.dtype

    @classmethod
    def load(cls, path: str | Path, config: Mapping[str, Any], func: str) -> NumpyMLP:
        """The network of a saved model folder: its architecture from ``config``, its weights
        from ``model.safetensors`` (refused when not all finite)."""
        from safetensors.numpy import load_file

        m = config["model"]
        heads = heads_from_config(m["heads"])
        # models saved before the heads read their families: gaussian_nll's (mean, log sd)
        state = upgrade_state(m["heads"], load_file(str(Path(path) / MODEL_FILE)))
        expected = state_shapes(m["n_features"], m["hidden_layer_sizes"],
                                {k: h.n_outputs for k, h in heads.items()},
                                bool(m["uncertainty_weighting"]))
        dtype = np.dtype(config["dtype"])
        for key, shape in expected.items():
            value = state.get(key)
            if value is None or value.shape != shape or value.dtype != dtype:
                found = "is missing" if value is None else \
                    f"has shape {value.shape} and dtype {value.dtype}"
                fail(func, "path", f"{str(path)!r} holds a tensor {key!r} that {found} "
                     f"(expected {shape}, {dtype})", "Train the model again")
        check_finite_weights(func, "path", path, state)
        trunk = [(state[f"trunk.{2 * i}.weight"], state[f"trunk.{2 * i}.bias"])
                 for i in range(len(m["hidden_layer_sizes"]))]
        head_layers = {k: (state[f"heads.{k}.weight"], state[f"heads.{k}.bias"]) for k in heads}
        return cls(heads, trunk, head_layers, m["activation"], state.get("log_vars"))

    # ------------------------------------------------------------------------- forward

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Raw outputs of every head: ``{name: (n, head.n_outputs)}`` (``x`` in the model's
        dtype)."""
        act = ACTIVATIONS[self.activation]
        z = x
        for weight, bias in self.layers:
            z = act(z @ weight.T + bias)
        return {name: z @ weight.T + bias for name, (weight, bias) in self.head_layers.items()}

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Predictions of every head (:meth:`losskit.nn.MLP.predict`): class probabilities
        for classification heads, the activated outputs for regression."""
        out = self(x)
        return {name: (h.probabilities(out[name]) if h.task == "classification"
                       else h.activate(out[name]))
                for name, h in self.head_specs.items()}
