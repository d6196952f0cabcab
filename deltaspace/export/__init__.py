"""Writing the best configurations and their weights out: YAML that re-runs, safetensors,
peft adapters and merged Hugging Face models (see ``study.py`` for the formats).

>>> from deltaspace.export import export_study
>>> export_study(Storage(url), "sst2-lora", "peft", "out/", selection="best")

Importing this package is light (``deltaspace export --help`` must not load SQLAlchemy or torch);
the names below load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "FORMATS": "study",
    "Exported": "study",
    "export_study": "study",
    "export_trial": "study",
    "best_design": "select",
    "pareto_trials": "select",
    "select_trials": "select",
}
__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
