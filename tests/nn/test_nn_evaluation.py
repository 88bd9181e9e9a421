"""One evaluation for the torch network (training, the estimators) and the NumPy one
(``losskit predict`` / ``evaluate``): ``losskit.nn._evaluation``. The same checks refuse the
same inputs with the same message whichever library runs the network; the values agree
(tests/nn/test_nn_numpy_mlp.py compares every head)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from losskit.nn import Head  # noqa: E402
from losskit.nn._evaluation import (  # noqa: E402
    checked_arrays,
    evaluate,
    evaluate_on_target_scale,
    namespace,
)
from losskit.nn._numpy_mlp import NumpyMLP  # noqa: E402
from losskit.nn.models import MLP  # noqa: E402


def _networks(head: Head, n_features: int = 3):
    """The same network in torch and in NumPy."""
    model = MLP(n_features, {"output": head}, hidden_layer_sizes=(4,), random_state=0,
                dtype=torch.float64)
    model.eval()
    s = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    net = NumpyMLP({"output": head}, [(s["trunk.0.weight"], s["trunk.0.bias"])],
                   {"output": (s["heads.output.weight"], s["heads.output.bias"])}, "relu")
    return model, net


def _check(network, X, y, w=None):
    if isinstance(network, NumpyMLP):
        return checked_arrays(network, X, y, w, xp=namespace(np.zeros(0)), dtype=np.float64)
    return checked_arrays(network, X, y, w, xp=namespace(torch.zeros(0)), dtype=torch.float64)


REGRESSION_FAULTS = [
    (lambda X, y: (X[:0], y[:0]), r"X has no rows \(shape \(0, 3\)\)\. Pass at least one"),
    (lambda X, y: (X[:, :2], y), r"X has shape \(6, 2\)\. Pass a 2-D array with 3"),
    (lambda X, y: (np.where(X > 1, np.nan, X), y), "X has NaN or infinite values"),
    (lambda X, y: (X.astype(str), y), r"X has values of dtype <U.*is not a number"),
    (lambda X, y: (X, y[:4]), "y has 4 samples for head 'output' but X has 6"),
    (lambda X, y: (X, np.float64(1.0)), "y is a scalar for head 'output'"),
    (lambda X, y: (X, np.stack([y, y], axis=1)), "y has 2 target column"),
    (lambda X, y: (X, np.array(["a"] * 6, dtype=object)), "y has values of dtype object"),
]


@pytest.mark.parametrize(("fault", "message"), REGRESSION_FAULTS)
def test_both_libraries_refuse_the_same_inputs_with_the_same_message(fault, message):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(6, 3)), rng.normal(size=6)
    bad_X, bad_y = fault(X, y)
    texts = []
    for network in _networks(Head()):
        with pytest.raises(ValueError, match=message) as info:
            _check(network, bad_X, bad_y)
        texts.append(str(info.value))
    assert texts[0] == texts[1]


@pytest.mark.parametrize(("labels", "message"), [
    (np.array([0, 1, 2, 0, 1, 3]), r"class indices in \[0, 3\] for head 'output' with 3"),
    (np.array([0, 1, 2, 0, 1, -1]), r"class indices in \[-1, 2\]"),
    (np.array([0.0, 1.0, 2.0, 0.5, 1.0, 0.0]), "non-integer class indices"),
    (np.zeros((6, 2), dtype=int), r"has shape \(6, 2\) for classification head"),
])
def test_class_indices_are_checked_alike(labels, message):
    X = np.random.default_rng(1).normal(size=(6, 3))
    texts = []
    for network in _networks(Head("cross_entropy", task="classification", n_classes=3)):
        with pytest.raises(ValueError, match=message) as info:
            _check(network, X, labels)
        texts.append(str(info.value))
    assert texts[0] == texts[1]


@pytest.mark.parametrize("w", [np.ones(5), -np.ones(6), np.zeros(6), np.full(6, np.nan)])
def test_sample_weights_are_checked_alike(w):
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(6, 3)), rng.normal(size=6)
    for network in _networks(Head()):
        with pytest.raises(ValueError, match="sample_weight is not one finite, non-negative"):
            _check(network, X, y, w)


def test_features_beyond_float32_are_named_as_such_not_as_nan():
    # 1e39 is finite in float64 and inf in a float32 network: the message says which
    X = np.random.default_rng(3).normal(size=(6, 3))
    X[2, 1] = 1e39
    model = MLP(3, {"output": Head()}, hidden_layer_sizes=(2,), random_state=0)
    with pytest.raises(ValueError, match=r"X has values beyond the model's float32 range "
                                         r"\(largest magnitude 1e\+39\)\. Rescale"):
        checked_arrays(model, X, np.zeros(6), None, xp=namespace(torch.zeros(0)),
                       dtype=torch.float32)


def test_object_arrays_of_numbers_are_read_as_numbers():
    rng = np.random.default_rng(4)
    X, y = rng.normal(size=(6, 3)), rng.normal(size=6)
    for network in _networks(Head()):
        got = _check(network, X.astype(object), y.astype(object))
        want = _check(network, X, y)
        assert np.array_equal(np.asarray(got[0]), np.asarray(want[0]))


@pytest.mark.parametrize("head", [Head(), Head("gaussian_nll"), Head("poisson_nll"),
                                  Head("cross_entropy", task="classification", n_classes=3),
                                  Head("binary_cross_entropy", task="classification",
                                       n_classes=2)])
def test_one_evaluation_gives_the_same_row_on_either_library(head):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(40, 3))
    if head.task == "classification":
        y = rng.integers(0, head.n_classes, size=40)
    else:
        y = rng.poisson(2.0, size=40).astype(float)
    w = rng.uniform(0.5, 2.0, size=40)
    rows = []
    for network in _networks(head):
        Xc, Y, wc = _check(network, X, y, w)
        with torch.no_grad():
            raw = network(Xc)
        fns = [_metric(m) for m in head.default_metrics]
        scale = (np.array([1.5]), np.array([2.0])) if head.location_scale else None
        rows.append(evaluate_on_target_scale(network, raw, Y, wc, fns, scale)
                    if scale else evaluate(network, raw, Y, wc, fns))
    assert list(rows[0]) == list(rows[1])
    assert list(rows[0].values()) == pytest.approx(list(rows[1].values()), rel=1e-12,
                                                   nan_ok=True)


def _metric(name):
    from losskit.nn._heads import metric_function

    return metric_function("test", name)


@pytest.mark.parametrize(("loss", "y", "message"), [
    ("poisson_nll", [-3.0, 1.0, 2.0, 0.0], r"y has values outside \[0, inf\) \(min -3, max 2\), "
     "which the model's loss poisson_nll cannot take. Poisson targets are counts"),
    ("gamma_nll", [0.0, 1.0, 2.0, 3.0], r"y has values outside \(0, inf\) \(min 0, max 3\), "
     "which the model's loss gamma_nll cannot take"),
    ("negative_binomial_nll", [1.0, -1.0, 2.0, 0.0], "y has a value below 0 .*which the "
     "model's loss negative_binomial_nll cannot take"),
])
def test_evaluation_refuses_targets_outside_the_loss_domain(loss, y, message, tmp_path):
    from losskit.nn import MLPRegressor
    from losskit.nn._saved import SavedModel

    rng = np.random.default_rng(6)
    X = rng.normal(size=(30, 2))
    est = MLPRegressor(loss, hidden_layer_sizes=(3,), epochs=1, random_state=0,
                       verbose=False).fit(X, rng.poisson(2.0, size=30) + 1.0)
    est.save(tmp_path)
    for model in (est, SavedModel.load(tmp_path)):
        with pytest.raises(ValueError, match="^MLPRegressor: " + message):
            model.evaluate(X[:4], np.array(y))
        assert np.isfinite(model.evaluate(X[:4], np.array([1.0, 2.0, 3.0, 4.0]))["loss"])


def test_a_complaint_about_the_outputs_is_not_the_targets_fault():
    # outputs the loss refuses (NaN) are not blamed on y: the loss they give is reported
    from losskit.nn._evaluation import check_targets

    for network in _networks(Head("poisson_nll")):
        raw, Y = {"output": np.full((2, 1), np.nan)}, {"output": np.ones((2, 1))}
        if not isinstance(network, NumpyMLP):
            raw, Y = ({k: torch.from_numpy(v) for k, v in d.items()} for d in (raw, Y))
        check_targets(network, raw, Y, None)  # no error
