"""What the two sparse-mask forms share: ΔW nonzero only on ``fraction`` of W's entries.

Both train and store k = fraction·i·o values per site, plus their k indices; they differ only in
how the entries are chosen (magnitude_mask.py: PaFi; lottery_mask.py: LT-SFT).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import (
    WEIGHT_LEVEL,
    FormInfo,
    LearningRate,
    SiteShape,
    kept_entries,
    no_peft,
    weight_level_problems,
)

if TYPE_CHECKING:
    from ..delta import DeltaSpec


def per_site(delta: DeltaSpec, s: SiteShape) -> int:
    return kept_entries(delta.fraction or 1.0, s.i * s.o)


def stored(delta: DeltaSpec, s: SiteShape) -> tuple[int, int]:
    k = per_site(delta, s)
    return k, k


def sparse_mask_form(name: str, formula: str, source: str) -> FormInfo:
    """The declaration of a sparse-mask form named ``name``."""
    return FormInfo(
        name=name,
        formula=formula,
        source=source,
        example={"position": "ffn_in", "fraction": 0.05},
        sites=("weight",),
        size=None,
        defaults={"insertion": None, "composition": "add", "init": "zero"},
        reads=frozenset({"fraction"}),
        requires={"fraction": "the share of W's entries that may change"},
        per_site=per_site,
        stored=stored,
        problems=weight_level_problems,
        learning_rate=LearningRate(1e-5, 1e-3, 1e-4),
        peft=no_peft(f"peft has no tuner for a {name} delta here"),
        **WEIGHT_LEVEL,  # type: ignore[arg-type]
    )
