"""Apply to several slides on a server started with `--ray` (a local Ray), in Chromium:
a line of progress per slide while the cluster works, and each slide's result opens in
the viewer like any other."""

from __future__ import annotations

from tests.e2e.app_page import TIMEOUT_MS, open_app, open_slide, stage_pixels
from tests.e2e.test_inference_ui import colour_share, wait_new_result
from tests.helpers import slide_id_by_name
from tests.inference_support import CLASSES, serve_two_slides_on_ray, wait_for_result

STROMA = CLASSES[1]["color"]
# Every text a progress line had, kept by the page as the lines change.
RECORD_LINES = """() => {
    window.seenLines = new Set();
    const list = document.querySelector('#inference-panel .inf-progress-slides');
    new MutationObserver(() => list.querySelectorAll('li').forEach(
        (li) => window.seenLines.add(li.textContent))).observe(list, {childList: true});
}"""


def test_several_slides_on_ray_show_per_slide_progress_and_open_as_results(
    page, server_factory, tmp_path
):
    server, app_id = serve_two_slides_on_ray(server_factory, tmp_path)
    a, b = slide_id_by_name(server, "a.svs"), slide_id_by_name(server, "b.svs")

    open_app(page, server)
    open_slide(page, "a.svs")
    panel = page.locator("#inference-panel")
    page.wait_for_function(
        "(id) => document.querySelector('#inference-panel .inf-apps').dataset.value === id",
        arg=app_id,
        timeout=TIMEOUT_MS,
    )
    page.evaluate(RECORD_LINES)
    panel.locator("input[name=inf-region][value=slides]").check()
    panel.locator(".inf-apply-box details summary").click()
    for slide in (a, b):
        panel.locator(f".inf-slide-list input[value='{slide}']").check()
    panel.locator(".inf-apply").click()

    # The slide open here shows its result when the cluster has finished it.
    wait_new_result(page, None)
    assert panel.get_attribute("data-result") is not None
    panel.locator(".inf-opacity").fill("100")
    page.wait_for_timeout(400)
    assert colour_share(stage_pixels(page), STROMA) > 0.05
    for rid in server.get("/api/results").json():
        wait_for_result(server, rid["id"], timeout=600)
    page.wait_for_function(
        "() => document.querySelector('#inference-panel .inf-progress').hidden",
        timeout=TIMEOUT_MS,
    )
    seen = page.evaluate("() => [...window.seenLines]")
    assert {"a.svs · waiting", "b.svs · waiting"} <= set(seen), seen
    assert any(line.endswith(" · done") for line in seen), seen

    # The other slide's result is listed with it and opens like any other.
    open_slide(page, "b.svs")
    item = panel.locator(".inf-results .listbox-item").first
    item.wait_for(timeout=TIMEOUT_MS)
    item.click()
    wait_new_result(page, None)
    page.wait_for_timeout(400)
    assert colour_share(stage_pixels(page), STROMA) > 0.05
