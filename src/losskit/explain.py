r"""What a loss or a family is, in maximum-likelihood terms: ``losskit explain NAME``.

:func:`explain` returns, for every loss of :mod:`losskit.losses` and every family of
:mod:`losskit.families`, the formula, the distribution whose negative log-likelihood it is, the
output activation, the gradient with respect to the network's raw output, when to use it, its
pitfalls and the related losses and families. The text is declared with each loss
(``LossExplanation`` in its :class:`~losskit.losses.LossSpec`, ``lk.<loss>.spec.explanation``)
and each family (``Family.explanation``); this module only renders it. Everything numeric is
computed when you ask: the worked example calls the losskit function and its analytic
gradient, and the test suite (``tests/losses/test_specs.py``) checks each example against a
reference formula and finite differences on every backend. :func:`plot` draws the loss and
its gradient on a grid, computed with :func:`losskit.value_and_gradient`, and for the
classification losses the saturation picture: through a sigmoid, the squared error's gradient
vanishes for a confidently wrong logit while the cross-entropy's does not.

>>> import losskit as lk
>>> e = lk.explain("BCE")
>>> e.name, e.output_activation.split()[0]
('binary_cross_entropy', 'sigmoid')
>>> e.gradient.split("  ")[0]
'∂l/∂z = σ(z) − y'
>>> e.example.loss == float(lk.binary_cross_entropy([1.0], [0.9]))
True
>>> lk.explain("cross-entropy").name
'categorical_cross_entropy'
>>> lk.explain("bernouli")
Traceback (most recent call last):
...
ValueError: explain: name is 'bernouli', which is not a known loss or family. Did you mean ...
"""

from __future__ import annotations

import argparse
import functools
import inspect
import json
import os
import re
import sys
import textwrap
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from losskit._commands import command
from losskit._io import atomic_write
from losskit._validation import did_you_mean, fail
from losskit.families import Family, family, registered_families
from losskit.losses import (
    Case,
    LossExplanation,
    binary_cross_entropy,
    explained_functions,
    mean_squared_error,
    spec_of,
    value_and_gradient,
)

__all__ = ["Example", "Explanation", "explain", "explained_names", "plot",
           "saturation_gradients"]


# ------------------------------------------------------------------------------- the result


@dataclass(frozen=True)
class Example:
    """A worked example, computed when the explanation is made (never written by hand)."""

    #: the inputs, in words (``y = 1, p = 0.9``)
    inputs: str
    #: the call that computed ``loss`` (numbers rounded for display)
    call: str
    #: the loss of the one sample, from the losskit function
    loss: float
    #: its gradient with respect to the raw output(s), from losskit
    gradient: tuple[float, ...]
    #: where ``gradient`` comes from (the analytic gradient, or a finite difference)
    gradient_source: str


