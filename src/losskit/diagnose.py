"""``losskit diagnose LOG``: what the learning curves of any framework's training say.

:func:`read_log` reads the per-epoch training and validation loss from

- Keras' ``CSVLogger`` CSV and losskit's ``history.csv`` (one row per epoch, an ``epoch``
  column; Keras counts epochs from 0, losskit from 1: the findings use the log's numbers);
- PyTorch Lightning's ``CSVLogger`` ``metrics.csv`` (``epoch`` and ``step`` columns, step rows
  and epoch rows mixed): each epoch's value is the mean of the rows of that epoch that hold the
  column (one row for ``on_epoch`` logging; the steps' mean for step-only logging);
- TensorBoard event files (a file, or a folder searched recursively; read with the
  ``tensorboard`` package's own reader): the scalar's step is the epoch, and tags in
  sub-folders are named ``<sub-folder>/<tag>``;
- any other CSV, with the columns named by ``loss=`` and ``val_loss=`` (``--loss COL
  --val-loss COL``).

Without names the training loss is the first of ``loss``, ``train_loss_epoch``,
``train_loss``, ``training_loss``, ``Loss/train``, ``loss/train``, ``train/loss`` present, and
the validation loss the first of ``val_loss``, ``val_loss_epoch``, ``valid_loss``,
``validation_loss``, ``Loss/val``, ``Loss/validation``, ``loss/val``, ``val/loss`` (for
TensorBoard also as the tag of a sub-folder, ``<run>/Loss/train``: the first run in name
order). A cell
that is empty, ``NA`` or ``nan`` is a loss that was not finite (losskit writes non-finite
values as empty cells); a validation column missing at some epoch is not used (with a note).

:func:`diagnose_log` then runs losskit's diagnosis (:func:`losskit.nn.diagnosis.diagnose_curves`:
the same findings and thresholds as for losskit's own training). The command prints the
findings with their numbers, writes ``diagnosis.json`` and ``curves.png`` into ``--out``, and
exits with status 1 when a finding named in ``--fail-on`` is present (for CI pipelines).
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from losskit._validation import did_you_mean, fail
from losskit.nn.diagnosis import Diagnosis, diagnose_curves

__all__ = ["FINDINGS", "LogCurves", "LogDiagnosis", "diagnose_log", "finding_kinds",
           "plot_curves", "read_log"]

TRAIN_NAMES = ("loss", "train_loss_epoch", "train_loss", "training_loss", "Loss/train",
               "loss/train", "train/loss")
VAL_NAMES = ("val_loss", "val_loss_epoch", "valid_loss", "validation_loss", "Loss/val",
             "Loss/validation", "loss/val", "val/loss")
#: the finding kinds ``--fail-on`` takes (``divergence`` is another name for ``diverged``)
FINDINGS = ("diverged", "overfitting", "underfitting", "early_stopped", "saturated",
            "still_improving", "converged")
_ALIASES = {"divergence": "diverged", "overfit": "overfitting"}
_MISSING = ("", "na", "nan", "none", "null")


@dataclass
class LogCurves:
    """Learning curves read from a log: one value per epoch."""

    source: str
    format: str
    epochs: list[int]
    loss: list[float]
    loss_name: str
    val_loss: list[float] | None = None
    val_loss_name: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class LogDiagnosis:
    """The curves of a log and what they say (``str()`` is the printed report)."""

    curves: LogCurves
    diagnosis: Diagnosis

    @property
    def kinds(self) -> list[str]:
        return self.diagnosis.kinds

    def to_dict(self) -> dict[str, Any]:
        c = self.curves
        return {"source": c.source, "format": c.format, "loss_column": c.loss_name,
                "val_loss_column": c.val_loss_name, "epochs": len(c.epochs),
                "verdict": self.diagnosis.verdict, "notes": c.notes,
                "findings": [{"kind": f.kind, "message": f.message, "epoch": f.epoch,
                              "numbers": f.numbers} for f in self.diagnosis.findings],
                "curves": {"epoch": c.epochs, "loss": c.loss, "val_loss": c.val_loss}}

    def __str__(self) -> str:
        c = self.curves
        val = f", validation {c.val_loss_name!r}" if c.val_loss_name else ", no validation loss"
        head = (f"{c.source}: {c.format}, {len(c.epochs)} epochs ({c.epochs[0]}-"
                f"{c.epochs[-1]}), training loss {c.loss_name!r}{val}")
        notes = "".join(f"\nnote: {n}" for n in c.notes)
        return f"{head}{notes}\n{self.diagnosis}"


def _number(text: Any) -> float:
    """A cell as a float; missing or unreadable cells are NaN (a loss that was not finite)."""
    if text is None or str(text).strip().lower() in _MISSING:
        return math.nan
    try:
        return float(text)
    except ValueError:
        return math.nan


def _pick(names: Sequence[str], wanted: str | None, candidates: Sequence[str], path: str,
          option: str) -> str | None:
    if wanted is not None:
        if wanted not in names:
            hint = did_you_mean(wanted, names)
            fail("diagnose", option, f"names {wanted!r}, which {path} does not have "
                 f"(it has {', '.join(map(repr, names))})",
                 f"{hint + ' ' if hint else ''}Pass one of its columns")
        return wanted
    for candidate in candidates:  # exact, then a tag of a sub-folder (TensorBoard runs)
        found = [n for n in names if n == candidate] or \
            [n for n in names if n.endswith("/" + candidate)]
        if found:
            return found[0]
    return None


def _pick_losses(names: Sequence[str], loss: str | None, val_loss: str | None, path: str,
                 words: tuple[str, str, str]) -> tuple[str, str | None]:
    """The training-loss and validation-loss names (``--loss``/``--val-loss`` or the usual
    ones); no training loss is an error. ``words``: what a name is, what the list of them is
    called and its placeholder (``("column", "columns", "COLUMN")``)."""
    train = _pick(names, loss, TRAIN_NAMES, path, "--loss")
    val = _pick(names, val_loss, VAL_NAMES, path, "--val-loss")
    if train is None:
        kind, listed, placeholder = words
        fail("diagnose", "LOG", f"{path!r} has no training-loss {kind} ({listed}: "
             f"{', '.join(map(repr, names))})", f"Name it with --loss {placeholder} (and the "
             f"validation loss with --val-loss {placeholder})")
    return train, val


def _by_epoch(rows: list[dict[str, str]], column: str) -> tuple[list[int], list[float]]:
    """The mean of ``column`` over the rows of each epoch that hold it (Lightning mixes step
    and epoch rows); NaN in a row makes its epoch NaN."""
    sums: dict[int, list[float]] = {}
    for row in rows:
        cell = row.get(column)
        if cell is None or str(cell).strip() == "":
            continue  # a row of another kind (a step row without this column)
        epoch = int(float(row["epoch"]))
        sums.setdefault(epoch, []).append(_number(cell))
    epochs = sorted(sums)
    return epochs, [math.fsum(sums[e]) / len(sums[e]) for e in epochs]


def _read_csv(path: str, loss: str | None, val_loss: str | None) -> LogCurves:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        names = list(reader.fieldnames or [])
        rows = list(reader)
    if not rows:
        fail("diagnose", "LOG", f"{path!r} has no rows", "Pass a log with one row per epoch")
    train, val = _pick_losses(names, loss, val_loss, path, ("column", "columns", "COLUMN"))
    notes: list[str] = []
    if "epoch" in names and "step" in names:
        kind = "Lightning metrics.csv"
        epochs, values = _by_epoch(rows, train)
        val_values = None
        if val is not None:
            val_epochs, val_values = _by_epoch(rows, val)
            if val_epochs != epochs:
                notes.append(f"{val!r} is not logged at every epoch of {train!r}: not used")
                val, val_values = None, None
    else:
        kind = "per-epoch CSV (Keras CSVLogger, losskit history.csv)" if "epoch" in names \
            else "CSV"
        epochs = [int(float(r["epoch"])) for r in rows] if "epoch" in names else \
            list(range(1, len(rows) + 1))
        values = [_number(r.get(train)) for r in rows]
        val_values = [_number(r.get(val)) for r in rows] if val is not None else None
        if val_values is not None and all(math.isnan(v) for v in val_values):
            notes.append(f"{val!r} is empty: not used")
            val, val_values = None, None
        elif val_values is not None and any(math.isnan(v) for v in val_values):
            notes.append(f"{val!r} is missing or NaN at some epochs: not used")
            val, val_values = None, None
    if not epochs:
        fail("diagnose", "LOG", f"{path!r} has no values in {train!r}",
             "Pass a log with at least one epoch")
    return LogCurves(path, kind, epochs, values, train, val_values, val, notes)


def _event_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and "tfevents" in p.name)


def _read_tensorboard(path: Path, loss: str | None, val_loss: str | None) -> LogCurves:
    try:
        from tensorboard.backend.event_processing.event_accumulator import (
            SCALARS,
            EventAccumulator,
        )
    except ImportError:
        fail("diagnose", "LOG", f"{str(path)!r} holds TensorBoard event files, which need the "
             "tensorboard package", "Install it (pip install tensorboard)")
    series: dict[str, dict[int, float]] = {}
    root = path if path.is_dir() else path.parent
    for file in _event_files(path):
        accumulator = EventAccumulator(str(file), size_guidance={SCALARS: 0})
        accumulator.Reload()
        folder = file.parent.relative_to(root).as_posix()
        for tag in accumulator.Tags().get("scalars", []):
            name = tag if folder == "." else f"{folder}/{tag}"
            for event in accumulator.Scalars(tag):
                series.setdefault(name, {})[int(event.step)] = float(event.value)
    names = sorted(series)
    if not names:
        fail("diagnose", "LOG", f"{str(path)!r} has no scalars in TensorBoard event files",
             "Log the loss with SummaryWriter.add_scalar(tag, value, epoch)")
    train, val = _pick_losses(names, loss, val_loss, str(path), ("scalar", "tags", "TAG"))
    epochs = sorted(series[train])
    notes = []
    val_values = None
    if val is not None:
        if sorted(series[val]) == epochs:
            val_values = [series[val][e] for e in epochs]
        else:
            notes.append(f"{val!r} is not logged at every step of {train!r}: not used")
            val = None
    return LogCurves(str(path), "TensorBoard events", epochs,
                     [series[train][e] for e in epochs], train, val_values, val, notes)


def read_log(path: str | os.PathLike, *, loss: str | None = None,
             val_loss: str | None = None) -> LogCurves:
    """Read the per-epoch training (and validation) loss of a training log.

    Parameters
    ----------
    path : path-like
        A CSV log (Keras ``CSVLogger``, Lightning ``metrics.csv``, losskit ``history.csv``, any
        CSV) or TensorBoard event files (a file or a folder).
    loss, val_loss : str, optional
        The column (or TensorBoard tag) of the training and validation loss; by default the
        usual names (see the module docstring).

    Returns
    -------
    LogCurves
    """
    p = Path(path)
    if not p.exists():
        fail("diagnose", "LOG", f"{str(path)!r} does not exist", "Pass the path of a log file")
    if p.is_dir() or "tfevents" in p.name:
        return _read_tensorboard(p, loss, val_loss)
    return _read_csv(str(p), loss, val_loss)


def diagnose_log(path: str | os.PathLike, *, loss: str | None = None,
                 val_loss: str | None = None) -> LogDiagnosis:
    """Diagnose training from its log: converged, still improving, overfitting from epoch
    *k*, diverged (see :mod:`losskit.nn.diagnosis` for the thresholds).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> log = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
    >>> rows = [f"{e},{1 / (e + 1):.4f},{1 / (e + 1) + max(0, e - 4) * 0.1:.4f}"
    ...         for e in range(12)]
    >>> _ = log.write_text("epoch,loss,val_loss\\n" + "\\n".join(rows) + "\\n")
    >>> import losskit as lk
    >>> result = lk.diagnose_log(log)
    >>> result.kinds, result.diagnosis.findings[0].epoch
    (['overfitting'], 5)
    """
    curves = read_log(path, loss=loss, val_loss=val_loss)
    return LogDiagnosis(curves, diagnose_curves(curves.loss, curves.val_loss,
                                                epochs=curves.epochs))


def plot_curves(result: LogDiagnosis, path: str | os.PathLike) -> Path:
    """Draw the curves (non-finite values left out) and each finding's epoch into the PNG file
    ``path`` (written atomically; needs matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from losskit._io import atomic_write

    c = result.curves
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    for values, label, style in ((c.loss, "training", "-"), (c.val_loss, "validation", "--")):
        if values is None:
            continue
        points = [(e, v) for e, v in zip(c.epochs, values, strict=True) if math.isfinite(v)]
        if points:
            ax.plot(*zip(*points, strict=True), style, marker="o", markersize=3, label=label)
    finite = [v for v in [*c.loss, *(c.val_loss or [])] if math.isfinite(v)]
    if finite and min(finite) > 0 and max(finite) / min(finite) > 100:
        ax.set_yscale("log")
    for finding in result.diagnosis.findings:
        if finding.epoch is not None and finding.kind != "converged":
            ax.axvline(finding.epoch, color="red", alpha=0.4, linestyle=":")
            ax.annotate(finding.kind, (finding.epoch, 1.0), xycoords=("data", "axes fraction"),
                        rotation=90, va="top", ha="right", fontsize=8, color="red")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"loss ({c.loss_name})")
    ax.set_title(Path(c.source).name)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)
    return path


def finding_kinds(text: str, *, argument: str = "kinds") -> list[str]:
    """The finding kinds in a comma-separated list (``divergence`` is ``diverged``).

    >>> finding_kinds("divergence,overfitting")
    ['diverged', 'overfitting']
    """
    kinds = []
    for word in (w.strip() for w in text.split(",") if w.strip()):
        kind = _ALIASES.get(word, word)
        if kind not in FINDINGS:
            fail("diagnose", argument, f"names {word!r}",
                 f"Pass a comma-separated list of {', '.join(FINDINGS)} (or divergence)")
        kinds.append(kind)
    return kinds
