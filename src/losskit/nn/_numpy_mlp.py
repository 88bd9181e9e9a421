"""A saved :class:`~losskit.nn.MLP` run in NumPy: ``losskit predict`` and ``evaluate`` without
importing torch.

Importing torch was two thirds of a ``losskit predict`` (1.9-3.3 s on the project's machine,
for a forward pass of milliseconds). :class:`NumpyMLP` reads ``model.safetensors`` with
``safetensors.numpy`` and computes what :class:`~losskit.nn.MLP` computes, in the model's
own dtype (float32: each layer ``x @ W.T + b``, the activations written as torch's CPU kernels
write them), so its outputs differ from torch's at float32 rounding only. The output heads are
the same :class:`~losskit.nn.Head` objects (their prediction and loss code takes NumPy arrays
too), and :meth:`NumpyMLP.evaluate` computes what the trainer's evaluation computes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from losskit._validation import fail
from losskit.nn._heads import Head, upgrade_state

__all__ = ["ACTIVATIONS", "NumpyMLP", "erf", "state_shapes"]

MODEL_FILE = "model.safetensors"
#: the trainer's name in the messages of the checks it shares with the trainer
_FUNC = "Trainer"


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
    """A saved :class:`~losskit.nn.MLP` for predictions: :meth:`predict`, :meth:`evaluate`
    and the raw outputs (``model(X)``), as the network computes them.

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
        heads = {name: Head(h["loss"], task=h["task"], n_targets=h["n_targets"],
                            n_classes=h["n_classes"], weight=h["weight"])
                 for name, h in m["heads"].items()}
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
        bad = [k for k in expected if not np.isfinite(state[k]).all()]
        if bad:
            fail(func, "path", f"{str(path)!r} holds NaN or infinite weights ({bad[0]})",
                 "Train the model again; its predictions would not be numbers")
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

    # ---------------------------------------------------------------------- evaluation
    # What losskit.nn.trainer computes for MLPRegressor.evaluate (_tensors, _evaluate,
    # _metric_values) and MLP.combine, on NumPy arrays: tests/nn/test_nn_numpy_mlp.py keeps
    # the two equal for every head.

    def combine(self, losses: Mapping[str, float]) -> float:
        """The total loss from the heads' losses (weights, uncertainty weighting)."""
        total = 0.0
        for i, (name, head) in enumerate(self.head_specs.items()):
            term = losses[name]
            if self.log_vars is not None:
                s = self.log_vars[i]
                c = s.dtype.type(0.5 if head.spec.name == "mean_squared_error" else 1.0)
                term = float(c * np.exp(-s)) * term + 0.5 * float(s)
            if head.weight != 1.0:
                term = head.weight * term
            total += term
        return total

    def arrays(self, X: Any, y: Any, w: Any) -> tuple[np.ndarray, dict[str, np.ndarray],
                                                       np.ndarray | None]:
        """Checked ``(X, {head: y_true}, w)`` in the model's dtype (one head)."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            fail(_FUNC, "X", f"has shape {tuple(X.shape)}",
                 f"Pass a 2-D array with {self.n_features} feature column(s)")
        X = X.astype(self.dtype, copy=False)
        if not np.isfinite(X).all():
            fail(_FUNC, "X", "has NaN or infinite values", "Impute or drop them first")
        name, head = next(iter(self.head_specs.items()))
        t = np.asarray(y)
        if t.shape[0] != X.shape[0]:
            fail(_FUNC, "y", f"has {t.shape[0]} samples for head {name!r} but X has "
                 f"{X.shape[0]}", "Pass one target per row of X")
        if head.task == "regression":
            t = t.reshape(t.shape[0], -1).astype(self.dtype)
            if t.shape[1] != head.n_targets:
                fail(_FUNC, "y", f"has {t.shape[1]} target column(s) for head {name!r}",
                     f"Pass {head.n_targets} (the head's n_targets)")
        else:
            if t.ndim != 1:
                fail(_FUNC, "y", f"has shape {tuple(t.shape)} for classification head "
                     f"{name!r}", "Pass class indices of shape (n,)")
            if t.dtype.kind == "f" and not (t == np.round(t)).all():
                fail(_FUNC, "y", f"has non-integer class indices for head {name!r}",
                     "Pass class indices 0 .. n_classes - 1")
            t = t.astype(np.int64)
            if int(t.min()) < 0 or int(t.max()) >= int(head.n_classes):
                fail(_FUNC, "y", f"has class indices in [{int(t.min())}, {int(t.max())}] "
                     f"for head {name!r} with {head.n_classes} classes",
                     "Encode labels as 0 .. n_classes - 1 (e.g. with LabelEncoder)")
        Y = {name: head.target(t, self.dtype)}
        if w is None:
            return X, Y, None
        w = np.asarray(w, dtype=np.float64).astype(self.dtype).reshape(-1)
        if w.shape[0] != X.shape[0] or not np.isfinite(w).all() or (w < 0).any() or \
                not float(w.sum()) > 0:
            fail(_FUNC, "sample_weight", "is not one finite, non-negative weight per sample "
                 "with a positive sum", "Pass an array of shape (n,) of weights >= 0")
        return X, Y, w

    def evaluate(self, X: Any, y: Any, sample_weight: Any, metric_fns: list[Callable],
                 scale: tuple[np.ndarray, np.ndarray] | None) -> dict[str, float]:
        """The loss and metrics on ``(X, y)`` (``y`` encoded), on the target's own scale:
        see :meth:`losskit.nn.MLPRegressor.evaluate`."""
        X, Y, w = self.arrays(X, y, sample_weight)
        with np.errstate(all="ignore"):  # a loss or metric that is inf is reported as such
            raw = self(X)
            if scale is None:
                return self._evaluate(raw, Y, w, metric_fns)
            head = self.head_specs["output"]
            # in float64: on the target's own scale a float32 loss overflows or underflows
            raw = {k: v.astype(np.float64) for k, v in raw.items()}
            Y = {k: v.astype(np.float64) for k, v in Y.items()}
            w = None if w is None else w.astype(np.float64)
            mean, sd = (np.asarray(v, dtype=np.float64) for v in scale)
            user = self._evaluate({"output": head.unscale_raw(raw["output"], mean, sd)}, Y, w,
                                  metric_fns)
            Y_std = {"output": (Y["output"] - mean) / sd}
            user["loss_standardised"] = self._evaluate(raw, Y_std, w, [])["loss"]
        return user

    def _evaluate(self, raw: Mapping[str, np.ndarray], Y: Mapping[str, np.ndarray],
                  w: np.ndarray | None, metric_fns: list[Callable]) -> dict[str, float]:
        per_head: dict[str, float] = {}
        for name, head in self.head_specs.items():
            acc = head.accumulator()
            acc.update(Y[name], raw[name], w)
            per_head[name] = acc.result()
        row = {"loss": self.combine(per_head)}
        if len(per_head) > 1:
            row.update({f"loss/{name}": value for name, value in per_head.items()})
        name, head = next(iter(self.head_specs.items()))
        row.update(_metric_values(head, raw[name], Y[name], w, metric_fns))
        return row


def _metric_values(head: Head, raw: np.ndarray, y: np.ndarray, w: np.ndarray | None,
                   metric_fns: list[Callable]) -> dict[str, float]:
    """The metrics of one head's raw outputs, exactly (NaN where a metric is undefined)."""
    from losskit.metrics import Accumulator

    row: dict[str, float] = {}
    if not metric_fns:
        return row
    if head.task == "classification":
        labels = y if y.ndim == 1 else (y[:, 0] if y.shape[1] == 1 else np.argmax(y, axis=1))
        p = head.probabilities(raw)
        # two classes: the positive class's probability (what binary metrics expect)
        pred, truth = (p[:, 1] if p.shape[1] == 2 else p), labels.astype(np.int64)
    else:
        pred, truth = head.activate(raw), y
        if pred.shape[1] == 1:
            pred, truth = pred[:, 0], truth[:, 0]
    for fn in metric_fns:
        key = fn.__name__.removesuffix("_score")
        try:
            acc = Accumulator(fn, check_values=False)
            acc.update(truth, pred, w)
            row[key] = float(acc.result())
        except (ValueError, TypeError):
            row[key] = math.nan  # e.g. ROC AUC of data with one class
    return row
