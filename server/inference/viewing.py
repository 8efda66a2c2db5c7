"""Viewing results: the overlay (Deep Zoom descriptor and PNG tiles), areas and exports.

Only a running or completed result has an overlay, and only a completed one gives areas
and exports, so a partial result is never mistaken for a whole one. Open probability
stores, prepared tiles and encoded PNGs are cached per result generation; `forget`
drops a result's entries when it changes or goes.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapely

from server import apps
from server.annotations import repository
from server.errors import Conflict, NotFound, UserError
from server.inference import export, measurements, overlay, uncertainty
from server.inference.export import Planes
from server.inference.labels import LabelStore, label_stats, post_processed
from server.inference.probstore import ProbStore
from server.inference.results import ResultTable, result_dir, store_path
from server.inference.stats import pixel_area_um2
from server.inference.thresholds import threshold_level
from server.inference.tiler import Grid
from server.jobs import compute
from server.slides.cache import LRU

MiB = 1 << 20
EXPORTS = {
    "geojson": ("application/geo+json", "geojson"),
    "tiff": ("image/tiff", "tif"),
    "csv": ("text/csv", "csv"),
}
RESOLUTIONS = ("app", "full")  # the label TIFF at the app's µm/px, or at the slide's


@dataclass(frozen=True)
class Postprocessing:
    """The post-processing steps of a result's app, as they are now."""

    steps: list[dict[str, Any]]
    key: str  # apps.postprocessing_key
    class_ids: list[int]


NONE = Postprocessing([], "", [])


