"""``lk.compare_scores``: the tests, effect sizes and report for scores obtained anywhere.

A long table, one row per run: ``loss``, ``score`` and what pairs the runs — ``fold`` (with
``repeat``) for repeated cross-validation, ``seed`` (or ``repeat``) for runs on one split with
matched seeds — and optionally ``n_train``, ``n_test``, ``metric`` and ``error``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from losskit._validation import fail

__all__ = ["compare_scores", "read_scores"]


def read_scores(path: str | os.PathLike) -> Any:
    """Read a table of scores (CSV or Parquet) for :func:`compare_scores`."""
    from losskit.datasets import read_table

    return read_table(path, command="compare")


def _design(table: Any, design: str) -> str:
    keys = [c for c in ("repeat", "fold", "seed") if c in table.columns]
    if design != "auto":
        if design == "cv" and "fold" not in table.columns:
            fail("compare_scores", "design", "is 'cv' but the table has no fold column",
                 "Add the fold of each run (and its repeat), or pass design='paired'")
        if design == "paired" and not keys:
            fail("compare_scores", "design", "is 'paired' but the table has no seed, repeat "
                 "or fold column", "Add what pairs the runs, or pass design='unpaired'")
        return design
    if "fold" in table.columns:
        return "cv"
    return "paired" if keys else "unpaired"


def compare_scores(table: Any, *, metric: str | None = None,
                   greater_is_better: bool | None = None, design: str = "auto",
                   alpha: float = 0.05) -> Any:
    r"""The tests and conclusion of :func:`losskit.compare` for runs made anywhere.

    Parameters
    ----------
    table : DataFrame or mapping of columns
        One row per run: ``loss`` (a label), ``score`` (the test score; empty or NaN for a
        failed run) and what pairs the runs across losses: ``fold`` and ``repeat`` for
        repeated ``K``-fold cross-validation, ``seed`` (or ``repeat``) for matched seeds on
        one split. Optional: ``n_train``/``n_test`` (per fold; for the corrected t-test —
        without them its correction is :math:`1/(K-1)`, the ratio of ``K``-fold
        cross-validation), ``metric`` (one name), ``error`` (a failed run's reason).
    metric : str, optional
        The score's name (default: the table's ``metric`` column, else ``"score"``).
    greater_is_better : bool, optional
        Default: from the metric's name (``*_score`` maximised; ``*_error``, ``*_loss``,
        ``*_deviance`` minimised).
    design : {"auto", "cv", "paired", "unpaired"}
        Which tests apply (:data:`losskit.compare.stats.DESIGNS`). ``"auto"``: ``"cv"`` with a
        ``fold`` column (the corrected resampled t-test, Wilcoxon, Friedman), ``"paired"``
        with ``seed`` or ``repeat`` (the paired t-test, Wilcoxon, Friedman), ``"unpaired"``
        with none of them (Welch, Mann–Whitney, Kruskal–Wallis). Paired runs whose keys do
        not overlap at all between the losses are compared unpaired, and the conclusion
        says so.
    alpha : float
        Significance level.

    Returns
    -------
    Comparison
        As :func:`losskit.compare` returns it (``save(out)`` writes the same report).

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"loss": ["ce"] * 4 + ["focal"] * 4, "seed": [0, 1, 2, 3] * 2,
    ...                       "score": [0.90, 0.91, 0.89, 0.92, 0.80, 0.82, 0.81, 0.80]})
    >>> result = compare_scores(table, metric="accuracy_score")
    >>> result.design, result.best, result.tests["paired_ttest"]["p_value"] < 0.01
    ('paired', 'ce', True)
    """
    import pandas as pd

    from losskit.compare._core import Comparison, _metric_direction

    func = "compare_scores"
    frame = table if isinstance(table, pd.DataFrame) else pd.DataFrame(table)
    missing = [c for c in ("loss", "score") if c not in frame.columns]
    if missing:
        fail(func, "table", f"has no column {', '.join(map(repr, missing))} (columns: "
             f"{', '.join(map(str, frame.columns))})", "Pass one row per run with columns "
             "loss, score and fold/repeat or seed")
    if design not in ("auto", "cv", "paired", "unpaired"):
        fail(func, "design", f"is {design!r}", "Pass 'auto', 'cv', 'paired' or 'unpaired'")
    frame = frame.reset_index(drop=True).copy()
    frame["loss"] = frame["loss"].astype(str)
    scores = pd.to_numeric(frame["score"], errors="coerce")
    bad = frame["score"].notna() & scores.isna()
    if bad.any():
        fail(func, "table", f"has a score that is not a number: {frame['score'][bad].iloc[0]!r}",
             "Leave a failed run's score empty (and say why in an error column)")
    frame["score"] = scores.astype(float)
    if "metric" in frame.columns:
        names = frame["metric"].dropna().astype(str).unique()
        if len(names) > 1:
            fail(func, "table", f"mixes metrics ({', '.join(names)})", "Pass one metric's runs")
        if metric is None and len(names) == 1:
            metric = names[0]
    metric = metric or "score"
    greater = greater_is_better if greater_is_better is not None else _metric_direction(
        func, metric)
    chosen = _design(frame, design)
    labels = list(dict.fromkeys(frame["loss"]))
    if len(labels) < 2:
        fail(func, "table", f"has {len(labels)} loss(es)", "Pass the runs of two or more losses")
    if chosen == "cv":
        keys = [c for c in ("repeat", "fold") if c in frame.columns]
    elif chosen == "paired":
        keys = [c for c in ("seed", "repeat", "fold") if c in frame.columns][:1]
    else:
        keys = []
    statement = ""
    if keys:
        for key in keys:
            if frame[key].isna().any():
                fail(func, "table", f"has empty {key} values", f"Give every run its {key}")
        dup = frame.duplicated(["loss", *keys])
        if dup.any():
            row = frame[dup].iloc[0]
            fail(func, "table", f"has two runs of {row['loss']!r} with the same "
                 + ", ".join(f"{k} {row[k]}" for k in keys),
                 "Give every run of a loss its own " + "/".join(keys))
        sets = [set(map(tuple, frame.loc[frame["loss"] == label, keys].to_numpy().tolist()))
                for label in labels]
        if design == "auto" and not set.intersection(*sets) and chosen == "paired":
            chosen, keys = "unpaired", []
            statement = "no run key is shared by every loss: the runs are compared unpaired"
    if keys:
        columns = sorted(set().union(*sets))
        position = {key: j for j, key in enumerate(columns)}
        matrix = np.full((len(labels), len(columns)), np.nan)
        fold_of = [position[tuple(row)] for row in frame[keys].to_numpy().tolist()]
    else:
        width = int(frame["loss"].value_counts().max())
        matrix = np.full((len(labels), width), np.nan)
        counters = dict.fromkeys(labels, 0)
        fold_of = []
        for label in frame["loss"]:
            fold_of.append(counters[label])
            counters[label] += 1
    row_of = {label: i for i, label in enumerate(labels)}
    failures = []
    errors = None
    if "error" in frame.columns:
        errors = frame["error"].astype(object).where(frame["error"].notna(), "").astype(str)
    for n, (label, j) in enumerate(zip(frame["loss"], fold_of, strict=True)):
        value = frame["score"].iloc[n]
        reason = "" if errors is None else errors.iloc[n]
        if np.isfinite(value) and not reason:
            matrix[row_of[label], j] = value
        else:
            failures.append({"loss": label, "fold": int(j),
                             "error": reason or f"score is {value}"})
    J = matrix.shape[1]
    n_train = np.full(J, np.nan)
    n_test = np.full(J, np.nan)
    if chosen == "cv":
        k = int(frame["fold"].nunique())
        n_repeats = int(frame["repeat"].nunique()) if "repeat" in frame.columns else 1
        for column, target in (("n_train", n_train), ("n_test", n_test)):
            if column in frame.columns:
                for j, value in zip(fold_of, pd.to_numeric(frame[column], errors="coerce"),
                                    strict=True):
                    if np.isfinite(value):
                        target[j] = value
        if not np.isfinite(n_train).any() or not np.isfinite(n_test).any():
            if k < 2:
                fail(func, "table", "has one fold and no n_train/n_test columns", "Add the "
                     "training and test sizes, or the runs of every fold")
            n_train[:], n_test[:] = k - 1.0, 1.0  # K-fold: n_test / n_train = 1 / (K - 1)
    else:
        k, n_repeats = J, 1
    settings: dict[str, Any] = {"model": "scores from a table", "design": chosen,
                                "keys": keys}
    if statement:
        settings["statement"] = statement
    return Comparison(losses=labels, metric=metric, greater_is_better=bool(greater),
                      scores=matrix, n_splits=k, n_repeats=n_repeats, n_train=n_train,
                      n_test=n_test, task="scores from a table", fit_seconds=np.full(
                          matrix.shape, np.nan), alpha=alpha, failures=failures,
                      settings=settings, design=chosen)
