"""Runs survive the server: interrupted on restart, continued from the checkpoint; and the
`slidelab tensorboard` command (which leaves no process behind)."""

from __future__ import annotations

import subprocess
import sys
import time

import requests
import torch

from tests.helpers import DEMO_DIR, REPO, ServerProcess, free_port
from tests.test_tensorboard import processes_mentioning
from tests.test_training_api import control, run_info
from tests.training_support import seed_labels, start_run, wait_for


def optimizer_steps(server, run_id: str) -> set[int]:
    state = torch.load(
        server.data_dir / "runs" / run_id / "checkpoint.pt", map_location="cpu", weights_only=True
    )
    return {int(s["step"]) for s in state["optimizer"]["state"].values()}


def test_continue_after_a_server_restart_resumes_from_the_checkpoint(tmp_path):
    data = tmp_path / "data"
    ids = seed_labels(data)
    server = ServerProcess([DEMO_DIR], data).start()
    server.ids = ids
    try:
        run_id = start_run(server, iterations=500, checkpoint_interval=5)
        wait_for(server, run_id, lambda r: r["checkpoint_iteration"] >= 10)
        killed_at = time.time()
        server.restart(kill=True)  # SIGKILL: the run dies mid-step
        run = run_info(server, run_id)
        assert run["state"] == "interrupted"
        checkpoint = run["checkpoint_iteration"]
        assert checkpoint >= 10 and checkpoint % 5 == 0
        assert run["iteration"] >= checkpoint

        control(server, run_id, "continue", iterations=6)
        done = wait_for(server, run_id, lambda r: r["state"] == "completed")
        assert done["iteration"] == done["iterations"] == checkpoint + 6
        history = done["history"]
        assert [p["iteration"] for p in history] == list(range(1, checkpoint + 7))
        assert all(p["time"] < killed_at for p in history[:checkpoint])
        assert all(p["time"] > killed_at for p in history[checkpoint:])
        # The optimizer came back from the checkpoint: Adam's step count runs on through.
        assert optimizer_steps(server, run_id) == {checkpoint + 6}
        first_app = done["app_id"]
        assert first_app

        control(server, run_id, "continue", iterations=3)
        again = wait_for(
            server, run_id, lambda r: r["state"] == "completed" and r["app_id"] != first_app
        )
        assert again["iteration"] == checkpoint + 9
        assert optimizer_steps(server, run_id) == {checkpoint + 9}
        refused = server.post(f"/api/training/{run_id}/continue")
        assert refused.status_code == 409 and "how many more" in refused.json()["error"]
    finally:
        server.stop()


def test_tensorboard_command_serves_the_runs_folder(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "server.cli",
            "tensorboard",
            "--data-dir",
            str(tmp_path),
            "--port",
            str(port),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert f"http://127.0.0.1:{port}/" in proc.stdout.readline()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/", timeout=2).ok:
                    break
            except requests.RequestException:
                time.sleep(0.3)
        else:
            raise AssertionError("TensorBoard did not answer")
        assert (tmp_path / "runs").is_dir()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    # TensorBoard ran in that process: no child of it (nor a data server) outlives it.
    assert processes_mentioning(str(tmp_path)) == []
