r"""Statistical tests for comparing losses on the same cross-validation folds.

Every loss is scored on the same :math:`J = K \times R` folds (``K`` splits repeated ``R``
times), so the scores are paired: fold :math:`j` gives :math:`a_j` for one loss and
:math:`b_j` for another, and the tests work on the differences :math:`d_j = a_j - b_j`.

* :func:`corrected_resampled_ttest` — Nadeau & Bengio's (2003) corrected resampled t-test.
  The folds share training data, so the :math:`d_j` are positively correlated and the plain
  paired t-test is far too confident; the correction inflates the variance of the mean by
  :math:`n_\text{test}/n_\text{train}`. It is the test the conclusions rely on, with the mean
  difference and its confidence interval as the effect size.
* :func:`wilcoxon_test` — the Wilcoxon signed-rank test (Demšar 2006, zeros split between
  the signs), a check that does not assume normal differences. It treats folds as independent,
  so its p-value is optimistic (too small) for cross-validation folds.
* :func:`friedman_test` — the Friedman test for more than two losses (folds as blocks, with
  the Iman–Davenport F statistic as well), then :func:`holm` adjusts the pairwise p-values of
  :func:`pairwise_tests`; :func:`rank_posthoc` is Demšar's rank-based post-hoc z-test.

References
----------
C. Nadeau and Y. Bengio, "Inference for the generalization error", Machine Learning 52, 2003.
R. R. Bouckaert and E. Frank, "Evaluating the replicability of significance tests for comparing
learning algorithms", PAKDD 2004.
J. Demšar, "Statistical comparisons of classifiers over multiple data sets", JMLR 7, 2006.
S. Holm, "A simple sequentially rejective multiple test procedure", Scand. J. Stat. 6, 1979.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from itertools import combinations
from typing import Any

import numpy as np

from losskit._validation import fail

__all__ = [
    "TestResult",
    "conclude",
    "corrected_resampled_ttest",
    "friedman_test",
    "holm",
    "mann_whitney_test",
    "paired_ttest",
    "pairwise_tests",
    "rank_posthoc",
    "welch_ttest",
    "wilcoxon_test",
]

#: confidence levels a conclusion names (the highest at which the difference is significant)
CONFIDENCE_LEVELS = (0.999, 0.99, 0.95)


@dataclass(frozen=True)
class TestResult:
    """One hypothesis test: its name, statistic, p-value and what else it measured."""

    __test__ = False  # not a pytest test class

    test: str
    statistic: float
    p_value: float
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (``test``, ``statistic``, ``p_value`` and the details)."""
        out = asdict(self)
        details = out.pop("details")
        return {**out, **details}


