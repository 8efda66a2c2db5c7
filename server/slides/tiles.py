"""Deep Zoom tiles, thumbnails and associated images, encoded in threads and cached.

A cached tile is answered straight from the event loop. A cold tile is read, resized and
JPEG-encoded by OpenSlide and Pillow in a compute thread, so cold tiles are made in
parallel and the loop never stalls; concurrent requests for the same tile share one job.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Hashable

from PIL import Image

from server.errors import UserError
from server.jobs import Event, compute
from server.slides.cache import LRU
from server.slides.handles import SlideHandles, slide_unavailable
from server.slides.library import SlideEntry


class TileOutOfRange(LookupError):
    """The requested level, column or row does not exist."""


def encode_jpeg(image: Image.Image, quality: int) -> bytes:
    """RGB JPEG bytes of an image (alpha dropped onto white)."""
    if image.mode == "RGBA":
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        image = background
    elif image.mode != "RGB":
        image = image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


class TileService:
    """Makes and caches encoded images of slides."""

    def __init__(self, handles: SlideHandles, cache: LRU[bytes], quality: int) -> None:
        self.handles = handles
        self.cache = cache
        self.quality = quality
        self._inflight: dict[Hashable, Event] = {}

    def dzi(self, entry: SlideEntry) -> str:
        """The Deep Zoom descriptor XML."""
        return self.handles.get(entry).deepzoom.get_dzi("jpeg")

    def level_count(self, entry: SlideEntry) -> int:
        """Number of Deep Zoom levels."""
        return self.handles.get(entry).deepzoom.level_count

    def tile(self, entry: SlideEntry, level: int, col: int, row: int) -> bytes:
        """JPEG bytes of one Deep Zoom tile; TileOutOfRange for a tile that does not exist."""
        dz = self.handles.get(entry).deepzoom
        if not 0 <= level < dz.level_count:
            raise TileOutOfRange(f"level {level} out of range")
        cols, rows = dz.level_tiles[level]
        if not (0 <= col < cols and 0 <= row < rows):
            raise TileOutOfRange(f"tile {col},{row} out of range at level {level}")
        key = ("tile", entry.id, entry.mtime, level, col, row)
        return self._cached(
            entry, key, lambda: encode_jpeg(dz.get_tile(level, (col, row)), self.quality)
        )

    def thumbnail(self, entry: SlideEntry, size: int) -> bytes:
        """JPEG thumbnail fitting in size × size."""
        slide = self.handles.get(entry).slide
        key = ("thumb", entry.id, entry.mtime, size)
        return self._cached(
            entry, key, lambda: encode_jpeg(slide.get_thumbnail((size, size)), self.quality)
        )

    def associated(self, entry: SlideEntry, name: str) -> bytes:
        """JPEG of an associated image (label, macro, ...); KeyError when absent."""
        slide = self.handles.get(entry).slide
        if name not in slide.associated_images:
            raise KeyError(name)
        key = ("assoc", entry.id, entry.mtime, name)
        return self._cached(entry, key, lambda: encode_jpeg(slide.associated_images[name], 90))

    def _cached(self, entry: SlideEntry, key: Hashable, make: Callable[[], bytes]) -> bytes:
        data = self.cache.get(key)
        if data is not None:
            return data
        pending = self._inflight.get(key)
        if pending is not None:
            return pending.wait()
        event = Event()
        self._inflight[key] = event
        try:
            data = compute(make)
        except Exception as exc:
            # OpenSlide errors are sticky: the handle is useless once a read failed.
            self.handles.forget(entry.id)
            error = exc if isinstance(exc, UserError) else slide_unavailable(entry, exc)
            event.send_exception(error)
            raise error from exc
        finally:
            self._inflight.pop(key, None)
        self.cache.put(key, data)
        event.send(data)
        return data
