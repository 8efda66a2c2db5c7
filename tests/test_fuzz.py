"""Fuzzing a real server: thousands of generated requests and Socket.IO events, bad and good.

Hypothesis draws requests for every route of the HTTP API (the server's Flask url_map;
`test_every_route_is_fuzzed` fails when a route is added without a strategy here): path
ids, query strings and JSON bodies of wrong types, huge, negative and non-finite numbers,
deep nesting, long and non-ASCII strings, missing and extra fields, as well as valid ones
built from what exists on the server (slides, classes, ROIs, apps, runs, results). Every
answer must be: not a 5xx, free of Python traceback text, and when 4xx, JSON with an
`error` message. Afterwards the server answers /api/health within a second and its RSS
never grew past RSS_BOUND_BYTES over its idle size (sampled after every request).

About 3,450 requests and 400 Socket.IO events; runs are derandomised (the same examples
every time) and a failure prints what was sent, with the server log of a 5xx. Training
runs the fuzzer manages to start are stopped at once and inference results cancelled, so
the module takes about two minutes on a 2-core machine.
"""

from __future__ import annotations

import io
import json
import math
import queue
import random
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections import Counter
from dataclasses import dataclass, replace
from urllib.parse import quote

import psutil
import pytest
import requests
import socketio
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from tests.helpers import DEMO_SLIDE, REPO, ServerProcess, slide_id_by_name
from tests.inference_support import make_app
from tests.training_support import seed_labels

pytestmark = pytest.mark.timeout(900)

TRAIN_SLIDE = "train.svs"  # labelled before the server starts; training and inference use it
EDIT_SLIDE = "edit.svs"  # the fuzzer paints, imports and undoes here
# The server's RSS may grow at most this much over its size after set-up (model loaded,
# one inference and one training run done) while the fuzzer runs. Most growth is glibc
# malloc arenas of the compute threads (each keeps what model loads freed): ~40 live
# previews add ~1.4 GiB here, and stay under 0.5 GiB with MALLOC_ARENA_MAX=2.
RSS_BOUND_BYTES = 2 * 1024**3
HEALTH_SECONDS = 1.0
TINY_TRAINING = {"mpp": 4.0, "patch_size": 64, "batch_size": 2, "iterations": 2, "seed": 1}


def fuzz_settings(examples: int) -> settings:
    """Reproducible (derandomised) settings without deadlines or the example database.

    No shrinking: against a live server it takes long, and each failure prints the
    request it sent as it was.
    """
    return settings(
        max_examples=examples,
        phases=(Phase.explicit, Phase.generate),
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=False,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )


# ---- the server under test and what exists on it ------------------------------------


class World:
    """A running server, the ids of real things on it, and what the fuzzer saw."""

    def __init__(self, server: ServerProcess, **ids) -> None:
        self.server = server
        self.session = requests.Session()
        self.train_slide: str = ids["train_slide"]
        self.edit_slide: str = ids["edit_slide"]
        self.classes: list[int] = ids["classes"]  # labelled on the training slide: kept
        self.app_id: str = ids["app_id"]  # never deleted
        self.result_id: str = ids["result_id"]  # completed; never deleted
        self.run_id: str = ids["run_id"]  # completed
        self.roi_id: int = ids["roi_id"]
        self.fuzz_classes: list[int] = []  # classes the fuzzer made (lists change in place:
        self.class_ids: list[int] = []  # every class now            strategies hold them)
        self.fuzz_apps: list[str] = []
        self.app_json: dict = {}
        self.sent = 0
        self.idle_rss = self.peak_rss = self.last_rss = 0
        self.answers: Counter = Counter()  # (rule, status) -> count
        self.errors: Counter = Counter()  # (rule, status, message) -> count
        self.growth: list[tuple[int, str]] = []  # (RSS growth, request) of the largest steps
        self.trace: list[tuple[int, int]] = []  # (requests sent, RSS) every 250 requests

    def __repr__(self) -> str:
        return f"World({self.server.url}, {self.sent} requests sent)"

    def rss(self) -> int:
        """The server's resident set size now."""
        return psutil.Process(self.server.proc.pid).memory_info().rss

    def sample(self, what: str = "") -> None:
        """Record the server's RSS after a request, failing as soon as it passes the bound."""
        rss = self.rss()
        self.peak_rss = max(self.peak_rss, rss)
        self.growth = sorted([*self.growth, (rss - self.last_rss, what)], reverse=True)[:8]
        self.last_rss = rss
        if self.sent % 250 == 0:
            self.trace.append((self.sent, rss))
        assert rss <= self.idle_rss + RSS_BOUND_BYTES, (
            f"server RSS {rss / 2**20:.0f} MiB exceeds idle {self.idle_rss / 2**20:.0f} MiB"
            f" + {RSS_BOUND_BYTES / 2**20:.0f} MiB after {self.sent} requests; largest steps:\n"
            + "\n".join(f"{g / 2**20:+.0f} MiB after {w[:300]}" for g, w in self.growth)
        )


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    slides = tmp_path_factory.mktemp("fuzz-slides")
    shutil.copy(DEMO_SLIDE, slides / TRAIN_SLIDE)
    shutil.copy(DEMO_SLIDE, slides / EDIT_SLIDE)
    data = tmp_path_factory.mktemp("fuzz-data")
    ids = seed_labels(data, TRAIN_SLIDE)
    app_id = make_app(data, name="Fuzz app")
    server = ServerProcess([slides], data).start()
    world = None
    try:
        world = _populate(server, ids, app_id)
        yield world
    finally:
        if world is not None:
            world.session.close()
        server.stop()


def _populate(server: ServerProcess, ids: dict, app_id: str) -> World:
    train, edit = slide_id_by_name(server, TRAIN_SLIDE), slide_id_by_name(server, EDIT_SLIDE)
    roi = server.post(
        f"/api/slides/{train}/annotations/edits",
        json={"tool": "roi", "points": [[400, 600], [1400, 600], [1400, 1600], [400, 1600]]},
    )
    assert roi.status_code == 200, roi.text
    roi_id = int(next(f["id"] for f in roi.json()["features"] if f["id"].startswith("roi-"))[4:])
    body = {"app_id": app_id, "slide_id": train, "region": {"bbox": [500, 700, 400, 400]}}
    result = server.post("/api/inference", json=body)
    assert result.status_code == 201, result.text
    run = server.post(
        "/api/training",
        json={"slides": [train], "classes": [], "settings": TINY_TRAINING},
    )
    assert run.status_code == 201, run.text
    world = World(
        server,
        train_slide=train,
        edit_slide=edit,
        classes=[ids["background"], ids["tissue"]],
        app_id=app_id,
        result_id=result.json()["result_id"],
        run_id=run.json()["run_id"],
        roi_id=roi_id,
    )
    _wait(server, f"/api/results/{world.result_id}", ("completed",))
    _wait(server, f"/api/training/{world.run_id}", ("completed",))
    exported = server.get(f"/api/apps/{app_id}/export").content
    world.app_json = json.loads(zipfile.ZipFile(io.BytesIO(exported)).read("app.json"))
    copy = server.post("/api/apps/import", files={"file": ("copy.slidelab-app", exported)})
    assert copy.status_code == 201, copy.text
    world.fuzz_apps.append(copy.json()["id"])
    refresh_classes(world)
    world.idle_rss = world.peak_rss = world.last_rss = world.rss()
    return world


