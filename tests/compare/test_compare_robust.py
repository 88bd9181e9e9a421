"""``compare`` on real experiments: failed fits recorded and excluded by a stated rule, results
written as fits finish, ``--resume`` after a kill, progress, and the metrics advise names."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import losskit as lk
from losskit.cli import main
from losskit.compare.stats import MIN_COMMON_FOLDS, conclude

SRC = str(Path(lk.__file__).resolve().parents[1])


def _score(loss, train, test, seed):
    """A deterministic stand-in for a training run: the score depends on all four inputs."""
    rng = np.random.default_rng([seed, len(train), int(test.sum())])
    return {"a": 0.80, "b": 0.75, "c": 0.70}[loss] + 0.02 * rng.normal()


def _failing_on(folds):
    def fit_and_score(loss, train, test, seed):
        fold = _fold_of(test)
        if loss == "b" and fold in folds:
            raise ValueError(f"training diverged (fold {fold})")
        return _score(loss, train, test, seed)
    return fit_and_score


_TESTS: dict[int, int] = {}


def _fold_of(test):
    return _TESTS[int(test.sum())]


@pytest.fixture
def target():
    y = np.tile([0, 1], 30)
    # remember which fold each test part is (the folds compare makes for this y and seed)
    from sklearn.model_selection import RepeatedStratifiedKFold

    cv = RepeatedStratifiedKFold(n_splits=3, n_repeats=3, random_state=0)
    _TESTS.clear()
    for j, (_, test) in enumerate(cv.split(np.zeros((60, 1)), y)):
        _TESTS[int(test.sum())] = j
    return y


# ---------------------------------------------------------------------- failures


def test_a_loss_failing_on_some_folds_is_recorded_and_tested_on_the_common_folds(target):
    result = lk.compare(None, target, ["a", "b", "c"], estimator=_failing_on({0, 4, 8}),
                        metric="accuracy_score", n_splits=3, n_repeats=3)
    assert [(f["loss"], f["fold"]) for f in result.failures] == [("b", 0), ("b", 4), ("b", 8)]
    assert all("training diverged" in f["error"] for f in result.failures)
    assert np.isnan(result.scores[1, [0, 4, 8]]).all()
    assert np.isfinite(np.delete(result.scores, [0, 4, 8], axis=1)).all()
    pairs = {(p["a"], p["b"]): p for p in result.tests["pairwise"]}
    assert pairs[("a", "b")]["corrected_ttest"]["n_common"] == 6
    assert pairs[("a", "c")]["corrected_ttest"]["n_common"] == 9
    # the same test as on the six common folds alone
    keep = [1, 2, 3, 5, 6, 7]
    alone = conclude(["a", "b"], result.scores[:2, keep], metric="accuracy_score",
                     greater_is_better=True, n_train=40, n_test=20)
    assert (pairs[("a", "b")]["corrected_ttest"]["p_value"]
            == alone["tests"]["corrected_ttest"]["p_value"])
    assert result.tests["friedman"]["n_blocks"] == 6
    assert "b failed on 3 of 9 folds" in result.conclusion
    summary = {row["loss"]: row for row in result.summary()}
    assert summary["b"]["n_failed"] == 3 and summary["a"]["n_failed"] == 0
    from losskit.compare._format import json_text

    data = json.loads(json_text(result.to_dict()))
    assert data["failures"][0]["loss"] == "b" and "failure_rule" in data
    assert data["fold_scores"]["b"][0] is None  # strict JSON: null with a reason


def test_below_the_minimum_of_common_folds_a_loss_is_left_out(target):
    result = lk.compare(None, target, ["a", "b", "c"],
                        estimator=_failing_on(set(range(9)) - {1, 2}),
                        metric="accuracy_score", n_splits=3, n_repeats=3)
    assert len(result.failures) == 7 and MIN_COMMON_FOLDS == 3
    assert result.to_dict()["excluded_from_tests"] == ["b"]
    assert "b succeeded on only 2 of 9 folds and is left out of the tests" in result.conclusion
    # the two losses left are tested as a pair, on all 9 folds
    assert result.tests["corrected_ttest"]["n_common"] == 9
    assert result.conclusion.startswith("a is better than c")


def test_two_losses_with_too_few_common_folds_are_untestable(target):
    result = lk.compare(None, target, ["a", "b"], estimator=_failing_on(set(range(9)) - {1}),
                        metric="accuracy_score", n_splits=3, n_repeats=3)
    assert not result.to_dict()["significant"]
    assert result.conclusion.startswith("Too few successful folds to test")


def test_a_custom_loss_that_raises_in_training_is_a_failed_fit_not_an_abort(tmp_path):
    # the loss raises when its batch holds the marked sample: every fold that trains on it fails
    rng = np.random.default_rng(0)
    X = rng.normal(size=(45, 2))
    y = X[:, 0] + 0.1 * rng.normal(size=45)
    y[7] = 9.0

    def fragile(y_true, y_pred):
        import torch

        if bool((y_true == 9.0).any()):
            raise FloatingPointError("the loss blew up")
        return torch.abs(y_true - y_pred).mean(-1)

    result = lk.compare(X, y, {"mse": "mse", "fragile": fragile}, metric="mae", n_splits=3,
                        n_repeats=3, estimator_params={"epochs": 2, "hidden_layer_sizes": (4,),
                                                       "batch_size": 64})
    assert len(result.failures) == 6  # the marked row trains in 2 of the 3 folds of a repeat
    assert all(f["loss"] == "fragile" and "FloatingPointError" in f["error"]
               for f in result.failures)
    assert result.tests["corrected_ttest"]["n_common"] == 3
    assert np.isfinite(result.scores[0]).all()
    paths = result.save(tmp_path / "out")
    page = paths["report"].read_text()
    assert "Failed fits (6)" in page and "the loss blew up" in page


# ---------------------------------------------------------------- incremental + resume

_KILLER = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {src!r})
    sys.path.insert(0, {tests!r})
    import numpy as np
    import losskit as lk
    import test_compare_robust as t
    calls = []
    def killed(loss, train, test, seed):
        calls.append(1)
        if len(calls) == {kill_at}:
            os.kill(os.getpid(), signal.SIGKILL)
        return t._score(loss, train, test, seed)
    y = np.tile([0, 1], 30)
    lk.compare(None, y, ["a", "b", "c"], estimator=killed, metric="accuracy_score",
               n_splits=3, n_repeats=2, out={out!r})
""")


