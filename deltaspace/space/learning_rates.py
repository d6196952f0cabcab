"""Learning-rate ranges: a nuisance parameter, declared once.

Each functional form declares its log-uniform AdamW range and default (``FormInfo.learning_rate``:
prefix forms far higher than adapters, sparse forms far lower); the backbone groups a method may
train without any delta declare theirs here (the head alone, and full fine-tuning, far lower).
A method's range is that of its most sensitive part (the lowest default): MAM's adapter, not
its prefix, sets the safe rate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .forms import FORMS, LearningRate

if TYPE_CHECKING:
    from .method import MethodSpec

HEAD_ONLY = LearningRate(1e-4, 1e-2, 1e-3)
FULL_FINE_TUNING = LearningRate(5e-6, 1e-4, 2e-5)


def learning_rate_range(method: MethodSpec | None) -> LearningRate:
    """The range (and default) to sample or use for ``method``: full fine-tuning's when it trains
    everything, the head's when it has no delta, else the one of its forms with the lowest default."""
    if method is not None and "all" in method.trainable:
        return FULL_FINE_TUNING
    if method is None or not method.deltas:
        return HEAD_ONLY
    return min((FORMS[d.form].learning_rate for d in method.deltas), key=lambda r: r.default)
