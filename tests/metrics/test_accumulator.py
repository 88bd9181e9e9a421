"""Accumulator: any batching gives the value on the concatenated data; merge, checkpoints, sync."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import softmax

import losskit as lk
import losskit._torch

M = lk.metrics
C = 4


def _data(rng, n):
    z = rng.normal(size=(n, C)) * 2
    y = rng.integers(0, C, n)
    y[:C] = np.arange(C)  # every class occurs (one-vs-rest AUC needs them)
    yb = rng.integers(0, 2, n)
    yb[:2] = [0, 1]
    return {"y": y, "Z": z, "P": softmax(z, -1), "yb": yb, "s": rng.normal(size=n),
            "p": rng.uniform(0.01, 0.99, n), "t": rng.normal(size=(n, 2)) * 3 + 1e4,
            "w": rng.uniform(0.1, 2.0, n)}


# (function, options, y_true key, y_pred key); y_pred "t+s" is t plus noise
CASES = {
    "bce-logits": (lk.binary_cross_entropy, {"from_logits": True}, "yb", "s"),
    "bce-sum-bits": (lk.binary_cross_entropy, {"reduction": "sum", "unit": "bits"}, "yb", "p"),
    "cce-class-weight": (lk.categorical_cross_entropy,
                         {"from_logits": True, "class_weight": np.array([0.5, 1.0, 2.0, 4.0])},
                         "onehot", "Z"),
    "sparse-ce-class-weight-ignore": (
        lk.sparse_categorical_cross_entropy,
        {"from_logits": True, "class_weight": np.array([0.5, 1.0, 2.0, 4.0]), "ignore_index": 3,
         "label_smoothing": 0.1, "check_values": False}, "y", "Z"),
    "mse-multioutput": (lk.mean_squared_error, {}, "t", "t+s"),
    "huber": (lk.huber_loss, {"delta": 2.0}, "t", "t+s"),
    "accuracy": (M.accuracy_score, {}, "y", "P"),
    "accuracy-labels": (M.accuracy_score, {}, "y", "labels"),
    "balanced_accuracy": (M.balanced_accuracy_score, {}, "y", "P"),
    "precision-macro-labels": (M.precision_score, {"average": "macro"}, "y", "labels"),
    "recall-weighted": (M.recall_score, {"average": "weighted"}, "y", "Z"),
    "f1-binary": (M.f1_score, {"from_logits": True}, "yb", "s"),
    "top_k": (M.top_k_accuracy_score, {"k": 2}, "y", "Z"),
    "brier": (M.brier_score_loss, {}, "y", "P"),
    "brier-logits": (M.brier_score_loss, {"from_logits": True}, "y", "Z"),
    "ece": (M.expected_calibration_error, {"n_bins": 8}, "y", "P"),
    "roc_auc": (M.roc_auc_score, {}, "yb", "s"),
    "roc_auc-ovr": (M.roc_auc_score, {"average": "weighted"}, "y", "P"),
    "average_precision": (M.average_precision_score, {}, "yb", "s"),
    "rmse": (M.root_mean_squared_error, {}, "t", "t+s"),
    "mae": (M.mean_absolute_error, {}, "t", "t+s"),
    "r2": (M.r2_score, {}, "t", "t+s"),
    "max_error": (M.max_error, {}, "t", "t+s"),
    "poisson_deviance": (M.mean_poisson_deviance, {}, "counts", "t"),
    "gamma_deviance": (M.mean_gamma_deviance, {}, "t", "t+s"),
    "angular": (M.mean_angular_error, {"degrees": True}, "t", "t+s"),
    "great_circle": (M.great_circle_distance, {}, "latlon", "latlon2"),
    "von_mises": (lk.von_mises_nll, {}, "s", "t+s"),
}


def _arrays(d, true_key, pred_key):
    pick = {"onehot": np.eye(C)[d["y"]], "t+s": d["t"] + d["s"][:, None] * 5,
            "labels": d["P"].argmax(-1), "counts": np.floor(d["t"] / 5e3) * d["yb"][:, None],
            "latlon": np.column_stack([d["p"] * 170 - 85, d["s"] * 60]),
            "latlon2": np.column_stack([(1 - d["p"]) * 170 - 85, -d["s"] * 60])}
    return (pick.get(true_key, d.get(true_key)), pick.get(pred_key, d.get(pred_key)))


def test_every_metric_is_streamed():
    streamed = {case[0] for case in CASES.values()}
    assert {getattr(M, name) for name in M.__all__} <= streamed


def _accumulate(fn, options, y, pred, w, bounds):
    acc = lk.Accumulator(fn, **options)
    for a, b in itertools.pairwise(bounds):
        acc.update(y[a:b], pred[a:b], sample_weight=None if w is None else w[a:b])
    return acc


def _assert_exact(actual, expected, fn):
    # R² = 1 - ratio: its absolute error is the ratio's relative error
    atol = 1e-12 if fn is M.r2_score else 0.0
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=1e-12, atol=atol)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(8, 80), cuts=st.lists(st.floats(0, 1), max_size=8),
       weighted=st.booleans(), seed=st.integers(0, 2**16))
@pytest.mark.parametrize("case", list(CASES))
def test_any_batching_equals_the_concatenated_data(case, n, cuts, weighted, seed):
    fn, options, true_key, pred_key = CASES[case]
    d = _data(np.random.default_rng(seed), n)
    y, pred = _arrays(d, true_key, pred_key)
    w = d["w"] if weighted else None
    bounds = sorted({0, n, *(int(c * n) for c in cuts)})
    expected = fn(y, pred, sample_weight=w, **options)
    acc = _accumulate(fn, options, y, pred, w, bounds)
    result = acc.result()
    assert isinstance(result, np.ndarray) and result.shape == () and result.dtype == np.float64
    _assert_exact(result, expected, fn)


def test_mean_of_batch_means_is_wrong_and_the_accumulator_is_right(rng):
    y = rng.integers(0, 2, 10).astype(float)
    z = rng.normal(size=10)
    full = lk.binary_cross_entropy(y, z, from_logits=True)
    acc = lk.Accumulator(lk.binary_cross_entropy, from_logits=True)
    means = []
    for a, b in ((0, 8), (8, 10)):  # a short last batch
        acc.update(y[a:b], z[a:b])
        means.append(float(lk.binary_cross_entropy(y[a:b], z[a:b], from_logits=True)))
    assert abs(np.mean(means) - full) > 1e-3
    np.testing.assert_allclose(acc.result(), full, rtol=1e-14)


def test_sparse_ce_with_class_weights_normalises_by_the_summed_label_weights(rng):
    y = rng.integers(0, C, 30)
    z = rng.normal(size=(30, C))
    w = rng.uniform(0.5, 2, 30)
    cw = np.array([1.0, 2.0, 3.0, 4.0])
    acc = lk.Accumulator(lk.sparse_categorical_cross_entropy, from_logits=True,
                         class_weight=cw)
    for a in range(0, 30, 7):
        acc.update(y[a:a + 7], z[a:a + 7], sample_weight=w[a:a + 7])
    log_p = z - np.log(np.exp(z).sum(-1, keepdims=True))
    per_sample = -log_p[np.arange(30), y]
    expected = np.sum(w * cw[y] * per_sample) / np.sum(w * cw[y])
    np.testing.assert_allclose(acc.result(), expected, rtol=1e-13)


def test_compensation_keeps_a_long_stream_exact():
    # 10_000 batches of values with very different magnitudes: plain float64 summation of the
    # batch sums drifts, the compensated sum does not
    rng = np.random.default_rng(1)
    values = rng.uniform(0, 1, (10_000, 3)) * np.array([1e8, 1.0, 1e-8])
    acc = lk.Accumulator(M.mean_absolute_error)
    zeros = np.zeros(3)
    for row in values:
        acc.update(zeros, row)
    exact = math.fsum(values.ravel()) / values.size  # correctly rounded
    np.testing.assert_allclose(acc.result(), exact, rtol=1e-15)


@pytest.mark.parametrize("on_torch", [False, True])
def test_compensation_is_exact_on_every_path(on_torch):
    """Batch sums 1e16, 1, 1e16, 1, ...: naive float64 addition loses every 1. The CPU
    torch path merges on Python floats, the array path with array operations; both exact."""
    torch = pytest.importorskip("torch") if on_torch else None
    values = [1e16, 1.0] * 50
    acc = lk.Accumulator(lk.mean_squared_error, reduction="sum")
    for value in values:  # one sample per batch, its squared error exactly `value`
        y, p = np.zeros(1), np.array([math.sqrt(value)])
        acc.update(*((torch.from_numpy(y), torch.from_numpy(p)) if on_torch else (y, p)))
    assert float(acc.result()) == math.fsum(values) != sum(values)


@pytest.mark.parametrize(("fn", "options", "make"), [
    (lk.sparse_categorical_cross_entropy, {"from_logits": True},
     lambda rng, n: (rng.integers(0, C, n), rng.normal(scale=3.0, size=(n, C)))),
    (lk.binary_cross_entropy, {"from_logits": True, "check_values": False},
     lambda rng, n: (rng.integers(0, 2, (n, 2)).astype(float), rng.normal(size=(n, 2)))),
    (lk.binary_cross_entropy, {"from_logits": True, "unit": "bits"},
     lambda rng, n: (rng.uniform(size=n), rng.normal(size=n))),
    (lk.mean_squared_error, {}, lambda rng, n: (rng.normal(size=(n, 3)), rng.normal(size=(n, 3)))),
    (lk.gaussian_nll, {"var": 0.3, "full": True},
     lambda rng, n: (rng.normal(size=n), rng.normal(size=n))),
])
def test_torch_batches_take_the_native_kernel_and_stay_exact(fn, options, make, rng,
                                                             monkeypatch):
    torch = pytest.importorskip("torch")
    y, pred = make(rng, 50)
    bounds = [0, 7, 8, 30, 50]
    kernel = fn.spec.native
    taken = []
    monkeypatch.setattr(fn, "spec", dataclasses.replace(
        fn.spec, native=lambda *a: taken.append(kernel(*a) is not None) or kernel(*a)))
    acc = lk.Accumulator(fn, **options)
    for a, b in itertools.pairwise(bounds):
        acc.update(torch.from_numpy(y[a:b]), torch.from_numpy(pred[a:b]))
    assert taken and all(taken)
    _assert_exact(acc.result().numpy(), fn(y, pred, **options), fn)
# ------------------------------------------------------------------------- merge and state


def test_merge_is_the_concatenation_in_either_order(rng):
    d = _data(rng, 50)
    for fn, options, true_key, pred_key in (CASES["roc_auc"], CASES["r2"], CASES["bce-logits"],
                                            CASES["precision-macro-labels"]):
        y, pred = _arrays(d, true_key, pred_key)
        expected = fn(y, pred, sample_weight=d["w"], **options)
        a = _accumulate(fn, options, y[:17], pred[:17], d["w"][:17], [0, 5, 17])
        b = _accumulate(fn, options, y[17:], pred[17:], d["w"][17:], [0, 33])
        a_alone = a.result()
        _assert_exact(lk.Accumulator(fn, **options).merge(a).merge(b).result(), expected, fn)
        _assert_exact(b.merge(a).result(), expected, fn)
        np.testing.assert_array_equal(a.result(), a_alone)  # the merged one is unchanged


def test_merge_with_an_empty_accumulator_and_reset(rng):
    acc = lk.Accumulator(M.accuracy_score)
    acc.update([0, 1], [0, 0])
    acc.merge(lk.Accumulator(M.accuracy_score))
    assert float(acc.result()) == 0.5
    acc.reset()
    with pytest.raises(ValueError, match=r"Accumulator: result\(\) of accuracy_score has no "
                                         r"data \(no update since construction or reset\)"):
        acc.result()
    acc.update([1], [1])
    assert float(acc.result()) == 1.0


@pytest.mark.parametrize("case", ["sparse-ce-class-weight-ignore", "roc_auc-ovr", "r2",
                                  "max_error", "precision-macro-labels", "ece"])
def test_state_dict_is_json_and_resumes_exactly(rng, case):
    fn, options, true_key, pred_key = CASES[case]
    d = _data(rng, 40)
    y, pred = _arrays(d, true_key, pred_key)
    first = _accumulate(fn, options, y[:25], pred[:25], d["w"][:25], [0, 10, 25])
    text = json.dumps(first.state_dict())
    resumed = lk.Accumulator(fn, **options)
    resumed.load_state_dict(json.loads(text))
    np.testing.assert_array_equal(resumed.result(), first.result())  # bit for bit
    resumed.update(y[25:], pred[25:], sample_weight=d["w"][25:])
    _assert_exact(resumed.result(), fn(y, pred, sample_weight=d["w"], **options), fn)
    empty = lk.Accumulator(fn, **options)
    resumed.load_state_dict(empty.state_dict())
    with pytest.raises(ValueError, match="has no data"):
        resumed.result()


def test_a_loaded_state_moves_to_the_library_of_the_next_batch(rng):
    torch = pytest.importorskip("torch")
    acc = lk.Accumulator(M.r2_score)
    t = rng.normal(size=20)
    p = t + rng.normal(size=20)
    acc.update(t[:10], p[:10])
    resumed = lk.Accumulator(M.r2_score)
    resumed.load_state_dict(acc.state_dict())
    resumed.update(torch.from_numpy(t[10:]), torch.from_numpy(p[10:]))
    result = resumed.result()
    assert isinstance(result, torch.Tensor) and result.dtype == torch.float64
    np.testing.assert_allclose(result.numpy(), M.r2_score(t, p), rtol=1e-12)


# ------------------------------------------------------------------------------- backends


@pytest.mark.parametrize("case", ["bce-logits", "sparse-ce-class-weight-ignore", "accuracy",
                                  "f1-binary", "roc_auc-ovr", "average_precision", "r2",
                                  "max_error", "ece"])
def test_every_backend_streams_in_its_own_library(backend, rng, case):
    fn, options, true_key, pred_key = CASES[case]
    d = _data(rng, 30)
    y, pred = _arrays(d, true_key, pred_key)
    expected = fn(y, pred, sample_weight=d["w"], **options)
    acc = lk.Accumulator(fn, **options)
    # equal batches (JAX compiles per shape; unequal batches are tested above on NumPy)
    for a, b in ((0, 15), (15, 30)):
        acc.update(backend.asarray(y[a:b]), backend.asarray(pred[a:b]),
                   sample_weight=backend.asarray(d["w"][a:b]))
    result = acc.result()
    assert backend.is_native(result) and tuple(result.shape) == ()
    assert result.dtype == backend.dtype("float64")
    _assert_exact(backend.to_numpy(result), expected, fn)
    # the state dict leaves the library for plain Python values
    json.dumps(acc.state_dict())


# ----------------------------------------------------------------- no host sync per batch

_SYNCING = ("item", "tolist", "numpy", "cpu", "__bool__", "__float__", "__int__", "__index__",
            "__array__")


@pytest.fixture
def host_reads(monkeypatch):
    """Count every PyTorch call that brings a tensor's values to the host."""
    torch = pytest.importorskip("torch")
    calls: list[str] = []
    for name in _SYNCING:
        original = getattr(torch.Tensor, name)

        def counting(self, *args, _name=name, _original=original, **kwargs):
            calls.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counting)
    return calls