@pytest.mark.parametrize("kill_at", [1, 5, 18])
def test_a_killed_comparison_resumes_to_the_same_results(tmp_path, kill_at):
    y = np.tile([0, 1], 30)
    out = tmp_path / "out"
    script = tmp_path / "killer.py"
    script.write_text(_KILLER.format(src=SRC, tests=str(Path(__file__).parent),
                                     kill_at=kill_at, out=str(out)))
    code = subprocess.run([sys.executable, str(script)], capture_output=True).returncode
    assert code == -signal.SIGKILL
    recorded = json.loads((out / "fits.json").read_text())["fits"]
    assert len(recorded) == kill_at - 1  # every fit that finished before the kill
    assert not [p for p in out.iterdir() if p.name != "fits.json"]  # no temporary files
    calls = []

    def counting(loss, train, test, seed):
        calls.append(1)
        return _score(loss, train, test, seed)

    resumed = lk.compare(None, y, ["a", "b", "c"], estimator=counting, metric="accuracy_score",
                         n_splits=3, n_repeats=2, out=out, resume=True)
    assert len(calls) == 18 - (kill_at - 1)  # only the missing fits ran
    whole = lk.compare(None, y, ["a", "b", "c"], estimator=_score, metric="accuracy_score",
                       n_splits=3, n_repeats=2)
    np.testing.assert_array_equal(resumed.scores, whole.scores)
    assert resumed.tests == whole.tests and resumed.conclusion == whole.conclusion


def test_resume_refuses_other_settings_or_no_record(tmp_path):
    y = np.tile([0, 1], 30)
    out = tmp_path / "out"
    lk.compare(None, y, ["a", "b"], estimator=_score, metric="accuracy_score", n_splits=3,
               n_repeats=1, out=out)
    with pytest.raises(ValueError, match=r"changed: n_repeats\)\. --resume cannot change"):
        lk.compare(None, y, ["a", "b"], estimator=_score, metric="accuracy_score",
                   n_splits=3, n_repeats=2, out=out, resume=True)
    with pytest.raises(ValueError, match="data_sha256"):
        lk.compare(None, y[::-1], ["a", "b"], estimator=_score, metric="accuracy_score",
                   n_splits=3, n_repeats=1, out=out, resume=True)
    with pytest.raises(ValueError, match=r"finds no fits\.json"):
        lk.compare(None, y, ["a", "b"], estimator=_score, metric="accuracy_score",
                   n_splits=3, n_repeats=1, out=tmp_path / "new", resume=True)