@dataclass(frozen=True)
class Explanation:
    """Formula, distribution, activation, gradient, use and pitfalls of one loss or family."""

    name: str
    #: ``"loss"`` or ``"family"``
    kind: str
    #: the first line of the function's or family's docstring
    summary: str
    aliases: tuple[str, ...]
    formula: str
    #: the distribution the loss is the negative log-likelihood of (or why it is none)
    distribution: str
    output_activation: str
    #: what the network's last layer outputs (the variable of ``gradient``)
    raw_output: str
    #: the gradient with respect to the raw output
    gradient: str
    example: Example
    when_to_use: str
    pitfalls: tuple[str, ...]
    #: related losses and families (each one a name :func:`explain` knows)
    related: tuple[str, ...]
    #: facts read from the code (options, target domain, link, equivalent loss, metrics)
    facts: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return json.loads(json.dumps(asdict(self)))

    def __str__(self) -> str:
        width = 92
        title = f"{self.name} ({self.kind})"
        lines = [title, "=" * len(title), _wrap(self.summary, width, "")]
        if self.aliases:
            lines.append(_wrap("also: " + ", ".join(self.aliases), width, ""))

        def section(heading: str, body: str, *, keep_lines: bool = False) -> None:
            lines.extend(["", heading])
            if keep_lines:
                lines.extend("  " + line for line in body.splitlines())
            else:
                lines.extend(_wrap(part, width, "  ") for part in body.split("\n"))

        section("formula", self.formula, keep_lines=True)
        section("distribution (the loss is its negative log-likelihood)", self.distribution)
        section("output activation", self.output_activation)
        section("raw output", self.raw_output)
        section("gradient w.r.t. the raw output", self.gradient)
        ex = self.example
        section("example (computed now)", "\n".join([
            f"{ex.inputs}:",
            f"loss {_fmt(ex.loss)} by {ex.call}",
            f"gradient {_fmt_vector(ex.gradient)} by {ex.gradient_source}",
            "(losskit's tests check this example against the formula and gradient lines above, "
            "and against finite differences, on every array library)",
        ]))
        section("when to use it", self.when_to_use)
        lines.extend(["", "pitfalls"])
        lines.extend(textwrap.fill(p, width, initial_indent="  - ", subsequent_indent="    ")
                     for p in self.pitfalls)
        if self.facts:
            lines.extend(["", "from the code"])
            key_width = max(len(k) for k in self.facts)
            lines.extend(textwrap.fill(v, width, initial_indent=f"  {k:<{key_width}}  ",
                                       subsequent_indent=" " * (key_width + 4))
                         for k, v in self.facts.items())
        section("related", ", ".join(self.related))
        return "\n".join(lines)


def _wrap(text: str, width: int, indent: str) -> str:
    return textwrap.fill(text, width, initial_indent=indent, subsequent_indent=indent)


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _fmt_vector(values: tuple[float, ...]) -> str:
    inner = ", ".join(_fmt(v) for v in values)
    return inner if len(values) == 1 else f"({inner})"


# ------------------------------------------------------------------ what explain() renders


@dataclass(frozen=True)
class _Subject:
    """A loss or family with its declared explanation (read from the spec or the class)."""

    name: str
    #: ``"loss"`` or ``"family"``
    kind: str
    aliases: tuple[str, ...]
    explanation: LossExplanation
    #: the public loss function, or the family class
    obj: Any

    @property
    def case(self) -> Case:
        return self.explanation.case


def _subjects() -> dict[str, _Subject]:
    """Every explained loss (from its spec) and family (from its class), by name (read on
    each call: a loss registered later is explained too)."""
    table = {name: _Subject(name, "loss", aliases, explanation, fn)
             for name, (fn, aliases, explanation) in explained_functions().items()
             if explanation is not None}
    table.update({name: _Subject(name, "family", cls.aliases, cls.explanation, cls)
                  for name, cls in registered_families().items()
                  if cls.explanation is not None})
    return table


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name.lower())


def _lookup() -> dict[str, str]:
    """Normalised name or alias -> canonical name."""
    table: dict[str, str] = {}
    subjects = _subjects()
    for subject in subjects.values():
        for alias in (subject.name, *subject.aliases):
            key = _key(alias)
            if table.get(key, subject.name) != subject.name:  # pragma: no cover - spec error
                raise RuntimeError(f"alias {alias!r} names both {table[key]} and {subject.name}")
            table[key] = subject.name
    for name, cls in registered_families().items():  # class names too ("StudentT")
        if name in subjects:
            table.setdefault(_key(cls.__name__), name)
    return table


def canonical_name(name: str) -> str | None:
    """The loss or family that ``name`` or an alias of it names (any case, ``-``/``_``/spaces
    alike), ``None`` for an unknown name.

    >>> from losskit.explain import canonical_name
    >>> canonical_name("CTC"), canonical_name("l2"), canonical_name("nope")
    ('ctc_loss', 'mean_squared_error', None)
    """
    return _lookup().get(_key(name))


def explained_names() -> dict[str, tuple[str, ...]]:
    """The names :func:`explain` knows: ``{"loss": (...), "family": (...)}``.

    Examples
    --------
    >>> import losskit as lk
    >>> from losskit.explain import explained_names
    >>> "binary_cross_entropy" in explained_names()["loss"], "bernoulli" in explained_names()[
    ...     "family"]
    (True, True)
    """
    subjects = _subjects().values()
    return {kind: tuple(s.name for s in subjects if s.kind == kind)
            for kind in ("loss", "family")}


