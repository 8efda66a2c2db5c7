"""Discovery of slides under the slide roots, with stable ids and readable errors.

Every regular file under a root is listed; those OpenSlide cannot open are listed as
unreadable with the reason. A folder of DICOM files is one slide. An MRXS file's data
folder is not scanned. Links that lead outside the roots are listed as unreadable and
never opened, so no id can reach a file outside the roots.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import openslide

from server.slides.metadata import SlideInfo, read_info

log = logging.getLogger(__name__)

DICOM_SUFFIX = ".dcm"


@dataclass
class SlideEntry:
    """One listed slide: where it is and whether it can be read."""

    id: str
    name: str
    relpath: str
    path: Path  # what OpenSlide opens (a .dcm file for a DICOM folder)
    mtime: float
    size: int
    info: SlideInfo | None = None
    error: str | None = None
    outside: bool = False  # a link leading out of the roots: listed, never served

    @property
    def readable(self) -> bool:
        """Whether OpenSlide opened it."""
        return self.info is not None

    @property
    def details(self) -> SlideInfo:
        """What OpenSlide read from a readable slide (callers check `readable` first)."""
        if self.info is None:
            raise ValueError(f"Slide '{self.name}' cannot be read: {self.error}")
        return self.info

    def summary(self) -> dict:
        """The list form of DESIGN.md: id, name, width, height, mpp, vendor, levels, ..."""
        info = self.info
        return {
            "id": self.id,
            "name": self.name,
            "path": self.relpath,
            "readable": self.readable,
            "error": self.error,
            "width": info.width if info else None,
            "height": info.height if info else None,
            "mpp": info.mpp if info else None,
            "objective_power": info.objective_power if info else None,
            "vendor": info.vendor if info else None,
            "levels": info.levels if info else None,
        }


def slide_id(relpath: str) -> str:
    """A stable, opaque id from the path relative to its root."""
    return hashlib.sha1(relpath.encode()).hexdigest()[:16]


def _inside(path: Path, roots: list[Path]) -> bool:
    real = path.resolve()
    return any(real == root or root in real.parents for root in roots)


def _candidates(root: Path) -> list[tuple[str, Path]]:
    """(relpath, path-to-open) for every listable item under root, sorted."""
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files = sorted(f for f in filenames if not f.startswith("."))
        here = Path(dirpath)
        dicoms = [f for f in files if f.lower().endswith(DICOM_SUFFIX)]
        if dicoms and here != root:
            found.append((str(here.relative_to(root)), here / dicoms[0]))
            dirnames[:] = []
            continue
        mrxs_data = {Path(f).stem for f in files if f.lower().endswith(".mrxs")}
        dirnames[:] = [d for d in dirnames if d not in mrxs_data]
        for name in files:
            found.append((str((here / name).relative_to(root)), here / name))
    return found


def _open_error(exc: Exception) -> str:
    if isinstance(exc, openslide.OpenSlideUnsupportedFormatError):
        return "Not a slide format OpenSlide can read"
    return f"OpenSlide could not read this file: {exc}"


class SlideLibrary:
    """The slides under the configured roots; `scan()` picks up new and changed files."""

    def __init__(self, roots: list[Path]) -> None:
        self.roots = [Path(r).resolve() for r in roots]
        self._entries: dict[str, SlideEntry] = {}

    def scan(self) -> list[SlideEntry]:
        """Walk the roots again; entries whose file did not change keep their metadata."""
        previous = self._entries
        entries: dict[str, SlideEntry] = {}
        for index, root in enumerate(self.roots):
            if not root.is_dir():
                log.warning("slide root %s is not a folder", root)
                continue
            for relpath, path in _candidates(root):
                ident = slide_id(relpath if index == 0 else f"{index}/{relpath}")
                if ident in entries:
                    ident = slide_id(f"{root}/{relpath}")
                entries[ident] = self._entry(ident, relpath, path, previous.get(ident))
        self._entries = entries
        return self.list()

    def _entry(self, ident: str, relpath: str, path: Path, old: SlideEntry | None) -> SlideEntry:
        name = Path(relpath).name
        if not _inside(path, self.roots):
            return SlideEntry(
                ident,
                name,
                relpath,
                path,
                0,
                0,
                outside=True,
                error="Link points outside the slide folders",
            )
        try:
            stat = path.stat()
        except OSError as exc:
            return SlideEntry(ident, name, relpath, path, 0, 0, error=f"Cannot access: {exc}")
        if old and old.mtime == stat.st_mtime and old.size == stat.st_size:
            return old
        entry = SlideEntry(ident, name, relpath, path, stat.st_mtime, stat.st_size)
        try:
            with openslide.OpenSlide(path) as slide:
                entry.info = read_info(slide, path)
        except Exception as exc:  # OpenSlide raises several types for bad files
            entry.error = _open_error(exc)
        return entry

    def list(self) -> list[SlideEntry]:
        """All entries, readable ones first, then by name."""
        return sorted(self._entries.values(), key=lambda e: (not e.readable, e.relpath.lower()))

    def get(self, ident: str) -> SlideEntry | None:
        """The entry for an id, or None; ids are opaque, never paths."""
        return self._entries.get(ident)

    def readable(self, ident: str) -> SlideEntry | None:
        """The entry for an id when it can be opened, else None."""
        entry = self._entries.get(ident)
        return entry if entry and entry.readable else None
