"""HTTP API for training (see DESIGN.md's contract). Filled in by its issue."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("training", __name__)
