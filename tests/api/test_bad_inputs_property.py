"""Hostile inputs to every public loss and metric, on NumPy, PyTorch and JAX (hypothesis).

Each example takes a valid call of one function, breaks one thing (NaN or ±inf in an array, a
target outside the domain, huge, tiny, negative or mis-shaped weights, a ragged list, strings,
an empty array, a ``meta`` tensor, a pandas object), and calls the function on one backend.
The only outcomes allowed:

- a ``ValueError``/``TypeError`` from losskit whose message starts with the function's name
  and names the argument at fault (``"<function>: <argument> ..."``), or
- a value equal to a float64 reference: the same call on float64 NumPy copies of the input,
  with the weights divided by their largest value (the same relative weights) and the result
  scaled back for ``reduction="sum"``/``"none"``.

Anything else — another exception, NaN, a value that differs from the reference — fails.
``derandomize=True`` makes every run try the same examples (``EXAMPLES_TRIED`` counts them).
"""

from __future__ import annotations

import inspect
import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import losskit as lk
import losskit.metrics as M

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)  # as the backend fixture does; no-x64 is tested apart
jnp = pytest.importorskip("jax.numpy")
pd = pytest.importorskip("pandas")

EXAMPLES = 5  # per (function, backend), each trying every mutation: ~15,000 calls in all
EXAMPLES_TRIED = {"count": 0}

# ------------------------------------------------------------------------------ valid calls

_LABELS = np.array([0, 2, 1, 0])
_ROWS = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3], [0.5, 0.25, 0.25]])
_ONE_HOT = np.eye(3)[_LABELS]
_Y01 = np.array([0.0, 1.0, 1.0, 0.0])
_P01 = np.array([0.2, 0.7, 0.6, 0.4])
_Y = np.array([1.0, 2.0, 3.0, 4.0])
_P = np.array([1.5, 2.5, 2.0, 5.0])
_SCORES = np.array([0.5, -0.3, 1.5, -2.0])
_LAT_LON = np.array([[51.5, -0.1], [-33.9, 151.2], [64.1, -21.9], [-17.5, -149.6]])
_SIGNS = np.array([1.0, -1.0, -1.0, 1.0])
_MIXTURE = np.array([[0.0, 0.4, 0.1], [0.0, 1.8, -0.2], [0.0, 3.5, 0.3], [0.0, 3.0, 0.0]])

