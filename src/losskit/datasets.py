"""Tables in and out of losskit: reading CSV/Parquet and picking the target column.

Extra ``data`` (pandas, pyarrow). Everything here fails with the project's error template
before any model sees the data: an unknown file type, an unknown target column (the message
lists the columns), missing values (how many, in which columns).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from losskit._validation import fail

__all__ = ["read_table", "split_target"]

_READERS = {".csv": "read_csv", ".tsv": "read_csv", ".parquet": "read_parquet",
            ".pq": "read_parquet"}


def read_table(path: str | Path) -> Any:
    """Read a CSV (``.csv``, ``.tsv``) or Parquet (``.parquet``, ``.pq``) file as a DataFrame.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "d.csv").write_text("x,y\\n1,0\\n2,1\\n")
    >>> read_table(folder / "d.csv").shape
    (2, 2)
    """
    import pandas as pd

    path = Path(path)
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        fail("read_table", "path", f"{str(path)!r} has suffix {path.suffix!r}",
             "Pass a .csv, .tsv, .parquet or .pq file")
    if not path.is_file():
        fail("read_table", "path", f"{str(path)!r} does not exist", "Check the file name")
    options = {"sep": "\t"} if path.suffix.lower() == ".tsv" else {}
    table = getattr(pd, reader)(path, **options)
    if table.shape[0] == 0:
        fail("read_table", "path", f"{str(path)!r} has no rows", "Pass a table with data")
    return table


def split_target(table: Any, target: str, *, allow_missing_features: bool = False
                 ) -> tuple[Any, Any]:
    """``(X, y)``: the target column and the other columns, with clear errors.

    Examples
    --------
    >>> import pandas as pd
    >>> X, y = split_target(pd.DataFrame({"a": [1, 2], "t": [0, 1]}), "t")
    >>> list(X.columns), y.tolist()
    (['a'], [0, 1])
    >>> split_target(pd.DataFrame({"a": [1, 2]}), "t")
    Traceback (most recent call last):
    ...
    ValueError: split_target: target 't' is not a column (columns: 'a'). Pass one of the columns...
    """
    if target not in table.columns:
        columns = ", ".join(repr(c) for c in table.columns[:20])
        more = f" and {len(table.columns) - 20} more" if len(table.columns) > 20 else ""
        fail("split_target", "target", f"{target!r} is not a column (columns: {columns}{more})",
             "Pass one of the columns with --target")
    y = table[target]
    if y.isna().any():
        fail("split_target", "target", f"{target!r} has {int(y.isna().sum())} missing values "
             f"(first at row {int(y.isna().to_numpy().argmax())})",
             "Drop or impute those rows before training")
    X = table.drop(columns=[target])
    missing = X.isna().sum()
    missing = missing[missing > 0]
    if len(missing) and not allow_missing_features:
        listed = ", ".join(f"{c!r} ({n})" for c, n in missing.items())
        fail("split_target", "features", f"have missing values: {listed}",
             "Drop or impute them before training")
    return X, y
