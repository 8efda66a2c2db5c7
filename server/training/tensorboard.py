"""TensorBoard: per-run event files (scalars, image triplets) and TensorBoard in slidelab.

`RunLog` writes `data_dir/runs/<run_id>/tb/events.out.tfevents.*` from the compute thread
that runs the steps. It writes records synchronously with TensorBoard's RecordWriter
instead of torch's SummaryWriter, whose background writer thread would become a
greenlet under eventlet's monkey-patching and hang when fed from a real thread.
`EmbeddedTensorBoard` is TensorBoard's own WSGI application on `data_dir/runs`, served by
the slidelab server under `/tensorboard/` (no process of its own). `serve_forever` is the
standalone `slidelab tensorboard` command.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from flask import Request
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.summary.writer.record_writer import RecordWriter
from torch.utils.tensorboard import summary
from werkzeug.wrappers import Response

from server.models import IMAGENET_MEAN, IMAGENET_STD

PREFIX = "/tensorboard"  # where slidelab serves TensorBoard (no trailing slash)
RELOAD_AFTER_S = 5.0  # read the event files again when the last reading is this old
SCALAR_TAGS = {
    "loss": "train/loss",
    "error_rate": "train/error_rate",
    "lr": "train/learning_rate",
    "val_loss": "validation/loss",
    "val_error_rate": "validation/error_rate",
}
IMAGE_TAGS = ("samples/input", "samples/label", "samples/prediction")
UNLABELLED = (40, 40, 40)


def _rgb(color: str) -> tuple[int, int, int]:
    color = color.lstrip("#")
    r, g, b = (int(color[i : i + 2], 16) for i in (0, 2, 4))
    return r, g, b


class RunLog:
    """One run's TensorBoard event file (a new file per session, as TensorBoard expects)."""

    def __init__(self, folder: Path, classes: list[dict]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        name = f"events.out.tfevents.{time.time():.6f}.{socket.gethostname()}.slidelab"
        self.writer = RecordWriter(open(folder / name, "wb"))  # noqa: SIM115 - closed in close()
        self._write(Event(wall_time=time.time(), step=0, file_version="brain.Event:2"))
        palette = np.array([UNLABELLED] * 256, np.uint8)
        for i, cls in enumerate(classes):
            palette[i] = _rgb(cls.get("color", "#ffffff"))
        self.palette = palette

    def _write(self, event: Event) -> None:
        self.writer.write(event.SerializeToString())

    def _summary(self, value, step: int, wall_time: float | None = None) -> None:
        self._write(Event(wall_time=wall_time or time.time(), step=step, summary=value))

    def scalars(self, result) -> None:
        """Loss, error rate, learning rate (and validation figures) of one iteration."""
        for field, tag in SCALAR_TAGS.items():
            value = getattr(result, field, None)
            if value is not None:
                self._summary(summary.scalar(tag, float(value)), result.iteration, result.time)

    def final(self, final: dict) -> None:
        """The run's final values (server/training/figures.py) at its last iteration:
        `final/loss` and `final/error_rate` (means over the last `over` iterations), and the
        last validation's `final/val_loss` and `final/val_error_rate` when there is one."""
        for field in ("loss", "error_rate", "val_loss", "val_error_rate"):
            if final.get(field) is not None:
                value = summary.scalar(f"final/{field}", float(final[field]))
                self._summary(value, int(final["iteration"]))

    def images(
        self, iteration: int, x: torch.Tensor, label: torch.Tensor, logits: torch.Tensor
    ) -> None:
        """An (input, label, prediction) triplet of one training patch."""
        mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=x.device).view(3, 1, 1)
        image = (x.float() * std + mean).clamp(0, 1).cpu().numpy()
        label_rgb = self.palette[label.cpu().numpy().astype(np.uint8)]
        pred_rgb = self.palette[logits.argmax(0).cpu().numpy().astype(np.uint8)]
        self._summary(summary.image(IMAGE_TAGS[0], image, dataformats="CHW"), iteration)
        self._summary(summary.image(IMAGE_TAGS[1], label_rgb, dataformats="HWC"), iteration)
        self._summary(summary.image(IMAGE_TAGS[2], pred_rgb, dataformats="HWC"), iteration)

    def flush(self) -> None:
        """Write buffered events to disk."""
        self.writer.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        if not self.writer.closed:
            self.writer.close()


