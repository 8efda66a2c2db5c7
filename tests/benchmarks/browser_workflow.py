"""What a user waits for in the browser: four moments of the workflow, timed in Chromium.

A real server subprocess serves the demo slide (labelled through the API: Tissue and
Background); Chromium drives the page as a user would and times, inside the page, from the
click (or slider move) to the first animation frame that shows its effect:

1. open a slide: click in the slide list → first slide tile painted on the viewer canvas
   (and → every visible tile drawn);
2. Train: click → first point of the convergence curve drawn on the chart;
3. Apply (current view): click → first overlay tile drawn over the slide (and → all);
4. probability slider moved (0 → 90 %, and back and forth): → the overlay repainted
   (first changed frame, and → the new layer fully drawn).

"Drawn" is read off the canvases' pixels in a requestAnimationFrame loop, so a time has a
resolution of one frame (about 17 ms). Each time is reported as a ratio to two baselines
measured in the same run: one training step (1 / it_per_s of this run's history) and one
tile fetch (median of direct HTTP GETs of distinct slide tiles). No thresholds.

Run: .venv/bin/python tests/benchmarks/browser_workflow.py [--iterations 20] [--tiles 40]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.e2e.test_training_ui import DEMO_NAME, TRAIN_RGB, label_demo_slide  # noqa: E402
from tests.helpers import DEMO_DIR, ServerProcess  # noqa: E402

VIEWPORT = {"width": 1280, "height": 800}
TIMEOUT_MS = 900_000

# In-page stopwatch. `start` runs the user's action; `until` names what to wait for. The
# viewer canvas is sampled by drawing it into a 96×60 canvas (cheap to read every frame).
STOPWATCH = """
async ({action, until, baseline}) => {
  const small = document.createElement('canvas');
  small.width = 96; small.height = 60;
  const sctx = small.getContext('2d', {willReadFrequently: true});
  const viewerSample = () => {
    const canvas = document.querySelector('#viewer .openseadragon-canvas canvas');
    if (!canvas || !canvas.width) return null;
    sctx.clearRect(0, 0, 96, 60);
    sctx.drawImage(canvas, 0, 0, 96, 60);
    return sctx.getImageData(0, 0, 96, 60).data;
  };
  const painted = (d) => { for (let i = 3; i < d.length; i += 4) if (d[i] > 0) return true;
                           return false; };
  const changed = (d, base) => {
    let n = 0;
    for (let i = 0; i < d.length; i += 4) {
      if (Math.abs(d[i] - base[i]) > 24 || Math.abs(d[i + 1] - base[i + 1]) > 24 ||
          Math.abs(d[i + 2] - base[i + 2]) > 24) n++;
    }
    return n / (d.length / 4) > 0.002;
  };
  const curveDrawn = () => {
    const canvas = document.querySelector('.tr-chart canvas');
    if (!canvas || !canvas.width) return false;
    const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    const [r, g, b] = %TRAIN_RGB%;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3] > 200 && Math.abs(d[i] - r) < 30 && Math.abs(d[i + 1] - g) < 30 &&
          Math.abs(d[i + 2] - b) < 30) return true;
    }
    return false;
  };
  const panel = () => document.getElementById('inference-panel').dataset;
  const first = {
    tile: () => { const d = viewerSample(); return d !== null && painted(d); },
    points: () => Number(document.querySelector('.tr-chart')?.dataset.points) >= 1,
    overlay: () => { const d = viewerSample(); return d !== null && changed(d, baseline); },
  }[until.first];
  const all = {
    tiles: () => window.slidelab.settled(),
    curve: curveDrawn,
    overlay: () => panel().overlayLoaded === 'true' &&
                   (panel().overlayQuery || '').includes(until.query),
  }[until.all];
  const t0 = performance.now();
  const actions = {
    clickSlide: () => [...document.querySelectorAll('[data-testid=slide-item]')]
      .find(e => e.textContent.includes(until.slide)).querySelector('button').click(),
    clickTrain: () => document.querySelector('#training-panel .tr-train').click(),
    clickApply: () => document.querySelector('#inference-panel .inf-apply').click(),
    moveSlider: () => {
      const slider = document.querySelector('#inference-panel .inf-threshold');
      slider.value = String(until.value);
      slider.dispatchEvent(new Event('input', {bubbles: true}));
      slider.dispatchEvent(new Event('change', {bubbles: true}));
    },
  };
  actions[action]();
  let firstAt = null;
  return await new Promise((resolve, reject) => {
    const step = (now) => {
      const t = performance.now();
      if (firstAt === null && first()) firstAt = t;
      if (firstAt !== null && all()) return resolve({first_ms: firstAt - t0, all_ms: t - t0});
      if (t - t0 > %TIMEOUT%) return reject(new Error('timed out: ' + action));
      requestAnimationFrame(step);
    };
    requestAnimationFrame(step);
  });
}
""".replace("%TRAIN_RGB%", str(list(TRAIN_RGB))).replace("%TIMEOUT%", str(TIMEOUT_MS))

SAMPLE = """() => {
  const canvas = document.querySelector('#viewer .openseadragon-canvas canvas');
  const small = document.createElement('canvas');
  small.width = 96; small.height = 60;
  const ctx = small.getContext('2d');
  ctx.drawImage(canvas, 0, 0, 96, 60);
  return Array.from(ctx.getImageData(0, 0, 96, 60).data);
}"""


def timed(page, action: str, until: dict, baseline: list[int] | None = None) -> dict:
    """Run `action` in the page and time it to the first frame showing it, and to the end."""
    return page.evaluate(STOPWATCH, {"action": action, "until": until, "baseline": baseline})


def settle(page) -> None:
    """Wait until the viewer has drawn every visible tile and stopped moving."""
    page.wait_for_function("() => window.slidelab.settled()", timeout=TIMEOUT_MS)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def wait_run(server: ServerProcess, run_id: str, state: str = "completed") -> dict:
    """Poll a training run until it reaches `state`; the run."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while True:
        run = server.get(f"/api/training/{run_id}").json()
        if run["state"] == state:
            return run
        assert run["state"] in ("queued", "running"), run
        assert time.monotonic() < deadline, f"run still {run['state']}"
        time.sleep(0.5)


