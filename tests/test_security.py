"""Access token: required beyond loopback, checked on HTTP and Socket.IO, kept in a cookie."""

from __future__ import annotations

import select
import socket
import subprocess
import sys
import time

import pytest
import requests
import socketio
import websocket

from tests.helpers import DEMO_DIR, REPO


@pytest.fixture(scope="module")
def open_server(tmp_path_factory):
    from tests.helpers import ServerProcess

    server = ServerProcess([DEMO_DIR], tmp_path_factory.mktemp("data"), host="0.0.0.0").start()
    yield server
    server.stop()


def test_binding_beyond_loopback_generates_and_prints_a_token(open_server):
    token = open_server.printed_token()
    assert token and len(token) >= 24
    assert "?token=" in open_server.log()


def test_http_without_or_with_wrong_token_is_401(open_server):
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = open_server.get("/api/slides", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"] == "Access token required"
    assert open_server.get("/").status_code == 401


def test_token_in_url_sets_an_httponly_cookie_that_works(open_server):
    token = open_server.printed_token()
    session = requests.Session()
    first = session.get(f"{open_server.url}/?token={token}", timeout=10)
    assert first.status_code == 200
    cookie = first.headers["Set-Cookie"]
    assert f"slidelab_token_{open_server.port}={token}" in cookie
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    slides = session.get(f"{open_server.url}/api/slides", timeout=10)
    assert slides.status_code == 200 and slides.json()[0]["name"] == "CMU-1-Small-Region.svs"


def test_socketio_refuses_without_token_and_accepts_with_it(open_server):
    token = open_server.printed_token()
    refused = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        refused.connect(open_server.url, transports=["websocket"], wait_timeout=10)
    client = socketio.Client(reconnection=False)
    hello = []
    client.on("hello", hello.append)
    client.connect(
        open_server.url, auth={"token": token}, transports=["websocket"], wait_timeout=10
    )
    try:
        client.sleep(0.5)
        assert client.connected and hello and "version" in hello[0]
    finally:
        client.disconnect()


def test_explicit_token_on_loopback_is_enforced(server_factory):
    server = server_factory(token="s3cret-token-value")
    assert server.get("/api/slides").status_code == 401
    ok = server.get("/api/slides", headers={"Authorization": "Bearer s3cret-token-value"})
    assert ok.status_code == 200


def test_loopback_without_token_is_open(demo_server):
    assert demo_server.get("/api/slides").status_code == 200


@pytest.mark.parametrize("path", ["/", "/api/slides", "/api/health", "/index.html"])
def test_a_wrong_token_is_refused_and_never_hands_out_the_real_one(open_server, path):
    token = open_server.printed_token()
    response = open_server.get(f"{path}?token=anything")
    assert response.status_code == 401
    assert "Set-Cookie" not in response.headers
    assert token not in response.text and token not in str(response.headers)


def test_a_valid_cookie_survives_a_wrong_query_token(open_server):
    token = open_server.printed_token()
    cookies = {f"slidelab_token_{open_server.port}": token}
    response = open_server.get("/api/slides?token=wrong", cookies=cookies)
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("token", ["", "   "])
def test_an_empty_token_is_refused_at_start(tmp_path, token):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "server.cli",
            "serve",
            str(DEMO_DIR),
            "--data-dir",
            str(tmp_path),
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--token",
            token,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "token must not be empty" in done.stderr


@pytest.mark.parametrize("host", ["evil.example", "evil.example:5000", "10.1.2.3"])
def test_loopback_server_refuses_foreign_host_names(demo_server, host):
    response = demo_server.get("/api/slides", headers={"Host": host})
    assert response.status_code == 403
    assert response.json()["error"] == "Host not allowed"
    tile = demo_server.get("/slides/0000000000000000_files/0/0_0.jpeg", headers={"Host": host})
    assert tile.status_code == 403


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]"])
def test_loopback_server_serves_its_own_names(demo_server, host):
    response = demo_server.get("/api/health", headers={"Host": f"{host}:{demo_server.port}"})
    assert response.status_code == 200


