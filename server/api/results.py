"""HTTP API for results (see DESIGN.md's contract). Filled in by its issue."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("results", __name__)
