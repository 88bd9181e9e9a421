"""losskit.compare.stats against hand computations, scipy.stats and Demšar's (2006) examples."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import scipy.stats as st
from hypothesis import given, settings
from hypothesis import strategies as hs
from hypothesis.extra.numpy import arrays

from losskit.compare.stats import (
    conclude,
    corrected_resampled_ttest,
    friedman_test,
    holm,
    pairwise_tests,
    rank_posthoc,
    wilcoxon_test,
)

# Demšar (2006), Table 2 / Table 6: AUC of C4.5 and three tuned variants on 14 data sets.
# On "voting" C4.5+cf (0.975) is ahead of C4.5+m+cf (0.975 printed): entered as 0.9751, as in
# scipy's own test of this example, which reproduces the paper's average ranks.
C45 = [.763, .599, .954, .628, .882, .936, .661, .583, .775, 1., .940, .619, .972, .957]
C45_M = [.768, .591, .971, .661, .888, .931, .668, .583, .838, 1., .962, .666, .981, .978]
C45_CF = [.771, .590, .968, .654, .886, .916, .609, .563, .866, 1., .965, .614, .9751, .946]
C45_M_CF = [.798, .569, .967, .657, .898, .931, .685, .625, .875, 1., .962, .669, .975, .970]
DEMSAR = np.array([C45, C45_M, C45_CF, C45_M_CF])


# ------------------------------------------------------------------- corrected t-test


def _hand_corrected_t(a, b, n_train, n_test):
    """Nadeau & Bengio's formula written out by hand."""
    d = [x - y for x, y in zip(a, b, strict=True)]
    J = len(d)
    mean = sum(d) / J
    var = sum((x - mean) ** 2 for x in d) / (J - 1)
    t = mean / math.sqrt((1 / J + n_test / n_train) * var)
    return t, 2 * st.t.sf(abs(t), J - 1)


def test_corrected_ttest_hand_computation():
    # 5-fold x 2 repeats on 100 samples: n_train 80, n_test 20
    a = [0.81, 0.84, 0.79, 0.86, 0.83, 0.80, 0.85, 0.82, 0.84, 0.81]
    b = [0.78, 0.80, 0.80, 0.81, 0.79, 0.77, 0.82, 0.80, 0.79, 0.80]
    r = corrected_resampled_ttest(a, b, n_train=80, n_test=20)
    # d = .03 .04 -.01 .05 .04 .03 .03 .02 .05 .01: mean 0.029, var 0.000343.. (ddof 1)
    d = np.subtract(a, b)
    assert r.details["mean_difference"] == pytest.approx(0.029, rel=1e-12)
    assert d.var(ddof=1) == pytest.approx(0.0003433333333333, rel=1e-9)
    se = math.sqrt((1 / 10 + 20 / 80) * 0.0003433333333333333)
    assert r.details["standard_error"] == pytest.approx(se, rel=1e-9)
    t, p = _hand_corrected_t(a, b, 80, 20)
    assert r.statistic == pytest.approx(t, rel=1e-12)
    assert r.statistic == pytest.approx(0.029 / se, rel=1e-9)
    assert r.p_value == pytest.approx(p, rel=1e-12)
    assert r.details["df"] == 9
    half = st.t.ppf(0.975, 9) * se
    assert (r.details["ci_low"], r.details["ci_high"]) == pytest.approx((0.029 - half,
                                                                        0.029 + half))
    assert r.details["cohens_d"] == pytest.approx(0.029 / math.sqrt(0.00034333333333),
                                                  rel=1e-9)


def test_corrected_ttest_is_the_paired_t_test_with_inflated_variance():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.8, 0.02, 25), rng.normal(0.79, 0.02, 25)
    plain = st.ttest_rel(a, b)
    r = corrected_resampled_ttest(a, b, n_train=120, n_test=30)
    ratio = math.sqrt((1 / 25) / (1 / 25 + 30 / 120))
    assert r.statistic == pytest.approx(plain.statistic * ratio, rel=1e-12)
    assert r.p_value > plain.pvalue  # the correction only ever makes the test less confident
    assert r.p_value == pytest.approx(2 * st.t.sf(abs(r.statistic), 24), rel=1e-12)


