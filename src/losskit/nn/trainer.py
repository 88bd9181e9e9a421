"""Minibatch training with exact epoch losses, early stopping and resumable checkpoints.

Each epoch shuffles the training set with a seeded ``torch.Generator``, takes one optimiser step
per minibatch on losskit's loss (computed on torch tensors: autograd flows through it), then
records in :class:`History`:

- ``loss`` (and ``loss/<head>``): the training loss of the epoch's minibatches, each evaluated
  with the weights it was trained with — accumulated exactly with :class:`losskit.Accumulator`
  (``sum w l / sum w`` over the epoch, not an average of batch means);
- ``val_loss`` (and ``val_loss/<head>``): the loss on the validation data at the end of the
  epoch;
- the chosen metrics on both (``accuracy``, ``val_accuracy`` ...), the learning rate, the
  fraction of saturated outputs of sigmoid/softmax heads whose loss is computed on the
  probabilities, the epoch time.

Divergence is handled, never hidden: after each epoch the training loss, the validation loss
and the weights are checked to be finite (one pass over the parameters per epoch, no
synchronisation per batch), and the training loss not to have exploded (risen above the
untrained network's by more than ``EXPLODE_FACTOR`` times its size, as
:func:`losskit.nn.diagnose` judges). If one is, the weights, the optimiser, scheduler and
early-stopping state and the history of the last good epoch (finite, with a training loss
not above the untrained network's) are restored and training goes on from there with the
learning rate divided by 10, at most ``divergence_retries`` times over the run (each retry
is a :class:`TrainingDivergedWarning` and an entry of :attr:`History.retries`); after that
:class:`TrainingDivergedError` is raised, with the model holding the last finite weights.

The data are checked once, up front, by the loss itself (``check_values=True`` on the whole
training set, with the best constant model); the hot loop then calls the loss with
``check_values=False`` and does not synchronise with the device per batch.
"""

from __future__ import annotations

import copy
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from losskit._io import atomic_write
from losskit._validation import fail
from losskit.nn._evaluation import (
    checked_arrays,
    compat_namespace,
    evaluate,
    metric_inputs,
    metric_values,
)
from losskit.nn._heads import Head, metric_function
from losskit.nn.diagnosis import EXPLODE_FACTOR
from losskit.nn.models import MLP

__all__ = ["CHECKPOINT_NAME", "History", "Trainer", "TrainingDivergedError",
           "TrainingDivergedWarning"]

CHECKPOINT_NAME = "checkpoint.safetensors"
_FUNC = "Trainer"
_OPTIMIZERS = ("sgd", "adam", "adamw")
_SCHEDULES = ("constant", "step", "exponential", "cosine", "plateau")
#: a sigmoid/softmax output counts as saturated where the activation's slope is below 1% of
#: its maximum: p (1 - p) < 0.0025, i.e. p < 0.0025 or p > 0.9975 (|logit| > 5.99)
SATURATION_SLOPE = 0.0025


class TrainingDivergedWarning(UserWarning):
    """The training loss, the validation loss or the weights became NaN or infinite; the last
    good weights were restored and the epoch is retried with a smaller learning rate."""


class TrainingDivergedError(ValueError):
    """Training diverged (a NaN or infinite loss or weight) even after the retries with
    smaller learning rates.

    A ``ValueError``, so the ``losskit`` command line reports it as an error (exit status 2).
    The model keeps the last finite weights. Attributes: ``history`` (the
    :class:`History` up to the failure, ``stopped == "diverged"``), ``epoch`` (the epoch that
    failed), ``loss`` (the loss's name).
    """

    history: Any = None
    epoch: int | None = None
    loss: str | None = None


