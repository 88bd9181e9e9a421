"""One evaluation of a network, written once against the array API: torch tensors (training,
the estimators) and NumPy arrays (``losskit predict`` / ``evaluate``: the saved network run in
NumPy, without importing torch) go through the same functions.

- :func:`checked_arrays`: the inputs, targets and sample weights checked (one message per
  fault) and converted to the network's library and dtype;
- :func:`evaluate`: the exact loss of each head, their combination (head weights, uncertainty
  weighting) and the metrics of raw outputs;
- :func:`evaluate_on_target_scale`: the same on a standardised target's own scale (what
  ``MLPRegressor.evaluate`` reports).

A network here is anything with ``head_specs`` (``{name: Head}``), ``log_vars`` (``None`` or
one learned log-variance per head) and ``n_features``: :class:`~losskit.nn.MLP` and
:class:`~losskit.nn._numpy_mlp.NumpyMLP`. Nothing here imports torch.
"""

from __future__ import annotations

import functools
import importlib
import math
import threading
from collections.abc import Callable, Mapping
from typing import Any

import array_api_compat as aac
import numpy as np

from losskit._validation import fail
from losskit.nn._heads import Head, no_grad

__all__ = ["FUNC", "check_targets", "checked_arrays", "combine", "compat_namespace",
           "domain_complaint", "evaluate", "evaluate_on_target_scale", "metric_inputs",
           "metric_values", "namespace", "target_complaint"]

#: the name in the messages of the checks (the trainer's: the estimators call it)
FUNC = "Trainer"

Array = Any


@functools.cache
def compat_namespace(library: str) -> Any:
    """``array_api_compat``'s namespace of ``library`` (``"numpy"`` or ``"torch"``), imported
    on first use (``losskit predict`` imports no torch)."""
    return importlib.import_module(f"array_api_compat.{library}")


def namespace(x: Array) -> Any:
    """The array-API namespace of a NumPy array or a torch tensor (the two kinds a network's
    outputs come in; without ``array_namespace``'s screening, a few µs a call).

    Examples
    --------
    >>> namespace(np.zeros(2)).__name__
    'array_api_compat.numpy'
    """
    return compat_namespace("numpy" if isinstance(x, (np.ndarray, np.generic)) else "torch")


def _dtype_name(dtype: Any) -> str:
    return str(dtype).removeprefix("torch.")


def _as_array(func: str, name: str, value: Any, xp: Any, device: Any) -> Array:
    """``value`` as an array of ``xp`` (an array of that library is kept as it is); host data
    must hold numbers (text is refused, even "1.5": an object array of numbers is read as
    float64)."""
    if isinstance(value, np.ndarray) if xp is compat_namespace("numpy") else \
            aac.is_torch_array(value):
        host = value
    else:
        host = np.asarray(value)
    if isinstance(host, np.ndarray) and host.dtype.kind not in "biuf":
        try:
            if host.dtype.kind != "O":
                raise TypeError
            host = host.astype(np.float64)
        except (TypeError, ValueError):
            first = host.reshape(-1)[0] if host.size else None
            fail(func, name, f"has values of dtype {host.dtype} ({first!r} is not a number)",
                 "Pass numbers: encode text or category columns first (e.g. one-hot)")
    if xp is compat_namespace("numpy"):
        return host
    return host if aac.is_torch_array(host) else xp.asarray(host, device=device)


