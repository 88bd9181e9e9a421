"""Exact streaming of a loss or metric over batches, epochs and processes."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import array_api_compat as aac
import numpy as np

from losskit._array import Array, as_array, numpy_errors_silenced, to_bool
from losskit._reduction import batch_sums
from losskit._torch import all_gather_objects, detached
from losskit._validation import constraints_of, fail
from losskit.losses import spec_of, weighted_losses
from losskit.metrics._state import (
    WEIGHT_SCALE,
    MetricSpec,
    State,
    Sum,
    accumulation_dtype,
    merge_states,
    state_from_json,
    state_to_json,
    state_to_namespace,
    with_weight_scale,
)

__all__ = ["Accumulator"]

_NAME = "Accumulator"
_HOST = aac.array_namespace(np.zeros(0))


class Accumulator:
    r"""Accumulate a loss or metric over batches so the result equals the full-data value.

    ``Accumulator(fn, **options)`` streams a losskit loss (e.g. ``lk.binary_cross_entropy``)
    or metric (e.g. ``lk.metrics.accuracy_score``) with fixed options. After any sequence of
    ``update(y_true, y_pred, sample_weight)`` calls, :meth:`result` equals
    ``fn(concatenated y_true, concatenated y_pred, sample_weight=concatenated weights,
    **options)`` to float64 rounding (1e-12 relative in the tests), however the data were
    split.

    Averaging per-batch means is what goes wrong: with batch sums :math:`S_b = \sum_{i \in b}
    w_i l_i` and normalisers :math:`V_b = \sum_{i \in b} v_i`, the epoch loss is

    .. math::

        L = \frac{\sum_b S_b}{\sum_b V_b} \;\ne\; \frac1B \sum_b \frac{S_b}{V_b}

    unless every batch has the same :math:`V_b` (a short last batch, weights, ignored labels,
    class weights or gradient-accumulation steps all break that). The accumulator keeps
    :math:`\sum_b S_b` and :math:`\sum_b V_b` (for losses, :math:`v_i` is the sample weight
    times the class weight of the label where the loss has class weights, as its ``"mean"``
    divides by) and, for a metric, its own mergeable state: weighted counts per class or bin,
    Chan's moments for :math:`R^2`, or every score for ROC AUC and average precision (exact;
    memory grows with the data — 8 bytes per score, label and weight).

    Sums are float64, added with Neumaier compensation, so the order of batches and of
    :meth:`merge` calls changes the result only at the last bits.

    **No host synchronisation per batch**: states stay arrays in the batches' library and
    device (float64; JAX needs ``jax_enable_x64``, else float32) until :meth:`result`. Value
    checks (``check_values=True``, the default) read the data on the host; pass
    ``check_values=False`` in hot loops on a GPU. Inferring the number of classes from integer
    predicted labels also reads the host (pass ``n_classes``).

    Parameters
    ----------
    fn : callable
        A losskit loss or a function of :mod:`losskit.metrics`.
    **options
        Keyword options of ``fn`` (not ``sample_weight``, which goes to :meth:`update`). For a
        loss, ``reduction`` is ``"mean"`` (default) or ``"sum"``.

    Examples
    --------
    >>> import numpy as np
    >>> import losskit as lk
    >>> acc = lk.Accumulator(lk.binary_cross_entropy, from_logits=True)
    >>> y = np.array([1.0, 0.0, 1.0, 1.0, 0.0])
    >>> z = np.array([2.0, -1.0, 0.5, -0.3, 0.1])
    >>> acc.update(y[:2], z[:2])
    >>> acc.update(y[2:], z[2:])
    >>> bool(np.isclose(acc.result(), lk.binary_cross_entropy(y, z, from_logits=True),
    ...                 rtol=1e-14))
    True

    The mean of the two batch means is not the epoch loss:

    >>> means = [lk.binary_cross_entropy(y[:2], z[:2], from_logits=True),
    ...          lk.binary_cross_entropy(y[2:], z[2:], from_logits=True)]
    >>> round(float(np.mean(means)), 4), round(float(acc.result()), 4)
    (0.4555, 0.5026)

    Metrics stream the same way, also over processes (``all_reduce``) and checkpoints:

    >>> acc = lk.Accumulator(lk.metrics.accuracy_score)
    >>> acc.update([0, 1, 1], [0, 1, 0])
    >>> other = lk.Accumulator(lk.metrics.accuracy_score)
    >>> other.load_state_dict(acc.state_dict())
    >>> other.update([1], [1])
    >>> float(other.result())
    0.75
    """

    def __init__(self, fn: Callable, /, **options: Any) -> None:
        spec = getattr(fn, "__losskit_metric__", None)
        is_loss = spec_of(fn) is not None
        if spec is None and not is_loss:
            name = getattr(fn, "__name__", type(fn).__name__)
            fix = ("Pass e.g. losskit.binary_cross_entropy or losskit.metrics.accuracy_score "
                   "(for your own function, accumulate sums yourself)")
            if name == "perplexity":  # exp of a mean: accumulate the mean, then take exp
                fix = ("Accumulate losskit.sparse_categorical_cross_entropy with the same "
                       "options and take the exp of its result")
            fail(_NAME, "fn", f"is {name}, which is neither a losskit loss nor a losskit "
                 "metric", fix, TypeError)
        if "sample_weight" in options:
            fail(_NAME, "sample_weight", "was given as an option", "Pass sample weights to "
                 "update(y_true, y_pred, sample_weight=...) with each batch", TypeError)
        allowed = {name for name, p in inspect.signature(fn).parameters.items()
                   if p.kind is inspect.Parameter.KEYWORD_ONLY and name != "sample_weight"}
        for name in options:
            if name not in allowed:
                fail(_NAME, name, f"is not an option of {fn.__name__}",
                     f"Pass only options of {fn.__name__}: {', '.join(sorted(allowed))}",
                     TypeError)
        for name, constraint in constraints_of(fn).items():
            if name in options:
                constraint.check(fn.__name__, name, options[name])
        self.reduction = "mean"
        if is_loss:
            self.reduction = options.pop("reduction", "mean")
            if self.reduction == "none":
                fail(_NAME, "reduction", "is 'none', which has no single accumulated value",
                     "Pass reduction='mean' (default) or 'sum'")
        self.fn = fn
        self.options = options
        self._spec: MetricSpec | None = spec
        self._state: State | None = None
        self._xp: Any = None
        self._device: Any = None

    # ----------------------------------------------------------------------------- streaming

    def _batch_state(self, y_true: Any, y_pred: Any, sample_weight: Any) -> tuple[Any, Any,
                                                                                   State]:
        if self._spec is not None:
            with numpy_errors_silenced():
                batch = self._spec.body(y_true, y_pred, sample_weight=sample_weight,
                                        **self.options)
            return batch.xp, batch.device, batch.state
        loss_spec = spec_of(self.fn)
        native = None if loss_spec is None else loss_spec.native
        per_sample = None
        if native is not None and sample_weight is None:
            # the loss's native kernel where it takes the call (the per-sample losses from
            # fused ops: with the merge fast path, 119 -> 55 µs an update at 64 x 3, torch CPU);
            # without weights, the mean's normaliser is the number of samples
            per_sample = native(y_true, y_pred, {**self.options, "reduction": "none"})
        scale = None
        if per_sample is not None:
            xp, dev, weighted, normaliser = (aac.array_namespace(per_sample),
                                             aac.device(per_sample), per_sample, None)
        else:
            # with sample weights: sums in units of a power of two near the largest weight
            # (recorded as the state's weight scale), so no weight overflows them
            inputs, weighted, normaliser, scale = weighted_losses(
                self.fn, y_true, y_pred, {**self.options, "sample_weight": sample_weight})
            xp = inputs.xp
            dev = aac.device(inputs.y_pred)
        dtype = accumulation_dtype(xp)
        total, count = batch_sums(xp, weighted, normaliser, dtype, dev)
        state = {"loss": Sum.of(xp, total), "weight": Sum.of(xp, count)}
        return xp, dev, with_weight_scale(
            state, None if scale is None else xp.astype(scale, dtype))

    def _adopt(self, xp: Any, dev: Any, state: State) -> None:
        """Merge ``state`` (arrays of ``xp`` on ``dev``) into this accumulator."""
        if self._state is None:
            self._state, self._xp, self._device = state, xp, dev
            return
        if self._xp is not xp:
            if self._xp is _HOST:  # a loaded (NumPy) state moves to the batches' library
                self._state = state_to_namespace(xp, dev, self._state)
                self._xp, self._device = xp, dev
            else:
                state = state_to_namespace(self._xp, self._device, state)
        self._state = merge_states(self._xp, self._state, state)

    def update(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Add one batch (same arguments as ``fn``; the options were given at construction).

        PyTorch tensors are detached first: the state never holds an autograd graph (summing
        losses that require grad would otherwise keep every batch's graph alive).
        """
        y_true, y_pred, sample_weight = (detached(x) for x in (y_true, y_pred, sample_weight))
        xp, dev, state = self._batch_state(y_true, y_pred, sample_weight)
        self._adopt(xp, dev, state)

    def result(self) -> Array:
        """The loss or metric of all the data seen so far: a 0-d float64 array.

        In the batches' library and device (NumPy after :meth:`load_state_dict` until the next
        update). Reads the state on the host only where a check needs it (no data, a
        zero total weight, one class for ROC AUC).
        """
        if self._state is None:
            fail(_NAME, "result()", f"of {self.fn.__name__} has no data (no update since "
                 "construction or reset)", "Call update(y_true, y_pred) with a batch first")
        xp = self._xp
        if self._spec is not None:
            value = self._spec.value(xp, self._state, self.options)
            return as_array(xp, value)
        total = self._state["loss"].total(xp)
        if self.reduction == "sum":
            if WEIGHT_SCALE in self._state:
                total = total * self._state[WEIGHT_SCALE].value
            return as_array(xp, total)
        weight = self._state["weight"].total(xp)
        if not to_bool(_NAME, weight > 0):
            fail(_NAME, "result()", f"of {self.fn.__name__} has a total weight of 0, so the "
                 "mean is undefined", "Update with samples of positive weight (or use "
                 "reduction='sum')")
        with numpy_errors_silenced():
            return as_array(xp, total / weight)

    def merge(self, other: Accumulator) -> Accumulator:
        """Add ``other``'s data to this accumulator (``other`` is unchanged); returns ``self``."""
        if not isinstance(other, Accumulator):
            fail(_NAME, "other", f"is {type(other).__name__}", "Pass an Accumulator",
                 TypeError)
        if other.fn is not self.fn or other.reduction != self.reduction or \
                sorted(other.options) != sorted(self.options) or \
                any(not _same(other.options[k], self.options[k]) for k in self.options):
            fail(_NAME, "other", f"accumulates {other!r}, not {self!r}",
                 "Merge accumulators of the same function with the same options")
        if other._state is not None:
            self._adopt(other._xp, other._device, other._state)
        return self

    def reset(self) -> None:
        """Forget all data (e.g. at the start of an epoch); the options are kept."""
        self._state, self._xp, self._device = None, None, None

    # --------------------------------------------------------------------- checkpoints, ranks

    def state_dict(self) -> dict[str, Any]:
        """The state as plain Python values (JSON-serialisable; float64 values round-trip).

        Copies the state to the host (one synchronisation): for checkpoints, not per batch.
        """
        state = None if self._state is None else state_to_json(self._state)
        return {"function": self.fn.__name__, "reduction": self.reduction,
                "options": _plain(self.options), "state": state}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Replace the state with one from :meth:`state_dict` (same function)."""
        if not isinstance(state_dict, dict) or "state" not in state_dict:
            fail(_NAME, "state_dict", f"is {type(state_dict).__name__} without a 'state' "
                 "entry", "Pass the dict returned by Accumulator.state_dict()", TypeError)
        name = state_dict.get("function")
        if name != self.fn.__name__ or state_dict.get("reduction") != self.reduction:
            fail(_NAME, "state_dict", f"holds the state of {name} "
                 f"(reduction={state_dict.get('reduction')!r}), not of {self.fn.__name__} "
                 f"(reduction={self.reduction!r})", "Load it into an Accumulator of the same "
                 "function")
        options = state_dict.get("options", {})
        if options != _plain(self.options):
            fail(_NAME, "state_dict", f"holds a state of {name} with options {options}, not "
                 f"{_plain(self.options)}", "Load it into an Accumulator with the same options "
                 "(states computed with other options do not combine)")
        if state_dict["state"] is None:
            self.reset()
            return
        self._state = state_from_json(state_dict["state"])
        self._xp, self._device = _HOST, "cpu"

    def all_reduce(self, group: Any = None) -> Accumulator:
        """Combine the states of all ``torch.distributed`` ranks; every rank gets the total.

        Gathers every rank's :meth:`state_dict` (``all_gather_object``) and merges them in rank
        order, so all ranks hold the same state and give the same result. Call it once, when
        the ranks are done (e.g. at the end of an epoch; a second call would count the data
        again). Without an initialised process group (one process) it does nothing. Returns
        ``self``.
        """
        gathered = all_gather_objects(self.state_dict(), group)
        if gathered is None:
            return self
        merged: State | None = None
        for rank, entry in enumerate(gathered):
            if entry["options"] != _plain(self.options) or entry["function"] != self.fn.__name__:
                fail(_NAME, "all_reduce()", f"found rank {rank} accumulating {entry['function']} "
                     f"with options {entry['options']}, not {self!r}", "Create the same "
                     "Accumulator on every rank")
            if entry["state"] is None:
                continue
            state = state_from_json(entry["state"])
            merged = state if merged is None else merge_states(_HOST, merged, state)
        if merged is None:
            return self
        if self._xp is None or self._xp is _HOST:
            self._state, self._xp, self._device = merged, _HOST, "cpu"
        else:
            self._state = state_to_namespace(self._xp, self._device, merged)
        return self

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        if self._spec is None and self.reduction != "mean":
            opts = ", ".join(x for x in (opts, f"reduction={self.reduction!r}") if x)
        return f"Accumulator({self.fn.__name__}{', ' if opts else ''}{opts})"


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        return bool(a == b)
    except Exception:  # arrays: compare by value on the host
        try:
            return bool(np.array_equal(np.asarray(a), np.asarray(b)))
        except Exception:
            return False


def _plain(options: dict[str, Any]) -> dict[str, Any]:
    """Options as plain Python values (arrays as nested lists), to compare and serialise."""
    out: dict[str, Any] = {}
    for key, value in sorted(options.items()):
        if value is None or isinstance(value, (bool, int, float, str)):
            out[key] = value
        else:
            host = value.detach().cpu() if hasattr(value, "detach") else value
            out[key] = np.asarray(host).tolist()
    return out
