"""Families: lookup, numbers of outputs, every backend, low precision, jax.jit, bad inputs with
the project's error template, and hypothesis properties."""

from __future__ import annotations

import math
import re
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from test_families import CASES, NAMES, case

import losskit as lk
from conftest import Backend
from losskit.families import (
    Bernoulli,
    Categorical,
    Family,
    Gamma,
    Gaussian,
    GaussianMixture,
    HeteroscedasticGaussian,
    Laplace,
    MultiLabel,
    NegativeBinomial,
    Poisson,
    StudentT,
)

TEMPLATE = re.compile(r"^[A-Za-z_]+(\.[a-z_]+)?: \S+ .+\. .+")

# ----------------------------------------------------------------------------------- lookup


@pytest.mark.parametrize(("name", "cls"), [
    ("bernoulli", Bernoulli), ("Bernoulli", Bernoulli), ("BERNOULLI", Bernoulli),
    ("gaussian", Gaussian), ("laplace", Laplace), ("poisson", Poisson), ("gamma", Gamma),
    ("categorical", Categorical), ("multilabel", MultiLabel), ("multi_label", MultiLabel),
    ("MultiLabel", MultiLabel), ("heteroscedastic_gaussian", HeteroscedasticGaussian),
    ("HeteroscedasticGaussian", HeteroscedasticGaussian),
    ("negative_binomial", NegativeBinomial), ("NegativeBinomial", NegativeBinomial),
    ("negative-binomial", NegativeBinomial),
])
def test_family_lookup_is_case_insensitive(name, cls):
    assert type(lk.family(name)) is cls


def test_family_lookup_passes_parameters():
    assert lk.family("student_t", df=4) == StudentT(df=4)
    assert lk.family("Student-T", df=4, scale=2.0) == StudentT(df=4.0, scale=2.0)
    assert lk.family("gaussian_mixture", k=3) == GaussianMixture(3)
    assert lk.family("GaussianMixture", k=2).n_outputs() == 6
    assert lk.family("gaussian", scale=2.0).scale == 2.0
    fam = Poisson()
    assert lk.family(fam) is fam


def test_every_registered_family_is_exported_and_found_by_its_name():
    registered = lk.families.registered_families()
    assert len(registered) == 13
    for name, cls in registered.items():
        assert getattr(lk.families, cls.__name__) is cls
        assert cls.__name__ in lk.families.__all__
        if name not in ("student_t", "gaussian_mixture"):
            assert type(lk.family(name)) is cls


def test_unknown_family_lists_the_names():
    with pytest.raises(ValueError, match="not a known family") as info:
        lk.family("normalish")
    message = str(info.value)
    assert TEMPLATE.match(message)
    for name in lk.families.registered_families():
        assert repr(name) in message


@pytest.mark.parametrize(("args", "params", "match"), [
    (("student_t",), {}, "df is missing"),
    (("gaussian_mixture",), {}, "k is missing"),
    (("gaussian",), {"sigma": 1.0}, "sigma is not a parameter of Gaussian"),
    ((3,), {}, "name has type int"),
    ((Poisson(),), {"full": False}, "with a family object"),
])
def test_family_lookup_errors(args, params, match):
    with pytest.raises(TypeError, match=match) as info:
        lk.family(*args, **params)
    assert TEMPLATE.match(str(info.value))


# ------------------------------------------------------------------------- outputs, objects


def test_numbers_of_raw_outputs():
    assert Gaussian().n_outputs() == 1
    assert HeteroscedasticGaussian().n_outputs() == 2
    assert GaussianMixture(4).n_outputs() == 12
    assert Categorical().n_outputs(n_classes=7) == 7
    assert MultiLabel().n_outputs(n_classes=3) == 3
    assert Poisson().n_outputs() == Bernoulli().n_outputs() == 1


@pytest.mark.parametrize(("fam", "kwargs", "error", "match"), [
    (Categorical(), {}, TypeError, "n_classes is missing"),
    (Categorical(), {"n_classes": 1}, ValueError, "n_classes is 1"),
    (Categorical(), {"n_classes": 2.5}, TypeError, "must be an integer"),
    (MultiLabel(), {"n_classes": 0}, ValueError, "n_classes is 0"),
    (Gaussian(), {"n_classes": 3}, ValueError, "has no classes"),
])
def test_n_outputs_errors(fam, kwargs, error, match):
    with pytest.raises(error, match=match) as info:
        fam.n_outputs(**kwargs)
    assert TEMPLATE.match(str(info.value))


