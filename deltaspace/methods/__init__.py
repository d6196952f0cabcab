"""Turning a MethodSpec into torch modules inside a Hugging Face model.

One small module per functional form (``forms/``), one table per model family (``families/``),
generic composition and insertion (``composition.py``, ``sites.py``, ``attention.py``), and
merging into the weights (``merge.py``).
"""

from .build import AppliedMethod, apply_method, head_spec_of
from .families import FAMILIES, family_for, supported_model_types
from .loading import head_for_model, load_backbone, load_config, model_dims, resolve_model
from .merge import merge_problems

__all__ = [
    "FAMILIES",
    "AppliedMethod",
    "apply_method",
    "family_for",
    "head_for_model",
    "head_spec_of",
    "load_backbone",
    "load_config",
    "merge_problems",
    "model_dims",
    "resolve_model",
    "supported_model_types",
]
