"""losskit: choose, compute and diagnose the loss function of a neural network.

Maximum likelihood decides the loss: the distribution of the target gives the output activation
and the loss (its negative log-likelihood). Every function works on NumPy, PyTorch, JAX and
array-API arrays and returns the same kind of array.

>>> import losskit as lk
>>> round(float(lk.binary_cross_entropy([1, 0], [0.9, 0.2])), 4)
0.1643
"""

from losskit.losses import (
    binary_cross_entropy,
    binary_focal_loss,
    categorical_cross_entropy,
    categorical_focal_loss,
    categorical_hinge_loss,
    entropy,
    gradient,
    hinge_loss,
    kl_divergence,
    mean_squared_error,
    perplexity,
    sparse_categorical_cross_entropy,
    squared_hinge_loss,
    value_and_gradient,
)

__version__ = "0.1.0"

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
