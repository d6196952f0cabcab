"""Insertion forms (He et al. 2022, §3): what a delta reads. One declaration per value.

``reads`` names the tensor: ``input`` is x, the input of the site (the sublayer's or the
projection's), ``output`` is h, what the frozen site computed. Deltas without an insertion form
(vectors, weight-level forms) are handed x, which they ignore or use as the projection's input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class InsertionInfo:
    name: str
    reads: Literal["input", "output"]
    description: str


INSERTIONS: dict[str, InsertionInfo] = {}


def register_insertion(info: InsertionInfo) -> InsertionInfo:
    if info.name in INSERTIONS:
        raise ValueError(f"insertion {info.name!r} is already registered")
    INSERTIONS[info.name] = info
    return info


register_insertion(InsertionInfo("sequential", "output", "Δh computed from h, the site's output"))
register_insertion(InsertionInfo("parallel", "input", "Δh computed from x, the site's input"))


def reads(insertion: str | None) -> Literal["input", "output"]:
    """The tensor a delta with ``insertion`` reads (x when it has none)."""
    return INSERTIONS[insertion].reads if insertion is not None else "input"
