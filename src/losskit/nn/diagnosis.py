"""What the learning curves say: a diagnosis of training in plain words.

:func:`diagnose` reads a :class:`~losskit.nn.History` and returns findings, each with the
epochs and numbers behind it. The thresholds are module constants (documented below), so a test
or a user can see exactly when a verdict is given:

``diverged``
    a training loss that is NaN/infinite, or (for positive losses) more than
    :data:`EXPLODE_FACTOR` times the first epoch's training loss (exploding: worse than the
    untrained network; spikes near a tiny minimum do not count). The likely cause is named:
    a learning rate above :data:`HIGH_LEARNING_RATE` for the optimiser, no gradient
    clipping, or unscaled data.
``overfitting``
    the validation loss at the last epoch is above its minimum (epoch *k*, at least
    :data:`OVERFIT_EPOCHS` epochs earlier) by more than :data:`OVERFIT_RISE` of its size, and
    the gap between the validation and the training loss grew since epoch *k* — whatever the
    training loss did: "overfitting from epoch *k* + 1". The size of a loss is the smaller of
    its absolute value and its improvement on the constant model (the validation baseline),
    so a loss with a large offset (a Poisson NLL without its constant, a Gaussian NLL) is
    judged on the part the model can change.
``early_stopped``
    the same curve as ``overfitting``, but early stopping ended training and restored the
    weights of the validation minimum: the model is the one before the overfitting.
``underfitting``
    the best training loss improves on the loss of the best constant model (the mean of the
    target, or the class prior) by less than :data:`UNDERFIT_MARGIN` of the baseline's size.
``saturated``
    a sigmoid/softmax output whose loss is computed on the probabilities (e.g. MSE after a
    sigmoid) has at least :data:`SATURATED_WRONG` of the training samples saturated on the
    wrong class (slope of the activation below 1% of its maximum): their gradient is almost 0,
    so they are not learned. Cross-entropy from logits has no such problem (gradient
    :math:`p - y`).
``still_improving``
    over the last :data:`WINDOW_FRACTION` of the epochs (at least :data:`MIN_WINDOW`), the
    monitored loss (validation if available, else training) fell by more than
    :data:`IMPROVING_REL` of its size and reached its minimum in that window: train longer.
``converged``
    none of the above: the monitored loss changed by less than :data:`IMPROVING_REL` of its
    size over the last window.
``retried``
    training diverged (a NaN or infinite loss or weight) and was rolled back to an earlier
    epoch and continued with a smaller learning rate (:attr:`History.retries`); when it
    diverged again after the last retry, the finding is ``diverged``.

Every finding states the numbers it rests on (epochs, losses, the baseline, rates).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from losskit._validation import fail

__all__ = [
    "EXPLODE_FACTOR",
    "HIGH_LEARNING_RATE",
    "IMPROVING_REL",
    "MIN_WINDOW",
    "OVERFIT_EPOCHS",
    "OVERFIT_RISE",
    "SATURATED_WRONG",
    "UNDERFIT_MARGIN",
    "WINDOW_FRACTION",
    "Diagnosis",
    "Finding",
    "diagnose",
    "diagnose_curves",
]

#: a training loss above this multiple of the first epoch's counts as exploding
EXPLODE_FACTOR = 10.0
#: learning rates above which divergence is blamed on the learning rate first
HIGH_LEARNING_RATE = {"sgd": 0.1, "adam": 0.01, "adamw": 0.01}
#: relative rise of the validation loss above its minimum that counts as overfitting
OVERFIT_RISE = 0.02
#: epochs after the validation minimum needed before calling it overfitting
OVERFIT_EPOCHS = 3
#: relative improvement on the constant-model baseline below which the model underfits
UNDERFIT_MARGIN = 0.01
#: fraction of training samples saturated on the wrong class that is flagged
SATURATED_WRONG = 0.05
#: the last part of training examined for convergence
WINDOW_FRACTION = 0.1
MIN_WINDOW = 3
#: relative decrease over the window that counts as still improving
IMPROVING_REL = 0.01


@dataclass
class Finding:
    """One verdict: ``kind``, a sentence with the numbers, the epoch it refers to."""

    kind: str
    message: str
    epoch: int | None = None
    numbers: dict[str, float] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message


@dataclass
class Diagnosis:
    """The findings, most serious first; ``verdict`` is the first finding's kind."""

    findings: list[Finding]

    @property
    def verdict(self) -> str:
        return self.findings[0].kind

    @property
    def kinds(self) -> list[str]:
        return [f.kind for f in self.findings]

    def __contains__(self, kind: str) -> bool:
        return kind in self.kinds

    def __str__(self) -> str:
        return "\n".join(f"- {f.kind}: {f.message}" for f in self.findings)


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _window(n: int) -> int:
    return max(MIN_WINDOW, math.ceil(WINDOW_FRACTION * n))


