"""The annotation service on a real store, slide library and Socket.IO server (no HTTP)."""

from __future__ import annotations

from pathlib import Path

from server.store import Store


def make_service(data_dir: Path):
    """An AnnotationService over the demo slide with its store in `data_dir`."""
    from flask import Flask
    from flask_socketio import SocketIO

    from server.annotations.service import AnnotationService
    from server.config import Config
    from server.context import Context
    from server.slides.library import SlideLibrary
    from tests.helpers import DEMO_DIR

    library = SlideLibrary([DEMO_DIR])
    library.scan()
    ctx = Context(
        config=Config(slide_roots=[DEMO_DIR], data_dir=data_dir),
        store=Store(data_dir / "db.sqlite3"),
        library=library,
        tiles=None,
        socketio=SocketIO(Flask(__name__)),
        device_queue=None,
    )
    return AnnotationService(ctx)
