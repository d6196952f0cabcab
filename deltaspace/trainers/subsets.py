"""A fixed, stratified subset of a validation split, for the evaluations that only steer training.

Intermediate evaluations (every ``eval_every`` steps: the learning curve, pruning, picking the best
weights) need a consistent signal, not the whole split; the score a trial reports is then taken
on the whole split, from the best weights. The subset is the same for every trial of a task (a
fixed seed), and keeps the split's label proportions (classification), or its spread of targets
(regression: five quantile bins), so that a subset score is comparable across trials.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .data import Encoded

SUBSET_SEED = 20_261_201


def strata(references: list[Any], kind: str) -> np.ndarray:
    """A stratum id per example: its class, its quantile bin, or one stratum for generation."""
    if kind == "classification":
        _, ids = np.unique(np.asarray([str(r) for r in references]), return_inverse=True)
        return ids
    if kind == "regression":
        values = np.asarray(references, dtype=float)
        edges = np.quantile(values, [0.2, 0.4, 0.6, 0.8])
        return np.searchsorted(edges, values, side="right")
    return np.zeros(len(references), dtype=np.int64)


def stratified_indices(groups: np.ndarray, size: int, seed: int = SUBSET_SEED) -> np.ndarray:
    """``size`` sorted indices whose strata keep the proportions of ``groups`` (largest remainders)."""
    n = len(groups)
    if size >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    labels, counts = np.unique(groups, return_counts=True)
    quotas = counts * size / n
    take = np.floor(quotas).astype(int)
    for i in np.argsort(-(quotas - take), kind="stable")[: size - take.sum()]:
        take[i] += 1
    chosen = [rng.permutation(np.flatnonzero(groups == label))[:k] for label, k in zip(labels, take, strict=True)]
    return np.sort(np.concatenate(chosen))


def subset(data: Encoded, indices: np.ndarray) -> Encoded:
    """The examples of ``data`` at ``indices`` (every per-example field of the record)."""
    n = len(data)
    values = {}
    for f in dataclasses.fields(data):
        value = getattr(data, f.name)
        values[f.name] = [value[i] for i in indices] if isinstance(value, list) and len(value) == n else value
    return type(data)(**values)
