"""Browser frame time while panning over a slide's annotations, measured in Chromium.

Used by bench_annotations.py. The page pans the viewer a few pixels every animation frame
(back and forth, as a drag does) and records the time between requestAnimationFrame
callbacks; each case runs first with the annotations hidden (the baseline: tiles only)
and then shown, on the same path, after a warm-up pass that loads the tiles.
Chromium runs without vsync and frame-rate limit, so an interval is the time the frame
took rather than a multiple of 16.7 ms.
"""

from __future__ import annotations

import numpy as np
from playwright.sync_api import sync_playwright

from tests.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.helpers import ServerProcess

TARGET_P95_MS = 33.0
UNCAPPED = ["--disable-gpu-vsync", "--disable-frame-rate-limit"]

# Pan `dx` px per frame, reversing every `leg` frames; resolves with the frame intervals.
PAN_SCRIPT = """
async ({frames, dx, leg}) => {
  const intervals = [];
  let last = null;
  let n = 0;
  let direction = 1;
  return await new Promise((resolve) => {
    const step = (time) => {
      if (last !== null) intervals.push(time - last);
      last = time;
      if (n > 0 && n % leg === 0) direction = -direction;
      window.slidelab.panBy(direction * dx, 0);
      n += 1;
      if (n <= frames) requestAnimationFrame(step);
      else resolve(intervals);
    };
    requestAnimationFrame(step);
  });
}
"""


def _settle(page) -> None:
    page.wait_for_function(
        "() => window.slidelab.slide() && window.slidelab.settled()", timeout=60_000
    )


def _set_annotations(page, shown: bool) -> None:
    toggle = page.get_by_test_id("toggle-annotations")
    if (toggle.get_attribute("aria-pressed") == "true") != shown:
        toggle.click()
    page.evaluate("() => document.activeElement && document.activeElement.blur()")


def _pan(page, frames: int) -> list[float]:
    return page.evaluate(PAN_SCRIPT, {"frames": frames, "dx": 8, "leg": 100})


def measure(server: ServerProcess, slide_id: str, frames: int = 400) -> list[dict]:
    """Frame intervals (ms) panning at fit and at 10×, annotations hidden then shown.

    At 10× each leg of the pan (800 px) goes beyond the labels bitmap's margin, so the
    measured frames include the re-renders a long pan causes.
    """
    results = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + UNCAPPED)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{server.url}/#slide={slide_id}")
        _settle(page)
        page.wait_for_function("() => window.slidelab.annotationsVersion() > 0", timeout=60_000)
        for view in ("fit", "10x"):
            if view == "10x":
                page.get_by_test_id("mag-10").click()
            _settle(page)
            for shown in (False, True):
                _set_annotations(page, shown)
                _pan(page, 200)  # warm-up: tiles of the path, Path2D cache
                _settle(page)
                renders = page.evaluate("() => window.slidelab.overlayRenders()")
                page.evaluate("() => window.slidelab.slowestRender(true)")
                intervals = _pan(page, frames)
                renders = page.evaluate("() => window.slidelab.overlayRenders()") - renders
                slowest = page.evaluate("() => window.slidelab.slowestRender()")
                parts = page.evaluate("() => window.slidelab.drawnParts()") if shown else 0
                results.append(
                    {
                        "view": view,
                        "shown": shown,
                        "ms": intervals,
                        "parts": parts,
                        "renders": renders,
                        "slowest_render": slowest,
                    }
                )
        browser.close()
    return results


def report(results: list[dict], strokes: int) -> None:
    """Print p50/p95/max per case and the RATIO of p95 shown/hidden (target p95 ≤ 33 ms)."""
    print(f"browser frame time while panning (Chromium, rAF intervals), {strokes} strokes:")
    p95 = {}
    for case in results:
        ms = np.asarray(case["ms"])
        p95[(case["view"], case["shown"])] = float(np.percentile(ms, 95))
        label = f"{case['view']}, annotations {'shown' if case['shown'] else 'hidden'}"
        line = (
            f"  {label:<28} p50 {np.percentile(ms, 50):6.1f} ms   p95 {np.percentile(ms, 95):6.1f}"
            f" ms   max {ms.max():6.1f} ms   ({len(ms)} frames)"
        )
        if case["shown"]:
            line += (
                f"; labels: {case['parts']} polygons in view, bitmap rendered"
                f" {case['renders']}× (slowest {case['slowest_render']:.1f} ms)"
            )
        print(line)
    worst = max(v for (_, shown), v in p95.items() if shown)
    verdict = "OK" if worst <= TARGET_P95_MS else "ABOVE TARGET"
    for view in dict.fromkeys(case["view"] for case in results):
        ratio = p95[(view, True)] / p95[(view, False)]
        print(f"  RATIO p95 frame time shown/hidden at {view} = {ratio:.2f}")
    print(
        f"  worst p95 with annotations = {worst:.1f} ms (target ≤ {TARGET_P95_MS:g} ms) {verdict}"
    )
