"""API errors: a message the UI shows and an optional hint, never a stack trace."""

from __future__ import annotations

import json
import logging
import math
import uuid

from flask import Flask, jsonify, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    """Raise from a view to answer `status` with `{"error": message, "hint": hint}`."""

    def __init__(self, status: int, message: str, hint: str | None = None, **extra) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.hint = hint
        self.extra = extra

    def payload(self) -> dict:
        """The JSON body of the response."""
        body = {"error": self.message, **self.extra}
        if self.hint:
            body["hint"] = self.hint
        return body


def not_found(what: str) -> ApiError:
    """A 404 naming what was missing."""
    return ApiError(404, f"{what} not found")


class SafeJSONProvider(DefaultJSONProvider):
    """Flask's JSON, where input too deeply nested to parse is invalid JSON (a 400)."""

    def loads(self, s: str | bytes, **kwargs) -> object:
        """Parse JSON; RecursionError becomes the ValueError that Flask answers as 400."""
        return safe_loads(s, **kwargs)


def safe_loads(s: str | bytes, **kwargs) -> object:
    """json.loads that raises ValueError, not RecursionError, on absurdly deep nesting."""
    try:
        return json.loads(s, **kwargs)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc


def _bounded_int(text: str) -> int | float:
    # An integer of hundreds of digits is no id and no count: parse it as infinity, which
    # every validator refuses with its own message (engine.io would drop the packet).
    return int(text) if len(text) <= 100 else math.inf


class SocketJSON:
    """The JSON module for Socket.IO packets: deep nesting and huge integers are parsed
    into values that handlers refuse, instead of errors that drop the packet unanswered."""

    dumps = staticmethod(json.dumps)

    @staticmethod
    def loads(s: str | bytes, **kwargs) -> object:
        """Parse a packet's JSON."""
        kwargs.setdefault("parse_int", _bounded_int)
        return safe_loads(s, **kwargs)


def install_error_handlers(app: Flask) -> None:
    """Every error becomes JSON with a readable message."""

    @app.errorhandler(ApiError)
    def _api_error(err: ApiError):
        return jsonify(err.payload()), err.status

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        return jsonify({"error": err.description or err.name}), err.code

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        error_id = uuid.uuid4().hex[:12]
        log.exception("unhandled error %s in %s %s", error_id, request.method, request.path)
        body = {
            "error": "Internal server error",
            "id": error_id,
            "hint": f"The server log has the details under error {error_id}.",
        }
        return jsonify(body), 500
