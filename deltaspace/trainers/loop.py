"""The training loop: AdamW on trainable parameters, linear warm-up and decay, clipping,
length-grouped batches, periodic evaluation with a pruning callback, early stopping.

A plain loop rather than ``transformers.Trainer``/``accelerate``: it is short, and on CPU the
bench (bench/throughput.py) shows no loop overhead to win back. The returned `LoopResult`
carries the failure (non-finite loss, out of memory) instead of raising it.

A run can stop at ``max_steps`` and go on later (multi-fidelity promotion): with ``keep_state``
the result carries a `LoopState` (trainable weights where training stopped, optimiser, schedule,
loss scaler, random generators, the curve and the best evaluation so far), and a loop started
with ``resume=`` that state continues exactly as the uninterrupted run would have: same batches,
same dropout, same schedule (``settings.schedule_steps`` long), bit for bit at the same threads.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .batching import collate, length_grouped_batches
from .data import Encoded
from .precision import resolve_precision
from .result import EvalPoint
from .settings import TrainSettings, default_lr

if TYPE_CHECKING:
    import torch

OnEval = Callable[[int, float], bool]
LoopState = dict[str, Any]
"""What a stopped loop needs to go on (``torch.save``-able): see `capture_state`."""
"""``on_eval(step, score) -> stop``: called after each evaluation; True prunes the trial."""


@dataclass
class LoopResult:
    status: Literal["complete", "pruned", "failed"] = "complete"
    failure_reason: str | None = None
    steps: int = 0
    examples: int = 0
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    report_seconds: float = 0.0  # in on_eval: storing intermediate scores, pruning decisions
    stop_reason: str | None = None  # why training ended before its step budget (None: it did not)
    curve: list[EvalPoint] = field(default_factory=list)
    best: EvalPoint | None = None
    state: LoopState | None = None  # with keep_state: where training stopped, to resume from




def total_steps(n_examples: int, settings: TrainSettings) -> int:
    return settings.max_steps or settings.epochs * math.ceil(n_examples / settings.batch_size)


def schedule_length(n_examples: int, settings: TrainSettings) -> int:
    """The steps the learning-rate schedule spans: ``schedule_steps``, else the step budget."""
    return settings.schedule_steps or total_steps(n_examples, settings)


def _rng_states(device: torch.device) -> dict[str, Any]:
    import torch

    states: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states: dict[str, Any], device: torch.device) -> None:
    import torch

    torch.set_rng_state(states["cpu"])
    if device.type == "cuda" and "cuda" in states:
        torch.cuda.set_rng_state_all(states["cuda"])


def epoch_batches(lengths: np.ndarray, settings: TrainSettings) -> Iterator[np.ndarray]:
    """Length-grouped index batches, epoch after epoch, deterministic in ``settings.seed``."""
    epoch = 0
    while True:
        rng = np.random.default_rng([settings.seed, epoch])
        yield from length_grouped_batches(lengths, settings.batch_size, rng)
        epoch += 1


def make_optimizer(
    model: torch.nn.Module, settings: TrainSettings, steps: int
) -> tuple[torch.optim.Optimizer, object]:
    """AdamW over trainable parameters (no decay on biases and norms) with linear warm-up/decay."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": settings.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    lr = settings.lr if settings.lr is not None else default_lr(None)
    optimizer = torch.optim.AdamW([g for g in groups if g["params"]], lr=lr)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(settings.warmup_ratio * steps), steps)
    return optimizer, scheduler


