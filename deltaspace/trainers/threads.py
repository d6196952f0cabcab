"""CPU threads for training on a machine that other processes share.

torch's CPU kernels run on OpenMP threads that spin-wait between parallel regions. When another
process keeps one of two cores busy, a 2-thread step waits on the thread that lost its core and
runs 3–10× slower than on a quiet machine, slower than one thread would. Two defences:

* short OpenMP spins (``GOMP_SPINCOUNT=10000``, set by `short_openmp_waits` before torch loads,
  unless the user set a spin count or a wait policy): a waiting thread spins for tens of
  microseconds, then sleeps, so a lost core costs its share only. Measured (bench/contention.py,
  MiniLM LoRA, 2 cores): quiet 218 ex/s against torch's 229 (``OMP_WAIT_POLICY=PASSIVE``, which
  never spins: 192); beside a busy core 131 against torch's 69;
* `ThreadGovernor`: at the start of a trial and every ``recheck_seconds`` after, the cores other
  processes keep busy are measured (``/proc/stat`` minus this process's own CPU time) and torch
  gets the free ones, never more than the worker's cap (``--threads`` or ``settings.threads``).

``settings.adaptive_threads: false`` (``deltaspace train --fixed-threads``) or
``DELTASPACE_ADAPTIVE_THREADS=0`` in a worker's environment pins the cap; ``OMP_WAIT_POLICY`` or
``GOMP_SPINCOUNT`` in the environment is left as the user set it. Where ``/proc/stat`` does not exist the cap is used as it is.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

WAIT_POLICY = "OMP_WAIT_POLICY"
SPIN_COUNT = "GOMP_SPINCOUNT"  # libgomp, the OpenMP runtime of torch's Linux CPU wheels
SHORT_SPINS = "10000"
ADAPTIVE_VARIABLE = "DELTASPACE_ADAPTIVE_THREADS"  # "0": every trial of this process pins its cap


def short_openmp_waits(environ: dict[str, str] | None = None) -> None:
    """Ask OpenMP to spin briefly, then sleep, when its threads wait (unless the user chose a wait
    policy or a spin count). Must run before torch is imported in this process (or in the
    environment of a child process)."""
    target = os.environ if environ is None else environ
    if WAIT_POLICY not in target and SPIN_COUNT not in target:
        target[SPIN_COUNT] = SHORT_SPINS


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask, which containers and taskset narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass
class _Sample:
    total: int  # jiffies of every CPU
    idle: int  # idle + iowait jiffies
    own: float  # CPU seconds of this process
    wall: float


def _sample() -> _Sample | None:
    try:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    times = os.times()
    return _Sample(sum(fields), fields[3] + fields[4], times.user + times.system, time.monotonic())


class ThreadGovernor:
    """Chooses torch's thread count from the cores other processes leave free."""

    def __init__(self, cap: int | None = None, adaptive: bool = True, recheck_seconds: float = 5.0) -> None:
        self.cap = max(1, min(cap or usable_cores(), usable_cores()))
        self.adaptive = adaptive and os.environ.get(ADAPTIVE_VARIABLE, "1") != "0"
        self.recheck_seconds = recheck_seconds
        self._last = _sample()
        self.history: list[int] = []

    def others_busy(self) -> float | None:
        """Cores kept busy by other processes since the last call (None: cannot tell)."""
        now, last = _sample(), self._last
        if now is None or last is None:
            return None
        self._last = now
        wall = now.wall - last.wall
        jiffies = now.total - last.total
        if wall <= 0 or jiffies <= 0:
            return None
        cores = os.cpu_count() or 1
        busy_seconds = (jiffies - (now.idle - last.idle)) / jiffies * cores * wall
        return max(0.0, (busy_seconds - (now.own - last.own)) / wall)

    def threads_for(self, others_busy: float | None) -> int:
        """The cap, less the cores other processes keep busy (a core 60% free counts as free)."""
        if not self.adaptive or others_busy is None:
            return self.cap
        free = usable_cores() - others_busy
        return max(1, min(self.cap, int(free + 0.4)))

    def begin(self) -> None:
        """Start the first measurement window (the trial's loading runs inside it)."""
        self._last = _sample()

    def start(self, min_window: float = 0.1) -> int:
        """Close the first window (sleeping out the rest of ``min_window``: /proc/stat counts in
        10 ms ticks) and set torch's threads for the trial."""
        if not self.adaptive:
            return self._apply(self.cap)
        if self._last is None:
            self.begin()
        if self._last is not None:
            time.sleep(max(0.0, min_window - (time.monotonic() - self._last.wall)))
        return self._apply(self.threads_for(self.others_busy()))

    def maybe_recheck(self) -> int | None:
        """Between steps: re-measure when ``recheck_seconds`` have passed; the new count or None."""
        if (
            not self.adaptive
            or self._last is None
            or time.monotonic() - self._last.wall < self.recheck_seconds
        ):
            return None
        return self._apply(self.threads_for(self.others_busy()))

    def _apply(self, threads: int) -> int:
        import torch

        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        self.history.append(threads)
        return threads
