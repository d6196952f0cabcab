"""The local executor: trials in this process, or in N ``deltaspace worker`` processes.

With N workers each process gets ``cores // N`` CPU threads (``--threads``, and the OpenMP/MKL
variables, so that N processes do not oversubscribe the cores) and, when GPUs are visible, one
device of its own through ``CUDA_VISIBLE_DEVICES`` (round robin when there are more workers than
devices). The processes share the study through the database, exactly as workers on other
machines would; this process only watches the ``ds_`` tables for the progress display.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from ...trainers.threads import short_openmp_waits
from ..errors import SearchError
from ..validate import StudyPlan
from ..worker import Worker
from . import ExecutorOptions

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class WorkerSlot:
    """What one worker process gets: its index, CPU threads and device (None: CPU only)."""

    index: int
    threads: int
    device: str | None


def visible_devices() -> list[str]:
    """GPU ids this process may hand out: ``CUDA_VISIBLE_DEVICES`` if set, else what torch sees."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [d.strip() for d in listed.split(",") if d.strip() and d.strip() != "-1"]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def plan_workers(workers: int, devices: list[str], cores: int | None = None) -> list[WorkerSlot]:
    """Split ``cores`` threads and the ``devices`` among ``workers`` processes."""
    cores = cores or os.cpu_count() or 1
    threads = max(1, cores // workers)
    return [WorkerSlot(i, threads, devices[i % len(devices)] if devices else None) for i in range(workers)]


def worker_env(slot: WorkerSlot, base: dict[str, str]) -> dict[str, str]:
    """The worker's environment: its threads, its device, and no progress bars under the display."""
    env = {**base, **dict.fromkeys(THREAD_VARIABLES, str(slot.threads)), "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    short_openmp_waits(env)
    if slot.device is not None:
        env["CUDA_VISIBLE_DEVICES"] = slot.device
    return env


def worker_command(study: str, url: str, slot: WorkerSlot, timeout: float | None) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "deltaspace.cli",
        "worker",
        study,
        "--storage",
        url,
        "--threads",
        str(slot.threads),
    ]
    return command + (["--timeout", str(timeout)] if timeout is not None else [])


def run_local(plan: StudyPlan, url: str, options: ExecutorOptions) -> None:
    if options.workers <= 1:
        Worker(plan, url, trainer=options.trainer, on_trial=options.on_trial).run(options.timeout)
        return
    slots = plan_workers(options.workers, visible_devices())
    processes = [
        subprocess.Popen(
            worker_command(plan.spec.name, url, slot, options.timeout),
            env=worker_env(slot, dict(os.environ)),
            stdout=subprocess.DEVNULL,
        )
        for slot in slots
    ]
    try:
        while any(p.poll() is None for p in processes):
            if options.poll is not None:
                options.poll()
            time.sleep(1.0)
    except KeyboardInterrupt:
        for p in processes:
            p.send_signal(signal.SIGINT)  # each worker records its trial failed and enqueues it again
        for p in processes:
            p.wait()
        raise
    failed = [
        (slot.index, p.returncode) for slot, p in zip(slots, processes, strict=True) if p.returncode != 0
    ]
    if failed:
        raise SearchError(
            f"worker processes exited with errors (index, code): {failed}; see their messages above"
        )