def test_cli_resume_after_a_kill_gives_the_results_of_a_whole_run(tmp_path):
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(size=40)})
    frame["y"] = frame.x + 0.3 * rng.normal(size=40)
    data = tmp_path / "d.csv"
    frame.to_csv(data, index=False)
    base = [sys.executable, "-m", "losskit.cli", "compare", str(data), "--target", "y",
            "--losses", "mse,huber_loss", "--metric", "mae", "--folds", "2", "--repeats", "3",
            "--epochs", "40", "--hidden", "8"]
    env = {**os.environ, "PYTHONPATH": SRC}
    out = tmp_path / "killed"
    child = subprocess.Popen([*base, "--out", str(out)], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    fits = out / "fits.json"
    try:  # kill it as soon as some fits are recorded (it may finish first on a fast machine)
        while child.poll() is None:
            if fits.exists() and json.loads(fits.read_text())["fits"]:
                child.send_signal(signal.SIGKILL)
                break
            time.sleep(0.02)
    finally:
        child.communicate()
    done = len(json.loads(fits.read_text())["fits"])
    assert done >= 1
    resumed = subprocess.run([*base, "--resume", "--out", str(out)], env=env,
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{done} of 12 fits done (resumed)" in resumed.stderr  # log lines: not a terminal
    whole = subprocess.run([*base, "--out", str(tmp_path / "whole")], env=env,
                           capture_output=True, text=True)
    assert whole.returncode == 0, whole.stderr
    a = json.loads((out / "results.json").read_text())
    b = json.loads((tmp_path / "whole" / "results.json").read_text())
    assert a["fold_scores"] == b["fold_scores"] and a["tests"] == b["tests"]
    assert a["conclusion"] == b["conclusion"]


def test_progress_log_lines_when_not_a_terminal(target, capsys):
    lk.compare(None, target, ["a", "b"], estimator=_score, metric="accuracy_score",
               n_splits=3, n_repeats=1, progress="auto")
    err = capsys.readouterr().err
    assert "compare: 0 of 6 fits done" in err and "compare: 6 of 6 fits done" in err
    lk.compare(None, target, ["a", "b"], estimator=_score, metric="accuracy_score",
               n_splits=3, n_repeats=1)
    assert capsys.readouterr().err == ""  # the library is silent by default


# ------------------------------------------------------------------ metrics and report


@pytest.fixture(scope="module")
def binary_data():
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=120, n_features=5, random_state=0)
    return X, np.where(y == 1, "yes", "no")


@pytest.mark.parametrize("metric, name", [
    ("log_loss", "log_loss"), ("cross_entropy", "log_loss"), ("auc", "roc_auc_score"),
    ("f1", "f1_score"), ("brier", "brier_score_loss"),
    ("balanced_accuracy_score", "balanced_accuracy_score")])
def test_every_classification_metric_advise_names_is_accepted(binary_data, metric, name):
    from sklearn.linear_model import SGDClassifier

    X, y = binary_data
    result = lk.compare(X, y, ["log_loss", "modified_huber"], estimator=SGDClassifier(),
                        loss_param="loss", metric=metric, n_splits=2, n_repeats=2)
    assert result.metric == name and not result.failures
    assert np.isfinite(result.scores).all()
    assert result.greater_is_better == name.endswith("_score")


def test_log_loss_metric_is_the_mean_cross_entropy():
    from sklearn.metrics import log_loss as sk_log_loss

    from losskit.compare._core import log_loss

    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.25, 0.5, 0.25]])
    assert log_loss([0, 2, 1], p) == pytest.approx(sk_log_loss([0, 2, 1], p))
    assert log_loss([0, 1], [0.2, 0.9]) == pytest.approx(sk_log_loss([0, 1], [0.2, 0.9]))


def test_poisson_deviance_metric_for_counts():
    from sklearn.ensemble import HistGradientBoostingRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 3))
    y = rng.poisson(np.exp(0.5 + 0.5 * X[:, 0])).astype(float)
    result = lk.compare(X, y, ["squared_error", "poisson"],
                        estimator=HistGradientBoostingRegressor(max_iter=20), loss_param="loss",
                        metric="poisson_deviance", n_splits=3, n_repeats=2)
    assert result.metric == "mean_poisson_deviance" and not result.greater_is_better
    assert np.isfinite(result.scores).all()


