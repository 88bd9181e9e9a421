"""Worker-process set-up shared by the use cases that train in parallel (demo, compare)."""

from __future__ import annotations

import gc
import os

__all__ = ["freeze_imports"]

_imports_frozen = False


def freeze_imports(dispatcher_pid: int) -> None:
    """Take what the imports made out of the cyclic garbage collector's sight, once per process.

    Call it at the start of a parallel task, with the process id of the process that dispatched
    the tasks: nothing happens there (joblib's threading backend runs tasks as threads of the
    user's own process), only in worker processes. joblib's loky workers (without psutil) run
    ``gc.collect()`` between tasks once a second; with torch, pandas and scikit-learn imported a
    full collection walks about 250,000 objects, 0.1–0.2 s (measured) in which the worker takes
    no task — at 2 workers it cost ``lk.compare`` a quarter of its parallel speed-up.
    ``gc.freeze`` moves the objects alive now (modules, functions, classes) to a generation the
    collector skips; reference counting still frees them, only cycles among them would stay. A
    user's own process is left alone: its objects are not the use case's to freeze.
    """
    global _imports_frozen
    if not _imports_frozen and os.getpid() != dispatcher_pid:
        gc.freeze()
        _imports_frozen = True
