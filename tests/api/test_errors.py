"""Bad input gets a clear error naming the function, the argument, what was found, what to do."""

from __future__ import annotations

import math

import numpy as np
import pytest

import losskit as lk
from losskit._validation import constraints_of

P = [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]
Y = [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]


def _public_functions_with_options():
    for name in lk.__all__:
        fn = getattr(lk, name)
        if callable(fn) and constraints_of(fn):
            yield name, fn


def _bad_option_cases():
    for name, fn in _public_functions_with_options():
        for option, constraint in constraints_of(fn).items():
            for value in constraint.invalid:
                yield pytest.param(fn, option, value, id=f"{name}-{option}-{value!r}")


@pytest.mark.parametrize(("fn", "option", "value"), list(_bad_option_cases()))
def test_every_declared_option_rejects_bad_values(fn, option, value):
    # the option is checked before anything else, so any inputs will do
    with pytest.raises((ValueError, TypeError)) as info:
        fn([1.0], [0.5], **{option: value})
    message = str(info.value)
    assert message.startswith(f"{fn.__name__}: {option} must be "), message
    assert "Pass " in message


def test_unknown_option_is_a_type_error():
    with pytest.raises(TypeError, match="from_logit"):
        lk.binary_cross_entropy([1.0], [0.5], from_logit=True)


