"""HTTP API for annotations (see DESIGN.md's contract). Filled in by its issue."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("annotations", __name__)
