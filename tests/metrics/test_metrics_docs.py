"""The examples of docs/loss-or-metric.md run, and give the numbers the page shows."""

from __future__ import annotations

import doctest
from pathlib import Path

import numpy as np

import losskit as lk

PAGE = Path(__file__).resolve().parents[2] / "docs" / "loss-or-metric.md"


def test_the_page_examples_run_and_match():
    result = doctest.testfile(str(PAGE), module_relative=False,
                              optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 10
    assert result.failed == 0


def test_the_lowest_loss_model_is_not_the_best_metric_model():
    y = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0])
    model_a = np.array([0.60, 0.60, 0.60, 0.45, 0.45, 0.40, 0.40, 0.40, 0.55, 0.55])
    model_b = np.array([0.95, 0.95, 0.95, 0.95, 0.01, 0.05, 0.05, 0.05, 0.05, 0.99])
    # the loss prefers A ...
    assert lk.binary_cross_entropy(y, model_a) < lk.binary_cross_entropy(y, model_b)
    # ... the decision metrics prefer B
    assert lk.metrics.accuracy_score(y, model_b) > lk.metrics.accuracy_score(y, model_a)
    assert lk.metrics.f1_score(y, model_b) > lk.metrics.f1_score(y, model_a)
    assert lk.metrics.brier_score_loss(y, model_b) < lk.metrics.brier_score_loss(y, model_a)
