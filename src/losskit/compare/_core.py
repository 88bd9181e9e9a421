"""``lk.compare``: train one network per loss on the same repeated cross-validation folds."""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from losskit._parallel import ProgressRelay, freeze_imports
from losskit._validation import fail
from losskit.compare import stats as _stats
from losskit.compare._format import mean_spread, significant

__all__ = ["Comparison", "compare", "load_callable"]

#: the advised tasks trained with MLPClassifier; every other (regression, count, proportion,
#: positive_skewed) is trained with MLPRegressor
_CLASSIFICATION_TASKS = ("binary", "multiclass")


# ---------------------------------------------------------------------------- the result


@dataclass
class Comparison:
    """Fold scores of several losses on the same folds, the tests and the conclusion.

    Attributes
    ----------
    losses : list of str
        A label per loss (its name, a callable's ``__name__``, a family's ``repr``).
    metric : str
        The metric every fold was scored with.
    greater_is_better : bool
        True for ``*_score`` metrics (maximised), False for ``*_error``/``*_loss``.
    scores : ndarray of shape (n_losses, n_splits * n_repeats)
        ``scores[i, j]``: loss ``i`` on fold ``j`` (the same folds and seeds for every loss);
        NaN where the fit failed (see ``failures``).
    n_splits, n_repeats : int
    n_train, n_test : ndarray of shape (n_splits * n_repeats,)
        Training and test sizes of each fold.
    task : str
        ``"classification"`` or ``"regression"``.
    fit_seconds : ndarray of shape (n_losses, n_splits * n_repeats)
        Training time of each fit.
    alpha : float
        Significance level of the conclusion (0.05: 95% confidence).
    failures : list of dict
        ``{"loss", "fold", "error"}`` for each fit that failed (an exception, a diverged
        training, a non-finite score). The rule: a pair of losses is tested on the folds where
        both succeeded, and untestable below
        :data:`losskit.compare.stats.MIN_COMMON_FOLDS` of them.
    settings : dict
        How the scores were obtained (model, estimator settings, seed, folds ...).
    design : str
        ``"cv"`` (repeated cross-validation folds), ``"paired"`` (matched seeds) or
        ``"unpaired"``: which tests apply (:data:`losskit.compare.stats.DESIGNS`).
    """

    losses: list[str]
    metric: str
    greater_is_better: bool
    scores: np.ndarray
    n_splits: int
    n_repeats: int
    n_train: np.ndarray
    n_test: np.ndarray
    task: str
    fit_seconds: np.ndarray
    alpha: float = 0.05
    failures: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    design: str = "cv"
    _analysis: dict[str, Any] = field(default_factory=dict, init=False, repr=False,
                                      compare=False)

    def analysis(self) -> dict[str, Any]:
        """:func:`losskit.compare.stats.conclude` of the scores (computed once)."""
        if not self._analysis:
            n_train = self.n_train[np.isfinite(self.n_train)]
            n_test = self.n_test[np.isfinite(self.n_test)]
            self._analysis.update(_stats.conclude(
                self.losses, self.scores, metric=self.metric,
                greater_is_better=self.greater_is_better,
                n_train=float(n_train.mean()) if n_train.size else 1.0,
                n_test=float(n_test.mean()) if n_test.size else 1.0, alpha=self.alpha,
                design=self.design))
        return self._analysis

    @property
    def tests(self) -> dict[str, Any]:
        """The test results (JSON-ready; every p-value under a key ``p_value``)."""
        return self.analysis()["tests"]

    @property
    def conclusion(self) -> str:
        """Which loss is better, at what confidence — or that the data cannot tell."""
        return self.analysis()["conclusion"]

    @property
    def best(self) -> str | None:
        """The loss with the best mean score."""
        return self.analysis()["best"]

    def summary(self) -> list[dict[str, Any]]:
        """Per loss: mean, standard deviation, min, max of the successful fold scores, mean
        rank (over the folds where every loss succeeded) and the number of failed fits."""
        complete = np.all(np.isfinite(self.scores), axis=0)
        if complete.any():
            ranks = _stats._average_ranks(self.scores[:, complete], self.greater_is_better)
        else:
            ranks = np.full(len(self.losses), np.nan)
        out = []
        for name, s, r, t in zip(self.losses, self.scores, ranks, self.fit_seconds,
                                 strict=True):
            ok = s[np.isfinite(s)]
            seconds = t[np.isfinite(t)]
            out.append({
                "loss": name, "mean": float(ok.mean()) if ok.size else np.nan,
                "std": float(ok.std(ddof=1)) if ok.size > 1 else np.nan,
                "min": float(ok.min()) if ok.size else np.nan,
                "max": float(ok.max()) if ok.size else np.nan, "mean_rank": float(r),
                "mean_fit_seconds": float(seconds.mean()) if seconds.size else np.nan,
                "n_succeeded": int(ok.size), "n_failed": int(s.size - ok.size)})
        return out

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready: settings, fold scores, summary, tests, conclusion."""
        analysis = self.analysis()
        return {
            "metric": self.metric, "greater_is_better": self.greater_is_better,
            "task": self.task, "design": self.design, "n_splits": self.n_splits,
            "n_repeats": self.n_repeats, "alpha": self.alpha, "settings": self.settings,
            "losses": list(self.losses),
            "fold_scores": {name: row.tolist()
                            for name, row in zip(self.losses, self.scores, strict=True)},
            "fit_seconds": {name: row.tolist()
                            for name, row in zip(self.losses, self.fit_seconds, strict=True)},
            "n_train": self.n_train.tolist(), "n_test": self.n_test.tolist(),
            "failures": list(self.failures),
            "failure_rule": (f"a pair of losses is tested on the folds where both succeeded; "
                             f"with fewer than {_stats.MIN_COMMON_FOLDS} such folds it is "
                             "untestable, and a loss with fewer successful folds is left "
                             "out of the tests"),
            "excluded_from_tests": analysis.get("excluded", []),
            "summary": self.summary(), "tests": self.tests, "best": self.best,
            "significant": analysis["significant"], "conclusion": self.conclusion,
        }

    def to_frame(self) -> Any:
        """The fold scores as a long table (``loss, repeat, fold, seed, score, n_train,
        n_test, error``) — what :func:`losskit.compare_scores` reads back."""
        import pandas as pd

        errors = {(f["loss"], f["fold"]): f["error"] for f in self.failures}
        seeds = self.settings.get("seeds")
        rows = []
        for name, row in zip(self.losses, self.scores, strict=True):
            for j, value in enumerate(row):
                rows.append({"loss": name, "metric": self.metric,
                             "repeat": j // self.n_splits,
                             "fold": j % self.n_splits,
                             "seed": None if seeds is None else seeds[j],
                             "score": value, "n_train": self.n_train[j],
                             "n_test": self.n_test[j], "error": errors.get((name, j), "")})
        return pd.DataFrame(rows)

    def __str__(self) -> str:
        width = max(4, *(len(name) for name in self.losses))
        design = {"cv": f"{self.n_splits} folds x {self.n_repeats} repeats",
                  "paired": f"{self.scores.shape[1]} matched runs",
                  "unpaired": f"up to {self.scores.shape[1]} unpaired runs"}[self.design]
        lines = [f"{self.metric} over {design} "
                 f"({'higher' if self.greater_is_better else 'lower'} is better)", ""]
        lines.append(f"{'loss':<{width}}  {'mean':>10}  {'std':>10}  {'rank':>5}  failed")
        for row in self.summary():
            mean, std = mean_spread(row["mean"], row["std"])
            lines.append(f"{row['loss']:<{width}}  {mean:>10}  {std:>10}"
                         f"  {significant(row['mean_rank'], 3):>5}  {row['n_failed']}")
        for f in self.failures[:10]:
            lines.append(f"  failed: {f['loss']} on fold {f['fold']}: {f['error']}")
        if len(self.failures) > 10:
            lines.append(f"  ... and {len(self.failures) - 10} more failed fits "
                         "(results.json lists them all)")
        return "\n".join([*lines, "", self.conclusion])

    def save(self, out: str | os.PathLike) -> dict[str, Path]:
        """Write ``results.json``, ``scores.csv``, ``scores.png`` (box plot) and
        ``report.html`` into ``out``.

        Each file is written atomically (a temporary file renamed over the target). Needs
        matplotlib (the ``plot`` extra) for the figure.
        """
        from losskit.compare.report import write_report

        return write_report(self, Path(out))


# ------------------------------------------------------------------------ custom losses


def load_callable(spec: str) -> Callable:
    """Load ``path/to/file.py:function`` — this **runs the code in that file**.

    The file is executed as a fresh module (not registered in ``sys.modules``, so parallel
    workers receive the function by value) and ``function`` is returned. Only pass files you
    trust, exactly as you would ``python file.py``.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "my_loss.py"
    >>> _ = path.write_text("def cubed(y_true, y_pred):\\n"
    ...                     "    return (abs(y_true - y_pred) ** 3).mean(-1)\\n")
    >>> load_callable(f"{path}:cubed").__name__
    'cubed'
    """
    func = "load_callable"
    if not isinstance(spec, str) or ":" not in spec:
        fail(func, "spec", f"is {spec!r}", "Pass 'path/to/file.py:function'")
    path_text, _, name = spec.rpartition(":")
    path = Path(path_text)
    if path.suffix != ".py" or not name.isidentifier():
        fail(func, "spec", f"is {spec!r}", "Pass 'path/to/file.py:function' (a .py file and "
             "the name of a function in it)")
    if not path.is_file():
        fail(func, "spec", f"names {str(path)!r}, which does not exist", "Check the path")
    module_name = f"losskit_user_loss_{abs(hash(str(path.resolve())))}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:  # pragma: no cover - .py checked
        fail(func, "spec", f"names {str(path)!r}, which cannot be imported", "Pass a .py file")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    fn = getattr(module, name, None)
    if not callable(fn):
        found = sorted(k for k, v in vars(module).items()
                       if callable(v) and not k.startswith("_"))
        fail(func, "spec", f"names {name!r}, which is not a function in {str(path)!r} "
             f"(functions: {', '.join(found) or 'none'})", "Pass the name of a function "
             "(y_true, y_pred) -> per-sample loss")
    return fn


# ------------------------------------------------------------------------------- helpers


def _label(loss: Any) -> str:
    if isinstance(loss, str):
        return loss
    from losskit.families import Family

    if isinstance(loss, Family):
        return repr(loss)
    return str(getattr(loss, "__name__", type(loss).__name__))


def _unique(labels: list[str]) -> list[str]:
    out: list[str] = []
    for label in labels:
        new, n = label, 2
        while new in out:
            new, n = f"{label}#{n}", n + 1
        out.append(new)
    return out


#: short metric names the CLI and ``compare(metric=...)`` accept besides the full names
_METRIC_ALIASES = {"mae": "mean_absolute_error", "rmse": "root_mean_squared_error",
                   "auc": "roc_auc_score", "ece": "expected_calibration_error",
                   "brier": "brier_score_loss", "log_loss": "log_loss",
                   "cross_entropy": "log_loss", "logloss": "log_loss",
                   "poisson_deviance": "mean_poisson_deviance",
                   "gamma_deviance": "mean_gamma_deviance", "f1": "f1_score",
                   "accuracy": "accuracy_score", "r2": "r2_score"}


def _metric(metric: Any, task: str, y: np.ndarray) -> tuple[Callable, str, bool]:
    """The metric function, its name and whether it is maximised."""
    from losskit import metrics as lkm

    if metric is None:
        from losskit.advise import advise

        metric = advise(y).metrics[0]
    names = lkm.__all__
    if isinstance(metric, str):
        name = next((k for k in (metric, f"{metric}_score", f"{metric}_error") if k in names),
                    _METRIC_ALIASES.get(metric))
        if name is None:
            from losskit._validation import did_you_mean

            known = sorted({*names, *_METRIC_ALIASES, "log_loss"})
            hint = did_you_mean(metric, known)
            fail("compare", "metric", f"is {metric!r}, which is not a losskit metric",
                 f"{hint + ' ' if hint else ''}Pass one of "
                 f"{', '.join(sorted([*names, 'log_loss']))}")
        fn = log_loss if name == "log_loss" else getattr(lkm, name)
    elif callable(metric):
        fn, name = metric, getattr(metric, "__name__", "")
    else:
        fail("compare", "metric", f"is {type(metric).__name__}", "Pass a metric name or "
             "function (names ending in _score are maximised, _error/_loss minimised)",
             TypeError)
    if name.endswith("_score"):
        greater = True
    elif name.endswith(("_error", "_loss", "_deviance")):
        greater = False
    else:
        fail("compare", "metric", f"is the function {name!r}, whose name does not say whether "
             "it is maximised", "Name it ..._score (higher is better) or ..._error (lower)")
    regression_metric = name in ("mean_absolute_error", "root_mean_squared_error", "r2_score",
                                 "max_error", "mean_poisson_deviance", "mean_gamma_deviance")
    if isinstance(metric, str) and (task == "classification") == regression_metric:
        kind = "regression" if regression_metric else "classification"
        fail("compare", "metric", f"is {name!r}, a {kind} metric, but the task is {task}",
             "Pass a metric for the task (or leave metric=None for the default)")
    return fn, name, greater


def _metric_direction(func: str, name: str) -> bool:
    """Whether a score named ``name`` is maximised, from its name (or a clear error)."""
    if name.endswith(("_score", "accuracy", "auc")):
        return True
    if name.endswith(("_error", "_loss", "_deviance")):
        return False
    fail(func, "greater_is_better", f"is None and the metric name {name!r} does not say "
         "whether it is maximised", "Pass greater_is_better=True or False (CLI: "
         "--greater-is-better or --no-greater-is-better)")
    raise AssertionError  # pragma: no cover - fail raises


def _show(value: Any) -> str:
    """A target value as the messages show it (``5.0``, ``'a'``)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _check_domains(func: str, y: np.ndarray, losses: list[Any], labels: list[str], task: str,
                   n_classes: int | None) -> None:
    """Refuse, before any training, a comparison with a loss whose domain the target leaves
    (negative counts for a Poisson loss, zeros for a Gamma loss, values outside [0, 1] for a
    binary cross-entropy on proportions), naming every such loss. Its fits would otherwise
    fail on exactly the folds that train on the offending rows and succeed on the others: a
    loss scored on a biased subset of the folds."""
    from losskit.nn import domain_complaint

    refused = []
    for label, loss in zip(labels, losses, strict=True):
        complaint = domain_complaint(loss, y, task=task, n_classes=n_classes)
        if complaint is not None:
            found, fix = complaint
            refused.append((label, f"{label} (the target {found}: {fix})"))
    if not refused:
        return
    names = ", ".join(label for label, _ in refused)
    kept = [label for label in labels if all(label != name for name, _ in refused)]
    fail(func, "y", f"is outside the domain of {len(refused)} of the {len(labels)} losses: "
         + "; ".join(text for _, text in refused),
         f"Drop {names} from the losses" + (f" ({', '.join(kept)} can take this target)"
                                             if kept else "")
         + ", or transform the target into their domain; nothing was trained")