def diagnose(history: Any) -> Diagnosis:
    """Diagnose training from its history (see the module docstring for the thresholds).

    Parameters
    ----------
    history : losskit.nn.History
        From :meth:`losskit.nn.Trainer.fit` or an estimator's ``history_``.

    Returns
    -------
    Diagnosis
        ``str(diagnosis)`` is the plain-words report; ``diagnosis.kinds`` the verdicts.

    Examples
    --------
    >>> from losskit.nn import History, diagnose
    >>> rows = [{"epoch": e, "loss": 1 / e, "val_loss": 1 / e + (e > 5) * (e - 5) * 0.1}
    ...         for e in range(1, 13)]
    >>> d = diagnose(History(rows=rows, baseline={"loss": 2.0, "val_loss": 2.0}))
    >>> d.kinds
    ['overfitting']
    >>> print(d.findings[0])  # doctest: +ELLIPSIS
    Overfitting from epoch 6: the validation loss rose from 0.2 (its minimum, epoch 5) ...
    """
    rows = getattr(history, "rows", None)
    if not isinstance(rows, list):
        fail("diagnose", "history", f"is {type(history).__name__}",
             "Pass a losskit.nn.History (Trainer.fit's result or an estimator's history_)",
             TypeError)
    retries = list(getattr(history, "retries", []) or [])
    settings = getattr(history, "settings", {}) or {}
    if getattr(history, "stopped", "") == "diverged" and retries:
        return Diagnosis([_diverged_after_retries(retries, settings)])
    if not rows:
        fail("diagnose", "history", "has no epochs", "Train for at least one epoch")
    loss = [float(r["loss"]) for r in rows]
    epochs = [int(r.get("epoch", i + 1)) for i, r in enumerate(rows)]
    has_val = all("val_loss" in r for r in rows)
    val = [float(r["val_loss"]) for r in rows] if has_val else None
    baseline = getattr(history, "baseline", {}) or {}
    heads = getattr(history, "heads", {}) or {}

    findings: list[Finding] = []
    diverged = _diverged(loss, epochs, settings)
    if diverged is not None:
        return Diagnosis([diverged])
    if val is not None:
        over = _overfitting(loss, val, epochs, baseline.get("val_loss"), history)
        if over is not None:
            findings.append(over)
    under = _underfitting(loss, val, epochs, baseline)
    if under is not None:
        findings.append(under)
    findings += _saturated(rows, heads)
    findings.append(_convergence(loss, val, epochs, baseline, getattr(history, "stopped", "")))
    if any(f.kind in ("overfitting", "underfitting", "early_stopped") for f in findings):
        # "converged" next to over/underfitting would read as an all-clear
        findings = [f for f in findings if f.kind != "converged"]
    if retries:
        findings.append(_retried(retries))
    return Diagnosis(findings)


@dataclass
class _Curves:
    """The part of a :class:`~losskit.nn.History` that :func:`diagnose` reads, for learning
    curves from elsewhere: no baselines, settings, heads or retries."""

    rows: list[dict[str, float]]
    baseline: dict[str, float] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    heads: dict[str, Any] = field(default_factory=dict)
    retries: list[dict] = field(default_factory=list)
    stopped: str = ""


