"""Issue 12, display and navigation aids in real Chromium: the keyboard-shortcut sheet
(`?`), labels as outlines over a result, the tissue mask shown and tuned, brightness and
contrast of the slide, and a ruler. Each is driven as a user would and checked on screen."""

from __future__ import annotations

from tests.e2e.app_page import TIMEOUT_MS, open_app, open_slide, view


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
