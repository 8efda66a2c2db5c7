"""HTTP for errors, in one place: UserError kinds → statuses, anything else → a JSON 500.

No traceback ever leaves the server: an unexpected error answers an id that the server
log repeats beside the traceback.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from flask import Flask, Response, jsonify, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException

from server.errors import Conflict, NotFound, TooLarge, UserError, safe_loads
from server.inference.thresholds import parse_threshold

log = logging.getLogger(__name__)
Answer = tuple[Response, int]

STATUS = {NotFound: 404, Conflict: 409, TooLarge: 413}  # any other UserError: 400


def status_of(err: UserError) -> int:
    """The HTTP status of a user error."""
    for kind, status in STATUS.items():
        if isinstance(err, kind):
            return status
    return 400


class SafeJSONProvider(DefaultJSONProvider):
    """Flask's JSON, where input too deeply nested to parse is invalid JSON (a 400)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> object:
        """Parse JSON; RecursionError becomes the ValueError that Flask answers as 400."""
        return safe_loads(s, **kwargs)


def install_error_handlers(app: Flask) -> None:
    """Every error becomes JSON with a readable message."""

    @app.errorhandler(UserError)
    def _user_error(err: UserError) -> Answer:
        return jsonify(err.payload()), status_of(err)

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> Answer:
        return jsonify({"error": err.description or err.name}), err.code or 500

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Answer:
        error_id = uuid.uuid4().hex[:12]
        log.exception("unhandled error %s in %s %s", error_id, request.method, request.path)
        body = {
            "error": "Internal server error",
            "id": error_id,
            "hint": f"The server log has the details under error {error_id}.",
        }
        return jsonify(body), 500


def threshold_arg() -> float:
    """The request's `threshold` query (0..1, default 0); 400 with a hint when bad."""
    try:
        return parse_threshold(request.args.get("threshold"))
    except ValueError as exc:
        raise UserError(str(exc), "Use a value from 0 to 1, e.g. 0.5 for 50%.") from exc