def test_corrected_ttest_is_exact_for_equicorrelated_folds():
    # Nadeau & Bengio's model of cross-validation: fold differences with variance s2 and
    # correlation rho = n_test / (n_train + n_test) between any two folds. Then
    # E[(1/J + n_test/n_train) var(d)] = var(mean(d)) exactly, the mean is independent of the
    # sample variance, and the corrected statistic is t with J - 1 degrees of freedom: its
    # p-values are uniform under the null. The plain paired t-test rejects far too often.
    rng = np.random.default_rng(11)
    J, n_train, n_test, sims = 10, 80, 20, 3000
    rho = n_test / (n_train + n_test)
    shared = rng.normal(size=(sims, 1)) * math.sqrt(rho)
    d = shared + rng.normal(size=(sims, J)) * math.sqrt(1 - rho)
    p = np.array([corrected_resampled_ttest(row, np.zeros(J), n_train=n_train,
                                            n_test=n_test).p_value for row in d])
    naive = st.ttest_1samp(d, 0.0, axis=1).pvalue
    assert abs(np.mean(p < 0.05) - 0.05) < 0.013  # 3.3 binomial standard deviations
    assert st.kstest(p, "uniform").pvalue > 1e-3
    assert np.mean(naive < 0.05) > 0.2  # theory: P(|T_9| > 2.262 / sqrt(3.5)) = 0.26


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, hs.integers(3, 30), elements=hs.floats(0, 1)),
       hs.floats(-0.2, 0.2), hs.floats(0.05, 1.0))
def test_corrected_ttest_properties(a, shift, ratio):
    b = np.clip(a - shift + np.linspace(-0.01, 0.01, a.size), -2, 2)
    r = corrected_resampled_ttest(a, b, n_train=100.0, n_test=100.0 * ratio)
    s = corrected_resampled_ttest(b, a, n_train=100.0, n_test=100.0 * ratio)
    assert 0.0 <= r.p_value <= 1.0 and not math.isnan(r.statistic)
    assert r.statistic == -s.statistic and r.p_value == pytest.approx(s.p_value)
    assert r.details["ci_low"] <= r.details["mean_difference"] <= r.details["ci_high"]
    if math.isfinite(r.statistic) and r.details["standard_error"] > 1e-12:
        # the CI excludes 0 exactly when the test rejects at 5%
        excludes = r.details["ci_low"] > 0 or r.details["ci_high"] < 0
        if abs(r.p_value - 0.05) > 1e-9:
            assert excludes == (r.p_value < 0.05)


def test_corrected_ttest_without_variance():
    same = corrected_resampled_ttest([0.5, 0.6, 0.7], [0.5, 0.6, 0.7], n_train=9, n_test=3)
    assert same.statistic == 0.0 and same.p_value == 1.0
    # 0.1 more on every fold (differences equal up to rounding): certain, not 1e-31
    shifted = corrected_resampled_ttest([0.6, 0.7, 0.8], [0.5, 0.6, 0.7], n_train=9, n_test=3)
    assert shifted.p_value == 0.0 and shifted.statistic == math.inf
    assert shifted.details["ci_low"] == shifted.details["ci_high"]
    worse = corrected_resampled_ttest([0.5, 0.6, 0.7], [0.6, 0.7, 0.8], n_train=9, n_test=3)
    assert worse.p_value == 0.0 and worse.statistic == -math.inf


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"a": [1.0], "b": [1.0]}, "a has 1 score"),
    ({"a": [1.0, 2.0], "b": [1.0, 2.0, 3.0]}, r"a, b have shapes \(2,\) and \(3,\)"),
    ({"a": [1.0, np.nan], "b": [1.0, 2.0]}, "a, b contain NaN"),
    ({"a": [1.0, 2.0], "b": [1.0, 2.5], "n_train": 0}, "n_train is 0"),
    ({"a": [1.0, 2.0], "b": [1.0, 2.5], "confidence": 95}, "confidence is 95"),
])
def test_corrected_ttest_errors(kwargs, message):
    kwargs = {"n_train": 10, "n_test": 2, **kwargs}
    with pytest.raises(ValueError, match=f"^corrected_resampled_ttest: {message}"):
        corrected_resampled_ttest(kwargs.pop("a"), kwargs.pop("b"), **kwargs)


# ---------------------------------------------------------------------------- Wilcoxon


def test_wilcoxon_demsar_table_2():
    # Demšar: R+ = 93, R- = 12 (zero differences split), T = 12 < 21, the critical value
    # for N = 14 at alpha = 0.05: C4.5+m is better
    r = wilcoxon_test(C45_M, C45)
    assert (r.details["r_plus"], r.details["r_minus"], r.statistic) == (93.0, 12.0, 12.0)
    assert r.p_value == pytest.approx(st.wilcoxon(C45_M, C45, zero_method="zsplit").pvalue,
                                      rel=1e-12)
    assert r.p_value < 0.05
    assert r.details["rank_biserial"] == pytest.approx((93 - 12) / 105)


