"""`losskit advise DATA --target COL [--json]`, and the data loading behind every command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from losskit.cli import main
from losskit.datasets import read_table, split_target


@pytest.fixture
def table(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x1": rng.normal(size=200), "colour": rng.choice(["r", "g"], 200),
                          "clicks": rng.poisson(3.0, 200),
                          "label": rng.choice(["spam", "ham"], 200)})
    csv, parquet = tmp_path / "d.csv", tmp_path / "d.parquet"
    frame.to_csv(csv, index=False)
    frame.to_parquet(parquet)
    return csv, parquet


@pytest.mark.parametrize("which", [0, 1])
def test_advise_prints_a_readable_table(table, capsys, which):
    assert main(["advise", str(table[which]), "--target", "label"]) == 0
    out = capsys.readouterr().out
    assert "binary_cross_entropy" in out and "sigmoid" in out and "why:" in out


def test_advise_json_for_programs(table, capsys):
    assert main(["advise", str(table[0]), "--target", "clicks", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["task"] == "count" and payload["loss"] == "poisson_nll"


@pytest.mark.parametrize(("args", "message"), [
    (["--target", "nope"], "--target 'nope' is not a column. The columns are: 'x1', 'colour'"),
])
def test_advise_errors_are_clear_and_exit_2(table, capsys, args, message):
    assert main(["advise", str(table[0]), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("losskit advise: error: --target ") and message in err


def test_advise_names_the_target_column_for_an_infinite_value(tmp_path, capsys):
    # said "y has 1 missing or infinite values": y is the library's name, not the user's
    path = tmp_path / "inf.csv"
    pd.DataFrame({"x": [1.0, 2, 3, 4], "score": [1.0, np.inf, 2, 3]}).to_csv(path, index=False)
    assert main(["advise", str(path), "--target", "score"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("losskit advise: error: --target 'score' has 1 missing or infinite")


def test_advise_needs_a_target(table):
    with pytest.raises(SystemExit) as info:
        main(["advise", str(table[0])])
    assert info.value.code == 2


def test_read_table_errors(tmp_path):
    with pytest.raises(ValueError, match=r"has suffix '\.xlsx'. Pass a \.csv"):
        read_table(tmp_path / "d.xlsx")
    with pytest.raises(ValueError, match=r"does not exist"):
        read_table(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("a,b\n")
    with pytest.raises(ValueError, match=r"has no rows"):
        read_table(tmp_path / "empty.csv")


def test_split_target_reports_missing_values():
    frame = pd.DataFrame({"a": [1.0, None, 3.0, 4.0], "b": [1, 2, 3, None], "t": [0, 1, None, 1]})
    with pytest.raises(ValueError, match=r"target 't' has 1 missing values \(first at row 3\)"):
        split_target(frame, "t")
    with pytest.raises(ValueError, match=r"features have missing values: 'a' \(1\), 'b' \(1\)"):
        split_target(frame.dropna(subset=["t"]), "t")
