"""Active learning in real Chromium (issue 11): the magic wand, the uncertainty overlay, the
"label next" queue and accepting a prediction as labels."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.e2e.app_page import TIMEOUT_MS, open_app, open_slide, stage_box, stage_pixels
from tests.e2e.test_inference_ui import wait_overlay
from tests.e2e.test_painting import press, stored_areas, wait_version_after
from tests.helpers import DEMO_DIR, ServerProcess, slide_id_by_name

DEMO = "CMU-1-Small-Region.svs"
EPIDERMIS = (1200, 1400)  # level-0 px: the dark purple band in the middle of the section
GREEN = "#00ff00"
# The module's server trains a tiny app inside the first test that needs it; on a shared,
# loaded CPU that alone can take minutes.
pytestmark = pytest.mark.timeout(900)


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


# ---- uncertainty, "label next" and accept: one server with a tiny app and a result ------

TISSUE_COLOR = "#00b050"
BACKGROUND_COLOR = "#ffd400"
TISSUE_BOX = (950, 1250, 1350, 1650)  # level-0 x0, y0, x1, y1: epidermis and dermis
GLASS_BOX = (100, 100, 500, 600)  # bright glass, top left
RESULT_BBOX = [0, 0, 2220, 2967]  # the whole demo slide
TINY = {"mpp": 2.0, "patch_size": 64, "batch_size": 4, "iterations": 40, "seed": 1}
WAIT_S = 300
FOCUS_RGB = (0x00, 0xE5, 0xFF)  # .inf-focus-box border (inference.css)


def rectangle(box: tuple[int, int, int, int]) -> list[list[int]]:
    x0, y0, x1, y1 = box
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def wait_state(server: ServerProcess, path: str, done: str, moving: tuple[str, ...]) -> dict:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        body = server.get(path).json()
        if body["state"] == done:
            return body
        assert body["state"] in moving, body
        time.sleep(0.5)
    raise AssertionError(f"{path} did not reach {done} in {WAIT_S}s")


@pytest.fixture(scope="module")
def al_server(tmp_path_factory):
    """A server with two small labels (tissue, glass), an app trained on them and a
    completed result on the whole slide: the app is unsure in many places."""
    server = ServerProcess([DEMO_DIR], tmp_path_factory.mktemp("al-data")).start()
    try:
        slide_id = slide_id_by_name(server, DEMO)
        ids = {}
        for name, color in (("Tissue", TISSUE_COLOR), ("Background", BACKGROUND_COLOR)):
            answer = server.post("/api/classes", json={"name": name, "color": color})
            assert answer.status_code == 201, answer.text
            ids[name] = answer.json()["id"]
        for name, box in (("Tissue", TISSUE_BOX), ("Background", GLASS_BOX)):
            edit = {"tool": "polygon", "class_id": ids[name], "points": rectangle(box)}
            answer = server.post(f"/api/slides/{slide_id}/annotations/edits", json=edit)
            assert answer.ok, answer.text
        body = {"slides": [slide_id], "classes": list(ids.values()), "settings": TINY}
        answer = server.post("/api/training", json=body)
        assert answer.status_code == 201, answer.text
        run = wait_state(
            server, f"/api/training/{answer.json()['run_id']}", "completed", ("queued", "running")
        )
        answer = server.post(
            "/api/inference",
            json={"app_id": run["app_id"], "slide_id": slide_id, "region": {"bbox": RESULT_BBOX}},
        )
        assert answer.ok, answer.text
        rid = str(answer.json()["result_id"])
        wait_state(server, f"/api/results/{rid}", "completed", ("queued", "running"))
        server.info = {"slide_id": slide_id, "result_id": rid, "class_ids": ids}  # type: ignore[attr-defined]
        yield server
    finally:
        server.stop()


def open_result(page, server) -> dict:
    """Open the app with the result chosen (as after a reload) and its overlay drawn."""
    info = server.info
    page.add_init_script(
        f"localStorage.setItem('slidelab:result:{info['slide_id']}', '{info['result_id']}')"
    )
    open_app(page, server)
    open_slide(page, DEMO)
    wait_overlay(page, "mode=classes")
    return info


def hex_rgb(color: str) -> np.ndarray:
    return np.array([int(color[i : i + 2], 16) for i in (1, 3, 5)], dtype=float)


def ramp(colors: list[str], steps: int = 256) -> np.ndarray:
    """The colour bar sampled: (steps, 3) colours interpolated between the stops."""
    stops = np.array([hex_rgb(c) for c in colors])
    at = np.linspace(0, len(stops) - 1, steps)
    low = np.floor(at).astype(int).clip(0, len(stops) - 2)
    frac = (at - low)[:, None]
    return stops[low] * (1 - frac) + stops[low + 1] * frac


def test_uncertainty_view_colour_bar_and_mean(page, al_server):
    """Uncertainty mode: tiles drawn in the colour bar's colours, the overlay changes the
    screen toward them, the bar is the server's, the mean is shown with the areas."""
    info = open_result(page, al_server)
    rid = info["result_id"]
    result = al_server.get(f"/api/results/{rid}").json()
    colors = result["uncertainty_colors"]
    assert len(colors) >= 2
    panel = page.locator("#inference-panel")
    page.get_by_test_id("toggle-annotations").click()
    panel.locator(".inf-opacity").fill("100")
    panel.locator(".inf-mode").select_option("uncertainty")
    wait_overlay(page, "mode=uncertainty")

    bar = panel.locator(".inf-uncertainty-scale")
    assert bar.get_attribute("data-colors") == ",".join(colors)
    painted = bar.evaluate("e => getComputedStyle(e).backgroundImage")
    first = hex_rgb(colors[0]).astype(int)
    assert "linear-gradient" in painted and f"rgb({first[0]}, {first[1]}, {first[2]})" in painted

    # The tiles the overlay draws: every visible pixel's colour lies on the colour bar.
    tile = page.evaluate(
        """async (rid) => {
            const r = await fetch(`/results/${rid}_files/8/0_0.png?threshold=0&mode=uncertainty`);
            const bitmap = await createImageBitmap(await r.blob());
            const c = new OffscreenCanvas(bitmap.width, bitmap.height);
            const ctx = c.getContext('2d');
            ctx.drawImage(bitmap, 0, 0);
            return Array.from(ctx.getImageData(0, 0, bitmap.width, bitmap.height).data);
        }""",
        rid,
    )
    rgba = np.array(tile, dtype=float).reshape(-1, 4)
    shown = rgba[rgba[:, 3] > 64][:, :3]
    assert len(shown) > 100, "the uncertainty tile is empty"
    nearest = np.sqrt(((shown[:, None, :] - ramp(colors)[None]) ** 2).sum(-1)).min(axis=1)
    assert np.percentile(nearest, 95) < 12, np.percentile(nearest, 95)

    # On screen: toggling the overlay off and on changes pixels toward the bar's colours.
    with_overlay = stage_pixels(page)
    panel.locator(".inf-visible").uncheck()
    page.wait_for_timeout(300)
    without = stage_pixels(page)
    changed = np.abs(with_overlay - without).max(axis=-1) > 40
    assert changed.mean() > 0.02, f"the overlay changed {changed.mean():.1%} of the view"
    delta = (with_overlay - without)[changed].astype(float)
    # Yellow-orange-red over pink, purple and white: blue drops, red stays.
    assert delta[:, 2].mean() < -20 and delta[:, 0].mean() > delta[:, 2].mean()

    stats = al_server.get(f"/api/results/{rid}/stats", params={"threshold": 0}).json()
    line = panel.locator(".inf-uncertainty")
    line.wait_for(timeout=TIMEOUT_MS)
    assert float(line.get_attribute("data-mean")) == pytest.approx(stats["uncertainty"]["mean"])
    assert f"{stats['uncertainty']['mean'] * 100:.1f} %" in line.inner_text()