def test_allow_host_adds_a_name(server_factory):
    server = server_factory(extra_args=["--allow-host", "lab.internal"])
    assert server.get("/api/health", headers={"Host": "lab.internal:8080"}).status_code == 200
    assert server.get("/api/health", headers={"Host": "other.internal"}).status_code == 403


def _class_names(server) -> list[str]:
    return [c["name"] for c in server.get("/api/classes").json()]


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1:1"},  # another port of this host is another origin
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
def test_cross_site_writes_are_refused(demo_server, headers):
    response = demo_server.post("/api/classes", json={"name": "Forged"}, headers=headers)
    assert response.status_code == 403
    assert response.json()["error"] == "Cross-site request refused"
    form = demo_server.post(
        "/api/apps/import", files={"file": ("x.slidelab-app", b"PK")}, headers=headers
    )
    assert form.status_code == 403
    assert "Forged" not in _class_names(demo_server)


def test_same_origin_and_script_writes_are_accepted(demo_server):
    own = {"Origin": demo_server.url, "Sec-Fetch-Site": "same-origin"}
    created = demo_server.post("/api/classes", json={"name": "From page"}, headers=own)
    assert created.status_code in (200, 201)
    scripted = demo_server.post("/api/classes", json={"name": "From script"})
    assert scripted.status_code in (200, 201)
    assert {"From page", "From script"} <= set(_class_names(demo_server))


def test_socketio_refuses_a_foreign_origin(demo_server):
    for transport in ("polling", "websocket"):
        foreign = socketio.Client(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            # The websocket client adds its own Origin too; a doubled header is refused as well.
            foreign.connect(
                demo_server.url,
                headers={"Origin": "http://evil.example"},
                transports=[transport],
                wait_timeout=10,
            )
    handshake = websocket.create_connection  # what a browser page elsewhere would do
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        handshake(
            demo_server.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket",
            header=["Origin: http://evil.example"],
            suppress_origin=True,
            timeout=10,
        )
    assert refused.value.status_code == 403
    own = socketio.Client(reconnection=False)  # sends the server's own origin
    own.connect(demo_server.url, transports=["websocket"], wait_timeout=10)
    try:
        assert own.connected
    finally:
        own.disconnect()


def test_watch_without_a_payload_is_answered(demo_server):
    client = socketio.Client(reconnection=False)
    client.connect(demo_server.url, transports=["websocket"], wait_timeout=10)
    try:
        assert "error" in client.call("watch", timeout=10)
        assert "error" in client.call("watch", {"run_id": {"a": 1}}, timeout=10)
        assert client.call("watch", {"run_id": "x" * 65}, timeout=10)["error"]
        assert client.call("watch", {"run_id": 10**101}, timeout=10)["error"]
        assert client.call("unwatch", timeout=10) == {"ok": True}
    finally:
        client.disconnect()


def _half_sent(port: int, source: str, count: int) -> list[socket.socket]:
    """Connections from `source` that send a request line and never finish the headers."""
    held = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        held.append(sock)
    return held


def test_half_sent_requests_cannot_starve_other_clients(server_factory):
    server = server_factory(extra_args=["--max-connections-per-client", "20"])
    held = _half_sent(server.port, "127.0.0.2", 300)
    try:
        health = server.get("/api/health", timeout=10)
        assert health.status_code == 200
        time.sleep(1)
        answered, _, _ = select.select(held, [], [], 0)
        refused = [s.recv(4096) for s in answered]
        assert len(refused) == 280
        assert all(r.startswith(b"HTTP/1.1 503") for r in refused)
        assert b"Too many connections" in refused[0]
        # The header deadline (10 s) drops the 20 that never finish their headers.
        waiting = [s for s in held if s not in answered]
        deadline = time.monotonic() + 30
        while waiting and time.monotonic() < deadline:
            closed, _, _ = select.select(waiting, [], [], 1)
            waiting = [s for s in waiting if s not in closed]
        assert waiting == []
    finally:
        for sock in held:
            sock.close()