# ------------------------------------------------------------------------------ computation


def _family_of(subject: _Subject) -> Family:
    return family(subject.name, **subject.case.options)


def _loss_values(subject: _Subject, y: np.ndarray | None, raw: np.ndarray) -> np.ndarray:
    """Per-sample losses from the losskit function or family."""
    if subject.kind == "family":
        return np.asarray(_family_of(subject).loss(y, raw, reduction="none"))
    fn, options = subject.obj, subject.case.options
    if y is None and not _takes_targets(fn):  # entropy: a function of the prediction alone
        return np.asarray(fn(raw, reduction="none", **options))
    if "reduction" not in inspect.signature(fn).parameters:  # perplexity: one value per call
        return np.array([float(fn(y[i:i + 1], raw[i:i + 1], **options))
                         for i in range(len(raw))])
    return np.asarray(fn(y, raw, reduction="none", **options))


def _takes_targets(fn: Any) -> bool:
    """Whether ``fn`` takes ``y_true`` (``None`` for a loss without targets, as
    ``triplet_margin_loss``) beside the prediction."""
    return "y_true" in inspect.signature(fn).parameters


def _gradients(subject: _Subject, y: np.ndarray | None, raw: np.ndarray
               ) -> tuple[np.ndarray, str]:
    """Per-sample gradients w.r.t. the raw outputs, and where they come from."""
    if subject.kind == "family":
        fam = _family_of(subject)
        return np.asarray(fam.gradient(y, raw)), f"{type(fam).__name__}.gradient"
    fn = subject.obj
    if spec_of(fn) is not None:
        _, grad = value_and_gradient(fn, y, raw, reduction="none", **subject.case.options)
        return np.asarray(grad), "losskit.value_and_gradient"
    # no analytic gradient registered: central differences of the function itself
    h, grad = 1e-6, np.zeros_like(raw)
    for c in [None] if raw.ndim == 1 else range(raw.shape[-1]):
        where = (..., slice(None) if c is None else c)
        step = np.zeros_like(raw)
        step[where] = h
        grad[where] = (_loss_values(subject, y, raw + step)
                       - _loss_values(subject, y, raw - step)) / (2 * h)
    return grad, f"a central difference of losskit.{subject.name} (no analytic gradient)"


def _example(subject: _Subject) -> Example:
    case = subject.case
    y, raw = case.batch(case.y_true)
    loss = float(_loss_values(subject, y, raw)[0])
    grad, source = _gradients(subject, y, raw)
    arrays = (raw,) if y is None else (y, raw)
    shown_args = ", ".join(_short(a) for a in arrays)
    if y is None and subject.kind == "loss" and _takes_targets(subject.obj):
        shown_args = f"None, {shown_args}"
    if subject.kind == "family":
        call = (f"losskit.family({subject.name!r}{_call_options(case.options)})"
                f".loss({shown_args})")
    else:
        call = f"losskit.{subject.name}({shown_args}{_call_options(case.options)})"
    return Example(inputs=case.inputs, call=call, loss=loss,
                   gradient=tuple(float(g) for g in np.ravel(grad[0])), gradient_source=source)


def _short(value: Any) -> str:
    """A number or array as a short literal (floats to 6 significant digits)."""
    if isinstance(value, (tuple, list, np.ndarray)):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return f"{value:.1f}" if value.is_integer() and abs(value) < 1e6 else f"{value:.6g}"
    return repr(value.item() if isinstance(value, np.generic) else value)


def _call_options(options: Mapping[str, Any]) -> str:
    return "".join(f", {k}={v!r}" for k, v in options.items())


