"""Edit answers carry the change, not the slide's labels; GeoJSON import resolves overlaps in
feature order; class totals are kept as running sums.

Run on the annotation service with a real store and the demo slide (no HTTP: the API
tests cover the routes); `Mirror` applies answers as a client does and must end where a
fresh `form=parts` collection is.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, Polygon, box, shape

from server.annotations import classes
from server.annotations import repository as repo
from server.annotations.geometry import CELL, make_piece
from server.annotations.parts import cell_delta
from server.annotations.repository import CellChange
from server.store import Store
from tests.annotation_support import make_service


@pytest.fixture
def service(tmp_path):
    """The annotation service on its own store."""
    return make_service(tmp_path)


@pytest.fixture
def entry(service):
    """The demo slide."""
    return next(e for e in service.ctx.library.list() if e.readable)


class Mirror:
    """What a client holds: the `parts` collection, brought forward by answers."""

    def __init__(self, collection: dict) -> None:
        self.version = collection["version"]
        self.features = {f["id"]: f for f in collection["features"]}
        self.areas = {c["class_id"]: c["area_px"] for c in collection["classes"]}

    def apply(self, answer: dict) -> None:
        """Apply one answer; every id it removes is held, every feature it adds is new."""
        assert answer["version"] >= self.version
        for feature_id in answer["removed"]:
            assert feature_id in self.features, feature_id
            del self.features[feature_id]
        for feature in answer["features"]:
            assert feature["id"] not in self.features, feature["id"]
            self.features[feature["id"]] = feature
        for entry in answer["classes"]:
            self.areas[entry["class_id"]] = entry["area_px"]
        self.version = answer["version"]


def parts(service, entry) -> dict:
    return json.loads(service.collection(entry, "parts"))


def edit(service, entry, **body) -> dict:
    return json.loads(service.edit(entry, body))


def nucleus(x: float, y: float, r: float = 7.0) -> list[list[float]]:
    angles = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    return np.round(np.stack([x + r * np.cos(angles), y + r * np.sin(angles)], 1), 2).tolist()


def nuclei_doc(centres, name: str) -> dict:
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
                "properties": {"classification": {"name": name}},
            }
            for ring in (nucleus(x, y) for x, y in centres)
        ],
    }


def test_applying_answers_to_the_parts_collection_gives_the_new_collection(service, entry):
    tumour = classes.create_class(service.store, "Tumour")["id"]
    stroma = classes.create_class(service.store, "Stroma")["id"]
    mirror = Mirror(parts(service, entry))
    steps = [
        lambda: edit(
            service,
            entry,
            tool="polygon",
            class_id=tumour,
            points=[[100, 100], [700, 120], [400, 650]],
        ),
        lambda: edit(
            service, entry, tool="brush", class_id=stroma, points=[[0, 300], [900, 330]], radius=40
        ),
        lambda: edit(service, entry, tool="roi", points=[[50, 50], [300, 50], [300, 300]]),
        lambda: edit(service, entry, tool="eraser", points=[[400, 0], [420, 900]], radius=25),
        lambda: edit(
            service, entry, tool="brush", class_id=tumour, points=[[1000, 1000]], radius=9
        ),
        lambda: json.loads(service.undo(entry, None)),
        lambda: json.loads(service.undo(entry, None)),
        lambda: json.loads(service.undo(entry, None, redo=True)),
        lambda: edit(
            service,
            entry,
            tool="polygon",
            class_id=stroma,
            points=[[200, 200], [600, 200], [600, 500]],
        ),
    ]
    for step in steps:
        answer = step()
        mirror.apply(answer)
        fresh = parts(service, entry)
        assert mirror.version == fresh["version"]
        assert mirror.features == {f["id"]: f for f in fresh["features"]}
        assert mirror.areas == pytest.approx(
            {c["class_id"]: c["area_px"] for c in fresh["classes"]}
        )
        # Every changed polygon lies in the answer's bounds.
        for feature in answer["features"]:
            if feature["properties"]["kind"] == "label":
                x0, y0, x1, y1 = shape(feature["geometry"]).bounds
                bx0, by0, bx1, by1 = answer["bounds"]
                assert bx0 <= x0 and by0 <= y0 and x1 <= bx1 and y1 <= by1
    # The parts of a class are its labels: their union is the class feature of the v1 form.
    by_class = json.loads(service.collection(entry))
    for feature in by_class["features"]:
        if feature["properties"]["kind"] != "label":
            continue
        cid = feature["properties"]["class_id"]
        held = [
            shape(f["geometry"])
            for f in mirror.features.values()
            if f["properties"].get("class_id") == cid
        ]
        union = shapely.union_all(held)
        assert union.symmetric_difference(shape(feature["geometry"])).area < 1e-3
        assert feature["properties"]["area_px"] == pytest.approx(mirror.areas[cid])


def test_an_edit_answers_the_same_on_a_full_slide_as_on_an_empty_one(service, entry):
    cls = classes.create_class(service.store, "Nuclei")["id"]
    probe = nucleus(1300, 1310, 9)
    empty = edit(service, entry, tool="polygon", class_id=cls, points=probe)
    service.undo(entry, None)
    # 400 nuclei 30 px apart in 600 × 600 px: up to ~80 polygons in one 256-px cell.
    centres = [(1000 + 30 * i, 1000 + 30 * j) for i in range(20) for j in range(20)]
    centres = [c for c in centres if math.dist(c, (1300, 1310)) > 25]
    service.replace(entry, nuclei_doc(centres, "Nuclei"), None)
    full = edit(service, entry, tool="polygon", class_id=cls, points=probe)
    assert full["features"] == empty["features"] and full["removed"] == [] == empty["removed"]
    assert full["bounds"] == empty["bounds"]
    (total,) = full["classes"]
    assert total["area_px"] == pytest.approx(
        Polygon(probe).area + len(centres) * Polygon(nucleus(0, 0)).area, rel=1e-6
    )
    text_full = service.edit(entry, {"tool": "polygon", "class_id": cls, "points": probe})
    assert len(text_full) < 2_000  # an unchanged repaint: no features at all

    # An eraser stroke through the field removes exactly the nuclei it reaches.
    line = [[990, 1120], [1610, 1120]]
    erased = edit(service, entry, tool="eraser", points=line, radius=4)
    stroke = LineString(line).buffer(4)
    hit = [c for c in centres if Polygon(nucleus(*c)).intersects(stroke)]
    cells_hit = sum(
        len({(math.floor(x / CELL), math.floor(y / CELL)) for x, y in nucleus(*c)}) for c in hit
    )
    assert len(hit) == 20
    assert len(hit) <= len(erased["removed"]) <= cells_hit
    assert all(f["properties"]["class_id"] == cls for f in erased["features"])
    assert len(erased["features"]) <= 2 * len(erased["removed"])  # each cut nucleus: two halves


def test_unchanged_polygons_keep_their_ids_and_a_new_one_is_the_whole_delta():
    cell = shapely.union_all(
        [Polygon(nucleus(10 + 20 * i, 10 + 20 * j)) for i in range(10) for j in range(10)]
    )
    key = (1, 0, 0)
    from server.annotations.geometry import apply_shape

    painted = apply_shape({key: cell}, Polygon(nucleus(205, 205)), 1)
    delta = cell_delta(key, cell, painted[key])
    assert len(delta.added) == 1 and delta.removed == []
    assert delta.added[0].area == pytest.approx(Polygon(nucleus(0, 0)).area)
    assert delta.bounds == pytest.approx([198.0, 198.0, 212.0, 212.0], abs=0.1)
    # Taking a bite out of one nucleus changes that one only.
    bitten = apply_shape({key: painted[key]}, box(8, 8, 12, 12), None)
    delta = cell_delta(key, painted[key], bitten[key])
    assert len(delta.removed) == 1 and len(delta.added) == 1


def line_of(x: float) -> list[list[float]]:
    return [[x, 100], [x + 300, 100], [x + 300, 400], [x, 400]]


def test_import_resolves_overlaps_in_feature_order_like_a_sequence_of_edits(service, entry):
    # A (Tumour), then B (Stroma) over A's right half, then C (Tumour) over B's right half.
    shapes = [("Tumour", line_of(100)), ("Stroma", line_of(250)), ("Tumour", line_of(400))]
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
                "properties": {"classification": {"name": name}},
            }
            for name, ring in shapes
        ],
    }
    service.replace(entry, doc, None)
    ids = {c["name"]: c["id"] for c in classes.list_classes(service.store)}
    imported = repo.label_geometries(service.store, entry.id)
    # The later feature wins: C keeps 400..700, B keeps only 250..400, A keeps 100..250.
    assert imported[ids["Tumour"]].area == pytest.approx(150 * 300 + 300 * 300)
    assert imported[ids["Stroma"]].area == pytest.approx(150 * 300)
    assert imported[ids["Stroma"]].equals(box(250, 100, 400, 400))

    service.replace(entry, {"type": "FeatureCollection", "features": []}, None)
    for name, ring in shapes:
        edit(service, entry, tool="polygon", class_id=ids[name], points=ring)
    edited = repo.label_geometries(service.store, entry.id)
    assert set(edited) == set(imported)
    for cid, geom in edited.items():
        assert geom.symmetric_difference(imported[cid]).area < 1e-6


def totals_match_sums(store: Store, slide_id: str) -> None:
    sums = store.query(
        "SELECT class_id, SUM(area) FROM annotation_pieces WHERE slide_id = ? AND live = 1"
        " GROUP BY class_id",
        (slide_id,),
    )
    assert repo.class_areas(store, slide_id) == pytest.approx({r[0]: r[1] for r in sums})


def test_class_totals_are_running_sums_kept_by_every_write(service, entry):
    store = service.store
    a = classes.create_class(store, "A")["id"]
    b = classes.create_class(store, "B")["id"]
    edit(service, entry, tool="polygon", class_id=a, points=line_of(100))
    edit(service, entry, tool="brush", class_id=b, points=[[0, 250], [900, 250]], radius=30)
    totals_match_sums(store, entry.id)
    assert repo.class_area(store, entry.id, a) == pytest.approx(
        box(100, 100, 400, 400).difference(LineString([[0, 250], [900, 250]]).buffer(30)).area,
        rel=1e-3,
    )
    service.undo(entry, None)
    totals_match_sums(store, entry.id)
    assert repo.class_area(store, entry.id, a) == pytest.approx(90_000)
    assert repo.class_area(store, entry.id, b) == 0.0
    service.undo(entry, None, redo=True)
    edit(service, entry, tool="eraser", points=[[0, 0], [2000, 2000]], radius=2000)
    assert repo.class_areas(store, entry.id) == {}  # emptied classes read exactly 0
    service.undo(entry, None)
    totals_match_sums(store, entry.id)
    service.delete_class(b)
    totals_match_sums(store, entry.id)
    assert set(repo.class_areas(store, entry.id)) == {a}


def test_class_totals_are_filled_in_for_a_database_made_before_them(tmp_path):
    path = tmp_path / "db.sqlite3"
    store = Store(path)
    a = classes.create_class(store, "A")["id"]
    repo.replace_label_geometry(store, "s", a, box(0, 0, 600, 300))
    store.execute("DROP TABLE annotation_totals")
    store.execute("DROP TRIGGER annotation_totals_insert")
    with store.transaction() as conn:  # a write the old code made (no totals kept)
        repo.write_changes(
            conn, "s", [CellChange(a, 9, 9, None, make_piece(box(2304, 2304, 2305, 2305)))]
        )
    reopened = Store(path)
    assert repo.class_areas(reopened, "s") == pytest.approx({a: 600 * 300 + 1})