def test_families_are_immutable_values():
    fam = Gaussian(scale=2.0)
    with pytest.raises(AttributeError, match="immutable"):
        fam.scale = 3.0
    assert fam == Gaussian(scale=2) and fam != Gaussian() and fam != Laplace(scale=2.0)
    assert len({Gaussian(), Gaussian(), Poisson()}) == 2
    assert repr(StudentT(df=3)) == "StudentT(df=3.0)"
    assert repr(StudentT(df=3, scale=2)) == "StudentT(df=3.0, scale=2.0)"
    assert repr(Bernoulli()) == "Bernoulli()" and repr(Bernoulli(soft=True)) == \
        "Bernoulli(soft=True)"
    assert repr(GaussianMixture(2)) == "GaussianMixture(k=2)"
    assert repr(Gaussian(full=False)) == "Gaussian(full=False)"


def test_every_family_states_its_pairing():
    for cls in lk.families.registered_families().values():
        fam = cls(**({"df": 3} if cls is StudentT else {"k": 2} if cls is GaussianMixture
                     else {}))
        assert fam.domain and fam.activation_name and fam.link_name
        assert fam.default_metrics and all(hasattr(lk.metrics, m) for m in fam.default_metrics)
        assert len(fam.activation_name.split(",")) == len(fam.link_name.split(","))
        assert isinstance(fam, Family)


@pytest.mark.parametrize(("make", "error", "match"), [
    (lambda: Gaussian(scale=0.0), ValueError, "scale must be a number in"),
    (lambda: Gaussian(scale=-1.0), ValueError, "scale must be"),
    (lambda: Gaussian(scale="1"), TypeError, "scale must be"),
    (lambda: Gaussian(full="yes"), TypeError, "full must be True or False"),
    (lambda: Laplace(scale=math.inf), ValueError, "scale must be"),
    (lambda: StudentT(df=0.0), ValueError, "df must be"),
    (lambda: StudentT(df=math.nan), ValueError, "df must be"),
    (lambda: Gamma(shape=-2.0), ValueError, "shape must be"),
    (lambda: Poisson(full=1), TypeError, "full must be"),
    (lambda: Bernoulli(soft="yes"), TypeError, "soft must be True or False"),
    (lambda: GaussianMixture(0), ValueError, "k is 0"),
    (lambda: GaussianMixture(1.5), TypeError, "k must be an integer"),
])
def test_bad_family_parameters(make, error, match):
    with pytest.raises(error, match=match) as info:
        make()
    assert TEMPLATE.match(str(info.value))


# ---------------------------------------------------------------------------- domain errors

BAD_TARGETS = [
    (Poisson(), [-1.0, 2.0], [0.0, 0.0], "value below 0 (-1 at index 0"),
    (Poisson(), [0.0, 2.5], [0.0, 0.0], "not an integer (2.5 at index 1"),
    (Poisson(), [0.0, math.nan], [0.0, 0.0], "not an integer"),
    (NegativeBinomial(), [-2.0, 2.0], [[0.0, 0.0]] * 2, "value below 0 (-2 at index 0"),
    (NegativeBinomial(), [0.0, 0.5], [[0.0, 0.0]] * 2, "not an integer (0.5 at index 1"),
    (Gamma(), [1.0, 0.0], [0.0, 0.0], "not a positive number (0 at index 1"),
    (Gamma(), [-3.0, 1.0], [0.0, 0.0], "not a positive number"),
    (Bernoulli(), [1.0, 0.5], [0.0, 0.0], "not 0 or 1 (0.5 at index 1"),
    (Bernoulli(), [-1, 1], [0.0, 0.0], "not 0 or 1 (-1 at index 0"),
    (MultiLabel(), [[1.0, 2.0]], [[0.0, 0.0]], "not 0 or 1"),
    (Categorical(), [0, 3], [[0.0] * 3] * 2, "outside [0, 3) (3 at index 1"),
    (Categorical(), [0, -1], [[0.0] * 3] * 2, "outside [0, 3)"),
    (Categorical(), [0.0, 1.5], [[0.0] * 3] * 2, "not an integer"),
    (Gaussian(), [0.0, math.nan], [0.0, 0.0], "not finite"),
    (Laplace(), [math.inf, 0.0], [0.0, 0.0], "not finite"),
    (StudentT(df=3), [math.nan], [0.0], "not finite"),
    (HeteroscedasticGaussian(), [math.nan], [[0.0, 0.0]], "not finite"),
    (GaussianMixture(1), [math.inf], [[0.0, 0.0, 0.0]], "not finite"),
]


