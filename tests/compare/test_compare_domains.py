"""``compare`` refuses, before any training, a loss whose domain the target leaves (and a
constant target), naming the loss, the column and the fix; on real tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes

import losskit as lk
from losskit.cli import main

TINY = {"epochs": 2, "hidden_layer_sizes": (4,)}


@pytest.fixture(scope="module")
def diabetes():
    return load_diabetes(as_frame=True).frame


def _no_training(monkeypatch):
    """Any fit fails the test: the refusals come before training."""
    from losskit.compare import _core as core

    def trained(*args, **kwargs):
        raise AssertionError("a network was trained")

    monkeypatch.setattr(core, "_fit_chunk", trained)
    monkeypatch.setattr(core, "_fit_score", trained)


@pytest.mark.parametrize(("shift", "loss", "found"), [
    (-100.0, "poisson_nll", "has values outside [0, inf) (min -75, max 246)"),
    (-25.0, "gamma_nll", "has values outside (0, inf) (min 0, max 321)"),
    (0.0, "binary_cross_entropy", "has values outside [0, 1] (min 25, max 346)"),
    (-100.0, "negative_binomial_nll", "has a value below 0"),
])
def test_a_loss_outside_its_domain_is_refused_before_any_fit(diabetes, monkeypatch, shift,
                                                             loss, found):
    # before: the loss failed on exactly the folds that trained on the offending rows and
    # was scored on the others (gamma on one zero: 1 fold of 5 kept, a biased subset)
    _no_training(monkeypatch)
    X, y = diabetes.drop(columns="target"), diabetes["target"] + shift
    with pytest.raises(ValueError) as info:
        lk.compare(X, y, ["mse", loss], n_splits=5, n_repeats=1, estimator_params=TINY)
    text = str(info.value)
    assert text.startswith("compare: y is outside the domain of 1 of the 2 losses: ")
    assert f"{loss} (the target {found}" in text
    assert f"Drop {loss} from the losses (mse can take this target)" in text
    assert text.endswith("nothing was trained")


def test_every_refused_loss_is_named_at_once(diabetes, monkeypatch):
    _no_training(monkeypatch)
    y = diabetes["target"] - 100
    with pytest.raises(ValueError) as info:
        lk.compare(diabetes.drop(columns="target"), y,
                   ["poisson_nll", lk.family("gamma"), "huber_loss"], estimator_params=TINY)
    text = str(info.value)
    assert "2 of the 3 losses: poisson_nll (" in text and "; Gamma(" in text
    assert "(huber_loss can take this target)" in text


@pytest.mark.filterwarnings("ignore::losskit.nn.trainer.TrainingDivergedWarning")
def test_losses_inside_their_domain_and_callables_are_not_refused(diabetes):
    # counts >= 0 for Poisson, positive values for Gamma; a callable declares no domain
    def cubed(y_true, y_pred):
        return (abs(y_true - y_pred) ** 3).mean(-1)

    X, y = diabetes.drop(columns="target"), diabetes["target"]
    result = lk.compare(X, y, ["poisson_nll", "gamma_nll", cubed], n_splits=2, n_repeats=1,
                        estimator_params=TINY)
    assert result.scores.shape == (3, 2)
    labels = np.arange(len(y)) % 2  # classification: labels are encoded before any loss
    result = lk.compare(X, np.where(labels == 1, "yes", "no"),
                        ["binary_cross_entropy", "hinge_loss"], n_splits=2, n_repeats=1,
                        estimator_params=TINY)
    assert result.task == "classification"


def test_cli_names_the_column_and_the_flag_and_writes_nothing(diabetes, tmp_path, capsys):
    path = tmp_path / "d.csv"
    diabetes.assign(target=diabetes["target"] - 100).to_csv(path, index=False)
    out = tmp_path / "out"
    code = main(["compare", str(path), "--target", "target", "--losses", "mse,poisson_nll",
                 "--folds", "2", "--repeats", "1", "--epochs", "2", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("losskit compare: error: --target 'target' is outside the domain of "
                          "1 of the 2 losses: poisson_nll (the target has values outside")
    assert "Drop poisson_nll from --losses (mse can take this target)" in err
    assert not out.exists()


def test_a_refused_resume_keeps_the_recorded_fits(diabetes, tmp_path, monkeypatch):
    """A comparison recorded without the check (an older losskit) and resumed: refused, and
    its fits.json is left as it was."""
    from losskit.compare import _core as core

    X, y = diabetes.drop(columns="target"), diabetes["target"] - 100
    out = tmp_path / "run"
    with monkeypatch.context() as m:
        m.setattr(core, "_check_domains", lambda *args: None)
        lk.compare(X, y, ["mse", "poisson_nll"], n_splits=2, n_repeats=1,
                   estimator_params=TINY, out=out)
    before = (out / "fits.json").read_bytes()
    assert len(json.loads(before)["fits"]) == 4
    with pytest.raises(ValueError, match="outside the domain of 1 of the 2 losses"):
        lk.compare(X, y, ["mse", "poisson_nll"], n_splits=2, n_repeats=1,
                   estimator_params=TINY, out=out, resume=True)
    assert (out / "fits.json").read_bytes() == before


@pytest.mark.parametrize("value", [5.0, "yes"])
def test_a_constant_target_names_its_value_and_the_column(diabetes, tmp_path, capsys, value):
    X = diabetes.drop(columns="target")
    with pytest.raises(ValueError, match=r"^compare: y is constant \(every row is "
                       + repr(value).replace(".", r"\.") + r"\): there is nothing to compare"):
        lk.compare(X, pd.Series([value] * len(X)), ["mse", "huber_loss"])
    path = tmp_path / "c.csv"
    X.assign(price=value).to_csv(path, index=False)
    assert main(["compare", str(path), "--target", "price", "--losses", "mse,huber_loss",
                 "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    # before: "y is a constant target. Pass class labels or real values"
    assert err.startswith(f"losskit compare: error: --target 'price' is constant (every row is "
                          f"{value!r}): there is nothing to compare the losses on. Pass a "
                          "target that varies")


def test_a_missing_target_value_is_the_compare_commands_error(diabetes):
    y = diabetes["target"].copy()
    y[3] = np.nan
    # before: "advise: y has 1 missing or infinite values" from compare
    with pytest.raises(ValueError, match=r"^compare: y has 1 missing or infinite values"):
        lk.compare(diabetes.drop(columns="target"), y, ["mse", "huber_loss"])


def test_an_infinite_input_is_refused_before_any_fit_as_fit_refuses_it(diabetes, tmp_path,
                                                                        monkeypatch, capsys):
    # before: every fit whose fold held the row failed, exit 0 ("4 of 4 fits failed")
    _no_training(monkeypatch)
    X = diabetes.drop(columns="target").copy()
    X.loc[7, "bmi"] = np.inf
    with pytest.raises(ValueError, match=r"^compare: X column 'bmi' has 1 infinite value\(s\) "
                                         r"\(rows 8\)\. Replace or drop them"):
        lk.compare(X, diabetes["target"], ["mse", "huber_loss"])
    path = tmp_path / "d.csv"
    X.assign(target=diabetes["target"]).to_csv(path, index=False)
    assert main(["compare", str(path), "--target", "target", "--losses", "mse,huber_loss",
                 "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.startswith(
        "losskit compare: error: DATA column 'bmi' has 1 infinite value(s) (rows 8)")


KILLED = """
import os, signal, sys
import numpy as np
sys.path.insert(0, {src!r})
import losskit as lk
calls = []
def killed(loss, train, test, seed):
    calls.append(1)
    if len(calls) == 4:
        os.kill(os.getpid(), signal.SIGKILL)
    return {{"a": 0.8, "b": 0.7}}[loss] + 0.01 * (seed % 7)
