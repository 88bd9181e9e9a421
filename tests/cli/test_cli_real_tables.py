"""The CLI path on bundled real tables with odd cells (scikit-learn's diabetes and breast
cancer): what a warning says matches the model it is about."""

from __future__ import annotations

import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes

from losskit.cli import main


@pytest.mark.parametrize(("loss", "log_link"), [("poisson_nll", True),
                                                ("mean_squared_error", False)])
def test_the_extrapolation_warning_names_a_log_link_only_for_one(tmp_path, capsys, loss,
                                                                  log_link):
    # before: "(a log-link output grows exponentially)" for every model, classifiers too
    frame = load_diabetes(as_frame=True).frame
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    assert main(["fit", str(path), "--target", "target", "--loss", loss, "--epochs", "1",
                 "--hidden", "3", "--out", str(tmp_path / "m")]) == 0
    far = tmp_path / "far.csv"
    odd = frame.copy()
    odd.loc[:2, "bmi"] += 0.5  # ten standard deviations of bmi (0.048) in three rows
    odd.to_csv(far, index=False)
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "m"), str(far), "--out",
                 str(tmp_path / "p.csv")]) == 0
    err = capsys.readouterr().err
    assert "the network's outputs there are extrapolations" in err
    assert ("log-link output grows exponentially" in err) == log_link


def test_a_classifier_on_breast_cancer_is_not_told_of_a_log_link(tmp_path, capsys):
    frame = load_breast_cancer(as_frame=True).frame
    frame["target"] = frame["target"].map({0: "malignant", 1: "benign"})
    path = tmp_path / "b.csv"
    frame.to_csv(path, index=False)
    assert main(["fit", str(path), "--target", "target", "--epochs", "1", "--hidden", "3",
                 "--out", str(tmp_path / "m")]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "m"), str(path)]) == 0
    err = capsys.readouterr().err
    assert "extrapolations" in err and "log-link" not in err