#: name -> (kind of y_true, y_true, y_pred, options); kinds: "labels" (integers indexing
#: y_pred's classes), "binary" (0/1), "rows" (probability rows), "real"
_BASES = {
    "binary_cross_entropy": ("binary", _Y01, _P01, {}),
    "binary_focal_loss": ("binary", _Y01, _P01, {}),
    "categorical_cross_entropy": ("rows", _ONE_HOT, _ROWS, {}),
    "categorical_focal_loss": ("rows", _ONE_HOT, _ROWS, {}),
    "kl_divergence": ("rows", _ROWS[::-1].copy(), _ROWS, {}),
    "categorical_hinge_loss": ("rows", _ONE_HOT, _ROWS, {}),
    "entropy": ("rows", None, _ROWS, {}),
    "sparse_categorical_cross_entropy": ("labels", _LABELS, _ROWS, {}),
    "perplexity": ("labels", _LABELS, _ROWS, {}),
    "hinge_loss": ("binary", _Y01, _SCORES, {}),
    "squared_hinge_loss": ("binary", _Y01, _SCORES, {}),
    "gaussian_mixture_nll": ("real", _Y, _MIXTURE, {}),
    "student_t_nll": ("real", _Y, _P, {"df": 3.0}),
    # margins that give every sample a positive loss (a zero loss at a huge weight leaves only
    # the tiny weights, whose rounding the reference does not model)
    "margin_ranking_loss": ("binary", _SIGNS, np.stack([_SCORES, _P01], axis=-1),
                            {"margin": 5.0}),
    "hinge_embedding_loss": ("binary", _SIGNS, _P, {"margin": 10.0}),
    "soft_margin_loss": ("binary", _SIGNS, _SCORES, {}),
    "cosine_embedding_loss": ("binary", _SIGNS, np.stack([_ROWS, _ROWS[::-1]], axis=-2), {}),
    "triplet_margin_loss": ("real", None, np.stack([_ROWS, _ROWS[::-1], _ONE_HOT], axis=-2),
                            {"margin": 5.0}),
    "triplet_margin_with_distance_loss": ("real", None,
                                          np.stack([_ROWS, _ROWS[::-1], _ONE_HOT], axis=-2),
                                          {"margin": 5.0, "distance_function": "cosine"}),
    "cosine_similarity_loss": ("real", _MIXTURE + 1.0, _ROWS, {}),
    "ranking_softmax_loss": ("real", _ROWS * 3, _MIXTURE, {}),  # lists of 3 items
    "pairwise_logistic_loss": ("real", _ROWS * 3, _MIXTURE, {}),
    "pairwise_hinge_loss": ("real", _ROWS * 3, _MIXTURE, {"margin": 10.0}),
    "perceptron_loss": ("binary", _SIGNS, -_SCORES * _SIGNS, {}),
    "multiclass_perceptron_loss": ("labels", _LABELS, _ROWS[:, ::-1].copy(), {}),
    "sparsemax_loss": ("binary", _Y01, _SCORES, {}),
    "multiclass_sparsemax_loss": ("labels", _LABELS, _ROWS, {}),
    "poly_loss_cross_entropy": ("real", _ONE_HOT, _SCORES[:, None] * _ROWS, {}),  # logits
    "generalized_kl_divergence": ("real", _ROWS * 3, _MIXTURE, {}),
    "linear_cross_entropy": ("labels", _LABELS, _ROWS, {"weight": np.eye(3)[[0, 1, 2, 0]]}),
    "dice_loss": ("binary", _ONE_HOT, _ROWS, {}),
    "tversky_loss": ("binary", _ONE_HOT, _ROWS, {"alpha": 0.3, "beta": 0.7}),
    "multi_margin_loss": ("labels", _LABELS, _ROWS, {}),
    "multilabel_margin_loss": ("labels", np.array([[0, 2, -1], [1, -1, 0], [2, 0, 1],
                                                   [-1, 0, 0]]), _ROWS, {}),
    # 4 sequences of 4 frames over 3 classes (blank 0), probabilities exact in float32
    "ctc_loss": ("labels", np.array([[1, 2], [2, 1], [1, -1], [2, 2]]),
                 np.tile(np.array([[0.5, 0.25, 0.25], [0.25, 0.5, 0.25], [0.25, 0.25, 0.5],
                                   [0.125, 0.375, 0.5]]), (4, 1, 1)), {"from_logits": False}),
    "accuracy_score": ("labels", _Y01.astype(int), _P01, {}),
    "balanced_accuracy_score": ("labels", _Y01.astype(int), _P01, {}),
    "f1_score": ("labels", _Y01.astype(int), _P01, {}),
    "precision_score": ("labels", _Y01.astype(int), _P01, {}),
    "recall_score": ("labels", _Y01.astype(int), _P01, {}),
    "top_k_accuracy_score": ("labels", _LABELS, _ROWS, {}),
    "roc_auc_score": ("labels", _Y01.astype(int), _P01, {}),
    "average_precision_score": ("labels", _Y01.astype(int), _P01, {}),
    "brier_score_loss": ("binary", _Y01, _P01, {}),
    "expected_calibration_error": ("binary", _Y01, _P01, {}),
    "great_circle_distance": ("real", _LAT_LON, _LAT_LON[::-1].copy(), {}),
}
#: a function not in the table (a new one) gets the first of these its clean call accepts
_CANDIDATES = [
    ("real", _Y, _P, {}),
    ("labels", _LABELS, _ROWS, {}),
    ("rows", _ONE_HOT, _ROWS, {}),
    ("binary", _Y01, _P01, {}),
    ("real", _Y, np.stack([_P, np.zeros(4)], axis=-1), {}),
]


def _public_functions():
    losses = [getattr(lk.losses, n) for n in lk.losses.__all__
              if n not in ("gradient", "value_and_gradient")]
    metrics = [getattr(M, n) for n in M.__all__]
    return [(f"{'metrics.' if fn in metrics else ''}{fn.__name__}", fn)
            for fn in losses + metrics]


