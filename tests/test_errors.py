"""The one place errors become HTTP answers: JSON, never a traceback, an id for the log."""

from __future__ import annotations

import logging

import pytest
from flask import Flask, request

from server.api.http import SafeJSONProvider, install_error_handlers
from server.errors import Conflict, NotFound, TooLarge, UserError


@pytest.fixture
def client():
    app = Flask(__name__)
    app.json = SafeJSONProvider(app)
    install_error_handlers(app)

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals /etc/passwd")

    @app.get("/refused")
    def refused():
        raise Conflict("Not now", hint="Later.")

    @app.get("/kind/<name>")
    def kind(name: str):
        kinds = {"missing": NotFound, "big": TooLarge, "bad": UserError}
        raise kinds[name]("No", field="size")

    @app.post("/echo")
    def echo():
        body = request.get_json(silent=True)
        if body is None:
            raise UserError("Send JSON")
        return {"ok": True}

    return app.test_client()


def test_an_unexpected_error_is_json_with_an_id_found_in_the_log(client, caplog):
    with caplog.at_level(logging.ERROR, logger="server.api.http"):
        response = client.get("/boom")
    assert response.status_code == 500
    body = response.get_json()
    assert body["error"] == "Internal server error"
    assert len(body["id"]) == 12 and body["id"] in body["hint"]
    assert "secret internals" not in response.text and "Traceback" not in response.text
    logged = [r for r in caplog.records if body["id"] in r.getMessage()]
    assert logged and "GET /boom" in logged[0].getMessage() and logged[0].exc_info


def test_a_user_error_keeps_its_status_message_and_hint(client):
    response = client.get("/refused")
    assert response.status_code == 409
    assert response.get_json() == {"error": "Not now", "hint": "Later."}


def test_json_nested_too_deeply_is_a_400_not_a_500(client):
    deep = "[" * 100_000 + "]" * 100_000
    response = client.post("/echo", data=deep, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json() == {"error": "Send JSON"}


@pytest.mark.parametrize(("name", "status"), [("missing", 404), ("big", 413), ("bad", 400)])
def test_each_kind_of_user_error_has_one_status_and_names_its_field(client, name, status):
    response = client.get(f"/kind/{name}")
    assert response.status_code == status
    assert response.get_json() == {"error": "No", "fields": {"size": "No"}}