@pytest.mark.parametrize("case", ["bce-logits", "mse-multioutput",
                                  "cce-class-weight", "sparse-ce-class-weight-ignore",
                                  "accuracy", "balanced_accuracy", "recall-weighted",
                                  "f1-binary", "top_k", "brier", "brier-logits", "ece",
                                  "roc_auc-ovr", "average_precision", "rmse", "r2",
                                  "max_error"])
def test_updates_on_torch_do_not_read_the_host(rng, host_reads, case, monkeypatch):
    torch = pytest.importorskip("torch")
    # the tensors here live on the CPU, where losskit may read a value cheaply; pretend they
    # are on an accelerator, where a read is a device sync that updates must not make
    monkeypatch.setattr(losskit._torch, "host_reads_are_free", lambda x: False)
    fn, options, true_key, pred_key = CASES[case]
    d = _data(rng, 24)
    y, pred = _arrays(d, true_key, pred_key)
    options = {**options, "check_values": False}
    acc = lk.Accumulator(fn, **options)
    yt, pt, wt = (torch.from_numpy(np.ascontiguousarray(x)) for x in (y, pred, d["w"]))
    del host_reads[:]
    for a in range(0, 24, 8):
        acc.update(yt[a:a + 8], pt[a:a + 8], sample_weight=wt[a:a + 8])
    assert host_reads == [], f"updates read the host: {host_reads}"
    result = acc.result()  # result() may read the host (checks), and gives the exact value
    _assert_exact(result.numpy(), fn(y, pred, sample_weight=d["w"], **options), fn)


