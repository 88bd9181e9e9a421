"""Metrics: numbers to choose and report a model with, kept apart from the losses.

The loss is what the optimiser minimises and what diagnoses training; a metric is what people
understand (accuracy, RMSE) and what the model is chosen and reported by. Metrics follow the
losses' conventions — ``metric(y_true, y_pred, /, *, option=..., sample_weight=None)``, any
array library, a 0-d result in ``y_pred``'s library and floating dtype (float64 when
``y_pred`` holds integer labels) — and each equals its scikit-learn namesake.
Names ending in ``_score`` are maximised; ``_error`` and ``_loss`` are minimised, and so
are the deviances (``mean_poisson_deviance``, ``mean_gamma_deviance``: scikit-learn's names).

Value checks (labels in range, probabilities in [0, 1], no NaN, weights, a metric that is
undefined on the data such as ROC AUC of one class) read the data on the host and run by
default. With ``check_values=False`` nothing is read on the host — metrics then run inside
``jax.jit`` and stream on a GPU without synchronising — and an undefined metric is NaN.

Each metric is a mergeable state plus a finish step (see ``_state``), so
:class:`losskit.Accumulator` streams any of them over batches, epochs and processes exactly.
Counts and sums are accumulated in float64 (float32 for JAX without ``jax_enable_x64``), with
the sample weights divided by a power of two near the largest (recorded in the state), so no
weighted count overflows however large the weights.

Inputs are taken as NumPy takes them, plus pandas and polars objects (as scikit-learn does);
string labels are refused with a message saying to encode them as integers.
"""

# the streaming accumulator (re-exported; lk.Accumulator is the public name)
from losskit.metrics._accumulator import Accumulator as Accumulator
from losskit.metrics._classification import (
    accuracy_score,
    balanced_accuracy_score,
    brier_score_loss,
    expected_calibration_error,
    f1_score,
    precision_score,
    recall_score,
    top_k_accuracy_score,
)
from losskit.metrics._directional import EARTH_RADIUS_KM as EARTH_RADIUS_KM
from losskit.metrics._directional import great_circle_distance, mean_angular_error
from losskit.metrics._ranking import average_precision_score, roc_auc_score
from losskit.metrics._regression import (
    max_error,
    mean_absolute_error,
    mean_gamma_deviance,
    mean_poisson_deviance,
    r2_score,
    root_mean_squared_error,
)

__all__ = [
    "accuracy_score",
    "average_precision_score",
    "balanced_accuracy_score",
    "brier_score_loss",
    "expected_calibration_error",
    "f1_score",
    "great_circle_distance",
    "max_error",
    "mean_absolute_error",
    "mean_angular_error",
    "mean_gamma_deviance",
    "mean_poisson_deviance",
    "precision_score",
    "r2_score",
    "recall_score",
    "roc_auc_score",
    "root_mean_squared_error",
    "top_k_accuracy_score",
]
