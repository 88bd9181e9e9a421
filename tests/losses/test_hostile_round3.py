"""Hostile-review round 3: inputs on which the losses added since 0dd3cbd crashed with a raw
traceback or took a meaningless mask value silently (each test failed before its fix)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import losskit as lk
from losskit._torch import native_kernels


def test_ctc_all_empty_targets_is_minus_log_all_blank():
    # y_true of shape (N, 0) (every target empty) was a raw NumPy broadcast error
    z = np.random.default_rng(0).normal(size=(2, 3, 4))
    log_p = z - np.log(np.exp(z).sum(-1, keepdims=True))
    expected = -log_p[..., 0].sum(-1)  # the one alignment: a blank at every frame
    for kwargs in ({}, {"convention": "keras"}, {"target_lengths": [0, 0]}):
        np.testing.assert_allclose(
            lk.ctc_loss(np.zeros((2, 0), int), z, reduction="none", **kwargs), expected,
            rtol=1e-12)
    assert lk.gradient(lk.ctc_loss, np.zeros((2, 0), int), z).shape == z.shape


def test_ctc_all_empty_targets_match_torch():
    lp = torch.randn(3, 2, 4, dtype=torch.float64).log_softmax(-1)
    targets = torch.zeros(2, 0, dtype=torch.long)
    lengths = torch.tensor([3, 2])
    ours = lk.ctc_loss(targets, lp, input_lengths=lengths, target_lengths=torch.tensor([0, 0]),
                       convention="torch")
    theirs = torch.nn.functional.ctc_loss(lp, targets, lengths, torch.tensor([0, 0]))
    torch.testing.assert_close(ours, theirs)


def test_circle_loss_empty_references_refused():
    # M = 0 references was "zero-size array to reduction operation maximum"
    x = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8]])
    with pytest.raises(ValueError, match=r"circle_loss: ref_embeddings is empty .*Pass at least"):
        lk.circle_loss([0, 0, 1, 1], x, ref_labels=np.zeros(0, int),
                       ref_embeddings=np.zeros((0, 2)))


@pytest.mark.parametrize("loss", [lk.ranking_softmax_loss, lk.pairwise_logistic_loss,
                                  lk.pairwise_hinge_loss])
@pytest.mark.parametrize("bad", [np.nan, 0.5, 2.0, -1.0])
def test_ranking_where_must_be_zero_or_one(loss, bad):
    # a NaN or fractional where= entry was silently taken as True (nonzero)
    y, s = [1.0, 0.0, 0.0], [2.0, 1.0, 3.0]
    with pytest.raises(ValueError, match=rf"{loss.__name__}: where has values outside"):
        loss(y, s, where=[bad, 1.0, 1.0])
    # 0/1 integers and booleans stay accepted, and agree
    assert float(loss(y, s, where=[1, 1, 0])) == float(loss(y, s, where=[True, True, False]))


def test_student_t_huge_df_is_the_gaussian_limit():
    # df = 1e300 overflowed (OverflowError) in the constant's asymptotic series
    y, z = np.array([1.0]), np.array([0.0])
    expected = 0.5 * np.log(2 * np.pi) + 0.5  # -log N(1 | 0, 1)
    for df in (1e60, 1e300):
        np.testing.assert_allclose(float(lk.student_t_nll(y, z, df=df)), expected, rtol=1e-12)


def test_student_t_native_without_df_says_what_is_missing():
    # the native torch kernel read kwargs["df"]: a raw KeyError instead of the TypeError
    with pytest.raises(TypeError, match="df"):
        lk.student_t_nll(torch.tensor([1.0]), torch.tensor([0.5]))


def test_student_t_native_tiny_scale_matches_generic():
    # ν s² underflowing to 0 was a ZeroDivisionError in the native kernel only
    y = torch.tensor([1.0], dtype=torch.float64)
    z = torch.tensor([0.0], dtype=torch.float64)
    native = lk.student_t_nll(y, z, df=3.0, scale=1e-200)
    with native_kernels(False):
        generic = lk.student_t_nll(y, z, df=3.0, scale=1e-200)
    assert torch.isfinite(generic)
    torch.testing.assert_close(native, generic)


def test_criterion_without_a_required_option_is_refused_at_construction():
    # StudentTNLLLoss() was built, then every call failed (a raw KeyError on the native path)
    import losskit.torch as lkt

    with pytest.raises(TypeError, match=r"StudentTNLLLoss: df is not given.*StudentTNLLLoss"
                                        r"\(df=\.\.\.\)"):
        lkt.CRITERIA["student_t_nll"]()
    with pytest.raises(TypeError, match=r"Loss: df is not given.*Loss\('student_t_nll'"):
        lkt.Loss("student_t_nll")
    criterion = lkt.CRITERIA["student_t_nll"](df=3.0)
    torch.testing.assert_close(criterion(torch.tensor([0.5]), torch.tensor([1.0])),
                               lk.student_t_nll(torch.tensor([1.0]), torch.tensor([0.5]), df=3.0))


@pytest.mark.parametrize("value", [0.0, -0.0, 3.0, -3.0, 800.0, -800.0, np.inf, -np.inf])
def test_numpy_sigmoid_fast_paths_take_0d_arrays_as_the_generic_path(value):
    # log_sigmoid and sigmoid_parts wrote in place into a NumPy scalar for a 0-d array
    # ("return arrays must be of ArrayType"); the generic path takes it
    import array_api_compat.numpy as xnp
    import array_api_strict as xs

    from losskit._array import log_sigmoid, sigmoid_parts

    x = np.array(value)
    fast = [*sigmoid_parts(xnp, x), log_sigmoid(xnp, x)]
    generic = [*sigmoid_parts(xs, xs.asarray(x)), log_sigmoid(xs, xs.asarray(x))]
    for a, b in zip(fast, generic, strict=True):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape == ()
        np.testing.assert_array_equal(a, b)
        assert np.signbit(a) == np.signbit(b)


@pytest.mark.parametrize("distance", [None, "squared_euclidean"])
def test_triplet_overflowing_distances_say_how_to_fix(distance):
    # huge embeddings overflow the distances to inf - inf: the message was only "check y_pred"
    y = np.random.default_rng(0).normal(size=(4, 3, 5)) * 1e200
    with pytest.raises(ValueError, match=r"overflow.*scale the embeddings down"):
        lk.triplet_margin_with_distance_loss(None, y, distance_function=distance)


@pytest.mark.parametrize(("axis", "shown", "error"), [
    ((1, 1), r"got \(1, 1\)", ValueError), ((1.0, 2.0), r"got \(1\.0, 2\.0\)", TypeError),
    ((), r"got \(\)", TypeError)])
def test_class_axes_errors_show_the_tuple_passed(axis, shown, error):
    # the tuple reached the check as a NumPy array: "got array([], dtype=float64) of type
    # ndarray" for axis=()
    y = np.full((2, 3, 3), 1 / 9)
    z = np.zeros((2, 3, 3))
    with pytest.raises(error, match=rf"categorical_cross_entropy: axis must be .*{shown}") as info:
        lk.categorical_cross_entropy(y, z, from_logits=True, axis=axis)
    assert "array(" not in str(info.value)


def test_a_nan_gradient_is_refused_not_returned():
    """circle_loss with an extreme gamma: the derivative's terms overflow (inf - inf); the
    gradient was returned as all-NaN with checks on."""
    x = [[1.0, 0.5], [0.6, 0.8], [0.0, 1.0], [0.3, 0.2]]
    # the error names the option at fault (tests/losses/test_extreme_options.py)
    with pytest.raises(ValueError, match=r"circle_loss: gamma = 1e\+308 makes the loss's "
                                         r"gradient overflow"):
        lk.gradient(lk.circle_loss, [0, 0, 1, 1], x, gamma=1e308)
    # the raw result on request, and a moderate gamma is untouched
    raw = lk.gradient(lk.circle_loss, [0, 0, 1, 1], x, gamma=1e308, check_values=False)
    assert np.isnan(raw).all()
    assert np.isfinite(lk.gradient(lk.circle_loss, [0, 0, 1, 1], x, gamma=80.0)).all()