def step_time_s(history: list[dict]) -> tuple[float, int]:
    """Seconds per training step over the history, the first iteration left out (warm-up)."""
    first, last = history[1], history[-1]
    return (last["time"] - first["time"]) / (last["iteration"] - first["iteration"]), len(history)


def tile_fetch_ms(server: ServerProcess, slide_id: str, count: int) -> tuple[float, int]:
    """Median time of `count` direct GETs of distinct tiles at the slide's deepest level."""
    detail = server.get(f"/api/slides/{slide_id}").json()
    width, height = detail["width"], detail["height"]
    level = max(width, height).bit_length()  # deep zoom: the level of full resolution
    if 2 ** (level - 1) >= max(width, height):
        level -= 1
    cols, rows = -(-width // 254), -(-height // 254)
    cells = [(c, r) for r in range(rows) for c in range(cols)][:count]
    session = requests.Session()
    times = []
    for col, row in cells:
        start = time.perf_counter()
        answer = session.get(f"{server.url}/slides/{slide_id}_files/{level}/{col}_{row}.jpeg")
        times.append((time.perf_counter() - start) * 1000)
        assert answer.status_code == 200, (level, col, row, answer.status_code)
    return statistics.median(times), level


def measure(iterations: int, tiles: int, settings: dict) -> dict:
    """Run the workflow once in Chromium against a fresh server; the times (ms)."""
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess([DEMO_DIR], Path(tmp) / "data").start(timeout=180)
        try:
            slide_id, _ = label_demo_slide(server)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport=VIEWPORT)
                page.goto(server.url + "/")
                page.get_by_test_id("slide-item").first.wait_for(timeout=TIMEOUT_MS)
                until = {"first": "tile", "all": "tiles", "slide": DEMO_NAME}
                out["open"] = timed(page, "clickSlide", until)
                settle(page)

                panel = page.locator("#training-panel")
                page.wait_for_function(
                    "() => document.querySelectorAll('#training-panel .tr-classes"
                    " input:checked').length === 2",
                    timeout=TIMEOUT_MS,
                )
                for name, value in {**settings, "iterations": iterations}.items():
                    panel.locator(f"input[name={name}]").fill(str(value))
                out["settings"] = {
                    name: panel.locator(f"input[name={name}]").input_value()
                    for name in ("mpp", "patch_size", "batch_size")
                }
                out["train"] = timed(page, "clickTrain", {"first": "points", "all": "curve"})
                run_id = server.get("/api/training").json()[0]["id"]
                run = wait_run(server, run_id)
                out["step_s"], out["steps"] = step_time_s(run["history"])
                out["it_per_s"] = run.get("it_per_s")
                page.wait_for_function(
                    "() => document.querySelector('#inference-panel .inf-apps')?.dataset.value",
                    timeout=TIMEOUT_MS,
                )

                page.get_by_test_id("toggle-annotations").click()  # the overlay alone
                settle(page)
                before = page.evaluate(SAMPLE)
                until = {"first": "overlay", "all": "overlay", "query": "threshold=0&"}
                out["apply"] = timed(page, "clickApply", until, before)
                page.wait_for_timeout(500)

                out["slider"] = []
                for value in (90, 50, 80, 30, 95):
                    page.wait_for_timeout(300)
                    before = page.evaluate(SAMPLE)
                    query = f"threshold={value / 100:g}&"
                    until = {"first": "overlay", "all": "overlay", "query": query, "value": value}
                    out["slider"].append(timed(page, "moveSlider", until, before))
                browser.close()
            out["tile_ms"], out["tile_level"] = tile_fetch_ms(server, slide_id, tiles)
            out["tiles"] = tiles
        finally:
            server.stop()
    return out


