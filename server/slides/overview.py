"""Deep Zoom for slides that lack a pyramid (e.g. an OME-TIFF OpenSlide sees as one level).

OpenSlide's DeepZoomGenerator makes a zoomed-out tile by reading the finest level that is not
too fine. When a slide has no coarse levels, one overview tile reads the whole slide at full
resolution, for every tile, every time. Here such tiles come from an overview: a copy of the
slide at most `MAX_SIDE` pixels on its longer side, read once (in chunks) and kept with the
open slide. Tiles that need no more than a 2× downsample of what OpenSlide reads are made the
usual way, so slides with a real pyramid never build an overview.
"""

from __future__ import annotations

import math

import openslide
from openslide.deepzoom import DeepZoomGenerator
from PIL import Image

from server.jobs import threading  # tiles are made in real threads, not greenlets

MAX_SIDE = 2048
CHUNK = 2048
READ_FACTOR = 4  # read area / tile area beyond which the overview is used...
READ_PIXELS = 1024 * 1024  # ...when the read is also this large


class OverviewDeepZoom(DeepZoomGenerator):
    """A DeepZoomGenerator that serves coarse tiles of unpyramided slides from an overview."""

    def __init__(self, osr: openslide.AbstractSlide, **kwargs) -> None:
        super().__init__(osr, **kwargs)
        self._slide = osr
        self._overview: tuple[Image.Image, float] | None = None
        self._lock = threading.Lock()

    def get_tile(self, level: int, address: tuple[int, int]) -> Image.Image:
        """An RGB tile, from the overview when OpenSlide would read far more than it shows."""
        (l0_location, slide_level, l_size), z_size = self._get_tile_info(level, address)
        read = l_size[0] * l_size[1]
        if read <= READ_PIXELS or read <= READ_FACTOR * z_size[0] * z_size[1]:
            return super().get_tile(level, address)
        overview, scale = self.overview()
        downsample = self._slide.level_downsamples[slide_level]
        l0_size = (l_size[0] * downsample, l_size[1] * downsample)
        if scale > 1.01 * l0_size[0] / z_size[0]:  # the overview is too coarse for this tile
            return super().get_tile(level, address)
        box = (
            l0_location[0] / scale,
            l0_location[1] / scale,
            min(overview.width, (l0_location[0] + l0_size[0]) / scale),
            min(overview.height, (l0_location[1] + l0_size[1]) / scale),
        )
        return overview.resize(z_size, Image.Resampling.LANCZOS, box=box)

    def overview(self) -> tuple[Image.Image, float]:
        """(image, level-0 pixels per overview pixel), built on first use."""
        with self._lock:
            if self._overview is None:
                self._overview = self._build_overview()
            return self._overview

    def _build_overview(self) -> tuple[Image.Image, float]:
        slide = self._slide
        level = slide.level_count - 1
        width, height = slide.level_dimensions[level]
        level_ds = slide.level_downsamples[level]
        shrink = max(1.0, max(width, height) / MAX_SIDE)  # level pixels per overview pixel
        size = (max(1, round(width / shrink)), max(1, round(height / shrink)))
        overview = Image.new("RGB", size, self._bg_color)
        for y in range(0, height, CHUNK):
            for x in range(0, width, CHUNK):
                w, h = min(CHUNK, width - x), min(CHUNK, height - y)
                region = slide.read_region((int(x * level_ds), int(y * level_ds)), level, (w, h))
                flat = Image.new("RGB", region.size, self._bg_color)
                flat.paste(region, mask=region.getchannel("A"))
                ox, oy = math.floor(x / shrink), math.floor(y / shrink)
                ow = max(1, round((x + w) / shrink) - ox)
                oh = max(1, round((y + h) / shrink) - oy)
                overview.paste(flat.resize((ow, oh), Image.Resampling.LANCZOS), (ox, oy))
        return overview, shrink * level_ds
