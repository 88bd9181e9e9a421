"""Worker-process set-up shared by the use cases that train in parallel (demo, compare)."""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["ProgressRelay", "freeze_imports"]

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


class _Reporter:
    """A picklable stand-in for the dispatcher's callback ``k``: a call in a worker process
    puts ``(k, args)`` on the relay's queue. Progress must never stop the work: when the
    dispatcher's queue is gone (the run is being torn down) the reports stop, silently."""

    def __init__(self, queue: Any, index: int) -> None:
        self.queue, self.index = queue, index

    def __call__(self, *args: Any) -> None:
        if self.queue is None:
            return
        try:
            self.queue.put((self.index, args))
        except (OSError, EOFError):  # the manager process has shut down
            self.queue = None


class ProgressRelay:
    """Carry the progress calls of joblib worker processes to callbacks of this process.

    ``ProgressRelay(callbacks)`` starts a :class:`multiprocessing.managers.SyncManager` queue
    and a thread that drains it; ``relay.reporter(k)`` is a picklable callable to hand to a
    task: each call of it in a worker calls ``callbacks[k]`` with the same arguments here.
    A put on the manager's queue returns once the manager holds the message, so when a task
    has returned all its reports can be read: :meth:`flush` delivers them (call it before
    counting a task's results, to keep its reports in order before them) and :meth:`close`
    delivers the rest, stops the thread and shuts the manager down — also when a worker died
    (the queue lives in the manager's process, not the worker's). Callbacks run under one
    lock, in this process's thread or the relay's, never both at once.

    Examples
    --------
    >>> seen = []
    >>> relay = ProgressRelay([lambda *args: seen.append(args)])
    >>> relay.reporter(0)(1, 3)
    >>> relay.close()
    >>> seen
    [(1, 3)]
    """

    def __init__(self, callbacks: Sequence[Callable[..., Any]], poll: float = 0.1) -> None:
        import multiprocessing

        self.callbacks = list(callbacks)
        self.poll = poll
        self.lock = threading.Lock()
        self.manager = multiprocessing.Manager()
        self.queue = self.manager.Queue()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._drain, name="losskit-progress-relay",
                                       daemon=True)
        self.thread.start()

    def reporter(self, index: int) -> Callable[..., None]:
        """The picklable callable that stands for ``callbacks[index]`` in a worker."""
        return _Reporter(self.queue, index)

    def _deliver(self, message: tuple[int, tuple[Any, ...]]) -> None:
        index, args = message
        self.callbacks[index](*args)

    def _drain(self) -> None:
        import queue

        while not self._stop.is_set():
            with self.lock:
                try:
                    message = self.queue.get(timeout=self.poll)
                except queue.Empty:
                    continue
                except (OSError, EOFError):  # the manager is gone: nothing more will come
                    return
                self._deliver(message)

    def flush(self) -> None:
        """Deliver every report the queue holds now, in this thread."""
        import queue

        with self.lock:
            while True:
                try:
                    message = self.queue.get_nowait()
                except (queue.Empty, OSError, EOFError):
                    return
                self._deliver(message)

    def close(self) -> None:
        """Deliver what is left, stop the thread and shut the manager down (idempotent)."""
        if self.manager is None:
            return
        self._stop.set()
        self.thread.join()
        try:
            self.flush()
        finally:
            self.manager.shutdown()
            self.manager = None
