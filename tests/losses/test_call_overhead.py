"""The per-call fast paths of the shared pipeline and of the native kernels' checks (issues 17
and 19): each takes exactly the calls its slow path takes, with the same result or error."""

from __future__ import annotations

import math

import array_api_compat as aac
import numpy as np
import pytest

import losskit as lk
from losskit import _torch
from losskit._array import numpy_errors_silenced
from losskit._validation import check_rows_sum_to_one
from losskit.losses._core import PerSample, check_not_nan, prepare

torch = pytest.importorskip("torch")
lkt = pytest.importorskip("losskit.torch")


def _rows(dtype, shift: float, n: int = 5):
    """Probability rows of 3 classes, row 2's first entry moved by ``shift``."""
    p = np.tile(np.array([0.5, 0.25, 0.25]), (n, 1)).astype(dtype)
    p[2, 0] += dtype(shift)
    return p


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_row_sums_are_checked_to_the_tolerance_on_every_path(dtype, library):
    tol = math.sqrt(np.finfo(dtype).eps)
    for shift, ok in ((0.5 * tol, True), (0.97 * tol, True), (-0.97 * tol, True),
                      (1.5 * tol, False), (-1.5 * tol, False), (math.inf, False)):
        # (a NaN entry is the domain check's to report, on every path)
        p = _rows(dtype, shift)
        x = torch.from_numpy(p) if library == "torch" else p
        xp = aac.array_namespace(x)
        if ok:
            check_rows_sum_to_one("f", xp, "y_true", x, x.dtype, "Fix.")
            continue
        with pytest.raises(ValueError, match=r"^f: y_true rows do not sum to 1 \(row 2 sums"):
            check_rows_sum_to_one("f", xp, "y_true", x, x.dtype, "Fix.")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n", [5, 30_000])  # the one-product check and the reductions
def test_the_kernels_row_check_takes_only_rows_the_generic_check_takes(dtype, n):
    tol = math.sqrt(torch.finfo(dtype).eps)
    base = torch.tensor([[0.5, 0.25, 0.25]], dtype=dtype).repeat(n, 1)
    for shift, generic_ok in ((0.5 * tol, True), (0.97 * tol, True), (1.0 * tol, True),
                              (1.01 * tol, False), (-1.01 * tol, False)):
        p = base.clone()
        p[2, 0] += shift
        generic_ok = generic_ok and abs(float(p[2].sum()) - 1) <= tol
        taken = _torch._rows_ok(torch, p)
        assert not taken or generic_ok  # close to the edge it may leave the call to the
        if abs(shift) < 0.97 * tol:     # generic check, never take more
            assert taken
    for bad in (math.nan, math.inf, -math.inf, -0.25, 1.25):
        p = base.clone()
        p[1, 1] = bad
        assert not _torch._rows_ok(torch, p)
        assert not _torch._rows_ok(torch, base, p)


def test_a_row_near_the_tolerance_gives_the_generic_value():
    tol = math.sqrt(torch.finfo(torch.float32).eps)
    y = torch.tensor([[0.5, 0.25, 0.25]] * 4)
    y[1, 0] += 0.995 * tol  # the kernel's check leaves it to the generic one, which takes it
    z = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    got = lk.categorical_cross_entropy(y, z, from_logits=True)
    with _torch.native_kernels(False):
        expected = lk.categorical_cross_entropy(y, z, from_logits=True)
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=0)


@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_nan_check_by_the_sum_still_finds_every_nan_and_only_nan(library):
    wrap = torch.from_numpy if library == "torch" else np.asarray
    inputs = prepare("f", wrap(np.zeros(4)), wrap(np.zeros(4)))

    def parts(loss, weight=None):
        return PerSample(inputs, wrap(np.array(loss)), lambda: None,
                         None if weight is None else wrap(np.array(weight)))

    # +inf and -inf in different samples make the sum NaN, but no sample is NaN (callers run
    # it with NumPy's warnings silenced, as the losses do)
    with numpy_errors_silenced():
        check_not_nan("f", parts([np.inf, -np.inf, 0.0, 1.0]))
    check_not_nan("f", parts([0.5, 0.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match=r"^f: y_pred gives an undefined \(NaN\) loss for "
                                         r"sample 2\b"):
        check_not_nan("f", parts([0.5, 0.0, np.nan, 1.0]))
    check_not_nan("f", parts([0.5, 0.0, np.nan, 1.0], weight=[1.0, 1.0, 0.0, 1.0]))


def test_criteria_bind_units_and_a_non_last_label_axis_like_the_function():
    z = torch.randn(3, 4, generator=torch.Generator().manual_seed(1))
    y = (torch.rand(3, 4, generator=torch.Generator().manual_seed(2)) > 0.5).double()
    z = z.double()
    for options in ({"unit": "bits"}, {"axis": 0, "reduction": "none"},
                    {"axis": 1, "reduction": "none"}, {"check_values": False}):
        reduction = options.pop("reduction", "mean")
        criterion = lkt.BinaryCrossEntropyLoss(from_logits=True, reduction=reduction,
                                               **options)
        expected = lk.binary_cross_entropy(y, z, from_logits=True, reduction=reduction,
                                           **options)
        with _torch.native_kernels(False):
            generic = lk.binary_cross_entropy(y, z, from_logits=True, reduction=reduction,
                                              **options)
        torch.testing.assert_close(criterion(z, y), expected, rtol=1e-12, atol=0)
        torch.testing.assert_close(expected, generic, rtol=1e-12, atol=1e-15)
    bits = lkt.BinaryCrossEntropyLoss(from_logits=True, unit="bits")(z, y)
    nats = lkt.BinaryCrossEntropyLoss(from_logits=True)(z, y)
    torch.testing.assert_close(bits, nats / math.log(2.0))
