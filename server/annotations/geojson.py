"""GeoJSON in and out, QuPath-compatible.

Export: one Feature per class with `properties.objectType = "annotation"` and
`classification {name, color: [r, g, b]}`, ROIs as classification "ROI" with `kind: "roi"`.
Import accepts that, QuPath's own exports (`color` list or older `colorRGB` int) and
slidelab's GET form (`properties.kind/name/color`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

import shapely
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry

from server.annotations.geometry import (
    GeometryError,
    TooManyPoints,
    clip_to_slide,
    coords_text,
    from_wkb,
    merge_pieces,
    polygonal,
    repair,
)

ROI_NAME = "ROI"
IMPORT_POINT_LIMIT = 5_000_000


@dataclass
class ImportedLabels:
    """What a GeoJSON file holds, grouped: per class name its geometry, plus ROIs."""

    labels: dict[str, BaseGeometry] = field(default_factory=dict)  # in first-seen order
    colors: dict[str, str | None] = field(default_factory=dict)
    rois: list[Polygon] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def hex_color(rgb: object) -> str | None:
    """`#rrggbb` from QuPath's [r, g, b] list or packed (A)RGB int; None when unusable."""
    if isinstance(rgb, list) and len(rgb) >= 3 and all(isinstance(v, int) for v in rgb[:3]):
        r, g, b = (max(0, min(255, v)) for v in rgb[:3])
    elif isinstance(rgb, int) and not isinstance(rgb, bool):
        value = rgb & 0xFFFFFF
        r, g, b = value >> 16, (value >> 8) & 0xFF, value & 0xFF
    elif isinstance(rgb, str) and len(rgb) == 7 and rgb.startswith("#"):
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
    except Exception as exc:
        raise GeometryError(f"Feature {index + 1} has no readable geometry ({exc})") from exc
    coords = shapely.get_coordinates(geom)
    if not shapely.is_empty(geom) and not (abs(coords) < float("inf")).all():
        raise GeometryError(f"Feature {index + 1} has coordinates that are not finite numbers")
    return geom


def parse_collection(doc: object, width: int, height: int) -> ImportedLabels:
    """Group a GeoJSON document's areas by class (and ROIs), clipped to the slide.

    Where labels of different classes overlap, the class that appears later in the
    file takes the pixels, so every pixel keeps one label. Runs in a compute thread.
    """
    features = _features(doc)
    out = ImportedLabels()
    parts: dict[str, list[BaseGeometry]] = {}
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
        if points > IMPORT_POINT_LIMIT:
            raise TooManyPoints(f"An import may have at most {IMPORT_POINT_LIMIT} points")
        area = clip_to_slide(repair(polygonal(geom)), width, height)
        if area.is_empty:
            out.skipped.append(f"feature {index + 1}: no area inside the slide")
            continue
        name, color = _label_of(props)
        if props.get("kind") == "roi" or (name or "").upper() == ROI_NAME:
            out.rois.extend(shapely.get_parts(area))
            continue
        if name is None:
            out.skipped.append(f"feature {index + 1}: no classification")
            continue
        key = next((k for k in parts if k.lower() == name.lower()), name)
        parts.setdefault(key, []).append(area)
        out.colors.setdefault(key, hex_color(color))
    taken: BaseGeometry = Polygon()
    for name in reversed(list(parts)):
        geom = repair(shapely.union_all(parts[name]))
        if not taken.is_empty:
            geom = repair(geom.difference(taken))
        taken = geom if taken.is_empty else taken.union(geom)
        if not geom.is_empty:
            out.labels[name] = geom
    out.labels = {name: out.labels[name] for name in parts if name in out.labels}
    return out


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
