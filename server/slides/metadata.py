"""What a slide says about itself: size, levels, µm/px, magnification, vendor."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

import openslide

# µm per unit for OME PhysicalSize units.
_OME_UNITS = {"µm": 1.0, "um": 1.0, "micron": 1.0, "nm": 1e-3, "mm": 1e3, "cm": 1e4, "m": 1e6}


@dataclass
class SlideInfo:
    """Facts about one readable slide, as listed by the API."""

    width: int
    height: int
    mpp: float | None
    objective_power: float | None
    vendor: str
    levels: int
    level_dimensions: list[tuple[int, int]]
    level_downsamples: list[float]
    associated: list[str]

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)


def _float(value: str | None) -> float | None:
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number and number > 0 else None


def ome_mpp(path: Path) -> float | None:
    """µm/px from an OME-TIFF's PhysicalSizeX (OpenSlide reads OME-TIFF as generic TIFF)."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            xml = tif.ome_metadata if tif.is_ome else None
    except Exception:
        return None
    if not xml:
        return None
    match = re.search(r'PhysicalSizeX="([0-9.eE+-]+)"', xml)
    if not match:
        return None
    unit = re.search(r'PhysicalSizeXUnit="([^"]+)"', xml)
    scale = _OME_UNITS.get(unit.group(1) if unit else "µm", 1.0)
    return _float(match.group(1)) and float(match.group(1)) * scale


def read_info(slide: openslide.OpenSlide, path: Path) -> SlideInfo:
    """Collect SlideInfo from an open slide, filling µm/px gaps from OME-XML."""
    props = slide.properties
    mpp = _float(props.get(openslide.PROPERTY_NAME_MPP_X))
    if mpp is None and path.suffix.lower() in (".tif", ".tiff"):
        mpp = ome_mpp(path)
    power = _float(props.get(openslide.PROPERTY_NAME_OBJECTIVE_POWER))
    if power is None and mpp:
        power = round(10.0 / mpp)
    width, height = slide.dimensions
    return SlideInfo(
        width=width,
        height=height,
        mpp=mpp,
        objective_power=power,
        vendor=props.get(openslide.PROPERTY_NAME_VENDOR, "unknown"),
        levels=slide.level_count,
        level_dimensions=[(int(w), int(h)) for w, h in slide.level_dimensions],
        level_downsamples=[float(d) for d in slide.level_downsamples],
        associated=sorted(slide.associated_images.keys()),
    )


def slide_bounds(slide: openslide.AbstractSlide) -> tuple[int, int, int, int] | None:
    """The non-empty area (x, y, w, h) in level-0 pixels, when the format records it."""
    props = slide.properties
    keys = (
        openslide.PROPERTY_NAME_BOUNDS_X,
        openslide.PROPERTY_NAME_BOUNDS_Y,
        openslide.PROPERTY_NAME_BOUNDS_WIDTH,
        openslide.PROPERTY_NAME_BOUNDS_HEIGHT,
    )
    if all(k in props for k in keys):
        x, y, w, h = (int(props[k]) for k in keys)
        return x, y, w, h
    return None
