"""Issue 12, display and navigation aids in real Chromium: the keyboard-shortcut sheet
(`?`), labels as outlines over a result, the tissue mask shown and tuned, brightness and
contrast of the slide, and a ruler. Each is driven as a user would and checked on screen."""

from __future__ import annotations

import numpy as np
from PIL import Image

from tests.e2e.app_page import (
    TIMEOUT_MS,
    open_app,
    open_slide,
    stage_box,
    stage_pixels,
    view,
    wait_settled,
)
from tests.e2e.test_inference_ui import rgb, train_app, wait_overlay
from tests.e2e.test_training_ui import BACKGROUND_COLOR, TISSUE_COLOR, label_demo_slide


def test_shortcut_sheet_lists_every_registered_key(page, demo_server):
    """`?` opens a sheet that lists every registered shortcut under its group; Esc closes it;
    the "?" button opens it too; while open, keys do not reach the tools."""
    open_app(page, demo_server)
    open_slide(page)
    registered = page.evaluate("() => window.slidelab.shortcuts()")
    assert len(registered) >= 15, registered
    groups = {s["group"] for s in registered}
    assert {"General", "View", "Tools", "Painting", "Classes"} <= groups, groups

    sheet = page.get_by_test_id("shortcut-sheet")
    assert not sheet.is_visible()
    page.get_by_test_id("viewer-stage").click(position={"x": 30, "y": 30})
    page.keyboard.press("?")
    sheet.wait_for(state="visible", timeout=TIMEOUT_MS)
    box = sheet.bounding_box()
    assert box["width"] > 400 and box["height"] > 200, box
    shown_groups = sheet.locator(".shortcut-group h4").all_inner_texts()
    assert {g.upper() for g in groups} == {g.upper() for g in shown_groups}
    # Every registered shortcut is one line of the sheet, under its own group.
    for entry in registered:
        section = sheet.locator(f'.shortcut-group[data-group="{entry["group"]}"]')
        assert section.locator("dd", has_text=entry["description"]).count() >= 1, entry
    assert sheet.locator("dd").count() == len(registered)
    zoom_row = sheet.locator('.shortcut-group[data-group="View"] dd', has_text="Zoom in")
    keys = zoom_row.locator("xpath=preceding-sibling::dt[1]").locator("kbd").all_inner_texts()
    assert keys == ["+", "="], keys
    undo = sheet.locator("dd", has_text="Undo").locator("xpath=preceding-sibling::dt[1]")
    assert undo.inner_text() in ("Ctrl+Z", "⌘+Z"), undo.inner_text()
    brush = sheet.locator('.shortcut-group[data-group="Tools"] dd', has_text="Brush")
    assert brush.locator("xpath=preceding-sibling::dt[1]").inner_text() == "B"

    # While the sheet is open, keys are not shortcuts: B does not pick the brush.
    page.keyboard.press("b")
    assert page.get_by_test_id("tool-brush").get_attribute("aria-pressed") == "false"
    page.keyboard.press("Escape")
    sheet.wait_for(state="hidden", timeout=TIMEOUT_MS)

    # Closed, the registered keys act again: B picks the brush, + zooms in.
    page.keyboard.press("b")
    assert page.get_by_test_id("tool-brush").get_attribute("aria-pressed") == "true"
    zoom = view(page)["z"]
    page.keyboard.press("v")
    page.keyboard.press("+")
    page.wait_for_function(f"() => window.slidelab.view().z > {zoom} * 1.2", timeout=TIMEOUT_MS)

    # The small "?" button in the top bar opens the same sheet; its Close button shuts it.
    page.get_by_test_id("shortcut-sheet-button").click()
    sheet.wait_for(state="visible", timeout=TIMEOUT_MS)
    assert sheet.locator("dd", has_text="Show this list of keyboard shortcuts").count() == 1
    page.get_by_test_id("shortcut-sheet-close").click()
    sheet.wait_for(state="hidden", timeout=TIMEOUT_MS)


MARK_COLOR = "#ff00ff"
# A label square spanning several 256-px grid cells (it is stored as 9 cell pieces).
MARK = (300, 700, 600, 600)


