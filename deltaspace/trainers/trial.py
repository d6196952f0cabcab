"""One trial end to end: (model, method, task, settings, seed) -> `TrialResult`.

Failure is a result: bad data, a method that cannot be built, a non-finite loss or running out of
memory end the trial with ``status="failed"`` and a reason naming the cause, never an exception.
The reported score and metrics are those of the best evaluation on the validation split, and
the model keeps that evaluation's weights. Latencies are milliseconds per example, the median
of ``settings.latency_batches`` timed batches of 1 and of 32 examples. Methods with a lottery
mask (LT-SFT) get their selection phase first; penalties such as diff pruning's L0 term join
the loss.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..space.errors import DeltaspaceError
from .data import encode_cached, load_split
from .evaluation import Evaluator
from .loop import OnEval, train_loop
from .measure import PeakMemory, PhaseClock, provenance
from .memory import enable_gradient_checkpointing
from .precision import Precision, keep_master_weights, resolve_precision
from .quantization import quantization_config, quantization_problem
from .result import TrialResult
from .settings import TrainSettings, default_lr
from .subsets import strata, stratified_indices, subset
from .tasks import TaskSpec, resolve_task
from .threads import ThreadGovernor

if TYPE_CHECKING:
    import torch
    from transformers import PretrainedConfig, PreTrainedTokenizerBase

    from ..space import MethodSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StateFiles:
    """Where a trial resumes from and where it saves its loop state (None: neither)."""

    resume_from: str | Path | None = None
    save_to: str | Path | None = None

    def load(self) -> Any:
        import torch

        if self.resume_from is None:
            return None
        return torch.load(self.resume_from, map_location="cpu", weights_only=False)

    def save(self, state: Any) -> None:
        import torch

        if self.save_to is not None and state is not None:
            torch.save(state, self.save_to)


@dataclass
class Built:
    """A model ready to train: its tokenizer, parameter count and (when built from a MethodSpec)
    the ``AppliedMethod`` that knows its penalties and mask selection."""

    model: torch.nn.Module
    tokenizer: PreTrainedTokenizerBase
    counts: Any = None
    applied: Any = None


def run_trial(
    model: str | PretrainedConfig,
    method: MethodSpec | str,
    task: TaskSpec | str,
    data_dir: str | Path | None = None,
    settings: TrainSettings | None = None,
    *,
    seed: int | None = None,
    on_eval: OnEval | None = None,
    tokenizer: PreTrainedTokenizerBase | None = None,
    weights_path: str | Path | None = None,
    resume_from: str | Path | None = None,
    save_state_to: str | Path | None = None,
) -> TrialResult:
    """Build ``method`` on ``model`` (a name, a path, or a config for a random tiny model), train it on
    ``task`` (a registered name, a task YAML path, or a TaskSpec) and evaluate it.

    ``seed`` overrides ``settings.seed``; ``on_eval(step, score)`` returning True prunes the trial.
    A task YAML's data defaults to the YAML file's folder. With ``weights_path``, a complete
    trial writes its trainable parameters there (safetensors, keyed by parameter name, the
    method's canonical JSON in the metadata). ``save_state_to`` writes where training stopped
    (``train_loop``'s state, ``torch.save``) so that a later call with ``resume_from`` and a larger
    ``settings.max_steps`` continues it exactly (multi-fidelity promotion).
    """
    settings = settings or TrainSettings()
    settings = settings if seed is None else settings.model_copy(update={"seed": seed})
    try:
        spec = resolve_task(task)
        method_spec = resolve_method(method)
    except DeltaspaceError as exc:
        return TrialResult(status="failed", failure_reason=str(exc), seed=settings.seed)
    problem = quantization_problem(settings.quantization, method_spec, model)
    if problem is not None:  # before anything loads
        return TrialResult(status="failed", failure_reason=problem, seed=settings.seed)
    if settings.lr is None:
        settings = settings.model_copy(update={"lr": default_lr(method_spec)})
    if data_dir is None and isinstance(task, str | Path) and Path(task).suffix in (".yaml", ".yml"):
        data_dir = Path(task).parent

    def build(precision: Precision) -> Built:
        from ..methods import apply_method, load_backbone

        backbone, tok = load_backbone(
            model, head=head_for(spec), tokenizer=tokenizer, reuse_weights=True, dtype=precision.dtype,
            quantization_config=quantization_config(settings.quantization, precision.dtype),
        )  # fmt: skip
        applied = apply_method(backbone, method_spec)
        keep_master_weights(backbone)  # the head or layer norms a method trains: float32 masters
        return Built(applied.model, tok, applied.counts, applied)

    label = model if isinstance(model, str) else f"random {model.model_type} ({type(model).__name__})"
    states = StateFiles(resume_from, save_state_to)
    return _trial(build, spec, data_dir, settings, method_spec.name, label, on_eval, weights_path, states)


def train_and_evaluate(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    task: TaskSpec | str,
    data_dir: str | Path | None = None,
    settings: TrainSettings | None = None,
    *,
    counts: Any = None,
    method_name: str = "",
    model_label: str = "",
    on_eval: OnEval | None = None,
) -> TrialResult:
    """Train and evaluate an already built model (its trainable parameters are those with
    ``requires_grad``). ``counts`` is the method's ParamCount; without it only trainable and
    frozen totals are reported. The model keeps its dtypes; ``settings.precision`` sets autocast."""
    settings = settings or TrainSettings()
    try:
        spec = resolve_task(task)
    except DeltaspaceError as exc:
        return TrialResult(status="failed", failure_reason=str(exc), seed=settings.seed)
    built = Built(model, tokenizer, counts)
    return _trial(lambda _: built, spec, data_dir, settings, method_name, model_label, on_eval)


def resolve_method(method: MethodSpec | str) -> MethodSpec:
    """A MethodSpec from itself, a preset name, or a method YAML path."""
    from ..space import MethodSpec, preset

    if isinstance(method, MethodSpec):
        return method
    if Path(method).suffix in (".yaml", ".yml"):
        return MethodSpec.from_yaml(method)
    return preset(method)


def head_for(task: TaskSpec) -> Any:
    from ..space import HeadSpec

    kind = {"classification": "sequence_classification", "regression": "regression", "seq2seq": "seq2seq",
            "causal_lm": "causal_lm"}  # fmt: skip
    return HeadSpec(kind=kind[task.kind], num_labels=max(task.num_labels, 1))


def _trial(
    build: Callable[[Precision], Built],
    task: TaskSpec,
    data_dir: str | Path | None,
    settings: TrainSettings,
    method_name: str,
    model_label: str,
    on_eval: OnEval | None,
    weights_path: str | Path | None = None,
    states: StateFiles = StateFiles(),
) -> TrialResult:
    import torch
    import transformers

    from .selection import select_masks

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    settings = settings if settings.lr is not None else settings.model_copy(update={"lr": default_lr(None)})
    result = TrialResult(status="failed", task=task.name, method_name=method_name, seed=settings.seed,
                         primary_metric=task.primary_metric, learning_rate=settings.lr)  # fmt: skip
    data_label = str(data_dir) if data_dir is not None else f"hub {task.hub.path if task.hub else '?'}"
    threads = torch.get_num_threads()
    clock = PhaseClock()
    try:
        precision = resolve_precision(settings.precision, device)
        with PeakMemory(device) as memory:
            governor = ThreadGovernor(settings.threads, settings.adaptive_threads)
            governor.begin()  # the cores others use are measured while this trial loads
            with clock("load"):
                limits = {"train": settings.max_train_examples, "validation": settings.max_eval_examples}
                rows = {split: load_split(task, split, data_dir, limit) for split, limit in limits.items()}
                transformers.set_seed(settings.seed)
                built = build(precision)
            with clock("build"):
                quantised = getattr(built.model, "hf_quantizer", None) is not None  # placed when loaded
                model = built.model if quantised else built.model.to(device)
                if settings.gradient_checkpointing:
                    enable_gradient_checkpointing(model)
                _fill_counts(result, model, built.counts)
                lengths = (settings.max_length, settings.max_target_length)
                train, valid = (
                    encode_cached(task, split, data_dir, rows[split], built.tokenizer, *lengths,
                                  f"{split} split of {data_label}")
                    for split in limits
                )  # fmt: skip
                evaluator = Evaluator(model, task, valid, built.tokenizer, settings, device)
                steering = evaluator  # what the loop's evaluations score: the split, or a subset of it
                # the subset steers intermediate evaluations, and scores a lower rung (no full evaluation)
                subset_scores = settings.eval_every or not settings.full_eval
                if subset_scores and settings.eval_subset and settings.eval_subset < len(valid):
                    chosen = stratified_indices(strata(valid.references, task.kind), settings.eval_subset)
                    steering = Evaluator(model, task, subset(valid, chosen), built.tokenizer, settings, device)
                regularization = None
                if built.applied is not None:
                    select_masks(built.applied, train, settings, device, evaluator.pad_id)
                    regularization = built.applied.regularization_loss
            recheck = None
            if device.type == "cpu":
                with clock("threads"):
                    governor.start()
                recheck = governor.maybe_recheck
            with clock("loop"):
                loop = train_loop(
                    model, train, steering, settings, device, evaluator.pad_id, on_eval, regularization, recheck,
                    resume=states.load(), keep_state=states.save_to is not None,
                    after_step=built.applied.after_step if built.applied is not None else None,
                )  # fmt: skip
            if loop.status == "complete":
                with clock("store"):
                    states.save(loop.state)
            final = None
            if steering is not evaluator and loop.status == "complete" and settings.full_eval:
                with clock("evaluate_full"):  # the best weights (restored by the loop) on the whole split
                    final = evaluator()
            if loop.status == "complete":
                with clock("latency"):
                    identity = built.applied.spec.canonical_json() if built.applied is not None else method_name
                    result.latency_ms_batch1, result.latency_ms_batch32 = _latency(
                        evaluator, settings, (identity, model_label, data_label, str(device))
                    )
                if weights_path is not None:
                    with clock("store"):
                        _save_trainable(model, Path(weights_path), built.applied, settings.seed)
        result.status, result.failure_reason = loop.status, loop.failure_reason
        result.eval_curve, result.steps, result.stop_reason = loop.curve, loop.steps, loop.stop_reason
        result.train_seconds, result.eval_seconds = loop.train_seconds, loop.eval_seconds
        result.train_examples_per_second = loop.examples / loop.train_seconds if loop.train_seconds else 0.0
        if loop.best is not None and loop.status != "failed":
            result.score, result.metrics = loop.best.score, dict(loop.best.metrics)
        if final is not None:
            result.score, result.metrics = final[0], dict(final[1])
            result.eval_seconds += clock.seconds["evaluate_full"]
        result.peak_memory_mb = memory.mb
        with clock("record"):
            result.provenance = provenance(model_label, data_label, device)
        result.phase_seconds = clock.phases(loop)
    except DeltaspaceError as exc:
        result.failure_reason = str(exc)
    except Exception as exc:  # a trial never takes its caller down; the reason names the cause
        oom = "out of memory" in str(exc).lower()
        result.failure_reason = f"{'out of memory' if oom else type(exc).__name__}: {exc}"
        # The reason is stored and shown; the traceback only with logging at DEBUG level.
        log.warning("trial on task %s failed: %s", task.name, result.failure_reason)
        log.debug("the failed trial's traceback", exc_info=True)
    finally:
        torch.set_num_threads(threads)
    return result


_LATENCY: dict[tuple[object, ...], tuple[float | None, float | None]] = {}


def _latency(
    evaluator: Evaluator, settings: TrainSettings, identity: tuple[str, ...]
) -> tuple[float | None, float | None]:
    """Milliseconds per example at batch 1 and 32, measured once per method, model, data and
    thread count in this process: latency depends on the method's structure, not on the values it
    learned, so a worker that trains one design on several seeds or rates times it once."""
    import torch

    key = (*identity, settings.max_length, settings.latency_batches, torch.get_num_threads())
    if key not in _LATENCY:
        _LATENCY[key] = (
            evaluator.latency_ms(1, settings.latency_batches),
            evaluator.latency_ms(32, settings.latency_batches),
        )
    return _LATENCY[key]


def _fill_counts(result: TrialResult, model: torch.nn.Module, counts: Any) -> None:
    if counts is None:
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
        result.trainable_params, result.stored_params, result.backbone_params = trainable, trainable, frozen
        result.percent = 100.0 * trainable / frozen if frozen else 100.0
        return
    for name in (
        "delta_params",
        "head_params",
        "trainable_params",
        "stored_params",
        "backbone_params",
        "percent",
    ):
        setattr(result, name, getattr(counts, name))


def _save_trainable(model: torch.nn.Module, path: Path, applied: Any, seed: int) -> None:
    """Every trainable parameter to safetensors (the layout ``deltaspace.export`` loads)."""
    from safetensors.torch import save_file

    tensors = {n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad}
    metadata = {"format": "pt", "seed": str(seed)}
    if applied is not None:
        metadata["method"] = applied.spec.canonical_json()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=metadata)