def test_the_host_read_detector_sees_value_checks(rng, host_reads):
    torch = pytest.importorskip("torch")
    acc = lk.Accumulator(lk.binary_cross_entropy, from_logits=True)  # check_values=True
    del host_reads[:]
    acc.update(torch.tensor([0.0, 1.0]), torch.tensor([0.3, -0.2]))
    assert {"__bool__", "item"} & set(host_reads)  # (the kernel reads its result's sum)
    del host_reads[:]
    acc = lk.Accumulator(M.accuracy_score, check_values=False)
    acc.update(torch.tensor([0, 1]), torch.tensor([0, 1]))  # classes inferred from the labels
    assert host_reads


# --------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("make", "error", "message"), [
    (lambda: lk.Accumulator(np.mean), TypeError,
     r"Accumulator: fn is mean, which is neither a losskit loss nor a losskit metric\. Pass"),
    (lambda: lk.Accumulator(lk.perplexity), TypeError,
     r"fn is perplexity, which is neither .* Accumulate losskit.sparse_categorical_cross_entropy"
     r" with the same options and take the exp"),
    (lambda: lk.Accumulator(lk.binary_cross_entropy, reduction="none"), ValueError,
     r"Accumulator: reduction is 'none', which has no single accumulated value"),
    (lambda: lk.Accumulator(lk.binary_cross_entropy, sample_weight=[1.0]), TypeError,
     r"Accumulator: sample_weight was given as an option\. Pass sample weights to update"),
    (lambda: lk.Accumulator(lk.binary_cross_entropy, from_logit=True), TypeError,
     r"Accumulator: from_logit is not an option of binary_cross_entropy"),
    (lambda: lk.Accumulator(M.accuracy_score, threshold=2.0), ValueError,
     r"accuracy_score: threshold must be a number in \[0.0, 1.0\]"),
    (lambda: lk.Accumulator(M.f1_score, average="samples"), ValueError,
     r"f1_score: average must be one of"),
])
def test_bad_construction_gets_a_clear_error(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_bad_use_gets_a_clear_error():
    acc = lk.Accumulator(M.accuracy_score)
    acc.update([0, 1], [0, 1])
    with pytest.raises(ValueError, match=r"Accumulator: other accumulates Accumulator\(f1_score"
                                         r"\), not Accumulator\(accuracy_score\)\. Merge"):
        acc.merge(lk.Accumulator(M.f1_score))
    with pytest.raises(ValueError, match="Merge accumulators of the same function"):
        acc.merge(lk.Accumulator(M.accuracy_score, threshold=0.3))
    with pytest.raises(TypeError, match="Accumulator: other is int"):
        acc.merge(3)
    with pytest.raises(ValueError, match=r"Accumulator: state_dict holds the state of "
                                         r"accuracy_score \(reduction='mean'\), not of "
                                         r"f1_score"):
        lk.Accumulator(M.f1_score).load_state_dict(acc.state_dict())
    ece = lk.Accumulator(M.expected_calibration_error, n_bins=5)
    ece.update([0, 1], [0.2, 0.7])
    with pytest.raises(ValueError, match=r"Accumulator: state_dict holds a state of "
                                         r"expected_calibration_error with options "
                                         r"\{'n_bins': 5\}, not \{'n_bins': 8\}"):
        lk.Accumulator(M.expected_calibration_error, n_bins=8).load_state_dict(
            ece.state_dict())
    weighted = lk.Accumulator(lk.sparse_categorical_cross_entropy, class_weight=np.ones(3))
    weighted.update([0], [[0.5, 0.25, 0.25]])
    text = json.dumps(weighted.state_dict())  # array options serialise too
    with pytest.raises(ValueError, match="with the same options"):
        lk.Accumulator(lk.sparse_categorical_cross_entropy,
                       class_weight=np.array([1.0, 2.0, 1.0])).load_state_dict(json.loads(text))
    with pytest.raises(TypeError, match="Accumulator: state_dict is list"):
        acc.load_state_dict([])
    # the batch is checked like a call of the function itself
    with pytest.raises(ValueError,
                       match=r"accuracy_score: y_true has values outside \[0, 2\) \(5 at"):
        acc.update([5], [[0.5, 0.5]])
    loss = lk.Accumulator(lk.mean_squared_error)
    with pytest.raises(ValueError, match="mean_squared_error: sample_weight is all zero"):
        loss.update([1.0], [2.0], sample_weight=[0.0])  # checked as the loss checks it
    loss = lk.Accumulator(lk.mean_squared_error, check_values=False)
    loss.update([1.0], [2.0], sample_weight=[0.0])
    with pytest.raises(ValueError, match=r"Accumulator: result\(\) of mean_squared_error has a "
                                         r"total weight of 0"):
        loss.result()


def test_mixing_libraries_in_one_accumulator_is_a_type_error():
    torch = pytest.importorskip("torch")
    strict = pytest.importorskip("array_api_strict")
    acc = lk.Accumulator(M.accuracy_score)
    acc.update(torch.tensor([0, 1]), torch.tensor([[0.9, 0.1], [0.2, 0.8]]))
    with pytest.raises(TypeError, match=r"Accumulator: update mixes Array arrays with a state "
                                        r"in array_api_compat.torch\. Feed one accumulator"):
        acc.update(strict.asarray([0]), strict.asarray([[0.9, 0.1]]))


def test_all_reduce_without_a_process_group_is_a_no_op(rng):
    pytest.importorskip("torch")
    acc = lk.Accumulator(M.accuracy_score)
    acc.update([0, 1, 1], [0, 1, 0])
    assert acc.all_reduce() is acc
    assert float(acc.result()) == pytest.approx(2 / 3, rel=1e-15)


def test_the_state_holds_no_autograd_graph():
    torch = pytest.importorskip("torch")
    logits = torch.randn(8, requires_grad=True, dtype=torch.float64)
    y = torch.tensor([0.0, 1.0] * 4, dtype=torch.float64)
    acc = lk.Accumulator(lk.binary_cross_entropy, from_logits=True)
    acc.update(y, logits)
    assert all(not t.requires_grad for stat in acc._state.values()
               for t in stat.arrays().values())
    result = acc.result()
    assert not result.requires_grad
    expected = lk.binary_cross_entropy(y, logits, from_logits=True)
    assert expected.requires_grad  # the loss itself keeps autograd working
    np.testing.assert_allclose(result.numpy(), expected.detach().numpy(), rtol=1e-14)


def test_perplexity_streams_as_the_exp_of_the_accumulated_cross_entropy(rng):
    y = rng.integers(0, C, 40)
    z = rng.normal(size=(40, C))
    acc = lk.Accumulator(lk.sparse_categorical_cross_entropy, from_logits=True)
    for a, b in ((0, 13), (13, 30), (30, 40)):
        acc.update(y[a:b], z[a:b])
    np.testing.assert_allclose(np.exp(acc.result()), lk.perplexity(y, z, from_logits=True),
                               rtol=1e-12)
