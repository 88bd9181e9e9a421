"""The shared plumbing: one domain check, one input pipeline, named array options, the
convention policies and the one reduction path."""

from __future__ import annotations

import math

import numpy as np
import pytest

import losskit as lk
from losskit._pipeline import take_arrays
from losskit._reduction import batch_sums, mean_over_outputs, reduced
from losskit._validation import UNIT_INTERVAL, Interval, check_domain
from losskit.losses._conventions import CONVENTIONS, Convention
from losskit.losses._core import COMMON_OPTIONS

XP = np  # NumPy is an array-API namespace (2.x)


# ------------------------------------------------------------------------ the domain check

@pytest.mark.parametrize("domain, values, message", [
    (UNIT_INTERVAL, [0.5, 1.5, -1.0], r"x has values outside \[0, 1\] \(1.5 at index 1; "
                                      r"min -1, max 1.5\)\. Fix it\.$"),
    (Interval.above(0.0, strict=True), [1.0, 0.0], r"outside \(0, inf\) \(0 at index 1;"),
    (Interval.above(-1.0, strict=False), [-2.0, 0.0], r"outside \[-1, inf\) \(-2 at index 0;"),
    (Interval(0, 3, "left"), [0, 3], r"outside \[0, 3\) \(3 at index 1; min 0, max 3\)"),
    (Interval(0.0, math.inf, "left", integer=True), [1.0, 2.5],
     r"outside the integers in \[0, inf\) \(2.5 at index 1;"),
    (UNIT_INTERVAL, [0.5, math.nan], r"outside \[0, 1\] \(nan at index 1;"),
])
def test_one_wording_for_every_domain(domain, values, message):
    with pytest.raises(ValueError, match=r"^f: " + message if message.startswith("x") else
                       message):
        check_domain("f", XP, "x", np.asarray(values), domain, "Fix it.")


@pytest.mark.parametrize("domain, values", [
    (UNIT_INTERVAL, [0.0, 1.0]),
    (Interval.above(0.0, strict=True), [1e-300, 5.0]),
    (Interval(0, 3, "left"), [0, 2]),
    (Interval(0.0, math.inf, "left", integer=True), [0.0, 7.0]),
])
def test_values_inside_pass(domain, values):
    check_domain("f", XP, "x", np.asarray(values), domain, "Fix it.")


def test_a_skipped_value_is_allowed_and_named():
    labels = np.asarray([0, -100, 2])
    check_domain("f", XP, "y_true", labels, Interval(0, 3, "left"), "Fix.",
                 skip=("ignore_index", -100))
    with pytest.raises(ValueError, match=r"outside \[0, 3\) or ignore_index=-100 \(5 at index 1"):
        check_domain("f", XP, "y_true", np.asarray([0, 5]), Interval(0, 3, "left"), "Fix.",
                     skip=("ignore_index", -100))


def test_torch_fast_path_agrees():
    torch = pytest.importorskip("torch")
    check_domain("f", None, "x", torch.tensor([0.0, 1.0]), UNIT_INTERVAL, "Fix.")
    with pytest.raises(ValueError, match=r"outside \(0, inf\) \(0 at index 0"):
        from array_api_compat import torch as xp
        check_domain("f", xp, "x", torch.tensor([0.0, 1.0]),
                     Interval.above(0.0, strict=True), "Fix.")


def test_losses_metrics_and_weights_share_the_wording():
    checks = [
        (lambda: lk.poisson_nll([-1.0], [0.0]), "poisson_nll: y_true has values outside [0, inf)"),
        (lambda: lk.binary_cross_entropy([2.0], [0.5]),
         "binary_cross_entropy: y_true has values outside [0, 1]"),
        (lambda: lk.metrics.mean_poisson_deviance([1.0, 2.0], [1.0, 0.0]),
         "mean_poisson_deviance: y_pred has values outside (0, inf) (0 at index (1, 0)"),
        (lambda: lk.mean_squared_error([1.0], [1.0], sample_weight=[-1.0]),
         "mean_squared_error: sample_weight has values outside [0, inf)"),
        (lambda: lk.metrics.accuracy_score([0, 3], [0, 1], n_classes=2),
         "accuracy_score: y_true has values outside [0, 2) (3 at index 1"),
    ]
    for call, start in checks:
        with pytest.raises(ValueError) as info:
            call()
        assert str(info.value).startswith(start), str(info.value)


