"""Is loss A really better than loss B on my data? Repeated cross-validation with tests.

:func:`compare` trains the same network with each loss on the same repeated cross-validation
folds and seeds, scores every fold, and tests the paired scores (:mod:`losskit.compare.stats`):
the corrected resampled t-test and the Wilcoxon signed-rank test for two losses, the Friedman
test and Holm-adjusted pairwise tests for more, with effect sizes, confidence intervals and a
plain-language conclusion. :class:`Comparison` holds the result and writes ``results.json``,
a box plot and an HTML report (``losskit compare DATA --target COL --losses a,b --out DIR``).

``import losskit.compare`` does not import torch (training does, in :func:`compare`), nor the
command line: ``losskit.cli`` imports ``losskit.compare._cli``, which registers the command
(so ``import losskit`` keeps ``losskit.cli`` out and ``python -m losskit.cli`` runs cleanly).
"""

from losskit.compare._core import Comparison, compare, load_callable
from losskit.compare._format import mean_spread
from losskit.compare.scores import compare_scores, read_scores
from losskit.compare.stats import (
    TestResult,
    corrected_resampled_ttest,
    friedman_test,
    holm,
    pairwise_tests,
    rank_posthoc,
    wilcoxon_test,
)

__all__ = [
    "Comparison",
    "TestResult",
    "compare",
    "compare_scores",
    "corrected_resampled_ttest",
    "friedman_test",
    "holm",
    "load_callable",
    "mean_spread",
    "pairwise_tests",
    "rank_posthoc",
    "read_scores",
    "wilcoxon_test",
]
