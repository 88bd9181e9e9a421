"""losskit.nn.MLPRegressor / MLPClassifier: scikit-learn's checks and tools, labels of any
type, every loss, persistence without pickle."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.neural_network import MLPClassifier as SkMLPClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import losskit as lk  # noqa: E402
from losskit.nn import MLPClassifier, MLPRegressor  # noqa: E402
from losskit.nn.estimators import EXPECTED_FAILED_CHECKS  # noqa: E402

#: the estimators' defaults before they became Adam with early stopping: these tests check
#: labels, losses and shapes on short fixed-length runs, which SGD at 0.01 trains in a few
#: epochs (the defaults are tested on real data below)
SGD = {"optimizer": "sgd", "learning_rate": 0.01, "early_stopping": False}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@parametrize_with_checks(
    [MLPClassifier(hidden_layer_sizes=(16,), epochs=10, learning_rate=0.1, verbose=False),
     MLPRegressor(hidden_layer_sizes=(16,), epochs=10, learning_rate=0.002, verbose=False)],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)
def test_sklearn_check_estimator(estimator, check):
    torch.set_num_threads(1)
    check(estimator)


def _blobs(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    return X, y


@pytest.mark.parametrize("labels", [
    np.array(["no", "yes"]), np.array([False, True]), np.array([-1, 1]),
    np.array([2.0, 7.0]), np.array(["b", "a"], dtype=object),
])
def test_labels_of_any_type(labels):
    X, y01 = _blobs()
    y = labels[y01]
    clf = MLPClassifier(hidden_layer_sizes=(8,), epochs=15, random_state=0,
                        verbose=False, **SGD).fit(X, y)
    np.testing.assert_array_equal(clf.classes_, np.unique(y))  # as scikit-learn's
    pred = clf.predict(X)
    assert pred.dtype == np.unique(y).dtype
    assert set(pred) <= set(y)
    assert clf.score(X, y) > 0.9
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(pred, clf.classes_[proba.argmax(axis=1)])


def test_multiclass_string_labels_and_reference_accuracy():
    rng = np.random.default_rng(1)
    centers = np.array([[0, 3], [3, 0], [-3, -3]])
    y01 = rng.integers(0, 3, size=300)
    X = centers[y01] + rng.normal(size=(300, 2))
    y = np.array(["red", "green", "blue"])[y01]
    ours = MLPClassifier(hidden_layer_sizes=(16,), epochs=30, random_state=0,
                         verbose=False, **SGD).fit(X[:200], y[:200])
    ref = SkMLPClassifier(hidden_layer_sizes=(16,), max_iter=1000, random_state=0).fit(
        X[:200], y[:200])
    assert ours.predict_proba(X).shape == (300, 3)
    # a well-separated problem: both reach the reference's test accuracy (within 3 points)
    assert ours.score(X[200:], y[200:]) >= ref.score(X[200:], y[200:]) - 0.03


@pytest.mark.parametrize("loss", ["mean_squared_error", "mean_absolute_error", "huber_loss",
                                  "log_cosh_loss", "gaussian_nll",
                                  lk.families.Gaussian(), lk.families.HeteroscedasticGaussian()])
def test_regressor_losses_learn_a_linear_target(loss):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=200)
    # the learned variance of gaussian_nll makes SGD at 0.01 unstable: it gets the defaults
    kw = {} if loss == "gaussian_nll" else {"epochs": 25, **SGD}
    reg = MLPRegressor(loss, hidden_layer_sizes=(16,), random_state=0, verbose=False,
                       **kw).fit(X, y)
    assert reg.predict(X).shape == (200,)
    assert reg.score(X, y) > 0.9
    hist = reg.history_
    assert hist["loss"][-1] < hist.baseline["loss"]


@pytest.mark.parametrize("loss", ["poisson_nll", "tweedie_deviance", lk.families.Poisson()])
def test_count_losses_predict_positive_means(loss):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    mu = np.exp(0.8 * X[:, 0])
    y = rng.poisson(mu)
    reg = MLPRegressor(loss, hidden_layer_sizes=(8,), epochs=25, random_state=0,
                       verbose=False, **SGD).fit(X, y)
    pred = reg.predict(X)
    assert (pred > 0).all()
    # the exp output learns the log-linear mean: predictions correlate with the true mean
    assert np.corrcoef(np.log(pred), np.log(mu))[0, 1] > 0.9


def test_multi_output_regression():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 3))
    Y = np.stack([X[:, 0], X[:, 1] - X[:, 2]], axis=1)
    reg = MLPRegressor(hidden_layer_sizes=(16,), epochs=25, random_state=0,
                       verbose=False, **SGD).fit(X, Y)
    assert reg.predict(X).shape == (150, 2)
    assert reg.score(X, Y) > 0.9


@pytest.mark.parametrize("loss", ["mean_squared_error", "sparse_categorical_cross_entropy",
                                  "binary_focal_loss", lk.families.Bernoulli(),
                                  lk.families.Categorical()])
def test_classifier_losses(loss):
    X, y = _blobs(200)
    clf = MLPClassifier(loss, hidden_layer_sizes=(8,), epochs=20, learning_rate=0.05,
                        random_state=0, verbose=False).fit(X, y)
    assert clf.score(X, y) > 0.9


def test_family_and_loss_name_train_identically():
    X, y = _blobs(60)
    a = MLPClassifier("cross_entropy", hidden_layer_sizes=(4,), epochs=3, random_state=0,
                      verbose=False).fit(X, y)
    b = MLPClassifier(lk.families.Bernoulli(), hidden_layer_sizes=(4,), epochs=3,
                      random_state=0, verbose=False).fit(X, y)
    np.testing.assert_allclose(a.history_["loss"], b.history_["loss"], rtol=1e-12)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-12)


def test_callable_loss_for_a_classifier():
    def cross_entropy(y_true, y_pred):  # one-hot targets, softmax probabilities
        return -torch.sum(y_true * torch.log(y_pred), dim=1)

    X, y = _blobs(60)
    a = MLPClassifier(cross_entropy, hidden_layer_sizes=(4,), epochs=3, random_state=0,
                      verbose=False).fit(X, y)
    b = MLPClassifier("sparse_categorical_cross_entropy", hidden_layer_sizes=(4,), epochs=3,
                      random_state=0, verbose=False).fit(X, y)
    np.testing.assert_allclose(a.history_["loss"], b.history_["loss"], rtol=1e-10)


def test_pipeline_cross_val_score_and_grid_search():
    X, y = _blobs(90)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(8,), epochs=20,
                                                         learning_rate=0.05, random_state=0,
                                                         verbose=False))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.8
    grid = GridSearchCV(pipe, {"mlpclassifier__learning_rate": [1e-5, 0.05]}, cv=3).fit(X, y)
    assert grid.best_params_["mlpclassifier__learning_rate"] == 0.05  # 1e-5 barely moves
    reg = GridSearchCV(MLPRegressor(epochs=5, hidden_layer_sizes=(4,), random_state=0,
                                    verbose=False),
                       {"loss": ["mse", "huber"]}, cv=2).fit(X, X[:, 0])
    assert reg.best_params_["loss"] in ("mse", "huber")


@pytest.mark.parametrize("labels", [np.array(["cat", "dog", "eel"]), np.array([True, False]),
                                    np.array([-1, 1])])
def test_save_and_load_without_pickle(tmp_path, labels):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3)).astype(np.float32)
    y = labels[rng.integers(0, len(labels), size=60)]
    clf = MLPClassifier(hidden_layer_sizes=(5,), epochs=3, random_state=0,
                        verbose=False).fit(X, y)
    clf.save(tmp_path / "model")
    files = sorted(p.name for p in (tmp_path / "model").iterdir())
    assert files == ["config.json", "model.safetensors"]
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["estimator"] == "MLPClassifier"
    loaded = MLPClassifier.load(tmp_path / "model")
    np.testing.assert_array_equal(loaded.classes_, clf.classes_)
    assert loaded.classes_.dtype == clf.classes_.dtype
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    assert loaded.history_.rows == clf.history_.rows
    assert loaded.get_params() == clf.get_params()


def test_save_and_load_a_regressor(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    reg = MLPRegressor("gaussian_nll", hidden_layer_sizes=(4,), epochs=3, random_state=0,
                       verbose=False).fit(X, X[:, 0])
    reg.save(tmp_path)
    loaded = MLPRegressor.load(tmp_path)
    np.testing.assert_array_equal(loaded.predict(X), reg.predict(X))
    with pytest.raises(ValueError, match=r"MLPClassifier\.load: path holds a MLPRegressor"):
        MLPClassifier.load(tmp_path)
    with pytest.raises(ValueError, match=r"MLPRegressor\.load: path"):
        MLPRegressor.load(tmp_path / "missing")


def test_callable_loss_cannot_be_saved(tmp_path):
    X, y = _blobs(30)
    reg = MLPRegressor(lambda t, p: torch.mean((t - p) ** 2, dim=1), hidden_layer_sizes=(3,),
                       epochs=1, random_state=0, verbose=False).fit(X, y.astype(float))
    with pytest.raises(ValueError, match="cannot be saved without pickle"):
        reg.save(tmp_path)


def test_estimator_resume_from_checkpoint(tmp_path):
    X, y = _blobs(60)
    kw = {"hidden_layer_sizes": (4,), "random_state": 0, "verbose": False}
    full = MLPClassifier(epochs=4, **kw).fit(X, y)
    MLPClassifier(epochs=2, checkpoint_dir=tmp_path, **kw).fit(X, y)
    resumed = MLPClassifier(epochs=4, checkpoint_dir=tmp_path, **kw).fit(X, y, resume=True)
    assert resumed.history_["loss"] == full.history_["loss"]
    # the uninterrupted quiet fit trains as a batch of one (the output error written out,
    # losskit.nn._backprop), a fit with checkpoints through Trainer.fit (autograd through the
    # loss): the same arithmetic up to rounding, so the weights agree to a few ulps
    np.testing.assert_allclose(resumed.predict_proba(X), full.predict_proba(X), rtol=1e-13,
                               atol=0)


@pytest.mark.parametrize(("est", "match"), [
    (MLPRegressor("cross_entropy"), "MLPRegressor|Head: loss is 'cross_entropy'"),
    (MLPClassifier("poisson_nll"), "not a classification loss"),
    (MLPClassifier(hidden_layer_sizes=(0,)), "hidden_layer_sizes"),
    (MLPClassifier(validation_fraction=1.0), "MLPClassifier: validation_fraction is 1.0"),
    (MLPClassifier(optimizer="lbfgs"), "Trainer: optimizer is 'lbfgs'"),
])
def test_estimator_bad_parameters(est, match):
    X, y = _blobs(20)
    with pytest.raises(ValueError, match=match):
        est.fit(X, y)


def test_one_class_is_an_error():
    X, _ = _blobs(10)
    with pytest.raises(ValueError, match="MLPClassifier: y has 1 class"):
        MLPClassifier().fit(X, np.zeros(10))


@pytest.mark.parametrize("family", [lk.families.GaussianMixture(k=2), lk.families.StudentT(df=3),
                                    lk.families.Laplace(), lk.families.Gamma()])
def test_every_regression_family_trains(family):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X[:, 0] + 0.1 * rng.normal(size=200)
    if isinstance(family, lk.families.Gamma):
        y = np.exp(y)
    reg = MLPRegressor(family, hidden_layer_sizes=(8,), epochs=8, learning_rate=0.02,
                       random_state=0, verbose=False).fit(X, y)
    loss = reg.history_["loss"]
    assert loss[-1] < loss[0]
    assert reg.predict(X).shape == (200,)
    # the loss in the history is the family's NLL of the final model's outputs
    model = reg.model_
    fit_rows = reg._split[0]
    with torch.no_grad():
        raw = model(torch.as_tensor(X[fit_rows]))["output"]
    head = model.head_specs["output"]
    expected = float(family.loss(torch.as_tensor(y[fit_rows])[:, None], head.loss_input(raw)))
    assert reg.evaluate(X[fit_rows], y[fit_rows])["loss"] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("est", "family"), [(MLPClassifier(), lk.families.MultiLabel()),
                                             (MLPRegressor(), lk.families.Bernoulli())])
def test_a_family_that_does_not_fit_the_target_is_an_error(est, family):
    X, y = _blobs(20)
    with pytest.raises(ValueError, match="does not fit this"):
        est.set_params(loss=family).fit(X, y)


# ------------------------------------------ defaults that train real tables (issue 11)


def _large_target(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = 1000.0 + 300.0 * (X @ np.array([1.0, -2.0, 0.5])) + 30.0 * rng.normal(size=n)
    return X, y


def test_the_defaults_are_adam_with_early_stopping():
    for est in (MLPRegressor(), MLPClassifier()):
        p = est.get_params()
        assert (p["optimizer"], p["learning_rate"], p["early_stopping"]) == ("adam", 1e-3, True)
        assert p["divergence_retries"] == 3
    assert MLPRegressor().get_params()["scale_target"] == "auto"


def test_the_target_is_standardised_and_mapped_back():
    X, y = _large_target()
    reg = MLPRegressor(hidden_layer_sizes=(16,), random_state=0, verbose=False).fit(X, y)
    fit_rows, val_rows = reg._split
    np.testing.assert_allclose(reg.target_mean_, [y[fit_rows].mean()], rtol=1e-12)
    np.testing.assert_allclose(reg.target_scale_, [y[fit_rows].std()], rtol=1e-12)
    assert reg.history_.settings["target_standardised"]["mean"] == [reg.target_mean_[0]]
    assert reg.score(X, y) > 0.95  # predictions on y's scale
    # the network's raw output is the standardised prediction
    with torch.no_grad():
        raw = reg.model_(torch.as_tensor(X))["output"][:, 0].numpy()
    np.testing.assert_allclose(reg.predict(X), reg.target_mean_[0] + reg.target_scale_[0] * raw,
                               rtol=1e-12)
    # evaluate: the loss on y's scale, and the training objective
    ev = reg.evaluate(X[val_rows], y[val_rows])
    pred = reg.predict(X[val_rows])
    assert ev["loss"] == pytest.approx(np.mean((y[val_rows] - pred) ** 2), rel=1e-10)
    assert ev["root_mean_squared_error"] == pytest.approx(np.sqrt(ev["loss"]), rel=1e-10)
    assert ev["loss_standardised"] == pytest.approx(ev["loss"] / reg.target_scale_[0] ** 2,
                                                    rel=1e-10)
    # the history's metrics are on y's scale, its losses on the standardised target
    best = reg.history_.rows[reg.history_.best_epoch - 1]
    assert best["val_root_mean_squared_error"] == pytest.approx(
        ev["root_mean_squared_error"], rel=1e-6)
    assert best["val_loss"] == pytest.approx(ev["loss_standardised"], rel=1e-6)


def test_a_target_of_tiny_values_is_standardised():
    # values of size 1e-30 were taken for a constant (sd below 1e-12 * max(1, |mean|)): the
    # network learned on the raw scale and R² was about -1e58
    X, y = _large_target()
    y = (y - y.mean()) / y.std() * 1e-30
    reg = MLPRegressor(hidden_layer_sizes=(16,), random_state=0, verbose=False).fit(X, y)
    fit_rows, _ = reg._split
    np.testing.assert_allclose(reg.target_scale_, [y[fit_rows].std()], rtol=1e-12)
    assert reg.score(X, y) > 0.9


@pytest.mark.parametrize("size", [1e20, 1e-30])
def test_evaluate_on_the_targets_scale_does_not_overflow(size):
    # the loss in the target's units was computed in float32: a target of size 1e20 gave an
    # infinite MSE (null in metrics.json), one of size 1e-30 an MSE of exactly 0
    X, y = _large_target()
    X, y = X.astype(np.float32), ((y - y.mean()) / y.std() * size).astype(np.float32)
    reg = MLPRegressor(hidden_layer_sizes=(8,), epochs=3, random_state=0,
                       verbose=False).fit(X, y)
    ev = reg.evaluate(X, y)
    expected = np.mean((y.astype(np.float64) - reg.predict(X)) ** 2)
    assert 0 < expected < np.inf
    assert ev["loss"] == pytest.approx(expected, rel=1e-6)


def test_gaussian_nll_on_the_target_scale_is_shifted_by_log_scale():
    X, y = _large_target(120)
    reg = MLPRegressor("gaussian_nll", hidden_layer_sizes=(8,), epochs=5, random_state=0,
                       verbose=False).fit(X, y)
    ev = reg.evaluate(X, y)
    # -log p(y) = -log p((y - m) / s) + log s for the affine change of variable
    assert ev["loss"] == pytest.approx(ev["loss_standardised"] + np.log(reg.target_scale_[0]),
                                       rel=1e-9)


@pytest.mark.parametrize(("loss", "standardised"), [
    ("mean_squared_error", True), ("mean_absolute_error", True), ("huber_loss", True),
    ("log_cosh_loss", True), ("gaussian_nll", True), ("poisson_nll", False),
    ("gamma_nll", False), ("tweedie_deviance", False), (lk.families.Gaussian(), False),
])
def test_scale_target_auto_standardises_location_scale_losses_only(loss, standardised):
    X, y = _large_target(60)
    reg = MLPRegressor(loss, hidden_layer_sizes=(4,), epochs=2, random_state=0,
                       verbose=False).fit(X, np.abs(y))
    assert (reg.target_mean_ is not None) == standardised
    assert ("target_standardised" in reg.history_.settings) == standardised
    off = MLPRegressor(loss, hidden_layer_sizes=(4,), epochs=2, random_state=0,
                       scale_target=False, verbose=False).fit(X, np.abs(y))
    assert off.target_mean_ is None


def test_scale_target_true_is_refused_for_a_log_link_loss():
    X, y = _large_target(30)
    with pytest.raises(ValueError, match="MLPRegressor: scale_target is True but the loss "
                       "poisson_nll is not a location-scale loss"):
        MLPRegressor("poisson_nll", scale_target=True, verbose=False).fit(X, np.abs(y))
    with pytest.raises(ValueError, match="MLPRegressor: scale_target is 'yes'"):
        MLPRegressor(scale_target="yes", verbose=False).fit(X, y)


def test_the_standardisation_is_saved_with_the_model(tmp_path):
    X, y = _large_target(80)
    reg = MLPRegressor("huber_loss", hidden_layer_sizes=(4,), epochs=3, random_state=0,
                       verbose=False).fit(X, y)
    reg.save(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["target_standardised"] == {"mean": [reg.target_mean_[0]],
                                             "scale": [reg.target_scale_[0]]}
    loaded = MLPRegressor.load(tmp_path)
    np.testing.assert_array_equal(loaded.target_scale_, reg.target_scale_)
    np.testing.assert_array_equal(loaded.predict(X), reg.predict(X))
    assert loaded.evaluate(X, y) == reg.evaluate(X, y)


@pytest.mark.parametrize(("est", "y", "expected"), [
    (MLPRegressor("mean_squared_error"), np.array([100.0, 200.0, 300.0, 400.0] * 10),
     lambda y: [0.0]),  # the standardised mean
    (MLPRegressor("poisson_nll"), np.array([1.0, 2.0, 6.0, 7.0] * 10),
     lambda y: [np.log(y.mean())]),
    (MLPClassifier(), np.array([0, 0, 0, 1] * 10), lambda y: [np.log(1 / 3)]),
    (MLPClassifier(), np.array([0, 1, 1, 2, 2, 2, 2, 2] * 5),
     lambda y: np.log(np.bincount(y) / len(y))),
])
def test_the_output_starts_at_the_constant_model(est, y, expected):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(len(y), 2))
    # a learning rate so small that one epoch leaves the initial bias in place
    est.set_params(hidden_layer_sizes=(4,), epochs=1, learning_rate=1e-12,
                   validation_fraction=0.0, random_state=0, verbose=False).fit(X, y)
    bias = est.model_.heads["output"].bias.detach().numpy()
    np.testing.assert_allclose(bias, expected(y), rtol=1e-6, atol=1e-9)


def test_a_fit_that_diverges_leaves_no_model():
    X, y = _large_target(60)
    reg = MLPRegressor(hidden_layer_sizes=(4,), epochs=3, random_state=0,
                       verbose=False).fit(X, y)
    assert hasattr(reg, "model_")
    reg.set_params(optimizer="sgd", learning_rate=1e3, scale_target=False,
                   divergence_retries=1)
    with pytest.warns(lk.nn.TrainingDivergedWarning), \
            pytest.raises(lk.nn.TrainingDivergedError, match=r"^MLPRegressor: loss "):
        reg.fit(X * 100, y)
    assert not hasattr(reg, "model_") and not hasattr(reg, "history_")


def test_defaults_on_real_tables_match_scikit_learn():
    # issue 11: scikit-learn's diabetes (a whole-number score, sd 77) and breast cancer, 75/25
    from sklearn.datasets import load_breast_cancer, load_diabetes
    from sklearn.model_selection import train_test_split

    X, y = load_diabetes(return_X_y=True)
    Xa, Xb, ya, yb = train_test_split(X, y, test_size=0.25, random_state=0)
    scaler = StandardScaler().fit(Xa)
    reg = MLPRegressor(random_state=0, verbose=False).fit(scaler.transform(Xa), ya)
    rmse = np.sqrt(np.mean((reg.predict(scaler.transform(Xb)) - yb) ** 2))
    assert np.isfinite(reg.predict(scaler.transform(Xb))).all()
    assert rmse < 0.85 * y.std(), rmse  # a linear model gets about 0.75 sd
    assert reg.history_.stopped == "early_stopping" and not reg.history_.retries
    X, y = load_breast_cancer(return_X_y=True)
    Xa, Xb, ya, yb = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    scaler = StandardScaler().fit(Xa)
    clf = MLPClassifier(random_state=0, verbose=False).fit(scaler.transform(Xa), ya)
    ref = SkMLPClassifier(random_state=0).fit(scaler.transform(Xa), ya)
    assert clf.score(scaler.transform(Xb), yb) >= ref.score(scaler.transform(Xb), yb) - 0.02


def test_load_refuses_non_finite_weights_and_save_writes_strict_json(tmp_path):
    from safetensors.torch import load_file, save_file

    X, y = _blobs(40)
    clf = MLPClassifier(hidden_layer_sizes=(3,), epochs=2, random_state=0, verbose=False,
                        metrics=["accuracy", "roc_auc"]).fit(X, y)
    clf.history_.rows[0]["val_roc_auc"] = float("nan")  # e.g. a one-class validation set
    clf.save(tmp_path)
    text = (tmp_path / "config.json").read_text()
    assert "NaN" not in text and '"val_roc_auc": null' in text
    json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in config.json"))
    state = load_file(str(tmp_path / "model.safetensors"))
    state["heads.output.bias"][0] = float("nan")
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match=r"MLPClassifier\.load: path '.*' holds NaN or "
                       r"infinite weights: tensor 'heads\.output\.bias' has 1 non-finite"):
        MLPClassifier.load(tmp_path)
