"""docs/conventions.md: its examples run and print losskit's numbers, each example's numbers
are the real frameworks' on the same inputs, and every other number on the page is a framework
constant checked here."""

from __future__ import annotations

import doctest
import inspect
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import poisson
from sklearn import metrics as skm

import losskit as lk
from losskit.losses._conventions import KERAS_EPSILON
from references import keras_numpy as _keras

PAGE = Path(__file__).resolve().parents[2] / "docs" / "conventions.md"
RTOL = 1e-6  # Keras computes in float32




def _keras_loss(name, y, p, w=None, **options):
    loss = getattr(_keras().losses, name)(**options)
    return float(loss(np.float32(y), np.float32(p), sample_weight=w))


def _t(x):
    return torch.tensor(np.asarray(x, dtype="float64"))


@pytest.fixture(scope="module")
def page():
    """The page's examples, run: the names they define (inputs), and the runner's tally."""
    text = PAGE.read_text()
    test = doctest.DocTestParser().get_doctest(text, {}, "conventions.md", str(PAGE), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test, clear_globs=False)
    return test.globs, runner.summarize(verbose=False), text


def test_the_page_examples_run_and_print_losskits_numbers(page):
    _, result, _ = page
    assert result.attempted >= 30
    assert result.failed == 0


def _value(fn, g, *names, **options):
    return float(fn(*(g[n] for n in names), **options))


def test_clipping_example_is_each_frameworks_number(page):
    g, _, _ = page
    y, p = g["bce_y"], g["bce_p"]
    assert _value(lk.binary_cross_entropy, g, "bce_y", "bce_p", convention="sklearn") == \
        pytest.approx(skm.log_loss(y, p, labels=[0, 1]), rel=1e-12)
    assert _value(lk.binary_cross_entropy, g, "bce_y", "bce_p", convention="torch") == \
        float(F.binary_cross_entropy(_t(p), _t(y)))
    assert _value(lk.binary_cross_entropy, g, "bce_y", "bce_p", convention="keras") == \
        pytest.approx(_keras_loss("BinaryCrossentropy", [y], [p]), rel=RTOL)


def test_weighted_mean_example_is_each_frameworks_number(page):
    g, _, _ = page
    y, p, w = (np.asarray(g[n]) for n in ("mse_y", "mse_p", "mse_w"))
    ours = {c: _value(lk.mean_squared_error, g, "mse_y", "mse_p", sample_weight=w, convention=c)
            for c in g["CONVENTIONS"]}
    assert ours["sklearn"] == pytest.approx(skm.mean_squared_error(y, p, sample_weight=w),
                                            rel=1e-12)
    # torch 2.13's mse_loss(weight=) divides by the sum of the weights
    assert ours["torch"] == pytest.approx(float(F.mse_loss(_t(p), _t(y), weight=_t(w))),
                                          rel=1e-12)
    columns = _keras_loss("MeanSquaredError", y[:, None], p[:, None], np.float32(w))
    assert ours["keras"] == pytest.approx(columns, rel=RTOL)
    # the 1-D reading: one sample, the weights multiply its mean (3.75 on the page)
    one_sample = _keras_loss("MeanSquaredError", y, p, np.float32(w))
    assert one_sample == pytest.approx(np.mean(w) * float(lk.mean_squared_error(y, p)), rel=RTOL)


