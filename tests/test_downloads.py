"""Downloads of files named after slides and apps whose names are not ASCII (or hold `"`).

A real server on a slide folder holding a copy of the demo slide called `ünï 日本 "q".svs`:
every download (annotation GeoJSON, masks, app export, result exports) arrives, and its
RFC 6266 Content-Disposition parses back to the right name.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile

import pytest
from PIL import Image
from werkzeug.http import parse_options_header

from server.downloads import ascii_filename, clean_filename, content_disposition
from tests.helpers import DEMO_SLIDE, ServerProcess, slide_id_by_name
from tests.inference_support import make_app, wait_for_result

SLIDE = 'ünï 日本 "q".svs'
STEM = 'ünï 日本 "q"'
APP = 'Haut ünï 日本 "q"'


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    slides = tmp_path_factory.mktemp("unicode-slides")
    shutil.copy(DEMO_SLIDE, slides / SLIDE)
    data = tmp_path_factory.mktemp("unicode-data")
    app_id = make_app(data, name=APP)
    server = ServerProcess([slides], data).start()
    yield {"server": server, "slide": slide_id_by_name(server, SLIDE), "app": app_id}
    server.stop()


def download_name(response) -> str:
    """The file name a browser would save `response` as (RFC 6266: `filename*` first)."""
    header = response.headers["Content-Disposition"]
    assert header.isascii(), header
    kind, params = parse_options_header(header)
    assert kind == "attachment"
    return params["filename"]


def fallback_name(response) -> str:
    """The plain `filename="..."` parameter older clients use."""
    header = response.headers["Content-Disposition"]
    quoted = header.split('filename="', 1)[1].split('"', 1)[0]
    return quoted


def label_something(server: ServerProcess, slide: str) -> None:
    cls = server.post("/api/classes", json={"name": "Tumör 腫瘍"}).json()
    square = [[100, 100], [600, 100], [600, 600], [100, 600]]
    edit = {"tool": "polygon", "class_id": cls["id"], "points": square}
    response = server.post(f"/api/slides/{slide}/annotations/edits", json=edit)
    assert response.status_code == 200, response.text


def test_annotation_exports_keep_the_slide_name(env):
    server, slide = env["server"], env["slide"]
    label_something(server, slide)

    geojson = server.get(f"/api/slides/{slide}/annotations/export.geojson")
    assert geojson.status_code == 200
    assert download_name(geojson) == f"{STEM}-annotations.geojson"
    assert fallback_name(geojson) == "uni _ _q_-annotations.geojson"
    features = geojson.json()["features"]
    assert [f["properties"]["classification"]["name"] for f in features] == ["Tumör 腫瘍"]

    png = server.get(f"/api/slides/{slide}/annotations/mask.png?downsample=4")
    assert png.status_code == 200 and download_name(png) == f"{STEM}-mask.png"
    assert Image.open(io.BytesIO(png.content)).size == (555, 742)
    legend = json.loads(png.headers["X-Slidelab-Legend"])
    assert legend["1"]["name"] == "Tumör 腫瘍"

    tiff = server.get(f"/api/slides/{slide}/annotations/mask.tiff?downsample=8")
    assert tiff.status_code == 200 and download_name(tiff) == f"{STEM}-mask.tiff"


def test_app_export_keeps_the_app_name(env):
    server = env["server"]
    response = server.get(f"/api/apps/{env['app']}/export")
    assert response.status_code == 200
    assert download_name(response) == f"{APP}.slidelab-app"
    assert fallback_name(response) == "Haut uni _ _q_.slidelab-app"
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert sorted(names) == ["app.json", "model.safetensors"]


def test_result_exports_keep_the_slide_and_app_names(env):
    server = env["server"]
    body = {
        "app_id": env["app"],
        "slide_id": env["slide"],
        "region": {"bbox": [500, 700, 400, 400]},
    }
    response = server.post("/api/inference", json=body)
    assert response.status_code == 201, response.text
    rid = response.json()["result_id"]
    wait_for_result(server, rid)
    expected = "ünï_日本_q_Haut_ünï_日本_q_t50"
    for kind, ext in (("geojson", "geojson"), ("csv", "csv"), ("tiff", "tif")):
        exported = server.get(f"/api/results/{rid}/export.{kind}?threshold=0.5")
        assert exported.status_code == 200, exported.text
        assert download_name(exported) == f"{expected}.{ext}"
        assert len(exported.content) > 0


@pytest.mark.parametrize(
    "name, fallback",
    [
        ('ünï 日本 "q".geojson', "uni _ _q_.geojson"),
        ("plain-name_1.png", "plain-name_1.png"),
        ("日本.tiff", "download.tiff"),
        ('a\\b/c"d\r\ne;f,g%h.csv', "a_b_c_d_e_f_g_h.csv"),
        ("", "download"),
    ],
)
def test_content_disposition_round_trips(name, fallback):
    header = content_disposition(name)
    assert header.isascii() and "\r" not in header and "\n" not in header
    kind, params = parse_options_header(header)
    assert kind == "attachment"
    assert params["filename"] == clean_filename(name)
    assert ascii_filename(clean_filename(name)) == fallback
    assert f'filename="{fallback}"' in header