@dataclass
class History:
    """What happened in training: one row per epoch, plus what the diagnosis needs.

    ``rows[i]`` is a dict with ``epoch`` (1-based), ``loss``, ``val_loss`` (if validation
    data), ``loss/<head>`` and ``val_loss/<head>`` for several heads, the metrics (``accuracy``,
    ``val_accuracy`` ...), ``lr``, ``time`` (seconds), ``saturation/<head>`` and
    ``saturated_wrong/<head>`` (for sigmoid/softmax heads whose loss is computed on the
    probabilities: fractions of training samples whose output is saturated, and saturated on
    the wrong side) and ``log_var/<head>`` with uncertainty
    weighting. ``history["loss"]`` gives a column as a list.
    """

    rows: list[dict[str, float]] = field(default_factory=list)
    #: loss of the best constant model (mean / class prior): {"loss": ..., "val_loss": ...}
    baseline: dict[str, float] = field(default_factory=dict)
    #: heads: {name: {"loss": ..., "activation": ..., "on_logits": ..., "task": ...}}
    heads: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: optimiser settings: optimizer, learning_rate, clip_grad_norm, ...
    settings: dict[str, Any] = field(default_factory=dict)
    #: why training stopped: "epochs", "early_stopping", "diverged", "callback"
    stopped: str = ""
    best_epoch: int | None = None
    #: one entry per divergence retry: {"epoch", "found", "restored_epoch", "learning_rate",
    #: "new_learning_rate"} (``found`` says what was not finite, e.g. "training loss nan")
    retries: list[dict[str, Any]] = field(default_factory=list)

    def __getitem__(self, key: str) -> list[float]:
        return [row.get(key, math.nan) for row in self.rows]

    def __len__(self) -> int:
        return len(self.__dict__["_rows"])  # no need for the deferred metrics

    def keys(self) -> list[str]:
        seen: dict[str, None] = {}
        for row in self.rows:
            seen.update(dict.fromkeys(row))
        return list(seen)

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "baseline": self.baseline, "heads": self.heads,
                "settings": self.settings, "stopped": self.stopped,
                "best_epoch": self.best_epoch, "retries": self.retries}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> History:
        """The history :meth:`to_dict` gave, also after a JSON round trip: a non-finite
        value written as ``null`` with a ``null_reasons`` entry (``strict_json(...,
        nonfinite="null")``) is that value again (:func:`losskit._io.restore_nonfinite`)."""
        from losskit._io import restore_nonfinite

        d = restore_nonfinite(dict(d))
        return cls(rows=[dict(r) for r in d.get("rows", [])], baseline=dict(d.get("baseline",
                   {})), heads=dict(d.get("heads", {})), settings=dict(d.get("settings", {})),
                   stopped=d.get("stopped", ""), best_epoch=d.get("best_epoch"),
                   retries=[dict(r) for r in d.get("retries", [])])

    def diagnose(self) -> Any:
        """:func:`losskit.nn.diagnose` of this history."""
        from losskit.nn.diagnosis import diagnose

        return diagnose(self)

    def _append(self, row: dict[str, float],
                deferred: Callable[[], dict[str, float]] | None = None) -> None:
        """Add ``row``; ``deferred()`` (if given) returns values of some of its keys (the
        metrics, in place as NaN until then), computed when :attr:`rows` is next read.

        A fit that nobody asks the metrics of does not pay for them (a small network's six
        binary metrics cost about a third of its epoch); reading ``rows`` in any way —
        ``history["accuracy"]``, ``to_dict``, a report, pickling — computes them first, from
        the same tensors, so the values are those computed during training would have been.
        """
        self.__dict__["_rows"].append(row)
        if deferred is not None:
            self.__dict__.setdefault("_deferred", []).append((row, deferred))

    def _resolve(self) -> None:
        """Compute the deferred values (see :meth:`_append`), oldest first."""
        pending = self.__dict__.get("_deferred")
        while pending:
            row, compute = pending[0]
            row.update(compute())
            pending.pop(0)

    def __getstate__(self) -> dict[str, Any]:  # pickling, copy: the values, not the closures
        self._resolve()
        return {k: v for k, v in self.__dict__.items() if k != "_deferred"}


def _get_rows(self: History) -> list[dict[str, float]]:
    self._resolve()
    return self.__dict__["_rows"]


def _set_rows(self: History, rows: list[dict[str, float]]) -> None:
    self.__dict__["_rows"] = rows
    self.__dict__.pop("_deferred", None)


# ``rows`` stays the dataclass's first field (``History(rows=...)``, equality, repr) and reads
# through the property, which first fills in the deferred metrics (:meth:`History._append`)
History.rows = property(_get_rows, _set_rows,  # type: ignore[assignment]
                        doc="One dict per epoch (see :class:`History`).")


