"""A training run's own OS thread, at a lower CPU priority than the web server on a CPU.

Everything a run computes (preparing its labels, the model's steps, checkpoints) runs in
this one thread. On a CPU the server raises the thread's nice value: torch's worker threads
are started by it and inherit the value, so the threads that make tiles (nice 0) win the
cores whenever they need them, and training takes every cycle they leave. Greenlets wait
for a call in eventlet's thread pool, so the event loop never blocks.

`CoreGovernor` sets torch's thread count before each step: every core while the rest of the
server and the machine are idle, one fewer for a while after other work ran (tiles,
inference, edits; other programs). An OpenMP team that has lost a core to another thread
waits for it at every barrier, so a team as wide as the machine all but stops while tiles
are made; one core narrower, it keeps going. The server's other work is told apart from
training by the threads' names: the run's thread is named TRAINING_THREAD, and the threads
it starts (torch's among them) inherit the name.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

from server.jobs import compute, queue, threading

log = logging.getLogger(__name__)
T = TypeVar("T")
TRAINING_NICE = 0  # nice value of a training run's threads on a CPU (0: the server's own)
PREPARE_WORKERS = 4  # threads that read and rasterise labelled regions, at most


@dataclass(frozen=True)
class ThreadPlan:
    """How training uses the CPU: torch threads (the most, when `governed`), the nice value
    of a run's thread, and the threads that read and rasterise labelled regions."""

    torch_threads: int = 0
    nice: int = 0
    workers: int = 1
    governed: bool = False

    def governor(self) -> CoreGovernor | None:
        """A new run's governor of torch threads (None: the count stays as it is)."""
        return CoreGovernor(self.torch_threads) if self.governed else None


