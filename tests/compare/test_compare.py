"""lk.compare: the same folds and seeds for every loss, metrics, custom losses, joblib, CLI."""

from __future__ import annotations

import base64
import gc
import json
import os
import re

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

import sklearn.metrics as skm
from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold

import losskit as lk
from losskit.cli import main
from losskit.compare import load_callable
from losskit.nn import MLPClassifier, MLPRegressor

FAST = {"epochs": 3, "hidden_layer_sizes": (4,), "batch_size": 16}
#: compare's own training settings (not the estimators' Adam defaults): a hand run needs them
SGD = {"optimizer": "sgd", "learning_rate": 0.01, "momentum": 0.9, "early_stopping": False}

LOSS_FILE = """
calls = []


def cubic_error(y_true, y_pred):
    return (abs(y_true - y_pred) ** 3).mean(-1)


not_a_function = 3
"""


@pytest.fixture(scope="module")
def regression():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = X @ [1.0, -1.0, 0.5] + 0.3 * rng.standard_t(3, size=60)
    return X, y


@pytest.fixture(scope="module")
def labels():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 2))
    y = np.where(X[:, 0] - X[:, 1] + 0.5 * rng.normal(size=60) > 0, "yes", "no")
    return X, y


def test_same_loss_twice_gives_identical_scores(regression):
    # the same folds and the same seed on each fold for every loss: a loss compared with
    # itself gives exactly the same fold scores, and the tests say so
    X, y = regression
    result = lk.compare(X, y, ["mse", "mse"], n_splits=2, n_repeats=2, estimator_params=FAST)
    assert result.losses == ["mse", "mse#2"]
    assert result.scores.shape == (2, 4)
    np.testing.assert_array_equal(result.scores[0], result.scores[1])
    assert result.tests["corrected_ttest"]["p_value"] == 1.0
    assert result.tests["wilcoxon"]["p_value"] == 1.0
    assert result.conclusion.startswith("The data cannot tell mse and mse#2 apart")
    assert result.metric == "root_mean_squared_error" and not result.greater_is_better
    folds = list(RepeatedKFold(n_splits=2, n_repeats=2, random_state=0).split(X))
    assert result.n_train.tolist() == [len(tr) for tr, _ in folds]
    assert result.n_test.tolist() == [len(te) for _, te in folds]


def test_batched_progress_moves_every_epoch(regression, monkeypatch, capsys):
    # a batch reports each epoch ("chunk 1/1: epoch 2/3, 0 of 4 fits done"), not only when
    # its fits finish (it used to say "0 of N fits done" for the whole of a long batch)
    from losskit.compare import _core

    monkeypatch.setattr(_core._Progress.__init__, "__defaults__", (0.0,))  # log every line
    X, y = regression
    lk.compare(X, y, ["mse", "mae"], n_splits=2, n_repeats=1, estimator_params=FAST,
               progress="log")
    err = capsys.readouterr().err
    for epoch, done in ((1, 0), (2, 0), (3, 4)):  # trained to the end in epoch 3
        assert f"compare: chunk 1/1: epoch {epoch}/3, {done} of 4 fits done" in err
    assert "compare: 4 of 4 fits done" in err


WORKER_LOSS = """
import os


def in_workers(y_true, y_pred):
    if os.getpid() != PARENT:
        if DIE:
            os._exit(3)
        raise ValueError("this loss fails in workers")
    return ((y_true - y_pred) ** 2).mean(-1)
"""


def _relay_left() -> list[str]:
    """The progress relay's thread and manager process, if still alive."""
    import multiprocessing
    import threading

    return ([t.name for t in threading.enumerate() if t.name == "losskit-progress-relay"]
            + [p.name for p in multiprocessing.active_children()
               if p.name.startswith("SyncManager")])