class Trainer:
    r"""Minibatch gradient descent for :class:`~losskit.nn.MLP` models.

    Parameters
    ----------
    optimizer : {"sgd", "adam", "adamw"}
        ``"sgd"`` (default) is stochastic gradient descent with (heavy-ball) momentum:
        :math:`v \leftarrow \mu v + g`, :math:`\theta \leftarrow \theta - \eta v`.
    learning_rate : float
        :math:`\eta`.
    momentum : float
        :math:`\mu` for SGD (ignored by Adam).
    nesterov : bool
        Nesterov momentum for SGD.
    weight_decay : float
        L2 penalty coefficient (decoupled for ``"adamw"``).
    batch_size : int
    epochs : int
        Maximum number of passes over the training data.
    lr_schedule : {"constant", "step", "exponential", "cosine", "plateau"}
        ``"step"``: multiply by ``lr_decay`` every ``lr_step`` epochs; ``"exponential"``: by
        ``lr_decay`` every epoch; ``"cosine"``: cosine annealing to 0 over ``epochs``;
        ``"plateau"``: multiply by ``lr_decay`` when the monitored loss has not improved for
        ``lr_step`` epochs.
    lr_decay : float in (0, 1]
    lr_step : int
    early_stopping : bool
        Stop when the monitored loss (validation loss if there are validation data, else the
        training loss) has not improved by more than ``tol`` for ``patience`` epochs, and
        restore the weights of the best epoch.
    patience : int
    tol : float
        Minimum absolute improvement that counts.
    clip_grad_norm : float, optional
        Rescale the gradient to this Euclidean norm when it is larger.
    metrics : sequence of str, optional
        losskit metric names (``"accuracy"``, ``"r2"``, ``"root_mean_squared_error"`` ...),
        recorded for the first head on training and validation data. Default: accuracy for
        classification, RMSE for regression.
    random_state : int, optional
        Seeds the shuffling (a private ``torch.Generator``). With the same seed, data and
        settings, training is deterministic on CPU.
    verbose : {"auto", True, False}
        A tqdm progress bar: ``"auto"`` shows it only when stderr is a terminal.
    checkpoint_dir : path, optional
        Write ``checkpoint.safetensors`` there after every epoch (atomically: a temporary file
        renamed over the old one), holding the weights, the optimiser, scheduler and
        early-stopping state, the shuffling generator and the history.
    callbacks : sequence of callables
        ``callback(row)`` after each epoch (and its checkpoint); returning ``True`` stops.
    divergence_retries : int >= 0
        How many times, over the whole run, a non-finite loss or weight restores the last good
        epoch's weights and optimiser state and retries with the learning rate divided by 10
        (see the module docstring); then :class:`TrainingDivergedError` is raised.

    Examples
    --------
    >>> import numpy as np
    >>> from losskit.nn import MLP, Head, Trainer
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(64, 3)).astype(np.float32)
    >>> y = (X[:, 0] > 0).astype(np.int64)
    >>> model = MLP(3, Head("cross_entropy", task="classification", n_classes=2),
    ...             hidden_layer_sizes=(8,), random_state=0)
    >>> history = Trainer(epochs=5, learning_rate=0.1, random_state=0).fit(model, X, y)
    >>> len(history), history["loss"][-1] < history["loss"][0]
    (5, True)
    """

    def __init__(self, *, optimizer: str = "sgd", learning_rate: float = 0.01,
                 momentum: float = 0.9, nesterov: bool = False, weight_decay: float = 0.0,
                 batch_size: int = 32, epochs: int = 100, lr_schedule: str = "constant",
                 lr_decay: float = 0.5, lr_step: int = 10, early_stopping: bool = False,
                 patience: int = 10, tol: float = 1e-4, clip_grad_norm: float | None = None,
                 metrics: Sequence[Any] | None = None, random_state: int | None = None,
                 verbose: Any = "auto", checkpoint_dir: str | os.PathLike | None = None,
                 callbacks: Sequence[Callable[[dict], Any]] = (),
                 divergence_retries: int = 3) -> None:
        _check_choice("optimizer", optimizer, _OPTIMIZERS)
        _check_choice("lr_schedule", lr_schedule, _SCHEDULES)
        _check_number("learning_rate", learning_rate, low=0.0, open_low=True)
        _check_number("momentum", momentum, low=0.0, high=1.0, open_high=True)
        _check_number("weight_decay", weight_decay, low=0.0)
        _check_number("lr_decay", lr_decay, low=0.0, high=1.0, open_low=True)
        _check_number("tol", tol, low=0.0)
        for name, value in (("batch_size", batch_size), ("epochs", epochs),
                            ("lr_step", lr_step), ("patience", patience)):
            if not (isinstance(value, (int, np.integer)) and not isinstance(value, bool)
                    and value >= 1):
                fail(_FUNC, name, f"is {value!r}", "Pass a positive integer")
        if not (isinstance(divergence_retries, (int, np.integer))
                and not isinstance(divergence_retries, bool) and divergence_retries >= 0):
            fail(_FUNC, "divergence_retries", f"is {divergence_retries!r}",
                 "Pass an integer >= 0")
        if clip_grad_norm is not None:
            _check_number("clip_grad_norm", clip_grad_norm, low=0.0, open_low=True)
        if verbose not in ("auto", True, False, 0, 1):
            fail(_FUNC, "verbose", f"is {verbose!r}", "Pass 'auto', True or False")
        self.optimizer = optimizer
        self.learning_rate = float(learning_rate)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.weight_decay = float(weight_decay)
        self.batch_size = int(batch_size)
        self.epochs = int(epochs)
        self.lr_schedule = lr_schedule
        self.lr_decay = float(lr_decay)
        self.lr_step = int(lr_step)
        self.early_stopping = bool(early_stopping)
        self.patience = int(patience)
        self.tol = float(tol)
        self.clip_grad_norm = None if clip_grad_norm is None else float(clip_grad_norm)
        self.metrics = None if metrics is None else list(metrics)
        self.random_state = random_state
        self.verbose = verbose
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self.callbacks = list(callbacks)
        self.divergence_retries = int(divergence_retries)
        self._unscale: Callable | None = None  # set by fit (target_scale)

    # --------------------------------------------------------------------------- set-up

    def settings(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer, "learning_rate": self.learning_rate,
                "momentum": self.momentum, "nesterov": self.nesterov,
                "weight_decay": self.weight_decay, "batch_size": self.batch_size,
                "epochs": self.epochs, "lr_schedule": self.lr_schedule,
                "lr_decay": self.lr_decay, "lr_step": self.lr_step,
                "early_stopping": self.early_stopping, "patience": self.patience,
                "tol": self.tol, "clip_grad_norm": self.clip_grad_norm,
                "random_state": self.random_state,
                "divergence_retries": self.divergence_retries}

    def _make_optimizer(self, model: MLP) -> torch.optim.Optimizer:
        params = list(model.parameters())
        if self.optimizer == "sgd":
            return torch.optim.SGD(params, lr=self.learning_rate, momentum=self.momentum,
                                   nesterov=self.nesterov and self.momentum > 0,
                                   weight_decay=self.weight_decay)
        cls = torch.optim.Adam if self.optimizer == "adam" else torch.optim.AdamW
        return cls(params, lr=self.learning_rate, weight_decay=self.weight_decay)

    def _make_schedule(self, opt: torch.optim.Optimizer) -> Any:
        s = torch.optim.lr_scheduler
        if self.lr_schedule == "step":
            return s.StepLR(opt, step_size=self.lr_step, gamma=self.lr_decay)
        if self.lr_schedule == "exponential":
            return s.ExponentialLR(opt, gamma=self.lr_decay)
        if self.lr_schedule == "cosine":
            return s.CosineAnnealingLR(opt, T_max=self.epochs)
        if self.lr_schedule == "plateau":
            return s.ReduceLROnPlateau(opt, factor=self.lr_decay, patience=self.lr_step)
        return None

    # --------------------------------------------------------------------------- training

    def fit(self, model: MLP, X: Any, y: Any, *, sample_weight: Any = None,
            validation_data: tuple[Any, ...] | None = None, resume: bool = False,
            target_scale: Mapping[str, tuple[Any, Any]] | None = None) -> History:
        """Train ``model`` in place and return its :class:`History`.

        Parameters
        ----------
        model : MLP
        X : array_like of shape (n, n_features)
        y : array_like, or dict of head name to array_like
            Per head: class indices ``(n,)`` for classification, ``(n,)`` or
            ``(n, n_targets)`` for regression.
        sample_weight : array_like of shape (n,), optional
        validation_data : (X_val, y_val) or (X_val, y_val, sample_weight_val), optional
        resume : bool
            Continue from ``checkpoint_dir``'s checkpoint if there is one (the result is the
            same as an uninterrupted run with the same seed).
        target_scale : dict of head name to (location, scale), optional
            For a regression head trained on a standardised target ``(y - location) /
            scale``: the metrics (RMSE, R², ...) are computed on the target's own scale,
            ``location + scale * prediction``; the losses stay those of the training
            objective.

        Raises
        ------
        TrainingDivergedError
            A non-finite loss or weight after ``divergence_retries`` retries (the model keeps
            the last finite weights).
        """
        if not isinstance(model, MLP):
            fail(_FUNC, "model", f"is {type(model).__name__}", "Pass a losskit.nn.MLP",
                 TypeError)
        with thread_policy(self.batch_size * sum(p.numel() for p in model.parameters())):
            return self._fit(model, X, y, sample_weight, validation_data, resume,
                             target_scale)

    def _fit(self, model: MLP, X: Any, y: Any, sample_weight: Any,
             validation_data: tuple[Any, ...] | None, resume: bool,
             target_scale: Mapping[str, tuple[Any, Any]] | None) -> History:
        dtype = next(model.parameters()).dtype
        device = next(model.parameters()).device  # the data follow the model
        X_t, Y_t, w_t = _to(device, _tensors(model, X, y, sample_weight, dtype, "X"))
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or \
                    len(validation_data) not in (2, 3):
                fail(_FUNC, "validation_data", f"is {type(validation_data).__name__}",
                     "Pass (X_val, y_val) or (X_val, y_val, sample_weight_val)", TypeError)
            vw = validation_data[2] if len(validation_data) == 3 else None
            val = _to(device, _tensors(model, validation_data[0], validation_data[1], vw, dtype,
                                       "X_val"))
        if resume and self.checkpoint_dir is None:
            fail(_FUNC, "resume", "is True but checkpoint_dir is None",
                 "Pass the checkpoint_dir of the interrupted run")

        history = History(settings=self.settings(), heads=_head_records(model))
        # check the data once with the loss itself, and record the constant-model baseline
        history.baseline = _baselines(model, X_t, Y_t, w_t, val)

        opt = self._make_optimizer(model)
        schedule = self._make_schedule(opt)
        gen = torch.Generator()
        if self.random_state is None:
            gen.seed()
        else:
            gen.manual_seed(int(self.random_state))
        first_name, first = next(iter(model.head_specs.items()))
        metric_fns = [metric_function(_FUNC, m) for m in (
            self.metrics if self.metrics is not None else first.default_metrics)]
        self._unscale = _metric_scale(first_name, first, target_scale, dtype, device)
        stop = _EarlyStopping(self.patience, self.tol)

        start_epoch = 0
        if resume and (self.checkpoint_dir / CHECKPOINT_NAME).exists():
            start_epoch, history = _load_checkpoint(self.checkpoint_dir / CHECKPOINT_NAME,
                                                    model, opt, schedule, gen, stop)
        if history.stopped in ("early_stopping", "diverged", "callback"):
            return history  # the interrupted run had already finished

        bar = _progress(self.verbose, self.epochs, start_epoch)
        # the restore point of a divergence retry: the last epoch whose weights are finite
        # and whose training loss is not above the initial network's (not exploding)
        ceiling = _initial_loss(model, X_t, Y_t, w_t) if start_epoch == 0 else \
            max((r["loss"] for r in history.rows), default=math.inf)
        explode = _explode_level(ceiling, history.baseline)
        good = _Snapshot(model, opt, schedule, stop, history, start_epoch, ceiling)
        try:
            epoch = start_epoch + 1
            while epoch <= self.epochs:
                row = self._epoch(model, opt, gen, X_t, Y_t, w_t, val, metric_fns)
                found = _non_finite(row, model, explode, ceiling)
                if found is not None:
                    self._retry(found, epoch, model, opt, schedule, stop, good, history)
                    epoch = good.epoch + 1  # on from the restored epoch
                    continue
                row = {"epoch": epoch, **row}
                history.rows.append(row)
                monitored = row.get("val_loss", row["loss"])
                if schedule is not None:
                    if self.lr_schedule == "plateau":
                        schedule.step(monitored)
                    else:
                        schedule.step()
                improved = stop.update(monitored, epoch, model)
                if improved:
                    history.best_epoch = epoch
                done = (self.early_stopping and stop.exhausted) or epoch == self.epochs
                if done:
                    history.stopped = ("epochs" if epoch == self.epochs and not stop.exhausted
                                       else "early_stopping" if self.early_stopping
                                       else "epochs")
                    if self.early_stopping and stop.best_state is not None:
                        model.load_state_dict(stop.best_state)
                if row["loss"] <= good.ceiling:
                    good = _Snapshot(model, opt, schedule, stop, history, epoch, good.ceiling)
                if self.checkpoint_dir is not None:
                    _save_checkpoint(self.checkpoint_dir / CHECKPOINT_NAME, epoch, model,
                                     opt, schedule, gen, stop, history)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix({k: f"{v:.4g}" for k, v in row.items()
                                     if k in ("loss", "val_loss")})
                asked = [cb(row) is True for cb in self.callbacks]
                if done:
                    break
                if any(asked):
                    history.stopped = "callback"
                    break
                epoch += 1
        finally:
            if bar is not None:
                bar.close()
        return history

    def _retry(self, found: str, epoch: int, model: MLP, opt: torch.optim.Optimizer,
               schedule: Any, stop: _EarlyStopping, good: _Snapshot, history: History
               ) -> None:
        """Restore the last good epoch and divide the learning rate by 10, or raise."""
        good.restore(model, opt, schedule, stop, history)
        lr = float(opt.param_groups[0]["lr"])
        head = next(iter(model.head_specs.values()))
        if len(history.retries) >= self.divergence_retries:
            history.stopped = "diverged"
            tried = ", ".join(f"{r['new_learning_rate']:g}" for r in history.retries)
            after = (f", also after {len(history.retries)} retr"
                     f"{'y' if len(history.retries) == 1 else 'ies'} from the last good "
                     f"weights with smaller learning rates ({tried})" if history.retries
                     else "")
            try:
                fail(_FUNC, "loss", f"{head.spec.name!r} diverged at epoch {epoch}: the "
                     f"{found} at learning rate {lr:g}{after}",
                     "Lower the learning rate (learning_rate, --learning-rate), standardise "
                     "the features and the target, clip the gradient (clip_grad_norm), or "
                     "try another loss", TrainingDivergedError)
            except TrainingDivergedError as error:
                error.history, error.epoch, error.loss = history, epoch, head.spec.name
                raise
        new = lr * _RETRY_FACTOR
        for group in opt.param_groups:
            group["lr"] = group["lr"] * _RETRY_FACTOR
        if schedule is not None and hasattr(schedule, "base_lrs"):
            schedule.base_lrs = [b * _RETRY_FACTOR for b in schedule.base_lrs]
        history.retries.append({"epoch": epoch, "found": found,
                                "restored_epoch": good.epoch, "learning_rate": lr,
                                "new_learning_rate": new})
        where = f"epoch {good.epoch}" if good.epoch else "the initial weights"
        warnings.warn(f"losskit.nn: the {found} at epoch {epoch} (loss {head.spec.name}, "
                      f"learning rate {lr:g}); restored {where} and retrying with learning "
                      f"rate {new:g} (retry {len(history.retries)} of "
                      f"{self.divergence_retries})", TrainingDivergedWarning, stacklevel=3)

    def _epoch(self, model: MLP, opt: torch.optim.Optimizer, gen: torch.Generator,
               X: torch.Tensor, Y: dict[str, torch.Tensor], w: torch.Tensor | None,
               val: Any, metric_fns: list[Callable]) -> dict[str, float]:
        t0 = time.perf_counter()
        model.train()
        n = X.shape[0]
        perm = torch.randperm(n, generator=gen).to(X.device)  # CPU generator: same on any device
        bs = self.batch_size
        outputs: dict[str, list[torch.Tensor]] = {name: [] for name in model.head_specs}
        params = [p for p in model.parameters()]
        # one gather per epoch; the minibatches are then contiguous slices (views)
        Xp = X[perm]
        Yp = {k: v[perm] for k, v in Y.items()}
        wp = None if w is None else w[perm]
        for start in range(0, n, bs):
            end = start + bs
            out = model(Xp[start:end])
            total, _ = model.loss(out, {k: v[start:end] for k, v in Yp.items()},
                                  None if wp is None else wp[start:end])
            opt.zero_grad(set_to_none=True)
            total.backward()
            if self.clip_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(params, self.clip_grad_norm)
            opt.step()
            for name, raw in out.items():
                outputs[name].append(raw.detach())
        model.eval()
        # the epoch's training loss, exactly: the batches' raw outputs in one accumulator pass
        raw_all = {name: torch.cat(chunks) for name, chunks in outputs.items()}
        row: dict[str, float] = {}
        row.update(_evaluate(model, raw_all, Yp, wp, metric_fns, prefix="",
                             unscale=self._unscale))
        for name, head in model.head_specs.items():
            # only where it matters: a loss on the probabilities (from logits, the gradient
            # p - y does not vanish when an output saturates)
            if head.activation in ("sigmoid", "softmax") and head.task == "classification" \
                    and not head.spec.on_logits:
                sat, wrong = _saturation(head, raw_all[name], Yp[name])
                row[f"saturation/{name}"] = sat
                row[f"saturated_wrong/{name}"] = wrong
        if val is not None:
            Xv, Yv, wv = val
            with torch.no_grad():
                raw_v = _forward_chunks(model, Xv)
            row.update(_evaluate(model, raw_v, Yv, wv, metric_fns, prefix="val_",
                                 unscale=self._unscale))
        if model.log_vars is not None:
            for i, name in enumerate(model.head_specs):
                row[f"log_var/{name}"] = float(model.log_vars[i].detach())
        row["lr"] = float(opt.param_groups[0]["lr"])
        row["time"] = time.perf_counter() - t0
        return row


