"""``--format merged``: a plain Hugging Face model directory with the deltas folded in.

Linear deltas (LoRA-style low-rank updates, scaling and bias vectors) fold into the frozen
weights (``deltaspace.methods.merge``): the saved model has exactly the backbone's modules, so
``AutoModel*.from_pretrained`` loads it and it runs with no extra latency. Prefixes, prompts,
bottlenecks and gated deltas are not linear in the layer input and cannot fold; the error names
each of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deltaspace.space.errors import DeltaspaceError


class MergeExportError(DeltaspaceError):
    """A method with deltas that cannot be folded into the weights."""


def export_merged(trained: Any, out_dir: Path) -> list[str]:
    """Fold ``trained``'s deltas into its weights (in place) and save the model and tokenizer."""
    from deltaspace.methods import merge_problems

    problems = merge_problems(trained.spec.deltas, trained.applied.absent)
    if problems:
        raise MergeExportError(
            f"method {trained.spec.name!r} cannot be merged into the weights: " + "; ".join(problems)
        )
    model = trained.applied.merge()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    if trained.tokenizer is not None:
        trained.tokenizer.save_pretrained(str(out_dir))
    return []
