"""Make docs/screenshot.png: the demo slide open with a few painted labels.

Run: `.venv/bin/python -m tests.e2e.screenshot` (starts its own server on a temporary
data folder, drives Chromium like a user, writes the PNG).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.app_page import open_app, open_slide, stage_box, wait_settled
from tests.helpers import DEMO_DIR, REPO, ServerProcess

OUTPUT = REPO / "docs" / "screenshot.png"

# Stage-relative CSS px at 1440 × 900 and 5×, placed over the demo slide's tissue.
EPIDERMIS = [(470, 262), (492, 352), (470, 450), (446, 570), (432, 690)]
DERMIS = [(350, 540), (400, 600), (410, 720), (360, 740), (340, 640), (350, 540)]
BACKGROUND = [(250, 200), (262, 330), (300, 460)]
ROI = [(280, 420), (560, 760)]


def _stroke(page, box, points, steps=8) -> None:
    before = page.evaluate("() => window.slidelab.annotationsVersion()")
    page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(box["x"] + x, box["y"] + y, steps=steps)
    page.mouse.up()
    page.wait_for_function(
        "v => window.slidelab.annotationsVersion() > v && window.slidelab.saved()", arg=before
    )


def _key(page, key: str) -> None:
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.keyboard.press(key)


def main(output: Path = OUTPUT) -> None:
    """Start a server, paint three classes and an ROI, save the screenshot."""
    with tempfile.TemporaryDirectory() as data:
        server = ServerProcess([DEMO_DIR], Path(data)).start()
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                open_app(page, server)
                open_slide(page)
                page.get_by_test_id("mag-5").click()
                wait_settled(page)
                for name in ("Epidermis", "Dermis", "Background"):
                    page.get_by_test_id("new-class-name").fill(name)
                    page.get_by_test_id("add-class").click()
                    exact = page.get_by_text(name, exact=True)
                    page.get_by_test_id("class-row").filter(has=exact).wait_for()
                box = stage_box(page)
                page.get_by_test_id("brush-size").fill("14")
                _key(page, "b")
                _key(page, "1")
                _stroke(page, box, EPIDERMIS)
                _key(page, "2")
                _key(page, "l")
                _stroke(page, box, DERMIS)
                _key(page, "3")
                _key(page, "b")
                _stroke(page, box, BACKGROUND)
                _key(page, "r")
                _stroke(page, box, ROI)
                _key(page, "b")
                _key(page, "1")
                page.mouse.move(box["x"] + 610, box["y"] + 300)
                page.evaluate("() => new Promise(r => requestAnimationFrame(r))")
                output.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(output))
                browser.close()
        finally:
            server.stop()
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
