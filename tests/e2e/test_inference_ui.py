"""The inference panel in real Chromium: apply an app, see the overlay, move the threshold,
read the areas, export GeoJSON."""

from __future__ import annotations

import json
import time

import numpy as np

from tests.e2e.app_page import TIMEOUT_MS, open_app, open_slide, stage_pixels
from tests.e2e.test_training_ui import (
    BACKGROUND_COLOR,
    TINY,
    TISSUE_COLOR,
    label_demo_slide,
)
from tests.helpers import ServerProcess

TRAIN_TIMEOUT_S = 240
ROI = (600, 1000, 400, 400)  # level-0 px, inside the tissue
DEMO_MPP = 0.499


def train_app(server: ServerProcess, slide_id: str, class_ids: list[int]) -> str:
    """Train a tiny app through the API and wait until it is listed; its id."""
    body = {
        "slides": [slide_id],
        "classes": class_ids,
        "settings": {**TINY, "batch_size": 4, "iterations": 40, "seed": 1},
    }
    answer = server.post("/api/training", json=body)
    assert answer.status_code == 201, answer.text
    run_id = answer.json()["run_id"]
    deadline = time.monotonic() + TRAIN_TIMEOUT_S
    while time.monotonic() < deadline:
        run = server.get(f"/api/training/{run_id}").json()
        if run["state"] == "completed":
            return run["app_id"]
        assert run["state"] in ("queued", "running"), run
        time.sleep(0.5)
    raise AssertionError(f"training did not finish in {TRAIN_TIMEOUT_S}s")


