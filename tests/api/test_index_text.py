"""An array index is shown in messages by one helper (``index_text``: the number for one axis,
the tuple for several), not by copies of ``index[0] if len(index) == 1 else index``."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import losskit as lk
from losskit._validation import index_text

ROOT = Path(__file__).resolve().parents[2] / "src" / "losskit"
COPY = re.compile(r"\bindex\[0\] if len\(index\) == 1 else index\b")


def test_no_module_formats_an_index_itself():
    copies = [f"{path.relative_to(ROOT)}:{text[:m.start()].count(chr(10)) + 1}"
              for path in sorted(ROOT.rglob("*.py"))
              for text in [path.read_text()] for m in COPY.finditer(text)]
    assert copies == [], f"use losskit._validation.index_text at {copies}"


@pytest.mark.parametrize("index,text", [((3,), "3"), ((1, 2), "(1, 2)"), ((), "()")])
def test_index_text(index, text):
    assert index_text(index) == text


def test_messages_show_one_axis_as_a_number_and_several_as_a_tuple():
    with pytest.raises(ValueError, match=r"has the value 2 at index 1, not -1 or \+1"):
        lk.hinge_embedding_loss(np.array([1.0, 2.0]), np.array([0.5, 0.5]))
    with pytest.raises(ValueError, match=r"has the value 2 at index \(1, 0\), not -1 or \+1"):
        lk.hinge_embedding_loss(np.array([[1.0], [2.0]]), np.array([[0.5], [0.5]]))
