"""Loss functions: pure functions over any array-API array, with analytic gradients."""

from losskit.losses._classification import (
    binary_cross_entropy,
    categorical_cross_entropy,
    sparse_categorical_cross_entropy,
)
from losskit.losses._gradient import gradient, value_and_gradient
from losskit.losses._regression import mean_squared_error

__all__ = [
    "binary_cross_entropy",
    "categorical_cross_entropy",
    "gradient",
    "mean_squared_error",
    "sparse_categorical_cross_entropy",
    "value_and_gradient",
]