def stage_bounds(page) -> list[float]:
    """The level-0 box on screen [x0, y0, x1, y1]."""
    box = stage_box(page)
    return page.evaluate(
        """([w, h]) => {
            const a = window.slidelab.toImage(0, 0), b = window.slidelab.toImage(w, h);
            return [a[0], a[1], b[0], b[1]];
        }""",
        [box["width"], box["height"]],
    )


def numbers(text: str) -> list[float]:
    return [float(v) for v in text.split(",")]


def focus_pixels(page) -> int:
    rgb = stage_pixels(page)
    return int((np.abs(rgb - np.array(FOCUS_RGB)).max(axis=-1) < 40).sum())


def test_label_next_lists_places_and_flies_there(page, al_server):
    """The list holds the server's suggestions with their uncertainty in %, a click flies
    the viewer to the place and outlines it until the next pick."""
    info = open_result(page, al_server)
    api = al_server.get(f"/api/results/{info['result_id']}/suggestions").json()["suggestions"]
    assert len(api) >= 2, api
    box = page.locator("#inference-panel .inf-suggestions")
    page.wait_for_function(
        "() => document.querySelector('.inf-suggestions').dataset.state === 'ready'",
        timeout=TIMEOUT_MS,
    )
    entries = box.get_by_test_id("suggestion")
    assert entries.count() == min(5, len(api))
    for i, item in enumerate(api[:5]):
        entry = entries.nth(i)
        assert numbers(entry.get_attribute("data-bbox")) == pytest.approx(item["bbox"])
        assert f"{round(item['mean_uncertainty'] * 100)} % uncertain" in entry.inner_text()
    assert focus_pixels(page) == 0

    for i in (0, 1):
        x, y, w, h = api[i]["bbox"]
        entries.nth(i).click()
        page.wait_for_timeout(200)
        page.wait_for_function("() => window.slidelab.settled()", timeout=TIMEOUT_MS)
        page.wait_for_timeout(200)
        x0, y0, x1, y1 = stage_bounds(page)
        assert x0 <= x and y0 <= y and x + w <= x1 and y + h <= y1, ((x0, y0, x1, y1), api[i])
        assert abs((x0 + x1) / 2 - (x + w / 2)) < w * 0.05
        assert abs((y0 + y1) / 2 - (y + h / 2)) < h * 0.05
        assert w * h > 0.2 * (x1 - x0) * (y1 - y0)  # the place fills much of the view
        assert entries.nth(i).get_attribute("aria-pressed") == "true"
        outline = page.get_by_test_id("focus-box")
        assert numbers(outline.get_attribute("data-rect")) == pytest.approx(api[i]["bbox"])
        # The outline on screen: its border runs round the place (4 sides × 3 px).
        z = page.evaluate("() => window.slidelab.view().z")
        assert focus_pixels(page) > 2 * (w + h) * z * 2, focus_pixels(page)
        ox, oy = page.evaluate("([x, y]) => window.slidelab.toScreen(x, y)", [x, y])
        drawn = outline.bounding_box()
        stage = stage_box(page)
        assert abs(drawn["x"] - stage["x"] - ox) < 2 and abs(drawn["y"] - stage["y"] - oy) < 2
    assert page.locator("[data-testid=focus-box]").count() == 1


