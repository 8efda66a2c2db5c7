"""Real OS threads and queues, also inside the eventlet server.

The server monkey-patches `threading` and `queue` into greenlet versions, which must not be
shared between OS threads. The inference pipeline runs in real threads (eventlet's tpool
and its own reader/writer), so it takes the unpatched modules from here.
"""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType


def _original(name: str) -> ModuleType:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # eventlet's deprecation notice on import
        try:
            from eventlet import patcher
        except ImportError:  # a process without eventlet (e.g. a GPU box) is never patched
            return importlib.import_module(name)
    if patcher.is_monkey_patched("thread"):
        return patcher.original(name)
    return importlib.import_module(name)


threading = _original("threading")
queue = _original("queue")
