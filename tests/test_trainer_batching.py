"""Length-grouped batching, evaluation order and dynamic padding."""

from __future__ import annotations

import numpy as np

from deltaspace.trainers.batching import collate, length_grouped_batches, sorted_batches
from deltaspace.trainers.data import Encoded


def lengths(n: int = 2000, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(3, 64, size=n)


def padded_tokens(lens: np.ndarray, batches: list[np.ndarray]) -> int:
    return sum(int(lens[b].max()) * len(b) for b in batches)


def test_every_example_once_per_epoch() -> None:
    lens = lengths(1000)
    batches = length_grouped_batches(lens, 32, np.random.default_rng(1))
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1000))
    assert max(map(len, batches)) == 32


def test_deterministic_in_the_seed() -> None:
    lens = lengths()
    a = length_grouped_batches(lens, 32, np.random.default_rng(7))
    b = length_grouped_batches(lens, 32, np.random.default_rng(7))
    c = length_grouped_batches(lens, 32, np.random.default_rng(8))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_grouping_cuts_padding() -> None:
    lens = lengths(5000)
    rng = np.random.default_rng(0)
    random = [p for p in np.array_split(rng.permutation(5000), 5000 // 32)]
    grouped = length_grouped_batches(lens, 32, rng)
    real = int(lens.sum())
    assert padded_tokens(lens, grouped) < 1.1 * real < padded_tokens(lens, random)


def test_sorted_batches_longest_first() -> None:
    lens = lengths(300)
    batches = sorted_batches(lens, 128)
    order = np.concatenate(batches)
    assert sorted(order.tolist()) == list(range(300)) and [len(b) for b in batches] == [128, 128, 44]
    assert np.all(np.diff(lens[order]) <= 0)


def test_collate_pads_and_masks() -> None:
    enc = Encoded([[101, 5, 102], [101, 102]], [[0, 0, 1], [0, 0]], [1, 0], [1, 0])
    batch = collate(enc, np.array([1, 0]), pad_id=0)
    assert batch["input_ids"].tolist() == [[101, 102, 0], [101, 5, 102]]
    assert batch["attention_mask"].tolist() == [[1, 1, 0], [1, 1, 1]]
    assert batch["token_type_ids"].tolist() == [[0, 0, 0], [0, 0, 1]]
    assert batch["labels"].tolist() == [0, 1]


def test_collate_seq2seq_and_regression_targets() -> None:
    seq = Encoded([[4, 5], [6]], None, [[7, 8, 9], [7]], ["a", "b"])
    batch = collate(seq, np.array([0, 1]), pad_id=1)
    assert batch["labels"].tolist() == [[7, 8, 9], [7, -100, -100]] and "token_type_ids" not in batch
    reg = Encoded([[4], [6]], None, [0.5, 2.0], [0.5, 2.0])
    assert collate(reg, np.array([0, 1]), pad_id=0)["labels"].dtype.is_floating_point
