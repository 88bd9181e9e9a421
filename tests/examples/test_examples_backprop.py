"""examples/backprop_by_hand.py: the hand-written gradients are autograd's, the network trains,
and the reader's constant prediction has the measured causes the example prints."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "backprop_by_hand.py"


@pytest.fixture(scope="module")
def bp():
    pytest.importorskip("torch")
    spec = importlib.util.spec_from_file_location("backprop_by_hand", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_the_output_error_is_the_gradient_not_the_loss_value(bp):
    rng = np.random.default_rng(0)
    y, out = rng.normal(size=(8, 1)), rng.normal(size=(8, 1))
    np.testing.assert_allclose(bp.output_error("regression", y, out), 2 * (out - y) / 8,
                               rtol=1e-14)
    labels, logits = np.array([0, 2, 1, 2]), rng.normal(size=(4, 3))
    np.testing.assert_allclose(bp.output_error("classes", labels, logits),
                               (_softmax(logits) - np.eye(3)[labels]) / 4, rtol=1e-12)


@pytest.mark.parametrize("task", ["regression", "classes"])
@pytest.mark.parametrize("scale", [None, 1.0, 3.0])  # Glorot, the reader's N(0, 1), saturating
def test_every_layers_gradient_equals_autograd(bp, task, scale):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(20, 2))
    y = rng.normal(size=(20, 1)) if task == "regression" else rng.integers(0, 3, size=20)
    params = bp.init((2, 16, 16, 1 if task == "regression" else 3), scale=scale, seed=1)
    ours = bp.gradients(task, params, X, y)
    theirs = bp.autograd_gradients(task, params, X, y)
    assert [tuple(w.shape) for pair in ours for w in pair] == \
        [tuple(w.shape) for pair in theirs for w in pair]
    assert bp.max_difference(ours, theirs) < 1e-10
    # and the first layer's gradient is not trivially zero (the check has something to check)
    assert np.abs(ours[0][0]).max() > 1e-8


def test_one_weights_gradient_is_the_finite_difference(bp):
    X, y = bp.class_data(30)
    params = bp.init((2, 8, 8, 3), seed=2)
    grad = bp.gradients("classes", params, X, y)[0][0][1, 3]
    h = 1e-6

    def at(delta):
        moved = [(W.copy(), b) for W, b in params]
        moved[0][0][1, 3] += delta
        return bp.loss("classes", y, bp.forward(moved, X)[-1])

    assert grad == pytest.approx((at(h) - at(-h)) / (2 * h), rel=1e-6)


def test_the_network_trains_on_both_tasks(bp):
    X, y = bp.regression_data(256)
    run = bp.train("regression", bp.standardise(X), y, epochs=60)
    assert run.diverged_at is None and run.score > 0.95 and run.losses[-1] < run.losses[0] / 5
    Xc, yc = bp.class_data(120)
    run = bp.train("classes", Xc, yc, epochs=40)
    assert run.score > 0.9 and run.losses[-1] < 0.3


def test_the_readers_constant_prediction_is_explained_by_measurements(bp):
    runs = bp.diagnosis(epochs=40)
    reader = runs["reader: raw inputs, N(0, 1) init, lr 0.05"]
    fixed = runs["standardised inputs, Glorot init, lr 0.05"]
    # the reader's network: most tanh units saturated from the start, a constant prediction
    assert reader.saturated_at_init > 0.5 and reader.spread < 1e-3 and reader.score < 0.05
    # the input scale alone does it: with Glorot's init the raw inputs still saturate
    assert runs["raw inputs, Glorot init"].spread < 1e-3
    # standardised inputs and Glorot: no saturation, predictions spread like the target
    assert fixed.saturated_at_init == 0.0 and fixed.spread > 0.9 and fixed.score > 0.9
    # too large a learning rate saturates every unit and then diverges
    high = runs["standardised inputs, Glorot init, lr 0.5"]
    assert high.diverged_at is not None and high.saturated > 0.9


def test_main_prints_the_agreement_and_the_table(bp, capsys):
    bp.main()
    out = capsys.readouterr().out
    assert "autograd" in out and "diverged in epoch" in out and "accuracy" in out
