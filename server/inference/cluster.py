"""The server's Ray cluster (`slidelab serve --ray [ADDRESS]`): results run there.

A driver process (`ray_driver.py`) holds the Ray connection; this side starts it on the
first request, sends it requests and hands each result's events to the greenlet that
follows that result (`jobs.py`), which treats them as it treats the steps of a result
computed here. The driver ends when the server does (its stdin closes). The cluster's
nodes write the results' stores into the server's data folder, so it must be on a
filesystem they share. If the driver stops, the results it had fail with its reason, and
the next request starts a new one.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

from server.errors import UserError
from server.inference.prediction import PredictionJob, Steps
from server.jobs import Lock, Queue, spawn

log = logging.getLogger(__name__)
DRIVER = "server.inference.ray_driver"


class RayCluster:
    """The link to the cluster: one driver process, one event queue per running result."""

    def __init__(self, address: str, data_dir: Path):
        self.address = address
        self.data_dir = data_dir
        self.process: subprocess.Popen | None = None
        self.results: dict[str, Queue] = {}
        self.owner: dict[str, subprocess.Popen] = {}  # the driver each result was sent to
        self.lock = Lock()

    def steps(self, rid: str, job: PredictionJob, app_id: str) -> Steps:
        """A result's events as the cluster computes it (see prediction.predict_steps);
        UserError when it fails there. Closing this early cancels the result."""
        events = Queue()
        self.results[rid] = events
        over = False
        try:
            self._send(
                {
                    "op": "apply",
                    "rid": rid,
                    "job": job.to_json(),
                    "app_id": app_id,
                    "data_dir": str(self.data_dir),
                }
            )
            while "state" not in (event := events.get()):
                yield event
            over = True
            if event["state"] == "failed":
                raise UserError(event["error"]["message"], event["error"].get("hint"))
            if event["state"] == "cancelled":
                raise UserError("The Ray cluster cancelled this result")
        finally:
            self.results.pop(rid, None)
            self.owner.pop(rid, None)
            if not over:
                self._send({"op": "cancel", "rid": rid})

    def cancel(self, rid: str) -> None:
        """Stop following a result now (its steps raise) and cancel it on the cluster."""
        events = self.results.get(rid)
        if events is not None:
            events.put({"state": "cancelled"})

    def _send(self, message: dict[str, Any]) -> None:
        with self.lock:
            if self.process is None or self.process.poll() is not None:
                self._start()
            stdin: IO[str] = self.process.stdin  # type: ignore[union-attr,assignment]
            if message["op"] == "apply":
                self.owner[message["rid"]] = self.process  # type: ignore[assignment]
            try:
                stdin.write(json.dumps(message) + "\n")
                stdin.flush()
            except BrokenPipeError:
                log.warning("the Ray driver has stopped")

    def _start(self) -> None:
        log.info("starting the Ray driver for %s", self.address or "a local Ray")
        self.process = subprocess.Popen(
            [sys.executable, "-m", DRIVER, self.address],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        spawn(self._read, self.process)

    def _read(self, process: subprocess.Popen) -> None:
        """Hand the driver's events to their results; fail them all when it stops."""
        reason = "The Ray driver stopped"
        for line in process.stdout:  # type: ignore[union-attr]
            message = json.loads(line)
            if "fatal" in message:
                reason = message["fatal"]
                continue
            events = self.results.get(message.pop("rid"))
            if events is not None:
                events.put(message)
        process.wait()
        for rid, events in list(self.results.items()):
            if self.owner.get(rid) is process:
                events.put({"state": "failed", "error": {"message": reason, "hint": None}})