class _Call:
    def __init__(self, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.done = threading.Event()
        self.outcome: tuple[bool, Any] = (False, None)

    def run(self) -> None:
        try:
            self.outcome = (True, self.fn(*self.args, **self.kwargs))
        except BaseException as exc:  # handed to the caller
            self.outcome = (False, exc)
        self.done.set()


class RunThread:
    """One real thread that runs calls in order; `nice` > 0 lowers its CPU priority."""

    def __init__(self, nice: int = 0, name: str = "training-run") -> None:
        self.nice = nice
        self._calls: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        name_thread(TRAINING_THREAD)
        if self.nice > 0:
            try:  # on Linux a thread id names just this thread
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.nice)
            except (AttributeError, OSError) as exc:
                log.info("training keeps the normal CPU priority: %s", exc)
        while True:
            call = self._calls.get()
            if call is None:
                return
            call.run()

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn` in this thread and return its result (raise its error); from a greenlet
        the wait happens in eventlet's thread pool, so other greenlets go on."""
        job = _Call(fn, args, kwargs)
        self._calls.put(job)
        compute(job.done.wait)
        ok, value = job.outcome
        if not ok:
            raise value
        return value

    def close(self) -> None:
        """Let the thread end after the calls already queued."""
        self._calls.put(None)


TRAINING_THREAD = "slidelab-train"  # the OS name of a run's threads (15 bytes at most)
QUIET_S = 2.0  # after other work was seen, training stays one core narrower this long
SAMPLE_S = 0.1  # CPU times are read at most this often
SERVER_SHARE = 0.05  # of a core: the server's other threads use more, and it is busy
MACHINE_SHARE = 0.5  # of a core: other programs use more, and the machine is busy


@dataclass(frozen=True)
class CpuSample:
    """Clock ticks of CPU time: the server's threads that make tiles and predictions (per
    thread), the whole process, the whole machine (None where /proc does not say)."""

    server: dict[str, int]
    process: int
    machine: int | None


class CoreGovernor:
    """Torch threads for the next step of a run (call it in the run's thread)."""

    def __init__(self, cores: int) -> None:
        self.cores = max(1, cores)
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._seen: CpuSample | None = None
        self._sampled = -math.inf
        self._busy_until = 0.0
        self.threads = 0  # the count set last (0: none yet)

    def apply(self) -> int:
        """Set torch's thread count for this thread (call it in the run's thread)."""
        import torch

        wanted = self.choose(time.monotonic())
        if wanted != self.threads:
            torch.set_num_threads(wanted)
            self.threads = wanted
        return wanted

    def choose(self, now: float) -> int:
        """Every core, or one fewer while other work runs (or lately did): the server's
        other threads, or other programs on the machine."""
        if now - self._sampled >= SAMPLE_S:
            sample = self.sample()
            if sample is None:  # no per-thread accounting here: always leave a core
                self._busy_until = math.inf
            elif self._seen is not None and self._busy(sample, now - self._sampled):
                self._busy_until = now + QUIET_S
            self._seen, self._sampled = sample, now
        return max(1, self.cores - 1) if now < self._busy_until else self.cores

    def sample(self) -> CpuSample | None:
        """The CPU times now (`cpu_sample`)."""
        return cpu_sample()

    def _busy(self, sample: CpuSample, seconds: float) -> bool:
        before = self._seen
        if before is None:
            return False
        cores = self.tick * max(seconds, SAMPLE_S)  # ticks of one core over the interval
        server = sum(max(0, t - before.server.get(tid, 0)) for tid, t in sample.server.items())
        if server > SERVER_SHARE * cores:
            return True
        if sample.machine is None or before.machine is None:
            return False
        others = (sample.machine - before.machine) - (sample.process - before.process)
        return others > MACHINE_SHARE * cores


def name_thread(name: str) -> bool:
    """Name the calling OS thread (Linux; threads it starts inherit the name)."""
    try:
        with open(f"/proc/self/task/{threading.get_native_id()}/comm", "w") as comm:
            comm.write(name[:15])
        return True
    except OSError:
        return False


def cpu_sample() -> CpuSample | None:
    """CPU times now (None where /proc does not say). The server's threads that count are
    all but the main one (the event loop, which also sends training's own events) and
    training's (named TRAINING_THREAD)."""
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return None
    main = str(os.getpid())
    marker = f"({TRAINING_THREAD})".encode()
    server, process = {}, 0
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/stat", "rb") as stat:
                data = stat.read()
        except OSError:
            continue  # the thread has just ended
        fields = data.rsplit(b")", 1)[1].split()  # [0] is field 3 of proc(5), the state
        ticks = int(fields[11]) + int(fields[12])  # utime (14) + stime (15)
        process += ticks
        if tid != main and marker not in data:
            server[tid] = ticks
    return CpuSample(server, process, _machine_ticks())


def _machine_ticks() -> int | None:
    """Busy clock ticks of all CPUs together since boot (all but idle and iowait)."""
    try:
        with open("/proc/stat", "rb") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal (guest times are within user and nice)
    return sum(values[:8]) - values[3] - values[4]


def configure_threads(device: torch.device) -> ThreadPlan:
    """How training uses the CPU (see server/training/worker.py).

    On a CPU torch gets every core while the rest of the server is idle, one fewer while it
    works, and a run's thread has nice TRAINING_NICE. SLIDELAB_TRAINING_THREADS fixes the
    count and SLIDELAB_TRAINING_NICE the nice value, for experiments (bench_training.py).
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2
    workers = max(1, min(cores, PREPARE_WORKERS))
    if device.type != "cpu":
        return ThreadPlan(workers=workers)
    fixed = _env_int("SLIDELAB_TRAINING_THREADS", 0, 0, 1024)
    nice = _env_int("SLIDELAB_TRAINING_NICE", TRAINING_NICE, 0, 19)
    torch.set_num_threads(fixed or cores)
    return ThreadPlan(fixed or cores, nice, workers, governed=not fixed)


def _env_int(name: str, default: int, low: int, high: int) -> int:
    """An integer environment variable within [low, high]; ValueError names it otherwise."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}, not {raw!r}")
    return value
