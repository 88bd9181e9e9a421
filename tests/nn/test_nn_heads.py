"""losskit.nn heads for every catalogue loss a network can train, and the metrics they report
(those losskit.advise recommends, read from the same families)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

import losskit as lk  # noqa: E402
from losskit.cli import main  # noqa: E402
from losskit.nn import LOSS_HEADS, Head, MLPClassifier, MLPRegressor  # noqa: E402

FAST = {"epochs": 30, "hidden_layer_sizes": (8,), "batch_size": 32, "verbose": False,
        "random_state": 0}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _raw(est, X):
    dtype = next(est.model_.parameters()).dtype
    with torch.no_grad():
        return est.model_(torch.as_tensor(X, dtype=dtype))["output"].double()


def _binary(n=240, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, (X[:, 0] - 0.5 * X[:, 1] + 0.3 * rng.normal(size=n) > 0).astype(int)


# -------------------------------------------------------------------------- margin losses


@pytest.mark.parametrize("loss", ["hinge_loss", "squared_hinge_loss"])
def test_binary_margin_losses_train_and_report_every_advised_metric(loss):
    X, y = _binary()
    clf = MLPClassifier(loss, learning_rate=0.05, **FAST).fit(X, y)
    assert clf.score(X, y) > 0.85
    scores = clf.evaluate(X, y)
    advised = lk.advise(y).metrics
    for metric in advised:
        key = metric.removesuffix("_score")
        assert key in scores and math.isfinite(scores[key]), metric
    assert scores["roc_auc"] > 0.9
    # the head's loss is the catalogue loss of the raw score, labels 0/1 as -1/+1
    raw = _raw(clf, X)
    expected = getattr(lk, loss)(y.astype(float), raw[:, 0].numpy())
    assert scores["loss"] == pytest.approx(float(expected), rel=1e-5)


def test_multiclass_margin_and_kl_heads_train():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 2))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0).astype(int)  # 3 classes
    for loss in ("categorical_hinge_loss", "kl_divergence"):
        clf = MLPClassifier(loss, learning_rate=0.05, **FAST).fit(X, y)
        assert clf.score(X, y) > 0.8, loss
        assert Head(loss, task="classification", n_classes=3).n_outputs == 3


def test_binary_only_margin_losses_refuse_more_classes():
    with pytest.raises(ValueError, match=r"'hinge_loss' but y has 3 classes.*categorical_hinge"):
        Head("hinge_loss", task="classification", n_classes=3)


def test_fit_and_compare_accept_hinge_losses(tmp_path, capsys):
    X, y = _binary(200)
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(label=np.where(y, "yes", "no"))
    data = tmp_path / "d.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / "model"
    assert main(["fit", str(data), "--target", "label", "--loss", "hinge_loss", "--epochs",
                 "3", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["loss"] == "hinge_loss" and metrics["task"] == "classification"
    result = lk.compare(X, y, ["hinge_loss", "squared_hinge_loss"], n_splits=2, n_repeats=1,
                        estimator_params={"epochs": 2, "hidden_layer_sizes": (4,)})
    assert result.losses == ["hinge_loss", "squared_hinge_loss"]
    assert np.all(np.isfinite(result.scores))


# ----------------------------------------------------------------------- negative binomial


def test_negative_binomial_head_learns_the_mean_and_the_dispersion():
    rng = np.random.default_rng(2)
    n, alpha = 3000, 0.5
    X = rng.normal(size=(n, 2))
    mu = np.exp(1.0 + 0.6 * X[:, 0])
    y = rng.negative_binomial(1 / alpha, 1 / (1 + alpha * mu))
    head = Head("negative_binomial_nll")
    assert head.n_outputs == 2 and head.is_nll
    # the constant model starts at the log-mean and the moment estimate of log alpha
    base = head.baseline_raw(y[:, None].astype(float))
    m = y.mean()
    np.testing.assert_allclose(base, [math.log(m), math.log((y.var() - m) / m**2)])
    est = MLPRegressor("negative_binomial_nll", optimizer="adam", learning_rate=0.01,
                       epochs=40, hidden_layer_sizes=(16,), batch_size=128, verbose=False,
                       random_state=0).fit(X, y)
    pred = est.predict(X)
    assert np.all(pred > 0)
    assert np.corrcoef(pred, mu)[0, 1] > 0.95
    raw = _raw(est, X).numpy()
    assert np.median(np.exp(raw[:, 1])) == pytest.approx(alpha, rel=0.3)
    scores = est.evaluate(X, y)
    for metric in lk.advise(y).metrics:
        assert math.isfinite(scores[metric.removesuffix("_score")]), metric
    assert scores["loss"] == pytest.approx(float(lk.negative_binomial_nll(y, raw, full=True)),
                                           rel=1e-4)


def test_negative_binomial_model_saves_and_loads(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 2))
    y = rng.negative_binomial(2, 0.3, size=200)
    est = MLPRegressor("negative_binomial_nll", epochs=2, hidden_layer_sizes=(4,),
                       verbose=False, random_state=0).fit(X, y)
    est.save(tmp_path / "m")
    np.testing.assert_array_equal(MLPRegressor.load(tmp_path / "m").predict(X), est.predict(X))


def test_fit_trains_the_advised_negative_binomial(tmp_path):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, 2))
    visits = rng.negative_binomial(1.0, 1 / (1 + np.exp(0.5 + X[:, 0])))
    frame = pd.DataFrame(X, columns=["a", "b"]).assign(visits=visits)
    data = tmp_path / "d.csv"
    frame.to_csv(data, index=False)
    assert lk.advise(visits).loss == "negative_binomial_nll"
    assert main(["fit", str(data), "--target", "visits", "--epochs", "3", "--out",
                 str(tmp_path / "o")]) == 0
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["loss"] == "negative_binomial_nll"
    assert math.isfinite(metrics["validation"]["mean_poisson_deviance"])


# ---------------------------------------------------------------------- default metrics


@pytest.mark.parametrize(("loss", "task", "n_classes", "target"), [
    ("cross_entropy", "classification", 2, "binary"),
    ("binary_focal_loss", "classification", 2, "binary"),
    ("hinge_loss", "classification", 2, "binary"),
    ("cross_entropy", "classification", 4, "multiclass"),
    ("categorical_hinge_loss", "classification", 4, "multiclass"),
    ("mean_squared_error", "regression", None, "real"),
    ("huber_loss", "regression", None, "real"),
    ("poisson_nll", "regression", None, "poisson"),
    ("negative_binomial_nll", "regression", None, "negative_binomial"),
    ("gamma_nll", "regression", None, "positive_skewed"),
])
def test_head_metrics_include_every_metric_advise_recommends(loss, task, n_classes, target):
    from targets import TARGETS

    advice = lk.advise(TARGETS[target](np.random.default_rng(0)))
    head = Head(loss, task=task, n_classes=n_classes)
    assert set(advice.metrics) <= set(head.default_metrics), (advice.metrics,
                                                              head.default_metrics)


def test_count_and_gamma_heads_report_their_deviances():
    assert "mean_poisson_deviance" in Head("poisson_nll").default_metrics
    assert "mean_poisson_deviance" in Head("tweedie_deviance").default_metrics
    assert "mean_gamma_deviance" in Head("gamma_nll").default_metrics
    binary = Head("cross_entropy", task="classification", n_classes=2).default_metrics
    assert {"roc_auc_score", "f1_score", "brier_score_loss"} <= set(binary)


def test_every_classification_catalogue_loss_with_logits_has_a_head():
    """Each catalogue loss that takes raw scores (logits) can be trained by name."""
    trainable = {"binary_cross_entropy", "sparse_categorical_cross_entropy",
                 "binary_focal_loss", "categorical_focal_loss", "hinge_loss",
                 "squared_hinge_loss", "categorical_hinge_loss", "kl_divergence"}
    names = {k for k, v in LOSS_HEADS.items() if v.task == "classification"}
    assert trainable <= names


# ------------------------------------------------------------ the head of each advised family


@pytest.mark.parametrize("family", sorted({"gaussian", "laplace", "poisson", "gamma",
                                           "negative_binomial", "heteroscedastic_gaussian",
                                           "bernoulli", "categorical"}))
def test_family_heads_train_the_familys_likelihood(family):
    """The head FAMILY_HEADS names for a family has the family's NLL as its loss, up to a
    positive scale and a constant: the same minimiser and proportional gradients."""
    from losskit.nn._heads import FAMILY_HEADS

    fam = lk.family(family)
    rng = np.random.default_rng(0)
    n = 16
    task = "classification" if family in ("bernoulli", "categorical") else "regression"
    n_classes = {"bernoulli": 2, "categorical": 3}.get(family)
    head = Head(FAMILY_HEADS[family], task=task, n_classes=n_classes)
    raw = torch.tensor(rng.normal(size=(n, head.n_outputs)) * 0.5, requires_grad=True)
    if family == "categorical":
        y = rng.integers(0, 3, n)
        fam_raw, fam_y = raw, torch.tensor(y)
    elif family == "bernoulli":
        y = rng.integers(0, 2, n)
        fam_raw, fam_y = raw[:, 0], torch.tensor(y, dtype=torch.float64)
    else:
        y = rng.poisson(3.0, n) + (1 if family == "gamma" else 0)
        fam_y = torch.tensor(y, dtype=torch.float64)
        # the head's raw outputs are the family's, in its layout (before issue 14 the
        # heteroscedastic head took (mean, log sd), the family (mean, log variance))
        fam_raw = raw if head.n_outputs > 1 else raw[:, 0]
        y = y[:, None]  # regression targets are (n, d)
    head_loss = head.batch_loss(head.target(torch.tensor(y), torch.float64), raw, None)
    (g_head,) = torch.autograd.grad(head_loss, raw)
    (g_fam,) = torch.autograd.grad(fam.loss(fam_y, fam_raw), raw)
    ratio = g_head[g_fam.abs() > 1e-8] / g_fam[g_fam.abs() > 1e-8]
    assert float(ratio.min()) > 0
    np.testing.assert_allclose(ratio.numpy(), float(ratio[0]), rtol=1e-6)


def test_advised_loss_names_the_head_of_the_advised_family():
    from losskit.nn._heads import advised_loss
    from targets import TARGETS

    expected = {"real": "mean_squared_error", "poisson": "poisson_nll",
                "negative_binomial": "negative_binomial_nll", "positive_skewed": "gamma_nll",
                "binary": "binary_cross_entropy",
                "multiclass": "sparse_categorical_cross_entropy"}
    for name, loss in expected.items():
        assert advised_loss(lk.advise(TARGETS[name](np.random.default_rng(0)))) == loss
    with pytest.raises(ValueError, match=r"multilabel target.*no network head"):
        advised_loss(lk.advise(TARGETS["multilabel"](np.random.default_rng(0))))


# ----------------------------------------------------------------------------- proportions


def test_proportion_head_trains_binary_cross_entropy_on_shares():
    """An advised proportion (values in (0, 1)) trains: one sigmoid output, BCE on soft
    targets, started at the logit of the mean share, predictions inside (0, 1)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    share = 1 / (1 + np.exp(-(0.8 * X[:, 0] - 0.4 * X[:, 1] + 0.2 * rng.normal(size=400))))
    advice = lk.advise(share)
    assert (advice.task, advice.loss) == ("proportion", "binary_cross_entropy")
    head = Head("binary_cross_entropy", task="regression")
    assert (head.activation, head.n_outputs) == ("sigmoid", 1)
    base = head.baseline_raw(share[:, None])
    assert 1 / (1 + np.exp(-base[0])) == pytest.approx(share.mean(), rel=1e-9)
    reg = MLPRegressor("binary_cross_entropy", learning_rate=0.01, **FAST).fit(X, share)
    pred = reg.predict(X)
    assert np.all((pred > 0) & (pred < 1))
    constant = np.sqrt(np.mean((share - share.mean()) ** 2))
    assert np.sqrt(np.mean((share - pred) ** 2)) < 0.5 * constant
    raw = _raw(reg, X)
    expected = lk.binary_cross_entropy(share, raw[:, 0].numpy(), from_logits=True)
    assert reg.evaluate(X, share)["loss"] == pytest.approx(float(expected), rel=1e-5)