def saturation_gradients(logits: Any, /, *, y_true: float = 1.0) -> dict[str, np.ndarray]:
    r"""Gradients w.r.t. the logit of two losses on a sigmoid output, for one target.

    ``"binary_cross_entropy"``: :math:`\partial\,\mathrm{BCE}(y, \sigma(z))/\partial z`, from
    :func:`losskit.value_and_gradient` with ``from_logits=True``. ``"mean_squared_error"``:
    :math:`\partial (\sigma(z) - y)^2/\partial z`, the squared error's gradient w.r.t. the
    probability (:func:`losskit.gradient`) times :math:`\sigma'(z) = \sigma(z)\sigma(-z)`
    (the Bernoulli family's activation). For a confidently wrong logit the second vanishes
    while the first tends to :math:`\mp 1`: a sigmoid unit trained with the squared error stops
    learning exactly where it is most wrong.

    Parameters
    ----------
    logits : array_like of shape (n,)
        Logits :math:`z`.
    y_true : float
        The target, 0 or 1.

    Returns
    -------
    dict of str to numpy.ndarray
        The two gradients, each of shape (n,).

    Examples
    --------
    >>> from losskit.explain import saturation_gradients
    >>> g = saturation_gradients([-10.0, 0.0])
    >>> [round(float(v), 4) for v in g["binary_cross_entropy"]]
    [-1.0, -0.5]
    >>> [f"{float(v):.1e}" for v in g["mean_squared_error"]]
    ['-9.1e-05', '-2.5e-01']
    """
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 1 or z.size == 0:
        fail("saturation_gradients", "logits", f"has shape {z.shape}",
             "Pass a non-empty 1-D array of logits")
    if y_true not in (0, 1):
        fail("saturation_gradients", "y_true", f"is {y_true!r}", "Pass 0 or 1")
    y = np.full_like(z, float(y_true))
    _, bce = value_and_gradient(binary_cross_entropy, y, z, from_logits=True, reduction="none")
    sigmoid = family("bernoulli").activation
    p = np.asarray(sigmoid(z))
    _, d_mse_dp = value_and_gradient(mean_squared_error, y, p, reduction="none")
    dp_dz = p * np.asarray(sigmoid(-z))
    return {"binary_cross_entropy": np.asarray(bce),
            "mean_squared_error": np.asarray(d_mse_dp) * dp_dz}


#: the logit at which the text quotes the saturation numbers
_SATURATION_LOGIT = -10.0


@functools.cache
def _numbers() -> dict[str, Any]:
    """Numbers the declared pitfalls quote (``{sat_mse:.2g}``, ...), computed by losskit."""
    sat = saturation_gradients([_SATURATION_LOGIT])
    sigmoid = np.asarray(family("bernoulli").activation([0.0, 1.0]))
    exact = binary_cross_entropy([0.0], [_FUSED_LOGIT], from_logits=True)
    return {"sat_bce": abs(float(sat["binary_cross_entropy"][0])),
            "sat_mse": abs(float(sat["mean_squared_error"][0])),
            "sigmoid_0": float(sigmoid[0]), "sigmoid_1": float(sigmoid[1]),
            "fused_z": f"{_FUSED_LOGIT:g}".replace("-", "−"), "exact_bce": float(exact),
            "fused_bce": fused_bce_with_logits_float32(_FUSED_LOGIT, 0.0)}


#: the logit at which the text quotes the fused form's rounding
_FUSED_LOGIT = -10.0


def fused_bce_with_logits_float32(z: float, y: float) -> float:
    r"""PyTorch's formula for ``binary_cross_entropy_with_logits``, evaluated in float32.

    .. math::

        l = (1 - y)\,z - \log\sigma(z),
        \qquad \log\sigma(z) = \min(z, 0) - \log(1 + e^{-|z|})

    Exact in exact arithmetic, but for :math:`z \ll 0`, :math:`y = 0` the two terms cancel
    (:math:`-|z| + (|z| + \text{tiny})`), so the tiny true loss keeps only the rounding error
    of :math:`|z|`. Used to quote the framework's number next to losskit's.

    Examples
    --------
    >>> from losskit.explain import fused_bce_with_logits_float32
    >>> fused_bce_with_logits_float32(-10.0, 0.0)  # the exact loss is 4.539889e-05
    4.57763671875e-05
    >>> fused_bce_with_logits_float32(-20.0, 0.0)  # exact: 2.061154e-09
    0.0
    """
    zf, yf = np.float32(z), np.float32(y)
    log_sigmoid = np.minimum(zf, np.float32(0.0)) - np.log1p(np.exp(-np.abs(zf)))
    return float((np.float32(1.0) - yf) * zf - log_sigmoid)


