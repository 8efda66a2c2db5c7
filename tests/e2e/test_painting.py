"""Painting in real Chromium: classes, brush, eraser, undo, polygon, lasso, ROI, live edits.

Mouse paths are planned in screen pixels of the viewer at a known zoom (10× on the 20×
demo slide: 0.5 screen px per level-0 px), so the expected labelled areas follow from
geometry: a brush stroke of radius r and length L covers 2·r·L + π·r².
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.e2e.app_page import (
    open_app,
    open_slide,
    stage_box,
    stage_pixels,
    view,
    wait_hash,
    wait_settled,
)
from tests.helpers import slide_id_by_name

DEMO = "CMU-1-Small-Region.svs"
ZOOM = 0.5
GREEN = "#00ff00"
BLUE = "#0000ff"


class Screen:
    """Maps points of the viewer area (CSS px) to page points and to level-0 pixels."""

    def __init__(self, page) -> None:
        box = stage_box(page)
        current = view(page)
        self.left, self.top = box["x"], box["y"]
        self.width, self.height = box["width"], box["height"]
        self.cx, self.cy, self.z = current["x"], current["y"], current["z"]

    def page_xy(self, x: float, y: float) -> tuple[float, float]:
        return self.left + x, self.top + y

    def image_xy(self, x: float, y: float) -> tuple[float, float]:
        return self.cx + (x - self.width / 2) / self.z, self.cy + (y - self.height / 2) / self.z


def drag(page, screen: Screen, points: list[tuple[float, float]], steps: int = 10) -> None:
    """Press at the first point, move through the others with real mouse events, release."""
    before = page.evaluate("() => window.slidelab.annotationsVersion()")
    page.mouse.move(*screen.page_xy(*points[0]))
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*screen.page_xy(*point), steps=steps)
    page.mouse.up()
    wait_version_after(page, before)


def wait_version_after(page, version: int) -> None:
    """Wait until the server answered an edit made after `version` and nothing is pending."""
    page.wait_for_function(
        "v => window.slidelab.annotationsVersion() > v && window.slidelab.saved()", arg=version
    )


def press(page, key: str) -> None:
    """A key press meant for the page (not for a focused field)."""
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.keyboard.press(key)


def add_class(page, name: str, color: str | None = None) -> None:
    """Add a class through the form; optionally recolour it with its colour picker."""
    page.get_by_test_id("new-class-name").fill(name)
    page.get_by_test_id("add-class").click()
    row = class_row(page, name)
    row.wait_for()
    if color:
        row.get_by_test_id("class-color").fill(color)
        page.wait_for_function(
            "([n, c]) => [...document.querySelectorAll('[data-testid=class-row]')].some("
            "r => r.textContent.includes(n) && r.querySelector('input[type=color]').value === c)",
            arg=[name, color],
        )


def class_row(page, name: str):
    """The class panel row of the class called exactly `name`."""
    return page.get_by_test_id("class-row").filter(has=page.get_by_text(name, exact=True))


def stored_areas(server, slide_id: str) -> dict[str, float]:
    summary = server.get(f"/api/slides/{slide_id}/annotations/summary").json()
    return {c["name"]: c["area_px"] for c in summary["classes"] if c["area_px"] > 0}


def stadium(radius: float, length: float) -> float:
    return 2 * radius * length + math.pi * radius**2


def colour_pixels(rgb: np.ndarray, hex_colour: str, tolerance: int = 60) -> np.ndarray:
    target = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])
    return np.abs(rgb - target).sum(axis=-1) < tolerance


def open_at_10x(page, server) -> Screen:
    open_app(page, server)
    open_slide(page, DEMO)
    page.get_by_test_id("mag-10").click()
    wait_settled(page)
    screen = Screen(page)
    assert screen.z == pytest.approx(ZOOM, rel=1e-3)
    return screen


def test_paint_erase_undo_reload(page, demo_server):
    """Two classes painted with the brush, part erased, the erase undone: areas and pixels."""
    slide_id = slide_id_by_name(demo_server, DEMO)
    screen = open_at_10x(page, demo_server)
    add_class(page, "Tumour", GREEN)
    add_class(page, "Stroma", BLUE)
    page.get_by_test_id("opacity").fill("100")
    page.get_by_test_id("brush-size").fill("20")  # radius 20 screen px = 40 level-0 px
    radius = 20 / ZOOM

    # Tumour: a horizontal stroke 240 screen px long.
    x0, y0 = 250, 300
    press(page, "1")
    press(page, "b")
    drag(page, screen, [(x0, y0), (x0 + 240, y0)])
    tumour = stadium(radius, 240 / ZOOM)
    assert stored_areas(demo_server, slide_id)["Tumour"] == pytest.approx(tumour, rel=0.01)

    # Stroma: a vertical stroke through the middle takes an 80 × 80 square from Tumour.
    press(page, "2")
    drag(page, screen, [(x0 + 120, y0 - 60), (x0 + 120, y0 + 60)])
    stroma = stadium(radius, 120 / ZOOM)
    tumour -= (2 * radius) ** 2
    areas = stored_areas(demo_server, slide_id)
    assert areas["Tumour"] == pytest.approx(tumour, rel=0.01)
    assert areas["Stroma"] == pytest.approx(stroma, rel=0.01)

    # Eraser (radius 20 level-0 px) across the Tumour band: removes a 40 × 80 rectangle.
    press(page, "e")
    page.get_by_test_id("brush-size").fill("10")
    eraser = 10 / ZOOM
    drag(page, screen, [(x0 + 40, y0 - 40), (x0 + 40, y0 + 40)])
    areas = stored_areas(demo_server, slide_id)
    assert areas["Tumour"] == pytest.approx(tumour - 2 * eraser * 2 * radius, rel=0.01)
    assert areas["Stroma"] == pytest.approx(stroma, rel=0.01)

    # Undo brings the erased part back; redo erases again; undo once more.
    erased = areas["Tumour"]
    for key, tumour_now in (
        ("Control+z", tumour),
        ("Control+Shift+z", erased),
        ("Control+z", tumour),
    ):
        before = page.evaluate("() => window.slidelab.annotationsVersion()")
        press(page, key)
        wait_version_after(page, before)
        assert stored_areas(demo_server, slide_id)["Tumour"] == pytest.approx(tumour_now, rel=0.01)
    areas = stored_areas(demo_server, slide_id)
    assert areas["Tumour"] == pytest.approx(tumour, rel=0.01)
    assert areas["Stroma"] == pytest.approx(stroma, rel=0.01)
    # The panel shows the area in µm² (0.499 µm/px): 37,027 px² ≈ 9,220 µm².
    shown = class_row(page, "Tumour").get_by_test_id("class-area").inner_text()
    assert shown.endswith(" µm²")
    assert float(shown.removesuffix(" µm²").replace(",", "")) == pytest.approx(
        tumour * 0.499**2, rel=0.01
    )

    # Reload: the same view (from the URL), the same labels drawn from the server.
    version = page.evaluate("() => window.slidelab.annotationsVersion()")
    wait_hash(page, z="0.5")
    page.reload()
    wait_settled(page)
    page.wait_for_function("v => window.slidelab.annotationsVersion() === v", arg=version)
    page.mouse.move(5, 5)  # no brush cursor over the viewer
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    rgb = stage_pixels(page)
    z2 = ZOOM**2
    green = colour_pixels(rgb, GREEN)
    blue = colour_pixels(rgb, BLUE)
    assert green.sum() == pytest.approx(tumour * z2, rel=0.04)
    assert blue.sum() == pytest.approx(stroma * z2, rel=0.04)
    # Where each stroke is: the crossing is Stroma, the once-erased spot Tumour again.
    assert blue[y0, x0 + 120] and green[y0, x0 + 40] and green[y0, x0 + 200]
    assert not green[y0 + 60, x0 + 40] and not blue[y0 + 100, x0 + 120]
    # Hiding one class hides its pixels only; "hide all" hides every label.
    class_row(page, "Stroma").get_by_test_id("class-visibility").click()
    rgb = stage_pixels(page)
    assert colour_pixels(rgb, BLUE).sum() == 0
    assert colour_pixels(rgb, GREEN).sum() == green.sum()
    class_row(page, "Stroma").get_by_test_id("class-visibility").click()
    page.get_by_test_id("toggle-annotations").click()
    rgb = stage_pixels(page)
    assert colour_pixels(rgb, GREEN).sum() == 0 and colour_pixels(rgb, BLUE).sum() == 0
    page.get_by_test_id("toggle-annotations").click()
    assert colour_pixels(stage_pixels(page), BLUE).sum() == blue.sum()
    # Areas in the class panel come from the server after the reload too.
    tumour_px = float(
        class_row(page, "Tumour").get_by_test_id("class-area").get_attribute("data-area-px")
    )
    assert tumour_px == pytest.approx(tumour, rel=0.01)


def test_polygon_lasso_roi_and_live_updates(page, demo_server):
    """Polygon, lasso and ROI tools; a second browser sees edits and class changes live."""
    slide_id = slide_id_by_name(demo_server, DEMO)
    screen = open_at_10x(page, demo_server)
    other = page.context.browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    wait_hash(page, z="0.5")
    other.goto(page.url)
    wait_settled(other)

    # A blank class name is refused with a message, not silently.
    page.get_by_test_id("new-class-name").fill("   ")
    page.get_by_test_id("add-class").click()
    page.locator("#toasts").get_by_text("cannot be blank").wait_for()

    add_class(page, "Gland")
    class_row(other, "Gland").wait_for()  # classes:changed reached the other browser
    class_row(page, "Gland").locator(".class-name").click()

    # Polygon: click four corners of a 100 × 80 screen px rectangle, Enter closes it.
    press(page, "p")
    before = page.evaluate("() => window.slidelab.annotationsVersion()")
    for x, y in [(150, 420), (250, 420), (250, 500), (150, 500)]:
        page.mouse.click(*screen.page_xy(x, y))
    page.keyboard.press("Enter")
    wait_version_after(page, before)
    polygon = (100 / ZOOM) * (80 / ZOOM)
    assert stored_areas(demo_server, slide_id)["Gland"] == pytest.approx(polygon, rel=0.001)

    # Lasso: a freehand triangle (base 120, height 90 screen px) is filled.
    press(page, "l")
    drag(page, screen, [(320, 500), (440, 500), (380, 410), (320, 500)])
    triangle = 0.5 * (120 / ZOOM) * (90 / ZOOM)
    expected = polygon + triangle
    assert stored_areas(demo_server, slide_id)["Gland"] == pytest.approx(expected, rel=0.01)

    # The other browser got both edits over Socket.IO, without reloading.
    other.wait_for_function(
        "([n, a]) => { const r = [...document.querySelectorAll('[data-testid=class-row]')]"
        ".find(r => r.textContent.includes(n));"
        " return r && Math.abs(Number(r.querySelector('[data-testid=class-area]')"
        ".dataset.areaPx) - a) < a * 0.01; }",
        arg=["Gland", expected],
    )

    # ROI rectangle: a dashed outline, listed in both browsers, stored as a 4-corner polygon.
    press(page, "r")
    drag(page, screen, [(120, 150), (300, 260)])
    other.get_by_test_id("roi-row").first.wait_for()
    features = demo_server.get(f"/api/slides/{slide_id}/annotations").json()["features"]
    rois = [f for f in features if f["properties"]["kind"] == "roi"]
    xs = [p[0] for p in rois[-1]["geometry"]["coordinates"][0]]
    ys = [p[1] for p in rois[-1]["geometry"]["coordinates"][0]]
    left, top = screen.image_xy(120, 150)
    right, bottom = screen.image_xy(300, 260)
    assert min(xs) == pytest.approx(left, abs=1) and max(xs) == pytest.approx(right, abs=1)
    assert min(ys) == pytest.approx(top, abs=1) and max(ys) == pytest.approx(bottom, abs=1)
    # Its size is listed in physical units, rounded: "180 × 110 screen px" in µm.
    mpp = demo_server.get(f"/api/slides/{slide_id}").json()["mpp"]
    listed = re.search(
        r"([\d.,]+) × ([\d.,]+) µm", page.get_by_test_id("roi-row").first.inner_text()
    )
    assert listed, page.get_by_test_id("roi-row").first.inner_text()
    width_um, height_um = (float(v.replace(",", "")) for v in listed.groups())
    assert width_um == pytest.approx((right - left) * mpp, rel=0.01)
    assert height_um == pytest.approx((bottom - top) * mpp, rel=0.01)

    # ROI polygon: click vertices, a double-click on the last one closes it.
    press(page, "o")
    before = page.evaluate("() => window.slidelab.annotationsVersion()")
    page.mouse.click(*screen.page_xy(500, 150))
    page.mouse.click(*screen.page_xy(600, 150))
    page.mouse.dblclick(*screen.page_xy(600, 250))
    wait_version_after(page, before)
    other.get_by_test_id("roi-row").nth(1).wait_for()
    summary = demo_server.get(f"/api/slides/{slide_id}/annotations/summary").json()
    assert summary["rois"] == 2

    # Rename in one browser shows in the other; delete asks first and removes the labels.
    class_row(page, "Gland").get_by_test_id("class-rename").click()
    page.get_by_test_id("class-name-input").fill("Gland epithelium")
    page.get_by_test_id("class-name-input").press("Enter")
    class_row(other, "Gland epithelium").wait_for()
    class_row(other, "Gland epithelium").get_by_test_id("class-delete").click()
    other.get_by_test_id("confirm-ok").click()
    class_row(page, "Gland epithelium").wait_for(state="detached")
    assert "Gland epithelium" not in stored_areas(demo_server, slide_id)
    other.context.close()


def test_geojson_and_mask_export_import(page, server_factory, tmp_path):
    """Export GeoJSON and label masks, import a QuPath-style file, undo the import."""
    server = server_factory()
    slide_id = slide_id_by_name(server, DEMO)
    ids = {
        name: server.post("/api/classes", json={"name": name}).json()["id"]
        for name in ("Alpha", "Beta")
    }
    rectangles = {"Alpha": (100, 100, 600, 400), "Beta": (1000, 1500, 1400, 1800)}
    for name, (x0, y0, x1, y1) in rectangles.items():
        corners = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
        edit = {"tool": "polygon", "class_id": ids[name], "points": corners}
        server.post(f"/api/slides/{slide_id}/annotations/edits", json=edit).raise_for_status()
    open_app(page, server)
    open_slide(page, DEMO)
    page.wait_for_function("() => window.slidelab.annotationsVersion() >= 2")

    with page.expect_download() as download:
        page.get_by_test_id("export-geojson").click()
    assert download.value.suggested_filename.endswith(".geojson")
    exported = json.loads(Path(download.value.path()).read_text())
    names = {f["properties"]["classification"]["name"] for f in exported["features"]}
    assert names == {"Alpha", "Beta"}

    page.get_by_test_id("mask-downsample").select_option("8")
    for fmt in ("png", "tiff"):
        page.get_by_test_id("mask-format").select_option(fmt)
        with page.expect_download() as download:
            page.get_by_test_id("export-mask").click()
        assert download.value.suggested_filename.endswith(f".{fmt}")
        mask = np.asarray(Image.open(download.value.path()))
        assert mask.shape == (math.ceil(2967 / 8), math.ceil(2220 / 8))
        for value, (x0, y0, x1, y1) in enumerate(rectangles.values(), start=1):
            assert (mask == value).sum() * 64 == pytest.approx((x1 - x0) * (y1 - y0), rel=0.03)

    # A QuPath export: the class is created, its colour kept, the slide's labels replaced.
    qupath = tmp_path / "qupath.geojson"
    square = [[200, 2000], [700, 2000], [700, 2400], [200, 2400], [200, 2000]]
    qupath.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": {"type": "Polygon", "coordinates": [square]},
                        "properties": {
                            "objectType": "annotation",
                            "classification": {"name": "Gland", "color": [255, 128, 0]},
                        },
                    }
                ],
            }
        )
    )
    import_file(page, qupath)
    page.get_by_test_id("confirm-ok").click()
    class_row(page, "Gland").wait_for()
    assert class_row(page, "Gland").get_by_test_id("class-color").input_value() == "#ff8000"
    page.wait_for_function("() => window.slidelab.saved()")
    assert stored_areas(server, slide_id) == {"Gland": pytest.approx(500 * 400)}

    before = page.evaluate("() => window.slidelab.annotationsVersion()")
    press(page, "Control+z")
    wait_version_after(page, before)
    assert stored_areas(server, slide_id) == {
        "Alpha": pytest.approx(500 * 300),
        "Beta": pytest.approx(400 * 300),
    }

    # Reorder (Gland, created by the import, stays last): Alpha moves below Beta.
    class_row(page, "Alpha").get_by_test_id("class-down").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=class-row] .class-name')]"
        ".map(n => n.textContent).join() === 'Beta,Alpha,Gland'"
    )
    assert [c["name"] for c in server.get("/api/classes").json()] == ["Beta", "Alpha", "Gland"]
    assert class_row(page, "Alpha").locator(".class-key").inner_text() == "2"

    # A file that is not GeoJSON: the server's message reaches the user, nothing changes.
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"hello": "world"}')
    import_file(page, wrong)
    page.get_by_test_id("confirm-ok").click()
    error = page.locator(".toast-error").filter(has_text="FeatureCollection")
    error.wait_for()
    assert len(stored_areas(server, slide_id)) == 2


def import_file(page, path: Path) -> None:
    """Click "Import GeoJSON…" and pick a file in the chooser."""
    with page.expect_file_chooser() as chooser:
        page.get_by_test_id("import-geojson").click()
    chooser.value.set_files(str(path))


def test_stroke_survives_a_server_restart(page, server_factory):
    """A stroke made while the server is down (killed) is kept and saved once it is back."""
    server = server_factory()
    slide_id = slide_id_by_name(server, DEMO)
    screen = open_at_10x(page, server)
    add_class(page, "Tumour")
    page.get_by_test_id("brush-size").fill("10")
    press(page, "b")

    server.stop(kill=True)
    page.wait_for_function(
        "() => ['disconnected', 'reconnecting'].includes("
        "document.getElementById('connection').dataset.state)"
    )
    page.mouse.move(*screen.page_xy(200, 300))
    page.mouse.down()
    page.mouse.move(*screen.page_xy(400, 300), steps=10)
    page.mouse.up()
    assert page.get_by_test_id("save-state").get_attribute("data-state") == "saving"
    server.start()
    page.wait_for_function("() => window.slidelab.saved()", timeout=30_000)
    page.wait_for_function(
        "() => document.getElementById('connection').dataset.state === 'connected'"
    )
    expected = stadium(10 / ZOOM, 200 / ZOOM)
    assert stored_areas(server, slide_id)["Tumour"] == pytest.approx(expected, rel=0.01)


def test_a_stroke_outside_the_slide_is_refused_with_a_message(page, server_factory):
    """A brush stroke wholly beside the slide paints nothing and says why."""
    server = server_factory()
    slide_id = slide_id_by_name(server, DEMO)
    open_app(page, server)
    open_slide(page, DEMO)
    wait_settled(page)
    screen = Screen(page)  # the whole slide fits: there is room beside it
    add_class(page, "Tumour")
    press(page, "1")
    press(page, "b")
    x = screen.width / 2 + (-300 - screen.cx) * screen.z  # 300 level-0 px left of the slide
    assert x > 10
    before = page.evaluate("() => window.slidelab.annotationsVersion()")
    page.mouse.move(*screen.page_xy(x, 300))
    page.mouse.down()
    page.mouse.move(*screen.page_xy(x, 420), steps=6)
    page.mouse.up()
    page.locator("#toasts").get_by_text("outside the slide").wait_for()
    assert page.evaluate("() => window.slidelab.annotationsVersion()") == before
    assert stored_areas(server, slide_id) == {}
