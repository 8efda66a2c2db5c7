"""The GeoJSON text of each label piece, kept in memory for the slides in use.

Answers carry the full geometry of every class an edit touched; building them from
cached per-cell text makes that a string join instead of a re-serialisation. An entry
is tagged with the slide's annotation version and reloaded when the store has moved
on (e.g. a script wrote labels), so it can never serve stale geometry.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from server.annotations import repository as repo
from server.annotations.geometry import coords_text, from_wkb
from server.annotations.repository import CellChange
from server.jobs import compute
from server.store import Store

CellText = tuple[str, float]  # (GeoJSON polygon coordinates, area px²)


@dataclass
class SlideLabels:
    """Per class, per cell: the piece's GeoJSON coordinates and area, at `version`."""

    version: int
    classes: dict[int, dict[tuple[int, int], CellText]] = field(default_factory=dict)

    def apply(self, cells: list[CellChange], version: int) -> None:
        """Bring the entry to `version` by applying committed cell changes."""
        for c in cells:
            pieces = self.classes.setdefault(c.class_id, {})
            if c.after is None:
                pieces.pop((c.cx, c.cy), None)
            else:
                pieces[(c.cx, c.cy)] = (c.after.coords, c.after.area)
            if not pieces:
                del self.classes[c.class_id]
        self.version = version

    def class_text(self, class_id: int) -> tuple[list[str], float]:
        """(polygon coordinate texts, total area px²) of one class; ([], 0) when unlabelled."""
        pieces = self.classes.get(class_id)
        if not pieces:
            return [], 0.0
        return [t for t, _ in pieces.values()], sum(a for _, a in pieces.values())


def coords_texts(blobs: list[bytes]) -> list[str]:
    """The GeoJSON polygon coordinates of each WKB piece (run in compute)."""
    return [coords_text(from_wkb(b)) for b in blobs]


class LabelTextCache:
    """An LRU of SlideLabels for the most recently used slides (greenlet use only)."""

    def __init__(self, capacity: int = 8) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, SlideLabels] = OrderedDict()

    def get(self, store: Store, slide_id: str) -> SlideLabels:
        """The current labels of a slide, (re)loading them when the store's version differs."""
        version = repo.version(store, slide_id)
        entry = self._entries.get(slide_id)
        if entry is not None and entry.version == version:
            self._entries.move_to_end(slide_id)
            return entry
        rows = repo.live_rows(store, slide_id)  # read together with `version`: no yield between
        texts = compute(coords_texts, [r["wkb"] for r in rows])
        loaded = SlideLabels(version)
        for row, text in zip(rows, texts, strict=True):
            loaded.classes.setdefault(row["class_id"], {})[(row["cx"], row["cy"])] = (
                text,
                row["area"],
            )
        current = self._entries.get(slide_id)
        if current is None or current.version <= version:
            self._entries[slide_id] = loaded
            self._entries.move_to_end(slide_id)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return loaded

    def committed(self, slide_id: str, cells: list[CellChange], version: int) -> None:
        """After a commit that moved the slide to `version`: update or drop its entry."""
        entry = self._entries.get(slide_id)
        if entry is None:
            return
        if entry.version == version - 1:
            entry.apply(cells, version)
        else:
            del self._entries[slide_id]

    def forget(self, slide_id: str) -> None:
        """Drop a slide's entry (it reloads on next use)."""
        self._entries.pop(slide_id, None)
