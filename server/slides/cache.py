"""A bounded least-recently-used cache: encoded bytes (tiles, PNGs) or counted objects."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


def _one(_value: object) -> int:
    return 1


class LRU(Generic[V]):
    """Keeps values whose weights sum to at most `budget`; the least recently used go first.

    `weigh` gives a value's weight: `len` (the default) for bytes, so the budget is in
    bytes; `LRU.counted(n)` keeps at most n values of any kind.
    """

    def __init__(self, budget: int, weigh: Callable[[V], int] | None = None) -> None:
        self.budget = budget
        self.weigh: Callable[[V], int] = weigh or len  # type: ignore[assignment]
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[Hashable, V] = OrderedDict()

    @classmethod
    def counted(cls, entries: int) -> LRU[V]:
        """A cache of at most `entries` values."""
        return cls(entries, _one)

    def get(self, key: Hashable) -> V | None:
        """The cached value (now most recent), or None."""
        value = self._items.get(key)
        if value is None:
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return value

    def put(self, key: Hashable, value: V) -> None:
        """Store a value, evicting old ones to stay within the budget."""
        weight = self.weigh(value)
        if weight > self.budget:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self.size -= self.weigh(old)
        self._items[key] = value
        self.size += weight
        while self.size > self.budget:
            _, evicted = self._items.popitem(last=False)
            self.size -= self.weigh(evicted)

    def drop(self, predicate: Callable[[Hashable], bool]) -> int:
        """Remove every entry whose key satisfies predicate; returns how many."""
        doomed = [k for k in self._items if predicate(k)]
        for key in doomed:
            self.size -= self.weigh(self._items.pop(key))
        return len(doomed)

    def __len__(self) -> int:
        return len(self._items)