@pytest.mark.parametrize(("fam", "y", "raw", "match"), BAD_TARGETS)
@pytest.mark.parametrize("method", ["loss", "gradient", "hessian"])
def test_targets_outside_the_domain_are_rejected(fam, y, raw, match, method):
    with pytest.raises(ValueError) as info:
        getattr(fam, method)(y, raw)
    message = str(info.value)
    assert match in message
    assert message.startswith(f"{type(fam).__name__}.{method}: y_true has a value")
    assert TEMPLATE.match(message)
    assert fam.domain in message


@pytest.mark.parametrize(("fam", "y", "raw", "match"), BAD_TARGETS)
def test_check_target_rejects_the_same_values(fam, y, raw, match):
    n_classes = np.shape(raw)[-1] if isinstance(fam, Categorical) else None
    with pytest.raises(ValueError) as info:
        fam.check_target(y, n_classes=n_classes)
    assert match in str(info.value)


def test_check_target_accepts_good_targets():
    Poisson().check_target(np.array([0, 1, 5]))
    Bernoulli().check_target([True, False])
    Categorical().check_target([0, 4])  # no n_classes: only non-negative integers
    Gamma().check_target([0.1, 3.0])


def test_soft_logistic_families_take_probabilities_as_targets(rng):
    y, raw = rng.uniform(size=N_SOFT), rng.normal(size=N_SOFT)
    fam = lk.family("bernoulli", soft=True)
    assert fam.domain == "probabilities in [0, 1]" and Bernoulli().domain == "labels 0 or 1"
    np.testing.assert_allclose(fam.loss(y, raw),
                               lk.binary_cross_entropy(y, raw, from_logits=True), rtol=1e-12)
    np.testing.assert_allclose(fam.gradient(y, raw), fam.predict(raw) - y, rtol=1e-12)
    with pytest.raises(ValueError, match="use soft=True"):
        Bernoulli().loss(y, raw)
    with pytest.raises(ValueError, match=r"outside \[0, 1\] \(1.5 at index 1"):
        fam.gradient([0.5, 1.5], [0.0, 0.0])
    ym = rng.uniform(size=(4, 3))
    np.testing.assert_allclose(MultiLabel(soft=True).gradient(ym, np.zeros((4, 3))), 0.5 - ym)


N_SOFT = 7


def test_check_values_false_skips_the_domain_checks():
    g = Poisson().gradient([-1.0], [0.0], check_values=False)
    assert g.tolist() == [2.0]


@pytest.mark.parametrize(("fam", "y", "raw", "argument", "match"), [
    (Gaussian(), [1.0, 2.0, 3.0], [0.0, 0.0], "y_true", r"has shape \(3,\) but raw"),
    (Gaussian(), [[1.0], [2.0]], [0.0, 0.0], "y_true", r"has shape \(2, 1\)"),
    (Categorical(), [[1, 0], [0, 1]], [[0.0, 0.0], [0.0, 0.0]], "y_true", "argmax"),
    (Categorical(), [0, 1], [0.0, 0.0], "raw", "C >= 2 logits"),
    (MultiLabel(), [1.0, 0.0], [0.0, 0.0], "raw", "one logit per label"),
    (HeteroscedasticGaussian(), [1.0], [[0.0, 0.0, 0.0]], "raw", "needs 2 raw outputs"),
    (HeteroscedasticGaussian(), [1.0, 2.0], [0.0, 0.0], "raw", "needs 2 raw outputs"),
    (NegativeBinomial(), [1.0, 2.0], [0.0, 0.0], "raw", "log-mean, log-dispersion"),
    (GaussianMixture(2), [1.0], [[0.0] * 5], "raw", "needs 6 raw outputs"),
    (GaussianMixture(2), [1.0, 2.0], [[0.0] * 6], "y_true", r"has shape \(2,\)"),
    (Gaussian(), [], [], "raw", "is empty"),
])
@pytest.mark.parametrize("method", ["loss", "gradient", "hessian"])
def test_bad_shapes(fam, y, raw, argument, match, method):
    with pytest.raises(ValueError, match=match) as info:
        getattr(fam, method)(y, raw)
    assert str(info.value).startswith(f"{type(fam).__name__}.{method}: {argument} ")
    assert TEMPLATE.match(str(info.value))


