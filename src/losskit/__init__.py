"""losskit: choose, compute and diagnose the loss function of a neural network.

Maximum likelihood decides the loss: the distribution of the target gives the output activation
and the loss (its negative log-likelihood). Every function works on NumPy, PyTorch, JAX and
array-API arrays and returns the same kind of array.

>>> import losskit as lk
>>> round(float(lk.binary_cross_entropy([1, 0], [0.9, 0.2])), 4)
0.1643
"""

# nn loads its names (and torch) on first use: lk.nn.MLPClassifier works, import losskit stays light
from losskit import families, metrics, nn
from losskit.advise import Advice, advise
from losskit.compare import Comparison, compare, compare_scores
from losskit.explain import Explanation, explain
from losskit.families import family
from losskit.losses import (
    binary_cross_entropy,
    binary_focal_loss,
    categorical_cross_entropy,
    categorical_focal_loss,
    categorical_hinge_loss,
    cosine_embedding_loss,
    cosine_similarity_loss,
    dice_loss,
    entropy,
    gamma_nll,
    gaussian_mixture_nll,
    gaussian_nll,
    generalized_kl_divergence,
    gradient,
    hinge_embedding_loss,
    hinge_loss,
    huber_loss,
    kl_divergence,
    laplace_nll,
    linear_cross_entropy,
    log_cosh_loss,
    margin_ranking_loss,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_log_error,
    multi_margin_loss,
    multiclass_perceptron_loss,
    multiclass_sparsemax_loss,
    multilabel_margin_loss,
    negative_binomial_nll,
    perceptron_loss,
    perplexity,
    pinball_loss,
    poisson_nll,
    poly_loss_cross_entropy,
    soft_margin_loss,
    sparse_categorical_cross_entropy,
    sparsemax_loss,
    squared_hinge_loss,
    student_t_nll,
    triplet_margin_loss,
    tversky_loss,
    tweedie_deviance,
    value_and_gradient,
)
from losskit.metrics._accumulator import Accumulator

__version__ = "0.1.0"

__all__ = [
    "Accumulator",
    "Advice",
    "Comparison",
    "Explanation",
    "advise",
    "binary_cross_entropy",
    "binary_focal_loss",
    "categorical_cross_entropy",
    "categorical_focal_loss",
    "categorical_hinge_loss",
    "compare",
    "compare_scores",
    "cosine_embedding_loss",
    "cosine_similarity_loss",
    "dice_loss",
    "entropy",
    "explain",
    "families",
    "family",
    "gamma_nll",
    "gaussian_mixture_nll",
    "gaussian_nll",
    "generalized_kl_divergence",
    "gradient",
    "hinge_embedding_loss",
    "hinge_loss",
    "huber_loss",
    "kl_divergence",
    "laplace_nll",
    "linear_cross_entropy",
    "log_cosh_loss",
    "margin_ranking_loss",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_error",
    "mean_squared_log_error",
    "metrics",
    "multi_margin_loss",
    "multiclass_perceptron_loss",
    "multiclass_sparsemax_loss",
    "multilabel_margin_loss",
    "negative_binomial_nll",
    "nn",
    "perceptron_loss",
    "perplexity",
    "pinball_loss",
    "poisson_nll",
    "poly_loss_cross_entropy",
    "soft_margin_loss",
    "sparse_categorical_cross_entropy",
    "sparsemax_loss",
    "squared_hinge_loss",
    "student_t_nll",
    "triplet_margin_loss",
    "tversky_loss",
    "tweedie_deviance",
    "value_and_gradient",
]
