"""The command registry: every command listed, only the running command's module imported."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from losskit._commands import COMMANDS, MODULES
from losskit.cli import main

SRC = Path(__file__).resolve().parents[2] / "src"
#: modules that belong to one command only
OWN = {"compare": "losskit.compare._core", "explain": "losskit.explain",
       "diagnose": "losskit._diagnose_cli", "demo": "losskit.demo", "predict": "losskit.nn.cli"}


def test_the_table_of_modules_matches_the_registrations():
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    for module, _ in MODULES.values():
        importlib.import_module(module)
    assert list(MODULES) == [name for name in MODULES if name in COMMANDS]
    assert set(COMMANDS) == set(MODULES)
    for name, (module, help_text) in MODULES.items():
        assert COMMANDS[name][0] == help_text, name
        assert COMMANDS[name][2].__module__ in (module, "__main__"), name


def _imported(*argv: str) -> set[str]:
    """The modules of ``OWN`` that ``losskit ARGV`` imports, in a fresh process."""
    code = ("import sys\nfrom losskit.cli import main\ntry:\n    main(sys.argv[1:])\n"
            "except SystemExit:\n    pass\nprint(' '.join(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                          env={"PYTHONPATH": str(SRC), "PATH": ""}, check=True)
    return set(done.stdout.split()) & set(OWN.values())


def test_a_command_imports_its_own_module_only():
    pytest.importorskip("torch")
    assert _imported("--help") == set()
    assert _imported("predict", "--help") == {"losskit.nn.cli"}
    assert _imported("diagnose", "--help") == {"losskit._diagnose_cli"}


def test_a_command_whose_extra_is_missing_says_so(monkeypatch, capsys):
    monkeypatch.setitem(MODULES, "fake", ("losskit._not_installed", "a command"))
    assert main(["fake", "--help"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("losskit fake: error: needs 'losskit._not_installed', which is not "
                          "installed here")
    assert "Traceback" not in err
