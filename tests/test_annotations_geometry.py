"""Geometry of painting: brush union, erase, overwrite, simplification, clipping, repair,
the cell grid against whole-geometry reference operations, and undo/redo."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon, box

from server.annotations import classes
from server.annotations import repository as repo
from server.annotations.geometry import (
    CELL,
    GeometryError,
    TooManyPoints,
    apply_shape,
    check_points,
    clip_to_slide,
    merge_pieces,
    polygon_shape,
    split_into_cells,
    stroke_shape,
)
from server.errors import UserError
from server.store import Store
from tests.annotation_support import make_service


def paint(cells: dict, shape, class_id: int | None) -> None:
    """Apply a shape to an in-memory cell dict the way the service applies it to the store."""
    for key, geom in apply_shape(cells, shape, class_id).items():
        if geom is None:
            cells.pop(key, None)
        else:
            cells[key] = geom


def class_geometry(cells: dict, class_id: int):
    """The merged geometry of one class."""
    return merge_pieces(g for (cid, _, _), g in cells.items() if cid == class_id)


def stroke(points, radius):
    return stroke_shape(np.asarray(points, dtype=float), radius)


def exact_stroke(points, radius):
    """A near-exact reference: the polyline buffered with 64 segments per quarter circle."""
    return LineString(points).buffer(radius, quad_segs=64)


def test_brush_stroke_is_round_capped_buffer_of_the_polyline():
    points = [[100, 100], [300, 100], [300, 250]]
    shape = stroke(points, 20)
    reference = exact_stroke(points, 20)
    assert shape.is_valid and shape.geom_type == "Polygon"
    assert shape.area == pytest.approx(reference.area, rel=0.01)
    # Round caps: the far end reaches radius beyond the last point, the corner is rounded.
    assert shape.bounds == pytest.approx((80, 80, 320, 270), abs=0.2)
    assert shape.symmetric_difference(reference).area / reference.area < 0.01


def test_single_point_is_a_dot():
    dot = stroke([[50, 60]], 10)
    assert dot.area == pytest.approx(np.pi * 100, rel=0.01)
    assert dot.centroid.coords[0] == pytest.approx((50, 60), abs=1e-6)


def test_simplification_bounds_vertices_and_keeps_area_within_one_percent():
    # Pointer input sampled every half pixel (6,000 points), smooth and with 0.3 px jitter.
    x = np.arange(0, 1200, 0.5)
    jitter = np.random.default_rng(1).normal(0, 0.3, x.size)
    for noise in (0.0, 1.0):
        points = np.stack([x, 500 + 80 * np.sin(x / 90) + noise * jitter], 1)
        for radius in (3, 12, 60):
            simplified = stroke_shape(points, radius)
            unsimplified = LineString(points).buffer(radius, quad_segs=8)
            assert abs(simplified.area - unsimplified.area) / unsimplified.area < 0.01
            assert simplified.symmetric_difference(unsimplified).area / unsimplified.area < 0.01
            vertices = shapely.get_num_coordinates(simplified)
            assert vertices < shapely.get_num_coordinates(unsimplified) / (4 if noise == 0 else 1.5)
            assert vertices < len(points) * 1.5


def test_brush_union_of_overlapping_strokes_of_one_class():
    cells: dict = {}
    a = stroke([[100, 100], [700, 100]], 30)
    b = stroke([[400, 0], [400, 600]], 30)
    paint(cells, a, 1)
    paint(cells, b, 1)
    merged = class_geometry(cells, 1)
    assert merged.is_valid and merged.geom_type == "Polygon"  # one region, though cut in cells
    assert merged.area == pytest.approx(a.union(b).area, rel=1e-9)
    assert len({(cx, cy) for _, cx, cy in cells}) > 1  # really spread over several cells


def test_eraser_removes_every_class_under_it():
    cells: dict = {}
    paint(cells, box(0, 0, 600, 300), 1)
    paint(cells, box(0, 300, 600, 600), 2)
    eraser = stroke([[300, -50], [300, 650]], 40)
    paint(cells, eraser, None)
    for class_id, full in ((1, box(0, 0, 600, 300)), (2, box(0, 300, 600, 600))):
        geom = class_geometry(cells, class_id)
        assert geom.area == pytest.approx(full.difference(eraser).area, rel=1e-9)
        assert geom.intersection(eraser).area < 1e-6
        assert geom.geom_type == "MultiPolygon"  # cut in two by the eraser


def test_painting_a_class_takes_the_pixels_from_the_other():
    cells: dict = {}
    tumor = box(100, 100, 500, 500)
    paint(cells, tumor, 1)
    brush = stroke([[0, 300], [800, 300]], 50)
    paint(cells, brush, 2)
    one, two = class_geometry(cells, 1), class_geometry(cells, 2)
    assert one.intersection(two).area < 1e-6
    assert one.area == pytest.approx(tumor.difference(brush).area, rel=1e-9)
    assert two.area == pytest.approx(brush.area, rel=1e-9)
    assert one.union(two).area == pytest.approx(tumor.union(brush).area, rel=1e-9)


def test_random_painting_on_the_grid_matches_whole_geometry_operations():
    rng = np.random.default_rng(3)
    cells: dict = {}
    reference = {1: Polygon(), 2: Polygon(), 3: Polygon()}
    for _ in range(120):
        start = rng.uniform(0, 1500, 2)
        points = start + np.cumsum(rng.normal(0, 25, (12, 2)), axis=0)
        shape = clip_to_slide(stroke_shape(points, float(rng.uniform(4, 60))), 1400, 1300)
        class_id = None if rng.random() < 0.15 else int(rng.integers(1, 4))
        paint(cells, shape, class_id)
        for cid in reference:
            if cid == class_id:
                reference[cid] = reference[cid].union(shape)
            else:
                reference[cid] = reference[cid].difference(shape)
    assert all(g.is_valid and not g.is_empty for g in cells.values())
    merged = {cid: class_geometry(cells, cid) for cid in reference}
    for cid, expected in reference.items():
        assert merged[cid].is_valid
        assert merged[cid].area == pytest.approx(expected.area, rel=1e-6)
        assert merged[cid].symmetric_difference(expected).area < 1e-3 * expected.area
        assert merged[cid].within(box(0, 0, 1400, 1300).buffer(1e-6))
    for a in reference:
        for b in reference:
            if a < b:
                assert merged[a].intersection(merged[b]).area < 1e-6


def test_clipping_to_the_slide_bounds():
    shape = clip_to_slide(stroke([[-100, 50], [250, 50], [250, 400]], 30), 200, 300)
    assert shape.bounds[0] >= 0 and shape.bounds[2] <= 200 and shape.bounds[3] <= 300
    assert shape.area == pytest.approx(
        exact_stroke([[-100, 50], [250, 50], [250, 400]], 30)
        .intersection(box(0, 0, 200, 300))
        .area,
        rel=0.01,
    )
    assert clip_to_slide(stroke([[-500, -500]], 10), 200, 300).is_empty


def test_split_into_cells_is_a_partition():
    geom = Point(1.5 * CELL, 1.5 * CELL).buffer(CELL)
    pieces = split_into_cells(geom)
    assert len(pieces) == 9
    assert sum(p.area for p in pieces.values()) == pytest.approx(geom.area, rel=1e-12)
    merged = merge_pieces(pieces.values())
    assert merged.symmetric_difference(geom).area < 1e-6
    assert shapely.get_num_coordinates(merged) == shapely.get_num_coordinates(geom)


def test_self_intersecting_lasso_is_repaired_and_degenerate_polygon_refused():
    bowtie = polygon_shape(np.array([[0, 0], [100, 100], [100, 0], [0, 100]], dtype=float))
    assert bowtie.is_valid and bowtie.area == pytest.approx(5000)  # two triangles
    with pytest.raises(GeometryError, match="no area|at least 3"):
        polygon_shape(np.array([[0, 0], [10, 10], [20, 20], [0, 0]], dtype=float))


def test_points_are_checked():
    assert check_points([[1, 2], [3.5, 4]], 1, 10).shape == (2, 2)
    for bad in (
        [[1, float("nan")]],
        [[float("inf"), 0]],
        [[1, 2, 3]],
        [["a", 1]],
        "x",
        [[True, 1]],
    ):
        with pytest.raises(GeometryError):
            check_points(bad, 1, 10)
    with pytest.raises(TooManyPoints):
        check_points([[0, 0]] * 11, 1, 10)


def test_repository_replace_label_geometry_keeps_one_label_per_pixel(tmp_path):
    store = Store(tmp_path / "db.sqlite3")
    a = classes.create_class(store, "Tumor")["id"]
    b = classes.create_class(store, "Stroma")["id"]
    repo.replace_label_geometry(store, "s", a, box(0, 0, 1000, 600))
    repo.replace_label_geometry(store, "s", b, box(500, 0, 1500, 600))
    labels = repo.label_geometries(store, "s")
    assert labels[a].equals(box(0, 0, 500, 600)) and labels[b].equals(box(500, 0, 1500, 600))
    assert labels[a].is_valid and labels[a].geom_type == "Polygon"  # merged across cells
    repo.replace_label_geometry(store, "s", a, Polygon())
    assert set(repo.label_geometries(store, "s")) == {b}
    assert repo.version(store, "s") == 3
    assert repo.roi_geometries(store, "s") == []


@pytest.fixture
def service(tmp_path):
    """The annotation service on a real store, slide library and Socket.IO server (no HTTP)."""
    return make_service(tmp_path)


def assert_no_leaked_rows(store: Store, slide_id: str) -> None:
    """Every dead piece or ROI is still reachable through a history step."""
    for table, column in (("annotation_pieces", "piece_id"), ("annotation_rois", "roi_id")):
        dead = store.query(f"SELECT id FROM {table} WHERE slide_id = ? AND live = 0", (slide_id,))
        steps = store.query(
            f"SELECT {column} FROM annotation_step_items WHERE slide_id = ?", (slide_id,)
        )
        assert {r[0] for r in dead} <= {r[0] for r in steps}


def test_undo_redo_restores_exact_geometry(service):
    store = service.store
    entry = next(e for e in service.ctx.library.list() if e.readable)
    tumor = classes.create_class(store, "Tumor")["id"]
    stroma = classes.create_class(store, "Stroma")["id"]
    edits = [
        {
            "tool": "polygon",
            "class_id": tumor,
            "points": [[100, 100], [900, 100], [900, 700], [100, 700]],
        },
        {"tool": "brush", "class_id": stroma, "points": [[0, 400], [1200, 400]], "radius": 60},
        {"tool": "roi", "points": [[0, 0], [300, 0], [300, 300], [0, 300]]},
        {"tool": "eraser", "points": [[500, 0], [500, 900]], "radius": 30},
    ]

    def state():
        return repo.all_cells(store, entry.id), [tuple(r) for r in repo.rois(store, entry.id)]

    states = [state()]
    for edit in edits:
        service.edit(entry, edit)
        states.append(state())
    assert all(states[i] != states[i + 1] for i in range(len(edits)))
    for expected in reversed(states[:-1]):
        service.undo(entry, None)
        assert state() == expected
    with pytest.raises(UserError, match="Nothing to undo"):
        service.undo(entry, None)
    for expected in states[1:]:
        service.undo(entry, None, redo=True)
        assert state() == expected
    with pytest.raises(UserError, match="Nothing to redo"):
        service.undo(entry, None, redo=True)
    # A new edit after an undo drops the redo branch.
    service.undo(entry, None)
    service.edit(entry, edits[3] | {"radius": 10})
    with pytest.raises(UserError, match="Nothing to redo"):
        service.undo(entry, None, redo=True)
    assert repo.version(store, entry.id) == 3 * len(edits) + 2  # every change counted
    assert_no_leaked_rows(store, entry.id)


def test_history_is_bounded_and_script_writes_clear_it(service, monkeypatch):
    from server.annotations import history

    monkeypatch.setattr(history, "HISTORY_LIMIT", 5)
    store = service.store
    entry = next(e for e in service.ctx.library.list() if e.readable)
    cls = classes.create_class(store, "Bounded")["id"]
    for i in range(8):
        service.edit(
            entry, {"tool": "brush", "class_id": cls, "points": [[50 * i + 20, 50]], "radius": 9}
        )
    for _ in range(5):
        service.undo(entry, None)
    with pytest.raises(UserError, match="Nothing to undo"):
        service.undo(entry, None)
    assert repo.class_areas(store, entry.id)[cls] == pytest.approx(3 * np.pi * 81, rel=0.01)
    service.undo(entry, None, redo=True)
    assert_no_leaked_rows(store, entry.id)
    dead = "SELECT COUNT(*) FROM annotation_pieces WHERE slide_id = ? AND live = 0"
    assert store.query_one(dead, (entry.id,))[0] <= 5
    repo.replace_label_geometry(store, entry.id, cls, box(0, 0, 10, 10))
    assert history.can_undo_redo(store, entry.id) == (False, False)
    assert store.query_one(dead, (entry.id,))[0] == 0
