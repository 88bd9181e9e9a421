"""Metrics against scikit-learn, on every backend, with clear errors on bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sklearn.metrics as skm
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit, softmax
from sklearn.calibration import calibration_curve

import losskit as lk
from losskit._validation import constraints_of

M = lk.metrics
N, C = 60, 4
ALL_METRICS = [getattr(M, name) for name in M.__all__]


def _data(rng, n=N, classes=C):
    """Labels, class probabilities, logits, binary labels and scores, regression targets."""
    z = rng.normal(size=(n, classes)) * 2
    return {
        "y": rng.integers(0, classes, n),
        "P": softmax(z, axis=-1),
        "Z": z,
        "yb": rng.integers(0, 2, n),
        "p": rng.uniform(0, 1, n),
        "s": rng.normal(size=n),
        "t": rng.normal(size=(n, 3)) * 4 + 50,
        "w": rng.uniform(0, 2, n),
    }


def _lat_lon(p, s):
    return np.column_stack([p * 178 - 89, np.clip(s * 90, -180, 180)])


def _haversine_km(a, b, sample_weight=None):
    d = skm.pairwise.haversine_distances(np.radians(a), np.radians(b)).diagonal()
    return np.average(d * 6371.0088, weights=sample_weight)


def _angular_degrees(a, b, sample_weight=None):
    d = np.abs((b - a + 180.0) % 360.0 - 180.0)
    return np.mean(np.average(d, axis=0, weights=sample_weight))


def _cases(d):
    """name -> (losskit call, scikit-learn reference) on the same inputs."""
    y, P, Z, yb, p, s, t = (d[k] for k in "y P Z yb p s t".split())
    yhat = P.argmax(-1)
    cases = {
        "accuracy-probabilities": (lambda **k: M.accuracy_score(y, P, **k),
                                   lambda **k: skm.accuracy_score(y, yhat, **k)),
        "accuracy-logits": (lambda **k: M.accuracy_score(y, Z, **k),
                            lambda **k: skm.accuracy_score(y, Z.argmax(-1), **k)),
        "accuracy-binary": (lambda **k: M.accuracy_score(yb, p, threshold=0.3, **k),
                            lambda **k: skm.accuracy_score(yb, p > 0.3, **k)),
        "accuracy-binary-logits": (lambda **k: M.accuracy_score(yb, s, from_logits=True, **k),
                                   lambda **k: skm.accuracy_score(yb, s > 0, **k)),
        "accuracy-labels": (lambda **k: M.accuracy_score(y, yhat, **k),
                            lambda **k: skm.accuracy_score(y, yhat, **k)),
        "balanced_accuracy": (lambda **k: M.balanced_accuracy_score(y, P, **k),
                              lambda **k: skm.balanced_accuracy_score(y, yhat, **k)),
        "balanced_accuracy-binary": (
            lambda **k: M.balanced_accuracy_score(yb, p, **k),
            lambda **k: skm.balanced_accuracy_score(yb, (p > 0.5).astype(int), **k)),
        "top_k_accuracy": (lambda **k: M.top_k_accuracy_score(y, P, k=2, **k),
                           lambda **k: skm.top_k_accuracy_score(y, P, k=2, labels=range(C),
                                                                **k)),
        "top_k_accuracy-3": (lambda **k: M.top_k_accuracy_score(y, Z, k=3, **k),
                             lambda **k: skm.top_k_accuracy_score(y, Z, k=3, labels=range(C),
                                                                  **k)),
        "brier-binary": (lambda **k: M.brier_score_loss(yb, p, **k),
                         lambda **k: skm.brier_score_loss(yb, p, **k)),
        "brier-binary-logits": (lambda **k: M.brier_score_loss(yb, s, from_logits=True, **k),
                                lambda **k: skm.brier_score_loss(yb, expit(s), **k)),
        "brier-multiclass": (lambda **k: M.brier_score_loss(y, P, **k),
                             lambda **k: skm.brier_score_loss(y, P, labels=range(C), **k)),
        "brier-multiclass-logits": (
            lambda **k: M.brier_score_loss(y, Z, from_logits=True, **k),
            lambda **k: skm.brier_score_loss(y, softmax(Z, -1), labels=range(C), **k)),
        "roc_auc-binary": (lambda **k: M.roc_auc_score(yb, s, **k),
                           lambda **k: skm.roc_auc_score(yb, s, **k)),
        "roc_auc-binary-ties": (lambda **k: M.roc_auc_score(yb, np.round(p, 1), **k),
                                lambda **k: skm.roc_auc_score(yb, np.round(p, 1), **k)),
        "roc_auc-two-columns": (lambda **k: M.roc_auc_score(yb, np.stack([1 - p, p], 1), **k),
                                lambda **k: skm.roc_auc_score(yb, p, **k)),
        "roc_auc-ovr": (lambda **k: M.roc_auc_score(y, P, **k),
                        lambda **k: skm.roc_auc_score(y, P, multi_class="ovr", **k)),
        "roc_auc-ovr-weighted": (
            lambda **k: M.roc_auc_score(y, P, average="weighted", **k),
            lambda **k: skm.roc_auc_score(y, P, multi_class="ovr", average="weighted", **k)),
        "average_precision-binary": (lambda **k: M.average_precision_score(yb, s, **k),
                                     lambda **k: skm.average_precision_score(yb, s, **k)),
        "average_precision-ties": (
            lambda **k: M.average_precision_score(yb, np.round(p, 1), **k),
            lambda **k: skm.average_precision_score(yb, np.round(p, 1), **k)),
        "average_precision-ovr": (lambda **k: M.average_precision_score(y, P, **k),
                                  lambda **k: skm.average_precision_score(y, P, **k)),
        "average_precision-ovr-weighted": (
            lambda **k: M.average_precision_score(y, P, average="weighted", **k),
            lambda **k: skm.average_precision_score(y, P, average="weighted", **k)),
        "rmse": (lambda **k: M.root_mean_squared_error(t[:, 0], t[:, 1], **k),
                 lambda **k: skm.root_mean_squared_error(t[:, 0], t[:, 1], **k)),
        "rmse-multioutput": (lambda **k: M.root_mean_squared_error(t, t[::-1], **k),
                             lambda **k: skm.root_mean_squared_error(t, t[::-1], **k)),
        "mae": (lambda **k: M.mean_absolute_error(t[:, 0], t[:, 1], **k),
                lambda **k: skm.mean_absolute_error(t[:, 0], t[:, 1], **k)),
        "mae-multioutput": (lambda **k: M.mean_absolute_error(t, t[::-1], **k),
                            lambda **k: skm.mean_absolute_error(t, t[::-1], **k)),
        "r2": (lambda **k: M.r2_score(t[:, 0], t[:, 0] + 0.5 * t[:, 1] - 25, **k),
               lambda **k: skm.r2_score(t[:, 0], t[:, 0] + 0.5 * t[:, 1] - 25, **k)),
        "r2-multioutput": (lambda **k: M.r2_score(t, t + s[:, None], **k),
                           lambda **k: skm.r2_score(t, t + s[:, None], **k)),
        # counts (with zeros) and positive targets against positive predicted means
        "poisson_deviance": (lambda **k: M.mean_poisson_deviance(np.floor(p * 4), t[:, 0] / 40,
                                                                 **k),
                             lambda **k: skm.mean_poisson_deviance(np.floor(p * 4),
                                                                   t[:, 0] / 40, **k)),
        "gamma_deviance": (lambda **k: M.mean_gamma_deviance(t[:, 1], t[:, 0], **k),
                           lambda **k: skm.mean_gamma_deviance(t[:, 1], t[:, 0], **k)),
        # locations (latitude, longitude in degrees) and angles (degrees, wrapped)
        "great_circle": (lambda **k: M.great_circle_distance(_lat_lon(p, s), _lat_lon(1 - p, -s),
                                                             **k),
                         lambda **k: _haversine_km(_lat_lon(p, s), _lat_lon(1 - p, -s), **k)),
        "great_circle-vectors": (
            lambda **k: M.great_circle_distance(lk.lat_lon_to_unit_vector(_lat_lon(p, s)),
                                                lk.lat_lon_to_unit_vector(_lat_lon(1 - p, -s)),
                                                **k),
            lambda **k: _haversine_km(_lat_lon(p, s), _lat_lon(1 - p, -s), **k)),
        "angular": (lambda **k: M.mean_angular_error(t * 7, t[::-1] * 7, degrees=True, **k),
                    lambda **k: _angular_degrees(t * 7, t[::-1] * 7, **k)),
    }
    for average in ("binary", "macro", "micro", "weighted"):
        for name in ("precision", "recall", "f1"):
            ours = getattr(M, f"{name}_score")
            theirs = getattr(skm, f"{name}_score")
            if average == "binary":
                cases[f"{name}-binary"] = (
                    lambda ours=ours, **k: ours(yb, p, **k),
                    lambda theirs=theirs, **k: theirs(yb, (p > 0.5).astype(int), **k))
            else:
                cases[f"{name}-{average}"] = (
                    lambda ours=ours, a=average, **k: ours(y, P, average=a, **k),
                    lambda theirs=theirs, a=average, **k: theirs(y, yhat, average=a, **k))
    return cases


CASE_NAMES = list(_cases(_data(np.random.default_rng(0))))


def test_every_metric_has_a_reference_case():
    short = {"rmse": "root_mean_squared_error", "mae": "mean_absolute_error",
             "brier": "brier_score_loss", "r2": "r2_score",
             "poisson_deviance": "mean_poisson_deviance",
             "gamma_deviance": "mean_gamma_deviance",
             "great_circle": "great_circle_distance", "angular": "mean_angular_error"}
    covered = {short.get(p, f"{p}_score") for p in {n.split("-")[0] for n in CASE_NAMES}}
    # ECE and max error have their own reference tests below
    expected = set(M.__all__) - {"expected_calibration_error", "max_error"}
    assert covered == expected, covered ^ expected


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("case", CASE_NAMES)
def test_matches_scikit_learn(rng, case, weighted):
    d = _data(rng)
    ours, theirs = _cases(d)[case]
    kwargs = {"sample_weight": d["w"]} if weighted else {}
    value = ours(**kwargs)
    assert isinstance(value, np.ndarray) and value.shape == ()
    np.testing.assert_allclose(value, theirs(**kwargs), rtol=1e-12, atol=1e-15)


def test_max_error_matches_scikit_learn_and_weight_zero_leaves_samples_out(rng):
    t = rng.normal(size=40)
    p = t + rng.normal(size=40)
    assert float(M.max_error(t, p)) == skm.max_error(t, p)
    keep = rng.uniform(size=40) < 0.5
    w = np.where(keep, rng.uniform(0.5, 2, 40), 0.0)
    assert float(M.max_error(t, p, sample_weight=w)) == skm.max_error(t[keep], p[keep])
    t2 = rng.normal(size=(40, 2))
    assert float(M.max_error(t2, t2 * 1.5)) == np.max(np.abs(t2 * 0.5))


def test_zero_division_and_macro_over_present_classes():
    # class 2 never occurs, class 3 is predicted but never true
    y = [0, 0, 1, 1]
    yhat = [0, 3, 1, 1]
    for name in ("precision", "recall", "f1"):
        ours = getattr(M, f"{name}_score")
        theirs = getattr(skm, f"{name}_score")
        for zero_division in (0.0, 1.0):
            for average in ("macro", "weighted", "micro"):
                np.testing.assert_allclose(
                    ours(y, yhat, average=average, zero_division=zero_division, n_classes=4),
                    theirs(y, yhat, average=average, zero_division=zero_division),
                    rtol=1e-14)
    # nothing predicted positive: precision is zero_division (as scikit-learn)
    assert float(M.precision_score([1, 0], [0.1, 0.2], zero_division=1.0)) == 1.0
    assert float(M.precision_score([1, 0], [0.1, 0.2])) == 0.0


def test_top_k_ties_rank_the_higher_class_first_as_scikit_learn():
    y = np.array([0, 1, 2, 1, 0])
    scores = np.array([[0.2, 0.2, 0.6], [0.5, 0.5, 0.0], [1, 1, 1], [0.3, 0.3, 0.4],
                       [0.4, 0.4, 0.2]])
    for k in (1, 2):
        assert float(M.top_k_accuracy_score(y, scores, k=k)) == skm.top_k_accuracy_score(
            y, scores, k=k, labels=[0, 1, 2])


def test_r2_constant_target_and_large_mean(rng):
    assert float(M.r2_score([3.0, 3.0, 3.0], [3.0, 3.0, 3.0])) == 1.0
    assert float(M.r2_score([3.0, 3.0, 3.0], [3.0, 2.0, 3.0])) == 0.0
    assert skm.r2_score([3.0, 3.0, 3.0], [3.0, 2.0, 3.0]) == 0.0
    t = 1e8 + rng.normal(size=500)
    p = t + 0.3 * rng.normal(size=500)
    np.testing.assert_allclose(M.r2_score(t, p), skm.r2_score(t, p), rtol=1e-9)


def _ece_reference(y, proba, n_bins, w=None):
    """Top-label ECE by an explicit loop over bins (Guo et al., 2017)."""
    w = np.ones(len(y)) if w is None else w
    confidence = proba.max(-1)
    correct = proba.argmax(-1) == y
    edges = np.linspace(0, 1, n_bins + 1)
    total = 0.0
    for b in range(n_bins):
        low, high = edges[b], edges[b + 1]
        inside = (confidence > low) & (confidence <= high) | ((b == 0) & (confidence == 0))
        if w[inside].sum() > 0:
            weight = w[inside].sum()
            gap = abs(np.average(correct[inside], weights=w[inside])
                      - np.average(confidence[inside], weights=w[inside]))
            total += weight * gap
    return total / w.sum()


@pytest.mark.parametrize("n_bins", [1, 5, 10, 15])
def test_expected_calibration_error_binary_matches_calibration_curve(rng, n_bins):
    y = rng.integers(0, 2, 300)
    p = np.clip(rng.beta(2, 2, 300), 0, 1)
    p[:5] = [0.0, 1.0, 0.2, 0.4, 0.6]  # bin edges
    prob_true, prob_pred = calibration_curve(y, p, n_bins=n_bins, strategy="uniform")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    counts = np.bincount(np.searchsorted(edges[1:-1], p), minlength=n_bins)
    counts = counts[counts > 0]
    expected = np.sum(counts * np.abs(prob_true - prob_pred)) / len(y)
    np.testing.assert_allclose(M.expected_calibration_error(y, p, n_bins=n_bins), expected,
                               rtol=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_expected_calibration_error_top_label_matches_loop(rng, weighted):
    y = rng.integers(0, C, 200)
    z = rng.normal(size=(200, C)) * 2
    P = softmax(z, -1)
    w = rng.uniform(0, 2, 200) if weighted else None
    expected = _ece_reference(y, P, 10, w)
    np.testing.assert_allclose(M.expected_calibration_error(y, P, sample_weight=w), expected,
                               rtol=1e-12)
    np.testing.assert_allclose(M.expected_calibration_error(y, z, from_logits=True,
                                                            sample_weight=w),
                               expected, rtol=1e-12)


def test_perfect_and_worst_predictions():
    y = np.array([0, 1, 1, 0])
    assert float(M.roc_auc_score(y, y * 1.0)) == 1.0
    assert float(M.roc_auc_score(y, 1.0 - y)) == 0.0
    assert float(M.roc_auc_score(y, np.full(4, 0.3))) == 0.5
    assert float(M.average_precision_score(y, y * 1.0)) == 1.0
    assert float(M.expected_calibration_error(y, y * 1.0)) == 0.0
    assert float(M.brier_score_loss(y, 1.0 - y)) == 1.0


# ------------------------------------------------------------------------------- backends


def _backend_cases(rng):
    d = _data(rng, n=30)
    y, P, yb, p, s, t, w = (d[k] for k in "y P yb p s t w".split())
    return [
        (M.accuracy_score, y, P, {}),
        (M.accuracy_score, yb, s, {"from_logits": True}),
        (M.accuracy_score, y, P.argmax(-1), {"n_classes": C}),
        (M.balanced_accuracy_score, y, P, {}),
        (M.precision_score, y, P, {"average": "macro"}),
        (M.recall_score, yb, p, {}),
        (M.f1_score, y, P, {"average": "weighted"}),
        (M.top_k_accuracy_score, y, P, {"k": 2}),
        (M.brier_score_loss, y, P, {}),
        (M.expected_calibration_error, y, P, {"n_bins": 7}),
        (M.roc_auc_score, yb, s, {}),
        (M.roc_auc_score, y, P, {}),
        (M.average_precision_score, yb, np.round(p, 1), {}),
        (M.root_mean_squared_error, t, t[::-1], {}),
        (M.mean_absolute_error, t[:, 0], t[:, 1], {}),
        (M.r2_score, t, t + s[:, None], {}),
        (M.max_error, t[:, 0], t[:, 1], {}),
        (M.mean_poisson_deviance, np.floor(p * 4), t[:, 0] / 40, {}),
        (M.mean_gamma_deviance, t, t[::-1], {}),
        (M.great_circle_distance, _lat_lon(p, s), _lat_lon(1 - p, s), {}),
        (M.mean_angular_error, t, t[::-1], {"degrees": True}),
    ], w


def test_every_metric_runs_on_every_backend_case():
    cases, _ = _backend_cases(np.random.default_rng(0))
    assert {case[0] for case in cases} == set(ALL_METRICS)


@pytest.mark.parametrize("index", range(21))
def test_same_numbers_and_array_type_on_every_backend(backend, rng, index):
    cases, w = _backend_cases(rng)
    fn, y, pred, options = cases[index]
    expected = fn(y, pred, sample_weight=w, **options)
    out = fn(backend.asarray(y), backend.asarray(pred), sample_weight=backend.asarray(w),
             **options)
    assert backend.is_native(out) and tuple(out.shape) == ()
    if np.issubdtype(np.asarray(pred).dtype, np.floating):
        assert out.dtype == backend.dtype("float64")
    np.testing.assert_allclose(backend.to_numpy(out), expected, rtol=1e-12)
    # labels on the host with predictions on the backend are accepted
    mixed = fn(y, backend.asarray(pred), sample_weight=w, **options)
    np.testing.assert_allclose(backend.to_numpy(mixed), expected, rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_low_precision_input_is_returned_in_its_dtype(backend, rng, dtype):
    if (dtype == "bfloat16" and backend.name in ("numpy", "array_api_strict")) or (
            dtype == "float16" and backend.name == "array_api_strict"):
        pytest.skip(f"{backend.name} has no {dtype}")
    y = rng.integers(0, 2, 50)
    s = rng.normal(size=50)
    sb = backend.asarray(s, dtype)
    out = M.roc_auc_score(backend.asarray(y), sb)
    assert out.dtype == backend.dtype(dtype)
    rounded = backend.to_numpy(sb).astype("float64")
    np.testing.assert_allclose(float(backend.to_numpy(out)), skm.roc_auc_score(y, rounded),
                               rtol=1e-2 if dtype != "float32" else 1e-6)
    t = backend.asarray(s, dtype)
    out = M.root_mean_squared_error(t, backend.asarray(s[::-1], dtype))
    assert out.dtype == backend.dtype(dtype)


# ----------------------------------------------------------------------- property tests


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_classification_metrics_match_scikit_learn_on_any_labels(data):
    n = data.draw(st.integers(1, 25))
    classes = data.draw(st.integers(2, 5))
    y = np.array(data.draw(st.lists(st.integers(0, classes - 1), min_size=n, max_size=n)))
    yhat = np.array(data.draw(st.lists(st.integers(0, classes - 1), min_size=n, max_size=n)))
    w = np.array(data.draw(st.lists(st.sampled_from([0.5, 1.0, 2.0, 3.0]), min_size=n,
                                    max_size=n)))
    for average in ("macro", "micro", "weighted"):
        for name in ("precision", "recall", "f1"):
            np.testing.assert_allclose(
                getattr(M, f"{name}_score")(y, yhat, average=average, n_classes=classes,
                                            sample_weight=w),
                getattr(skm, f"{name}_score")(y, yhat, average=average, sample_weight=w,
                                              zero_division=0.0),
                rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(M.accuracy_score(y, yhat, sample_weight=w),
                               skm.accuracy_score(y, yhat, sample_weight=w), rtol=1e-12)
    if len(np.unique(y)) > 0:
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                expected = skm.balanced_accuracy_score(y, yhat, sample_weight=w)
        np.testing.assert_allclose(M.balanced_accuracy_score(y, yhat, sample_weight=w),
                                   expected, rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_ranking_metrics_match_scikit_learn_with_ties(data):
    n = data.draw(st.integers(2, 30))
    y = np.array(data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    scores = np.array(data.draw(st.lists(st.sampled_from([-1.0, 0.0, 0.25, 0.5, 2.0]),
                                         min_size=n, max_size=n)))
    w = np.array(data.draw(st.lists(st.sampled_from([0.5, 1.0, 3.0]), min_size=n,
                                    max_size=n)))
    if y.min() == y.max():
        with pytest.raises(ValueError, match=r"y_true has (only|no sample of)"):
            M.roc_auc_score(y, scores)
        return
    np.testing.assert_allclose(M.roc_auc_score(y, scores, sample_weight=w),
                               skm.roc_auc_score(y, scores, sample_weight=w), rtol=1e-12)
    np.testing.assert_allclose(M.average_precision_score(y, scores, sample_weight=w),
                               skm.average_precision_score(y, scores, sample_weight=w),
                               rtol=1e-12)
    # AUC is symmetric: reversing the scores ranks the negatives first
    np.testing.assert_allclose(M.roc_auc_score(y, -scores, sample_weight=w),
                               1.0 - M.roc_auc_score(y, scores, sample_weight=w), rtol=1e-12,
                               atol=1e-15)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_regression_metrics_match_scikit_learn(data):
    n = data.draw(st.integers(2, 30))
    floats = st.floats(-1e3, 1e3, allow_nan=False)
    t = np.array(data.draw(st.lists(floats, min_size=n, max_size=n)))
    p = np.array(data.draw(st.lists(floats, min_size=n, max_size=n)))
    w = np.array(data.draw(st.lists(st.floats(0.1, 10), min_size=n, max_size=n)))
    for name in ("root_mean_squared_error", "mean_absolute_error", "r2_score"):
        ours = getattr(M, name)(t, p, sample_weight=w)
        theirs = getattr(skm, name)(t, p, sample_weight=w)
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9)
    assert float(M.max_error(t, p)) == skm.max_error(t, p)


# --------------------------------------------------------------------------------- errors


def _bad_option_cases():
    for fn in ALL_METRICS:
        for option, constraint in constraints_of(fn).items():
            for value in constraint.invalid:
                yield pytest.param(fn, option, value, id=f"{fn.__name__}-{option}-{value!r}")


@pytest.mark.parametrize(("fn", "option", "value"), list(_bad_option_cases()))
def test_every_declared_option_rejects_bad_values(fn, option, value):
    with pytest.raises((ValueError, TypeError)) as info:
        fn([1], [0.5], **{option: value})
    message = str(info.value)
    assert message.startswith(f"{fn.__name__}: {option} must be "), message


def test_every_metric_has_declared_check_values():
    for fn in ALL_METRICS:
        assert "check_values" in constraints_of(fn), fn.__name__


P3 = [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]


@pytest.mark.parametrize(("call", "message"), [
    (lambda: M.accuracy_score([0, 1, 1], [0.2, 0.9]),
     r"accuracy_score: y_true has shape \(3,\) but y_pred has shape \(2,\)\. Pass y_pred"),
    (lambda: M.accuracy_score([0, 3], P3),
     r"accuracy_score: y_true has values outside \[0, 3\) \(3 at index 1"),
    (lambda: M.accuracy_score([0, 1], [0.2, 1.5]),
     r"accuracy_score: y_pred has values outside \[0, 1\] .*logits with from_logits=True"),
    (lambda: M.accuracy_score([0, 1], [0.2, math.nan], from_logits=True),
     r"accuracy_score: y_pred has NaN"),
    (lambda: M.accuracy_score([0.5, 1], [0.2, 0.9]),
     r"accuracy_score: y_true has a non-integer label 0.5 at index 0"),
    (lambda: M.accuracy_score([0, 1], [[0.2], [0.9]]),
     r"accuracy_score: y_pred has 1 class score\(s\) per sample"),
    (lambda: M.accuracy_score([0, 1], [0, 1], n_classes=1),
     r"accuracy_score: n_classes is 1\. Pass the number of classes"),
    (lambda: M.accuracy_score([0, 1], [0.2, 0.9], n_classes=3),
     r"accuracy_score: n_classes is 3 but y_pred holds one score per sample"),
    (lambda: M.accuracy_score([0, 1], P3, n_classes=4),
     r"accuracy_score: n_classes is 4 but y_pred has 3 class scores"),
    (lambda: M.accuracy_score([0, 1], [0, 4], n_classes=3),
     r"accuracy_score: y_pred has values outside \[0, 2\] \(4 at index 1"),
    (lambda: M.accuracy_score([0, 1], [0.2, 0.9], sample_weight=[1.0, -1.0]),
     r"accuracy_score: sample_weight has values outside \[0, inf\)"),
    (lambda: M.accuracy_score([0, 1], [0.2, 0.9], sample_weight=[1.0, 1.0, 1.0]),
     r"accuracy_score: sample_weight has shape \(3,\) but \(2,\) is needed"),
    (lambda: M.accuracy_score([0, 1], [0.2, 0.9], sample_weight=[0.0, 0.0]),
     r"accuracy_score: sample_weight is all zero"),
    (lambda: M.accuracy_score([], []), r"accuracy_score: y_pred is empty"),
    (lambda: M.accuracy_score([0, 1], ["a", "b"]),
     r"accuracy_score: y_pred holds strings.*Labels are strings: encode them as integers"),
    (lambda: M.accuracy_score([0, 1], object()), r"accuracy_score: y_pred has unsupported"),
    (lambda: M.f1_score([0, 1, 2], [0, 1, 2]),
     r"f1_score: average is 'binary' but y_pred has 3 classes\. Pass average='macro'"),
    (lambda: M.precision_score([0, 2], P3),
     r"precision_score: average is 'binary' but y_pred has 3 classes"),
    (lambda: M.top_k_accuracy_score([0, 1], [0.2, 0.5]),
     r"top_k_accuracy_score: y_pred has shape \(2,\) but y_true has shape \(2,\)\. Pass one "),
    (lambda: M.top_k_accuracy_score([0, 1], P3, k=0), r"top_k_accuracy_score: k is 0"),
    (lambda: M.brier_score_loss([0, 2], [0.2, 0.9]),
     r"brier_score_loss: y_true has values outside \[0, 2\) \(2 at index 1"),
    (lambda: M.brier_score_loss([0, 1], [[0.5, 0.6, 0.1], [0.2, 0.2, 0.6]]),
     r"brier_score_loss: y_pred rows do not sum to 1"),
    (lambda: M.expected_calibration_error([0, 1], [0.2, 0.9], n_bins=0),
     r"expected_calibration_error: n_bins is 0\. Pass at least one bin"),
    (lambda: M.roc_auc_score([1, 1, 1], [0.2, 0.3, 0.9]),
     r"roc_auc_score: y_true has only class 1 \(with positive weight\), so the score is "
     r"undefined\. Evaluate on data holding both classes"),
    (lambda: M.roc_auc_score([0, 0], [0.2, 0.3]),
     r"roc_auc_score: y_true has no sample of class 1"),
    (lambda: M.roc_auc_score([0, 1, 1], [[0.2, 0.5, 0.3]] * 3),
     r"roc_auc_score: y_true has no sample of class 2"),
    (lambda: M.roc_auc_score([0, 1], [0.2, math.nan]), r"roc_auc_score: y_pred has NaN"),
    (lambda: M.average_precision_score([0, 0], [0.2, 0.3]),
     r"average_precision_score: y_true has no sample of class 1"),
    (lambda: M.average_precision_score([0, 2], [0.2, 0.3]),
     r"average_precision_score: y_true has values outside \[0, 2\) \(2 at"),
    (lambda: M.root_mean_squared_error(np.zeros((3, 1)), np.zeros(3)),
     r"root_mean_squared_error: y_true has shape \(3, 1\) but y_pred has shape \(3,\)"),
    (lambda: M.mean_absolute_error(np.zeros((2, 2, 2)), np.zeros((2, 2, 2))),
     r"mean_absolute_error: y_pred has 3 dimensions"),
    (lambda: M.r2_score([1.0, math.inf], [1.0, 2.0]),
     r"r2_score: y_true has NaN or infinite values"),
    (lambda: M.r2_score([1.0], [1.0]), r"r2_score: y_true has fewer than two samples"),
    (lambda: M.r2_score([1.0, 2.0], [1.0, 2.0], sample_weight=[1.0, 0.0]),
     r"r2_score: y_true has fewer than two samples"),
    (lambda: M.max_error([1.0, 2.0], [1.0, 2.0], sample_weight=[0.0, 0.0]),
     r"max_error: sample_weight is all zero"),
])
def test_bad_input_gets_a_clear_error(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_errors_follow_the_template():
    with pytest.raises(ValueError) as info:
        M.roc_auc_score([1, 1], [0.2, 0.7])
    function, rest = str(info.value).split(": ", 1)
    assert function == "roc_auc_score"
    assert rest.startswith("y_true ") and ". " in rest


@pytest.mark.parametrize("call", [
    lambda: M.accuracy_score([0, 1], [0.2, 0.9], sample_weight=[0.0, 0.0], check_values=False),
    lambda: M.f1_score([0, 1], [0.2, 0.9], average="macro", sample_weight=[0.0, 0.0],
                       check_values=False),
    lambda: M.max_error([1.0, 2.0], [1.0, 2.0], sample_weight=[0.0, 0.0], check_values=False),
    lambda: M.r2_score([1.0], [2.0], check_values=False),
    lambda: M.roc_auc_score([1, 1], [0.2, 0.7], check_values=False),
    lambda: M.average_precision_score([0, 0], [0.2, 0.7], check_values=False),
])
def test_undefined_metrics_are_nan_only_when_checks_are_off(call):
    assert np.isnan(call())


def test_every_metric_runs_inside_jax_jit_with_checks_off(rng):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    cases, w = _backend_cases(rng)
    for fn, y, pred, options in cases:
        if fn is M.accuracy_score and "n_classes" in options:
            continue  # labels without class scores: n_classes given, still jit-able below
        jitted = jax.jit(lambda y, p, w, fn=fn, options=options: fn(
            y, p, sample_weight=w, check_values=False, **options))
        out = jitted(jax.numpy.asarray(y), jax.numpy.asarray(pred), jax.numpy.asarray(w))
        np.testing.assert_allclose(np.asarray(out), fn(y, pred, sample_weight=w, **options),
                                   rtol=1e-12, err_msg=fn.__name__)


def test_extra_sample_axes_are_flattened(rng):
    # sequences: labels (n, T), class scores (n, T, C), one weight per position
    y = rng.integers(0, C, (5, 7))
    z = rng.normal(size=(5, 7, C))
    w = rng.uniform(0, 1, (5, 7))
    flat = (y.reshape(-1), z.reshape(-1, C), w.reshape(-1))
    for fn, options in ((M.accuracy_score, {}), (M.f1_score, {"average": "macro"}),
                        (M.top_k_accuracy_score, {"k": 2}), (M.roc_auc_score, {}),
                        (M.expected_calibration_error, {"from_logits": True}),
                        (M.brier_score_loss, {"from_logits": True})):
        np.testing.assert_allclose(fn(y, z, sample_weight=w, **options),
                                   fn(flat[0], flat[1], sample_weight=flat[2], **options),
                                   rtol=1e-14, err_msg=fn.__name__)
