"""``benchmarks/bench_catalogue.py`` covers every loss and family (issue 19): each registered
loss and family NLL has a reference on torch and JAX, the references compute the same number
as losskit on the inputs the benchmark builds, and a row that cannot run says why in the table
instead of stopping the run. No timings are checked (the runs are tiny)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("scipy")
pytest.importorskip("sklearn")

PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_catalogue.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_catalogue", PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_catalogue"] = module
    spec.loader.exec_module(module)
    return module


def _backends(bench):
    try:
        import jax  # noqa: F401
        import optax  # noqa: F401
    except ImportError:
        return ("np", "torch")
    return ("np", "torch", "jax")


def test_every_loss_and_family_has_a_reference_on_every_backend(bench):
    from losskit.families import registered_families
    from losskit.losses import loss_specs

    rows = bench._rows()
    names = {row.name for row in rows}
    assert names == set(loss_specs()) | set(registered_families())
    missing = []
    for row in rows:
        for lib in _backends(bench)[1:]:
            try:
                bench._reference(bench._Ops(lib), row.name, row.options(lib))
            except KeyError:
                missing.append(f"{row.label} on {lib}")
    assert not missing, f"add references to benchmarks/bench_catalogue.py for {missing}"


#: one row of each kind of input the benchmark builds beside (y, raw): stacked triplets and
#: pairs, a batch of embeddings, label sequences, an output layer passed as an option, label
#: sets, per-element probabilities, ±1 targets, lists, and a family
KINDS = ["triplet_margin_loss", "cosine_embedding_loss", "ntxent", "circle_loss", "ctc_loss",
         "linear_cross_entropy", "multilabel_margin_loss", "dice_loss", "perceptron_loss",
         "pairwise_hinge_loss", "multiclass_sparsemax_loss", "von_mises"]


@pytest.mark.parametrize("name", KINDS)
def test_a_row_runs_and_both_sides_compute_the_same_loss(bench, name):
    (row,) = [r for r in bench._rows() if r.name == name]
    out = bench.run_row(row, 2_000, 1, 0, ("np", "torch"))  # JAX: the test below
    assert "failed" not in out, out.get("failed")
    assert out["agree"] < 1e-6  # float64
    for key in ("torch value L", "torch v+g L", "np v+g L"):
        assert np.isfinite(out[key]) and out[key] > 0


def test_every_row_agrees_with_its_references(bench):
    """The value check of every row at the small batch (the table's ``agree``: float64, the
    NumPy or torch reference; ``agree jax``: float32, eager)."""
    with_jax = "jax" in _backends(bench)
    far = []
    for row in bench._rows():
        refs = {"np": None if row.probabilities else bench._numpy_reference(row.name, row.opts),
                "torch": bench._reference(bench._Ops("torch"), row.name, row.options("torch"))}
        if with_jax:
            refs["jax"] = bench._reference(bench._Ops("jax"), row.name, row.options("jax"))
        rng = np.random.default_rng(1)
        y, raw = bench._inputs(row.name, row.case, bench.SMALL, rng)
        if row.probabilities:
            raw = np.exp(raw) / np.exp(raw).sum(axis=-1, keepdims=True)
        # Stirling's approximation in PyTorch's poisson_nll_loss(full=True): differs by design
        tolerance = 1e-2 if row.name == "poisson" else 1e-6
        agree = bench._agree(row, refs, y, raw, with_jax)
        if not agree["agree"] < tolerance or not agree.get("agree jax", 0.0) < 1e-5:
            far.append(f"{row.label}: {agree}")
    assert not far


def test_a_row_that_cannot_run_says_why_and_the_table_goes_on(bench, capsys):
    from losskit.losses import loss_specs

    spec = loss_specs()["mean_squared_error"]
    broken = bench._Row("not_a_loss", lambda y, raw, **k: 1 / 0, {}, spec.explanation.case,
                        False)
    line = bench.table_row(broken, 1_000, 1, 0)
    assert line.startswith("| not_a_loss |") and "KeyError" in line  # no reference

    def fails(y, raw, **kwargs):
        raise ValueError("cannot | build")

    row = bench._Row("mean_squared_error", fails, {}, spec.explanation.case, False)
    line = bench.table_row(row, 1_000, 1, 0)
    assert "ValueError: cannot / build" in line  # the reason, without breaking the table
    assert "\n" not in line
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[0] == "mean_squared_error" and len(cells) == 18
    bench.main(["--quick", "--repeats", "1", "--only", "mean_squared_error", "--threads", "1"])
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 3 and printed[2].startswith("| mean_squared_error |")
