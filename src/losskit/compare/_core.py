"""``lk.compare``: train one network per loss on the same repeated cross-validation folds."""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from losskit._parallel import freeze_imports
from losskit._validation import fail
from losskit.compare import stats as _stats

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
        ``scores[i, j]``: loss ``i`` on fold ``j`` (the same folds and seeds for every loss).
    n_splits, n_repeats : int
    n_train, n_test : ndarray of shape (n_splits * n_repeats,)
        Training and test sizes of each fold.
    task : str
        ``"classification"`` or ``"regression"``.
    fit_seconds : ndarray of shape (n_losses, n_splits * n_repeats)
        Training time of each fit.
    alpha : float
        Significance level of the conclusion (0.05: 95% confidence).
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
    _analysis: dict[str, Any] = field(default_factory=dict, init=False, repr=False,
                                      compare=False)

    def analysis(self) -> dict[str, Any]:
        """:func:`losskit.compare.stats.conclude` of the scores (computed once)."""
        if not self._analysis:
            self._analysis.update(_stats.conclude(
                self.losses, self.scores, metric=self.metric,
                greater_is_better=self.greater_is_better, n_train=float(self.n_train.mean()),
                n_test=float(self.n_test.mean()), alpha=self.alpha))
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
    def best(self) -> str:
        """The loss with the best mean score."""
        return self.analysis()["best"]

    def summary(self) -> list[dict[str, Any]]:
        """Per loss: mean, standard deviation, min, max of the fold scores and mean rank."""
        ranks = _stats._average_ranks(self.scores, self.greater_is_better)
        return [{"loss": name, "mean": float(s.mean()), "std": float(s.std(ddof=1)),
                 "min": float(s.min()), "max": float(s.max()), "mean_rank": float(r),
                 "mean_fit_seconds": float(t.mean())}
                for name, s, r, t in zip(self.losses, self.scores, ranks, self.fit_seconds,
                                         strict=True)]

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready: settings, fold scores, summary, tests, conclusion."""
        return {
            "metric": self.metric, "greater_is_better": self.greater_is_better,
            "task": self.task, "n_splits": self.n_splits, "n_repeats": self.n_repeats,
            "alpha": self.alpha, "losses": list(self.losses),
            "fold_scores": {name: row.tolist()
                            for name, row in zip(self.losses, self.scores, strict=True)},
            "n_train": self.n_train.tolist(), "n_test": self.n_test.tolist(),
            "summary": self.summary(), "tests": self.tests, "best": self.best,
            "significant": self.analysis()["significant"], "conclusion": self.conclusion,
        }

    def __str__(self) -> str:
        width = max(len(name) for name in self.losses)
        lines = [f"{self.metric} over {self.n_splits} folds x {self.n_repeats} repeats "
                 f"({'higher' if self.greater_is_better else 'lower'} is better)", ""]
        lines.append(f"{'loss':<{width}}  {'mean':>10}  {'std':>10}  {'rank':>5}")
        for row in self.summary():
            lines.append(f"{row['loss']:<{width}}  {row['mean']:>10.4g}  {row['std']:>10.3g}"
                         f"  {row['mean_rank']:>5.2f}")
        return "\n".join([*lines, "", self.conclusion])

    def save(self, out: str | os.PathLike) -> dict[str, Path]:
        """Write ``results.json``, ``scores.png`` (box plot) and ``report.html`` into ``out``.

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
                   "brier": "brier_score_loss"}


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
            fail("compare", "metric", f"is {metric!r}, which is not a losskit metric",
                 f"Pass one of {', '.join(sorted(names))}")
        fn = getattr(lkm, name)
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
    return table


