"""Slide library and Deep Zoom API over every file in the shared test slides."""

from __future__ import annotations

import io
import math
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers import DEMO_SLIDE, SHARED_SLIDES, ServerProcess

EXPECTED = {
    "CMU-1-Small-Region.svs": {"vendor": "aperio", "levels": 1},
    "generic_tiff_cmu1_pyramid_vips.tif": {"vendor": "generic-tiff", "levels": 5},
    "ome_tiff_cmu1_pyramid.ome.tif": {"vendor": "generic-tiff", "levels": 1},
    "CMU-1-Small-Region-dicom": {"vendor": "dicom", "levels": 5},
}
WIDTH, HEIGHT, MPP = 2220, 2967, 0.499
DZ_NS = "{http://schemas.microsoft.com/deepzoom/2008}"


@pytest.fixture(scope="module")
def slide_root(tmp_path_factory) -> Path:
    """The shared slides plus a corrupt slide, a non-slide file and a link leading outside."""
    root = tmp_path_factory.mktemp("slides")
    for item in SHARED_SLIDES.iterdir():
        target = root / item.name
        if item.is_dir():
            shutil.copytree(item, target)
        else:
            shutil.copy(item, target)
    corrupt = (SHARED_SLIDES / "CMU-1-Small-Region.svs").read_bytes()[:4096]
    (root / "corrupt.svs").write_bytes(corrupt + b"\0" * 1000)
    (root / "notes.txt").write_text("not a slide")
    outside = tmp_path_factory.mktemp("outside") / "secret.svs"
    shutil.copy(SHARED_SLIDES / "CMU-1-Small-Region.svs", outside)
    (root / "escape.svs").symlink_to(outside)
    return root


@pytest.fixture(scope="module")
def server(slide_root, tmp_path_factory):
    proc = ServerProcess([slide_root], tmp_path_factory.mktemp("data")).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def slides(server) -> dict[str, dict]:
    return {s["name"]: s for s in server.get("/api/slides").json()}


def dz_levels(width: int, height: int) -> list[tuple[int, int]]:
    """Deep Zoom level sizes, smallest first."""
    count = int(math.ceil(math.log2(max(width, height)))) + 1
    return [
        (math.ceil(width / 2 ** (count - 1 - i)), math.ceil(height / 2 ** (count - 1 - i)))
        for i in range(count)
    ]


def expected_tile_size(level_size: tuple[int, int], col: int, row: int) -> tuple[int, int]:
    """Size of tile (col, row) for tile size 254 and overlap 1."""

    def extent(total: int, index: int) -> int:
        start = index * 254
        size = min(254, total - start)
        return size + (1 if index > 0 else 0) + (1 if start + size < total else 0)

    return extent(level_size[0], col), extent(level_size[1], row)


def test_every_shared_slide_is_listed_readable_with_size_and_mpp(slides):
    for name, facts in EXPECTED.items():
        slide = slides[name]
        assert slide["readable"], slide
        assert (slide["width"], slide["height"]) == (WIDTH, HEIGHT)
        assert slide["mpp"] == pytest.approx(MPP, abs=1e-3), name
        assert slide["vendor"] == facts["vendor"]
        assert slide["levels"] == facts["levels"]
        assert slide["objective_power"] == 20


def test_unreadable_files_are_listed_with_a_reason(slides):
    assert not slides["corrupt.svs"]["readable"]
    assert slides["corrupt.svs"]["error"]
    assert slides["notes.txt"]["error"] == "Not a slide format OpenSlide can read"
    assert "outside" in slides["escape.svs"]["error"]
    # Readable slides come first in the list.
    names = [s["name"] for s in slides.values()]
    assert all(slides[n]["readable"] for n in names[: len(EXPECTED)])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_dzi_and_tiles_at_several_levels(server, slides, name):
    ident = slides[name]["id"]
    response = server.get(f"/slides/{ident}.dzi")
    assert response.status_code == 200
    root = ET.fromstring(response.text)
    assert root.tag == f"{DZ_NS}Image"
    assert (root.get("TileSize"), root.get("Overlap"), root.get("Format")) == ("254", "1", "jpeg")
    size = root.find(f"{DZ_NS}Size")
    assert (int(size.get("Width")), int(size.get("Height"))) == (WIDTH, HEIGHT)
    levels = dz_levels(WIDTH, HEIGHT)
    top = len(levels) - 1
    for level, col, row in [(0, 0, 0), (8, 0, 0), (top - 1, 2, 3), (top, 0, 0), (top, 8, 11)]:
        tile = server.get(f"/slides/{ident}_files/{level}/{col}_{row}.jpeg")
        assert tile.status_code == 200, (level, col, row, tile.text[:200])
        assert tile.headers["Content-Type"] == "image/jpeg"
        image = Image.open(io.BytesIO(tile.content))
        assert image.format == "JPEG"
        assert image.size == expected_tile_size(levels[level], col, row)


