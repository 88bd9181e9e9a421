"""`lk.explain(NAME)`, `losskit explain NAME [--plot FILE] [--json]`: every loss and family is
explained from its declaration, the example is computed by losskit, the plot is a readable PNG.
(The declared formulas are checked against the functions in tests/losses/test_specs.py and
tests/families/test_explanations.py.)"""

from __future__ import annotations

import json
import math
import os
import re

import numpy as np
import pytest

import losskit as lk
import losskit.losses
from formulas import central_difference
from losskit.cli import main
from losskit.explain import explained_names, plot, saturation_gradients
from losskit.families import registered_families
from losskit.losses import LossExplanation, spec_of
from losskit.losses._spec import explained_functions

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: tools exported beside the losses
TOOLS = {lk.gradient, lk.value_and_gradient}
LOSSES = [n for n in losskit.losses.__all__ if getattr(losskit.losses, n) not in TOOLS]
FAMILIES = sorted(registered_families())
EXPLAINED = explained_functions()
FIELDS = ("summary", "formula", "distribution", "output_activation", "raw_output", "gradient",
          "when_to_use")




def _declared(name: str) -> LossExplanation:
    """The explanation declared with the loss (its spec) or the family (its class)."""
    if name in registered_families():
        return registered_families()[name].explanation
    return EXPLAINED[name][2]


# ------------------------------------------------------------------------------- coverage


@pytest.mark.parametrize("name", LOSSES + FAMILIES)
def test_every_loss_and_family_has_an_explanation(name):
    e = lk.explain(name)
    assert e.name == name
    assert e.kind == ("family" if name in registered_families() else "loss")
    for field in FIELDS:
        text = getattr(e, field)
        assert isinstance(text, str) and len(text) > 10, field
    assert e.pitfalls and all(len(p) > 20 for p in e.pitfalls)
    assert e.related and name not in e.related
    for related in e.related:
        assert lk.explain(related).name == related
    texts = [getattr(e, f) for f in FIELDS] + list(e.pitfalls)
    for text in texts:  # placeholders filled, no reStructuredText or LaTeX left over
        assert not re.search(r"\{[a-z_0-9]+(:[^}]*)?\}", text), text
        assert not any(mark in text for mark in (":math:", "``", "\\", ":func:")), text


def test_the_explained_names_are_exactly_the_package_names():
    names = explained_names()
    assert sorted(names["loss"]) == sorted(LOSSES)
    assert sorted(names["family"]) == FAMILIES


@pytest.mark.parametrize("name", LOSSES + FAMILIES)
def test_the_page_renders_the_declared_explanation(name):
    e, declared = lk.explain(name), _declared(name)
    assert (e.formula, e.distribution, e.raw_output, e.gradient, e.when_to_use) == (
        declared.formula, declared.distribution, declared.raw_output, declared.gradient,
        declared.when)
    assert e.example.inputs == declared.case.inputs
    assert len(e.pitfalls) == len(declared.pitfalls)
    aliases = (registered_families()[name].aliases if name in registered_families()
               else EXPLAINED[name][1])
    assert e.aliases == aliases
    if name in losskit.losses.loss_specs():
        assert aliases == getattr(lk, name).spec.aliases


