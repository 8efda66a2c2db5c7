"""GeoJSON in and out, QuPath-compatible.

Export: one Feature per class with `properties.objectType = "annotation"` and
`classification {name, color: [r, g, b]}`, ROIs as classification "ROI" with `kind: "roi"`.
Import accepts that, QuPath's own exports (`color` list or older `colorRGB` int) and
slidelab's GET form (`properties.kind/name/color`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import shapely
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry

from server.annotations.classes import MAX_CLASSES, MAX_NAME_LENGTH
from server.annotations.geometry import (
    GeometryError,
    check_coordinates,
    clip_to_slide,
    coords_text,
    from_wkb,
    merge_pieces,
    repair,
)
from server.errors import TooLarge, UserError

ROI_NAME = "ROI"
# Bounds on one import's work (the request size limit bounds it too): features, vertices in
# all, and label classes named (each may become a new class; masks hold at most 255).
MAX_IMPORT_FEATURES = 50_000
IMPORT_POINT_LIMIT = 2_000_000
MAX_IMPORT_CLASSES = MAX_CLASSES
TOO_LARGE_HINT = "Simplify the shapes (e.g. in QuPath) or import fewer of them."
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass
class ImportedLabels:
    """What a GeoJSON file holds, grouped: per class name its geometry, plus ROIs."""

    labels: dict[str, BaseGeometry] = field(default_factory=dict)  # in first-seen order
    colors: dict[str, str | None] = field(default_factory=dict)
    rois: list[Polygon] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def hex_color(rgb: object) -> str | None:
    """`#rrggbb` from QuPath's [r, g, b] list, packed (A)RGB int or `#rrggbb`; else None.

    None (unusable) gives the class a palette colour.
    """
    if isinstance(rgb, list) and len(rgb) >= 3 and all(isinstance(v, int) for v in rgb[:3]):
        r, g, b = (max(0, min(255, v)) for v in rgb[:3])
    elif isinstance(rgb, int) and not isinstance(rgb, bool):
        value = rgb & 0xFFFFFF
        r, g, b = value >> 16, (value >> 8) & 0xFF, value & 0xFF
    elif isinstance(rgb, str) and _HEX.match(rgb):
        return rgb.lower()
    else:
        return None
    return f"#{r:02x}{g:02x}{b:02x}"


def rgb_list(color: str) -> list[int]:
    """[r, g, b] from `#rrggbb`."""
    return [int(color[i : i + 2], 16) for i in (1, 3, 5)]


def _features(doc: object) -> list:
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        features = doc.get("features")
        if isinstance(features, list):
            return features
    if isinstance(doc, dict) and doc.get("type") == "Feature":
        return [doc]
    raise GeometryError("Expected a GeoJSON FeatureCollection (or a list of Features)")


def _label_of(props: dict) -> tuple[str | None, object]:
    """(class name, colour) of a feature; name None when it has no classification."""
    classification = props.get("classification")
    if isinstance(classification, dict):
        name = classification.get("name")
        names = classification.get("names")  # QuPath's derived classes, e.g. [Tumor, Positive]
        if not isinstance(name, str) and isinstance(names, list):
            name = ": ".join(str(n) for n in names)
        if isinstance(name, str):
            color = classification.get("color", classification.get("colorRGB"))
            return name.strip() or None, color
    if isinstance(props.get("name"), str) and props.get("kind") == "label":
        return props["name"].strip() or None, props.get("color")
    return None, None


def _geometry(feature: dict, index: int) -> BaseGeometry:
    try:
        geom = shape(feature["geometry"])
        coords = shapely.get_coordinates(geom)
    except Exception as exc:  # shapely raises many kinds for malformed GeoJSON
        raise GeometryError(f"Feature {index + 1} has no readable geometry ({exc})") from exc
    try:
        check_coordinates(coords)
    except GeometryError as exc:
        raise GeometryError(f"Feature {index + 1}: {exc}") from exc
    return geom


def _area(geom: BaseGeometry, index: int, width: int, height: int) -> BaseGeometry:
    """The polygonal part of `geom` inside the slide, self-crossings repaired as edits are."""
    try:
        return clip_to_slide(repair(geom), width, height)
    except GeometryError as exc:
        raise GeometryError(f"Feature {index + 1}: {exc}") from exc


def _class_name(name: str, index: int) -> str:
    if len(name) > MAX_NAME_LENGTH:
        raise GeometryError(
            f"Feature {index + 1}: class names are limited to {MAX_NAME_LENGTH} characters"
        )
    return name


def _check_size(features: list, points: int | None = None) -> None:
    """413 when an import has more features (or vertices) than one import may have."""
    if len(features) > MAX_IMPORT_FEATURES:
        raise TooLarge(
            f"An import may have at most {MAX_IMPORT_FEATURES:,} features,"
            f" this one has {len(features):,}",
            hint=TOO_LARGE_HINT,
        )
    if points is not None and points > IMPORT_POINT_LIMIT:
        raise TooLarge(
            f"An import may have at most {IMPORT_POINT_LIMIT:,} points", hint=TOO_LARGE_HINT
        )


def parse_collection(doc: object, width: int, height: int) -> ImportedLabels:
    """Group a GeoJSON document's areas by class (and ROIs), clipped to the slide.

    Self-crossing polygons are repaired (as edits are), features without area are listed
    in `skipped`; unusable coordinates, over-long class names and imports over the size
    bounds are refused. Where labels of different classes overlap, the feature that comes
    later in the file takes the pixels, as the same shapes painted one by one with the
    polygon tool would, so every pixel keeps one label. Runs in a compute thread.
    """
    features = _features(doc)
    _check_size(features)
    out = ImportedLabels()
    labelled: list[tuple[str, BaseGeometry]] = []  # (class name, area) in file order
    keys: dict[str, str] = {}  # lower-case name -> the spelling seen first
    points = 0
    for index, feature in enumerate(features):
        if not isinstance(feature, dict) or not isinstance(feature.get("geometry"), dict):
            out.skipped.append(f"feature {index + 1}: not a Feature with a geometry")
            continue
        props = feature.get("properties") or {}
        if not isinstance(props, dict):
            props = {}
        geom = _geometry(feature, index)
        points += shapely.get_num_coordinates(geom)
        _check_size(features, points)
        name, color = _label_of(props)
        is_roi = props.get("kind") == "roi" or (name or "").upper() == ROI_NAME
        if not is_roi and name is not None:
            name = _class_name(name, index)
        area = _area(geom, index, width, height)
        if area.is_empty:
            out.skipped.append(f"feature {index + 1}: no area inside the slide")
            continue
        if is_roi:
            out.rois.extend(shapely.get_parts(area))
            continue
        if name is None:
            out.skipped.append(f"feature {index + 1}: no classification")
            continue
        if name.lower() not in keys and len(keys) >= MAX_IMPORT_CLASSES:
            raise UserError(
                f"An import may name at most {MAX_IMPORT_CLASSES} classes",
                hint="Label masks hold one byte per pixel; merge some classes first.",
            )
        key = keys.setdefault(name.lower(), name)
        labelled.append((key, area))
        out.colors.setdefault(key, hex_color(color))
    out.labels = _in_feature_order(labelled)
    return out


def _in_feature_order(labelled: list[tuple[str, BaseGeometry]]) -> dict[str, BaseGeometry]:
    """Each class's union, where a later feature takes the pixels it shares with earlier ones
    of other classes (a pixel belongs to the last feature covering it); classes in the order
    they first appear. Only features whose boxes meet are compared."""
    geoms = [geom for _, geom in labelled]
    names = [name for name, _ in labelled]
    tree = shapely.STRtree(geoms)
    kept: dict[str, list[BaseGeometry]] = {name: [] for name in names}
    for index, (name, geom) in enumerate(labelled):
        later = [j for j in tree.query(geom) if j > index and names[j] != name]
        if later:
            geom = repair(geom.difference(shapely.union_all([geoms[j] for j in later])))
        if not geom.is_empty:
            kept[name].append(geom)
    labels = {name: repair(shapely.union_all(parts)) for name, parts in kept.items() if parts}
    return {name: geom for name, geom in labels.items() if not geom.is_empty}


def geometry_text(geom: BaseGeometry) -> str:
    """A GeoJSON geometry object (Polygon or MultiPolygon) as compact text."""
    text = coords_text(geom)
    if isinstance(geom, MultiPolygon) and len(geom.geoms) > 1:
        return '{"type":"MultiPolygon","coordinates":[' + text + "]}"
    return '{"type":"Polygon","coordinates":' + text + "}"


def export_feature(geom: BaseGeometry, name: str, color: str, extra: dict | None = None) -> str:
    """One QuPath annotation Feature as text."""
    props = {
        "objectType": "annotation",
        "classification": {"name": name, "color": rgb_list(color)},
        "isLocked": False,
        **(extra or {}),
    }
    return (
        '{"type":"Feature","geometry":'
        + geometry_text(geom)
        + ',"properties":'
        + json.dumps(props, separators=(",", ":"))
        + "}"
    )


def export_collection(pieces: dict[int, list[bytes]], labelled: list[dict], rois: Iterable) -> str:
    """The export FeatureCollection from WKB pieces per class and (roi_id, WKB) ROIs."""
    features = []
    for cls in labelled:
        geom = merge_pieces(from_wkb(b) for b in pieces[cls["id"]])
        if not geom.is_empty:
            features.append(export_feature(geom, cls["name"], cls["color"]))
    for roi_id, wkb in rois:
        features.append(
            export_feature(from_wkb(wkb), ROI_NAME, "#808080", {"kind": "roi", "roi_id": roi_id})
        )
    return '{"type":"FeatureCollection","features":[' + ",".join(features) + "]}"
