"""``losskit ... | head``: a reader that stops reading is not an error of the command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

import losskit as lk

SRC = str(Path(lk.__file__).resolve().parents[1])


def test_a_closed_pipe_ends_the_command_quietly(tmp_path):
    # before: "losskit advise: error: cannot use: Broken pipe", exit 2
    path = tmp_path / "d.csv"
    pd.DataFrame({"x": np.arange(50.0), "y": np.arange(50.0) ** 1.5}).to_csv(path, index=False)
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the command writes
    child = subprocess.run([sys.executable, "-m", "losskit.cli", "advise", str(path),
                            "--target", "y"], stdout=write, stderr=subprocess.PIPE,
                           env={**os.environ, "PYTHONPATH": SRC}, text=True)
    os.close(write)
    assert child.returncode == 141
    assert child.stderr == ""
