"""``lk.compare_scores`` / ``losskit compare --scores``: runs made anywhere, the same tests."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import losskit as lk
from losskit.cli import main
from losskit.compare.stats import (
    corrected_resampled_ttest,
    mann_whitney_test,
    paired_ttest,
    welch_ttest,
    wilcoxon_test,
)


def _score(loss, train, test, seed):
    rng = np.random.default_rng([seed, int(test.sum())])
    return {"a": 0.80, "b": 0.78, "c": 0.70}[loss] + 0.02 * rng.normal()


def _failing(loss, train, test, seed):
    if loss == "b" and int(test.sum()) % 3 == 0:
        raise ValueError("diverged")
    return _score(loss, train, test, seed)


@pytest.mark.parametrize("fit", [_score, _failing])
def test_scores_written_by_compare_give_the_same_tests(tmp_path, fit, capsys):
    y = np.tile([0, 1], 40)
    result = lk.compare(None, y, ["a", "b", "c"], estimator=fit, metric="accuracy_score",
                        n_splits=4, n_repeats=3)
    paths = result.save(tmp_path / "run")
    again = lk.compare_scores(pd.read_csv(paths["scores"]))
    assert again.design == "cv" and again.metric == "accuracy_score"
    np.testing.assert_array_equal(again.scores, result.scores)
    assert again.tests == result.tests and again.conclusion == result.conclusion
    assert [f["fold"] for f in again.failures] == [f["fold"] for f in result.failures]
    # and through the command line
    assert main(["compare", "--scores", str(paths["scores"]), "--out",
                 str(tmp_path / "cli")]) == 0
    capsys.readouterr()
    cli = json.loads((tmp_path / "cli" / "results.json").read_text())
    original = json.loads(paths["results"].read_text())
    assert cli["tests"] == original["tests"] and cli["conclusion"] == original["conclusion"]


def test_cv_folds_without_sizes_use_the_k_fold_ratio():
    rng = np.random.default_rng(0)
    a, b = 0.8 + 0.02 * rng.normal(size=10), 0.78 + 0.02 * rng.normal(size=10)
    table = pd.DataFrame({"loss": ["a"] * 10 + ["b"] * 10, "repeat": ([0] * 5 + [1] * 5) * 2,
                          "fold": list(range(5)) * 4, "score": np.r_[a, b]})
    result = lk.compare_scores(table, metric="accuracy_score")
    expected = corrected_resampled_ttest(a, b, n_train=4, n_test=1)  # 5-fold: 1/4
    assert result.tests["corrected_ttest"]["p_value"] == pytest.approx(expected.p_value)
    assert result.tests["wilcoxon"]["p_value"] == pytest.approx(wilcoxon_test(a, b).p_value)


def test_matched_seeds_get_the_paired_tests_in_any_row_order():
    a = [0.91, 0.90, 0.93, 0.92, 0.90]
    b = [0.89, 0.90, 0.90, 0.91, 0.88]
    table = pd.DataFrame({"loss": ["b"] * 5 + ["a"] * 5, "seed": [4, 3, 2, 1, 0, 0, 1, 2, 3, 4],
                          "score": b[::-1] + a, "metric": "accuracy_score"})
    result = lk.compare_scores(table)
    assert result.design == "paired" and result.best == "a"
    t = result.tests["paired_ttest"]
    assert t["statistic"] == pytest.approx(-paired_ttest(a, b).statistic)  # rows b, a
    assert "paired t-test" in result.conclusion


def test_runs_that_share_no_key_are_compared_unpaired_and_say_so():
    table = pd.DataFrame({"loss": ["a"] * 4 + ["b"] * 5, "seed": range(9),
                          "score": [0.9, 0.8, 0.85, 0.9, 0.8, 0.8, 0.8, 0.85, 0.7]})
    result = lk.compare_scores(table, metric="accuracy_score")
    assert result.design == "unpaired"
    expected = welch_ttest([0.9, 0.8, 0.85, 0.9], [0.8, 0.8, 0.8, 0.85, 0.7])
    assert result.tests["welch_ttest"]["p_value"] == pytest.approx(expected.p_value)
    mw = mann_whitney_test([0.9, 0.8, 0.85, 0.9], [0.8, 0.8, 0.8, 0.85, 0.7])
    assert result.tests["mann_whitney"]["p_value"] == pytest.approx(mw.p_value)
    assert "not paired" in result.conclusion
    three = pd.concat([table, pd.DataFrame({"loss": "c", "seed": range(9, 13),
                                            "score": [0.5, 0.55, 0.6, 0.52]})])
    assert "kruskal_wallis" in lk.compare_scores(three, metric="accuracy_score").tests


def test_bad_tables_are_refused():
    with pytest.raises(ValueError, match="has no column 'score'"):
        lk.compare_scores(pd.DataFrame({"loss": ["a"], "value": [1.0]}))
    with pytest.raises(ValueError, match="has two runs of 'a' with the same seed 0"):
        lk.compare_scores(pd.DataFrame({"loss": ["a", "a", "b"], "seed": [0, 0, 0],
                                        "score": [1.0, 2.0, 3.0]}), metric="x_error")
    with pytest.raises(ValueError, match="does not say whether it is maximised"):
        lk.compare_scores(pd.DataFrame({"loss": ["a", "b"], "seed": [0, 0],
                                        "score": [1.0, 2.0]}))
    with pytest.raises(ValueError, match="mixes metrics"):
        lk.compare_scores(pd.DataFrame({"loss": ["a", "b"], "seed": [0, 0], "score": [1, 2],
                                        "metric": ["f1_score", "accuracy_score"]}))
    with pytest.raises(ValueError, match="score that is not a number"):
        lk.compare_scores(pd.DataFrame({"loss": ["a", "b"], "seed": [0, 0],
                                        "score": ["0.9", "high"]}), metric="x_score")