@pytest.mark.parametrize("estimator,loss,kind,where", [
    (MLPRegressor, "ctc_loss", "a sequence loss", "lk.ctc_loss or losskit.torch.CtcLoss"),
    (MLPClassifier, "ntxent", "a contrastive loss", "lk.ntxent or losskit.torch.NtxentLoss"),
    (MLPClassifier, "CTC", "a sequence loss", "lk.ctc_loss or losskit.torch.CtcLoss"),
    (MLPRegressor, "triplet_margin_loss", "an embedding loss", "lk.triplet_margin_loss. "),
])
def test_the_estimators_name_a_loss_they_cannot_train_as_fit_does(estimator, loss, kind,
                                                                   where):
    # the same answer as `losskit fit --loss` (one function, nn._heads.refuse_loss)
    X = np.random.default_rng(0).normal(size=(20, 2))
    y = (X[:, 0] > 0).astype(int)
    with pytest.raises(ValueError) as error:
        estimator(loss=loss, **FAST).fit(X, y)
    text = str(error.value)
    assert f"loss is {loss!r}, {kind} " in text and "that losskit's MLP cannot train" in text
    assert f"Use it in your own model through {where}" in text
    assert "Pass one of " in text and "or a callable" in text and "Did you mean" not in text


def test_the_estimators_answer_another_name_and_a_misspelt_name():
    X = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(ValueError, match=r"loss is 'l2', another name of mean_squared_error, "
                                         r"which the network knows by that name\. Pass "
                                         r"loss='mean_squared_error'"):
        MLPRegressor(loss="l2", **FAST).fit(X, X[:, 0])
    with pytest.raises(ValueError, match=r"loss is 'huber_los', which is not a regression loss "
                                         r"the network knows\. Did you mean 'huber_loss'\?"):
        MLPRegressor(loss="huber_los", **FAST).fit(X, X[:, 0])
    # a head of the other task keeps the plain answer (it is not "a losskit loss" untrainable)
    with pytest.raises(ValueError, match=r"loss is 'hinge_loss', which is not a regression "
                                         r"loss the network knows\. Pass one of "):
        MLPRegressor(loss="hinge_loss", **FAST).fit(X, X[:, 0])
    with pytest.raises(ValueError, match=r"loss is 'cross_entropy', which is not a regression "
                                         r"loss the network knows\. Pass one of "):
        MLPRegressor(loss="cross_entropy", **FAST).fit(X, X[:, 0])