CLASS_AREAS_JS = """() => Object.fromEntries(
    [...document.querySelectorAll('[data-testid=class-row]')].map(r => [
        r.querySelector('.class-name').textContent.trim(),
        Number(r.querySelector('[data-testid=class-area]').dataset.areaPx)]))"""


def class_areas(page) -> dict[str, float]:
    """The class panel's labelled areas (level-0 px²) by class name."""
    return page.evaluate(CLASS_AREAS_JS)


def test_accept_as_labels_and_undo(page, al_server):
    """Accept in the view: the prediction at the threshold becomes labels (the class panel's
    areas and the server's change as the answer says), the notice names them, Undo restores."""
    info = open_result(page, al_server)
    slide_id = info["slide_id"]
    before = stored_areas(al_server, slide_id)
    set_view(page, 1150, 1450, 0.5)
    page.wait_for_function(
        "() => document.querySelector('.inf-stats-box').dataset.result !== undefined",
        timeout=TIMEOUT_MS,
    )
    panel_before = class_areas(page)
    version = page.evaluate("() => window.slidelab.annotationsVersion()")
    with page.expect_response(lambda r: r.url.endswith("/accept")) as accepted:
        page.get_by_test_id("accept-labels").click()
    answer = accepted.value.json()
    assert accepted.value.status == 200, answer
    request = accepted.value.request.post_data_json
    x0, y0, x1, y1 = stage_bounds(page)
    bbox = request["region"]["bbox"]
    assert bbox[0] == pytest.approx(max(0, x0), abs=1.5)
    assert bbox[1] == pytest.approx(max(0, y0), abs=1.5)
    assert request["threshold"] == 0
    added = {c["name"]: c["area_um2"] for c in answer["accepted"]["classes"]}
    assert added and sum(added.values()) > 0

    page.wait_for_function(
        "v => window.slidelab.annotationsVersion() > v", arg=version, timeout=TIMEOUT_MS
    )
    notice = page.locator(".inf-accept-notice")
    notice.wait_for(timeout=TIMEOUT_MS)
    text = notice.inner_text()
    assert text.startswith("Added ")
    for name, area in added.items():
        if area > 0:
            assert name in text
    after = stored_areas(al_server, slide_id)
    assert after != before
    page.wait_for_function(
        f"(old) => {{ const now = ({CLASS_AREAS_JS})();"
        " return Object.keys(now).some(k => now[k] !== old[k]); }",
        arg=panel_before,
        timeout=TIMEOUT_MS,
    )
    panel_after = class_areas(page)
    for name, area in after.items():
        assert panel_after[name] == pytest.approx(area, rel=1e-3)

    version = page.evaluate("() => window.slidelab.annotationsVersion()")
    page.get_by_test_id("accept-undo").click()
    page.wait_for_function(
        "v => window.slidelab.annotationsVersion() > v", arg=version, timeout=TIMEOUT_MS
    )
    restored = stored_areas(al_server, slide_id)
    assert restored.keys() == before.keys()
    for name, area in before.items():
        assert restored[name] == pytest.approx(area, rel=1e-6)
    page.wait_for_timeout(300)
    assert class_areas(page) == pytest.approx(panel_before)
    assert notice.is_hidden()


