"""The frameworks' own test inputs as references: PyTorch's OpInfo sample inputs (from the
installed ``torch.testing._internal``) for every loss losskit has, run with
``convention="torch"``, values and gradients against PyTorch's own function and autograd.

losskit's sample model differs from PyTorch's in one documented way (docs/conventions.md,
"which axis is a sample"): with two or more dimensions the last axis holds one sample's
outputs, averaged, so ``"none"`` is PyTorch's ``"none"`` averaged over the last axis and
``"sum"`` the sum of those means. The reference below maps PyTorch's element-wise output to
that model before comparing; ``"mean"`` is the same number either way.
"""

from __future__ import annotations

import sys
import types
import unittest

import numpy as np
import pytest

import losskit as lk

torch = pytest.importorskip("torch")
F = torch.nn.functional


@pytest.fixture(scope="module")
def op_db():
    # torch's test helpers import expecttest (a test-only dependency) for their TestCase base
    # class; the sample-input generators do not use it
    if "expecttest" not in sys.modules:
        try:
            import expecttest  # noqa: F401
        except ImportError:
            stub = types.ModuleType("expecttest")
            stub.TestCase = unittest.TestCase
            sys.modules["expecttest"] = stub
    try:
        from torch.testing._internal.common_methods_invocations import op_db as db
    except Exception as error:  # pragma: no cover - depends on the installed torch
        pytest.skip(f"torch's OpInfo database is not importable: {error}")
    return {op.name + (f".{op.variant_test_name}" if op.variant_test_name else ""): op
            for op in db}


def _np(t):
    return t.detach().numpy().copy()


def _as_samples(out):
    """PyTorch's element-wise output in losskit's sample model."""
    return out.mean(dim=-1) if out.ndim >= 2 else out


def _reduce(out, reduction):
    per = _as_samples(out)
    return {"none": per, "sum": per.sum(), "mean": per.mean()}[reduction]


# each adapter: sample -> (losskit function, y_true, y_pred (tensor, requires grad), options,
# torch element-wise loss of y_pred); 0-d PyTorch inputs become one-sample 1-D arrays


def _margin_ranking(s):
    # losskit never broadcasts: the reference inputs that rely on it are broadcast first
    x1, x2, y = torch.broadcast_tensors(s.input, *s.args)
    pred = torch.stack([x1, x2], dim=-1).reshape((-1, 2) if x1.ndim == 0 else (*x1.shape, 2))
    y = y.reshape(pred.shape[:-1])
    margin = s.kwargs.get("margin", 0.0)
    return (lk.margin_ranking_loss, _np(y), pred, {"margin": margin, "check_values": False},
            lambda p: F.margin_ranking_loss(p[..., 0], p[..., 1], y, margin=margin,
                                            reduction="none"))


def _elementwise(lk_fn, torch_fn, *names):
    def adapter(s):
        x, y = torch.broadcast_tensors(s.input, s.args[0])
        if x.ndim == 0:
            x, y = x.reshape(1), y.reshape(1)
        options = {k: s.kwargs[k] for k in names if k in s.kwargs}
        return (lk_fn, _np(y.to(x.dtype)), x, {**options, "check_values": False},
                lambda p: torch_fn(p, y.to(x.dtype), **options, reduction="none"))
    return adapter


def _cosine_embedding(s):
    x1, x2, y = s.input, *s.args
    pred = torch.stack([x1, x2], dim=-2)
    margin = s.kwargs["margin"]
    return (lk.cosine_embedding_loss, _np(y), pred, {"margin": margin},
            lambda p: F.cosine_embedding_loss(p[..., 0, :], p[..., 1, :], y, margin=margin,
                                              reduction="none"))


def _triplet(s):
    pred = torch.stack([s.input, *s.args], dim=-2)
    options = {k: v for k, v in s.kwargs.items() if k in ("margin", "swap", "p", "eps")}
    return (lk.triplet_margin_loss, None, pred, options,
            lambda p: F.triplet_margin_loss(p[..., 0, :], p[..., 1, :], p[..., 2, :],
                                            **options, reduction="none"))


def _triplet_with_distance(s):
    # PyTorch's samples pass nn.PairwiseDistance(): the L2 distance with eps = 1e-6, which is
    # losskit's "euclidean"
    distance = s.kwargs["distance_function"]
    assert isinstance(distance, torch.nn.PairwiseDistance)
    assert (distance.norm, distance.eps) == (2.0, 1e-6)
    pred = torch.stack([s.input, *s.args], dim=-2)
    options = {k: v for k, v in s.kwargs.items() if k in ("margin", "swap")}
    return (lk.triplet_margin_with_distance_loss, None, pred,
            {**options, "distance_function": "euclidean"},
            lambda p: F.triplet_margin_with_distance_loss(
                p[..., 0, :], p[..., 1, :], p[..., 2, :], distance_function=distance,
                **options, reduction="none"))


