"""The design space: dimensions, `DeltaSpec` / `MethodSpec` (pydantic), presets, YAML I/O and
exact parameter accounting. Knows nothing of torch, SQL or plots."""

from .accounting import ModelDims, ParamCount, StackDims, count_method
from .delta import DeltaSpec, LayerRange
from .dimensions import POSITIONS
from .errors import DeltaspaceError, SpecError, UnknownNameError, UnsupportedModelError
from .method import HeadSpec, MethodSpec
from .presets import preset, preset_names, preset_source, register_preset
from .study import StudySpec, load_study
from .yaml_io import load_method, method_from_mapping

__all__ = [
    "POSITIONS",
    "DeltaSpec",
    "DeltaspaceError",
    "HeadSpec",
    "LayerRange",
    "MethodSpec",
    "ModelDims",
    "ParamCount",
    "SpecError",
    "StackDims",
    "StudySpec",
    "UnknownNameError",
    "UnsupportedModelError",
    "count_method",
    "load_method",
    "load_study",
    "method_from_mapping",
    "preset",
    "preset_names",
    "preset_source",
    "register_preset",
]