def shown_and_served_suggestions(page, panel, server) -> tuple[int, list]:
    """The number of suggestions the page lists for the current preview and the server's list
    for that preview. A preview that refreshes between the two reads (the server drops the
    old one) is read again."""
    for _ in range(5):
        preview = panel.get_attribute("data-preview")
        page.wait_for_function(
            """(rid) => {
                const box = document.querySelector('.inf-suggestions');
                const p = document.getElementById('training-panel');
                return p.dataset.preview !== rid
                    || (box.dataset.result === rid && box.dataset.state === 'ready');
            }""",
            arg=preview,
            timeout=TIMEOUT_MS * 2,
        )
        assert not page.locator(".inf-suggestions").is_hidden()
        shown = page.get_by_test_id("suggestion").count()
        answer = server.get(f"/api/results/{preview}/suggestions")
        if answer.status_code == 200 and panel.get_attribute("data-preview") == preview:
            return shown, answer.json()["suggestions"]
    raise AssertionError("the preview refreshed before every read")


def test_label_next_follows_the_live_preview(page, al_server):
    """While a run trains with the live preview on, the list is the preview's, asked again
    each time the preview refreshes."""
    from tests.e2e.test_training_ui import tiny_run_in_panel

    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/suggestions" in r.url else None)
    page.goto(f"{al_server.url}/")
    # After four tests on one server and a loaded CPU the page can take a while to list.
    page.get_by_test_id("slide-item").first.wait_for(timeout=TIMEOUT_MS * 3)
    open_slide(page, DEMO)
    set_view(page, 1150, 1450, 0.5)  # a smaller view: a quicker preview
    panel = tiny_run_in_panel(page, 100000)
    panel.locator(".tr-train").click()
    page.wait_for_function(
        "() => document.querySelector('#training-panel .tr-badge').textContent === 'running'",
        timeout=TIMEOUT_MS * 2,
    )
    run_id = al_server.get("/api/training").json()[0]["id"]
    try:
        panel.locator(".tr-preview-toggle").check()
        page.wait_for_function(
            """() => { const p = document.getElementById('training-panel');
                return p.dataset.preview !== '' && p.dataset.previewLoaded === 'true'; }""",
            timeout=TIMEOUT_MS * 6,
        )
        shown, api = shown_and_served_suggestions(page, panel, al_server)
        assert shown == min(5, len(api))
        before = len(asked)
        version = int(panel.get_attribute("data-preview-version") or 0)
        page.wait_for_function(
            f"() => Number(document.getElementById('training-panel').dataset.previewVersion)"
            f" > {version}",
            timeout=TIMEOUT_MS * 6,
        )
        page.wait_for_function(
            """() => {
                const box = document.querySelector('.inf-suggestions');
                const p = document.getElementById('training-panel');
                return box.dataset.result === p.dataset.preview && box.dataset.state === 'ready';
            }""",
            timeout=TIMEOUT_MS,
        )
        latest = panel.get_attribute("data-preview")
        assert any(f"/results/{latest}/suggestions" in url for url in asked[before:]), asked
    finally:
        al_server.post(f"/api/training/{run_id}/stop")