def checked_arrays(net: Any, X: Any, y: Any, w: Any, *, xp: Any, dtype: Any,
                   xname: str = "X", func: str = FUNC
                   ) -> tuple[Array, dict[str, Array], Array | None]:
    """``(X, {head: y_true}, w)`` checked and in ``xp``'s arrays: ``X`` of ``dtype``, each
    head's target as its loss reads it (:meth:`Head.target`), ``w`` of ``dtype`` or ``None``.

    ``y`` is one array for a one-head network or ``{head name: array}``: regression targets
    ``(n,)`` or ``(n, n_targets)``, class indices ``0 .. n_classes - 1`` of shape ``(n,)``.

    Examples
    --------
    >>> from losskit.nn._numpy_mlp import NumpyMLP
    >>> net = NumpyMLP({"output": Head()}, [], {"output": (np.ones((1, 2), np.float32),
    ...                                                    np.zeros(1, np.float32))}, "relu")
    >>> X, Y, w = checked_arrays(net, [[1, 2]], [3.0], None, xp=namespace(np.zeros(0)),
    ...                          dtype=np.float32)
    >>> X.dtype, Y["output"].shape, w
    (dtype('float32'), (1, 1), None)
    >>> checked_arrays(net, np.zeros((0, 2)), [], None, xp=namespace(np.zeros(0)),
    ...                dtype=np.float32)
    Traceback (most recent call last):
    ...
    ValueError: Trainer: X has no rows (shape (0, 2)). Pass at least one sample
    """
    X = _as_array(func, xname, X, xp, None)
    if X.ndim != 2 or X.shape[1] != net.n_features:
        fail(func, xname, f"has shape {tuple(X.shape)}",
             f"Pass a 2-D array with {net.n_features} feature column(s)")
    if X.shape[0] == 0:
        fail(func, xname, f"has no rows (shape {tuple(X.shape)})", "Pass at least one sample")
    given, X = X, xp.astype(X, dtype, copy=False)
    if not bool(xp.all(xp.isfinite(X))):
        if X is not given and bool(xp.all(xp.isfinite(given))):
            big = float(xp.max(xp.abs(xp.astype(given, xp.float64))))
            fail(func, xname, f"has values beyond the model's {_dtype_name(dtype)} range "
                 f"(largest magnitude {big:.3g})", "Rescale those columns (e.g. standardise "
                 "or log-transform them)")
        fail(func, xname, "has NaN or infinite values", "Impute or drop them first")
    device = aac.device(X)
    heads = net.head_specs
    if not isinstance(y, Mapping):
        if len(heads) != 1:
            fail(func, "y", f"is one array but the model has {len(heads)} heads",
                 f"Pass a dict with keys {', '.join(heads)}", TypeError)
        y = {next(iter(heads)): y}
    if set(y) != set(heads):
        fail(func, "y", f"has keys {sorted(y)}", f"Pass one target per head: {sorted(heads)}")
    Y: dict[str, Array] = {}
    for name, head in heads.items():
        Y[name] = head.target(_checked_target(func, name, head, y[name], X.shape[0], xp,
                                              dtype, device), dtype)
    if w is None:
        return X, Y, None
    w = xp.reshape(xp.astype(_as_array(func, "sample_weight", w, xp, device), dtype,
                             copy=False), (-1,))
    if w.shape[0] != X.shape[0] or not bool(xp.all(xp.isfinite(w))) or \
            bool(xp.any(w < 0)) or not float(xp.sum(w)) > 0:
        fail(func, "sample_weight", "is not one finite, non-negative weight per sample "
             "with a positive sum", "Pass an array of shape (n,) of weights >= 0")
    return X, Y, w


def _checked_target(func: str, name: str, head: Head, value: Any, n: int, xp: Any,
                    dtype: Any, device: Any) -> Array:
    """One head's encoded target: regression ``(n, n_targets)`` of ``dtype``, class indices
    ``(n,)`` as int64."""
    t = _as_array(func, "y", value, xp, device)
    if t.ndim == 0 or t.shape[0] != n:
        found = "is a scalar" if t.ndim == 0 else f"has {t.shape[0]} samples"
        fail(func, "y", f"{found} for head {name!r} but X has {n}",
             "Pass one target per row of X")
    if head.task == "regression":
        t = xp.astype(xp.reshape(t, (n, -1)), dtype, copy=False)
        if t.shape[1] != head.n_targets:
            fail(func, "y", f"has {t.shape[1]} target column(s) for head {name!r}",
                 f"Pass {head.n_targets} (the head's n_targets)")
        return t
    if t.ndim != 1:
        fail(func, "y", f"has shape {tuple(t.shape)} for classification head {name!r}",
             "Pass class indices of shape (n,)")
    if xp.isdtype(t.dtype, "real floating") and not bool(xp.all(t == xp.round(t))):
        fail(func, "y", f"has non-integer class indices for head {name!r}",
             "Pass class indices 0 .. n_classes - 1")
    t = xp.astype(t, xp.int64, copy=False)
    low, high = int(xp.min(t)), int(xp.max(t))
    if low < 0 or high >= int(head.n_classes):
        fail(func, "y", f"has class indices in [{low}, {high}] for head {name!r} with "
             f"{head.n_classes} classes",
             "Encode labels as 0 .. n_classes - 1 (e.g. with LabelEncoder)")
    return t


