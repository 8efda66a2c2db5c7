"""Runtime settings: slide roots, data folder, network binding, access token, device."""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

MiB = 1024 * 1024


def default_data_dir() -> Path:
    """The per-user data folder (annotations, runs, apps, results) when none is given."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return Path(base) / "slidelab"


def is_loopback(host: str) -> bool:
    """True when `host` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class Config:
    """Everything the server needs to start; built by the CLI or by tests."""

    slide_roots: list[Path]
    data_dir: Path = field(default_factory=default_data_dir)
    host: str = "127.0.0.1"
    port: int = 5000
    token: str | None = None
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1", ...
    jpeg_quality: int = 80
    tile_cache_bytes: int = 256 * MiB
    open_slides: int = 16
    max_request_bytes: int = 16 * MiB
    max_socket_message_bytes: int = 64 * 1024  # clients only send watch/unwatch
    allowed_hosts: list[str] = field(default_factory=list)  # extra Host names on loopback
    max_connections_per_client: int = 64
    header_timeout: float = 10.0  # seconds to send a request's headers
    idle_timeout: float = 75.0  # seconds a kept-alive connection may wait for its next request
    socket_timeout: float = 60.0  # seconds any other read or write of a connection may take
    ray_address: str | None = None  # several-slide requests go to Ray ("": a local Ray)

    def __post_init__(self) -> None:
        self.slide_roots = [Path(p).expanduser().resolve() for p in self.slide_roots]
        self.data_dir = Path(self.data_dir).expanduser().resolve()
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError("jpeg_quality must be between 1 and 100")
        if self.token is not None and not self.token.strip():
            raise ValueError("the access token must not be empty (leave --token out to get one)")
        if self.token is None and not self.is_loopback_bind:
            self.token = secrets.token_urlsafe(24)
        if self.max_connections_per_client < 1:
            raise ValueError("max_connections_per_client must be at least 1")

    @property
    def is_loopback_bind(self) -> bool:
        """Whether only this machine can connect (then Host names are checked instead)."""
        return is_loopback(self.host)

    def url(self) -> str:
        """The address to open in a browser, with the token when one is needed."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        if ":" in host:
            host = f"[{host}]"
        base = f"http://{host}:{self.port}/"
        return f"{base}?token={self.token}" if self.token else base
