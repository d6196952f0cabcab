"""Metrics against values computed by hand in the test (formulas written out, not library calls)."""

from __future__ import annotations

import math

import pytest

from deltaspace.trainers.metrics import COMBINED, compute_metrics, is_known_metric, metric_names

PRED = [1, 0, 1, 1, 0]
REF = [1, 1, 1, 0, 0]  # tp=2 tn=1 fp=1 fn=1


def test_accuracy_f1_matthews_by_hand() -> None:
    got = compute_metrics(["accuracy", "f1", "matthews"], PRED, REF)
    tp, tn, fp, fn = 2, 1, 1, 1
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    assert got["accuracy"] == pytest.approx(3 / 5)
    assert got["f1"] == pytest.approx(2 * precision * recall / (precision + recall))
    mcc = (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    assert got["matthews"] == pytest.approx(mcc) == pytest.approx(1 / 6)


def test_f1_macro_three_classes() -> None:
    pred, ref = [0, 1, 2, 2], [0, 1, 1, 2]
    # class 0: f1 1; class 1: p 1 r 1/2 -> 2/3; class 2: p 1/2 r 1 -> 2/3
    assert compute_metrics(["f1_macro"], pred, ref)["f1_macro"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)


def test_pearson_spearman_by_hand() -> None:
    x, y = [1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 5.0, 9.0]
    mx, my = sum(x) / 4, sum(y) / 4
    cov = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    r = cov / math.sqrt(sum((a - mx) ** 2 for a in x) * sum((b - my) ** 2 for b in y))
    assert compute_metrics(["pearson"], x, y)["pearson"] == pytest.approx(r)
    # ranks 1,2,3,4 vs 1,3,2,4: rho = 1 - 6 * sum(d^2) / (n (n^2 - 1)) = 1 - 12 / 60
    assert compute_metrics(["spearman"], [1, 2, 3, 4], [1, 3, 2, 4])["spearman"] == pytest.approx(0.8)


def test_constant_predictions_correlate_zero() -> None:
    got = compute_metrics(["pearson", "spearman"], [0.5, 0.5, 0.5], [1.0, 2.0, 3.0])
    assert got == {"pearson": 0.0, "spearman": 0.0}


def test_combined_is_the_mean() -> None:
    got = compute_metrics(["f1", "accuracy", COMBINED], PRED, REF)
    assert got[COMBINED] == pytest.approx((got["f1"] + got["accuracy"]) / 2)


def test_rouge_by_hand() -> None:
    pred, ref = ["the cat sat"], ["the cat ran away"]
    got = compute_metrics(["rouge1", "rouge2", "rougeL"], pred, ref)
    p1, r1 = 2 / 3, 2 / 4  # unigrams: "the", "cat" shared
    p2, r2 = 1 / 2, 1 / 3  # bigrams: "the cat" shared
    assert got["rouge1"] == pytest.approx(2 * p1 * r1 / (p1 + r1))
    assert got["rouge2"] == pytest.approx(2 * p2 * r2 / (p2 + r2))
    assert got["rougeL"] == pytest.approx(got["rouge1"])  # LCS "the cat" has length 2 too


def test_bleu_extremes() -> None:
    sentence = "the quick brown fox jumps over the lazy dog today"
    assert compute_metrics(["bleu"], [sentence], [sentence])["bleu"] == pytest.approx(100.0)
    assert compute_metrics(["bleu"], ["alpha beta gamma delta"], [sentence])["bleu"] == pytest.approx(0.0)


def test_names() -> None:
    assert {"accuracy", "f1", "matthews", "pearson", "spearman", "rouge2", "bleu"} <= set(metric_names())
    assert is_known_metric("evaluate:bertscore") and not is_known_metric("evaluate:")
    with pytest.raises(KeyError, match="unknown metric"):
        compute_metrics(["nope"], [1], [1])
