"""Label classes (global, shared by all slides): table, palette and CRUD.

Every function calls `ensure_schema` itself, so other domains and tests can use
them on a fresh Store. Positions are kept contiguous (0..n-1): a class's label
value in masks is its position + 1.
"""

from __future__ import annotations

import re

from server.errors import UserError
from server.store import Store, fits_integer

SCHEMA = """
CREATE TABLE IF NOT EXISTS classes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    color TEXT NOT NULL,
    position INTEGER NOT NULL
);
"""

# Distinct, colour-blind-friendly-ish colours (Okabe-Ito first, then Tableau).
PALETTE = (
    "#d55e00",
    "#0072b2",
    "#009e73",
    "#e69f00",
    "#cc79a7",
    "#56b4e9",
    "#f0e442",
    "#8c564b",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#9467bd",
)
MAX_NAME_LENGTH = 100
MAX_CLASSES = 255  # label masks are uint8 with 0 = unlabelled
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


class ClassError(UserError):
    """A class change that cannot be made; the message says why."""


def ensure_schema(store: Store) -> None:
    """Create the classes table if needed (idempotent, cheap after the first call)."""
    store.ensure_schema("classes", SCHEMA)


def _row(row) -> dict:
    return {
        "id": row["id"],
        "name": row["name"],
        "color": row["color"],
        "position": row["position"],
    }


def list_classes(store: Store) -> list[dict]:
    """All classes `{id, name, color, position}`, ordered by position."""
    ensure_schema(store)
    rows = store.query("SELECT id, name, color, position FROM classes ORDER BY position, id")
    return [_row(r) for r in rows]


def get_class(store: Store, class_id: int) -> dict | None:
    """One class by id, or None (also for ids no row can have, e.g. beyond 64 bits)."""
    ensure_schema(store)
    if not fits_integer(class_id) or isinstance(class_id, bool):
        return None
    row = store.query_one("SELECT id, name, color, position FROM classes WHERE id = ?", (class_id,))
    return _row(row) if row else None


def find_class(store: Store, name: str) -> dict | None:
    """The class with this name (case-insensitive), or None."""
    ensure_schema(store)
    row = store.query_one(
        "SELECT id, name, color, position FROM classes WHERE name = ? COLLATE NOCASE",
        (name.strip(),),
    )
    return _row(row) if row else None


def clean_name(name: object) -> str:
    """A usable class name, else ClassError."""
    if not isinstance(name, str) or not name.strip():
        raise ClassError("A class needs a non-empty name")
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise ClassError(f"Class names are limited to {MAX_NAME_LENGTH} characters")
    return name


def clean_color(color: object) -> str:
    """A colour as lower-case `#rrggbb`, else ClassError."""
    if not isinstance(color, str) or not _COLOR.match(color):
        raise ClassError(f"Colour must look like #rrggbb, got {color!r}")
    return color.lower()


def next_color(store: Store) -> str:
    """The first palette colour no class uses yet (cycling when all are taken)."""
    used = {c["color"] for c in list_classes(store)}
    for color in PALETTE:
        if color not in used:
            return color
    return PALETTE[len(used) % len(PALETTE)]


def _check_unique(store: Store, name: str, except_id: int | None = None) -> None:
    other = find_class(store, name)
    if other is not None and other["id"] != except_id:
        raise ClassError(f"A class named '{other['name']}' already exists")


def create_class(store: Store, name: object, color: object = None) -> dict:
    """Add a class at the end of the order; colour from the palette when omitted."""
    ensure_schema(store)
    name = clean_name(name)
    color = next_color(store) if color is None else clean_color(color)
    _check_unique(store, name)
    with store.transaction() as conn:
        class_id = insert_class(conn, name, color)
    return _existing(store, class_id)


def update_class(store: Store, class_id: int, name: object = None, color: object = None) -> dict:
    """Rename and/or recolour; returns the class (KeyError when unknown)."""
    current = get_class(store, class_id)
    if current is None:
        raise KeyError(class_id)
    new_name = current["name"] if name is None else clean_name(name)
    new_color = current["color"] if color is None else clean_color(color)
    _check_unique(store, new_name, except_id=class_id)
    store.execute(
        "UPDATE classes SET name = ?, color = ? WHERE id = ?", (new_name, new_color, class_id)
    )
    return _existing(store, class_id)


def _existing(store: Store, class_id: int) -> dict:
    """A class just written (KeyError when it is not there)."""
    found = get_class(store, class_id)
    if found is None:
        raise KeyError(class_id)
    return found


def reorder_classes(store: Store, ids: object) -> list[dict]:
    """Put the classes in the order of `ids` (every class id exactly once)."""
    current = {c["id"] for c in list_classes(store)}
    if not isinstance(ids, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in ids
    ):
        raise ClassError("ids must be a list of class ids")
    if len(ids) != len(set(ids)) or set(ids) != current:
        raise ClassError("ids must name every class exactly once")
    with store.transaction() as conn:
        for position, class_id in enumerate(ids):
            conn.execute("UPDATE classes SET position = ? WHERE id = ?", (position, class_id))
    return list_classes(store)


def delete_class_rows(conn, class_id: int) -> None:
    """Inside a transaction: drop the class and close the gap in the positions."""
    row = conn.execute("SELECT position FROM classes WHERE id = ?", (class_id,)).fetchone()
    if row is None:
        raise KeyError(class_id)
    conn.execute("DELETE FROM classes WHERE id = ?", (class_id,))
    conn.execute("UPDATE classes SET position = position - 1 WHERE position > ?", (row[0],))


def insert_class(conn, name: str, color: str | None) -> int:
    """Inside a transaction: add a class at the end (palette colour when None); its id."""
    rows = conn.execute("SELECT color FROM classes").fetchall()
    if len(rows) >= MAX_CLASSES:
        raise ClassError(
            f"At most {MAX_CLASSES} classes are supported (label masks hold one byte per pixel)"
        )
    if color is None:
        used = {r[0] for r in rows}
        color = next((c for c in PALETTE if c not in used), PALETTE[len(used) % len(PALETTE)])
    cursor = conn.execute(
        "INSERT INTO classes (name, color, position) VALUES (?, ?, ?)",
        (clean_name(name), clean_color(color), len(rows)),
    )
    return cursor.lastrowid
