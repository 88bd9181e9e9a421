"""Files written by losskit: atomic writes (a reader, or a run killed mid-write, sees the old
file or the new one), strict JSON, and folders replaced as a unit."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["atomic_write", "atomic_write_bytes", "check_output_path", "file_kind",
           "link_or_copy_tree", "replace_folder", "restore_nonfinite", "strict_json",
           "write_json"]


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Write ``path`` through ``write(temporary_path)``, then rename the file over ``path``.

    The temporary file lies in the same folder (so the rename is atomic), is flushed to disk
    before the rename, and gets the permissions a plain ``open()`` would give (``mkstemp``
    makes it private). On any error it is removed and ``path`` is left as it was.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> atomic_write(target, lambda tmp: pathlib.Path(tmp).write_text("hello")).read_text()
    'hello'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` (text is UTF-8 encoded) to ``path`` atomically (see :func:`atomic_write`)."""
    payload = data.encode() if isinstance(data, str) else data
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(payload))


# ------------------------------------------------------------------------------ strict JSON


def strict_json(data: Any, *, where: str, nonfinite: str = "error", indent: int | None = 2
                ) -> str:
    """``data`` as strict JSON (``allow_nan=False``): no ``NaN`` or ``Infinity`` ever written.

    A non-finite float is either an error (``nonfinite="error"``: a ``ValueError`` naming the
    field) or written as ``null`` (``nonfinite="null"``) with the reason beside it: the
    nearest enclosing object gets a ``"null_reasons"`` entry ``{field: "was nan"}`` (a
    field inside a list is named ``field[i]``). NumPy scalars and arrays become numbers and
    lists. ``where`` names the command or file in the error message.

    Examples
    --------
    >>> print(strict_json({"loss": float("inf"), "n": 3}, where="x", nonfinite="null", indent=None))
    {"loss": null, "n": 3, "null_reasons": {"loss": "was inf"}}
    >>> strict_json({"loss": float("nan")}, where="metrics.json")
    Traceback (most recent call last):
    ...
    ValueError: metrics.json: loss is nan, which JSON cannot hold. ...
    """
    from losskit._validation import fail

    if nonfinite not in ("error", "null"):
        fail("strict_json", "nonfinite", f"is {nonfinite!r}", "Pass 'error' or 'null'")

    def clean(x: Any, path: str, reasons: dict[str, str]) -> Any:
        if hasattr(x, "tolist") and type(x).__module__.startswith("numpy"):
            x = x.tolist()
        if isinstance(x, float) and not math.isfinite(x):
            if nonfinite == "error":
                fail(where, path or "value", f"is {x}, which JSON cannot hold",
                     "Check the data and the model: a finite value was expected")
            reasons[path] = f"was {x}"
            return None
        if isinstance(x, dict):
            inner: dict[str, str] = {}
            out = {str(k): clean(v, str(k), inner) for k, v in x.items()}
            if inner:
                out["null_reasons"] = {**out.get("null_reasons", {}), **inner}
            return out
        if isinstance(x, (list, tuple)):
            return [clean(v, f"{path}[{i}]", reasons) for i, v in enumerate(x)]
        if isinstance(x, Path):
            return str(x)
        return x

    top: dict[str, str] = {}
    cleaned = clean(data, "", top)
    if top:  # a non-finite scalar or list at the top level
        cleaned = {"value": cleaned, "null_reasons": top}
    return json.dumps(cleaned, indent=indent, allow_nan=False)


_REASON_VALUES = {"was nan": math.nan, "was inf": math.inf, "was -inf": -math.inf}
_FIELD = re.compile(r"^(.*?)((?:\[\d+\])*)$")


