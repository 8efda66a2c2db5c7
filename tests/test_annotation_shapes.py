"""One annotation as a user sees it: the connected shape under a point, and deleting,
recolouring or reshaping it as one undoable step (GET …/annotations/shape, tool "shape")."""

from __future__ import annotations

import pytest
from shapely.geometry import LineString, Polygon, box, shape
from shapely.ops import unary_union

from tests.helpers import ServerProcess
from tests.test_annotations_api import (
    annotations,
    class_geometry,
    edit,
    new_class,
    rect,
    totals,
)

RADIUS = 30.0


@pytest.fixture
def slide(demo_server: ServerProcess) -> dict:
    """The demo slide, its annotations cleared."""
    info = next(s for s in demo_server.get("/api/slides").json() if s["readable"])
    empty = {"type": "FeatureCollection", "features": []}
    assert demo_server.request("PUT", annotations(info), json=empty).status_code == 200
    return info


def find(server: ServerProcess, slide: dict, x: float, y: float, expect: int = 200) -> dict:
    response = server.get(annotations(slide) + "/shape", params={"x": x, "y": y})
    assert response.status_code == expect, response.text
    return response.json()


def area_of(server: ServerProcess, slide: dict, class_id: int) -> float:
    summary = server.get(annotations(slide) + "/summary").json()
    return next((c["area_px"] for c in summary["classes"] if c["class_id"] == class_id), 0.0)


def step(server: ServerProcess, slide: dict, direction: str) -> dict:
    response = server.post(annotations(slide) + f"/{direction}", json={})
    assert response.status_code == 200, response.text
    return response.json()


def strokes(server: ServerProcess, slide: dict, class_id: int, lines: list) -> None:
    for points in lines:
        edit(server, slide, tool="brush", class_id=class_id, points=points, radius=RADIUS)


# An L of two strokes over several 256-px grid cells, a stroke crossing it, and a long one
# across the slide joined to it (the shape grows beyond the first cells looked at).
L_STROKES = [
    [[100, 100], [700, 100]],
    [[700, 100], [700, 650]],
    [[400, 40], [420, 420]],
    [[700, 650], [2150, 700]],
]


@pytest.fixture
def two_shapes(demo_server, slide) -> dict:
    """Tumour: the L of strokes and a separate square; Stroma: a square beside them."""
    tumour, stroma = new_class(demo_server, "Tumour"), new_class(demo_server, "Stroma")
    strokes(demo_server, slide, tumour["id"], L_STROKES)
    edit(
        demo_server, slide, tool="polygon", class_id=tumour["id"], points=rect(300, 1200, 500, 1400)
    )
    edit(
        demo_server,
        slide,
        tool="polygon",
        class_id=stroma["id"],
        points=rect(900, 1200, 1100, 1500),
    )
    return {"tumour": tumour["id"], "stroma": stroma["id"]}


def l_shape():
    return unary_union([LineString(p).buffer(RADIUS, quad_segs=8) for p in L_STROKES])


def test_a_shape_of_strokes_over_many_cells_is_found_whole(demo_server, slide, two_shapes):
    found = find(demo_server, slide, 120, 100)
    polygon = shape(found["polygon"])
    assert found["class_id"] == two_shapes["tumour"]
    assert found["polygon"]["type"] == "Polygon" and polygon.is_valid
    # The whole L: its far end across the slide, not only the cells near the click.
    assert polygon.covers(box(2100, 690, 2140, 700)) and polygon.covers(box(690, 600, 710, 640))
    assert polygon.bounds[2] > 2150 and polygon.bounds[3] > 700
    # The union of the strokes, as shapely predicts (brush outlines are simplified, 1 %).
    assert found["area_px"] == pytest.approx(l_shape().area, rel=0.01)
    assert polygon.area == pytest.approx(found["area_px"], rel=1e-4)
    # Not the square of the same class elsewhere: the class total holds both.
    total = area_of(demo_server, slide, two_shapes["tumour"])
    assert total == pytest.approx(found["area_px"] + 200 * 200, rel=1e-9)
    assert found["area_um2"] == pytest.approx(found["area_px"] * 0.499 * 0.499, rel=0.01)
    assert len(polygon.interiors) == 0 and found["vertices"] >= 4
    # The same shape from another of its points (another cell, another stroke).
    again = find(demo_server, slide, 1800, 690)
    assert shape(again["polygon"]).equals_exact(polygon, 1e-6)
    square = find(demo_server, slide, 400, 1300)
    assert square["area_px"] == pytest.approx(40_000) and square["class_id"] == two_shapes["tumour"]
    assert find(demo_server, slide, 1000, 1300)["class_id"] == two_shapes["stroma"]