def test_renormalised_rows_example_is_keras(page):
    g, _, _ = page
    assert _value(lk.categorical_cross_entropy, g, "cce_y", "cce_p", convention="keras") == \
        pytest.approx(_keras_loss("CategoricalCrossentropy", g["cce_y"], g["cce_p"]), rel=RTOL)


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")
def test_kl_examples_are_each_frameworks_number(page):
    g, _, _ = page
    p, q = g["kl_p"], g["kl_q"]
    log_q, target = torch.log(_t(q)), _t(p)
    assert _value(lk.kl_divergence, g, "kl_p", "kl_q", convention="torch") == \
        pytest.approx(float(F.kl_div(log_q, target, reduction="mean")), rel=1e-12)
    assert _value(lk.kl_divergence, g, "kl_p", "kl_q") == \
        pytest.approx(float(F.kl_div(log_q, target, reduction="batchmean")), rel=1e-12)
    for y_name, q_name in (("kl_p", "kl_q"), ("kl_p0", "kl_q0")):
        assert _value(lk.kl_divergence, g, y_name, q_name, convention="keras") == \
            pytest.approx(_keras_loss("KLDivergence", g[y_name], g[q_name]), rel=RTOL)


def test_poisson_examples_are_each_frameworks_number(page):
    g, _, _ = page
    options = {"log_input": False}
    assert _value(lk.poisson_nll, g, "counts", "rates", convention="keras", **options) == \
        pytest.approx(_keras_loss("Poisson", g["counts"], g["rates"]), rel=RTOL)
    reference = F.poisson_nll_loss(_t(g["rates"]), _t(g["counts"]), log_input=False)
    assert _value(lk.poisson_nll, g, "counts", "rates", convention="torch", **options) == \
        pytest.approx(float(reference), rel=1e-12)
    options["full"] = True
    reference = F.poisson_nll_loss(_t(g["full_rate"]), _t(g["full_y"]), log_input=False,
                                   full=True)
    assert _value(lk.poisson_nll, g, "full_y", "full_rate", convention="torch", **options) == \
        pytest.approx(float(reference), rel=1e-12)
    exact = -poisson.logpmf(g["full_y"][0], g["full_rate"][0])
    assert _value(lk.poisson_nll, g, "full_y", "full_rate", **options) == \
        pytest.approx(exact, rel=1e-12)


def test_percentage_example_is_each_frameworks_number(page):
    g, _, _ = page
    y, p = g["mape_y"], g["mape_p"]
    assert _value(lk.mean_absolute_percentage_error, g, "mape_y", "mape_p",
                  convention="sklearn") == pytest.approx(skm.mean_absolute_percentage_error(y, p))
    assert _value(lk.mean_absolute_percentage_error, g, "mape_y", "mape_p",
                  convention="keras") == \
        pytest.approx(_keras_loss("MeanAbsolutePercentageError", y, p), rel=RTOL)


def test_hinge_examples_are_each_frameworks_number(page):
    g, _, _ = page
    assert _value(lk.hinge_loss, g, "hinge_y", "hinge_s", convention="keras") == \
        pytest.approx(_keras_loss("Hinge", g["hinge_y"], g["hinge_s"]), rel=RTOL)
    y, s = g["chinge_y"], g["chinge_s"]
    assert _value(lk.categorical_hinge_loss, g, "chinge_y", "chinge_s", convention="keras") == \
        pytest.approx(_keras_loss("CategoricalHinge", y, s), rel=RTOL)
    assert _value(lk.categorical_hinge_loss, g, "chinge_y", "chinge_s",
                  convention="sklearn") == \
        pytest.approx(skm.hinge_loss(np.argmax(y, axis=-1), s, labels=[0, 1, 2]), rel=1e-12)


def test_focal_examples_are_keras(page):
    g, _, _ = page
    assert _value(lk.categorical_focal_loss, g, "focal_y", "focal_p", convention="keras") == \
        pytest.approx(_keras_loss("CategoricalFocalCrossentropy", g["focal_y"], g["focal_p"]),
                      rel=RTOL)
    assert _value(lk.binary_focal_loss, g, "bfocal_y", "bfocal_z", from_logits=True,
                  convention="keras") == \
        pytest.approx(_keras_loss("BinaryFocalCrossentropy", [g["bfocal_y"]], [g["bfocal_z"]],
                                  from_logits=True), rel=RTOL)


