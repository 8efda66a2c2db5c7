"""`GET /api/openapi.json`: the OpenAPI 3.1 document of the HTTP API."""

from __future__ import annotations

from flask import Blueprint, jsonify

from server.openapi import document

bp = Blueprint("openapi", __name__)


@bp.get("/api/openapi.json")
def openapi_document():
    """The OpenAPI 3.1 document of every route (see server/openapi.py and docs/api.md)."""
    return jsonify(document())
