"""Test helpers: a real slidelab server in a subprocess, paths to the shared slides."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import requests

REPO = Path(__file__).resolve().parent.parent
SHARED_SLIDES = Path(os.environ.get("SLIDELAB_SHARED", REPO.parent / "shared")) / "data" / "slides"
DEMO_DIR = REPO / "data" / "demo"
DEMO_SLIDE = DEMO_DIR / "CMU-1-Small-Region.svs"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """`slidelab serve` in a subprocess, started for real; restartable on the same data."""

    def __init__(
        self,
        slide_dirs: list[Path],
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        token: str | None = None,
        extra_args: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.slide_dirs = [Path(d) for d in slide_dirs]
        self.data_dir = data_dir
        self.host = host
        self.token = token
        self.extra_args = extra_args or []
        self.env = env or {}
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = data_dir / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        """Base URL without a trailing slash (loopback when bound to all interfaces)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 60) -> ServerProcess:
        """Start and wait until /api/health answers."""
        cmd = [
            sys.executable,
            "-m",
            "server.cli",
            "serve",
            *map(str, self.slide_dirs),
            "--data-dir",
            str(self.data_dir),
            "--host",
            self.host,
            "--port",
            str(self.port),
            *self.extra_args,
        ]
        if self.token:
            cmd += ["--token", self.token]
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child process owns it
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            token = self.token or self.printed_token()
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            try:
                if requests.get(f"{self.url}/api/health", headers=headers, timeout=2).ok:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server did not start in {timeout}s:\n{self.log()}")

    def stop(self, kill: bool = False) -> None:
        """SIGTERM (or SIGKILL when kill=True) and wait."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self, kill: bool = False) -> ServerProcess:
        """Stop (or kill) and start again on the same data folder and port."""
        self.stop(kill=kill)
        return self.start()

    def printed_token(self) -> str | None:
        """The token the server generated and printed in its URL, if any."""
        match = re.search(r"\?token=([\w-]+)", self.log())
        return match.group(1) if match else None

    def log(self) -> str:
        """What the server printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def get(self, path: str, **kwargs) -> requests.Response:
        """GET relative to the server."""
        return requests.get(self.url + path, timeout=kwargs.pop("timeout", 30), **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        """POST relative to the server."""
        return requests.post(self.url + path, timeout=kwargs.pop("timeout", 30), **kwargs)

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        """Any method relative to the server."""
        return requests.request(
            method, self.url + path, timeout=kwargs.pop("timeout", 30), **kwargs
        )


def slide_id_by_name(server: ServerProcess, name: str) -> str:
    """The id the server gave the slide file called `name`."""
    for slide in server.get("/api/slides").json():
        if slide["name"] == name:
            return slide["id"]
    raise KeyError(name)


def scrub(n: int, passes: int) -> np.ndarray:
    """A user scrubbing back and forth over an area of the demo slide: `passes` sweeps of
    800 px drifting down, `n` points with a little jitter (a long brush stroke)."""
    rng = np.random.default_rng(3)
    t = np.linspace(0, 1, n)
    x = 700 + 800 * np.abs((t * passes) % 2 - 1) + rng.normal(0, 0.5, n)
    y = 700 + 1500 * t + 20 * np.sin(t * passes * np.pi) + rng.normal(0, 0.5, n)
    return np.round(np.stack([x, y], 1), 1)


def slidelab_here(capsys, *args: str) -> subprocess.CompletedProcess:
    """`slidelab ARGS` run in this process (pytest's capsys captures its output): its exit
    status, stdout and stderr, as a subprocess would give them."""
    from server.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), code, out, err)
