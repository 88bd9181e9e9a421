"""The per-call layer's fast paths for small batches (issue 19, 64-row cells, fourth round):
each takes exactly the calls its slow path takes, and gives the same result or error."""

from __future__ import annotations

import math

import array_api_compat as aac
import numpy as np
import pytest

import losskit as lk
from losskit import _array
from losskit._array import log_softmax, machine_epsilon, namespace_and_arrays, row_dot
from losskit._pipeline import in_compute_dtype
from losskit._validation import UNIT_INTERVAL, Interval, check_domain, check_finite
from losskit.losses._core import _reads_not_nan, check_gradient_defined

torch = pytest.importorskip("torch")


# ------------------------------------------------------------------ namespace of NumPy arrays


def test_plain_numpy_arrays_skip_the_screening_with_the_general_result():
    x, y = np.zeros((4, 3), np.float32), np.ones((4, 3), np.int64)
    w, b = np.ones(4), np.zeros(4, dtype=bool)
    fast = _array._plain_numpy(x, (y, None, w, b))
    assert fast is not None
    xp, pred, others = fast
    assert xp is aac.array_namespace(x) and pred is x
    assert others[0] is y and others[1] is None and others[2] is w and others[3] is b
    assert namespace_and_arrays("f", x, y, None)[0] is xp


@pytest.mark.parametrize("other", [
    [1.0, 2.0],  # a list: converted by the general path
    np.array(["a", "b"]),  # strings: the general path's error
    np.array([1.0, None], dtype=object),
    np.ma.masked_array([1.0, 2.0]),  # a subclass
])
def test_anything_but_plain_numeric_arrays_takes_the_general_path(other):
    x = np.zeros(2)
    assert _array._plain_numpy(x, (other,)) is None
    assert _array._plain_numpy(np.array(["a", "b"]), ()) is None
    assert _array._plain_numpy(np.zeros(2, dtype=complex), ()) is None


def test_the_general_paths_errors_are_unchanged_beside_plain_arrays():
    x = np.zeros(2)
    with pytest.raises(TypeError, match=r"^f: y_true holds strings \('a' at index 0\)"):
        namespace_and_arrays("f", x, np.array(["a", "b"]))
    with pytest.raises(TypeError, match=r"^f: y_true comes from torch"):
        namespace_and_arrays("f", x, torch.zeros(2))
    _, _, (y,) = namespace_and_arrays("f", x, [1, 2])
    assert isinstance(y, np.ndarray) and y.tolist() == [1, 2]


def test_casts_keep_dtypes_and_values():
    xp = aac.array_namespace(np.zeros(1))
    pred, true, out = in_compute_dtype(xp, np.array([1.5], np.float16), np.array([1.0]))
    assert pred.dtype == np.float32 and true.dtype == np.float32 and out == np.float16
    pred, true, out = in_compute_dtype(xp, np.array([1, 2]), np.array([True, False]))
    assert pred.dtype == np.float64 and true.tolist() == [1.0, 0.0]


def test_machine_epsilon_is_finfos():
    for xp, dtype in ((np, np.dtype(np.float32)), (np, np.dtype(np.float16)),
                      (aac.array_namespace(torch.zeros(1)), torch.bfloat16)):
        assert machine_epsilon(xp, dtype) == float(xp.finfo(dtype).eps)


# --------------------------------------------------------------------- NumPy value checks


def test_numpy_finiteness_check_finds_what_the_masks_find():
    xp = aac.array_namespace(np.zeros(1))
    check_finite("f", xp, "y_pred", np.arange(64))  # integers are finite
    check_finite("f", xp, "y_pred", np.ones(64, dtype=bool))
    # finite float16 values whose sum overflows: the exact test takes them (the losses run
    # their checks with NumPy's warnings silenced)
    with np.errstate(all="ignore"):
        check_finite("f", xp, "y_pred", np.full(64, 60000.0, np.float16))
    x = np.ones(64, np.float32)
    x[[7, 9]] = [np.inf, np.nan]
    with pytest.raises(ValueError, match=r"^f: y_pred has NaN or infinite values \(2 of 64, "
                                         r"first at index 7\)"):
        check_finite("f", xp, "y_pred", x)
    check_finite("f", xp, "y_pred", np.where(np.isnan(x), 0.0, x), allow_inf=True)
    with pytest.raises(ValueError, match=r"^f: y_pred has NaN \(1 of 64, first at index 9\)"):
        check_finite("f", xp, "y_pred", x, allow_inf=True)


@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_domain_check_by_two_reductions_keeps_its_ends_and_messages(library):
    wrap = torch.from_numpy if library == "torch" else np.asarray
    xp = aac.array_namespace(wrap(np.zeros(1)))
    check_domain("f", xp, "y", wrap(np.array([0.0, 0.5, 1.0])), UNIT_INTERVAL, "Fix.")
    check_domain("f", xp, "y", wrap(np.array([0, 1, 1])), UNIT_INTERVAL, "Fix.")
    check_domain("f", xp, "y", wrap(np.array([True, False])), UNIT_INTERVAL, "Fix.")
    with pytest.raises(ValueError, match=r"^f: y has values outside \(0, inf\) \(0 at index 1; "
                                         r"min 0, max 2\)\. Fix\.$"):
        check_domain("f", xp, "y", wrap(np.array([1.0, 0.0, 2.0])),
                     Interval.above(0.0, strict=True), "Fix.")
    with pytest.raises(ValueError, match=r"^f: y has values outside \[0, 1\] \(nan at index 2"):
        check_domain("f", xp, "y", wrap(np.array([0.0, 1.0, np.nan])), UNIT_INTERVAL, "Fix.")
    with pytest.raises(ValueError, match=r"^f: y has values outside \[0, 1\] \(2 at index 0"):
        check_domain("f", xp, "y", wrap(np.array([2, 0])), UNIT_INTERVAL, "Fix.")