def train_loop(
    model: torch.nn.Module,
    train: Encoded,
    evaluate: Callable[[], tuple[float, dict[str, float]]],
    settings: TrainSettings,
    device: torch.device,
    pad_id: int,
    on_eval: OnEval | None = None,
    regularization: Callable[[], torch.Tensor] | None = None,
    between_steps: Callable[[], object] | None = None,
    *,
    after_step: Callable[[int, int], bool] | None = None,
    resume: LoopState | None = None,
    keep_state: bool = False,
) -> LoopResult:
    """Train ``model`` in place; afterwards its trainable parameters are those of the best evaluation
    (with ``settings.keep_best=False``: those it ended with, ``best`` being the last evaluation).

    ``regularization()``, when given, is added to the task loss at every step (diff pruning's L0
    penalty: ``AppliedMethod.regularization_loss``). ``between_steps()`` runs after each step
    (the thread governor's re-check); its time counts as training. ``after_step(step, schedule)``
    lets the method change phase (diff pruning fixes its mask: ``AppliedMethod.after_step``); it
    also runs once on resuming. When it reports a change, the best weights so far are forgotten:
    they belong to the earlier phase, which the model can no longer express. ``resume`` continues a run
    that stopped earlier (its `LoopResult.state`); ``keep_state`` returns this run's state in
    ``LoopResult.state`` (taken before the best weights are restored)."""
    import torch
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    out = LoopResult()
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    if not trainable:
        return LoopResult(status="failed", failure_reason="the model has no trainable parameters")
    steps = total_steps(len(train), settings)
    schedule = schedule_length(len(train), settings)
    optimizer, scheduler = make_optimizer(model, settings, schedule)
    precision = resolve_precision(settings.precision, device)
    scaler = precision.scaler()  # loss scaling only under fp16
    best_state: dict[str, torch.Tensor] = {}
    evals_since_best = 0
    batches = epoch_batches(train.lengths, settings)
    if resume is not None:
        evals_since_best = _restore(resume, out, trainable, best_state, optimizer, scheduler, scaler)
        if out.steps > steps:
            raise ValueError(f"cannot resume a run at step {out.steps} with a budget of {steps} steps")
        for _ in range(out.steps):  # the batches the stopped run consumed
            next(batches)
        _set_rng_states(resume["rng"], device)

    def change_phase() -> None:
        """The method's phase change after a step (or on resuming), and forgetting the old best."""
        nonlocal evals_since_best
        if after_step is not None and after_step(out.steps, schedule):
            out.best, evals_since_best = None, 0
            best_state.clear()

    if resume is not None:
        change_phase()

    def run_eval(step: int) -> bool:
        """Evaluate, record, report; True when training should stop (pruned or early stop)."""
        nonlocal evals_since_best
        tic = time.perf_counter()
        score, metrics = evaluate()
        out.eval_seconds += time.perf_counter() - tic
        point = EvalPoint(step=step, score=score, metrics=metrics, seconds=out.train_seconds)
        out.curve.append(point)
        if out.best is None or score > out.best.score:
            out.best, evals_since_best = point, 0
            if settings.keep_best:
                best_state.update({n: p.detach().clone() for n, p in trainable.items()})
        else:
            evals_since_best += 1
        tic = time.perf_counter()
        stop = on_eval is not None and on_eval(step, score)
        out.report_seconds += time.perf_counter() - tic
        if stop:
            out.status = "pruned"
            return True
        return settings.patience is not None and evals_since_best >= settings.patience

    def step(batch: dict[str, torch.Tensor]) -> float:
        """One optimiser step on ``batch``; returns the loss (a non-finite loss is not stepped)."""
        with precision.autocast():
            loss = model(**batch).loss
            if regularization is not None:
                loss = loss + regularization()
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            return loss_value
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        if settings.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(trainable.values(), settings.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        return loss_value

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    model.train()
    console = Console(stderr=True)
    with Progress(*columns, console=console, disable=not settings.progress, transient=True) as progress:
        bar = progress.add_task("training", total=steps)
        stopped = False
        while out.steps < steps and not stopped:
            tic = time.perf_counter()
            idx = next(batches)
            batch = {k: v.to(device, non_blocking=True) for k, v in collate(train, idx, pad_id).items()}
            try:
                loss_value = step(batch)
            except (torch.OutOfMemoryError, RuntimeError) as exc:
                if "out of memory" not in str(exc).lower():
                    raise
                shape = tuple(batch["input_ids"].shape)
                out.status = "failed"
                out.failure_reason = (
                    f"out of memory at step {out.steps + 1} (batch {shape[0]}x{shape[1]} tokens): {exc}"
                )
                break
            if not math.isfinite(loss_value):
                out.status, out.failure_reason = "failed", f"loss became {loss_value} at step {out.steps + 1}"
                break
            out.steps += 1
            out.examples += len(idx)
            progress.update(bar, advance=1, description=f"training  loss {loss_value:.4f}")
            change_phase()
            if between_steps is not None:
                between_steps()
            out.train_seconds += time.perf_counter() - tic
            budget = settings.max_train_seconds
            over_budget = budget is not None and out.train_seconds >= budget
            due = settings.eval_every is not None and out.steps % settings.eval_every == 0
            if due or out.steps == steps or over_budget:
                stopped = run_eval(out.steps) or over_budget
                if stopped and out.steps < steps and out.status != "pruned":
                    out.stop_reason = (
                        f"max_train_seconds={budget:g} reached after {out.steps} of {steps} steps"
                        if over_budget
                        else f"early stopping (patience {settings.patience}) after {out.steps} of {steps} steps"
                    )
    if out.status == "failed":
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return out
    if keep_state:
        out.state = capture_state(out, trainable, best_state, evals_since_best, optimizer, scheduler, scaler, device)
    if not settings.keep_best:  # the last evaluation's weights, which the model has: its score is reported
        out.best = out.curve[-1] if out.curve else None
        return out
    if best_state:
        with torch.no_grad():
            for name, value in best_state.items():
                trainable[name].copy_(value)
    return out


def capture_state(out: LoopResult, trainable: dict[str, torch.nn.Parameter], best_state: dict[str, torch.Tensor],
                  evals_since_best: int, optimizer: Any, scheduler: Any, scaler: Any,
                  device: torch.device) -> LoopState:  # fmt: skip
    """Everything `train_loop` needs to continue this run (copies on the CPU)."""
    return {
        "steps": out.steps,
        "curve": [p.model_dump() for p in out.curve],
        "best": None if out.best is None else out.best.model_dump(),
        "evals_since_best": evals_since_best,
        "weights": {n: p.detach().to("cpu", copy=True) for n, p in trainable.items()},
        "best_weights": {n: v.to("cpu") for n, v in best_state.items()},
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "rng": _rng_states(device),
    }


def _restore(state: LoopState, out: LoopResult, trainable: dict[str, torch.nn.Parameter],
             best_state: dict[str, torch.Tensor], optimizer: Any, scheduler: Any, scaler: Any) -> int:  # fmt: skip
    """Put a captured state back; returns the evaluations since the best one."""
    import torch

    missing = sorted(set(trainable) ^ set(state["weights"]))
    if missing:
        raise ValueError(f"the saved state does not match this model's trainable parameters: {missing[:5]}")
    with torch.no_grad():
        for name, value in state["weights"].items():
            trainable[name].copy_(value)
    best_state.update({n: v.to(trainable[n].device) for n, v in state["best_weights"].items()})
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    out.steps = state["steps"]  # seconds and examples count this run's work, steps the whole run's
    out.curve = [EvalPoint(**p) for p in state["curve"]]
    out.best = None if state["best"] is None else EvalPoint(**state["best"])
    return int(state["evals_since_best"])