def screen_box(page, box: tuple[int, int, int, int]) -> tuple[float, float, float, float]:
    """A level-0 box on screen, relative to the viewer stage: (left, top, right, bottom)."""
    x, y, w, h = box
    (left, top), (right, bottom) = page.evaluate(
        "([x0, y0, x1, y1]) =>"
        " [window.slidelab.toScreen(x0, y0), window.slidelab.toScreen(x1, y1)]",
        [x, y, x + w, y + h],
    )
    return left, top, right, bottom


def near(pixels: np.ndarray, color: str, tolerance: int = 60) -> np.ndarray:
    """Which pixels are within `tolerance` of a colour (per channel)."""
    return np.abs(pixels - rgb(color)).max(axis=-1) <= tolerance


def test_labels_are_outlines_over_a_result(page, server_factory):
    """With a result shown, a label is drawn as the outline of its whole shape in its class
    colour: inside it the result's colours, on its border the label's colour, no grid-cell
    seams; Shift+A flips to filled, then hidden; the toolbar choice sets it back."""
    server = server_factory()
    slide_id, class_ids = label_demo_slide(server)
    app_id = train_app(server, slide_id, class_ids)
    answer = server.post("/api/classes", json={"name": "Mark", "color": MARK_COLOR})
    assert answer.status_code == 201, answer.text
    x, y, w, h = MARK
    square = [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]
    edit = {"tool": "polygon", "class_id": answer.json()["id"], "points": square}
    assert server.post(f"/api/slides/{slide_id}/annotations/edits", json=edit).ok

    open_app(page, server)
    open_slide(page)
    page.evaluate("() => window.slidelab.setView({x: 600, y: 1000, z: 0.5})")
    wait_settled(page)
    toolbar = page.locator("#toolbar")
    assert toolbar.get_attribute("data-label-style") == "filled"
    left, top, right, bottom = screen_box(page, MARK)
    inner = (slice(int(top) + 6, int(bottom) - 6), slice(int(left) + 6, int(right) - 6))
    before = stage_pixels(page)
    # Filled (no result yet): the whole square is tinted with the label colour.
    tinted = before[inner][..., 0] - before[inner][..., 1]
    assert (tinted > 60).mean() > 0.9, "a filled label tints its inside"

    panel = page.locator("#inference-panel")
    page.wait_for_function(
        "(id) => document.querySelector('#inference-panel .inf-apps').dataset.value === String(id)",
        arg=app_id,
        timeout=TIMEOUT_MS,
    )
    panel.locator("input[name=inf-region][value=view]").check()
    panel.locator(".inf-apply").click()
    wait_overlay(page, "threshold=0&")
    panel.locator(".inf-opacity").fill("100")
    page.wait_for_function(
        "() => document.getElementById('toolbar').dataset.labelStyle === 'outline'",
        timeout=TIMEOUT_MS,
    )
    page.wait_for_timeout(400)
    shown = stage_pixels(page)
    inside = shown[inner]
    result_colours = near(inside, TISSUE_COLOR) | near(inside, BACKGROUND_COLOR)
    assert result_colours.mean() > 0.97, f"result colours on {result_colours.mean():.1%} inside"
    assert near(inside, MARK_COLOR).mean() < 0.002, "no label colour inside the outline"
    # The grid lines the label is cut along (x and y = 512, 768, 1024, 1280) show no seam.
    for gx in (512, 768):
        column = int(round(page.evaluate(f"() => window.slidelab.toScreen({gx}, 0)[0]")))
        assert not near(shown[inner[0], column - 1 : column + 2], MARK_COLOR).any(), gx
    for gy in (768, 1024, 1280):
        row_ = int(round(page.evaluate(f"() => window.slidelab.toScreen(0, {gy})[1]")))
        assert not near(shown[row_ - 1 : row_ + 2, inner[1]], MARK_COLOR).any(), gy
    # Its border: the label colour all round, at the square's edge (within a few pixels).
    span_y, span_x = slice(int(top) + 4, int(bottom) - 4), slice(int(left) + 4, int(right) - 4)
    t, b, lft, rgt = int(round(top)), int(round(bottom)), int(round(left)), int(round(right))
    edges = {
        "left": near(shown[span_y, lft - 3 : lft + 4], MARK_COLOR).any(axis=1),
        "right": near(shown[span_y, rgt - 4 : rgt + 3], MARK_COLOR).any(axis=1),
        "top": near(shown[t - 3 : t + 4, span_x], MARK_COLOR).any(axis=0),
        "bottom": near(shown[b - 4 : b + 3, span_x], MARK_COLOR).any(axis=0),
    }
    if not all(found.mean() > 0.95 for found in edges.values()):
        Image.fromarray(shown.astype(np.uint8)).save("/tmp/outline-failure.png")
    for side, found in edges.items():
        assert found.mean() > 0.95, f"{side} edge in the label colour ({found.mean():.0%})"

    # Shift+A: filled over the result; again: hidden; the toolbar choice: outlines again.
    page.keyboard.press("Shift+A")
    page.wait_for_function(
        "() => document.getElementById('toolbar').dataset.labelStyle === 'filled'",
        timeout=TIMEOUT_MS,
    )
    page.wait_for_timeout(300)
    filled = stage_pixels(page)[inner]
    assert (near(filled, TISSUE_COLOR) | near(filled, BACKGROUND_COLOR)).mean() < 0.5
    page.keyboard.press("Shift+A")
    page.wait_for_function(
        "() => document.getElementById('toolbar').dataset.labelStyle === 'hidden'",
        timeout=TIMEOUT_MS,
    )
    page.wait_for_timeout(300)
    hidden = stage_pixels(page)
    assert near(hidden[span_y, int(left) + 1], MARK_COLOR).mean() < 0.05, "no label drawn"
    page.get_by_test_id("label-mode").select_option("outline")
    page.wait_for_timeout(300)
    again = stage_pixels(page)
    assert near(again[span_y, int(left) + 1], MARK_COLOR).mean() > 0.95

    # Brightness of the slide display leaves the result's colours (drawn over it) alone.
    page.get_by_test_id("display-toggle").click()
    set_display(page, "brightness", "1.6")
    brighter = stage_pixels(page)
    clear_of_popover = (inner[0], slice(int(left) + 6, int(left) + 90))  # popover: lower right
    change = np.abs(brighter[clear_of_popover] - again[clear_of_popover]).max(axis=-1)
    assert change.mean() < 2, change.mean()


