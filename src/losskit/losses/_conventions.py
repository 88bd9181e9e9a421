"""Framework conventions as policy objects: what ``convention=`` changes, declared once.

``convention="keras"`` (or ``"torch"``, ``"sklearn"``, ``"optax"``) makes a loss give that
framework's number (``docs/conventions.md``). Each difference is a field of a frozen
:class:`Convention`; a loss body reads the fields of ``CONVENTIONS[convention]`` instead of
branching on the framework's name, so the maths says *what* differs (a clipping bound, a
denominator, a clamp) and this table says *who* does it. A loss that only one framework has
takes the others' numbers to be losskit's (:meth:`Convention.only`).

>>> CONVENTIONS["keras"].clip_eps, CONVENTIONS["torch"].log_floor
(1e-07, -100.0)
>>> CONVENTIONS["torch"].only("keras").name
'losskit'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["CONVENTIONS", "KERAS_EPSILON", "Convention"]

#: Keras' ``backend.epsilon()``, its probability clipping bound
KERAS_EPSILON = 1e-7


@dataclass(frozen=True)
class Convention:
    """The numerical choices of one framework (the defaults are losskit's)."""

    name: str
    #: default probability clipping bound when ``eps`` is not given (``None``: the machine
    #: epsilon of ``y_pred``'s dtype; 0: no clipping)
    clip_eps: float | None = None
    #: a weighted mean divides by the number of samples, not the sum of the weights (Keras'
    #: ``sum_over_batch_size``, PyTorch's ``(w * loss(reduction="none")).mean()``)
    count_mean: bool = False
    #: with integer labels, class weights too are divided by the number of (unmasked) samples
    class_weight_count_mean: bool = False
    #: the counted mean counts ignored samples (PyTorch's idiom averages their zeros)
    count_ignored: bool = False
    #: class weights with probability targets divide by the number of samples
    soft_class_weight_count_mean: bool = False
    #: binary cross-entropy from probabilities: each log clamped at this floor instead of
    #: clipping ``p`` (when ``eps`` is not given)
    log_floor: float | None = None
    #: probability rows are divided by their sum before clipping
    renormalise_rows: bool = False
    #: focal losses: logits go through the activation, then are taken as probabilities
    logits_as_probabilities: bool = False
    #: categorical focal loss: the ``alpha`` that ``alpha=None`` means
    focal_alpha: float = 1.0
    #: KL divergence: the target is clipped to ``[eps, 1]`` as well
    clip_target: bool = False
    #: KL divergence: the mean divides by the number of elements ``n C``
    mean_over_classes: bool = False
    #: Poisson from rates: a constant added to the rate inside the log
    rate_offset: float = 0.0
    #: Poisson ``full=True``: Stirling's approximation of :math:`\log y!` (where ``y > 1``)
    stirling: bool = False
    #: Gaussian NLL: the variance clamped at this floor (zero variances accepted)
    min_variance: float | None = None
    #: squared log error: both arrays clipped to at least this, ``log(x + 1)`` as written
    log1p_floor: float | None = None
    #: log-cosh as :math:`r + \operatorname{softplus}(-2r) - \log 2` (its rounding included)
    softplus_log_cosh: bool = False
    #: percentage error reported in percent (100 times the fraction)
    percent: bool = False
    #: percentage error: the floor of the denominator :math:`|y|`
    relative_floor: float = 2.0**-52
    #: margin losses: labels mapped to -1/+1 only when the whole array is 0/1
    signs_if_all_binary: bool = False
    #: categorical hinge: the true class counts as a wrong score of 0
    true_class_as_zero: bool = False
    #: ``where=`` masks of the cross-entropies: a target on a masked class is dropped (soft
    #: targets) or kept against the masked normaliser (integer labels) instead of refused, and
    #: a sample with no class left gives 0 and stays in the mean instead of leaving it
    masked_as_zero: bool = False
    #: overlap losses: the last axis holds classes, one coefficient per class (averaged), the
    #: smoothing added to the numerator too, and this default smoothing (``None``: losskit's)
    overlap_per_class: bool = False
    overlap_smooth: float | None = None

    def only(self, *frameworks: str) -> Convention:
        """This convention for a loss that only ``frameworks`` have; losskit's otherwise."""
        return self if self.name in frameworks else CONVENTIONS["losskit"]


CONVENTIONS: Mapping[str, Convention] = MappingProxyType({
    "losskit": Convention("losskit"),
    # scikit-learn's numbers are losskit's (machine-epsilon clipping, sum-of-weights means)
    "sklearn": Convention("sklearn"),
    "keras": Convention(
        "keras", clip_eps=KERAS_EPSILON, count_mean=True, class_weight_count_mean=True,
        renormalise_rows=True, logits_as_probabilities=True, focal_alpha=0.25,
        clip_target=True, rate_offset=KERAS_EPSILON, log1p_floor=KERAS_EPSILON,
        softplus_log_cosh=True, percent=True, relative_floor=KERAS_EPSILON,
        signs_if_all_binary=True, true_class_as_zero=True),
    "torch": Convention(
        "torch", clip_eps=0.0, count_mean=True, count_ignored=True,
        soft_class_weight_count_mean=True, log_floor=-100.0, mean_over_classes=True,
        rate_offset=1e-8, stirling=True, min_variance=1e-6),
    # optax returns per-sample losses that the caller averages: jnp.mean(w * l)
    "optax": Convention(
        "optax", count_mean=True, masked_as_zero=True, overlap_per_class=True,
        overlap_smooth=1.0),
})
