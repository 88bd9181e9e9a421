"""``convention=`` on the regression catalogue reproduces each framework's own number.

Tested against the real libraries: scikit-learn, PyTorch and Keras (NumPy backend, float32).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import sklearn.metrics as skm
import torch
import torch.nn.functional as F

import losskit as lk
from references import keras_numpy as _keras

N = 13
KERAS_RTOL = 1e-6  # Keras computes in float32




def _t(x, grad=False):
    return torch.tensor(np.asarray(x, dtype="float64"), requires_grad=grad)


@pytest.fixture
def data(rng):
    y = rng.normal(size=(N, 3))
    p = rng.normal(size=(N, 3))
    w = rng.uniform(0.1, 2, N)
    return y.astype("float32"), p.astype("float32"), w.astype("float32")


KERAS_LOSSES = [
    (lk.mean_absolute_error, {}, "MeanAbsoluteError", {}),
    (lk.huber_loss, {"delta": 0.6}, "Huber", {"delta": 0.6}),
    (lk.log_cosh_loss, {}, "LogCosh", {}),
]


@pytest.mark.parametrize(("loss", "options", "keras_name", "keras_options"), KERAS_LOSSES)
def test_keras_weighted_mean_divides_by_the_batch_size(data, loss, options, keras_name,
                                                       keras_options):
    keras = _keras()
    y, p, w = data
    reference = getattr(keras.losses, keras_name)(**keras_options)
    expected = float(reference(y, p, sample_weight=w))
    ours = float(loss(y, p, sample_weight=w, convention="keras", **options))
    assert ours == pytest.approx(expected, rel=KERAS_RTOL)
    # losskit's own weighted mean divides by the sum of the weights instead
    default = float(loss(y, p, sample_weight=w, **options))
    assert default == pytest.approx(ours * N / w.sum(), rel=1e-6)
    assert default != pytest.approx(expected, rel=1e-3)


def test_keras_msle_clips_at_1e_7(data, rng):
    keras = _keras()
    y, p, w = data
    y = (y * 3).astype("float32")  # includes values below -1: Keras clips them to 1e-7
    p = (p * 3).astype("float32")
    p[0, 0] = 0.0
    expected = float(keras.losses.MeanSquaredLogarithmicError()(y, p, sample_weight=w))
    ours = float(lk.mean_squared_log_error(y, p, sample_weight=w, convention="keras"))
    assert ours == pytest.approx(expected, rel=KERAS_RTOL)
    with pytest.raises(ValueError, match=r"mean_squared_log_error: y_true has values "
                       r"outside \(-1, inf\)"):
        lk.mean_squared_log_error(y, p)


def test_keras_msle_gradient_is_zero_below_the_clip():
    y = np.array([0.5, 0.5, 0.5, 2.0])
    p = np.array([-3.0, 0.0, 1e-7, 1.0])
    grad = lk.gradient(lk.mean_squared_log_error, y, p, convention="keras", reduction="sum")
    pt = _t(p, grad=True)
    ref = ((torch.log(torch.clamp(pt, min=1e-7) + 1) - torch.log(_t(y) + 1)) ** 2).sum()
    (expected,) = torch.autograd.grad(ref, pt)
    np.testing.assert_allclose(grad, expected.numpy(), rtol=1e-12)
    assert grad[0] == 0.0 and grad[1] == 0.0 and grad[2] != 0.0


def test_keras_mape_is_percent_with_its_eps(data):
    keras = _keras()
    y, p, w = data
    y[0, 0] = 0.0
    expected = float(keras.losses.MeanAbsolutePercentageError()(y, p, sample_weight=w))
    ours = float(lk.mean_absolute_percentage_error(y, p, sample_weight=w, convention="keras"))
    assert ours == pytest.approx(expected, rel=KERAS_RTOL)
    # an explicit eps still wins
    assert float(lk.mean_absolute_percentage_error(y, p, eps=1.0, convention="keras")) == \
        pytest.approx(100 * float(lk.mean_absolute_percentage_error(y, p, eps=1.0)), rel=1e-6)


def test_keras_poisson(data, rng):
    keras = _keras()
    _, _, w = data
    y = rng.poisson(2.0, (N, 3)).astype("float32")
    rate = rng.uniform(0, 4, (N, 3)).astype("float32")
    rate[0, 0] = 0.0  # with a count of y[0, 0]: finite only because of Keras' 1e-7
    y[0, 0] = 3.0
    expected = float(keras.losses.Poisson()(y, rate, sample_weight=w))
    ours = float(lk.poisson_nll(y, rate, log_input=False, sample_weight=w, convention="keras"))
    assert ours == pytest.approx(expected, rel=KERAS_RTOL)
    assert float(lk.poisson_nll(y, rate, log_input=False)) == math.inf


@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("log_input", [False, True])
def test_torch_poisson_eps_and_stirling(rng, full, log_input):
    y = np.concatenate([rng.poisson(3.0, N), [0, 1, 2, 7, 400]]).astype(float)
    p = rng.normal(size=y.shape) if log_input else rng.uniform(0, 5, y.shape)
    if not log_input:
        p[:3] = 0.0  # zero rates: PyTorch's eps keeps the log finite
    pt = _t(p, grad=True)
    ref = F.poisson_nll_loss(pt, _t(y), log_input=log_input, full=full)
    (ref_grad,) = torch.autograd.grad(ref, pt)
    value, grad = lk.value_and_gradient(lk.poisson_nll, y, p, log_input=log_input, full=full,
                                        convention="torch")
    assert float(value) == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(grad, ref_grad.numpy(), rtol=1e-10)
    if full:
        exact = float(lk.poisson_nll(y, p, log_input=log_input, full=True))
        assert abs(exact - float(value)) > 1e-4  # Stirling's term is not log y! for small y


@pytest.mark.parametrize("full", [False, True])
def test_torch_gaussian_nll_clamps_the_variance(rng, full):
    y, mean = rng.normal(size=(N, 2)), rng.normal(size=(N, 2))
    var = rng.uniform(0, 2, (N, 2))
    var[:3, 0] = [0.0, 1e-9, 1e-6]  # below and at PyTorch's eps
    mt = _t(mean, grad=True)
    ref = F.gaussian_nll_loss(mt, _t(y), _t(var), full=full)
    (ref_grad,) = torch.autograd.grad(ref, mt)
    value, grad = lk.value_and_gradient(lk.gaussian_nll, y, mean, var=var, full=full,
                                        convention="torch")
    assert float(value) == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(grad, ref_grad.numpy(), rtol=1e-10)
    # the same through log_var
    with np.errstate(divide="ignore"):
        log_var = np.log(var)
    log_var[0, 0] = -50.0
    by_log = float(lk.gaussian_nll(y, mean, log_var=log_var, full=full, convention="torch"))
    assert by_log == pytest.approx(ref.item(), rel=1e-12)
    # losskit itself refuses a zero variance, and PyTorch a negative one
    with pytest.raises(ValueError, match=r"gaussian_nll: var has values outside \(0, inf\)"):
        lk.gaussian_nll(y, mean, var=var)
    var[1, 1] = -1.0
    with pytest.raises(ValueError, match=r"gaussian_nll: var has values outside \[0, inf\)"):
        lk.gaussian_nll(y, mean, var=var, convention="torch")


@pytest.mark.parametrize(("loss", "reference", "options"), [
    (lk.mean_absolute_error, skm.mean_absolute_error, {}),
    (lk.pinball_loss, lambda y, p, **kw: skm.mean_pinball_loss(y, p, alpha=0.3, **kw),
     {"quantile": 0.3}),
    (lk.mean_absolute_percentage_error, skm.mean_absolute_percentage_error, {}),
    (lk.mean_squared_log_error, skm.mean_squared_log_error, {}),
])
def test_sklearn_convention_is_losskits_weighted_mean(rng, loss, reference, options):
    y, p, w = rng.uniform(0, 3, (N, 2)), rng.uniform(0, 3, (N, 2)), rng.uniform(0, 2, N)
    expected = reference(y, p, sample_weight=w)
    for convention in ("sklearn", "losskit"):
        ours = float(loss(y, p, sample_weight=w, convention=convention, **options))
        assert ours == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("loss", "options"), [
    (lk.mean_absolute_error, {}), (lk.huber_loss, {"delta": 0.5}), (lk.log_cosh_loss, {}),
    (lk.mean_squared_log_error, {}), (lk.mean_absolute_percentage_error, {}),
    (lk.poisson_nll, {"log_input": False, "full": True}), (lk.gaussian_nll, {"var": 0.5}),
])
@pytest.mark.parametrize("convention", ["keras", "torch"])
def test_convention_gradients_match_torch_autograd_through_losskit(rng, loss, options,
                                                                   convention):
    y, p, w = rng.uniform(0.5, 3, (N, 2)), rng.uniform(0.5, 3, (N, 2)), rng.uniform(0, 2, N)
    pt = _t(p, grad=True)
    out = loss(_t(y), pt, sample_weight=_t(w), convention=convention, **options)
    (auto,) = torch.autograd.grad(out, pt)
    ours = lk.gradient(loss, y, p, sample_weight=w, convention=convention, **options)
    np.testing.assert_allclose(ours, auto.numpy(), rtol=1e-11, atol=1e-15)


def test_losses_without_a_framework_difference_take_no_convention():
    with pytest.raises(TypeError, match="convention"):
        lk.student_t_nll([1.0], [0.0], df=3.0, convention="torch")