def test_report_puts_the_holm_p_value_in_its_own_column(target):
    from losskit.compare.report import report_html

    result = lk.compare(None, target, ["a", "b", "c"], estimator=_score,
                        metric="accuracy_score", n_splits=3, n_repeats=3)
    page = report_html(result, b"")
    assert "<th>Holm-adjusted p-value</th><th>effect size</th>" in page
    pair = result.tests["pairwise"][0]["corrected_ttest"]
    holm = f"{pair['p_value_holm']:.2g}"
    row = page.split("a − b: corrected resampled t-test")[1].split("</tr>")[0]
    cells = row.split("<td>")
    assert cells[3].startswith(holm)  # the Holm column, not the effect size
    assert "Holm" not in cells[4]


def test_mean_and_spread_share_their_decimal_place():
    from losskit.compare import mean_spread

    assert mean_spread(60.0412, 5.4871) == ("60.0", "5.5")
    assert mean_spread(0.91234, 0.0123) == ("0.912", "0.012")
    assert mean_spread(148.2, 148.3) == ("148", "148")


def test_cli_has_every_estimator_setting_with_its_default(tmp_path, capsys):
    from losskit.nn.cli import FIT_DEFAULTS

    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag in ("--optimizer", "--learning-rate", "--hidden", "--epochs", "--batch-size",
                 "--early-stopping", "--weight-decay", "--clip-grad-norm", "--resume",
                 "--scores", "--no-batch"):
        assert flag in text
    assert f"(default: {FIT_DEFAULTS['learning_rate']})" in text
    assert f"(default: {FIT_DEFAULTS['optimizer']})" in text
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"x": rng.normal(size=30)})
    frame["y"] = frame.x + 0.2 * rng.normal(size=30)
    frame.to_csv(tmp_path / "d.csv", index=False)
    out = tmp_path / "out"
    assert main(["compare", str(tmp_path / "d.csv"), "--target", "y", "--losses",
                 "mse,huber_loss", "--folds", "2", "--repeats", "1", "--epochs", "3",
                 "--optimizer", "sgd", "--learning-rate", "0.005", "--batch-size", "8",
                 "--hidden", "5,3", "--no-early-stopping", "--out", str(out)]) == 0
    params = json.loads((out / "results.json").read_text())["settings"]["estimator_params"]
    assert params == {"epochs": 3, "hidden_layer_sizes": [5, 3], "optimizer": "sgd",
                      "learning_rate": 0.005, "batch_size": 8, "early_stopping": False,
                      "weight_decay": 0.0, "verbose": False,
                      "momentum": 0.9}  # compare's own SGD setting, not a CLI flag
    batched = json.loads((out / "results.json").read_text())
    assert batched["settings"]["batched"] is True  # the default: networks in batches
    assert main(["compare", str(tmp_path / "d.csv"), "--target", "y", "--losses",
                 "mse,huber_loss", "--folds", "2", "--repeats", "1", "--epochs", "3",
                 "--hidden", "5", "--no-batch", "--out", str(tmp_path / "one")]) == 0
    one = json.loads((tmp_path / "one" / "results.json").read_text())
    assert one["settings"]["batched"] is False


def _threads(loss, train, test, seed):
    import torch

    return float(torch.get_num_threads())


