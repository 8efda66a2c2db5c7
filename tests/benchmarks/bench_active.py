"""Active learning: labels placed where the "label next" queue says against labels at random
places, by a simulated annotator on a real slide, through a real slidelab server.

The task (made by the benchmark, for any H&E slide; the slide is an optional argument):
hematoxylin-rich tissue (epidermis, dense nuclei, hair follicles on the demo slide)
against everything else (eosin-rich stroma and glass). The hematoxylin optical density
comes from colour deconvolution (Ruifrok & Johnston's H&E-DAB matrix, as scikit-image's
rgb2hed), averaged over squares of SMOOTH_UM µm (at 2 µm/px single nuclei are 2–4 px,
so the task is about tissue, not specks); the threshold is Otsu's over the slide's own
tissue pixels, so no number is tuned to one slide; a 3×3 opening removes specks. On the
demo slide it is 12–13 % of both areas, with ragged borders, spread unevenly (glass,
dermis and epidermis in bands), so where labels go matters. Tissue against glass would
not do: a few labels anywhere separate it.

- The top 60 % of the slide is the training area, where labels are placed; the bottom
  35 % is the held-out area, which is never labelled, never sent for suggestions and only
  scored. The annotator labels square windows (`--window` px at `--mpp`) densely with the
  reference: `PUT /api/slides/<id>/annotations` (the GeoJSON import) of every window
  labelled so far: each window as "Other", then its hematoxylin-rich polygons (vectorised
  from the reference, holes kept) on top.
- Round 0: `--initial` windows at random places (per seed), redrawn until both classes
  are labelled (as a user paints both before the first run), the same for both strategies;
  a run trains `--iterations` iterations (U-Net/resnet18, patch 128, batch 8, constant
  learning rate, no validation hold-out). Each next round labels `--per-round` windows
  more and continues the same run (`POST /api/training/<run>/continue`) by `--iterations`.
  After every round the app is applied to the held-out area (`POST /api/inference`,
  bbox) and its label TIFF (threshold 0) scored: IoU of the hematoxylin-rich class.
  - queue: the app is applied to the training area and the windows are the first of
    `GET /api/results/<rid>/suggestions?size=<window>` not already mostly labelled;
  - random: uniform random windows in the training area, not overlapping labelled ones
    (glass included: an annotator who does not look).
  Both strategies use the same seeds (initial windows, training seed), model, training
  budget per round and window size. Random gets more rounds (`--random-rounds` against
  `--rounds`), so that it reaches the IoU the queue reaches and the areas can be compared.
  IoU and area are averaged over the seeds per round.
- Each mean IoU-vs-area curve is fitted by the least-squares non-decreasing curve (pool
  adjacent violators): with 30 iterations a round, the held-out IoU of one run moves by
  ±0.1 between rounds whatever the labels, and the first crossing of a raw curve would
  measure that noise. The labelled area (the server's annotation summary) each strategy
  needs to reach the target IoU (90 % of the lower of the two fits' best) is interpolated
  linearly on its fit.

Printed: per round and seed the labelled area, the IoU and where the time went; each
seed's ratio (its own curves; noisier); the mean curves and their fits, the area each
strategy needs and the ratio queue / random (target <= 0.7). No timing targets. On an
idle 2-core CPU (3.1 it/s, docs/architecture.md) the defaults take about 25 minutes
(a round is about 25 s, most of it training); each round's line says where its time went.

Run: .venv/bin/python tests/benchmarks/bench_active.py [SLIDE] [--seeds 0 1 2]
     [--rounds 5] [--random-rounds 11] [--iterations 30] [--mpp 2.0] [--window 48]
     [--initial 2] [--per-round 2]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import openslide
import rasterio.features
import requests
import tifffile
from PIL import Image, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from server.inference.reader import WindowReader  # noqa: E402
from server.inference.tiler import Grid  # noqa: E402
from tests.helpers import DEMO_SLIDE, ServerProcess, slide_id_by_name  # noqa: E402

TRAIN_END = 0.60  # the training area: the top 60 % of the slide
EVAL_START = 0.65  # the held-out area: from here to the bottom edge
POSITIVE, NEGATIVE = "Hematoxylin-rich", "Other"
COLORS = {POSITIVE: [64, 64, 192], NEGATIVE: [240, 192, 208]}
MAX_OVERLAP = 0.5  # a window more than this much labelled already is skipped
MIN_SHARE = 0.02  # round 0 labels each class on at least this share of its pixels
# Inverse of Ruifrok & Johnston's H&E-DAB stain matrix (scikit-image's hed_from_rgb).
HED_FROM_RGB = np.linalg.inv(np.array([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]]))
GLASS_BRIGHTNESS = 200  # mean RGB above this is glass, not tissue
SMOOTH_UM = 16  # hematoxylin density is averaged over squares of this side (µm)


# ---------------------------------------------------------------- the reference


@dataclass
class Area:
    """A full-width band of the slide at the training resolution: pixels, grid, reference."""

    rgb: np.ndarray
    grid: Grid
    truth: np.ndarray = field(init=False)

    @property
    def bbox(self) -> list[float]:
        """The band in level-0 px, [x, y, w, h]."""
        g = self.grid
        return [g.x0, g.y0, g.width * g.scale, g.height * g.scale]


def read_band(path: Path, y0: int, y1: int, mpp: float) -> Area:
    """RGB of the slide band [y0, y1) (level-0 rows) at `mpp`, on the grid a result of a
    bbox region starting at (0, y0) has."""
    with openslide.OpenSlide(str(path)) as slide:
        width = slide.dimensions[0]
        scale = mpp / float(slide.properties[openslide.PROPERTY_NAME_MPP_X])
        grid = Grid.for_region(0, y0, width, y1 - y0, scale)
        side = max(grid.width, grid.height)
        pixels = WindowReader(slide, grid).read(0, 0, side)[: grid.height, : grid.width]
    return Area(np.ascontiguousarray(pixels[..., :3]), grid)


def hematoxylin(rgb: np.ndarray) -> np.ndarray:
    """Hematoxylin optical density of each pixel (colour deconvolution)."""
    od = -np.log(np.maximum(rgb.astype(np.float64), 1) / 255)
    return od @ HED_FROM_RGB[:, 0]


def otsu(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of a 1-D sample (maximal between-class variance)."""
    hist, edges = np.histogram(values, bins)
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(hist)
    mass = np.cumsum(hist * centres)
    below = weight / weight[-1]
    mean_below = mass / np.maximum(weight, 1)
    mean_above = (mass[-1] - mass) / np.maximum(weight[-1] - weight, 1)
    return float(centres[np.argmax(below * (1 - below) * (mean_below - mean_above) ** 2)])


