"""Task metrics, computed locally with scikit-learn, scipy, rouge-score and sacrebleu.

``evaluate`` fetches its metric scripts from the hub at run time, so it is only an option here: a
metric named ``evaluate:<name>`` (e.g. ``evaluate:bertscore``) loads that metric lazily for users
who can reach the hub. Scales are each library's own: accuracy, F1, correlations and ROUGE
F-measures in [0, 1] (correlations and Matthews in [-1, 1]), BLEU on sacrebleu's 0-100 scale.
Every metric here is higher-is-better.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from ..space.errors import SpecError

COMBINED = "combined"
"""Pseudo-metric: the unweighted mean of a task's metrics (GLUE's task score for MRPC, QQP, STS-B)."""

MetricFn = Callable[[Sequence[Any], Sequence[Any]], float]
_METRICS: dict[str, MetricFn] = {}


def register_metric(name: str) -> Callable[[MetricFn], MetricFn]:
    """Register ``fn(predictions, references) -> float`` under ``name``; names are unique."""

    def add(fn: MetricFn) -> MetricFn:
        if name in _METRICS or name == COMBINED or name.startswith("evaluate:"):
            raise ValueError(f"metric {name!r} is already registered or reserved")
        _METRICS[name] = fn
        return fn

    return add


def metric_names() -> list[str]:
    return sorted(_METRICS)


def is_known_metric(name: str) -> bool:
    return name in _METRICS or (name.startswith("evaluate:") and len(name) > len("evaluate:"))


def compute_metrics(
    names: Sequence[str], predictions: Sequence[Any], references: Sequence[Any]
) -> dict[str, float]:
    """Each named metric of ``predictions`` against ``references``, plus ``combined`` when asked for."""
    out: dict[str, float] = {}
    for name in names:
        if name == COMBINED:
            continue
        fn = _METRICS.get(name) or _evaluate_metric(name)
        out[name] = float(fn(predictions, references))
    if COMBINED in names:
        out[COMBINED] = sum(out.values()) / len(out)
    return out


def prepare_metrics(names: Sequence[str]) -> None:
    """Load every ``evaluate:<name>`` metric now, so that one that cannot be loaded (offline, or
    no such metric) fails the trial before it trains rather than at its first evaluation."""
    for name in names:
        if name.startswith("evaluate:"):
            _load_evaluate(name.removeprefix("evaluate:"))


_EVALUATE_LOADED: dict[str, Any] = {}


def _load_evaluate(metric_id: str) -> Any:
    if metric_id not in _EVALUATE_LOADED:
        try:
            import evaluate

            _EVALUATE_LOADED[metric_id] = evaluate.load(metric_id)
        except Exception as exc:
            detail = str(exc).splitlines()[0][:160] if str(exc) else ""
            raise SpecError(
                f"metric 'evaluate:{metric_id}' could not be loaded ({type(exc).__name__}: {detail}); "
                "`evaluate` fetches metric scripts from the Hugging Face hub, so it needs network "
                "access or a local metric folder"
            ) from None
    return _EVALUATE_LOADED[metric_id]


def _evaluate_metric(name: str) -> MetricFn:
    if not is_known_metric(name):
        raise KeyError(f"unknown metric {name!r}; known: {metric_names()} or 'evaluate:<name>'")
    metric_id = name.removeprefix("evaluate:")

    def fn(predictions: Sequence[Any], references: Sequence[Any]) -> float:
        metric = _load_evaluate(metric_id)
        result = metric.compute(predictions=list(predictions), references=list(references))
        value = result.get(metric_id, next(iter(result.values())))
        return float(value)

    return fn


@register_metric("accuracy")
def accuracy(predictions: Sequence[Any], references: Sequence[Any]) -> float:
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(references, predictions))


@register_metric("f1")
def f1(predictions: Sequence[Any], references: Sequence[Any]) -> float:
    """Binary F1 of class id 1 (GLUE's F1 for MRPC and QQP)."""
    from sklearn.metrics import f1_score

    return float(f1_score(references, predictions, pos_label=1, average="binary", zero_division=0.0))


@register_metric("f1_macro")
def f1_macro(predictions: Sequence[Any], references: Sequence[Any]) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(references, predictions, average="macro", zero_division=0.0))


@register_metric("matthews")
def matthews(predictions: Sequence[Any], references: Sequence[Any]) -> float:
    """Matthews correlation (GLUE's metric for CoLA); 0 when a class is never predicted."""
    from sklearn.metrics import matthews_corrcoef

    return float(matthews_corrcoef(references, predictions))


def _correlation(kind: str, predictions: Sequence[Any], references: Sequence[Any]) -> float:
    import numpy as np
    from scipy import stats

    x, y = np.asarray(predictions, dtype=float), np.asarray(references, dtype=float)
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0  # undefined for constant input; a model that predicts a constant earns 0
    value = (stats.pearsonr if kind == "pearson" else stats.spearmanr)(x, y)[0]
    return 0.0 if math.isnan(value) else float(value)


@register_metric("pearson")
def pearson(predictions: Sequence[Any], references: Sequence[Any]) -> float:
    return _correlation("pearson", predictions, references)


@register_metric("spearman")
def spearman(predictions: Sequence[Any], references: Sequence[Any]) -> float:
    return _correlation("spearman", predictions, references)


def _rouge(rouge_type: str) -> MetricFn:
    def fn(predictions: Sequence[Any], references: Sequence[Any]) -> float:
        """Mean ROUGE F-measure with Porter stemming, as rouge-score computes it."""
        from rouge_score import rouge_scorer

        scorer = rouge_scorer.RougeScorer([rouge_type], use_stemmer=True)
        scores = [
            scorer.score(ref, pred)[rouge_type].fmeasure
            for pred, ref in zip(predictions, references, strict=True)
        ]
        return sum(scores) / len(scores) if scores else 0.0

    return fn


for _rouge_type in ("rouge1", "rouge2", "rougeL"):
    register_metric(_rouge_type)(_rouge(_rouge_type))


@register_metric("exact_match")
def exact_match(predictions: Sequence[Any], references: Sequence[Any]) -> float:
    """Share of predictions equal to their reference once surrounding and repeated whitespace is
    removed (case and punctuation count)."""

    def norm(text: Any) -> str:
        return " ".join(str(text).split())

    pairs = list(zip(predictions, references, strict=True))
    return sum(norm(p) == norm(r) for p, r in pairs) / len(pairs) if pairs else 0.0


@register_metric("bleu")
def bleu(predictions: Sequence[Any], references: Sequence[Any]) -> float:
    """Corpus BLEU with sacrebleu's default 13a tokenisation, one reference per sentence."""
    import sacrebleu

    return float(sacrebleu.corpus_bleu(list(predictions), [list(references)]).score)
