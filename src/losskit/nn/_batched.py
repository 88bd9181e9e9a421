"""Many networks trained as one: stacked weights, batched matrix products.

:func:`fit_batched` trains ``M`` independent members — each an :class:`~losskit.nn.MLP` with
its own :class:`~losskit.nn.Trainer` settings, data, seed, loss and sample weights — as one
model. Members of the same architecture and optimiser settings are stacked: a layer's weights
become one ``(M, fan_in, fan_out)`` tensor and its biases ``(M, 1, fan_out)``, and a step is
one batched matrix product per layer (``torch.baddbmm``) over ``(M, batch, fan_in)`` inputs.
For small networks a step costs about what one member's step costs alone, because the time of
an eager-mode step is almost all per-call overhead. The backward pass is written out
(:mod:`losskit.nn._backprop`: a few batched products, no autograd graph through the network)
while a step is small (:data:`BY_HAND_ROWS`), with the output error from each loss's declared
raw-space kernel, or through autograd on the loss alone where it has none; larger steps and
GELU networks train through autograd. A single fit is the batch of one.

Each member behaves exactly as its sequential fit with the same seed (the tests check it):

- it starts from its model's own weights (the model's seeded initialisation and baseline
  bias) and shuffles its own rows with its own ``torch.Generator`` seeded like
  :class:`~losskit.nn.Trainer`'s, so it sees the same minibatches;
- its loss is the mean over its own minibatch rows (``sum w l / sum w``), computed with its
  own loss (members with different losses share the step: each loss is computed on its
  members' slice of the outputs). The total is the sum of the members' losses, so the
  gradient of a member's weights is the gradient of its own loss;
- SGD (momentum, Nesterov, weight decay), Adam and AdamW are element-wise, so one optimiser
  over the stacked weights updates each member as its own optimiser would, with per-member
  step counts (Adam's bias correction) and a per-member mask: a member that has stopped
  (early stopping, its last epoch, fewer rows than the others) does not move;
- its :class:`~losskit.nn.History` has the sequential fit's rows (``loss``, ``val_loss``, the
  metrics, ``lr``, ``time``: the epoch's time shared among the members trained in it), its
  early stopping keeps its own best weights.

Divergence is never hidden: a member whose loss or weights become NaN or infinite, or whose
training loss explodes, leaves the batch and is trained again alone with
:meth:`Trainer.fit <losskit.nn.Trainer.fit>`, whose retries with smaller learning rates either
recover (a valid fit, as sequentially) or raise :class:`~losskit.nn.TrainingDivergedError`,
returned as that member's result. Members the batch cannot train (several heads, uncertainty
weighting, checkpoints, callbacks, the ``"cosine"`` and ``"plateau"`` schedules) are trained
sequentially too: the result is the same, only slower.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from losskit._validation import fail
from losskit.nn import _backprop
from losskit.nn._backprop import ACTIVATION_GRADIENTS, raw_gradient
from losskit.nn._heads import Head, metric_function
from losskit.nn.models import ACTIVATIONS, MLP
from losskit.nn.trainer import (
    SATURATION_SLOPE,
    History,
    Trainer,
    _baselines,
    _explode_level,
    _head_records,
    _initial_loss,
    _metric_scale,
    _metric_values,
    _tensors,
    _to,
    thread_policy,
)

__all__ = ["Member", "batchable", "fit_batched"]

_FUNC = "fit_batched"
#: the learning-rate schedules the batch follows (the others train sequentially)
_SCHEDULES = ("constant", "step", "exponential")
#: a chunk's stacked data, weights and optimiser state stay under about this many bytes
DEFAULT_MAX_BYTES = 512 * 2**20
#: write the backward pass out where the heads allow it (:mod:`losskit.nn._backprop`);
#: ``False`` trains every batch through autograd (the tests compare the two)
_BY_HAND = True
#: ... while a step has at most this many rows (members x batch size): there the step is
#: per-call overhead and the written-out pass wins (a breast-cancer fit, one member: 2.8 s
#: against 5.0 s through autograd); with more rows the element-wise passes dominate and a
#: loss kernel's dozen-odd operations (BCE's cancellation-free form) cost more than autograd
#: through a fused loss (measured, 30-100-1 nets, batch 32, BCE and focal members: equal time
#: at 4-20 members, 10-20% slower by hand at 50)
BY_HAND_ROWS = 512
#: deferred metrics (computed when a history is read) hold each epoch's outputs, up to about
#: this many bytes per batch; past it they are computed
DEFERRED_BYTES = 64 * 2**20
#: operations per output value of an epoch's metrics, for the thread policy
_METRIC_WORK = 32


@dataclass
class Member:
    """One network of a batch: what :meth:`Trainer.fit <losskit.nn.Trainer.fit>` takes.

    ``model`` is trained in place (its final weights are written back at the end, the best
    ones with early stopping), exactly as ``trainer.fit(model, X, y, ...)`` would.
    """

    model: MLP
    trainer: Trainer
    X: Any
    y: Any
    sample_weight: Any = None
    validation_data: tuple[Any, ...] | None = None
    target_scale: dict[str, tuple[Any, Any]] | None = None
    #: filled by fit_batched: "batched" or why the member was trained sequentially
    how: str = field(default="", init=False)


def batchable(member: Member) -> str | None:
    """``None`` if ``member`` can be trained in a batch, else the reason it cannot."""
    model, trainer = member.model, member.trainer
    if not isinstance(model, MLP):
        return "the model is not a losskit.nn.MLP"
    if len(model.head_specs) != 1:
        return "several heads"
    if model.log_vars is not None:
        return "uncertainty weighting"
    if trainer.checkpoint_dir is not None:
        return "checkpoints"
    if trainer.callbacks:
        return "callbacks"
    if trainer.lr_schedule not in _SCHEDULES:
        return f"the {trainer.lr_schedule!r} schedule"
    if trainer.verbose is True:
        return "a progress bar"
    return None


def fit_batched(members: Sequence[Member], *, epoch_metrics: bool = True,
                max_bytes: int = DEFAULT_MAX_BYTES,
                on_epoch: Callable[[int, int, int], Any] | None = None
                ) -> list[History | Exception]:
    r"""Train every member (see the module docstring); return their histories.

    Parameters
    ----------
    members : sequence of Member
    epoch_metrics : bool
        Record the metrics (accuracy, RMSE ...) in every epoch's history row, as
        :class:`~losskit.nn.Trainer` does; ``False`` records them in the last row only
        (the losses are recorded every epoch either way), which is faster when the history
        is not read (``compare``).
    max_bytes : int
        Members are trained in chunks whose stacked data, weights and optimiser state stay
        under about this many bytes.
    on_epoch : callable, optional
        ``on_epoch(epoch, epochs, finished)`` after each epoch of a chunk: the epoch just
        trained, the chunk's maximum number of epochs, and how many of ``members`` have
        finished training so far (for progress reports).

    Returns
    -------
    list of History or Exception
        Per member, in order: its history, or the exception its fit raised (bad data, a
        training that diverged beyond its retries): never raised, so that one failure does
        not stop the others.

    Examples
    --------
    >>> import numpy as np
    >>> from losskit.nn import MLP, Head, Trainer
    >>> from losskit.nn._batched import Member, fit_batched
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(64, 3)).astype(np.float32)
    >>> y = (X[:, 0] > 0).astype(np.int64)
    >>> members = [Member(MLP(3, Head(loss, task="classification", n_classes=2),
    ...                       hidden_layer_sizes=(8,), random_state=seed),
    ...                   Trainer(epochs=5, learning_rate=0.1, random_state=seed), X, y)
    ...            for loss in ("cross_entropy", "binary_focal_loss") for seed in (0, 1)]
    >>> [len(h) for h in fit_batched(members)]
    [5, 5, 5, 5]
    """
    if not isinstance(max_bytes, int) or max_bytes < 1:
        fail(_FUNC, "max_bytes", f"is {max_bytes!r}", "Pass a positive integer")
    results: list[History | Exception | None] = [None] * len(members)
    groups: dict[Any, list[int]] = {}
    for i, member in enumerate(members):
        if not isinstance(member, Member):
            fail(_FUNC, "members", f"contains {type(member).__name__}",
                 "Pass losskit.nn._batched.Member objects", TypeError)
        reason = batchable(member)
        if reason is not None:
            member.how = f"sequential ({reason})"
            results[i] = _sequential(member)
            continue
        groups.setdefault(_group_key(member), []).append(i)
    finished = sum(r is not None for r in results)
    for indices in groups.values():
        for chunk in _chunks(members, indices, max_bytes):
            report = None
            if on_epoch is not None:
                def report(epoch: int, epochs: int, stopped: int, before: int = finished
                           ) -> None:
                    on_epoch(epoch, epochs, before + stopped)
            out = _Batch([members[i] for i in chunk], epoch_metrics, report).run()
            for i, result in zip(chunk, out, strict=True):
                results[i] = result
            finished += len(chunk)
    return results  # type: ignore[return-value]


# ------------------------------------------------------------------------------- grouping


def _group_key(member: Member) -> Any:
    model, trainer = member.model, member.trainer
    head = next(iter(model.head_specs.values()))
    p = next(model.parameters())
    settings = {k: v for k, v in trainer.settings().items() if k != "random_state"}
    # with and without validation data apart: it decides what early stopping monitors
    return (model.n_features, model.hidden_layer_sizes, model.activation, head.n_outputs,
            p.dtype, str(p.device), member.validation_data is None,
            tuple(sorted(settings.items())),
            None if trainer.metrics is None else tuple(map(str, trainer.metrics)))


def _member_bytes(member: Member) -> int:
    model = member.model
    n_params = sum(p.numel() for p in model.parameters())
    rows = len(member.X)
    val = 0 if member.validation_data is None else len(member.validation_data[0])
    head = next(iter(model.head_specs.values()))
    width = model.n_features + head.n_outputs + 4
    hidden = sum(model.hidden_layer_sizes) + head.n_outputs
    # weights, gradients, two optimiser buffers, best weights, a snapshot; the data twice
    # (stored and shuffled), the epoch's outputs, the validation forward pass
    return 4 * (6 * n_params + (2 * rows + val) * width + (rows + val) * hidden)


def _chunks(members: Sequence[Member], indices: list[int], max_bytes: int
            ) -> list[list[int]]:
    chunks: list[list[int]] = []
    current: list[int] = []
    used = 0
    for i in indices:
        size = _member_bytes(members[i])
        if current and used + size > max_bytes:
            chunks.append(current)
            current, used = [], 0
        current.append(i)
        used += size
    if current:
        chunks.append(current)
    return chunks


def _sequential(member: Member) -> History | Exception:
    try:
        return member.trainer.fit(member.model, member.X, member.y,
                                  sample_weight=member.sample_weight,
                                  validation_data=member.validation_data,
                                  target_scale=member.target_scale)
    except Exception as error:  # returned to the caller, who records it
        return error


# --------------------------------------------------------------------------- the batch


def _per_sample(head: Head, y: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
    """Per-sample losses ``(n,)`` of a head's raw outputs ``(n, n_outputs)``, differentiable
    (the values whose weighted mean :meth:`Head.batch_loss` returns)."""
    if head.spec.fn is None:
        return head.per_sample(y, raw)
    per = head.spec.fn(y, head.loss_input(raw), reduction="none", check_values=False,
                       **head.spec.options)
    return per.mean(dim=1) if per.ndim == 2 else per


class _Setup:
    """One member's checked data and the state its sequential fit would start with."""

    def __init__(self, member: Member) -> None:
        model, trainer = member.model, member.trainer
        self.member = member
        dtype = next(model.parameters()).dtype
        device = next(model.parameters()).device
        self.X, self.Y, self.w = _to(device, _tensors(model, member.X, member.y,
                                                      member.sample_weight, dtype, "X"))
        self.val = None
        vd = member.validation_data
        if vd is not None:
            if not isinstance(vd, (tuple, list)) or len(vd) not in (2, 3):
                fail("Trainer", "validation_data", f"is {type(vd).__name__}",
                     "Pass (X_val, y_val) or (X_val, y_val, sample_weight_val)", TypeError)
            self.val = _to(device, _tensors(model, vd[0], vd[1], vd[2] if len(vd) == 3
                                            else None, dtype, "X_val"))
        heads = model.head_specs
        self.name, self.head = next(iter(heads.items()))
        self.history = History(settings=trainer.settings(), heads=_head_records(model))
        self.history.baseline = _baselines(model, self.X, self.Y, self.w, self.val)
        self.metric_fns = [metric_function("Trainer", m) for m in (
            trainer.metrics if trainer.metrics is not None else self.head.default_metrics)]
        self.unscale = _metric_scale(self.name, self.head, member.target_scale, dtype, device)
        self.explode = _explode_level(_initial_loss(model, self.X, self.Y, self.w),
                                      self.history.baseline)
        self.gen = torch.Generator()
        if trainer.random_state is None:
            self.gen.seed()
        else:
            self.gen.manual_seed(int(trainer.random_state))
        self.start_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.saturation = self.head.activation in ("sigmoid", "softmax") and \
            self.head.task == "classification" and not self.head.spec.on_logits
        self.best = math.inf
        self.bad = 0
        self.has_best = False