def _wait(server: ServerProcess, path: str, done: tuple[str, ...], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        state = server.get(path).json()["state"]
        if state in done:
            return
        assert state not in ("failed", "cancelled", "stopped"), f"{path}: {state}"
        time.sleep(0.3)
    raise AssertionError(f"{path} did not finish: {state}")


# ---- what an answer must look like -----------------------------------------------------

TRACEBACK = re.compile(rb'Traceback \(most recent call last\)|File "[^"]+", line \d+')


@dataclass
class Sent:
    """One generated request, printed when its answer is wrong."""

    method: str
    path: str
    params: dict | None = None
    json_body: object = None
    data: bytes | None = None
    headers: dict | None = None
    files: dict | None = None
    rule: str = ""  # the route it was drawn for

    def describe(self) -> str:
        """The request as a reader can replay it."""
        parts = [f"{self.method} {self.path}"]
        if self.params:
            parts.append(f"params={self.params!r}"[:500])
        if self.json_body is not None:
            parts.append(f"json={self.json_body!r}"[:2000])
        if self.data is not None:
            parts.append(f"data={self.data[:300]!r} ({len(self.data)} bytes)")
        if self.headers:
            parts.append(f"headers={self.headers!r}")
        if self.files:
            parts.append(f"files={ {k: len(v[1]) for k, v in self.files.items()} } bytes")
        return " ".join(parts)


def send(world: World, sent: Sent) -> requests.Response:
    """Send one request and check its answer (no 5xx, no traceback, 4xx as JSON error)."""
    note(sent.describe())
    kwargs = {"params": sent.params, "headers": sent.headers, "timeout": 120}
    if sent.files is not None:
        kwargs["files"] = sent.files
    elif sent.data is not None:
        kwargs["data"] = sent.data
    elif sent.json_body is not None:
        kwargs["data"] = json.dumps(sent.json_body, allow_nan=True).encode()
        kwargs["headers"] = {"Content-Type": "application/json", **(sent.headers or {})}
    response = world.session.request(sent.method, world.server.url + sent.path, **kwargs)
    world.sent += 1
    rule = sent.rule or f"{sent.method} {sent.path}"
    world.answers[rule, response.status_code] += 1
    error = check(response, sent, world.server)
    if error:
        world.errors[rule, response.status_code, re.sub(r"\d+", "N", error)[:70]] += 1
    world.sample(sent.describe())
    return response


def check(response: requests.Response, sent: Sent, server: ServerProcess) -> str | None:
    """The properties every answer has, whatever was sent; the error message of a 4xx."""
    what = f"{sent.describe()}\n-> {response.status_code} {response.content[:1500]!r}"
    if response.status_code >= 500:
        what += "\nserver log:\n" + logged_error(server, response)
    assert response.status_code < 500, what
    assert not TRACEBACK.search(response.content), what
    if 400 <= response.status_code < 500:
        assert response.headers.get("Content-Type", "").startswith("application/json"), what
        body = response.json()
        assert isinstance(body, dict), what
        assert isinstance(body.get("error"), str) and body["error"].strip(), what
        return body["error"]
    return None


def logged_error(server: ServerProcess, response: requests.Response) -> str:
    """The server log from the line naming the answer's error id (or its last lines)."""
    log = server.log()
    try:
        error_id = response.json().get("id")
    except ValueError:
        error_id = None
    start = log.find(error_id) if error_id else -1
    return log[start - 200 : start + 6000] if start >= 0 else log[-6000:]


# ---- strategies: values --------------------------------------------------------------

SPECIAL_NUMBERS = [
    0,
    -1,
    -0.0,
    0.5,
    2**31,
    2**63 - 1,
    2**63,
    -(2**63) - 1,
    2**64,
    10**30,
    10**400,
    1e308,
    -1e308,
    1e-320,
    math.nan,
    math.inf,
    -math.inf,
]
# Drawn as (index, number) pairs, so the special values keep coming (see `mostly`).
numbers = st.tuples(
    st.integers(0, 2 * len(SPECIAL_NUMBERS) - 1),
    st.one_of(st.integers(-10, 3000), st.integers(-(2**80), 2**80), st.floats()),
).map(lambda t: SPECIAL_NUMBERS[t[0]] if t[0] < len(SPECIAL_NUMBERS) else t[1])
# Built from (length, text) so that Hypothesis' reports do not print them whole.
LONG = [(101, "x"), (300, "ü"), (5000, "日本"), (200_000, "a"), (1, "\x00"), (1, "\u202e")]
long_texts = st.sampled_from(LONG).map(lambda pair: pair[1] * pair[0])
texts = st.one_of(
    st.text(max_size=24),
    long_texts,
    st.just("\U0001f600"),
    st.sampled_from(["", " ", "null", "../../etc/passwd", "%00", "<script>", "'; DROP TABLE"]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
DEPTHS = [2, 64, 500, 900, 5000, 100_000]


def nested(depth: int, kind: str) -> bytes:
    """A JSON document `depth` arrays (or objects) deep."""
    if kind == "list":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


def live(items: list, other: st.SearchStrategy) -> st.SearchStrategy:
    """One of `items`, a list that grows while fuzzing (ids the fuzzer made), or `other`.

    Drawn by index, so Hypothesis makes the same choices whatever the list holds then.
    """
    index = st.integers(0, 63).map(lambda i: items[i % len(items)] if items else i)
    return mostly(index, other)


def mostly(usual: st.SearchStrategy, other: st.SearchStrategy, percent: int = 70):
    """`usual` about `percent` % of the time, else `other`.

    Both are drawn every time: Hypothesis avoids repeating a choice whose outcomes it has
    all seen, so `one_of(just(x), other)` would almost never give `x` again.
    """
    pick = st.tuples(st.integers(0, 99), usual, other)
    return pick.map(lambda t: t[1] if t[0] < percent else t[2])


def maybe(real: list, other: st.SearchStrategy = json_values) -> st.SearchStrategy:
    """A real value most of the time, anything else otherwise."""
    return mostly(st.sampled_from(real), other) if real else other


def _drop(args: tuple) -> object:
    body, index = args
    keys = list(body)
    if keys:
        del body[keys[index % len(keys)]]
    return body


def _swap(args: tuple) -> object:
    body, index, value = args
    keys = list(body)
    if keys:
        body[keys[index % len(keys)]] = value
    return body


def variants(valid: st.SearchStrategy[dict]) -> st.SearchStrategy[object]:
    """Valid objects half of the time, else one with one mistake: a field missing, a field
    of another type or value, extra fields; or any JSON value instead."""
    index = st.integers(0, 31)
    extra = st.dictionaries(st.text(min_size=1, max_size=12), json_values, min_size=1, max_size=3)
    mistakes = st.one_of(
        st.tuples(valid, index).map(_drop),
        st.tuples(valid, index, st.one_of(json_values, numbers)).map(_swap),
        st.tuples(valid, extra).map(lambda pair: {**pair[1], **pair[0]}),
        json_values,
    )
    return mostly(valid, mistakes, 50)


def obj(**fields: st.SearchStrategy) -> st.SearchStrategy[object]:
    """`variants` of the JSON object with these (valid) fields."""
    return variants(st.fixed_dictionaries(fields))


# ---- strategies: paths and query strings --------------------------------------------------

WEIRD_IDS = [
    "0",
    "-1",
    "99999999999999999999999",
    "18446744073709551616",
    "1e308",
    "NaN",
    "..",
    "...",
    "a/b",
    "\x00",
    "ünï 日本",
    "x" * 300,
    "%2e%2e",
    "null",
]
ids_text = st.one_of(st.sampled_from(WEIRD_IDS), st.text(min_size=1, max_size=16))
int_segments = st.one_of(
    st.integers(0, 50).map(str),
    st.sampled_from(["0", "99999999999999999999999", "18446744073709551616", "-1", "1.5", "x"]),
)


def segment(real: list[str]) -> st.SearchStrategy[str]:
    """A URL path segment: a real id or a strange one, percent-encoded."""
    return maybe(real, ids_text).map(lambda s: quote(str(s), safe=""))


query_values = st.one_of(
    st.sampled_from(
        ["", "nan", "inf", "-inf", "1e308", "-1", "0", "0.5", "1", "2", "4", "99999999999999999999"]
    ),
    st.sampled_from(["１", "0x10", "1_000", " 1", "true", "classes", "heatmap", "日本", "\x00"]),
    st.integers(-(2**70), 2**70).map(str),
    st.floats().map(repr),
    st.text(max_size=12),
)
QUERY_KEYS = ["downsample", "threshold", "mode", "class", "size", "client_id", "slide_id"]
query_strings = st.dictionaries(
    st.one_of(st.sampled_from([*QUERY_KEYS, "preview"]), st.text(min_size=1, max_size=8)),
    query_values,
    max_size=3,
)


# ---- strategies: one request per route ------------------------------------------------


def squares(low: float = -100, high: float = 2500) -> st.SearchStrategy[list]:
    """Polygon coordinates of a square (a closed ring) with its corner in [low, high]²."""
    corner = st.tuples(st.floats(low, high), st.floats(low, high), st.floats(1, 800))
    return corner.map(
        lambda t: [[[t[0], t[1]], [t[0] + t[2], t[1]], [t[0] + t[2], t[1] + t[2]], [t[0], t[1]]]]
    )


BOWTIE = [[[0, 0], [1000, 1000], [1000, 0], [0, 1000], [0, 0]]]


def geojson_geometries() -> st.SearchStrategy:
    coord = st.one_of(st.floats(-200, 3200), numbers)
    ring = st.lists(st.lists(coord, min_size=2, max_size=3), max_size=8).map(lambda r: r + r[:1])
    polygon = st.one_of(
        squares(), squares(), st.just(BOWTIE), st.lists(ring, min_size=1, max_size=2)
    )
    return st.one_of(
        obj(type=st.just("Polygon"), coordinates=polygon),
        obj(type=st.just("Polygon"), coordinates=polygon),
        obj(type=st.just("MultiPolygon"), coordinates=st.lists(polygon, min_size=1, max_size=3)),
        obj(
            type=st.sampled_from(["Point", "LineString", "GeometryCollection", "Nope"]),
            coordinates=json_values,
            geometries=st.lists(json_values, max_size=2),
        ),
    )


CLASS_NAMES = ["Tumor", "Stroma", "tumor", "ROI", "Tumör 腫瘍", "x" * 101, " "]
class_names = st.one_of(st.sampled_from(CLASS_NAMES), st.text(min_size=1, max_size=12))


def geojson_documents() -> st.SearchStrategy:
    color = st.one_of(
        st.sampled_from(["#ff0000", "#zzzzzz", "red", "#12345", [255, 0, 0], [1.5, 2, 3]]),
        st.integers(-(2**40), 2**40),
        json_values,
    )
    name = st.one_of(class_names, texts)
    classification = st.one_of(
        obj(name=name, color=color),
        obj(names=st.lists(texts, max_size=3), colorRGB=color),
    )
    props = st.one_of(
        obj(objectType=st.just("annotation"), classification=classification),
        obj(kind=st.sampled_from(["label", "roi", "other"]), name=name, color=color),
    )
    feature = obj(type=st.just("Feature"), geometry=geojson_geometries(), properties=props)
    collection = obj(
        type=mostly(st.just("FeatureCollection"), st.sampled_from(["Feature", "Other"]), 90),
        features=st.lists(feature, max_size=6),
    )
    many_classes = st.integers(250, 300).map(
        lambda n: {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "geometry": {
                        "type": "Polygon",
                        "coordinates": [[[i * 7, 0], [i * 7 + 5, 0], [i * 7 + 5, 5], [i * 7, 0]]],
                    },
                    "properties": {"classification": {"name": f"K{i}"}},
                }
                for i in range(n)
            ],
        }
    )
    too_many_features = st.just({"type": "FeatureCollection", "features": [{}] * 50_001})
    return st.one_of(
        collection, collection, st.lists(feature, max_size=4), many_classes, too_many_features
    )


def edit_bodies(world: World) -> st.SearchStrategy:
    xy = st.tuples(st.floats(-50, 2300), st.floats(-50, 3000)).map(list)
    coord = st.one_of(st.floats(-100, 3000), numbers)
    odd_points = st.one_of(
        st.lists(st.one_of(st.tuples(coord, coord).map(list), json_values), max_size=12),
        st.just([[1.0, 1.0]] * 50_001),
    )
    points = mostly(st.lists(xy, min_size=3, max_size=12), odd_points, 85)
    classes = mostly(st.sampled_from(world.classes), live(world.fuzz_classes, numbers), 60)
    painting = obj(
        tool=st.sampled_from(["brush", "eraser", "polygon", "roi"]),
        points=points,
        radius=mostly(st.floats(0.5, 300), numbers, 85),
        class_id=classes,
        client_id=mostly(st.text(max_size=12), st.just("c" * 201), 95),
    )
    rings = st.lists(mostly(points, json_values, 90), min_size=1, max_size=3)
    shape = obj(  # one whole connected shape: delete, recolor, replace
        tool=st.just("shape"),
        at=mostly(xy, st.one_of(st.tuples(coord, coord).map(list), json_values), 85),
        action=mostly(st.sampled_from(["delete", "recolor", "replace"]), json_values, 90),
        class_id=classes,
        points=mostly(points, st.none(), 50),
        geometry=mostly(obj(type=st.just("Polygon"), coordinates=rings), json_values, 85),
    )
    return mostly(painting, shape, 75)


def training_settings() -> st.SearchStrategy:
    """Settings of a tiny run, and the same with one setting wrong (or unknown)."""
    augmentation = obj(
        flips=st.booleans(), hue=st.floats(0, 0.5), blur=st.floats(0, 5), stain_jitter=numbers
    )
    fixed = {key: st.just(value) for key, value in TINY_TRAINING.items()}
    optional = {
        "learning_rate": st.floats(1e-5, 0.1),
        "optimizer": st.sampled_from(["adam", "adamw", "sgd", "nope"]),
        "loss": st.sampled_from(["cross_entropy", "dice", "focal", "nope"]),
        "architecture": st.sampled_from(["unet", "fpn", "nope"]),
        "class_weighting": st.sampled_from(["none", "auto", "manual"]),
        "class_weights": st.one_of(st.lists(numbers, max_size=3), json_values),
        "validation_fraction": st.floats(0, 0.6),
        "encoder_weights": st.sampled_from(["none", "imagenet", "file"]),
        "weights_file": texts,
        "augmentation": augmentation,
    }
    return variants(st.fixed_dictionaries(fixed, optional=optional))


def app_files(world: World) -> st.SearchStrategy[bytes]:
    """App files: app.json changed (weights cut short: the config is checked first), zips
    missing a member, random bytes. A whole valid app is imported once, in the set-up."""
    config_fields = st.dictionaries(
        st.sampled_from(
            ["name", "architecture", "encoder", "num_classes", "classes", "mpp", "patch_size"]
            + ["normalization", "version", "format", "training", "created", "final"]
        ),
        json_values,
        min_size=1,
        max_size=3,
    )
    members = st.sampled_from([("app.json",), ("model.safetensors",), ()])
    return st.one_of(
        config_fields.map(lambda changes: _app_zip(world.app_json | changes)),
        members.map(lambda names: _app_zip(world.app_json, names)),
        st.binary(max_size=200),
        st.just(b"PK\x03\x04" + b"\x00" * 100),
    )


def _app_zip(config: dict, members: tuple = ("app.json", "model.safetensors")) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        if "app.json" in members:
            archive.writestr("app.json", json.dumps(config, allow_nan=True))
        if "model.safetensors" in members:
            archive.writestr("model.safetensors", b"\x08\x00\x00\x00\x00\x00\x00\x00{}")
    return out.getvalue()


@dataclass(frozen=True)
class Route:
    """A route of the API (its Flask rule) and how to draw requests for it."""

    method: str
    rule: str
    draw: object  # (World) -> SearchStrategy[Sent]


def r(method: str, rule: str):
    """Register the decorated strategy builder as the fuzzer of `method rule`."""

    def register(fn):
        ROUTES.append(Route(method, rule, fn))
        return fn

    return register


ROUTES: list[Route] = []


def _get(path: st.SearchStrategy[str], method: str = "GET") -> st.SearchStrategy[Sent]:
    return st.builds(Sent, st.just(method), path, query_strings)


def _json(method: str, path: st.SearchStrategy[str], body: st.SearchStrategy):
    return st.builds(Sent, st.just(method), path, query_strings, body)


def _slides(world: World, *tail: str) -> st.SearchStrategy[str]:
    ids = segment([world.train_slide, world.edit_slide])
    return ids.map(lambda s: f"/api/slides/{s}" + "".join(tail))


def _edit_slide(world: World, tail: str) -> st.SearchStrategy[str]:
    return segment([world.edit_slide]).map(lambda s: f"/api/slides/{s}{tail}")


r("GET", "/api/health")(lambda w: _get(st.just("/api/health")))
r("GET", "/api/slides")(lambda w: _get(st.just("/api/slides")))
r("POST", "/api/slides/rescan")(lambda w: _json("POST", st.just("/api/slides/rescan"), json_values))
r("GET", "/api/slides/<slide_id>")(lambda w: _get(_slides(w)))
r("GET", "/api/slides/<slide_id>/thumbnail")(lambda w: _get(_slides(w, "/thumbnail")))


@r("GET", "/api/slides/<slide_id>/tissue.png")
def _tissue(w: World) -> st.SearchStrategy[Sent]:
    sensitivity = mostly(st.floats(-1, 2).map(repr), query_values, 75)
    query = st.fixed_dictionaries({}, optional={"sensitivity": sensitivity})
    return st.builds(Sent, st.just("GET"), _slides(w, "/tissue.png"), query)


@r("GET", "/api/slides/<slide_id>/wand")
def _wand(w: World) -> st.SearchStrategy[Sent]:
    coordinate = mostly(st.floats(-50, 3000).map(repr), query_values, 75)
    downsample = mostly(st.sampled_from(["1", "4", "16", "0.5", "1e9"]), query_values, 75)
    tolerance = mostly(st.floats(-10, 120).map(repr), query_values, 75)
    fields = {"x": coordinate, "y": coordinate, "downsample": downsample, "tolerance": tolerance}
    query = st.fixed_dictionaries({}, optional=fields)
    return st.builds(Sent, st.just("GET"), _slides(w, "/wand"), query)


r("GET", "/api/slides/<slide_id>/associated/<name>")(
    lambda w: _get(
        st.tuples(_slides(w), segment(["label", "macro", "thumbnail"])).map(
            lambda t: f"{t[0]}/associated/{t[1]}"
        )
    )
)
r("GET", "/slides/<slide_id>.dzi")(
    lambda w: _get(segment([w.train_slide]).map(lambda s: f"/slides/{s}.dzi"))
)


@r("GET", "/slides/<slide_id>_files/<int:level>/<int:col>_<int:row>.<fmt>")
def _tile(w: World) -> st.SearchStrategy[Sent]:
    path = st.tuples(
        segment([w.train_slide]), int_segments, int_segments, int_segments, segment(["jpeg", "png"])
    ).map(lambda t: f"/slides/{t[0]}_files/{t[1]}/{t[2]}_{t[3]}.{t[4]}")
    return _get(path)


r("GET", "/api/classes")(lambda w: _get(st.just("/api/classes")))
r("POST", "/api/classes")(
    lambda w: _json(
        "POST",
        st.just("/api/classes"),
        obj(name=class_names, color=st.sampled_from(["#00ff00", "#ABCDEF", "#123456"])),
    )
)


@r("PATCH", "/api/classes/<int:class_id>")
def _patch_class(w: World) -> st.SearchStrategy[Sent]:
    ids = st.one_of(maybe(w.classes, int_segments), live(w.fuzz_classes, int_segments))
    path = ids.map(lambda c: f"/api/classes/{c}")
    body = obj(name=class_names, color=st.sampled_from(["#00ff00", "#ABCDEF", "#123456"]))
    return _json("PATCH", path, body)


@r("POST", "/api/classes/order")
def _order(w: World) -> st.SearchStrategy[Sent]:
    every = st.integers(0, 2**32).map(
        lambda seed: random.Random(seed).sample(w.class_ids, k=len(w.class_ids))
    )
    ids = st.one_of(every, every, st.lists(numbers, max_size=4))
    return _json("POST", st.just("/api/classes/order"), obj(ids=ids))


@r("DELETE", "/api/classes/<int:class_id>")
def _delete_class(w: World) -> st.SearchStrategy[Sent]:
    # Only classes the fuzzer made: the labelled ones must stay for training and inference.
    path = live(w.fuzz_classes, int_segments).map(lambda c: f"/api/classes/{c}")
    return _get(path, "DELETE")


r("GET", "/api/slides/<slide_id>/annotations")(lambda w: _get(_slides(w, "/annotations")))
r("POST", "/api/slides/<slide_id>/annotations/edits")(
    lambda w: _json("POST", _edit_slide(w, "/annotations/edits"), edit_bodies(w))
)


@r("DELETE", "/api/slides/<slide_id>/rois/<int:roi_id>")
def _delete_roi(w: World) -> st.SearchStrategy[Sent]:
    path = st.tuples(segment([w.edit_slide]), int_segments).map(
        lambda t: f"/api/slides/{t[0]}/rois/{t[1]}"
    )
    return _json("DELETE", path, obj(client_id=st.text(max_size=12)))


for _action in ("undo", "redo"):
    r("POST", f"/api/slides/<slide_id>/annotations/{_action}")(
        lambda w, a=_action: _json(
            "POST", _edit_slide(w, f"/annotations/{a}"), obj(client_id=st.text(max_size=12))
        )
    )
r("PUT", "/api/slides/<slide_id>/annotations")(
    lambda w: _json("PUT", _edit_slide(w, "/annotations"), geojson_documents())
)
r("GET", "/api/slides/<slide_id>/annotations/export.geojson")(
    lambda w: _get(_slides(w, "/annotations/export.geojson"))
)


@r("GET", "/api/slides/<slide_id>/annotations/mask.<fmt>")
def _mask(w: World) -> st.SearchStrategy[Sent]:
    path = st.tuples(_slides(w), segment(["png", "tiff", "tif"])).map(
        lambda t: f"{t[0]}/annotations/mask.{t[1]}"
    )
    downsample = st.one_of(st.sampled_from(["4", "8", "16", "1.5"]), query_values)
    return st.builds(Sent, st.just("GET"), path, st.fixed_dictionaries({"downsample": downsample}))


@r("GET", "/api/slides/<slide_id>/annotations/shape")
def _shape(w: World) -> st.SearchStrategy[Sent]:
    value = mostly(st.floats(-50, 3000).map(repr), query_values, 75)
    query = st.fixed_dictionaries({}, optional={"x": value, "y": value})
    return st.builds(Sent, st.just("GET"), _slides(w, "/annotations/shape"), query)


r("GET", "/api/slides/<slide_id>/annotations/summary")(
    lambda w: _get(_slides(w, "/annotations/summary"))
)
r("GET", "/api/training/options")(lambda w: _get(st.just("/api/training/options")))


@r("POST", "/api/training")
def _start_training(w: World) -> st.SearchStrategy[Sent]:
    body = obj(
        slides=mostly(st.just([w.train_slide]), st.lists(segment([w.edit_slide]), max_size=2)),
        classes=mostly(st.sampled_from([w.classes, []]), st.lists(numbers, max_size=3)),
        settings=training_settings(),
    )
    return _json("POST", st.just("/api/training"), body)


r("GET", "/api/training")(lambda w: _get(st.just("/api/training")))
r("GET", "/api/training/<run_id>")(
    lambda w: _get(segment([w.run_id]).map(lambda s: f"/api/training/{s}"))
)


@r("POST", "/api/training/<run_id>/<action>")
def _control(w: World) -> st.SearchStrategy[Sent]:
    path = st.tuples(segment([w.run_id]), segment(["pause", "resume", "stop", "continue"])).map(
        lambda t: f"/api/training/{t[0]}/{t[1]}"
    )
    body = obj(iterations=st.integers(1, 3))
    return _json("POST", path, body)


r("GET", "/api/apps")(lambda w: _get(st.just("/api/apps")))
r("GET", "/api/apps/<app_id>")(lambda w: _get(segment([w.app_id]).map(lambda a: f"/api/apps/{a}")))


def _postprocessing_steps() -> st.SearchStrategy[object]:
    """Lists of post-processing steps: well-formed ones with odd values, and junk."""
    amount = st.one_of(st.floats(0, 1e6), numbers, json_values)
    step = st.fixed_dictionaries(
        {
            "op": st.sampled_from(
                ["remove_small_objects", "fill_holes", "open", "close", "relabel", "x"]
            ),
            "class_id": st.one_of(st.integers(0, 4), json_values),
        },
        optional={
            "min_area_um2": amount,
            "max_area_um2": amount,
            "radius_um": amount,
            "to_class_id": st.one_of(st.none(), st.integers(0, 4)),
            "where": st.one_of(
                st.fixed_dictionaries({"area_um2": st.lists(amount, max_size=3)}), json_values
            ),
        },
    )
    return st.one_of(st.lists(step, max_size=25), json_values)


r("PATCH", "/api/apps/<app_id>")(
    lambda w: _json(
        "PATCH",
        segment([w.app_id]).map(lambda a: f"/api/apps/{a}"),
        st.one_of(
            obj(name=st.one_of(st.text(min_size=1, max_size=20), texts)),
            obj(postprocessing=_postprocessing_steps()),
        ),
    )
)
r("DELETE", "/api/apps/<app_id>")(
    lambda w: _get(
        live(w.fuzz_apps, ids_text).map(lambda a: f"/api/apps/{quote(str(a), safe='')}"), "DELETE"
    )
)
r("GET", "/api/apps/<app_id>/export")(
    lambda w: _get(segment([w.app_id]).map(lambda a: f"/api/apps/{a}/export"))
)


@r("POST", "/api/apps/import")
def _import_app(w: World) -> st.SearchStrategy[Sent]:
    files = st.tuples(st.sampled_from(["file", "upload"]), st.text(max_size=10), app_files(w))
    return st.builds(
        Sent,
        st.just("POST"),
        st.just("/api/apps/import"),
        files=files.map(lambda t: {t[0]: (t[1] or "x.slidelab-app", t[2])}),
    )


def boxes() -> st.SearchStrategy[list]:
    """[x, y, w, h]: small boxes on the demo slide, or any four numbers."""
    small = st.tuples(st.floats(0, 2000), st.floats(0, 2700), st.floats(1, 300), st.floats(1, 300))
    any_four = st.lists(st.one_of(st.floats(-500, 3000), numbers), min_size=4, max_size=4)
    return st.one_of(small.map(list), small.map(list), any_four)


def _regions(w: World) -> st.SearchStrategy:
    return st.one_of(
        obj(bbox=boxes()),
        obj(bbox=boxes()),
        obj(roi_id=st.one_of(st.just(w.roi_id), numbers)),
        st.sampled_from([None, "tissue", "whole", "nope"]),
    )


@r("POST", "/api/inference")
def _inference(w: World) -> st.SearchStrategy[Sent]:
    one = obj(app_id=st.just(w.app_id), slide_id=st.just(w.train_slide), region=_regions(w))
    many = obj(
        slide_ids=st.lists(maybe([w.train_slide], ids_text), min_size=1, max_size=2),
        app_id=st.just(w.app_id),
        region=_regions(w),
    )
    return _json("POST", st.just("/api/inference"), st.one_of(one, many))


@r("POST", "/api/preview")
def _preview(w: World) -> st.SearchStrategy[Sent]:
    body = obj(run_id=st.just(w.run_id), slide_id=st.just(w.train_slide), bbox=boxes())
    return _json("POST", st.just("/api/preview"), body)


def _result_path(w: World, tail: str) -> st.SearchStrategy[str]:
    return segment([w.result_id]).map(lambda rid: f"/api/results/{rid}{tail}")


r("GET", "/api/results")(lambda w: _get(st.just("/api/results")))
r("GET", "/api/results/<rid>")(lambda w: _get(_result_path(w, "")))
r("POST", "/api/results/<rid>/cancel")(
    lambda w: _json("POST", _result_path(w, "/cancel"), json_values)
)
r("DELETE", "/api/results/<rid>")(
    lambda w: _get(ids_text.map(lambda rid: f"/api/results/{quote(rid, safe='')}"), "DELETE")
)
r("GET", "/api/results/<rid>/stats")(lambda w: _get(_result_path(w, "/stats")))


@r("GET", "/api/results/<rid>/suggestions")
def _result_suggestions(w: World) -> st.SearchStrategy[Sent]:
    n = st.one_of(st.sampled_from(["1", "5", "50"]), query_values)
    size = st.one_of(st.sampled_from(["64", "512.5"]), query_values)
    query = st.fixed_dictionaries({}, optional={"n": n, "size": size})
    return st.builds(Sent, st.just("GET"), _result_path(w, "/suggestions"), query)


@r("POST", "/api/results/<rid>/accept")
def _result_accept(w: World) -> st.SearchStrategy[Sent]:
    threshold = st.one_of(st.sampled_from([0, 0.5, 1]), numbers)
    body = obj(region=_regions(w), threshold=threshold, client_id=maybe(["fuzz"]))
    return _json("POST", _result_path(w, "/accept"), body)


@r("GET", "/api/results/<rid>/export.<kind>")
def _result_export(w: World) -> st.SearchStrategy[Sent]:
    path = st.tuples(segment([w.result_id]), segment(["geojson", "tiff", "csv"])).map(
        lambda t: f"/api/results/{t[0]}/export.{t[1]}"
    )
    threshold = st.one_of(st.sampled_from(["0.5", "0", "1", "0.25"]), query_values)
    resolution = st.one_of(st.sampled_from(["app", "full"]), query_values)
    query = st.fixed_dictionaries({"threshold": threshold}, optional={"resolution": resolution})
    return st.builds(Sent, st.just("GET"), path, query)


r("GET", "/api/results/<rid>/objects")(lambda w: _get(_result_path(w, "/objects")))


@r("GET", "/api/results/<rid>/objects.<kind>")
def _result_objects_export(w: World) -> st.SearchStrategy[Sent]:
    path = st.tuples(segment([w.result_id]), segment(["csv", "geojson"])).map(
        lambda t: f"/api/results/{t[0]}/objects.{t[1]}"
    )
    threshold = st.one_of(st.sampled_from(["0.5", "0", "1"]), query_values)
    return st.builds(Sent, st.just("GET"), path, st.fixed_dictionaries({"threshold": threshold}))


r("GET", "/results/<rid>.dzi")(
    lambda w: _get(segment([w.result_id]).map(lambda rid: f"/results/{rid}.dzi"))
)


@r("GET", "/results/<rid>_files/<int:level>/<int:col>_<int:row>.png")
def _overlay_tile(w: World) -> st.SearchStrategy[Sent]:
    path = st.tuples(segment([w.result_id]), int_segments, int_segments, int_segments).map(
        lambda t: f"/results/{t[0]}_files/{t[1]}/{t[2]}_{t[3]}.png"
    )
    return _get(path)


r("GET", "/")(lambda w: _get(st.just("/")))
r("GET", "/assets/<path:filename>")(
    lambda w: _get(ids_text.map(lambda f: f"/assets/{quote(f, safe='/')}"))
)
r("GET", "/<path:filename>")(lambda w: _get(ids_text.map(lambda f: "/" + quote(f, safe="/"))))

r("GET", "/api/openapi.json")(lambda w: _get(st.just("/api/openapi.json")))
r("GET", "/api/tensorboard")(lambda w: _get(st.just("/api/tensorboard")))
r("POST", "/api/tensorboard")(lambda w: _json("POST", st.just("/api/tensorboard"), json_values))
TENSORBOARD_PATHS = ["", "data/runs", "data/plugins_listing", "data/environment", "index.js"]


def _tensorboard_paths() -> st.SearchStrategy[str]:
    return maybe(TENSORBOARD_PATHS, ids_text).map(lambda p: "/tensorboard/" + quote(p, safe="/"))


for _method in ("GET", "POST"):
    r(_method, "/tensorboard/")(lambda w, m=_method: _get(st.just("/tensorboard/"), m))
    r(_method, "/tensorboard/<path:path>")(
        lambda w, m=_method: st.builds(
            Sent, st.just(m), _tensorboard_paths(), query_strings, json_values
        )
    )


def area(*rules: str) -> list[Route]:
    """The routes whose rule starts with one of `rules`."""
    return [route for route in ROUTES if route.rule.startswith(rules)]


_STRATEGIES: dict[tuple, st.SearchStrategy[Sent]] = {}


def _labelled(route: Route, world: World) -> st.SearchStrategy[Sent]:
    return route.draw(world).map(lambda sent: replace(sent, rule=f"{route.method} {route.rule}"))


def requests_for(world: World, routes: list[Route]) -> st.SearchStrategy[Sent]:
    """Any request to one of `routes` (built once per world and set of routes)."""
    key = (id(world), *((route.method, route.rule) for route in routes))
    if key not in _STRATEGIES:
        _STRATEGIES[key] = st.one_of([_labelled(route, world) for route in routes])
    return _STRATEGIES[key]


# ---- after-effects: keep the server cheap and remember what the fuzzer made -----------


def settle(world: World, sent: Sent, response: requests.Response) -> None:
    """Stop training the fuzzer started, cancel its inference, note its classes and apps."""
    if response.status_code >= 300:
        return
    body = response.json() if "json" in response.headers.get("Content-Type", "") else None
    if sent.path == "/api/training" and sent.method == "POST":
        world.session.post(f"{world.server.url}/api/training/{body['run_id']}/stop")
    elif sent.path.startswith("/api/training/") and sent.method == "POST":
        run_id = sent.path.split("/")[3]
        if body and body.get("state") in ("queued", "running", "paused"):
            world.session.post(f"{world.server.url}/api/training/{run_id}/stop")
    elif sent.path == "/api/preview":
        world.session.post(f"{world.server.url}/api/results/{body['result_id']}/cancel")
    elif sent.path == "/api/inference":
        for rid in body.get("result_ids") or [body["result_id"]]:
            world.session.post(f"{world.server.url}/api/results/{rid}/cancel")
    elif sent.path.startswith("/api/classes") or sent.method == "PUT":
        refresh_classes(world)
    elif sent.path == "/api/apps/import":
        world.fuzz_apps.append(body["id"])


def refresh_classes(world: World) -> None:
    """Update (in place: strategies hold the lists) the ids of all and of fuzz-made classes."""
    ids = [c["id"] for c in world.session.get(f"{world.server.url}/api/classes").json()]
    world.class_ids[:] = ids
    world.fuzz_classes[:] = [i for i in ids if i not in world.classes]


def fuzz(world: World, data: st.DataObject, routes: list[Route]) -> None:
    """Draw one request for `routes`, send and check it, then tidy up after it."""
    sent = data.draw(requests_for(world, routes))
    response = send(world, sent)
    settle(world, sent, response)


# ---- the tests --------------------------------------------------------------------------


@fuzz_settings(300)
@given(data=st.data())
def test_fuzz_slides_tiles_and_static(world, data):
    routes = area("/api/health", "/api/openapi", "/api/slides", "/slides", "/assets", "/<path")
    routes = [route for route in routes if not re.search("annotations|rois", route.rule)]
    fuzz(world, data, routes + [route for route in ROUTES if route.rule == "/"])


@fuzz_settings(300)
@given(data=st.data())
def test_fuzz_classes(world, data):
    fuzz(world, data, area("/api/classes"))


@fuzz_settings(800)
@given(data=st.data())
def test_fuzz_annotations(world, data):
    routes = area("/api/slides/<slide_id>/annotations", "/api/slides/<slide_id>/rois")
    busiest = [
        r for r in routes if r.method != "GET" and r.rule.endswith(("/annotations", "/edits"))
    ]
    fuzz(world, data, routes + busiest * 3)  # edits and imports: the most to get wrong


@fuzz_settings(300)
@given(data=st.data())
def test_fuzz_training(world, data):
    fuzz(world, data, area("/api/training", "/api/tensorboard", "/tensorboard", "/api/preview"))


@fuzz_settings(150)
@given(data=st.data())
def test_fuzz_apps(world, data):
    routes = area("/api/apps")
    fuzz(world, data, routes + area("/api/apps/import") * 3)  # app files: the most to check


@fuzz_settings(400)
@given(data=st.data())
def test_fuzz_inference_and_results(world, data):
    fuzz(world, data, area("/api/inference", "/api/results", "/results"))


RAW_BODIES = [
    b"",
    b"{",
    b"\xff\xfe",
    b"null",
    b"NaN",
    b'"x"',
    b"1e999",
    b'{"a": 1, "a": 2}',
    *(nested(depth, kind) for depth in DEPTHS for kind in ("list", "dict")),
    b'{"a": "' + b"x" * (17 * 1024 * 1024) + b'"}',  # over the request size limit
]
ALL_PATHS = [
    "/api/classes",
    "/api/classes/order",
    "/api/slides/{edit}/annotations",
    "/api/slides/{edit}/annotations/edits",
    "/api/slides/{edit}/annotations/undo",
    "/api/training",
    "/api/inference",
    "/api/preview",
    "/api/apps/import",
    "/api/apps/{app}",
    "/api/slides/rescan",
    "/api/training/{run}/continue",
    "/api/results/{result}/cancel",
]


@fuzz_settings(400)
@given(data=st.data())
def test_fuzz_raw_bodies_and_methods(world, data):
    """Bodies that are not JSON, JSON nested deep, wrong content types and methods."""
    template = data.draw(st.sampled_from(ALL_PATHS))
    path = template.format(
        edit=world.edit_slide, app=world.app_id, run=world.run_id, result=world.result_id
    )
    body = data.draw(st.one_of(st.binary(max_size=64), st.sampled_from(RAW_BODIES)))
    content_type = data.draw(
        st.sampled_from(
            ["application/json", "text/plain", "multipart/form-data; boundary=x", None, "\x7f"]
        )
    )
    method = data.draw(st.sampled_from(["POST", "PUT", "PATCH", "DELETE", "GET"]))
    headers = {"Content-Type": content_type} if content_type else None
    sent = Sent(method, path, data=body, headers=headers)
    settle(world, sent, send(world, sent))


# ---- Socket.IO --------------------------------------------------------------------------

WATCH_KEYS = ["run_id", "slide_id", "result_id"]


def socket_payloads(world: World) -> st.SearchStrategy:
    real = [world.run_id, world.train_slide, world.result_id]
    watch = st.dictionaries(
        st.one_of(st.sampled_from(WATCH_KEYS), st.text(max_size=6)),
        st.one_of(st.sampled_from(real), json_values),
        max_size=3,
    )
    return st.one_of(watch, json_values)


# The server drops a Socket.IO connection whose message exceeds its limit (config
# max_socket_message_bytes, 64 KiB); such payloads go through a throwaway connection.
SOCKET_MESSAGE_LIMIT = 64 * 1024


def connect(world: World) -> socketio.Client:
    """A Socket.IO client connected to the server (no reconnection)."""
    client = socketio.Client(reconnection=False)
    client.connect(world.server.url, wait_timeout=20)
    return client


@pytest.fixture(scope="module")
def socket_client(world):
    client = connect(world)
    yield client
    client.disconnect()


def emit(client: socketio.Client, event: str, args: tuple) -> None:
    """Send one event; `watch`/`unwatch` must acknowledge with an object."""
    if event not in ("watch", "unwatch"):
        client.emit(event, *args)
        return
    answer = client.call(event, *args, timeout=20)
    assert isinstance(answer, dict), answer
    if "error" in answer:
        assert isinstance(answer["error"], str) and answer["error"], answer
    elif event == "watch":
        assert isinstance(answer.get("joined"), list), answer


@fuzz_settings(400)
@given(data=st.data())
def test_fuzz_socketio_events(world, socket_client, data):
    event = data.draw(st.sampled_from(["watch", "unwatch", "nope", "connect", "message", "日本"]))
    with_payload = data.draw(st.booleans())
    payload = data.draw(socket_payloads(world)) if with_payload else None
    note(f"emit {event!r} " + (f"{payload!r}"[:1500] if with_payload else "(no payload)"))
    args = (payload,) if with_payload else ()
    size = len(json.dumps(payload, separators=(",", ":"), allow_nan=True))
    if size > SOCKET_MESSAGE_LIMIT - 256:  # over the limit with the packet's framing
        throwaway = connect(world)
        try:
            throwaway.emit(event, *args)
        finally:
            throwaway.disconnect()
    else:
        emit(socket_client, event, args)
        assert socket_client.connected, "the server dropped the Socket.IO connection"
    world.sample(f"emit {event!r} {payload!r}")


def test_socketio_still_delivers_events(world, socket_client):
    """After the fuzzing, a watcher still gets replays: the event machinery is intact."""
    got: queue.Queue = queue.Queue()
    client = socketio.Client(reconnection=False)
    client.on("training:state", got.put)
    client.on("annotations:changed", got.put)
    client.connect(world.server.url, wait_timeout=20)
    try:
        answer = client.call("watch", {"slide_id": world.train_slide}, timeout=20)
        assert answer == {"joined": [f"slide:{world.train_slide}"]}
        event = got.get(timeout=20)
        assert event["slide_id"] == world.train_slide and event["version"] >= 1
    finally:
        client.disconnect()


# ---- coverage and the server's state afterwards -------------------------------------


URL_MAP_SCRIPT = """
import json, sys, tempfile
from pathlib import Path
from server.app import create_app
from server.config import Config
with tempfile.TemporaryDirectory() as tmp:
    app, _ = create_app(Config(slide_roots=[tmp], data_dir=Path(tmp) / "data"))
    rules = [[m, r.rule] for r in app.url_map.iter_rules() for m in r.methods]
    print(json.dumps([pair for pair in rules if pair[0] not in ("HEAD", "OPTIONS")]))
"""


def url_map() -> set[tuple[str, str]]:
    """(method, rule) of every route the server's Flask app has, read in a subprocess."""
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", URL_MAP_SCRIPT],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return {tuple(pair) for pair in json.loads(out.stdout.strip().splitlines()[-1])}


def test_every_route_is_fuzzed():
    fuzzed = {(route.method, route.rule) for route in ROUTES}
    missing = url_map() - fuzzed
    assert not missing, f"routes without a fuzz strategy: {sorted(missing)}"


def test_server_is_healthy_and_bounded_afterwards(world):
    print(f"\nfuzzing sent {world.sent} requests; peak RSS {world.peak_rss / 2**20:.0f} MiB")
    by_rule: dict[str, dict[int, int]] = {}
    for (rule, status), count in sorted(world.answers.items()):
        by_rule.setdefault(rule, {})[status] = count
    for rule, counts in by_rule.items():
        print(f"  {rule:70} {counts}")
    print("RSS:", ", ".join(f"{n}: {rss / 2**20:.0f} MiB" for n, rss in world.trace))
    print("largest RSS steps:")
    for growth, what in world.growth:
        print(f"  {growth / 2**20:+6.0f} MiB  {what[:150]}")
    print("most frequent errors:")
    for (rule, status, message), count in world.errors.most_common(40):
        print(f"  {count:4}  {rule}  {status}  {message}")
    start = time.monotonic()
    response = requests.get(world.server.url + "/api/health", timeout=HEALTH_SECONDS)
    elapsed = time.monotonic() - start
    assert response.status_code == 200 and response.json()["ok"] is True
    assert elapsed < HEALTH_SECONDS
    assert world.peak_rss <= world.idle_rss + RSS_BOUND_BYTES
    log = world.server.log()
    assert "Traceback" not in log, log[log.index("Traceback") - 2000 :][:6000]