def diagnose_curves(loss: Sequence[float], val_loss: Sequence[float] | None = None, *,
                    epochs: Sequence[int] | None = None) -> Diagnosis:
    """Diagnose plain learning curves (one training, and optionally one validation, loss per
    epoch) with the same findings and thresholds as :func:`diagnose`.

    Without the constant-model baseline (which only losskit's trainer records) there is no
    ``underfitting`` finding and losses are sized by their absolute value; without the
    training settings a divergence names the usual causes.

    Parameters
    ----------
    loss : sequence of float
        The training loss per epoch (NaN or inf where it was not finite).
    val_loss : sequence of float, optional
        The validation loss per epoch, of the same length.
    epochs : sequence of int, optional
        The epoch numbers (default 1, 2, ...), as the log that held them counts.

    Examples
    --------
    >>> from losskit.nn.diagnosis import diagnose_curves
    >>> d = diagnose_curves([1.0, 0.5, 0.3, 0.2, 0.1, 0.05], [1.1, 0.7, 0.6, 0.7, 0.8, 0.9])
    >>> d.kinds
    ['overfitting']
    >>> d.findings[0].epoch
    4
    """
    loss = [float(v) for v in loss]
    epochs = list(range(1, len(loss) + 1)) if epochs is None else [int(e) for e in epochs]
    if len(epochs) != len(loss) or (val_loss is not None and len(val_loss) != len(loss)):
        wrong = "val_loss" if val_loss is not None and len(val_loss) != len(loss) else "epochs"
        fail("diagnose_curves", wrong, "has a different length than loss",
             "Pass one value per epoch in each sequence")
    rows: list[dict[str, float]] = [{"epoch": e, "loss": v}
                                    for e, v in zip(epochs, loss, strict=True)]
    if val_loss is not None:
        for row, v in zip(rows, val_loss, strict=True):
            row["val_loss"] = float(v)
    return diagnose(_Curves(rows))


def _size(best: float, baseline: Any) -> float:
    """The size of a loss for relative thresholds: ``|best|``, or its improvement on the
    constant model when that is smaller (losses with an offset)."""
    size = abs(best)
    if isinstance(baseline, (int, float)) and math.isfinite(baseline) and baseline > best:
        size = min(size, baseline - best)
    return max(size, 1e-12)


def _diverged_after_retries(retries: Sequence[dict], settings: dict) -> Finding:
    last = retries[-1]
    rates = ", ".join(f"{r['learning_rate']:g}" for r in retries)
    return Finding(
        "diverged",
        f"Diverged at epoch {last['epoch']}: the {last['found']} at every learning rate tried "
        f"({rates}, then {last['new_learning_rate']:g}), each time restarted from an "
        f"earlier epoch's finite weights ({len(retries)} retr"
        f"{'y' if len(retries) == 1 else 'ies'}); training stopped. Likely cause: "
        f"{_divergence_cause(settings)}.", last["epoch"],
        {"retries": float(len(retries)), "last_learning_rate": last["new_learning_rate"]})


def _restored(epoch: int) -> str:
    return f"epoch {epoch}" if epoch else "the initial weights"


def _retried(retries: Sequence[dict]) -> Finding:
    parts = [f"the {r['found']} at epoch {r['epoch']} with learning rate "
             f"{r['learning_rate']:g}; restarted from "
             f"{_restored(r['restored_epoch'])} with {r['new_learning_rate']:g}"
             for r in retries]
    return Finding(
        "retried",
        f"Diverged and recovered ({len(retries)} retr{'y' if len(retries) == 1 else 'ies'}): "
        f"{'; '.join(parts)}. Start with a learning rate of at most "
        f"{retries[-1]['new_learning_rate']:g}.", retries[0]["epoch"],
        {"retries": float(len(retries)), "learning_rate": retries[-1]["new_learning_rate"]})


