"""``import losskit`` imports its public names on first use (PEP 562), and ``lk.<name>`` is
what it was when the package imported everything eagerly."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import losskit as lk

SRC = str(Path(lk.__file__).resolve().parents[1])


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", f"import sys\nsys.path.insert(0, {SRC!r})\n"
                           + code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_import_losskit_imports_no_subpackage_and_no_array_library():
    out = _run("import losskit\n"
               "print(sorted(m for m in sys.modules if m.startswith('losskit')))\n"
               "print([m for m in ('numpy', 'torch', 'pandas', 'scipy', 'sklearn') "
               "if m in sys.modules])")
    assert out.splitlines() == ["['losskit']", "[]"]


def test_every_public_name_is_listed_and_is_the_defining_modules_object():
    listed = dir(lk)
    for name in lk.__all__:
        assert name in listed
        value = getattr(lk, name)
        if isinstance(value, types.ModuleType):
            assert value.__name__ == f"losskit.{name}"
        else:
            assert sys.modules[value.__module__] is not None
    for name in ("losses", "diagnose", "families", "metrics", "nn"):
        assert isinstance(getattr(lk, name), types.ModuleType)
    assert lk.gradient is __import__("losskit.losses", fromlist=["gradient"]).gradient


def test_a_function_named_like_its_module_stays_the_function():
    # the command modules import losskit.compare (and explain, advise) before lk.compare is
    # read: the import system then sets the module as losskit's attribute, which the package
    # turns back into the function
    out = _run("import losskit as lk\n"
               "import losskit.compare._cli, losskit.explain, losskit.advise\n"
               "print(type(lk.compare).__name__, type(lk.explain).__name__, "
               "type(lk.advise).__name__, lk.compare.__module__)")
    assert out.split() == ["function", "function", "function", "losskit.compare._core"]


def test_an_unknown_name_is_an_attribute_error():
    try:
        lk.no_such_loss  # noqa: B018
    except AttributeError as error:
        assert "no_such_loss" in str(error)
    else:
        raise AssertionError("lk.no_such_loss did not raise")
    assert not hasattr(lk, "no_such_loss")


def test_dir_lists_each_name_once() -> None:
    import losskit as lk
    import losskit.nn

    lk.binary_cross_entropy, losskit.nn.MLPRegressor  # noqa: B018 (imported: now in globals())
    for module in (lk, losskit.nn):
        names = dir(module)
        assert len(names) == len(set(names)), [n for n in names if names.count(n) > 1]
        assert set(module.__all__) <= set(names)
