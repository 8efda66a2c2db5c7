"""TensorBoard: per-run event files (scalars, image triplets) and the TensorBoard server.

`RunLog` writes `data_dir/runs/<run_id>/tb/events.out.tfevents.*` from the compute thread
that runs the steps. It writes records synchronously with TensorBoard's RecordWriter
instead of torch's SummaryWriter, whose background writer thread would become a
greenlet under eventlet's monkey-patching and hang when fed from a real thread.
`TensorBoardServer` starts `tensorboard --logdir data_dir/runs` on a localhost port, as
`slidelab tensorboard` does.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.summary.writer.record_writer import RecordWriter
from torch.utils.tensorboard import summary

from server.training.models import IMAGENET_MEAN, IMAGENET_STD

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
    return tuple(int(color[i : i + 2], 16) for i in (0, 2, 4))


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


def free_port() -> int:
    """A localhost TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tensorboard_command(logdir: Path, port: int, host: str = "127.0.0.1") -> list[str]:
    """The command line that serves `logdir` with this Python's TensorBoard."""
    return [
        sys.executable,
        "-m",
        "tensorboard.main",
        "--logdir",
        str(logdir),
        "--host",
        host,
        "--port",
        str(port),
    ]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class TensorBoardServer:
    """A TensorBoard child process on the runs folder (at most one per slidelab server)."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None

    @property
    def running(self) -> bool:
        """Whether the child process is alive."""
        return self.proc is not None and self.proc.poll() is None

    @property
    def url(self) -> str | None:
        """Where TensorBoard answers, when running."""
        return f"http://127.0.0.1:{self.port}/" if self.running else None

    def start(self) -> str:
        """Start TensorBoard unless it runs; returns its URL (it may take seconds to answer)."""
        if self.running:
            return self.url
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc = subprocess.Popen(
            tensorboard_command(self.logdir, self.port),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return self.url

    def wait_ready(self, timeout: float = 30.0, sleep=time.sleep) -> bool:
        """Wait until TensorBoard accepts connections (False when it died or timed out)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.running:
            if port_open(self.port):
                return True
            sleep(0.25)
        return False

    def stop(self) -> None:
        """Terminate the child process."""
        if self.running:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None


def serve_forever(data_dir: Path, port: int, host: str = "127.0.0.1") -> int:
    """`slidelab tensorboard`: run TensorBoard on data_dir/runs in the foreground."""
    logdir = Path(data_dir) / "runs"
    logdir.mkdir(parents=True, exist_ok=True)
    print(f"slidelab: TensorBoard on {logdir}: open http://{host}:{port}/", flush=True)
    try:
        return subprocess.call(tensorboard_command(logdir, port, host))
    except KeyboardInterrupt:
        return 0