def combine(heads: Mapping[str, Head], log_vars: Array | None,
            losses: Mapping[str, Array]) -> Array:
    r"""The total loss from the heads' losses: :math:`\sum_h w_h L_h`, or with uncertainty
    weighting (Kendall et al. 2018, ``log_vars`` :math:`s_h`)
    :math:`\sum_h w_h (c_h e^{-s_h} L_h + s_h / 2)`, :math:`c_h = 1/2` for the mean squared
    error and 1 for a likelihood. Differentiable (torch tensors), or on NumPy arrays.

    Examples
    --------
    >>> heads = {"a": Head(), "b": Head("poisson_nll", weight=0.5)}
    >>> float(combine(heads, None, {"a": np.float64(2.0), "b": np.float64(1.0)}))
    2.5
    """
    total = None
    for i, (name, head) in enumerate(heads.items()):
        term = losses[name]
        if log_vars is not None:
            s = log_vars[i]
            c = 0.5 if head.spec.name == "mean_squared_error" else 1.0
            # exp(-s) in the weights' dtype (float32), the rest in the losses' float64
            term = c * namespace(log_vars).exp(-s) * term + 0.5 * s
        if head.weight != 1.0:
            term = head.weight * term
        total = term if total is None else total + term
    return total


def evaluate(net: Any, raw: Mapping[str, Array], Y: Mapping[str, Array], w: Array | None,
             metric_fns: list[Callable], prefix: str = "", unscale: Callable | None = None
             ) -> dict[str, float]:
    """Exact losses (per head and combined) and the first head's metrics of raw outputs:
    ``{prefix + "loss": ..., prefix + "loss/<head>": ... (several heads), prefix +
    "<metric>": ...}`` (``unscale`` maps the first head's predictions and targets to the
    target's own scale for the metrics)."""
    row: dict[str, float] = {}
    first = next(iter(raw.values()))
    xp = namespace(first)
    per_head: dict[str, Array] = {}
    with no_grad(first):
        for name, head in net.head_specs.items():
            acc = head.accumulator()
            acc.update(Y[name], raw[name], w)
            per_head[name] = xp.asarray(acc.result(), dtype=xp.float64)
        row[f"{prefix}loss"] = float(combine(net.head_specs, net.log_vars, per_head))
        if len(per_head) > 1:
            for name, value in per_head.items():
                row[f"{prefix}loss/{name}"] = float(value)
        name, head = next(iter(net.head_specs.items()))
        row.update(metric_values(head, raw[name], Y[name], w, metric_fns, prefix, unscale))
    return row


def target_complaint(error: BaseException) -> tuple[str, str, str] | None:
    """A loss's complaint about its ``y_true`` as ``(loss, found, fix)``, or ``None`` for any
    other error (a complaint about the outputs, the options ...). The index into the loss's
    internal (n, k) array is dropped: the values say enough.

    Examples
    --------
    >>> target_complaint(ValueError("poisson_nll: y_true has values outside [0, inf) (-3 at "
    ...                             "index (0, 0); min -3, max 1). Poisson targets are counts"))
    ('poisson_nll', 'has values outside [0, inf) (min -3, max 1)', 'Poisson targets are counts')
    >>> target_complaint(ValueError("poisson_nll: y_pred has NaN")) is None
    True
    """
    import re

    if not isinstance(error, ValueError):
        return None
    match = re.match(r"^([\w.]+): y_true (.*)$", str(error), flags=re.DOTALL)
    if match is None:
        return None
    loss, detail = match.groups()
    detail = re.sub(r"\(\S+ at index \([^)]*\); ", "(", detail)
    found, _, fix = detail.partition(". ")
    return loss, found, fix.rstrip(".")


