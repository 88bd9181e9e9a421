"""The README's catalogue lists every loss of the installed frameworks, each with a losskit
function that exists (or "not yet")."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import losskit as lk

README = Path(__file__).resolve().parents[2] / "README.md"


def _rows() -> dict[str, dict[str, str]]:
    text = README.read_text(encoding="utf-8")
    section = text.split("### Catalogue: every loss of PyTorch, Keras and optax", 1)[1]
    section = section.split("\n###", 1)[0]
    rows: dict[str, dict[str, str]] = {"torch": {}, "keras": {}, "optax": {}}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] in rows:
            for name in re.findall(r"`([A-Za-z_0-9]+)`", cells[1]):
                rows[cells[0]][name] = cells[2]
    return rows


ROWS = _rows()


def _torch_losses() -> set[str]:
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    return {n for n in dir(F) if not n.startswith("_") and callable(getattr(F, n))
            and ("loss" in n or "entropy" in n or n == "kl_div")}


def _keras_losses() -> set[str]:
    os.environ.setdefault("KERAS_BACKEND", "numpy")
    try:
        import keras
    except Exception:  # keras needs a backend; without one there is nothing to check
        pytest.skip("keras is not importable")
    return {n for n in dir(keras.losses) if not n.startswith("_")} - {
        "Loss", "get", "serialize", "deserialize", "LossFunctionWrapper", "Reduction"}


def _optax_losses() -> set[str]:
    optax = pytest.importorskip("optax")
    return {n for n in dir(optax.losses) if not n.startswith("_")}


@pytest.mark.parametrize("framework,names", [("torch", _torch_losses),
                                             ("keras", _keras_losses),
                                             ("optax", _optax_losses)])
def test_every_installed_framework_loss_is_in_the_table(framework, names):
    missing = sorted(names() - set(ROWS[framework]))
    assert not missing, f"add {framework}'s {missing} to the README catalogue"


def test_every_losskit_name_in_the_table_exists():
    cited = set()
    for framework in ROWS.values():
        for cell in framework.values():
            if cell.startswith("not yet") or cell.startswith("the `"):
                continue
            first = re.search(r"`(?:1 - )?([a-z_0-9]+)", cell)
            assert first, cell
            cited.add(first.group(1))
    unknown = sorted(n for n in cited if not callable(getattr(lk, n, None)))
    assert not unknown, unknown
    # the table is not empty, and the new losses are in it
    assert {"margin_ranking_loss", "triplet_margin_loss", "multi_margin_loss"} <= cited
