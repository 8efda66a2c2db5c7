"""Selecting and editing one annotation in real Chromium (issue 12): the Select tool (V)
outlines a clicked label's whole shape; Delete removes it, a class recolors it, dragging a
vertex reshapes it; Ctrl+Z restores. Checked on screen (pixels, the class panel's areas)
and in the store.

The view is the painting tests' 10× (0.5 screen px per level-0 px), so expected areas
follow from geometry.
"""

from __future__ import annotations

import pytest
from shapely.geometry import Polygon

from tests.e2e.app_page import TIMEOUT_MS, stage_pixels, wait_settled
from tests.e2e.test_painting import (
    BLUE,
    GREEN,
    ZOOM,
    Screen,
    add_class,
    class_row,
    colour_pixels,
    drag,
    open_at_10x,
    press,
    stadium,
    stored_areas,
    wait_version_after,
)
from tests.helpers import slide_id_by_name

DEMO = "CMU-1-Small-Region.svs"
OUTLINE = "#00e5ff"


def version(page) -> int:
    return page.evaluate("() => window.slidelab.annotationsVersion()")


def click(page, screen: Screen, x: float, y: float) -> None:
    page.mouse.click(*screen.page_xy(x, y))


def press_and_wait(page, key: str) -> None:
    """A key that changes the labels; waits for the server's answer."""
    before = version(page)
    press(page, key)
    wait_version_after(page, before)


def select_at(page, screen: Screen, x: float, y: float) -> None:
    """Click a label with the Select tool and wait until its box shows."""
    click(page, screen, x, y)
    page.get_by_test_id("selection").wait_for(state="visible", timeout=TIMEOUT_MS)
    page.get_by_test_id("selection-class").wait_for(timeout=TIMEOUT_MS)


def shown_area(page, name: str) -> float:
    """The area the class panel shows for a class, in px² (its data attribute)."""
    text = class_row(page, name).get_by_test_id("class-area").get_attribute("data-area-px")
    return float(text or 0)


def wait_shown_area(page, name: str, expected: float) -> None:
    page.wait_for_function(
        "([n, a]) => { const r = [...document.querySelectorAll('[data-testid=class-row]')]"
        ".find(r => r.textContent.includes(n));"
        " const v = r && Number(r.querySelector('[data-testid=class-area]').dataset.areaPx || 0);"
        " return r && Math.abs(v - a) <= Math.max(a * 0.002, 1); }",
        arg=[name, expected],
        timeout=TIMEOUT_MS,
    )


def region(rgb, x0: int, y0: int, x1: int, y1: int):
    return rgb[y0:y1, x0:x1]


