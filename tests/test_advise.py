"""lk.advise: the task, distribution and loss from the data, with measured warnings."""

from __future__ import annotations

import json

import numpy as np
import pytest

import losskit as lk


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def _codes(advice):
    return {w.code for w in advice.warnings}


@pytest.mark.parametrize(("make", "task", "family", "loss"), [
    (lambda r: r.normal(size=300), "regression", "gaussian", "mean_squared_error"),
    (lambda r: r.poisson(3.0, size=300), "count", "poisson", "poisson_nll"),
    (lambda r: r.gamma(1.5, 2.0, size=300), "positive_skewed", "gamma", "gamma_nll"),
    (lambda r: r.beta(2, 5, size=300), "proportion", "bernoulli", "binary_cross_entropy"),
    (lambda r: r.integers(0, 2, size=300), "binary", "bernoulli", "binary_cross_entropy"),
    (lambda r: r.choice(["cat", "dog"], size=300), "binary", "bernoulli",
     "binary_cross_entropy"),
    (lambda r: r.uniform(size=300) < 0.4, "binary", "bernoulli", "binary_cross_entropy"),
    (lambda r: r.choice([-1, 1], size=300), "binary", "bernoulli", "binary_cross_entropy"),
    (lambda r: r.integers(0, 4, size=300), "multiclass", "categorical",
     "sparse_categorical_cross_entropy"),
    (lambda r: r.integers(0, 10, size=2000), "multiclass", "categorical",
     "sparse_categorical_cross_entropy"),
    (lambda r: r.poisson(1.0, size=3000), "count", "poisson", "poisson_nll"),
    (lambda r: r.choice(["a", "b", "c"], size=300).astype(object), "multiclass",
     "categorical", "sparse_categorical_cross_entropy"),
    (lambda r: np.eye(3)[r.integers(0, 3, size=300)], "multiclass", "categorical",
     "categorical_cross_entropy"),
    (lambda r: r.integers(0, 2, size=(300, 5)), "multilabel", "multilabel",
     "binary_cross_entropy"),
])
def test_task_family_and_loss(rng, make, task, family, loss):
    advice = lk.advise(make(rng))
    assert (advice.task, advice.family, advice.loss) == (task, family, loss)
    assert advice.metrics and advice.rationale
    # the advised loss and family exist in losskit
    assert callable(getattr(lk, advice.loss))
    family = lk.family(advice.family, **advice.family_options)
    y = make(np.random.default_rng(1))
    if advice.task in ("regression", "count", "positive_skewed", "proportion"):
        family.check_target(y)  # the advised family accepts the target as it is
    for metric in advice.metrics:
        assert callable(getattr(lk.metrics, metric))


def test_rationale_names_the_distribution_and_the_likelihood(rng):
    assert "Bernoulli" in lk.advise(rng.integers(0, 2, 100)).rationale
    assert "negative log-likelihood" in lk.advise(rng.integers(0, 2, 100)).rationale
    assert "Gaussian" in lk.advise(rng.normal(size=100)).rationale
    assert "Poisson" in lk.advise(rng.poisson(4.0, 200)).rationale


def test_hinge_is_an_alternative_for_plus_minus_one_labels(rng):
    losses = [a.loss for a in lk.advise(rng.choice([-1, 1], 100)).alternatives]
    assert "hinge_loss" in losses
    assert "hinge_loss" not in [a.loss for a in lk.advise(rng.integers(0, 2, 100)).alternatives]


def test_class_imbalance_is_measured(rng):
    y = np.r_[np.zeros(950), np.ones(50)]
    advice = lk.advise(y)
    finding = next(w for w in advice.warnings if w.code == "class_imbalance")
    assert finding.numbers["minority_to_majority"] == pytest.approx(50 / 950)
    assert "50 samples" in finding.message and "focal" in finding.message
    assert "balanced_accuracy_score" in advice.metrics


def test_few_samples_per_class(rng):
    y = np.r_[np.zeros(40), np.ones(40), np.full(4, 2)]
    finding = next(w for w in lk.advise(y).warnings if w.code == "few_samples_per_class")
    assert finding.numbers["min_class_count"] == 4


def test_heavy_tails_suggest_robust_losses(rng):
    y = rng.standard_t(1.5, size=2000)
    advice = lk.advise(y)
    assert "heavy_tails" in _codes(advice)
    assert {"huber_loss", "laplace_nll", "student_t_nll"} <= {a.loss for a in
                                                              advice.alternatives}
    assert "heavy_tails" not in _codes(lk.advise(rng.normal(size=2000)))


def test_variance_growing_with_inputs(rng):
    X = rng.normal(size=(800, 3))
    noisy = X[:, 0] + rng.normal(size=800) * np.exp(X[:, 1])
    advice = lk.advise(noisy, X)
    finding = next(w for w in advice.warnings if w.code == "heteroscedastic")
    assert finding.numbers["p_value"] < 1e-6
    assert advice.alternatives[0].loss == "gaussian_nll"
    homoscedastic = X[:, 0] + rng.normal(size=800)
    assert "heteroscedastic" not in _codes(lk.advise(homoscedastic, X))


def test_constant_target_and_identifier(rng):
    constant = lk.advise(np.full(50, 3.0))
    assert constant.task == "constant" and "constant_target" in _codes(constant)
    assert "looks_like_identifier" in _codes(lk.advise(np.arange(1000, 1500)))
    ids = lk.advise(np.array([f"user{i}" for i in range(300)], dtype=object))
    assert "looks_like_identifier" in _codes(ids)


def test_overdispersed_counts(rng):
    y = rng.negative_binomial(2, 0.1, size=500)
    finding = next(w for w in lk.advise(y).warnings if w.code == "overdispersion")
    assert finding.numbers["variance_to_mean"] > 2


def test_json_and_text(rng):
    advice = lk.advise(rng.integers(0, 3, 200))
    payload = json.loads(json.dumps(advice.to_dict()))
    assert payload["loss"] == "sparse_categorical_cross_entropy"
    assert payload["loss_options"] == {"from_logits": True}
    text = str(advice)
    assert "softmax" in text and "why:" in text


def test_torch_and_list_inputs(rng):
    torch = pytest.importorskip("torch")
    assert lk.advise(torch.tensor(rng.poisson(2.0, 100))).task == "count"
    assert lk.advise([0.5, 1.5, -2.0, 3.1, 0.2, -0.7]).task == "regression"


@pytest.mark.parametrize(("y", "X", "message"), [
    ([], None, r"advise: y is empty"),
    (3.0, None, r"advise: y is a scalar"),
    ([1.0, np.nan, 2.0], None, r"advise: y has 1 missing or infinite values"),
    (np.zeros((3, 2, 2)), None, r"y has 3 dimensions"),
    (np.array([[0.5, 2.0], [1.0, 3.0]]), None, r"y has shape \(2, 2\) with values other"),
    (np.arange(10.0), np.zeros((9, 2)), r"advise: X has 9 rows but y has 10"),
])
def test_bad_input(y, X, message):
    with pytest.raises(ValueError, match=message):
        lk.advise(y, X)
