"""Issue 12, a pathologist's first hour, in real Chromium against a real server: the curve
with room, Continue that says what it does, a live preview that comes quickly, the starting
browser following its run, names that tell apps and results apart, physical units, choices
kept over a reload, refusals that say so, GeoJSON on the slide and a legend that agrees."""

from __future__ import annotations

import io
import json
import re
import time

import numpy as np
from PIL import Image

from tests.e2e.app_page import TIMEOUT_MS, open_app, open_slide, wait_settled
from tests.e2e.test_inference_ui import train_app, wait_new_result, wait_overlay
from tests.e2e.test_training_ui import (
    VALIDATION_RGB,
    curve_pixels,
    label_demo_slide,
    panel_data,
    tiny_run_in_panel,
    wait_panel,
)
from tests.helpers import ServerProcess

SLIDE_W, SLIDE_H = 2220, 2967  # the demo slide, level-0 px
# An ROI whose width is not a whole number of pixels (the issue saw "808.8899999999999").
ROI = [[600, 1000], [1408.89, 1000], [1408.89, 1808.89], [600, 1808.89]]


def ema(values: list[float], weight: float) -> list[float]:
    """The chart's smoothing (training/smoothing.ts): debiased exponential moving average."""
    out, last = [], 0.0
    for i, v in enumerate(values, start=1):
        last = last * weight + (1 - weight) * v
        out.append(last / (1 - weight**i))
    return out


def toast_with(page, text: str) -> str:
    """Wait for a toast containing `text`; its whole text."""
    toast = page.locator("#toasts .toast", has_text=text).first
    toast.wait_for(timeout=TIMEOUT_MS)
    return toast.inner_text()


def check_curve_has_room(page, server: ServerProcess, run_id: str) -> None:
    """Expand: the curve fills most of the window under the network's name and final values;
    its y-axis follows the smoothed curve, validation drawn."""
    panel = page.locator("#training-panel")
    small_box = panel.locator(".tr-chart").bounding_box()
    small_pixels = curve_pixels(page)
    panel.locator(".tr-chart-expand").click()
    wait_panel(page, "p.dataset.chartExpanded === 'true'")
    page.wait_for_timeout(400)
    viewport = page.viewport_size
    box = panel.locator(".tr-chart-box").bounding_box()
    assert box["width"] > 0.85 * viewport["width"] and box["height"] > 0.8 * viewport["height"]
    chart = panel.locator(".tr-chart").bounding_box()
    assert chart["height"] > 0.7 * viewport["height"] > 2 * small_box["height"], (chart, small_box)
    assert curve_pixels(page) > 2 * small_pixels, "the curve is drawn larger"
    assert curve_pixels(page, VALIDATION_RGB) > 10, "the validation line is drawn"
    title = panel.locator(".tr-chart-title").inner_text()
    run = server.get(f"/api/training/{run_id}").json()
    loss = panel.locator(".tr-chart-title .tr-chart-final").get_attribute("data-loss")
    assert title.startswith("U-Net") and f"final loss {loss}" in title, title
    assert f"{run['final']['loss']:#.4g}" == loss

    # The y-range: the smoothed curve (smoothing 0.6), validation and final value, 6 % padding.
    points = run["history"]
    shown = int(panel.locator(".tr-chart").get_attribute("data-points"))
    assert shown == len(points)
    smooth = ema([p["loss"] for p in points], 0.6)
    others = [p["val_loss"] for p in points if p.get("val_loss") is not None]
    others.append(run["final"]["loss"])
    lo, hi = min(smooth + others), max(smooth + others)
    y_max = float(panel.locator(".tr-chart").get_attribute("data-y-max"))
    assert abs(y_max - (hi + 0.06 * (hi - lo))) < 1e-6 * hi, (y_max, hi, lo)

    page.keyboard.press("Escape")
    wait_panel(page, "p.dataset.chartExpanded === 'false'")
    page.wait_for_timeout(300)
    assert panel.locator(".tr-chart").bounding_box()["height"] < chart["height"] / 2