def restore_nonfinite(data: Any) -> Any:
    """The inverse of :func:`strict_json`'s ``nonfinite="null"``: every ``null`` named in a
    ``"null_reasons"`` entry gets back the value it was (``"was nan"`` → ``nan``, ``"was
    inf"`` → ``inf``, ``"was -inf"`` → ``-inf``) and the entry is dropped; a copy is
    returned. A reason that names no ``null`` field, or says something else, is kept.

    Examples
    --------
    >>> text = strict_json({"loss": float("inf"), "auc": [0.5, float("nan")]}, where="x",
    ...                    nonfinite="null", indent=None)
    >>> restore_nonfinite(json.loads(text))
    {'loss': inf, 'auc': [0.5, nan]}
    >>> restore_nonfinite(json.loads(strict_json(float("-inf"), where="x", nonfinite="null")))
    -inf
    """
    if isinstance(data, list):
        return [restore_nonfinite(v) for v in data]
    if not isinstance(data, dict):
        return data
    out = {k: restore_nonfinite(v) for k, v in data.items()}
    reasons = out.get("null_reasons")
    if not isinstance(reasons, dict):
        return out
    # strict_json's wrapper of a non-finite top level: reasons named "" or "[i]..."
    wrapped = set(out) == {"value", "null_reasons"} and all(
        str(name) == "" or str(name).startswith("[") for name in reasons)
    left: dict[str, Any] = {}
    for name, reason in reasons.items():
        match = _FIELD.match(str(name))
        base, indices = match.group(1), [int(i) for i in re.findall(r"\d+", match.group(2))]
        key = "value" if base == "" and wrapped else base
        if reason not in _REASON_VALUES or key not in out or not _set_null(
                out, [key, *indices], _REASON_VALUES[reason]):
            left[name] = reason
    if left:
        out["null_reasons"] = left
    else:
        del out["null_reasons"]
    if wrapped and "null_reasons" not in out:
        return out["value"]
    return out


def _set_null(container: Any, path: list[Any], value: float) -> bool:
    """Put ``value`` at ``path`` in ``container`` if a ``None`` is there; whether it was."""
    for step in path[:-1]:
        try:
            container = container[step]
        except (KeyError, IndexError, TypeError):
            return False
    last = path[-1]
    try:
        if container[last] is not None:
            return False
    except (KeyError, IndexError, TypeError):
        return False
    container[last] = value
    return True


def write_json(path: str | os.PathLike, data: Any, *, where: str,
               nonfinite: str = "error") -> Path:
    """Write ``data`` atomically to ``path`` as strict JSON (see :func:`strict_json`)."""
    return atomic_write_bytes(path, strict_json(data, where=where, nonfinite=nonfinite) + "\n")


# ------------------------------------------------------------------------------ paths

_NAME_MAX = 255
_PATH_MAX = 4096


