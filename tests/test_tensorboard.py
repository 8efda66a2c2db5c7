"""TensorBoard served by slidelab itself: under /tensorboard/ on the server's own port,
behind its token, reading the runs' event files without stalling the event loop, and gone
with the server (no process of its own, nothing left listening)."""

from __future__ import annotations

import io
import socket
import threading
import time
import types
from pathlib import Path

import pytest
from PIL import Image

from server.training.tensorboard import RunLog
from tests.e2e.app_page import TIMEOUT_MS, open_slide
from tests.training_support import seed_labels

TOKEN = "tensorboard-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TINY = {"mpp": 4.0, "patch_size": 64, "batch_size": 4, "learning_rate": 0.001, "seed": 1}
ITERATIONS = 12
STATUS = {"running": True, "url": "/tensorboard/"}


def command_lines() -> dict[int, tuple[int, str]]:
    """Every process: pid → (parent pid, command line), read from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (entry / "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        table[int(entry.name)] = (parent, cmdline)
    return table


def descendants(pid: int) -> list[str]:
    """Command lines of every process below `pid`."""
    table = command_lines()
    found, frontier = [], {pid}
    while frontier:
        children = {p for p, (parent, _) in table.items() if parent in frontier}
        found += [table[p][1] for p in children]
        frontier = children
    return found


def processes_mentioning(text: str) -> list[str]:
    """Command lines of every process that names `text` (e.g. a test's data folder)."""
    return [cmd for _, cmd in command_lines().values() if text in cmd]


def refuses_connections(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:port."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def train(server, ids: dict) -> dict:
    """A tiny run to completion (token server); its final state."""
    body = {
        "slides": [ids["slide_id"]],
        "classes": [ids["background"], ids["tissue"]],
        "settings": {**TINY, "iterations": ITERATIONS, "tensorboard_image_interval": 5},
    }
    response = server.post("/api/training", json=body, headers=AUTH)
    assert response.status_code == 201, response.text
    run_id = response.json()["run_id"]
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        run = server.get(f"/api/training/{run_id}", headers=AUTH).json()
        if run["state"] == "completed":
            return run
        assert run["state"] != "failed", run["error"]
        time.sleep(0.3)
    raise AssertionError(f"run did not complete: {run['state']} at {run['iteration']}")


def tensorboard_json(server, path: str, **params):
    """A TensorBoard data endpoint, with the token."""
    response = server.get(f"/tensorboard/{path}", params=params, headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for_scalars(server, run: str, tag: str, steps: int) -> list[list[float]]:
    """TensorBoard's [wall time, step, value] rows once it has read all `steps` of `tag`
    (it reads the event files again on a request 5 s after its last reading)."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        tags = tensorboard_json(server, "data/plugin/scalars/tags")
        if tag in tags.get(run, {}):
            rows = tensorboard_json(server, "data/plugin/scalars/scalars", run=run, tag=tag)
            if len(rows) == steps:
                return rows
        time.sleep(1)
    raise AssertionError(f"TensorBoard never showed {steps} steps of {tag} in {run}")


def test_tensorboard_is_served_behind_the_token_with_a_trained_runs_scalars_and_images(
    server_factory, tmp_path
):
    data = tmp_path / "data"
    ids = seed_labels(data)
    server = server_factory(data_dir=data, token=TOKEN)
    for path in ("", "data/runs", "data/plugin/scalars/tags"):
        refused = server.get(f"/tensorboard/{path}")
        assert refused.status_code == 401 and refused.json()["error"] == "Access token required"
    assert server.get("/api/tensorboard", headers=AUTH).json() == {**STATUS, "running": False}
    assert server.post("/api/tensorboard", headers=AUTH, timeout=120).json() == STATUS
    assert tensorboard_json(server, "data/runs") == []  # loaded before the run existed
    page = server.get("/tensorboard/", headers=AUTH)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "<title>TensorBoard</title>" in page.text and "<tb-webapp>" in page.text

    run = train(server, ids)
    name = f"{run['id']}/tb"
    rows = wait_for_scalars(server, name, "train/loss", ITERATIONS)
    assert [int(step) for _, step, _ in rows] == list(range(1, ITERATIONS + 1))
    losses = [point["loss"] for point in run["history"]]
    assert [value for _, _, value in rows] == pytest.approx(losses, rel=1e-6)
    assert name in tensorboard_json(server, "data/runs")
    images = tensorboard_json(
        server, "data/plugin/images/images", run=name, tag="samples/prediction", sample=0
    )
    assert [image["step"] for image in images] == [1, 5, 10]
    png = server.get(f"/tensorboard/data/plugin/images/individualImage?{images[-1]['query']}")
    assert png.status_code == 401  # the images too need the token
    png = server.get(
        f"/tensorboard/data/plugin/images/individualImage?{images[-1]['query']}", headers=AUTH
    )
    assert Image.open(io.BytesIO(png.content)).size == (TINY["patch_size"], TINY["patch_size"])
    assert server.get("/api/tensorboard", headers=AUTH).json() == STATUS

    assert not any("tensorboard" in cmd for cmd in descendants(server.proc.pid))
    port = server.port
    server.stop()
    assert refuses_connections(port)
    assert processes_mentioning(str(data)) == []


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
def test_tensorboard_has_no_process_of_its_own_and_ends_with_the_server(
    server_factory, tmp_path, kill
):
    data = tmp_path / "data"
    server = server_factory(data_dir=data)
    assert server.post("/api/tensorboard", timeout=120).json() == STATUS
    assert server.get("/tensorboard/data/runs").json() == []
    redirect = server.get("/tensorboard", allow_redirects=False)
    assert redirect.status_code == 308 and redirect.headers["Location"].endswith("/tensorboard/")
    unknown = server.get("/tensorboard/data/no-such-thing")  # slidelab's errors: JSON
    assert unknown.status_code == 404 and unknown.json()["error"] == "TensorBoard: Not found"
    missing = server.get("/tensorboard/data/plugin/scalars/scalars", params={"tag": "train/loss"})
    assert missing.status_code == 400 and "run" in missing.json()["error"]
    assert not any("tensorboard" in cmd for cmd in descendants(server.proc.pid))
    port = server.port
    server.stop(kill=kill)
    assert refuses_connections(port)
    assert processes_mentioning(str(data)) == []


def write_scalar_runs(runs_dir: Path, runs: int, iterations: int) -> None:
    """Event files as training writes them: three scalars per iteration."""
    for r in range(runs):
        log = RunLog(runs_dir / f"run{r}" / "tb", [])
        for i in range(1, iterations + 1):
            point = types.SimpleNamespace(iteration=i, loss=1 / i, error_rate=0.5, lr=1e-3, time=1)
            log.scalars(point)
        log.close()


def test_reading_event_files_leaves_the_event_loop_free(server_factory, tmp_path):
    data = tmp_path / "data"
    write_scalar_runs(data / "runs", runs=4, iterations=10_000)  # seconds of reading
    server = server_factory(data_dir=data)
    answer: dict = {}

    def first_request() -> None:  # builds TensorBoard and reads every event file
        answer["runs"] = server.get("/tensorboard/data/runs", timeout=300).json()
        answer["at"] = time.monotonic()

    reader = threading.Thread(target=first_request)
    reader.start()
    answered = []
    while reader.is_alive():
        assert server.get("/api/health", timeout=30).ok
        answered.append(time.monotonic())
    reader.join()
    assert sorted(answer["runs"]) == [f"run{r}/tb" for r in range(4)]
    during = [t for t in answered if t < answer["at"]]
    # While TensorBoard reads 120,000 events in a compute thread, the server keeps
    # answering; had it read them in the event loop, at most a request or two would have.
    assert len(during) >= 10, f"only {len(during)} answers while TensorBoard was reading"
    rows = server.get(
        "/tensorboard/data/plugin/scalars/scalars", params={"run": "run3/tb", "tag": "train/loss"}
    ).json()
    # TensorBoard keeps a reservoir sample of 1,000 points per series, always with the last.
    assert len(rows) == 1000 and rows[-1][1:] == [10_000, pytest.approx(1e-4, rel=1e-6)]


@pytest.mark.e2e
def test_the_tensorboard_button_opens_tensorboard_through_slidelab(page, server_factory, tmp_path):
    data = tmp_path / "data"
    write_scalar_runs(data / "runs", runs=1, iterations=20)
    server = server_factory(data_dir=data, token=TOKEN)
    page.goto(f"{server.url}/?token={TOKEN}")
    open_slide(page)
    button = page.locator("#training-panel .tr-tensorboard")
    button.wait_for(timeout=TIMEOUT_MS)
    with page.context.expect_page(timeout=TIMEOUT_MS) as opened:
        button.click()
    board = opened.value
    board.wait_for_load_state()
    assert board.url == f"{server.url}/tensorboard/"  # this server, not a port of its own
    board.get_by_text("train/loss").first.wait_for(timeout=TIMEOUT_MS)
    link = page.locator("#training-panel .tr-tensorboard-link")
    assert link.get_attribute("href") == "/tensorboard/" and link.is_visible()
    assert button.inner_text() == "TensorBoard (loaded)"