def test_msle_and_gaussian_examples_are_each_frameworks_number(page):
    g, _, _ = page
    y, p = g["msle_y"], g["msle_p"]
    assert _value(lk.mean_squared_log_error, g, "msle_y", "msle_p", convention="sklearn") == \
        pytest.approx(skm.mean_squared_log_error(y, p), rel=1e-12)
    assert _value(lk.mean_squared_log_error, g, "msle_y", "msle_p", convention="keras") == \
        pytest.approx(_keras_loss("MeanSquaredLogarithmicError", y, p), rel=RTOL)
    reference = F.gaussian_nll_loss(_t(g["gauss_mean"]), _t(g["gauss_y"]), _t(g["gauss_var"]))
    assert float(lk.gaussian_nll(g["gauss_y"], g["gauss_mean"], var=g["gauss_var"],
                                 convention="torch")) == pytest.approx(float(reference),
                                                                       rel=1e-12)


def test_smooth_l1_is_huber_over_delta():
    y, p = _t([0.0, 0.0, 0.0]), _t([0.3, 2.0, -5.0])
    delta = 0.7
    np.testing.assert_allclose(float(F.smooth_l1_loss(p, y, beta=delta)) * delta,
                               float(F.huber_loss(p, y, delta=delta)), rtol=1e-12)
    assert float(lk.huber_loss(y.numpy(), p.numpy(), delta=delta, convention="torch")) == \
        pytest.approx(float(F.huber_loss(p, y, delta=delta)), rel=1e-12)


# ------------------------------------------------------------- the numbers outside examples


def _framework_constants(g):
    """Each number the page's prose and tables use, with a check of what it claims."""
    keras = _keras()
    mape = g["mape_y"], g["mape_p"]
    return {
        # Keras' clipping bound, and losskit's copy of it
        "1e-7": lambda: keras.backend.epsilon() == 1e-7 == KERAS_EPSILON,
        # PyTorch's log clamp in binary_cross_entropy
        "-100": lambda: float(F.binary_cross_entropy(_t([0.0]), _t([1.0]))) == 100.0,
        # float64's machine epsilon, scikit-learn's MAPE floor
        "2.2e-16": lambda: f"{np.finfo(np.float64).eps:.1e}" == "2.2e-16",
        "1e-8": lambda: inspect.signature(F.poisson_nll_loss).parameters["eps"].default == 1e-8,
        "1e-6": lambda: inspect.signature(F.gaussian_nll_loss).parameters["eps"].default == 1e-6,
        "0.25": lambda: keras.losses.CategoricalFocalCrossentropy().get_config()["alpha"] == 0.25,
        # Keras' percent
        "100": lambda: _keras_loss("MeanAbsolutePercentageError", *mape) == pytest.approx(
            100 * skm.mean_absolute_percentage_error(*mape), rel=RTOL),
        # Keras' number for the weighted-mean example as columns
        "1.25": lambda: _keras_loss("MeanSquaredError", np.asarray(g["mse_y"])[:, None],
                                    np.asarray(g["mse_p"])[:, None],
                                    np.float32(g["mse_w"])) == pytest.approx(1.25, rel=RTOL),
        # the weighted-mean example's shape
        "4": lambda: len(g["mse_y"]) == 4,
        # the binary focal example's logit, whose float32 sigmoid is exactly 1
        "30": lambda: float(1 / (1 + np.exp(-np.float32(g["bfocal_z"][0])))) == 1.0,
    }


# numbers that are structure, not claims: labels (0/1, -1/+1), formula constants (1 − ε, 2y − 1)
STRUCTURAL = {"0", "1", "2", "-1"}
NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e-?\d+)?(?![\w.])")


def test_every_number_outside_the_examples_is_a_checked_constant(page):
    g, _, text = page
    prose = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    numbers = set(NUMBER.findall(prose)) - STRUCTURAL
    checks = _framework_constants(g)
    assert numbers <= set(checks), f"unchecked numbers on the page: {numbers - set(checks)}"
    for number in sorted(numbers):
        assert checks[number](), number


