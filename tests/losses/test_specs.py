"""Every declared loss, tested from its spec (as scikit-learn's ``test_loss.py`` runs over
``LOSS_INSTANCES``): a loss registered with ``loss_function(explanation=...)`` is picked up
here without a line of test code beyond its reference formula in ``tests/formulas.py``.

For each spec in :func:`losskit.losses.loss_specs` (and the explained functions without a
spec, ``entropy`` and ``perplexity``): it declares an explanation and a worked example; the
example's value and analytic gradient agree with the reference formula on every backend; the
analytic gradient agrees with finite differences; and the explanation's formula and gradient
lines (the reference) agree with the function along the whole plotted grid.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import losskit as lk
from formulas import LOSSES as REFERENCES
from formulas import central_difference, random_point
from losskit.losses import Case, LossExplanation, loss_specs, spec_of
from losskit.losses._spec import explained_functions

SPECS = loss_specs()
EXPLAINED = explained_functions()
#: every explained function of the losses layer, with or without a spec
NAMES = sorted(EXPLAINED)


#: array arguments a loss needs beside ``y_pred`` (not options: no constraint declares them),
#: passed in the worked example's ``options``: linear_cross_entropy's output layer
ARRAY_ARGUMENTS = {"linear_cross_entropy": {"weight", "bias"}}


def _explanation(name: str) -> LossExplanation:
    explanation = EXPLAINED[name][2]
    assert explanation is not None, f"{name} declares no explanation"
    return explanation


def values(name: str, y: Any, raw: Any) -> Any:
    """Per-sample losses of the function called ``name``, in the arrays' library."""
    fn, _, explanation = EXPLAINED[name]
    options = explanation.case.options
    if y is None and "y_true" not in inspect.signature(fn).parameters:
        return fn(raw, reduction="none", **options)  # a function of the prediction (entropy)
    if "reduction" in inspect.signature(fn).parameters:
        return fn(y, raw, reduction="none", **options)
    # one value per call (perplexity): call it sample by sample
    return np.array([float(fn(y[i:i + 1, ...], raw[i:i + 1, ...], **options))
                     for i in range(raw.shape[0])])


def analytic(name: str, y: Any, raw: Any) -> tuple[Any, Any]:
    """Per-sample losses and their analytic gradient (with a spec), else central
    differences (NumPy only)."""
    fn, _, explanation = EXPLAINED[name]
    if spec_of(fn) is not None:
        return lk.value_and_gradient(fn, y, raw, reduction="none", **explanation.case.options)
    return values(name, y, raw), central_difference(lambda r: values(name, y, r), raw)


def _tolerance(name: str, loss: np.ndarray | None = None) -> dict[str, float]:
    """Analytic gradients agree to rounding; central differences (h = 1e-6) to about
    10 eps |loss| / h of cancellation."""
    if name in SPECS:
        return {"rtol": 1e-9, "atol": 1e-12}
    scale = 1.0 if loss is None else max(1.0, float(np.max(np.abs(loss))))
    return {"rtol": 1e-6, "atol": 1e-7 + 1e-8 * scale}


# ------------------------------------------------------------------------- the declarations


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_loss_declares_an_explanation_and_a_worked_example(name):
    spec = SPECS[name]
    explanation = spec.explanation
    assert isinstance(explanation, LossExplanation), (
        f"{name}: declare loss_function(explanation=LossExplanation(...)) (see "
        "docs/adding-a-loss.md)")
    assert isinstance(explanation.case, Case)
    for text in (explanation.formula, explanation.distribution, explanation.raw_output,
                 explanation.gradient, explanation.when):
        assert isinstance(text, str) and len(text) > 10
    assert explanation.pitfalls and explanation.related
    # the example's options are options the loss declares, and it lies on its plotted grid
    assert set(explanation.case.options) <= set(spec.options) | ARRAY_ARGUMENTS.get(name, set())
    point = np.ravel(np.asarray(explanation.case.y_pred, dtype=np.float64))
    point = point[0 if explanation.case.vary is None else explanation.case.vary]
    assert explanation.case.grid[0] <= point <= explanation.case.grid[1]
    assert all(isinstance(alias, str) and alias for alias in spec.aliases)