def _torch_threads(n_workers: int) -> int | None:
    """Torch threads per worker: the cores shared out, so workers never oversubscribe.

    ``None`` (leave torch's setting alone) when the fits run one at a time.
    """
    if n_workers <= 1:
        return None
    import joblib

    # joblib's count respects the CPU affinity and cgroup (container) limits
    return max(1, joblib.cpu_count() // n_workers)


#: the training settings every fit of ``compare`` uses unless ``estimator_params`` says
#: otherwise (SGD with momentum, fixed length; not the estimators' Adam defaults)
_TRAINING = {"optimizer": "sgd", "learning_rate": 0.01, "momentum": 0.9,
             "early_stopping": False}


def _fit_score(loss: Any, task: str, params: dict[str, Any], seed: int, X: Any, y: np.ndarray,
               train: np.ndarray, test: np.ndarray, metric: Callable,
               metric_options: dict[str, Any], threads: int | None,
               dispatcher_pid: int | None = None) -> tuple[float, float]:
    """Train one network on ``train`` and score it on ``test`` (runs inside a worker, or in
    this process with one job; ``threads`` is set only for workers)."""
    import torch

    from losskit.nn import MLPClassifier, MLPRegressor
    from losskit.nn._tabular import TabularEncoder

    if dispatcher_pid is not None:
        freeze_imports(dispatcher_pid)

    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        cls = MLPClassifier if task == "classification" else MLPRegressor
        start = time.perf_counter()
        # the features of `losskit fit`, fitted on the training rows only
        encoder = TabularEncoder().fit(X.iloc[train])
        model = cls(loss, random_state=seed, **params).fit(encoder.transform(X.iloc[train]),
                                                           y[train])
        seconds = time.perf_counter() - start
        X_test, y_test = encoder.transform(X.iloc[test]), y[test]
        if task == "classification":
            proba = model.predict_proba(X_test)
            y_idx = np.searchsorted(model.classes_, y_test)
            value = metric(y_idx, proba, **metric_options)
        else:
            value = metric(y_test, model.predict(X_test), **metric_options)
        return float(value), seconds
    finally:
        if threads is not None:
            torch.set_num_threads(previous)


# ------------------------------------------------------------------------------ compare


def compare(X: Any, y: Any, losses: Sequence[Any], *, metric: Any = None, n_splits: int = 5,
            n_repeats: int = 5, estimator_params: dict[str, Any] | None = None,
            n_jobs: int | None = 1, random_state: int = 0) -> Comparison:
    r"""Is one loss really better than another on this data? Repeated cross-validation + tests.

    Every loss trains the same network (:class:`losskit.nn.MLPClassifier` or
    :class:`~losskit.nn.MLPRegressor`, as :func:`losskit.advise` decides the task) on the same
    :math:`K \times R` folds — ``RepeatedStratifiedKFold`` for classification,
    ``RepeatedKFold`` otherwise — with the same seed on each fold (the same initial weights,
    minibatches and validation split for every loss), and is scored on the held-out fold. The
    paired fold scores are then tested (:mod:`losskit.compare.stats`): two losses by the
    corrected resampled t-test (Nadeau & Bengio 2003) and the Wilcoxon signed-rank test,
    more by the Friedman test and Holm-adjusted pairwise tests; the conclusion says which
    loss is better at what confidence, or that the data cannot tell them apart.

    Inputs become the features ``losskit fit`` uses (:class:`losskit.nn._tabular.
    TabularEncoder`), fitted on each fold's training part only: numeric columns
    standardised, the other DataFrame columns (text, categories, booleans) one-hot encoded,
    as float32.

    Parameters
    ----------
    X : array_like of shape (n, d) or DataFrame
        No missing values (drop or impute them first).
    y : array_like of shape (n,)
        Class labels of any type, or real values.
    losses : sequence or dict
        Two or more losses, each as the estimators take it: a name (``"cross_entropy"``,
        ``"huber_loss"`` ...), a losskit loss function, a family (``lk.family("poisson")``)
        or a callable ``(y_true, y_pred) -> per-sample loss`` written with array operations
        (see :class:`losskit.nn.MLPRegressor`). A dict ``{label: loss}`` names them in the
        results (e.g. two settings of the same callable); otherwise a loss is labelled by
        its name, ``__name__`` or ``repr``.
    metric : str or callable, optional
        A :mod:`losskit.metrics` name or function; by default the first metric
        :func:`losskit.advise` suggests for ``y``. ``*_score`` is maximised, ``*_error``
        minimised. Classification metrics receive the predicted class probabilities and the
        labels' indices in sorted order (for two classes the positive class is the second
        sorted label, as in scikit-learn); F1, precision and recall use
        ``average="macro"`` for more than two classes.
    n_splits, n_repeats : int
        ``K`` and ``R``: ``K``-fold cross-validation repeated ``R`` times (new shuffles).
    estimator_params : dict, optional
        Keyword arguments of the estimator (``epochs``, ``hidden_layer_sizes``,
        ``learning_rate`` ...); ``random_state`` is set per fold by ``compare``. Unless
        given, every fit uses SGD with momentum 0.9 at learning rate 0.01 without early
        stopping (fixed-length runs, the same for every loss), not the estimators' Adam
        defaults.
    n_jobs : int or None
        Fits run in parallel with joblib (``-1``: all cores). With more than one worker,
        each gets ``joblib.cpu_count() // n_workers`` torch threads (``torch.set_num_threads``
        inside the worker) so the workers do not oversubscribe the cores; with one, torch's
        own setting is left alone. Any joblib backend works: run ``compare`` inside
        ``with joblib.parallel_backend("dask"):`` (with a ``dask.distributed.Client``) or
        ``"ray"`` (after ``ray.util.joblib.register_ray()``) to spread the fits over a
        cluster.
    random_state : int
        Seeds the folds and the per-fold network seeds.

    Returns
    -------
    Comparison
        ``scores`` (n_losses, K * R), ``tests``, ``conclusion``, ``summary()``, ``to_dict()``,
        ``save(out)``.

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

    from losskit.advise import _as_target

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
    params = dict(estimator_params or {})
    if "random_state" in params or "loss" in params:
        fail(func, "estimator_params", "contains 'random_state' or 'loss'",
             "Set the seed with compare(random_state=...) and the losses with losses=")
    params.setdefault("verbose", False)
    # the comparison's own training settings, independent of the estimators' defaults (Adam
    # with early stopping): fixed-length SGD runs, the same for every loss
    for key, value in _TRAINING.items():
        params.setdefault(key, value)

    y = _as_target(y)
    if y.ndim != 1:
        fail(func, "y", f"has shape {y.shape}", "Pass one target column")
    n = y.shape[0]
    X = _as_table(X, n)
    from losskit.advise import advise

    advice = advise(y)
    if advice.task in ("constant", "multilabel"):
        fail(func, "y", f"is a {advice.task} target", "Pass class labels or real values")
    task = "classification" if advice.task in _CLASSIFICATION_TASKS else "regression"
    if task == "regression":
        y = y.astype(float)
    metric_fn, metric_name, greater = _metric(metric, task, y)
    metric_options: dict[str, Any] = {}
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

    # fail fast on a loss the network does not know (before any training)
    from losskit.nn._heads import loss_spec

    n_classes = len(np.unique(y)) if task == "classification" else None
    for loss in losses:
        loss_spec(func, loss, task, n_classes)

    import joblib

    n_workers = min(joblib.effective_n_jobs(n_jobs), len(losses) * len(folds))
    threads = _torch_threads(n_workers)
    jobs = [joblib.delayed(_fit_score)(loss, task, params, int(seeds[j]), X, y, train, test,
                                       metric_fn, metric_options, threads,
                                       None if threads is None else os.getpid())
            for loss in losses for j, (train, test) in enumerate(folds)]
    results = joblib.Parallel(n_jobs=n_jobs)(jobs)
    values = np.array([r[0] for r in results], dtype=float).reshape(len(losses), len(folds))
    seconds = np.array([r[1] for r in results], dtype=float).reshape(len(losses), len(folds))
    if not np.all(np.isfinite(values)):
        i, j = np.argwhere(~np.isfinite(values))[0]
        fail(func, "metric", f"{metric_name} is not finite for {labels[i]} on fold {j}",
             "Check the loss (training may have diverged: lower the learning rate)")
    return Comparison(
        losses=labels, metric=metric_name, greater_is_better=greater, scores=values,
        n_splits=int(n_splits), n_repeats=int(n_repeats),
        n_train=np.array([len(tr) for tr, _ in folds]),
        n_test=np.array([len(te) for _, te in folds]), task=task, fit_seconds=seconds)


def _json_text(data: Any) -> str:
    """``results.json``: strict JSON; a non-finite number (a failed fit's score, an undefined
    statistic) is written as ``null`` with a ``null_reasons`` entry beside it."""
    from losskit._io import strict_json

    return strict_json(data, where="compare results.json", nonfinite="null")
