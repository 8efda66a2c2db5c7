"""Open slides and their Deep Zoom generators, kept in a small LRU.

Opening is blocking C work, so it runs in a compute thread; the LRU itself is touched
only from the event loop. An evicted slide is not closed explicitly: a tile being made
in a thread may still hold it, and it closes when the last reference goes.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass

import openslide

from server.errors import Conflict, NotFound, UserError
from server.jobs import Event, compute
from server.slides.library import SlideEntry
from server.slides.overview import OverviewDeepZoom

log = logging.getLogger(__name__)

TILE_SIZE = 254
OVERLAP = 1


@dataclass
class OpenedSlide:
    """An OpenSlide handle and its Deep Zoom generator, for one version of the file."""

    slide: openslide.OpenSlide
    deepzoom: OverviewDeepZoom
    mtime: float


def slide_unavailable(entry: SlideEntry, exc: BaseException) -> UserError:
    """What the user is told when a listed slide can no longer be read (404 or 409)."""
    log.warning("slide %s (%s) cannot be read: %r", entry.id, entry.path, exc)
    try:
        stat = entry.path.stat()
    except OSError:
        return NotFound(
            f"Slide '{entry.name}' is no longer there",
            hint="It was moved or deleted after the last scan; press Rescan.",
        )
    if (stat.st_mtime, stat.st_size) != (entry.mtime, entry.size):
        return Conflict(
            f"Slide '{entry.name}' changed on disk",
            hint="Press Rescan to read the new file.",
        )
    return Conflict(
        f"Slide '{entry.name}' cannot be read",
        hint="The file may be damaged or still being copied; check it, then press Rescan.",
    )


def _open(entry: SlideEntry) -> OpenedSlide:
    slide = openslide.OpenSlide(entry.path)
    dz = OverviewDeepZoom(slide, tile_size=TILE_SIZE, overlap=OVERLAP, limit_bounds=True)
    return OpenedSlide(slide, dz, entry.mtime)


class SlideHandles:
    """LRU of at most `capacity` open slides; concurrent opens of one slide are merged."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self._open: OrderedDict[str, OpenedSlide] = OrderedDict()
        self._opening: dict[str, Event] = {}

    def get(self, entry: SlideEntry) -> OpenedSlide:
        """The opened slide for an entry, opening it (in a thread) when needed."""
        opened = self._open.get(entry.id)
        if opened is not None and opened.mtime == entry.mtime:
            self._open.move_to_end(entry.id)
            return opened
        pending = self._opening.get(entry.id)
        if pending is not None:
            return pending.wait()
        event = Event()
        self._opening[entry.id] = event
        try:
            opened = compute(_open, entry)
        except Exception as exc:
            error = slide_unavailable(entry, exc)
            event.send_exception(error)
            raise error from exc
        finally:
            self._opening.pop(entry.id, None)
        event.send(opened)
        self._open[entry.id] = opened
        while len(self._open) > self.capacity:
            self._open.popitem(last=False)
        return opened

    def forget(self, slide_id: str) -> None:
        """Drop a slide's handle (e.g. after the file changed or vanished)."""
        self._open.pop(slide_id, None)