# -------------------------------------------------------------------------------- explain()


def _resolve(name: Any, func: str) -> _Subject:
    if isinstance(name, Explanation):
        return _subjects()[name.name]
    if not isinstance(name, str):
        fail(func, "name", f"has type {type(name).__name__}",
             "Pass the name of a loss or family, e.g. 'binary_cross_entropy' or 'bernoulli'",
             TypeError)
    canonical = canonical_name(name)
    if canonical is None:
        hint = did_you_mean(_key(name), _lookup())
        names = explained_names()
        fail(func, "name", f"is {name!r}, which is not a known loss or family",
             (hint + " " if hint else "") + "Pass one of the losses " + ", ".join(names["loss"])
             + "; or the families " + ", ".join(names["family"]) + " (case-insensitive; aliases "
             "such as 'bce', 'mse', 'cross-entropy', 'huber' work too)")
    return _subjects()[canonical]


def _summary(obj: Any) -> str:
    """The first line of a docstring, with its reStructuredText markup removed."""
    line = inspect.getdoc(obj).strip().splitlines()[0]
    line = re.sub(r":(?:func|class|meth):`~?(?:losskit\.)?([^`]+)`", r"\1", line)
    line = re.sub(r"``([^`]+)``", r"\1", line).replace("**", "")

    def math(match: re.Match) -> str:
        text = match.group(1)
        for latex, plain in ((r"\mathrm{KL}", "KL"), (r"\,", ""), (r"\|", "‖"),
                             (r"\alpha", "α"), (r"\log", "log"), (r"\cosh", "cosh ")):
            text = text.replace(latex, plain)
        return text.strip()

    return re.sub(r":math:`([^`]+)`", math, line)


def _activation(subject: _Subject) -> str:
    if subject.kind == "family":
        names = subject.obj.activation_name.split(",")
        text = ", ".join(names) if len(names) > 1 else names[0]
        if len(names) > 1:
            text += " (one per block of raw outputs)"
        return f"{text}; link {subject.obj.link_name.replace(',', ', ')}"
    explanation = subject.explanation
    if explanation.activation_from is not None:
        fam_activation = registered_families()[explanation.activation_from].activation_name
        first = fam_activation.replace(",", ", ")
        return f"{first} (as in the {explanation.activation_from} family): " \
               f"{explanation.activation}"
    return explanation.activation


def _facts(subject: _Subject) -> dict[str, str]:
    if subject.kind == "loss":
        fn = subject.obj
        keywords = [p.name for p in inspect.signature(fn).parameters.values()
                    if p.kind is inspect.Parameter.KEYWORD_ONLY]
        facts = {"function": f"losskit.{subject.name}", "options": ", ".join(keywords)}
        families = [n for n, c in registered_families().items()
                    if subject.name in (c.loss_name, c.equivalent_loss)]
        if families:
            facts["families"] = ", ".join(families)
        facts["analytic gradient"] = ("yes (losskit.gradient)"
                                      if spec_of(fn) is not None
                                      else "no")
        return facts
    cls = subject.obj
    fam = _family_of(subject)
    try:
        outputs = str(fam.n_outputs())
    except TypeError:  # one raw output per class or label
        outputs = "one per class (n_classes)"
    return {
        "family": f"losskit.family({subject.name!r}{_call_options(subject.case.options)}) "
                  f"= {fam!r}",
        "target domain": fam.domain,  # an instance property where parameters change it
        "raw outputs": outputs,
        "link": cls.link_name.replace(",", ", ") + (" (canonical)" if cls.canonical else ""),
        "convex in raw": "yes" if cls.convex else "no",
        "loss": f"losskit.{cls.loss_name}",
        "equivalent loss": f"{cls.equivalent_loss}: {cls.equivalence}",
        "metrics": ", ".join(cls.default_metrics),
    }


