"""Registry of model families: one table per family (see ``base.FamilyTable``)."""

from __future__ import annotations

from typing import Any

from ...space.errors import SpecError, UnsupportedModelError
from .bart import BART
from .base import FamilyTable, StackTable, WeightSite
from .bert import BERT
from .gpt2 import GPT2
from .llama import LLAMA
from .mistral import MISTRAL
from .qwen2 import QWEN2

FAMILIES: dict[str, FamilyTable] = {}


def register_family(table: FamilyTable) -> FamilyTable:
    if table.name in FAMILIES:
        raise SpecError(f"model family {table.name!r} is already registered")
    taken = {t for f in FAMILIES.values() for t in f.model_types}
    if clash := taken.intersection(table.model_types):
        raise SpecError(f"model types {sorted(clash)} already belong to another family")
    FAMILIES[table.name] = table
    return table


for _table in (BERT, GPT2, BART, LLAMA, QWEN2, MISTRAL):
    register_family(_table)


def supported_model_types() -> list[str]:
    return sorted(t for f in FAMILIES.values() for t in f.model_types)


def family_for(config: Any) -> FamilyTable:
    """The family table of a model config; a clear error naming the supported types otherwise."""
    model_type = getattr(config, "model_type", None)
    for table in FAMILIES.values():
        if model_type in table.model_types:
            return table
    raise UnsupportedModelError(
        f"model type {model_type!r} is not supported; supported model types: "
        f"{', '.join(supported_model_types())}"
    )


__all__ = ["FAMILIES", "FamilyTable", "StackTable", "WeightSite", "family_for", "register_family"]