@pytest.mark.parametrize("name", NAMES)
def test_nan_raw_outputs_are_reported(name):
    fam, y, raw, _, _ = case(name)
    raw = raw.copy()
    raw[(1,) * raw.ndim] = math.nan
    for method in ("gradient", "hessian"):
        with pytest.raises(ValueError, match="raw has NaN") as info:
            getattr(fam, method)(y, raw)
        assert TEMPLATE.match(str(info.value))
    for method in ("predict", "activation"):
        with pytest.raises(ValueError, match="raw has NaN"):
            getattr(fam, method)(raw)
    with pytest.raises(ValueError, match="NaN"):
        fam.loss(y, raw)


@pytest.mark.parametrize(("fam", "options", "error", "match"), [
    (Bernoulli(), {"from_logits": False}, TypeError, "from_logits is set by the Bernoulli"),
    (Categorical(), {"axis": 0}, TypeError, "axis is set by the Categorical"),
    (Gaussian(), {"var": 2.0}, TypeError, "var is set by the Gaussian"),
    (Poisson(), {"log_input": False}, TypeError, "log_input is set"),
    (Gaussian(), {"bogus": 1}, TypeError, "bogus is not an option of gaussian_nll"),
    (Gaussian(), {"reduction": "avg"}, ValueError, "reduction must be one of"),
    (Gaussian(), {"unit": "dits"}, ValueError, "unit must be one of"),
    (Gaussian(), {"check_values": "yes"}, TypeError, "check_values must be True or False"),
])
def test_bad_loss_options(fam, options, error, match):
    y, raw = ([0], [[0.0, 1.0]]) if isinstance(fam, Categorical) else ([0.0], [0.0])
    with pytest.raises(error, match=match) as info:
        fam.loss(y, raw, **options)
    assert TEMPLATE.match(str(info.value))


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"unit": "dits"}, ValueError, "unit must be one of"),
    ({"check_values": 1}, TypeError, "check_values must be True or False"),
    ({"sample_weight": [1.0, -1.0]}, ValueError, r"sample_weight has values outside \[0, inf\)"),
    ({"sample_weight": [1.0, 1.0, 1.0]}, ValueError, r"sample_weight has shape \(3,\)"),
    ({"sample_weight": [0.0, 0.0]}, ValueError, "all zero"),
])
@pytest.mark.parametrize("method", ["gradient", "hessian"])
def test_bad_derivative_options(kwargs, error, match, method):
    with pytest.raises(error, match=match) as info:
        getattr(Poisson(), method)([1.0, 2.0], [0.0, 0.0], **kwargs)
    assert TEMPLATE.match(str(info.value))


def test_bad_types():
    with pytest.raises(TypeError, match="raw has dtype"):
        Gaussian().gradient([1.0], np.array([1 + 1j]))
    with pytest.raises(TypeError, match="y_true holds strings"):
        Gaussian().gradient(np.array(["a"]), [0.0])
    with pytest.raises(TypeError, match="unsupported type"):
        Gaussian().predict("raw")
    torch = pytest.importorskip("torch")
    jnp = pytest.importorskip("jax.numpy")
    with pytest.raises(TypeError, match="different libraries"):
        Gaussian().gradient(jnp.asarray([1.0]), torch.tensor([0.0]))


# --------------------------------------------------------------------------------- backends

METHODS = ("loss", "gradient", "hessian", "predict", "activation")


def _call(fam, method, y, raw, **kwargs):
    if method in ("predict", "activation"):
        return getattr(fam, method)(raw, **kwargs)
    return getattr(fam, method)(y, raw, **kwargs)


@pytest.mark.parametrize("name", NAMES)
def test_every_method_on_every_backend(backend, name):
    fam, y, raw, _, _ = case(name)
    yb, rb = backend.asarray(y), backend.asarray(raw)
    for method in METHODS:
        got = _call(fam, method, yb, rb)
        assert backend.is_native(got), (method, type(got))
        assert got.dtype == rb.dtype, method
        expected = np.asarray(_call(fam, method, y, raw))
        np.testing.assert_allclose(backend.to_numpy(got), expected, rtol=1e-12, atol=1e-15,
                                   err_msg=method)