class ResultViewer:
    """What the viewer and downloads read from results.

    A completed result of an app with post-processing steps shows, in the classes overlay,
    the areas and the exports, its labels after those steps (inference/labels.py).
    """

    def __init__(self, data_dir: Path, table: ResultTable) -> None:
        self.data_dir = data_dir
        self.table = table
        self.pngs: LRU[bytes] = LRU(64 * MiB)
        self.prepared: LRU[overlay.Prepared] = LRU.counted(512)
        self.stores: LRU[ProbStore] = LRU.counted(16)
        self.label_stores: LRU[LabelStore] = LRU.counted(16)
        self.app_steps: LRU[Postprocessing] = LRU.counted(64)

    def get(self, rid: str) -> dict[str, Any]:
        """One result's record; 404 when unknown."""
        row = self.table.get(rid)
        if row is None:
            raise NotFound("Result not found")
        return row

    def dzi(self, rid: str) -> str:
        """The overlay's Deep Zoom descriptor (the slide DZI's size, tile size, overlap)."""
        return dzi_geometry(self.get(rid)["meta"]).xml()

    def tile(
        self, rid: str, level: int, col: int, row_: int, threshold: float, mode: str, cls: int
    ) -> tuple[bytes, bool]:
        """PNG bytes of one overlay tile, and whether it may be cached by the browser."""
        row, store = self._viewable(rid)
        meta = row["meta"]
        classes = meta["classes"]
        heat = None
        uncertain = mode == "uncertainty"
        if mode == "heatmap":
            if not 0 <= cls < len(classes):
                raise UserError(f"class must be a class index from 0 to {len(classes) - 1}")
            heat = cls
        if uncertain:
            require_uncertainty(store)
            threshold = 0.0  # the uncertainty map does not depend on it
        final = row["state"] == "completed"
        cacheable = final and not row["preview_key"]
        steps = self.postprocessing(row) if final and mode == "classes" else NONE
        base = (rid, row["generation"], mode, heat, level, col, row_, steps.key)
        png_key = (*base, threshold_level(threshold) if threshold > 0 else 0)
        if final:
            cached = self.pngs.get(png_key)
            if cached is not None:
                return cached, cacheable
        prepared = self.prepared.get(base) if final and not steps.key else None
        if steps.key:  # labels differ per threshold: not prepared once for all thresholds
            store = self._labels(row, store, steps, threshold)  # type: ignore[assignment]
        grid, dzi = Grid.from_dict(meta["grid"]), dzi_geometry(meta)
        lut = overlay.palette([c["color"] for c in classes])

        def render() -> tuple[bytes, overlay.Prepared]:
            prep = prepared or overlay.prepare(store, grid, dzi, level, col, row_, heat, uncertain)
            return overlay.encode_png(overlay.colorize(prep, threshold, lut)), prep

        try:
            png, prepared = compute(render)
        except overlay.TileOutOfRange as exc:
            raise NotFound(str(exc)) from exc
        if final:
            self.pngs.put(png_key, png)
            if not steps.key:
                self.prepared.put(base, prepared)
        return png, cacheable

    def stats(self, rid: str, threshold: float) -> dict[str, Any]:
        """Areas per class at a threshold."""
        row, store = self._complete(rid)
        meta = row["meta"]
        grid = Grid.from_dict(meta["grid"])
        area = pixel_area_um2(grid.scale, meta.get("slide_mpp"))
        steps = self.postprocessing(row)
        labels = self._labels(row, store, steps, threshold) if steps.key else None
        body = label_stats(store, labels, threshold, meta["classes"], area)
        # Results made before uncertainty maps existed have none: null, not an error.
        body["uncertainty"] = (
            uncertainty.summary(store.uncertainty_histogram) if store.has_uncertainty else None
        )
        body["warnings"] = meta.get("warnings", [])
        body["postprocessing_key"] = steps.key
        return body

    def export(
        self, rid: str, kind: str, threshold: float, resolution: str = "app"
    ) -> tuple[Path, str, str]:
        """(file, download name, mimetype) of an export at a threshold, made once per level;
        `resolution` "full": the label TIFF at the slide's own pixels."""
        if kind not in EXPORTS:
            raise NotFound(f"Unknown export {kind!r}: use geojson, tiff or csv")
        if resolution not in RESOLUTIONS or (resolution == "full" and kind != "tiff"):
            raise UserError(
                "resolution must be app or full (full: for the label TIFF only)",
                field="resolution",
            )
        row, store, source, steps = self._measured(rid, threshold)
        full = resolution == "full"
        mimetype, ext = EXPORTS[kind]
        level = threshold_level(threshold) if threshold > 0 else 0
        stem = f"g{row['generation']}-t{level}" + (f"-p{steps.key}" if steps.key else "")
        stem += "-full" if full else ""
        path = result_dir(self.data_dir, rid) / "exports" / f"{stem}.{ext}"
        download = f"{self._download_stem(row)}_t{round(threshold * 100)}"
        download += "_full" if full else ""
        if not path.is_file():
            grid = row["meta"]["grid"]
            stats = self.stats(rid, threshold)
            export.check_size(kind, int(grid["width"]), int(grid["height"]))
            compute(
                export.write_export, kind, source, row["meta"], stats, threshold, path, rid, full
            )
        return path, f"{download}.{ext}", mimetype

    def objects(self, rid: str, threshold: float) -> dict[str, Any]:
        """Objects per class at a threshold (after post-processing): count, area, density,
        sizes (inference/measurements.py)."""
        row, store, source, steps = self._measured(rid, threshold)
        meta = row["meta"]
        objects = compute(measurements.all_objects, store, source, threshold)
        region = int(store.histogram[:, 1:].sum())
        pixel_um = measurements.pixel_um(meta)
        body = measurements.summary(objects, meta["classes"], region, pixel_um)
        rois = [(int(r["id"]), shapely.from_wkb(r["wkb"])) for r in self._rois(row)]
        body["rois"] = compute(
            measurements.roi_summaries,
            objects,
            store,
            source,
            threshold,
            Grid.from_dict(meta["grid"]),
            meta["classes"],
            rois,
            pixel_um,
        )
        return {"threshold": threshold, "postprocessing_key": steps.key, **body}

    def _rois(self, row: dict[str, Any]) -> list[Any]:
        """The ROIs drawn on the result's slide now."""
        return repository.rois(self.table.store, row["slide_id"])

    def objects_export(self, rid: str, kind: str, threshold: float) -> tuple[Path, str, str]:
        """(file, download name, mimetype) of the objects' CSV or GeoJSON at a threshold."""
        if kind not in ("csv", "geojson"):
            raise NotFound(f"Unknown objects export {kind!r}: use csv or geojson")
        row, store, source, steps = self._measured(rid, threshold)
        level = threshold_level(threshold) if threshold > 0 else 0
        stem = f"objects-g{row['generation']}-t{level}" + (f"-p{steps.key}" if steps.key else "")
        path = result_dir(self.data_dir, rid) / "exports" / f"{stem}.{kind}"
        if not path.is_file():
            if kind == "geojson":
                grid = row["meta"]["grid"]
                export.check_size(kind, int(grid["width"]), int(grid["height"]))
            compute(measurements.write_objects, kind, store, source, row["meta"], threshold, path)
        return (
            path,
            f"{self._download_stem(row)}_objects_t{round(threshold * 100)}.{kind}",
            (EXPORTS[kind][0]),
        )

    def _measured(
        self, rid: str, threshold: float
    ) -> tuple[dict[str, Any], ProbStore, Planes, Postprocessing]:
        row, store = self._complete(rid)
        return row, store, self.labels_for(row, store, threshold), self.postprocessing(row)

    def labels_for(self, row: dict[str, Any], store: ProbStore, threshold: float) -> Planes:
        """Where a completed result's classes come from at a threshold: its labels after
        the app's post-processing steps, or the store when there are none."""
        steps = self.postprocessing(row)
        return self._labels(row, store, steps, threshold) if steps.key else store

    def _download_stem(self, row: dict[str, Any]) -> str:
        meta = row["meta"]
        return f"{_safe(meta.get('slide_name'))}_{_safe(meta.get('app_name'))}"

    def forget(self, rid: str) -> None:
        """Drop every cached entry of a result (it changed or went)."""

        def of_result(key: Hashable) -> bool:
            return isinstance(key, tuple) and key[0] == rid

        self.pngs.drop(of_result)
        self.prepared.drop(of_result)
        self.stores.drop(of_result)
        self.label_stores.drop(of_result)

    def postprocessing(self, row: dict[str, Any]) -> Postprocessing:
        """The result's app's post-processing steps now (none when the app is gone, or
        when the slide has no µm/px to measure them in)."""
        if not row["meta"].get("slide_mpp"):
            return NONE
        try:  # a live preview's "app" is its run ("run:<id>"): no app folder, no steps
            path = apps.app_dir(self.data_dir, row["app_id"]) / apps.CONFIG_NAME
            stamp = path.stat().st_mtime_ns
        except (apps.AppNotFound, OSError, ValueError):
            return NONE
        key = (row["app_id"], stamp)
        found = self.app_steps.get(key)
        if found is None:
            try:
                config = compute(apps.load_app_config, self.data_dir, row["app_id"])
            except (apps.AppNotFound, apps.AppInvalid, ValueError):
                return NONE
            steps = config.get("postprocessing") or []
            found = Postprocessing(steps, apps.postprocessing_key(config), apps.class_ids(config))
            self.app_steps.put(key, found)
        return found

    def _labels(
        self, row: dict[str, Any], store: ProbStore, steps: Postprocessing, threshold: float
    ) -> LabelStore:
        """The result's labels after its app's steps at a threshold (made on first use)."""
        level = threshold_level(threshold) if threshold > 0 else 0
        key = (row["id"], row["generation"], steps.key, level)
        labels = self.label_stores.get(key)
        if labels is None:
            meta = row["meta"]
            pixel_um = Grid.from_dict(meta["grid"]).scale * float(meta["slide_mpp"])
            folder = result_dir(self.data_dir, row["id"]) / f"labels-g{row['generation']}"
            labels = compute(
                post_processed,
                store,
                folder,
                steps.steps,
                steps.key,
                steps.class_ids,
                pixel_um,
                threshold,
            )
            self.label_stores.put(key, labels)
        return labels

    def viewable(self, rid: str) -> tuple[dict[str, Any], ProbStore]:
        """A running or completed result's record and open store; 409 otherwise."""
        return self._viewable(rid)

    def complete(self, rid: str) -> tuple[dict[str, Any], ProbStore]:
        """A completed result's record and open store; 409 otherwise."""
        return self._complete(rid)

    def _viewable(self, rid: str) -> tuple[dict[str, Any], ProbStore]:
        row = self.get(rid)
        if row["state"] not in ("running", "completed"):
            raise Conflict(f"This result is {row['state']}: there is nothing to show")
        if "grid" not in row["meta"]:
            raise Conflict("This result has not started yet")
        return row, self._store(row)

    def _complete(self, rid: str) -> tuple[dict[str, Any], ProbStore]:
        row = self.get(rid)
        if row["state"] != "completed":
            raise Conflict(
                f"This result is {row['state']}, not completed: areas and exports need a "
                "finished result",
                "Apply the app again." if row["state"] in ("failed", "cancelled") else None,
            )
        return row, self._store(row)

    def _store(self, row: dict[str, Any]) -> ProbStore:
        key = (row["id"], row["generation"], row["state"])
        store = self.stores.get(key)
        if store is None:
            try:
                path = store_path(self.data_dir, row["id"], row["generation"])
                store = compute(ProbStore.open, path)
            except FileNotFoundError as exc:
                raise Conflict("This result's data is missing") from exc
            self.stores.put(key, store)
        return store


def require_uncertainty(store: ProbStore) -> None:
    """409 for a store made before uncertainty maps existed."""
    if not store.has_uncertainty:
        raise Conflict(
            "This result was made before uncertainty maps existed: re-apply the app to see "
            "uncertainty",
            "Re-apply the app to see uncertainty.",
        )


def dzi_geometry(meta: dict[str, Any]) -> overlay.DziGeometry:
    """The slide's Deep Zoom geometry a result's overlay shares."""
    d = meta["dzi"]
    return overlay.DziGeometry(
        int(d["width"]), int(d["height"]), float(d["offset_x"]), float(d["offset_y"])
    )


def _safe(text: Any) -> str:
    stem = Path(str(text or "result")).stem
    return re.sub(r"[^\w.-]+", "_", stem).strip("_") or "result"  # keeps non-ASCII letters
