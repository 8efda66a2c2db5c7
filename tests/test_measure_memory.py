"""Post-processing, objects and exports keep memory bounded whatever the slide's size."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.helpers import REPO

PROBE = REPO / "tests" / "memory_probe.py"


def peak(side: int) -> dict:
    done = subprocess.run(
        [sys.executable, str(PROBE), str(side)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_50k_slide_needs_little_more_memory_than_a_10k_one():
    small, large = peak(10_000), peak(50_000)
    assert large["objects"] > 10 * small["objects"]  # 25 times the area: real work
    ratio = large["peak_rss_kib"] / small["peak_rss_kib"]
    print(f"peak RSS 50k²/10k²: {ratio:.3f} ({small} / {large})")
    assert ratio <= 1.3
