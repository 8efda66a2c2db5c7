"""A WSGI fast path for Deep Zoom tiles, in front of Flask.

A viewer asks for hundreds of tiles a second; Flask's routing and request context cost more
than answering a cached tile. Well-formed tile URLs of readable slides are answered here
(cached: straight from the loop; cold: made in a compute thread by TileService). Anything
else — unknown slides, tiles out of range, slides that fail to read, other formats — falls
through to Flask, which answers with the usual JSON errors. Access is checked before this
(server/security.py: AccessGuard).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from server.context import Context

TILE_PATH = re.compile(r"^/slides/([0-9a-f]{16})_files/(\d{1,3})/(\d{1,7})_(\d{1,7})\.jpeg$")
CACHE_CONTROL = "private, max-age=86400"


def tile_etag(ctx: Context, slide_id: str, mtime: float, size: int, *parts: object) -> str:
    """The ETag of a slide image: changes with the file and the JPEG quality."""
    quality = ctx.tiles.quality
    return "-".join(str(p) for p in (slide_id, int(mtime), size, quality, *parts))


class TileFastPath:
    """WSGI middleware answering tile requests without Flask."""

    def __init__(self, app: Callable, ctx: Context) -> None:
        self.app = app
        self.ctx = ctx

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        match = TILE_PATH.match(environ.get("PATH_INFO", ""))
        if match is None or environ.get("REQUEST_METHOD") != "GET":
            return self.app(environ, start_response)
        entry = self.ctx.library.readable(match.group(1))
        if entry is None or entry.outside:
            return self.app(environ, start_response)
        level, col, row = (int(g) for g in match.groups()[1:])
        etag = '"' + tile_etag(self.ctx, entry.id, entry.mtime, entry.size, level, col, row) + '"'
        if etag in environ.get("HTTP_IF_NONE_MATCH", ""):
            start_response("304 Not Modified", [("ETag", etag), ("Cache-Control", CACHE_CONTROL)])
            return [b""]
        try:
            data = self.ctx.tiles.tile(entry, level, col, row)
        except Exception:  # noqa: BLE001 - Flask's route answers the same error as JSON
            return self.app(environ, start_response)
        start_response(
            "200 OK",
            [
                ("Content-Type", "image/jpeg"),
                ("Content-Length", str(len(data))),
                ("Cache-Control", CACHE_CONTROL),
                ("ETag", etag),
            ],
        )
        return [data]
