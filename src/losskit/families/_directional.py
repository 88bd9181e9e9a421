r"""Families of directions: angles (von Mises) and points on the sphere (von Mises-Fisher).

Both are exponential families in their natural parameter: the raw outputs are a vector
:math:`\eta = \kappa\mu` whose direction is the predicted direction and whose length the
concentration. The link is canonical, so the gradient is "prediction minus target": the mean
resultant vector :math:`E[t(y)]` (what :meth:`~losskit.families.Family.activation` returns)
minus the target's unit vector :math:`t(y)`. The value, gradient and hessian are the losses'
declared kernels (:mod:`losskit.losses._directional`), not derived a second time.
"""

from __future__ import annotations

from typing import ClassVar

from losskit._array import Array, Namespace, first_index, row_dot, to_bool
from losskit._validation import fail
from losskit.families._base import Family
from losskit.losses import (
    Case,
    Kernel,
    LossExplanation,
    bessel_terms,
    langevin_over_kappa,
    von_mises_fisher_nll,
    von_mises_nll,
)

__all__ = ["VonMises", "VonMisesFisher"]

#: how far from 1 the norm of a unit-vector target may be (as the loss checks)
_UNIT_TOLERANCE = 1e-6


class _Direction(Family):
    """A family whose raw outputs are a natural-parameter vector along the last axis."""

    canonical = True
    convex = True
    link_name = "canonical"
    activation_name = "mean_resultant"
    _kernel: ClassVar[Kernel]
    _layout: ClassVar[str] = ""

    def _check_raw_layout(self, func: str, shape: tuple[int, ...]) -> None:
        width = self.outputs_per_target
        if len(shape) < 2 or shape[-1] != width:
            fail(func, "raw", f"has shape {shape} but {type(self).__name__} needs {width} raw "
                 "outputs per target along the last axis",
                 f"Pass raw of shape (n, {width}); {self._layout}")

    def _gradient(self, xp: Namespace, y: Array, raw: Array) -> Array:
        return self._kernel.gradient(xp, y, raw)

    def _hessian(self, xp: Namespace, y: Array, raw: Array) -> Array:
        hessian = self._kernel.hessian
        if hessian is None:  # pragma: no cover - both kernels declare one
            raise AssertionError(self)
        return hessian(xp, y, raw)

    def _norm(self, xp: Namespace, raw: Array) -> Array:
        return xp.sqrt(row_dot(xp, raw, raw))

    def _direction(self, xp: Namespace, raw: Array) -> Array:
        """The norms of ``raw``, refusing a zero vector (concentration 0: no mean direction)."""
        kappa = self._norm(xp, raw)
        zero = kappa == 0
        if to_bool(self._func("predict"), xp.any(zero)):
            index = first_index(xp, zero)
            fail(self._func("predict"), "raw", f"has a zero vector at index {index[0]} "
                 "(concentration 0: a uniform distribution, with no mean direction)",
                 "Use activation() for the mean resultant vector, which is 0 there")
        return kappa


_VON_MISES = LossExplanation(
    formula="l(y, η) = −η·(cos y, sin y) + log(2π·I0(κ)),   η = κ·(cos μ, sin μ),   κ = |η|",
    distribution="von Mises(μ, κ): the circle's normal distribution, mean direction μ and "
                 "concentration κ; the loss is exactly −log vonMises(y | μ, κ).",
    raw_output="two linear outputs η = κ·(cos μ, sin μ): the direction is the predicted "
               "angle, the length the concentration",
    gradient="∂l/∂η = A(κ)·η/κ − (cos y, sin y)  (the mean resultant E[(cos y, sin y)] minus "
             "the target's direction; A = I1/I0: the canonical link).",
    when="Angles: wind or wave direction, time of day or year, headings, joint angles — "
         "anything where 359° is next to 1°.",
    pitfalls=(
        "Do not regress an angle with the squared error: 359° and 1° are 2° apart but the "
        "squared error sees 358°.",
        "Pass radians, or degrees=True to the loss; the prediction is atan2 of the two "
        "outputs.",
        "κ near 0 means 'no idea of the direction': the loss is log 2π there whatever the "
        "direction.",
    ),
    related=("von_mises_nll", "von_mises_fisher", "gaussian"),
    case=Case("y = 0.5 rad, η = (2, 0) (μ = 0, κ = 2)", 0.5, (2.0, 0.0), vary=0,
              grid=(-6.0, 6.0), more_targets=(3.141592653589793,),
              x_label="raw output η₁ (η₂ = 0)"),
)


