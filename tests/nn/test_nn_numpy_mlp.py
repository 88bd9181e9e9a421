"""A saved network computed in NumPy (``losskit.nn._numpy_mlp``, what ``losskit predict`` and
``evaluate`` use) predicts and evaluates as the torch estimator does, for every output head and
hidden activation a model file can hold: equal up to float32 rounding."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from losskit.nn import Head, MLPClassifier, MLPRegressor  # noqa: E402
from losskit.nn._evaluation import combine  # noqa: E402
from losskit.nn._heads import LOSS_HEADS  # noqa: E402
from losskit.nn._numpy_mlp import ACTIVATIONS, NumpyMLP, erf, state_shapes  # noqa: E402
from losskit.nn._saved import SavedModel  # noqa: E402
from losskit.nn.models import ACTIVATIONS as TORCH_ACTIVATIONS  # noqa: E402
from losskit.nn.models import MLP  # noqa: E402

N = 80

#: regression losses -> a target in their domain
TARGETS = {
    "poisson_nll": lambda r: r.poisson(3.0, size=N).astype(float),
    "tweedie_deviance": lambda r: r.poisson(3.0, size=N).astype(float),
    "negative_binomial_nll": lambda r: r.negative_binomial(2, 0.3, size=N).astype(float),
    "gamma_nll": lambda r: r.gamma(2.0, 1.5, size=N),
    "mean_absolute_percentage_error": lambda r: 5.0 + r.gamma(2.0, 1.5, size=N),
    "binary_cross_entropy": lambda r: r.beta(2, 5, size=N),  # proportions
}
REGRESSION = [k for k, v in LOSS_HEADS.items() if v.task == "regression"]
BINARY = ["cross_entropy", "binary_cross_entropy", "binary_focal_loss", "hinge_loss",
          "squared_hinge_loss", "mean_squared_error"]
MULTICLASS = ["cross_entropy", "sparse_categorical_cross_entropy", "categorical_focal_loss",
              "kl_divergence", "categorical_hinge_loss", "mean_squared_error"]
#: float32 rounding through two hidden layers: relative differences of a few 1e-7 in the raw
#: outputs and predictions (measured: all pass at 1e-6; float64 at 1e-13)
RTOL = {"float32": 1e-6, "float64": 1e-13}
#: torch's float32 GELU has an erf accurate to ~1e-7 absolute, this one's is exactly rounded:
#: GELU networks differ by a few 1e-6 (measured 2.7e-6; see test_activations_match_torchs)
GELU_RTOL = 1e-5


def _data(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(N, 4)).astype(np.float32)


def _fit_and_load(est, X, y, tmp_path) -> SavedModel:
    est.fit(X, y)
    est.save(tmp_path / "m")
    return SavedModel.load(tmp_path / "m")


#: metrics of the predictions' order: two predictions within float32 rounding of each other
#: may swap (or tie) between torch and NumPy, which moves them by up to 1 / n
RANK_METRICS = ("roc_auc", "average_precision")


def _near_ties(est, X) -> bool:
    p = est.predict_proba(X)[:, -1] if hasattr(est, "predict_proba") else est.predict(X)
    gaps = np.diff(np.sort(np.ravel(p)))
    return bool((gaps <= 8 * np.spacing(np.float32(np.abs(p).max()))).any())


def _assert_close_evaluation(saved, est, X, y, rtol):
    got, want = saved.evaluate(X, y), est.evaluate(X, y)
    assert list(got) == list(want)
    ties = _near_ties(est, X)
    for key, value in want.items():
        if key in RANK_METRICS and ties:
            assert got[key] == pytest.approx(value, abs=2.0 / len(X)), key
            continue
        assert got[key] == pytest.approx(value, rel=rtol, abs=1e-12, nan_ok=True), key


def _assert_same_labels(saved, est, X, proba):
    # labels identical except where two classes' probabilities tie to rounding
    got, want = saved.predict(X), est.predict(X)
    top = np.sort(proba, axis=1)
    tie = top[:, -1] - top[:, -2] < 1e-5
    assert np.array_equal(got[~tie], want[~tie])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss", [*REGRESSION, "binary_cross_entropy"])
def test_every_regression_head_predicts_and_evaluates_as_torch(loss, dtype, tmp_path):
    rng = np.random.default_rng(1)
    X = _data().astype(dtype)
    y = TARGETS.get(loss, lambda r: 20.0 + 5.0 * X[:, 0] + r.normal(size=N))(rng)
    est = MLPRegressor(loss, hidden_layer_sizes=(8, 6), epochs=3, random_state=0,
                       verbose=False)
    saved = _fit_and_load(est, X, y, tmp_path)
    assert isinstance(saved.model_, NumpyMLP)
    np.testing.assert_allclose(saved.predict(X), est.predict(X), rtol=RTOL[dtype], atol=0)
    _assert_close_evaluation(saved, est, X, y, RTOL[dtype])


@pytest.mark.parametrize("loss", ["mean_squared_error", "gaussian_nll"])
def test_two_target_regression_with_and_without_standardisation(loss, tmp_path):
    rng = np.random.default_rng(2)
    X = _data()
    y = np.stack([100.0 + 30.0 * X[:, 0], -5.0 + X[:, 1]], axis=1) + rng.normal(size=(N, 2))
    for scale in (True, False):
        est = MLPRegressor(loss, hidden_layer_sizes=(8,), epochs=3, random_state=0,
                           verbose=False, scale_target=scale)
        saved = _fit_and_load(est, X, y, tmp_path / str(scale))
        assert (saved.target_mean_ is not None) == scale
        np.testing.assert_allclose(saved.predict(X), est.predict(X), rtol=RTOL["float32"])
        _assert_close_evaluation(saved, est, X, y, RTOL["float32"])
        if scale:
            assert "loss_standardised" in saved.evaluate(X, y)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("loss", "n_classes"),
                         [(name, 2) for name in BINARY] + [(name, 3) for name in MULTICLASS])
def test_every_classification_head_predicts_and_evaluates_as_torch(loss, n_classes, dtype,
                                                                   tmp_path):
    rng = np.random.default_rng(3)
    X = _data().astype(dtype)
    labels = np.array(["no", "yes", "maybe"][:n_classes])
    y = labels[(X[:, 0] > 0).astype(int) + (n_classes == 3) * (X[:, 1] > 0.5)]
    y[rng.choice(N, size=5, replace=False)] = labels[0]
    est = MLPClassifier(loss, hidden_layer_sizes=(8, 6), epochs=3, random_state=0,
                        verbose=False)
    saved = _fit_and_load(est, X, y, tmp_path)
    proba = est.predict_proba(X)
    np.testing.assert_allclose(saved.predict_proba(X), proba, rtol=RTOL[dtype], atol=1e-9)
    _assert_same_labels(saved, est, X, proba)
    _assert_close_evaluation(saved, est, X, y, RTOL[dtype])


@pytest.mark.parametrize("activation", sorted(TORCH_ACTIVATIONS))
@pytest.mark.parametrize("loss", ["cross_entropy", "gaussian_nll"])
def test_every_hidden_activation_predicts_as_torch(activation, loss, tmp_path):
    X = _data(4) * 3.0  # wide enough to reach the activations' tails
    if loss == "cross_entropy":
        est = MLPClassifier(loss, hidden_layer_sizes=(16, 8), activation=activation,
                            epochs=3, random_state=0, verbose=False)
        y = (X[:, 0] + X[:, 1] > 0).astype(int)
        saved = _fit_and_load(est, X, y, tmp_path)
        got, want = saved.predict_proba(X), est.predict_proba(X)
        _assert_same_labels(saved, est, X, want)
    else:
        est = MLPRegressor(loss, hidden_layer_sizes=(16, 8), activation=activation, epochs=3,
                           random_state=0, verbose=False)
        y = 3.0 * X[:, 0] + np.random.default_rng(5).normal(size=N)
        saved = _fit_and_load(est, X, y, tmp_path)
        got, want = saved.predict(X), est.predict(X)
    rtol = GELU_RTOL if activation == "gelu" else RTOL["float32"]
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-9)
    _assert_close_evaluation(saved, est, X, y, rtol)


def test_activations_match_torchs():
    assert set(ACTIVATIONS) == set(TORCH_ACTIVATIONS)
    x = np.concatenate([np.linspace(-30, 30, 60001), [0.0, -0.0, 1e-30, -1e-30]]
                       ).astype(np.float32)
    t = torch.from_numpy(x)
    for name, module in TORCH_ACTIVATIONS.items():
        want = module()(t).numpy()
        got = ACTIVATIONS[name](x)
        assert got.dtype == np.float32
        if name in ("relu", "identity"):
            np.testing.assert_array_equal(got, want)
        elif name == "gelu":  # torch's float32 erf: ~1e-7 absolute
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=2e-6)
        else:  # a few float32 ulps
            np.testing.assert_allclose(got, want, rtol=4 * 2.0**-23, atol=2.0**-126)
    x64 = np.linspace(-40, 40, 80001)
    np.testing.assert_allclose(ACTIVATIONS["gelu"](x64),
                               torch.nn.functional.gelu(torch.from_numpy(x64)).numpy(),
                               rtol=1e-10, atol=1e-300)  # torch's float64 erf: ~1e-11


def test_erf_is_accurate_everywhere():
    x = np.concatenate([np.linspace(-7, 7, 70001), [1e-300, -1e-12, 2.4999999, 2.5, 26.0]])
    want = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(erf(x), want, rtol=1e-14, atol=0)
    # the complement, where 1 - erf loses everything: from the continued fraction
    t = np.linspace(2.5, 26.0, 2001)
    np.testing.assert_allclose(1.0 - erf(t), [math.erfc(v) for v in t], rtol=0, atol=3e-16)
    edge = erf(np.array([np.inf, -np.inf, np.nan, 0.0, -0.0]))
    assert edge[:2].tolist() == [1.0, -1.0] and np.isnan(edge[2])
    assert math.copysign(1.0, edge[4]) == -1.0


@pytest.mark.parametrize(("hidden", "heads", "uw"), [
    ((), {"output": Head("poisson_nll")}, False),
    ((5, 3), {"output": Head("gaussian_nll", n_targets=2)}, True),
    ((4,), {"a": Head("cross_entropy", task="classification", n_classes=3),
            "b": Head("mean_squared_error")}, True),
])
def test_state_shapes_are_the_mlps_state_dict(hidden, heads, uw):
    model = MLP(3, heads, hidden_layer_sizes=hidden, uncertainty_weighting=uw, random_state=0)
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = state_shapes(3, hidden, {k: h.n_outputs for k, h in heads.items()}, uw)
    assert got == want and list(got) == list(want)


@pytest.mark.parametrize("loss", ["mean_squared_error", "poisson_nll"])
def test_uncertainty_weighting_combines_as_the_mlp(loss):
    heads = {"output": Head(loss)}
    model = MLP(2, heads, hidden_layer_sizes=(3,), uncertainty_weighting=True, random_state=0)
    with torch.no_grad():
        model.log_vars.fill_(0.37)
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    net = NumpyMLP(heads, [(state["trunk.0.weight"], state["trunk.0.bias"])],
                   {"output": (state["heads.output.weight"], state["heads.output.bias"])},
                   "relu", state["log_vars"])
    with torch.no_grad():
        term = torch.tensor(0.8125, dtype=torch.float64)
        want = float(model.combine({"output": term}))
        # the evaluation's combine on the torch network is the MLP's own, bit for bit
        assert float(combine(model.head_specs, model.log_vars, {"output": term})) == want
    got = float(combine(net.head_specs, net.log_vars, {"output": np.float64(0.8125)}))
    # exp(-s) in float32 by either library (one ulp apart at most), the rest in float64
    assert got == pytest.approx(want, rel=3e-7)
    assert got != pytest.approx(0.8125, rel=1e-3)
    x = np.random.default_rng(0).normal(size=(7, 2)).astype(np.float32)
    np.testing.assert_allclose(net(x)["output"], model(torch.from_numpy(x))["output"]
                               .detach().numpy(), rtol=1e-6)


def test_a_model_whose_weights_do_not_match_its_config_is_refused(tmp_path):
    from safetensors.numpy import load_file, save_file

    X = _data()
    est = MLPRegressor(hidden_layer_sizes=(4,), epochs=1, random_state=0, verbose=False)
    est.fit(X, X[:, 0])
    est.save(tmp_path)
    state = load_file(str(tmp_path / "model.safetensors"))
    state["trunk.0.weight"] = state["trunk.0.weight"][:, :3].copy()
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match=r"tensor 'trunk.0.weight' that has shape \(4, 3\)"):
        SavedModel.load(tmp_path)
    state["trunk.0.weight"] = np.full((4, 4), np.nan, dtype=np.float32)
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match="NaN or infinite weights"):
        SavedModel.load(tmp_path)