def _paired(func: str, a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.ndim != 1 or a.shape != b.shape:
        fail(func, "a, b", f"have shapes {a.shape} and {b.shape}",
             "Pass two 1-D arrays of paired scores (one per fold), of the same length")
    if a.size < 2:
        fail(func, "a", f"has {a.size} score(s)", "Pass at least two folds")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        fail(func, "a, b", "contain NaN or infinite scores",
             "Check the metric: it is undefined on some folds (e.g. one class only)")
    return a, b


def corrected_resampled_ttest(a: Any, b: Any, *, n_train: float, n_test: float,
                              confidence: float = 0.95) -> TestResult:
    r"""Nadeau & Bengio's corrected resampled t-test of paired fold scores.

    With differences :math:`d_j = a_j - b_j` over :math:`J` folds, mean :math:`\bar d` and
    sample variance :math:`\hat\sigma^2` (``ddof=1``):

    .. math::

        t = \frac{\bar d}{\sqrt{\left(\frac{1}{J} + \frac{n_\text{test}}{n_\text{train}}
        \right)\hat\sigma^2}}, \qquad p = 2\,P(T_{J-1} > |t|)

    The plain paired t-test uses :math:`1/J` alone, which assumes independent folds; the extra
    :math:`n_\text{test}/n_\text{train}` accounts for the training sets they share.

    Parameters
    ----------
    a, b : array_like, shape (J,)
        Scores of two models on the same folds.
    n_train, n_test : float
        Training and test set sizes of a fold (their means when folds differ by a sample).
    confidence : float in (0, 1)
        Level of the confidence interval of the mean difference.

    Returns
    -------
    TestResult
        ``statistic`` (t), ``p_value`` (two-sided), and ``details``: ``df``,
        ``mean_difference`` (the effect size, in the metric's units), ``ci_low``/``ci_high``
        (its corrected confidence interval), ``standard_error``, ``cohens_d``
        (:math:`\bar d / \hat\sigma`), ``confidence``.
        When all differences are equal the variance is 0: ``p_value`` is 1 for no difference
        and 0 for a constant non-zero one.

    Examples
    --------
    >>> r = corrected_resampled_ttest([0.9, 0.8, 0.85, 0.9], [0.8, 0.8, 0.8, 0.85],
    ...                               n_train=90, n_test=10)
    >>> round(r.statistic, 4), round(r.p_value, 4)
    (2.0381, 0.1343)
    """
    func = "corrected_resampled_ttest"
    a, b = _paired(func, a, b)
    for name, value in (("n_train", n_train), ("n_test", n_test)):
        if not (isinstance(value, (int, float, np.integer, np.floating)) and value > 0):
            fail(func, name, f"is {value!r}", "Pass a positive number of samples")
    _check_confidence(func, confidence)
    return _paired_t("corrected_resampled_ttest", a, b, float(n_test) / float(n_train),
                     confidence, {"n_train": float(n_train), "n_test": float(n_test)})


def paired_ttest(a: Any, b: Any, *, confidence: float = 0.95) -> TestResult:
    r"""The plain paired t-test, for runs that are paired but do not share training data.

    Matched seeds on one fixed split (run :math:`j` of every model uses seed :math:`j`) give
    independent differences :math:`d_j`, so :math:`t = \bar d / \sqrt{\hat\sigma^2 / J}` on
    :math:`J - 1` degrees of freedom (:func:`corrected_resampled_ttest` without its
    correction). The details are those of :func:`corrected_resampled_ttest`.

    Examples
    --------
    >>> r = paired_ttest([0.9, 0.8, 0.85, 0.9], [0.8, 0.8, 0.8, 0.85])
    >>> round(r.statistic, 4), round(r.p_value, 4)
    (2.4495, 0.0917)
    """
    func = "paired_ttest"
    a, b = _paired(func, a, b)
    _check_confidence(func, confidence)
    return _paired_t("paired_ttest", a, b, 0.0, confidence, {})


def _check_confidence(func: str, confidence: Any) -> None:
    if not (isinstance(confidence, float) and 0.0 < confidence < 1.0):
        fail(func, "confidence", f"is {confidence!r}", "Pass a number in (0, 1), e.g. 0.95")


def _paired_t(name: str, a: np.ndarray, b: np.ndarray, ratio: float, confidence: float,
              extra: dict[str, Any]) -> TestResult:
    """The paired t-test of ``a - b`` with the variance of the mean inflated by ``ratio``."""
    from scipy import stats

    d = a - b
    J = d.size
    mean = float(d.mean())
    var = float(d.var(ddof=1))
    # differences equal up to rounding (e.g. 0.3 - 0.2 vs 0.4 - 0.3) have no real variance
    scale = float(max(np.abs(a).max(), np.abs(b).max()))
    if math.sqrt(var) <= 16 * np.finfo(float).eps * scale:
        var = 0.0
    df = J - 1
    se = math.sqrt((1.0 / J + ratio) * var)
    if se > 0:
        t = mean / se
        p = float(2.0 * stats.t.sf(abs(t), df))
        half = float(stats.t.ppf(0.5 + confidence / 2.0, df)) * se
    else:  # every fold gives the same difference: no uncertainty left
        t = 0.0 if mean == 0 else math.copysign(math.inf, mean)
        p = 1.0 if mean == 0 else 0.0
        half = 0.0
    sd = math.sqrt(var)
    cohens_d = mean / sd if sd > 0 else (0.0 if mean == 0 else math.copysign(math.inf, mean))
    return TestResult(name, float(t), p, {
        "df": df, "mean_difference": mean, "ci_low": mean - half, "ci_high": mean + half,
        "confidence": confidence, "standard_error": se, "cohens_d": cohens_d,
        "n_pairs": int(J), **extra})


def welch_ttest(a: Any, b: Any, *, confidence: float = 0.95) -> TestResult:
    r"""Welch's t-test of two independent samples of scores (runs that are not paired).

    :math:`t = (\bar a - \bar b) / \sqrt{s_a^2/n_a + s_b^2/n_b}` on the Welch–Satterthwaite
    degrees of freedom. ``details`` as :func:`corrected_resampled_ttest` (``mean_difference``
    is :math:`\bar a - \bar b`, ``cohens_d`` uses the pooled standard deviation).

    Examples
    --------
    >>> r = welch_ttest([0.9, 0.8, 0.85, 0.9], [0.8, 0.8, 0.8, 0.85, 0.7])
    >>> round(r.p_value, 3)
    0.07
    """
    func = "welch_ttest"
    from scipy import stats

    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.ndim != 1 or b.ndim != 1 or a.size < 2 or b.size < 2:
        fail(func, "a, b", f"have shapes {a.shape} and {b.shape}",
             "Pass two 1-D arrays of at least two scores each")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        fail(func, "a, b", "contain NaN or infinite scores", "Drop the failed runs first")
    _check_confidence(func, confidence)
    mean = float(a.mean() - b.mean())
    va, vb = float(a.var(ddof=1)) / a.size, float(b.var(ddof=1)) / b.size
    se = math.sqrt(va + vb)
    if se > 0:
        df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
        t = mean / se
        p = float(2.0 * stats.t.sf(abs(t), df))
        half = float(stats.t.ppf(0.5 + confidence / 2.0, df)) * se
    else:
        df = float(a.size + b.size - 2)
        t = 0.0 if mean == 0 else math.copysign(math.inf, mean)
        p, half = (1.0 if mean == 0 else 0.0), 0.0
    pooled = math.sqrt(((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1))
                       / (a.size + b.size - 2))
    cohens_d = mean / pooled if pooled > 0 else (0.0 if mean == 0
                                                 else math.copysign(math.inf, mean))
    return TestResult("welch_ttest", float(t), p, {
        "df": float(df), "mean_difference": mean, "ci_low": mean - half,
        "ci_high": mean + half, "confidence": confidence, "standard_error": se,
        "cohens_d": cohens_d, "n_a": int(a.size), "n_b": int(b.size)})


def mann_whitney_test(a: Any, b: Any) -> TestResult:
    """Mann–Whitney U test of two independent samples (two-sided; scipy's p-value).

    ``details["rank_biserial"]`` is :math:`2U/(n_a n_b) - 1` in [-1, 1] (positive: ``a``
    tends to be larger).

    Examples
    --------
    >>> r = mann_whitney_test([3.0, 4.0, 5.0], [1.0, 2.0, 2.5])
    >>> r.statistic, r.details["rank_biserial"]
    (9.0, 1.0)
    """
    from scipy import stats

    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.ndim != 1 or b.ndim != 1 or a.size < 1 or b.size < 1 or not (
            np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        fail("mann_whitney_test", "a, b", "are not two non-empty 1-D arrays of finite scores",
             "Drop the failed runs first")
    result = stats.mannwhitneyu(a, b, alternative="two-sided")
    u = float(result.statistic)
    return TestResult("mann_whitney_u", u, float(result.pvalue),
                      {"rank_biserial": 2.0 * u / (a.size * b.size) - 1.0})


def wilcoxon_test(a: Any, b: Any, *, zero_method: str = "zsplit") -> TestResult:
    r"""Wilcoxon signed-rank test of paired fold scores (two-sided).

    The absolute differences :math:`|d_j|` are ranked; :math:`R^+` and :math:`R^-` sum the
    ranks of the positive and negative differences, and the statistic is
    :math:`T = \min(R^+, R^-)`. With ``zero_method="zsplit"`` (Demšar 2006) zero differences
    are ranked too, their ranks split evenly between :math:`R^+` and :math:`R^-`; ``"wilcox"``
    drops them before ranking, ``"pratt"`` ranks them and then drops their ranks.
    The p-value is scipy's (:func:`scipy.stats.wilcoxon`).

    Returns
    -------
    TestResult
        ``statistic`` (T), ``p_value``, and ``details``: ``r_plus``, ``r_minus`` and the
        matched-pairs rank-biserial correlation ``rank_biserial``
        :math:`(R^+ - R^-)/(R^+ + R^-)` in [-1, 1] (its effect size). All-zero differences
        give ``p_value`` 1.

    Examples
    --------
    Demšar's (2006) Table 2, C4.5 against C4.5 with a tuned m (AUC on 14 data sets):

    >>> c45 = [.763, .599, .954, .628, .882, .936, .661, .583, .775, 1., .940, .619, .972, .957]
    >>> c45m = [.768, .591, .971, .661, .888, .931, .668, .583, .838, 1., .962, .666, .981, .978]
    >>> r = wilcoxon_test(c45m, c45)
    >>> r.details["r_plus"], r.details["r_minus"], r.statistic
    (93.0, 12.0, 12.0)
    """
    func = "wilcoxon_test"
    from scipy import stats

    a, b = _paired(func, a, b)
    if zero_method not in ("zsplit", "wilcox", "pratt"):
        fail(func, "zero_method", f"is {zero_method!r}", "Pass 'zsplit', 'wilcox' or 'pratt'")
    d = a - b
    zero = d == 0
    if zero_method == "wilcox":  # zeros dropped before ranking
        d = d[~zero]
        zero = zero[~zero]
    ranks = stats.rankdata(np.abs(d))
    r_plus = float(ranks[d > 0].sum())
    r_minus = float(ranks[d < 0].sum())
    if zero_method == "zsplit":  # zeros ranked, their ranks split between the signs
        r_plus += 0.5 * float(ranks[zero].sum())
        r_minus += 0.5 * float(ranks[zero].sum())
    total = r_plus + r_minus
    biserial = (r_plus - r_minus) / total if total > 0 else 0.0
    if d.size == 0 or np.all(zero):
        return TestResult("wilcoxon_signed_rank", 0.0, 1.0, {
            "r_plus": r_plus, "r_minus": r_minus, "rank_biserial": 0.0,
            "zero_method": zero_method})
    result = stats.wilcoxon(a, b, zero_method=zero_method)
    return TestResult("wilcoxon_signed_rank", float(min(r_plus, r_minus)),
                      float(result.pvalue), {"r_plus": r_plus, "r_minus": r_minus,
                                             "rank_biserial": biserial,
                                             "zero_method": zero_method})


def _average_ranks(scores: np.ndarray, greater_is_better: bool) -> np.ndarray:
    """Average rank of each row over the columns (blocks); rank 1 is the best."""
    from scipy import stats

    return stats.rankdata(-scores if greater_is_better else scores, axis=0).mean(axis=1)


def friedman_test(scores: Any, *, greater_is_better: bool = True) -> TestResult:
    r"""Friedman test: do ``k`` models (rows) differ over ``N`` blocks (columns, the folds)?

    Within each block the models are ranked (1 is the best; ties get average ranks); with
    average ranks :math:`R_i`,

    .. math::

        \chi^2_F = \frac{12N}{k(k+1)}\left[\sum_i R_i^2 - \frac{k(k+1)^2}{4}\right],
        \qquad F_F = \frac{(N-1)\chi^2_F}{N(k-1) - \chi^2_F}

    :math:`\chi^2_F` (with scipy's tie correction, :func:`scipy.stats.friedmanchisquare`) has
    :math:`k-1` degrees of freedom; Iman and Davenport's :math:`F_F` (less conservative, on
    :math:`k-1` and :math:`(k-1)(N-1)` degrees of freedom) is reported too.

    Returns
    -------
    TestResult
        ``statistic`` (:math:`\chi^2_F`), ``p_value``, and ``details``: ``average_ranks``,
        ``iman_davenport_f`` and its ``iman_davenport_p_value``, ``k``, ``n_blocks``.

    Examples
    --------
    Demšar's (2006) Table 6 (AUC of four C4.5 variants on 14 data sets; on *voting* C4.5+cf
    is ahead of C4.5+m+cf, which the printed 0.975 hides, so it is entered as 0.9751, as in
    scipy's own test of this example):

    >>> auc = [[.763, .599, .954, .628, .882, .936, .661, .583, .775, 1., .940, .619, .972, .957],
    ...        [.768, .591, .971, .661, .888, .931, .668, .583, .838, 1., .962, .666, .981, .978],
    ...        [.771, .590, .968, .654, .886, .916, .609, .563, .866, 1., .965, .614, .9751, .946],
    ...        [.798, .569, .967, .657, .898, .931, .685, .625, .875, 1., .962, .669, .975, .970]]
    >>> r = friedman_test(auc)
    >>> [round(x, 3) for x in r.details["average_ranks"]]
    [3.143, 2.0, 2.893, 1.964]
    >>> round(r.details["chi2_uncorrected"], 2), round(r.details["iman_davenport_f"], 2)
    (9.28, 3.69)
    """
    func = "friedman_test"
    from scipy import stats

    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 2 or scores.shape[0] < 3 or scores.shape[1] < 2:
        fail(func, "scores", f"has shape {scores.shape}",
             "Pass a (k, N) array: k >= 3 models (rows) scored on N >= 2 folds (columns)")
    if not np.all(np.isfinite(scores)):
        fail(func, "scores", "contain NaN or infinite values",
             "Check the metric: it is undefined on some folds")
    k, n = scores.shape
    ranks = _average_ranks(scores, greater_is_better)
    if np.all(scores == scores[:1, :]):
        chi2, p = 0.0, 1.0  # every model ties in every block: no evidence of a difference
    else:
        result = stats.friedmanchisquare(*scores)
        chi2, p = float(result.statistic), float(result.pvalue)
    # Iman–Davenport from the uncorrected chi-square of the average ranks (Demšar's formula)
    chi2_plain = 12.0 * n / (k * (k + 1)) * (float(np.sum(ranks**2)) - k * (k + 1) ** 2 / 4.0)
    denom = n * (k - 1) - chi2_plain
    if denom > 0:
        f = (n - 1) * chi2_plain / denom
        f_p = float(stats.f.sf(f, k - 1, (k - 1) * (n - 1)))
    else:  # the same order in every block: the largest possible chi-square
        f, f_p = math.inf, 0.0
    return TestResult("friedman", chi2, p, {
        "average_ranks": ranks.tolist(), "chi2_uncorrected": chi2_plain,
        "iman_davenport_f": f, "iman_davenport_p_value": f_p, "k": k, "n_blocks": n})


def holm(p_values: Any) -> np.ndarray:
    r"""Holm's step-down adjusted p-values (controls the family-wise error rate).

    With the :math:`m` p-values sorted ascending, :math:`p_{(1)} \le \dots \le p_{(m)}`,

    .. math::

        \tilde p_{(i)} = \min\left(1, \max_{j \le i} (m - j + 1)\,p_{(j)}\right)

    and hypothesis :math:`i` is rejected at level :math:`\alpha` when
    :math:`\tilde p_i < \alpha` — the same decisions as comparing :math:`p_{(i)}` with
    :math:`\alpha/(m - i + 1)` until the first acceptance.

    Examples
    --------
    Demšar's (2006) example: p = 0.016, 0.019, 0.607 against the control C4.5:

    >>> holm([0.016, 0.019, 0.607]).round(3).tolist()
    [0.048, 0.048, 0.607]
    """
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1 or not np.all((p >= 0) & (p <= 1)):
        fail("holm", "p_values", "are not a 1-D array of probabilities in [0, 1]",
             "Pass the p-values of the family of tests")
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return out


def rank_posthoc(average_ranks: Any, n_blocks: int) -> dict[tuple[int, int], TestResult]:
    r"""Demšar's post-hoc test after Friedman: every pair of models by their average ranks.

    .. math::

        z = \frac{R_i - R_j}{\sqrt{k(k+1)/(6N)}}, \qquad p = 2\,\Phi(-|z|)

    with Holm-adjusted p-values over the :math:`k(k-1)/2` pairs in ``details``.

    Examples
    --------
    Demšar's (2006) C4.5 variants, ranks 3.143, 2.000, 2.893, 1.964 over N = 14:

    >>> r = rank_posthoc([3.143, 2.000, 2.893, 1.964], 14)
    >>> round(r[(0, 3)].statistic, 3), round(r[(0, 3)].p_value, 3)
    (2.416, 0.016)
    """
    from scipy import stats

    ranks = np.asarray(average_ranks, dtype=float)
    k = ranks.size
    if ranks.ndim != 1 or k < 2 or not (isinstance(n_blocks, (int, np.integer))
                                        and n_blocks >= 1):
        fail("rank_posthoc", "average_ranks", f"has shape {ranks.shape} (n_blocks "
             f"{n_blocks!r})", "Pass k >= 2 average ranks and a positive number of blocks")
    se = math.sqrt(k * (k + 1) / (6.0 * n_blocks))
    pairs = list(combinations(range(k), 2))
    z = [(ranks[i] - ranks[j]) / se for i, j in pairs]
    p = [float(2.0 * stats.norm.sf(abs(v))) for v in z]
    adjusted = holm(p) if pairs else np.array([])
    return {pair: TestResult("friedman_rank_posthoc", float(zi), pi, {
        "p_value_holm": float(ai), "standard_error": se})
        for pair, zi, pi, ai in zip(pairs, z, p, adjusted, strict=True)}


#: fewest folds (or runs) on which two losses must both have succeeded to be tested
MIN_COMMON_FOLDS = 3

#: the designs of an experiment, and their (t-test, rank test) keys and display names
DESIGNS = {
    "cv": (("corrected_ttest", "corrected resampled t-test"),
           ("wilcoxon", "Wilcoxon signed-rank")),
    "paired": (("paired_ttest", "paired t-test"), ("wilcoxon", "Wilcoxon signed-rank")),
    "unpaired": (("welch_ttest", "Welch t-test"), ("mann_whitney", "Mann-Whitney U")),
}


def _check_design(func: str, design: Any) -> None:
    if design not in DESIGNS:
        fail(func, "design", f"is {design!r}", f"Pass one of {', '.join(DESIGNS)}")


def _untestable(name: str, reason: str, n_common: int) -> TestResult:
    return TestResult(name, math.nan, math.nan, {"untestable": reason, "n_common": n_common})


def pairwise_tests(scores: Any, *, n_train: float = 1.0, n_test: float = 1.0,
                   confidence: float = 0.95, design: str = "cv",
                   min_common: int = MIN_COMMON_FOLDS
                   ) -> dict[tuple[int, int], dict[str, TestResult]]:
    """A t-test and a rank test for every pair of rows, Holm-adjusted within each test.

    ``design`` picks the tests (:data:`DESIGNS`): ``"cv"`` (repeated cross-validation folds:
    :func:`corrected_resampled_ttest` and :func:`wilcoxon_test`), ``"paired"`` (matched
    seeds on one split: :func:`paired_ttest` and :func:`wilcoxon_test`) or ``"unpaired"``
    (:func:`welch_ttest` and :func:`mann_whitney_test`). NaN scores are failed runs: a paired
    pair is tested on the columns where both rows are finite (an unpaired one on each row's
    finite scores), and is untestable (NaN statistic and p-value, ``details["untestable"]``
    says why) below ``min_common`` of them. The adjusted p-value is in each result's
    ``details["p_value_holm"]`` (over the testable pairs); the pair ``(i, j)`` tests row ``i``
    minus row ``j``.
    """
    _check_design("pairwise_tests", design)
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 2 or scores.shape[0] < 2:
        fail("pairwise_tests", "scores", f"has shape {scores.shape}",
             "Pass a (k, J) array of k >= 2 models scored on J folds")
    (t_key, _), (r_key, _) = DESIGNS[design]
    finite = np.isfinite(scores)
    need = max(2, min(min_common, scores.shape[1]))
    pairs = list(combinations(range(scores.shape[0]), 2))
    results: list[tuple[TestResult, TestResult]] = []
    for i, j in pairs:
        if design == "unpaired":
            a, b = scores[i][finite[i]], scores[j][finite[j]]
            m = min(a.size, b.size)
        else:
            both = finite[i] & finite[j]
            a, b = scores[i][both], scores[j][both]
            m = int(both.sum())
        if m < need:
            reason = (f"{m} {'runs' if design == 'unpaired' else 'common folds'} "
                      f"(at least {need} needed)")
            results.append((_untestable(t_key, reason, m), _untestable(r_key, reason, m)))
            continue
        if design == "cv":
            t = corrected_resampled_ttest(a, b, n_train=n_train, n_test=n_test,
                                          confidence=confidence)
            r = wilcoxon_test(a, b)
        elif design == "paired":
            t, r = paired_ttest(a, b, confidence=confidence), wilcoxon_test(a, b)
        else:
            t, r = welch_ttest(a, b, confidence=confidence), mann_whitney_test(a, b)
        results.append((TestResult(t.test, t.statistic, t.p_value, {**t.details, "n_common": m}),
                         TestResult(r.test, r.statistic, r.p_value, {**r.details, "n_common": m})))
    out: dict[tuple[int, int], dict[str, TestResult]] = {pair: {} for pair in pairs}
    for position, key in ((0, t_key), (1, r_key)):
        p = np.array([res[position].p_value for res in results])
        ok = np.isfinite(p)
        adjusted = np.full(p.shape, math.nan)
        if ok.any():
            adjusted[ok] = holm(p[ok])
        for n, pair in enumerate(pairs):
            res = results[n][position]
            out[pair][key] = TestResult(res.test, res.statistic, res.p_value,
                                        {**res.details, "p_value_holm": float(adjusted[n])})
    return out


# ------------------------------------------------------------------------------ conclusion


def _level(p: float) -> float | None:
    """The highest of CONFIDENCE_LEVELS at which p is significant (p < 1 - level)."""
    for level in CONFIDENCE_LEVELS:
        if p < 1.0 - level:
            return level
    return None


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _p(p: float) -> str:
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.2g}"


def conclude(labels: Any, scores: Any, *, metric: str, greater_is_better: bool,
             n_train: float = 1.0, n_test: float = 1.0, alpha: float = 0.05,
             design: str = "cv", min_common: int = MIN_COMMON_FOLDS) -> dict[str, Any]:
    """The tests for these fold scores and a plain-language conclusion computed from them.

    Two models: the t-test of the design decides (:data:`DESIGNS`; the rank test is reported
    beside it). More: the Friedman test first (Kruskal–Wallis for unpaired runs); if it finds
    a difference, the best model by mean score is compared with each other by the
    Holm-adjusted t-tests.

    Failed runs are NaN scores, and the rule is: a loss with fewer than ``min_common``
    successful runs is reported and left out of the tests; a pair of losses is tested on the
    folds where both succeeded (untestable below ``min_common``); the Friedman test uses the
    folds where every tested loss succeeded (skipped below ``min_common``: the Holm-adjusted
    pairwise tests decide alone). With fewer than ``min_common`` folds in all, the minimum is
    the number of folds (and at least 2).

    Returns
    -------
    dict
        ``tests`` (JSON-ready results, every p-value under a key ``p_value``),
        ``best`` (label of the best mean score), ``significant`` (whether a difference was
        found at ``alpha``), ``conclusion`` (text), ``design``, ``excluded`` (labels left out
        of the tests).

    Examples
    --------
    >>> out = conclude(["a", "b"], [[0.91, 0.90, 0.92, 0.93], [0.80, 0.81, 0.79, 0.80]],
    ...                metric="accuracy_score", greater_is_better=True, n_train=90, n_test=10)
    >>> out["best"], out["significant"]
    ('a', True)
    >>> out["conclusion"].startswith("a is better than b on accuracy_score")
    True
    """
    _check_design("conclude", design)
    all_labels = [str(label) for label in labels]
    all_scores = np.asarray(scores, dtype=float)
    if all_scores.ndim != 2 or all_scores.shape[0] != len(all_labels) or len(all_labels) < 2:
        fail("conclude", "scores", f"has shape {all_scores.shape} for {len(all_labels)} labels",
             "Pass one row of fold scores per label, and at least two labels")
    if not (isinstance(alpha, float) and 0.0 < alpha < 1.0):
        fail("conclude", "alpha", f"is {alpha!r}", "Pass a significance level in (0, 1)")
    (t_key, t_name), (r_key, r_name) = DESIGNS[design]
    J = all_scores.shape[1]
    finite = np.isfinite(all_scores)
    counts = finite.sum(axis=1)
    runs = "runs" if design != "cv" else "folds"
    need = max(2, min(min_common, J))
    notes: list[str] = []
    keep = [i for i in range(len(all_labels)) if counts[i] >= need]
    for i in range(len(all_labels)):
        if counts[i] == J:
            continue
        if i in keep:
            notes.append(f"{all_labels[i]} failed on {J - counts[i]} of {J} {runs}; its "
                         f"comparisons use the {runs} where both losses succeeded.")
        else:
            notes.append(f"{all_labels[i]} succeeded on only {counts[i]} of {J} {runs} and is "
                         f"left out of the tests (at least {need} needed).")
    excluded = [all_labels[i] for i in range(len(all_labels)) if i not in keep]
    word = "higher" if greater_is_better else "lower"
    confidence = 1.0 - alpha
    pct = f"{confidence:.0%}"
    note = (" " + " ".join(notes)) if notes else ""
    if len(keep) < 2:
        # the best only among the losses kept: a mean over the one fold a loss survived (a
        # fold without the rows outside its domain, say) is not comparable with the others'
        best_label = all_labels[keep[0]] if keep else None
        return {"tests": {}, "best": best_label, "significant": False, "design": design,
                "excluded": excluded,
                "conclusion": (f"Too few successful {runs} to test any pair of losses on "
                               f"{metric}." + note)}
    labels = [all_labels[i] for i in keep]
    scores = all_scores[keep]
    k = len(labels)
    means = np.array([np.nanmean(row) for row in scores])
    best = int(np.argmax(means) if greater_is_better else np.argmin(means))

    def oriented(i: int, j: int, pair: dict[str, TestResult]) -> dict[str, Any]:
        """The t-test of ``i`` against ``j`` (the pair may be stored as ``(j, i)``)."""
        t = pair[t_key]
        sign = 1.0 if i < j else -1.0
        d = t.details
        if "untestable" in d:
            return {"untestable": d["untestable"], "p": math.nan, "p_holm": math.nan}
        lo, hi = sorted((sign * d["ci_low"], sign * d["ci_high"]))
        if design == "unpaired":
            mi, mj = means[i], means[j]
        else:
            both = np.isfinite(scores[i]) & np.isfinite(scores[j])
            mi, mj = float(scores[i][both].mean()), float(scores[j][both].mean())
        return {"diff": sign * d["mean_difference"], "lo": lo, "hi": hi, "p": t.p_value,
                "p_holm": d.get("p_value_holm", t.p_value), "mi": mi, "mj": mj}

    def sentence(i: int, j: int, r: dict[str, Any], p: float, adjusted: bool) -> str:
        if "untestable" in r:
            return (f"{labels[i]} and {labels[j]} cannot be tested on {metric}: "
                    f"{r['untestable']}")
        detail = (f"mean {_fmt(r['mi'])} vs {_fmt(r['mj'])}, difference {_fmt(r['diff'])} "
                  f"({pct} CI [{_fmt(r['lo'])}, {_fmt(r['hi'])}]); {t_name} "
                  f"{'Holm-adjusted ' if adjusted else ''}{_p(p)}")
        level = _level(p)
        if p < alpha and level is not None:
            return (f"{labels[i]} is better than {labels[j]} on {metric} ({word} is better): "
                    f"{detail}; the difference is significant at the {level:.1%} confidence "
                    "level".replace(".0%", "%"))
        if p < alpha:
            return (f"{labels[i]} is better than {labels[j]} on {metric} ({word} is better): "
                    f"{detail}; significant at the {pct} confidence level")
        return (f"the data cannot tell {labels[i]} and {labels[j]} apart on {metric}: "
                f"{detail}; not significant at the {pct} confidence level")

    design_note = {"cv": "", "paired": "",
                   "unpaired": f" (The {runs} are not paired: each loss's scores are compared "
                               "as independent samples, which is less sensitive than a paired "
                               "design.)"}[design]
    pairs = pairwise_tests(scores, n_train=n_train, n_test=n_test, confidence=confidence,
                           design=design, min_common=min_common)
    common = {"design": design, "excluded": excluded}
    if k == 2:
        tests = {t_key: pairs[(0, 1)][t_key], r_key: pairs[(0, 1)][r_key]}
        other = 1 - best
        r = oriented(best, other, pairs[(0, 1)])
        text = _cap(sentence(best, other, r, r["p"], adjusted=False)) + "."
        w = tests[r_key].p_value
        significant = bool(r["p"] < alpha)
        if "untestable" not in r and (w < alpha) != significant:
            overlap = ", which ignores the overlap between folds," if design == "cv" else ""
            text += f" (The {r_name} test{overlap} gives {_p(w)}.)"
        return {"tests": {name: _pair_dict(res) for name, res in tests.items()},
                "best": labels[best], "significant": significant,
                "conclusion": text + design_note + note, **common}

    complete = np.all(np.isfinite(scores), axis=0)
    omnibus_name = "Kruskal-Wallis" if design == "unpaired" else "Friedman"
    omnibus: dict[str, Any]
    if design == "unpaired":
        from scipy import stats as _sp

        kw = _sp.kruskal(*[row[np.isfinite(row)] for row in scores])
        omnibus = {"test": "kruskal_wallis", "statistic": float(kw.statistic),
                   "p_value": float(kw.pvalue)}
        omnibus_key = "kruskal_wallis"
    elif complete.sum() >= need:
        friedman = friedman_test(scores[:, complete], greater_is_better=greater_is_better)
        omnibus = friedman.to_dict()
        omnibus_key = "friedman"
    else:
        omnibus = {"test": "friedman", "statistic": None, "p_value": None,
                   "untestable": f"{int(complete.sum())} folds where every loss succeeded "
                                 f"(at least {need} needed)"}
        omnibus_key = "friedman"
    pairwise = []
    for (i, j), res in pairs.items():
        entry = {"a": labels[i], "b": labels[j], t_key: _pair_dict(res[t_key]),
                 r_key: _pair_dict(res[r_key])}
        if omnibus_key == "friedman" and omnibus["p_value"] is not None:
            posthoc = rank_posthoc(omnibus["average_ranks"], int(complete.sum()))
            entry["rank_posthoc"] = posthoc[(i, j)].to_dict()
        pairwise.append(entry)
    tests = {omnibus_key: omnibus, "pairwise": pairwise}
    p_omni = omnibus["p_value"]
    if p_omni is not None and p_omni >= alpha:
        text = (f"The data cannot tell the {k} losses apart on {metric}: the "
                f"{omnibus_name} test finds no difference ({_p(p_omni)}, not significant at "
                f"the {pct} confidence level). Best mean: {labels[best]} "
                f"({_fmt(means[best])}).")
        return {"tests": tests, "best": labels[best], "significant": False,
                "conclusion": text + design_note + note, **common}
    if p_omni is None:
        parts = [f"The Friedman test cannot be run ({omnibus['untestable']}); the "
                 f"Holm-adjusted pairwise tests decide alone. {labels[best]} has the best "
                 f"mean ({_fmt(means[best])}, {word} is better)."]
    else:
        parts = [f"The {omnibus_name} test finds that the {k} losses differ on {metric} "
                 f"({_p(p_omni)}). {labels[best]} has the best mean ({_fmt(means[best])}, "
                 f"{word} is better)."]
    beaten = []
    for j in range(k):
        if j == best:
            continue
        r = oriented(best, j, pairs[(min(best, j), max(best, j))])
        parts.append(_cap(sentence(best, j, r, r["p_holm"], adjusted=True)) + ".")
        beaten.append(bool(r["p_holm"] < alpha))
    if all(beaten):
        parts.append(f"{labels[best]} is significantly better than every other loss.")
    others = [(i, j) for (i, j), res in pairs.items() if best not in (i, j)
              and res[t_key].details["p_value_holm"] < alpha]
    for i, j in others:
        r = oriented(i, j, pairs[(i, j)])
        win, lose = (i, j) if (r["diff"] > 0) == greater_is_better else (j, i)
        parts.append(f"Among the others, {labels[win]} is better than {labels[lose]} "
                     f"(Holm-adjusted {_p(r['p_holm'])}).")
    if not any(beaten) and not others:
        overlap = "the overlap between folds and " if design == "cv" else ""
        parts.append(f"No pair of losses differs significantly once {overlap}the number of "
                     f"comparisons {'are' if overlap else 'is'} accounted for (Holm-adjusted "
                     f"{t_name}s).")
    return {"tests": tests, "best": labels[best], "significant": bool(any(beaten)),
            "conclusion": " ".join(parts) + design_note + note, **common}


def _cap(text: str) -> str:
    """Capitalise a sentence that starts with "the" (never a loss name)."""
    return "The" + text[3:] if text.startswith("the ") else text


def _pair_dict(result: TestResult) -> dict[str, Any]:
    return result.to_dict()
