"""Scale-out benchmark: `slidelab apply` through Ray against the plain run, same slides.

An archive of copies of the demo slide is applied with a U-Net (ResNet-18) app at
1 µm/px, first by the plain run (`apply_here`: one process, all cores), then through
Ray on this machine (`apply_on_ray`, a local Ray with one model worker holding all
cores). Printed: slides per minute each way and their ratio, with and without Ray's
start-up (target without: ≥ 0.8), and the peak memory of each model worker against the
plain process's.

Run: .venv/bin/python tests/benchmarks/bench_apply_scale.py [--slides 8]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import ray  # noqa: E402

from server.inference.batch import ApplyOptions, apply_here, read_app  # noqa: E402
from server.inference.ray_apply import Workers, apply_on_ray  # noqa: E402
from tests.helpers import DEMO_SLIDE  # noqa: E402
from tests.inference_support import make_app  # noqa: E402


def slides_per_minute(outcomes: list[dict], count: int, started: float) -> float:
    """Slides per minute since `started` (every outcome must be done)."""
    done = [o for o in outcomes if o["state"] == "done"]
    assert len(done) == count, f"{count - len(done)} slide(s) failed"
    return count * 60 / (time.perf_counter() - started)


def mean_seconds(outcomes: list[dict]) -> float:
    """The mean seconds a slide took where it was applied (scheduling not counted)."""
    return sum(o["seconds"] for o in outcomes) / len(outcomes)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slides", type=int, default=8)
    args = parser.parse_args()
    cpus = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="bench-apply-scale-") as tmp:
        root = Path(tmp)
        app = read_app(make_app(root / "data", mpp=1.0), root / "data")
        slides = [Path(shutil.copy(DEMO_SLIDE, root / f"s{i}.svs")) for i in range(args.slides)]
        for name in ("plain", "ray", "ray-started"):
            (root / name).mkdir()

        started = time.perf_counter()
        here = list(apply_here(app, slides, ApplyOptions(root / "plain", 0.5), "cpu"))
        plain = slides_per_minute(here, len(slides), started)
        plain_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        workers = Workers(1, cpus, "cpu")
        started = time.perf_counter()
        ray.init(num_cpus=cpus, include_dashboard=False)
        outcomes = list(apply_on_ray(app, slides, ApplyOptions(root / "ray", 0.5), workers, None))
        with_start = slides_per_minute(outcomes, len(slides), started)
        # Again on the running Ray: the steady state of a long run, start-up excluded.
        started = time.perf_counter()
        again = list(
            apply_on_ray(app, slides, ApplyOptions(root / "ray-started", 0.5), workers, None)
        )
        steady = slides_per_minute(again, len(slides), started)
        ray.shutdown()
    worker_rss = max(o["worker"]["peak_rss_mb"] for o in outcomes + again)
    print(f"slides: {len(slides)} × {DEMO_SLIDE.name}, U-Net ResNet-18 at 1 µm/px, {cpus} CPUs")
    print(f"plain slidelab apply: {plain:.1f} slides/min")
    print(f"Ray, start-up included: {with_start:.1f} slides/min, ratio {with_start / plain:.2f}")
    print(f"Ray, running cluster: {steady:.1f} slides/min, ratio {steady / plain:.2f} (≥ 0.8)")
    print(
        f"seconds per slide where applied: plain {mean_seconds(here):.1f}, "
        f"Ray worker {mean_seconds(again):.1f}"
    )
    print(
        f"peak memory: model worker {worker_rss:.0f} MB, plain process {plain_rss:.0f} MB, "
        f"ratio {worker_rss / plain_rss:.2f}"
    )


if __name__ == "__main__":
    main()
