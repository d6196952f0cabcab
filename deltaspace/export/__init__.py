"""Writing the best configurations and their weights out: YAML that re-runs, safetensors,
peft adapters and merged Hugging Face models (see ``study.py`` for the formats).

>>> from deltaspace.export import export_study
>>> export_study(Storage(url), "sst2-lora", "peft", "out/", selection="best")
"""

from __future__ import annotations

from .select import non_dominated, pareto_trials, select_trials
from .study import FORMATS, Exported, export_study, export_trial

__all__ = ["FORMATS", "Exported", "export_study", "export_trial", "non_dominated", "pareto_trials", "select_trials"]