class VonMises(_Direction):
    r"""Angle target on the circle: the von Mises distribution, two raw outputs.

    The raw outputs are :math:`\eta = \kappa(\cos\mu, \sin\mu)`: the predicted angle
    :math:`\mu = \operatorname{atan2}(\eta_2, \eta_1)` and the concentration
    :math:`\kappa = \|\eta\|`. With :math:`t(y) = (\cos y, \sin y)` and
    :math:`A(\kappa) = I_1(\kappa)/I_0(\kappa)`:

    .. math::

        l = -\eta\cdot t(y) + \log\bigl(2\pi I_0(\kappa)\bigr),
        \qquad \nabla l = A(\kappa)\frac{\eta}{\kappa} - t(y),
        \qquad \operatorname{diag}\nabla^2 l = A'(\kappa)\,\hat\eta^2
            + \frac{A(\kappa)}{\kappa}(1 - \hat\eta^2)

    with :math:`\hat\eta = \eta/\kappa` and :math:`A' = 1 - A/\kappa - A^2`: exactly
    ``-scipy.stats.vonmises.logpdf(y, kappa, loc=mu)``. Convex in :math:`\eta`.
    :meth:`activation` gives the mean resultant vector :math:`A(\kappa)\hat\eta` (the mean of
    :math:`t(y)`; its length says how concentrated), :meth:`predict` the angle :math:`\mu` in
    radians, in :math:`(-\pi, \pi]`.

    Equivalent loss: :func:`losskit.von_mises_nll` (targets in radians); for large
    :math:`\kappa` a Gaussian on the angle with variance :math:`1/\kappa`.

    When to use it: angles and periodic targets (wind directions, headings, time of day).

    Examples
    --------
    >>> import losskit as lk
    >>> fam = lk.family("von_mises")
    >>> fam.n_outputs(), fam.activation_name
    (2, 'mean_resultant')
    >>> raw = [[2.0, 0.0], [0.0, -3.0]]  # mu = 0 with kappa = 2, mu = -pi/2 with kappa = 3
    >>> [round(v, 6) for v in fam.predict(raw).tolist()]
    [0.0, -1.570796]
    >>> [round(v, 6) for v in fam.gradient([0.0, 0.0], raw)[0].tolist()]  # A(2) - 1, 0
    [-0.302225, 0.0]
    """

    name = "von_mises"
    aliases = ("circular", "angle")
    explanation = _VON_MISES
    domain = "angles in radians (finite real numbers, taken modulo 2 pi)"
    outputs_per_target = 2
    loss_name = "von_mises_nll"
    equivalent_loss = "von_mises_nll"
    equivalence = ("is von_mises_nll(y, raw) (radians); for large kappa, gaussian_nll of the "
                   "angle with var = 1 / kappa")
    default_metrics = ("mean_angular_error",)
    _fixed_options = ("degrees",)
    _kernel = von_mises_nll.spec.kernel
    _layout = "the raw outputs are kappa * (cos mu, sin mu)"

    def __init__(self) -> None:
        self._freeze()

    def _target_shape(self, raw_shape: tuple[int, ...]) -> tuple[int, ...]:
        return raw_shape[:-1]

    _shape_fix = ("Pass one angle per pair of raw outputs: y_true has raw's shape without its "
                  "last axis")

    def _activation(self, xp: Namespace, raw: Array) -> Array:
        _, ratio = bessel_terms(xp, self._norm(xp, raw))
        return ratio[..., None] * raw

    def _predict(self, xp: Namespace, raw: Array) -> Array:
        self._direction(xp, raw)
        return xp.atan2(raw[..., 1], raw[..., 0])


_VON_MISES_FISHER = LossExplanation(
    formula="l(x, η) = −η·x + log(4π·sinh κ / κ),   η = κ·μ,   κ = |η|,   x a unit vector",
    distribution="von Mises–Fisher(μ, κ) on the sphere: mean direction μ, concentration κ; "
                 "the loss is exactly −log vMF(x | μ, κ).",
    raw_output="three linear outputs η = κ·μ: the direction is the predicted point on the "
               "sphere, the length the concentration",
    gradient="∂l/∂η = (coth κ − 1/κ)·η/κ − x  (the mean resultant minus the target: the "
             "canonical link).",
    when="Locations on the globe (latitude/longitude as unit vectors) and 3-D directions: "
         "no seam at the date line and no singularity at the poles.",
    pitfalls=(
        "Do not regress latitude and longitude with the squared error: 179.9° and −179.9° "
        "are neighbours, and a degree of longitude shrinks to nothing at the poles.",
        "Convert with lk.lat_lon_to_unit_vector and back with lk.unit_vector_to_lat_lon; "
        "report the error with great_circle_distance (km).",
    ),
    related=("von_mises_fisher_nll", "von_mises", "gaussian"),
    case=Case("x = (0, 0, 1) (north pole), η = (0, 0, 5) (μ = x, κ = 5)", (0.0, 0.0, 1.0),
              (0.0, 0.0, 5.0), vary=2, grid=(-6.0, 10.0), more_targets=((1.0, 0.0, 0.0),),
              x_label="raw output η₃ (η₁ = η₂ = 0)"),
)


