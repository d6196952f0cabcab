"""A stand-in trainer for tests and benches of the search itself: no model, no data.

Its score is a smooth function of the method's size and learning rate (bigger methods score
higher, with diminishing returns; learning rates far from 1e-3 lose) plus a small jitter fixed
by the method and seed, so samplers have a real front to find. It reports ``evals`` intermediate
scores through ``on_eval`` (honouring pruning) and sleeps ``seconds`` per trial in total.

Promotion: its "loop state" is a small JSON file (the steps trained and the chain of rungs it
went through), so tests can see a rung continue the state the rung below saved; a run that
continues a state sleeps only for the steps it adds.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

from ..trainers.result import EvalPoint, TrialResult
from ..trainers.settings import default_lr
from .objective import TrialJob


def fake_score(job: TrialJob) -> float:
    size = math.log10(max(job.count.delta_params, 1))
    lr = job.settings.lr or default_lr(job.method)
    lr_penalty = 0.04 * (math.log10(lr) + 3) ** 2
    digest = hashlib.sha256(f"{job.method.canonical_json()}|{job.seed}".encode()).digest()
    jitter = (digest[0] / 255 - 0.5) * 0.02
    return round(0.5 + 0.4 * math.tanh(size / 5) - lr_penalty + jitter, 6)


@dataclass(frozen=True)
class FakeTrainer:
    """A ``Trainer``: ``FakeTrainer(seconds=0.1)(job) -> TrialResult``."""

    seconds: float = 0.0
    evals: int = 4

    def __call__(self, job: TrialJob) -> TrialResult:
        steps = job.settings.max_steps or 100
        final = fake_score(job)
        started = time.perf_counter()
        curve: list[EvalPoint] = []
        status = "complete"
        previous = json.loads(Path(job.resume_from).read_text()) if job.resume_from else {"steps": 0, "chain": []}
        share = (steps - previous["steps"]) / steps
        for k in range(1, self.evals + 1):
            time.sleep(share * self.seconds / self.evals)
            step, score = steps * k // self.evals, final * (0.7 + 0.3 * k / self.evals)
            curve.append(EvalPoint(step=step, score=score, seconds=time.perf_counter() - started))
            if job.on_eval is not None and job.on_eval(step, score) and k < self.evals:
                status = "pruned"
                break
        count = job.count
        if job.save_state_to is not None:
            chain = [*previous["chain"], steps]
            Path(job.save_state_to).write_text(json.dumps({"steps": steps, "seed": job.seed, "chain": chain}))
        return TrialResult(
            status=status,  # type: ignore[arg-type]
            method_name=job.method.name,
            task=job.task,
            seed=job.seed,
            score=max(p.score for p in curve),
            primary_metric="accuracy",
            metrics={"accuracy": max(p.score for p in curve), "resumed_from_step": float(previous["steps"])},
            eval_curve=curve,
            delta_params=count.delta_params,
            head_params=count.head_params,
            trainable_params=count.trainable_params,
            stored_params=count.stored_params,
            backbone_params=count.backbone_params,
            percent=count.percent,
            steps=curve[-1].step,
            train_seconds=time.perf_counter() - started,
            latency_ms_batch1=1.0 + count.delta_params / 1e6,
            peak_memory_mb=100.0,
        )