def test_tiles_show_tissue(server, slides):
    ident = slides["CMU-1-Small-Region.svs"]["id"]
    tile = server.get(f"/slides/{ident}_files/12/4_6.jpeg")  # centre of the section, full res
    pixels = Image.open(io.BytesIO(tile.content)).convert("RGB").resize((32, 32))
    reds = [r - g for r, g, _ in pixels.get_flattened_data()]
    assert sum(1 for d in reds if d > 20) > 100  # H&E pink/purple, not white glass


def test_tile_caching_headers_and_etag(server, slides):
    ident = slides["generic_tiff_cmu1_pyramid_vips.tif"]["id"]
    first = server.get(f"/slides/{ident}_files/10/1_1.jpeg")
    assert "max-age" in first.headers["Cache-Control"]
    etag = first.headers["ETag"]
    again = server.get(f"/slides/{ident}_files/10/1_1.jpeg", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert server.get(f"/slides/{ident}_files/10/1_1.jpeg").content == first.content


def test_thumbnail_and_associated_images(server, slides):
    ident = slides["CMU-1-Small-Region.svs"]["id"]
    thumb = Image.open(io.BytesIO(server.get(f"/api/slides/{ident}/thumbnail?size=200").content))
    assert max(thumb.size) == 200 and thumb.size[0] < thumb.size[1]
    detail = server.get(f"/api/slides/{ident}").json()
    assert detail["associated"] == ["label", "macro", "thumbnail"]
    assert detail["properties"]["openslide.vendor"] == "aperio"
    label = server.get(f"/api/slides/{ident}/associated/label")
    assert Image.open(io.BytesIO(label.content)).format == "JPEG"
    assert server.get(f"/api/slides/{ident}/associated/nope").status_code == 404
    assert server.get(f"/api/slides/{ident}/thumbnail?size=99999").status_code == 400


def test_missing_tiles_slides_and_unreadable_slides(server, slides):
    ident = slides["CMU-1-Small-Region.svs"]["id"]
    assert server.get(f"/slides/{ident}_files/13/0_0.jpeg").status_code == 404
    assert server.get(f"/slides/{ident}_files/12/99_0.jpeg").status_code == 404
    assert server.get("/slides/0000000000000000.dzi").status_code == 404
    corrupt = server.get(f"/api/slides/{slides['corrupt.svs']['id']}")
    assert corrupt.status_code == 409 and "cannot be read" in corrupt.json()["error"]


@pytest.mark.parametrize(
    "path",
    [
        "/slides/..%2F..%2F..%2Fetc%2Fpasswd.dzi",
        "/slides/%2Fetc%2Fpasswd.dzi",
        "/api/slides/..%2Fnotes.txt",
        "/api/slides/%2e%2e/thumbnail",
        "/slides/..%252F..%252Fetc%252Fpasswd.dzi",
        "/api/slides/CMU-1-Small-Region.svs",
    ],
)
def test_path_traversal_is_refused(server, path):
    response = server.get(path)
    assert response.status_code == 404
    assert "root:" not in response.text and "Traceback" not in response.text


def test_links_leading_outside_are_never_served(server, slides):
    ident = slides["escape.svs"]["id"]
    assert server.get(f"/slides/{ident}.dzi").status_code == 404
    assert server.get(f"/api/slides/{ident}/thumbnail").status_code == 404


def test_rescan_picks_up_new_files(server, slide_root):
    before = {s["name"] for s in server.get("/api/slides").json()}
    copy = slide_root / "added.svs"
    shutil.copy(SHARED_SLIDES / "CMU-1-Small-Region.svs", copy)
    try:
        after = {s["name"]: s for s in server.post("/api/slides/rescan").json()}
        assert set(after) - before == {"added.svs"} and after["added.svs"]["readable"]
    finally:
        copy.unlink()
        server.post("/api/slides/rescan")


def _no_traceback(response) -> None:
    assert response.headers["Content-Type"].startswith("application/json")
    assert "Traceback" not in response.text and 'File "' not in response.text


def test_a_slide_deleted_or_damaged_after_the_scan_is_404_or_409_with_a_hint(
    server_factory, tmp_path
):
    root = tmp_path / "slides"
    root.mkdir()
    for name in ("gone.svs", "damaged.svs", "opened.svs"):
        shutil.copy(DEMO_SLIDE, root / name)
    server = server_factory([root])
    ids = {s["name"]: s["id"] for s in server.get("/api/slides").json()}
    opened = ids["opened.svs"]
    assert server.get(f"/slides/{opened}.dzi").status_code == 200  # handle now open
    (root / "gone.svs").unlink()
    for name in ("damaged.svs", "opened.svs"):
        with open(root / name, "r+b") as f:
            f.truncate(30_000)
    cases = {"gone.svs": 404, "damaged.svs": 409, "opened.svs": 409}
    for name, status in cases.items():
        sid = ids[name]
        for path in (
            f"/slides/{sid}_files/11/1_1.jpeg",
            f"/slides/{sid}.dzi",
            f"/api/slides/{sid}/thumbnail?size=300",
        ):
            response = server.get(path)
            assert response.status_code == status, (name, path, response.text)
            _no_traceback(response)
            assert response.json()["hint"]
    assert "Rescan" in server.get(f"/slides/{ids['gone.svs']}.dzi").json()["hint"]
    assert server.get("/api/health").status_code == 200
