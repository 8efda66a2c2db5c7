"""Result records in SQLite (table `inference_results`) and their folders on disk."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from server.store import Store, from_json, to_json

SCHEMA = """
CREATE TABLE IF NOT EXISTS inference_results (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    slide_id TEXT NOT NULL,
    region TEXT NOT NULL,
    state TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    error TEXT,
    meta TEXT NOT NULL,
    preview_key TEXT,
    generation INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL,
    finished TEXT
);
CREATE INDEX IF NOT EXISTS inference_results_slide ON inference_results (slide_id, created);
CREATE INDEX IF NOT EXISTS inference_results_preview ON inference_results (preview_key);
"""


def now_iso() -> str:
    """UTC now, ISO 8601."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_id() -> str:
    """A fresh result id."""
    return uuid.uuid4().hex[:12]


def result_dir(data_dir: Path, result_id: str) -> Path:
    """The folder of one result (its probability store and cached exports)."""
    return Path(data_dir) / "results" / result_id


def store_path(data_dir: Path, result_id: str, generation: int = 0) -> Path:
    """The zarr probability store of one generation of a result.

    A live preview re-runs its result (a new generation) while the viewer may still be
    reading tiles of the previous one, so each generation gets its own store.
    """
    name = "probabilities.zarr" if generation == 0 else f"probabilities-g{generation}.zarr"
    return result_dir(data_dir, result_id) / name


def stale_stores(data_dir: Path, result_id: str, generation: int) -> list[Path]:
    """Stores of generations older than the one before `generation` (safe to delete)."""
    keep = {store_path(data_dir, result_id, g) for g in (generation, generation - 1) if g >= 0}
    folder = result_dir(data_dir, result_id)
    return [p for p in folder.glob("probabilities*.zarr") if p not in keep]


class ResultTable:
    """CRUD on `inference_results` (greenlet side only)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.ensure_schema("inference_results", SCHEMA)

    def insert(
        self,
        app_id: str,
        slide_id: str,
        region: Any,
        meta: dict,
        preview_key: str | None = None,
    ) -> str:
        """A new queued result; returns its id."""
        rid = new_id()
        self.store.execute(
            "INSERT INTO inference_results (id, app_id, slide_id, region, state, meta,"
            " preview_key, created) VALUES (?, ?, ?, ?, 'queued', ?, ?, ?)",
            (rid, app_id, slide_id, to_json(region), to_json(meta), preview_key, now_iso()),
        )
        return rid

    def get(self, rid: str) -> dict | None:
        """One result as a dict, or None."""
        row = self.store.query_one("SELECT * FROM inference_results WHERE id = ?", (rid,))
        return _row(row) if row else None

    def by_preview_key(self, key: str) -> dict | None:
        """The preview result of a run and slide, if any."""
        row = self.store.query_one("SELECT * FROM inference_results WHERE preview_key = ?", (key,))
        return _row(row) if row else None

    def list(self, slide_id: str | None = None, previews: bool = False) -> list[dict]:
        """Results, newest first, optionally of one slide; previews only when asked."""
        sql = "SELECT * FROM inference_results WHERE 1 = 1"
        params: list[Any] = []
        if slide_id:
            sql += " AND slide_id = ?"
            params.append(slide_id)
        if not previews:
            sql += " AND preview_key IS NULL"
        rows = self.store.query(sql + " ORDER BY created DESC, id DESC", params)
        return [_row(r) for r in rows]

    def update(self, rid: str, **fields: Any) -> None:
        """Set columns (error and meta as JSON)."""
        if not fields:
            return
        values = [to_json(v) if k in ("error", "meta", "region") else v for k, v in fields.items()]
        assignments = ", ".join(f"{k} = ?" for k in fields)
        self.store.execute(
            f"UPDATE inference_results SET {assignments} WHERE id = ?", (*values, rid)
        )

    def delete(self, rid: str) -> None:
        """Remove the record."""
        self.store.execute("DELETE FROM inference_results WHERE id = ?", (rid,))

    def fail_unfinished(self, message: str) -> int:
        """Mark every queued or running result failed (after a restart); returns how many."""
        cursor = self.store.execute(
            "UPDATE inference_results SET state = 'failed', error = ?, finished = ?"
            " WHERE state IN ('queued', 'running')",
            (to_json({"message": message, "hint": "Apply the app again."}), now_iso()),
        )
        return cursor.rowcount


def _row(row) -> dict:
    data = dict(row)
    data["region"] = from_json(data["region"])
    data["error"] = from_json(data["error"])
    data["meta"] = from_json(data["meta"], {})
    return data
