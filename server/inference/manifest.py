"""What `slidelab apply` has done in an output folder: `DIR/manifest.json`.

One entry per slide (by absolute path): its state (`done` or `failed`), the run key it
was made with (the app's hash with the threshold and region), the slide's size and mtime
then, the seconds it took, its summary row or its error. A rerun skips the slides whose
entry is done with the same run key, size and mtime, and redoes the others: changed,
failed, interrupted or never started. Shards of a Slurm job array may share one folder:
every read-modify-write of the manifest holds an exclusive lock on `DIR/.manifest.lock`.
`DIR/summary.csv` is rewritten from the manifest after each slide.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from server.inference.export import atomic_file

NAME = "manifest.json"
SUMMARY = "summary.csv"
DONE = "done"
FAILED = "failed"


def run_key(app_files: list[Path], threshold: float, region: str) -> str:
    """The hash that says what a run makes: the app's bytes, the threshold and region."""
    digest = hashlib.sha256()
    for path in app_files:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    digest.update(json.dumps({"threshold": threshold, "region": region}).encode())
    return digest.hexdigest()[:16]


def slide_stamp(path: Path) -> dict[str, int]:
    """The slide file's size and modification time, which say whether it changed."""
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def parse_shard(text: str) -> tuple[int, int]:
    """`i/N` (0 ≤ i < N, as SLURM_ARRAY_TASK_ID with --array=0-N-1); ValueError if not."""
    index, _, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        raise ValueError(f"--shard must be i/N, like 0/4 (got {text!r})") from None
    if not 0 <= i < n:
        raise ValueError(f"--shard {text}: i must be from 0 to N-1")
    return i, n


def shard(slides: list[Path], i: int, n: int) -> list[Path]:
    """Shard i of n: every n-th slide from the i-th, in the order given."""
    return slides[i::n]


class Manifest:
    """The manifest of one output folder (see module doc)."""

    def __init__(self, folder: Path, key: str):
        self.folder = folder
        self.key = key
        self.path = folder / NAME

    def pending(self, slides: list[Path]) -> list[Path]:
        """The slides this run still has to do, in order; duplicates dropped."""
        entries = self._read()
        todo: dict[str, Path] = {}
        for slide in slides:
            entry = entries.get(_key(slide))
            if not self._finished(entry, slide):
                todo.setdefault(_key(slide), slide)
        return list(todo.values())

    def record(self, slide: Path, state: str, seconds: float, **fields: Any) -> bool:
        """Record a slide's outcome and rewrite summary.csv; False (nothing written) when
        the slide is already done for this run: a retried worker's second answer."""
        with self._locked():
            entries = self._read()
            if self._finished(entries.get(_key(slide)), slide):
                return False
            stamp = slide_stamp(slide) if slide.exists() else {}
            entry = {"state": state, "run": self.key, **stamp, "seconds": round(seconds, 3)}
            entries[_key(slide)] = {**entry, **fields}
            _write_json(self.path, entries)
            _write_summary(entries, self.folder / SUMMARY)
        return True

    def entries(self) -> dict[str, dict[str, Any]]:
        """Every slide's entry, by absolute path."""
        return self._read()

    def _finished(self, entry: dict | None, slide: Path) -> bool:
        if not entry or entry.get("state") != DONE or entry.get("run") != self.key:
            return False
        try:
            stamp = slide_stamp(slide)
        except OSError:
            return False
        return all(entry.get(k) == v for k, v in stamp.items())

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.folder / ".manifest.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _key(slide: Path) -> str:
    return str(slide.resolve())


def _write_json(path: Path, value: Any) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(value, indent=1))


def _write_summary(entries: dict[str, dict[str, Any]], path: Path) -> None:
    """summary.csv: one row per slide: status, seconds, error, then its measurements
    (columns: the union of the rows' keys, in order)."""
    rows = [
        {
            "slide": Path(name).name,
            "status": entry["state"],
            "seconds": entry["seconds"],
            "error": entry.get("error", ""),
            **entry.get("row", {}),
        }
        for name, entry in entries.items()
    ]
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with atomic_file(path) as tmp, open(tmp, "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