class VonMisesFisher(_Direction):
    r"""Direction target on the sphere (a location on the globe): the von Mises-Fisher
    distribution, three raw outputs.

    The target is a unit vector :math:`x` (latitude/longitude through
    :func:`losskit.lat_lon_to_unit_vector`); the raw outputs are :math:`\eta = \kappa\mu`, the
    predicted unit vector :math:`\mu` scaled by the concentration :math:`\kappa = \|\eta\|`.
    With the Langevin function :math:`A(\kappa) = \coth\kappa - 1/\kappa`:

    .. math::

        l = -\eta\cdot x + \log\frac{4\pi\sinh\kappa}{\kappa},
        \qquad \nabla l = A(\kappa)\frac{\eta}{\kappa} - x,
        \qquad \operatorname{diag}\nabla^2 l = A'(\kappa)\,\hat\eta^2
            + \frac{A(\kappa)}{\kappa}(1 - \hat\eta^2)

    with :math:`A' = 1/\kappa^2 - 1/\sinh^2\kappa`: exactly
    ``-scipy.stats.vonmises_fisher(mu, kappa).logpdf(x)``, computed without :math:`\sinh`
    (no overflow). Convex in :math:`\eta`. :meth:`activation` gives the mean resultant vector
    :math:`A(\kappa)\hat\eta`; :meth:`predict` the unit vector :math:`\hat\eta`
    (:func:`losskit.unit_vector_to_lat_lon` turns it back into latitude and longitude), which
    :func:`losskit.metrics.great_circle_distance` scores in kilometres.

    Equivalent loss: :func:`losskit.von_mises_fisher_nll`.

    When to use it: locations (latitude/longitude) and 3-D directions; a squared error on
    degrees is wrong at the date line and the poles.

    Examples
    --------
    >>> import losskit as lk
    >>> fam = lk.family("von_mises_fisher")
    >>> fam.n_outputs()
    3
    >>> raw = [[0.0, 0.0, 5.0]]  # the north pole, kappa = 5
    >>> fam.predict(raw).tolist()
    [[0.0, 0.0, 1.0]]
    >>> [round(v, 6) for v in fam.gradient([[0.0, 0.0, 1.0]], raw)[0].tolist()]  # A(5) - 1
    [0.0, 0.0, -0.199909]
    """

    name = "von_mises_fisher"
    aliases = ("vmf", "sphere", "lat lon")
    explanation = _VON_MISES_FISHER
    domain = "unit vectors (x, y, z) in 3-D (norm 1 within 1e-6)"
    outputs_per_target = 3
    loss_name = "von_mises_fisher_nll"
    equivalent_loss = "von_mises_fisher_nll"
    equivalence = ("is von_mises_fisher_nll(y, raw); for large kappa, a Gaussian on the "
                   "tangent plane with var = 1 / kappa per axis")
    default_metrics = ("great_circle_distance",)
    _kernel = von_mises_fisher_nll.spec.kernel
    _layout = "the raw outputs are kappa * (unit vector of the mean direction)"

    def __init__(self) -> None:
        self._freeze()

    def _check_domain(self, func: str, xp: Namespace, y: Array, raw_shape: tuple[int, ...],
                      ignore_index: int | None) -> None:
        super()._check_domain(func, xp, y, raw_shape, ignore_index)
        if y.ndim < 1 or y.shape[-1] != 3:
            fail(func, "y_true", f"has shape {tuple(y.shape)}",
                 "Pass unit vectors (x, y, z) along the last axis: shape (n, 3)")
        norm = self._norm(xp, y)
        distance = xp.abs(norm - 1.0)
        # the farthest norm from 1 (one reduction; NaN with a NaN target), the mask only then
        if to_bool(func, xp.max(distance) <= _UNIT_TOLERANCE):
            return
        ok = distance <= _UNIT_TOLERANCE
        self._require(func, xp, norm, ok, "that is the norm of a vector not of length 1",
                      "Convert latitude and longitude with losskit.lat_lon_to_unit_vector")

    def _activation(self, xp: Namespace, raw: Array) -> Array:
        ratio, _ = langevin_over_kappa(xp, self._norm(xp, raw))
        return ratio[..., None] * raw

    def _predict(self, xp: Namespace, raw: Array) -> Array:
        return raw / self._direction(xp, raw)[..., None]
