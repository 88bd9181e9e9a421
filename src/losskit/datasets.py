"""Tables in and out of losskit: reading CSV/Parquet and picking the target column.

Extra ``data`` (pandas, pyarrow). Everything here fails with the project's error template
before any model sees the data: an unknown file type, a path that is not a readable regular
file, a file that is not a table, duplicate column names (pandas would silently rename the
second ``y`` to ``y.1``), a numeric column with a few text cells (listed with their row
numbers), an unknown target column ("did you mean", and the full list of columns), missing
values (how many, in which columns).

The functions take ``command``: the ``losskit`` subcommand calling them. With it, messages
name the command-line arguments (``DATA``, ``--target``, ``--drop``); without it, the
function and its parameters.
"""

from __future__ import annotations

import csv
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from losskit._validation import did_you_mean, fail

__all__ = ["check_text_in_numbers", "read_table", "split_target"]

_READERS = {".csv": "read_csv", ".tsv": "read_csv", ".parquet": "read_parquet",
            ".pq": "read_parquet"}
#: a column whose non-missing cells are at least this fraction numbers is a numeric column
_NUMERIC_SHARE = 0.9


def read_table(path: str | Path, *, command: str | None = None) -> Any:
    """Read a CSV (``.csv``, ``.tsv``) or Parquet (``.parquet``, ``.pq``) file as a DataFrame.

    Refuses a path that is not a regular file (a folder, a FIFO — which would block — or a
    device), a file that cannot be parsed, a table without rows, and duplicate column names.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "d.csv").write_text("x,y\\n1,0\\n2,1\\n")
    >>> read_table(folder / "d.csv").shape
    (2, 2)
    >>> _ = (folder / "e.csv").write_text("a,y,y\\n1,0,1\\n")
    >>> read_table(folder / "e.csv")
    Traceback (most recent call last):
    ...
    ValueError: read_table: path ... has the column name 'y' twice. Rename the columns so...
    """
    import pandas as pd

    func, arg = (command, "DATA") if command else ("read_table", "path")
    text = os.fspath(path)
    path = Path(path)
    if text == "":
        fail(func, arg, "is empty", "Pass a .csv, .tsv, .parquet or .pq file")
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        fail(func, arg, f"{text!r} has suffix {path.suffix!r}",
             "Pass a .csv, .tsv, .parquet or .pq file")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        fail(func, arg, f"{text!r} does not exist", "Check the file name")
    except OSError as error:
        fail(func, arg, f"{text!r} cannot be read ({error.strerror})", "Check the file name")
    if not stat.S_ISREG(st.st_mode):
        from losskit._io import file_kind

        fail(func, arg, f"{text!r} is {file_kind(st.st_mode)}, not a file",
             "Pass a .csv, .tsv, .parquet or .pq file")
    if not os.access(path, os.R_OK):
        fail(func, arg, f"{text!r} cannot be read (permission denied)",
             "Check the file's permissions")
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    options = {"sep": sep} if reader == "read_csv" else {}
    try:
        table = getattr(pd, reader)(path, **options)
    except pd.errors.EmptyDataError:
        fail(func, arg, f"{text!r} is empty", "Pass a table with a header row and data")
    except (ValueError, OSError, ImportError, pd.errors.ParserError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(
            error).__name__
        fail(func, arg, f"{text!r} could not be read as a {path.suffix.lstrip('.')} table "
             f"({first})", "Check the file's format")
    names = _header(path, sep) if reader == "read_csv" else [str(c) for c in table.columns]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            fail(func, arg, f"{text!r} has the column name {name!r} twice",
                 "Rename the columns so that every name is different")
        seen.add(name)
    if table.shape[0] == 0:
        fail(func, arg, f"{text!r} has no rows", "Pass a table with data")
    return table


def _header(path: Path, sep: str) -> list[str]:
    """The header row as written in the file (pandas renames repeated names)."""
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        return next(csv.reader(fh, delimiter=sep), [])


def _columns_text(columns: Sequence[Any]) -> str:
    return ", ".join(repr(str(c)) for c in columns)


def _unknown_column(func: str, arg: str, name: str, columns: Sequence[Any], fix: str) -> None:
    names = [str(c) for c in columns]
    hint = did_you_mean(name, names)
    fail(func, arg, f"{name!r} is not a column.{' ' + hint if hint else ''} The columns are: "
         f"{_columns_text(names)}", fix)


def check_text_in_numbers(table: Any, *, command: str | None = None,
                          argument: str = "table") -> None:
    """Refuse a column that holds numbers except for a few text cells (listed with their
    1-based row numbers): such a column is numeric with typos, and encoding it as categories
    would make one input per distinct number.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"x": ["1", "2", "3", "4", "5", "6", "7", "8", "9", "1O"]})
    >>> check_text_in_numbers(t)
    Traceback (most recent call last):
    ...
    ValueError: check_text_in_numbers: table column 'x' holds numbers except for 1 text cell(s)...
    """
    import numpy as np
    import pandas as pd

    func = command or "check_text_in_numbers"
    for name in table.columns:
        col = table[name]
        if not (pd.api.types.is_object_dtype(col) or pd.api.types.is_string_dtype(col)):
            continue
        present = col.notna().to_numpy()
        if not present.any():
            continue
        numbers = pd.to_numeric(col.astype(str).str.strip(), errors="coerce").notna().to_numpy()
        text = present & ~numbers
        n_text, n_present = int(text.sum()), int(present.sum())
        if 0 < n_text and n_present - n_text >= _NUMERIC_SHARE * n_present:
            rows = [int(r) for r in np.flatnonzero(text)[:5]]
            listed = ", ".join(f"row {r + 1} ({str(col.iloc[r])[:30]!r})" for r in rows)
            more = f" and {n_text - len(rows)} more" if n_text > len(rows) else ""
            fail(func, argument, f"column {str(name)!r} holds numbers except for {n_text} text "
                 f"cell(s): {listed}{more} (rows counted from 1 after the header)",
                 "Correct those cells or remove their rows" if argument == "--target" else
                 "Correct or remove those cells (or drop the column" + (
                     " with --drop)" if command == "fit" else ")"))


def split_target(table: Any, target: str, *, allow_missing_features: bool = False,
                 command: str | None = None, drop: Sequence[str] = ()) -> tuple[Any, Any]:
    """``(X, y)``: the target column and the other columns (less ``drop``), with clear errors.

    Examples
    --------
    >>> import pandas as pd
    >>> X, y = split_target(pd.DataFrame({"a": [1, 2], "t": [0, 1]}), "t")
    >>> list(X.columns), y.tolist()
    (['a'], [0, 1])
    >>> split_target(pd.DataFrame({"a": [1, 2], "target": [0, 1]}), "Target")
    Traceback (most recent call last):
    ...
    ValueError: split_target: target 'Target' is not a column. Did you mean 'target'? The col...
    """
    func, arg, drop_arg = (command, "--target", "--drop") if command else (
        "split_target", "target", "drop")
    columns = [str(c) for c in table.columns]
    table = table.rename(columns=str)
    if target not in columns:
        _unknown_column(func, arg, target, columns, f"Pass one of the columns with {arg}")
    for name in drop:
        if name not in columns:
            _unknown_column(func, drop_arg, name, columns, f"Pass column names to {drop_arg}")
        if name == target:
            fail(func, drop_arg, f"names the target {target!r}", "Drop feature columns only")
    y = table[target]
    if y.isna().any():
        fail(func, arg, f"{target!r} has {int(y.isna().sum())} missing values "
             f"(first at row {int(y.isna().to_numpy().argmax()) + 1})",
             "Drop or impute those rows before training")
    X = table.drop(columns=[target, *drop])
    check_text_in_numbers(table[[target]], command=command, argument=arg)
    check_text_in_numbers(X, command=command, argument="DATA" if command else "table")
    missing = X.isna().sum()
    missing = missing[missing > 0]
    if len(missing) and not allow_missing_features:
        listed = ", ".join(f"{c!r} ({n})" for c, n in missing.items())
        fail(func, "DATA" if command else "features",
             f"{'has' if command else 'have'} missing values: {listed}",
             "Drop or impute them before training" + (
                 " (or drop the columns with --drop)" if command == "fit" else ""))
    return X, y
