"""``losskit fit | predict | evaluate``: train an MLP on a table, use a saved one.

Registered with :mod:`losskit.cli`; every step is an API call (reading the table, advising the
loss, :class:`~losskit.nn.MLPClassifier` / :class:`~losskit.nn.MLPRegressor`, ``evaluate``,
:func:`~losskit.nn.diagnose`, :mod:`losskit.nn.report`). What this module adds is care with
the user's files: the output folder is checked before any work and written as a unit (a
sibling folder renamed over it), a model folder is validated before it is loaded
(:mod:`losskit.nn._modelfile`), JSON is strict, and CSV cells cannot run as spreadsheet
formulas.
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from losskit._commands import command
from losskit._validation import fail
from losskit.nn._tabular import TabularEncoder

__all__ = ["FIT_DEFAULTS", "csv_cell", "fit_table"]

#: ``losskit fit``'s defaults (the options left out take these; ``--resume`` takes the run's)
FIT_DEFAULTS: dict[str, Any] = {
    "epochs": 200, "seed": 0, "hidden": (64,), "learning_rate": 0.001, "batch_size": 32,
    "optimizer": "adam", "early_stopping": True, "test_size": 0.0, "drop": (), "loss": None,
    "task": None}
#: the files (and the checkpoint folder) ``losskit fit`` writes into ``--out``
MODEL_ENTRIES = frozenset({"config.json", "model.safetensors", "history.csv", "metrics.json",
                           "report.html", "loss.png", "metric.png", "checkpoint"})
_RUN_FILE = "run.json"
#: a text column with more distinct values than this (and than half the rows) is warned about
_MANY_CATEGORIES = 50
#: fraction of the available memory a fit may plan to use
_MEMORY_SHARE = 0.5
#: option name on the command line for each setting
_FLAGS = {"epochs": "--epochs", "seed": "--seed", "hidden": "--hidden",
          "learning_rate": "--learning-rate", "batch_size": "--batch-size",
          "optimizer": "--optimizer", "early_stopping": "--early-stopping",
          "test_size": "--test-size", "drop": "--drop", "loss": "--loss", "task": "--task"}


def _classification_names() -> set[str]:
    from losskit.nn._heads import LOSS_HEADS

    return {"cross_entropy", "log_loss", "categorical_cross_entropy",
            *(k for k, v in LOSS_HEADS.items() if v.task == "classification")}


def _need_torch(command_name: str, *, scikit_learn: bool = True, torch: bool = True) -> None:
    """A clear error (exit status 2) instead of a traceback when the extra is missing
    (``scikit_learn=False``, ``torch=False``: a command that does not use them, which are not
    imported: ``predict`` and ``evaluate`` need safetensors only)."""
    try:
        import safetensors  # noqa: F401

        if scikit_learn:
            import sklearn  # noqa: F401
        if torch:
            import torch as _  # noqa: F401
    except ImportError as error:
        fail(command_name, "extra 'torch'", f"is not installed ({error.name} is missing)",
             "Install it: pip install 'losskit[torch]'")


def warn(command_name: str, text: str) -> None:
    """A warning for the user on standard error (never mixed into the JSON on stdout)."""
    print(f"losskit {command_name}: warning: {text}", file=sys.stderr)


# ------------------------------------------------------------------------------ arguments


def _fit_arguments(parser: argparse.ArgumentParser) -> None:
    d = FIT_DEFAULTS
    parser.add_argument("data", metavar="DATA", help="CSV or Parquet file")
    parser.add_argument("--target", required=True, metavar="COL", help="the column to predict")
    parser.add_argument("--loss", metavar="NAME",
                        help="loss name (default: advised from the target)")
    parser.add_argument("--task", choices=("classification", "regression"),
                        help="needed only for a loss that fits both (mean_squared_error); "
                             "default: from the target")
    parser.add_argument("--epochs", type=int, metavar="N",
                        help=f"most epochs (default: {d['epochs']})")
    parser.add_argument("--seed", type=int, metavar="S", help=f"random seed (default: {d['seed']})")
    parser.add_argument("--hidden", metavar="SIZES", help="hidden layer sizes, e.g. 64,32 "
                        f"(default: {','.join(map(str, d['hidden']))})")
    parser.add_argument("--learning-rate", type=float, metavar="LR",
                        help=f"step size (default: {d['learning_rate']})")
    parser.add_argument("--batch-size", type=int, metavar="B", help=f"rows per step (default: "
                        f"{d['batch_size']})")
    parser.add_argument("--optimizer", choices=("sgd", "adam", "adamw"),
                        help=f"optimiser (default: {d['optimizer']})")
    parser.add_argument("--early-stopping", action=argparse.BooleanOptionalAction,
                        help="stop when the validation loss stops improving and keep the best "
                             "weights (default: on; --no-early-stopping runs every epoch)")
    parser.add_argument("--test-size", type=float, metavar="F",
                        help="fraction of the rows held out as a test set, scored once at the "
                             "end (default: 0, none); 10%% of the other rows are the "
                             "validation set")
    parser.add_argument("--drop", metavar="COL[,COL]", help="columns to leave out, "
                        "comma-separated (IDs, free text); default: none")
    resume_or_force = parser.add_mutually_exclusive_group()  # continue DIR, or replace it
    resume_or_force.add_argument("--resume", action="store_true",
                                 help="continue the interrupted run in DIR from its checkpoint, "
                                      "with its settings (--epochs may be raised)")
    resume_or_force.add_argument("--force", action="store_true",
                                 help="replace DIR even if it holds other files or another "
                                      "run's model (everything in it is deleted)")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="output folder (new, empty, or this run's model folder)")


# ------------------------------------------------------------------------------ settings


def _parse_hidden(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(h) for h in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or any(s < 1 for s in sizes):
        fail("fit", "--hidden", f"is {text!r}", "Pass positive layer sizes like 64,32")
    return sizes


def _explicit_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line (None: left out)."""
    given = {k: getattr(args, k, None) for k in FIT_DEFAULTS}
    if given["hidden"] is not None:
        given["hidden"] = _parse_hidden(given["hidden"])
    if given["drop"] is not None:
        given["drop"] = tuple(c.strip() for c in given["drop"].split(",") if c.strip())
    return {k: v for k, v in given.items() if v is not None}