def test_a_point_on_no_label_is_404_and_bad_points_400(demo_server, slide, two_shapes):
    for x, y in ((1500, 1500), (-5, 10), (10, 99_999)):
        answer = find(demo_server, slide, x, y, expect=404)
        assert answer["error"] == "No label here"
    for params in ({"x": 10}, {"x": "a", "y": 3}, {"x": "nan", "y": 3}, {"x": "inf", "y": 1}):
        response = demo_server.get(annotations(slide) + "/shape", params=params)
        assert response.status_code == 400 and "must be a number" in response.json()["error"]


def test_delete_removes_exactly_the_shape_and_undo_redo(demo_server, slide, two_shapes):
    tumour, stroma = two_shapes["tumour"], two_shapes["stroma"]
    found = find(demo_server, slide, 120, 100)
    before = area_of(demo_server, slide, tumour), area_of(demo_server, slide, stroma)
    answer = edit(demo_server, slide, tool="shape", at=[120, 100], action="delete")
    assert answer["can_undo"] and answer["removed"] and not answer["features"]
    assert totals(answer)[tumour]["area_px"] == pytest.approx(40_000)
    assert set(totals(answer)) == {tumour}
    assert area_of(demo_server, slide, tumour) == pytest.approx(before[0] - found["area_px"])
    assert area_of(demo_server, slide, stroma) == before[1]
    # What is left of the class is exactly the other square.
    assert class_geometry(demo_server, slide, tumour).symmetric_difference(
        box(300, 1200, 500, 1400)
    ).area == pytest.approx(0, abs=1e-6)
    find(demo_server, slide, 1800, 690, expect=404)
    undone = step(demo_server, slide, "undo")
    assert totals(undone)[tumour]["area_px"] == pytest.approx(before[0])
    assert shape(find(demo_server, slide, 1800, 690)["polygon"]).equals_exact(
        shape(found["polygon"]), 1e-6
    )
    redone = step(demo_server, slide, "redo")
    assert totals(redone)[tumour]["area_px"] == pytest.approx(40_000)
    find(demo_server, slide, 120, 100, expect=404)


def test_recolor_moves_the_area_to_another_class(demo_server, slide, two_shapes):
    tumour, stroma = two_shapes["tumour"], two_shapes["stroma"]
    found = find(demo_server, slide, 400, 1300)  # the square
    before = area_of(demo_server, slide, tumour), area_of(demo_server, slide, stroma)
    answer = edit(
        demo_server, slide, tool="shape", at=[400, 1300], action="recolor", class_id=stroma
    )
    assert totals(answer)[tumour]["area_px"] == pytest.approx(before[0] - 40_000)
    assert totals(answer)[stroma]["area_px"] == pytest.approx(before[1] + 40_000)
    now = find(demo_server, slide, 400, 1300)
    assert now["class_id"] == stroma and now["area_px"] == pytest.approx(found["area_px"])
    assert class_geometry(demo_server, slide, stroma).area == pytest.approx(40_000 + 60_000)
    # The same class again changes nothing and makes no step.
    same = edit(demo_server, slide, tool="shape", at=[400, 1300], action="recolor", class_id=stroma)
    assert same["version"] == answer["version"] and same["features"] == []
    step(demo_server, slide, "undo")
    assert find(demo_server, slide, 400, 1300)["class_id"] == tumour
    assert area_of(demo_server, slide, stroma) == pytest.approx(before[1])
    step(demo_server, slide, "redo")
    assert find(demo_server, slide, 400, 1300)["class_id"] == stroma


