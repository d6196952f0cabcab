"""One worker per GPU (local executor, a faked device list) and the resources a Ray trial asks
for (a faked cluster, Ray never started)."""

from __future__ import annotations

import os
from unittest import mock

import pytest

from deltaspace.search.executors import ExecutorOptions
from deltaspace.search.executors.local import run_local, visible_devices
from deltaspace.search.executors.ray_tune import trial_resources


class _Done:
    """A worker process that has already exited cleanly."""

    returncode = 0

    def poll(self) -> int:
        return 0


@pytest.mark.parametrize(("listed", "workers", "expected"), [
    ("4,7", 2, ["4", "7"]),  # N workers on N GPUs: one each
    ("0,1,2,3", 4, ["0", "1", "2", "3"]),
    ("GPU-3f2a,GPU-9b1c", 2, ["GPU-3f2a", "GPU-9b1c"]),  # UUIDs pass through as given
    ("0,1", 3, ["0", "1", "0"]),  # more workers than GPUs: round robin
    ("-1", 2, [None, None]),  # no GPU: the workers inherit no device
])  # fmt: skip
def test_workers_are_pinned_one_per_visible_gpu(listed: str, workers: int, expected: list) -> None:
    launched: list[dict[str, str]] = []

    def popen(command: list[str], env: dict[str, str], stdout: object) -> _Done:
        launched.append(env)
        return _Done()

    plan = mock.Mock()
    plan.spec.name = "gpus"
    with mock.patch.dict(os.environ, {"CUDA_VISIBLE_DEVICES": listed}), mock.patch("subprocess.Popen", popen):
        assert visible_devices() == ([] if listed == "-1" else listed.split(","))
        run_local(plan, "sqlite:///unused.db", ExecutorOptions(workers=workers))
    seen = [env.get("CUDA_VISIBLE_DEVICES") for env in launched]
    assert seen == [d if d is not None else listed for d in expected]  # no device: the inherited "-1"


@pytest.mark.parametrize(("cluster", "workers", "expected"), [
    ({"CPU": 16.0, "GPU": 4.0}, 4, {"cpu": 4, "gpu": 1.0}),  # one GPU per trial
    ({"CPU": 16.0, "GPU": 8.0}, 2, {"cpu": 8, "gpu": 1.0}),  # a trial uses one device, never more
    ({"CPU": 12.0, "GPU": 1.0}, 3, {"cpu": 4, "gpu": 0.3333}),  # three trials share the one GPU
    ({"CPU": 16.0, "GPU": 2.0}, 4, {"cpu": 4, "gpu": 0.5}),
    ({"CPU": 8.0}, 2, {"cpu": 4, "gpu": 0.0}),  # CPU-only cluster
    ({"CPU": 2.0}, 8, {"cpu": 1, "gpu": 0.0}),
])  # fmt: skip
def test_ray_trials_ask_for_their_share_of_gpus(cluster: dict, workers: int, expected: dict) -> None:
    assert trial_resources(cluster, workers) == expected
    if expected["gpu"]:
        assert workers * expected["gpu"] <= cluster["GPU"]  # every concurrent trial fits