# The pale strand left of the section, level-0 px (tests/test_tissue_api.py STRAND × 2.898).
STRAND_L0 = (43, 971, 420, 160)


def cyan_share(pixels: np.ndarray) -> float:
    """Share of pixels tinted by the tissue overlay (cyan over stain or glass)."""
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    return float(((b - r > 60) & (g - r > 30)).mean())


def wait_tissue(page, sensitivity: str) -> None:
    """Wait until the tissue overlay shown is the one at `sensitivity` ("0.5", "1", …)."""
    page.wait_for_function(
        "(s) => document.getElementById('viewer-stage').dataset.tissue === s",
        arg=sensitivity,
        timeout=TIMEOUT_MS,
    )
    page.wait_for_timeout(200)


def test_tissue_overlay_shows_and_follows_the_sensitivity(page, demo_server):
    """Apply panel, Tissue: "show tissue" lays the detected tissue over the slide; the
    sensitivity slider changes it live (the thin strand comes in at 100 %); unticking hides it."""
    open_app(page, demo_server)
    open_slide(page)
    panel = page.locator("#inference-panel")
    assert panel.locator(".inf-tissue-only").is_checked()
    left, top, right, bottom = screen_box(page, STRAND_L0)
    strand = (slice(int(top), int(bottom)), slice(int(left), int(right)))
    left, top, right, bottom = screen_box(page, (0, 0, 2220, 2967))
    on_slide = (slice(max(0, int(top)), int(bottom)), slice(max(0, int(left)), int(right)))
    plain = stage_pixels(page)
    assert cyan_share(plain[on_slide]) < 0.01  # the slide has a few blue-green ink specks

    page.get_by_test_id("show-tissue").check()
    wait_tissue(page, "0.5")
    default = stage_pixels(page)
    fraction = float(page.get_by_test_id("viewer-stage").get_attribute("data-tissue-fraction"))
    assert 0.3 < fraction < 0.45
    # The share of the slide tinted on screen is the share the server found.
    assert abs(cyan_share(default[on_slide]) - fraction) < 0.05, cyan_share(default[on_slide])
    assert panel.locator(".inf-tissue-sensitivity-value").inner_text() == "50 %"

    page.get_by_test_id("tissue-sensitivity").fill("100")
    wait_tissue(page, "1")
    high = stage_pixels(page)
    assert panel.locator(".inf-tissue-sensitivity-value").inner_text() == "100 %"
    assert cyan_share(high[on_slide]) > cyan_share(default[on_slide])
    assert cyan_share(high[strand]) > 1.6 * cyan_share(default[strand]), (
        cyan_share(high[strand]),
        cyan_share(default[strand]),
    )

    page.get_by_test_id("tissue-sensitivity").fill("0")
    wait_tissue(page, "0")
    low = stage_pixels(page)
    assert cyan_share(low[on_slide]) < 0.8 * cyan_share(default[on_slide])

    page.get_by_test_id("show-tissue").uncheck()
    wait_tissue(page, "")
    assert cyan_share(stage_pixels(page)[on_slide]) < 0.01
    # The sensitivity is kept for the next visit.
    page.reload()
    page.get_by_test_id("slide-item").first.wait_for(timeout=TIMEOUT_MS)
    assert page.get_by_test_id("tissue-sensitivity").input_value() == "0"