def test_worker_processes_report_every_epoch(regression, monkeypatch, capsys, tmp_path):
    # with n_jobs=2 each loky worker's batch reports its epochs to this process (it used to
    # say nothing until a whole batch ended); a fit failing in a worker is still recorded
    from losskit.compare import _core

    monkeypatch.setattr(_core._Progress.__init__, "__defaults__", (0.0,))  # log every line
    X, y = regression
    path = tmp_path / "worker_losses.py"
    path.write_text(WORKER_LOSS + f"\nPARENT = {os.getpid()}\nDIE = False\n")
    fails = load_callable(f"{path}:in_workers")
    result = lk.compare(X, y, ["mse", "mae", fails], n_splits=2, n_repeats=1,
                        estimator_params=FAST, progress="log", n_jobs=2)
    lines = capsys.readouterr().err.splitlines()
    end = lines.index(next(line for line in lines if "6 of 6 fits done" in line
                           and "chunk" not in line))
    for chunk in (1, 2):  # both workers' batches, every epoch, before the run's end
        for epoch in (1, 2, 3):
            assert any(f"compare: chunk {chunk}/2: epoch {epoch}/3, " in line
                       for line in lines[:end]), (chunk, epoch, lines)
    assert [f["loss"] for f in result.failures] == ["in_workers", "in_workers"]
    assert all("ValueError: this loss fails in workers" in f["error"]
               for f in result.failures)
    assert np.isfinite(result.scores[:2]).all()
    assert not _relay_left()


def test_threads_report_every_epoch_without_a_relay(regression, monkeypatch, capsys):
    # joblib's threading backend runs the batches in this process: their callbacks are
    # called directly (no manager process), under the progress display's lock
    import joblib

    from losskit.compare import _core

    monkeypatch.setattr(_core._Progress.__init__, "__defaults__", (0.0,))
    monkeypatch.setattr(_core, "ProgressRelay", None)  # would raise if it were used
    X, y = regression
    with joblib.parallel_backend("threading"):
        lk.compare(X, y, ["mse", "mae"], n_splits=2, n_repeats=1, estimator_params=FAST,
                   progress="log", n_jobs=2)
    err = capsys.readouterr().err
    assert all(f"compare: chunk {c}/2: epoch 3/3, " in err for c in (1, 2))


def test_a_worker_that_dies_still_stops_the_run(regression, monkeypatch, tmp_path):
    # a worker process killed mid-batch: compare raises joblib's error as without progress,
    # and the relay of the epochs (its thread, its manager process) is gone
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    X, y = regression
    path = tmp_path / "dying_losses.py"
    path.write_text(WORKER_LOSS + f"\nPARENT = {os.getpid()}\nDIE = True\n")
    dies = load_callable(f"{path}:in_workers")
    with pytest.raises(TerminatedWorkerError):
        lk.compare(X, y, ["mse", dies], n_splits=2, n_repeats=1, estimator_params=FAST,
                   progress="log", n_jobs=2)
    assert not _relay_left()


