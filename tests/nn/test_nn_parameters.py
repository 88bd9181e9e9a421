"""losskit.nn's parameters are declared constraints: every public nn class that declares them
(``constraints_of``) gets each constraint's invalid values fed to it automatically, as the
losses' options do (tests/test_errors.py), and must answer with the project's template."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import losskit.nn as lknn  # noqa: E402
from losskit._validation import constraints_of  # noqa: E402

X = np.random.default_rng(0).normal(size=(12, 2))
_CALLS = {
    # how to use each class with one parameter set to a value (the rest valid)
    "Head": lambda cls, kw: cls(**{"task": "classification", "n_classes": 2, **kw}),
    "MLP": lambda cls, kw: cls(**{"n_features": 2, "heads": lknn.Head(), **kw}),
    "MLPRegressor": lambda cls, kw: cls(**{"epochs": 1, "hidden_layer_sizes": (2,),
                                           "verbose": False, **kw}).fit(X, X[:, 0]),
    "MLPClassifier": lambda cls, kw: cls(**{"epochs": 1, "hidden_layer_sizes": (2,),
                                            "verbose": False, **kw}).fit(X, X[:, 0] > 0),
}


def _declared():
    return [(name, getattr(lknn, name)) for name in lknn.__all__
            if isinstance(getattr(lknn, name), type) and constraints_of(getattr(lknn, name))]


def test_nn_classes_that_check_parameters_declare_them():
    assert {name for name, _ in _declared()} == set(_CALLS)
    assert {"task", "n_targets", "n_classes", "weight"} <= set(constraints_of(lknn.Head))
    assert "scale_target" in constraints_of(lknn.MLPRegressor)
    assert "scale_target" not in constraints_of(lknn.MLPClassifier)


def _cases():
    for name, cls in _declared():
        for option, constraint in constraints_of(cls).items():
            for value in constraint.invalid:
                yield pytest.param(name, cls, option, value, id=f"{name}-{option}-{value!r}")


@pytest.mark.parametrize(("name", "cls", "option", "value"), list(_cases()))
def test_every_declared_nn_parameter_rejects_bad_values(name, cls, option, value):
    with pytest.raises((ValueError, TypeError)) as info:
        _CALLS[name](cls, {option: value})
    message = str(info.value)
    assert message.startswith(f"{name}: {option} is "), message
    assert ". Pass " in message


@pytest.mark.parametrize(("name", "kw"), [
    ("Head", {"n_targets": 3, "weight": 0.0}), ("MLP", {"hidden_layer_sizes": 4}),
    ("MLP", {"hidden_layer_sizes": ()}), ("MLPRegressor", {"hidden_layer_sizes": np.int64(3)}),
    ("MLPRegressor", {"scale_target": np.bool_(True)}),
    ("MLPClassifier", {"validation_fraction": 0.0})])
def test_valid_nn_parameters_pass_their_declaration(name, kw):
    _CALLS[name](getattr(lknn, name), kw)