def set_display(page, key: str, value: str) -> None:
    """Move a slider of the display popover and wait until the slide is redrawn with it."""
    page.get_by_test_id(f"display-{key}").fill(value)
    page.wait_for_function(
        "([k, v]) => document.getElementById('zoom-controls')"
        ".getAttribute(`data-display-${k}`) === String(Number(v))",
        arg=[key, value],
        timeout=TIMEOUT_MS,
    )
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def test_brightness_contrast_gamma_of_the_slide(page, demo_server):
    """The Display popover's sliders change the slide's pixels on screen (brighter, more
    contrast, gamma lifts mid-tones); the choice is kept over a reload; Reset undoes it."""
    open_app(page, demo_server)
    open_slide(page)
    page.evaluate("() => window.slidelab.setView({x: 1100, y: 1500, z: 0.5})")
    wait_settled(page)
    # Left of the view, clear of the popover (lower right).
    left, top, right, bottom = screen_box(page, (800, 1300, 300, 400))
    patch = (slice(int(top), int(bottom)), slice(int(left), int(right)))
    before_rgb = stage_pixels(page)[patch]
    before = before_rgb.mean(axis=-1)
    assert 60 < before.mean() < 215, before.mean()
    assert not page.get_by_test_id("display-popover").is_visible()
    page.get_by_test_id("display-toggle").click()
    assert page.get_by_test_id("display-popover").is_visible()

    set_display(page, "brightness", "1.5")
    brighter = stage_pixels(page)[patch].mean(axis=-1)
    dark = before < 150  # pixels that can get brighter without clipping
    ratio = brighter[dark].mean() / before[dark].mean()
    assert 1.35 < ratio < 1.65, ratio
    assert "150 %" in page.get_by_test_id("display-popover").inner_text()

    set_display(page, "brightness", "1")
    set_display(page, "contrast", "1.6")
    contrasted = stage_pixels(page)[patch]
    # Pixels that contrast 1.6 does not clip spread 1.6 times as far from mid-grey.
    unclipped = ((before_rgb > 60) & (before_rgb < 196)).all(axis=-1)
    spread = (
        np.abs(contrasted[unclipped] - 127.5).mean() / np.abs(before_rgb[unclipped] - 127.5).mean()
    )
    assert 1.4 < spread < 1.8, spread

    set_display(page, "contrast", "1")
    set_display(page, "gamma", "2")
    lifted = stage_pixels(page)[patch].mean(axis=-1)
    mid = (before > 60) & (before < 180)
    assert lifted[mid].mean() > before[mid].mean() + 15, (lifted[mid].mean(), before[mid].mean())

    # Kept in the browser's prefs: after a reload the slide is drawn with gamma 2 again.
    # The view reaches the URL's hash a moment after it settles; the reload needs it there.
    page.wait_for_function("() => location.hash.includes('slide=')", timeout=TIMEOUT_MS)
    page.reload()
    wait_settled(page)
    assert page.get_by_test_id("display-gamma").input_value() == "2"
    reloaded = stage_pixels(page)[patch].mean(axis=-1)
    assert reloaded.mean() > before.mean() + 8, (reloaded.mean(), before.mean())
    page.get_by_test_id("display-toggle").click()
    page.get_by_test_id("display-reset").click()
    page.get_by_test_id("display-toggle").click()
    assert not page.get_by_test_id("display-popover").is_visible()
    page.wait_for_function(
        "() => document.getElementById('zoom-controls').dataset.display === 'none'",
        timeout=TIMEOUT_MS,
    )
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    restored = stage_pixels(page)[patch].mean(axis=-1)
    assert abs(restored.mean() - before.mean()) < 2