def _related(subject: _Subject) -> tuple[str, ...]:
    names = list(subject.explanation.related)
    known = _subjects()
    if subject.kind == "loss":
        names += [n for n, c in registered_families().items()
                  if subject.name in (c.loss_name, c.equivalent_loss) and n in known]
    else:
        cls = subject.obj
        names += [n for n in (cls.loss_name, cls.equivalent_loss) if n in known]
    return tuple(dict.fromkeys(n for n in names if n != subject.name))


def explain(name: str, /) -> Explanation:
    """Explain a loss or a likelihood family: formula, distribution, activation, gradient,
    use and pitfalls, with a worked example computed by losskit.

    Parameters
    ----------
    name : str
        A loss of :mod:`losskit.losses` (``"binary_cross_entropy"``) or a family of
        :mod:`losskit.families` (``"bernoulli"``), case-insensitive, ``_``, ``-`` and spaces
        ignored, or an alias (``"bce"``, ``"mse"``, ``"cross-entropy"``, ``"huber"``, Keras and
        PyTorch class names such as ``"BCEWithLogitsLoss"``).

    Returns
    -------
    Explanation
        Printable (``str``) as a terminal page; ``to_dict()`` for JSON.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the names and suggests close ones).

    Examples
    --------
    >>> import losskit as lk
    >>> e = lk.explain("mse")
    >>> e.name, e.gradient.split("  ")[0]
    ('mean_squared_error', '∂l/∂ŷ_j = 2(ŷ_j − y_j)/k')
    >>> e.example.gradient
    (1.0,)
    >>> lk.explain("Poisson").kind
    'family'
    """
    subject = _resolve(name, "explain")
    text = subject.explanation
    numbers = _numbers()
    return Explanation(
        name=subject.name, kind=subject.kind, summary=_summary(subject.obj),
        aliases=subject.aliases, formula=text.formula, distribution=text.distribution,
        output_activation=_activation(subject), raw_output=text.raw_output,
        gradient=text.gradient, example=_example(subject), when_to_use=text.when,
        pitfalls=tuple(p.format(**numbers) for p in text.pitfalls), related=_related(subject),
        facts=_facts(subject))


# ------------------------------------------------------------------------------------ plot()


def plot(name: str, path: str | os.PathLike[str], /) -> Path:
    """Draw a loss (or family) and its gradient w.r.t. the raw output to a PNG file.

    The curves are computed on a grid of raw outputs around the worked example of
    :func:`explain` (losses through :func:`losskit.value_and_gradient`, families through
    their ``loss`` and ``gradient``), one curve per target. For classification losses and
    families a third panel shows the saturation picture: for ``y = 1``, the gradient w.r.t.
    the logit of the squared error through a sigmoid vanishes for very wrong logits while the
    cross-entropy's does not (:func:`saturation_gradients`). The file is written atomically
    (a temporary file in the same folder, then renamed). Needs matplotlib (the ``plot``
    extra).

    Parameters
    ----------
    name : str
        As for :func:`explain`.
    path : str or os.PathLike
        The PNG file to write (its folder must exist).

    Returns
    -------
    pathlib.Path
        The path written.
    """
    subject = _resolve(name, "plot")
    target = Path(path)
    if target.suffix.lower() != ".png":
        fail("plot", "path", f"is {str(path)!r}, which does not end in .png",
             "Pass a file name ending in .png (the plot is written as PNG)")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        fail("plot", "path", f"is {str(path)!r}, whose folder {str(folder)!r} does not exist",
             "Create the folder first, or pass a path in an existing folder")
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError("plot: matplotlib is not installed. Install the plot extra: "
                          "pip install 'losskit[plot]'") from error

    case, classification = subject.case, subject.explanation.classification
    # a function without a reduction="none" is called once per point: a coarser grid
    looped = subject.kind == "loss" and "reduction" not in inspect.signature(
        subject.obj).parameters
    x = np.linspace(case.grid[0], case.grid[1], 121 if looped else 401)
    panels = 3 if classification else 2
    figure = Figure(figsize=(5.2 * panels, 4.4), layout="constrained")
    axes = figure.subplots(1, panels)
    targets = (case.y_true, *case.more_targets)
    with np.errstate(all="ignore"):
        for y_value in targets:
            y, raw = case.batch(y_value, x)
            loss = _loss_values(subject, y, raw)
            grad, source = _gradients(subject, y, raw)
            column = grad if case.vary is None else grad[:, case.vary]
            label = "p" if y_value is None else f"y = {_short(y_value)}"
            axes[0].plot(x, loss, label=label)
            axes[1].plot(x, column, label=label)
    axes[0].set(title=f"loss: {subject.name}", xlabel=case.x_label, ylabel="loss per sample")
    axes[1].set(title="gradient w.r.t. the raw output", xlabel=case.x_label,
                ylabel="∂l/∂(raw output" + ("" if case.vary is None else f" {case.vary}") + ")")
    axes[1].axhline(0.0, color="0.6", linewidth=0.8)
    x_point = np.asarray(case.y_pred, dtype=np.float64).reshape(-1)
    x_point = x_point[0 if case.vary is None else case.vary]
    for ax in axes[:2]:
        ax.axvline(x_point, color="0.6", linestyle=":", linewidth=0.8)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    axes[1].text(0.01, 0.01, f"computed by {source}", transform=axes[1].transAxes, fontsize=7,
                 color="0.4", va="bottom")
    if classification:
        _saturation_panel(axes[2])
    figure.suptitle(f"losskit explain {subject.name}: "
                    f"{subject.explanation.formula.splitlines()[0]}", fontsize=10)
    atomic_write(target, lambda tmp: figure.savefig(tmp, format="png", dpi=110))
    return target


