"""``losskit fit | predict | evaluate``: train an MLP on a table, use a saved one.

Registered with :mod:`losskit.cli`; every step is an API call (reading the table, advising the
loss, :class:`~losskit.nn.MLPClassifier` / :class:`~losskit.nn.MLPRegressor`, ``evaluate``,
:func:`~losskit.nn.diagnose`, :mod:`losskit.nn.report`).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from losskit._commands import command
from losskit._validation import fail
from losskit.nn._tabular import TabularEncoder

__all__ = ["fit_table"]

_TEST_FRACTION = 0.2


def _classification_names() -> set[str]:
    from losskit.nn._heads import LOSS_HEADS

    return {"cross_entropy", "log_loss", "categorical_cross_entropy",
            *(k for k, v in LOSS_HEADS.items() if v.task == "classification")}


def _need_torch(command_name: str) -> None:
    """A clear error (exit status 2) instead of a traceback when the extra is missing."""
    try:
        import sklearn  # noqa: F401
        import torch  # noqa: F401
    except ImportError as error:
        fail(command_name, "extra 'torch'", f"is not installed ({error.name} is missing)",
             "Install it: pip install 'losskit[torch]'")


def _fit_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", help="CSV or Parquet file")
    parser.add_argument("--target", required=True, help="the column to predict")
    parser.add_argument("--loss", help="loss name (default: advised from the target)")
    parser.add_argument("--task", choices=("classification", "regression"),
                        help="needed only for a loss that fits both (mean_squared_error)")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hidden", default="64", help="hidden layer sizes, e.g. 64,32")
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--optimizer", default="sgd", choices=("sgd", "adam", "adamw"))
    parser.add_argument("--early-stopping", action="store_true")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run from DIR's checkpoint")
    parser.add_argument("--out", required=True, help="output folder")


def _task_and_loss(y: Any, loss: str | None, task: str | None) -> tuple[str, str, str]:
    """(task, loss, why) from the advice or from ``--loss``."""
    from losskit.advise import advise
    from losskit.nn._heads import ALIASES, LOSS_HEADS

    advice = None
    if loss is None or task is None:
        try:
            advice = advise(np.asarray(y))
        except (ValueError, TypeError):
            advice = None
    if loss is None:
        if advice is None:
            fail("fit_table", "target", "could not be matched to a loss by losskit.advise",
                 "Pass --loss")
        loss = advice.loss
        why = f"Advised for this target: {advice.rationale}"
        task = task or ("classification" if advice.task in ("binary", "multiclass")
                        else "regression")
        if advice.task not in ("binary", "multiclass", "regression", "count", "positive"):
            task = task or "regression"
    else:
        known = sorted({*LOSS_HEADS, *ALIASES, "cross_entropy"})
        if loss not in known:
            fail("fit_table", "--loss", f"is {loss!r}, which losskit.nn does not know",
                 f"Pass one of {', '.join(known)}")
        why = f"Chosen with --loss {loss}."
        if advice is not None:
            why += f" (The advice for this target was {advice.loss}: {advice.rationale})"
    if task is None:
        task = "classification" if loss in _classification_names() else "regression"
    if task == "regression" and advice is not None and advice.task in ("binary", "multiclass") \
            and loss in _classification_names():
        task = "classification"
    return task, loss, why


def fit_table(data: str | Path, target: str, out: str | Path, *, loss: str | None = None,
              task: str | None = None, epochs: int = 100, seed: int = 0,
              hidden: tuple[int, ...] = (64,), learning_rate: float = 0.01,
              batch_size: int = 32, optimizer: str = "sgd", early_stopping: bool = False,
              resume: bool = False, verbose: Any = "auto") -> dict[str, Any]:
    """Train on a table and write the model, history, metrics, figures and report to ``out``.

    Numeric features are standardised and the others one-hot encoded (fitted on the training
    rows); 20% of the rows (seeded) are the test set and 10% of the rest the validation set.
    Returns the ``metrics.json`` content.
    """
    from losskit._io import atomic_write
    from losskit.datasets import read_table, split_target
    from losskit.nn._heads import loss_spec
    from losskit.nn.estimators import MLPClassifier, MLPRegressor
    from losskit.nn.report import curve_figures, write_report

    X_df, y_ser = split_target(read_table(data), target)
    y = y_ser.to_numpy()
    task, loss, why = _task_and_loss(y, loss, task)
    if task == "regression" and not (np.issubdtype(y.dtype, np.number)
                                     and not np.issubdtype(y.dtype, np.bool_)):
        fail("fit_table", "target", f"{target!r} holds non-numeric values ({y[0]!r}, ...) but "
             f"the loss {loss} is a regression loss", "Pass a classification loss (--loss "
             "cross_entropy) or a numeric target")
    loss_spec("losskit fit", loss, task, n_classes=len(np.unique(y))
              if task == "classification" else None)  # a clear error before any work
    n = len(y)
    perm = np.random.RandomState(seed).permutation(n)
    n_test = round(_TEST_FRACTION * n) if n >= 10 else 0
    test_idx, train_idx = np.sort(perm[:n_test]), np.sort(perm[n_test:])
    encoder = TabularEncoder().fit(X_df.iloc[train_idx])
    X = encoder.transform(X_df)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cls = MLPClassifier if task == "classification" else MLPRegressor
    est = cls(loss, hidden_layer_sizes=tuple(hidden), epochs=epochs, random_state=seed,
              learning_rate=learning_rate, batch_size=batch_size, optimizer=optimizer,
              early_stopping=early_stopping, verbose=verbose,
              checkpoint_dir=out / "checkpoint")
    y_fit = y if task == "classification" else y.astype(np.float32)
    est.fit(X[train_idx], y_fit[train_idx], resume=resume)

    # the model and its preprocessing (JSON, no pickle)
    est.save(out)
    config = json.loads((out / "config.json").read_text())
    config["preprocessing"] = encoder.to_dict()
    config["target"] = str(target)
    config["task"] = task
    config["why"] = why
    text = json.dumps(config, indent=2)
    atomic_write(out / "config.json", lambda tmp: Path(tmp).write_text(text))

    history = est.history_
    keys = history.keys()

    def write_history(tmp: str) -> None:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=keys)
            writer.writeheader()
            for row in history.rows:
                writer.writerow(row)

    atomic_write(out / "history.csv", write_history)
    fit_rows, val_rows = est._split
    metrics: dict[str, dict[str, float]] = {
        "train": est.evaluate(X[train_idx][fit_rows], y_fit[train_idx][fit_rows])}
    if val_rows is not None:
        metrics["validation"] = est.evaluate(X[train_idx][val_rows], y_fit[train_idx][val_rows])
    if n_test:
        metrics["test"] = est.evaluate(X[test_idx], y_fit[test_idx])
    result = {"task": task, "loss": est.loss_, "epochs": len(history),
              "stopped": history.stopped, "best_epoch": history.best_epoch,
              "diagnosis": est.diagnose().kinds, **metrics}
    text = json.dumps(result, indent=2)
    atomic_write(out / "metrics.json", lambda tmp: Path(tmp).write_text(text))
    figures = curve_figures(history, out)
    head = est.model_.head_specs["output"]
    hidden_text = ", ".join(str(h) for h in est.model_.hidden_layer_sizes) or "none"
    model_text = (f"{task.capitalize()} MLP: {X.shape[1]} inputs ({len(encoder.columns)} "
                  f"columns, numeric standardised, categorical one-hot), hidden layers "
                  f"({hidden_text}) with {est.activation}, output layer of "
                  f"{head.describe()}; optimiser {optimizer}, learning rate {learning_rate}, "
                  f"batch size {batch_size}.")
    write_report(out / "report.html", title=f"losskit fit: {Path(data).name} → {target}",
                 history=history, figures=figures, metrics=metrics, model_text=model_text,
                 why=why, diagnosis=est.diagnose())
    return result


@command("fit", "train an MLP on a table and write the model, metrics and report",
         _fit_arguments)
def _fit(args: argparse.Namespace) -> int:
    _need_torch("fit")
    try:
        hidden = tuple(int(h) for h in args.hidden.split(",") if h.strip())
    except ValueError:
        fail("fit", "--hidden", f"is {args.hidden!r}", "Pass layer sizes like 64,32")
    result = fit_table(args.data, args.target, args.out, loss=args.loss, task=args.task,
                       epochs=args.epochs, seed=args.seed, hidden=hidden,
                       learning_rate=args.learning_rate, batch_size=args.batch_size,
                       optimizer=args.optimizer, early_stopping=args.early_stopping,
                       resume=args.resume)
    print(json.dumps(result, indent=2))
    return 0


def _load(folder: str | Path) -> tuple[Any, TabularEncoder, dict[str, Any]]:
    from losskit.nn.estimators import MLPClassifier, MLPRegressor

    folder = Path(folder)
    path = folder / "config.json"
    if not path.exists():
        fail("load", "DIR", f"{str(folder)!r} has no config.json",
             "Pass a folder written by losskit fit")
    config = json.loads(path.read_text())
    if "preprocessing" not in config:
        fail("load", "DIR", f"{str(folder)!r} was not written by losskit fit (no "
             "preprocessing in config.json)", "Pass a folder written by losskit fit")
    cls = MLPClassifier if config["estimator"] == "MLPClassifier" else MLPRegressor
    return cls.load(folder), TabularEncoder.from_dict(config["preprocessing"]), config


def _use_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", help="folder written by losskit fit")
    parser.add_argument("data", help="CSV or Parquet file")
    parser.add_argument("--out", help="write here instead of standard output")


@command("predict", "predict with a model saved by losskit fit (CSV out)", _use_arguments)
def _predict(args: argparse.Namespace) -> int:
    _need_torch("predict")
    from losskit._io import atomic_write
    from losskit.datasets import read_table
    from losskit.nn.estimators import MLPClassifier

    est, encoder, config = _load(args.dir)
    table = read_table(args.data)
    if config["target"] in table.columns:
        table = table.drop(columns=[config["target"]])
    X = encoder.transform(table)
    columns: dict[str, Any] = {"prediction": est.predict(X)}
    if isinstance(est, MLPClassifier):
        proba = est.predict_proba(X)
        for j, label in enumerate(est.classes_):
            columns[f"probability_{label}"] = proba[:, j]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(list(columns))
    for row in zip(*columns.values(), strict=True):
        writer.writerow([v.item() if isinstance(v, np.generic) else v for v in row])
    if args.out:
        atomic_write(Path(args.out), lambda tmp: Path(tmp).write_text(buffer.getvalue()))
    else:
        sys.stdout.write(buffer.getvalue())
    return 0


@command("evaluate", "loss and metrics of a model saved by losskit fit on a table (JSON)",
         _use_arguments)
def _evaluate(args: argparse.Namespace) -> int:
    _need_torch("evaluate")
    from losskit._io import atomic_write
    from losskit.datasets import read_table, split_target
    from losskit.nn.estimators import MLPRegressor

    est, encoder, config = _load(args.dir)
    X_df, y = split_target(read_table(args.data), config["target"])
    y = y.to_numpy()
    if isinstance(est, MLPRegressor):
        y = y.astype(np.float32)
    result = est.evaluate(encoder.transform(X_df), y)
    text = json.dumps(result, indent=2)
    if args.out:
        atomic_write(Path(args.out), lambda tmp: Path(tmp).write_text(text))
    else:
        print(text)
    return 0