def test_cli_a_worker_that_dies_is_an_error_that_says_resume(tmp_path, capsys):
    # losskit compare --jobs 2 with a worker killed: "losskit compare: error: ..." naming
    # --resume and exit 2 (was joblib's TerminatedWorkerError as a traceback)
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"x1": rng.normal(size=40), "x2": rng.normal(size=40)})
    frame["y"] = frame.x1 - frame.x2 + 0.2 * rng.normal(size=40)
    data = tmp_path / "d.csv"
    frame.to_csv(data, index=False)
    path = tmp_path / "dying_losses.py"
    path.write_text(WORKER_LOSS + f"\nPARENT = {os.getpid()}\nDIE = True\n")
    out = tmp_path / "out"
    code = main(["compare", str(data), "--target", "y", "--losses", f"mse,{path}:in_workers",
                 "--folds", "2", "--repeats", "1", "--epochs", "2", "--hidden", "4",
                 "--jobs", "2", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert "\nlosskit compare: error: --jobs 2 lost a worker process, killed" in err
    assert "--resume" in err and "Traceback" not in err
    assert (out / "fits.json").is_file()
    assert not _relay_left()


def test_fold_scores_reproduce_a_hand_run(labels):
    # classification: stratified folds, the per-fold seed, and the metric on the held-out
    # fold, checked against scikit-learn's accuracy on a model trained by hand
    X, y = labels
    result = lk.compare(X, y, ["cross_entropy", "mean_squared_error"], n_splits=3,
                        n_repeats=1, estimator_params=FAST, random_state=4)
    assert result.task == "classification" and result.metric == "accuracy_score"
    folds = list(RepeatedStratifiedKFold(n_splits=3, n_repeats=1, random_state=4).split(X, y))
    seeds = np.random.RandomState(4).randint(np.iinfo(np.int32).max, size=3)
    for i, loss in enumerate(["cross_entropy", "mean_squared_error"]):
        for j in (0, 2):
            train, test = folds[j]
            mean, sd = X[train].mean(axis=0), X[train].std(axis=0)  # standardised by hand
            model = MLPClassifier(loss, random_state=int(seeds[j]), verbose=False, **SGD,
                                  **FAST)
            model.fit(((X[train] - mean) / sd).astype(np.float32), y[train])
            predicted = model.predict(((X[test] - mean) / sd).astype(np.float32))
            expected = skm.accuracy_score(y[test], predicted)
            assert result.scores[i, j] == pytest.approx(expected, rel=1e-12)


def test_compare_trains_with_its_own_sgd_settings(regression, monkeypatch):
    # the estimators default to Adam with early stopping; compare's fits stay fixed-length
    # SGD unless estimator_params says otherwise
    seen = []
    original = MLPRegressor._member  # every fit's set-up, batched or one at a time

    def member(self, *args, **kwargs):
        seen.append(self.get_params())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MLPRegressor, "_member", member)
    X, y = regression
    lk.compare(X, y, ["mse", "mae"], n_splits=2, n_repeats=1, estimator_params=FAST)
    assert len(seen) == 4
    assert all({k: p[k] for k in SGD} == SGD for p in seen)
    seen.clear()
    lk.compare(X, y, ["mse", "mae"], n_splits=2, n_repeats=1,
               estimator_params={**FAST, "optimizer": "adam", "learning_rate": 1e-3})
    assert all((p["optimizer"], p["learning_rate"]) == ("adam", 1e-3) for p in seen)


def test_metric_choice_and_direction(regression):
    X, y = regression
    r2 = lk.compare(X, y, ["mse", "mae"], metric="r2", n_splits=2, n_repeats=1,
                    estimator_params=FAST)
    assert r2.metric == "r2_score" and r2.greater_is_better
    folds = list(RepeatedKFold(n_splits=2, n_repeats=1, random_state=0).split(X))
    seed = int(np.random.RandomState(0).randint(np.iinfo(np.int32).max, size=2)[1])
    train, test = folds[1]
    mean, sd = X[train].mean(axis=0), X[train].std(axis=0)
    model = MLPRegressor("mae", random_state=seed, verbose=False, **SGD, **FAST)
    model.fit(((X[train] - mean) / sd).astype(np.float32), y[train])
    predicted = model.predict(((X[test] - mean) / sd).astype(np.float32))
    assert r2.scores[1, 1] == pytest.approx(skm.r2_score(y[test], predicted), rel=1e-6)
    best = int(np.argmax(r2.scores.mean(axis=1)))
    assert r2.best == r2.losses[best]


def test_deviance_metrics_are_minimised_regression_metrics():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 2))
    y = rng.poisson(np.exp(0.5 + 0.5 * X[:, 0])).astype(float)
    result = lk.compare(X, y, ["poisson_nll", "mse"], metric="mean_poisson_deviance",
                        n_splits=2, n_repeats=1, estimator_params=FAST)
    assert result.metric == "mean_poisson_deviance" and not result.greater_is_better
    with pytest.raises(ValueError, match="a regression metric, but the task is classification"):
        lk.compare(X, (y > 1).astype(int), ["cross_entropy", "hinge_loss"],
                   metric="mean_poisson_deviance",
                   n_splits=2, n_repeats=1, estimator_params=FAST)


def test_results_json_writes_non_finite_as_null_with_a_reason():
    from losskit.compare._format import json_text

    data = json.loads(json_text({"scores": [[1.0, float("nan")]], "p": float("inf")}))
    assert data["scores"] == [[1.0, None]] and data["p"] is None
    assert data["null_reasons"] == {"scores[0][1]": "was nan", "p": "was inf"}


def test_custom_losses_callable_family_and_dataframe():
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"x": rng.normal(size=45), "colour": rng.choice(["r", "g", "b"], 45),
                          "flag": rng.random(45) > 0.5}, index=np.arange(100, 145))
    y = rng.choice(["a", "b", "c"], 45)

    def squared_probability_error(y_true, y_pred):  # one-hot y_true, softmax y_pred
        return ((y_true - y_pred) ** 2).sum(-1)

    result = lk.compare(frame, y, ["cross_entropy", squared_probability_error,
                                   lk.family("categorical")], metric="f1",
                        n_splits=3, n_repeats=1, estimator_params=FAST)
    assert result.losses[:2] == ["cross_entropy", "squared_probability_error"]
    assert result.losses[2] == repr(lk.family("categorical"))
    assert result.metric == "f1_score" and result.scores.shape == (3, 3)
    assert np.all((result.scores >= 0) & (result.scores <= 1))
    assert {"friedman", "pairwise"} <= set(result.tests)
    assert "p_value" in result.tests["friedman"]
    # a dict labels the losses; the scores do not depend on the labels
    named = lk.compare(frame, y, {"ce": "cross_entropy", "sq": squared_probability_error},
                       metric="f1", n_splits=3, n_repeats=1, estimator_params=FAST)
    assert named.losses == ["ce", "sq"]
    np.testing.assert_array_equal(named.scores, result.scores[:2])