def _call(fn, y, p, **options):
    if fn is lk.entropy:
        return fn(p, **options)
    return fn(y, p, **options)


def _base(fn):
    if fn.__name__ in _BASES:
        return _BASES[fn.__name__]
    for kind, y, p, options in _CANDIDATES:
        try:
            value = np.asarray(_call(fn, y, p, **options), dtype=float)
        except (ValueError, TypeError):
            continue
        if np.all(np.isfinite(value)):
            return kind, y, p, options
    raise AssertionError(f"no valid call found for {fn.__name__}: add it to _BASES")


FUNCTIONS = _public_functions()


@pytest.fixture(scope="module", autouse=True)
def _report_count():
    """Print how many inputs the module tried (``pytest -s`` shows it)."""
    yield
    print(f"\nbad-input property test: {EXAMPLES_TRIED['count']} inputs tried")


def test_every_public_function_has_a_valid_call():
    for _, fn in FUNCTIONS:
        _, y, p, options = _base(fn)
        value = np.asarray(_call(fn, y, p, **options), dtype=float)
        assert np.all(np.isfinite(value)), fn.__name__


# ------------------------------------------------------------------------------ backends

def _to_backend(backend, a, dtype):
    a = np.asarray(a)
    if a.dtype.kind == "f":
        a = a.astype(dtype)
    if backend == "torch":
        return torch.from_numpy(np.ascontiguousarray(a))
    if backend == "jax":
        return jnp.asarray(a)
    return a


def _meta(a):
    return torch.empty(np.asarray(a).shape, device="meta")


def _host(x):
    if hasattr(x, "detach"):
        x = x.detach().cpu()
    return np.asarray(x, dtype=np.float64)


# ------------------------------------------------------------------------------ bad inputs

MUTATIONS = [
    "nan_pred", "inf_pred", "neg_inf_pred", "nan_true", "inf_true", "neg_inf_true",
    "huge_true", "outside_domain_true", "label_too_large", "label_negative", "label_huge",
    "nan_weight", "inf_weight", "negative_weight", "zero_weights", "huge_weights",
    "tiny_weights", "mixed_scale_weights", "short_true", "short_weight", "extra_axis_true",
    "ragged_true", "ragged_pred", "string_true", "string_pred", "empty", "meta_pred",
    "meta_true", "meta_weight", "pandas_true", "pandas_pred",
]
#: mutations of a valid input: the function must return the reference value
_VALID = {"huge_weights", "tiny_weights", "mixed_scale_weights", "pandas_true", "pandas_pred"}


def _blame(mutation: str, pred_name: str) -> set[str]:
    """The arguments an error for ``mutation`` may name."""
    if "weight" in mutation:
        return {"sample_weight"}
    if mutation in ("short_true", "extra_axis_true", "empty"):
        return {"y_true", "y_pred", pred_name}
    if mutation.endswith("_pred"):
        return {pred_name}
    return {"y_true"}


def _weights(dtype, mutation, index):
    n = 4
    big, small = (3e38, 1e-45) if dtype == np.float32 else (1e308, 5e-324)
    w = np.array([1.0, 2.0, 0.5, 1.5])
    if mutation == "nan_weight":
        w[index] = math.nan
    elif mutation == "inf_weight":
        w[index] = math.inf
    elif mutation == "negative_weight":
        w[index] = -1.0
    elif mutation == "zero_weights":
        w[:] = 0.0
    elif mutation == "huge_weights":
        w[:] = big
        w[index] = big / 3
    elif mutation == "tiny_weights":
        w = small * np.roll([1.0, 2.0, 3.0, 1.0], index)
    elif mutation == "mixed_scale_weights":
        w[:] = [big, small, 1.0, big / 7][:n]
        w = np.roll(w, index)
    elif mutation == "short_weight":
        w = w[:-1]
    return w


def _mutations(fn, backend):
    kind, y, p, _ = _base(fn)
    return [m for m in MUTATIONS
            if not (m.startswith("meta") and backend != "torch")
            and not (m == "pandas_pred" and np.ndim(p) > 2)  # no 3-D pandas object
            and not (y is None and ("true" in m or m.startswith("label")))
            and not (m.startswith("label") and kind != "labels")
            and not (m == "outside_domain_true" and kind == "labels")]