def rgb(color: str) -> np.ndarray:
    """#rrggbb as an int array."""
    return np.array([int(color[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.int16)


def colour_share(pixels: np.ndarray, color: str, tolerance: int = 40) -> float:
    """Share of screen pixels within `tolerance` of a colour (per channel)."""
    return float((np.abs(pixels - rgb(color)).max(axis=-1) <= tolerance).mean())


def wait_overlay(page, query_part: str) -> None:
    """Wait until the overlay drawn is the one whose tile query contains `query_part`."""
    page.wait_for_function(
        """(part) => {
            const p = document.getElementById('inference-panel');
            const query = p.dataset.overlayQuery || '';
            return p.dataset.overlayLoaded === 'true' && query.includes(part);
        }""",
        arg=query_part,
        timeout=TIMEOUT_MS * 2,
    )
    page.wait_for_timeout(400)  # let the last tiles blend in


def test_apply_overlay_threshold_export(page, server_factory, tmp_path):
    """Apply to the view: class colours on screen; a high threshold clears pixels; GeoJSON out."""
    server = server_factory()
    slide_id, class_ids = label_demo_slide(server)
    x, y, w, h = ROI
    roi = [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]
    answer = server.post(
        f"/api/slides/{slide_id}/annotations/edits", json={"tool": "roi", "points": roi}
    )
    assert answer.ok, answer.text
    app_id = train_app(server, slide_id, class_ids)

    open_app(page, server)
    open_slide(page)
    panel = page.locator("#inference-panel")
    page.wait_for_function(
        "(id) => document.querySelector('#inference-panel .inf-apps').dataset.value === String(id)",
        arg=app_id,
        timeout=TIMEOUT_MS,
    )
    assert "U-Net" in panel.locator(".inf-app-details").inner_text()
    # Hide the painted labels so what is on screen in class colours is the result alone.
    page.get_by_test_id("toggle-annotations").click()
    page.wait_for_timeout(300)
    before = stage_pixels(page)
    assert colour_share(before, TISSUE_COLOR) < 0.01

    panel.locator("input[name=inf-region][value=view]").check()
    panel.locator(".inf-apply").click()
    wait_overlay(page, "threshold=0&")
    assert panel.locator(".inf-progress").is_hidden()
    panel.locator(".inf-opacity").fill("100")
    page.wait_for_timeout(300)
    shown = stage_pixels(page)
    tissue_at_0 = colour_share(shown, TISSUE_COLOR)
    background_at_0 = colour_share(shown, BACKGROUND_COLOR)
    assert tissue_at_0 > 0.05, f"tissue in its class colour on {tissue_at_0:.1%} of the view"
    assert background_at_0 > 0.02, f"background in its colour on {background_at_0:.1%}"
    legend = panel.locator(".inf-legend").inner_text()
    assert "Tissue" in legend and "Background" in legend

    stats_at_0 = panel.locator(".inf-stats").inner_text()
    unclassified_0 = stats_cell(page, "Unclassified", 1)
    assert unclassified_0 == 0.0, stats_at_0

    panel.locator(".inf-threshold").fill("99")
    wait_overlay(page, "threshold=0.99&")
    page.wait_for_function(
        "() => document.querySelector('.inf-stats-box').dataset.threshold === '0.99'",
        timeout=TIMEOUT_MS,
    )
    high = stage_pixels(page)
    classified_high = colour_share(high, TISSUE_COLOR) + colour_share(high, BACKGROUND_COLOR)
    assert classified_high < (tissue_at_0 + background_at_0) * 0.9, (
        f"pixels below 99% must turn transparent: {classified_high:.1%} classified at 99%,"
        f" {tissue_at_0 + background_at_0:.1%} at 0%"
    )
    assert np.abs(high - shown).max(axis=-1).astype(bool).mean() > 0.01
    unclassified_99 = stats_cell(page, "Unclassified", 1)
    assert unclassified_99 > unclassified_0

    with page.expect_download(timeout=TIMEOUT_MS) as download:
        panel.locator(".inf-export-geojson").click()
    path = tmp_path / "result.geojson"
    download.value.save_as(path)
    doc = json.loads(path.read_text())
    assert doc["type"] == "FeatureCollection"
    assert doc["features"], "the export holds the classified regions"
    names = {f["properties"]["classification"]["name"] for f in doc["features"]}
    assert names <= {"Tissue", "Background"} and names
    assert "threshold=0.99" in download.value.url

    apply_to_roi(page)
    manage_apps(page, server, app_id, tmp_path)


def stats_cell(page, row: str, column: int) -> float:
    """A number from the areas table (column 1: mm², as the cell's data-mm2; 2: %)."""
    cell = page.locator("#inference-panel .inf-stats tr", has_text=row).locator("td").nth(column)
    if column == 1:
        return float(cell.get_attribute("data-mm2"))
    return float(cell.inner_text().rstrip(" %"))


def wait_new_result(page, previous: str | None) -> None:
    """Wait until the panel shows a result other than `previous`, its overlay loaded."""
    page.wait_for_function(
        """(first) => {
            const d = document.getElementById('inference-panel').dataset;
            return d.result !== first && d.overlay === d.result && d.overlayLoaded === 'true';
        }""",
        arg=previous,
        timeout=TIMEOUT_MS * 2,
    )


def apply_to_roi(page) -> None:
    """Apply to the drawn ROI: a new result whose region is the ROI's area."""
    panel = page.locator("#inference-panel")
    first = panel.get_attribute("data-result")
    panel.locator("input[name=inf-region][value=roi]").check()
    assert "200 × 200 µm" in panel.locator(".inf-roi").inner_text()  # 400 px at 0.499 µm/px
    panel.locator(".inf-apply").click()
    wait_new_result(page, first)
    _, _, w, h = ROI
    expected_mm2 = w * h * DEMO_MPP**2 / 1e6
    page.wait_for_function(
        """() => document.querySelector('.inf-stats-box').dataset.result ===
            document.getElementById('inference-panel').dataset.result""",
        timeout=TIMEOUT_MS,
    )
    region = stats_cell(page, "Region", 1)
    assert abs(region - expected_mm2) / expected_mm2 < 0.1, (region, expected_mm2)


def app_options(page) -> list[str]:
    """The names in the panel's app list."""
    return page.evaluate(
        "() => [...document.querySelectorAll('#inference-panel .inf-apps .listbox-label')]"
        ".map(o => o.textContent)"
    )


def manage_apps(page, server: ServerProcess, app_id: str, tmp_path) -> None:
    """Rename, export, import and delete apps through the panel."""
    panel = page.locator("#inference-panel")
    panel.locator(".inf-app-rename").click()
    panel.locator(".inf-rename-input").fill("Skin tissue")
    panel.locator(".inf-rename-input").press("Enter")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#inference-panel .inf-apps .listbox-label')]"
        ".some(o => o.textContent === 'Skin tissue')",
        timeout=TIMEOUT_MS,
    )
    assert server.get(f"/api/apps/{app_id}").json()["name"] == "Skin tissue"

    with page.expect_download(timeout=TIMEOUT_MS) as download:
        panel.locator(".inf-app-export").click()
    app_file = tmp_path / "skin.slidelab-app"
    download.value.save_as(app_file)
    panel.locator(".inf-app-import-file").set_input_files(str(app_file))
    page.wait_for_function(
        "() => document.querySelectorAll('#inference-panel .inf-apps .listbox-item').length === 2",
        timeout=TIMEOUT_MS,
    )
    imported = [a for a in server.get("/api/apps").json() if a["id"] != app_id]
    assert len(imported) == 1
    assert [c["name"] for c in imported[0]["classes"]] == ["Tissue", "Background"]
    # The imported app is the one chosen now; delete it (confirming the question).
    assert panel.locator(".inf-apps").get_attribute("data-value") == imported[0]["id"]
    page.once("dialog", lambda dialog: dialog.accept())
    panel.locator(".inf-app-delete").click()
    page.wait_for_function(
        "() => document.querySelectorAll('#inference-panel .inf-apps .listbox-item').length === 1",
        timeout=TIMEOUT_MS,
    )
    assert [a["id"] for a in server.get("/api/apps").json()] == [app_id]
    assert app_options(page) == ["Skin tissue"]