DEMO_MPP = 0.499  # µm per level-0 pixel of the demo slide


def test_ruler_measures_in_micrometres(page, demo_server):
    """M, then a drag from A to B: a line and its length in µm (from the slide's µm/px) on
    screen; a longer one in mm; Esc clears it; the line follows the zoom."""
    open_app(page, demo_server)
    open_slide(page)
    page.evaluate("() => window.slidelab.setView({x: 1100, y: 1500, z: 0.5})")
    wait_settled(page)
    stage = stage_box(page)
    label = page.get_by_test_id("ruler-label")
    assert not label.is_visible()
    page.get_by_test_id("viewer-stage").click(position={"x": 5, "y": 5})
    page.keyboard.press("m")
    assert page.get_by_test_id("viewer-stage").get_attribute("data-ruler") == "on"

    a, b = (150, 200), (450, 600)  # 500 screen px apart at 0.5 → 1000 level-0 px
    page.mouse.move(stage["x"] + a[0], stage["y"] + a[1])
    page.mouse.down()
    page.mouse.move(stage["x"] + 300, stage["y"] + 400, steps=4)
    page.mouse.move(stage["x"] + b[0], stage["y"] + b[1], steps=4)
    page.mouse.up()
    label.wait_for(state="visible", timeout=TIMEOUT_MS)
    (ax, ay), (bx, by) = page.evaluate(
        "([a, b]) => [window.slidelab.toImage(...a), window.slidelab.toImage(...b)]", [a, b]
    )
    length_px = ((bx - ax) ** 2 + (by - ay) ** 2) ** 0.5
    assert abs(length_px - 1000) < 4, length_px
    expected_um = length_px * DEMO_MPP
    assert label.inner_text() == f"{float(f'{expected_um:.3g}'):g} µm", label.inner_text()
    assert label.inner_text() in ("499 µm", "498 µm", "500 µm")
    # The line is drawn between A and B in the ruler's yellow.
    pixels = stage_pixels(page)
    for t in (0.25, 0.5, 0.75):
        x = round(a[0] + t * (b[0] - a[0]))
        y = round(a[1] + t * (b[1] - a[1]))
        spot = pixels[y - 1 : y + 2, x - 1 : x + 2]
        assert near(spot, "#ffd400", 50).any(), (t, spot.tolist())
    # Painting is off while measuring: the drag made no annotation.
    assert page.evaluate("() => window.slidelab.annotationsVersion()") == 0

    # Zooming keeps the measurement (it is kept in slide pixels) and moves the line.
    page.evaluate("() => window.slidelab.setView({x: 1100, y: 1500, z: 0.25})")
    wait_settled(page)
    assert label.inner_text() in ("499 µm", "498 µm", "500 µm")
    # A longer line reads in mm: 600 screen px at 0.25 → 2400 level-0 px → 1.2 mm.
    page.mouse.move(stage["x"] + 50, stage["y"] + 100)
    page.mouse.down()
    page.mouse.move(stage["x"] + 650, stage["y"] + 100, steps=5)
    page.mouse.up()
    (ax, _), (bx, _) = page.evaluate(
        "() => [window.slidelab.toImage(50, 100), window.slidelab.toImage(650, 100)]"
    )
    mm = (bx - ax) * DEMO_MPP / 1000
    assert label.inner_text() == f"{float(f'{mm:.3g}'):g} mm" == "1.2 mm", label.inner_text()

    page.keyboard.press("Escape")
    label.wait_for(state="hidden", timeout=TIMEOUT_MS)
    cleared = stage_pixels(page)
    assert not near(cleared[95:106, 50:650], "#ffd400", 30).any()
    page.keyboard.press("Escape")  # a second Esc leaves the ruler
    assert page.get_by_test_id("viewer-stage").get_attribute("data-ruler") == "off"