def check_targets(net: Any, raw: Mapping[str, Array], Y: Mapping[str, Array],
                  w: Array | None, func: str = FUNC) -> None:
    """Refuse targets outside a head's loss domain (negative counts for a Poisson loss, a 0
    for a Gamma loss ...), checked by the loss itself, as ``fit`` checks the training data:
    an evaluation otherwise reports an infinite or NaN loss, and metrics computed outside
    their domain. (A complaint about the outputs is not the targets' fault: the evaluation
    then reports the loss those outputs give.)

    Examples
    --------
    >>> from losskit.nn._numpy_mlp import NumpyMLP
    >>> net = NumpyMLP({"output": Head("poisson_nll")}, [],
    ...                {"output": (np.ones((1, 1)), np.zeros(1))}, "relu")
    >>> check_targets(net, {"output": np.zeros((2, 1))}, {"output": np.array([[-3.0], [1]])},
    ...               None)
    Traceback (most recent call last):
    ...
    ValueError: Trainer: y has values outside [0, inf) (min -3, max 1), which the model's loss ...
    """
    for name, head in net.head_specs.items():
        if head.spec.user_fn is not None:  # a callable: no declared domain
            continue
        try:
            with no_grad(raw[name]), np.errstate(all="ignore"):
                head.batch_loss(Y[name], raw[name], w, check_values=True)
        except ValueError as error:
            complaint = target_complaint(error)
            if complaint is None:
                continue
            loss, found, fix = complaint
            where = "" if len(net.head_specs) == 1 else f" for head {name!r}"
            fail(func, "y", f"{found}{where}, which the model's loss "
                 f"{head.spec.name if '.' in loss else loss} cannot take", fix)


def domain_complaint(loss: Any, y: Any, *, task: str, n_classes: int | None = None
                     ) -> tuple[str, str] | None:
    """What the network's ``loss`` says about the values of the target ``y`` (one column),
    as ``(found, fix)``, or ``None`` when it takes them: the loss itself checks ``y`` against
    its domain (negative counts for a Poisson loss, zeros for a Gamma loss, values outside
    [0, 1] for a binary cross-entropy on proportions), on the raw outputs of the best
    constant model, as training checks them before its first step. A callable has no
    declared domain (``None``). Class labels are checked as their indices (what a classifier
    trains on).

    Examples
    --------
    >>> domain_complaint("poisson_nll", [3.0, -1.0, 0.0], task="regression")
    ('has values outside [0, inf) (min -1, max 3)', 'Poisson targets are counts >= 0; ...')
    >>> domain_complaint("mean_squared_error", [3.0, -1.0, 0.0], task="regression") is None
    True
    """
    head = Head(loss, task=task, n_targets=1, n_classes=n_classes)
    if head.spec.user_fn is not None:
        return None
    y = np.asarray(y)
    if task == "classification":
        y = np.unique(y, return_inverse=True)[1].reshape(-1)
    else:
        y = y.astype(np.float64).reshape(-1, 1)
    base = head.baseline_raw(y)
    raw = np.zeros((y.shape[0], head.n_outputs)) if base is None else \
        np.broadcast_to(np.asarray(base, dtype=np.float64).reshape(1, -1),
                        (y.shape[0], head.n_outputs))
    try:
        with np.errstate(all="ignore"):
            head.batch_loss(head.target(y, np.float64), np.array(raw), None,
                            check_values=True)
    except ValueError as error:
        complaint = target_complaint(error)
        if complaint is not None:
            return complaint[1], complaint[2]
    return None


