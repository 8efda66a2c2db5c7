"""The GeoJSON text of each label polygon, kept in memory for the slides in use.

The collection (GET) is built from cached per-polygon text (parts.py), so it is a string
join instead of a re-serialisation. An entry is tagged with the slide's annotation
version and brought forward by the deltas of committed changes; it is reloaded when the
store has moved on otherwise (e.g. a script wrote labels), so it never serves stale
geometry. Edits do not read it: their answers carry only their own delta.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from server.annotations import repository as repo
from server.annotations.parts import Delta, Part, piece_parts
from server.jobs import compute
from server.store import Store

Cell = tuple[int, int]


@dataclass
class SlideLabels:
    """Per class, per cell, per polygon id: the polygon (Part), at `version`."""

    version: int
    classes: dict[int, dict[Cell, dict[str, Part]]] = field(default_factory=dict)

    def add(self, part: Part) -> None:
        """Hold one polygon."""
        cells = self.classes.setdefault(part.class_id, {})
        cells.setdefault((part.cx, part.cy), {})[part.id] = part

    def apply(self, delta: Delta, version: int) -> None:
        """Bring the entry to `version` by applying a committed change's delta."""
        for (class_id, cx, cy), part_id in delta.removed:
            cells = self.classes.get(class_id, {})
            cell = cells.get((cx, cy), {})
            cell.pop(part_id, None)
            if not cell:
                cells.pop((cx, cy), None)
            if not cells:
                self.classes.pop(class_id, None)
        for part in delta.added:
            self.add(part)
        self.version = version

    def class_texts(self, class_id: int) -> list[str]:
        """The GeoJSON Polygon coordinates of every polygon of one class ([] when none)."""
        return [p.text for cell in self.classes.get(class_id, {}).values() for p in cell.values()]

    def parts(self) -> list[Part]:
        """Every polygon of every class."""
        return [
            p for cells in self.classes.values() for cell in cells.values() for p in cell.values()
        ]


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
        keyed = [(r["class_id"], r["cx"], r["cy"], r["wkb"]) for r in rows]
        loaded = SlideLabels(version)
        for parts in compute(piece_parts, keyed):
            for part in parts:
                loaded.add(part)
        current = self._entries.get(slide_id)
        if current is None or current.version <= version:
            self._entries[slide_id] = loaded
            self._entries.move_to_end(slide_id)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return loaded

    def committed(self, slide_id: str, delta: Delta, version: int) -> None:
        """After a commit that moved the slide to `version`: update or drop its entry."""
        entry = self._entries.get(slide_id)
        if entry is None:
            return
        if entry.version == version - 1:
            entry.apply(delta, version)
        else:
            del self._entries[slide_id]

    def forget(self, slide_id: str) -> None:
        """Drop a slide's entry (it reloads on next use)."""
        self._entries.pop(slide_id, None)