def test_select_delete_recolor_and_move_a_vertex(page, demo_server):
    slide_id = slide_id_by_name(demo_server, DEMO)
    screen = open_at_10x(page, demo_server)
    add_class(page, "Tumour", GREEN)
    add_class(page, "Stroma", BLUE)
    page.get_by_test_id("opacity").fill("100")
    page.get_by_test_id("brush-size").fill("20")  # 40 level-0 px
    press(page, "1")

    # Shape A: a brush stroke; shape B: a rectangle drawn with the polygon tool.
    press(page, "b")
    drag(page, screen, [(100, 300), (300, 300)])
    stroke = stadium(20 / ZOOM, 200 / ZOOM)
    press(page, "p")
    corners = [(420, 250), (560, 250), (560, 400), (420, 400)]
    for x, y in corners:
        click(page, screen, x, y)
    press_and_wait(page, "Enter")
    rectangle = (140 / ZOOM) * (150 / ZOOM)
    assert stored_areas(demo_server, slide_id)["Tumour"] == pytest.approx(
        stroke + rectangle, rel=0.01
    )
    wait_shown_area(page, "Tumour", stored_areas(demo_server, slide_id)["Tumour"])

    # Select (V) the stroke: its outline is drawn and the box names its class and area.
    press(page, "v")
    assert page.get_by_test_id("tool-select").get_attribute("aria-pressed") == "true"
    select_at(page, screen, 200, 300)
    box = page.get_by_test_id("selection")
    assert box.get_by_test_id("selection-class").input_value() == str(
        class_id(demo_server, "Tumour")
    )
    wait_settled(page)
    rgb = stage_pixels(page)
    assert colour_pixels(region(rgb, 80, 270, 320, 330), OUTLINE, 90).sum() > 200
    assert colour_pixels(region(rgb, 400, 230, 580, 420), OUTLINE, 90).sum() == 0

    # Delete: the stroke's pixels lose the class colour, the panel's area drops by its area,
    # the rectangle stays.
    total = stored_areas(demo_server, slide_id)["Tumour"]
    press_and_wait(page, "Delete")
    box.wait_for(state="hidden", timeout=TIMEOUT_MS)
    after = stored_areas(demo_server, slide_id)["Tumour"]
    assert after == pytest.approx(rectangle, rel=1e-3)
    assert total - after == pytest.approx(stroke, rel=0.01)
    wait_shown_area(page, "Tumour", after)
    wait_settled(page)
    rgb = stage_pixels(page)
    assert colour_pixels(region(rgb, 130, 290, 270, 310), GREEN).mean() < 0.02
    assert colour_pixels(region(rgb, 440, 270, 540, 380), GREEN).mean() > 0.9

    # Ctrl+Z brings it back.
    press_and_wait(page, "Control+z")
    wait_shown_area(page, "Tumour", total)
    wait_settled(page)
    assert colour_pixels(region(stage_pixels(page), 130, 290, 270, 310), GREEN).mean() > 0.9

    # Recolor the rectangle with the box's class picker: its pixels turn blue.
    select_at(page, screen, 490, 320)
    before = version(page)
    box.get_by_test_id("selection-class").select_option(str(class_id(demo_server, "Stroma")))
    wait_version_after(page, before)
    page.wait_for_function(
        "v => document.querySelector('[data-testid=selection-class]')?.value === v",
        arg=str(class_id(demo_server, "Stroma")),
        timeout=TIMEOUT_MS,
    )
    assert stored_areas(demo_server, slide_id)["Stroma"] == pytest.approx(rectangle, rel=1e-3)
    wait_shown_area(page, "Stroma", rectangle)
    wait_shown_area(page, "Tumour", total - rectangle)
    wait_settled(page)
    rgb = stage_pixels(page)
    assert colour_pixels(region(rgb, 440, 270, 540, 380), BLUE).mean() > 0.9
    assert colour_pixels(region(rgb, 130, 290, 270, 310), GREEN).mean() > 0.9
    # …and back with its number key, still selected.
    press_and_wait(page, "1")
    assert "Stroma" not in stored_areas(demo_server, slide_id)
    wait_settled(page)
    assert colour_pixels(region(stage_pixels(page), 440, 270, 540, 380), GREEN).mean() > 0.9

    # Drag its top-left vertex up and left: the area grows by what shapely says.
    page.wait_for_function(
        "() => document.querySelector('[data-testid=selection-hint]')"
        "?.textContent.includes('Drag a vertex')",
        timeout=TIMEOUT_MS,
    )
    ring = [screen.image_xy(x, y) for x, y in corners]
    ring[0] = screen.image_xy(380, 200)
    expected = Polygon(ring).area
    before = version(page)
    page.mouse.move(*screen.page_xy(420, 250))
    page.mouse.down()
    page.mouse.move(*screen.page_xy(380, 200), steps=8)
    page.mouse.up()
    wait_version_after(page, before)
    areas = stored_areas(demo_server, slide_id)
    assert areas["Tumour"] - stroke == pytest.approx(expected, rel=0.01)
    assert expected > rectangle * 1.1
    wait_shown_area(page, "Tumour", areas["Tumour"])
    wait_settled(page)
    rgb = stage_pixels(page)
    # Inside the new corner's triangle, outside the old rectangle: now the class colour.
    assert colour_pixels(region(rgb, 405, 240, 415, 248), GREEN).mean() > 0.8
    # Still selected, with its new outline.
    assert page.get_by_test_id("selection").is_visible()

    # Ctrl+Z restores the rectangle.
    press_and_wait(page, "Control+z")
    assert stored_areas(demo_server, slide_id)["Tumour"] - stroke == pytest.approx(
        rectangle, rel=0.01
    )
    wait_settled(page)
    assert colour_pixels(region(stage_pixels(page), 405, 240, 415, 248), GREEN).mean() < 0.05

    # Esc drops the selection; a click on no label selects nothing.
    press(page, "Escape")
    box.wait_for(state="hidden", timeout=TIMEOUT_MS)
    click(page, screen, 200, 550)
    page.wait_for_timeout(300)
    assert not box.is_visible()


def test_select_and_delete_an_roi(page, demo_server):
    slide_id = slide_id_by_name(demo_server, DEMO)
    screen = open_at_10x(page, demo_server)
    press(page, "r")
    drag(page, screen, [(150, 450), (300, 550)])
    rois = roi_ids(demo_server, slide_id)
    assert len(rois) == 1
    press(page, "v")
    click(page, screen, 225, 500)  # no label here: the ROI around the point is selected
    box = page.get_by_test_id("selection")
    box.wait_for(state="visible", timeout=TIMEOUT_MS)
    assert box.inner_text().startswith(f"ROI {rois[0]}")
    press_and_wait(page, "Delete")
    box.wait_for(state="hidden", timeout=TIMEOUT_MS)
    assert roi_ids(demo_server, slide_id) == []
    press_and_wait(page, "Control+z")
    assert roi_ids(demo_server, slide_id) == rois


def roi_ids(server, slide_id: str) -> list[int]:
    collection = server.get(f"/api/slides/{slide_id}/annotations").json()
    return [
        f["properties"]["roi_id"]
        for f in collection["features"]
        if f["properties"]["kind"] == "roi"
    ]


def class_id(server, name: str) -> int:
    return next(c["id"] for c in server.get("/api/classes").json() if c["name"] == name)