def test_torch_threads_are_decided_on_the_worker(monkeypatch):
    import joblib

    from losskit.compare._core import _worker_threads

    assert _worker_threads(4, None) is None  # one job: torch's own setting
    assert _worker_threads(4, os.getpid()) is None  # the dispatching process itself
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert _worker_threads(4, -1) == 3  # what the worker's environment says
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert _worker_threads(4, -1) == max(1, joblib.cpu_count() // 4)
    # in real loky workers: joblib gives each of the 2 workers cores // 2
    y = np.tile([0, 1], 10)
    result = lk.compare(None, y, ["a", "b"], estimator=_threads, metric="threads_score",
                        n_splits=2, n_repeats=1, n_jobs=2)
    assert (result.scores == max(1, joblib.cpu_count() // 2)).all()


# ------------------------------------------------------------------------- any model


def test_a_scikit_learn_estimator_is_cloned_per_fold_with_the_folds_seed(binary_data):
    from sklearn.base import clone
    from sklearn.linear_model import SGDClassifier
    from sklearn.model_selection import RepeatedStratifiedKFold

    X, y = binary_data
    model = SGDClassifier(max_iter=50, tol=None)
    before = model.get_params()
    result = lk.compare(X, y, ["hinge", "log_loss", "modified_huber"], estimator=model,
                        loss_param="loss", metric="accuracy", n_splits=3, n_repeats=2,
                        n_jobs=2)
    assert model.get_params() == before and not hasattr(model, "coef_")  # untouched
    assert result.settings["model"] == "SGDClassifier" and not result.failures
    # fold j of loss i is exactly a clone with that loss and the fold's seed
    folds = list(RepeatedStratifiedKFold(n_splits=3, n_repeats=2, random_state=0).split(X, y))
    seeds = result.settings["seeds"]
    for j in (0, 5):
        train, test = folds[j]
        fitted = clone(model).set_params(loss="hinge", random_state=seeds[j])
        fitted.fit(X[train], y[train])
        expected = np.mean(fitted.predict(X[test]) == y[test])
        assert result.scores[0, j] == pytest.approx(expected)


def test_an_estimator_without_probabilities_fails_only_for_probability_metrics(binary_data):
    from sklearn.linear_model import SGDClassifier

    X, y = binary_data
    result = lk.compare(X, y, ["hinge", "log_loss"], estimator=SGDClassifier(),
                        loss_param="loss", metric="auc", n_splits=3, n_repeats=1)
    assert [f["loss"] for f in result.failures] == ["hinge"] * 3
    assert "has no predict_proba, and roc_auc_score needs class probabilities" in (
        result.failures[0]["error"])


def test_a_regressor_and_a_pipeline_take_their_loss_parameter():
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import SGDRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    y = X[:, 0] + rng.standard_t(2, size=120)
    gb = lk.compare(X, y, ["squared_error", "absolute_error"],
                    estimator=HistGradientBoostingRegressor(max_iter=15), loss_param="loss",
                    metric="mae", n_splits=3, n_repeats=1)
    assert np.isfinite(gb.scores).all() and gb.metric == "mean_absolute_error"
    pipe = make_pipeline(StandardScaler(), SGDRegressor())
    sgd = lk.compare(X, y, ["squared_error", "huber"], estimator=pipe,
                     loss_param="sgdregressor__loss", metric="rmse", n_splits=3, n_repeats=1)
    assert np.isfinite(sgd.scores).all()
    with pytest.raises(ValueError, match="loss_param is 'criterion', which is not a parameter"):
        lk.compare(X, y, ["a", "b"], estimator=SGDRegressor(), loss_param="criterion")
    with pytest.raises(ValueError, match="loss_param is None"):
        lk.compare(X, y, ["a", "b"], estimator=SGDRegressor())


def test_compare_accepts_every_metric_advise_suggests():
    from losskit.compare._core import _CLASSIFICATION_TASKS, _metric

    rng = np.random.default_rng(0)
    targets = [rng.integers(0, 2, 200), rng.integers(0, 4, 200),
               np.r_[np.zeros(190), np.ones(10)], rng.poisson(3.0, 200).astype(float),
               rng.gamma(2.0, 3.0, 200), rng.beta(2, 3, 200), rng.normal(size=200)]
    seen = set()
    for y in targets:
        advice = lk.advise(y)
        task = "classification" if advice.task in _CLASSIFICATION_TASKS else "regression"
        for name in advice.metrics:
            fn, resolved, _ = _metric(name, task, y)
            assert resolved == name and callable(fn)
            seen.add(name)
    assert {"mean_poisson_deviance", "roc_auc_score", "f1_score"} <= seen


def test_a_loss_left_out_of_the_tests_is_never_called_best():
    # b survived one fold of three with a better score there: a mean over one fold is not
    # comparable with a's three, so the best is the loss that was kept (it was b before)
    scores = [[0.50, 0.52, 0.51], [0.99, np.nan, np.nan]]
    out = conclude(["a", "b"], scores, metric="accuracy_score", greater_is_better=True)
    assert out["excluded"] == ["b"] and out["best"] == "a"
    assert out["conclusion"].startswith("Too few successful folds to test")
    none_kept = conclude(["a", "b"], [[0.5, np.nan, np.nan], [0.9, np.nan, np.nan]],
                         metric="accuracy_score", greater_is_better=True)
    assert none_kept["best"] is None
