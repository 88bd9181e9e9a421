"""Every family's declared explanation (``Family.explanation``), tested from the declaration:
its worked example's loss and gradient agree with the reference formula on every backend and
along the plotted grid, and the gradient agrees with finite differences of the loss."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import losskit as lk
from formulas import FAMILIES as REFERENCES
from formulas import central_difference, random_point
from losskit.families import registered_families
from losskit.losses import Case, LossExplanation

FAMILY_CLASSES = registered_families()
NAMES = sorted(FAMILY_CLASSES)


def _family(name: str) -> tuple[lk.families.Family, Case]:
    case = FAMILY_CLASSES[name].explanation.case
    return lk.family(name, **case.options), case


@pytest.mark.parametrize("name", NAMES)
def test_every_family_declares_an_explanation_and_a_worked_example(name):
    cls = FAMILY_CLASSES[name]
    assert isinstance(cls.explanation, LossExplanation), (
        f"{cls.__name__}: declare its explanation = LossExplanation(...) class attribute")
    assert isinstance(cls.explanation.case, Case)
    assert cls.explanation.pitfalls and cls.explanation.related
    assert all(isinstance(alias, str) and alias for alias in cls.aliases)
    lk.family(name, **cls.explanation.case.options)  # the example's parameters are valid


def test_every_family_has_a_reference_formula():
    assert sorted(REFERENCES) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_worked_example_on_every_backend(name, backend):
    fam, case = _family(name)
    for y_value in (case.y_true, *case.more_targets):
        y, raw = case.batch(y_value)
        yb, rb = backend.asarray(y), backend.asarray(raw)
        loss, gradient = fam.loss(yb, rb, reduction="none"), fam.gradient(yb, rb)
        assert backend.is_native(loss) and backend.is_native(gradient)
        np.testing.assert_allclose(backend.to_numpy(loss),
                                   REFERENCES[name].value(y, raw, case.options), rtol=1e-9,
                                   atol=1e-12)
        np.testing.assert_allclose(backend.to_numpy(gradient),
                                   REFERENCES[name].gradient(y, raw, case.options), rtol=1e-9,
                                   atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_gradient_agrees_with_finite_differences_of_the_loss(name):
    fam, case = _family(name)
    y, raw = case.batch(case.y_true)
    numeric = central_difference(lambda r: fam.loss(y, r, reduction="none"), raw)
    gradient = np.asarray(fam.gradient(y, raw))
    if name == "multilabel":  # the loss averages the k labels; the gradient is per label
        gradient = gradient / raw.shape[-1]
    np.testing.assert_allclose(gradient, numeric, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", NAMES)
def test_formula_and_gradient_lines_agree_along_the_plotted_grid(name):
    fam, case = _family(name)
    x = np.linspace(*case.grid, 397)
    for y_value in (case.y_true, *case.more_targets):
        y, raw = case.batch(y_value, x)
        np.testing.assert_allclose(REFERENCES[name].value(y, raw, case.options),
                                   np.asarray(fam.loss(y, raw, reduction="none")), rtol=1e-9,
                                   atol=1e-12)
        np.testing.assert_allclose(REFERENCES[name].gradient(y, raw, case.options),
                                   np.asarray(fam.gradient(y, raw)), rtol=1e-9, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(NAMES), shift=st.floats(-2.5, 2.5))
def test_formulas_agree_at_random_points(name, shift):
    fam, case = _family(name)
    x = random_point(name, case, shift)
    if x is None:
        return  # a subgradient point: any value in the subdifferential is right
    y, raw = case.batch(case.y_true, x)
    np.testing.assert_allclose(REFERENCES[name].value(y, raw, case.options),
                               np.asarray(fam.loss(y, raw, reduction="none")), rtol=1e-9,
                               atol=1e-12)
    np.testing.assert_allclose(REFERENCES[name].gradient(y, raw, case.options),
                               np.asarray(fam.gradient(y, raw)), rtol=1e-9, atol=1e-12)