@pytest.mark.parametrize("zero_method", ["wilcox", "pratt", "zsplit"])
def test_wilcoxon_matches_scipy(zero_method):
    rng = np.random.default_rng(3)
    a = rng.normal(size=20)
    b = a + rng.normal(0.3, 1.0, 20)
    b[:2] = a[:2]  # two zero differences
    r = wilcoxon_test(a, b, zero_method=zero_method)
    ref = st.wilcoxon(a, b, zero_method=zero_method)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-12)
    if zero_method != "pratt":  # scipy's pratt statistic keeps the zeros' ranks out
        assert r.statistic == pytest.approx(ref.statistic, rel=1e-12)


def test_wilcoxon_all_zero_differences():
    r = wilcoxon_test([0.5, 0.6, 0.7], [0.5, 0.6, 0.7])
    assert r.p_value == 1.0 and r.details["rank_biserial"] == 0.0


def test_wilcoxon_errors():
    with pytest.raises(ValueError, match=r"^wilcoxon_test: zero_method is 'x'\. Pass"):
        wilcoxon_test([1.0, 2.0], [2.0, 1.0], zero_method="x")


# ------------------------------------------------------------------ Friedman and Holm


def test_friedman_demsar_worked_example():
    r = friedman_test(DEMSAR)
    # Demšar section 3.2.2: ranks 3.143, 2.000, 2.893, 1.964; chi2_F = 9.28; F_F = 3.69,
    # above the critical value 2.85 of F(3, 39) at alpha = 0.05
    np.testing.assert_allclose(r.details["average_ranks"], [3.143, 2.000, 2.893, 1.964],
                               atol=5e-4)
    assert r.details["chi2_uncorrected"] == pytest.approx(9.28, abs=5e-3)
    assert r.details["iman_davenport_f"] == pytest.approx(3.69, abs=5e-3)
    assert st.f.ppf(0.95, 3, 39) == pytest.approx(2.85, abs=5e-3)
    assert r.details["iman_davenport_p_value"] == pytest.approx(
        st.f.sf(r.details["iman_davenport_f"], 3, 39), rel=1e-12)
    assert r.details["iman_davenport_p_value"] < 0.05
    ref = st.friedmanchisquare(*DEMSAR)  # tie-corrected (mushroom and lung cancer ties)
    assert (r.statistic, r.p_value) == pytest.approx((ref.statistic, ref.pvalue), rel=1e-12)
    assert r.statistic >= r.details["chi2_uncorrected"]


def test_friedman_minimised_metric_reverses_ranks():
    r = friedman_test(-DEMSAR, greater_is_better=False)
    np.testing.assert_allclose(r.details["average_ranks"],
                               friedman_test(DEMSAR).details["average_ranks"])


def test_friedman_matches_scipy_on_random_scores():
    rng = np.random.default_rng(5)
    scores = rng.normal(size=(5, 12))
    r = friedman_test(scores)
    ref = st.friedmanchisquare(*scores)
    assert (r.statistic, r.p_value) == pytest.approx((ref.statistic, ref.pvalue), rel=1e-12)
    # no ties: the tie correction changes nothing
    assert r.details["chi2_uncorrected"] == pytest.approx(ref.statistic, rel=1e-12)


def test_friedman_all_tied_and_errors():
    r = friedman_test(np.ones((3, 4)))
    assert r.statistic == 0.0 and r.p_value == 1.0
    with pytest.raises(ValueError, match=r"^friedman_test: scores has shape \(2, 4\)"):
        friedman_test(np.ones((2, 4)))


def test_rank_posthoc_demsar_holm_example():
    # Demšar section 3.2.2: against the control C4.5, SE = 0.488, z = 2.416 (C4.5+m+cf),
    # 2.342 (C4.5+m), 0.512 (C4.5+cf); p = 0.016, 0.019, 0.607; Holm rejects the first two
    r = rank_posthoc([3.143, 2.000, 2.893, 1.964], 14)
    assert r[(0, 1)].details["standard_error"] == pytest.approx(0.488, abs=5e-4)
    z = [r[(0, 3)].statistic, r[(0, 1)].statistic, r[(0, 2)].statistic]
    p = [r[(0, 3)].p_value, r[(0, 1)].p_value, r[(0, 2)].p_value]
    np.testing.assert_allclose(z, [2.416, 2.342, 0.512], atol=1.5e-3)
    # (the paper prints 0.607 for z = 0.512, whose two-sided p is 0.6086)
    np.testing.assert_allclose(p, [0.016, 0.019, 0.607], atol=2e-3)
    adjusted = holm(p)
    assert list(adjusted < 0.05) == [True, True, False]
    # Holm by hand: 0.016 < 0.05/3 -> reject; 0.019 < 0.05/2 -> reject; 0.607 > 0.05 -> stop
    np.testing.assert_allclose(adjusted, [3 * p[0], max(3 * p[0], 2 * p[1]), p[2]])


