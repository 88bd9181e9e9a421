"""Bad input to the regression catalogue: a clear error naming function, argument, value, fix."""

from __future__ import annotations

import math

import numpy as np
import pytest

import losskit as lk

Y = [1.0, 2.0, 3.0]
P = [1.5, 2.0, 2.5]


@pytest.mark.parametrize(("call", "message"), [
    # domains
    (lambda: lk.poisson_nll([1.0, -1.0], [0.0, 0.0]),
     r"poisson_nll: y_true has values outside \[0, inf\) \(-1 at index 1; min -1, max 1\)\. "
     r"Poisson targets are counts"),
    (lambda: lk.poisson_nll([1.0, 1.0], [0.5, -0.5], log_input=False),
     r"poisson_nll: y_pred has values outside \[0, inf\) \(-0\.5 at index 1.*log_input=True"),
    (lambda: lk.mean_squared_log_error([0.0, -1.5], [0.0, 0.0]),
     r"mean_squared_log_error: y_true has values outside \(-1, inf\) \(-1\.5 at index 1"),
    (lambda: lk.gamma_nll([1.0, 0.0], [1.0, 1.0]),
     r"gamma_nll: y_true has values outside \(0, inf\) \(0 at index 1.*tweedie_deviance"),
    (lambda: lk.gamma_nll([1.0, 1.0], [1.0, -2.0]),
     r"gamma_nll: y_pred has values outside \(0, inf\) \(-2 at index 1.*log_input=True"),
    (lambda: lk.tweedie_deviance([1.0, -1.0], [1.0, 1.0], power=1.5),
     r"tweedie_deviance: y_true has values outside \[0, inf\) \(-1 at index 1.*power <= 0"),
    (lambda: lk.tweedie_deviance([1.0, 0.0], [1.0, 1.0], power=2),
     r"tweedie_deviance: y_true has values outside \(0, inf\) \(0 at index 1"),
    (lambda: lk.tweedie_deviance([1.0, 1.0], [1.0, 0.0], power=1),
     r"tweedie_deviance: y_pred has values outside \(0, inf\) \(0 at index 1"),
    (lambda: lk.tweedie_deviance([1.0, 1.0], [1.0, 0.0], power=-1),
     r"tweedie_deviance: y_pred has values outside \(0, inf\)"),
    # variances and scales
    (lambda: lk.gaussian_nll(Y, P, var=[1.0, 0.0, 1.0]),
     r"gaussian_nll: var has values outside \(0, inf\) \(0 at index 1; min 0, max 1\)\. "
     r"var must be > 0 everywhere; .*log"),
    (lambda: lk.gaussian_nll(Y, P, var=[1.0, -2.0, 1.0]),
     r"gaussian_nll: var has values outside \(0, inf\) \(-2 at index 1"),
    (lambda: lk.gaussian_nll(Y, P, var=[1.0, math.nan, 1.0]),
     r"gaussian_nll: var has NaN or infinite values \(1 of 3, first at index 1\)"),
    (lambda: lk.gaussian_nll(Y, P, log_var=[0.0, math.inf, 0.0]),
     r"gaussian_nll: log_var has NaN or infinite values"),
    (lambda: lk.gaussian_nll(Y, P, var=1.0, log_var=0.0),
     r"gaussian_nll: var and log_var are both given\. Pass the variance as var or"),
    (lambda: lk.gaussian_nll(Y, P, var=[[1.0], [1.0], [1.0]]),
     r"gaussian_nll: var has shape \(3, 1\) but y_pred has shape \(3,\)\. Pass one value per "
     r"entry"),
    (lambda: lk.laplace_nll(Y, P, scale=[1.0, 1.0, -1.0]),
     r"laplace_nll: scale has values outside \(0, inf\) \(-1 at index 2"),
    (lambda: lk.student_t_nll(Y, P, df=3.0, scale=np.zeros(3)),
     r"student_t_nll: scale has values outside \(0, inf\) \(0 at index 0"),
    (lambda: lk.student_t_nll(Y, P, df=0.0),
     r"student_t_nll: df must be a number in \(0\.0, inf\); got 0\.0\. Pass a number"),
    (lambda: lk.gaussian_nll(Y, P, var=0.0),
     r"gaussian_nll: var must be None or a finite number > 0 or an array of y_pred's shape; "
     r"got 0\.0"),
    (lambda: lk.laplace_nll(Y, P, scale=-1.0),
     r"laplace_nll: scale must be a finite number > 0"),
    (lambda: lk.pinball_loss(Y, P, quantile=0.0),
     r"pinball_loss: quantile must be a number in \(0\.0, 1\.0\); got 0\.0"),
    (lambda: lk.huber_loss(Y, P, delta=0.0),
     r"huber_loss: delta must be a number in \(0\.0, inf\); got 0\.0"),
    (lambda: lk.tweedie_deviance(Y, P, power=0.5),
     r"tweedie_deviance: power must be a finite number <= 0 or >= 1; got 0\.5"),
    (lambda: lk.gamma_nll(Y, P, shape=-1.0),
     r"gamma_nll: shape must be a number in \(0\.0, inf\); got -1\.0"),
    # mixtures
    (lambda: lk.gaussian_mixture_nll([0.0, 1.0], np.zeros((2, 5))),
     r"gaussian_mixture_nll: y_pred has shape \(2, 5\) but y_true of shape \(2,\) needs shape "
     r"\(2, '3k'\)\. Put the k mixing logits, k means and k \(log\) scales"),
    (lambda: lk.gaussian_mixture_nll([0.0, 1.0], np.zeros((3, 6))),
     r"gaussian_mixture_nll: y_pred has shape \(3, 6\) but y_true of shape \(2,\)"),
    (lambda: lk.gaussian_mixture_nll([0.0, 1.0], np.zeros(6)),
     r"gaussian_mixture_nll: y_pred has shape \(6,\)"),
    (lambda: lk.gaussian_mixture_nll([0.0], [[0.0, 1.0, 0.0, 0.0, 1.0, -1.0]],
                                     log_scale=False),
     r"gaussian_mixture_nll: y_pred has values outside \(0, inf\) \(-1 at index \(0, 1\)"
     r".*log_scale"),
    (lambda: lk.gaussian_mixture_nll([math.nan], [[0.0, 0.0, 0.0]]),
     r"gaussian_mixture_nll: y_true has NaN or infinite values"),
    (lambda: lk.gaussian_mixture_nll(np.zeros(0), np.zeros((0, 3))),
     r"gaussian_mixture_nll: y_pred is empty \(shape \(0, 3\)\)"),
    # shapes, NaN, weights shared by all
    (lambda: lk.mean_absolute_error(np.zeros((3, 1)), np.zeros(3)),
     r"mean_absolute_error: y_true has shape \(3, 1\) but y_pred has shape \(3,\)"),
    (lambda: lk.huber_loss(Y, [1.0, math.nan, 1.0]),
     r"huber_loss: y_pred has NaN or infinite values \(1 of 3, first at index 1\)"),
    (lambda: lk.log_cosh_loss([math.inf, 1.0, 1.0], P),
     r"log_cosh_loss: y_true has NaN or infinite values"),
    (lambda: lk.pinball_loss(Y, P, sample_weight=[1.0, -1.0, 1.0]),
     r"pinball_loss: sample_weight has values outside \[0, inf\) \(-1 at index 1"),
    (lambda: lk.mean_absolute_percentage_error(Y, P, sample_weight=[1.0, 1.0]),
     r"mean_absolute_percentage_error: sample_weight has shape \(2,\) but \(3,\) is needed"),
    (lambda: lk.tweedie_deviance(Y, P, sample_weight=[0.0, 0.0, 0.0]),
     r"tweedie_deviance: sample_weight is all zero"),
])
def test_bad_input_messages(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize(("call", "message"), [
    (lambda: lk.student_t_nll(Y, P), r"df"),
    (lambda: lk.gaussian_nll(Y, P, var="1"), r"gaussian_nll: var must be None or a finite"),
    (lambda: lk.laplace_nll(Y, P, scale=True), r"laplace_nll: scale must be a finite"),
    (lambda: lk.poisson_nll(Y, P, log_input="yes"), r"poisson_nll: log_input must be True"),
    (lambda: lk.mean_absolute_error(Y, ["a", "b", "c"]),
     r"mean_absolute_error: y_pred holds strings"),
    (lambda: lk.gaussian_nll(Y, P, var=np.array([1j, 1, 1])),
     r"gaussian_nll: var has dtype complex128\. Pass real values"),
    (lambda: lk.gaussian_mixture_nll([0.0], np.array([[1j, 0, 0]])),
     r"gaussian_mixture_nll: y_pred has dtype complex128"),
])
def test_bad_types_are_type_errors(call, message):
    with pytest.raises(TypeError, match=message):
        call()


def test_mixed_libraries_are_a_type_error():
    torch = pytest.importorskip("torch")
    jnp = pytest.importorskip("jax.numpy")
    with pytest.raises(TypeError, match=r"gaussian_nll: var comes from JAX .* but y_pred from "
                                        r"torch .*different libraries"):
        lk.gaussian_nll(torch.zeros(3), torch.zeros(3), var=jnp.ones(3))


def test_domain_edges_are_accepted():
    # zero counts with zero rate, zero targets for 1 <= power < 2, signed targets for power <= 0
    assert float(lk.poisson_nll([0.0, 0.0], [0.0, 1.0], log_input=False)) == 0.5
    assert lk.gradient(lk.poisson_nll, [0.0], [0.0], log_input=False).tolist() == [1.0]
    assert math.isfinite(float(lk.tweedie_deviance([0.0, 2.0], [1.0, 1.0], power=1.3)))
    assert math.isfinite(float(lk.tweedie_deviance([-3.0, 2.0], [1.0, 1.0], power=-1)))
    assert float(lk.tweedie_deviance([-3.0, 2.0], [-1.0, 2.0], power=0)) == 2.0
    assert math.isfinite(float(lk.gamma_nll([1.0], [-5.0], log_input=True)))
    assert math.isfinite(float(lk.mean_squared_log_error([-0.999], [10.0])))


def test_infinite_but_exact_values_are_not_nan():
    # a zero rate where a count was seen: the likelihood is 0, the NLL +inf (as scipy says)
    assert float(lk.poisson_nll([2.0], [0.0], log_input=False)) == math.inf
    # an exact prediction with a precision that overflows: 0 * inf is taken as 0
    assert float(lk.gaussian_nll([1.0], [1.0], log_var=-1000.0)) == -500.0
    assert lk.gradient(lk.gaussian_nll, [1.0], [1.0], log_var=-1000.0).tolist() == [0.0]


def test_check_values_false_skips_value_checks_only():
    # hot loops: value checks are off, shape checks stay
    out = lk.poisson_nll([-1.0], [0.0], check_values=False)
    assert math.isfinite(float(out))
    with pytest.raises(ValueError, match="shape"):
        lk.poisson_nll([1.0, 2.0], [0.0], check_values=False)