def _check_metric_domain(func: str, metric: Callable, name: str, y: np.ndarray) -> None:
    """Refuse a regression metric whose domain the target leaves (a Poisson deviance of
    negative values, a Gamma deviance of zeros) before any training: it would fail on exactly
    the folds whose test part holds those rows and score the others. The metric itself
    checks ``y``, against a positive constant prediction."""
    from losskit.nn import target_complaint

    guess = np.full(y.shape, max(1.0, float(np.mean(np.abs(y)))))
    try:
        with np.errstate(all="ignore"):
            metric(y, guess)
    except Exception as error:  # a callable's own failure shows in its folds, as before
        complaint = target_complaint(error)
        if complaint is not None:
            fail(func, "y", f"{complaint[1]}, which the metric {name} cannot take",
                 "Pass a metric for this target (e.g. root_mean_squared_error), or transform "
                 "the target into its domain; nothing was trained")


def _as_table(X: Any, n: int) -> Any:
    """``X`` as a DataFrame (arrays get columns ``x0, x1, ...``), checked for ``compare``."""
    import pandas as pd

    if hasattr(X, "select_dtypes"):
        table = X.reset_index(drop=True)
    else:
        if hasattr(X, "detach"):
            X = X.detach().cpu().numpy()
        array = np.asarray(X)
        if array.ndim == 1:
            array = array[:, None]
        if array.ndim != 2:
            fail("compare", "X", f"has shape {array.shape}",
                 "Pass a 2-D array (n_samples, n_features) or a DataFrame")
        if array.dtype.kind not in "biuf":
            fail("compare", "X", f"has dtype {array.dtype}", "Pass numbers, or a DataFrame "
                 "(its text columns are one-hot encoded)", TypeError)
        table = pd.DataFrame(array.astype(float),
                             columns=[f"x{i}" for i in range(array.shape[1])])
    if table.shape[0] != n:
        fail("compare", "X", f"has {table.shape[0]} rows but y has {n}",
             "Pass one row of inputs per target value")
    if table.shape[1] == 0:
        fail("compare", "X", "has no columns", "Pass at least one feature")
    missing = table.isna().sum()
    if missing.any():
        listed = ", ".join(f"{c!r} ({int(k)})" for c, k in missing.items() if k)
        fail("compare", "X", f"has missing values: {listed}", "Drop or impute them first")
    # as `losskit fit` refuses them: else every fit whose fold holds such a row fails
    for name in table.columns:
        column = table[name]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            bad = ~np.isfinite(column.to_numpy(dtype=np.float64))
            if bad.any():
                rows = ", ".join(str(int(r) + 1) for r in np.flatnonzero(bad)[:5])
                fail("compare", "X", f"column {name!r} has {int(bad.sum())} infinite "
                     f"value(s) (rows {rows})", "Replace or drop them")
    return table