def _check_settings(s: dict[str, Any]) -> None:
    if s["epochs"] < 1:
        fail("fit", "--epochs", f"is {s['epochs']}", "Pass at least 1")
    if s["batch_size"] < 1:
        fail("fit", "--batch-size", f"is {s['batch_size']}", "Pass at least 1")
    if not (np.isfinite(s["learning_rate"]) and s["learning_rate"] > 0):
        fail("fit", "--learning-rate", f"is {s['learning_rate']}", "Pass a positive number, "
             "e.g. 0.001")
    if not (np.isfinite(s["test_size"]) and 0 <= s["test_size"] < 1):
        fail("fit", "--test-size", f"is {s['test_size']}", "Pass a fraction in [0, 1), e.g. "
             "0.2")
    if not 0 <= s["seed"] < 2**32:
        fail("fit", "--seed", f"is {s['seed']}", "Pass an integer in [0, 2**32)")


def _run_record(s: dict[str, Any], data: str | Path, target: str) -> dict[str, Any]:
    return {"data": str(Path(data).resolve()), "target": str(target),
            **{k: list(v) if isinstance(v, tuple) else v for k, v in s.items()}}


def _read_run(out: Path) -> dict[str, Any] | None:
    """The settings of the run in ``out`` (its checkpoint's ``run.json``), if readable."""
    from losskit.nn._modelfile import read_regular_file

    path = out / "checkpoint" / _RUN_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(read_regular_file("fit", "--out", path, limit=2**20))
    except (ValueError, UnicodeDecodeError):
        return None
    return record if isinstance(record, dict) else None


def _resume_settings(out: Path, given: dict[str, Any], data: str | Path, target: str
                     ) -> dict[str, Any] | None:
    """The settings to continue the run in ``out`` with (None: nothing to resume).

    Left-out options take the run's values; an option given with another value is refused
    (training could not honour it), except ``--epochs``, which sets the new end."""
    from losskit.nn._modelfile import safetensors_header
    from losskit.nn.trainer import CHECKPOINT_NAME

    ckpt = out / "checkpoint" / CHECKPOINT_NAME
    if not os.path.lexists(ckpt):
        warn("fit", f"--resume: {str(out)!r} has no checkpoint; starting a new run")
        return None
    try:
        _tensors, _ = safetensors_header("fit", "--resume", ckpt)
    except ValueError as error:
        fail("fit", "--resume", f"cannot use {str(ckpt)!r}: "
             f"{str(error).split(': ', 1)[1].removeprefix('--resume ')}".rstrip("."),
             f"Delete {str(out / 'checkpoint')!r} to start over, or run without --resume")
    record = _read_run(out)
    if record is None:  # a checkpoint written by the library or an older version
        from safetensors import safe_open

        with safe_open(str(ckpt), framework="pt") as fh:
            meta = json.loads((fh.metadata() or {}).get("losskit", "{}"))
        settings = meta.get("history", {}).get("settings", {})
        record = {k: settings[k] for k in ("optimizer", "learning_rate", "early_stopping",
                                           "epochs") if k in settings}
        if "hidden_layer_sizes" in meta.get("model", {}):
            record["hidden"] = meta["model"]["hidden_layer_sizes"]
    if "target" in record and record["target"] != target:
        fail("fit", "--target", f"is {target!r} but the run in {str(out)!r} predicts "
             f"{record['target']!r}", "Resume with the same --target, or start a new run "
             "with another --out")
    if "data" in record and record["data"] != str(Path(data).resolve()):
        fail("fit", "DATA", f"is {str(data)!r} but the run in {str(out)!r} was trained on "
             f"{record['data']!r}", "Resume with the same data, or start a new run with "
             "another --out")
    settings = dict(FIT_DEFAULTS)
    changed = []
    for key in FIT_DEFAULTS:
        saved = record.get(key, FIT_DEFAULTS[key])
        saved = tuple(saved) if isinstance(saved, list) else saved
        if key in given and given[key] != saved and key != "epochs":
            changed.append(f"{_FLAGS[key]} is {_show(given[key])} (the run used "
                           f"{_show(saved)})")
        settings[key] = given.get(key, saved) if key == "epochs" else saved
    if "epochs" in given and isinstance(record.get("epochs"), int) \
            and given["epochs"] < record["epochs"]:
        changed.append(f"--epochs is {given['epochs']} (the run was set to "
                       f"{record['epochs']}; --resume can only raise it)")
    if changed:
        fail("fit", "--resume", "cannot change the settings of the run it continues: "
             + "; ".join(changed), "Leave those options out to continue with the run's "
             "settings, or start a new run without --resume (or with another --out)")
    return settings


