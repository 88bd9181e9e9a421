"""lk.advise names the rows of extreme values (a single 1e30, a missing-value code), robustly
(median / MAD, and the log scale for non-negative targets), on real tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_linnerud

import losskit as lk
from losskit.advise import EXTREME_Z
from losskit.cli import main


@pytest.fixture(scope="module")
def diabetes():
    return load_diabetes(as_frame=True).frame


def _extreme(advice):
    found = [w for w in advice.warnings if w.code == "extreme_values"]
    return found[0] if found else None


def test_a_single_1e30_in_diabetes_is_named_by_its_row(diabetes):
    # before: no warning at all (0.2% of rows, below the heavy-tail share), and the 1e30
    # alone made the target "positive-skewed" (Gamma); fit then predicted ~2e27 everywhere
    y = diabetes["target"].copy()
    y[7] = 1e30
    advice = lk.advise(y, diabetes.drop(columns="target"))
    finding = _extreme(advice)
    assert finding is not None and finding.numbers["rows"] == [7]
    assert finding.numbers["n_extreme"] == 1 and finding.numbers["max_robust_z"] > 1e25
    assert finding.message.startswith("1 extreme value: 1e+30 in row 8 (index 7), ")
    assert "Without it the advice would be the gaussian family" in finding.message
    assert advice.warnings[0] is finding  # listed first
    assert advice.stats["extreme_rows"] == [7]
    json.dumps(advice.to_dict())


def test_a_missing_value_code_in_several_rows_is_counted(diabetes):
    y = diabetes["target"].copy()
    rows = [3, 50, 51, 200, 300, 301, 441]
    y[rows] = 99999
    finding = _extreme(lk.advise(y))
    assert finding is not None and finding.numbers["rows"] == rows
    assert finding.message.startswith("7 extreme values: 1e+05 in row 4 (index 3), ")
    assert "and 2 more, up to " in finding.message


def test_real_targets_have_no_extreme_values(diabetes):
    assert _extreme(lk.advise(diabetes["target"], diabetes.drop(columns="target"))) is None
    linnerud = load_linnerud(as_frame=True)
    for name in linnerud.target.columns:
        assert _extreme(lk.advise(linnerud.target[name])) is None
    for name in linnerud.data.columns:
        assert _extreme(lk.advise(linnerud.data[name])) is None


@pytest.mark.parametrize("make", [
    lambda r: r.lognormal(0.0, 2.0, 50_000),  # a long tail on the raw scale, not on the log
    lambda r: r.gamma(0.5, 1.0, 50_000),
    lambda r: r.negative_binomial(0.5, 0.5 / 5.5, 50_000),  # over-dispersed counts
    lambda r: r.normal(size=50_000),
    lambda r: r.laplace(size=50_000),
])
def test_long_tails_of_real_distributions_are_not_extreme(make):
    assert _extreme(lk.advise(make(np.random.default_rng(3)))) is None


def test_a_count_with_a_typo_and_a_negative_extreme_are_found():
    rng = np.random.default_rng(0)
    counts = rng.poisson(3.0, 500).astype(float)
    counts[17] = 1e6
    advice = lk.advise(counts)
    assert _extreme(advice).numbers["rows"] == [17]
    real = rng.normal(size=500)
    real[5] = -1e12
    finding = _extreme(lk.advise(real))
    assert finding.numbers["rows"] == [5] and finding.numbers["max_robust_z"] > EXTREME_Z


def test_cli_advise_prints_the_row(diabetes, tmp_path, capsys):
    path = tmp_path / "d.csv"
    diabetes.assign(target=np.where(np.arange(len(diabetes)) == 7, 1e30,
                                    diabetes["target"])).to_csv(path, index=False)
    assert main(["advise", str(path), "--target", "target"]) == 0
    out = capsys.readouterr().out
    assert "1 extreme value: 1e+30 in row 8 (index 7)" in out
    assert main(["advise", str(path), "--target", "target", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["warnings"][0]["numbers"]["rows"] == [7]


def test_a_dataframe_of_inputs_is_subset_for_the_advice_without_them(diabetes):
    X = pd.DataFrame(diabetes.drop(columns="target").to_numpy())
    y = diabetes["target"].to_numpy().copy()
    y[0] = 1e30
    assert "Without it the advice would be the gaussian" in _extreme(lk.advise(y, X)).message
    assert "Without it" in _extreme(lk.advise(y, X.to_numpy())).message


def test_cli_fit_warns_of_the_extreme_target_value(diabetes, tmp_path, capsys):
    # before: fit trained the advised Gamma model on the 1e30 without a word and predicted
    # ~1e27 for every row
    path = tmp_path / "d.csv"
    diabetes.assign(target=np.where(np.arange(len(diabetes)) == 7, 1e30,
                                    diabetes["target"])).to_csv(path, index=False)
    assert main(["fit", str(path), "--target", "target", "--epochs", "1", "--hidden", "3",
                 "--out", str(tmp_path / "m")]) == 0
    err = capsys.readouterr().err
    assert ("losskit fit: warning: --target 'target' has 1 extreme value: 1e+30 in row 8 "
            "(index 7)") in err
    assert "Without it the advice would be the gaussian family" in err