def _holm_sequential(p, alpha):
    """Holm's procedure as published: step down until the first acceptance."""
    order = np.argsort(p, kind="stable")
    reject = np.zeros(len(p), bool)
    for i, idx in enumerate(order):
        if p[idx] < alpha / (len(p) - i):
            reject[idx] = True
        else:
            break
    return reject


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, hs.integers(1, 12), elements=hs.floats(0, 1)),
       hs.sampled_from([0.01, 0.05, 0.1]))
def test_holm_properties(p, alpha):
    adjusted = holm(p)
    assert np.all(adjusted >= p - 1e-15) and np.all(adjusted <= 1.0)
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(adjusted[order]) >= 0)
    assert np.array_equal(adjusted < alpha, _holm_sequential(p, alpha))


def test_holm_errors():
    with pytest.raises(ValueError, match=r"^holm: p_values are not"):
        holm([0.5, 1.5])


def test_pairwise_tests_holm_within_each_test():
    rng = np.random.default_rng(7)
    scores = rng.normal(size=(4, 10)) + np.arange(4)[:, None] * 0.5
    out = pairwise_tests(scores, n_train=80, n_test=20)
    assert len(out) == 6
    raw = [out[pair]["corrected_ttest"].p_value for pair in sorted(out)]
    adjusted = [out[pair]["corrected_ttest"].details["p_value_holm"] for pair in sorted(out)]
    np.testing.assert_allclose(adjusted, holm(raw))
    t = corrected_resampled_ttest(scores[1], scores[3], n_train=80, n_test=20)
    assert out[(1, 3)]["corrected_ttest"].statistic == t.statistic


# --------------------------------------------------------------------------- conclusion


def test_conclusion_two_losses_respects_direction():
    good = [0.20, 0.21, 0.19, 0.20, 0.22, 0.20]
    bad = [0.30, 0.31, 0.29, 0.32, 0.30, 0.31]
    err = conclude(["huber", "mse"], [good, bad], metric="mean_absolute_error",
                   greater_is_better=False, n_train=50, n_test=10)
    assert err["best"] == "huber" and err["significant"]
    assert err["conclusion"].startswith("huber is better than mse on mean_absolute_error "
                                        "(lower is better)")
    p = err["tests"]["corrected_ttest"]["p_value"]
    level = "99.9%" if p < 0.001 else "99%" if p < 0.01 else "95%"
    assert f"significant at the {level} confidence level" in err["conclusion"]
    # the same numbers as a score: the other loss wins
    score = conclude(["huber", "mse"], [good, bad], metric="accuracy_score",
                     greater_is_better=True, n_train=50, n_test=10)
    assert score["best"] == "mse" and score["conclusion"].startswith("mse is better than huber")
    assert "mean 0.305 vs 0.2033, difference 0.1017 " in score["conclusion"]


def test_conclusion_cannot_tell_apart():
    rng = np.random.default_rng(0)
    a = rng.normal(0.8, 0.05, 10)
    b = a + rng.normal(0.0, 0.05, 10)
    out = conclude(["a", "b"], [a, b], metric="accuracy_score", greater_is_better=True,
                   n_train=80, n_test=20)
    p = out["tests"]["corrected_ttest"]["p_value"]
    assert p >= 0.05 and not out["significant"]
    assert out["conclusion"].startswith("The data cannot tell")
    assert f"p = {p:.2g}" in out["conclusion"]
    assert set(out["tests"]) == {"corrected_ttest", "wilcoxon"}
    assert all("p_value" in t for t in out["tests"].values())