# --------------------------------------------------------------------- the input pipeline

def test_losses_and_metrics_take_arrays_the_same_way():
    messages = []
    for call in (lambda: lk.mean_squared_error([1.0], np.asarray([1j])),
                 lambda: lk.metrics.mean_absolute_error([1.0], np.asarray([1j]))):
        with pytest.raises(TypeError) as info:
            call()
        messages.append(str(info.value).partition(": ")[2])
    assert messages[0] == messages[1] == (
        "y_pred has dtype complex128. Pass real-valued arrays (floating, integer or boolean)")


def test_take_arrays_names_every_array():
    _, y_pred, y_true, (w,) = take_arrays("f", [1.0, 2.0], [0, 1], None)
    assert w is None and y_pred.dtype == np.float64 and y_true.tolist() == [0, 1]
    with pytest.raises(ValueError, match=r"^f: y_pred is empty"):
        take_arrays("f", np.zeros(0), np.zeros(0))


def test_array_options_are_named_in_errors():
    torch = pytest.importorskip("torch")
    # the dispersion used to be called "array option 3"
    with pytest.raises(TypeError, match=r"^negative_binomial_nll: alpha comes from torch"):
        lk.negative_binomial_nll([1.0, 2.0], [0.0, 0.0], alpha=torch.ones(2))
    with pytest.raises(TypeError, match=r"^binary_cross_entropy: pos_weight comes from torch"):
        lk.binary_cross_entropy([1.0, 0.0], [0.5, 0.5], pos_weight=torch.ones(()))


# ----------------------------------------------------------------------- convention policies

def test_the_option_lists_the_policies():
    assert COMMON_OPTIONS["convention"].values == tuple(CONVENTIONS)
    assert all(isinstance(c, Convention) and c.name == name for name, c in CONVENTIONS.items())
    with pytest.raises(AttributeError):
        CONVENTIONS["keras"].clip_eps = 0.1  # frozen


def test_a_loss_only_keras_has_takes_losskit_numbers_for_torch():
    assert CONVENTIONS["torch"].only("keras") is CONVENTIONS["losskit"]
    assert CONVENTIONS["keras"].only("keras") is CONVENTIONS["keras"]
    y, s = [1, 0, 1], [2.0, -0.5, 0.25]
    w = [1.0, 2.0, 3.0]
    assert lk.hinge_loss(y, s, sample_weight=w, convention="torch") == \
        lk.hinge_loss(y, s, sample_weight=w)
    assert lk.hinge_loss(y, s, sample_weight=w, convention="keras") != \
        lk.hinge_loss(y, s, sample_weight=w)


# -------------------------------------------------------------------- the reduction path

def test_reduced_applies_unit_and_dtype_once():
    values = np.asarray([1.0, 3.0], dtype=np.float32)
    out = reduced(XP, values, "mean", unit="bits", dtype=np.float16)
    assert out.dtype == np.float16 and isinstance(out, np.ndarray)
    assert float(out) == pytest.approx(2.0 / math.log(2.0), rel=1e-3)
    assert float(reduced(XP, values, "sum", weight=np.asarray([0.0, 2.0]))) == 6.0


def test_batch_sums_are_the_streaming_mean_parts():
    per = np.asarray([[1.0, 3.0], [2.0, 2.0]])
    samples, k = mean_over_outputs(XP, per)
    assert k == 2 and samples.tolist() == [2.0, 2.0]
    total, count = batch_sums(XP, samples, None, np.float64, "cpu")
    assert (float(total), float(count)) == (4.0, 2.0)
    total, count = batch_sums(XP, samples, np.asarray([0.5, 1.5]), np.float64, "cpu")
    assert (float(total), float(count)) == (4.0, 2.0)


def test_entropy_and_perplexity_reduce_like_the_losses():
    p = np.asarray([[0.5, 0.5], [0.9, 0.1]])
    w = np.asarray([1.0, 3.0])
    per_row = lk.entropy(p, reduction="none")
    assert float(lk.entropy(p, sample_weight=w)) == pytest.approx(
        float(np.sum(w * per_row) / np.sum(w)), rel=1e-15)
    ce = lk.sparse_categorical_cross_entropy([0, 1], p, sample_weight=w)
    assert float(lk.perplexity([0, 1], p, sample_weight=w)) == pytest.approx(
        math.exp(float(ce)), rel=1e-15)