# ------------------------------------------------- the per-loss table's weighted means


def _benign_inputs():
    """Inputs inside every convention's domain, per function: (y_true, y_pred, options)."""
    rng = np.random.default_rng(7)
    n, c = 9, 3
    labels = rng.integers(0, c, n)
    rows = rng.dirichlet(np.ones(c), n) * 0.9 + 0.1 / c
    y01 = rng.integers(0, 2, (n, 2)).astype(float)
    real = rng.normal(size=(n, 2)), rng.normal(size=(n, 2))
    positive = rng.uniform(0.5, 3, (n, 2)), rng.uniform(0.5, 3, (n, 2))
    signs = rng.choice([-1.0, 1.0], (n, 2))
    return {
        "mean_squared_error": (*real, {}),
        "binary_cross_entropy": (y01, rng.uniform(0.1, 0.9, (n, 2)), {}),
        "categorical_cross_entropy": (np.eye(c)[labels], rows, {}),
        "sparse_categorical_cross_entropy": (labels, rows, {}),
        "kl_divergence": (rng.dirichlet(np.ones(c), n), rows, {}),
        "hinge_loss": (y01, real[1], {}),
        "squared_hinge_loss": (y01, real[1], {}),
        "categorical_hinge_loss": (np.eye(c)[labels], rng.normal(size=(n, c)), {}),
        "binary_focal_loss": (y01, rng.uniform(0.1, 0.9, (n, 2)), {}),
        "categorical_focal_loss": (np.eye(c)[labels], rows, {}),
        "generalized_cross_entropy": (labels, rows, {"q": 0.7}),
        "mean_absolute_error": (*real, {}),
        "huber_loss": (*real, {}),
        "log_cosh_loss": (*real, {}),
        "mean_squared_log_error": (*positive, {}),
        "mean_absolute_percentage_error": (*positive, {}),
        "pinball_loss": (*real, {}),
        "poisson_nll": (rng.poisson(2.0, (n, 2)).astype(float), real[1], {}),
        "gaussian_nll": (*real, {"var": 0.5}),
        "margin_ranking_loss": (signs[:, 0], real[0], {"margin": 0.5}),
        "hinge_embedding_loss": (signs, np.abs(real[0]), {}),
        "soft_margin_loss": (signs, real[1], {}),
        "cosine_embedding_loss": (signs[:, 0], rng.normal(size=(n, 2, c)), {}),
        "triplet_margin_loss": (None, rng.normal(size=(n, 3, c)), {"margin": 5.0}),
        "multi_margin_loss": (labels, rng.normal(size=(n, c)), {}),
        "multilabel_margin_loss": (np.where(rng.uniform(size=(n, c)) < 0.3, -1, labels[:, None]),
                                   rng.normal(size=(n, c)), {}),
        "cosine_similarity_loss": (*real, {}),
        "perceptron_loss": (signs, real[1], {}),
        "multiclass_perceptron_loss": (labels, rng.normal(size=(n, c)), {}),
        "sparsemax_loss": (y01, real[1], {}),
        "multiclass_sparsemax_loss": (labels, rng.normal(size=(n, c)), {}),
        "poly_loss_cross_entropy": (np.eye(c)[labels], rng.normal(size=(n, c)), {}),
        "generalized_kl_divergence": (positive[0], real[1], {}),
        "dice_loss": (y01, rng.uniform(0.1, 0.9, (n, 2)), {"axis": -1}),
        "tversky_loss": (y01, rng.uniform(0.1, 0.9, (n, 2)), {"alpha": 0.3, "axis": -1}),
        # n batches of four labelled embeddings, one sample each
        "ntxent": (np.tile([0, 0, 1, 1], (n, 1)), rng.normal(size=(n, 4, c)), {}),
        "circle_loss": (np.tile([0, 0, 1, 1], (n, 1)), rng.normal(size=(n, 4, c)),
                        {"gamma": 4.0}),
        "ranking_softmax_loss": (positive[0], real[1], {}),
        "pairwise_logistic_loss": (positive[0], real[1], {}),
        "pairwise_hinge_loss": (positive[0], real[1], {}),
        "triplet_margin_with_distance_loss": (None, rng.normal(size=(n, 3, c)),
                                              {"margin": 5.0, "distance_function": "cosine"}),
    }, rng.uniform(0.1, 2.0, n), c