@st.composite
def _cases(draw, fn, backend):
    """One example: every mutation that applies to ``fn``, each with drawn options, dtype and
    position (so every kind of bad input is tried on every function and backend)."""
    cases = []
    for mutation in _mutations(fn, backend):
        kind, y, p, options = _base(fn)
        y = None if y is None else np.array(y)
        p = np.array(p, dtype=np.float64)
        parameters = inspect.signature(fn).parameters
        options = dict(options)
        if "from_logits" in parameters and draw(st.booleans()):
            options["from_logits"] = True
            p = np.log(p) if p.ndim == 2 else np.log(p) - np.log1p(-p)
        if "reduction" in parameters:
            options["reduction"] = draw(st.sampled_from(["mean", "sum", "none"]))
        dtype = draw(st.sampled_from([np.float64, np.float32]))
        index = draw(st.integers(0, 3))
        cases.append((kind, y, p, options, mutation, dtype, index))
    return cases


def _apply(backend, kind, y, p, mutation, dtype, index, pred_name):
    """``(y_true, y_pred, sample_weight, host copies for the reference)`` after the mutation."""
    w = _weights(dtype, mutation, index)
    y = None if y is None else y.copy()
    p = p.copy()
    if mutation in ("nan_pred", "inf_pred", "neg_inf_pred"):
        p[(index,) + (0,) * (p.ndim - 1)] = {"nan_pred": math.nan, "inf_pred": math.inf,
                                             "neg_inf_pred": -math.inf}[mutation]
    if y is not None:
        if y.dtype.kind in "iu" and mutation in ("nan_true", "inf_true", "neg_inf_true",
                                                "huge_true", "outside_domain_true"):
            y = y.astype(np.float64)
        spot = (index,) + (0,) * (y.ndim - 1)
        if mutation in ("nan_true", "inf_true", "neg_inf_true"):
            y[spot] = {"nan_true": math.nan, "inf_true": math.inf,
                       "neg_inf_true": -math.inf}[mutation]
        elif mutation == "huge_true":
            y[spot] = 1e18 if dtype == np.float32 else 1e150
        elif mutation == "outside_domain_true":
            y[spot] = -1.5 if kind != "real" else -3.0
        elif mutation == "label_too_large":
            y[index] = p.shape[-1] if p.ndim == 2 else 2
        elif mutation == "label_negative":
            y[index] = -1
        elif mutation == "label_huge":
            y[index] = 2**32
        elif mutation == "short_true":
            y = y[:-1]
        elif mutation == "extra_axis_true":
            y = y[:, None]
    host = (y, p, w)
    to = _to_backend
    y_b = None if y is None else to(backend, y, dtype)
    p_b = to(backend, p, dtype)
    w_b = to(backend, w, dtype)
    if mutation == "ragged_true":
        y_b = [[1.0, 0.0], [0.0]]
    elif mutation == "ragged_pred":
        p_b = [[0.5, 0.5], [1.0]]
    elif mutation == "string_true":
        y_b = np.array(["cat", "dog", "dog", "cat"])
    elif mutation == "string_pred":
        p_b = ["cat", "dog", "dog", "cat"]
    elif mutation == "empty":
        y_b = None if y is None else to(backend, y[:0], dtype)
        p_b = to(backend, p[:0], dtype)
        w_b = to(backend, w[:0], dtype)
    elif mutation == "meta_pred":
        p_b = _meta(p)
    elif mutation == "meta_true":
        y_b = _meta(y)
    elif mutation == "meta_weight":
        w_b = _meta(w)
    elif mutation.startswith("pandas"):
        # pandas holds NumPy data: the other arrays are NumPy too (y_pred decides the library)
        y_b = None if y is None else to("numpy", y, dtype)
        p_b, w_b = to("numpy", p, dtype), to("numpy", w, dtype)
        if mutation == "pandas_true":
            y_b = pd.Series(y_b) if y.ndim == 1 else pd.DataFrame(y_b)
        else:
            p_b = pd.Series(p_b) if p.ndim == 1 else pd.DataFrame(p_b)
    return y_b, p_b, w_b, host


