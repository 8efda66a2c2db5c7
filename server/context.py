"""The services one running server shares, reachable from any request or job."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import current_app

if TYPE_CHECKING:
    from flask_socketio import SocketIO

    from server.annotations.service import AnnotationService
    from server.config import Config
    from server.inference.jobs import InferenceJobs
    from server.inference.viewing import ResultViewer
    from server.jobs import DeviceQueue
    from server.slides.library import SlideLibrary
    from server.slides.tiles import TileService
    from server.store import Store
    from server.training.runs import RunService
    from server.training.tensorboard import EmbeddedTensorBoard


@dataclass
class Context:
    """Shared services: the core ones given, the domains' built by create_app after them
    (each domain service takes the Context, so they are set once it exists)."""

    config: Config
    store: Store
    library: SlideLibrary
    tiles: TileService
    socketio: SocketIO
    device_queue: DeviceQueue
    annotations: AnnotationService = field(init=False)
    training: RunService = field(init=False)
    tensorboard: EmbeddedTensorBoard = field(init=False)
    inference: InferenceJobs = field(init=False)
    results: ResultViewer = field(init=False)

    def emit(self, event: str, payload: Any, room: str | None = None) -> None:
        """Send a Socket.IO event to a room (or everyone) from any greenlet."""
        self.socketio.emit(event, payload, to=room)


def current_context() -> Context:
    """The Context of the app serving this request."""
    ctx: Context = current_app.extensions["slidelab"]
    return ctx
