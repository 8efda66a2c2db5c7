"""How training shares the CPU: its own named thread, and a governor that gives torch every
core while nothing else runs and one fewer while the server (or the machine) works."""

from __future__ import annotations

import os
import threading

import pytest
import torch

from server.training import worker
from server.training.worker import (
    TRAINING_THREAD,
    CoreGovernor,
    CpuSample,
    configure_threads,
    cpu_sample,
)


class Scripted(CoreGovernor):
    """A governor fed with given CPU samples instead of /proc."""

    def __init__(self, cores: int, samples: list) -> None:
        super().__init__(cores)
        self.samples = list(samples)

    def sample(self):
        return self.samples.pop(0)


def sample(server: int, process: int, machine: int | None) -> CpuSample:
    return CpuSample({"101": server}, process, machine)


def test_the_governor_leaves_a_core_while_other_work_runs():
    tick = CoreGovernor(4).tick
    idle = [sample(0, 0, 0), sample(0, tick, tick)]  # 1 s: training alone used a core
    governor = Scripted(4, idle)
    assert [governor.choose(0.0), governor.choose(1.0)] == [4, 4]
    # The server's tile threads used 0.1 core-seconds in 1 s: one core fewer for QUIET_S.
    governor = Scripted(
        4, [sample(0, 0, 0), sample(tick // 10, tick, tick), sample(tick // 10, tick, tick)]
    )
    assert governor.choose(0.0) == 4 and governor.choose(1.0) == 3
    assert governor.choose(1.0 + worker.QUIET_S / 2) == 3  # still within the quiet time
    governor.samples.append(sample(tick // 10, 2 * tick, 2 * tick))
    assert governor.choose(1.0 + worker.QUIET_S + 0.5) == 4  # nothing since: every core
    # Another program used a core for a second: the machine is busy.
    governor = Scripted(4, [sample(0, 0, 0), sample(0, tick, 2 * tick)])
    assert governor.choose(0.0) == 4 and governor.choose(1.0) == 3
    # Without per-thread accounting a core is always left.
    assert Scripted(4, [None]).choose(0.0) == 3
    assert Scripted(1, [sample(0, 0, 0), sample(tick, tick, tick)]).choose(0.0) == 1


def test_cpu_sample_tells_the_servers_threads_from_trainings():
    ready, done = threading.Barrier(3), threading.Event()
    ids = {}

    def run(name: str | None) -> None:
        if name:
            worker.name_thread(name)
        ids[name] = threading.get_native_id()
        ready.wait()
        done.wait()

    threads = [threading.Thread(target=run, args=(n,)) for n in (TRAINING_THREAD, None)]
    for thread in threads:
        thread.start()
    ready.wait()
    try:
        now = cpu_sample()
    finally:
        done.set()
        for thread in threads:
            thread.join()
    assert now is not None and now.machine is not None and now.process > 0
    assert str(ids[None]) in now.server  # a thread of the server's
    assert str(ids[TRAINING_THREAD]) not in now.server  # training's own
    assert str(os.getpid()) not in now.server  # the event loop


def test_torch_threads_can_be_fixed_for_experiments(monkeypatch):
    before = torch.get_num_threads()
    cores = len(os.sched_getaffinity(0))
    try:
        plan = configure_threads(torch.device("cpu"))
        assert plan.governed and plan.torch_threads == cores and plan.nice == 0
        monkeypatch.setenv("SLIDELAB_TRAINING_THREADS", "1")
        monkeypatch.setenv("SLIDELAB_TRAINING_NICE", "5")
        plan = configure_threads(torch.device("cpu"))
        assert not plan.governed and plan.torch_threads == 1 and plan.nice == 5
        assert plan.governor() is None and torch.get_num_threads() == 1
        monkeypatch.setenv("SLIDELAB_TRAINING_NICE", "nice")
        with pytest.raises(ValueError, match="SLIDELAB_TRAINING_NICE must be a whole number"):
            configure_threads(torch.device("cpu"))
    finally:
        torch.set_num_threads(before)
