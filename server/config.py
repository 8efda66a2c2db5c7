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

    def __post_init__(self) -> None:
        self.slide_roots = [Path(p).expanduser().resolve() for p in self.slide_roots]
        self.data_dir = Path(self.data_dir).expanduser().resolve()
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError("jpeg_quality must be between 1 and 100")
        if self.token is None and not is_loopback(self.host):
            self.token = secrets.token_urlsafe(24)

    @property
    def requires_token(self) -> bool:
        """A token is checked whenever one is set (always when bound beyond loopback)."""
        return bool(self.token)

    def url(self) -> str:
        """The address to open in a browser, with the token when one is needed."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        if ":" in host:
            host = f"[{host}]"
        base = f"http://{host}:{self.port}/"
        return f"{base}?token={self.token}" if self.token else base
