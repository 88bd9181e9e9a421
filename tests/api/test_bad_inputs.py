"""Regression tests for the silently wrong values and unclear errors of issue 12, and the
inputs as users hold them of issue 11 (pandas, polars, string labels)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import losskit as lk
import losskit.metrics as M
from losskit._torch import native_kernels

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
pd = pytest.importorskip("pandas")

P = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])


# ----------------------------------------------------------------- the native kernels' checks

@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("target", [math.inf, -math.inf, math.nan, 2.0, -1.0])
def test_binary_cross_entropy_refuses_a_target_outside_zero_one_on_every_path(native, target):
    # the fast path's 0/1 test (y * y == y) used to accept +inf and return 0.1566
    with native_kernels(native), pytest.raises(ValueError, match=(
            r"^binary_cross_entropy: y_true has values outside \[0, 1\]")):
        lk.binary_cross_entropy(torch.tensor([target, 0.0]), torch.tensor([2.0, -1.0]),
                                from_logits=True)


def test_native_and_generic_paths_give_the_same_label_error():
    messages = []
    for native in (True, False):
        with native_kernels(native), pytest.raises(ValueError) as info:
            lk.sparse_categorical_cross_entropy(torch.tensor([0, 3]), torch.tensor(P),
                                                from_logits=True)
        messages.append(str(info.value))
    assert messages[0] == messages[1]
    assert "has values outside [0, 3) (3 at index 1;" in messages[0]


def test_the_hard_label_fast_path_still_gives_the_exact_value():
    y, z = torch.tensor([1.0, 0.0, 1.0]), torch.tensor([20.0, -30.0, -2.0], dtype=torch.float32)
    with native_kernels(False):
        generic = lk.binary_cross_entropy(y, z, from_logits=True)
    assert torch.equal(lk.binary_cross_entropy(y, z, from_logits=True), generic)


# ------------------------------------------------------------- labels before any narrowing

@pytest.fixture
def jax_without_x64():
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", False)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", before)


@pytest.mark.usefixtures("jax_without_x64")
@pytest.mark.parametrize("label", [2**32, 2**31, -(2**31) - 1])
def test_numpy_labels_that_int32_cannot_hold_are_refused_before_moving_to_jax(label):
    # 2**32 used to wrap to 0 in int32 and pass the label check (the loss of labels [0, 1])
    logits = jnp.array([[2.0, 0.0], [0.0, 2.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=(
                rf"^sparse_categorical_cross_entropy: y_true has the value {label} at index 0, "
                r"which int32 cannot hold \(JAX keeps int64 as int32")):
            lk.sparse_categorical_cross_entropy(np.array([label, 1]), logits, from_logits=True)
        with pytest.raises(ValueError, match=r"^accuracy_score: y_true has the value"):
            M.accuracy_score(np.array([label, 1]), logits)


@pytest.mark.usefixtures("jax_without_x64")
def test_numpy_weights_that_float32_cannot_hold_are_refused_before_moving_to_jax():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=r"^mean_squared_error: sample_weight has the value "
                                             r"1e\+300 at index 0, which float32 cannot hold"):
            lk.mean_squared_error(jnp.array([1.0, 2.0]), jnp.array([1.5, 2.5]),
                                  sample_weight=np.array([1e300, 1.0]))
        # values that fit are moved as before
        value = lk.sparse_categorical_cross_entropy(np.array([0, 1]), jnp.array(P[:, :2]),
                                                    from_logits=True)
    assert np.isfinite(float(value))


# ------------------------------------------------------------- huge and tiny finite weights

@pytest.mark.parametrize(("weights", "expected"), [
    ([1e308, 1e308], 0.25),  # the sum of the weights overflows: used to give 0.0
    ([5e-324, 0.0], 0.25),  # w * loss underflows: used to give 0.0
    ([1e308, 5e-324], 0.25),
])
def test_mean_squared_error_with_extreme_weights(weights, expected):
    value = lk.mean_squared_error([1.0, 2.0], [1.5, 2.5], sample_weight=weights)
    assert float(value) == expected


def test_reductions_with_huge_weights_are_right_where_representable():
    y, p = np.array([1.0, 2.0, 3.0]), np.array([1.5, 2.5, 4.0])
    w = np.array([1e308, 1e308, 5e307])
    losses = (p - y) ** 2
    reference = np.sum((w / 1e308) * losses) / np.sum(w / 1e308)
    assert math.isclose(float(lk.mean_squared_error(y, p, sample_weight=w)), reference,
                        rel_tol=1e-15)
    total = float(lk.mean_squared_error(y, p, sample_weight=w / 4, reduction="sum"))
    assert math.isclose(total, 1e308 / 4 * np.sum((w / 1e308) * losses), rel_tol=1e-15)
    grad = lk.gradient(lk.mean_squared_error, y, p, sample_weight=w)
    expected = lk.gradient(lk.mean_squared_error, y, p, sample_weight=w / 1e308)
    np.testing.assert_allclose(grad, expected, rtol=1e-15)


def test_float32_weights_near_the_largest_float32_on_torch():
    # used to give 0.0 (the float32 sum of the weights is inf)
    w = torch.tensor([3e38, 3e38])
    value = lk.mean_squared_error(torch.tensor([1.0, 2.0]), torch.tensor([1.5, 2.5]),
                                  sample_weight=w)
    assert value.dtype == torch.float32 and float(value) == 0.25
    value = lk.binary_cross_entropy(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 0.0]),
                                    from_logits=True, sample_weight=w)
    assert math.isclose(float(value), math.log(2.0), rel_tol=1e-6)


@pytest.mark.parametrize("metric", [M.accuracy_score, M.balanced_accuracy_score, M.f1_score,
                                    M.brier_score_loss, M.roc_auc_score,
                                    M.average_precision_score, M.expected_calibration_error])
def test_classification_metrics_with_huge_weights(metric):
    y, p = np.array([1, 0, 1, 0]), np.array([0.9, 0.2, 0.4, 0.6])
    w = np.array([1e308, 1e308, 3e307, 1e308])
    # accuracy_score used to give NaN (inf / inf)
    assert math.isclose(float(metric(y, p, sample_weight=w)),
                        float(metric(y, p, sample_weight=w / 1e308)), rel_tol=1e-12)


@pytest.mark.parametrize("metric", [M.mean_absolute_error, M.root_mean_squared_error,
                                    M.r2_score, M.max_error])
def test_regression_metrics_with_extreme_weights(metric):
    y, p = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.5, 2.0, 2.0, 5.0])
    for w in ([1e308, 1e308, 1e308, 1e308], [1e308, 1.0, 5e-324, 1e307]):
        w = np.array(w)
        reference = float(metric(y, p, sample_weight=np.where(
            w > 0, np.maximum(w / 1e308, np.finfo(float).smallest_normal), 0.0)))
        assert math.isclose(float(metric(y, p, sample_weight=w)), reference, rel_tol=1e-12)


def test_a_tiny_positive_weight_still_selects_its_sample():
    # max_error counts the samples of positive weight: a weight 2**1074 times below the largest
    # must not vanish when the weights are normalised
    value = M.max_error([0.0, 0.0], [1.0, 5.0], sample_weight=[1e308, 5e-324])
    assert float(value) == 5.0


def test_accumulators_merge_batches_whose_weights_differ_in_scale():
    rng = np.random.default_rng(0)
    y = np.array([1, 0] * 6)
    p = rng.uniform(0.05, 0.95, 12)
    # batches of very different scales (both classes carry large weights, so every metric is
    # far from the smallest normal number)
    w = np.array([1e308, 1e308, 3.0, 1.0, 5e-324, 1e-300, 2e307, 3e307, 1e-10, 2.0, 7e306, 0.5])
    for fn in (M.accuracy_score, M.roc_auc_score, M.r2_score, M.brier_score_loss,
               lk.binary_cross_entropy):
        streamed = lk.Accumulator(fn)
        for start in range(0, 12, 3):
            part = slice(start, start + 3)
            streamed.update(y[part].astype(float) if fn is lk.binary_cross_entropy
                            else y[part], p[part], sample_weight=w[part])
        restored = lk.Accumulator(fn)
        restored.load_state_dict(streamed.state_dict())
        target = y.astype(float) if fn is lk.binary_cross_entropy else y
        whole = float(fn(target, p, sample_weight=w))
        assert math.isclose(float(streamed.result()), whole, rel_tol=1e-12), fn.__name__
        assert math.isclose(float(restored.result()), whole, rel_tol=1e-12), fn.__name__


def test_accumulated_sum_with_huge_weights():
    acc = lk.Accumulator(lk.mean_squared_error, reduction="sum")
    acc.update([1.0, 2.0], [1.5, 2.5], sample_weight=[1e307, 1e307])
    acc.update([1.0], [2.0], sample_weight=[1.0])
    assert math.isclose(float(acc.result()), 0.25 * 2e307 + 1.0, rel_tol=1e-15)


def test_perplexity_with_huge_weights_is_not_blamed_on_the_logits():
    # used to fail with "a row of logits is all -inf"
    value = lk.perplexity([0, 1], np.array([[0.6, 0.4], [0.3, 0.7]]),
                          sample_weight=[1e308, 1e308])
    assert math.isclose(float(value), math.exp(-(math.log(0.6) + math.log(0.7)) / 2),
                        rel_tol=1e-14)
    with pytest.raises(ValueError, match=r"^perplexity: y_pred gives an undefined \(NaN\) "
                                         r"loss for sample 0\. a row of logits is all -inf"):
        lk.perplexity([0, 1], [[-math.inf, -math.inf], [0.0, 1.0]], from_logits=True)


# ------------------------------------------------------------- ragged lists and meta tensors

@pytest.mark.parametrize(("call", "message"), [
    (lambda: lk.mean_squared_error([[1.0, 2.0], [3.0]], [[1.0, 2.0], [3.0]]),
     r"^mean_squared_error: y_pred is a ragged nested list \(its rows have different "
     r"lengths\)\. Pass a rectangular array"),
    (lambda: lk.categorical_cross_entropy([[1.0, 0.0], [1.0]], P[:, :2]),
     r"^categorical_cross_entropy: y_true is a ragged nested list"),
    (lambda: lk.mean_squared_error([1.0, 2.0], [1.0, 2.0], sample_weight=[[1.0], [1.0, 2.0]]),
     r"^mean_squared_error: sample_weight is a ragged nested list"),
    (lambda: lk.categorical_cross_entropy(P, P, class_weight=[[1.0], [1.0, 2.0]]),
     r"^categorical_cross_entropy: class_weight is a ragged nested list"),
    (lambda: lk.entropy([[0.5, 0.5], [1.0]]), r"^entropy: p is a ragged nested list"),
    (lambda: M.accuracy_score([[0], [1, 1]], [0, 1]), r"^accuracy_score: y_true is a ragged"),
])
def test_ragged_lists_get_losskit_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("where", ["y_pred", "y_true", "sample_weight"])
@pytest.mark.parametrize("fn", [lk.mean_squared_error, lk.binary_cross_entropy,
                                M.brier_score_loss, M.mean_absolute_error])
def test_meta_tensors_get_losskit_errors(fn, where):
    # used to fail deep inside with "Tensor.item() cannot be called on meta tensors"
    arrays = {"y_true": torch.tensor([1.0, 0.0]), "y_pred": torch.tensor([0.7, 0.2]),
              "sample_weight": torch.ones(2)}
    arrays[where] = torch.empty(2, device="meta")
    with pytest.raises(ValueError, match=(
            rf"^{fn.__name__}: {where} is a tensor on the 'meta' device \(shape \(2,\), no "
            r"data\)\. Pass a tensor that holds data")):
        fn(arrays["y_true"], arrays["y_pred"], sample_weight=arrays["sample_weight"])


# ------------------------------------------------------------- pandas, polars and strings

def test_pandas_series_and_dataframes_are_taken_as_numpy():
    y = pd.Series([0, 2, 1])
    logits = pd.DataFrame({"a": [2.0, 0.1, 0.3], "b": [0.5, 0.2, 1.5], "c": [0.1, 3.0, 0.2]})
    expected = lk.sparse_categorical_cross_entropy(y.to_numpy(), logits.to_numpy(),
                                                   from_logits=True)
    assert lk.sparse_categorical_cross_entropy(y, logits, from_logits=True) == expected
    assert M.accuracy_score(y, logits) == M.accuracy_score(y.to_numpy(), logits.to_numpy())
    weights = pd.Series([1.0, 2.0, 0.5])
    assert lk.mean_squared_error(pd.Series([1.0, 2.0, 3.0]), np.array([1.5, 2.0, 2.0]),
                                 sample_weight=weights) == \
        lk.mean_squared_error([1.0, 2.0, 3.0], [1.5, 2.0, 2.0], sample_weight=[1.0, 2.0, 0.5])
    # a pandas target next to torch predictions is moved to torch, as NumPy is
    value = lk.mean_squared_error(pd.Series([1.0, 2.0]), torch.tensor([1.5, 2.0],
                                                                      dtype=torch.float64))
    assert isinstance(value, torch.Tensor) and float(value) == 0.125


def test_pandas_data_moves_to_torch_without_a_read_only_warning():
    # pandas hands out read-only arrays (copy-on-write), which PyTorch warns about sharing
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = lk.sparse_categorical_cross_entropy(pd.Series([0, 1]),
                                                    torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
                                                    from_logits=True)
    assert math.isclose(float(value), math.log(1.0 + math.exp(-1.0)), rel_tol=1e-6)


def test_pandas_nullable_columns_report_their_missing_values():
    with pytest.raises(ValueError, match=r"^mean_squared_error: y_true has NaN"):
        lk.mean_squared_error(pd.Series([1.0, None], dtype="Float64"), [1.0, 2.0])


def test_polars_is_taken_as_numpy_where_installed():
    pl = pytest.importorskip("polars")
    y = pl.Series([1.0, 2.0, 3.0])
    assert lk.mean_squared_error(y, [1.0, 2.0, 4.0]) == \
        lk.mean_squared_error([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])


@pytest.mark.parametrize("labels", [
    np.array(["cat", "dog"]),
    ["cat", "dog"],
    pd.Series(["cat", "dog"]),
    pd.Series(["cat", "dog"], dtype="category"),
    np.array(["cat", "dog"], dtype=object),
])
@pytest.mark.parametrize("logits", [np.array(P[:, :2]), torch.tensor(P[:, :2])],
                         ids=["numpy", "torch"])
def test_string_labels_say_to_encode_them(labels, logits):
    # next to a torch tensor this used to say "arrays come from different libraries
    # (ArrowStringArray and Tensor)"
    with pytest.raises(TypeError, match=(
            r"^sparse_categorical_cross_entropy: y_true holds strings \('cat' at index 0\)\. "
            r"Labels are strings: encode them as integers")):
        lk.sparse_categorical_cross_entropy(labels, logits, from_logits=True)
    with pytest.raises(TypeError, match=r"^accuracy_score: y_true holds strings.*Labels are "
                                        r"strings: encode them as integers"):
        M.accuracy_score(labels, logits)


def test_mixed_libraries_name_the_argument():
    with pytest.raises(TypeError, match=r"^mean_squared_error: sample_weight comes from JAX "
                                        r"\(.*\) but y_pred from torch"):
        lk.mean_squared_error(torch.ones(2), torch.ones(2), sample_weight=jnp.ones(2))