def smoothed_hematoxylin(rgb: np.ndarray, mpp: float) -> np.ndarray:
    """Hematoxylin density averaged over a square of about SMOOTH_UM µm (a box filter)."""
    radius = max(1, round(SMOOTH_UM / 2 / mpp))
    padded = np.pad(hematoxylin(rgb), radius + 1, mode="edge")
    table = padded.cumsum(axis=0).cumsum(axis=1)
    h, w = rgb.shape[:2]
    k = 2 * radius + 1
    sums = table[k : k + h, k : k + w] - table[:h, k : k + w] - table[k : k + h, :w] + table[:h, :w]
    return sums / k**2


def tissue_mask(rgb: np.ndarray) -> np.ndarray:
    """Stained pixels: not bright glass."""
    return rgb.mean(axis=-1) < GLASS_BRIGHTNESS


def reference_threshold(rgb: np.ndarray, mpp: float) -> float:
    """The smoothed hematoxylin density separating hematoxylin-rich from other tissue on
    this slide: Otsu's threshold over its tissue pixels."""
    return otsu(smoothed_hematoxylin(rgb, mpp)[tissue_mask(rgb)])


def reference_mask(rgb: np.ndarray, mpp: float, threshold: float) -> np.ndarray:
    """Boolean hematoxylin-rich mask: tissue whose smoothed hematoxylin density is above
    the threshold, specks removed (a 3×3 morphological opening)."""
    mask = (smoothed_hematoxylin(rgb, mpp) > threshold) & tissue_mask(rgb)
    image = Image.fromarray(mask.astype(np.uint8) * 255)
    opened = image.filter(ImageFilter.MinFilter(3)).filter(ImageFilter.MaxFilter(3))
    return np.asarray(opened) > 0


def iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of two boolean masks."""
    union = np.logical_or(pred, truth).sum()
    return float(np.logical_and(pred, truth).sum() / max(union, 1))


# ---------------------------------------------------------------- the annotator


Window = tuple[int, int, int, int]  # col, row, width, height in the training area's pixels


def window_features(area: Area, window: Window) -> list[dict]:
    """GeoJSON features that label one window densely with the reference, in level-0 px:
    the window as Other, then its hematoxylin-rich polygons (later features win)."""
    c, r, w, h = window
    g = area.grid
    x0, y0 = g.to_level0(c, r)
    square = [
        [x0, y0],
        [x0 + w * g.scale, y0],
        [x0 + w * g.scale, y0 + h * g.scale],
        [x0, y0 + h * g.scale],
    ]
    features = [_feature(NEGATIVE, {"type": "Polygon", "coordinates": [[*square, square[0]]]})]
    mask = area.truth[r : r + h, c : c + w].astype(np.uint8)
    transform = rasterio.Affine(g.scale, 0, x0, 0, g.scale, y0)
    for geom, value in rasterio.features.shapes(mask, mask=mask > 0, transform=transform):
        if value:
            features.append(_feature(POSITIVE, geom))
    return features


def _feature(name: str, geometry: dict) -> dict:
    return {
        "type": "Feature",
        "geometry": geometry,
        "properties": {"classification": {"name": name, "color": COLORS[name]}},
    }


def overlap(window: Window, others: list[Window]) -> float:
    """Fraction of `window` covered by the union of `others` (all axis-aligned)."""
    c, r, w, h = window
    covered = np.zeros((h, w), bool)
    for oc, orow, ow, oh in others:
        x0, x1 = max(oc - c, 0), min(oc + ow - c, w)
        y0, y1 = max(orow - r, 0), min(orow + oh - r, h)
        if x0 < x1 and y0 < y1:
            covered[y0:y1, x0:x1] = True
    return float(covered.mean())


def random_windows(
    area: Area, side: int, count: int, taken: list[Window], rng: np.random.Generator
) -> list[Window]:
    """`count` windows at uniform random places in the area, not overlapping labelled ones
    (nor each other)."""
    chosen: list[Window] = []
    for _ in range(count * 10_000):
        if len(chosen) == count:
            break
        c = int(rng.integers(0, area.grid.width - side + 1))
        r = int(rng.integers(0, area.grid.height - side + 1))
        window = (c, r, side, side)
        if overlap(window, taken + chosen) == 0:
            chosen.append(window)
    if len(chosen) < count:
        raise RuntimeError(f"no room for {count} more random windows of {side} px")
    return chosen


def initial_windows(area: Area, side: int, count: int, rng: np.random.Generator) -> list[Window]:
    """Round 0's windows: random, redrawn until both classes are labelled (at least
    MIN_SHARE of the labelled pixels each), as a user paints both before the first run."""
    for _ in range(1000):
        windows = random_windows(area, side, count, [], rng)
        share = np.mean([area.truth[r : r + h, c : c + w].mean() for c, r, w, h in windows])
        if MIN_SHARE <= share <= 1 - MIN_SHARE:
            return windows
    raise RuntimeError(f"{count} windows of {side} px never label both classes")


def to_window(area: Area, bbox: list[float]) -> Window:
    """A level-0 bbox as a window of the training area's pixels, clipped to the area."""
    g = area.grid
    c0 = max(int(round((bbox[0] - g.x0) / g.scale)), 0)
    r0 = max(int(round((bbox[1] - g.y0) / g.scale)), 0)
    c1 = min(int(round((bbox[0] + bbox[2] - g.x0) / g.scale)), g.width)
    r1 = min(int(round((bbox[1] + bbox[3] - g.y0) / g.scale)), g.height)
    return (c0, r0, max(c1 - c0, 0), max(r1 - r0, 0))


# ---------------------------------------------------------------- driving slidelab


def ok(response: requests.Response) -> requests.Response:
    """The response, or an error saying what the server answered."""
    if not response.ok:
        raise RuntimeError(
            f"{response.request.method} {response.url}: {response.status_code} {response.text}"
        )
    return response


