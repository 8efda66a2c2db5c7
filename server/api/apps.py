"""HTTP API for apps (see DESIGN.md's contract). Filled in by its issue."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("apps", __name__)