def _linears(model: MLP) -> list[torch.nn.Linear]:
    layers = [m for m in model.trunk if isinstance(m, torch.nn.Linear)]
    return [*layers, *model.heads.values()]


def _stack_rows(tensors: list[torch.Tensor], n_max: int) -> torch.Tensor:
    """``(M, n_max, ...)``: each member's rows, padded with copies of its first row (padding
    gets weight 0; a copy of real data keeps its loss finite, where zeros might be outside
    the loss's domain)."""
    first = tensors[0]
    out = torch.empty((len(tensors), n_max, *first.shape[1:]), dtype=first.dtype,
                      device=first.device)
    for m, t in enumerate(tensors):
        out[m, : t.shape[0]] = t
        out[m, t.shape[0]:] = t[:1]
    return out


class _Batch:
    """One chunk of members of the same architecture and settings, trained together."""

    def __init__(self, members: list[Member], epoch_metrics: bool,
                 report: Callable[[int, int, int], Any] | None = None) -> None:
        self.members = members
        self.epoch_metrics = epoch_metrics
        self.report = report
        self.trainer = members[0].trainer

    # ------------------------------------------------------------------------- set-up

    def _setup(self) -> tuple[list[_Setup | None], list[History | Exception | None]]:
        setups: list[_Setup | None] = []
        results: list[History | Exception | None] = []
        for member in self.members:
            try:
                setups.append(_Setup(member))
                results.append(None)
                member.how = "batched"
            except Exception as error:  # the member's result
                setups.append(None)
                results.append(error)
                member.how = "failed before training"
        return setups, results

    def run(self) -> list[History | Exception]:
        n_params = sum(p.numel() for p in self.members[0].model.parameters())
        # the set-up's forward passes too: small ones are slow on several threads
        with thread_policy(len(self.members) * self.trainer.batch_size * n_params):
            return self._run()

    def _run(self) -> list[History | Exception]:
        setups, results = self._setup()
        live = [s for s in setups if s is not None]
        if live:
            try:
                again = self._train(live)
                why = "diverged in the batch"
            except Exception as error:  # e.g. a callable loss that raises on some rows
                again = live
                why = f"the batch raised {type(error).__name__}"
            for s in again:  # trained again alone: retries, or the error, as sequentially
                s.member.model.load_state_dict(s.start_state)
                s.member.how = f"sequential ({why})"
        for k, s in enumerate(setups):
            if s is not None:
                results[k] = _sequential(s.member) if s.member.how.startswith("sequential") \
                    else s.history
        return results  # type: ignore[return-value]

    # ------------------------------------------------------------------------ training

    def _train(self, setups: list[_Setup]) -> list[_Setup]:
        tr = self.trainer
        # members with the same loss are contiguous: each loss is computed on its slice
        order: list[list[int]] = []
        for k, s in enumerate(setups):
            for group in order:
                if setups[group[0]].head.spec == s.head.spec and \
                        setups[group[0]].head.n_classes == s.head.n_classes:
                    group.append(k)
                    break
            else:
                order.append([k])
        setups = [setups[k] for group in order for k in group]
        slices: list[tuple[int, int, Head]] = []
        start = 0
        for group in order:
            slices.append((start, start + len(group), setups[start].head))
            start += len(group)
        # each member's loss group, looked up every epoch
        group_of = [gi for gi, (a, z, _) in enumerate(slices) for _ in range(a, z)]
        M = len(setups)
        models = [s.member.model for s in setups]
        dtype = next(models[0].parameters()).dtype
        device = next(models[0].parameters()).device
        act_name = models[0].activation
        act = ACTIVATIONS[act_name]()

        # stacked parameters: per layer W (M, fan_in, fan_out), b (M, 1, fan_out)
        # the backward pass written out (no autograd graph through the network) where the
        # hidden activation's derivative is written out
        # (the output error from the loss's kernel, else through autograd on the loss alone)
        by_hand = _BY_HAND and models[0].activation in ACTIVATION_GRADIENTS and \
            len(setups) * tr.batch_size <= BY_HAND_ROWS
        params: list[torch.Tensor] = []
        for layer_group in zip(*(_linears(m) for m in models), strict=True):
            params.append(torch.stack([lin.weight.detach().t() for lin in layer_group])
                          .contiguous().requires_grad_(not by_hand))
            params.append(torch.stack([lin.bias.detach().reshape(1, -1)
                                       for lin in layer_group]).contiguous()
                          .requires_grad_(not by_hand))
        n = torch.tensor([s.X.shape[0] for s in setups], device=device)
        n_list = [s.X.shape[0] for s in setups]
        n_max = max(n_list)
        X_all = _stack_rows([s.X for s in setups], n_max)
        Y_all = [_stack_rows([setups[k].Y[setups[k].name] for k in range(a, b)], n_max)
                 for a, b, _ in slices]
        W_all = _stack_rows([s.w if s.w is not None else
                             torch.ones(s.X.shape[0], dtype=dtype, device=device)
                             for s in setups], n_max)
        # (a loss's closed form for hard labels where all its members' labels are 0 or 1)
        raw_grads = [raw_gradient(head, labels=y) for (_, _, head), y in
                     zip(slices, Y_all, strict=True)]
        weighted = [s.w is not None for s in setups]
        has_val = setups[0].val is not None  # all or none: grouped by it
        if has_val:
            nv_list = [s.val[0].shape[0] for s in setups]
            nv_max = max(nv_list)
            Xv_all = _stack_rows([s.val[0] for s in setups], nv_max)
            Yv_all = [_stack_rows([setups[k].val[1][setups[k].name] for k in range(a, b)],
                                  nv_max) for a, b, _ in slices]
            nv = torch.tensor(nv_list, device=device)
            Wv_all = _stack_rows([s.val[2] if s.val[2] is not None else
                                  torch.ones(s.val[0].shape[0], dtype=dtype, device=device)
                                  for s in setups], nv_max)
            Wv_all = Wv_all * (torch.arange(nv_max, device=device)[None, :] < nv[:, None])

        opt = _StackedOptimizer(tr, params, M)
        alive = [True] * M  # not stopped, not diverged
        diverged: list[_Setup] = []
        best = [p.detach().clone() for p in params]
        bs = tr.batch_size
        n_steps = -(-n_max // bs)
        n_pad = n_steps * bs
        # step-major layout (steps, members, batch, ...): each step's inputs are contiguous
        positions = torch.arange(n_pad, device=device).reshape(n_steps, 1, bs)
        valid = positions < n.reshape(1, M, 1)
        member_idx = torch.arange(M, device=device).reshape(1, M, 1)

        def forward(x: torch.Tensor) -> torch.Tensor:
            h = x
            last = len(params) // 2 - 1
            for layer in range(len(params) // 2):
                h = torch.baddbmm(params[2 * layer + 1], h, params[2 * layer])
                if layer < last:
                    h = act(h)
            return h

        def member_losses(raw: torch.Tensor, ys: list[torch.Tensor], w: torch.Tensor
                          ) -> tuple[torch.Tensor, torch.Tensor]:
            """(per-sample losses (M, b), per-member weighted means (M,))."""
            b = raw.shape[1]
            parts = []
            for (a, z, head), y in zip(slices, ys, strict=True):
                r = raw[a:z].reshape((z - a) * b, raw.shape[2])
                t = y.reshape((z - a) * b, *y.shape[2:])
                parts.append(_per_sample(head, t, r).reshape(z - a, b))
            per = parts[0] if len(parts) == 1 else torch.cat(parts)
            den = w.sum(dim=1)
            mean = (per * w).sum(dim=1) / torch.where(den > 0, den, torch.ones_like(den))
            return per, mean

        def raw_delta(raw: torch.Tensor, ys: list[torch.Tensor], factor: torch.Tensor,
                      per_step: torch.Tensor) -> torch.Tensor:
            """``d(sum of the members' weighted mean losses)/d raw`` (M, b, n_outputs): from
            the loss's kernel, scaled by ``factor`` (w_i / sum w), or through autograd on the
            loss alone (its per-sample losses then go to ``per_step``). ``ys``: each group's
            labels as its output error takes them (``OutputError.labels``)."""
            b, o = raw.shape[1], raw.shape[2]
            parts: list[torch.Tensor | None] = []
            leaves, objective = [], None
            for (a, z, head), y, grad in zip(slices, ys, raw_grads, strict=True):
                r = (raw if z - a == M else raw[a:z]).reshape((z - a) * b, o)
                t = y.reshape((z - a) * b, *y.shape[2:])
                if grad is not None:
                    parts.append(grad.step(t, r).reshape(z - a, b, o).mul_(factor[a:z]))
                    continue
                with torch.enable_grad():
                    leaf = r.detach().requires_grad_(True)
                    per = _per_sample(head, t, leaf).reshape(z - a, b)
                    # d(member's weighted mean)/d l_i = w_i / sum w = factor
                    term = (per * factor[a:z, :, 0]).sum()
                    objective = term if objective is None else objective + term
                leaves.append(leaf)
                parts.append(None)
                per_step[a:z] = per.detach()
            if leaves:  # one backward pass for every loss without a kernel
                found = iter(torch.autograd.grad(objective, leaves))
                parts = [next(found).reshape(-1, b, o) if g is None else g for g in parts]
            return parts[0] if len(parts) == 1 else torch.cat(parts)  # type: ignore[arg-type]

        def kernel_losses(raw_epoch: torch.Tensor, Yp: list[torch.Tensor],
                          per_epoch: torch.Tensor) -> None:
            """The per-sample losses (steps, M, b) of the groups trained from their kernel,
            into ``per_epoch``: one loss call per group and epoch on the epoch's raw outputs
            (the values each step's call would give)."""
            steps, _, b, o = raw_epoch.shape
            for (a, z, head), y, grad in zip(slices, Yp, raw_grads, strict=True):
                if grad is None:
                    continue
                r = raw_epoch[:, a:z].reshape(steps * (z - a) * b, o)
                t = y.reshape(steps * (z - a) * b, *y.shape[3:])
                per_epoch[:, a:z] = _per_sample(head, t, r).reshape(steps, z - a, b)

        masks: dict[tuple[bool, ...], torch.Tensor | None] = {}

        def stepping(step: int) -> torch.Tensor | None:
            """The members that take ``step`` (``None``: all): alive, with rows left."""
            key = tuple(alive[k] and n_list[k] > step * bs for k in range(M))
            if key not in masks:
                masks[key] = None if all(key) else torch.tensor(key, device=device)
            return masks[key]

        epoch = 0
        held = 0  # bytes of epoch outputs that deferred metrics hold
        while epoch < tr.epochs and any(alive):
            epoch += 1
            deferred = False
            # each loss group's outputs of the epoch, for the metrics computed together
            groups: dict[int, tuple[_GroupEpoch, _GroupEpoch | None]] = {}
            t0 = time.perf_counter()
            lr = _lr(tr, epoch - 1)
            perms = []
            for k, s in enumerate(setups):
                p = torch.randperm(n_list[k], generator=s.gen).to(device)
                if n_list[k] < n_pad:  # padding: row 0 again, with weight 0
                    p = torch.cat([p, torch.zeros(n_pad - n_list[k], dtype=p.dtype,
                                                  device=device)])
                perms.append(p)
            perm = torch.stack(perms).reshape(M, n_steps, bs).permute(1, 0, 2)
            Xp = X_all[member_idx, perm]
            Yp = [y[member_idx[:, : z - a], perm[:, a:z]]
                  for (a, z, _), y in zip(slices, Y_all, strict=True)]
            Wp = W_all[member_idx, perm] * valid
            raw_epoch = torch.empty((n_steps, M, bs, params[-1].shape[-1]), dtype=dtype,
                                    device=device)
            if by_hand:
                den = Wp.sum(dim=2, keepdim=True)
                # d(member's weighted mean)/d(l_i) = w_i / sum(w) over its minibatch
                factor = (Wp / torch.where(den > 0, den, torch.ones_like(den))).unsqueeze(-1)
                per_epoch = torch.empty((n_steps, M, bs), dtype=dtype, device=device)
                # the labels as each group's output error takes them (once per epoch)
                Yg = [y if g is None else g.labels(y)
                      for y, g in zip(Yp, raw_grads, strict=True)]
                # each step's views in one call per tensor (not an indexing call per step)
                views = zip(Xp.unbind(0), zip(*(y.unbind(0) for y in Yg), strict=True),
                            factor.unbind(0), per_epoch.unbind(0), raw_epoch.unbind(0),
                            strict=True)
                with torch.no_grad():
                    for step, (x, ys, f, per, out) in enumerate(views):
                        raw, saved = _backprop.forward(params, x, act_name, out=out)
                        delta = raw_delta(raw, list(ys), f, per)
                        grads = _backprop.backward(params, saved, delta, act_name)
                        opt.step(grads, lr, stepping(step))
                    kernel_losses(raw_epoch, Yp, per_epoch)
            else:
                per_epoch = torch.empty((n_steps, M, bs), dtype=dtype, device=device)
                for step in range(n_steps):
                    raw = forward(Xp[step])
                    per, mean = member_losses(raw, [y[step] for y in Yp], Wp[step])
                    grads = torch.autograd.grad(mean.sum(), params)
                    opt.step(grads, lr, stepping(step))
                    per_epoch[step] = per.detach()
                    raw_epoch[step] = raw.detach()
            with torch.no_grad():
                den = Wp.sum(dim=(0, 2), dtype=torch.float64)
                train_loss = ((per_epoch.double() * Wp.double()).sum(dim=(0, 2)) / den
                              ).tolist()
                if has_val:
                    raw_v = forward(Xv_all)
                    _, val_mean = member_losses(raw_v, Yv_all, Wv_all)
                    # the exact weighted mean, in float64 like the accumulators
                    val_loss = val_mean.double().tolist()
                finite = torch.ones(M, dtype=torch.bool, device=device)
                for p in params:
                    finite &= torch.isfinite(p.detach()).flatten(1).all(dim=1)
                finite_list = finite.tolist()
            seconds = time.perf_counter() - t0
            trained = sum(alive)
            for k, s in enumerate(setups):
                if not alive[k]:
                    continue
                row: dict[str, float] = {"epoch": epoch, "loss": train_loss[k]}
                if has_val:
                    row["val_loss"] = val_loss[k]
                found = _not_finite(row, s, finite_list[k])
                if found is not None:
                    alive[k] = False
                    diverged.append(s)
                    continue
                last = epoch == tr.epochs
                monitored = row.get("val_loss", row["loss"])
                if math.isfinite(monitored) and monitored < s.best - tr.tol:
                    s.best, s.bad, s.has_best = monitored, 0, True
                    s.history.best_epoch = epoch
                    for p, b in zip(params, best, strict=True):
                        b[k] = p.detach()[k]
                else:
                    s.bad += 1
                exhausted = s.bad >= tr.patience
                done_early = tr.early_stopping and exhausted
                final = last or done_early
                metrics = self.epoch_metrics or final
                compute = None
                if metrics or s.saturation:
                    # computed when the history is read (History._append): a fit whose
                    # metrics nobody reads does not pay for them
                    gi = group_of[k]
                    val_part = None
                    if has_val and metrics:
                        val_part = (raw_v[k, : nv_list[k]],
                                    Yv_all[gi][k - slices[gi][0], : nv_list[k]], s.val[2])
                    if gi not in groups:
                        ga, gz, ghead = slices[gi]
                        groups[gi] = (
                            _GroupEpoch(ghead, raw_epoch[:, ga:gz], Yp[gi], n_list[ga:gz],
                                        True),
                            _GroupEpoch(ghead, raw_v[ga:gz], Yv_all[gi], nv_list[ga:gz],
                                        False) if has_val and metrics else None)
                    compute = _deferred_metrics(s, k, gi, raw_epoch, Yp, slices, Wp,
                                                weighted[k], metrics, val_part, groups[gi])
                    row.update(dict.fromkeys(_metric_keys(s, metrics, val_part is not None),
                                             math.nan))
                row["lr"] = lr
                row["time"] = seconds / trained
                s.history._append(_ordered(row), compute)
                deferred = deferred or compute is not None
                if final:
                    s.history.stopped = "epochs" if last and not exhausted else \
                        "early_stopping" if tr.early_stopping else "epochs"
                    alive[k] = False
                    if tr.early_stopping and s.has_best:
                        with torch.no_grad():
                            for p, b in zip(params, best, strict=True):
                                p[k] = b[k]
            if deferred:
                # the deferred metrics hold this epoch's outputs: past a budget, compute them
                held += sum(t.numel() * t.element_size() for t in (raw_epoch, Wp, *Yp))
                if has_val:
                    held += raw_v.numel() * raw_v.element_size()
                if held > DEFERRED_BYTES:
                    for s in setups:
                        s.history._resolve()
                    held = 0
            if self.report is not None:
                self.report(epoch, tr.epochs, M - sum(alive))
        # the trained weights back into each member's model
        with torch.no_grad():
            for k, model in enumerate(models):
                for layer, lin in enumerate(_linears(model)):
                    lin.weight.copy_(params[2 * layer][k].t())
                    lin.bias.copy_(params[2 * layer + 1][k, 0])
        return diverged



def _accuracy_counts(head: Head, raw: torch.Tensor, truth: torch.Tensor, valid: torch.Tensor
                     ) -> dict[str, torch.Tensor]:
    """Per member, the rows whose predicted class is the true one: ``raw`` ``(M, N, o)``,
    ``truth`` ``(M, N)`` labels, ``valid`` ``(M, N)`` (rows that are the member's). The
    predicted class is :func:`losskit.metrics.accuracy_score`'s: the argmax of the class
    probabilities, or ``p > 0.5`` for the positive class of two."""
    M, N, o = raw.shape
    p = head.probabilities(raw.reshape(M * N, o))
    p = p.reshape(M, N, p.shape[-1])
    pred = (p[..., 1] > 0.5).to(torch.int64) if p.shape[-1] == 2 else torch.argmax(p, dim=-1)
    top, arg = torch.max(p, dim=-1)
    saturated = (top * (1.0 - top) < SATURATION_SLOPE) & valid
    return {"correct": ((pred == truth) & valid).sum(dim=1),
            "saturated": saturated.sum(dim=1),
            "saturated_wrong": (saturated & (arg != truth)).sum(dim=1)}


class _GroupEpoch:
    """One epoch's outputs of the members of a loss group, for their deferred metrics: the
    metrics written for many members at once (accuracy, root mean squared error, saturation
    of unweighted members whose targets are not rescaled) are computed for all of them on the
    first member's request — one pass instead of one metric call per member (the demo's
    metrics cost as much as its training when called member by member). Accuracy and
    saturation are the same counts over the same rows as the metric functions'; the root
    mean squared error is summed in float64 (the metric sums the outputs' float32 squares):
    equal to float32 rounding."""

    def __init__(self, head: Head, raw: torch.Tensor, y: torch.Tensor, n: list[int],
                 step_major: bool) -> None:
        # raw (M, N, o) and y (M, N, ...), each member's rows first, then padding; or
        # step-major (steps, M, batch, ...), the epoch's layout
        self.head, self.raw, self.y, self.n = head, raw, y, n
        self.step_major = step_major
        self._values: dict[str, list[float]] | None = None

    def values(self) -> dict[str, list[float]]:
        if self._values is None:
            self._values = self._compute()
        return self._values

    def _compute(self) -> dict[str, list[float]]:
        head, raw, y = self.head, self.raw, self.y
        if self.step_major:  # (steps, M, batch, ...) -> (M, steps * batch, ...)
            steps, M, b = raw.shape[:3]
            raw = raw.transpose(0, 1).reshape(M, steps * b, raw.shape[-1])
            y = y.transpose(0, 1).reshape(M, steps * b, *y.shape[3:])
        M, N = raw.shape[:2]
        n = torch.tensor(self.n, dtype=torch.float64, device=raw.device)
        valid = torch.arange(N, device=raw.device)[None, :] < n[:, None]
        out: dict[str, list[float]] = {}
        with torch.no_grad():
            if head.task == "classification":
                if y.ndim == 3:  # one-hot or (N, 1) 0/1 targets back to labels
                    truth = y[..., 0] if y.shape[-1] == 1 else torch.argmax(y, dim=-1)
                else:
                    truth = y
                counts = _accuracy_counts(head, raw, truth.to(torch.int64), valid)
                for key, count in counts.items():
                    out[key] = (count.double() / n).tolist()
                out["accuracy"] = out.pop("correct")
            else:
                pred = head.activate(raw.reshape(M * N, -1)).reshape(M, N, -1)
                target = y.reshape(M, N, -1)
                if pred.shape != target.shape:
                    return out  # not one prediction per target: the metric functions
                squares = torch.where(valid[..., None], (pred - target).double() ** 2, 0.0)
                # per output, then averaged over the outputs, as the metric does
                out["root_mean_squared_error"] = (squares.sum(dim=1) / n[:, None]).sqrt() \
                    .mean(dim=1).tolist()
        return out


#: the metrics :class:`_GroupEpoch` computes for all members at once, by function name
_GROUP_METRICS = {"classification": ("accuracy_score",),
                  "regression": ("root_mean_squared_error",)}


def _metric_keys(s: _Setup, metrics: bool, val: bool) -> list[str]:
    """The history keys :func:`_deferred_metrics` fills in (as ``_metric_values`` names
    them)."""
    names = [fn.__name__.removesuffix("_score") for fn in s.metric_fns]
    keys = list(names) if metrics else []
    if s.saturation:
        keys += [f"saturation/{s.name}", f"saturated_wrong/{s.name}"]
    if val:
        keys += ["val_" + name for name in names]
    return keys


def _deferred_metrics(s: _Setup, k: int, gi: int, raw_epoch: torch.Tensor,
                      Yp: list[torch.Tensor], slices: list[tuple[int, int, Head]],
                      Wp: torch.Tensor, weighted: bool, metrics: bool,
                      val: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None] | None,
                      group: tuple[_GroupEpoch, _GroupEpoch | None]
                      ) -> Callable[[], dict[str, float]]:
    """A function computing member ``k``'s metrics (and saturation) of an epoch from its
    outputs: the training rows in the order trained, and ``val`` (raw outputs, targets,
    weights) of the validation data; the metrics :class:`_GroupEpoch` writes for many
    members at once come from ``group`` (its loss group's training and validation outputs)
    where the member is unweighted and its targets not rescaled."""
    # what the function needs, not the member's set-up (the history keeps the function)
    n_k, head, fns, unscale, name = s.X.shape[0], s.head, s.metric_fns, s.unscale, s.name
    saturation = s.saturation
    j = k - slices[gi][0]  # the member's place in its group
    together = _GROUP_METRICS.get(head.task, ()) if unscale is None else ()
    val_weighted = val is not None and val[2] is not None

    def compute() -> dict[str, float]:
        out: dict[str, float] = {}
        y = Yp[gi][:, j]
        y = y.reshape(-1, *y.shape[2:])[:n_k]  # the epoch's rows in the order trained
        raw = raw_epoch[:, k].reshape(-1, raw_epoch.shape[-1])[:n_k]
        w = Wp[:, k].reshape(-1)[:n_k] if weighted else None
        # computed later, outside the batch's thread policy: small element-wise passes on
        # several threads were 20-50 times slower (measured: demo, the other core busy)
        size = raw.numel() + (0 if val is None else val[0].numel())
        with thread_policy(size * _METRIC_WORK):
            if metrics:
                out.update(_some_metrics(head, raw, y, w, fns, "", unscale,
                                         None if weighted else group[0], j, together))
            if saturation:
                values = group[0].values()
                out[f"saturation/{name}"] = values["saturated"][j]
                out[f"saturated_wrong/{name}"] = values["saturated_wrong"][j]
            if val is not None:
                out.update(_some_metrics(head, *val, fns, "val_", unscale,
                                         None if val_weighted else group[1], j, together))
        return out

    return compute


def _some_metrics(head: Head, raw: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None,
                  fns: list[Callable], prefix: str, unscale: Callable | None,
                  group: _GroupEpoch | None, j: int, together: tuple[str, ...]
                  ) -> dict[str, float]:
    """``_metric_values``, with the metrics in ``together`` read from ``group``'s values of
    member ``j`` (when given)."""
    if group is None:
        return _metric_values(head, raw, y, w, fns, prefix, unscale)
    out: dict[str, float] = {}
    rest = []
    values = group.values() if any(fn.__name__ in together for fn in fns) else {}
    for fn in fns:
        key = fn.__name__.removesuffix("_score")
        found = values.get(key if key == "accuracy" else fn.__name__)
        if fn.__name__ in together and found is not None:
            out[prefix + key] = found[j]
        else:
            rest.append(fn)
    out.update(_metric_values(head, raw, y, w, rest, prefix, unscale))
    return out


def _ordered(row: dict[str, float]) -> dict[str, float]:
    """The sequential fit's column order: epoch, loss, metrics, saturation, val_loss, val
    metrics, lr, time."""
    keys = list(row)
    val = [k for k in keys if k.startswith("val_")]
    rest = [k for k in keys if k not in val and k not in ("lr", "time")]
    return {k: row[k] for k in [*rest, *val, "lr", "time"] if k in row}


def _not_finite(row: dict[str, float], s: _Setup, weights_finite: bool) -> str | None:
    for key, what in (("loss", "training loss"), ("val_loss", "validation loss")):
        value = row.get(key)
        if value is not None and not math.isfinite(value):
            return f"{what} became {value}"
    if row["loss"] > s.explode:
        return f"training loss exploded to {row['loss']:.4g}"
    if not weights_finite:
        return "weights became NaN or infinite"
    return None


def _lr(trainer: Trainer, epoch: int) -> float:
    """The learning rate of (0-based) ``epoch`` under the trainer's schedule."""
    base = trainer.learning_rate
    if trainer.lr_schedule == "step":
        return base * trainer.lr_decay ** (epoch // trainer.lr_step)
    if trainer.lr_schedule == "exponential":
        return base * trainer.lr_decay ** epoch
    return base


class _StackedOptimizer:
    """SGD (momentum, Nesterov, L2), Adam and AdamW on stacked ``(M, ...)`` parameters, with
    torch.optim's update rules; members outside ``stepping`` keep their weights and state."""

    def __init__(self, trainer: Trainer, params: list[torch.Tensor], M: int) -> None:
        self.kind = trainer.optimizer
        self.params = params
        self.momentum = trainer.momentum
        self.nesterov = trainer.nesterov and trainer.momentum > 0
        self.wd = trainer.weight_decay
        self.clip = trainer.clip_grad_norm
        zeros = [torch.zeros_like(p, requires_grad=False) for p in params]
        self.everyone = torch.ones(M, dtype=torch.bool, device=params[0].device)
        self.buf = zeros if self.kind == "sgd" else None
        if self.kind != "sgd":
            self.m1 = zeros
            self.m2 = [torch.zeros_like(p, requires_grad=False) for p in params]
            self.steps = torch.zeros(M, dtype=torch.float64, device=params[0].device)
            self.beta1, self.beta2, self.eps = 0.9, 0.999, 1e-8

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor], lr: float, stepping: torch.Tensor | None
             ) -> None:
        """One update of the members in the boolean mask ``stepping`` (``None``: all)."""
        grads = list(grads)
        every = stepping is None
        if every:
            stepping = self.everyone
        if self.clip is not None:
            total = sum(g.double().pow(2).flatten(1).sum(dim=1) for g in grads)
            norm = total.sqrt()
            coef = torch.clamp(self.clip / (norm + 1e-6), max=1.0).to(grads[0].dtype)
            grads = [g * coef.reshape(-1, *([1] * (g.ndim - 1))) for g in grads]
        if self.kind == "sgd":
            self._sgd(grads, lr, stepping, every)
        else:
            self._adam(grads, lr, stepping, every)

    def _sgd(self, grads: list[torch.Tensor], lr: float, stepping: torch.Tensor,
             every: bool) -> None:
        if every and not self.wd and self.momentum and not self.nesterov:
            # the common case in few fused calls (torch.optim.SGD's arithmetic, per element)
            torch._foreach_mul_(self.buf, self.momentum)
            torch._foreach_add_(self.buf, grads)
            torch._foreach_add_(self.params, self.buf, alpha=-lr)
            return
        mask = None if every else stepping.reshape(-1, 1, 1)
        for p, g, buf in zip(self.params, grads, self.buf, strict=True):
            if self.wd:
                g = g.add(p, alpha=self.wd)
            if self.momentum:
                new = buf * self.momentum + g
                if mask is None:
                    buf.copy_(new)
                else:
                    buf.copy_(torch.where(mask, new, buf))
                g = g.add(buf, alpha=self.momentum) if self.nesterov else buf
            if mask is None:
                p.add_(g, alpha=-lr)
            else:
                p.copy_(torch.where(mask, p - lr * g, p))

    def _adam(self, grads: list[torch.Tensor], lr: float, stepping: torch.Tensor,
              every: bool) -> None:
        self.steps += stepping.double()
        mask = None if every else stepping.reshape(-1, 1, 1)
        b1, b2 = self.beta1, self.beta2
        steps = torch.clamp(self.steps, min=1.0)
        bc1 = (1 - b1 ** steps).reshape(-1, 1, 1)
        bc2_sqrt = torch.sqrt(1 - b2 ** steps).reshape(-1, 1, 1)
        for p, g, m1, m2 in zip(self.params, grads, self.m1, self.m2, strict=True):
            if self.kind == "adamw":
                decayed = p * (1 - lr * self.wd)
            else:
                decayed = p
                if self.wd:
                    g = g.add(p, alpha=self.wd)
            new1 = m1.lerp(g, 1 - b1)
            new2 = m2 * b2 + (1 - b2) * g * g
            step_size = (lr / bc1).to(p.dtype)
            denom = (new2.sqrt() / bc2_sqrt.to(p.dtype)) + self.eps
            new_p = decayed - step_size * new1 / denom
            if mask is None:
                m1.copy_(new1)
                m2.copy_(new2)
                p.copy_(new_p)
            else:
                m1.copy_(torch.where(mask, new1, m1))
                m2.copy_(torch.where(mask, new2, m2))
                p.copy_(torch.where(mask, new_p, p))

