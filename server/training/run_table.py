"""The training tables in SQLite: runs, their points (one per iteration), their reports.

Only this module writes SQL for training; runs.py (the state machine) reads and writes
records through RunTable.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from server.store import Store, from_json, to_json

POINT_FIELDS = ("iteration", "loss", "error_rate", "lr", "time", "val_loss", "val_error_rate")

SCHEMA = """
CREATE TABLE IF NOT EXISTS training_runs (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    settings TEXT NOT NULL,
    slides TEXT NOT NULL,
    classes TEXT NOT NULL,
    iteration INTEGER NOT NULL DEFAULT 0,
    iterations INTEGER NOT NULL,
    checkpoint_iteration INTEGER NOT NULL DEFAULT 0,
    app_id TEXT,
    error TEXT,
    it_per_s REAL,
    duration_s REAL NOT NULL DEFAULT 0,
    prepare_s REAL NOT NULL DEFAULT 0,
    device TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS training_points (
    run_id TEXT NOT NULL REFERENCES training_runs(id) ON DELETE CASCADE,
    iteration INTEGER NOT NULL,
    loss REAL NOT NULL,
    error_rate REAL NOT NULL,
    lr REAL NOT NULL,
    time REAL NOT NULL,
    val_loss REAL,
    val_error_rate REAL,
    PRIMARY KEY (run_id, iteration)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS training_reports (
    run_id TEXT PRIMARY KEY REFERENCES training_runs(id) ON DELETE CASCADE,
    warnings TEXT,
    validation TEXT,
    weights_from_iteration INTEGER
);
"""


class RunTable:
    """Training runs' records, points and reports."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.ensure_schema("training", SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Columns added since a data folder was made."""
        columns = {r[1] for r in self.store.query("PRAGMA table_info(training_runs)")}
        if "prepare_s" not in columns:
            self.store.execute(
                "ALTER TABLE training_runs ADD COLUMN prepare_s REAL NOT NULL DEFAULT 0"
            )

    def insert(
        self,
        run_id: str,
        state: str,
        settings: dict[str, Any],
        slides: list[Any],
        classes: list[Any],
        device: str,
    ) -> None:
        """Record a new run."""
        now = time.time()
        self.store.execute(
            "INSERT INTO training_runs (id, state, settings, slides, classes, iterations,"
            " device, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                state,
                to_json(settings),
                to_json(slides),
                to_json(classes),
                settings["iterations"],
                device,
                now,
                now,
            ),
        )

    def row(self, run_id: str) -> sqlite3.Row:
        """A run's record (KeyError when unknown)."""
        row = self.store.query_one("SELECT * FROM training_runs WHERE id = ?", (run_id,))
        if row is None:
            raise KeyError(run_id)
        return row

    def update(self, run_id: str, **values: Any) -> None:
        """Set some columns of a run (and its `updated` time)."""
        values["updated"] = time.time()
        cols = ", ".join(f"{k} = ?" for k in values)
        self.store.execute(
            f"UPDATE training_runs SET {cols} WHERE id = ?", (*values.values(), run_id)
        )

    def ids(self, states: tuple[str, ...] | None = None) -> list[str]:
        """Run ids, newest first; only runs in `states` when given."""
        if states is None:
            rows = self.store.query("SELECT id FROM training_runs ORDER BY created DESC, id DESC")
        else:
            marks = ",".join("?" * len(states))
            rows = self.store.query(
                f"SELECT id FROM training_runs WHERE state IN ({marks})"
                " ORDER BY created DESC, id DESC",
                states,
            )
        return [r["id"] for r in rows]

    def history(self, run_id: str) -> list[dict[str, Any]]:
        """Every stored iteration of a run, in order."""
        rows = self.store.query(
            "SELECT iteration, loss, error_rate, lr, time, val_loss, val_error_rate"
            " FROM training_points WHERE run_id = ? ORDER BY iteration",
            (run_id,),
        )
        return [_point(r) for r in rows]

    def add_points(self, run_id: str, points: list[dict[str, Any]], it_per_s: float | None) -> None:
        """Store new points and make the last one the run's iteration, in one transaction."""
        with self.store.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO training_points (run_id, iteration, loss, error_rate,"
                " lr, time, val_loss, val_error_rate) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, *(p.get(f) for f in POINT_FIELDS)) for p in points],
            )
            conn.execute(
                "UPDATE training_runs SET iteration = ?, it_per_s = ?, updated = ? WHERE id = ?",
                (points[-1]["iteration"], it_per_s, time.time(), run_id),
            )

    def rewind(self, run_id: str, start: int) -> None:
        """Forget the points after `start`, where the run goes on from (its checkpoint)."""
        with self.store.transaction() as conn:
            conn.execute(
                "DELETE FROM training_points WHERE run_id = ? AND iteration > ?", (run_id, start)
            )
            conn.execute(
                "UPDATE training_runs SET iteration = ?, checkpoint_iteration = ? WHERE id = ?",
                (start, start, run_id),
            )

    def set_validation(self, run_id: str, iteration: int, loss: float, error_rate: float) -> None:
        """Add validation figures to a stored point."""
        self.store.execute(
            "UPDATE training_points SET val_loss = ?, val_error_rate = ?"
            " WHERE run_id = ? AND iteration = ?",
            (loss, error_rate, run_id, iteration),
        )

    def report(self, run_id: str) -> tuple[list[str], dict[str, Any] | None, int | None]:
        """A run's stored (warnings, validation record, weights' iteration)."""
        row = self.store.query_one("SELECT * FROM training_reports WHERE run_id = ?", (run_id,))
        if row is None:
            return [], None, None
        warnings = from_json(row["warnings"]) if row["warnings"] else []
        record = from_json(row["validation"]) if row["validation"] else None
        return warnings, record, row["weights_from_iteration"]

    def save_report(self, run_id: str, **values: Any) -> None:
        """Store some of a run's outcome (warnings, validation record, weights' iteration)."""
        cols = ", ".join(f"{k} = ?" for k in values)
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO training_reports (run_id) VALUES (?) ON CONFLICT DO NOTHING",
                (run_id,),
            )
            conn.execute(
                f"UPDATE training_reports SET {cols} WHERE run_id = ?",
                (*values.values(), run_id),
            )


def _point(row: sqlite3.Row) -> dict[str, Any]:
    point = {f: row[f] for f in POINT_FIELDS}
    if point["val_loss"] is None:
        del point["val_loss"], point["val_error_rate"]
    return point
