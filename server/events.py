"""Socket.IO: authenticated connect, rooms joined with `watch`, history replay on join.

create_app says what each `watch` payload key means, e.g. "run_id" → ("run", replay):
the client joins room `run:<id>` and `replay(ctx, sid, id)` sends it the history so far.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import request
from flask_socketio import SocketIO, join_room, leave_room

from server import __version__
from server.context import Context
from server.security import cookie_name, has_valid_token

log = logging.getLogger(__name__)

MAX_ID_LENGTH = 64
WatchHandler = Callable[[Context, str, str], None]
Watchers = dict[str, tuple[str, WatchHandler]]  # payload key -> (room prefix, replay)


def room(prefix: str, ident: Any) -> str:
    """The room name for one watched object, e.g. room("run", 3) -> "run:3"."""
    return f"{prefix}:{ident}"


def _valid_id(value: object) -> bool:
    """Ids are short strings or integers; anything else never names a room."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) < 2**63
    return isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH


def install_events(socketio: SocketIO, ctx: Context, watchers: Watchers) -> None:
    """Connect/watch/unwatch handlers; `watch {key: id}` joins the rooms `watchers` name."""

    cookie = cookie_name(ctx.config.port)

    @socketio.on("connect")
    def _connect(auth=None):
        token = ctx.config.token
        if token and not has_valid_token(token, request.environ, cookie, auth):
            log.warning("refused Socket.IO connection without a valid token")
            return False
        socketio.emit("hello", {"version": __version__}, to=request.sid)
        return True

    @socketio.on("watch")
    def _watch(data=None):
        if not isinstance(data, dict):
            return {"error": "watch expects an object such as {run_id: ...}"}
        joined = []
        for key, value in data.items():
            if key not in watchers or value is None:
                continue
            if not _valid_id(value):
                return {"error": f"{key} must be an id (a string or integer)"}
            prefix, replay = watchers[key]
            join_room(room(prefix, value))
            joined.append(room(prefix, value))
            replay(ctx, request.sid, str(value))
        return {"joined": joined}

    @socketio.on("unwatch")
    def _unwatch(data=None):
        if isinstance(data, dict):
            for key, value in data.items():
                if key in watchers and _valid_id(value):
                    leave_room(room(watchers[key][0], value))
        return {"ok": True}