def test_conclusion_several_losses():
    rng = np.random.default_rng(2)
    base = rng.normal(0.0, 0.01, 12)
    scores = np.array([0.70 + base, 0.75 + base + rng.normal(0, 0.003, 12),
                       0.90 + base + rng.normal(0, 0.003, 12)])
    out = conclude(["a", "b", "c"], scores, metric="accuracy_score", greater_is_better=True,
                   n_train=90, n_test=10)
    assert out["best"] == "c" and out["significant"]
    assert out["conclusion"].startswith("The Friedman test finds that the 3 losses differ")
    assert "c is significantly better than every other loss" in out["conclusion"]
    assert out["tests"]["friedman"]["p_value"] < 0.05
    assert len(out["tests"]["pairwise"]) == 3
    for pair in out["tests"]["pairwise"]:
        assert {"p_value", "p_value_holm"} <= set(pair["corrected_ttest"])
        assert {"p_value", "p_value_holm"} <= set(pair["wilcoxon"])
    # a clear order among the others is reported too, in the metric's direction
    noise = rng.normal(0, 0.003, (3, 12))
    order = np.array([0.30, 0.20, 0.10])[:, None] + base + noise
    out = conclude(["a", "b", "c"], order, metric="mean_absolute_error",
                   greater_is_better=False, n_train=90, n_test=10)
    assert out["best"] == "c" and "lower is better" in out["conclusion"]
    assert "Among the others, b is better than a (Holm-adjusted p" in out["conclusion"]
    # the same order on every fold (Friedman: p < 0.05) but by amounts so uneven that no
    # corrected t-test finds it (one fold carries the whole mean): said in words
    step = np.array([0.001] * 11 + [0.5])
    flat = np.array([0.2 + 2 * step, 0.2 + step, 0.2 + 0 * step])
    out = conclude(["a", "b", "c"], flat, metric="accuracy_score", greater_is_better=True,
                   n_train=50, n_test=50)
    assert out["tests"]["friedman"]["p_value"] < 1e-4 and not out["significant"]
    assert out["conclusion"].startswith("The Friedman test finds that the 3 losses differ")
    assert "No pair of losses differs significantly" in out["conclusion"]
    tied = conclude(["a", "b", "c"], np.ones((3, 6)), metric="accuracy_score",
                    greater_is_better=True, n_train=90, n_test=10)
    assert tied["conclusion"].startswith("The data cannot tell the 3 losses apart")


def test_conclusion_errors():
    with pytest.raises(ValueError, match=r"^conclude: scores has shape \(2, 3\) for 3 labels"):
        conclude(["a", "b", "c"], np.ones((2, 3)), metric="m_score", greater_is_better=True,
                 n_train=2, n_test=1)


def test_docs_page_examples_run():
    import doctest
    from pathlib import Path

    pytest.importorskip("torch")
    page = Path(__file__).resolve().parents[2] / "docs" / "compare.md"
    result = doctest.testfile(str(page), module_relative=False,
                              optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 10 and result.failed == 0


def test_report_files_from_scores_alone(tmp_path):
    # a Comparison built from scores (no training): a constant difference gives t = inf,
    # written as null in strict JSON and as ∞ in the page
    pytest.importorskip("matplotlib")
    import json

    from losskit.compare import Comparison

    scores = np.array([[0.75, 0.5, 0.625, 0.875], [0.5, 0.25, 0.375, 0.625]])
    result = Comparison(losses=["focal", "ce"], metric="accuracy_score", greater_is_better=True,
                        scores=scores, n_splits=2, n_repeats=2, n_train=np.array([8] * 4),
                        n_test=np.array([8] * 4), task="classification",
                        fit_seconds=np.zeros((2, 4)))
    assert result.tests["corrected_ttest"]["statistic"] == math.inf
    assert result.conclusion.startswith("focal is better than ce on accuracy_score")
    assert "99.9% confidence level" in result.conclusion
    import matplotlib

    backend = matplotlib.get_backend()
    paths = result.save(tmp_path / "out")
    assert matplotlib.get_backend() == backend  # the user's backend is left alone
    data = json.loads(paths["results"].read_text())  # strict JSON: no Infinity token
    assert "Infinity" not in paths["results"].read_text()
    assert data["tests"]["corrected_ttest"]["statistic"] is None
    assert data["tests"]["corrected_ttest"]["p_value"] == 0.0
    assert data["fold_scores"] == {"focal": scores[0].tolist(), "ce": scores[1].tolist()}
    assert data["summary"][0]["mean"] == pytest.approx(0.6875)
    umask = os.umask(0)
    os.umask(umask)
    for path in paths.values():  # written atomically, with the mode open() would give
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "report.html", "results.json", "scores.csv", "scores.png"]
    page = paths["report"].read_text()
    assert "t = ∞" in page and 'class="best"><td>focal</td>' in page


def test_importing_compare_does_not_import_torch_or_the_cli():
    import subprocess
    import sys

    code = ("import sys, losskit, losskit.compare, losskit.compare.stats; "
            "print('torch' in sys.modules, 'sklearn' in sys.modules, "
            "'losskit.compare._cli' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False", "False"]