def build_wsgi_app(logdir: Path) -> tuple[Callable, object]:
    """TensorBoard's WSGI application on `logdir` under PREFIX, and its event multiplexer.

    Python-only loading (no `--load_fast` data-server process) and no reload thread: the
    caller reloads the multiplexer. Slow (the assets are gzipped): run it in a compute thread.
    """
    from tensorboard import program
    from tensorboard.backend import application
    from tensorboard.backend.event_processing.data_ingester import LocalDataIngester
    from tensorboard.plugins.core import core_plugin
    from tensorboard.plugins.hparams import hparams_plugin
    from tensorboard.plugins.image import images_plugin
    from tensorboard.plugins.metrics import metrics_plugin
    from tensorboard.plugins.scalar import scalars_plugin

    plugins = [
        core_plugin.CorePluginLoader(include_debug_info=False),
        metrics_plugin.MetricsPlugin,
        scalars_plugin.ScalarsPlugin,
        images_plugin.ImagesPlugin,
        hparams_plugin.HParamsPlugin,  # the dashboard asks it for the experiment
    ]
    logging.getLogger("tensorboard").setLevel(logging.WARNING)  # not a line per reload
    board = program.TensorBoard(plugins=plugins)
    board.configure(
        logdir=str(logdir),
        path_prefix=PREFIX,
        load_fast="false",
        reload_interval=0,
        window_title="slidelab · TensorBoard",
    )
    ingester = LocalDataIngester(board.flags)  # never started: see EmbeddedTensorBoard
    app = application.TensorBoardWSGIApp(
        board.flags,
        board.plugin_loaders,
        ingester.data_provider,
        board.assets_zip_provider,
        ingester.deprecated_multiplexer,
    )
    return app, ingester.deprecated_multiplexer


class EmbeddedTensorBoard:
    """TensorBoard's own WSGI application on the runs folder, inside the slidelab process.

    Served by a Flask view under PREFIX, so the token (and every other request check) and
    the port are slidelab's, and it ends with the server. Nothing happens until it is first
    used; then the app is built. Event files are read again on a request that comes more than
    `reload_after` seconds after the last reading (TensorBoard's own reload thread is never
    started: it would be a greenlet under monkey-patching and block the event loop).

    Building, reloading and answering all run in compute threads, one call at a time: the
    calling greenlet holds a green semaphore meanwhile. TensorBoard's locks are green locks
    under monkey-patching; they stay correct because no two threads ever contend for them.
    """

    def __init__(
        self,
        logdir: Path,
        compute: Callable | None = None,
        reload_after: float = RELOAD_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # Imported here: `slidelab tensorboard` and the trainer import this module too.
        from server import jobs

        self.logdir = logdir
        self.reload_after = reload_after
        self._compute = compute or jobs.compute
        self._clock = clock
        self._lock = jobs.Lock(1)
        self._app: Callable | None = None
        self._multiplexer: Any = None
        self._read_at: float | None = None

    @property
    def loaded(self) -> bool:
        """Whether the app has been built."""
        return self._app is not None

    def status(self) -> dict:
        """`{"running", "url"}` for the API; the URL is relative to slidelab's origin."""
        return {"running": self.loaded, "url": PREFIX + "/"}

    def load(self) -> dict:
        """Build the app unless built, read the event files when stale; returns status()."""
        with self._lock:
            self._fresh()
        return self.status()

    def respond(self, request: Request) -> Response:
        """TensorBoard's answer to a Flask request whose path starts with PREFIX."""
        environ = wsgi_environ(request)
        with self._lock:
            self._fresh()
            response = self._compute(Response.from_app, self._app, environ, buffered=True)
        if response.status_code >= 400 and not response.is_json:
            # TensorBoard's refusals are plain text; slidelab's are JSON with a message.
            body = {"error": f"TensorBoard: {_text(response)[:300]}"}
            return Response(json.dumps(body), response.status_code, mimetype="application/json")
        return response

    def _fresh(self) -> None:
        if self._app is None:
            self.logdir.mkdir(parents=True, exist_ok=True)
            self._app, self._multiplexer = self._compute(build_wsgi_app, self.logdir)
        if self._read_at is None or self._clock() - self._read_at >= self.reload_after:
            self._compute(self._reload)
            self._read_at = self._clock()

    def _reload(self) -> None:
        self._multiplexer.AddRunsFromDirectory(str(self.logdir))
        self._multiplexer.Reload()


def _text(response: Response) -> str:
    """A response body as text (TensorBoard gzips text for clients that accept it)."""
    data = response.get_data()
    if response.headers.get("Content-Encoding") == "gzip":
        data = gzip.decompress(data)
    return data.decode("utf-8", "replace").strip() or response.status


def wsgi_environ(request: Request) -> dict:
    """A copy of the request's WSGI environ for another application, its body read here.

    The body is read in the calling greenlet (the socket is a green one) and handed on in
    memory; the application may then run in a real thread.
    """
    body = request.get_data(cache=False)
    environ = {k: v for k, v in request.environ.items() if not k.startswith("werkzeug.")}
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return environ


def serve_forever(data_dir: Path, port: int, host: str = "127.0.0.1") -> int:
    """`slidelab tensorboard`: TensorBoard on data_dir/runs in the foreground, in this process.

    Python-only loading, so no data-server child process either: when this process ends,
    TensorBoard ends.
    """
    from tensorboard import program

    logdir = Path(data_dir) / "runs"
    logdir.mkdir(parents=True, exist_ok=True)
    board = program.TensorBoard()
    board.configure(logdir=str(logdir), host=host, port=port, load_fast="false")
    print(f"slidelab: TensorBoard on {logdir}: open http://{host}:{port}/", flush=True)
    try:
        return board.main()
    except KeyboardInterrupt:
        return 0
