"""create_app(config): the Flask app, its Socket.IO server and the shared services."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask, send_from_directory
from flask_socketio import SocketIO

from server.annotations import classes
from server.annotations.service import AnnotationService
from server.api import annotations as annotation_api
from server.api import apps, objects, openapi, results, slides, tissue, training
from server.api import classes as class_api
from server.api.http import SafeJSONProvider, install_error_handlers
from server.config import Config
from server.context import Context
from server.device import select_device
from server.errors import SocketJSON, not_found
from server.events import Watchers, install_events
from server.inference.cluster import RayCluster
from server.inference.jobs import InferenceJobs
from server.inference.results import ResultTable
from server.inference.viewing import ResultViewer
from server.jobs import DeviceQueue
from server.security import AccessGuard, OriginPolicy
from server.slides.cache import LRU
from server.slides.fastpath import TileFastPath
from server.slides.handles import SlideHandles
from server.slides.library import SlideLibrary
from server.slides.tiles import TileService
from server.store import Store
from server.training.runs import RunService
from server.training.tensorboard import EmbeddedTensorBoard
from server.training.worker import configure_threads

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
BLUEPRINTS = (
    slides,
    tissue,
    class_api,
    annotation_api,
    training,
    apps,
    results,
    objects,
    openapi,
)


def create_app(config: Config) -> tuple[Flask, SocketIO]:
    """Build the app: services in a Context, blueprints, Socket.IO, access guard, SPA."""
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = config.max_request_bytes
    app.json = SafeJSONProvider(app)
    app.json.sort_keys = False
    policy = OriginPolicy(config)
    socketio = SocketIO(
        app,
        async_mode="eventlet",
        cors_allowed_origins=lambda origin, environ: policy.origin_allowed(
            origin, environ.get("HTTP_HOST", "")
        ),
        max_http_buffer_size=config.max_socket_message_bytes,
        json=SocketJSON,
    )
    config.data_dir.mkdir(parents=True, exist_ok=True)
    library = SlideLibrary(config.slide_roots)
    library.scan()
    ctx = Context(
        config=config,
        store=Store(config.data_dir / "slidelab.sqlite3"),
        library=library,
        tiles=TileService(
            SlideHandles(config.open_slides), LRU(config.tile_cache_bytes), config.jpeg_quality
        ),
        socketio=socketio,
        device_queue=DeviceQueue(),
    )
    app.extensions["slidelab"] = ctx
    install_error_handlers(app)
    watchers = _build_services(ctx)
    for module in BLUEPRINTS:
        app.register_blueprint(module.bp)
    install_events(socketio, ctx, watchers)
    _serve_frontend(app)
    app.wsgi_app = AccessGuard(TileFastPath(app.wsgi_app, ctx), config)  # type: ignore[method-assign]
    return app, socketio


def _build_services(ctx: Context) -> Watchers:
    """The domain services, as fields of the context; answers what `watch` keys mean."""
    classes.ensure_schema(ctx.store)
    ctx.annotations = AnnotationService(ctx)
    device = select_device(ctx.config.device)
    ctx.training = RunService(ctx, device, configure_threads(device))
    ctx.training.recover()  # runs a dead server left active are interrupted
    ctx.tensorboard = EmbeddedTensorBoard(ctx.training.runs_dir)
    ctx.results = ResultViewer(ctx.config.data_dir, ResultTable(ctx.store))
    ctx.inference = InferenceJobs(ctx, ctx.results)
    if ctx.config.ray_address is not None:
        ctx.inference.cluster = RayCluster(ctx.config.ray_address, ctx.config.data_dir)
    return {
        "slide_id": ("slide", ctx.annotations.replay),
        "run_id": ("run", ctx.training.replay),
        "result_id": ("result", ctx.inference.replay),
    }


def _serve_frontend(app: Flask) -> None:
    @app.get("/")
    def index():
        return send_from_directory(STATIC_DIR, "index.html", max_age=0)

    @app.get("/assets/<path:filename>")
    def assets(filename: str):
        # Vite puts a content hash in every asset name, so they can be cached for long.
        return send_from_directory(STATIC_DIR / "assets", filename, max_age=31536000)

    @app.get("/<path:filename>")
    def public_file(filename: str):
        # Files Vite copies from frontend/public (icons, viewer images); never outside STATIC_DIR.
        if filename.startswith(("api/", "slides/", "results/")):
            raise not_found("Resource")
        return send_from_directory(STATIC_DIR, filename, max_age=3600)
