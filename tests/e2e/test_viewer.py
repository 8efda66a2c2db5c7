"""The viewer in real Chromium: slide list, tiles on screen, magnification, shared URLs."""

from __future__ import annotations

import shutil

import pytest

from tests.e2e.app_page import (
    DEMO_NAME,
    open_app,
    open_slide,
    stage_pixels,
    tissue_fraction,
    view,
    wait_hash,
    wait_settled,
)
from tests.helpers import DEMO_SLIDE

OBJECTIVE = 20  # CMU-1-Small-Region.svs is a 20× scan at 0.499 µm/px


def test_open_slide_zoom_and_reload_shared_url(page, demo_server):
    """List → open → tissue on screen → 10× button → keyboard pan → reload lands on same view."""
    open_app(page, demo_server)
    item = page.get_by_test_id("slide-item").filter(has_text=DEMO_NAME)
    assert "2,220 × 2,967 px" in item.inner_text()
    assert "0.499 µm/px · 20×" in item.inner_text()
    page.wait_for_function(
        "() => document.getElementById('connection').dataset.state === 'connected'"
    )

    open_slide(page)
    assert item.get_attribute("aria-current") == "true"
    assert page.locator("[data-slide-id][aria-current=true]").count() == 1
    fit = view(page)
    assert tissue_fraction(stage_pixels(page)) > 0.15, "the slide's H&E tissue should be visible"

    page.get_by_test_id("mag-10").click()
    wait_settled(page)
    zoomed = view(page)
    assert zoomed["z"] == pytest.approx(10 / OBJECTIVE, rel=1e-3)
    assert zoomed["x"] == pytest.approx(fit["x"], abs=1) and zoomed["y"] == pytest.approx(
        fit["y"], abs=1
    )
    assert page.get_by_test_id("magnification").inner_text() == "10×"
    # Scale bar: its width is its length in µm divided by µm per screen pixel.
    bar = page.locator(".scale-bar-line").bounding_box()
    length_um = float(page.get_by_test_id("scale-bar").get_attribute("data-um"))
    assert bar["width"] == pytest.approx(length_um / (0.499 / zoomed["z"]), abs=1.5)
    assert tissue_fraction(stage_pixels(page)) > 0.15

    # Keyboard pan: the right arrow moves the view an eighth of its width to the right.
    page.locator("body").press("ArrowRight")
    wait_settled(page)
    stage_width = page.get_by_test_id("viewer-stage").bounding_box()["width"]
    panned = view(page)
    assert panned["x"] - zoomed["x"] == pytest.approx(stage_width / 8 / panned["z"], rel=0.02)
    page.locator("body").press("+")
    wait_settled(page)
    assert view(page)["z"] == pytest.approx(panned["z"] * 1.5, rel=1e-3)

    state = wait_hash(page, z=f"{view(page)['z']:.4g}")
    before = view(page)
    shared = page.url
    assert f"slide={state['slide']}" in shared

    other = page.context.new_page()
    other.goto(shared)
    wait_settled(other)
    after = view(other)
    assert other.evaluate("() => window.slidelab.slide().name") == DEMO_NAME
    assert after["z"] == pytest.approx(before["z"], rel=1e-3)
    assert after["x"] == pytest.approx(before["x"], abs=1)
    assert after["y"] == pytest.approx(before["y"], abs=1)
    assert other.locator("[data-slide-id][aria-current=true]").count() == 1
    other.close()


def test_unreadable_files_are_listed_and_rescan_finds_new_slides(page, server_factory, tmp_path):
    """A corrupt file is greyed with its reason; Rescan picks up a slide copied in later."""
    root = tmp_path / "slides"
    root.mkdir()
    (root / "broken.svs").write_bytes(b"II*\x00 this is not a slide")
    server = server_factory([root])
    open_app(page, server)
    broken = page.get_by_test_id("slide-item").filter(has_text="broken.svs")
    assert broken.get_attribute("data-readable") == "false"
    assert broken.get_by_role("button").is_disabled()
    reason = broken.locator(".slide-error").inner_text()
    assert reason and "slide" in reason.lower(), reason

    shutil.copy(DEMO_SLIDE, root / DEMO_NAME)
    page.get_by_test_id("rescan").click()
    page.get_by_test_id("slide-item").filter(has_text=DEMO_NAME).wait_for()
    open_slide(page)
    assert tissue_fraction(stage_pixels(page)) > 0.15
