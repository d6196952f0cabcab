"""Cost measurements and provenance for a trial: peak memory, versions, code revision, host."""

from __future__ import annotations

import contextlib
import functools
import platform
import resource
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .result import Provenance

if TYPE_CHECKING:
    import torch


def _rss_kb(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


class PeakMemory:
    """Peak memory growth during a ``with`` block, in MB.

    On CUDA: ``torch.cuda.max_memory_allocated`` (reset on entry). On CPU: the growth of the
    process's peak resident set (VmHWM, reset on entry through /proc/self/clear_refs on Linux;
    elsewhere ``ru_maxrss``, which cannot be reset, so an earlier larger peak hides this one).
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.mb = 0.0

    def __enter__(self) -> PeakMemory:
        import torch

        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
            return self
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            pass
        self._start = (_rss_kb("VmRSS") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
        return self

    def __exit__(self, *exc: object) -> None:
        import torch

        if self.device.type == "cuda":
            peak = torch.cuda.max_memory_allocated(self.device)
        else:
            peak = (_rss_kb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
        self.mb = max(0.0, (peak - self._start) / 2**20)


class PhaseClock:
    """Wall seconds per phase of a trial: ``with clock("load"): ...``; `phases` adds the loop's own
    split (train, evaluate, report) and ``wall``, the seconds since the clock was made.

    Phases: ``threads`` (choosing CPU threads), ``load`` (data rows, backbone, tokenizer), ``build``
    (deltas, device, tokenization, mask selection), ``train``, ``evaluate`` (in the loop),
    ``evaluate_full`` (the best weights on the whole split, after a loop that scored a subset), ``report``
    (intermediate scores stored, pruning asked), ``loop_other`` (the loop's remaining bookkeeping),
    ``latency``, ``store`` (weights written) and ``record`` (provenance)."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        tic = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - tic

    def phases(self, loop: Any = None) -> dict[str, float]:
        out = {k: v for k, v in self.seconds.items() if k != "loop"}
        if loop is not None:
            inner = {"train": loop.train_seconds, "evaluate": loop.eval_seconds, "report": loop.report_seconds}
            out.update(inner)
            out["loop_other"] = max(0.0, self.seconds.get("loop", 0.0) - sum(inner.values()))
        out["wall"] = time.perf_counter() - self.started
        return {k: round(v, 6) for k, v in out.items()}


@functools.lru_cache(maxsize=8)
def git_revision(path: Path) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the git work tree holding ``path``; (None, None) outside one. Asked once
    per process: two git commands per trial were a measurable share of a short trial."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(path), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit, bool(status.strip())


def provenance(model: str, data: str, device: torch.device) -> Provenance:
    import torch
    import transformers

    import deltaspace

    commit, dirty = git_revision(Path(deltaspace.__file__).parent)
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"cpu ({torch.get_num_threads()} threads)"
    )
    return Provenance(
        deltaspace_version=deltaspace.__version__,
        torch_version=torch.__version__,
        transformers_version=transformers.__version__,
        git_commit=commit,
        git_dirty=dirty,
        model=model,
        data=data,
        device=name,
        hostname=platform.node(),
    )