def _diverged(loss: Sequence[float], epochs: Sequence[int], settings: dict) -> Finding | None:
    first = loss[0]
    for i, value in enumerate(loss):
        exploding = math.isfinite(value) and math.isfinite(first) and first > 0 and \
            value > EXPLODE_FACTOR * first
        if not math.isfinite(value) or exploding:
            before = f" (epoch {epochs[i - 1]}: {_fmt(loss[i - 1])})" if i > 0 else ""
            what = (f"the training loss was {value}" if not math.isfinite(value) else
                    f"the training loss jumped to {_fmt(value)}, {value / first:.0f}x its "
                    f"value at epoch {epochs[0]} ({_fmt(first)})")
            return Finding("diverged", f"Diverged at epoch {epochs[i]}: {what}{before}. "
                           f"Likely cause: {_divergence_cause(settings)}.", epochs[i],
                           {"loss": value, "first": first})
    return None


def _divergence_cause(settings: dict) -> str:
    if not settings:  # curves from another framework's log: the usual causes
        return ("a learning rate too high for the optimiser (divide it by 10); or no gradient "
                "clipping; or unscaled inputs or targets (standardise them)")
    opt = settings.get("optimizer", "sgd")
    lr = settings.get("learning_rate")
    causes = []
    if lr is not None and lr > HIGH_LEARNING_RATE.get(opt, 0.1):
        causes.append(f"the learning rate {lr:g} is high for {opt} (above "
                      f"{HIGH_LEARNING_RATE.get(opt, 0.1):g}); divide it by 10")
    if settings.get("clip_grad_norm") is None:
        causes.append("no gradient clipping (set clip_grad_norm, e.g. 1.0)")
    causes.append("unscaled inputs or targets (standardise them)")
    return "; or ".join(causes)


def _overfitting(loss: Sequence[float], val: Sequence[float], epochs: Sequence[int],
                 val_baseline: Any, history: Any) -> Finding | None:
    finite = [(v, i) for i, v in enumerate(val) if math.isfinite(v)]
    if not finite:
        return None
    best, k = min(finite)
    last = len(val) - 1
    if last - k < OVERFIT_EPOCHS:
        return None
    size = _size(best, val_baseline)
    rise = (val[last] - best) / size
    gap_k, gap_last = val[k] - loss[k], val[last] - loss[last]
    if not (rise > OVERFIT_RISE and gap_last > gap_k):
        return None
    how = (f"+{100 * rise:.0f}%" if size == max(abs(best), 1e-12) else
           f"+{_fmt(val[last] - best)}, {100 * rise:.0f}% of its improvement on the constant "
           f"model's {_fmt(val_baseline)}")
    went = "fell" if loss[last] < loss[k] else "went"
    worse = (f" The last validation loss is worse than the constant model's "
             f"({_fmt(val_baseline)})." if isinstance(val_baseline, (int, float)) and
             math.isfinite(val_baseline) and val[last] > val_baseline else "")
    settings = getattr(history, "settings", {}) or {}
    restored = (getattr(history, "stopped", "") == "early_stopping"
                and settings.get("early_stopping") and history.best_epoch == epochs[k])
    curve = (f"the validation loss rose from {_fmt(best)} (its minimum, epoch {epochs[k]}) to "
             f"{_fmt(val[last])} at epoch {epochs[last]} ({how}) while the training loss "
             f"{went} from {_fmt(loss[k])} to {_fmt(loss[last])}; the gap between them grew "
             f"from {_fmt(gap_k)} to {_fmt(gap_last)}.{worse}")
    numbers = {"best_val_loss": best, "final_val_loss": val[last],
               "best_epoch": float(epochs[k]), "gap_at_best": gap_k, "final_gap": gap_last}
    if restored:
        return Finding(
            "early_stopped",
            f"Stopped early at epoch {epochs[last]} with the weights of epoch {epochs[k]}, "
            f"before the overfitting that followed: {curve[0].lower()}{curve[1:]} More data "
            "or regularisation (weight_decay, a smaller network) may lower the validation "
            "loss further.", epochs[k], numbers)
    return Finding(
        "overfitting",
        f"Overfitting from epoch {epochs[k + 1]}: {curve} Use the weights of epoch "
        f"{epochs[k]} (early_stopping=True), more data, or regularisation (weight_decay, a "
        "smaller network).", epochs[k + 1], numbers)