THREADS_LOSS = """
import gc
import os

import torch


def cubic_error(y_true, y_pred):
    with open(LOG, "a") as fh:
        fh.write(f"{os.getpid()} {torch.get_num_threads()} {gc.get_freeze_count()}\\n")
    return (abs(y_true - y_pred) ** 3).mean(-1)
"""


def test_file_loss_in_parallel_workers_matches_sequential(tmp_path, regression):
    # a loss loaded from a file travels to joblib's worker processes (by value), two workers
    # give exactly the scores of one, and each worker runs torch on its share of the cores
    import joblib

    X, y = regression
    path = tmp_path / "my_losses.py"
    log = tmp_path / "threads.txt"
    # the log's path is written into the file (joblib may reuse worker processes started
    # before this test, which would not see an environment variable set now)
    path.write_text(THREADS_LOSS + f"\nLOG = {str(log)!r}\n")
    cubic = load_callable(f"{path}:cubic_error")
    losses = ["mse", cubic]
    frozen_here = gc.get_freeze_count()
    one = lk.compare(X, y, losses, n_splits=2, n_repeats=1, estimator_params=FAST, n_jobs=1)
    assert gc.get_freeze_count() == frozen_here  # the user's own process is left alone
    log.unlink()
    two = lk.compare(X, y, losses, n_splits=2, n_repeats=1, estimator_params=FAST, n_jobs=2)
    np.testing.assert_array_equal(one.scores, two.scores)
    assert two.losses == ["mse", "cubic_error"]
    seen = [line.split() for line in log.read_text().splitlines()]
    assert seen and all(int(pid) != os.getpid() for pid, _, _ in seen)  # ran in the workers
    assert {int(threads) for _, threads, _ in seen} == {max(1, joblib.cpu_count() // 2)}
    # the workers' imports are out of the collector's sight (loky collects between tasks)
    assert all(int(frozen) > 10000 for _, _, frozen in seen)


def test_threads_of_this_process_do_not_freeze_its_objects(regression):
    """joblib's threading backend runs the fits in this process: no gc.freeze here."""
    import joblib

    X, y = regression
    before = gc.get_freeze_count()
    with joblib.parallel_backend("threading"):
        lk.compare(X, y, ["mse", "mae"], n_splits=2, n_repeats=1, estimator_params=FAST,
                   n_jobs=2)
    assert gc.get_freeze_count() == before


def test_load_callable_errors(tmp_path):
    path = tmp_path / "my_losses.py"
    path.write_text(LOSS_FILE)
    with pytest.raises(ValueError, match=r"names 'not_a_function', which is not a function "
                                         r"in .*\(functions: cubic_error\)"):
        load_callable(f"{path}:not_a_function")
    with pytest.raises(ValueError, match=r"^load_callable: spec names .*missing\.py'?, which "
                                         r"does not exist"):
        load_callable(f"{tmp_path / 'missing.py'}:f")
    with pytest.raises(ValueError, match=r"^load_callable: spec is 'mse'\. Pass"):
        load_callable("mse")


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"losses": ["mse"]}, ValueError, r"losses has 1 loss\(es\)"),
    ({"losses": "mse"}, TypeError, r"losses is 'mse'"),
    ({"losses": ["mse", "cross_entropy"]}, ValueError,
     r"loss is 'cross_entropy', which is not a regression loss"),
    ({"metric": "accuracy"}, ValueError,
     r"metric is 'accuracy_score', a classification metric, but the task is regression"),
    ({"metric": "nope"}, ValueError, r"metric is 'nope', which is not a losskit metric\. "
                                     r"Pass one of"),
    ({"metric": "mean_absolute_eror"}, ValueError, r"metric is 'mean_absolute_eror', which is "
     r"not a losskit metric\. Did you mean 'mean_absolute_error'"),
    ({"estimator_params": {"random_state": 1}}, ValueError, r"estimator_params contains"),
    ({"n_splits": 1}, ValueError, r"n_splits is 1\. Pass an integer >= 2"),
    ({"n_repeats": 0}, ValueError, r"n_repeats is 0"),
    ({"n_jobs": 0}, ValueError, r"n_jobs is 0\. Pass a positive number"),
    ({"estimator_params": [("epochs", 1)]}, TypeError, r"estimator_params is list"),
])
def test_compare_errors(regression, kwargs, error, message):
    X, y = regression
    kwargs = {"losses": ["mse", "mae"], **kwargs}
    with pytest.raises(error, match="^compare: " + message):
        lk.compare(X, y, kwargs.pop("losses"), estimator_params=kwargs.pop(
            "estimator_params", FAST), **kwargs)


