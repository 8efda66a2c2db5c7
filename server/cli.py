"""Command line: `slidelab serve`, `slidelab apply` and `slidelab tensorboard`."""

from __future__ import annotations

import argparse
import ctypes
import gc
import logging
import os
import sys
import warnings
from pathlib import Path


def _serve(args: argparse.Namespace) -> int:
    # eventlet must patch the standard library before Flask, sockets or threads are imported.
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import eventlet

    eventlet.monkey_patch()
    _limit_malloc_arenas()
    from server.app import create_app
    from server.config import Config
    from server.wsgi_server import serve_forever

    settings = dict(
        slide_roots=[Path(d) for d in args.dirs],
        host=args.host,
        port=args.port,
        token=args.token,
        device=args.device,
        jpeg_quality=args.jpeg_quality,
        tile_cache_bytes=args.tile_cache_mb * 1024 * 1024,
        open_slides=args.open_slides,
        allowed_hosts=args.allow_host,
        max_connections_per_client=args.max_connections_per_client,
        ray_address=args.ray,
    )
    if args.data_dir:
        settings["data_dir"] = Path(args.data_dir)
    try:
        config = Config(**settings)
    except ValueError as exc:
        print(f"slidelab: {exc}", file=sys.stderr)
        return 2
    missing = [str(d) for d in config.slide_roots if not d.is_dir()]
    if missing:
        print(f"slidelab: not a folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    app, socketio = create_app(config)
    # What start-up allocated lives as long as the server: keep it out of full collections,
    # which otherwise stall the event loop for a quarter second on a big heap.
    gc.freeze()
    count = len(app.extensions["slidelab"].library.list())
    print(f"slidelab: {count} slide(s) under {', '.join(map(str, config.slide_roots))}")
    print(f"slidelab: data in {config.data_dir}")
    print(f"slidelab: open {config.url()}", flush=True)
    serve_forever(app, config, log_output=args.verbose)
    return 0


def _limit_malloc_arenas() -> None:
    """Bound glibc's per-thread malloc arenas (default 8 per core), unless MALLOC_ARENA_MAX
    says otherwise: with one arena per compute thread, freed memory of tiles, previews and
    exports stays reserved in each, and the server's size grew by a gigabyte without a
    plateau in the fuzz suite; with a few arenas it levels off."""
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_arena_max = -8  # from glibc's malloc.h
    libc.mallopt(m_arena_max, max(2, min(8, os.cpu_count() or 2)))


def _tensorboard(args: argparse.Namespace) -> int:
    from server.config import default_data_dir
    from server.training.tensorboard import serve_forever

    data_dir = Path(args.data_dir).expanduser() if args.data_dir else default_data_dir()
    return serve_forever(data_dir.resolve(), args.port, args.host)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="slidelab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve slide folders in the browser")
    serve.add_argument("dirs", nargs="+", help="folders of slides (searched recursively)")
    serve.add_argument("--data-dir", help="where annotations, runs and apps are kept")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=5000)
    serve.add_argument("--token", help="access token (generated when binding beyond localhost)")
    serve.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    serve.add_argument("--jpeg-quality", type=int, default=80)
    serve.add_argument("--tile-cache-mb", type=int, default=256, help="encoded tile cache size")
    serve.add_argument("--open-slides", type=int, default=16, help="slides kept open at once")
    serve.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="another host name this server may be reached as (a proxy or tunnel); repeatable",
    )
    serve.add_argument(
        "--max-connections-per-client",
        type=int,
        default=64,
        help="connections one client address may hold open at once (default 64)",
    )
    serve.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="apply to several slides on a Ray cluster ('auto', HOST:PORT, or none: a local "
        "Ray); the data folder must be shared with its nodes",
    )
    serve.add_argument("--verbose", action="store_true", help="log every request")
    serve.set_defaults(func=_serve)

    board = sub.add_parser("tensorboard", help="TensorBoard on the training runs")
    board.add_argument("--data-dir", help="the data folder given to serve")
    board.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    board.add_argument("--port", type=int, default=6006)
    board.set_defaults(func=_tensorboard)

    from server.inference.command import add_parser as add_apply_parser

    add_apply_parser(sub)  # `slidelab apply APP SLIDE... --out DIR`
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `slidelab` console script."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
