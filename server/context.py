"""The services one running server shares, reachable from any request or job."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import current_app

if TYPE_CHECKING:
    from flask_socketio import SocketIO

    from server.config import Config
    from server.jobs import DeviceQueue
    from server.slides.library import SlideLibrary
    from server.slides.tiles import TileService
    from server.store import Store


@dataclass
class Context:
    """Shared services. Domain packages attach theirs in their blueprint's `init`."""

    config: Config
    store: Store
    library: SlideLibrary
    tiles: TileService
    socketio: SocketIO
    device_queue: DeviceQueue
    services: dict[str, Any] = field(default_factory=dict)

    def emit(self, event: str, payload: Any, room: str | None = None) -> None:
        """Send a Socket.IO event to a room (or everyone) from any greenlet."""
        self.socketio.emit(event, payload, to=room)


def current_context() -> Context:
    """The Context of the app serving this request."""
    return current_app.extensions["slidelab"]
