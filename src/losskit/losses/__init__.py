"""Loss functions: pure functions over any array-API array, with analytic gradients."""

from losskit.losses._classification import (
    binary_cross_entropy,
    categorical_cross_entropy,
    sparse_categorical_cross_entropy,
)
from losskit.losses._classification_catalogue import (
    binary_focal_loss,
    categorical_focal_loss,
    categorical_hinge_loss,
    entropy,
    hinge_loss,
    kl_divergence,
    perplexity,
    squared_hinge_loss,
)
from losskit.losses._gradient import gradient, value_and_gradient
from losskit.losses._regression import mean_squared_error

__all__ = [
    "binary_cross_entropy",
    "binary_focal_loss",
    "categorical_cross_entropy",
    "categorical_focal_loss",
    "categorical_hinge_loss",
    "entropy",
    "gradient",
    "hinge_loss",
    "kl_divergence",
    "mean_squared_error",
    "perplexity",
    "sparse_categorical_cross_entropy",
    "squared_hinge_loss",
    "value_and_gradient",
]