def test_curve_continue_preview_and_run_state(page, browser, server_factory):
    """Train from the panel and watch it as the issue's user did."""
    server = server_factory()
    label_demo_slide(server)
    open_app(page, server)
    open_slide(page)
    panel = tiny_run_in_panel(page, 100000)
    panel.locator(".tr-advanced").click()
    advanced = page.locator("dialog.tr-dialog")
    assert advanced.locator("input[name=seed]").input_value() != "7"
    advanced.locator("input[name=seed]").fill("7")
    advanced.locator(".tr-close").click()
    badge_texts: list[str] = []
    page.expose_function("badgeText", lambda text: badge_texts.append(text))
    page.evaluate(
        """() => {
            const badge = document.querySelector('#training-panel .tr-badge');
            new MutationObserver(() => window.badgeText(badge.textContent))
                .observe(badge, {childList: true, characterData: true, subtree: true});
        }"""
    )
    panel.locator(".tr-train").click()
    # 7: the browser that started the run follows it (never stays "queued").
    page.wait_for_function(
        "() => document.querySelector('#training-panel .tr-badge').textContent === 'running'",
        timeout=TIMEOUT_MS,
    )
    run_id = server.get("/api/training").json()[0]["id"]

    # 5: the live preview of the view comes within a few seconds and refreshes.
    page.get_by_test_id("toggle-annotations").click()
    started = time.monotonic()
    panel.locator(".tr-preview-toggle").check()
    wait_panel(page, "p.dataset.preview !== '' && p.dataset.previewLoaded === 'true'")
    first_preview_s = time.monotonic() - started
    assert first_preview_s < 15, f"the first preview took {first_preview_s:.1f} s"
    version = int(panel_data(page, "preview-version"))
    wait_panel(page, f"Number(p.dataset.previewVersion) > {version}")
    assert "Preview updated" in panel.locator(".tr-preview-status").inner_text()
    panel.locator(".tr-preview-toggle").uncheck()
    page.get_by_test_id("toggle-annotations").click()

    # 1: after the first validation (iteration 25) the curve gets room.
    wait_panel(page, "Number(p.dataset.iteration) >= 27")
    panel.locator(".tr-stop").click()
    wait_panel(page, "p.dataset.state === 'stopped'")
    page.wait_for_function(
        "() => Number(document.querySelector('.tr-chart').dataset.validationPoints) >= 2",
        timeout=TIMEOUT_MS,
    )
    check_curve_has_room(page, server, run_id)
    assert "running" in badge_texts and "stopped" in badge_texts, badge_texts

    # 4: after a reload the form shows the run's settings, not the defaults.
    page.reload()
    page.locator("#training-panel .tr-train").wait_for(timeout=TIMEOUT_MS)
    wait_panel(page, "p.dataset.state === 'stopped'")
    for name, value in (("patch_size", "64"), ("batch_size", "2"), ("mpp", "4")):
        assert panel.locator(f"input[name={name}]").input_value() == value, name
    panel.locator(".tr-advanced").click()
    assert page.locator("dialog.tr-dialog input[name=seed]").input_value() == "7"
    page.locator("dialog.tr-dialog .tr-close").click()
    stopped_at = int(panel_data(page, "iteration"))

    # 4: Continue says what it will do; iterations and learning rate may change.
    panel.locator(".tr-continue").click()
    dialog = page.locator("dialog.tr-continue-dialog")
    dialog.wait_for(timeout=TIMEOUT_MS)
    assert f"stopped at iteration {stopped_at} of 100000" in dialog.inner_text()
    dialog.locator("input[name=continue_iterations]").fill("6")
    dialog.locator("input[name=continue_learning_rate]").fill("0.0005")
    summary = dialog.locator(".tr-continue-summary").inner_text()
    assert summary.startswith(
        f"Trains iterations {stopped_at + 1}–{stopped_at + 6} from the checkpoint at "
        f"iteration {stopped_at}, learning rate 0.0005"
    ), summary
    dialog.locator(".tr-continue-ok").click()
    wait_panel(page, "p.dataset.state === 'completed'")
    run = server.get(f"/api/training/{run_id}").json()
    assert run["iteration"] == run["iterations"] == stopped_at + 6
    assert run["settings"]["learning_rate"] == 0.0005
    assert panel.locator("input[name=learning_rate]").input_value() == "0.001", "the form kept"

    # 10: a Continue the server refuses (another browser continued first) says so.
    panel.locator(".tr-continue").click()
    dialog.wait_for(timeout=TIMEOUT_MS)
    answer = server.post(f"/api/training/{run_id}/continue", json={"iterations": 100000})
    assert answer.ok, answer.text
    dialog.locator(".tr-continue-ok").click()
    message = toast_with(page, "can be continued")
    assert "This run is queued now" in message or "This run is running now" in message, message
    assert "Someone may have continued it already" in message, "the hint says why"
    wait_panel(page, "p.dataset.state === 'running'")
    server.post(f"/api/training/{run_id}/stop")
    wait_panel(page, "p.dataset.state === 'stopped'")