class Session:
    """One server, one slide: labels by GeoJSON import, runs, Apply and the label TIFF."""

    def __init__(self, server: ServerProcess, slide_id: str) -> None:
        self.server = server
        self.slide_id = slide_id
        for name, (r, g, b) in COLORS.items():
            body = {"name": name, "color": f"#{r:02x}{g:02x}{b:02x}"}
            ok(self.server.post("/api/classes", json=body))

    def label(self, area: Area, windows: list[Window]) -> tuple[float, float]:
        """Replace the slide's labels by the reference inside `windows`; (labelled mm², the
        hematoxylin-rich share of it), from the server's summary."""
        features = [f for w in windows for f in window_features(area, w)]
        features.sort(key=lambda f: f["properties"]["classification"]["name"] == POSITIVE)
        path = f"/api/slides/{self.slide_id}/annotations"
        body = {"type": "FeatureCollection", "features": features}
        response = self.server.request("PUT", path, json=body, timeout=120)
        ok(response)
        areas = {
            c["name"]: c["area_um2"] for c in self.server.get(f"{path}/summary").json()["classes"]
        }
        total = sum(areas.values())
        return total / 1e6, areas.get(POSITIVE, 0) / max(total, 1e-9)

    def class_ids(self) -> dict[str, int]:
        """Class name -> id."""
        return {c["name"]: c["id"] for c in self.server.get("/api/classes").json()}

    def train(self, settings: dict, run_id: str | None, iterations: int) -> tuple[str, str]:
        """Start a run (`run_id` None) or continue it by `iterations`; (run id, app id)."""
        if run_id is None:
            ids = self.class_ids()
            body = {
                "slides": [self.slide_id],
                "classes": [ids[POSITIVE], ids[NEGATIVE]],
                "settings": settings | {"iterations": iterations},
            }
            response = self.server.post("/api/training", json=body)
        else:
            path = f"/api/training/{run_id}/continue"
            response = self.server.post(path, json={"iterations": iterations})
        ok(response)
        run_id = response.json()["id"]
        run = self.wait(f"/api/training/{run_id}", 1800)
        if run["state"] != "completed":
            raise RuntimeError(f"training {run['state']}: {run.get('error')}")
        return run_id, run["app_id"]

    def apply(self, app_id: str, bbox: list[float]) -> str:
        """Apply an app to a level-0 bbox; the completed result's id."""
        body = {"app_id": app_id, "slide_id": self.slide_id, "region": {"bbox": bbox}}
        response = self.server.post("/api/inference", json=body)
        ok(response)
        rid = response.json()["result_id"]
        result = self.wait(f"/api/results/{rid}", 900)
        if result["state"] != "completed":
            raise RuntimeError(f"inference {result['state']}: {result.get('error')}")
        return rid

    def predicted(self, app_id: str, bbox: list[float], shape: tuple[int, ...]) -> np.ndarray:
        """Where the app, applied to a level-0 bbox, predicts the hematoxylin-rich class
        (label TIFF at threshold 0, cut to `shape`)."""
        classes = self.server.get(f"/api/apps/{app_id}").json()["classes"]
        value = next(c["index"] for c in classes if c["name"] == POSITIVE) + 1
        labels = self.labels(self.apply(app_id, bbox))
        return labels[: shape[0], : shape[1]] == value

    def labels(self, rid: str, threshold: float = 0) -> np.ndarray:
        """The result's label TIFF: class position + 1, 0 unclassified or outside."""
        tiff = self.server.get(f"/api/results/{rid}/export.tiff?threshold={threshold}", timeout=120)
        ok(tiff)
        return tifffile.imread(io.BytesIO(tiff.content), key=0)

    def queue(self, rid: str, count: int, side_level0: float) -> list[list[float]]:
        """The "label next" queue of a result: up to `count` bboxes (level-0), best first."""
        path = f"/api/results/{rid}/suggestions?n={count}&size={side_level0}"
        response = self.server.get(path)
        ok(response)
        return [s["bbox"] for s in response.json()["suggestions"]]

    def wait(self, path: str, timeout: float) -> dict:
        """Poll a run or result until it is no longer queued or running."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body = self.server.get(path).json()
            if body["state"] not in ("queued", "running", "paused"):
                return body
            time.sleep(0.3)
        raise TimeoutError(path)


# ---------------------------------------------------------------- one strategy, one seed


@dataclass
class Curve:
    """Labelled area (mm²) and held-out IoU after each round."""

    area_mm2: list[float] = field(default_factory=list)
    iou: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Plan:
    """What both strategies share: rounds, training budget, windows."""

    rounds: int  # rounds after the first, placing windows from the queue
    random_rounds: int  # rounds after the first, placing windows at random
    iterations: int  # per round
    window: int  # side, px at the training resolution
    initial: int  # windows of the first round
    per_round: int  # windows of each later round
    settings: dict  # of the training run (its seed is the strategy's seed)


def run_strategy(
    session: Session, strategy: str, seed: int, train: Area, held_out: Area, plan: Plan
) -> Curve:
    """Rounds of label → train (continuing one run) → score, placing windows by `strategy`."""
    rng = np.random.default_rng(seed)
    windows = initial_windows(train, plan.window, plan.initial, rng)
    curve = Curve()
    run_id, app_id = None, ""
    rounds = plan.rounds if strategy == "queue" else plan.random_rounds
    for round_ in range(rounds + 1):
        clock = [time.monotonic()]
        if round_:
            windows += next_windows(session, strategy, app_id, train, windows, plan, rng)
        area, share = session.label(train, windows)
        curve.area_mm2.append(area)
        clock.append(time.monotonic())
        settings = plan.settings | {"seed": seed}
        run_id, app_id = session.train(settings, run_id, plan.iterations)
        clock.append(time.monotonic())
        pred = session.predicted(app_id, held_out.bbox, held_out.truth.shape)
        curve.iou.append(iou(pred, held_out.truth))
        clock.append(time.monotonic())
        print(
            f"  {strategy:6s} seed {seed} round {round_}: {len(windows):2d} windows,"
            f" labelled {area:.4f} mm² ({share:.0%} {POSITIVE}), IoU {curve.iou[-1]:.3f}"
            f" (s: choosing and labelling {clock[1] - clock[0]:.0f},"
            f" training {clock[2] - clock[1]:.0f}, scoring {clock[3] - clock[2]:.0f})",
            flush=True,
        )
    return curve


def next_windows(
    session: Session,
    strategy: str,
    app_id: str,
    train: Area,
    taken: list[Window],
    plan: Plan,
    rng: np.random.Generator,
) -> list[Window]:
    """The next round's windows: at random places, or the first of the "label next" queue
    of the app's result on the training area that are not mostly labelled already."""
    if strategy == "random":
        return random_windows(train, plan.window, plan.per_round, taken, rng)
    rid = session.apply(app_id, train.bbox)
    chosen: list[Window] = []
    for bbox in session.queue(rid, plan.per_round * 4, plan.window * train.grid.scale):
        window = to_window(train, bbox)
        if window[2] and window[3] and overlap(window, taken + chosen) <= MAX_OVERLAP:
            chosen.append(window)
        if len(chosen) == plan.per_round:
            break
    return chosen


