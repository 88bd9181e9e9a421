"""Loss functions: pure functions over any array-API array, with analytic gradients."""

from losskit._validation import check_labels as _check_labels
from losskit.losses._classification import (
    binary_cross_entropy,
    categorical_cross_entropy,
    sparse_categorical_cross_entropy,
)
from losskit.losses._classification import check_binary_targets as _check_binary_targets
from losskit.losses._classification import screen_label_axis as _screen_label_axis
from losskit.losses._classification_catalogue import (
    binary_focal_loss,
    categorical_focal_loss,
    categorical_hinge_loss,
    entropy,
    generalized_cross_entropy,
    hinge_loss,
    kl_divergence,
    perplexity,
    squared_hinge_loss,
)
from losskit.losses._contrastive import circle_loss, ntxent
from losskit.losses._conventions import CONVENTIONS as _CONVENTIONS
from losskit.losses._core import attach_native as _attach_native
from losskit.losses._core import weighted_losses as weighted_losses
from losskit.losses._directional import bessel_terms as bessel_terms
from losskit.losses._directional import langevin_over_kappa as langevin_over_kappa
from losskit.losses._directional import (
    lat_lon_to_unit_vector as lat_lon_to_unit_vector,
)
from losskit.losses._directional import (
    unit_vector_to_lat_lon as unit_vector_to_lat_lon,
)
from losskit.losses._directional import von_mises_fisher_nll, von_mises_nll
from losskit.losses._divergence import (
    generalized_kl_divergence,
)
from losskit.losses._embedding import (
    cosine_embedding_loss,
    cosine_similarity_loss,
    hinge_embedding_loss,
    margin_ranking_loss,
    soft_margin_loss,
    triplet_margin_loss,
    triplet_margin_with_distance_loss,
)
from losskit.losses._gradient import gradient, value_and_gradient
from losskit.losses._likelihood import (
    _student_t_constant,
    gamma_nll,
    gaussian_mixture_nll,
    gaussian_nll,
    laplace_nll,
    negative_binomial_nll,
    poisson_nll,
    student_t_nll,
    tweedie_deviance,
)
from losskit.losses._likelihood import (
    gaussian_log_var_derivatives as gaussian_log_var_derivatives,
)
from losskit.losses._linear import (
    linear_cross_entropy,
)
from losskit.losses._margin import (
    multi_margin_loss,
    multiclass_perceptron_loss,
    multilabel_margin_loss,
    perceptron_loss,
)
from losskit.losses._overlap import (
    dice_loss,
    generalized_dice_loss,
    tversky_loss,
)
from losskit.losses._ranking import (
    pairwise_hinge_loss,
    pairwise_logistic_loss,
    ranking_softmax_loss,
)
from losskit.losses._regression import mean_squared_error
from losskit.losses._robust import (
    huber_loss,
    log_cosh_loss,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_log_error,
    pinball_loss,
)
from losskit.losses._sequence import ctc_loss
from losskit.losses._sparsemax import (
    multiclass_sparsemax_loss,
    poly_loss_cross_entropy,
    sparsemax_loss,
)

# the declared specs, and weighted_losses (what the accumulators stream), re-exported: not in
# __all__, which lists the loss functions and the gradient tools
from losskit.losses._spec import Case as Case
from losskit.losses._spec import Kernel as Kernel
from losskit.losses._spec import LossExplanation as LossExplanation
from losskit.losses._spec import LossSpec as LossSpec
from losskit.losses._spec import explained_functions as explained_functions
from losskit.losses._spec import loss_functions as loss_functions
from losskit.losses._spec import loss_specs as loss_specs
from losskit.losses._spec import spec_of as spec_of

# the native PyTorch kernels (losskit._torch) of the losses a training loop calls most
_attach_native(sparse_categorical_cross_entropy, "sparse_categorical_cross_entropy",
               check_targets=_check_labels)
_attach_native(binary_cross_entropy, "binary_cross_entropy",
               check_targets=_check_binary_targets)
_screen_label_axis(binary_cross_entropy)  # the kernel averages the last axis only
_attach_native(mean_squared_error, "mean_squared_error")
_attach_native(gaussian_nll, "gaussian_nll",
               min_variance=lambda convention: _CONVENTIONS[convention].min_variance)
_attach_native(huber_loss, "huber_loss")
_attach_native(mean_absolute_error, "mean_absolute_error")
_attach_native(poisson_nll, "poisson_nll")
_attach_native(binary_focal_loss, "binary_focal_loss")
_screen_label_axis(binary_focal_loss)  # so does the focal kernel
_attach_native(student_t_nll, "student_t_nll", constant=_student_t_constant)
_attach_native(gamma_nll, "gamma_nll")
_attach_native(log_cosh_loss, "log_cosh_loss")
_attach_native(hinge_loss, "hinge_loss")
_attach_native(squared_hinge_loss, "squared_hinge_loss")
_attach_native(categorical_hinge_loss, "categorical_hinge_loss")
_attach_native(kl_divergence, "kl_divergence")
_attach_native(categorical_cross_entropy, "categorical_cross_entropy")
_attach_native(negative_binomial_nll, "negative_binomial_nll")
_attach_native(laplace_nll, "laplace_nll")
_attach_native(pinball_loss, "pinball_loss")
_attach_native(tweedie_deviance, "tweedie_deviance")
_attach_native(mean_squared_log_error, "mean_squared_log_error")
_attach_native(mean_absolute_percentage_error, "mean_absolute_percentage_error")
_attach_native(multi_margin_loss, "multi_margin_loss")

__all__ = [
    "binary_cross_entropy",
    "binary_focal_loss",
    "categorical_cross_entropy",
    "categorical_focal_loss",
    "categorical_hinge_loss",
    "circle_loss",
    "cosine_embedding_loss",
    "cosine_similarity_loss",
    "ctc_loss",
    "dice_loss",
    "entropy",
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
    "linear_cross_entropy",
    "log_cosh_loss",
    "margin_ranking_loss",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_error",
    "mean_squared_log_error",
    "multi_margin_loss",
    "multiclass_perceptron_loss",
    "multiclass_sparsemax_loss",
    "multilabel_margin_loss",
    "negative_binomial_nll",
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
    "value_and_gradient",
    "von_mises_fisher_nll",
    "von_mises_nll",
]
