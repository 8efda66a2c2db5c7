"""Background work under eventlet: greenlet drivers, real-thread compute, device queue.

Rule: anything that computes (OpenSlide reads, model steps, encoding) goes through
`compute`, which runs it in an OS thread from eventlet's pool, so the event loop keeps
serving tiles and sockets. Greenlets drive jobs and own all store writes and emits.

This is the one module of the domain code that imports eventlet: the greenlet primitives
the rest use (`Event`, `Lock`, `sleep`) are named here, and so are the real `threading` and
`queue` modules for work in OS threads. The server monkey-patches `threading` and `queue`
into greenlet versions, which must not be shared between OS threads; pipelines, training
runs and overview tiles run in real threads, so they take the unpatched modules from here.
"""

from __future__ import annotations

import importlib
import logging
import time
import warnings
from collections import deque
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # eventlet's deprecation notice on import
    import eventlet
    import eventlet.event
    import eventlet.queue
    import eventlet.semaphore
    from eventlet import patcher, tpool

log = logging.getLogger(__name__)
T = TypeVar("T")

Event = eventlet.event.Event  # one value sent to every greenlet that waits for it
Lock = eventlet.semaphore.Semaphore  # held by one greenlet at a time
Queue = eventlet.queue.LightQueue  # items passed from greenlet to greenlet
sleep = eventlet.sleep  # let other greenlets run for a while


def _original(name: str) -> ModuleType:
    if patcher.is_monkey_patched("thread"):
        module: ModuleType = patcher.original(name)
        return module
    return importlib.import_module(name)


if TYPE_CHECKING:  # the type checker reads the standard modules' types
    import queue
    import threading
else:
    threading = _original("threading")  # real OS threads, locks and events
    queue = _original("queue")  # queues between real OS threads


def compute(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking work in a real thread and wait for it without blocking other greenlets."""
    result: T = tpool.execute(fn, *args, **kwargs)
    return result


def spawn(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> eventlet.greenthread.GreenThread:
    """Start a greenlet whose crash is logged instead of vanishing."""

    def _guarded() -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception:
            log.exception("background job %s crashed", getattr(fn, "__name__", fn))
            return None

    return eventlet.spawn(_guarded)


class DeviceQueue:
    """Runs submitted jobs one after another (one job per device at a time), FIFO."""

    def __init__(self) -> None:
        self._pending: deque[tuple[str, Callable[[], None]]] = deque()
        self._running: str | None = None
        self._wake = eventlet.event.Event()
        self._worker = spawn(self._loop)

    @property
    def running(self) -> str | None:
        """The key of the job now running, if any."""
        return self._running

    def pending(self) -> list[str]:
        """Keys of queued jobs, in order."""
        return [key for key, _ in self._pending]

    def submit(self, key: str, job: Callable[[], None]) -> int:
        """Queue `job` (a greenlet-side driver); returns its position (0 = runs next)."""
        self._pending.append((key, job))
        if not self._wake.ready():
            self._wake.send(True)
        return len(self._pending) - 1 + (1 if self._running else 0)

    def cancel(self, key: str) -> bool:
        """Drop a job that has not started; False when it is not queued."""
        for item in list(self._pending):
            if item[0] == key:
                self._pending.remove(item)
                return True
        return False

    def _loop(self) -> None:
        while True:
            if not self._pending:
                self._wake = eventlet.event.Event()
                self._wake.wait()
                continue
            key, job = self._pending.popleft()
            self._running = key
            try:
                job()
            except Exception:
                log.exception("job %s failed", key)
            finally:
                self._running = None


class Throttle:
    """Lets an action through at most `rate` times per second; remembers the last skip."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._last = 0.0

    def ready(self) -> bool:
        """True (and restarts the interval) when enough time has passed."""
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            return True
        return False
