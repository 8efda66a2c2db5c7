"""Apps through the HTTP API of a real server: list, details, rename, delete, export, import;
an imported app applies exactly like the original."""

from __future__ import annotations

import io
import zipfile

import pytest

from tests.helpers import DEMO_DIR, ServerProcess, slide_id_by_name
from tests.inference_support import CLASSES, make_app, wait_for_result


@pytest.fixture(scope="module")
def temp_dir(tmp_path_factory):
    """The server's temporary folder (TMPDIR), to see what it leaves behind."""
    return tmp_path_factory.mktemp("apps-tmp")


@pytest.fixture(scope="module")
def server(tmp_path_factory, temp_dir):
    data = tmp_path_factory.mktemp("apps-data")
    make_app(data, name="Skin")
    server = ServerProcess([DEMO_DIR], data, env={"TMPDIR": str(temp_dir)}).start()
    yield server
    server.stop()


def _apply(server: ServerProcess, app_id: str) -> dict:
    slide = slide_id_by_name(server, "CMU-1-Small-Region.svs")
    body = {"app_id": app_id, "slide_id": slide, "region": {"bbox": [500, 700, 900, 900]}}
    response = server.post("/api/inference", json=body)
    assert response.status_code == 201, response.text
    rid = response.json()["result_id"]
    wait_for_result(server, rid)
    return {
        "stats": server.get(f"/api/results/{rid}/stats?threshold=0.5").json(),
        "tile": server.get(f"/results/{rid}_files/12/3_4.png?threshold=0.5").content,
    }


def test_list_details_rename_delete(server: ServerProcess):
    listed = server.get("/api/apps").json()
    assert [a["name"] for a in listed] == ["Skin"]
    app = listed[0]
    assert app["architecture"] == "unet" and app["encoder"] == "resnet18"
    assert [c["name"] for c in app["classes"]] == [c["name"] for c in CLASSES]
    assert app["mpp"] == 4.0 and app["training"]["final_loss"] == 0.5
    assert server.get(f"/api/apps/{app['id']}").json() == app

    renamed = server.request("PATCH", f"/api/apps/{app['id']}", json={"name": "Skin v2"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Skin v2"
    assert server.get(f"/api/apps/{app['id']}").json()["name"] == "Skin v2"
    assert server.request("PATCH", f"/api/apps/{app['id']}", json={"name": ""}).status_code == 400
    assert server.get("/api/apps/nothing").status_code == 404

    exported = server.get(f"/api/apps/{app['id']}/export")
    copy = server.post("/api/apps/import", files={"file": ("x.slidelab-app", exported.content)})
    assert copy.status_code == 201
    assert server.request("DELETE", f"/api/apps/{copy.json()['id']}").status_code == 200
    assert server.get(f"/api/apps/{copy.json()['id']}").status_code == 404
    assert [a["id"] for a in server.get("/api/apps").json()] == [app["id"]]


def test_exported_app_imports_and_predicts_identically(server: ServerProcess):
    app = server.get("/api/apps").json()[0]
    exported = server.get(f"/api/apps/{app['id']}/export")
    assert exported.status_code == 200
    assert exported.headers["Content-Disposition"].endswith('.slidelab-app"') or (
        ".slidelab-app" in exported.headers["Content-Disposition"]
    )
    with zipfile.ZipFile(io.BytesIO(exported.content)) as archive:
        assert sorted(archive.namelist()) == ["app.json", "model.safetensors"]
    imported = server.post(
        "/api/apps/import", files={"file": ("skin.slidelab-app", exported.content)}
    )
    assert imported.status_code == 201, imported.text
    new = imported.json()
    assert new["id"] != app["id"] and new["name"] == app["name"]
    assert new["classes"] == app["classes"] and new["mpp"] == app["mpp"]
    original, copy = _apply(server, app["id"]), _apply(server, new["id"])
    assert original["stats"]["classes"] == copy["stats"]["classes"]
    assert original["tile"] == copy["tile"]
    server.request("DELETE", f"/api/apps/{new['id']}")


def test_import_rejects_what_is_not_an_app(server: ServerProcess):
    before = server.get("/api/apps").json()
    not_zip = server.post("/api/apps/import", files={"file": ("a.slidelab-app", b"hello")})
    assert not_zip.status_code == 400 and "zip" in not_zip.json()["error"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.json", "{}")
        archive.writestr("model.safetensors", b"")
    empty = server.post("/api/apps/import", files={"file": ("a.slidelab-app", buffer.getvalue())})
    assert empty.status_code == 400 and "format" in empty.json()["error"]
    missing = server.post("/api/apps/import", data={"x": "1"})
    assert missing.status_code == 400
    assert server.get("/api/apps").json() == before


def test_exports_and_imports_leave_no_temporary_files(server: ServerProcess, temp_dir):
    app = server.get("/api/apps").json()[0]
    path = f"/api/apps/{app['id']}/export"
    with server.get(path, stream=True) as abandoned:
        assert abandoned.status_code == 200
        assert len(next(abandoned.iter_content(1024))) == 1024  # then hung up on
    exported = server.get(path).content
    copy = server.post("/api/apps/import", files={"file": ("x.slidelab-app", exported)})
    assert copy.status_code == 201
    server.request("DELETE", f"/api/apps/{copy.json()['id']}")
    leftovers = [p.name for p in temp_dir.rglob("*") if p.suffix == ".slidelab-app"]
    assert leftovers == []