def _saturation_panel(ax: Any) -> None:
    z = np.linspace(-12.0, 12.0, 481)
    grads = saturation_gradients(z)
    ax.plot(z, np.abs(grads["binary_cross_entropy"]),
            label="cross-entropy on the logit: |σ(z) − 1|")
    ax.plot(z, np.abs(grads["mean_squared_error"]),
            label="squared error through a sigmoid: |2(σ(z) − 1)·σ′(z)|")
    numbers = _numbers()
    ax.axvline(_SATURATION_LOGIT, color="0.6", linestyle=":", linewidth=0.8)
    ax.annotate(f"at z = {_SATURATION_LOGIT:g}:\ncross-entropy {numbers['sat_bce']:.5g}\n"
                f"squared error {numbers['sat_mse']:.2g}", (_SATURATION_LOGIT, numbers["sat_bce"]),
                xytext=(-9.0, 0.5), fontsize=8, arrowprops={"arrowstyle": "->", "color": "0.4"})
    ax.set(title="saturation, y = 1: gradient size w.r.t. the logit", xlabel="logit z",
           ylabel="|∂l/∂z|", ylim=(0, 1.1))
    ax.text(-11.5, 0.15, "very wrong\n(z ≪ 0)", fontsize=8, color="0.35")
    ax.legend(fontsize=7, loc="upper right")
    ax.grid(alpha=0.3)


# ------------------------------------------------------------------------------------- CLI


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="a loss (binary_cross_entropy, bce, mse, huber, ...) or a "
                        "family (bernoulli, poisson, ...)")
    parser.add_argument("--plot", metavar="FILE", help="also draw the loss and its gradient "
                        "to this PNG file")
    parser.add_argument("--json", action="store_true", help="print JSON for programs")


@command("explain", "formula, distribution, activation, gradient and pitfalls of a loss or "
         "family", _arguments)
def _run(args: argparse.Namespace) -> int:
    explanation = explain(args.name)
    if args.plot:
        try:
            written = plot(explanation.name, args.plot)
        except ImportError as error:
            print(f"losskit explain: error: {error}", file=sys.stderr)
            return 2
        print(f"losskit explain: plot written to {written}", file=sys.stderr)
    print(json.dumps(explanation.to_dict(), indent=2, ensure_ascii=False) if args.json
          else explanation)
    return 0
