"""Neural networks trained with losskit's losses (PyTorch; install the ``torch`` extra).

- :class:`MLP`: a multilayer perceptron whose output heads come from the loss (raw outputs; the
  output activation is applied inside the loss and in ``predict``), with several heads,
  per-head weights and learned uncertainty weighting.
- :class:`Trainer`: minibatch SGD with momentum or Adam, exact epoch losses, metrics, early
  stopping, learning-rate schedules, gradient clipping, atomic per-epoch checkpoints and
  ``resume``; a NaN/infinite loss or weight rolls back and retries with a smaller learning
  rate (:class:`TrainingDivergedWarning`), then raises :class:`TrainingDivergedError`.
- :class:`MLPRegressor`, :class:`MLPClassifier`: scikit-learn estimators; :func:`fit_many`
  fits several as one batch (:class:`Member`, :func:`fit_batched`: stacked weights).
- :func:`diagnose`: what the learning curves say, in plain words.

``import losskit`` does not import torch; using ``losskit.nn``'s names does (they are loaded
on first use).
"""

import importlib
from typing import Any

# names -> defining module, imported on first use: ``import losskit.nn.cli`` (loaded by every
# ``losskit`` command) must not pay for importing torch and scikit-learn
_EXPORTS = {
    "LOSS_HEADS": "losskit.nn._heads",
    "Head": "losskit.nn._heads",
    "loss_spec": "losskit.nn._heads",
    "domain_complaint": "losskit.nn._evaluation",
    "target_complaint": "losskit.nn._evaluation",
    "TabularEncoder": "losskit.nn._tabular",
    "Diagnosis": "losskit.nn.diagnosis",
    "Finding": "losskit.nn.diagnosis",
    "diagnose": "losskit.nn.diagnosis",
    "Member": "losskit.nn._batched",
    "fit_batched": "losskit.nn._batched",
    "MLPClassifier": "losskit.nn.estimators",
    "fit_many": "losskit.nn.estimators",
    "MLPRegressor": "losskit.nn.estimators",
    "MLP": "losskit.nn.models",
    "History": "losskit.nn.trainer",
    "Trainer": "losskit.nn.trainer",
    "TrainingDivergedError": "losskit.nn.trainer",
    "TrainingDivergedWarning": "losskit.nn.trainer",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'losskit.nn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


__all__ = [
    "LOSS_HEADS",
    "MLP",
    "Diagnosis",
    "Finding",
    "Head",
    "History",
    "MLPClassifier",
    "MLPRegressor",
    "Member",
    "TabularEncoder",
    "Trainer",
    "TrainingDivergedError",
    "TrainingDivergedWarning",
    "diagnose",
    "domain_complaint",
    "fit_batched",
    "fit_many",
    "loss_spec",
    "target_complaint",
]