def test_compare_errors_on_data():
    X = np.zeros((12, 2))
    y = np.array(["a"] * 10 + ["b"] * 2)
    with pytest.raises(ValueError, match=r"^compare: n_splits is 3 but class b has only 2"):
        lk.compare(X, y, ["cross_entropy", "mse"], n_splits=3)
    with pytest.raises(ValueError, match=r"^compare: X has 11 rows but y has 12"):
        lk.compare(X[:11], y, ["cross_entropy", "mse"], n_splits=2)
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"^compare: X has missing values: 'x1' \(1\)\. "
                                         r"Drop or impute"):
        lk.compare(X, y, ["cross_entropy", "mse"], n_splits=2)
    with pytest.raises(TypeError, match=r"^compare: X has dtype <U1"):
        lk.compare(np.full((12, 1), "a"), y, ["cross_entropy", "mse"], n_splits=2)


# ------------------------------------------------------------------------------ the CLI


def test_cli_writes_results_plot_and_report(tmp_path, capsys):
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"x1": rng.normal(size=40), "x2": rng.normal(size=40),
                          "kind": rng.choice(["u", "v"], 40)})
    frame["y"] = frame.x1 - frame.x2 + 0.2 * rng.normal(size=40)
    data = tmp_path / "d.csv"
    frame.to_csv(data, index=False)
    loss_file = tmp_path / "losses.py"
    loss_file.write_text(LOSS_FILE)
    out = tmp_path / "out"
    code = main(["compare", str(data), "--target", "y",
                 "--losses", f"mse,huber_loss,{loss_file}:cubic_error", "--metric", "mae",
                 "--folds", "2", "--repeats", "1", "--epochs", "2", "--hidden", "4",
                 "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert results["losses"] == ["mse", "huber_loss", "cubic_error"]
    assert results["metric"] == "mean_absolute_error" and not results["greater_is_better"]
    assert len(results["fold_scores"]["cubic_error"]) == 2
    assert "p_value" in results["tests"]["friedman"]
    for pair in results["tests"]["pairwise"]:
        assert "p_value" in pair["corrected_ttest"] and "p_value" in pair["wilcoxon"]
        assert pair["corrected_ttest"]["ci_low"] <= pair["corrected_ttest"]["ci_high"]
    assert results["conclusion"] in printed
    png = (out / "scores.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    page = (out / "report.html").read_text()
    embedded = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page).group(1)
    assert base64.b64decode(embedded) == png  # self-contained: the image is in the page
    assert results["conclusion"].replace("'", "&#x27;") in page
    assert "<td>cubic_error</td>" in page
    assert sorted(p.name for p in out.iterdir()) == [
        "fits.json", "report.html", "results.json", "scores.csv",
        "scores.png"]  # no temporary files


def test_cli_errors_exit_2(tmp_path, capsys):
    data = tmp_path / "d.csv"
    pd.DataFrame({"x": np.arange(10.0), "y": np.arange(10.0) % 3 + 0.5}).to_csv(data,
                                                                                index=False)
    code = main(["compare", str(data), "--target", "y", "--losses", "mse,nope", "--folds",
                 "2", "--repeats", "1", "--epochs", "1", "--out", str(tmp_path / "o")])
    assert code == 2
    assert "losskit compare: error: --losses has 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    (tmp_path / "file").write_text("")
    code = main(["compare", str(data), "--target", "y", "--losses", "mse,mae",
                 "--out", str(tmp_path / "file")])
    assert code == 2
    assert "losskit compare: error: --out '" in capsys.readouterr().err