def _underfitting(loss: Sequence[float], val: Sequence[float] | None, epochs: Sequence[int],
                  baseline: dict) -> Finding | None:
    base = baseline.get("loss")
    if base is None or not math.isfinite(base):
        return None
    finite = [(v, i) for i, v in enumerate(loss) if math.isfinite(v)]
    if not finite:
        return None
    best, i = min(finite)
    gain = (base - best) / max(abs(base), 1e-12)
    if gain >= UNDERFIT_MARGIN:
        return None
    return Finding(
        "underfitting",
        f"Underfitting: the best training loss {_fmt(best)} (epoch {epochs[i]}) is no better "
        f"than {_fmt(base)}, the loss of always predicting the mean or the class prior "
        f"({100 * gain:.1f}% better; at least {100 * UNDERFIT_MARGIN:g}% expected). Train "
        "longer or with a larger learning rate, use a larger network, or check that the "
        "features carry information about the target.",
        epochs[i], {"best_loss": best, "baseline": base})


def _saturated(rows: Sequence[dict], heads: dict) -> list[Finding]:
    out = []
    for name, info in heads.items():
        if info.get("on_logits", True) or info.get("activation") not in ("sigmoid", "softmax"):
            continue
        key = f"saturated_wrong/{name}"
        if key not in rows[-1]:
            continue
        wrong = float(rows[-1][key])
        sat = float(rows[-1].get(f"saturation/{name}", math.nan))
        if wrong < SATURATED_WRONG:
            continue
        out.append(Finding(
            "saturated",
            f"Saturated outputs (head {name!r}): at epoch {rows[-1].get('epoch', len(rows))}, "
            f"{100 * sat:.0f}% of the training samples sit on the flat part of the "
            f"{info['activation']} and {100 * wrong:.0f}% are saturated on the wrong class, "
            f"where {info.get('loss')} on the probabilities has almost no gradient. Use "
            "cross-entropy on the logits (the activation inside the loss).",
            rows[-1].get("epoch"), {"saturation": sat, "saturated_wrong": wrong}))
    return out


def _convergence(loss: Sequence[float], val: Sequence[float] | None, epochs: Sequence[int],
                 baseline: dict, stopped: str) -> Finding:
    monitored = val if val is not None else loss
    which = "validation" if val is not None else "training"
    n = len(monitored)
    if n < 2:
        return Finding("still_improving", f"Only {n} epoch: too few to judge convergence; "
                       "train for more epochs.", epochs[-1])
    w = min(_window(n), n - 1)
    start, end = monitored[-w - 1], monitored[-1]
    best_i = min(range(n), key=lambda i: monitored[i])
    base = baseline.get("val_loss" if val is not None else "loss")
    size = min(abs(start), _size(monitored[best_i], base)) if abs(start) > 0 else 1e-12
    drop = (start - end) / max(size, 1e-12)
    early = " (stopped early)" if stopped == "early_stopping" else ""
    last = (f"; at epoch {epochs[-1]} the training loss is {_fmt(loss[-1])} and the "
            f"validation loss {_fmt(val[-1])}" if val is not None else "")
    if drop > IMPROVING_REL and best_i >= n - w:
        return Finding(
            "still_improving",
            f"Still improving: the {which} loss fell {100 * drop:.1f}% over the last {w} "
            f"epochs ({_fmt(start)} at epoch {epochs[-w - 1]} to {_fmt(end)} at epoch "
            f"{epochs[-1]}){last}; train for more epochs.", epochs[-1],
            {"start": start, "end": end, "drop": drop})
    return Finding(
        "converged",
        f"Converged{early}: the {which} loss changed by {100 * abs(drop):.1f}% over the last "
        f"{w} epochs (epoch {epochs[-w - 1]}: {_fmt(start)}, epoch {epochs[-1]}: "
        f"{_fmt(end)}); its minimum {_fmt(monitored[best_i])} was at epoch "
        f"{epochs[best_i]}{last}.", epochs[-1], {"start": start, "end": end, "drop": drop})
