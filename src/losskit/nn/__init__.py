"""Neural networks trained with losskit's losses (PyTorch; install the ``torch`` extra).

- :class:`MLP`: a multilayer perceptron whose output heads come from the loss (raw outputs; the
  output activation is applied inside the loss and in ``predict``), with several heads,
  per-head weights and learned uncertainty weighting.
- :class:`Trainer`: minibatch SGD with momentum or Adam, exact epoch losses, metrics, early
  stopping, learning-rate schedules, gradient clipping, atomic per-epoch checkpoints and
  ``resume``.
- :class:`MLPRegressor`, :class:`MLPClassifier`: scikit-learn estimators.
- :func:`diagnose`: what the learning curves say, in plain words.

``import losskit`` does not import torch; ``import losskit.nn`` does.
"""

from losskit.nn._heads import LOSS_HEADS, Head
from losskit.nn.diagnosis import Diagnosis, Finding, diagnose
from losskit.nn.estimators import MLPClassifier, MLPRegressor
from losskit.nn.models import MLP
from losskit.nn.trainer import History, Trainer, TrainingDivergedWarning

__all__ = [
    "LOSS_HEADS",
    "MLP",
    "Diagnosis",
    "Finding",
    "Head",
    "History",
    "MLPClassifier",
    "MLPRegressor",
    "Trainer",
    "TrainingDivergedWarning",
    "diagnose",
]