def _reference(fn, backend, kind, host, options, dtype):
    """The same call on float64 NumPy, weights divided by their largest (scaled back)."""
    y, p, w = host
    y = None if y is None else (y.astype(np.float64) if y.dtype.kind == "f" else y)
    p = p.astype(dtype).astype(np.float64)
    w = w.astype(dtype).astype(np.float64)
    if backend == "jax":
        # XLA flushes subnormal numbers to zero: JAX holds such a weight as 0
        w = np.where(np.abs(w) < np.finfo(dtype).smallest_normal, 0.0, w)
    raw, scale = w, 1.0
    if w.size and np.all(np.isfinite(w)) and np.all(w >= 0) and w.max() > 0:
        scale = w.max()
        tiny = np.finfo(np.float64).smallest_normal
        w = np.where((w > 0) & (w / scale < tiny), tiny, w / scale)
    if y is not None and y.dtype.kind == "f":
        y = y.astype(dtype).astype(np.float64)
    if dtype == np.float32 and kind in ("rows", "labels"):
        # float32 rows summing to 1 within float32's tolerance, as float64 rows
        with np.errstate(all="ignore"):
            if p.ndim == 2 and not options.get("from_logits") and np.all(np.isfinite(p)):
                p = p / p.sum(axis=-1, keepdims=True)
            if kind == "rows" and y is not None and y.ndim == 2 and np.all(np.isfinite(y)):
                y = y / y.sum(axis=-1, keepdims=True)
    if options.get("reduction") == "none" and scale != 1.0:
        # w_i l_i: the unweighted per-sample losses times the weights as given
        per_sample = _host(_call(fn, y, p, **options))
        with np.errstate(over="ignore", invalid="ignore"):
            return np.where(raw == 0, 0.0, per_sample * raw)
    value = _host(_call(fn, y, p, sample_weight=w, **options))
    if options.get("reduction") == "sum":
        with np.errstate(over="ignore"):
            value = value * scale
    return value


def _check(fn, backend, case):
    kind, y, p, options, mutation, dtype, index = case
    EXAMPLES_TRIED["count"] += 1
    pred_name = "p" if fn is lk.entropy else "y_pred"
    y_b, p_b, w_b, host = _apply(backend, kind, y, p, mutation, dtype, index, pred_name)
    name = fn.__name__
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = _call(fn, y_b, p_b, sample_weight=w_b, **options)
    except (ValueError, TypeError) as error:
        message = str(error)
        assert message.startswith(f"{name}: "), message
        argument = message[len(name) + 2:].split(" ")[0]
        allowed = _blame(mutation, pred_name)
        # the weights of some functions multiply per-class or per-label weights: fine to name
        assert argument in allowed, (mutation, message)
        if mutation in _VALID:
            # a valid input may only be refused where the library itself loses the value:
            # XLA (JAX) flushes subnormal weights to zero
            assert backend == "jax" and mutation in ("tiny_weights", "mixed_scale_weights"), \
                (mutation, message)
        return
    got = _host(value)
    assert not np.any(np.isnan(got)), (mutation, got)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            expected = _reference(fn, backend, kind, host, options, dtype)
        except (ValueError, TypeError) as error:
            raise AssertionError(f"{backend} returned {got} for {mutation} where float64 NumPy "
                                 f"says: {error}") from None
    out = np.float32 if dtype == np.float32 and _result_is_float32(value) else np.float64
    with np.errstate(over="ignore"):
        expected = expected.astype(out)
    rtol, atol = (2e-4, 1e-5) if out == np.float32 else (1e-9, 1e-12)
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol,
                               err_msg=f"{name} {backend} {mutation} {options}")


def _result_is_float32(value) -> bool:
    return "float32" in str(getattr(value, "dtype", ""))


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
@pytest.mark.parametrize(("name", "fn"), FUNCTIONS, ids=[n for n, _ in FUNCTIONS])
def test_bad_inputs_get_an_error_or_the_reference_value(name, fn, backend):
    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(cases=_cases(fn, backend))
    def run(cases):
        for case in cases:
            _check(fn, backend, case)

    run()

