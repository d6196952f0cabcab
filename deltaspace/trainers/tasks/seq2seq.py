"""Sequence-to-sequence tasks of the unified view (He et al., 2022): XSum and WMT16 en-ro.

Both need an encoder-decoder model (BART, T5). Local data is JSON Lines in ``--data-dir``:
XSum rows carry ``document`` and ``summary``; WMT16 rows carry ``{"translation": {"en": .., "ro": ..}}``
as the hub's ``wmt16``/``ro-en`` does (dotted fields address the nested columns).
"""

from __future__ import annotations

from .registry import register_task
from .spec import HubSource, TaskSpec

register_task(
    TaskSpec(
        name="xsum",
        kind="seq2seq",
        description="XSum extreme summarization of BBC articles (Narayan et al., 2018); ROUGE-1/2/L.",
        text_fields=("document",),
        label_field="summary",
        metrics=("rouge1", "rouge2", "rougeL"),
        primary_metric="rouge2",
        hub=HubSource(path="EdinburghNLP/xsum"),
    )
)
register_task(
    TaskSpec(
        name="wmt16_en_ro",
        kind="seq2seq",
        description="WMT16 English to Romanian translation; sacrebleu corpus BLEU.",
        text_fields=("translation.en",),
        label_field="translation.ro",
        metrics=("bleu",),
        primary_metric="bleu",
        hub=HubSource(path="wmt16", name="ro-en"),
    )
)