def element_pixels(page, selector: str) -> np.ndarray:
    """A screenshot of one element as an RGB array."""
    png = page.locator(selector).first.screenshot()
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16)


def listed(page, box: str) -> list[dict]:
    """The items of a list (apps, results): name, second line, whether the name shows whole."""
    return page.evaluate(
        """(box) => [...document.querySelectorAll(box + ' .listbox-item')].map(item => {
            const label = item.querySelector('.listbox-label');
            const r = label.getBoundingClientRect(), l = item.getBoundingClientRect();
            return {
                label: label.textContent,
                meta: item.querySelector('.listbox-meta')?.textContent ?? '',
                whole: label.scrollWidth <= label.clientWidth + 1 && r.right <= l.right + 1
                    && r.width > 0,
            };
        })""",
        box,
    )


def test_apps_and_results_named_in_units_and_kept(page, server_factory, tmp_path):
    """Two apps of one run, a view and an ROI result: told apart, whole, in µm, kept."""
    server = server_factory()
    slide_id, class_ids = label_demo_slide(server)
    answer = server.post(
        f"/api/slides/{slide_id}/annotations/edits", json={"tool": "roi", "points": ROI}
    )
    assert answer.ok, answer.text
    first_app = train_app(server, slide_id, class_ids)
    run_id = server.get("/api/training").json()[0]["id"]
    assert server.post(f"/api/training/{run_id}/continue", json={"iterations": 5}).ok
    deadline = time.monotonic() + 240
    while server.get(f"/api/training/{run_id}").json()["state"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.5)
    apps = server.get("/api/apps").json()
    # The two apps (a run and its continuation) now differ by name too.
    assert len(apps) == 2 and apps[0]["name"] != apps[1]["name"]
    assert {a["name"].split(" · ")[2] for a in apps} == {"40 it.", "45 it."}

    open_app(page, server)
    open_slide(page)
    panel = page.locator("#inference-panel")
    page.wait_for_function(
        "() => document.querySelectorAll('#inference-panel .inf-apps .listbox-item').length === 2",
        timeout=TIMEOUT_MS,
    )
    # 2: the names are whole, and the second line says what differs.
    items = listed(page, "#inference-panel .inf-apps")
    assert all(i["whole"] for i in items), items
    assert {i["label"] for i in items} == {a["name"] for a in apps}
    metas = sorted(i["meta"] for i in items)
    assert metas[0].startswith("40 it.") and metas[1].startswith("45 it."), metas

    # 10: a blank name is refused with a message; a real one renames.
    panel.locator(".inf-app-rename").click()
    panel.locator(".inf-rename-input").fill("   ")
    panel.locator(".inf-rename-input").press("Enter")
    assert "cannot be blank" in toast_with(page, "cannot be blank")
    panel.locator(".inf-rename-input").fill("Skin, first 40 iterations")
    panel.locator(".inf-rename-input").press("Enter")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#inference-panel .inf-apps .listbox-label')]"
        ".some(o => o.textContent === 'Skin, first 40 iterations')",
        timeout=TIMEOUT_MS,
    )
    chosen = panel.locator(".inf-apps").get_attribute("data-value")
    assert server.get(f"/api/apps/{chosen}").json()["name"] == "Skin, first 40 iterations"
    # Apply the 40-iteration app (whichever was chosen), to the view and to the ROI.
    panel.locator(f".inf-apps .listbox-item[data-value='{first_app}']").click()

    # 6: the ROI in µm, rounded (808.89 px × 0.499 µm/px = 403.6 µm).
    assert panel.locator(".inf-roi").inner_text() == "ROI 1 (404 × 404 µm)"
    fits = page.evaluate(
        """() => {
            const select = document.querySelector('#inference-panel .inf-roi');
            const ctx = document.createElement('canvas').getContext('2d');
            ctx.font = getComputedStyle(select).font;
            const text = select.options[select.selectedIndex].textContent;
            return ctx.measureText(text).width + 24 <= select.clientWidth;  // 24: the arrow
        }"""
    )
    assert fits, "the ROI's name is shown whole"
    page.get_by_test_id("toggle-annotations").click()
    panel.locator("input[name=inf-region][value=view]").check()
    panel.locator(".inf-apply").click()
    wait_overlay(page, "threshold=0&")
    view_result = panel.get_attribute("data-result")
    panel.locator("input[name=inf-region][value=roi]").check()
    panel.locator(".inf-apply").click()
    wait_new_result(page, view_result)
    roi_result = panel.get_attribute("data-result")
    results = listed(page, "#inference-panel .inf-results")
    assert len(results) == 2 and all(r["whole"] for r in results), results
    by_meta = sorted(r["meta"] for r in results)
    assert by_meta[0].startswith("ROI 1 (404 × 404 µm) · "), by_meta
    _, _, w, h = server.get(f"/api/results/{view_result}").json()["region"]["bbox"]
    size = f"{w * 0.499 / 1000:.3g} × {h * 0.499 / 1000:.3g} mm"  # the view: over 1 mm a side
    assert by_meta[1].startswith(f"view {size} · "), (by_meta, size)

    # 6: areas in units chosen for their size, never in exponent notation.
    page.wait_for_function(
        "(id) => document.querySelector('.inf-stats-box').dataset.result === id",
        arg=roi_result,
        timeout=TIMEOUT_MS,
    )
    cells = panel.locator(".inf-stats td.num[data-mm2]").all_inner_texts()
    assert cells and all(re.fullmatch(r"[\d,]+(\.\d+)? (µm²|mm²)", c) for c in cells), cells
    region = panel.locator(".inf-stats tr", has_text="Region").locator("td").nth(1).inner_text()
    value = float(region.removesuffix(" mm²"))  # (808.89 × 0.499 µm)² = 0.163 mm²
    assert region.endswith(" mm²") and abs(value - 0.163) < 0.016 and len(region) <= 10, region

    # The legend's "unclassified" key is as see-through as the overlay leaves those pixels.
    swatch = element_pixels(page, "#inference-panel .inf-swatch-none")
    inner = swatch[2:-2, 2:-2].reshape(-1, 3)
    background = element_pixels(page, "#inference-panel .inf-legend-none")[0, -1]
    assert np.abs(inner - background).max() <= 3, "no hatching: the key shows what is under it"

    # 7: the chosen result and its threshold survive a reload.
    panel.locator(f".inf-results .listbox-item[data-value='{view_result}']").click()
    wait_overlay(page, "threshold=0&")
    panel.locator(".inf-threshold").fill("60")
    wait_overlay(page, "threshold=0.6&")
    page.reload()
    page.get_by_test_id("slide-item").first.wait_for(timeout=TIMEOUT_MS)
    wait_settled(page)
    wait_overlay(page, "threshold=0.6&")
    assert panel.get_attribute("data-result") == view_result
    assert panel.locator(".inf-threshold").input_value() == "60"
    assert panel.locator(".inf-threshold-value").inner_text() == "60 %"
    assert panel.locator(".inf-results").get_attribute("data-value") == view_result

    # GeoJSON of the view result stays on the slide (the issue saw x = 2220.44).
    with page.expect_download(timeout=TIMEOUT_MS) as download:
        panel.locator(".inf-export-geojson").click()
    path = tmp_path / "view.geojson"
    download.value.save_as(path)
    doc = json.loads(path.read_text())
    coords = np.concatenate(
        [np.asarray(ring) for f in doc["features"] for ring in f["geometry"]["coordinates"]]
    )
    assert coords[:, 0].max() <= SLIDE_W and coords[:, 1].max() <= SLIDE_H, coords.max(axis=0)
    assert coords[:, 0].max() > SLIDE_W - 10, "the result reaches the slide's right edge"
