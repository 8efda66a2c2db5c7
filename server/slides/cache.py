"""A bounded least-recently-used cache of encoded bytes (tiles, thumbnails)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable


class ByteLRU:
    """Keeps at most `max_bytes` of values; the least recently used go first."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()

    def get(self, key: Hashable) -> bytes | None:
        """The cached value (now most recent), or None."""
        value = self._items.get(key)
        if value is None:
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return value

    def put(self, key: Hashable, value: bytes) -> None:
        """Store a value, evicting old ones to stay within the budget."""
        if len(value) > self.max_bytes:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self.size -= len(old)
        self._items[key] = value
        self.size += len(value)
        while self.size > self.max_bytes:
            _, evicted = self._items.popitem(last=False)
            self.size -= len(evicted)

    def drop(self, predicate) -> int:
        """Remove every entry whose key satisfies predicate; returns how many."""
        doomed = [k for k in self._items if predicate(k)]
        for key in doomed:
            self.size -= len(self._items.pop(key))
        return len(doomed)

    def __len__(self) -> int:
        return len(self._items)
