"""The server's Ray driver: a process beside `slidelab serve --ray [ADDRESS]`.

Ray's client does not run inside eventlet's event loop, so the server starts this
process (`cluster.py`) and talks to it in JSON lines. On stdin: `{"op": "apply", "rid",
"job", "app_id", "data_dir"}` and `{"op": "cancel", "rid"}`; on stdout, per result, each
event of its steps (`prediction.predict_steps`) and then one `{"rid", "state"}` with
`completed`, `failed` (and an `error` message and hint) or `cancelled`. A `{"fatal"}` line
says the driver could not start. EOF on stdin (the server has gone) ends the driver.

Each result is one Ray task that loads the app from the shared data folder and runs the
steps as a streaming generator: one GPU per task on a cluster with GPUs, else CPUs.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

import ray
import torch

from server import apps
from server.device import select_device
from server.errors import UserError
from server.inference.prediction import PredictionJob, predict_steps

TASK_CPUS = 2


def predict_on_node(job: dict[str, Any], app_id: str, data_dir: str):
    """The Ray task's body: the steps of one result, yielded as they come."""
    device = select_device("auto")
    if device.type == "cpu":
        torch.set_num_threads(TASK_CPUS)

    def source(device: torch.device) -> tuple[torch.nn.Module, dict[str, Any]]:
        return apps.load_app_model(Path(data_dir), app_id, device)

    yield from predict_steps(PredictionJob.from_json(job), source, device)


class Driver:
    """Runs the server's requests on Ray and writes their events to stdout."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: dict[str, Any] = {}
        gpus = 1 if ray.cluster_resources().get("GPU", 0) else 0
        self.task = ray.remote(num_cpus=TASK_CPUS, num_gpus=gpus)(predict_on_node)

    def send(self, message: dict[str, Any]) -> None:
        """One JSON line to the server."""
        with self.lock:
            sys.stdout.write(json.dumps(message) + "\n")
            sys.stdout.flush()

    def serve(self) -> None:
        """Handle the server's lines until EOF, then cancel what still runs."""
        for line in sys.stdin:
            message = json.loads(line)
            if message["op"] == "apply":
                threading.Thread(target=self.apply, args=(message,), daemon=True).start()
            elif message["op"] == "cancel" and message["rid"] in self.running:
                ray.cancel(self.running[message["rid"]])
        for steps in list(self.running.values()):
            ray.cancel(steps)

    def apply(self, message: dict[str, Any]) -> None:
        """Run one result's task and pass its events on."""
        rid = message["rid"]
        steps: Any = self.task.remote(message["job"], message["app_id"], message["data_dir"])
        self.running[rid] = steps
        outcome: dict[str, Any] = {"rid": rid, "state": "completed"}
        try:
            for ref in steps:
                self.send({"rid": rid, **ray.get(ref)})
        except ray.exceptions.TaskCancelledError:
            outcome["state"] = "cancelled"
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the server
            outcome.update(state="failed", error=_error(exc))
        finally:
            self.running.pop(rid, None)
        self.send(outcome)


def _error(exc: Exception) -> dict[str, Any]:
    cause = getattr(exc, "cause", None) or exc
    if isinstance(cause, UserError):
        return {"message": cause.message, "hint": cause.hint}
    return {"message": f"Inference on the Ray cluster failed: {cause}", "hint": None}


def main(address: str) -> int:
    """Connect (or start a local Ray without an address), then serve the server."""
    try:
        ray.init(address=address or None, include_dashboard=False, log_to_driver=False)
    except Exception as exc:  # noqa: BLE001 - said to the server, which shows it
        print(json.dumps({"fatal": f"Ray at {address or 'a new local Ray'}: {exc}"}), flush=True)
        return 1
    try:
        Driver().serve()
    finally:
        ray.shutdown()
    return 0


if __name__ == "__main__":
    # This file again under its own name, so that Ray sends the task by reference.
    from server.inference import ray_driver

    sys.exit(ray_driver.main(sys.argv[1] if len(sys.argv) > 1 else ""))