@pytest.mark.parametrize(("call", "message"), [
    # shapes: no silent broadcasting of (n, 1) against (n,)
    (lambda: lk.mean_squared_error(np.zeros((3, 1)), np.zeros(3)),
     r"mean_squared_error: y_true has shape \(3, 1\) but y_pred has shape \(3,\)"),
    (lambda: lk.binary_cross_entropy([1.0, 0.0], [0.5]),
     r"binary_cross_entropy: y_true has shape \(2,\) but y_pred has shape \(1,\)"),
    (lambda: lk.sparse_categorical_cross_entropy([[0], [1]], P),
     r"y_true has shape \(2, 1\) but labels for y_pred of shape \(2, 3\) .* need shape \(2,\)"),
    (lambda: lk.categorical_cross_entropy(Y, P, axis=2),
     r"categorical_cross_entropy: axis is 2 but y_pred has 2 dimension"),
    # labels
    (lambda: lk.sparse_categorical_cross_entropy([0, 3], P),
     r"y_true has values outside \[0, 3\) \(3 at index 1"),
    (lambda: lk.sparse_categorical_cross_entropy([0, -1], P),
     r"y_true has values outside \[0, 3\) \(-1 at index 1"),
    (lambda: lk.sparse_categorical_cross_entropy([0.0, 1.5], P),
     r"y_true has a non-integer label 1.5 at index 1"),
    (lambda: lk.sparse_categorical_cross_entropy([True, False], P),
     r"y_true has dtype bool\. Pass integer class labels"),
    # targets and probabilities
    (lambda: lk.binary_cross_entropy([2.0, 0.0], [0.5, 0.5]),
     r"binary_cross_entropy: y_true has values outside \[0, 1\] \(2 at index 0.*\(y \+ 1\) / 2"),
    (lambda: lk.binary_cross_entropy([-1.0, 1.0], [0.5, 0.5]),
     r"y_true has values outside \[0, 1\] \(-1 at index 0"),
    (lambda: lk.binary_cross_entropy([1.0, 0.0], [1.3, -0.3]),
     r"y_pred has values outside \[0, 1\] \(1.3 at index 0; min -0.3, max 1.3\)\. "
     r"Pass probabilities, or logits with from_logits=True"),
    (lambda: lk.categorical_cross_entropy(Y, [[0.7, 0.2, 0.2], [0.1, 0.3, 0.6]]),
     r"y_pred rows do not sum to 1 \(row 0 sums to 1.1.*from_logits=True.*normalise"),
    (lambda: lk.sparse_categorical_cross_entropy([0, 1], [[0.7, 0.2, 0.2], [0.1, 0.3, 0.6]]),
     r"y_pred rows do not sum to 1"),
    (lambda: lk.categorical_cross_entropy([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]], P),
     r"categorical_cross_entropy: y_true rows do not sum to 1"),
    (lambda: lk.categorical_cross_entropy([[3.0, 0.0, 0.0], [0.0, 0.0, 1.0]], P),
     r"y_true has values outside \[0, 1\].*sparse_categorical_cross_entropy"),
    # NaN / inf, with where
    (lambda: lk.mean_squared_error([1.0, 2.0, 3.0], [1.0, math.nan, math.nan]),
     r"mean_squared_error: y_pred has NaN or infinite values \(2 of 3, first at index 1\)"),
    (lambda: lk.mean_squared_error([1.0, math.inf], [1.0, 2.0]),
     r"y_true has NaN or infinite values \(1 of 2, first at index 1\)"),
    (lambda: lk.binary_cross_entropy([1.0, 0.0], [0.0, math.nan], from_logits=True),
     r"binary_cross_entropy: y_pred has NaN \(1 of 2, first at index 1\)"),
    (lambda: lk.sparse_categorical_cross_entropy([0], [[math.nan, 0.0]], from_logits=True),
     r"y_pred has NaN \(1 of 2, first at index \(0, 0\)\)"),
    (lambda: lk.sparse_categorical_cross_entropy([0], [[-math.inf, -math.inf]],
                                                 from_logits=True),
     r"y_pred gives an undefined \(NaN\) loss for sample 0.*all -inf"),
    # empty input
    (lambda: lk.mean_squared_error([], []),
     r"mean_squared_error: y_pred is empty \(shape \(0,\)\)"),
    (lambda: lk.mean_squared_error(1.0, 1.0), r"y_pred is a scalar"),
    (lambda: lk.categorical_cross_entropy(np.zeros((0, 3)), np.zeros((0, 3))), r"is empty"),
    # weights
    (lambda: lk.mean_squared_error([1.0, 2.0], [1.0, 2.0], sample_weight=[1.0]),
     r"sample_weight has shape \(1,\) but \(2,\) is needed"),
    (lambda: lk.mean_squared_error([1.0, 2.0], [1.0, 2.0], sample_weight=[1.0, -1.0]),
     r"sample_weight has values outside \[0, inf\) \(-1 at index 1; min -1, max 1\)\. "
     r"Weights must be >= 0"),
    (lambda: lk.mean_squared_error([1.0, 2.0], [1.0, 2.0], sample_weight=[0.0, 0.0]),
     r"sample_weight is all zero, so the weighted mean is undefined"),
    (lambda: lk.mean_squared_error([1.0, 2.0], [1.0, 2.0], sample_weight=[1.0, math.nan]),
     r"sample_weight has NaN or infinite values"),
    (lambda: lk.mean_squared_error([1.0, 2.0], [1.0, 2.0], sample_weight=["a", "b"]),
     r"sample_weight holds strings \('a' at index 0\)\. Pass numbers as sample_weight"),
    (lambda: lk.categorical_cross_entropy(Y, P, class_weight=[1.0, 2.0]),
     r"class_weight has shape \(2,\) but \(3,\) is needed"),
    (lambda: lk.sparse_categorical_cross_entropy([0, 1], P, class_weight=[1.0, -2.0, 1.0]),
     r"class_weight has values outside \[0, inf\)"),
    (lambda: lk.sparse_categorical_cross_entropy([0, 1], P, class_weight=[0.0, 0.0, 0.0]),
     r"class_weight is all zero"),
    (lambda: lk.binary_cross_entropy(np.ones((2, 3)), np.full((2, 3), 0.5), pos_weight=[1.0]),
     r"pos_weight has shape \(1,\) but \(3,\) is needed"),
    (lambda: lk.binary_cross_entropy([1.0], [0.5], pos_weight=-2.0),
     r"pos_weight has values outside \[0, inf\)"),
    (lambda: lk.binary_cross_entropy([1.0], [0.5], pos_weight=0.0),
     r"pos_weight is all zero"),
    (lambda: lk.sparse_categorical_cross_entropy([-100, -100], P, ignore_index=-100),
     r"y_true is ignore_index=-100 \(or weight 0\) everywhere"),
    # types
    (lambda: lk.mean_squared_error([1.0], "abc"), r"y_pred has dtype|y_pred has unsupported"),
    (lambda: lk.mean_squared_error([1.0], {"a": 1}), r"y_pred has unsupported type dict"),
])
def test_bad_input_has_a_clear_error(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_checks_can_be_switched_off_for_hot_loops():
    # the same bad rows pass through unchecked (the caller asked for it)
    out = lk.categorical_cross_entropy(Y, [[0.7, 0.2, 0.2], [0.1, 0.3, 0.6]],
                                       check_values=False)
    assert np.isfinite(out)
    # shape checks are static and always run
    with pytest.raises(ValueError, match="has shape"):
        lk.mean_squared_error(np.zeros((3, 1)), np.zeros(3), check_values=False)