def _show(value: Any) -> str:
    if value is None:
        return "the default"
    if isinstance(value, tuple):
        return ",".join(map(str, value)) or "none"
    return str(value)


# ------------------------------------------------------------------------------ the folder


def _is_fit_folder(out: Path) -> bool:
    return all(p.name in MODEL_ENTRIES for p in out.iterdir())


def _check_out(out: Path, data: str | Path, target: str, *, force: bool, resume: bool
               ) -> None:
    """Refuse an ``--out`` that is not new, empty, or this run's losskit folder."""
    if out.is_symlink():
        fail("fit", "--out", f"{str(out)!r} is a symbolic link (the model folder replaces it "
             "as a unit)", f"Pass the folder itself: {str(out.resolve())!r}")
    resolved = out.resolve()
    here = Path.cwd().resolve()
    data_path = Path(data).resolve()
    if resolved == Path(resolved.anchor) or resolved == Path.home().resolve() or \
            resolved == here or resolved in here.parents or resolved in data_path.parents:
        fail("fit", "--out", f"is {str(out)!r}, which holds "
             + ("the data file" if resolved in data_path.parents else
                "the current folder" if resolved == here or resolved in here.parents else
                "your files"), "Pass a new folder for the model, e.g. --out model")
    if not out.exists():
        return
    entries = sorted(p.name for p in out.iterdir())
    if not entries:
        return
    if not _is_fit_folder(out):
        if force:
            return
        shown = ", ".join(map(repr, entries[:5])) + (" ..." if len(entries) > 5 else "")
        fail("fit", "--out", f"{str(out)!r} is a folder with other files ({shown})",
             "Pass a new or empty folder, or add --force to replace it and everything in it")
    record = _read_run(out)
    if record is None and (out / "config.json").is_file():
        try:
            config = json.loads((out / "config.json").read_bytes()[:64 * 2**20])
            record = {"target": config.get("target"), "data": config.get("data")}
        except (ValueError, AttributeError):
            record = None
    same = record is not None and record.get("target") == str(target) and record.get(
        "data") in (None, str(Path(data).resolve()))
    if not same and not force and not resume:
        what = (f"the model of another run (target {record.get('target')!r}"
                f"{', data ' + repr(record['data']) if record.get('data') else ''})"
                if record else "a losskit folder of another run")
        fail("fit", "--out", f"{str(out)!r} holds {what}",
             "Pass another --out, or add --force to replace it")


def _available_memory() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 2**63


def _check_memory(n_rows: int, n_inputs: int, hidden: tuple[int, ...], n_outputs: int,
                  batch_size: int, itemsize: int = 4) -> None:
    """Refuse a fit whose inputs and network would not fit in memory (before allocating)."""
    sizes = (n_inputs, *hidden, n_outputs)
    n_params = sum((a + 1) * b for a, b in itertools.pairwise(sizes))
    # weights, gradients, two optimiser moments, best-weights copy; inputs; activations
    # a batch holds at most every row (a larger --batch-size takes them all)
    need = itemsize * (5 * n_params + n_rows * n_inputs
                       + 3 * min(batch_size, n_rows) * sum(sizes))
    have = _available_memory()
    if need > _MEMORY_SHARE * have:
        gib = 2**30
        big = ("--hidden" if 5 * n_params > n_rows * n_inputs else "DATA")
        fix = ("Pass smaller --hidden layer sizes" if big == "--hidden" else
               "Drop text columns with many distinct values (--drop COL) or use fewer rows")
        fail("fit", big, f"needs about {need / gib:.1f} GiB ({n_params:,} weights, "
             f"{n_rows:,} rows x {n_inputs:,} inputs) but {have / gib:.1f} GiB of memory is "
             "available", fix)


# ------------------------------------------------------------------------------ targets


