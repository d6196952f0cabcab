"""Evaluation on the validation split, and inference latency.

Evaluation sorts the split by length and runs large batches under ``torch.inference_mode``:
the order of examples does not change a metric, and sorted batches carry almost no padding.
Classification predicts the arg-max class (in a float32 run, from a bf16 pass checked in float32
near the decision boundary: ``checked_eval.py``), regression the single output, seq2seq decodes with
``generate`` (greedy, or beam search with ``num_beams``), and a causal-LM task generates from its
prompts (``sft.generate_responses``).
"""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from .batching import collate, sorted_batches
from .checked_eval import CheckedCounts, bf16_is_fast, predict_classes_checked
from .data import Encoded
from .metrics import COMBINED, compute_metrics, prepare_metrics
from .precision import resolve_precision
from .settings import TrainSettings
from .sft import generate_responses
from .tasks import TaskSpec

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase


class Evaluator:
    """Scores a model on one encoded split: ``evaluator() -> (primary score, all metrics)``."""

    def __init__(
        self,
        model: torch.nn.Module,
        task: TaskSpec,
        data: Encoded,
        tokenizer: PreTrainedTokenizerBase,
        settings: TrainSettings,
        device: torch.device,
    ) -> None:
        self.model, self.task, self.data, self.tokenizer = model, task, data, tokenizer
        self.settings, self.device = settings, device
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.precision = resolve_precision(settings.precision, device)
        prepare_metrics(task.metrics)  # a metric that cannot load fails the trial before training
        self.checked = (
            settings.checked_bf16_eval
            and task.kind == "classification"
            and self.precision.name == "fp32"
            and bf16_is_fast(device)
        )
        self.counts = CheckedCounts()  # what the checked evaluations did, summed over calls

    def __call__(self) -> tuple[float, dict[str, float]]:
        batches = sorted_batches(self.data.lengths, self.settings.eval_batch_size)
        predictions = self.predict_checked(batches) if self.checked else self.predict(batches)
        combined = (COMBINED,) if self.task.primary_metric == COMBINED else ()
        metrics = compute_metrics((*self.task.metrics, *combined), predictions, self.data.references)
        return metrics[self.task.primary_metric], metrics

    def predict(self, batches: list[np.ndarray]) -> list[Any]:
        """Predictions indexed by example (None for examples outside ``batches``)."""
        import torch

        out: list[Any] = [None] * len(self.data)
        was_training = self.model.training
        self.model.eval()
        with torch.inference_mode(), self.precision.autocast():
            for idx in batches:
                for i, prediction in zip(idx, self._predict_batch(idx), strict=True):
                    out[i] = prediction
        self.model.train(was_training)
        return out

    def predict_checked(self, batches: list[np.ndarray]) -> list[Any]:
        """Classes by example, equal to `predict`'s, from bf16 passes checked in float32."""
        import contextlib

        import torch

        def logits_of(idx: np.ndarray, bf16: bool) -> torch.Tensor:
            batch = {k: v.to(self.device) for k, v in collate(self.data, idx, self.pad_id, with_targets=False).items()}
            autocast = torch.autocast(self.device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
            with autocast:
                return self.model(**batch).logits.float()

        was_training = self.model.training
        self.model.eval()
        with torch.inference_mode():
            out = predict_classes_checked(batches, logits_of, len(self.data), self.counts)
        self.model.train(was_training)
        return out

    def _predict_batch(self, idx: np.ndarray) -> list[Any]:
        if self.task.kind == "causal_lm":
            prompts = self.data.prompts
            assert prompts is not None, "a causal_lm split is encoded with its prompts"
            return generate_responses(self.model, self.tokenizer, [prompts[i] for i in idx], self.pad_id,
                                      self.device, self.settings.max_target_length, self.settings.num_beams)  # fmt: skip
        batch = {
            k: v.to(self.device) for k, v in collate(self.data, idx, self.pad_id, with_targets=False).items()
        }
        if self.task.kind == "seq2seq":
            generated = self.model.generate(
                **batch, max_new_tokens=self.settings.max_target_length, num_beams=self.settings.num_beams
            )
            return self.tokenizer.batch_decode(generated, skip_special_tokens=True)
        logits = self.model(**batch).logits.float()
        if self.task.kind == "regression":
            return logits.squeeze(-1).tolist()
        return logits.argmax(-1).tolist()

    def latency_ms(self, batch_size: int, n_batches: int) -> float | None:
        """Median milliseconds per example over ``n_batches`` batches of the first examples
        (after one warm-up batch); None when the split is too small."""
        import torch

        if n_batches == 0 or len(self.data) < batch_size:
            return None
        starts = [(b * batch_size) % (len(self.data) - batch_size + 1) for b in range(n_batches + 1)]
        times = []
        for start in starts:
            tic = time.perf_counter()
            self.predict([np.arange(start, start + batch_size)])
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - tic)
        return 1000 * statistics.median(times[1:]) / batch_size
