"""Active learning in real Chromium (issue 11): the magic wand, the uncertainty overlay, the
"label next" queue and accepting a prediction as labels."""

from __future__ import annotations

import pytest

from tests.e2e.app_page import TIMEOUT_MS, open_app, open_slide, stage_box, stage_pixels
from tests.e2e.test_painting import press, stored_areas, wait_version_after
from tests.helpers import slide_id_by_name

DEMO = "CMU-1-Small-Region.svs"
EPIDERMIS = (1200, 1400)  # level-0 px: the dark purple band in the middle of the section
GREEN = "#00ff00"


def set_view(page, x: float, y: float, z: float) -> None:
    """Centre the viewer on level-0 (x, y) at zoom z and wait until the tiles are drawn."""
    page.evaluate("v => window.slidelab.setView(v, true)", {"x": x, "y": y, "z": z})
    page.wait_for_function("() => window.slidelab.settled()", timeout=TIMEOUT_MS)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def click_image(page, x: float, y: float) -> None:
    """A real mouse click on the level-0 point (x, y)."""
    sx, sy = page.evaluate("([x, y]) => window.slidelab.toScreen(x, y)", [x, y])
    box = stage_box(page)
    page.mouse.click(box["x"] + sx, box["y"] + sy)


def wand_layer(page) -> dict:
    """The wand layer's state, the request its outline answers, its area and drawn pixels."""
    return page.evaluate(
        """() => {
            const c = document.querySelector('[data-testid=wand-layer]');
            const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let drawn = 0, white = 0;
            for (let i = 0; i < data.length; i += 4) {
                if (data[i + 3] > 0) drawn += 1;
                if (data[i + 3] > 200 && data[i] > 240 && data[i + 1] > 240 && data[i + 2] > 240)
                    white += 1;
            }
            return {state: c.dataset.state, request: c.dataset.request,
                    area: Number(c.dataset.area || 0), drawn, white};
        }"""
    )


def wait_wand_shown(page, other_than: str = "") -> dict:
    """Wait until the wand shows an outline answering a request other than `other_than`."""
    page.wait_for_function(
        """(old) => {
            const c = document.querySelector('[data-testid=wand-layer]');
            return c.dataset.state === 'shown' && c.dataset.request !== old;
        }""",
        arg=other_than,
        timeout=TIMEOUT_MS,
    )
    return wand_layer(page)


def test_magic_wand_outline_tolerance_commit_and_undo(page, server_factory):
    """W, a click on the epidermis: a dashed outline on screen whose area is the API's; a
    larger tolerance grows it; Enter adds it as a label of the current class; undo removes it."""
    server = server_factory()
    slide_id = slide_id_by_name(server, DEMO)
    answer = server.post("/api/classes", json={"name": "Epidermis", "color": GREEN})
    assert answer.status_code == 201, answer.text
    open_app(page, server)
    open_slide(page, DEMO)
    set_view(page, *EPIDERMIS, 0.5)

    press(page, "w")
    assert page.get_by_test_id("tool-wand").get_attribute("aria-pressed") == "true"
    set_view(page, *EPIDERMIS, 0.5)
    before = stage_pixels(page)
    tolerance = page.get_by_test_id("wand-tolerance")
    assert tolerance.is_visible()
    assert tolerance.input_value() == "20"
    click_image(page, *EPIDERMIS)
    shown = wait_wand_shown(page)
    assert shown["drawn"] > 2000, shown  # outline and its faint fill
    assert shown["white"] > 100, shown  # the dashed white line
    page.wait_for_timeout(100)
    changed = (abs(stage_pixels(page) - before).max(axis=-1) > 30).sum()
    assert changed > 1000, f"only {changed} screen pixels changed"
    api = server.get(shown["request"]).json()
    assert shown["area"] == pytest.approx(api["area_px"])
    assert 2_000 < api["area_px"] < 3_000_000
    assert "tolerance=20" in shown["request"]
    assert "downsample=2&" in shown["request"]  # zoom 0.5: 2 level-0 px per screen px

    tolerance.fill("40")
    wider = wait_wand_shown(page, shown["request"])
    assert "tolerance=40" in wider["request"]
    assert wider["area"] > shown["area"]
    assert page.get_by_test_id("wand-tolerance-label").inner_text() == "40"

    version = page.evaluate("() => window.slidelab.annotationsVersion()")
    press(page, "Enter")
    wait_version_after(page, version)
    assert wand_layer(page)["state"] == "none"
    areas = stored_areas(server, slide_id)
    assert areas["Epidermis"] == pytest.approx(wider["area"], rel=0.01)

    version = page.evaluate("() => window.slidelab.annotationsVersion()")
    press(page, "Control+z")
    wait_version_after(page, version)
    assert "Epidermis" not in stored_areas(server, slide_id)

    # Escape drops an outline without adding anything; a click inside one commits it.
    click_image(page, *EPIDERMIS)
    wait_wand_shown(page)
    press(page, "Escape")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=wand-layer]').dataset.state === 'none'"
    )
    click_image(page, *EPIDERMIS)
    again = wait_wand_shown(page)
    version = page.evaluate("() => window.slidelab.annotationsVersion()")
    click_image(page, *EPIDERMIS)
    wait_version_after(page, version)
    assert stored_areas(server, slide_id)["Epidermis"] == pytest.approx(again["area"], rel=0.01)
