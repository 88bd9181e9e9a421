"""docs/reader-questions.md: every snippet runs and prints what the page shows; every question
of issue 18 has its section; the numbers quoted from the examples are the examples'."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "reader-questions.md"

QUESTIONS = (
    "Back-propagation with MSE for several hidden layers",
    "multi-class logistic regression",
    "latitude and longitude",
    "weights of a loss made of several parts",
    "One output to minimise and another to maximise",
    "Can a negative log-likelihood be negative",
    "Is log loss the KL divergence",
    "Sigmoid with RMSE",
    "Which comes first, the loss or gradient descent",
    "Loss on the test set",
    "Epoch loss in online learning",
)


def test_every_snippet_runs_and_prints_what_the_page_shows():
    result = doctest.testfile(str(PAGE), module_relative=False,
                              optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 60
    assert result.failed == 0


def test_every_question_has_a_section_with_a_snippet():
    text = PAGE.read_text()
    sections = re.split(r"^## ", text, flags=re.M)[1:]
    for question in QUESTIONS:
        matching = [s for s in sections if question.lower() in s.splitlines()[0].lower()]
        assert len(matching) == 1, question
        assert ">>> " in matching[0], question


def test_the_backprop_table_is_the_examples_measurement():
    pytest.importorskip("torch")
    import importlib.util
    import sys

    path = PAGE.parents[1] / "examples" / "backprop_by_hand.py"
    spec = importlib.util.spec_from_file_location("backprop_by_hand_docs", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        runs = module.diagnosis()
    finally:
        del sys.modules[spec.name]
    text = PAGE.read_text()
    reader = runs["reader: raw inputs, N(0, 1) init, lr 0.05"]
    assert f"| {reader.saturated_at_init:.0%} | {reader.spread:.3f} |" in text
    high = runs["standardised inputs, Glorot init, lr 0.5"]
    assert f"diverges in epoch {high.diverged_at + 1}" in text
    fixed = runs["standardised inputs, Glorot init, lr 0.05"]
    assert f"| {fixed.spread:.2f} | {fixed.score:.2f} |" in text