lk.compare(None, np.tile([0, 1], 30), ["a", "b"], estimator=killed, metric="accuracy_score",
           n_splits=3, n_repeats=2, out={out!r})
"""


def _scores(loss, train, test, seed):
    return {"a": 0.8, "b": 0.7}[loss] + 0.01 * (seed % 7)


def test_a_rerun_without_resume_after_a_kill_keeps_the_recorded_fits(tmp_path, capsys):
    """kill -9 in the middle of a comparison with out, then the same command again without
    --resume: before, the new run overwrote fits.json with an empty record at once (the
    interrupted run's fits lost); now it is refused, and --resume continues."""
    import subprocess
    import sys

    out = tmp_path / "run"
    src = str(__import__("pathlib").Path(lk.__file__).resolve().parents[1])
    code = subprocess.run([sys.executable, "-c", KILLED.format(src=src, out=str(out))]
                          ).returncode
    assert code == -9
    before = (out / "fits.json").read_bytes()
    assert len(json.loads(before)["fits"]) == 3
    y, settings = np.tile([0, 1], 30), {"estimator": _scores, "metric": "accuracy_score",
                                        "n_splits": 3, "n_repeats": 2}
    with pytest.raises(ValueError, match=r"^compare: out '.*' holds the record of 3 fit\(s\) "
                                         r"of this comparison \(fits\.json\)\. Pass "
                                         r"resume=True \(--resume\) to continue it"):
        lk.compare(None, y, ["a", "b"], out=out, **settings)
    with pytest.raises(ValueError, match=r"of another comparison .* Pass another out folder"):
        lk.compare(None, y, ["a", "b"], out=out, **{**settings, "n_repeats": 1})
    assert (out / "fits.json").read_bytes() == before
    resumed = lk.compare(None, y, ["a", "b"], out=out, resume=True, **settings)
    whole = lk.compare(None, y, ["a", "b"], out=tmp_path / "whole", **settings)
    np.testing.assert_array_equal(resumed.scores, whole.scores)


def test_cli_rerun_into_a_finished_comparison_names_resume(diabetes, tmp_path, capsys):
    path = tmp_path / "d.csv"
    diabetes.iloc[:60].to_csv(path, index=False)
    args = ["compare", str(path), "--target", "target", "--losses", "mse,huber_loss",
            "--folds", "2", "--repeats", "1", "--epochs", "1", "--hidden", "3",
            "--out", str(tmp_path / "out")]
    assert main(args) == 0
    results = (tmp_path / "out" / "results.json").read_bytes()
    capsys.readouterr()
    assert main(args) == 2
    assert capsys.readouterr().err.startswith(
        f"losskit compare: error: --out {str(tmp_path / 'out')!r} holds the record of 4 fit(s) "
        "of this comparison (fits.json). Pass --resume to continue it")
    assert (tmp_path / "out" / "results.json").read_bytes() == results
    assert main([*args, "--resume"]) == 0


@pytest.mark.parametrize(("shift", "metric", "found"), [
    (-100.0, "poisson_deviance", "has values outside [0, inf) (min -75, max 246), which the "
                                 "metric mean_poisson_deviance cannot take"),
    (-25.0, "gamma_deviance", "has values outside (0, inf) (min 0, max 321), which the metric "
                              "mean_gamma_deviance cannot take"),
])
def test_a_metric_outside_its_domain_is_refused_before_any_fit(diabetes, monkeypatch, shift,
                                                               metric, found):
    # before: every fold whose test part held such a row failed, the others were scored
    _no_training(monkeypatch)
    with pytest.raises(ValueError) as info:
        lk.compare(diabetes.drop(columns="target"), diabetes["target"] + shift,
                   ["mse", "huber_loss"], metric=metric)
    assert str(info.value).startswith(f"compare: y {found}. Pass a metric for this target")


def test_huge_fold_scores_are_shown_in_powers_of_ten():
    # before: 28144010969564757467930296320 +- 33402485621907151327401607168 (the table of
    # diabetes with a 1e30 target), 29 digits of which two mean something
    from losskit.compare import mean_spread

    assert mean_spread(2.8144e28, 3.3402e28) == ("2.8e+28", "3.3e+28")
    assert mean_spread(123456789.0, 2345678.0) == ("1.235e+08", "2.3e+06")
    assert mean_spread(60.0412, 5.4871) == ("60.0", "5.5")


def test_a_loss_of_the_other_task_says_how_the_target_was_read(tmp_path, capsys):
    # wine's labels 0, 1, 2 with three rows of 7: not contiguous labels, so advise reads
    # counts; before: "loss is 'cross_entropy', which is not a regression loss ..." alone
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame
    frame.loc[:2, "target"] = 7
    path = tmp_path / "w.csv"
    frame.to_csv(path, index=False)
    assert main(["compare", str(path), "--target", "target", "--losses", "cross_entropy,mse",
                 "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.startswith(
        "losskit compare: error: --losses has 'cross_entropy', which is not a regression loss "
        "the network knows (losskit advise reads --target 'target' as a count target, so "
        "compare trains regression networks). Pass one of mean_squared_error")