@pytest.mark.parametrize("name", NAMES)
def test_float32_matches_float64(backend, name):
    fam, y, raw, _, _ = case(name)
    rb = backend.asarray(raw, "float32")
    for method in METHODS:
        got = _call(fam, method, backend.asarray(y), rb)
        assert got.dtype == rb.dtype, method
        expected = np.asarray(_call(fam, method, y, raw))
        scale = max(float(np.max(np.abs(expected))), 1.0)
        np.testing.assert_allclose(backend.to_numpy(got), expected, rtol=2e-6,
                                   atol=2e-6 * scale, err_msg=method)


@pytest.mark.parametrize(("library", "dtype"), [("numpy", "float16"), ("torch", "float16"),
                                                ("torch", "bfloat16"), ("jax", "bfloat16")])
@pytest.mark.parametrize("name", NAMES)
def test_low_precision_is_computed_in_float32_and_returned_in_its_dtype(library, dtype, name):
    backend = Backend(library)
    fam, y, raw, _, _ = case(name)
    rb = backend.asarray(raw, dtype)
    exact = backend.to_numpy(rb).astype("float64")
    for method in METHODS:
        got = _call(fam, method, backend.asarray(y), rb)
        assert got.dtype == rb.dtype, method
        expected = np.asarray(_call(fam, method, y, exact))
        scale = max(float(np.max(np.abs(expected))), 1.0)
        np.testing.assert_allclose(backend.to_numpy(got).astype("float64"), expected,
                                   rtol=2e-2, atol=2e-2 * scale, err_msg=method)


