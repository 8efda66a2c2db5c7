"""Continue with a new learning rate (issue 12): the run goes on from its checkpoint with the
iterations and learning rate the Continue dialog sent; a refused Continue says why."""

from __future__ import annotations

from tests.test_training_api import control
from tests.training_support import labelled_server, start_run, wait_for


def test_continue_takes_iterations_and_a_new_learning_rate(tmp_path):
    server = labelled_server(tmp_path / "data")
    try:
        run_id = start_run(
            server, iterations=6, schedule="constant", warmup_iterations=0, learning_rate=0.001
        )
        done = wait_for(server, run_id, lambda r: r["state"] == "completed")
        assert {p["lr"] for p in done["history"]} == {0.001}

        bad = server.post(f"/api/training/{run_id}/continue", json={"learning_rate": 2})
        assert bad.status_code == 400, bad.text
        assert "learning_rate must be a number above 0 and at most 1" in bad.json()["error"]
        assert server.get(f"/api/training/{run_id}").json()["state"] == "completed"

        control(server, run_id, "continue", iterations=4, learning_rate=0.0005)
        again = wait_for(
            server, run_id, lambda r: r["state"] == "completed" and r["iteration"] == 10
        )
        assert again["iterations"] == 10 and again["settings"]["learning_rate"] == 0.0005
        assert [p["lr"] for p in again["history"][6:]] == [0.0005] * 4
        assert [p["lr"] for p in again["history"][:6]] == [0.001] * 6, "history kept as it was"

        control(server, run_id, "continue", iterations=100000)
        refused = server.post(f"/api/training/{run_id}/continue", json={"iterations": 5})
        body = refused.json()
        assert refused.status_code == 409
        assert body["error"].startswith("This run is ") and "can be continued" in body["error"]
        assert "continued it already" in body["hint"]
        control(server, run_id, "stop")
    finally:
        server.stop()
