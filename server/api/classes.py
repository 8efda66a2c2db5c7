"""HTTP API for classes (see DESIGN.md's contract). Filled in by its issue."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("classes", __name__)
