"""The whole command-line path on real tables, side by side with scikit-learn on the same split.

For each data set bundled with scikit-learn or statsmodels (nothing is downloaded), the rows are
split 75/25 with a fixed seed and written as CSV; then, exactly as a user would:

1. ``losskit advise train.csv --target T --json`` (the advised task and loss),
2. ``losskit fit train.csv --target T --out DIR`` with every default,
3. ``losskit predict DIR test.csv --out predictions.csv``,

and the test metric (RMSE for regression, accuracy for classification) is computed from the
written predictions. The references, fitted on the same training rows: scikit-learn's
``MLPRegressor`` / ``MLPClassifier`` (defaults, features standardised) and
``HistGradientBoostingRegressor`` / ``Classifier`` (defaults). A failure (a non-zero exit, a
NaN anywhere) is printed in the table, never skipped. The fit-time ratio is losskit's ``fit``
command (in-process, imports excluded) over scikit-learn MLP's ``fit``.

Run: ``python benchmarks/bench_real_data.py`` (needs the ``bench`` extra for statsmodels'
data sets; the scikit-learn ones run without it). ``--only NAME[,NAME]`` runs some of them.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import datasets as skd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from losskit.cli import main as losskit_main

SEED = 0


@dataclass
class DataSet:
    name: str
    kind: str  # what makes the target interesting
    target: str
    classification: bool
    load: Callable[[], pd.DataFrame]


def _sklearn(loader: Callable, target: str = "target", names: bool = False) -> pd.DataFrame:
    bunch = loader(as_frame=True)
    frame = bunch.frame.copy()
    if names:  # string labels, as a user's CSV would hold them
        frame[target] = np.asarray(bunch.target_names)[frame[target].to_numpy()]
    return frame


def _statsmodels(name: str) -> pd.DataFrame:
    import statsmodels.api as sm

    return getattr(sm.datasets, name).load_pandas().data.copy()


def _star98() -> pd.DataFrame:
    frame = _statsmodels("star98")
    total = frame.pop("NABOVE") + frame["NBELOW"]
    frame["share_above"] = (total - frame.pop("NBELOW")) / total
    return frame


def _linnerud() -> pd.DataFrame:
    bunch = skd.load_linnerud(as_frame=True)
    return pd.concat([bunch.data, bunch.target[["Weight"]]], axis=1)


DATASETS = [
    DataSet("breast_cancer", "binary, string labels", "target", True,
            lambda: _sklearn(skd.load_breast_cancer, names=True)),
    DataSet("digits", "multiclass (10)", "target", True, lambda: _sklearn(skd.load_digits)),
    DataSet("wine", "multiclass (3)", "target", True, lambda: _sklearn(skd.load_wine)),
    DataSet("diabetes", "whole-number scores", "target", False,
            lambda: _sklearn(skd.load_diabetes)),
    DataSet("linnerud", "whole-number weights, 20 rows", "Weight", False, _linnerud),
    DataSet("randhie", "counts (doctor visits)", "mdvis", False,
            lambda: _statsmodels("randhie")),
    DataSet("star98", "proportions", "share_above", False, _star98),
    DataSet("engel", "heteroscedastic", "foodexp", False, lambda: _statsmodels("engel")),
    DataSet("grunfeld", "positive skewed", "invest", False,
            lambda: _statsmodels("grunfeld").drop(columns=["firm"])),
    DataSet("fair", "non-negative, many zeros", "affairs", False,
            lambda: _statsmodels("fair")),
    DataSet("anes96", "multiclass (7), survey", "PID", True,
            lambda: _statsmodels("anes96").drop(columns=["vote"])),
]


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = losskit_main(list(argv))
        except SystemExit as stop:  # argparse
            code = int(stop.code or 0)
    return code, out.getvalue(), err.getvalue()


def _score(classification: bool, y: np.ndarray, pred: np.ndarray) -> float:
    if classification:
        return float(np.mean(y.astype(str) == pred.astype(str)))
    return float(np.sqrt(np.mean((y.astype(float) - pred.astype(float)) ** 2)))


def run_one(ds: DataSet, folder: Path) -> dict:
    frame = ds.load()
    train, test = train_test_split(frame, test_size=0.25, random_state=SEED,
                                   stratify=frame[ds.target] if ds.classification else None)
    train_csv, test_csv = folder / "train.csv", folder / "test.csv"
    train.to_csv(train_csv, index=False)
    test.drop(columns=[ds.target]).to_csv(test_csv, index=False)
    row: dict = {"data set": ds.name, "rows": len(frame), "kind": ds.kind}

    code, out, err = _cli("advise", str(train_csv), "--target", ds.target, "--json")
    if code:
        row["error"] = f"advise exit {code}: {err.strip()[-200:]}"
        return row
    advice = json.loads(out)
    row["advised"] = f"{advice['task']} → {advice['loss']}"

    start = time.perf_counter()
    code, out, err = _cli("fit", str(train_csv), "--target", ds.target,
                          "--out", str(folder / "model"))
    fit_s = time.perf_counter() - start
    if code:
        row["error"] = f"fit exit {code}: {err.strip()[-300:]}"
        return row
    code, out, err = _cli("predict", str(folder / "model"), str(test_csv),
                          "--out", str(folder / "pred.csv"))
    if code:
        row["error"] = f"predict exit {code}: {err.strip()[-300:]}"
        return row
    pred = pd.read_csv(folder / "pred.csv")["prediction"].to_numpy()
    if not ds.classification and not np.all(np.isfinite(pred.astype(float))):
        row["error"] = "predict wrote non-finite predictions with exit 0"
        return row
    y_test = test[ds.target].to_numpy()
    row["losskit"] = _score(ds.classification, y_test, pred)

    X_train = train.drop(columns=[ds.target]).to_numpy(dtype=float)
    X_test = test.drop(columns=[ds.target]).to_numpy(dtype=float)
    y_train = train[ds.target].to_numpy()
    if ds.classification:
        mlp = make_pipeline(StandardScaler(), MLPClassifier(random_state=SEED))
        hgb = HistGradientBoostingClassifier(random_state=SEED)
    else:
        y_train = y_train.astype(float)
        mlp = make_pipeline(StandardScaler(), MLPRegressor(random_state=SEED))
        hgb = HistGradientBoostingRegressor(random_state=SEED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        mlp.fit(X_train, y_train)
        mlp_s = time.perf_counter() - start
    hgb.fit(X_train, y_train)
    row["sklearn MLP"] = _score(ds.classification, y_test, mlp.predict(X_test))
    row["HistGB"] = _score(ds.classification, y_test, hgb.predict(X_test))
    row["fit time ratio"] = fit_s / mlp_s
    row["metric"] = "accuracy" if ds.classification else "RMSE"
    better = (row["losskit"] >= row["sklearn MLP"] - 0.02 if ds.classification
              else row["losskit"] <= 1.05 * row["sklearn MLP"])
    row["goal"] = "✓" if better else "✗"
    return row


def _fmt(x: object) -> str:
    if isinstance(x, float):
        return "nan" if math.isnan(x) else f"{x:.4g}"
    return str(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated data set names")
    args = parser.parse_args()
    chosen = DATASETS
    if args.only:
        names = set(args.only.split(","))
        chosen = [d for d in DATASETS if d.name in names]
    columns = ["data set", "rows", "kind", "advised", "metric", "losskit", "sklearn MLP",
               "HistGB", "goal", "fit time ratio"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    failures = 0
    for ds in chosen:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                row = run_one(ds, Path(tmp))
            except ImportError as error:
                row = {"data set": ds.name, "error": f"skipped: {error}"}
        if "error" in row:
            failures += 1
            print(f"| {ds.name} | {row.get('rows', '')} | {ds.kind} | "
                  f"{row.get('advised', '')} | **FAILED**: {row['error']} |", flush=True)
            continue
        print("| " + " | ".join(_fmt(row.get(c, "")) for c in columns) + " |", flush=True)
    print(f"\n{len(chosen) - failures} of {len(chosen)} data sets ran the whole path")


if __name__ == "__main__":
    main()