def _table_rows(text):
    """(function names, options, last cell) of each row of the "Loss by loss" table."""
    section = text.split("## Loss by loss", 1)[1].split("\n\n", 2)[1]
    for line in section.splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        names = re.findall(r"`(\w+)(?:\(([^`]*)\))?`", cells[0])
        yield [name for name, _ in names], [args for _, args in names], cells[-1]


def _claimed_denominators(cell):
    """What the cell says each convention's weighted mean divides by ("n", "nC" or "sum")."""
    claims = {}
    for clause in cell.split(";"):
        named = re.findall(r'`"(\w+)"`', clause)
        if "Σ wᵢlᵢ / n" in clause:
            claims.update(dict.fromkeys(named, "n"))
        elif "n·C" in clause:
            claims.update(dict.fromkeys(named, "nC"))
    return claims


def test_the_tables_weighted_means_are_what_each_convention_computes(page):
    _, _, text = page
    inputs, w, c = _benign_inputs()
    checked = set()
    for names, args, cell in _table_rows(text):
        if not names:
            continue  # a definition row (label smoothing)
        fns = [getattr(lk, name) for name in names]
        if "no `convention=`" in cell:
            for fn in fns:
                assert "convention" not in inspect.signature(fn).parameters, fn.__name__
            continue
        for fn, name, arg in zip(fns, names, args, strict=True):
            y, p, options = inputs[name]
            if arg:
                options = dict(options, **eval(f"dict({arg})"))  # e.g. from_logits=True
            claims = _claimed_denominators(cell)
            for convention in ("losskit", "sklearn", "keras", "torch"):
                kwargs = dict(options, sample_weight=w, convention=convention)
                mean = float(fn(y, p, **kwargs))
                total = float(fn(y, p, reduction="sum", **kwargs))
                n = len(w)
                denominator = {"n": n, "nC": n * c,
                               "sum": w.sum()}[claims.get(convention, "sum")]
                assert mean == pytest.approx(total / denominator, rel=1e-12), (name, convention)
            checked.add(name)
    assert checked == set(inputs)  # every function with convention= has a row


def test_bce_with_logits_precision_example_is_pytorchs_number(page):
    """The page says PyTorch's fused BCE is off by almost a percent at z = -10 and returns 0
    at z = -30 (float32); losskit's numbers are the exact ones (float64 reference)."""
    g, _, text = page
    y, z = g["tiny_y"], g["tiny_z"]
    theirs = F.binary_cross_entropy_with_logits(torch.from_numpy(z), torch.from_numpy(y),
                                                reduction="none").numpy()
    exact = np.log1p(np.exp(z.astype(np.float64)))
    ours = lk.binary_cross_entropy(y, z, from_logits=True, reduction="none")
    np.testing.assert_allclose(ours, exact, rtol=1e-6)
    assert 0.005 < abs(theirs[0] / exact[0] - 1) < 0.01 and theirs[1] == 0.0
    assert "off by almost\na percent for the first and exactly zero for the second" in text
    # the same holds on torch tensors (the native kernel)
    ours_t = lk.binary_cross_entropy(torch.from_numpy(y), torch.from_numpy(z), from_logits=True,
                                     reduction="none").numpy()
    np.testing.assert_allclose(ours_t, exact, rtol=1e-6)