# ---------------------------------------------------------------- the summary


def area_to_reach(curve: Curve, target: float) -> float:
    """Labelled area where the curve first reaches `target`, interpolated linearly between
    rounds (the first round's area when it starts above)."""
    a, v = curve.area_mm2, curve.iou
    for i, value in enumerate(v):
        if value >= target:
            if i == 0:
                return a[0]
            t = (target - v[i - 1]) / (value - v[i - 1])
            return a[i - 1] + t * (a[i] - a[i - 1])
    return float("nan")


def monotone(curve: Curve) -> Curve:
    """The least-squares non-decreasing fit of IoU over labelled area (pool adjacent
    violators): more labels do not make the expected model worse, so a dip between rounds
    is training noise, and the first crossing of a raw curve would measure that noise."""
    blocks: list[list[float]] = []  # [mean, count]
    for value in curve.iou:
        blocks.append([value, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            (m1, n1), (m2, n2) = blocks[-2], blocks.pop()
            blocks[-1] = [(m1 * n1 + m2 * n2) / (n1 + n2), n1 + n2]
    fitted = [m for m, n in blocks for _ in range(int(n))]
    return Curve(list(curve.area_mm2), fitted)


def mean_curve(curves: list[Curve]) -> Curve:
    """Round-by-round mean over seeds."""
    return Curve(
        list(np.mean([c.area_mm2 for c in curves], axis=0)),
        list(np.mean([c.iou for c in curves], axis=0)),
    )


def ratio(queue: Curve, random: Curve) -> tuple[float, tuple[float, float], float]:
    """(target IoU, (queue's, random's) area to reach it, their ratio) on the monotone fits;
    the target is 90 % of the lower of the fits' best IoUs."""
    fits = monotone(queue), monotone(random)
    target = 0.9 * min(max(f.iou) for f in fits)
    needed = area_to_reach(fits[0], target), area_to_reach(fits[1], target)
    return target, needed, needed[0] / needed[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("slide", nargs="?", type=Path, default=DEMO_SLIDE)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rounds", type=int, default=5, help="queue rounds after the first")
    parser.add_argument(
        "--random-rounds", type=int, default=11, help="random rounds after the first"
    )
    parser.add_argument("--iterations", type=int, default=30, help="per round")
    parser.add_argument("--mpp", type=float, default=2.0)
    parser.add_argument("--window", type=int, default=48, help="window side, px at --mpp")
    parser.add_argument("--initial", type=int, default=2, help="windows of round 0")
    parser.add_argument("--per-round", type=int, default=2, help="windows per later round")
    parser.add_argument("--encoder", default="resnet18")
    args = parser.parse_args()
    slide_path = args.slide.resolve()
    clock = time.monotonic()
    with openslide.OpenSlide(str(slide_path)) as slide:
        height = slide.dimensions[1]
    train = read_band(slide_path, 0, int(TRAIN_END * height), args.mpp)
    held_out = read_band(slide_path, int(EVAL_START * height), height, args.mpp)
    whole = read_band(slide_path, 0, height, args.mpp)
    threshold = reference_threshold(whole.rgb, args.mpp)
    train.truth = reference_mask(train.rgb, args.mpp, threshold)
    held_out.truth = reference_mask(held_out.rgb, args.mpp, threshold)
    print(
        f"{slide_path.name}: {POSITIVE} (hematoxylin density > {threshold:.2f}, Otsu) is"
        f" {train.truth.mean():.1%} of the training area ({train.grid.width}×{train.grid.height}"
        f" px at {args.mpp} µm/px) and {held_out.truth.mean():.1%} of the held-out area;"
        f" windows {args.window} px, {args.initial} + {args.per_round}/round,"
        f" {args.iterations} iterations/round, {args.rounds + 1} rounds, seeds {args.seeds}",
        flush=True,
    )
    plan = Plan(
        args.rounds,
        args.random_rounds,
        args.iterations,
        args.window,
        args.initial,
        args.per_round,
        {
            "architecture": "unet",
            "encoder": args.encoder,
            "mpp": args.mpp,
            "patch_size": 128,
            "batch_size": 8,
            "learning_rate": 0.001,
            "schedule": "constant",
            "warmup_iterations": 0,
            "validation_fraction": 0,  # the held-out area is the benchmark's own
            "keep_weights": "last",
            "checkpoint_interval": 100_000,  # Continue resumes from the run's last iteration
        },
    )
    curves: dict[str, list[Curve]] = {"queue": [], "random": []}
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess([slide_path.parent], Path(tmp)).start(timeout=300)
        try:
            session = Session(server, slide_id_by_name(server, slide_path.name))
            for seed in args.seeds:
                for strategy in curves:
                    curve = run_strategy(session, strategy, seed, train, held_out, plan)
                    curves[strategy].append(curve)
        finally:
            server.stop()
    for seed, queue, random in zip(args.seeds, curves["queue"], curves["random"], strict=True):
        print(f"seed {seed}: ratio area queue / random {ratio(queue, random)[2]:.3f}")
    means = {name: mean_curve(c) for name, c in curves.items()}
    for name, curve in means.items():
        points = ", ".join(
            f"{a:.4f}:{v:.3f}" for a, v in zip(curve.area_mm2, curve.iou, strict=True)
        )
        print(f"{name:6s} mean IoU by labelled mm²: {points}")
    for name, curve in means.items():
        points = ", ".join(f"{v:.3f}" for v in monotone(curve).iou)
        print(f"{name:6s} monotone fit: {points}")
    target, needed, mean_ratio = ratio(means["queue"], means["random"])
    print(
        f"labelled area to reach IoU {target:.3f} (90 % of the lower best of the fits):"
        f" queue {needed[0]:.4f} mm², random {needed[1]:.4f} mm²"
        f" ({time.monotonic() - clock:.0f} s in all)"
    )
    print(
        f"IoU after the last round: queue {means['queue'].iou[-1]:.3f},"
        f" random {means['random'].iou[-1]:.3f}"
    )
    print(f"ratio area queue / random: {mean_ratio:.3f} (target <= 0.7)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
