"""Per-slide undo/redo history in SQLite, kept in the same transaction as every change.

A step lists the rows it killed and created (label pieces and ROIs, see repository.py):
undo revives the killed rows and kills the created ones, redo does the opposite, so
neither copies geometry. Undo reverts the newest step not yet undone; redo re-applies
the oldest undone one; a new change drops the undone steps (the redo branch). At most
HISTORY_LIMIT steps are kept per slide. Dead rows no remaining step can revive are
deleted when their steps go. It lives in the store's file, so it survives restarts.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from server.annotations.repository import Written
from server.store import Store

HISTORY_LIMIT = 250

SCHEMA = """
CREATE TABLE IF NOT EXISTS annotation_steps (
    slide_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    undone INTEGER NOT NULL DEFAULT 0,
    action TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (slide_id, seq)
);
CREATE TABLE IF NOT EXISTS annotation_step_items (
    slide_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    piece_id INTEGER REFERENCES annotation_pieces(id) ON DELETE CASCADE,
    roi_id INTEGER REFERENCES annotation_rois(id) ON DELETE CASCADE,
    created INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS annotation_step_items_step ON annotation_step_items (slide_id, seq);
CREATE INDEX IF NOT EXISTS annotation_step_items_piece ON annotation_step_items (piece_id);
CREATE INDEX IF NOT EXISTS annotation_step_items_roi ON annotation_step_items (roi_id);
"""


@dataclass(frozen=True)
class Step:
    """One undoable change: the rows it killed and created."""

    seq: int
    action: str
    killed: list[int]
    created: list[int]
    rois_killed: list[int]
    rois_created: list[int]


def ensure_schema(store: Store) -> None:
    """Create the history tables."""
    store.ensure_schema("annotation_history", SCHEMA)


def record(conn: sqlite3.Connection, slide_id: str, action: str, written: Written) -> None:
    """Inside the change's transaction: add its step, drop the redo branch, prune."""
    _drop_steps(conn, slide_id, "undone = 1", (), dead_side=1)
    top = conn.execute(
        "SELECT COALESCE(MAX(seq), 0) FROM annotation_steps WHERE slide_id = ?", (slide_id,)
    ).fetchone()[0]
    seq = top + 1
    conn.execute(
        "INSERT INTO annotation_steps (slide_id, seq, action, created) VALUES (?, ?, ?, ?)",
        (slide_id, seq, action, time.time()),
    )
    items: list[tuple[int | None, int | None, int]] = [(i, None, 0) for i in written.killed]
    items += [(i, None, 1) for i in written.created]
    items += [(None, i, 0) for i in written.rois_killed]
    items += [(None, i, 1) for i in written.rois_created]
    conn.executemany(
        "INSERT INTO annotation_step_items (slide_id, seq, piece_id, roi_id, created)"
        " VALUES (?, ?, ?, ?, ?)",
        [(slide_id, seq, *item) for item in items],
    )
    _drop_steps(conn, slide_id, "seq <= ?", (seq - HISTORY_LIMIT,), dead_side=0)


def _drop_steps(conn, slide_id: str, where: str, params: tuple, dead_side: int) -> None:
    """Delete steps; also the dead rows only they could revive.

    Dropping undone steps (the redo branch): the rows they created are dead and
    unreachable (dead_side=1). Dropping the oldest done steps: the rows they killed
    are (dead_side=0). The `live = 0` guard keeps anything a later step revived.
    """
    steps = f"SELECT seq FROM annotation_steps WHERE slide_id = ? AND {where}"
    for table, column in (("annotation_pieces", "piece_id"), ("annotation_rois", "roi_id")):
        conn.execute(
            f"DELETE FROM {table} WHERE live = 0 AND id IN (SELECT {column}"
            f" FROM annotation_step_items WHERE slide_id = ? AND created = ? AND seq IN ({steps}))",
            (slide_id, dead_side, slide_id, *params),
        )
    conn.execute(
        f"DELETE FROM annotation_step_items WHERE slide_id = ? AND seq IN ({steps})",
        (slide_id, slide_id, *params),
    )
    conn.execute(
        f"DELETE FROM annotation_steps WHERE slide_id = ? AND {where}", (slide_id, *params)
    )


def clear(conn: sqlite3.Connection, slide_id: str) -> None:
    """Inside a transaction: drop the slide's whole history and every dead row of it."""
    conn.execute("DELETE FROM annotation_step_items WHERE slide_id = ?", (slide_id,))
    conn.execute("DELETE FROM annotation_steps WHERE slide_id = ?", (slide_id,))
    conn.execute("DELETE FROM annotation_pieces WHERE slide_id = ? AND live = 0", (slide_id,))
    conn.execute("DELETE FROM annotation_rois WHERE slide_id = ? AND live = 0", (slide_id,))


def can_undo_redo(store: Store, slide_id: str) -> tuple[bool, bool]:
    """Whether the slide has a step to undo, and one to redo."""
    ensure_schema(store)
    row = store.query_one(
        "SELECT SUM(undone = 0), SUM(undone = 1) FROM annotation_steps WHERE slide_id = ?",
        (slide_id,),
    )
    return (bool(row[0]), bool(row[1])) if row else (False, False)


def next_step(store: Store, slide_id: str, redo: bool) -> Step | None:
    """The step undo (newest done) or redo (oldest undone) would apply."""
    ensure_schema(store)
    order = "ASC" if redo else "DESC"
    row = store.query_one(
        f"SELECT seq, action FROM annotation_steps WHERE slide_id = ? AND undone = ?"
        f" ORDER BY seq {order} LIMIT 1",
        (slide_id, 1 if redo else 0),
    )
    if row is None:
        return None
    items = store.query(
        "SELECT piece_id, roi_id, created FROM annotation_step_items"
        " WHERE slide_id = ? AND seq = ?",
        (slide_id, row["seq"]),
    )
    pieces = [(i["piece_id"], i["created"]) for i in items if i["piece_id"] is not None]
    rois = [(i["roi_id"], i["created"]) for i in items if i["roi_id"] is not None]
    return Step(
        row["seq"],
        row["action"],
        killed=[i for i, created in pieces if not created],
        created=[i for i, created in pieces if created],
        rois_killed=[i for i, created in rois if not created],
        rois_created=[i for i, created in rois if created],
    )


def mark(conn: sqlite3.Connection, slide_id: str, seq: int, undone: bool) -> None:
    """Inside the undo/redo transaction: flag the step as undone (or done again)."""
    conn.execute(
        "UPDATE annotation_steps SET undone = ? WHERE slide_id = ? AND seq = ?",
        (1 if undone else 0, slide_id, seq),
    )
