"""losskit: choose, compute and diagnose the loss function of a neural network.

Maximum likelihood decides the loss: the distribution of the target gives the output activation
and the loss (its negative log-likelihood). Every function works on NumPy, PyTorch, JAX and
array-API arrays and returns the same kind of array.

>>> import losskit as lk
>>> round(float(lk.binary_cross_entropy([1, 0], [0.9, 0.2])), 4)
0.1643
"""

# Every public name is imported on first use (PEP 562): ``import losskit`` then costs only this
# file, and a command that needs a few names (``losskit predict``) does not pay for the whole
# library (measured: the eager imports were 0.45-1.1 s of every command's start).
import importlib as _importlib
import sys as _sys
import types as _types
from typing import Any as _Any

#: public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    "Accumulator": "losskit.metrics._accumulator",
    "Advice": "losskit.advise", "advise": "losskit.advise",
    "Comparison": "losskit.compare", "compare": "losskit.compare",
    "compare_scores": "losskit.compare",
    "diagnose_log": "losskit.diagnose",
    "Explanation": "losskit.explain", "explain": "losskit.explain",
    "family": "losskit.families",
    **dict.fromkeys((
    "binary_cross_entropy", "binary_focal_loss", "categorical_cross_entropy",
    "categorical_focal_loss", "categorical_hinge_loss", "circle_loss", "cosine_embedding_loss",
    "cosine_similarity_loss", "ctc_loss", "dice_loss", "entropy", "gamma_nll",
    "gaussian_mixture_nll", "gaussian_nll", "generalized_cross_entropy", "generalized_dice_loss",
    "generalized_kl_divergence", "gradient", "hinge_embedding_loss", "hinge_loss", "huber_loss",
    "kl_divergence", "laplace_nll", "lat_lon_to_unit_vector", "linear_cross_entropy",
    "log_cosh_loss", "margin_ranking_loss", "mean_absolute_error",
    "mean_absolute_percentage_error", "mean_squared_error", "mean_squared_log_error",
    "multi_margin_loss", "multiclass_perceptron_loss", "multiclass_sparsemax_loss",
    "multilabel_margin_loss", "negative_binomial_nll", "ntxent", "pairwise_hinge_loss",
    "pairwise_logistic_loss", "perceptron_loss", "perplexity", "pinball_loss", "poisson_nll",
    "poly_loss_cross_entropy", "ranking_softmax_loss", "soft_margin_loss",
    "sparse_categorical_cross_entropy", "sparsemax_loss", "squared_hinge_loss", "student_t_nll",
    "triplet_margin_loss", "triplet_margin_with_distance_loss", "tversky_loss",
    "tweedie_deviance", "unit_vector_to_lat_lon", "value_and_gradient", "von_mises_fisher_nll",
    "von_mises_nll",
    ), "losskit.losses"),
}
#: subpackages reachable as attributes (``lk.nn``, ``lk.losses``), as when they were imported here
_SUBMODULES = ("diagnose", "families", "losses", "metrics", "nn")
#: public functions named like the module that defines them: importing ``losskit.compare``
#: must not replace ``lk.compare`` (the function) with the module, as the import system would
_SHADOWED = frozenset(name for name, module in _EXPORTS.items()
                      if module == f"losskit.{name}")


def __getattr__(name: str) -> _Any:
    if name in _EXPORTS:
        value = getattr(_importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = _importlib.import_module(f"losskit.{name}")
    else:
        raise AttributeError(f"module 'losskit' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS, *_SUBMODULES})


class _Package(_types.ModuleType):
    """``losskit`` itself: keeps a function whose module has its name (``compare``) when the
    import system sets the freshly imported submodule as the package's attribute."""

    def __setattr__(self, name: str, value: _Any) -> None:
        if name in _SHADOWED and isinstance(value, _types.ModuleType) and \
                value.__name__ == f"losskit.{name}":
            value = getattr(value, name)
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package

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
    "circle_loss",
    "compare",
    "compare_scores",
    "cosine_embedding_loss",
    "cosine_similarity_loss",
    "ctc_loss",
    "diagnose_log",
    "dice_loss",
    "entropy",
    "explain",
    "families",
    "family",
    "gamma_nll",
    "gaussian_mixture_nll",
    "gaussian_nll",
    "generalized_cross_entropy",
    "generalized_dice_loss",
    "generalized_kl_divergence",
    "gradient",
    "hinge_embedding_loss",
    "hinge_loss",
    "huber_loss",
    "kl_divergence",
    "laplace_nll",
    "lat_lon_to_unit_vector",
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
    "ntxent",
    "pairwise_hinge_loss",
    "pairwise_logistic_loss",
    "perceptron_loss",
    "perplexity",
    "pinball_loss",
    "poisson_nll",
    "poly_loss_cross_entropy",
    "ranking_softmax_loss",
    "soft_margin_loss",
    "sparse_categorical_cross_entropy",
    "sparsemax_loss",
    "squared_hinge_loss",
    "student_t_nll",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
    "tversky_loss",
    "tweedie_deviance",
    "unit_vector_to_lat_lon",
    "value_and_gradient",
    "von_mises_fisher_nll",
    "von_mises_nll",
]
