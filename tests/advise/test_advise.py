"""lk.advise: the task, distribution and loss from the data, with measured warnings."""

from __future__ import annotations

import json

import numpy as np
import pytest

import losskit as lk
from targets import TARGETS


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def _codes(advice):
    return {w.code for w in advice.warnings}


@pytest.mark.parametrize(("make", "task", "family", "loss"), [
    (lambda r: r.normal(size=300), "regression", "gaussian", "gaussian_nll"),
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
    advice = lk.advise(y)
    finding = next(w for w in advice.warnings if w.code == "overdispersion")
    assert finding.numbers["variance_to_mean"] > 2 and finding.numbers["p_value"] < 1e-10
    # the advice follows the evidence: losskit has the model it recommends
    assert (advice.task, advice.family, advice.loss) == ("count", "negative_binomial",
                                                         "negative_binomial_nll")
    assert advice.output_layer.startswith("2 units") and "log-dispersion" in advice.output_layer
    assert "over-dispersed" in advice.rationale and "variance / mean" in advice.rationale


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


# ----------------------------------------------------------- counts or whole-number measurements


def _not_counts(advice):
    return advice.task not in ("count",) and advice.family not in ("poisson",
                                                                   "negative_binomial")


def test_the_diabetes_progression_score_is_a_measurement_not_a_count():
    from sklearn.datasets import load_diabetes

    y = load_diabetes(scaled=False).target  # whole numbers 25-346
    advice = lk.advise(y)
    assert _not_counts(advice)
    assert (advice.task, advice.family) == ("regression", "gaussian")
    # the rationale names the evidence that decided
    assert "no zeros and nothing below 25" in advice.rationale
    assert "not a count of events" in advice.rationale
    assert "214 distinct values in 442" in advice.rationale
    assert advice.stats["whole_numbers"]["zero_share"] == 0
    # counts remain an alternative, named with the model losskit has for them
    assert any(a.loss == "negative_binomial_nll" for a in advice.alternatives)


@pytest.mark.parametrize(("make", "family"), [
    # ages 18-90 in an integer column
    (lambda r: r.integers(18, 91, size=400), "gaussian"),
    # whole-dollar prices: positive, right-skewed
    (lambda r: np.round(r.lognormal(4.0, 0.6, size=400)), "gamma"),
    # a diabetes-like score: whole numbers around 150, sd 75, none small
    (lambda r: np.clip(np.round(r.normal(150, 75, size=400)), 25, 350), "gaussian"),
    # body weights in pounds, as floats holding whole numbers
    (lambda r: np.round(r.normal(180, 25, size=300)).astype(float), "gaussian"),
])
def test_whole_number_measurements_are_not_counts(rng, make, family):
    advice = lk.advise(make(rng))
    assert _not_counts(advice) and advice.family == family
    assert "not a count of events" in advice.rationale


def test_linnerud_weights_and_pulse_are_measurements_chins_are_counts():
    from sklearn.datasets import load_linnerud

    data = load_linnerud()
    columns = dict(zip(data.feature_names + data.target_names,
                       np.column_stack([data.data, data.target]).T, strict=True))
    for name in ("Weight", "Waist", "Pulse", "Situps", "Jumps"):
        assert _not_counts(lk.advise(columns[name])), name
    # chin-ups, 1 to 17 repetitions: small counts, over-dispersed (variance 3x the mean)
    chins = lk.advise(columns["Chins"])
    assert (chins.task, chins.family) == ("count", "negative_binomial")
    assert "smallest value 1" in chins.rationale and "over-dispersed" in chins.rationale


@pytest.mark.parametrize("mean", [0.5, 3.0, 8.0])
def test_poisson_draws_are_poisson_counts(mean):
    y = np.random.default_rng(11).poisson(mean, size=2000)
    advice = lk.advise(y)
    assert (advice.task, advice.family, advice.loss) == ("count", "poisson", "poisson_nll")
    assert "consistent with the Poisson" in advice.rationale
    assert advice.stats["dispersion"] == pytest.approx(1.0, abs=0.15)


def test_counts_with_zeros_in_a_float_column_are_counts(rng):
    y = rng.poisson(2.0, size=500).astype(float)
    advice = lk.advise(y)
    assert advice.family == "poisson" and "floats holding whole numbers" in advice.rationale
    assert not advice.stats["whole_numbers"]["integer_dtype"]
    assert lk.advise(y.astype(int)).stats["whole_numbers"]["integer_dtype"]


def test_dispersion_the_inputs_explain_is_not_overdispersion(rng):
    """Poisson counts whose rate varies with X are over-dispersed marginally; given X they
    are Poisson: advise(y, X) measures the dispersion a Poisson regression leaves."""
    X = rng.normal(size=(3000, 2))
    y = rng.poisson(np.exp(0.4 + 0.9 * X[:, 0] - 0.5 * X[:, 1]))
    assert lk.advise(y).family == "negative_binomial"  # marginally over-dispersed
    given = lk.advise(y, X)
    assert given.family == "poisson"
    assert given.stats["dispersion"] == pytest.approx(1.0, abs=0.1)
    assert "Poisson regression on the 2 numeric inputs" in given.rationale
    # genuinely over-dispersed given X: a Gamma-mixed rate
    extra = rng.poisson(np.exp(0.4 + 0.9 * X[:, 0]) * rng.gamma(1.0, 1.0, size=3000))
    assert lk.advise(extra, X).family == "negative_binomial"


# ------------------------------------------------ the advice is read from the family it picks




@pytest.mark.parametrize("name", list(TARGETS))
def test_advice_loss_options_and_metrics_are_the_familys(name):
    rng = np.random.default_rng(5)
    y = TARGETS[name](rng)
    advice = lk.advise(y)
    fam = lk.family(advice.family, **advice.family_options)
    assert set(advice.metrics) == set(fam.default_metrics)
    assert len(advice.metrics) == len(fam.default_metrics)
    n_classes = None
    if advice.task == "multiclass":
        n_classes = advice.stats["n_classes"]
    elif advice.task == "multilabel":
        n_classes = y.shape[1]
    width = fam.n_outputs(n_classes)
    assert advice.output_layer.startswith(f"{width} unit")
    # the family's target: numbers, labels 0..K-1, or the argmax of one-hot rows
    if name == "strings":
        target = (y == "dog").astype(float)
    elif name == "one_hot":
        target = y.argmax(axis=1)
    else:
        target = y.astype(float) if fam.name != "categorical" else y
    shape = tuple(np.shape(target))
    if width > 1 and fam.name != "multilabel":  # a class or block axis after the target's
        shape += (width,)
    raw = rng.normal(size=shape) * 0.5
    expected = np.asarray(fam.loss(target, raw, reduction="none"))
    given = y.astype(float) if name in ("one_hot", "multilabel") else target
    catalogue = getattr(lk, advice.loss)(given, raw, reduction="none", **advice.loss_options)
    np.testing.assert_allclose(catalogue, expected, rtol=1e-12)


def test_gamma_advice_takes_log_input_from_the_family():
    """The drift issue 11 found: the advice said the raw output is the log-mean but returned
    log_input=False."""
    advice = lk.advise(np.random.default_rng(0).gamma(1.5, 2.0, size=300))
    assert advice.loss_options["log_input"] is True
    assert "log-mean" in advice.output_layer


def test_imbalanced_classes_put_balanced_accuracy_first(rng):
    advice = lk.advise(TARGETS["imbalanced"](rng))
    assert advice.metrics[0] == "balanced_accuracy_score"
    assert {"roc_auc_score", "f1_score", "average_precision_score"} <= set(advice.metrics)
    assert lk.advise(TARGETS["binary"](rng)).metrics[0] == "accuracy_score"