@pytest.mark.parametrize("name", LOSSES + FAMILIES)
def test_every_page_is_json(name, capsys):
    # the Bernoulli and multi-label pages used to hold the class's domain property object
    payload = json.loads(json.dumps(lk.explain(name).to_dict()))
    assert all(isinstance(v, str) for v in payload["facts"].values())
    assert main(["explain", name, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == name


def test_activation_and_facts_come_from_the_families():
    for name, cls in registered_families().items():
        e = lk.explain(name)
        assert e.output_activation.startswith(cls.activation_name.split(",")[0])
        assert e.facts["target domain"] == lk.family(name, **_declared(name).case.options).domain
        assert cls.equivalence in e.facts["equivalent loss"]
        assert cls.loss_name in e.related or cls.loss_name == name
    for name in LOSSES:
        declared = _declared(name)
        if declared.activation_from is not None:
            activation = registered_families()[declared.activation_from].activation_name
            assert lk.explain(name).output_activation.startswith(
                activation.replace(",", ", "))
    # every loss a family is built on names that family among its relations
    for name, cls in registered_families().items():
        assert name in lk.explain(cls.loss_name).related


def test_summary_is_the_docstring_first_line():
    assert lk.explain("bce").summary == lk.binary_cross_entropy.__doc__.strip().splitlines()[0]
    assert lk.explain("entropy").summary == "Shannon entropy H(P) of probability rows."
    assert lk.explain("kl").summary.startswith("Kullback-Leibler divergence KL(P ‖ Q) of")


# ----------------------------------------------------- the example is computed by losskit


@pytest.mark.parametrize("name", LOSSES + FAMILIES)
def test_example_numbers_are_computed_by_losskit(name):
    ex, case = lk.explain(name).example, _declared(name).case
    y, raw = case.batch(case.y_true)  # the example point, as a batch of one
    if name in registered_families():
        fam = lk.family(name, **case.options)
        assert ex.loss == pytest.approx(float(fam.loss(y, raw)), rel=1e-12)
        np.testing.assert_allclose(ex.gradient, np.ravel(fam.gradient(y, raw)), rtol=1e-12,
                                   atol=1e-15)
        assert ex.gradient_source == f"{type(fam).__name__}.gradient"
        return
    fn = getattr(lk, name)
    if spec_of(fn) is not None:
        assert ex.loss == pytest.approx(float(fn(y, raw, **case.options)), rel=1e-12)
        expected = np.ravel(lk.gradient(fn, y, raw, **case.options))
        np.testing.assert_allclose(ex.gradient, expected, rtol=1e-12, atol=1e-15)
        assert ex.gradient_source == "losskit.value_and_gradient"
        return
    # no analytic gradient (entropy, perplexity): a central difference of the function itself
    def value(r):
        return float(fn(r, **case.options) if y is None else fn(y, r, **case.options))

    assert ex.loss == pytest.approx(value(raw), rel=1e-12)
    numeric = central_difference(lambda r: np.asarray([value(r)]), raw)
    np.testing.assert_allclose(ex.gradient, np.ravel(numeric), rtol=1e-6, atol=1e-7)
    assert ex.gradient_source.startswith(f"a central difference of losskit.{name}")


def test_worked_examples_quoted_in_the_issue():
    # BCE at p = 0.9 for y = 1, from probabilities, is the example's loss: -log 0.9
    e = lk.explain("bce")
    assert e.example.loss == pytest.approx(float(lk.binary_cross_entropy([1.0], [0.9])))
    assert e.example.loss == pytest.approx(-math.log(0.9), rel=1e-12)
    assert e.gradient.startswith("∂l/∂z = σ(z) − y")
    assert e.example.gradient == pytest.approx((0.9 - 1.0,), rel=1e-12)
    mse = lk.explain("mse")
    assert "2(ŷ_j − y_j)/k" in mse.gradient
    assert mse.example.gradient == tuple(lk.gradient(lk.mean_squared_error, [1.0], [1.5]))


# ------------------------------------------------------------------------------ saturation


def test_squared_error_through_a_sigmoid_saturates_where_cross_entropy_does_not():
    g = saturation_gradients([-10.0])
    assert abs(float(g["mean_squared_error"][0])) < 1e-3
    assert abs(float(g["binary_cross_entropy"][0])) > 0.99
    # the chain rule by hand: 2(σ − y)·σ(1 − σ)
    z = np.linspace(-12.0, 12.0, 97)
    s = 1.0 / (1.0 + np.exp(-z))
    g = saturation_gradients(z)
    np.testing.assert_allclose(g["mean_squared_error"], 2 * (s - 1) * s * (1 - s), rtol=1e-9,
                               atol=1e-15)
    np.testing.assert_allclose(g["binary_cross_entropy"], s - 1, rtol=1e-9, atol=1e-15)
    # for y = 0 the mirror image
    g0 = saturation_gradients([10.0], y_true=0)
    assert abs(float(g0["mean_squared_error"][0])) < 1e-3 < 0.99 < float(
        g0["binary_cross_entropy"][0])


def test_saturation_agrees_with_torch_autograd():
    torch = pytest.importorskip("torch")
    z = torch.linspace(-12.0, 12.0, 49, dtype=torch.float64, requires_grad=True)
    ((torch.sigmoid(z) - 1.0) ** 2).sum().backward()
    g = saturation_gradients(z.detach().numpy())
    np.testing.assert_allclose(g["mean_squared_error"], z.grad.numpy(), rtol=1e-9, atol=1e-15)


def test_the_text_quotes_the_computed_saturation_numbers():
    g = saturation_gradients([-10.0])
    mse, bce = abs(float(g["mean_squared_error"][0])), abs(float(g["binary_cross_entropy"][0]))
    for name in ("mean_squared_error", "binary_cross_entropy", "bernoulli"):
        text = " ".join(lk.explain(name).pitfalls)
        assert f"{mse:.2g}" in text and f"{bce:.5g}" in text


def test_the_fused_bce_numbers_are_pytorchs_and_losskits():
    """The pitfall quotes PyTorch's fused BCE-with-logits (reproduced in float32, equal to
    PyTorch's own output) next to losskit's exact loss."""
    torch = pytest.importorskip("torch")
    from losskit.explain import fused_bce_with_logits_float32

    text = " ".join(lk.explain("binary_cross_entropy").pitfalls)
    theirs = float(torch.nn.functional.binary_cross_entropy_with_logits(
        torch.tensor(-10.0), torch.tensor(0.0)))
    assert theirs == fused_bce_with_logits_float32(-10.0, 0.0)
    exact = float(np.log1p(np.exp(-10.0)))
    assert f"{theirs:.6g}" in text and f"{exact:.6g}" in text
    assert abs(theirs / exact - 1) > 5e-3  # the rounding the text warns about
    for z in np.linspace(-30.0, 30.0, 121):
        for y in (0.0, 0.3, 1.0):
            ref = float(torch.nn.functional.binary_cross_entropy_with_logits(
                torch.tensor(float(z)), torch.tensor(y)))
            assert fused_bce_with_logits_float32(float(z), y) == pytest.approx(
                ref, rel=1e-6, abs=1e-12)


@pytest.mark.parametrize(("args", "message"), [
    ({"logits": [[0.0]]}, "saturation_gradients: logits has shape (1, 1)"),
    ({"logits": [0.0], "y_true": 0.5}, "saturation_gradients: y_true is 0.5. Pass 0 or 1"),
])
def test_saturation_bad_inputs(args, message):
    logits = args.pop("logits")
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        saturation_gradients(logits, **args)


# ---------------------------------------------------------------------------------- lookup


@pytest.mark.parametrize(("alias", "name"), [
    ("BCE", "binary_cross_entropy"), ("bce", "binary_cross_entropy"),
    ("BCEWithLogitsLoss", "binary_cross_entropy"), ("log loss", "binary_cross_entropy"),
    ("mse", "mean_squared_error"), ("MeanSquaredError", "mean_squared_error"),
    ("cross-entropy", "categorical_cross_entropy"), ("CE", "categorical_cross_entropy"),
    ("SparseCategoricalCrossentropy", "sparse_categorical_cross_entropy"),
    ("huber", "huber_loss"), ("Huber", "huber_loss"), ("KLDivergence", "kl_divergence"),
    ("mae", "mean_absolute_error"), ("quantile", "pinball_loss"), ("focal", "binary_focal_loss"),
    ("Poisson", "poisson"), ("poisson_nll", "poisson_nll"), ("StudentT", "student_t"),
    ("student-t", "student_t"), ("Gaussian Mixture", "gaussian_mixture"),
    ("GaussianMixture", "gaussian_mixture"), ("mdn", "gaussian_mixture_nll"),
])
def test_names_are_case_insensitive_with_aliases(alias, name):
    assert lk.explain(alias).name == name


def test_aliases_are_unambiguous():
    seen = {}
    declared = [(name, aliases) for name, (_, aliases, _) in EXPLAINED.items()]
    declared += [(name, cls.aliases) for name, cls in registered_families().items()]
    for name, aliases in declared:
        for alias in (name, *aliases):
            key = alias.lower().replace("_", "").replace("-", "").replace(" ", "")
            assert seen.setdefault(key, name) == name, alias


def test_unknown_name_lists_the_names():
    with pytest.raises(ValueError) as info:
        lk.explain("bernouli")
    message = str(info.value)
    assert message.startswith("explain: name is 'bernouli', which is not a known loss or "
                              "family. Did you mean 'bernoulli'? Pass one of the losses ")
    for name in LOSSES + FAMILIES:
        assert name in message
    with pytest.raises(ValueError, match=r"explain: name is 'zzz', which is not a known loss "
                                         r"or family\. Pass one of"):
        lk.explain("zzz")
    with pytest.raises(TypeError, match=r"explain: name has type int\. Pass the name of a loss"):
        lk.explain(3)


# ---------------------------------------------------------------------------------- output


def test_page_and_json():
    e = lk.explain("bce")
    page = str(e)
    for heading in ("binary_cross_entropy (loss)", "formula", "distribution", "output activation",
                    "gradient w.r.t. the raw output", "example (computed now)", "when to use it",
                    "pitfalls", "related"):
        assert heading in page
    assert "σ(z) − y" in page and "from_logits" in page
    assert max(len(line) for line in page.splitlines()) <= 100
    payload = json.loads(json.dumps(e.to_dict()))
    assert payload["name"] == "binary_cross_entropy"
    assert payload["example"]["loss"] == e.example.loss
    assert payload["pitfalls"] == list(e.pitfalls)


def test_cli_prints_the_explanation(capsys):
    assert main(["explain", "BCE"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("binary_cross_entropy (loss)")
    assert "σ(z) − y" in out and "pitfalls" in out


def test_cli_json(capsys):
    assert main(["explain", "poisson", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["kind"] == "family" and payload["facts"]["loss"] == "losskit.poisson_nll"


def test_cli_unknown_name_exits_2(capsys):
    assert main(["explain", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("losskit explain: error: name is 'nope', which is not a "
                          "known loss or family")


# ------------------------------------------------------------------------------------ plot


def _check_png(path):
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    return image


def test_cli_plot_writes_a_png(tmp_path, capsys):
    target = tmp_path / "bce.png"
    assert main(["explain", "bce", "--plot", str(target)]) == 0
    captured = capsys.readouterr()
    assert "binary_cross_entropy (loss)" in captured.out
    assert str(target) in captured.err
    image = _check_png(target)
    assert image.shape[1] > 2 * image.shape[0]  # three panels side by side
    assert os.listdir(tmp_path) == ["bce.png"]  # no temporary file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() would create it


@pytest.mark.parametrize("name", ["mse", "entropy", "perplexity", "gaussian_mixture_nll",
                                  "categorical", "heteroscedastic_gaussian"])
def test_plot_every_kind_of_entry(tmp_path, name):
    target = plot(name, tmp_path / f"{name}.png")
    image = _check_png(target)
    panels = 3 if _declared(lk.explain(name).name).classification else 2
    assert image.shape[1] / image.shape[0] == pytest.approx(5.2 * panels / 4.4, rel=0.05)


def test_plot_is_atomic(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    target = tmp_path / "old.png"
    target.write_bytes(b"previous")

    def broken(self, *args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        plot("mse", target)
    assert target.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["old.png"]


def test_plot_bad_paths(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"plot: path is .*, whose folder .* does not exist\. "
                                         "Create the folder first"):
        plot("mse", tmp_path / "missing" / "x.png")
    with pytest.raises(ValueError, match=r"plot: path is .*x\.jpg', which does not end in "
                                         r"\.png\. Pass a file name ending in \.png"):
        plot("mse", tmp_path / "x.jpg")
    assert main(["explain", "mse", "--plot", str(tmp_path / "x.jpg")]) == 2
    assert "losskit explain: error: plot: path is" in capsys.readouterr().err