# ----------------------------------------------------------- the NaN check by the value


@pytest.mark.parametrize("library", ["numpy", "torch"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_a_nan_sample_is_refused_unless_its_weight_is_zero(library, reduction):
    wrap = torch.from_numpy if library == "torch" else np.asarray
    # row 1 is all -inf: no class possible, an undefined (NaN) loss
    z = np.array([[0.0, 1.0], [-np.inf, -np.inf], [2.0, 0.0]])
    y = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match=r"^categorical_cross_entropy: y_pred gives an "
                                         r"undefined \(NaN\) loss for sample 1\."):
        lk.categorical_cross_entropy(wrap(y), wrap(z), from_logits=True, reduction=reduction)
    value = lk.categorical_cross_entropy(wrap(y), wrap(z), from_logits=True,
                                         reduction=reduction,
                                         sample_weight=wrap(np.array([1.0, 0.0, 2.0])))
    expected = lk.categorical_cross_entropy(y[[0, 2]], z[[0, 2]], from_logits=True,
                                            reduction=reduction,
                                            sample_weight=np.array([1.0, 2.0]))
    if reduction == "none":
        np.testing.assert_allclose(np.asarray(value)[[0, 2]], expected, rtol=1e-12)
        assert float(value[1]) == 0.0
    else:
        np.testing.assert_allclose(float(value), float(expected), rtol=1e-12)
    # the gradient's check by one sum: defined here, refused where NaN
    grad = lk.gradient(lk.categorical_cross_entropy, wrap(y), wrap(z), from_logits=True,
                       sample_weight=wrap(np.array([1.0, 0.0, 2.0])))
    assert np.isfinite(np.asarray(grad)).all() and not np.asarray(grad)[1].any()


@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_the_gradient_check_by_a_sum_finds_only_nan(library):
    wrap = torch.from_numpy if library == "torch" else np.asarray
    xp = aac.array_namespace(wrap(np.zeros(1)))
    value = wrap(np.array(2.0))
    # +inf and -inf: their sum is NaN, no entry is
    with np.errstate(all="ignore"):
        check_gradient_defined("g", xp, value, wrap(np.array([[np.inf, -np.inf], [0.0, 1.0]])))
    with pytest.raises(ValueError, match=r"^g: y_pred gives an undefined \(NaN\) gradient at "
                                         r"index \(1, 0\) \(the loss is 2\.0\)"):
        check_gradient_defined("g", xp, value, wrap(np.array([[np.inf, 1.0], [np.nan, 1.0]])))


def test_reading_a_value_is_only_trusted_where_it_is_free():
    assert _reads_not_nan(np.asarray(1.0)) and not _reads_not_nan(np.asarray(np.nan))
    assert _reads_not_nan(torch.tensor(np.inf)) and not _reads_not_nan(torch.tensor(np.nan))
    assert not _reads_not_nan(torch.tensor(1.0, device="meta"))


# ------------------------------------------------------------------ softmax probes


@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_rows_with_inf_take_their_limit_beside_a_nan_row(library):
    wrap = torch.from_numpy if library == "torch" else np.asarray
    xp = aac.array_namespace(wrap(np.zeros(1)))
    x = np.array([[np.inf, 0.0, np.inf], [np.nan, 0.0, 1.0], [0.0, 1.0, 2.0]])
    got = np.asarray(log_softmax(xp, wrap(x)))
    np.testing.assert_array_equal(got[0], [-math.log(2), -np.inf, -math.log(2)])
    assert np.isnan(got[1]).all()
    shifted = x[2] - x[2].max()
    np.testing.assert_allclose(got[2], shifted - np.log(np.exp(shifted).sum()), rtol=1e-15)
    # and through the losses, checks off: the +inf row's limit, the NaN row NaN
    y = np.array([0, 1, 2])
    loss = np.asarray(lk.sparse_categorical_cross_entropy(
        wrap(y), wrap(x), from_logits=True, reduction="none", check_values=False))
    assert loss[0] == pytest.approx(math.log(2)) and np.isnan(loss[1])
    soft = np.asarray(lk.categorical_cross_entropy(
        wrap(np.eye(3)[y]), wrap(x), from_logits=True, reduction="none", check_values=False))
    assert soft[0] == pytest.approx(math.log(2)) and np.isnan(soft[1])


def test_numpy_row_dot_keeps_zero_times_inf_and_reports_nan():
    a = np.array([[0.0, 1.0], [1.0, 1.0], [1.0, 0.0]])
    x = np.array([[-np.inf, 2.0], [np.inf, -np.inf], [3.0, np.nan]])
    with np.errstate(all="ignore"):
        out = row_dot(np, a, x)
    assert out[0] == 2.0 and np.isnan(out[1]) and out[2] == 3.0
    np.testing.assert_array_equal(row_dot(np, np.ones(2), np.ones((3, 2))), [2.0, 2.0, 2.0])
