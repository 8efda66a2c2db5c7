"""Run a batch-drawing function one call ahead in a real OS thread.

On a GPU the training step is bound by how fast the CPU launches kernels, so drawing the
next batch (numpy copies, which release the GIL) in parallel takes it off the critical
path. Under eventlet's monkey-patching `threading` makes green threads, so the original
module is used: this thread must run beside the compute thread, not inside the hub.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any


def _real_threading():
    patcher = sys.modules.get("eventlet.patcher")
    if patcher is not None and patcher.is_monkey_patched("thread"):
        return patcher.original("threading")
    return threading


class Prefetcher:
    """`request()` starts `fn()` in the background; `get()` waits for and returns it."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        threading = _real_threading()
        self._fn = fn
        self._want = threading.Event()
        self._ready = threading.Event()
        self._result: tuple[bool, Any] | None = None
        self._closed = False
        self._pending = False
        self._thread = threading.Thread(target=self._loop, name="batch-prefetch", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            self._want.wait()
            self._want.clear()
            if self._closed:
                return
            try:
                self._result = (True, self._fn())
            except BaseException as exc:  # handed to the caller of get()
                self._result = (False, exc)
            self._ready.set()

    def request(self) -> None:
        """Start computing the next result (at most one outstanding)."""
        if self._pending:
            return
        self._pending = True
        self._ready.clear()
        self._want.set()

    def get(self) -> Any:
        """The requested result (raising what `fn` raised)."""
        if not self._pending:
            self.request()
        self._ready.wait()
        self._pending = False
        result, self._result = self._result, None
        assert result is not None  # set before _ready
        ok, value = result
        if not ok:
            raise value
        return value

    def close(self) -> None:
        """Let the thread end (after any call in progress)."""
        if self._pending:
            self._ready.wait()
            self._pending = False
        self._closed = True
        self._want.set()