def file_kind(mode: int) -> str:
    """What a ``stat`` mode describes, in words ("a folder", "a FIFO (named pipe)", ...)."""
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISREG, "a file"),
                       (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "a special file"


def check_output_path(command: str, argument: str, path: str | os.PathLike, *,
                      kind: str = "folder") -> Path:
    """Fail (``ValueError`` in the project's template) unless ``path`` can be written as a
    ``kind`` ("folder" or "file"); return it as a :class:`~pathlib.Path`.

    Refused: an empty name, an over-long name, a path under a file, a dangling symbolic link,
    an existing path of the wrong kind (a file where a folder is wanted, a folder, device or
    FIFO where a file is wanted) and a read-only folder. Nothing is created.

    Examples
    --------
    >>> check_output_path("fit", "--out", "")
    Traceback (most recent call last):
    ...
    ValueError: fit: --out is empty. Pass a folder name, e.g. --out model
    """
    from losskit._validation import fail

    text = os.fspath(path)
    if text == "":
        fail(command, argument, "is empty", f"Pass a {kind} name, e.g. {argument} "
             + ("model" if kind == "folder" else "predictions.csv"))
    if "\0" in text:
        fail(command, argument, "contains a NUL character", f"Pass a plain {kind} name")
    p = Path(text)
    if len(os.fsencode(text)) > _PATH_MAX or any(
            len(os.fsencode(part)) > _NAME_MAX for part in p.parts):
        fail(command, argument, f"is too long ({len(text)} characters; a name may have at "
             f"most {_NAME_MAX} bytes)", f"Pass a shorter {kind} name")
    # every existing ancestor must be a folder
    for parent in reversed(p.absolute().parents):
        try:
            st = os.stat(parent)
        except FileNotFoundError:
            break
        except OSError as error:
            fail(command, argument, f"{text!r} cannot be reached ({error.strerror})",
                 f"Pass another {kind}")
        if not stat.S_ISDIR(st.st_mode):
            fail(command, argument, f"{text!r} lies under {str(parent)!r}, which is "
                 f"{file_kind(st.st_mode)}, not a folder", f"Pass a {kind} in a folder")
    if p.is_symlink() and not p.exists():
        fail(command, argument, f"{text!r} is a symbolic link to {os.readlink(p)!r}, which "
             "does not exist", f"Remove the link or pass another {kind}")
    try:
        st = os.stat(p)
    except FileNotFoundError:
        st = None
    except OSError as error:
        fail(command, argument, f"{text!r} cannot be read ({error.strerror})",
             f"Pass another {kind}")
    if st is not None:
        if kind == "folder" and not stat.S_ISDIR(st.st_mode):
            fail(command, argument, f"{text!r} is {file_kind(st.st_mode)}, not a folder",
                 "Pass a folder (new or existing)")
        if kind == "file" and not stat.S_ISREG(st.st_mode):
            fail(command, argument, f"{text!r} is {file_kind(st.st_mode)}",
                 "Pass a file name, e.g. " + ("DIR/out.csv" if stat.S_ISDIR(st.st_mode)
                                             else "out.csv"))
    # the folder that will receive the new entry must be writable
    anchor = p.absolute().parent if kind == "file" or st is None else p.absolute()
    while not anchor.exists():
        anchor = anchor.parent
    if kind == "folder" and st is not None:
        anchor = p.absolute().parent  # a folder is replaced through its parent
    if not os.access(anchor, os.W_OK | os.X_OK):
        fail(command, argument, f"{text!r} cannot be written: the folder {str(anchor)!r} is "
             "read-only", f"Pass a {kind} in a folder you can write to")
    return p


# ------------------------------------------------------------------------------ folders

_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False if unsupported."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    at_fdcwd = -100
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: the file system cannot
        return False
    raise OSError(errno, os.strerror(errno), str(b))


def _swap_in(stage: Path, out: Path) -> None:
    """Put the finished folder ``stage`` at ``out`` (replacing it as a unit)."""
    if not os.path.lexists(out):
        os.rename(stage, out)
        return
    if _exchange(stage, out):  # stage now holds the old folder
        shutil.rmtree(stage, ignore_errors=True)
        return
    # fallback: two renames; a kill between them leaves no folder at out (never a mix), and
    # the old one under the hidden name printed by the next run
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.losskit-old-", dir=out.parent))
    os.rmdir(old)
    os.rename(out, old)
    os.rename(stage, out)
    shutil.rmtree(old, ignore_errors=True)


def replace_folder(out: str | os.PathLike, build: Callable[[Path], None]) -> Path:
    """Write a folder as a unit: ``build(stage)`` fills a new sibling folder, which then
    replaces ``out`` in one atomic rename (Linux) — a reader, or a run killed at any moment,
    sees the old folder or the new one, never a mix.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "model"
    >>> _ = replace_folder(out, lambda d: (d / "a.txt").write_text("1"))
    >>> _ = replace_folder(out, lambda d: (d / "b.txt").write_text("2"))
    >>> sorted(p.name for p in out.iterdir())
    ['b.txt']
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(f".{out.name}.losskit-new-*"):  # left by a killed run
        shutil.rmtree(stale, ignore_errors=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.losskit-new-", dir=out.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(stage, 0o777 & ~umask)
        build(stage)
        fd = os.open(stage, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        _swap_in(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return out


def link_or_copy_tree(src: Path, dst: Path) -> None:
    """Hard-link every file of ``src`` into ``dst`` (copy where links are impossible)."""
    for root, _dirs, files in os.walk(src):
        target = dst / Path(root).relative_to(src)
        target.mkdir(parents=True, exist_ok=True)
        for name in files:
            try:
                os.link(Path(root) / name, target / name)
            except OSError:
                shutil.copy2(Path(root) / name, target / name)
