"""The image example, ``examples/compare_cnn_on_digits.py``, at a reduced size."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "compare_cnn_on_digits.py"


@pytest.fixture(scope="module")
def example():
    pytest.importorskip("torch")
    spec = importlib.util.spec_from_file_location("compare_cnn_on_digits", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_cnn_example_compares_three_losses_through_the_callable_api(example, tmp_path,
                                                                         capsys):
    result = example.main(["--quick", "--jobs", "1", "--out", str(tmp_path / "cnn")])
    printed = capsys.readouterr().out
    assert result.losses == ["cross_entropy", "focal", "mse_plus"]
    assert result.scores.shape == (3, 2) and np.isfinite(result.scores).all()
    assert ((result.scores > 0) & (result.scores <= 1)).all()
    assert result.conclusion in printed and "6 fits in" in printed
    assert "friedman" in result.tests
    assert (tmp_path / "cnn" / "report.html").is_file()


def test_the_custom_losss_extra_term_is_zero(example):
    import torch

    logits = torch.randn(50, 10, dtype=torch.float64)
    labels = torch.randint(0, 10, (50,))
    p = torch.softmax(logits, 1)
    y = torch.nn.functional.one_hot(labels, 10).to(p.dtype)
    assert float(example.mse_plus(logits, labels)) == pytest.approx(
        float(((y - p) ** 2).mean()), abs=1e-15)


def test_the_harness_is_reproducible_and_the_same_seed_is_the_same_run(example):
    images, labels = example.load_digits_images(120)
    harness = example.DigitsHarness(images, labels, epochs=1)
    train, test = np.arange(80), np.arange(80, 120)
    a = harness(example.cross_entropy, train, test, 3)
    assert a == harness(example.cross_entropy, train, test, 3)