def test_every_explained_loss_has_a_reference_formula():
    missing = sorted(set(EXPLAINED) - set(REFERENCES))
    assert not missing, f"add the reference formulas of {missing} to tests/formulas.py"
    assert sorted(REFERENCES) == NAMES  # and no reference is left for a loss that went


def test_the_explained_functions_are_the_public_losses():
    tools = {lk.gradient, lk.value_and_gradient}
    public = {n for n in lk.losses.__all__ if getattr(lk.losses, n) not in tools}
    assert set(NAMES) == public
    for name, (fn, _, _) in EXPLAINED.items():
        assert getattr(lk, name) is fn


# ----------------------------------------------------- the worked example on every backend


@pytest.mark.parametrize("name", NAMES)
def test_worked_example_on_every_backend(name, backend):
    explanation = _explanation(name)
    case, reference = explanation.case, REFERENCES[name]
    for y_value in (case.y_true, *case.more_targets):
        y, raw = case.batch(y_value)
        expected_value = reference.value(y, raw, case.options)
        expected_gradient = reference.gradient(y, raw, case.options)
        yb = None if y is None else backend.asarray(y)
        rb = backend.asarray(raw)
        if name in SPECS:
            value, gradient = lk.value_and_gradient(EXPLAINED[name][0], yb, rb,
                                                    reduction="none", **case.options)
            assert backend.is_native(value) and backend.is_native(gradient)
            assert tuple(gradient.shape) == raw.shape
            np.testing.assert_allclose(backend.to_numpy(gradient), expected_gradient,
                                       rtol=1e-9, atol=1e-12)
        else:
            value = values(name, yb, rb)
        np.testing.assert_allclose(backend.to_numpy(value), expected_value, rtol=1e-9,
                                   atol=1e-12)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_analytic_gradient_agrees_with_finite_differences(name):
    case = _explanation(name).case
    for y_value in (case.y_true, *case.more_targets):
        y, raw = case.batch(y_value)
        loss, gradient = analytic(name, y, raw)
        numeric = central_difference(lambda r, y=y: values(name, y, r), raw)
        np.testing.assert_allclose(gradient, numeric, rtol=1e-6,
                                   atol=1e-7 * max(1.0, float(np.max(np.abs(loss)))))


# ----------------------------------------- the explanation's formula lines agree with the code


@pytest.mark.parametrize("name", NAMES)
def test_formula_and_gradient_lines_agree_along_the_plotted_grid(name):
    # a grid through the example, for every target the plot shows (397 points: no exact kinks)
    case, reference = _explanation(name).case, REFERENCES[name]
    x = np.linspace(*case.grid, 397)
    for y_value in (case.y_true, *case.more_targets):
        y, raw = case.batch(y_value, x)
        loss, grad = analytic(name, y, raw)
        np.testing.assert_allclose(reference.value(y, raw, case.options), loss, rtol=1e-9,
                                   atol=1e-12)
        np.testing.assert_allclose(reference.gradient(y, raw, case.options), grad,
                                   **_tolerance(name, loss))


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(NAMES), shift=st.floats(-2.5, 2.5))
def test_formulas_agree_at_random_points(name, shift):
    case, reference = _explanation(name).case, REFERENCES[name]
    x = random_point(name, case, shift)
    if x is None:
        return  # a subgradient point: any value in the subdifferential is right
    y, raw = case.batch(case.y_true, x)
    loss, grad = analytic(name, y, raw)
    np.testing.assert_allclose(reference.value(y, raw, case.options), loss, rtol=1e-9,
                               atol=1e-12)
    np.testing.assert_allclose(reference.gradient(y, raw, case.options), grad,
                               **_tolerance(name, loss))
