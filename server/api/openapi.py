"""`GET /api/openapi.json`: the OpenAPI 3.1 document of the HTTP API."""

from __future__ import annotations

from flask import Blueprint, jsonify

from server.api.schema import document

bp = Blueprint("openapi", __name__)


@bp.get("/api/openapi.json")
def openapi_document():
    """The OpenAPI 3.1 document of every route (see server/api/schema.py and docs/api.md)."""
    return jsonify(document())
