"""Access token: required beyond loopback, checked on HTTP and Socket.IO, kept in a cookie."""

from __future__ import annotations

import pytest
import requests
import socketio

from tests.helpers import DEMO_DIR


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
    assert "slidelab_token=" in cookie and "HttpOnly" in cookie
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
