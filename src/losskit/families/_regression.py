"""Families of real, positive and count targets: Gaussian, Laplace, Student t, Poisson, negative
binomial, Gamma, heteroscedastic Gaussian and Gaussian mixture."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

from losskit._array import Array, Namespace, log_softmax
from losskit._validation import Boolean, Integer, fail
from losskit.families._base import POSITIVE, Family, check_parameter
from losskit.losses import Case, LossExplanation, gaussian_log_var_derivatives

__all__ = [
    "Gamma",
    "Gaussian",
    "GaussianMixture",
    "HeteroscedasticGaussian",
    "Laplace",
    "NegativeBinomial",
    "Poisson",
    "StudentT",
]

_REGRESSION_METRICS = ("root_mean_squared_error", "mean_absolute_error", "r2_score")
_COUNT_METRICS = ("mean_absolute_error", "root_mean_squared_error", "mean_poisson_deviance",
                  "r2_score")


class _Real(Family):
    """A family whose raw output is the location itself (identity activation)."""

    activation_name = "identity"
    link_name = "identity"
    domain = "finite real numbers"
    # the Gaussian, Laplace and Student-t kernels return a value only when it is finite,
    # which a NaN or infinite target or raw output never gives
    _native_validates = True

    def _activation(self, xp: Namespace, raw: Array) -> Array:
        return raw


# ---------------------------------------------------------------------------------- Gaussian


_GAUSSIAN = LossExplanation(
    formula="l(y, μ) = (y − μ)²/(2σ²) + log σ + ½·log 2π   (σ = scale)",
    distribution="Gaussian N(μ, σ²) with a fixed σ; the loss is exactly −log N(y | μ, σ²).",
    raw_output="the mean μ (one linear output)",
    gradient="∂l/∂μ = (μ − y)/σ²  (canonical: prediction minus target when σ = 1); "
             "∂²l/∂μ² = 1/σ².",
    when="Real-valued targets with roughly symmetric, light-tailed noise of constant size.",
    pitfalls=(
        "Outliers dominate the fit: use laplace or student_t.",
        "Noise whose size varies with the input: use heteroscedastic_gaussian.",
        "σ scales the loss and its gradients, not the fitted mean.",
    ),
    related=("laplace", "student_t", "heteroscedastic_gaussian", "mean_squared_error"),
    case=Case("y = 1, μ = 0.3, σ = 1", 1.0, 0.3, {"scale": 1.0}, x_label="mean μ"),
)


class Gaussian(_Real):
    r"""Gaussian target with a fixed standard deviation: linear output and squared error.

    The target is :math:`y \sim \mathcal N(\mu, \sigma^2)` with the mean :math:`\mu` the raw
    output (identity activation, the canonical link) and :math:`\sigma` the ``scale``:

    .. math::

        l(y, \mu) = \frac{(y - \mu)^2}{2\sigma^2} + \log\sigma + \tfrac12\log 2\pi,
        \qquad \frac{\partial l}{\partial \mu} = \frac{\mu - y}{\sigma^2},
        \qquad \frac{\partial^2 l}{\partial \mu^2} = \frac{1}{\sigma^2}

    which is ``-scipy.stats.norm.logpdf(y, mu, scale)``; ``full=False`` drops
    :math:`\frac12\log 2\pi`. With :math:`\sigma = 1` the gradient is prediction minus target.
    The NLL is negative where the density exceeds 1 (:math:`\sigma < 1/\sqrt{2\pi}` and a
    good fit): legitimate.

    Equivalent loss: :func:`losskit.mean_squared_error`. The NLL is
    :math:`\mathrm{MSE}/(2\sigma^2)` plus the constant :math:`\log\sigma + \frac12\log 2\pi`,
    so both have the same minimiser and proportional gradients.

    When to use it: real-valued targets with roughly symmetric, light-tailed noise of constant
    size. For outliers use :class:`Laplace` or :class:`StudentT`; for noise whose size varies
    use :class:`HeteroscedasticGaussian`.

    Parameters
    ----------
    scale : float > 0
        The standard deviation :math:`\sigma` (it scales the loss and its derivatives, not the
        fitted mean).
    full : bool
        Include :math:`\frac12\log 2\pi` (the exact NLL).

    Examples
    --------
    >>> import losskit as lk
    >>> fam = lk.families.Gaussian()
    >>> fam.activation_name, fam.n_outputs(), fam.equivalent_loss
    ('identity', 1, 'mean_squared_error')
    >>> y, raw = [1.0, 2.0], [1.5, 2.0]
    >>> round(float(fam.loss(y, raw)), 6)  # -mean(norm.logpdf(y, raw))
    0.981439
    >>> fam.gradient(y, raw).tolist(), fam.hessian(y, raw).tolist()
    ([0.5, 0.0], [1.0, 1.0])
    """

    name = "gaussian"
    aliases = ("normal",)
    explanation = _GAUSSIAN
    canonical = True
    loss_name = "gaussian_nll"
    equivalent_loss = "mean_squared_error"
    equivalence = ("NLL = mean_squared_error / (2 scale**2) + log(scale) + log(2 pi) / 2: the "
                   "same minimiser, gradients scaled by 1 / (2 scale**2)")
    default_metrics = _REGRESSION_METRICS
    _fixed_options = ("var", "log_var", "full")

    def __init__(self, scale: float = 1.0, full: bool = True) -> None:
        self.scale = float(check_parameter("Gaussian", "scale", scale, POSITIVE))
        self.full = check_parameter("Gaussian", "full", full, Boolean())
        self._freeze()

    def _params(self) -> dict[str, Any]:
        return {"scale": self.scale, "full": self.full}

    def _loss_options(self) -> dict[str, Any]:
        return {"var": self.scale**2, "full": self.full}


# ----------------------------------------------------------------------------------- Laplace


_LAPLACE = LossExplanation(
    formula="l(y, μ) = |y − μ|/b + log 2b   (b = scale)",
    distribution="Laplace(μ, b): the location μ is the median and the mean; the loss is "
                 "exactly −log Laplace(y | μ, b).",
    raw_output="the location μ (one linear output)",
    gradient="∂l/∂μ = sign(μ − y)/b  (0 at a tie); the second derivative is 0 wherever it "
             "exists.",
    when="Real targets with heavy-tailed noise or outliers, when the median is the "
         "prediction you want.",
    pitfalls=(
        "The hessian is 0: a Newton step is undefined; boosting libraries use a constant "
        "hessian (LightGBM's l1 uses 1).",
        "The gradient has constant size: decay the learning rate.",
    ),
    related=("gaussian", "student_t", "mean_absolute_error"),
    case=Case("y = 1, μ = 0.3, b = 1", 1.0, 0.3, {"scale": 1.0}, x_label="location μ"),
)


class Laplace(_Real):
    r"""Laplace target with a fixed scale: linear output and absolute error.

    :math:`y \sim \mathrm{Laplace}(\mu, b)` with the location (median and mean) :math:`\mu` the
    raw output and :math:`b` the ``scale``:

    .. math::

        l(y, \mu) = \frac{|y - \mu|}{b} + \log 2b,
        \qquad \frac{\partial l}{\partial \mu} = \frac{\operatorname{sign}(\mu - y)}{b},
        \qquad \frac{\partial^2 l}{\partial \mu^2} = 0 \;\;(\mu \ne y)

    exactly ``-scipy.stats.laplace.logpdf(y, mu, b)``. The gradient at a tie is 0 (a
    subgradient). The hessian is 0 wherever it exists: a Newton step is undefined, so
    gradient-boosting libraries use a constant hessian for this loss (LightGBM's ``l1``
    objective uses 1); pass your own constant rather than this hessian to a Newton method.

    Equivalent loss: :func:`losskit.mean_absolute_error`:
    NLL = MAE / :math:`b` + :math:`\log 2b`; the model learns the conditional median.

    When to use it: real targets with heavy-tailed noise or outliers, when the median is the
    prediction you want.

    Parameters
    ----------
    scale : float > 0
        The scale :math:`b` (the mean absolute deviation; the variance is :math:`2b^2`).

    Examples
    --------
    >>> import losskit as lk
    >>> fam = lk.families.Laplace(scale=0.5)
    >>> fam.loss([0.0, 0.0], [0.0, 2.0], reduction="none").tolist()
    [0.0, 4.0]
    >>> fam.gradient([0.0, 0.0, 0.0], [-1.0, 0.0, 2.0]).tolist()
    [-2.0, 0.0, 2.0]
    """

    name = "laplace"
    explanation = _LAPLACE
    loss_name = "laplace_nll"
    equivalent_loss = "mean_absolute_error"
    equivalence = ("NLL = mean_absolute_error / scale + log(2 scale): the same minimiser (the "
                   "median), gradients scaled by 1 / scale")
    default_metrics = ("mean_absolute_error", "root_mean_squared_error", "r2_score")
    _fixed_options = ("scale",)

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = float(check_parameter("Laplace", "scale", scale, POSITIVE))
        self._freeze()

    def _params(self) -> dict[str, Any]:
        return {"scale": self.scale}

    def _loss_options(self) -> dict[str, Any]:
        return {"scale": self.scale}


# --------------------------------------------------------------------------------- Student t


_STUDENT_T = LossExplanation(
    formula="l = log[Γ(ν/2)·√(νπ)·s / Γ((ν+1)/2)] + ((ν+1)/2)·log(1 + r²/(ν·s²)),   "
            "r = μ − y",
    distribution="Student-t t_ν(μ, s) with degrees of freedom ν = df and scale s; the loss "
                 "is exactly −log t_ν(y | μ, s).",
    raw_output="the location μ (one linear output)",
    gradient="∂l/∂μ = (ν + 1)·r / (ν·s² + r²)  (decreasing beyond |r| = s·√ν).",
    when="Real targets with a fraction of gross outliers; df from 3 to 5 is a common "
         "robust choice.",
    pitfalls=(
        "Not convex: the hessian is negative for |r| > s·√ν; clip it for Newton methods.",
        "df is required: lk.family('student_t', df=4).",
        "predict() is the location: the mean only for ν > 1 (the median always).",
    ),
    related=("gaussian", "laplace", "student_t_nll", "huber_loss"),
    case=Case("y = 0, μ = 1, ν = 3, s = 1", 0.0, 1.0, {"df": 3.0, "scale": 1.0},
               grid=(-8.0, 8.0), x_label="location μ"),
)


class StudentT(_Real):
    r"""Student-t target: linear output and a loss that ignores gross outliers.

    :math:`y \sim t_\nu(\mu, s)` with location :math:`\mu` the raw output, degrees of freedom
    :math:`\nu` (``df``) and scale :math:`s`; with :math:`r = \mu - y`:

    .. math::

        l = \log\frac{\Gamma(\nu/2)\sqrt{\nu\pi}\,s}{\Gamma((\nu+1)/2)}
            + \frac{\nu+1}{2}\log\Bigl(1 + \frac{r^2}{\nu s^2}\Bigr),
        \qquad \frac{\partial l}{\partial\mu} = \frac{(\nu+1)\,r}{\nu s^2 + r^2},
        \qquad \frac{\partial^2 l}{\partial\mu^2} = \frac{(\nu+1)(\nu s^2 - r^2)}
            {(\nu s^2 + r^2)^2}

    exactly ``-scipy.stats.t.logpdf(y, df, mu, s)``. The loss is **not convex**: the hessian
    is negative for :math:`|r| > s\sqrt\nu`, where an outlier's pull decreases. Newton methods
    (boosting) need a positive hessian there (clip it, e.g. at :math:`10^{-6}`).
    :meth:`predict` returns the location, which is the mean for :math:`\nu > 1` and the median
    always.

    Equivalent loss: :func:`losskit.student_t_nll` itself; as :math:`\nu\to\infty` it becomes
    :class:`Gaussian` with :math:`\sigma = s` (``gaussian_nll``), :math:`\nu = 1` is Cauchy.

    When to use it: real targets with a fraction of gross outliers (corrupted labels);
    ``df`` from 3 to 5 is a common robust choice.

    Parameters
    ----------
    df : float > 0
        Degrees of freedom :math:`\nu` (required).
    scale : float > 0
        The scale :math:`s`.

    Examples
    --------
    >>> import losskit as lk
    >>> fam = lk.families.StudentT(df=1.0)
    >>> [round(v, 4) for v in fam.loss([0.0, 0.0], [0.0, 100.0], reduction="none").tolist()]
    [1.1447, 10.3552]
    >>> fam.hessian([0.0, 0.0], [0.0, 2.0]).tolist()  # negative far from the target
    [2.0, -0.24]
    """

    name = "student_t"
    aliases = ("student-t", "student", "t")
    explanation = _STUDENT_T
    convex = False
    loss_name = "student_t_nll"
    equivalent_loss = "student_t_nll"
    equivalence = ("is student_t_nll(df, scale); tends to gaussian_nll with var = scale**2 "
                   "(Gaussian(scale)) as df -> infinity, and is the Cauchy NLL at df = 1")
    default_metrics = ("mean_absolute_error", "root_mean_squared_error", "r2_score")
    _fixed_options = ("df", "scale")

    def __init__(self, df: float, scale: float = 1.0) -> None:
        self.df = float(check_parameter("StudentT", "df", df, POSITIVE))
        self.scale = float(check_parameter("StudentT", "scale", scale, POSITIVE))
        self._freeze()

    def _params(self) -> dict[str, Any]:
        return {"df": self.df, "scale": self.scale}

    def _loss_options(self) -> dict[str, Any]:
        return {"df": self.df, "scale": self.scale}


# ----------------------------------------------------------------------------------- Poisson


class _LogLink(Family):
    """A positive mean :math:`\\mu = e^{\\eta}` predicted through an exponential activation."""

    activation_name = "exp"
    link_name = "log"
    default_metrics = ("mean_absolute_error", "root_mean_squared_error", "r2_score")

    def _activation(self, xp: Namespace, raw: Array) -> Array:
        return xp.exp(raw)


def _require_counts(fam: Family, func: str, xp: Namespace, y: Array) -> None:
    if fam._within(func, xp, y, low=0.0, integral=True):
        return
    fam._require(func, xp, y, fam._integral(xp, y), "that is not an integer",
                 "Round counts, or use Gamma or Gaussian for continuous targets")
    fam._require(func, xp, y, y >= 0, "below 0",
                 "Use Gaussian (or another real family) for signed targets")


_POISSON = LossExplanation(
    formula="l(y, η) = e^η − y·η + log y!   (η = log μ the raw output)",
    distribution="Poisson(μ) with μ = e^η: the loss is exactly −log P(y | μ) for a count y.",
    raw_output="the log-rate η (one linear output)",
    gradient="∂l/∂η = e^η − y = μ̂ − y  (canonical link); ∂²l/∂η² = e^η.",
    when="Counts (events, visits, goals) whose variance is about their mean.",
    pitfalls=(
        "The raw output is log μ: do not apply exp yourself before the loss.",
        "Targets must be integers ≥ 0.",
        "Over-dispersed counts: use the negative_binomial family.",
    ),
    related=("gamma", "poisson_nll", "negative_binomial"),
    case=Case("y = 3, μ = 2 (η = log 2)", 3.0, math.log(2.0), grid=(-2.0, 3.0),
               more_targets=(0.0,), x_label="log-rate η"),
)


class Poisson(_LogLink):
    r"""Poisson count target: exponential output and the Poisson NLL of the log-rate.

    :math:`y \sim \mathrm{Poisson}(\mu)` with the raw output the log-rate
    :math:`\eta = \log\mu` (exponential activation, the canonical link):

    .. math::

        l(y, \eta) = e^\eta - y\eta + \log y!,
        \qquad \frac{\partial l}{\partial\eta} = e^\eta - y = \hat y - y,
        \qquad \frac{\partial^2 l}{\partial\eta^2} = e^\eta

    exactly ``-scipy.stats.poisson.logpmf(y, exp(eta))``; ``full=False`` drops
    :math:`\log y!`, which does not depend on the model. Finite for every finite
    :math:`\eta`, convex in :math:`\eta`.

    Equivalent loss: :func:`losskit.tweedie_deviance` with ``power=1`` (the Poisson deviance,
    scikit-learn's ``mean_poisson_deviance``): NLL = deviance / 2 +
    :math:`y - y\log y + \log y!`, a term free of the model, so the two have the same minimiser.

    When to use it: counts (events, visits, goals) whose variance is about their mean.

    Parameters
    ----------
    full : bool
        Include :math:`\log y!` (the exact NLL).

    Examples
    --------
    >>> import math
    >>> import losskit as lk
    >>> fam = lk.families.Poisson()
    >>> y, raw = [0, 2, 5], [0.0, math.log(2.0), math.log(4.0)]
    >>> round(float(fam.loss(y, raw)), 6)  # -mean(poisson.logpmf(y, exp(raw)))
    1.387624
    >>> [round(v, 6) for v in fam.gradient(y, raw).tolist()]  # predicted rate minus count
    [1.0, 0.0, -1.0]
    >>> fam.loss([-1, 2], [0.0, 0.0])
    Traceback (most recent call last):
    ...
    ValueError: Poisson.loss: y_true has a value below 0 (-1 at index 0; ...
    """

    name = "poisson"
    aliases = ("counts", "count")
    explanation = _POISSON
    canonical = True
    domain = "counts: integers >= 0"
    default_metrics = _COUNT_METRICS
    loss_name = "poisson_nll"
    equivalent_loss = "tweedie_deviance"
    equivalence = ("NLL = tweedie_deviance(power=1, log_input=True) / 2 + y - y log y + "
                   "log y!: the same minimiser and half its gradient")
    _fixed_options = ("log_input", "full")
    _native_validates = True

    def __init__(self, full: bool = True) -> None:
        self.full = check_parameter("Poisson", "full", full, Boolean())
        self._freeze()

    def _params(self) -> dict[str, Any]:
        return {"full": self.full}

    def _check_domain(self, func: str, xp: Namespace, y: Array, raw_shape: tuple[int, ...],
                      ignore_index: int | None) -> None:
        _require_counts(self, func, xp, y)

    def _check_after_native(self, func: str, xp: Namespace, y: Array) -> bool:
        # the kernel took counts >= 0 and finite: whether they are integers
        return self._whole(func, y)

    def _loss_options(self) -> dict[str, Any]:
        return {"log_input": True, "full": self.full}


# ------------------------------------------------------------------------------------- Gamma


_GAMMA = LossExplanation(
    formula="l(y, η) = α·(y·e^(−η) + η) − α·log α + log Γ(α) − (α − 1)·log y   "
            "(η = log μ, α = shape)",
    distribution="Gamma with mean μ = e^η and shape α (variance μ²/α); the loss is exactly "
                 "−log Gamma(y | α, rate α/μ).",
    raw_output="the log-mean η (one linear output; the log link keeps μ > 0)",
    gradient="∂l/∂η = α·(1 − y·e^(−η));  ∂²l/∂η² = α·y·e^(−η).",
    when="Positive, right-skewed continuous targets whose spread grows with their level; "
         "shape=1 is the exponential distribution.",
    pitfalls=(
        "Targets must be > 0 (zeros: tweedie_deviance with 1 < power < 2).",
        "The log link is not the canonical (inverse) link: the gradient is not prediction "
        "minus target.",
    ),
    related=("poisson", "gamma_nll", "tweedie_deviance"),
    case=Case("y = 1.5, η = 0.2, α = 2", 1.5, 0.2, {"shape": 2.0}, grid=(-2.0, 3.0),
               x_label="log-mean η"),
)


class Gamma(_LogLink):
    r"""Gamma target: exponential output and the Gamma NLL of the log-mean.

    :math:`y \sim \mathrm{Gamma}(\alpha, \text{rate } \alpha/\mu)` (mean :math:`\mu`, variance
    :math:`\mu^2/\alpha`) with the raw output the log-mean :math:`\eta = \log\mu` (the log
    link, not the canonical inverse link: it keeps :math:`\mu > 0` and the loss convex):

    .. math::

        l(y, \eta) = \alpha\bigl(y e^{-\eta} + \eta\bigr) - \alpha\log\alpha
            + \log\Gamma(\alpha) - (\alpha - 1)\log y,
        \qquad \frac{\partial l}{\partial\eta} = \alpha\bigl(1 - y e^{-\eta}\bigr),
        \qquad \frac{\partial^2 l}{\partial\eta^2} = \alpha y e^{-\eta}

    exactly ``-scipy.stats.gamma.logpdf(y, a=shape, scale=exp(eta) / shape)``; ``full=False``
    drops the terms free of :math:`\eta`. Negative values are legitimate where the density
    exceeds 1.

    Equivalent loss: :func:`losskit.tweedie_deviance` with ``power=2`` (the Gamma deviance,
    scikit-learn's ``mean_gamma_deviance``): NLL = :math:`\alpha` · deviance / 2 + terms
    free of the model.

    When to use it: positive, right-skewed continuous targets whose spread grows with their
    level (claim sizes, durations). With ``shape=1`` it is the exponential distribution.

    Parameters
    ----------
    shape : float > 0
        The shape :math:`\alpha` (:math:`1/\alpha` is the squared coefficient of variation).
    full : bool
        Include the terms free of :math:`\eta` (the exact NLL).

    Examples
    --------
    >>> import math
    >>> import losskit as lk
    >>> fam = lk.families.Gamma(shape=2.0)
    >>> round(float(fam.loss([1.0, 4.0], [math.log(2.0)] * 2)), 6)
    1.806853
    >>> fam.gradient([1.0, 4.0], [math.log(2.0)] * 2).tolist()
    [1.0, -2.0]
    """

    name = "gamma"
    explanation = _GAMMA
    domain = "positive real numbers"
    default_metrics = ("mean_absolute_error", "root_mean_squared_error", "mean_gamma_deviance",
                       "r2_score")
    loss_name = "gamma_nll"
    equivalent_loss = "tweedie_deviance"
    equivalence = ("NLL = shape * tweedie_deviance(power=2, log_input=True) / 2 + terms free of "
                   "the model: the same minimiser, gradients scaled by shape / 2")
    _fixed_options = ("shape", "log_input", "full")
    _native_validates = True  # (the kernel's minimum: targets > 0)

    def __init__(self, shape: float = 1.0, full: bool = True) -> None:
        self.shape = float(check_parameter("Gamma", "shape", shape, POSITIVE))
        self.full = check_parameter("Gamma", "full", full, Boolean())
        self._freeze()

    def _params(self) -> dict[str, Any]:
        return {"shape": self.shape, "full": self.full}

    def _check_domain(self, func: str, xp: Namespace, y: Array, raw_shape: tuple[int, ...],
                      ignore_index: int | None) -> None:
        if self._within(func, xp, y, low=0.0, strict=True):
            return
        self._require(func, xp, y, xp.isfinite(y) & (y > 0), "that is not a positive number",
                      "For targets with exact zeros use tweedie_deviance with 1 < power < 2, "
                      "or Poisson for counts")

    def _loss_options(self) -> dict[str, Any]:
        return {"shape": self.shape, "log_input": True, "full": self.full}


# -------------------------------------------------------------------- heteroscedastic Gaussian


class _Blocks(Family):
    """A family with several raw outputs per target entry along the last axis of ``raw``."""

    domain = "finite real numbers"
    _shape_fix = ("Put each target entry's raw outputs along the last axis of raw: y_true has "
                  "raw's shape without its last axis")

    def _check_raw_layout(self, func: str, shape: tuple[int, ...]) -> None:
        width = self.outputs_per_target
        if len(shape) < 2 or shape[-1] != width:
            fail(func, "raw", f"has shape {shape} but {type(self).__name__} needs {width} raw "
                 "outputs per target entry along the last axis",
                 f"Pass raw of shape (n, {width}) (or y_true.shape + ({width},)); "
                 f"{self._layout}")

    _layout: ClassVar[str] = ""

    def _target_shape(self, raw_shape: tuple[int, ...]) -> tuple[int, ...]:
        return raw_shape[:-1]


_HETEROSCEDASTIC_GAUSSIAN = LossExplanation(
    formula="l = ½·(s + (y − μ)²·e^(−s)) + ½·log 2π   (raw outputs μ and s = log σ²)",
    distribution="Gaussian N(μ, σ²) with both the mean and the log-variance predicted; the "
                 "loss is exactly −log N(y | μ, e^s).",
    raw_output="two linear outputs per target: the mean μ and the log-variance s",
    gradient="∇l = ((μ − y)·e^(−s),  ½·(1 − (y − μ)²·e^(−s))).",
    when="Real targets whose noise level varies with the input, when you want a calibrated "
         "uncertainty next to the prediction.",
    pitfalls=(
        "The variance can collapse on fitted points (loss → −∞): regularise s or bound it.",
        "Convex in each output but not jointly: the hessian's determinant is negative.",
        "The mean's gradient is scaled by e^(−s): noisy-looking points are learned slowly.",
    ),
    related=("gaussian", "gaussian_mixture", "gaussian_nll"),
    case=Case("y = 1, μ = 0.3, s = −0.5", 1.0, (0.3, -0.5), vary=0,
               x_label="mean μ (log-variance fixed)"),
)


class HeteroscedasticGaussian(_Blocks):
    r"""Gaussian target whose mean and variance are both predicted: two raw outputs.

    The raw outputs along the last axis are the mean :math:`\mu` (identity activation) and the
    log-variance :math:`s = \log\sigma^2` (exponential activation gives :math:`\sigma^2`):

    .. math::

        l = \frac12\Bigl(s + (y - \mu)^2 e^{-s}\Bigr) + \tfrac12\log 2\pi,
        \qquad \nabla l = \Bigl((\mu - y)e^{-s},\;
            \tfrac12\bigl(1 - (y - \mu)^2 e^{-s}\bigr)\Bigr),
        \qquad \operatorname{diag}\nabla^2 l = \Bigl(e^{-s},\; \tfrac12 (y - \mu)^2 e^{-s}\Bigr)

    exactly ``-scipy.stats.norm.logpdf(y, mu, exp(s / 2))``; ``full=False`` drops
    :math:`\frac12\log 2\pi`. The hessian is the diagonal; the off-diagonal term is
    :math:`(y - \mu)e^{-s}`, and the NLL is convex in each output but not jointly (the
    determinant of its hessian, :math:`-\frac12 (y-\mu)^2 e^{-2s}`, is negative).
    Computing from the log-variance keeps the loss finite for any raw output, with no
    variance floor. The NLL goes negative when the model is confident and
    right: legitimate.

    Equivalent loss: :func:`losskit.gaussian_nll` with ``log_var`` = the second output (and
    ``full``); with a fixed log-variance it is :class:`Gaussian` (MSE up to scale and
    constants).

    When to use it: real targets whose noise level varies with the input, when you want a
    calibrated uncertainty (an interval) next to the prediction.

    Parameters
    ----------
    full : bool
        Include :math:`\frac12\log 2\pi` (the exact NLL).

    Examples
    --------
    >>> import losskit as lk
    >>> fam = lk.families.HeteroscedasticGaussian()
    >>> fam.n_outputs(), fam.activation_name
    (2, 'identity,exp')
    >>> raw = [[0.0, 0.0], [1.0, -2.0]]  # (mean, log-variance) per sample
    >>> round(float(fam.loss([1.0, 1.0], raw)), 6)
    0.668939
    >>> fam.gradient([1.0, 1.0], raw).tolist()
    [[-1.0, 0.0], [0.0, 0.5]]
    >>> fam.predict(raw).tolist()
    [0.0, 1.0]
    """

    name = "heteroscedastic_gaussian"
    aliases = ("heteroscedastic",)
    explanation = _HETEROSCEDASTIC_GAUSSIAN
    activation_name = "identity,exp"
    link_name = "identity,log"
    outputs_per_target = 2
    convex = False
    loss_name = "gaussian_nll"
    equivalent_loss = "gaussian_nll"
    equivalence = ("is gaussian_nll(y, raw[..., 0], log_var=raw[..., 1], full=full); with a "
                   "constant log-variance, mean_squared_error up to scale and constants")
    default_metrics = _REGRESSION_METRICS
    _fixed_options = ("var", "log_var", "full")
    _layout = "the raw outputs are (mean, log-variance)"

    def __init__(self, full: bool = True) -> None:
        self.full = check_parameter("HeteroscedasticGaussian", "full", full, Boolean())
        self._freeze()

    def _params(self) -> dict[str, Any]:
        return {"full": self.full}

    def _loss_options(self) -> None:  # type: ignore[override]
        return None  # the raw outputs are split between y_pred and log_var

    def _call_loss(self, fn: Callable, xp: Namespace, y: Array, raw: Array,
                   options: dict[str, Any]) -> Array:
        return fn(y, raw[..., 0], log_var=raw[..., 1], full=self.full, **options)

    def _activation(self, xp: Namespace, raw: Array) -> Array:
        return xp.stack([raw[..., 0], xp.exp(raw[..., 1])], axis=-1)

    def _predict(self, xp: Namespace, raw: Array) -> Array:
        return raw[..., 0]

    def _gradient(self, xp: Namespace, y: Array, raw: Array) -> Array:
        mean, log_var = raw[..., 0], raw[..., 1]
        g_mean = self.kernel.gradient(xp, y, mean, log_var=log_var)
        return xp.stack([g_mean, gaussian_log_var_derivatives(xp, y, mean, log_var)[0]],
                        axis=-1)

    def _hessian(self, xp: Namespace, y: Array, raw: Array) -> Array:
        mean, log_var = raw[..., 0], raw[..., 1]
        h_mean = self.kernel.hessian(xp, y, mean, log_var=log_var)
        return xp.stack([h_mean, gaussian_log_var_derivatives(xp, y, mean, log_var)[1]],
                        axis=-1)


# ------------------------------------------------------------------------- negative binomial


_NEGATIVE_BINOMIAL = LossExplanation(
    formula="l = r·softplus(η + s) + y·softplus(−η − s) + log Γ(r) − log Γ(y + r) + log y!"
            "   (raw outputs η = log μ and s = log α, r = 1/α)",
    distribution="Negative binomial NB2 with mean μ = e^η and dispersion α = e^s (variance "
                 "μ + α·μ²); the loss is exactly −log NB(y | μ, α).",
    raw_output="two linear outputs per count: the log-mean η and the log-dispersion s",
    gradient="∂l/∂η = (μ − y)/(1 + α·μ);  ∂l/∂s = r·(ψ(y + r) − ψ(r) − log(1 + α·μ)) + "
             "(μ − y)/(1 + α·μ).",
    when="Counts whose variance exceeds their mean (dispersion index var/mean well above "
         "1): lk.advise offers it when it measures over-dispersion.",
    pitfalls=(
        "Two raw outputs per target, in the order (log-mean, log-dispersion).",
        "Not jointly convex; convex in the log-mean.",
        "Targets must be integers ≥ 0.",
    ),
    related=("poisson", "negative_binomial_nll", "tweedie_deviance"),
    case=Case("y = 7, μ = 3, α = 0.5 (raw η = log 3, s = log 0.5)", 7.0,
               (math.log(3.0), math.log(0.5)), vary=0, grid=(-2.0, 4.0),
               more_targets=(0.0,), x_label="log-mean η (log-dispersion fixed)"),
)


class NegativeBinomial(_Blocks):
    r"""Over-dispersed count target: the negative binomial (NB2) with a learned dispersion.

    Two raw outputs per target entry, along the last axis: the log-mean :math:`\eta = \log\mu`
    and the log-dispersion :math:`s = \log\alpha` (both through an exponential activation).
    The variance is :math:`\mu + \alpha\mu^2`: a Poisson whose rate varies as a Gamma with
    shape :math:`r = 1/\alpha`. With :math:`u = \eta + s` and :math:`p = \sigma(u) =
    \alpha\mu/(1 + \alpha\mu)`:

    .. math::

        l = r\,\mathrm{softplus}(u) + y\,\mathrm{softplus}(-u) + \log\Gamma(r)
            - \log\Gamma(y + r) + \log y!,
        \qquad \frac{\partial l}{\partial\eta} = rp - y(1 - p)
            = \frac{\mu - y}{1 + \alpha\mu},
        \qquad \frac{\partial l}{\partial s} = r\bigl[\psi(y + r) - \psi(r)
            - \mathrm{softplus}(u)\bigr] + \frac{\mu - y}{1 + \alpha\mu}

    and the hessian diagonal

    .. math::

        \frac{\partial^2 l}{\partial\eta^2} = (r + y)\,p(1 - p),
        \qquad \frac{\partial^2 l}{\partial s^2} = r\bigl[\mathrm{softplus}(u)
            - \psi(y + r) + \psi(r) - 2p\bigr] - r^2\bigl[\psi'(y + r) - \psi'(r)\bigr]
            + (r + y)\,p(1 - p)

    exactly ``-scipy.stats.nbinom.logpmf(y, r, r / (r + mu))`` (``full=False`` drops
    :math:`\log y!`), and ``-torch.distributions.NegativeBinomial(total_count=r,
    logits=u).log_prob(y)``. Convex in :math:`\eta`, not jointly (``convex`` is False).
    :meth:`predict` gives the mean :math:`\mu`, :meth:`activation` :math:`(\mu, \alpha)`.
    A learned dispersion absorbs what the inputs do not explain: counts that are Poisson given
    the inputs drive :math:`s` down (the Poisson limit :math:`\alpha \to 0`).

    Equivalent loss: :func:`losskit.negative_binomial_nll` (``alpha=None``: the raw outputs
    as they are); with a fixed :math:`\alpha` it is ``negative_binomial_nll(y, eta,
    alpha=...)``, and as :math:`\alpha \to 0` :class:`Poisson`.

    When to use it: counts whose variance exceeds their mean (the dispersion index
    :math:`\mathrm{var}/\mathrm{mean} > 1`: visits, claims, species counts), where the
    Poisson fits the mean but is over-confident.

    Parameters
    ----------
    full : bool
        Include :math:`\log y!` (the exact NLL).

    Examples
    --------
    >>> import math
    >>> import losskit as lk
    >>> fam = lk.family("negative_binomial")
    >>> fam.n_outputs(), fam.activation_name
    (2, 'exp,exp')
    >>> raw = [[math.log(2.0), math.log(0.5)]] * 2  # mean 2, dispersion 0.5
    >>> round(float(fam.loss([0, 3], raw)), 6)  # -mean(nbinom.logpmf([0, 3], 2, 0.5))
    1.732868
    >>> [round(v, 6) for v in fam.gradient([0, 3], raw)[:, 0].tolist()]  # (mu - y)/(1 + a mu)
    [1.0, -0.5]
    >>> fam.predict(raw).tolist()
    [2.0, 2.0]
    """

    name = "negative_binomial"
    aliases = ("negative binomial", "negbin", "overdispersed counts")
    explanation = _NEGATIVE_BINOMIAL
    domain = "counts: integers >= 0"
    activation_name = "exp,exp"
    link_name = "log,log"
    outputs_per_target = 2
    convex = False
    loss_name = "negative_binomial_nll"
    equivalent_loss = "negative_binomial_nll"
    equivalence = ("is negative_binomial_nll(y, raw, full=full) (alpha learned from raw[..., 1])"
                   "; with raw[..., 1] -> -inf it tends to poisson_nll(y, raw[..., 0])")
    default_metrics = _COUNT_METRICS
    _fixed_options = ("alpha", "log_input", "full")
    _native_validates = True
    _layout = "the raw outputs are (log-mean, log-dispersion)"

    def __init__(self, full: bool = True) -> None:
        self.full = check_parameter("NegativeBinomial", "full", full, Boolean())
        self._freeze()

    def _params(self) -> dict[str, Any]:
        return {"full": self.full}

    def _loss_options(self) -> dict[str, Any]:
        return {"full": self.full}

    def _check_domain(self, func: str, xp: Namespace, y: Array, raw_shape: tuple[int, ...],
                      ignore_index: int | None) -> None:
        _require_counts(self, func, xp, y)

    def _check_after_native(self, func: str, xp: Namespace, y: Array) -> bool:
        # the kernel took counts >= 0 and finite: whether they are integers
        return self._whole(func, y)

    def _activation(self, xp: Namespace, raw: Array) -> Array:
        return xp.exp(raw)

    def _predict(self, xp: Namespace, raw: Array) -> Array:
        return xp.exp(raw[..., 0])


# -------------------------------------------------------------------------- Gaussian mixture


_GAUSSIAN_MIXTURE = LossExplanation(
    formula="l = −log Σ_j π_j·N(y | μ_j, σ_j²),   π = softmax(a),   σ = e^s\n"
            "raw outputs per target: (a_1..a_k, μ_1..μ_k, s_1..s_k)",
    distribution="A mixture of k Gaussians (a mixture density network's output); the loss "
                 "is exactly its negative log-likelihood.",
    raw_output="3k linear outputs per target: mixing logits, means, log standard deviations",
    gradient="∂l/∂a_j = π_j − r_j,  ∂l/∂μ_j = −r_j·z_j/σ_j,  ∂l/∂s_j = r_j·(1 − z_j²),\n"
             "z_j = (y − μ_j)/σ_j,  r_j the responsibilities.",
    when="Multimodal targets (several plausible answers for one input).",
    pitfalls=(
        "Not convex; components can collapse (σ → 0): bound σ from below.",
        "predict() is the mixture mean, which can fall between the modes.",
    ),
    related=("heteroscedastic_gaussian", "gaussian", "gaussian_mixture_nll"),
    case=Case("y = 0.5, k = 2: a = (0.3, −0.2), μ = (0, 1), s = (−0.5, 0.2)", 0.5,
               (0.3, -0.2, 0.0, 1.0, -0.5, 0.2), {"k": 2}, vary=2, grid=(-3.0, 4.0),
               x_label="mean μ₁ of component 1 (other outputs fixed)"),
)


class GaussianMixture(_Blocks):
    r"""Mixture of ``k`` Gaussians: the output of a mixture density network, ``3k`` raw outputs.

    The raw outputs of each target entry, along the last axis, are ``k`` mixing logits
    :math:`a` (softmax gives the weights :math:`\pi`), ``k`` means :math:`\mu` (identity) and
    ``k`` log standard deviations :math:`s = \log\sigma` (exponential gives :math:`\sigma`).
    With :math:`z_j = (y - \mu_j)e^{-s_j}` and the responsibilities
    :math:`r_j = \pi_j\mathcal N_j / \sum_i \pi_i\mathcal N_i`:

    .. math::

        l = -\log\sum_{j=1}^k \pi_j\,\mathcal N(y \mid \mu_j, \sigma_j^2),
        \qquad \frac{\partial l}{\partial a_j} = \pi_j - r_j,
        \quad \frac{\partial l}{\partial \mu_j} = -\frac{r_j z_j}{\sigma_j},
        \quad \frac{\partial l}{\partial s_j} = r_j(1 - z_j^2)

    and the hessian diagonal

    .. math::

        \frac{\partial^2 l}{\partial a_j^2} = \pi_j(1 - \pi_j) - r_j(1 - r_j),
        \quad \frac{\partial^2 l}{\partial \mu_j^2} = \frac{r_j}{\sigma_j^2}
            \bigl(1 - (1 - r_j) z_j^2\bigr),
        \quad \frac{\partial^2 l}{\partial s_j^2} = 2 r_j z_j^2 - r_j(1 - r_j)(z_j^2 - 1)^2

    (the mixture NLL is not convex: these can be negative). The NLL is exact (mixed
    ``scipy.stats.norm`` densities), computed with log-softmax and log-sum-exp; it can be
    very negative when a narrow component sits on a target. :meth:`predict` gives the mixture
    mean :math:`\sum_j \pi_j\mu_j`.

    Equivalent loss: :func:`losskit.gaussian_mixture_nll` (``log_scale=True``); with
    ``k=1`` it is :class:`HeteroscedasticGaussian` with log-variance :math:`2s`.

    When to use it: multimodal targets (several plausible answers for one input), where a
    single Gaussian would predict the average of the modes.

    Parameters
    ----------
    k : int >= 1
        Number of components.

    Examples
    --------
    >>> import math
    >>> import losskit as lk
    >>> fam = lk.families.GaussianMixture(2)
    >>> fam.n_outputs(), fam.activation_name
    (6, 'softmax,identity,exp')
    >>> raw = [[0.0, 0.0, -1.0, 1.0, math.log(0.1), math.log(0.1)]]
    >>> round(float(fam.loss([1.0], raw)), 6)
    -0.690499
    >>> fam.predict(raw).tolist()  # the mixture mean
    [0.0]
    """

    name = "gaussian_mixture"
    aliases = ("mixture", "gaussian mixture")
    explanation = _GAUSSIAN_MIXTURE
    activation_name = "softmax,identity,exp"
    link_name = "multinomial logit,identity,log"
    convex = False
    loss_name = "gaussian_mixture_nll"
    equivalent_loss = "gaussian_mixture_nll"
    equivalence = ("is gaussian_mixture_nll(y, raw) (log_scale=True); with k = 1, gaussian_nll "
                   "with log_var = 2 * raw[..., 2] and full=True")
    default_metrics = _REGRESSION_METRICS
    _fixed_options = ("log_scale",)
    _layout = "the raw outputs are k mixing logits, k means and k log standard deviations"

    def __init__(self, k: int) -> None:
        check_parameter("GaussianMixture", "k", k, Integer())
        if k < 1:
            fail("GaussianMixture", "k", f"is {k}", "Pass at least 1 component")
        self.k = int(k)
        self._freeze()

    @property
    def outputs_per_target(self) -> int:  # type: ignore[override]
        return 3 * self.k

    def _params(self) -> dict[str, Any]:
        return {"k": self.k}


    def _split(self, raw: Array) -> tuple[Array, Array, Array]:
        k = self.k
        return raw[..., :k], raw[..., k:2 * k], raw[..., 2 * k:]

    def _activation(self, xp: Namespace, raw: Array) -> Array:
        a, mu, s = self._split(raw)
        return xp.concat([xp.exp(log_softmax(xp, a)), mu, xp.exp(s)], axis=-1)

    def _predict(self, xp: Namespace, raw: Array) -> Array:
        a, mu, _ = self._split(raw)
        return xp.sum(xp.exp(log_softmax(xp, a)) * mu, axis=-1)