def test_replace_with_a_moved_vertex_changes_the_area_as_shapely_predicts(
    demo_server, slide, two_shapes
):
    tumour, stroma = two_shapes["tumour"], two_shapes["stroma"]
    found = find(demo_server, slide, 400, 1300)
    ring = found["polygon"]["coordinates"][0][:-1]
    corner = min(range(len(ring)), key=lambda i: ring[i][0] + ring[i][1])  # (300, 1200)
    assert ring[corner] == [300, 1200]
    ring[corner] = [250, 1150]
    expected = Polygon(ring).area
    total = area_of(demo_server, slide, tumour)
    moved = {"type": "Polygon", "coordinates": [ring]}
    answer = edit(
        demo_server, slide, tool="shape", at=[400, 1300], action="replace", geometry=moved
    )
    assert expected > 40_000
    assert totals(answer)[tumour]["area_px"] == pytest.approx(total - 40_000 + expected)
    assert find(demo_server, slide, 400, 1300)["area_px"] == pytest.approx(expected)
    assert find(demo_server, slide, 270, 1170)["class_id"] == tumour
    # A replace that reaches another class takes its area, as the polygon tool does.
    wide = rect(300, 1200, 950, 1400)
    answer = edit(demo_server, slide, tool="shape", at=[400, 1300], action="replace", points=wide)
    assert totals(answer)[stroma]["area_px"] == pytest.approx(60_000 - 50 * 200)
    assert find(demo_server, slide, 400, 1300)["area_px"] == pytest.approx(650 * 200)
    step(demo_server, slide, "undo")
    assert area_of(demo_server, slide, stroma) == pytest.approx(60_000)
    step(demo_server, slide, "undo")
    assert find(demo_server, slide, 400, 1300)["area_px"] == pytest.approx(40_000)
    assert area_of(demo_server, slide, tumour) == pytest.approx(total)
    step(demo_server, slide, "redo")
    assert find(demo_server, slide, 400, 1300)["area_px"] == pytest.approx(expected)


def test_replace_keeps_holes_and_class_change(demo_server, slide, two_shapes):
    stroma = two_shapes["stroma"]
    outer, hole = rect(300, 1200, 500, 1400), rect(350, 1250, 450, 1350)
    geometry = {"type": "Polygon", "coordinates": [outer, hole]}
    answer = edit(
        demo_server,
        slide,
        tool="shape",
        at=[310, 1210],
        action="replace",
        geometry=geometry,
        class_id=stroma,
    )
    assert totals(answer)[stroma]["area_px"] == pytest.approx(60_000 + 30_000)
    found = find(demo_server, slide, 310, 1210)
    assert found["class_id"] == stroma and len(found["polygon"]["coordinates"]) == 2
    find(demo_server, slide, 400, 1300, expect=404)  # in the hole


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"tool": "shape", "action": "delete"}, 400, "needs at"),
        ({"tool": "shape", "at": [1, "x"], "action": "delete"}, 400, "needs at"),
        ({"tool": "shape", "at": [400, 1300], "action": "explode"}, 400, "Unknown shape action"),
        ({"tool": "shape", "at": [400, 1300], "action": "recolor"}, 400, "needs a class_id"),
        (
            {"tool": "shape", "at": [400, 1300], "action": "recolor", "class_id": 10**6},
            400,
            "Unknown class",
        ),
        ({"tool": "shape", "at": [400, 1300], "action": "replace"}, 400, "new outline"),
        (
            {"tool": "shape", "at": [400, 1300], "action": "replace", "points": [[1, 2]]},
            400,
            "at least 3",
        ),
        (
            {
                "tool": "shape",
                "at": [400, 1300],
                "action": "replace",
                "geometry": {"type": "Point", "coordinates": [1, 2]},
            },
            400,
            "new outline",
        ),
        (
            {
                "tool": "shape",
                "at": [400, 1300],
                "action": "replace",
                "points": rect(-90, -90, -10, -10),
            },
            400,
            "outside the slide",
        ),
        ({"tool": "shape", "at": [1500, 1500], "action": "delete"}, 404, "No label here"),
    ],
)
def test_bad_shape_edits_are_refused(demo_server, slide, two_shapes, body, status, words):
    version = demo_server.get(annotations(slide)).json()["version"]
    response = demo_server.post(annotations(slide) + "/edits", json=body)
    assert response.status_code == status, response.text
    assert words in response.json()["error"]
    assert demo_server.get(annotations(slide)).json()["version"] == version