@pytest.mark.parametrize("name", NAMES)
def test_jax_jit_and_grad(name):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    fam, y, raw, _, _ = case(name)
    yj, rj = jnp.asarray(y), jnp.asarray(raw)

    @jax.jit
    def everything(a, b):  # one compilation per family
        def total(c):
            return fam.loss(a, c, reduction="sum", check_values=False)

        return (fam.gradient(a, b, check_values=False), fam.hessian(a, b, check_values=False),
                fam.predict(b, check_values=False), jax.grad(total)(b))

    gradient, hessian, predict, autodiff = everything(yj, rj)
    np.testing.assert_allclose(gradient, fam.gradient(y, raw), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(hessian, fam.hessian(y, raw), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(predict, fam.predict(raw), rtol=1e-12)
    outputs = y.shape[-1] if y.ndim > 1 else 1
    np.testing.assert_allclose(autodiff, np.asarray(fam.gradient(y, raw)) / outputs,
                               rtol=1e-11, atol=1e-14)


def test_traced_jax_without_check_values_off_says_what_to_do():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    with pytest.raises(TypeError, match="check_values=False"):
        jax.jit(lambda b: Poisson().gradient(jnp.asarray([1.0]), b))(jnp.asarray([0.0]))


@pytest.mark.parametrize("name", ["bernoulli", "multilabel", "poisson"])
def test_boolean_targets_on_every_backend(backend, name):
    fam, y, raw, _, _ = case(name)
    y = (y > 0) if name != "poisson" else (y > 2)
    yb, rb = backend.asarray(y), backend.asarray(raw)
    numeric = y.astype("float64")
    for method in ("loss", "gradient", "hessian"):
        got = backend.to_numpy(getattr(fam, method)(yb, rb))
        np.testing.assert_allclose(got, getattr(fam, method)(numeric, raw), rtol=1e-12)
    fam.check_target(yb)


def test_boolean_labels_are_not_class_labels():
    with pytest.raises(TypeError, match="y_true has dtype bool"):
        Categorical().gradient([True, False], [[0.0, 1.0], [1.0, 0.0]])


@pytest.mark.parametrize("dtype", ["int32", "int64", "float64"])
def test_labels_of_any_integer_or_integral_float_dtype(backend, dtype):
    fam, y, raw, _, _ = case("categorical")
    labels = backend.asarray(y.astype(dtype))
    for method in ("loss", "gradient", "hessian"):
        got = backend.to_numpy(getattr(fam, method)(labels, backend.asarray(raw)))
        np.testing.assert_allclose(got, getattr(fam, method)(y, raw), rtol=1e-12)


def test_labels_on_the_host_with_logits_on_torch():
    torch = pytest.importorskip("torch")
    raw = torch.tensor([[1.0, 2.0, 0.5], [0.0, 0.0, 3.0]], dtype=torch.float64)
    g = Categorical().gradient(np.array([1, 2]), raw)
    assert isinstance(g, torch.Tensor)
    np.testing.assert_allclose(g.sum(dim=-1).numpy(), 0.0, atol=1e-15)


# ------------------------------------------------------------------------------- properties

_SETTINGS = settings(max_examples=40, deadline=None)
_REAL = hs.floats(-30, 30, allow_nan=False)


@_SETTINGS
@given(z=hs.lists(_REAL, min_size=1, max_size=6), y=hs.lists(hs.floats(0.01, 50), min_size=6,
                                                             max_size=6))
def test_hessian_diagonals_of_convex_families_are_non_negative(z, y):
    raw = np.asarray(z)
    targets = np.asarray(y[:len(z)])
    counts = np.floor(targets)
    for fam, t in [(Gaussian(), targets), (Laplace(), targets), (Poisson(), counts),
                   (Gamma(shape=1.7), targets), (Bernoulli(), (counts % 2))]:
        assert fam.convex
        h = np.asarray(fam.hessian(t, raw))
        assert np.all(h >= 0) and np.all(np.isfinite(h)), fam
    hg = HeteroscedasticGaussian().hessian(targets, np.stack([raw, raw / 3], -1))
    assert np.all(np.asarray(hg) >= 0)
    if len(z) >= 2:
        h = np.asarray(Categorical().hessian([0], raw[None, :]))
        assert np.all((h >= 0) & (h <= 0.25))


@_SETTINGS
@given(y=hs.floats(0.05, 1e4), delta=hs.floats(-3, 3).filter(lambda d: abs(d) > 1e-3))
def test_the_nll_is_smallest_at_the_link_of_the_target(y, delta):
    """For the location and log-mean families, raw = link(y) zeroes the gradient and
    minimises the NLL (Poisson: for a count y >= 1)."""
    count = float(max(1, round(y)))
    for fam, target, best in [(Gaussian(scale=0.3), y, y), (Laplace(), y, y),
                              (StudentT(df=2.5), y, y), (Poisson(), count, math.log(count)),
                              (Gamma(shape=3.0), y, math.log(y))]:
        g = float(fam.gradient([target], [best])[0])
        assert abs(g) <= 1e-9 * max(1.0, abs(target)), fam
        at_best = float(fam.loss([target], [best]))
        assert at_best < float(fam.loss([target], [best + delta])), fam


@_SETTINGS
@given(z=hs.lists(hs.floats(-1e4, 1e4), min_size=2, max_size=6),
       label=hs.integers(0, 1))
def test_logit_families_stay_finite_and_predict_probabilities(z, label):
    raw = np.asarray(z)
    for fam, y, r in [(Bernoulli(), np.full(len(z), float(label)), raw),
                      (MultiLabel(), np.full((1, len(z)), float(label)), raw[None, :]),
                      (Categorical(), np.asarray([label]), raw[None, :])]:
        p = np.asarray(fam.predict(r))
        assert np.all((p >= 0) & (p <= 1))
        if isinstance(fam, Categorical):
            assert abs(p.sum() - 1) < 1e-12
        for method in ("loss", "gradient", "hessian"):
            assert np.all(np.isfinite(np.asarray(getattr(fam, method)(y, r)))), (fam, method)
        np.testing.assert_allclose(fam.gradient(y, r), p - (np.eye(len(z))[y] if isinstance(
            fam, Categorical) else y), atol=1e-15)


@_SETTINGS
@given(r=hs.floats(-1e150, 1e150), df=hs.floats(0.5, 50))
def test_student_t_derivatives_never_overflow(r, df):
    fam = StudentT(df=df, scale=0.5)
    g = float(fam.gradient([0.0], [r])[0])
    h = float(fam.hessian([0.0], [r])[0])
    assert math.isfinite(g) and math.isfinite(h)
    # the exact values, in rational arithmetic (no overflow, no rounding)
    nu, rr, s2 = Fraction(df), Fraction(r), Fraction(1, 4)
    assert g == pytest.approx(float((nu + 1) * rr / (nu * s2 + rr * rr)), rel=1e-12)
    assert h == pytest.approx(float((nu + 1) * (nu * s2 - rr * rr) / (nu * s2 + rr * rr) ** 2),
                              rel=1e-12, abs=1e-300)
    if abs(r) > 0.5 * math.sqrt(df):
        assert h < 0  # beyond the inflection the outlier's pull decreases


@_SETTINGS
@given(seed=hs.integers(0, 2**31 - 1), name=hs.sampled_from(NAMES))
def test_gradient_is_the_derivative_of_the_summed_loss(seed, name):
    """On random inputs of every family: central differences of loss(reduction="sum")."""
    fam, make = CASES[name][0], CASES[name][1]
    y, raw = make(np.random.default_rng(seed))
    y, raw = y[:3], raw[:3]
    outputs = y.shape[-1] if y.ndim > 1 else 1
    h = 1e-6
    index = tuple(np.random.default_rng(seed + 1).integers(0, n) for n in raw.shape)
    if name == "laplace" and abs(raw[index] - y[index]) < 1e-4:
        return
    up, down = raw.copy(), raw.copy()
    up[index] += h
    down[index] -= h
    numeric = (float(fam.loss(y, up, reduction="sum"))
               - float(fam.loss(y, down, reduction="sum"))) / (2 * h) * outputs
    analytic = float(np.asarray(fam.gradient(y, raw))[index])
    assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-6)


def test_a_nan_derivative_is_reported_not_returned():
    fam = GaussianMixture(2)
    raw = np.array([[0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, -700.0, -700.0]])
    assert np.isinf(np.asarray(fam.loss([0.0, 1e10], raw, reduction="none"))[1])
    for method in ("gradient", "hessian"):
        with pytest.raises(ValueError, match=f"undefined \\(NaN\\) {method} for sample 1") as info:
            getattr(fam, method)([0.0, 1e10], raw)
        assert TEMPLATE.match(str(info.value))


def test_families_pickle_and_copy():
    import copy
    import pickle

    for fam in (StudentT(df=3, scale=2.0), GaussianMixture(3), Categorical(), Gamma(shape=2)):
        assert pickle.loads(pickle.dumps(fam)) == fam
        assert copy.deepcopy(fam) == fam


def test_family_accepts_a_family_class():
    assert lk.family(StudentT, df=5) == StudentT(df=5)
    assert lk.family(Bernoulli) == Bernoulli()


def test_categorical_sequences_on_every_backend(backend):
    from scipy.special import softmax

    rng = np.random.default_rng(5)
    y, raw = rng.integers(0, 4, size=(3, 5)), rng.normal(size=(3, 5, 4))
    fam = Categorical()
    expected = softmax(raw, axis=-1) - np.eye(4)[y]
    got = fam.gradient(backend.asarray(y), backend.asarray(raw))
    np.testing.assert_allclose(backend.to_numpy(got), expected, rtol=1e-12, atol=1e-15)
    loss = fam.loss(backend.asarray(y), backend.asarray(raw), reduction="none")
    assert tuple(loss.shape) == (3, 5)


def test_categorical_loss_passes_the_catalogue_options_through():
    y, raw = np.array([0, -100, 2]), np.random.default_rng(1).normal(size=(3, 3))
    fam = Categorical()
    value = float(fam.loss(y, raw, ignore_index=-100))
    expected = float(lk.sparse_categorical_cross_entropy(y[[0, 2]], raw[[0, 2]],
                                                         from_logits=True))
    assert value == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match=r"outside \[0, 3\)"):
        fam.gradient(y, raw)  # the derivatives have no ignore_index
    smoothed = float(fam.loss(y[[0, 2]], raw[[0, 2]], label_smoothing=0.1,
                              class_weight=[1.0, 2.0, 0.5]))
    assert smoothed == pytest.approx(float(lk.sparse_categorical_cross_entropy(
        y[[0, 2]], raw[[0, 2]], from_logits=True, label_smoothing=0.1,
        class_weight=[1.0, 2.0, 0.5])), rel=1e-12)


@_SETTINGS
@given(eta=hs.floats(-30, 30), s=hs.floats(-20, 8), y=hs.integers(0, 10**6))
def test_negative_binomial_is_finite_for_extreme_raw_outputs(eta, s, y):
    """softplus and the Lanczos log-gamma difference keep every quantity finite, from the
    Poisson limit (s = -20) to a dispersion of e^8, and the log-mean hessian is >= 0."""
    fam = NegativeBinomial()
    raw = np.array([[eta, s]])
    loss = float(fam.loss([float(y)], raw))
    g, h = np.asarray(fam.gradient([float(y)], raw)), np.asarray(fam.hessian([float(y)], raw))
    assert math.isfinite(loss) and loss >= -1e-9  # a probability is at most 1
    assert np.all(np.isfinite(g)) and np.all(np.isfinite(h))
    assert h[0, 0] >= 0
