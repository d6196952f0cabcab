"""Classification predictions from a bfloat16 pass, re-run in float32 near the decision boundary.

Evaluation is forward passes only, and on a CPU with bf16 instructions (or a GPU) a forward pass
under bf16 autocast costs about 0.4× a float32 one. Its logits differ from float32's by a little
that depends on the model (a head with large weights amplifies it), so each evaluation measures
it: the first ``CALIBRATION_EXAMPLES`` (the longest) run in both precisions, and the largest
logit difference ``d`` sets the boundary. An arg-max whose bf16 margin (top-1 minus top-2 logit)
exceeds ``2 d`` is float32's arg-max; every example whose margin is below ``2 × SAFETY × d`` runs
again in float32 and takes that prediction, so the predictions, and the score, are those of a
float32 pass (``bench/eval_precision.py`` compares them on trained models). When most examples
sit near the boundary (an untrained model's logits are almost equal), the remaining batches run
in float32 straight away: the check then costs at most a quarter of the split in bf16.

Only classification of a float32 run takes this path (a regression's value or a generated text
has no margin); ``TrainSettings.checked_bf16_eval=False`` turns it off.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

# Examples run in both precisions to measure the bf16 difference, and the factor above it (on
# twice it: two logits move) below which a margin is re-run in float32.
CALIBRATION_EXAMPLES = 32
SAFETY = 4.0
MIN_DIFFERENCE = 1e-4
# After this share of the split, switch to float32 when more than SWITCH_SHARE of it needed a re-run.
SWITCH_AFTER = 0.25
SWITCH_SHARE = 0.5


def bf16_is_fast(device: torch.device) -> bool:
    """Whether a bf16 forward pass runs on native kernels here (CUDA with bf16, or a CPU whose
    oneDNN has bf16 instructions); elsewhere bf16 is emulated and slower than float32."""
    import torch

    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return False
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def needs_recheck(logits: torch.Tensor, margin: float) -> torch.Tensor:
    """Rows of bf16 ``logits`` (float32 copies) whose top-2 margin is below ``margin``."""
    import torch

    top = torch.topk(logits, k=2, dim=-1).values
    return (top[:, 0] - top[:, 1]) < margin


class CheckedCounts:
    """What checked evaluations did: examples predicted in bf16, re-run in float32, and run in
    float32 only (the calibration, and the batches after a switch); the largest bf16 difference."""

    def __init__(self) -> None:
        self.bf16 = self.rechecked = self.fp32 = 0
        self.difference = 0.0

    def as_dict(self) -> dict[str, int]:
        return {"bf16": self.bf16, "rechecked": self.rechecked, "fp32": self.fp32}


def predict_classes_checked(
    batches: list[np.ndarray],
    logits_of: Callable[[np.ndarray, bool], torch.Tensor],
    n_examples: int,
    counts: CheckedCounts | None = None,
) -> list[int | None]:
    """Arg-max classes by example index (None outside ``batches``), equal to a float32 pass's.

    ``logits_of(idx, bf16)`` returns the float32 logits of the examples ``idx``, computed under
    bf16 autocast when ``bf16`` is true."""
    counts = counts if counts is not None else CheckedCounts()
    out: list[int | None] = [None] * n_examples
    batches = [idx for idx in batches if len(idx)]
    if not batches:
        return out

    def keep(idx: np.ndarray, logits: torch.Tensor) -> None:
        for i, c in zip(idx, logits.argmax(-1).tolist(), strict=True):
            out[int(i)] = c

    calibration, rest = batches[0][:CALIBRATION_EXAMPLES], batches[0][CALIBRATION_EXAMPLES:]
    exact = logits_of(calibration, False)
    difference = float((logits_of(calibration, True) - exact).abs().max())
    counts.fp32 += len(calibration)
    counts.difference = max(counts.difference, difference)
    keep(calibration, exact)
    margin = 2 * SAFETY * max(difference, MIN_DIFFERENCE)
    total = sum(len(idx) for idx in batches)
    pending: list[int] = []
    in_bf16 = True
    for idx in ([rest] if len(rest) else []) + batches[1:]:
        logits = logits_of(idx, in_bf16)
        keep(idx, logits)
        if in_bf16:
            counts.bf16 += len(idx)
            unsure = needs_recheck(logits, margin).tolist()
            pending += [int(i) for i, flag in zip(idx, unsure, strict=True) if flag]
            if counts.bf16 >= SWITCH_AFTER * total and len(pending) > SWITCH_SHARE * counts.bf16:
                in_bf16 = False
        else:
            counts.fp32 += len(idx)
    if pending:
        counts.rechecked += len(pending)
        order = np.asarray(pending)
        size = max(len(b) for b in batches)
        for start in range(0, len(order), size):
            idx = order[start : start + size]
            keep(idx, logits_of(idx, False))
    return out