#: metrics that need class probabilities (an estimator without predict_proba cannot be scored)
_PROBABILITY_METRICS = ("log_loss", "brier_score_loss", "roc_auc_score",
                        "average_precision_score", "expected_calibration_error",
                        "top_k_accuracy_score")


def log_loss(y_true: Any, y_pred: Any) -> float:
    r"""Mean cross-entropy (log loss) of class probabilities, in nats: the metric alias
    ``"log_loss"`` (also ``"cross_entropy"``) of :func:`compare`.

    :math:`-\frac1n\sum_i \log p_{i, y_i}` with ``y_true`` the class indices and ``y_pred``
    of shape (n, n_classes) (or (n,): the positive class's probability), through
    :func:`losskit.losses.categorical_cross_entropy`.

    Examples
    --------
    >>> round(log_loss([0, 1], [[0.8, 0.2], [0.4, 0.6]]), 4)
    0.3670
    """
    from losskit.losses import categorical_cross_entropy

    p = np.asarray(y_pred, dtype=float)
    if p.ndim == 1:
        p = np.stack([1.0 - p, p], axis=1)
    idx = np.asarray(y_true).astype(int)
    onehot = np.eye(p.shape[1])[idx]
    return float(categorical_cross_entropy(onehot, p, reduction="mean"))


