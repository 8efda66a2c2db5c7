"""API errors: a message the UI shows and an optional hint, never a stack trace."""

from __future__ import annotations

import logging

from flask import Flask, jsonify
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
        log.exception("unhandled error")
        return jsonify({"error": "Internal server error", "hint": "See the server log."}), 500