# ------------------------------------------------------------------------------- helpers

#: torch's intra-op thread count when losskit.nn was imported (a different count at fit time
#: was chosen by the user, and is kept)
_IMPORT_THREADS = torch.get_num_threads()
#: below this many multiply-adds per step (batch rows x weights, summed over the members of
#: a batch) a step is mostly per-call overhead, and more than one thread only adds
#: synchronisation: measured on 2 cores, breast cancer (30-100-1, batch 32) trained 3.2x
#: faster on one thread than on two, and with the other core busy two threads were 20-100x
#: slower per batched matrix product
SMALL_STEP = 2**24


@contextmanager
def thread_policy(work: float) -> Iterator[None]:
    """Train on one torch thread while the steps are small (``work`` multiply-adds, below
    :data:`SMALL_STEP`), unless the thread count was chosen: by ``torch.set_num_threads``
    after losskit.nn was imported, or by ``OMP_NUM_THREADS``/``MKL_NUM_THREADS``. The
    previous count is restored afterwards.

    Examples
    --------
    >>> import torch
    >>> from losskit.nn.trainer import thread_policy
    >>> before = torch.get_num_threads()
    >>> with thread_policy(1000):  # a tiny step: one thread, unless chosen
    ...     pass
    >>> torch.get_num_threads() == before  # restored
    True
    """
    current = torch.get_num_threads()
    chosen = current != _IMPORT_THREADS or any(
        os.environ.get(k, "").strip() for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"))
    if chosen or current == 1 or work >= SMALL_STEP:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(current)


#: the learning rate is multiplied by this at each divergence retry
_RETRY_FACTOR = 0.1


class _Snapshot:
    """Everything a divergence retry rolls back to: the weights, the optimiser, scheduler and
    early-stopping state and the history's length at the end of ``epoch`` (0: initial)."""

    def __init__(self, model: MLP, opt: torch.optim.Optimizer, schedule: Any,
                 stop: _EarlyStopping, history: History, epoch: int, ceiling: float) -> None:
        self.epoch = epoch
        self.ceiling = ceiling  # the training loss above which an epoch is no restore point
        self.model = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.opt = copy.deepcopy(opt.state_dict())
        self.schedule = None if schedule is None else copy.deepcopy(schedule.state_dict())
        self.stop = (stop.state(), stop.best_state)  # best_state is never changed in place
        self.rows = len(history.rows)
        self.best_epoch = history.best_epoch

    def restore(self, model: MLP, opt: torch.optim.Optimizer, schedule: Any,
                stop: _EarlyStopping, history: History) -> None:
        model.load_state_dict(self.model)
        lrs = [g["lr"] for g in opt.param_groups]
        opt.load_state_dict(copy.deepcopy(self.opt))
        for group, lr in zip(opt.param_groups, lrs, strict=True):
            group["lr"] = lr  # the learning rate is the retry's business
        if schedule is not None and self.schedule is not None:
            base = getattr(schedule, "base_lrs", None)
            schedule.load_state_dict(copy.deepcopy(self.schedule))
            if base is not None:
                schedule.base_lrs = base
        stop.load(self.stop[0])
        stop.best_state = self.stop[1]
        del history.rows[self.rows:]
        history.best_epoch = self.best_epoch


def _head_records(model: MLP) -> dict[str, dict[str, Any]]:
    """What the history records of each head: its loss, activation and task."""
    return {name: {"loss": h.spec.name, "activation": h.activation,
                   "on_logits": h.spec.on_logits, "task": h.task,
                   "description": h.describe()} for name, h in model.head_specs.items()}


def _explode_level(ceiling: float, baseline: Mapping[str, float]) -> float:
    """The training loss above which a fit has diverged: an exploding loss (finite, but
    EXPLODE_FACTOR times the loss's size above ``ceiling``, the initial network's) is
    divergence too; ``inf`` when there is no finite ceiling."""
    size = max(abs(ceiling), abs(baseline.get("loss", 0.0)))
    return ceiling + EXPLODE_FACTOR * size if math.isfinite(ceiling) and size > 0 \
        else math.inf


def _initial_loss(model: MLP, X: torch.Tensor, Y: dict[str, torch.Tensor],
                  w: torch.Tensor | None, rows: int = 4096) -> float:
    """The training loss of the untrained network (``inf`` if it is not finite), on at most
    ``rows`` evenly spaced rows (a reference level for divergence, not a reported number)."""
    step = max(1, -(-X.shape[0] // rows))
    if step > 1:
        X, Y = X[::step], {k: v[::step] for k, v in Y.items()}
        w = None if w is None else w[::step]
        if w is not None and not float(w.sum()) > 0:
            w = None
    model.eval()
    with torch.no_grad():
        value = _evaluate(model, _forward_chunks(model, X), Y, w, [], "")["loss"]
    return value if math.isfinite(value) else math.inf


def _non_finite(row: Mapping[str, float], model: MLP, explode: float = math.inf,
                initial: float = math.nan) -> str | None:
    """What is not finite after an epoch (the losses, the weights) or exploded (a training
    loss above ``explode``), or ``None``."""
    for key, what in (("loss", "training loss"), ("val_loss", "validation loss")):
        value = row.get(key)
        if value is not None and not math.isfinite(value):
            return f"{what} became {value}"
    if row["loss"] > explode:
        return (f"training loss exploded to {row['loss']:.4g} (the untrained network's: "
                f"{initial:.4g})")
    for name, p in model.named_parameters():
        if not bool(torch.isfinite(p).all()):
            return f"weights ({name}) became NaN or infinite"
    return None


def _metric_scale(name: str, head: Head, target_scale: Mapping[str, tuple[Any, Any]] | None,
                  dtype: torch.dtype, device: torch.device) -> Callable | None:
    """``v -> location + scale * v`` for the first head's metrics, or ``None``."""
    if not target_scale or name not in target_scale:
        return None
    if head.task != "regression":
        fail(_FUNC, "target_scale", f"names the classification head {name!r}",
             "Standardise regression targets only")
    loc, scale = (torch.as_tensor(np.asarray(v, dtype=np.float64).reshape(-1), dtype=dtype,
                                  device=device) for v in target_scale[name])
    if loc.shape[0] != head.n_targets or scale.shape[0] != head.n_targets:
        fail(_FUNC, "target_scale", f"has {loc.shape[0]} location(s) for head {name!r} "
             f"with {head.n_targets} target(s)", "Pass one location and scale per target")

    def unscale(v: torch.Tensor) -> torch.Tensor:
        return loc[0] + scale[0] * v if v.ndim == 1 else loc + scale * v

    return unscale


def _check_choice(name: str, value: Any, choices: Sequence[str]) -> None:
    if value not in choices:
        fail(_FUNC, name, f"is {value!r}", f"Pass one of {', '.join(choices)}")


def _check_number(name: str, value: Any, *, low: float | None = None,
                  high: float | None = None, open_low: bool = False,
                  open_high: bool = False) -> None:
    ok = isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and \
        math.isfinite(float(value))
    if ok and low is not None:
        ok = float(value) > low if open_low else float(value) >= low
    if ok and high is not None:
        ok = float(value) < high if open_high else float(value) <= high
    if not ok:
        lo = "" if low is None else f"{'>' if open_low else '>='} {low}"
        hi = "" if high is None else f"{'<' if open_high else '<='} {high}"
        fail(_FUNC, name, f"is {value!r}",
             f"Pass a finite number {' and '.join(x for x in (lo, hi) if x)}".rstrip())


def _tensors(model: MLP, X: Any, y: Any, w: Any, dtype: torch.dtype, xname: str
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor | None]:
    return checked_arrays(model, X, y, w, xp=compat_namespace("torch"), dtype=dtype, xname=xname)


def _to(device: torch.device, data: tuple[torch.Tensor, dict[str, torch.Tensor],
                                           torch.Tensor | None]) -> tuple[Any, ...]:
    X, Y, w = data
    if X.device == device:
        return X, Y, w
    return (X.to(device), {k: v.to(device) for k, v in Y.items()},
            None if w is None else w.to(device))


def _forward_chunks(model: MLP, X: torch.Tensor, chunk: int = 65536
                    ) -> dict[str, torch.Tensor]:
    parts = [model(X[i:i + chunk]) for i in range(0, X.shape[0], chunk)]
    return {name: torch.cat([p[name] for p in parts]) for name in model.head_specs}


#: the evaluation of raw outputs, shared with ``losskit predict``'s NumPy network
#: (losskit.nn._evaluation); these names are the trainer's and its batched version's
_evaluate = evaluate
_metric_values = metric_values
_metric_inputs = metric_inputs


def _saturation(head: Head, raw: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Fractions of samples whose output activation is saturated (slope < 1% of its
    maximum), and saturated with the wrong class on top."""
    with torch.no_grad():
        p = head.probabilities(raw)
        top, arg = torch.max(p, dim=1)
        slope = top * (1.0 - top)
        sat = slope < SATURATION_SLOPE
        _, truth = _metric_inputs(head, raw, y)
        wrong = sat & (arg != truth)
        return float(sat.double().mean()), float(wrong.double().mean())


def _baselines(model: MLP, X: torch.Tensor, Y: dict[str, torch.Tensor],
               w: torch.Tensor | None, val: Any) -> dict[str, float]:
    """Loss of the best constant model on the training (and validation) data; computing it
    with ``check_values=True`` validates the targets for the loss once, before training."""
    out: dict[str, float] = {}
    dtype = X.dtype
    raws = {}
    for name, head in model.head_specs.items():
        y = Y[name]
        if head.task == "classification":
            labels = _metric_inputs(head, torch.zeros(1, head.n_outputs, device=X.device), y)[1]
            base = head.baseline_raw(labels.cpu().numpy())
        else:
            base = head.baseline_raw(y.double().cpu().numpy())
        if base is None:
            with torch.no_grad():  # still validate the targets once, with the initial model
                head.batch_loss(y, model(X)[name], w, check_values=True)
            continue
        raws[name] = torch.as_tensor(base, dtype=dtype, device=X.device).reshape(1, -1)
        const = raws[name].expand(X.shape[0], -1)
        with torch.no_grad():
            # raises a clear error now if y is outside the loss's domain
            value = head.batch_loss(y, const, w, check_values=head.spec.user_fn is None)
        out[f"loss/{name}"] = float(value)
    if val is not None:  # the validation targets too: a NaN validation loss would be a retry
        Xv, Yv, wv = val
        for name, head in model.head_specs.items():
            if head.spec.user_fn is not None:
                continue
            with torch.no_grad():
                raw_v = raws[name].expand(Xv.shape[0], -1) if name in raws else \
                    model(Xv)[name]
                head.batch_loss(Yv[name], raw_v, wv, check_values=True)
    for prefix, data in (("", (X, Y, w)), ("val_", val)):
        if data is None or len(raws) != len(model.head_specs):
            continue
        Xd, Yd, wd = data
        raw = {k: v.expand(Xd.shape[0], -1) for k, v in raws.items()}
        row = _evaluate(model, raw, Yd, wd, [], prefix)
        # report the plain weighted sum (uncertainty weights are not part of a baseline)
        if model.log_vars is None:
            out[f"{prefix}loss"] = row[f"{prefix}loss"]
        for name in model.head_specs:
            out[f"{prefix}loss/{name}"] = row.get(f"{prefix}loss/{name}", row[f"{prefix}loss"])
    return out


class _EarlyStopping:
    def __init__(self, patience: int, tol: float) -> None:
        self.patience = patience
        self.tol = tol
        self.best = math.inf
        self.best_epoch = 0
        self.bad = 0
        self.best_state: dict[str, torch.Tensor] | None = None

    @property
    def exhausted(self) -> bool:
        return self.bad >= self.patience

    def update(self, value: float, epoch: int, model: MLP) -> bool:
        if math.isfinite(value) and value < self.best - self.tol:
            self.best, self.best_epoch, self.bad = value, epoch, 0
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            return True
        self.bad += 1
        return False

    def state(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "bad": self.bad}

    def load(self, state: Mapping[str, Any]) -> None:
        self.best = float(state["best"])
        self.best_epoch = int(state["best_epoch"])
        self.bad = int(state["bad"])


def _progress(verbose: Any, total: int, initial: int) -> Any:
    show = sys.stderr.isatty() if verbose == "auto" else bool(verbose)
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="epoch", desc="losskit.nn")


# ----------------------------------------------------------------------------- checkpoints


def _flatten_optimizer(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], Any]:
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{idx}.{key}"] = value.detach().contiguous()
            elif value is not None:
                scalars.setdefault(str(idx), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _unflatten_optimizer(opt: torch.optim.Optimizer, tensors: Mapping[str, torch.Tensor],
                         meta: Mapping[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    for idx, values in meta["scalars"].items():
        state.setdefault(int(idx), {}).update(values)
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def _save_checkpoint(path: Path, epoch: int, model: MLP, opt: torch.optim.Optimizer,
                     schedule: Any, gen: torch.Generator, stop: _EarlyStopping,
                     history: History) -> None:
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    if stop.best_state is not None:
        tensors.update({f"best.{k}": v.contiguous() for k, v in stop.best_state.items()})
    opt_tensors, opt_meta = _flatten_optimizer(opt)
    tensors.update(opt_tensors)
    tensors["rng.shuffle"] = gen.get_state()
    meta = {"epoch": epoch, "optimizer": opt_meta, "early_stopping": stop.state(),
            "schedule": None if schedule is None else schedule.state_dict(),
            "history": history.to_dict(), "model": model.config()}
    atomic_write(path, lambda tmp: save_file(tensors, tmp,
                                             metadata={"losskit": json.dumps(meta)}))


def _load_checkpoint(path: Path, model: MLP, opt: torch.optim.Optimizer, schedule: Any,
                     gen: torch.Generator, stop: _EarlyStopping) -> tuple[int, History]:
    from safetensors import safe_open
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    with safe_open(str(path), framework="pt") as fh:
        meta = json.loads(fh.metadata()["losskit"])
    if meta["model"] != model.config():
        fail(_FUNC, "resume", f"found a checkpoint in {path.parent} of a different model",
             "Resume with the same model and settings, or use another checkpoint_dir")
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
    stop.best_state = best or None
    stop.load(meta["early_stopping"])
    _unflatten_optimizer(opt, tensors, meta["optimizer"])
    if schedule is not None and meta["schedule"] is not None:
        schedule.load_state_dict(meta["schedule"])
    gen.set_state(tensors["rng.shuffle"])
    return int(meta["epoch"]), History.from_dict(meta["history"])
