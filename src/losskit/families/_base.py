"""What every likelihood family shares: checked inputs, the call to its catalogue loss,
weighted derivatives, the registry behind :func:`losskit.family`.

A family is a small immutable object: a subclass states its target domain, how its raw outputs
are laid out, its output activation and the catalogue loss it calls, and implements the array
arithmetic of ``activation``, ``predict``, ``gradient`` and ``hessian`` on any array library.
Everything else (conversion to ``raw``'s library, shape and domain checks with the project's
error template, compute dtypes, sample weights, units) lives here once.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from typing import Any, ClassVar

import array_api_compat as aac
import numpy as np

from losskit._array import (
    Array,
    Namespace,
    compute_dtype,
    first_index,
    namespace_and_arrays,
    numpy_errors_silenced,
    to_bool,
    to_float,
)
from losskit._reduction import apply_scale
from losskit._validation import (
    Boolean,
    Constraint,
    Integer,
    OneOf,
    Real,
    check_finite,
    check_nonempty,
    fail,
    index_text,
    weight_array,
)
from losskit.losses import Kernel, LossExplanation, spec_of

__all__ = ["Family", "family", "registered_families"]

_LOG2_E = 1.0 / math.log(2.0)
_UNIT = OneOf("nats", "bits")
_BOOL = Boolean()
POSITIVE = Real(0.0, math.inf, closed="neither")

_REGISTRY: dict[str, type[Family]] = {}
#: catalogue-loss options that choose the raw space (the kernel is already in it)
_RAW_SPACE_OPTIONS = ("log_input", "from_logits", "log_scale", "axis")


def _key(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "").replace(" ", "")


def check_parameter(family_name: str, name: str, value: Any, constraint: Constraint) -> Any:
    """Check one constructor parameter against its declared constraint."""
    constraint.check(family_name, name, value)
    return value


class Family:
    """A target distribution: domain, raw outputs, output activation, NLL and its derivatives.

    Subclasses set the class attributes below and implement the ``_``-prefixed array methods;
    the public methods are shared. Families are immutable and compare equal when their type
    and parameters are equal.
    """

    #: lookup name for :func:`losskit.family`
    name: ClassVar[str] = ""
    #: other names :func:`losskit.explain` accepts
    aliases: ClassVar[tuple[str, ...]] = ()
    #: what the family is, rendered by :func:`losskit.explain` (its worked example's
    #: ``options`` are the family's parameters)
    explanation: ClassVar[LossExplanation | None] = None
    #: the target domain, in words
    domain: ClassVar[str] = ""
    #: output activation (inverse link) by name; one name per block of raw outputs, comma
    #: separated, for families with several blocks
    activation_name: ClassVar[str] = ""
    #: the link (inverse of the activation), by name
    link_name: ClassVar[str] = ""
    #: raw outputs per target entry (``None``: one per class, see :meth:`n_outputs`)
    outputs_per_target: ClassVar[int | None] = 1
    #: whether the link is canonical: the gradient is then prediction minus target
    canonical: ClassVar[bool] = False
    #: whether the NLL is convex in the raw outputs (then the hessian diagonal is >= 0)
    convex: ClassVar[bool] = True
    #: the catalogue loss that :meth:`loss` calls
    loss_name: ClassVar[str] = ""
    #: the catalogue loss the family's NLL is equivalent to, and the relation in words
    equivalent_loss: ClassVar[str] = ""
    equivalence: ClassVar[str] = ""
    #: names of :mod:`losskit.metrics` functions to report a model of this family with
    default_metrics: ClassVar[tuple[str, ...]] = ()
    #: options of the catalogue loss that the family sets itself
    _fixed_options: ClassVar[tuple[str, ...]] = ()
    #: whether raw outputs may be ±inf (logits); others must be finite
    _raw_may_be_infinite: ClassVar[bool] = False
    #: y_true holds integer class labels (kept in an integer dtype) rather than values
    _labels: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            _REGISTRY[_key(cls.name)] = cls
            _REGISTRY.setdefault(_key(cls.__name__), cls)

    # ------------------------------------------------------------------ identity and display

    def _params(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        """The constructor call, without the parameters left at their defaults."""
        defaults = {name: p.default for name, p in
                    inspect.signature(type(self).__init__).parameters.items()}
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items()
                         if k not in defaults or defaults[k] != v)
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._params() == self._params()  # type: ignore

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(self._params().items())))

    def __setattr__(self, name: str, value: Any) -> None:
        if getattr(self, "_frozen", False):
            raise AttributeError(f"{type(self).__name__} is immutable; create a new family")
        object.__setattr__(self, name, value)

    def _freeze(self) -> None:
        object.__setattr__(self, "_frozen", True)

    def _func(self, method: str) -> str:
        return f"{type(self).__name__}.{method}"

    # ---------------------------------------------------------------------- numbers of outputs

    def n_outputs(self, n_classes: int | None = None) -> int:
        """Number of raw outputs per target entry (the width of the network's last layer).

        Parameters
        ----------
        n_classes : int, optional
            Number of classes (:class:`Categorical`) or labels (:class:`MultiLabel`); the
            other families have no classes and take ``None``.

        Returns
        -------
        int

        Examples
        --------
        >>> import losskit as lk
        >>> lk.families.Gaussian().n_outputs(), lk.families.Categorical().n_outputs(n_classes=4)
        (1, 4)
        """
        func = self._func("n_outputs")
        if self.outputs_per_target is None:
            if n_classes is None:
                fail(func, "n_classes", "is missing", f"A {type(self).__name__} family has one "
                     "raw output per class or label: pass n_classes", TypeError)
            Integer().check(func, "n_classes", n_classes)
            low = 2 if self._labels else 1
            if n_classes < low:
                fail(func, "n_classes", f"is {n_classes}", f"Pass at least {low}")
            return int(n_classes)
        if n_classes is not None:
            fail(func, "n_classes", f"is {n_classes!r} but a {type(self).__name__} target has "
                 "no classes", "Leave n_classes out (use Categorical or MultiLabel for classes)")
        return self.outputs_per_target

    # ------------------------------------------------------------------------- array plumbing

    def _raw(self, func: str, raw: Any, *others: Any, cast: bool = True
             ) -> tuple[Namespace, Array, list[Array | None], Any]:
        """``raw`` and ``others`` in ``raw``'s library, raw checked for emptiness, dtype and
        layout, cast to its compute dtype when ``cast``. Returns ``(xp, raw, others, out)``."""
        xp, raw, rest = namespace_and_arrays(func, raw, *others, names=("raw",))
        if raw.ndim == 0 or math.prod(raw.shape) == 0:
            check_nonempty(func, "raw", raw)
        if not xp.isdtype(raw.dtype, ("real floating", "integral")):
            fail(func, "raw", f"has dtype {raw.dtype}",
                 "Pass the real-valued raw outputs of the network", TypeError)
        self._check_raw_layout(func, tuple(raw.shape))
        cdtype, out = compute_dtype(xp, raw.dtype)
        if cast and raw.dtype != cdtype:
            raw = xp.astype(raw, cdtype)
        return xp, raw, rest, out

    def _check_raw_layout(self, func: str, shape: tuple[int, ...]) -> None:
        """Raise if raw outputs of ``shape`` cannot belong to this family (default: any)."""

    def _target_shape(self, raw_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape ``y_true`` must have for raw outputs of ``raw_shape``."""
        return raw_shape

    _shape_fix: ClassVar[str] = ("Pass one raw output per target entry, exactly y_true's shape "
                                 "(losskit never broadcasts (n, 1) against (n,))")

    def _inputs(self, func: str, y_true: Any, raw: Any, *, check_values: bool,
                cast: bool = True, weight: Any = None, ignore_index: int | None = None
                ) -> tuple[Namespace, Array, Array, Array | None, Any]:
        """Checked ``(xp, y, raw, weight, out_dtype)``: shapes, domain, finiteness."""
        xp, y, raw, out = self._shaped(func, y_true, raw, weight, cast=cast)
        y, weight = y
        if check_values:
            self._check_domain(func, xp, y, raw.shape, ignore_index)
            if cast:
                check_finite(func, xp, "raw", raw, allow_inf=self._raw_may_be_infinite,
                             fix="Raw outputs must be finite numbers; look for a diverged model")
        if cast:
            if self._labels:
                # labels keep an integer dtype of their own (int32 where JAX has no int64)
                y = y if xp.isdtype(y.dtype, "integral") else xp.astype(y, xp.int64)
            elif y.dtype != raw.dtype:
                with numpy_errors_silenced():  # an overflow is reported just below
                    cast_y = xp.astype(y, raw.dtype)
                if check_values:
                    _check_cast(func, xp, y, cast_y)
                y = cast_y
        if weight is not None:
            shape = self._sample_shape(tuple(y.shape))
            weight = weight_array(func, xp, "sample_weight", weight, shape, raw.dtype,
                                  check_values=check_values)
        return xp, y, raw, weight, out

    def _shaped(self, func: str, y_true: Any, raw: Any, weight: Any = None, *,
                cast: bool = True) -> tuple[Namespace, tuple[Array, Any], Array, Any]:
        """The checks of :meth:`_inputs` that read no values (libraries, dtypes, shapes):
        ``(xp, (y, weight), raw, out_dtype)``."""
        xp, raw, (y, weight), out = self._raw(func, raw, y_true, weight, cast=cast)
        y = self._numeric_targets(func, xp, y, compute_dtype(xp, raw.dtype)[0])
        expected = self._target_shape(tuple(raw.shape))
        if tuple(y.shape) != expected:
            fail(func, "y_true", f"has shape {tuple(y.shape)} but raw outputs of shape "
                 f"{tuple(raw.shape)} need y_true of shape {expected}", self._shape_fix)
        return xp, (y, weight), raw, out

    def _numeric_targets(self, func: str, xp: Namespace, y: Array, dtype: Any) -> Array:
        """``y`` checked for a real dtype; booleans become numbers (labels: an error)."""
        if not xp.isdtype(y.dtype, ("real floating", "integral", "bool")):
            fail(func, "y_true", f"has dtype {y.dtype}", "Pass real-valued targets", TypeError)
        if xp.isdtype(y.dtype, "bool"):
            if self._labels:
                fail(func, "y_true", "has dtype bool", "Pass integer class labels", TypeError)
            y = xp.astype(y, dtype)
        return y

    def _sample_shape(self, y_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Per-sample shape: the catalogue averages the last axis of 2-D+ targets."""
        return y_shape if len(y_shape) <= 1 else y_shape[:-1]

    # ---------------------------------------------------------------------------- the domain

    def _check_domain(self, func: str, xp: Namespace, y: Array, raw_shape: tuple[int, ...],
                      ignore_index: int | None) -> None:
        """Raise if ``y`` holds values outside the family's domain (default: finite reals)."""
        if not self._within(func, xp, y):
            self._require(func, xp, y, xp.isfinite(y), "that is not finite",
                          "Remove or impute missing targets before computing the loss")

    @staticmethod
    def _within(func: str, xp: Namespace, y: Array, *, low: float | None = None,
                strict: bool = False, high: float | None = None,
                integral: bool = False) -> bool:
        """A probe of the targets: True only if every one is finite, at least ``low`` (above
        it when ``strict``), at most ``high`` and, with ``integral``, an integer. One or two
        reductions and reads instead of elementwise masks (measured on PyTorch at 1e6
        float32, one thread: ``isfinite(y).all()`` 2.9 ms, the sum 0.15 ms, the minimum
        0.25 ms). False says "look closer": the caller's locating check (:meth:`_require`)
        then finds the value, names it, or passes (a sum that overflows).

        A finite sum has no NaN or infinite term; ``y - floor(y)`` is exact, in [0, 1) for
        a finite ``y`` and NaN for an infinite one, so its sum (of terms >= 0: nothing
        cancels, and a positive term never rounds the sum to 0) is 0 exactly when every
        target is a finite integer; the minimum and maximum are NaN with a NaN target."""
        integer = xp.isdtype(y.dtype, "integral")
        if integer:  # integer bounds (array_api_strict compares integers with integers only)
            low = None if low is None else math.floor(low) + 1 if strict else math.ceil(low)
            high = None if high is None else math.floor(high)
            strict = False
        if low is not None or high is not None:
            if low is not None and high is not None and aac.is_torch_array(y):
                smallest, largest = y.aminmax()  # (one pass)
            else:
                smallest = None if low is None else xp.min(y)
                largest = None if high is None else xp.max(y)
            if smallest is not None and not to_bool(
                    func, smallest > low if strict else smallest >= low):
                return False
            if largest is not None and not to_bool(func, largest <= high):
                return False
        if integer:
            return True
        if integral:
            if low is not None and low >= 0 and aac.is_torch_array(y):
                # y >= 0: its fraction y - trunc(y) is y - floor(y), in one op (1e6 float32:
                # 0.46 ms against 1.04 for the subtraction of the floor)
                return to_bool(func, y.frac().sum() == 0)
            with numpy_errors_silenced(y):  # (inf - inf)
                return to_bool(func, xp.sum(y - xp.floor(y)) == 0)
        if low is not None and high is not None and math.isfinite(low) and math.isfinite(high):
            return True  # (bounded, not NaN: finite)
        with numpy_errors_silenced(y):  # (a sum that overflows)
            return to_bool(func, xp.isfinite(xp.sum(y)))

    def _require(self, func: str, xp: Namespace, y: Array, ok: Array, what: str,
                 fix: str) -> None:
        """Fail if ``ok`` is False anywhere, naming the first bad target and its index."""
        bad = ~ok
        if to_bool(func, xp.any(bad)):
            index = first_index(xp, bad)
            value = y[index]
            shown = int(value) if xp.isdtype(y.dtype, "integral") else f"{to_float(value):g}"
            count = int(xp.sum(xp.astype(bad, xp.int64)))
            fail(func, "y_true", f"has a value {what} ({shown} at index {index_text(index)}; "
                 f"{count} of {math.prod(y.shape)} such values)",
                 f"{type(self).__name__} targets are {self.domain}. {fix}")

    @staticmethod
    def _integral(xp: Namespace, y: Array) -> Array:
        if xp.isdtype(y.dtype, "integral"):
            return xp.ones_like(y, dtype=xp.bool)
        return xp.isfinite(y) & (xp.floor(y) == y)

    def check_target(self, y_true: Any, /, *, n_classes: int | None = None) -> None:
        """Raise a ``ValueError`` if ``y_true`` is outside the family's domain.

        Parameters
        ----------
        y_true : array_like
            Targets, in any array library.
        n_classes : int, optional
            Number of classes, for :class:`Categorical` (labels must be below it).

        Examples
        --------
        >>> import losskit as lk
        >>> lk.families.Poisson().check_target([0, 3, 1])
        >>> lk.families.Poisson().check_target([0, 2.5])
        Traceback (most recent call last):
        ...
        ValueError: Poisson.check_target: y_true has a value that is not an integer (2.5 at ...
        """
        func = self._func("check_target")
        xp, y, _ = namespace_and_arrays(func, y_true)
        check_nonempty(func, "y_true", y)
        y = self._numeric_targets(func, xp, y, compute_dtype(xp, y.dtype)[0])
        shape: tuple[int, ...] = ()
        if n_classes is not None:
            shape = (*tuple(y.shape), self.n_outputs(n_classes))
        with numpy_errors_silenced():
            self._check_domain(func, xp, y, shape, None)

    # ------------------------------------------------------------------------- public methods

    def _check_flag(self, func: str, name: str, value: Any, constraint: Constraint) -> None:
        constraint.check(func, name, value)

    def activation(self, raw: Any, /, *, check_values: bool = True) -> Array:
        """The output activation (inverse link) applied to raw outputs.

        Parameters
        ----------
        raw : array_like
            Raw network outputs, laid out as the family's ``n_outputs`` says.
        check_values : bool
            Reject NaN raw outputs (a host synchronisation).

        Returns
        -------
        array
            Same shape as ``raw``, in ``raw``'s library and floating dtype; for families with
            several blocks of outputs each block gets its own activation.

        Examples
        --------
        >>> import losskit as lk
        >>> lk.families.Bernoulli().activation([0.0, 2.0]).round(4).tolist()  # sigmoid
        [0.5, 0.8808]
        >>> lk.families.HeteroscedasticGaussian().activation([[1.0, 0.0]]).tolist()  # (mean, var)
        [[1.0, 1.0]]
        """
        func = self._func("activation")
        self._check_flag(func, "check_values", check_values, _BOOL)
        return self._map(func, raw, self._activation, check_values)

    def predict(self, raw: Any, /, *, check_values: bool = True) -> Array:
        """The prediction the family makes from raw outputs: the mean of the distribution
        (the class probabilities for classification families).

        Parameters
        ----------
        raw : array_like
            Raw network outputs.
        check_values : bool
            Reject NaN raw outputs (a host synchronisation).

        Returns
        -------
        array
            Shaped like the targets (probabilities: like ``raw``), in ``raw``'s library and
            floating dtype.

        Examples
        --------
        >>> import math
        >>> import losskit as lk
        >>> lk.families.Poisson().predict([math.log(3.0)]).round(12).tolist()  # the rate
        [3.0]
        >>> lk.families.Categorical().predict([[0.0, 0.0]]).tolist()
        [[0.5, 0.5]]
        """
        func = self._func("predict")
        self._check_flag(func, "check_values", check_values, _BOOL)
        return self._map(func, raw, self._predict, check_values)

    def _map(self, func: str, raw: Any, fn: Callable[[Namespace, Array], Array],
             check_values: bool) -> Array:
        xp, raw, _, out = self._raw(func, raw)
        with numpy_errors_silenced():
            if check_values:
                check_finite(func, xp, "raw", raw, allow_inf=True,
                             fix="Raw outputs must not be NaN; look for a diverged model")
            result = fn(xp, raw)
        return result if result.dtype == out else xp.astype(result, out)

    def loss(self, y_true: Any, raw: Any, /, **options: Any) -> Array:
        """The family's negative log-likelihood, computed stably from raw outputs by its
        catalogue loss (``loss_name``), with that loss's options and reductions.

        Parameters
        ----------
        y_true : array_like
            Targets in the family's domain.
        raw : array_like
            Raw network outputs (logits, log-rates, ...), as ``n_outputs`` says.
        **options
            Options of the catalogue loss (``sample_weight``, ``reduction``, ``unit``,
            ``check_values``, ...), except those the family sets itself.

        Returns
        -------
        array
            In ``raw``'s library and floating dtype.

        Examples
        --------
        >>> import losskit as lk
        >>> fam = lk.families.Bernoulli()
        >>> round(float(fam.loss([1, 0], [3.0, -3.0])), 6)  # -log sigmoid(3)
        0.048587
        >>> fam.loss([1, 0], [3.0, -3.0], reduction="none", unit="bits").round(6).tolist()
        [0.070097, 0.070097]
        >>> fam.loss([1], [3.0], from_logits=False)
        Traceback (most recent call last):
        ...
        TypeError: Bernoulli.loss: from_logits is set by the Bernoulli family. ...
        """
        func = self._func("loss")
        fn = self._catalogue()
        allowed = _keyword_options(fn)
        for name in options:
            if name in self._fixed_options:
                fail(func, name, f"is set by the {type(self).__name__} family", "Leave it out, "
                     f"or call losskit.{self.loss_name} directly for other settings", TypeError)
            if name not in allowed:
                usable = [a for a in allowed if a not in self._fixed_options]
                fail(func, name, f"is not an option of {self.loss_name}",
                     "Pass one of " + ", ".join(usable), TypeError)
        check_values = options.get("check_values", True)
        self._check_flag(func, "check_values", check_values, _BOOL)
        xp, (y, _), raw, _ = self._shaped(func, y_true, raw, cast=False)
        if check_values:
            value = self._validated_native(func, fn, xp, y, raw, options)
            if value is not None:
                return value
            self._check_domain(func, xp, y, raw.shape, options.get("ignore_index"))
        with numpy_errors_silenced():
            return self._call_loss(fn, xp, y, raw, options)

    #: whether the native PyTorch kernel of the catalogue loss (:mod:`losskit._torch`), when
    #: it returns a value with checks on, has read every target and raw output and found
    #: them inside the family's domain (as :meth:`_check_domain` and the loss's own checks
    #: would): :meth:`loss` then leaves the value checks to it, which are otherwise done
    #: twice (the family's and the kernel's; at 1e6 float32 the family's mask of ``y`` cost
    #: more than the kernel itself). A kernel that declines (``None``) or raises sends the
    #: call through the family's checks, whose message is the one a user sees. Checks of the
    #: family's domain that the kernel does not make stay in :meth:`_check_after_native`.
    _native_validates: ClassVar[bool] = False

    def _validated_native(self, func: str, fn: Callable, xp: Namespace, y: Array, raw: Array,
                          options: dict[str, Any]) -> Array | None:
        """The catalogue loss's value from its native kernel, checked by it, or ``None``
        (not a family whose kernel validates, not PyTorch tensors, or the kernel declined)."""
        if not self._native_validates or not aac.is_torch_namespace(xp):
            return None
        spec = spec_of(fn)
        native = None if spec is None else spec.native
        loss_options = self._loss_options()
        if native is None or loss_options is None:
            return None
        try:
            value = native(y, raw, {**loss_options, **options})
        except ValueError:  # the loss's own check refused: the family's check says why
            return None
        if value is None or not self._check_after_native(func, xp, y):
            return None
        return value

    def _check_after_native(self, func: str, xp: Namespace, y: Array) -> bool:
        """Whether the targets pass what the family's domain asks beyond its native kernel's
        checks (after the kernel returned a value; default: nothing more)."""
        return True

    @staticmethod
    def _whole(func: str, y: Array) -> bool:
        """Whether every entry of the tensor ``y``, known finite and >= 0 (a kernel's
        checks), is an integer: its fractions ``y - trunc(y)``, each >= 0, sum to 0."""
        if not y.dtype.is_floating_point:
            return True
        return to_bool(func, y.frac().sum() == 0)

    @property
    def loss_options(self) -> dict[str, Any] | None:
        """The options that make the catalogue loss ``loss_name`` this family's NLL of the
        raw outputs: ``getattr(losskit, fam.loss_name)(y, raw, **fam.loss_options)`` equals
        ``fam.loss(y, raw)``. ``None`` for a family that splits its raw outputs between the
        loss's arguments (:class:`HeteroscedasticGaussian`).

        Examples
        --------
        >>> import losskit as lk
        >>> lk.families.Poisson().loss_options
        {'log_input': True, 'full': True}
        >>> lk.families.Gamma(shape=2.0).loss_options
        {'shape': 2.0, 'log_input': True, 'full': True}
        """
        options = self._loss_options()
        return None if options is None else dict(options)

    def _catalogue(self) -> Callable:
        import losskit.losses as losses

        return getattr(losses, self.loss_name)

    def gradient(self, y_true: Any, raw: Any, /, *, sample_weight: Any = None,
                 unit: str = "nats", check_values: bool = True) -> Array:
        """Analytic gradient of each sample's NLL with respect to its raw outputs.

        The derivative of the NLL of every target entry (not averaged over a sample's
        outputs): for one-dimensional targets it is the gradient of
        ``loss(y_true, raw, reduction="sum")``. This and :meth:`hessian` are what a
        gradient-boosting library's custom objective returns.

        Parameters
        ----------
        y_true : array_like
            Targets in the family's domain.
        raw : array_like
            Raw network outputs.
        sample_weight : array_like of per-sample shape, optional
            Multiplies each sample's derivatives.
        unit : {"nats", "bits"}
            Derivative of the NLL in nats or bits.
        check_values : bool
            Check the domain, NaN and weights (a host synchronisation).

        Returns
        -------
        array
            Shape of ``raw``, in its library and floating dtype.

        Examples
        --------
        A custom objective for LightGBM (``objective(y_true, raw)``) or XGBoost
        (``obj(raw, dtrain)`` with ``y = dtrain.get_label()``) returns both derivatives:

        >>> import numpy as np
        >>> import losskit as lk
        >>> fam = lk.families.Gamma(shape=2.0)
        >>> def objective(y_true, raw):
        ...     return fam.gradient(y_true, raw), fam.hessian(y_true, raw)
        >>> y = np.array([0.5, 1.0, 4.5])
        >>> raw = np.zeros(3)
        >>> for _ in range(30):  # Newton steps of one constant leaf
        ...     grad, hess = objective(y, raw)
        ...     raw = raw - grad.sum() / hess.sum()
        >>> round(float(fam.predict(raw)[0]), 9)  # the maximum-likelihood mean, y.mean()
        2.0
        """
        return self._derivative("gradient", self._gradient, y_true, raw, sample_weight, unit,
                                check_values)

    def hessian(self, y_true: Any, raw: Any, /, *, sample_weight: Any = None,
                unit: str = "nats", check_values: bool = True) -> Array:
        """Analytic second derivative of each sample's NLL with respect to each raw output.

        The diagonal of the hessian for families with several raw outputs per target
        (each family's docstring gives it); the same conventions as :meth:`gradient`.

        Parameters
        ----------
        y_true, raw, sample_weight, unit, check_values
            As in :meth:`gradient`.

        Returns
        -------
        array
            Shape of ``raw``, in its library and floating dtype.

        Examples
        --------
        >>> import losskit as lk
        >>> lk.families.Bernoulli().hessian([1, 0], [0.0, 0.0]).tolist()  # p (1 - p)
        [0.25, 0.25]
        >>> lk.families.Categorical().hessian([0], [[0.0, 0.0]]).tolist()  # the diagonal
        [[0.25, 0.25]]
        """
        return self._derivative("hessian", self._hessian, y_true, raw, sample_weight, unit,
                                check_values)

    def _derivative(self, method: str, fn: Callable[[Namespace, Array, Array], Array],
                    y_true: Any, raw: Any, sample_weight: Any, unit: str,
                    check_values: bool) -> Array:
        func = self._func(method)
        self._check_flag(func, "unit", unit, _UNIT)
        self._check_flag(func, "check_values", check_values, _BOOL)
        xp, y, raw, weight, out = self._inputs(func, y_true, raw, check_values=check_values,
                                               weight=sample_weight)
        with numpy_errors_silenced():
            return self._weighted(func, method, xp, y, fn(xp, y, raw), weight, unit,
                                  check_values, out)

    def _weighted(self, func: str, method: str, xp: Namespace, y: Array, result: Array,
                  weight: Array | None, unit: str, check_values: bool, out: Any) -> Array:
        """A derivative times the sample weights, in ``unit``, refused if undefined (NaN)."""
        if weight is not None:
            result = apply_scale(xp, result, weight)
        if unit == "bits":
            result = result * _LOG2_E
        # (a sum that is not NaN has no NaN term: one reduction, the mask only then)
        if check_values and to_bool(func, xp.isnan(xp.sum(result))):
            bad = xp.isnan(result)
            if to_bool(func, xp.any(bad)):
                index = first_index(xp, bad)
                sample = index[:max(1, len(self._sample_shape(tuple(y.shape))))]
                sample = sample[0] if len(sample) == 1 else sample
                fail(func, "raw", f"gives an undefined (NaN) {method} for sample {sample}",
                     "The raw outputs are too extreme for this family (a density "
                     "underflowing to 0 everywhere, or an overflowing exp); rescale the "
                     "targets or bound the raw outputs")
        return result if result.dtype == out else xp.astype(result, out)

    def value_and_gradient(self, y_true: Any, raw: Any, /, *, sample_weight: Any = None,
                           unit: str = "nats", reduction: str = "mean",
                           check_values: bool = True) -> tuple[Array, Array]:
        """:meth:`loss` and :meth:`gradient` of the same inputs in one call, the inputs
        checked once: ``(fam.loss(y_true, raw, sample_weight=..., unit=...,
        reduction=...), fam.gradient(y_true, raw, sample_weight=..., unit=...))``, the same
        numbers.

        What a training step without autograd (or a boosting objective that also logs the
        loss) needs. The two calls check the targets and raw outputs three times (the
        family's loss, its catalogue loss and the gradient) and cast the targets twice;
        here the family checks them once and runs its catalogue loss without checks (its
        value is then probed for NaN by one reduction, and a NaN redoes the call with the
        loss's checks, whose error says why). Measured on NumPy at 1e6 float32 (CPU time,
        against PyTorch's forward and backward): Bernoulli 2.8 -> 2.3 times, Laplace 1.3 ->
        0.7, Poisson 1.9 -> 1.6.

        Parameters
        ----------
        y_true, raw, sample_weight, unit, check_values
            As in :meth:`gradient`.
        reduction : {"mean", "sum", "none"}
            The value's reduction, as in :meth:`loss` (the gradient is per entry, as
            :meth:`gradient`'s).

        Returns
        -------
        (array, array)
            The value and the gradient (shape of ``raw``), in ``raw``'s library and
            floating dtype.

        Examples
        --------
        >>> import losskit as lk
        >>> value, grad = lk.families.Bernoulli().value_and_gradient([1, 0], [0.0, 0.0])
        >>> round(float(value), 6), grad.tolist()  # log 2, probability minus label
        (0.693147, [-0.5, 0.5])
        """
        func = self._func("value_and_gradient")
        self._check_flag(func, "unit", unit, _UNIT)
        self._check_flag(func, "check_values", check_values, _BOOL)
        xp, y, raw, weight, out = self._inputs(func, y_true, raw, check_values=check_values,
                                               weight=sample_weight)
        fn = self._catalogue()
        options: dict[str, Any] = {"reduction": reduction, "unit": unit}
        if sample_weight is not None:
            options["sample_weight"] = sample_weight
        with numpy_errors_silenced():
            value = self._call_loss(fn, xp, y, raw, {**options, "check_values": False})
            if check_values and to_bool(func, xp.isnan(xp.sum(value))):
                # (a NaN value: the loss's own checks find why, as in loss())
                value = self._call_loss(fn, xp, y, raw, {**options, "check_values": True})
            grad = self._weighted(func, "gradient", xp, y, self._gradient(xp, y, raw), weight,
                                  unit, check_values, out)
        return (value if value.dtype == out else xp.astype(value, out)), grad

    # ------------------------------------------------------------- implemented by subclasses

    def _activation(self, xp: Namespace, raw: Array) -> Array:  # pragma: no cover - abstract
        raise NotImplementedError

    def _predict(self, xp: Namespace, raw: Array) -> Array:
        return self._activation(xp, raw)

    def _call_loss(self, fn: Callable, xp: Namespace, y: Array, raw: Array,
                   options: dict[str, Any]) -> Array:
        return fn(y, raw, **self._loss_options(), **options)

    def _loss_options(self) -> dict[str, Any]:
        """The options the family passes to its catalogue loss (see :attr:`loss_options`)."""
        return {}

    @property
    def kernel(self) -> Kernel:
        """The raw-space kernel of the catalogue loss ``loss_name`` (its declared value,
        gradient and hessian with respect to the raw outputs), which :meth:`gradient` and
        :meth:`hessian` evaluate with :attr:`kernel_options`: no family derives them again.

        Examples
        --------
        >>> import losskit as lk
        >>> fam = lk.families.Poisson()
        >>> fam.kernel is lk.poisson_nll.spec.kernel, fam.kernel.link
        (True, 'log')
        """
        spec = spec_of(self._catalogue())
        if spec is None or spec.kernel is None:  # pragma: no cover - every family's loss has one
            raise AssertionError(f"{self.loss_name} declares no raw-space kernel")
        return spec.kernel

    @property
    def raw_space_options(self) -> dict[str, Any]:
        """The options that make a loss read this family's raw outputs (``from_logits``,
        ``log_input``, ...): the part of :attr:`loss_options` another loss of the same raw
        outputs (a focal loss of the Bernoulli's logit) needs.

        Examples
        --------
        >>> import losskit as lk
        >>> lk.families.Poisson().raw_space_options, lk.families.Gaussian().raw_space_options
        ({'log_input': True}, {})
        """
        return {k: v for k, v in (self._loss_options() or {}).items()
                if k in _RAW_SPACE_OPTIONS}

    @property
    def kernel_options(self) -> dict[str, Any]:
        """The options the family evaluates its :attr:`kernel` with: its loss options less
        those that only choose the raw space (``log_input``, ``from_logits``, ...)."""
        return {k: v for k, v in (self._loss_options() or {}).items()
                if k not in _RAW_SPACE_OPTIONS}

    def _gradient(self, xp: Namespace, y: Array, raw: Array) -> Array:
        return self.kernel.gradient(xp, y, raw, **self.kernel_options)

    def _hessian(self, xp: Namespace, y: Array, raw: Array) -> Array:
        hessian = self.kernel.hessian
        if hessian is None:  # pragma: no cover - every family's kernel declares one
            raise AssertionError(f"{self.loss_name} declares no hessian")
        return hessian(xp, y, raw, **self.kernel_options)


def _check_cast(func: str, xp: Namespace, y: Array, cast_y: Array) -> None:
    """Targets cast to the raw outputs' dtype keep finite values finite: a float64 target
    beyond float32's range (1e300 with float32 raw outputs) would become inf and give an
    infinite value and gradient with success (:meth:`Family.loss` reports it through its
    catalogue loss's checks)."""
    if xp.isdtype(y.dtype, "bool"):
        return
    if isinstance(cast_y, np.ndarray) and cast_y.dtype.kind == "f":
        with np.errstate(over="ignore"):  # a sum that overflows: the masks below decide
            if math.isfinite(cast_y.sum()):
                return  # NumPy: one sum (0.2 ms at 1e6 float32, against 1.2 for the masks)
    bad = xp.isinf(cast_y) & xp.isfinite(y)
    if not to_bool(func, xp.any(bad)):
        return
    index = first_index(xp, bad)
    value = to_float(y[index])
    fail(func, "y_true", f"has the value {value!r} at index {index_text(index)}, beyond the "
         f"range of the raw outputs' dtype {str(cast_y.dtype).removeprefix('torch.')} (the "
         "targets are cast to it)", "Pass raw outputs in float64, or rescale the targets")


def registered_families() -> dict[str, type[Family]]:
    """Lookup name -> family class, for every family :func:`family` knows."""
    return {cls.name: cls for cls in _REGISTRY.values()}


def family(name: str | Family, /, **params: Any) -> Family:
    """The likelihood family called ``name`` (case-insensitive; ``_``, ``-`` and spaces are
    ignored, so ``"student_t"``, ``"StudentT"`` and ``"student-t"`` agree).

    Parameters
    ----------
    name : str, Family or Family subclass
        A family name (see ``losskit.families.__all__``) or class; a family object is
        returned as is.
    **params
        The family's parameters (``df`` for ``"student_t"``, ``k`` for
        ``"gaussian_mixture"``, ``scale``, ``shape``, ``full``, ...).

    Returns
    -------
    Family

    Examples
    --------
    >>> import losskit as lk
    >>> lk.family("bernoulli")
    Bernoulli()
    >>> lk.family("Gaussian_Mixture", k=3).n_outputs()
    9
    >>> lk.family("bernouli")
    Traceback (most recent call last):
    ...
    ValueError: family: name is 'bernouli', which is not a known family. Pass one of ...
    """
    if isinstance(name, type) and issubclass(name, Family) and name.name:
        name = name.name
    if isinstance(name, Family):
        if params:
            fail("family", "params", f"are given ({', '.join(params)}) with a family object",
                 "Pass a family name with parameters, or the family object alone", TypeError)
        return name
    if not isinstance(name, str):
        fail("family", "name", f"has type {type(name).__name__}",
             "Pass a family name such as 'gaussian' or 'bernoulli'", TypeError)
    cls = _REGISTRY.get(_key(name))
    if cls is None:
        known = ", ".join(repr(c.name) for c in registered_families().values())
        fail("family", "name", f"is {name!r}, which is not a known family",
             f"Pass one of {known} (case-insensitive)")
    signature = inspect.signature(cls.__init__)
    accepted = [p for p in list(signature.parameters)[1:]]
    for key in params:
        if key not in accepted:
            fail("family", key, f"is not a parameter of {cls.__name__}",
                 f"Pass only {', '.join(accepted) or 'no parameters'}", TypeError)
    missing = [p.name for p in list(signature.parameters.values())[1:]
               if p.default is inspect.Parameter.empty and p.name not in params]
    if missing:
        fail("family", missing[0], f"is missing, and {cls.__name__} needs it",
             f"Pass it, e.g. losskit.family({cls.name!r}, {missing[0]}=...)", TypeError)
    return cls(**params)


@functools.cache
def _keyword_options(fn: Callable) -> tuple[str, ...]:
    """The keyword-only options of a catalogue loss (cached: read on every ``loss`` call,
    where ``inspect.signature`` cost about 25 µs, a quarter of a small batch's step)."""
    return tuple(p.name for p in inspect.signature(fn).parameters.values()
                 if p.kind is inspect.Parameter.KEYWORD_ONLY)
