"""Helpers of the dashboard, service and browser tests: a stored study of synthetic trials and a
real uvicorn server on a free 127.0.0.1 port."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from deltaspace.space import DeltaSpec, MethodSpec, preset
from deltaspace.storage import Storage
from deltaspace.trainers.result import EvalPoint, TrialResult

BACKBONE = 1_000_000
STUDY_YAML = (
    "name: {name}\nmodel: minilm\ntask: sst2\nbudget: {{max_steps: 10, n_trials: 12}}\nmethods: [lora, ia3]\n"
)
FREE = MethodSpec(
    name="free",
    deltas=(
        DeltaSpec(form="low_rank", position="ffn_out", size=4),
        DeltaSpec(form="bottleneck", position="attn_output", insertion="parallel", size=8),
    ),
)


@dataclass(frozen=True)
class Planned:
    """One trial to store: its method, outcome and sampled values."""

    method: MethodSpec
    status: str = "complete"
    params: int = 0
    score: float | None = None
    values: dict[str, Any] = field(default_factory=dict)
    seconds: float = 1.0
    latency: float = 1.0
    seed_scores: dict[int, float] = field(default_factory=dict)  # a study with several seeds
    seed: int = 0


def planned_trials() -> list[Planned]:
    """A mixed study: presets (two on the front), a free combination, full fine-tuning, and
    failed, pruned and infeasible trials that no front may contain."""
    return [
        Planned(preset("lora"), params=1_000, score=0.80, values={"method": "lora", "lr": 1e-3, "size": 8}),
        Planned(
            preset("prefix"), params=3_000, score=0.78, values={"method": "prefix", "lr": 3e-4, "size": 30}
        ),
        Planned(preset("ia3"), params=100, score=0.70, values={"method": "ia3", "lr": 1e-2}),
        Planned(FREE, params=5_000, score=0.85, values={"method": "free", "lr": 1e-3, "size": 4}),
        Planned(
            preset("houlsby"), params=20_000, score=0.84, values={"method": "houlsby", "lr": 1e-4, "size": 64}
        ),
        Planned(preset("mam"), params=50_000, score=0.88, values={"method": "mam", "lr": 1e-4}),
        Planned(preset("bitfit"), params=800, score=0.70, values={"method": "bitfit", "lr": 1e-3}),
        Planned(preset("full"), params=BACKBONE, score=0.87, values={"method": "full", "lr": 2e-5}),
        Planned(preset("lora"), "failed", values={"method": "lora", "lr": 1.0, "size": 16}),
        Planned(
            preset("pfeiffer"), "pruned", params=9_000, score=0.95, values={"method": "pfeiffer", "lr": 1e-3}
        ),
        Planned(preset("mam"), "infeasible", params=900_000, values={"method": "mam", "lr": 1e-3}),
    ]


def result(p: Planned) -> TrialResult:
    return TrialResult(
        status=p.status,  # type: ignore[arg-type]
        failure_reason="loss is NaN" if p.status == "failed" else None,
        task="sst2", method_name=p.method.name, seed=p.seed, score=p.score, primary_metric="accuracy",
        metrics=metrics(p),
        eval_curve=[] if p.score is None else [EvalPoint(step=5, score=p.score - 0.05, seconds=p.seconds / 2),
                                               EvalPoint(step=10, score=p.score, seconds=p.seconds)],
        delta_params=p.params, head_params=10, trainable_params=p.params + 10, stored_params=p.params + 10,
        backbone_params=BACKBONE, percent=100 * p.params / BACKBONE, steps=10, train_seconds=p.seconds,
        latency_ms_batch1=p.latency, peak_memory_mb=100.0, phase_seconds={"train": p.seconds, "evaluate": 0.5},
    )  # fmt: skip


def metrics(p: Planned) -> dict[str, float]:
    """The accuracy, and each seed's score when the trial trained several (as combine_seeds)."""
    if p.score is None:
        return {}
    out = {"accuracy": p.score}
    if p.seed_scores:
        out.update({f"score_seed{s}": v for s, v in p.seed_scores.items()})
        values = list(p.seed_scores.values())
        mean = sum(values) / len(values)
        out["score_std"] = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
    return out


def fill_study(
    storage: Storage,
    name: str,
    trials: list[Planned] | None = None,
    status: str = "complete",
    spec_yaml: str | None = None,
) -> None:
    """Store study ``name`` with ``trials`` (default: `planned_trials`) numbered 0, 1, ..."""
    storage.create_study(name, spec_yaml or STUDY_YAML.format(name="stored"), status=status)
    for number, p in enumerate(trials if trials is not None else planned_trials()):
        record = dict(
            method_name=p.method.name, method_json=p.method.canonical_json(), method_hash=p.method.method_hash(),
            params=p.values, training={"lr": p.values.get("lr", 1e-3), "max_steps": 10, "seed": p.seed},
            seed=p.seed,
        )  # fmt: skip
        if p.status == "infeasible":
            storage.record_infeasible(name, number, **record, delta_params=p.params,
                                      percent=100 * p.params / BACKBONE, reason="over budget")  # fmt: skip
            continue
        storage.start_trial(name, number, **record, worker_host="test", worker_pid=os.getpid())
        storage.finish_trial(name, number, result(p))


THREE_OBJECTIVES_YAML = (
    "name: {name}\nmodel: minilm\ntask: sst2\nobjectives: [score, delta_params, latency_ms]\n"
    "budget: {{max_steps: 10, n_trials: 12, max_delta_params: 40000}}\nmethods: [lora, ia3]\n"
)


def three_objective_trials() -> list[Planned]:
    """A study on (score, delta_params, latency_ms) whose front is not the two-objective one:
    houlsby is beaten on score and parameters by free but is the fastest design, so it is on the
    three-objective front only. Lora and prefix ran three seeds in one trial (``score_seed<N>``
    metrics), mam three seeds as three trials; both kinds are one design with an interval."""

    def lr(p: float) -> dict[str, Any]:
        return {"lr": p}

    return [
        Planned(preset("lora"), params=1_000, score=0.80, latency=2.0, values=lr(1e-3),
                seed_scores={0: 0.78, 1: 0.80, 2: 0.82}),
        Planned(preset("prefix"), params=3_000, score=0.78, latency=3.0, values=lr(3e-4),
                seed_scores={0: 0.70, 1: 0.80, 2: 0.84}),
        Planned(preset("ia3"), params=100, score=0.70, latency=2.0, values=lr(1e-2)),
        Planned(FREE, params=5_000, score=0.85, latency=5.0, values=lr(1e-3)),
        Planned(preset("houlsby"), params=20_000, score=0.84, latency=0.5, values=lr(1e-4)),
        Planned(preset("mam"), params=50_000, score=0.86, latency=9.0, values=lr(1e-4), seed=0),
        Planned(preset("mam"), params=50_000, score=0.90, latency=9.0, values=lr(1e-4), seed=1),
        Planned(preset("mam"), params=50_000, score=0.88, latency=9.0, values=lr(1e-4), seed=2),
        Planned(preset("bitfit"), params=800, score=0.70, latency=2.5, values=lr(1e-3)),
        Planned(preset("lora"), "failed", values=lr(1.0)),
    ]  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_service(storage_url: str) -> Iterator[str]:
    """``deltaspace serve`` in a thread on 127.0.0.1; yields its base URL."""
    import uvicorn

    from deltaspace.dashboards.app import create_app

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(storage_url), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the service did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