def test_recolor_merges_with_a_touching_shape_and_corners_do_not_connect(demo_server, slide):
    tumour, stroma = new_class(demo_server, "Tumour")["id"], new_class(demo_server, "Stroma")["id"]
    for class_id, points in (
        (tumour, rect(1300, 2000, 1500, 2200)),
        (stroma, rect(1500, 2000, 1700, 2200)),  # shares the edge x = 1500
        (tumour, rect(1300, 2400, 1400, 2500)),
        (tumour, rect(1400, 2500, 1500, 2600)),  # meets the one above at a corner only
    ):
        edit(demo_server, slide, tool="polygon", class_id=class_id, points=points)
    assert find(demo_server, slide, 1350, 2450)["area_px"] == pytest.approx(10_000)
    assert find(demo_server, slide, 1450, 2550)["area_px"] == pytest.approx(10_000)
    edit(demo_server, slide, tool="shape", at=[1400, 2100], action="recolor", class_id=stroma)
    merged = find(demo_server, slide, 1400, 2100)
    assert merged["class_id"] == stroma and merged["area_px"] == pytest.approx(80_000)
    assert shape(merged["polygon"]).equals(box(1300, 2000, 1700, 2200))
    assert merged["vertices"] == 4  # one rectangle: no vertices left on the old edge
    assert area_of(demo_server, slide, tumour) == pytest.approx(20_000)


def test_a_large_shape_is_read_in_few_growing_windows():
    """The lookup on its own (no server): a wiggly disc over ~1,200 grid cells, found from
    its centre by reading windows that grow by half the shape's span each time."""
    import numpy as np
    import shapely

    from server.annotations.geometry import make_piece, split_into_cells
    from server.annotations.shapes import connected_shape, shape_changes

    angles = np.linspace(0, 2 * np.pi, 2000, endpoint=False)
    radius = 5000 + 200 * np.sin(23 * angles)
    disc = shapely.Polygon(np.c_[6000 + radius * np.cos(angles), 6000 + radius * np.sin(angles)])
    cells = split_into_cells(disc)
    pieces = {(1, cx, cy): (i, make_piece(g).wkb) for i, ((cx, cy), g) in enumerate(cells.items())}
    pieces[(1, 0, 0)] = (-1, make_piece(box(10, 10, 50, 50)).wkb)  # another shape of the class
    window, rounds = (23, 23, 23, 23), 0
    while True:
        rounds += 1
        rows = {k: v for k, v in pieces.items() if window[0] <= k[1] <= window[2]}
        rows = {k: v for k, v in rows.items() if window[1] <= k[2] <= window[3]}
        found = connected_shape(rows, (6000.5, 6000.5), window, (50, 50))
        if found.complete:
            break
        window = found.window
    assert rounds <= 8
    assert found.area == pytest.approx(disc.area, rel=1e-9)
    assert found.polygon.symmetric_difference(disc).area == pytest.approx(0, abs=1e-3)
    assert len(found.parts) == len(cells)  # every piece of the disc, not the small square
    changes, delta = shape_changes(rows, found, "delete")
    assert len(changes) == len(cells) and all(c.after is None for c in changes)
    polygons = sum(len(shapely.get_parts(g)) for g in cells.values())  # a few cells hold two
    assert len(delta.removed) == polygons and not delta.added