def _worker_threads(local_workers: int, dispatcher_pid: int | None) -> int | None:
    """Torch threads for one fit, decided where the fit runs (never on the client).

    ``None`` (leave torch alone) in the dispatching process itself (one job, or joblib's
    threading backend). In a worker process: ``OMP_NUM_THREADS`` when set (joblib's loky
    workers get ``cpu_count // n_jobs``, Dask's nannies 1); else, on a Dask worker, this
    machine's cores over the worker's threads; else the cores over the local workers.
    """
    import joblib

    if dispatcher_pid is None or os.getpid() == dispatcher_pid:
        return None
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:  # pragma: no cover - only on a Dask worker without OMP_NUM_THREADS
        from distributed import get_worker

        return max(1, joblib.cpu_count() // max(1, get_worker().state.nthreads))
    except (ImportError, ValueError, AttributeError):
        pass
    return max(1, joblib.cpu_count() // max(1, local_workers))


#: the training settings every fit of ``compare`` uses unless ``estimator_params`` says
#: otherwise (SGD with momentum, fixed length; not the estimators' Adam defaults)
_TRAINING = {"optimizer": "sgd", "learning_rate": 0.01, "momentum": 0.9,
             "early_stopping": False}


def _predict_score(model: Any, X_test: Any, y_test: np.ndarray, task: str, metric: Callable,
                   metric_name: str, options: dict[str, Any]) -> float:
    if task != "classification":
        return metric(y_test, np.asarray(model.predict(X_test), dtype=float), **options)
    classes = np.asarray(model.classes_)
    y_idx = np.searchsorted(classes, y_test)
    if hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(X_test), dtype=float)
    elif metric_name in _PROBABILITY_METRICS:
        raise ValueError(f"{type(model).__name__} with these settings has no predict_proba, "
                         f"and {metric_name} needs class probabilities: use a label metric "
                         "(accuracy, balanced accuracy, F1)")
    else:  # hard labels as one-hot "probabilities": label metrics take their argmax
        proba = np.eye(len(classes))[np.searchsorted(classes, model.predict(X_test))]
    if proba.ndim == 2 and proba.shape[1] == 2 and metric_name in (
            "roc_auc_score", "average_precision_score", "brier_score_loss"):
        proba = proba[:, 1]
    return metric(y_idx, proba, **options)


def _run_one(loss: Any, runner: dict[str, Any], seed: int, X: Any, y: np.ndarray,
             train: np.ndarray, test: np.ndarray, metric: Callable | None, metric_name: str,
             metric_options: dict[str, Any]) -> float:
    """One fit and its score (raises on any failure)."""
    kind = runner["kind"]
    if kind == "callable":
        value = runner["function"](loss, train, test, seed)
    elif kind == "estimator":
        from sklearn.base import clone

        model = clone(runner["estimator"])
        settings = {runner["loss_param"]: loss}
        for key in model.get_params(deep=True):
            if key == "random_state" or key.endswith("__random_state"):
                settings[key] = seed
        model.set_params(**settings)
        model.fit(X.iloc[train], y[train])
        value = _predict_score(model, X.iloc[test], y[test], runner["task"], metric,
                               metric_name, metric_options)
    else:
        from losskit.nn import MLPClassifier, MLPRegressor, TabularEncoder

        cls = MLPClassifier if runner["task"] == "classification" else MLPRegressor
        # the features of `losskit fit`, fitted on the training rows only
        encoder = TabularEncoder().fit(X.iloc[train])
        model = cls(loss, random_state=seed, **runner["params"]).fit(
            encoder.transform(X.iloc[train]), y[train])
        value = _predict_score(model, encoder.transform(X.iloc[test]), y[test],
                               runner["task"], metric, metric_name, metric_options)
    return value


def _fit_score(i: int, j: int, loss: Any, runner: dict[str, Any], seed: int, X: Any,
               y: np.ndarray, train: np.ndarray, test: np.ndarray, metric: Callable | None,
               metric_name: str, metric_options: dict[str, Any], local_workers: int,
               dispatcher_pid: int | None) -> dict[str, Any]:
    """Train loss ``i`` on fold ``j`` and score it; never raises (a failure is recorded).

    Runs inside a worker, or in this process with one job.
    """
    if dispatcher_pid is not None:
        freeze_imports(dispatcher_pid)
    threads = _worker_threads(local_workers, dispatcher_pid)
    torch = None
    if threads is not None:
        try:
            import torch
        except ImportError:  # pragma: no cover - an estimator or callable without torch
            torch = None
    previous = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(threads)
    start = time.perf_counter()
    try:
        # a divergence the network recovered from (its retries with a smaller learning rate:
        # TrainingDivergedWarning) is a valid fit; one it could not recover from raises
        # TrainingDivergedError and is recorded as a failure below
        value = float(_run_one(loss, runner, seed, X, y, train, test, metric, metric_name,
                               metric_options))
        error = "" if np.isfinite(value) else f"{metric_name} is {value} (training diverged?)"
    except Exception as exc:
        value = float("nan")
        error = _error_text(exc)
    finally:
        if torch is not None and previous is not None:
            torch.set_num_threads(previous)
    seconds = time.perf_counter() - start
    return {"loss": i, "fold": j, "score": value if not error else None,
            "seconds": seconds, "error": error}


def _error_text(exc: BaseException) -> str:
    """How a failed fit is recorded: the error's kind and message (at most 500 characters)."""
    name = ("training diverged" if type(exc).__name__ == "TrainingDivergedError"
            else type(exc).__name__)
    error = f"{name}: {exc}".strip()
    if "y_pred has NaN or infinite" in error:
        error = f"the model predicts NaN or infinity (training diverged): {error}"
    if len(error) > 500:
        error = error[:500] + "..."
    return error


def _fit_chunk(items: list[tuple[int, int]], losses: list[Any], runner: dict[str, Any],
               seeds: np.ndarray, X: Any, y: np.ndarray, folds: list[Any],
               metric: Callable, metric_name: str, metric_options: dict[str, Any],
               local_workers: int, dispatcher_pid: int | None,
               on_epoch: Callable[[int, int, int], Any] | None = None
               ) -> list[dict[str, Any]]:
    """Train the (loss ``i``, fold ``j``) networks of ``items`` as one batch
    (:func:`losskit.nn.estimators.fit_many`: the same fits as one at a time) and score
    them; never raises (a failure is recorded per fit, as :func:`_fit_score` does).
    ``on_epoch(epoch, epochs, finished)`` reports the batch's progress (in a worker process:
    a :class:`~losskit._parallel.ProgressRelay` reporter, see :func:`_epoch_reports`)."""
    if dispatcher_pid is not None:
        freeze_imports(dispatcher_pid)
    import torch

    from losskit.nn import MLPClassifier, MLPRegressor, TabularEncoder
    from losskit.nn.estimators import fit_many
    from losskit.nn.trainer import thread_policy

    threads = _worker_threads(local_workers, dispatcher_pid)
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    start = time.perf_counter()
    cls = MLPClassifier if runner["task"] == "classification" else MLPRegressor
    errors: dict[tuple[int, int], str] = {}
    encoded: dict[int, tuple[Any, Any]] = {}
    models: list[Any] = []
    data: list[tuple[Any, ...]] = []
    fitted: list[tuple[int, int]] = []
    try:
        for i, j in items:
            try:
                if j not in encoded:  # the features of `losskit fit`, fitted on the training rows
                    train, test = folds[j]
                    encoder = TabularEncoder().fit(X.iloc[train])
                    encoded[j] = (encoder.transform(X.iloc[train]),
                                  encoder.transform(X.iloc[test]))
                models.append(cls(losses[i], random_state=int(seeds[j]), **runner["params"]))
                data.append((encoded[j][0], y[folds[j][0]]))
                fitted.append((i, j))
            except Exception as exc:
                errors[(i, j)] = _error_text(exc)
        failed = fit_many(models, data, on_epoch=on_epoch)
        scores: dict[tuple[int, int], float] = {}
        with thread_policy(0):  # predictions of small networks: one thread unless chosen
            for (i, j), model, exc in zip(fitted, models, failed, strict=True):
                if exc is not None:
                    errors[(i, j)] = _error_text(exc)
                    continue
                try:
                    value = float(_predict_score(model, encoded[j][1], y[folds[j][1]],
                                                 runner["task"], metric, metric_name,
                                                 metric_options))
                except Exception as error:
                    errors[(i, j)] = _error_text(error)
                    continue
                if np.isfinite(value):
                    scores[(i, j)] = value
                else:
                    errors[(i, j)] = f"{metric_name} is {value} (training diverged?)"
    finally:
        torch.set_num_threads(previous)
    seconds = (time.perf_counter() - start) / max(1, len(items))
    return [{"loss": i, "fold": j, "score": scores.get((i, j)) if (i, j) not in errors
             else None, "seconds": seconds, "error": errors.get((i, j), "")}
            for i, j in items]


#: networks trained as one batch by a ``compare`` job (a chunk of the loss x fold grid)
_CHUNK = 128


def _chunks(todo: list[tuple[int, int]], n_losses: int, n_folds: int, workers: int
            ) -> list[list[tuple[int, int]]]:
    """The fits of the grid in batches: fold-major, the grid cut into equal chunks of at
    most :data:`_CHUNK` (at least one per worker) fixed by the grid alone, so that a resumed
    comparison trains exactly the batches of a whole run (only those with missing fits)."""
    grid = [(i, j) for j in range(n_folds) for i in range(n_losses)]
    n_chunks = max(workers, -(-len(grid) // _CHUNK))
    size = -(-len(grid) // n_chunks)
    missing = set(todo)
    chunks = [grid[k:k + size] for k in range(0, len(grid), size)]
    return [chunk for chunk in chunks if missing.intersection(chunk)]


# ------------------------------------------------------------------ progress and output

FITS_FILE = "fits.json"


class _Progress:
    """tqdm on a terminal; a log line on stderr every ``every`` seconds otherwise."""

    def __init__(self, total: int, done: int, mode: Any, every: float = 30.0) -> None:
        import sys

        self.total, self.done, self.failed = total, done, 0
        # batches report their epochs from other threads (joblib's threading backend, the
        # relay of worker processes' reports) while this one counts the fits
        self.lock = threading.Lock()
        self.start = self.last = time.monotonic()
        self.every = every
        self.bar = None
        self.log = False
        if mode is False or mode is None:
            return
        terminal = sys.stderr.isatty()
        if mode == "log" or not terminal:
            self.log = True
            self._line(f"{done} of {total} fits done" + (" (resumed)" if done else ""))
            return
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, initial=done, desc="compare", unit="fit",
                        file=sys.stderr, dynamic_ncols=True)

    def _line(self, text: str) -> None:
        import sys

        print(f"compare: {text} ({time.monotonic() - self.start:.0f} s)", file=sys.stderr,
              flush=True)

    @property
    def active(self) -> bool:
        """Whether anything is shown."""
        return self.bar is not None or self.log

    def epochs(self, chunk: int, chunks: int) -> Callable[[int, int, int], None]:
        """``on_epoch(epoch, epochs, finished)`` for the batch ``chunk`` (0-based) of
        ``chunks``: the bar's postfix, or a log line every ``every`` seconds, e.g.
        ``chunk 1/3: epoch 40/200, 12 of 75 fits done``."""

        def on_epoch(epoch: int, epochs: int, finished: int) -> None:
            where = f"chunk {chunk + 1}/{chunks}: epoch {epoch}/{epochs}"
            with self.lock:
                if self.bar is not None:
                    self.bar.set_postfix_str(where, refresh=True)
                elif self.log and time.monotonic() - self.last >= self.every:
                    self.last = time.monotonic()
                    self._line(f"{where}, {self.done + finished} of {self.total} fits done")

        return on_epoch

    def update(self, failed: bool) -> None:
        with self.lock:
            self._update(failed)

    def _update(self, failed: bool) -> None:
        self.done += 1
        self.failed += int(failed)
        if self.bar is not None:
            self.bar.update(1)
            if self.failed:
                self.bar.set_postfix(failed=self.failed)
        elif self.log and (time.monotonic() - self.last >= self.every
                           or self.done == self.total):
            self.last = time.monotonic()
            self._line(f"{self.done} of {self.total} fits done"
                       + (f", {self.failed} failed" if self.failed else ""))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _epoch_reports(bar: _Progress, chunks: int, workers: int
                   ) -> tuple[list[Callable[..., None]], ProgressRelay | None]:
    """The ``on_epoch`` callbacks of the batches (none when nothing is shown) and the relay
    that carries them from worker processes, if any. One job, or joblib's threading backend:
    ``bar``'s own callbacks (they run in this process). Worker processes of the loky or
    multiprocessing backends: a :class:`~losskit._parallel.ProgressRelay`. Other backends
    (Dask, Ray: workers possibly on other machines) report when a batch ends, as before."""
    if not bar.active or not chunks:
        return [], None
    callbacks = [bar.epochs(c, chunks) for c in range(chunks)]
    if workers <= 1:
        return callbacks, None
    from joblib import parallel

    backend = parallel.get_active_backend()[0]
    if isinstance(backend, parallel.ThreadingBackend):
        return callbacks, None
    if not isinstance(backend, (parallel.LokyBackend, parallel.MultiprocessingBackend)):
        return [], None
    try:
        relay = ProgressRelay(callbacks)
    except (OSError, EOFError, RuntimeError):  # no manager process here: per batch, as before
        return [], None
    return [relay.reporter(c) for c in range(chunks)], relay


def _fingerprint(X: Any, y: np.ndarray, labels: list[str], losses: list[Any], metric: str,
                 n_splits: int, n_repeats: int, random_state: int, model: dict[str, Any]
                 ) -> dict[str, Any]:
    """What must not change between a run and its ``--resume``: JSON-ready."""
    import hashlib

    h = hashlib.sha256()
    h.update(np.ascontiguousarray(y).astype(str).astype("U").tobytes())
    if X is not None:
        import pandas as pd

        h.update(pd.util.hash_pandas_object(X, index=False).to_numpy().tobytes())
        h.update(repr(list(X.columns)).encode())
    return {"data_sha256": h.hexdigest(), "losses": labels,
            "loss_specs": [loss if isinstance(loss, str) else _label(loss) for loss in losses],
            "metric": metric, "n_splits": int(n_splits), "n_repeats": int(n_repeats),
            "random_state": int(random_state), "model": model}


def _read_fits(out: Path, fingerprint: dict[str, Any]) -> dict[tuple[int, int], dict]:
    import json

    path = out / FITS_FILE
    if not path.is_file():
        fail("compare", "resume", f"finds no {FITS_FILE} in {str(out)!r}", "Run without "
             "resume first (it writes the fits there as they finish), or pass that folder")
    try:
        data = json.loads(path.read_text())
        old = data["fingerprint"]
        fits = {(int(f["loss"]), int(f["fold"])): f for f in data["fits"]}
    except (ValueError, KeyError, TypeError) as error:
        fail("compare", "resume", f"cannot read {str(path)!r} ({error})",
             "Start the comparison again without resume")
    changed = sorted(k for k in set(old) | set(fingerprint) if old.get(k) != fingerprint.get(k))
    if changed:
        fail("compare", "resume", f"finds a comparison with other settings in {str(out)!r} "
             f"(changed: {', '.join(changed)})", "--resume cannot change the settings of the "
             "run it continues: pass the same data, losses and options, or another folder")
    return fits


def _refuse_recorded(out: Path, fingerprint: dict[str, Any]) -> None:
    """Refuse to start afresh in a folder that holds a comparison's record: its fits (an
    interrupted run's hours of training) would be overwritten at once."""
    import json

    path = out / FITS_FILE
    if not path.is_file():
        return
    try:
        data = json.loads(path.read_text())
        recorded, same = len(data["fits"]), data["fingerprint"] == fingerprint
    except (ValueError, KeyError, TypeError):
        recorded, same = None, False
    what = "an unreadable" if recorded is None else (
        f"the record of {recorded} fit(s) of " + ("this" if same else "another"))
    fix = ("Pass resume=True (--resume) to continue it: only the missing fits run" if same
           else "Pass another out folder (--out), or delete that one first")
    fail("compare", "out", f"{str(out)!r} holds {what} comparison ({FITS_FILE})",
         f"{fix}; nothing was overwritten")


def _write_fits(out: Path, fingerprint: dict[str, Any], fits: dict[tuple[int, int], dict]
                ) -> None:
    from losskit._io import atomic_write_bytes, strict_json

    ordered = [fits[key] for key in sorted(fits)]
    atomic_write_bytes(out / FITS_FILE, strict_json(
        {"fingerprint": fingerprint, "fits": ordered}, where=f"compare {FITS_FILE}",
        nonfinite="null"))


# ------------------------------------------------------------------------------ compare


def compare(X: Any, y: Any, losses: Sequence[Any], *, metric: Any = None, n_splits: int = 5,
            n_repeats: int = 5, estimator: Any = None, loss_param: str | None = None,
            estimator_params: dict[str, Any] | None = None, greater_is_better: bool | None = None,
            n_jobs: int | None = 1, random_state: int = 0, out: str | os.PathLike | None = None,
            resume: bool = False, progress: Any = False, batched: bool = True) -> Comparison:
    r"""Is one loss really better than another on this data? Repeated cross-validation + tests.

    Every loss trains the same model on the same :math:`K \times R` folds —
    ``RepeatedStratifiedKFold`` for classification, ``RepeatedKFold`` otherwise — with the same
    seed on each fold (the same initial weights, minibatches and validation split for every
    loss), and is scored on the held-out fold. The paired fold scores are then tested
    (:mod:`losskit.compare.stats`): two losses by the corrected resampled t-test (Nadeau &
    Bengio 2003) and the Wilcoxon signed-rank test, more by the Friedman test and
    Holm-adjusted pairwise tests; the conclusion says which loss is better at what
    confidence, or that the data cannot tell them apart.

    The model is, by default, losskit's network (:class:`losskit.nn.MLPClassifier` or
    :class:`~losskit.nn.MLPRegressor`, as :func:`losskit.advise` decides the task) on the
    features ``losskit fit`` uses (:class:`losskit.nn._tabular.TabularEncoder`, fitted on each
    fold's training part). Or any scikit-learn-compatible ``estimator`` with the name of its
    loss parameter (``loss_param``), cloned per fold; or any code at all, as a callable
    ``estimator(loss, train_idx, test_idx, seed) -> score``.

    A fit that fails (an exception, a diverged training, a non-finite score) is recorded in
    ``Comparison.failures`` and the run goes on; a pair of losses is then tested on the folds
    where both succeeded (untestable below :data:`losskit.compare.stats.MIN_COMMON_FOLDS`).
    A loss of losskit's network whose domain the target leaves (a Poisson loss on negative
    values, a Gamma loss on zeros ...), and a regression metric whose domain it leaves, are
    refused before any training, every such loss named (refused, not skipped: a comparison
    never silently lacks a loss it was asked for).

    Parameters
    ----------
    X : array_like of shape (n, d) or DataFrame, or None
        No missing values (drop or impute them first). ``None`` with a callable
        ``estimator`` (which reads its own data).
    y : array_like of shape (n,)
        Class labels of any type, or real values (decides the folds' stratification).
    losses : sequence or dict
        Two or more losses, each as the model takes it: for losskit's network a name
        (``"cross_entropy"``, ``"huber_loss"`` ...), a losskit loss function, a family
        (``lk.family("poisson")``) or a callable ``(y_true, y_pred) -> per-sample loss``;
        for an ``estimator``, the values of its ``loss_param``; for a callable, anything it
        accepts. A dict ``{label: loss}`` names them in the results.
    metric : str or callable, optional
        A :mod:`losskit.metrics` name or function (or ``"log_loss"``, ``"mae"``, ``"rmse"``,
        ``"auc"`` ...); by default the first metric :func:`losskit.advise` suggests for ``y``.
        ``*_score`` is maximised, ``*_error``/``*_loss``/``*_deviance`` minimised.
        Classification metrics receive the predicted class probabilities and the labels'
        indices in sorted order (for two classes the positive class is the second sorted
        label, as in scikit-learn); F1, precision and recall use ``average="macro"`` for more
        than two classes. With a callable ``estimator`` it only names the score (and its
        direction, unless ``greater_is_better`` is given).
    n_splits, n_repeats : int
        ``K`` and ``R``: ``K``-fold cross-validation repeated ``R`` times (new shuffles).
    estimator : estimator or callable, optional
        A scikit-learn-compatible estimator (``SGDClassifier()``,
        ``HistGradientBoostingRegressor()``, a skorch net, a ``Pipeline``); its
        ``random_state`` parameters are set to the fold's seed. Or a callable
        ``(loss, train_idx, test_idx, seed) -> score`` (a Keras, JAX or Lightning model).
    loss_param : str, optional
        The estimator's parameter that takes the loss (``"loss"``, ``"criterion"``,
        ``"sgdclassifier__loss"`` in a pipeline). Required with an estimator.
    estimator_params : dict, optional
        Keyword arguments of losskit's network (``epochs``, ``hidden_layer_sizes``,
        ``learning_rate``, ``optimizer`` ...); ``random_state`` is set per fold by ``compare``.
        Unless given, every fit uses SGD with momentum 0.9 at learning rate 0.01 without early
        stopping (fixed-length runs, the same for every loss), not the estimators' Adam
        defaults (``losskit compare`` passes ``losskit fit``'s defaults, shown in its help).
    greater_is_better : bool, optional
        The direction of a callable's score when its metric name does not say.
    n_jobs : int or None
        Fits run in parallel with joblib (``-1``: all cores). The torch thread count of each
        fit is decided on the worker that runs it (``OMP_NUM_THREADS`` there, which joblib's
        loky workers set to ``cores // n_jobs`` and Dask's nannies to 1). Any joblib backend
        works: run ``compare`` inside ``with joblib.parallel_config("dask"):`` (with a
        ``dask.distributed.Client``) or ``"ray"`` (after ``ray.util.joblib.register_ray()``)
        to spread the fits over a cluster.
    random_state : int
        Seeds the folds and the per-fold seeds.
    out : path, optional
        A folder where each fit is recorded as it finishes (``fits.json``, written
        atomically), so that an interrupted comparison can be continued.
    resume : bool
        Continue the comparison recorded in ``out`` (the same data and settings, checked):
        only the fits missing there are run, and the result equals an uninterrupted run.
    progress : bool or "auto" or "log"
        ``"auto"``/``True``: a tqdm bar on a terminal, a log line on stderr every 30 s
        otherwise; ``"log"``: always log lines; ``False``: silent. Batches report each
        epoch, also from joblib's loky workers (Dask and Ray workers: when a batch ends).
    batched : bool
        With losskit's network: train the fits of the grid as batches of networks with
        stacked weights (:func:`losskit.nn.estimators.fit_many`; each fit starts from the
        same weights and sees the same minibatches as alone, so the fold scores equal the
        one-at-a-time ones to float32 rounding), several times faster for small networks.
        ``n_jobs`` then splits the batches across workers. A fit that diverges in a batch
        is trained again alone (its retries, or its failure, as one at a time). ``False``
        trains the networks one at a time.

    Returns
    -------
    Comparison
        ``scores`` (n_losses, K * R), ``failures``, ``tests``, ``conclusion``, ``summary()``,
        ``to_dict()``, ``to_frame()``, ``save(out)``.

    Examples
    --------
    >>> import numpy as np
    >>> import losskit as lk
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(80, 2))
    >>> y = X[:, 0] + 0.1 * rng.standard_t(2, size=80)
    >>> result = lk.compare(X, y, ["mse", "huber_loss"], n_splits=2, n_repeats=1,
    ...                     estimator_params={"epochs": 3, "hidden_layer_sizes": (4,)})
    >>> result.scores.shape, result.metric
    ((2, 2), 'root_mean_squared_error')
    """
    func = "compare"
    from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold

    from losskit.advise import as_target

    for name, value, low in (("n_splits", n_splits, 2), ("n_repeats", n_repeats, 1)):
        if not (isinstance(value, (int, np.integer)) and not isinstance(value, bool)
                and value >= low):
            fail(func, name, f"is {value!r}", f"Pass an integer >= {low}")
    if not isinstance(random_state, (int, np.integer)) or isinstance(random_state, bool):
        fail(func, "random_state", f"is {random_state!r}", "Pass an integer seed", TypeError)
    names: list[str] | None = None
    if isinstance(losses, Mapping):
        names = [str(k) for k in losses]
        losses = list(losses.values())
    elif isinstance(losses, (str, bytes)) or not isinstance(losses, Sequence):
        fail(func, "losses", f"is {losses!r}", "Pass a list of two or more losses (or a dict "
             "label -> loss)", TypeError)
    losses = list(losses)
    if len(losses) < 2:
        fail(func, "losses", f"has {len(losses)} loss(es)", "Pass two or more losses to compare")
    if n_jobs is not None and (not isinstance(n_jobs, (int, np.integer))
                               or isinstance(n_jobs, bool) or n_jobs == 0):
        fail(func, "n_jobs", f"is {n_jobs!r}", "Pass a positive number of workers, -1 for all "
             "cores, or None for joblib's default")
    if estimator_params is not None and not isinstance(estimator_params, dict):
        fail(func, "estimator_params", f"is {type(estimator_params).__name__}",
             "Pass a dict of estimator keyword arguments", TypeError)
    if not isinstance(batched, (bool, np.bool_)):
        fail(func, "batched", f"is {batched!r}", "Pass True or False", TypeError)
    if progress not in (True, False, None, "auto", "log"):
        fail(func, "progress", f"is {progress!r}", "Pass True, False, 'auto' or 'log'")
    kind = "mlp"
    if estimator is not None:
        if hasattr(estimator, "fit") and hasattr(estimator, "get_params"):
            kind = "estimator"
            if not isinstance(loss_param, str) or not loss_param:
                fail(func, "loss_param", f"is {loss_param!r}", "Pass the name of the "
                     "estimator's loss parameter, e.g. loss_param='loss'")
            if loss_param not in estimator.get_params(deep=True):
                fail(func, "loss_param", f"is {loss_param!r}, which is not a parameter of "
                     f"{type(estimator).__name__}", "Pass one of "
                     + ", ".join(sorted(estimator.get_params(deep=True))))
        elif callable(estimator):
            kind = "callable"
        else:
            fail(func, "estimator", f"is {type(estimator).__name__}", "Pass a scikit-learn "
                 "estimator (with loss_param) or a callable (loss, train_idx, test_idx, seed) "
                 "-> score", TypeError)
        if estimator_params:
            fail(func, "estimator_params", "is given with an estimator", "Set the estimator's "
                 "own parameters on it (estimator_params is for losskit's network)")
    params = dict(estimator_params or {})
    if "random_state" in params or "loss" in params:
        fail(func, "estimator_params", "contains 'random_state' or 'loss'",
             "Set the seed with compare(random_state=...) and the losses with losses=")
    params.setdefault("verbose", False)
    # the comparison's own training settings, independent of the estimators' defaults (Adam
    # with early stopping): fixed-length SGD runs, the same for every loss
    for key, value in _TRAINING.items():
        params.setdefault(key, value)

    y = as_target(y, func)
    if y.ndim != 1:
        fail(func, "y", f"has shape {y.shape}", "Pass one target column")
    n = y.shape[0]
    if X is None and kind != "callable":
        fail(func, "X", "is None", "Pass the inputs (X may be None only with a callable "
             "estimator)")
    X = None if X is None else _as_table(X, n)
    from losskit.advise import advise

    advice = advise(y)
    if advice.task == "constant":
        fail(func, "y", f"is constant (every row is {_show(y[0])}): there is nothing to "
             "compare the losses on", "Pass a target that varies")
    if advice.task == "multilabel":
        fail(func, "y", "is a multilabel target", "Pass class labels or real values")
    task = "classification" if advice.task in _CLASSIFICATION_TASKS else "regression"
    if task == "regression":
        y = y.astype(float)
    if kind == "callable":
        if not isinstance(metric, str) or not metric:
            fail(func, "metric", f"is {metric!r}", "Name the score the callable returns, e.g. "
                 "metric='accuracy_score'")
        metric_fn, metric_name = None, metric
        greater = (greater_is_better if greater_is_better is not None
                   else _metric_direction(func, metric))
    else:
        metric_fn, metric_name, greater = _metric(metric, task, y)
    metric_options: dict[str, Any] = {}
    if task == "regression" and metric_fn is not None:
        _check_metric_domain(func, metric_fn, metric_name, y)
    if task == "classification":
        classes, counts = np.unique(y, return_counts=True)
        if counts.min() < n_splits:
            fail(func, "n_splits", f"is {n_splits} but class {classes[counts.argmin()]!s} "
                 f"has only {counts.min()} samples", "Use fewer folds (each class must appear "
                 "in every fold) or collect more data")
        if len(classes) > 2 and metric_name in ("f1_score", "precision_score", "recall_score"):
            metric_options["average"] = "macro"
        cv = RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats,
                                     random_state=random_state)
    else:
        if n < 2 * n_splits:
            fail(func, "n_splits", f"is {n_splits} for {n} samples",
                 "Use fewer folds or more data (at least 2 samples per fold)")
        cv = RepeatedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=random_state)
    folds = list(cv.split(np.zeros((n, 1)), y))
    seeds = np.random.RandomState(random_state).randint(np.iinfo(np.int32).max,
                                                        size=len(folds))
    labels = _unique(names if names is not None else [_label(loss) for loss in losses])

    if kind == "mlp":
        # fail fast on a loss the network does not know (before any training)
        from losskit.nn import loss_spec

        n_classes = len(np.unique(y)) if task == "classification" else None
        for loss in losses:
            try:
                loss_spec(func, loss, task, n_classes)
            except ValueError as error:  # say why the task is what it is
                found, _, fix = str(error).partition(". ")
                raise ValueError(f"{found} (losskit advise reads y as a {advice.task} target, "
                                 f"so compare trains {task} networks). {fix}") from None
        _check_domains(func, y, losses, labels, task, n_classes)
        model_info: dict[str, Any] = {"model": "losskit.nn." + (
            "MLPClassifier" if task == "classification" else "MLPRegressor"),
            "estimator_params": {k: (list(v) if isinstance(v, tuple) else v)
                                 for k, v in params.items()}}
        runner: dict[str, Any] = {"kind": "mlp", "task": task, "params": params}
    elif kind == "estimator":
        model_info = {"model": type(estimator).__name__, "loss_param": loss_param,
                      "estimator_params": {k: repr(v) for k, v in
                                           estimator.get_params(deep=False).items()
                                           if k != loss_param}}
        runner = {"kind": "estimator", "task": task, "estimator": estimator,
                  "loss_param": loss_param}
    else:
        # a callable's code cannot be checked on resume: only that it is a callable
        model_info = {"model": "callable"}
        runner = {"kind": "callable", "task": task, "function": estimator}

    fingerprint = _fingerprint(X, y, labels, losses, metric_name, n_splits, n_repeats,
                               random_state, model_info)
    out_dir = None if out is None else Path(out)
    done: dict[tuple[int, int], dict] = {}
    if resume:
        if out_dir is None:
            fail(func, "resume", "is True without out", "Pass the folder of the comparison "
                 "to continue as out")
        done = _read_fits(out_dir, fingerprint)
    elif out_dir is not None:
        from losskit.compare.report import check_out_dir

        check_out_dir(out_dir)
        _refuse_recorded(out_dir, fingerprint)
        out_dir.mkdir(parents=True, exist_ok=True)
        _write_fits(out_dir, fingerprint, done)

    import joblib

    todo = [(i, j) for i in range(len(losses)) for j in range(len(folds)) if (i, j) not in done]
    n_workers = max(1, min(joblib.effective_n_jobs(n_jobs), max(1, len(todo))))
    pid = None if n_workers <= 1 else os.getpid()
    bar = _Progress(len(losses) * len(folds), len(done), "auto" if progress is True else progress)
    relay = None
    if kind == "mlp" and batched:
        chunks = _chunks(todo, len(losses), len(folds), n_workers)
        # a batch reports each epoch: in this process directly, from worker processes
        # through a relay (see _epoch_reports)
        reports, relay = _epoch_reports(bar, len(chunks), n_workers)
        jobs = [joblib.delayed(_fit_chunk)(chunk, losses, runner, seeds, X, y, folds,
                                           metric_fn, metric_name, metric_options, n_workers,
                                           pid, **({"on_epoch": reports[c]} if reports else {}))
                for c, chunk in enumerate(chunks)]
    else:
        jobs = [joblib.delayed(_fit_score)(i, j, losses[i], runner, int(seeds[j]), X, y,
                                           folds[j][0], folds[j][1], metric_fn, metric_name,
                                           metric_options, n_workers, pid)
                for i, j in todo]
    try:
        if todo:
            try:
                stream = joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered")(jobs)
            except ValueError:  # pragma: no cover - a backend without result streaming
                stream = joblib.Parallel(n_jobs=n_jobs)(jobs)
            for result in stream:
                if relay is not None:  # the batch's epochs before its fits
                    relay.flush()
                records = result if isinstance(result, list) else [result]
                for record in records:
                    # a resumed batch re-trains its recorded fits too: keep the records
                    if (record["loss"], record["fold"]) not in done:
                        done[(record["loss"], record["fold"])] = record
                        bar.update(bool(record["error"]))
                if out_dir is not None:
                    _write_fits(out_dir, fingerprint, done)
    finally:
        try:
            if relay is not None:
                relay.close()
        finally:
            bar.close()

    values = np.full((len(losses), len(folds)), np.nan)
    seconds = np.full((len(losses), len(folds)), np.nan)
    failures = []
    for (i, j), record in sorted(done.items()):
        seconds[i, j] = record["seconds"]
        if record["error"]:
            failures.append({"loss": labels[i], "fold": j, "error": record["error"]})
        else:
            values[i, j] = record["score"]
    settings = {**model_info, "random_state": int(random_state), "seeds": seeds.tolist(),
                "n_jobs": n_jobs}
    if kind == "mlp":
        settings["batched"] = bool(batched)
    if kind == "callable":
        settings["model"] = f"callable {_label(estimator)}"
    return Comparison(
        losses=labels, metric=metric_name, greater_is_better=bool(greater), scores=values,
        n_splits=int(n_splits), n_repeats=int(n_repeats),
        n_train=np.array([len(tr) for tr, _ in folds]),
        n_test=np.array([len(te) for _, te in folds]), task=task, fit_seconds=seconds,
        failures=failures, settings=settings)


