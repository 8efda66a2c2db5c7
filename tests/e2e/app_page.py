"""Driving the slidelab page in Chromium: open slides, wait for tiles, read pixels."""

from __future__ import annotations

import io
from urllib.parse import parse_qs

import numpy as np
from PIL import Image

from tests.helpers import ServerProcess

DEMO_NAME = "CMU-1-Small-Region.svs"
TIMEOUT_MS = 30_000


def open_app(page, server: ServerProcess, hash_: str = "") -> None:
    """Load the app and wait until the slide list has arrived."""
    page.goto(f"{server.url}/{hash_}")
    page.get_by_test_id("slide-item").first.wait_for(timeout=TIMEOUT_MS)


def open_slide(page, name: str = DEMO_NAME) -> None:
    """Click a slide in the list and wait until its tiles are drawn."""
    page.get_by_test_id("slide-item").filter(has_text=name).get_by_role("button").click()
    wait_settled(page)


def wait_settled(page) -> None:
    """Wait until the view has stopped moving and every visible tile is drawn."""
    page.wait_for_function(
        "() => window.slidelab && window.slidelab.slide() && window.slidelab.settled()",
        timeout=TIMEOUT_MS,
    )
    # One more frame so overlays drawn on the last viewport update are on screen.
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def view(page) -> dict:
    """The viewer's centre (level-0 px) and zoom (screen px per level-0 px)."""
    return page.evaluate("() => window.slidelab.view()")


def hash_state(page) -> dict:
    """The slide and view the URL hash holds right now."""
    fragment = page.evaluate("() => location.hash").lstrip("#")
    return {key: values[0] for key, values in parse_qs(fragment).items()}


def wait_hash(page, **expected: str) -> dict:
    """Wait until the URL hash has the given keys (e.g. z="0.5"), return it."""
    checks = " && ".join(f"p.get({k!r}) === {v!r}" for k, v in expected.items()) or "true"
    page.wait_for_function(
        f"() => {{ const p = new URLSearchParams(location.hash.slice(1));"
        f" return p.has('z') && {checks}; }}",
        timeout=TIMEOUT_MS,
    )
    return hash_state(page)


def stage_box(page) -> dict:
    """Position and size of the viewer area on the page (CSS px)."""
    return page.get_by_test_id("viewer-stage").bounding_box()


def stage_pixels(page) -> np.ndarray:
    """A screenshot of the viewer area as an RGB array (height, width, 3)."""
    png = page.get_by_test_id("viewer-stage").screenshot()
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16)


def tissue_fraction(rgb: np.ndarray) -> float:
    """Share of pixels that look like H&E-stained tissue (pink/purple, not white or black)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    saturation = rgb.max(axis=-1) - rgb.min(axis=-1)
    stained = (r > g + 15) & (b > g) & (saturation > 30) & (rgb.max(axis=-1) > 80)
    return float(stained.mean())
