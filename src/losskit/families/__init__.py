r"""Likelihood families: the target's distribution decides the output activation and the loss.

A family pairs, for one kind of target, everything maximum likelihood decides at once:

========================  ============================  ===================  ===================
family                    target domain                 raw outputs          activation
========================  ============================  ===================  ===================
Gaussian(scale)           real numbers                  1 (mean)             identity
Laplace(scale)            real numbers                  1 (median)           identity
StudentT(df, scale)       real numbers                  1 (location)         identity
HeteroscedasticGaussian   real numbers                  2 (mean, log var)    identity, exp
GaussianMixture(k)        real numbers                  3k                   softmax, id., exp
Poisson                   counts 0, 1, 2, ...           1 (log-rate)         exp
NegativeBinomial          counts 0, 1, 2, ...           2 (log-mean, log α)  exp, exp
Gamma(shape)              positive numbers              1 (log-mean)         exp
Bernoulli                 labels 0/1                    1 (logit)            sigmoid
MultiLabel                k labels 0/1                  k (logits)           sigmoid
Categorical               one label of C                C (logits)           softmax
VonMises                  angles (radians)              2 (κ cos, κ sin)     mean resultant
VonMisesFisher            unit vectors on the sphere    3 (κ μ)              mean resultant
========================  ============================  ===================  ===================

Every family has ``domain`` (checked by each method, with a clear error),
``n_outputs(n_classes=None)``, ``activation_name`` and ``activation(raw)``, ``loss(y, raw)``
(the NLL computed stably from raw outputs by the catalogue loss ``loss_name``), ``predict(raw)``
(the mean, or the class probabilities), the analytic ``gradient(y, raw)`` and
``hessian(y, raw)`` of each sample's NLL with respect to its raw outputs,
``default_metrics`` (names of :mod:`losskit.metrics` functions), and ``equivalent_loss`` with
``equivalence`` (the catalogue loss it equals and how). Canonical links (``canonical``) give
the gradient prediction minus target. Look families up by name with :func:`losskit.family`.

A family is a custom objective for gradient boosting: XGBoost and LightGBM call an objective
with the current raw scores and expect the per-sample gradient and hessian. Newton boosting
with a single constant "tree" fits the maximum-likelihood constant, the mean of the counts:

>>> import numpy as np
>>> import losskit as lk
>>> fam = lk.families.Poisson()
>>> def objective(y_true, raw):  # LightGBM's signature; XGBoost passes (raw, dtrain)
...     return fam.gradient(y_true, raw), fam.hessian(y_true, raw)
>>> y = np.array([0, 1, 1, 2, 3, 5])
>>> raw = np.zeros(6)
>>> for _ in range(8):
...     grad, hess = objective(y, raw)
...     raw = raw - grad.sum() / hess.sum()  # one Newton step of a constant leaf
>>> round(float(fam.predict(raw)[0]), 9), float(y.mean())
(2.0, 2.0)

The same loop fits class frequencies with :class:`Bernoulli` (and, one raw column per class
with the diagonal hessian, with :class:`Categorical`).
"""

from losskit.families._base import Family, family, registered_families
from losskit.families._classification import Bernoulli, Categorical, MultiLabel
from losskit.families._directional import VonMises, VonMisesFisher
from losskit.families._regression import (
    Gamma,
    Gaussian,
    GaussianMixture,
    HeteroscedasticGaussian,
    Laplace,
    NegativeBinomial,
    Poisson,
    StudentT,
)

__all__ = [
    "Bernoulli",
    "Categorical",
    "Family",
    "Gamma",
    "Gaussian",
    "GaussianMixture",
    "HeteroscedasticGaussian",
    "Laplace",
    "MultiLabel",
    "NegativeBinomial",
    "Poisson",
    "StudentT",
    "VonMises",
    "VonMisesFisher",
    "family",
    "registered_families",
]