def _multi_margin(s):
    x, y = s.input, s.args[0]
    if x.ndim == 0:
        x = x.reshape(1)
    if x.ndim == 1:
        y = y.reshape(())
    options = {k: s.kwargs[k] for k in ("p", "margin") if k in s.kwargs}
    weight = s.kwargs.get("weight")
    lk_options = {**options, "check_values": False}
    if weight is not None:
        lk_options["class_weight"] = _np(weight)
    return (lk.multi_margin_loss, _np(y), x, lk_options,
            lambda p: F.multi_margin_loss(p, y, **options, weight=weight, reduction="none"))


def _multilabel_margin(s):
    x, y = s.input, s.args[0]
    if x.ndim == 0:
        x, y = x.reshape(1), y.reshape(1)
    return (lk.multilabel_margin_loss, _np(y), x, {},
            lambda p: F.multilabel_margin_loss(p, y, reduction="none"))


def _poisson(s):
    x, y = torch.broadcast_tensors(s.input, s.args[0])
    if x.ndim == 0:
        x, y = x.reshape(1), y.reshape(1)
    options = {k: s.kwargs[k] for k in ("log_input", "full", "eps") if k in s.kwargs}
    return (lk.poisson_nll, _np(y), x, options,
            lambda p: F.poisson_nll_loss(p, y, **options, reduction="none"))


ADAPTERS = {
    "nn.functional.poisson_nll_loss": _poisson,
    "nn.functional.mse_loss": _elementwise(lk.mean_squared_error, F.mse_loss),
    "nn.functional.l1_loss": _elementwise(lk.mean_absolute_error, F.l1_loss),
    "nn.functional.huber_loss": _elementwise(lk.huber_loss, F.huber_loss, "delta"),
    "nn.functional.margin_ranking_loss": _margin_ranking,
    "nn.functional.hinge_embedding_loss": _elementwise(lk.hinge_embedding_loss,
                                                       F.hinge_embedding_loss, "margin"),
    "nn.functional.soft_margin_loss": _elementwise(lk.soft_margin_loss, F.soft_margin_loss),
    "nn.functional.cosine_embedding_loss": _cosine_embedding,
    "nn.functional.triplet_margin_loss": _triplet,
    "nn.functional.triplet_margin_with_distance_loss": _triplet_with_distance,
    "nn.functional.multi_margin_loss": _multi_margin,
    "nn.functional.multilabel_margin_loss": _multilabel_margin,
}

#: per-sample outputs whose PyTorch output already is one value per sample (no last-axis mean)
_PER_SAMPLE = {"nn.functional.cosine_embedding_loss", "nn.functional.triplet_margin_loss",
               "nn.functional.triplet_margin_with_distance_loss",
               "nn.functional.multi_margin_loss", "nn.functional.multilabel_margin_loss"}

COUNTS = {"cases": 0}


@pytest.fixture(scope="module", autouse=True)
def _report_count():
    """Print how many PyTorch cases passed (``pytest -s`` shows it)."""
    yield
    print(f"\nPyTorch OpInfo cases checked: {COUNTS['cases']}")


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_torch_opinfo_samples(op_db, name):
    torch.manual_seed(0)
    op = op_db[name]
    count = 0
    for sample in op.reference_inputs("cpu", torch.float64, requires_grad=False):
        fn, y, pred, options, torch_none = ADAPTERS[name](sample)
        reductions = [sample.kwargs["reduction"]] if "reduction" in sample.kwargs else \
            ["mean", "sum", "none"]
        for reduction in reductions:
            p = pred.detach().clone().requires_grad_(True)
            out = torch_none(p)
            if name in _PER_SAMPLE:
                expected = {"none": out, "sum": out.sum(), "mean": out.mean()}[reduction]
            else:
                expected = _reduce(out, reduction)
            value, grad = lk.value_and_gradient(fn, y, _np(pred), reduction=reduction,
                                                convention="torch", **options)
            np.testing.assert_allclose(value, _np(expected), rtol=1e-10, atol=1e-12,
                                       err_msg=f"{name} {options} {reduction}")
            expected.sum().backward()
            np.testing.assert_allclose(grad, _np(p.grad), rtol=1e-9, atol=1e-12,
                                       err_msg=f"{name} gradient {options} {reduction}")
            count += 1
    assert count >= 6
    COUNTS["cases"] += count
