"""SQLite persistence (one file, WAL). Each domain module owns its tables.

The store is used from the event-loop thread only (greenlets): compute threads hand
their results back to a greenlet, which writes them. Every write commits before the
call returns, so an acknowledged edit survives a killed server.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class Store:
    """A thin layer over one SQLite connection: schema setup, queries, transactions."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._lock = threading.RLock()
        self._schemas: set[str] = set()

    def ensure_schema(self, name: str, sql: str) -> None:
        """Run a domain's `CREATE TABLE IF NOT EXISTS ...` script once per process."""
        if name in self._schemas:
            return
        with self._lock:
            self._conn.executescript(sql)
        self._schemas.add(name)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """All rows of a SELECT."""
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """The first row of a SELECT, or None."""
        with self._lock:
            return self._conn.execute(sql, params).fetchone()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """One statement in its own committed transaction."""
        with self._lock:
            return self._conn.execute(sql, params)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All statements inside commit together, or none does."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        """Close the connection (checkpointing the WAL)."""
        with self._lock:
            self._conn.close()


INT_MIN, INT_MAX = -(1 << 63), (1 << 63) - 1  # SQLite INTEGER is a signed 64-bit number


def fits_integer(value: object) -> bool:
    """True when `value` is an int SQLite can store; larger ids can name no row."""
    return isinstance(value, int) and INT_MIN <= value <= INT_MAX


def to_json(value: Any) -> str:
    """Compact JSON for storing settings and payloads in TEXT columns."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def from_json(text: str | None, default: Any = None) -> Any:
    """Parse a JSON column, `default` for NULL."""
    return default if text is None else json.loads(text)