def report(out: dict) -> None:
    """Print each moment in ms and as ratios to one training step and one tile fetch."""
    step_ms, tile_ms = out["step_s"] * 1000, out["tile_ms"]
    s = out["settings"]
    print(
        f"browser workflow (Chromium {VIEWPORT['width']}×{VIEWPORT['height']}, demo slide,"
        f" U-Net {s['mpp']} µm/px patch {s['patch_size']} batch {s['batch_size']}):"
    )
    print(
        f"  one training step = {step_ms:.1f} ms (this run's history, {out['steps']} it.;"
        f" server's it_per_s {out['it_per_s'] or 0:.2f})"
    )
    print(
        f"  one tile fetch = {tile_ms:.1f} ms (median of {out['tiles']} direct GETs of distinct"
        f" tiles, level {out['tile_level']})"
    )
    slider_first = statistics.median(m["first_ms"] for m in out["slider"])
    slider_all = statistics.median(m["all_ms"] for m in out["slider"])
    rows = [
        ("open slide → first tile painted", out["open"]["first_ms"], "all tiles drawn",
         out["open"]["all_ms"]),
        ("Train click → first curve point drawn", out["train"]["all_ms"], "its data in the page",
         out["train"]["first_ms"]),
        ("Apply click → first overlay tile", out["apply"]["first_ms"], "overlay complete",
         out["apply"]["all_ms"]),
        (f"slider move → repaint (median of {len(out['slider'])})", slider_first,
         "new layer complete", slider_all),
    ]  # fmt: skip
    for label, first, extra, extra_ms in rows:
        line = f"  {label:<44} {first:8.1f} ms"
        if extra:
            line += f"   ({extra} {extra_ms:.1f} ms)"
        print(line)
    for label, first, _, _ in rows:
        name = label.split(" (")[0]
        print(
            f"  RATIO {name} / one training step = {first / step_ms:.3f};"
            f" / one tile fetch = {first / tile_ms:.2f}"
        )


def main() -> int:
    """Measure once and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20, help="iterations of the run")
    parser.add_argument("--tiles", type=int, default=40, help="direct tile fetches")
    # A small network by default so the run ends soon on a CPU; the moments timed are the
    # page's, the training step is only their yardstick.
    parser.add_argument("--mpp", type=float, default=4, help="training resolution, µm/px")
    parser.add_argument("--patch", type=int, default=64, help="patch size, px")
    parser.add_argument("--batch", type=int, default=4, help="batch size")
    args = parser.parse_args()
    settings = {"mpp": args.mpp, "patch_size": args.patch, "batch_size": args.batch}
    report(measure(args.iterations, args.tiles, settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