def evaluate_on_target_scale(net: Any, raw: Mapping[str, Array], Y: Mapping[str, Array],
                             w: Array | None, metric_fns: list[Callable],
                             scale: tuple[Any, Any] | None, func: str = FUNC
                             ) -> dict[str, float]:
    """:func:`evaluate`, on the target's own scale when the network was trained on the target
    standardised as ``(y - mean) / sd`` (``scale``: ``(mean, sd)``; a one-head regressor
    whose head is ``location_scale``): ``"loss"`` and the metrics of the predictions in
    ``y``'s units, ``"loss_standardised"`` the training objective (as in the history).
    Targets outside the loss's domain are refused first (:func:`check_targets`)."""
    if scale is None:
        check_targets(net, raw, Y, w, func)
        return evaluate(net, raw, Y, w, metric_fns)
    xp = namespace(raw["output"])
    device = aac.device(raw["output"])
    head = net.head_specs["output"]
    # in float64: on the target's own scale a float32 loss overflows (a target of size 1e20
    # has a squared error beyond 3.4e38) or underflows (size 1e-30) to 0
    raw = {k: xp.astype(v, xp.float64) for k, v in raw.items()}
    Y = {k: xp.astype(v, xp.float64) for k, v in Y.items()}
    w = None if w is None else xp.astype(w, xp.float64)
    mean, sd = (xp.asarray(np.asarray(v, dtype=np.float64), device=device) for v in scale)
    unscaled = {"output": head.unscale_raw(raw["output"], mean, sd)}
    check_targets(net, unscaled, Y, w, func)
    user = evaluate(net, unscaled, Y, w, metric_fns)
    standardised = {"output": (Y["output"] - mean) / sd}
    user["loss_standardised"] = evaluate(net, raw, standardised, w, [])["loss"]
    return user


_ACCUMULATORS = threading.local()


def _accumulator(fn: Callable) -> Any:
    """An empty :class:`losskit.Accumulator` of the metric ``fn``: one per metric and thread,
    reset before each use (building one reads the metric's signature: 0.1-0.3 ms, which
    several metrics a row, two rows an epoch, made a tenth of a small network's epoch)."""
    from losskit.metrics import Accumulator

    cache = getattr(_ACCUMULATORS, "cache", None)
    if cache is None:
        cache = _ACCUMULATORS.cache = {}
    acc = cache.get(fn)
    if acc is None:
        acc = cache[fn] = Accumulator(fn, check_values=False)
    else:
        acc.reset()
    return acc


def metric_values(head: Head, raw: Array, y: Array, w: Array | None,
                  metric_fns: list[Callable], prefix: str = "",
                  unscale: Callable | None = None) -> dict[str, float]:
    """The metrics of one head's raw outputs (``{prefix + name: value}``), exactly, with
    :class:`losskit.Accumulator`; NaN where a metric is undefined (one class only ...)."""
    row: dict[str, float] = {}
    if not metric_fns:
        return row
    with no_grad(raw):
        pred, truth = metric_inputs(head, raw, y)
        if unscale is not None:
            pred, truth = unscale(pred), unscale(truth)
        if not isinstance(pred, np.ndarray) and pred.device.type == "cpu":
            # the same metrics on NumPy views of CPU tensors (no copy): a metric is a dozen
            # small array operations, each a few times cheaper in NumPy than in eager torch
            # (measured: the six binary metrics of a 569-row epoch 4.2 -> 2.0 ms)
            pred, truth = pred.numpy(), truth.numpy()
            w = None if w is None else w.cpu().numpy()
        for fn in metric_fns:
            key = prefix + fn.__name__.removesuffix("_score")
            try:
                acc = _accumulator(fn)
                acc.update(truth, pred, w)
                row[key] = float(acc.result())
            except (ValueError, TypeError):
                row[key] = math.nan  # e.g. ROC AUC of data with one class
    return row


def metric_inputs(head: Head, raw: Array, y: Array) -> tuple[Array, Array]:
    """``(y_pred, y_true)`` for the metrics: class probabilities (the positive class's for
    two classes, what binary metrics expect) and labels, or predictions (``(n,)`` for one
    target)."""
    xp = namespace(raw)
    if head.task == "classification":
        if y.ndim == 2:  # one-hot or (n, 1) 0/1 targets back to labels
            labels = y[:, 0] if y.shape[1] == 1 else xp.argmax(y, axis=1)
        else:
            labels = y
        p = head.probabilities(raw)
        return (p[:, 1] if p.shape[1] == 2 else p), xp.astype(labels, xp.int64, copy=False)
    pred = head.activate(raw)
    if pred.shape[1] == 1:
        return pred[:, 0], y[:, 0]
    return pred, y