def _check_target(y: np.ndarray, target: str) -> np.ndarray:
    """Refuse a target with nothing to learn or values no loss can take; return it (mixed
    Python types as text)."""
    if len(y) < 2:
        fail("fit", "--target", f"{target!r} has {len(y)} row", "Pass a table with more rows")
    if y.dtype == object:
        kinds = {type(v) for v in y.tolist()}
        if len(kinds) > 1:
            y = np.asarray([str(v) for v in y.tolist()], dtype=object)
    if np.issubdtype(y.dtype, np.number) and not np.issubdtype(y.dtype, np.bool_):
        values = y.astype(np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            rows = ", ".join(str(int(r) + 1) for r in np.flatnonzero(bad)[:5])
            fail("fit", "--target", f"{target!r} has {int(bad.sum())} infinite or NaN "
                 f"value(s) (rows {rows})", "Drop or correct those rows")
        big = float(np.abs(values).max())
        if big > float(np.finfo(np.float32).max) / 1e6:
            fail("fit", "--target", f"{target!r} has values as large as {big:.3g}, beyond "
                 "what the float32 network can represent", "Rescale the target (e.g. divide "
                 "it by a power of ten, or take its logarithm)")
    uniques = np.unique(y.astype(str) if y.dtype == object else y)
    if len(uniques) == 1:
        fail("fit", "--target", f"{target!r} is constant (every row is {uniques[0].item()!r}): "
             "there "
             "is nothing to learn", "Pass a target that varies")
    return y


def _check_regression_target(y: np.ndarray, target: str, loss: str) -> None:
    if not (np.issubdtype(y.dtype, np.number) and not np.issubdtype(y.dtype, np.bool_)):
        fail("fit", "--target", f"{target!r} holds text ({y[0]!r}, ...) but --loss {loss} is "
             "a regression loss", "Pass a classification loss (--loss cross_entropy) or a "
             "numeric target")


def _refuse_loss(loss: str, known: list[str]) -> None:
    """The error for a ``--loss`` that fit cannot train (:func:`losskit.nn._heads.refuse_loss`:
    the estimators give the same answer for their ``loss``)."""
    from losskit.nn._heads import refuse_loss

    refuse_loss("fit", "--loss", loss, known, unknown="which losskit fit cannot train",
                trains=f"The losses fit can train: {', '.join(known)}", knower="fit",
                pass_as=lambda name: f"--loss {name}")


def _task_and_loss(y: Any, loss: str | None, task: str | None, target: str = "y"
                   ) -> tuple[str, str, str]:
    """(task, loss, why) from the advice or from ``--loss``; the advice's extreme values of
    the target (its rows) as a warning."""
    from losskit.advise import advise
    from losskit.nn._heads import ALIASES, LOSS_HEADS, advised_loss

    advice = None
    if loss is None or task is None:
        try:
            advice = advise(np.asarray(y))
        except (ValueError, TypeError):
            advice = None
    for finding in advice.warnings if advice is not None else ():
        if finding.code == "extreme_values":
            warn("fit", f"--target {target!r} has {finding.message}")
    if loss is None:
        if advice is None:
            fail("fit", "--target", "could not be matched to a loss by losskit advise",
                 "Pass --loss (and --task)")
        loss = advised_loss(advice)  # the head of the advised family (fit trains what advise says)
        why = f"Advised for this target: {advice.rationale}"
        task = task or ("classification" if advice.task in ("binary", "multiclass")
                        else "regression")
    else:
        known = sorted({*LOSS_HEADS, *ALIASES, "cross_entropy"})
        if loss not in known:
            _refuse_loss(loss, known)
        why = f"Chosen with --loss {loss}."
        if advice is not None:
            why += f" (The advice for this target was {advice.loss}: {advice.rationale})"
    if task is None:
        task = "classification" if loss in _classification_names() else "regression"
    if task == "regression" and advice is not None and advice.task in ("binary", "multiclass") \
            and loss in _classification_names():
        task = "classification"
    return task, loss, why


def _warn_many_categories(X_df: Any) -> None:
    import pandas as pd

    n = len(X_df)
    for name in X_df.columns:
        col = X_df[name]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            continue
        k = int(col.nunique())
        if k > _MANY_CATEGORIES and k > 0.5 * n:
            warn("fit", f"column {str(name)!r} has {k} distinct text values in {n} rows (free "
                 f"text or IDs?): one-hot encoding makes {k} inputs that rarely generalise. "
                 f"Leave it out with --drop {name}")


# ------------------------------------------------------------------------------ fit


def fit_table(data: str | Path, target: str, out: str | Path, *, loss: str | None = None,
              task: str | None = None, epochs: int = 200, seed: int = 0,
              hidden: tuple[int, ...] = (64,), learning_rate: float = 0.001,
              batch_size: int = 32, optimizer: str = "adam", early_stopping: bool = True,
              test_size: float = 0.0, drop: tuple[str, ...] = (), resume: bool = False,
              force: bool = False, verbose: Any = "auto") -> dict[str, Any]:
    """Train on a table and write the model, history, metrics, figures and report to ``out``.

    Numeric features are standardised and the others one-hot encoded (fitted on the training
    rows). ``test_size`` of the rows (seeded) are held out as the test set; the network trains
    on the others except 10% held out for validation (early stopping, the diagnosis).
    ``out`` is written as a unit: a kill at any moment leaves the old folder or the new one.
    Returns the ``metrics.json`` content.
    """
    from losskit._io import link_or_copy_tree, replace_folder, strict_json, write_json
    from losskit.datasets import read_table, split_target
    from losskit.nn._heads import loss_spec
    from losskit.nn.estimators import MLPClassifier, MLPRegressor
    from losskit.nn.report import curve_figures, write_report
    from losskit.nn.trainer import TrainingDivergedError, TrainingDivergedWarning

    settings = {"loss": loss, "task": task, "epochs": epochs, "seed": seed,
                "hidden": tuple(hidden), "learning_rate": learning_rate,
                "batch_size": batch_size, "optimizer": optimizer,
                "early_stopping": bool(early_stopping), "test_size": test_size,
                "drop": tuple(drop)}
    _check_settings(settings)
    from losskit._io import check_output_path

    out = check_output_path("fit", "--out", out, kind="folder")
    _check_out(out, data, target, force=force, resume=resume)
    X_df, y_ser = split_target(read_table(data, command="fit"), target, command="fit",
                               drop=settings["drop"])
    y = _check_target(y_ser.to_numpy(), target)
    given_task = task
    task, loss, why = _task_and_loss(y, loss, task, target)
    if task == "regression":
        _check_regression_target(y, target, loss)
    elif y.dtype.kind == "f" and not np.all(np.mod(y, 1) == 0):
        first = y[np.flatnonzero(np.mod(y, 1) != 0)[0]]
        fail("fit", "--task" if given_task else "--loss",
             f"is {'classification' if given_task else loss + ', a classification loss,'} "
             f"but --target "
             f"{target!r} holds continuous numbers (e.g. {first:g}), not classes",
             "Use --task regression with a regression --loss, or bin the target into "
             "classes first")
    n_classes = len(np.unique(y.astype(str) if y.dtype == object else y)) \
        if task == "classification" else None
    try:
        loss_spec("fit", loss, task, n_classes=n_classes)  # a clear error before any work
    except ValueError as error:  # in the command's words: the column, not y; no callables
        text = str(error).replace("fit: loss ", "fit: --loss ", 1)
        text = text.replace(" but y has ", f" but --target {target!r} has ", 1)
        raise ValueError(text.replace(", or a callable", "")) from None

    # rows: an optional test part, then the estimator's 10% validation part of the rest
    n = len(y)
    perm = np.random.RandomState(seed).permutation(n)
    n_test = round(test_size * n)
    if test_size > 0 and n_test == 0:
        fail("fit", "--test-size", f"is {test_size}, which holds out no row of {n}",
             "Pass a larger fraction, or 0 for no test set")
    if n - n_test < 2:
        fail("fit", "--test-size", f"is {test_size}, which leaves {n - n_test} row(s) to "
             "train on", "Pass a smaller fraction")
    test_idx, train_idx = np.sort(perm[:n_test]), np.sort(perm[n_test:])
    _warn_many_categories(X_df)
    encoder = TabularEncoder().fit(X_df.iloc[train_idx], command="fit")
    n_out = (1 if n_classes == 2 else n_classes) if task == "classification" else 2
    _check_memory(n, encoder.n_features, tuple(hidden), n_out or 1, batch_size)
    X = encoder.transform(X_df, command="fit")
    cls = MLPClassifier if task == "classification" else MLPRegressor
    checkpoint = out / "checkpoint"
    est = cls(loss, hidden_layer_sizes=tuple(hidden), epochs=epochs, random_state=seed,
              learning_rate=learning_rate, batch_size=batch_size, optimizer=optimizer,
              early_stopping=early_stopping, verbose=verbose, checkpoint_dir=checkpoint)
    y_fit = y if task == "classification" else y.astype(np.float32)
    created = [p for p in (out, checkpoint) if not p.exists()]
    checkpoint.mkdir(parents=True, exist_ok=True)
    write_json(checkpoint / _RUN_FILE, _run_record(settings, data, target), where="fit")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", TrainingDivergedWarning)
            try:
                est.fit(X[train_idx], y_fit[train_idx], resume=resume)
            finally:
                for w in caught:  # as losskit warnings, not Python's (no file, no code line)
                    warn("fit", str(w.message).removeprefix("losskit.nn: "))
    except Exception as error:
        _undo_start(checkpoint, created)
        if isinstance(error, TrainingDivergedError):
            raise ValueError(_diverged_message(error, learning_rate, optimizer)) from None
        message = _target_message(error, target, est)
        if message is not None:
            raise ValueError(message) from None
        raise
    _check_trained(est)

    history = est.history_
    fit_rows, val_rows = est._split
    rows = {"train": len(fit_rows), "validation": 0 if val_rows is None else len(val_rows),
            "test": n_test, "total": n}
    metrics: dict[str, dict[str, float]] = {
        "train": est.evaluate(X[train_idx][fit_rows], y_fit[train_idx][fit_rows])}
    if val_rows is not None:
        metrics["validation"] = est.evaluate(X[train_idx][val_rows], y_fit[train_idx][val_rows])
    if n_test:
        metrics["test"] = est.evaluate(X[test_idx], y_fit[test_idx])
    result = {"task": task, "loss": est.loss_, "epochs": len(history),
              "stopped": history.stopped, "best_epoch": history.best_epoch,
              "diagnosis": est.diagnose().kinds, "rows": rows,
              "retries": list(history.retries),
              "target_standardised": history.settings.get("target_standardised"),
              **metrics}
    text = strict_json(result, where="fit", nonfinite="null")
    for split, values in metrics.items():
        bad = [k for k, v in values.items() if not np.isfinite(v)]
        if bad:
            warn("fit", f"the {split} {', '.join(bad)} is not finite; metrics.json holds null "
                 "with the reason")
    head = est.model_.head_specs["output"]
    hidden_text = ", ".join(str(h) for h in est.model_.hidden_layer_sizes) or "none"
    model_text = (f"{task.capitalize()} MLP: {X.shape[1]} inputs ({len(encoder.columns)} "
                  f"columns, numeric standardised, categorical one-hot), hidden layers "
                  f"({hidden_text}) with {est.activation}, output layer of "
                  f"{head.describe()}; optimiser {optimizer}, learning rate {learning_rate}, "
                  f"batch size {batch_size}.")
    scaled = history.settings.get("target_standardised")
    if scaled:
        model_text += (" The target was standardised for training (the learning curves show "
                       "the loss on that scale); predictions and the metrics are in the "
                       "target's own units.")
    for retry in history.retries:
        model_text += (f" Training diverged at epoch {retry.get('epoch')} and was restarted "
                       "from the last good weights with learning rate "
                       f"{retry.get('new_learning_rate'):g}.")

    def build(stage: Path) -> None:
        # the model and its preprocessing (JSON, no pickle)
        est.save(stage)
        config = json.loads((stage / "config.json").read_text())
        config["preprocessing"] = encoder.to_dict()
        config["target"] = str(target)
        config["data"] = str(Path(data).resolve())
        config["task"] = task
        config["why"] = why
        config["rows"] = rows
        write_json(stage / "config.json", config, where="fit", nonfinite="null")
        keys = history.keys()
        with open(stage / "history.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=keys)
            writer.writeheader()
            for row in history.rows:  # a non-finite value (an undefined metric) is empty
                writer.writerow({k: "" if isinstance(v, float) and not np.isfinite(v) else v
                                 for k, v in row.items()})
        (stage / "metrics.json").write_text(text + "\n")
        figures = curve_figures(history, stage)
        write_report(stage / "report.html", title=f"losskit fit: {Path(data).name} → {target}",
                     history=history, figures=figures, metrics=metrics,
                     model_text=model_text, why=why, diagnosis=est.diagnose(), rows=rows)
        if checkpoint.is_dir():
            link_or_copy_tree(checkpoint, stage / "checkpoint")

    replace_folder(out, build)
    return json.loads(text)


def _diverged_message(error: Exception, learning_rate: float, optimizer: str) -> str:
    """The estimator's divergence error in the command's words (its flags, not the
    estimator's parameters)."""
    detail = str(error).split(": ", 1)[-1].split(". Lower the learning rate", 1)[0]
    retries = getattr(getattr(error, "history", None), "retries", None) or []
    smallest = min([learning_rate, *(r.get("new_learning_rate", learning_rate)
                                     for r in retries)])
    fix = f"Pass a smaller --learning-rate (e.g. {smallest / 10:g})"
    if optimizer != "adam":
        fix += " or --optimizer adam"
    return (f"fit: --learning-rate is {learning_rate:g}, and the {detail}. {fix}, or try "
            "another --loss; nothing was written")


def _target_message(error: Exception, target: str, est: Any) -> str | None:
    """A loss's complaint about ``y_true`` in the user's words (the column, not ``y_true``;
    no index into the internal training subset)."""
    from losskit.nn._evaluation import target_complaint

    complaint = target_complaint(error)
    if complaint is None:
        return None
    loss, found, fix = complaint
    if "." in loss:  # a family's method (``Poisson.loss``): the loss as the user named it
        loss = str(est.loss)
    return f"fit: --target {target!r} {found}, which --loss {loss} cannot take. {fix}".rstrip()


def _undo_start(checkpoint: Path, created: list[Path]) -> None:
    """Training failed before its first checkpoint: leave no trace (a failed run is not a run
    to resume)."""
    from losskit.nn.trainer import CHECKPOINT_NAME

    if (checkpoint / CHECKPOINT_NAME).exists():
        return
    (checkpoint / _RUN_FILE).unlink(missing_ok=True)
    for folder in reversed(created):
        try:
            folder.rmdir()
        except OSError:
            pass


def _check_trained(est: Any) -> None:
    """A diverged run or non-finite weights are an error: nothing is written."""
    import torch

    history = est.history_
    finite = all(bool(torch.isfinite(p).all()) for p in est.model_.parameters())
    if history.stopped == "diverged" or not finite:
        last = history.rows[-1] if history.rows else {}
        fail("fit", "--loss", f"{est.loss_}: training diverged (the loss became "
             f"{last.get('loss', 'non-finite')} at epoch {last.get('epoch', '?')})",
             "Try a smaller --learning-rate, --optimizer adam, or rescale the target; "
             "nothing was written")


@command("fit", "train an MLP on a table and write the model, metrics and report",
         _fit_arguments)
def _fit(args: argparse.Namespace) -> int:
    _need_torch("fit")
    given = _explicit_settings(args)
    settings = dict(FIT_DEFAULTS)
    settings.update(given)
    from losskit._io import check_output_path

    out = check_output_path("fit", "--out", args.out, kind="folder")
    if args.resume and out.is_dir():
        resumed = _resume_settings(out, given, args.data, args.target)
        if resumed is not None:
            if resumed["epochs"] != (_read_run(out) or {}).get("epochs", resumed["epochs"]):
                warn("fit", f"--resume: training continues to epoch {resumed['epochs']}")
            settings = resumed
    result = fit_table(args.data, args.target, out, **settings, resume=args.resume,
                       force=args.force)
    from losskit._io import strict_json

    print(strict_json(result, where="fit", nonfinite="null"))
    return 0


# ------------------------------------------------------------------------------ using a model


def _load(folder: str | Path, command_name: str) -> tuple[Any, TabularEncoder, dict[str, Any]]:
    """The model, encoder and config of a model folder, validated before anything is
    built (:func:`losskit.nn._modelfile.check_model_folder`). The model is a
    :class:`losskit.nn._saved.SavedModel`: the estimator's predictions without importing
    scikit-learn or torch."""
    from losskit.nn._modelfile import check_model_folder
    from losskit.nn._saved import SavedModel

    config = check_model_folder(folder, command_name)
    try:
        est = SavedModel.load(folder, config)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError,
            OSError) as error:  # what the schema does not cover
        fail(command_name, "DIR", f"{str(folder)!r} holds a model that cannot be loaded "
             f"({type(error).__name__}: {str(error)[:200]})", "Fit the model again")
    return est, TabularEncoder.from_dict(config["preprocessing"]), config


def _use_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", metavar="DIR", help="folder written by losskit fit")
    parser.add_argument("data", metavar="DATA", help="CSV or Parquet file")
    parser.add_argument("--out", metavar="FILE",
                        help="write to this file instead of standard output")


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet will not run as a formula (the OWASP rule: text starting
    with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading ``'``; numbers,
    including text that is a number such as ``-1.5``, are left as they are).

    Examples
    --------
    >>> csv_cell('=HYPERLINK("http://x")'), csv_cell("-1.5"), csv_cell(-2), csv_cell("ok")
    ('\\'=HYPERLINK("http://x")', '-1.5', -2, 'ok')
    """
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        try:
            float(value)
        except ValueError:
            return "'" + value
    return value


def _check_out_file(command_name: str, path: str | None, args: argparse.Namespace
                    ) -> Path | None:
    """``--out`` as a file to write, never the input table or a file of the model folder
    (writing there would destroy them)."""
    if path is None:
        return None
    from losskit._io import check_output_path

    out = check_output_path(command_name, "--out", path, kind="file")
    target = out.resolve()
    example = "predictions.csv" if command_name == "predict" else "scores.json"
    try:
        same = out.exists() and os.path.samefile(out, args.data)
    except OSError:
        same = False
    if same or target == Path(args.data).resolve():
        fail(command_name, "--out", f"is {path!r}, the DATA file it reads (writing would "
             "replace your table)", f"Pass another file name, e.g. --out {example}")
    model = Path(args.dir).resolve()
    if target == model or model in target.parents:
        fail(command_name, "--out", f"is {path!r}, inside the model folder DIR (writing "
             "would damage the model)", f"Pass a file outside DIR, e.g. --out {example}")
    return out


def _inputs(command_name: str, encoder: TabularEncoder, table: Any, est: Any) -> np.ndarray:
    X = encoder.transform(table, command=command_name)
    if encoder.unseen_:
        rows = max(n for n, _ in encoder.unseen_.values())
        listed = ", ".join(f"{name!r}: {n} (e.g. {example!r})"
                           for name, (n, example) in encoder.unseen_.items())
        warn(command_name, f"{rows} row(s) have categories not seen in training ({listed}); "
             "they are encoded as no known category")
    if encoder.far_:
        from losskit.nn._tabular import FAR_SD

        rows = max(n for n, _ in encoder.far_.values())
        listed = ", ".join(f"{name!r}: {n} (e.g. {value:g})"
                           for name, (n, value) in encoder.far_.items())
        exp = "exp" in est.model_.head_specs["output"].activation  # a log link
        warn(command_name, f"{rows} row(s) have values more than {FAR_SD:g} standard "
             f"deviations from the training data's mean ({listed}); the network's outputs "
             "there are extrapolations" + (" (its log-link output grows exponentially)"
                                           if exp else "") + ": check them")
    return X


def _model_and_table(args: argparse.Namespace, command_name: str
                     ) -> tuple[Path | None, Any, TabularEncoder, dict[str, Any], Any]:
    """What ``predict`` and ``evaluate`` start from: ``--out`` checked, the saved model, its
    encoder and config (:func:`_load`), and DATA's table (column names as text)."""
    from losskit.datasets import read_table

    out = _check_out_file(command_name, args.out, args)
    est, encoder, config = _load(args.dir, command_name)
    table = read_table(args.data, command=command_name).rename(columns=str)
    return out, est, encoder, config, table


@command("predict", "predict with a model saved by losskit fit (CSV out)", _use_arguments)
def _predict(args: argparse.Namespace) -> int:
    _need_torch("predict", scikit_learn=False, torch=False)
    from losskit._io import atomic_write_bytes

    out, est, encoder, config, table = _model_and_table(args, "predict")
    if config["target"] in table.columns:
        table = table.drop(columns=[config["target"]])
    X = _inputs("predict", encoder, table, est)
    columns: dict[str, Any] = {"prediction": est.predict(X)}
    if est.classifier:
        proba = est.predict_proba(X)
        for j, label in enumerate(est.classes_):
            columns[f"probability_{label}"] = proba[:, j]
    for name, values in columns.items():
        values = np.asarray(values)
        if values.dtype.kind == "f" and not np.isfinite(values).all():
            fail("predict", "DATA", f"gives non-finite {name} values for "
                 f"{int((~np.isfinite(values)).sum())} row(s)", "Check those rows' values "
                 "(far outside the training data?); nothing was written")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([csv_cell(c) for c in columns])
    for row in zip(*columns.values(), strict=True):
        writer.writerow([csv_cell(v) for v in row])
    if out is not None:
        atomic_write_bytes(out, buffer.getvalue())
    else:
        sys.stdout.write(buffer.getvalue())
    return 0


@command("evaluate", "loss and metrics of a model saved by losskit fit on a table (JSON)",
         _use_arguments)
def _evaluate(args: argparse.Namespace) -> int:
    _need_torch("evaluate", scikit_learn=False, torch=False)
    from losskit._io import atomic_write_bytes, strict_json

    out, est, encoder, config, table = _model_and_table(args, "evaluate")
    target = config["target"]
    if target not in table.columns:
        fail("evaluate", "DATA", f"has no column {target!r}, the target the model was "
             "trained to predict; evaluate scores predictions against it",
             f"Pass a table with the {target!r} column (losskit predict needs none)")
    y = table[target]
    if y.isna().any():
        fail("evaluate", "DATA", f"has {int(y.isna().sum())} missing value(s) in the target "
             f"column {target!r}", "Drop those rows")
    y = y.to_numpy()
    if not est.classifier:
        try:
            y = y.astype(np.float64)
        except (TypeError, ValueError):
            fail("evaluate", "DATA", f"holds text in the target column {target!r}",
                 "Pass a numeric target, as in training")
        bad = ~np.isfinite(y)
        if bad.any() or np.abs(y).max() > float(np.finfo(np.float32).max):
            rows = ", ".join(str(int(r) + 1) for r in np.flatnonzero(
                bad | (np.abs(np.nan_to_num(y)) > float(np.finfo(np.float32).max)))[:5])
            fail("evaluate", "DATA", f"has infinite or too large values in the target column "
                 f"{target!r} (rows {rows})", "Drop or correct those rows")
        y = y.astype(np.float32)
    X = _inputs("evaluate", encoder, table.drop(columns=[target]), est)
    # rows the model cannot predict (as predict refuses them): not metrics that are all null
    values = np.asarray(est.predict_proba(X) if est.classifier else est.predict(X),
                        dtype=np.float64)
    bad = ~np.isfinite(values).reshape(len(values), -1).all(axis=1)
    if bad.any():
        rows = ", ".join(str(int(r) + 1) for r in np.flatnonzero(bad)[:5])
        fail("evaluate", "DATA", f"gives non-finite predictions for {int(bad.sum())} row(s) "
             f"(rows {rows}, counted from 1 after the header)", "Check those rows' values "
             "(far outside the training data?)")
    try:
        result = est.evaluate(X, y)
    except ValueError as error:
        detail = str(error).split(": ", 1)[-1]
        if detail.startswith("y "):
            detail = f"target column {target!r} {detail[2:]}"
        raise ValueError(f"evaluate: DATA {detail}") from None
    for name, value in result.items():
        if not np.isfinite(value):
            warn("evaluate", f"{name} is {value} on this data; the JSON holds null with the "
                 "reason")
    text = strict_json(result, where="evaluate", nonfinite="null")
    if out is not None:
        atomic_write_bytes(out, text + "\n")
    else:
        print(text)
    return 0
